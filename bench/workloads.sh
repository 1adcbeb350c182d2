#!/usr/bin/env bash
# bench/workloads.sh - issue 21's multithreaded workloads (bench/bench_workloads.c) with the
# process's malloc on each allocator in turn: glibc, jemalloc and mimalloc (Debian's, by
# LD_PRELOAD), and each catmem malloc library (malloc/, LD_PRELOAD). Runs are interleaved (every
# allocator once per repetition, in an order that rotates) and each is a process of its own,
# timed by the program and measured by /usr/bin/time (peak RSS, minor page faults). Writes
#   bench/results/workloads.md    machine, command, the tables, issue 21's targets
#   bench/results/workloads.tsv   every run: workload allocator rep seconds wall cpu rss_kib minflt
#
# Usage: bench/workloads.sh [--reps N] [--quick] [--workloads "NAME ..."] [LIB.so ...]
#   --reps N        repetitions (default 5); every figure is a median over them
#   --quick         a tenth of the work and 3 repetitions: a smoke run, not a measurement
#   --workloads     a subset, by the names `workloads --list` prints
#   LIB.so          catmem malloc libraries to measure (default: the three of //malloc, built
#                   here with -c opt); a library named *runtime* is also run with Debian's
#                   jemalloc preloaded after it, which that backend binds to
# Environment: BENCH_OUTPUT_BASE=DIR builds in a Bazel output base of its own (as bench/run.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
results="${here}/results"
command_line="bench/workloads.sh${*:+ $*}"
command_line="${BENCH_OUTPUT_BASE:+BENCH_OUTPUT_BASE=${BENCH_OUTPUT_BASE} }${command_line}"
bazel=(./tools/bazel ${BENCH_OUTPUT_BASE:+"--output_base=${BENCH_OUTPUT_BASE}"})

reps=5
scale=1
only=""
libs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --quick) scale=0.1; reps=3; shift ;;
    --workloads) only="$2"; shift 2 ;;
    -h|--help) sed -n "2,17p" "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "workloads.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) libs+=("$(readlink -f "$1")"); shift ;;
  esac
done

