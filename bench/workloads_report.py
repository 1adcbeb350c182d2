#!/usr/bin/env python3
"""workloads_report.py - the Markdown tables of bench/workloads.sh from its runs.

Usage: workloads_report.py RUNS.tsv ABOUT.tsv "ALLOCATOR ..." ENGINES
  RUNS.tsv: workload allocator rep seconds wall cpu rss_kib minflt, a row per run
  ABOUT.tsv: workload<TAB>what it does (`workloads --describe`)
  ALLOCATORS: their column order (glibc first: the reference of the relative tables)
  ENGINES: "allocator<TAB>engine" lines, what each catmem library's report said it ran on

Every ratio is the median over the repetitions of the ratio within one repetition (the runs of
one repetition are interleaved), never a ratio of medians taken apart.
"""
import statistics
import sys

# Issue 21's targets: each catmem library against its peer.
PEER = {
    "catmem-jemalloc": "jemalloc",
    "catmem-system": "mimalloc",
    "catmem-runtime": "mimalloc",  # alone in the process it runs the system engine
    "catmem-runtime-bound": "jemalloc",
}
FAULTS_LIMIT = 2.0  # churn's minor faults, against mimalloc's


SECS, WALL, CPU, RSS, FLT = range(5)  # the fields of a run


def load(path):
    runs = {}  # (workload, allocator, rep) -> the fields below
    order = []
    with open(path) as f:
        for line in f:
            w, a, rep, secs, wall, cpu, rss, flt = line.rstrip("\n").split("\t")
            if w not in order:
                order.append(w)
            runs[(w, a, int(rep))] = (float(secs), float(wall), float(cpu), int(rss), int(flt))
    return runs, order


def ratio(runs, w, a, b, field):
    """Median over repetitions of a's figure / b's figure in the same repetition."""
    reps = sorted({r for (ww, aa, r) in runs if ww == w and aa == a})
    v = [runs[(w, a, r)][field] / runs[(w, b, r)][field] for r in reps
         if (w, b, r) in runs and runs[(w, b, r)][field] > 0]
    return statistics.median(v) if v else float("nan")


def spread(runs, w, a, b, field):
    """The lowest and highest per-repetition ratio, to show how much the machine moved."""
    reps = sorted({r for (ww, aa, r) in runs if ww == w and aa == a})
    v = [runs[(w, a, r)][field] / runs[(w, b, r)][field] for r in reps
         if (w, b, r) in runs and runs[(w, b, r)][field] > 0]
    return (min(v), max(v)) if v else (float("nan"), float("nan"))


def median(runs, w, a, field):
    return statistics.median(v[field] for (ww, aa, _), v in runs.items() if ww == w and aa == a)


def table(head, rows, align="---:"):
    """A Markdown table: the first column left-aligned, the others as align says."""
    print("| " + " | ".join(head) + " |")
    print("|---" + ("|" + align) * (len(head) - 1) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def main():
    runs, order = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        about = dict(l.rstrip("\n").split("\t", 1) for l in f if "\t" in l)
    allocs = sys.argv[3].split()
    engines = [l.split("\t") for l in sys.argv[4].splitlines() if l.strip()]
    ref = allocs[0]

    print("Each run is a process of its own with its malloc on one allocator (LD_PRELOAD;")
    print("glibc: none); the repetitions interleave the allocators, in a rotating order. Time:")
    print("the workload's threads, measured by the program (fixed work, fixed seeds). Peak RSS")
    print("and minor faults: the whole process, from /usr/bin/time. Ratios are medians over")
    print("the repetitions of the ratio within one repetition.")
    print()
    if engines:
        print("catmem's libraries (`malloc/`, built with `-c opt`), as their reports said:")
        print()
        for name, engine in engines:
            print("- `%s`: engine %s" % (name, engine))
        print()
    table(["workload", "pattern"], [[w, about.get(w, "")] for w in order], align="---")

    relative(runs, order, allocs, SECS, "Time relative to %s (lower is faster)" % ref,
             lambda x: "%.3f s" % x)
    relative(runs, order, allocs, CPU, "CPU time (user + system) relative to %s" % ref,
             lambda x: "%.2f s" % x,
             "The whole process's, from /usr/bin/time: less disturbed than the time above "
             "by what else the shared machine runs, but blind to time spent waiting (a lock "
             "that puts a thread to sleep costs no CPU).")
    relative(runs, order, allocs, RSS, "Peak RSS relative to %s" % ref,
             lambda x: "%.1f MiB" % (x / 1024))

    print("## Minor page faults (thousands, median)")
    print()
    table(["workload"] + allocs,
          [[w] + ["%.1f" % (median(runs, w, a, FLT) / 1000) for a in allocs] for w in order])

    targets(runs, order, [a for a in allocs if a in PEER])


def relative(runs, order, allocs, field, title, absolute, note=None):
    """A table of field relative to the first allocator, whose own median is shown."""
    ref = allocs[0]
    print("## " + title)
    print()
    if note:
        print(note)
        print()
    rows = []
    for w in order:
        r = [w, absolute(median(runs, w, ref, field))]
        r += ["%.2fx" % ratio(runs, w, a, ref, field) for a in allocs[1:]]
        rows.append(r)
    table(["workload", ref + " (median)"] + allocs[1:], rows)


def targets(runs, order, ours):
    if not ours:
        return
    print("## Issue 21's targets (reported, never asserted)")
    print()
    print("Each catmem library against its peer: the jemalloc backend (and the runtime backend")
    print("bound to jemalloc) against plain jemalloc, the system backend (and the runtime backend")
    print("alone, on its system engine) against mimalloc. Time and peak RSS at most the peer's")
    print("(<= 1.00x); **bold**: missed. In brackets: the lowest and highest time ratio of the")
    print("repetitions, and the CPU time ratio (the target is on time).")
    print()
    head = ["workload"]
    for a in ours:
        head += ["%s / %s: time" % (a, PEER[a]), "peak RSS"]
    rows, met, total = [], 0, 0
    for w in order:
        r = [w]
        for a in ours:
            for field in (SECS, RSS):
                x = ratio(runs, w, a, PEER[a], field)
                lo, hi = spread(runs, w, a, PEER[a], field)
                ok = round(x, 2) <= 1.0  # as printed
                met, total = met + ok, total + 1
                cell = "%.2fx" % x if ok else "**%.2fx**" % x
                if field == SECS:
                    cell += " (%.2f-%.2f; CPU %.2fx)" % (lo, hi, ratio(runs, w, a, PEER[a], CPU))
                r.append(cell)
        rows.append(r)
    table(head, rows)
    if "churn" in order:
        print("Large-block churn, minor page faults against mimalloc's (at most %.0fx):" %
              FAULTS_LIMIT)
        print()
        frows = []
        for a in ours:
            x = ratio(runs, "churn", a, "mimalloc", FLT)
            ok = round(x, 2) <= FAULTS_LIMIT
            met, total = met + ok, total + 1
            frows.append(["churn: %s / mimalloc" % a, "%.2fx" % x, "<= %.2fx" % FAULTS_LIMIT,
                          "yes" if ok else "**no**"])
        print("| target | measured | target | met |")
        print("|---|---:|---:|:---:|")
        for r in frows:
            print("| " + " | ".join(r) + " |")
        print()
    print("Met: %d of %d." % (met, total))


if __name__ == "__main__":
    main()
