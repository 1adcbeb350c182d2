#!/usr/bin/env bash
# bench/run.sh - builds the catmem benchmarks with -c opt, runs every workload on each catmem
# backend (each program runs catmem and all its peers in one process), and writes
#   bench/results/latest.md    machine, command, every table, the targets, instruction counts
#   bench/results/latest.png   the chart (gnuplot)
#   bench/results/latest.tsv   the figures behind the chart
#
# Usage: bench/run.sh [--reps N] [--quick] [--callgrind | --no-callgrind]
#   --reps N        timed repetitions per program (default 7; memory: 3); rows show the median
#   --quick         a tenth of the work and 3 repetitions: a smoke run, not a measurement
#   --callgrind     only the instruction counts: request, general and lifetimes under
#                   valgrind --tool=callgrind (reduced counts, 1 thread); writes
#                   bench/results/callgrind.md
#   --no-callgrind  timings only (by default the instruction counts follow the timings)
# Environment: BENCH_OUTPUT_BASE=DIR builds in a Bazel output base of its own (a server of its
# own), for a machine where another build holds the default server for a long time; stop that
# server afterwards with ./tools/bazel --output_base=DIR shutdown.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
results="${here}/results"
command_line="${BENCH_OUTPUT_BASE:+BENCH_OUTPUT_BASE=${BENCH_OUTPUT_BASE} }bench/run.sh${*:+ $*}"
bazel=(./tools/bazel ${BENCH_OUTPUT_BASE:+"--output_base=${BENCH_OUTPUT_BASE}"})

reps=7
mem_reps=3
quick=()
mode=all
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --quick) quick=(--quick); reps=3; mem_reps=1; shift ;;
    --callgrind) mode=callgrind; shift ;;
    --no-callgrind) mode=timings; shift ;;
    -h|--help) sed -n "2,19p" "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

cd "${root}"
echo "run.sh: building //bench:all with -c opt" >&2
# No convenience symlinks: with a separate output base they would point outside the default
# one, and `bazel test //...` would then wander into them.
"${bazel[@]}" build -c opt --symlink_prefix=/ //bench:all //malloc:all >&2
# Not the bazel-bin symlink: it follows whatever configuration was built last, by anyone.
bin="$("${bazel[@]}" info -c opt bazel-bin 2>/dev/null)/bench"
mkdir -p "${results}"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

backends=(jemalloc system)
# The builds of each program: the runtime backend falling back to the system engine is built for
# the programs where its fast path matters.
builds_of() {
  case "$1" in
    general | objects | lua | lifetimes) echo jemalloc system runtime ;;
    *) echo "${backends[@]}" ;;
  esac
}

machine_facts() {
  echo "- machine: $(nproc) CPUs (nproc), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: compare ratios, not absolute times)"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  # Not bench/results: the run writes there before this header.
  changed="$(git -C "${root}" diff --quiet HEAD -- catmem.h core backends malloc bench \
    ':!bench/results' 2>/dev/null || echo ' (with local changes)')"
  echo "- commit: $(git -C "${root}" rev-parse --short HEAD)${changed}"
  echo "- compiler: $(gcc --version | head -n1); Bazel \`-c opt\` plus \`-O2 -Wall -Wextra\`"
  echo "- libraries: $(dpkg-query -W -f='${Package} ${Version}, ' libc6 libjemalloc2 'libmimalloc2*' libapr1 libtalloc2 2>/dev/null | sed 's/, $//')"
  echo "- command: \`${command_line}\`"
}

# ---- instruction counts -------------------------------------------------------------------------
# cg_table COLUMNS: the Markdown table of cg.tsv's figures, a row per peer that has any, a column
# per "workload|backend" in COLUMNS (comma-separated), "-" where that build has no such peer.
cg_table() {
  awk -F'\t' -v cols="$1" '
    BEGIN { nc = split(cols, col, ","); for (c = 1; c <= nc; c++) want[col[c]] = 1 }
    ($1 "|" $2) in want {
      key = $3; if (!(key in seen)) { seen[key] = 1; order[n++] = key }
      v[$1 "|" $2 "|" key] = $4 }
    END {
      head = "| peer"; rule = "|---"
      for (c = 1; c <= nc; c++) { split(col[c], wb, "|"); head = head " | " wb[1] ", " wb[2] " build"; rule = rule "|---:" }
      print head " |"; print rule "|"
      for (i = 0; i < n; i++) {
        k = order[i]; line = "| " k
        for (c = 1; c <= nc; c++) { x = col[c] "|" k; line = line " | " ((x in v) ? v[x] : "-") }
        print line " |"
      }
    }' "${tmp}/cg.tsv"
}

