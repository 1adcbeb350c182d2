#!/usr/bin/env bash
# A real program's own test suite on catmem's malloc: CPython's regression tests (Debian's
# libpython3.11-testsuite) with PYTHONMALLOC=malloc, so that every object CPython makes comes from
# catmem, under each of libcatmem_malloc_<backend>.so (and the runtime backend with Debian's
# jemalloc preloaded after it), after a run on glibc's malloc that must pass too: a failure on
# catmem only is catmem's. The report at exit must show the arena "malloc" holding CPython's
# allocations, so that nothing passes on glibc by mistake.
#
# Usage: tools/check_malloc.sh [TEST...]   (default: the list below, about 30 s per run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools/need_packages.sh check_malloc python3.11:python3.11
[[ -d /usr/lib/python3.11/test/libregrtest ]] || tools/need_packages.sh check_malloc \
  /usr/lib/python3.11/test/libregrtest/main.py:libpython3.11-testsuite
python=/usr/bin/python3.11 # Debian's, whose test package is installed (not a pyenv shim)

# Containers, strings, numbers, threads, fork, the garbage collector, weak references, codecs:
# what makes CPython allocate, from every thread.
# Not test_threading: it fails now and then on glibc's malloc alone here (two of its tests in a
# CI run; its fork tests' children once, on catmem's), which would make this check flaky;
# test_thread and test_fork1 cover threads and fork.
tests=(test_array test_bytes test_collections test_dict test_list test_set test_json test_re
  test_unicode test_thread test_itertools test_functools test_gc test_weakref test_fork1
  test_decimal test_struct test_sort test_deque test_heapq test_bisect test_string test_tuple
  test_long test_float test_math test_hashlib test_zlib test_queue)
(($# == 0)) || tests=("$@")

./tools/bazel build -c opt //malloc:all
libs="$(./tools/bazel info -c opt bazel-bin)/malloc"
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-malloc.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

run() { # run NAME PRELOAD: the suite, its last lines on success, all of it on failure
  local name="$1" preload="$2" start=${SECONDS}
  echo "== ${name}${preload:+ (LD_PRELOAD=${preload})}"
  if ! LD_PRELOAD="${preload}" PYTHONMALLOC=malloc CATMEM_REPORT="${work}/${name}.%p.json" \
    "${python}" -m test -j2 "${tests[@]}" >"${work}/${name}.log" 2>&1; then
    cat "${work}/${name}.log"
    echo "check_malloc: FAIL: CPython's tests on ${name}"
    exit 1
  fi
  tail -n 3 "${work}/${name}.log"
  echo "   $((SECONDS - start)) s"
}

run glibc ""
for backend in jemalloc system runtime; do
  run "${backend}" "${libs}/libcatmem_malloc_${backend}.so"
done
run runtime_preload "${libs}/libcatmem_malloc_runtime.so libjemalloc.so.2"
# Each process's report (CATMEM_REPORT's %p): the arena "malloc" served CPython in every one
# (the Pythons some tests start make about 1,200 allocations), and regrtest's main process
# and its workers, one per test file, 100,000 at least.
for name in jemalloc system runtime runtime_preload; do
  "${python}" - "${name}" "${work}/${name}".*.json <<'PY'
import json, sys
name, paths = sys.argv[1], sys.argv[2:]
if len(paths) < 3:  # the main process and its two workers, at least
    sys.exit("check_malloc: FAIL: %s: %d reports" % (name, len(paths)))
counts = []
for path in paths:
    arena = [a for a in json.load(open(path))["arenas"] if a["name"] == "malloc"]
    if not arena or arena[0]["nmalloc"] < 100:
        sys.exit("check_malloc: FAIL: %s: CPython did not allocate from catmem in %s: %s"
                 % (name, path, arena))
    counts.append(arena[0]["nmalloc"])
big = sum(n >= 100000 for n in counts)
if big < min(3, len(counts)):
    sys.exit("check_malloc: FAIL: %s: %d reports of 100,000 allocations or more" % (name, big))
print("%s: %d processes, %d of them with 100,000 allocations or more, %d to %d each"
      % (name, len(counts), big, min(counts), max(counts)))
PY
done
echo "check_malloc: OK"
