#!/usr/bin/env python3
"""Counts the tests one CI step ran, for .ci/run's per-step lines and its closing line.

    tests/ci_count/ci_count.py count LOG [--status RC] [--tests FILE]
        LOG is the output of one `bazel test` (stdout and stderr). Prints
        "P passed, F failed, K skipped".
          --status RC   the command's exit status: a failed command has at least one failure,
                        even if no test target says so (an analysis error, a non-test target
                        that failed to build).
          --tests FILE  every test target the command's patterns name, one label a line
                        (`bazel query 'tests(PATTERNS)'`): those that Bazel did not test are
                        the skipped ones.
    tests/ci_count/ci_count.py step RC LOG CMD...
        What .ci/run's `step` calls after running CMD. A `bazel test` is counted from LOG, with
        the skipped ones found by a query through the same Bazel; any other command is one test,
        passed if RC is 0.

Only the Python standard library.
"""

import argparse
import os
import re
import subprocess
import sys

# Colours and cursor movement, in case Bazel wrote to a terminal (--color=yes, --curses=yes).
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# Bazel's closing line for the test command: "Executed 26 out of 28 tests: 28 tests pass."
EXECUTED = re.compile(r"^Executed (\d+) out of (\d+) tests?: ")

# One target of the summary before it, padded to column 78, e.g.
#   //tests:api_test_jemalloc                          (cached) PASSED in 0.1s
#   //tests:fuzz_test                                  FLAKY, failed in 1 out of 2 in 9.0s
#   //tests:x                                          FAILED TO BUILD
# (a configuration may follow the label in parentheses; "(3/5 cached)" after some runs).
TARGET = re.compile(
    r"^(?P<label>\S*//\S*)(?: \([^)]*\))?\s+(?:\((?:cached|\d+/\d+ cached)\) )?"
    r"(?P<status>[A-Z]+(?: [A-Z]+)*)(?:,| in |\s*$)"
)

# PASSED and FLAKY (failed, then passed on a retry) are what Bazel counts as passing. SKIPPED
# (newer Bazel: a target incompatible with the platform) did not run by design. Everything else
# (FAILED, TIMEOUT, FAILED TO BUILD, INCOMPLETE, REMOTE FAILURE, NO STATUS) is a failure: NO
# STATUS is a test that was asked for but never ran because the build stopped, so it checked
# nothing.
PASSING = {"PASSED", "FLAKY"}
SKIPPING = {"SKIPPED"}


def clean_lines(text):
    lines = []
    for line in text.split("\n"):
        line = ANSI.sub("", line)
        lines.append(line.rsplit("\r", 1)[-1].rstrip())
    return lines


def summary(lines):
    """The summary's targets {label: status} and the test total Bazel gives, or None.

    Only the block just above the last "Executed" line counts: the output of a failed test
    (--test_output=errors) comes earlier and may contain anything, even lines that look like a
    summary.
    """
    end = None
    for i in range(len(lines) - 1, -1, -1):
        m = EXECUTED.match(lines[i])
        if m:
            end, total = i, int(m.group(2))
            break
    if end is None:
        return None
    targets = {}
    for line in reversed(lines[:end]):
        m = TARGET.match(line)
        if m:
            targets[m.group("label")] = m.group("status")
        elif line and not line[0].isspace():
            break  # "INFO: Build completed ...": the block starts after it
        # blank and indented lines (log paths, "Stats over 3 runs", test cases) are part of it
    return targets, total


def count(text, status=0, tests=None):
    """(passed, failed, skipped) of one `bazel test` output; skipped is None if unknown."""
    found = summary(clean_lines(text))
    if found is None:
        # No summary (the patterns did not load, no test matched, Bazel crashed): the step
        # counts as one test, like any command that is not a Bazel test.
        return (0, 1, None) if status else (1, 0, None)
    targets, total = found
    passed = sum(1 for s in targets.values() if s in PASSING)
    by_status = sum(1 for s in targets.values() if s in SKIPPING)
    # Bazel's total counts every test it took; one without a line (newer versions print FAILED
    # TO BUILD only with --verbose_test_summary) did not pass: the default --test_summary=short
    # lists every pass.
    hidden = max(0, total - len(targets))
    failed = len(targets) - passed - by_status + hidden
    if status and not failed:
        failed = 1  # the command failed outside any test target
    skipped = None
    if tests is not None:
        # Filtered out by --test_tag_filters (and friends), or "manual" under a wildcard: named
        # by the patterns, absent from the summary. Hidden lines belong to tests Bazel did take,
        # so they are not skips.
        skipped = max(0, len(set(tests) - set(targets)) - hidden) + by_status
    elif by_status:
        skipped = by_status
    return passed, failed, skipped


def render(passed, failed, skipped):
    text = "%d passed, %d failed" % (passed, failed)
    if skipped is not None:
        text += ", %d skipped" % skipped
    return text


def bazel_test_command(cmd):
    """(startup options, query expression) if cmd is `bazel test|coverage ...`, else None.

    Target patterns are the words that are not options, and all words after "--", where
    "-//x" subtracts. Options that take a value must be written --name=value (as in .ci/run);
    a lone value would be read as a pattern, and the query would then fail (skipped unknown).
    """
    if not cmd or not re.fullmatch(r"bazel(isk|-real|-\d+)?", os.path.basename(cmd[0])):
        return None
    words = cmd[1:]
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 1  # startup options
    if i == len(words) or words[i] not in ("test", "coverage"):
        return None
    startup, rest = words[:i], words[i + 1:]
    include, exclude, after_dashes = [], [], False
    for word in rest:
        if after_dashes:
            (exclude if word.startswith("-") else include).append(word.lstrip("-"))
        elif word == "--":
            after_dashes = True
        elif not word.startswith("-"):
            include.append(word)
    if not include:
        return startup, None
    expr = " + ".join(include)
    if exclude:
        expr = "(%s) - %s" % (expr, " - ".join(exclude))
    return startup, "tests(%s)" % expr


def list_tests(bazel, startup, expr):
    """Labels of the tests expr names, through the step's own Bazel, or None (with a note)."""
    try:
        out = subprocess.run(
            [bazel] + startup + ["query", "--output=label", expr],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        )
    except OSError as e:
        err = str(e)
    else:
        if out.returncode == 0:
            return [line.strip() for line in out.stdout.splitlines() if line.strip()]
        err = (out.stderr.strip().splitlines() or ["exit %d" % out.returncode])[-1]
    print("ci_count: `query %s` failed, skipped tests not counted: %s" % (expr, err),
          file=sys.stderr)
    return None


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode")
    p = sub.add_parser("count", help="count one `bazel test` output")
    p.add_argument("log")
    p.add_argument("--status", type=int, default=0)
    p.add_argument("--tests")
    p = sub.add_parser("step", help="count one .ci/run step")
    p.add_argument("status", type=int)
    p.add_argument("log")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.mode == "count":
        tests = read_text(args.tests).split() if args.tests else None
        print(render(*count(read_text(args.log), args.status, tests)))
    elif args.mode == "step":
        bazel = bazel_test_command(args.cmd)
        if bazel is None:
            print(render(0, 1, None) if args.status else render(1, 0, None))
            return 0
        startup, expr = bazel
        tests = list_tests(args.cmd[0], startup, expr) if expr else None
        print(render(*count(read_text(args.log), args.status, tests)))
    else:
        parser.print_usage(sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