# Each program, run with --callgrind, brackets every peer's measured section with
# CALLGRIND_TOGGLE_COLLECT (collection is off at start) and dumps the counts with a label
# "bench|workload|backend|peer|operations"; Ir of that dump / operations = instructions per op.
run_callgrind() {
  local out="$1" prog backend f
  command -v valgrind >/dev/null || { echo "run.sh: valgrind not installed" >&2; return 1; }
  : >"${tmp}/cg.tsv"
  for prog in request general lifetimes; do
    for backend in $(builds_of "${prog}"); do
      echo "run.sh: callgrind ${prog}_${backend}" >&2
      rm -f "${tmp}"/cg.out.*
      valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="${tmp}/cg.out.%p" \
        "${bin}/${prog}_${backend}" --callgrind >/dev/null 2>"${tmp}/valgrind.log" ||
        { cat "${tmp}/valgrind.log" >&2; return 1; }
      # In dump order (cg.out.PID.1, .2, ... .10: natural sort), which is the programs' row order.
      for f in $(ls -v "${tmp}"/cg.out.*); do
        awk '/^desc: Trigger: Client Request: bench\|/ { sub(/^desc: Trigger: Client Request: /, ""); label = $0 }
             /^totals:/ { total = $2 }
             END { if (label != "") { n = split(label, a, "|"); printf "%s\t%s\t%s\t%.1f\n", a[2], a[3], a[4], total / a[5] } }' \
          "${f}" >>"${tmp}/cg.tsv"
      done
    done
  done
  # The general workload's "process malloc/free" row once more, with each malloc preloaded:
  # catmem's libraries (malloc/) beside jemalloc's, in the system build (whose own malloc is
  # glibc's). Its peer is renamed for the library.
  local lib name
  # Not mimalloc's: preloaded, it takes over __libc_malloc too, which the glibc peer and the
  # system engine use (its heap row stands for it).
  for lib in libcatmem_malloc_jemalloc.so libcatmem_malloc_system.so libcatmem_malloc_runtime.so \
    libjemalloc.so.2; do
    name="${lib}"
    [[ "${lib}" != libcatmem* ]] || name="${bin%/bench}/malloc/${lib}"
    echo "run.sh: callgrind general_system, LD_PRELOAD=${lib}" >&2
    rm -f "${tmp}"/cg.out.*
    LD_PRELOAD="${name}" BENCH_PRELOADED_MALLOC="${lib%%.so*}" \
      valgrind --tool=callgrind --collect-atstart=no \
      --callgrind-out-file="${tmp}/cg.out.%p" "${bin}/general_system" --callgrind >/dev/null \
      2>"${tmp}/valgrind.log" || { cat "${tmp}/valgrind.log" >&2; return 1; }
    for f in $(ls -v "${tmp}"/cg.out.*); do
      awk -v lib="${lib}" '/^desc: Trigger: Client Request: bench\|/ { sub(/^desc: Trigger: Client Request: /, ""); label = $0 }
           /^totals:/ { total = $2 }
           END { n = split(label, a, "|"); if (a[4] == "process malloc/free")
                   printf "general\tpreloaded\tmalloc/free, LD_PRELOAD=%s\t%.1f\n", lib, total / a[5] }' \
        "${f}" >>"${tmp}/cg.tsv"
    done
  done
  {
    echo "## Instructions per operation (callgrind)"
    echo
    echo "\`valgrind --tool=callgrind --collect-atstart=no\`, each program with \`--callgrind\`"
    echo "(1 thread, reduced counts, collection switched on only around each peer's measured"
    echo "section, after its warm-up). Instructions (Ir) per operation, the same op as in the"
    echo "timings: request = one object (allocate, touch, its share of the release); general ="
    echo "one free + one allocation. Deterministic, so it is the figure to compare on a noisy"
    echo "machine; it does not see cache misses, lock contention or system calls' own cost."
    echo
    cg_table "request|jemalloc,request|system,general|jemalloc,general|system,general|runtime"
    echo
    echo "Arena lifetimes (\`lifetimes_*\`): instructions per lifetime (create an arena, 20"
    echo "allocations of 16-512 B, 5 single frees, release) and per empty create + release. APR"
    echo "skips the 5 frees (it cannot free one block)."
    echo
    cg_table "lifetime|jemalloc,lifetime|system,lifetime|runtime,empty arena|jemalloc,empty arena|system,empty arena|runtime"
    echo
    echo "The process's malloc (the general workload's malloc/free row, system build, with each"
    echo "library in LD_PRELOAD; glibc's own is that row without one: \"process malloc/free\""
    echo "above). catmem's malloc libraries (malloc/) serve malloc from one arena; every free is"
    echo "unsized, which on jemalloc asks jemalloc for the block's size class (sallocx). The"
    echo "runtime library binds to the jemalloc this program links (its jemalloc peers need it)."
    echo
    cg_table "general|preloaded"
    echo
    echo "catmem rows are the build's backend: in the jemalloc build, catmem on jemalloc; in the"
    echo "system build, catmem's engine on glibc's malloc; in the runtime build, the runtime backend"
    echo "falling back to that engine. Other peers are the same code in every build."
  } >"${out}"
}

if [[ "${mode}" == callgrind ]]; then
  run_callgrind "${results}/callgrind.md"
  { echo "# catmem instruction counts"; echo; machine_facts; echo; cat "${results}/callgrind.md"; } \
    >"${tmp}/cg.md" && mv "${tmp}/cg.md" "${results}/callgrind.md"
  cat "${results}/callgrind.md"
  exit 0
