#!/usr/bin/env bash
# Runs every workload of bench/bench_workloads.c at a tiny scale on the plain malloc and checks
# its one output line (the fields bench/workloads.sh reads). No timing is asserted.
set -euo pipefail

prog="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-catmem}/bench/workloads"
names="$("${prog}" --list)"
[[ "$(wc -l <<<"${names}")" -ge 8 ]] || { echo "FAIL: --list printed: ${names}" >&2; exit 1; }
num='[0-9]+'
for w in ${names}; do
  # mstress checks every word of every block at its free: a corrupted block fails the run.
  line="$("${prog}" --workload "${w}" --scale 0.002)"
  re="^workload=${w} threads=${num} ops=${num} seconds=${num}\.${num} maxrss_kib=${num}"
  re+=" minflt=${num} check=${num}$"
  if [[ ! "${line}" =~ ${re} ]]; then
    echo "FAIL: ${w}: unexpected output: ${line}" >&2
    exit 1
  fi
  echo "ok: ${line}"
done
# Another thread count and seed, and the refusals.
"${prog}" --workload larson --threads 3 --seed 7 --scale 0.002 | grep -q '^workload=larson threads=3 '
if "${prog}" --workload no-such-workload 2>/dev/null; then
  echo "FAIL: an unknown workload was accepted" >&2
  exit 1
fi
echo "workloads_test: all passed"
