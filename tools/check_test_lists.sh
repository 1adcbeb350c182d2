#!/usr/bin/env bash
# Checks that CMake runs the tests Bazel runs. The test matrix is written twice, in
# tests/BUILD.bazel (with tests/defs.bzl) and in CMakeLists.txt; this fails when the test names
# `ctest -N` lists for a CMake build of this checkout differ from the cc_test and sh_test targets
# of //tests/... other than by the Bazel-only tests listed below. Both builds name a catmem_test's
# tests <test>_<variant>, so the same comparison checks CMake's CATMEM_VARIANTS against
# defs.bzl's VARIANTS, and the variants of every test.
#
# Bazel lists its own tests (`tools/bazel query`, seconds; CI's server is already up): only Bazel
# expands defs.bzl's macro and BUILD.bazel's list comprehensions exactly, and a parser of ours
# would drift from them. The CMake build must have found every optional package (tools/bazel
# installs them all): CMake leaves out the tests of a package it did not find, and its
# "-- catmem:" configure lines say which.
#
# Usage: tools/check_test_lists.sh CMAKE_BUILD_DIR   (tools/check_cmake.sh runs it on its build)
set -euo pipefail

# Bazel-only tests: CMake does not register them, each for the reason given.
bazel_only=(
  plugin_test     # runs the host and modules that Bazel builds (//examples/plugin), from runfiles
  static_tls_test # jemalloc's late-loading behaviour, no catmem code: nothing our builds change
  fuzz_test       # builds itself with clang's libFuzzer, whatever the build; .ci/run runs it too
  ci_count_test   # checks .ci/run's reading of Bazel's test summary: CI tooling, not catmem
)

export LC_ALL=C # one sort order for sort and comm
catmem="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: $0 CMAKE_BUILD_DIR}"
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-lists.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

fail() {
  echo "check_test_lists: FAIL: $*" >&2
  exit 1
}

# The exceptions above are this checkout's: the build must be of it too.
home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "${build}/CMakeCache.txt" 2>/dev/null)" ||
  true
[[ "${home}" -ef "${catmem}" ]] || fail "${build} is not a CMake build of ${catmem}"

# ctest -N prints "  Test  #1: api_test_jemalloc".
(cd "${build}" && ctest -N) >"${work}/ctest.out" || fail "ctest -N in ${build}"
sed -n 's/^ *Test *#[0-9]*: //p' "${work}/ctest.out" | sort >"${work}/cmake"
# tests() expands the test_suite of each catmem_test into its cc_tests.
(cd "${catmem}" && ./tools/bazel query 'tests(//tests/...)') >"${work}/query.out" \
  2>"${work}/query.log" || { cat "${work}/query.log" >&2; fail "bazel query"; }
sed 's|^//tests:||' "${work}/query.out" | sort >"${work}/bazel"
printf '%s\n' "${bazel_only[@]}" | sort >"${work}/bazel_only"

status=0
# report <file> <heading> [<what to do>]: the names in <file>, if any, are a failure.
report() {
  [[ -s "$1" ]] || return 0
  echo "check_test_lists: FAIL: $2:" >&2
  sed 's/^/  /' "$1" >&2
  [[ -z "${3:-}" ]] || echo "  $3" >&2
  status=1
}
comm -23 "${work}/bazel" "${work}/cmake" | comm -23 - "${work}/bazel_only" >"${work}/missing"
report "${work}/missing" "in Bazel (tests/BUILD.bazel), not in CMake" \
  "Add each to CMakeLists.txt's tests section, or to bazel_only in tools/check_test_lists.sh \
with its reason. One variant missing from every test: CATMEM_VARIANTS differs from VARIANTS in \
tests/defs.bzl. Or CMake did not find a package: see its \"-- catmem:\" lines."
comm -13 "${work}/bazel" "${work}/cmake" >"${work}/extra"
report "${work}/extra" "in CMake, not in Bazel (tests/BUILD.bazel)"
comm -12 "${work}/bazel_only" "${work}/cmake" >"${work}/stale"
report "${work}/stale" "in CMake, but listed as Bazel-only" \
  "Remove them from bazel_only in tools/check_test_lists.sh."
comm -23 "${work}/bazel_only" "${work}/bazel" >"${work}/gone"
report "${work}/gone" "listed as Bazel-only, but not in Bazel" \
  "Remove them from bazel_only in tools/check_test_lists.sh."
((status == 0)) || exit 1

echo "check_test_lists: OK: $(wc -l <"${work}/cmake") CTest tests = $(wc -l <"${work}/bazel") \
Bazel tests less ${#bazel_only[@]} Bazel-only"