fi

# ---- timings --------------------------------------------------------------------------------------
: >"${tmp}/data.tsv"
facts="$(machine_facts)"
for prog in request general memory objects lua lifetimes; do
  for backend in $(builds_of "${prog}"); do
    r="${reps}"
    [[ "${prog}" == memory ]] && r="${mem_reps}"
    echo "run.sh: ${prog}_${backend} --reps ${r} ${quick[*]:-}" >&2
    "${bin}/${prog}_${backend}" --reps "${r}" "${quick[@]}" --data "${tmp}/data.tsv" \
      >"${tmp}/${prog}_${backend}.md"
  done
done

if [[ "${mode}" == all ]]; then
  run_callgrind "${tmp}/callgrind.md"
fi

# The chart: ns/op per peer, both builds side by side, and the memory phases.
plot_data() { # workload threads -> "key<TAB>jemalloc build<TAB>system build"
  awk -F'\t' -v w="$1" -v t="$2" '
    $1 == w && $2 == t { if (!($4 in seen)) { seen[$4] = 1; order[n++] = $4 } v[$3 "|" $4] = $5 }
    END { for (i = 0; i < n; i++) { k = order[i]; printf "\"%s\"\t%s\t%s\n", k,
            ("jemalloc|" k in v) ? v["jemalloc|" k] : "NaN", ("system|" k in v) ? v["system|" k] : "NaN" } }' \
    "${tmp}/data.tsv"
}
plot_data request 1 >"${tmp}/request1.dat"
plot_data request 2 >"${tmp}/request2.dat"
plot_data general 1 >"${tmp}/general1.dat"
plot_data general 2 >"${tmp}/general2.dat"
plot_data lifetime 1 >"${tmp}/lifetime1.dat"
plot_data "empty arena" 1 >"${tmp}/empty1.dat"
# memory rows: memory 1 backend key before peak after_free after_purge
awk -F'\t' '$1 == "memory" {
    if (!($4 in seen)) { seen[$4] = 1; order[n++] = $4 }
    f[$3 "|" $4] = $7; p[$3 "|" $4] = $8 }
  END { for (i = 0; i < n; i++) { k = order[i]; printf "\"%s\"\t%s\t%s\t%s\t%s\n", k,
          f["jemalloc|" k], p["jemalloc|" k], f["system|" k], p["system|" k] } }' \
  "${tmp}/data.tsv" >"${tmp}/memory.dat"
# instructions per op: cg.tsv rows are "workload backend key Ir/op"
for w in request general; do
  awk -F'\t' -v w="${w}" '$1 == w { if (!($3 in seen)) { seen[$3] = 1; order[n++] = $3 } v[$2 "|" $3] = $4 }
    END { for (i = 0; i < n; i++) { k = order[i]; printf "\"%s\"\t%s\t%s\n", k,
            ("jemalloc|" k in v) ? v["jemalloc|" k] : "NaN", ("system|" k in v) ? v["system|" k] : "NaN" } }' \
    "${tmp}/cg.tsv" 2>/dev/null >"${tmp}/cg_${w}.dat" || true
done
cp "${tmp}/data.tsv" "${results}/latest.tsv"
if command -v gnuplot >/dev/null; then
  gnuplot -e "dir='${tmp}'; out='${results}/latest.png'" "${here}/plot.gp"
else
  echo "run.sh: gnuplot not installed (gnuplot-nox): no chart" >&2
fi

# ---- the report -----------------------------------------------------------------------------------
{
  echo "# catmem benchmark results"
  echo
  echo "${facts}"
  echo
  echo "Every program runs catmem and all its peers in one process; each is built on catmem's"
  echo "jemalloc backend and on its system backend (general, objects, lua and lifetimes also on the"
  echo "runtime backend falling back to the system engine), so every ratio below compares"
  echo "figures measured in the same run. Times are medians over the repetitions; \"x fastest\""
  echo "and the targets are medians of the ratios measured within each repetition. Peak RSS of"
  echo "each timed peer comes from a separate forked child running the same work once (growth:"
  echo "over the child's starting RSS). Sources: \`bench/\`; chart: \`latest.png\`."
  echo
  echo "## Targets (reported, never asserted)"
  echo
  echo "| target | measured | target | met |"
  echo "|---|---:|---:|:---:|"
  for prog in request general memory; do
    cat "${tmp}/${prog}"_*.md | grep -E '^\| (request|general|memory)[^|]*: ' || true
  done
  echo
  echo "![chart](latest.png)"
  for prog in request general memory objects lua lifetimes; do
    for backend in $(builds_of "${prog}"); do
      echo
      cat "${tmp}/${prog}_${backend}.md"
    done
  done
  if [[ -f "${tmp}/callgrind.md" ]]; then
    echo
    cat "${tmp}/callgrind.md"
  fi
} >"${results}/latest.md"
echo "run.sh: wrote ${results#"${root}/"}/latest.md and latest.png" >&2
cat "${results}/latest.md"
