#!/usr/bin/env bash
# catmem's malloc library on one backend:
#   malloc_test.sh BACKEND [ALSO-PRELOADED [PROGRAMS-DIR LIBRARY-DIR]]
# (the directories default to Bazel's runfiles: tests/malloc and malloc).
# Preloaded into, then linked into, the same programs: the malloc family's semantics must print
# exactly what they print on glibc; the stress and C++ programs must pass, with their malloc and
# operator new found in catmem's library (they check); the report at exit must show the calls
# in the arena "malloc" (so nothing passed on glibc by mistake).
set -euo pipefail
backend="$1"
also="${2:-}"
here="${3:-tests/malloc}"
lib="$(cd "${4:-malloc}" && pwd)/libcatmem_malloc_${backend}.so"
out="${TEST_TMPDIR:-$(mktemp -d)}"
preload="${lib}${also:+ ${also}}"

"${here}/semantics" > "${out}/glibc.txt"

check_report() { # the JSON report names the arena "malloc" with at least $2 allocations
  python3 - "$1" "$2" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
arena = [a for a in report["arenas"] if a["name"] == "malloc"]
if not arena or arena[0]["nmalloc"] < int(sys.argv[2]):
    sys.exit("no arena 'malloc' with %s allocations in the report: %s" % (sys.argv[2], arena))
PY
}

echo "== preloaded: ${preload}"
LD_PRELOAD="${preload}" CATMEM_REPORT="${out}/report.json" "${here}/semantics" \
  > "${out}/preloaded.txt"
diff -u "${out}/glibc.txt" "${out}/preloaded.txt"
check_report "${out}/report.json" 50
LD_PRELOAD="${preload}" "${here}/stress" libcatmem_malloc_"${backend}"
LD_PRELOAD="${preload}" "${here}/cxx" libcatmem_malloc_"${backend}"
# Heap profiling samples inside malloc itself: backtrace() allocates on its first call, in every
# thread, forks included. The profile written at exit must be there.
LD_PRELOAD="${preload}" CATMEM_PROFILE="${out}/heap.pb" CATMEM_PROFILE_INTERVAL=4096 \
  "${here}/stress" libcatmem_malloc_"${backend}"
[[ -s "${out}/heap.pb" ]] || {
  echo "no heap profile written at exit with CATMEM_PROFILE"
  exit 1
}
# glibc under the library (tuning.c): tuned on the system engine, left alone on jemalloc, and
# the user's own tunables win.
tuned=$'512KiB heap\n2MiB mapped'
untouched=$'512KiB mapped\n2MiB mapped'
want="${tuned}"
[[ "${backend}" == jemalloc || -n "${also}" ]] && want="${untouched}"
got="$(LD_PRELOAD="${preload}" "${here}/tuning")"
[[ "${got}" == "${want}" ]] || { echo "glibc under the library: ${got}, not ${want}"; exit 1; }
got="$(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 LD_PRELOAD="${preload}" "${here}/tuning")"
[[ "${got}" == "${untouched}" ]] || { echo "with the user's tunables: ${got}"; exit 1; }
[[ "$("${here}/tuning")" == "${untouched}" ]] || { echo "glibc alone: $("${here}/tuning")"; exit 1; }
if [[ -n "${also}" ]]; then # the runtime backend must have bound to the jemalloc preloaded
  LD_PRELOAD="${preload}" CATMEM_REPORT="${out}/bound.json" "${here}/semantics" > /dev/null
  grep -q '"backend": *"jemalloc"' "${out}/bound.json" || {
    echo "the runtime backend did not bind to ${also}: $(head -c 300 "${out}/bound.json")"
    exit 1
  }
fi

echo "== linked"
CATMEM_REPORT="${out}/linked.json" "${here}/semantics_${backend}_linked" > "${out}/linked.txt"
diff -u "${out}/glibc.txt" "${out}/linked.txt"
check_report "${out}/linked.json" 50
"${here}/stress_${backend}_linked" "stress_${backend}_linked"
"${here}/cxx_${backend}_linked" "cxx_${backend}_linked"
echo "malloc_test ${backend}${also:+ with ${also}}: ok"
