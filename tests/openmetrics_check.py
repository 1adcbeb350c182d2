#!/usr/bin/python3
"""Checks catmem's OpenMetrics exposition against the statistics the C side read.

Usage: openmetrics_check.py EXPOSITION STATS_JSON CASE
  EXPOSITION  what catmem_report(out, CATMEM_REPORT_OPENMETRICS) wrote
  STATS_JSON  what tests/openmetrics_test.c wrote right after: every live arena's
              catmem_arena_stats (name in hex, id, parent id, the cleanups it registered) and
              catmem_total_stats
  CASE        "few" (every arena has series of its own) or "cap" (some are summed into (other))

The exposition must be accepted by Debian's python3-prometheus-client OpenMetrics parser, hold
the families, units and types catmem documents, and every value must be the one the C side read
(the process-wide figures of a jemalloc backend only bound from below: stdio's mallocs move them
between the two reads). Exits 0 when all holds, 1 with every difference otherwise. It also shows
that it can fail: the same comparison on a copy with one value changed must find the change,
and the parser must refuse the exposition without its "# EOF".
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

FIELDS = ["allocated", "active", "resident", "mapped"]
# family (after "catmem_arena_"), sample suffix, the catmem_stats field or "cleanups"
ARENA_FAMILIES = [(f + "_bytes", "", f) for f in FIELDS + ["peak", "limit"]] + [
    ("allocations", "_total", "nmalloc"),
    ("frees", "_total", "ndalloc"),
    ("cleanups", "", "cleanups"),
]


def label_of(arena):
    name = bytes.fromhex(arena["name"])
    # Not UTF-8: each maximal invalid subpart becomes one U+FFFD, as catmem writes it.
    return name.decode("utf-8", "replace") if name else "#%d" % arena["id"]


def expected_samples(known):
    """The samples the exposition must hold: {(name, labels): value}."""
    arenas = known["arenas"]
    by_id = {a["id"]: a for a in arenas}
    ranked = sorted(arenas, key=lambda a: (-a["allocated"], a["id"]))
    shown, other = ranked[: known["cap"]], ranked[known["cap"] :]
    want = {}
    for a in shown:
        parent = by_id[a["parent_id"]] if a["parent_id"] >= 0 else None
        labels = tuple(sorted({"arena": label_of(a), "id": str(a["id"]),
                               "parent": label_of(parent) if parent else ""}.items()))
        for family, suffix, field in ARENA_FAMILIES:
            if field == "limit" and a["limit"] == 0:
                continue  # only arenas that have a limit
            want[("catmem_arena_" + family + suffix, labels)] = a[field]
    if other:
        labels = (("arena", "(other)"), ("id", "(other)"), ("parent", ""))
        for family, suffix, field in ARENA_FAMILIES:
            if field != "limit":
                want[("catmem_arena_" + family + suffix, labels)] = sum(a[field] for a in other)
    for f in FIELDS:
        want[("catmem_all_arenas_%s_bytes" % f, ())] = sum(a[f] for a in arenas)
        if known["backend"] == "system":  # catmem_total_stats is catmem's arenas: exact
            want[("catmem_backend_%s_bytes" % f, (("backend", "system"),))] = known["total"][f]
    want[("catmem_arenas", ())] = len(arenas)
    want[("catmem_arenas_other", ())] = len(other)
    return want


def parse(text):
    """The parser's families, and every sample as {(name, labels): value}."""
    families = list(text_string_to_metric_families(text))
    got = {}
    for fam in families:
        for s in fam.samples:
            got[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, got


def structure_errors(text, families, got):
    """What the parser lets through but OpenMetrics and catmem's manual do not."""
    errors = []
    if not text.endswith("\n# EOF\n"):
        errors.append("does not end with '# EOF' and a newline")
    lines = [l for l in text.splitlines() if not l.startswith("#")]
    if len(lines) != len(got):  # the parser drops repeated series silently
        errors.append("%d sample lines, %d distinct series" % (len(lines), len(got)))
    for fam in families:
        if not fam.name.startswith("catmem_"):
            errors.append("%s: not prefixed catmem_" % fam.name)
        if fam.type not in ("gauge", "counter") or not fam.documentation:
            errors.append("%s: type %s, help %r" % (fam.name, fam.type, fam.documentation))
        if (fam.unit == "bytes") != fam.name.endswith("_bytes"):
            errors.append("%s: unit %r" % (fam.name, fam.unit))
        for s in fam.samples:
            if s.name != fam.name + ("_total" if fam.type == "counter" else ""):
                errors.append("%s in family %s" % (s.name, fam.name))
    return errors


def value_errors(want, got, known):
    errors = []
    for key in sorted(set(want) | set(got), key=repr):
        if key[0].startswith("catmem_backend_") and known["backend"] != "system":
            continue  # checked below
        if key not in want:
            errors.append("unexpected %s%s = %s" % (key[0], dict(key[1]), got[key]))
        elif key not in got:
            errors.append("missing %s%s (want %s)" % (key[0], dict(key[1]), want[key]))
        elif got[key] != want[key]:
            errors.append("%s%s = %s, want %s" % (key[0], dict(key[1]), got[key], want[key]))
    if known["backend"] != "system":
        # jemalloc: the whole process, so at least catmem's arenas.
        for f in FIELDS:
            key = ("catmem_backend_%s_bytes" % f, (("backend", known["backend"]),))
            floor = sum(a[f] for a in known["arenas"])
            if key not in got or got[key] < floor:
                errors.append("%s = %s, want at least %d" % (key[0], got.get(key), floor))
    return errors


def check(text, known, case):
    families, got = parse(text)
    want = expected_samples(known)
    errors = structure_errors(text, families, got) + value_errors(want, got, known)
    others = want[("catmem_arenas_other", ())]
    if (case == "cap") != (others > 0):
        errors.append("case %s with %d arenas in (other)" % (case, others))
    return errors


def refuses(text, known, case):
    """The check is not blind: one value changed is found, a missing # EOF refused."""
    lines = text.split("\n")
    i = next(i for i, l in enumerate(lines) if l.startswith("catmem_arena_allocated_bytes{"))
    name, value = lines[i].rsplit(" ", 1)
    lines[i] = "%s %d" % (name, int(value) + 1)
    if not check("\n".join(lines), known, case):
        return "a changed value went unnoticed"
    try:
        list(text_string_to_metric_families(text[: -len("# EOF\n")]))
    except ValueError:
        return None
    return "the parser took an exposition without # EOF"


def main():
    exposition, stats, case = sys.argv[1:4]
    with open(exposition, "rb") as f:
        text = f.read().decode("utf-8")  # strict: OpenMetrics is UTF-8
    with open(stats) as f:
        known = json.load(f)
    try:
        errors = check(text, known, case)
    except ValueError as e:
        errors = ["the parser refused it: %s" % e]
    blind = None if errors else refuses(text, known, case)
    if blind:
        errors.append("checker: " + blind)
    for e in errors:
        print("openmetrics_check: %s" % e, file=sys.stderr)
    if not errors:
        print("openmetrics_check: %s: %d series match, on %s" % (case, len(parse(text)[1]),
                                                                   known["backend"]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