cd "${root}"
targets=(//bench:workloads)
if [[ ${#libs[@]} -eq 0 && -f malloc/BUILD.bazel ]]; then
  for b in jemalloc system runtime; do targets+=("//malloc:libcatmem_malloc_${b}.so"); done
fi
echo "workloads.sh: building ${targets[*]} with -c opt" >&2
"${bazel[@]}" build -c opt --symlink_prefix=/ "${targets[@]}" >&2
# Not the bazel-bin symlink: it follows whatever configuration was built last, by anyone.
bin="$("${bazel[@]}" info -c opt bazel-bin 2>/dev/null)"
prog="${bin}/bench/workloads"
if [[ ${#libs[@]} -eq 0 && -f malloc/BUILD.bazel ]]; then
  for b in jemalloc system runtime; do libs+=("${bin}/malloc/libcatmem_malloc_${b}.so"); done
fi

# The peers, from Debian's packages (libjemalloc2, libmimalloc2.0).
system_lib() {
  ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'
}
jemalloc="$(system_lib libjemalloc.so.2)"
mimalloc="$(system_lib libmimalloc.so.2)"
[[ -n "${jemalloc}" && -n "${mimalloc}" ]] ||
  { echo "workloads.sh: needs libjemalloc2 and libmimalloc2.0" >&2; exit 1; }

# The allocators: name, what LD_PRELOAD gets, the library the program must find malloc in.
names=(glibc jemalloc mimalloc)
preloads=("" "${jemalloc}" "${mimalloc}")
expect=(libc.so.6 libjemalloc.so.2 libmimalloc.so.2)
for lib in "${libs[@]}"; do
  base="$(basename "${lib}")"
  name="catmem-$(sed -e 's/^libcatmem_malloc_//' -e 's/\.so.*$//' <<<"${base}")"
  names+=("${name}"); preloads+=("${lib}"); expect+=("${base}")
  if [[ "${name}" == *runtime* ]]; then
    names+=("${name}-bound"); preloads+=("${lib} ${jemalloc}"); expect+=("${base}")
  fi
done
n=${#names[@]}

workloads="${only:-$("${prog}" --list)}"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

# Each catmem library once, with catmem's report at exit: which engine it ran on (the runtime
# backend says whether it bound to jemalloc).
engines=""
for ((a = 3; a < n; a++)); do
  LD_PRELOAD="${preloads[a]}" CATMEM_REPORT="${tmp}/report.json" \
    "${prog}" --workload larson --scale 0.001 >/dev/null
  engine="$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
print(r["backend"] + (" (" + r["info"] + ")" if r.get("info") else ""))' "${tmp}/report.json")"
  engines+="${names[a]}"$'\t'"${engine}"$'\n'
done

# run WORKLOAD ALLOCATOR REP: one process; appends its row to runs.tsv.
run() {
  local w="$1" a="$2" rep="$3" line
  line="$(/usr/bin/time -o "${tmp}/time" -f '%e %U %S %M %R' \
    env LD_PRELOAD="${preloads[a]}" "${prog}" --workload "${w}" --scale "${scale}")" ||
    { echo "workloads.sh: ${w} failed on ${names[a]}: ${line}" >&2; exit 1; }
  [[ "${line}" == *" malloc=${expect[a]} "* ]] ||
    { echo "workloads.sh: ${names[a]} did not get malloc from ${expect[a]}: ${line}" >&2; exit 1; }
  read -r wall user sys rss minflt <"${tmp}/time"
  secs="$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' <<<"${line}")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${w}" "${names[a]}" "${rep}" "${secs}" "${wall}" \
    "$(awk -v u="${user}" -v s="${sys}" 'BEGIN { printf "%.2f", u + s }')" "${rss}" "${minflt}" \
    >>"${tmp}/runs.tsv"
}

start_facts="$(uptime | sed 's/.*load average: //')"
start=${SECONDS}
: >"${tmp}/runs.tsv"
# Warm-up, not recorded: every library and the program in the page cache.
for ((a = 0; a < n; a++)); do
  LD_PRELOAD="${preloads[a]}" "${prog}" --workload larson --scale 0.01 >/dev/null
done
for w in ${workloads}; do
  echo "workloads.sh: ${w}, ${reps} repetitions of ${n} allocators" >&2
  for ((rep = 1; rep <= reps; rep++)); do
    for ((k = 0; k < n; k++)); do run "${w}" $(((k + rep) % n)) "${rep}"; done
  done
done
elapsed=$((SECONDS - start))

mkdir -p "${results}"
{
  echo "# Issue 21's workloads: catmem as the process's malloc"
  echo
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  ram="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "- machine: $(nproc) CPUs (nproc), ${cpu}, ${ram} RAM, Linux $(uname -r)"
  echo "- load average at start: ${start_facts} (the machine is shared: compare ratios, not times)"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); the run took ${elapsed} s"
  changed="$(git -C "${root}" diff --quiet HEAD -- catmem.h core backends malloc bench \
    ':!bench/results' 2>/dev/null || echo ' (with local changes)')"
  echo "- commit: $(git -C "${root}" rev-parse --short HEAD)${changed}"
  echo "- libraries: $(dpkg-query -W -f='${Package} ${Version}, ' libc6 libjemalloc2 \
    'libmimalloc2*' 2>/dev/null | sed 's/, $//')"
  echo "- command: \`${command_line}\` (${reps} repetitions, work x${scale})"
  echo
  "${prog}" --describe >"${tmp}/about.tsv"
  python3 "${here}/workloads_report.py" "${tmp}/runs.tsv" "${tmp}/about.tsv" "${names[*]}" \
    "${engines}"
} >"${tmp}/workloads.md"
mv "${tmp}/workloads.md" "${results}/workloads.md"
cp "${tmp}/runs.tsv" "${results}/workloads.tsv"
echo "workloads.sh: wrote ${results#"${root}/"}/workloads.md and workloads.tsv" >&2
cat "${results}/workloads.md"
