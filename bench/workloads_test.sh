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
  # malloc: libc.so.6, or a sanitizer's runtime under --config=asan and the like.
  re="^workload=${w} threads=${num} malloc=[^ ]+ ops=${num} seconds=${num}\.${num}"
  re+=" maxrss_kib=${num} minflt=${num} check=${num}$"
  if [[ ! "${line}" =~ ${re} ]]; then
    echo "FAIL: ${w}: unexpected output: ${line}" >&2
    exit 1
  fi
  echo "ok: ${line}"
done
# Another thread count and seed, and the refusals.
line="$("${prog}" --workload larson --threads 3 --seed 7 --scale 0.002)"
if [[ "${line}" != "workload=larson threads=3 "* ]]; then
  echo "FAIL: --threads 3: ${line}" >&2
  exit 1
fi
if "${prog}" --workload no-such-workload 2>/dev/null; then
  echo "FAIL: an unknown workload was accepted" >&2
  exit 1
fi
echo "workloads_test: all passed"
