#!/usr/bin/env bash
# Checks that CMake and Meson run the tests Bazel runs. The test matrix is written three times, in
# tests/BUILD.bazel (with tests/defs.bzl), in CMakeLists.txt and in tests/meson.build; this fails
# when the test names of a CMake build (`ctest -N`) or a Meson build (meson-info/intro-tests.json)
# of this checkout differ from the cc_test and sh_test targets of //tests/... other than by the
# Bazel-only tests listed below. All three builds name a catmem_test's tests <test>_<variant>, so
# the same comparison checks CMake's CATMEM_VARIANTS and Meson's variants against defs.bzl's
# VARIANTS, and the variants of every test.
#
# Bazel lists its own tests (`tools/bazel query`, seconds; CI's server is already up): only Bazel
# expands defs.bzl's macro and BUILD.bazel's list comprehensions exactly, and a parser of ours
# would drift from them. The build must have found every optional package (tools/bazel installs
# them all): CMake and Meson leave out the tests of a package they did not find, and their
# "catmem:" configure lines say which.
#
# Usage: tools/check_test_lists.sh BUILD_DIR   (a CMake or Meson build: tools/check_cmake.sh and
#                                               tools/check_meson.sh run it on theirs)
set -euo pipefail

# Bazel-only tests: CMake and Meson do not register them, each for the reason given.
bazel_only=(
  plugin_test     # runs the host and modules that Bazel builds (//examples/plugin), from runfiles
  static_tls_test # jemalloc's late-loading behaviour, no catmem code: nothing our builds change
  fuzz_test       # builds itself with clang's libFuzzer, whatever the build; .ci/run runs it too
  ci_count_test   # checks .ci/run's reading of Bazel's test summary: CI tooling, not catmem
  attacks_test    # runs bench/'s attack programs, which only Bazel builds (//bench:attacks_*)
)

export LC_ALL=C # one sort order for sort and comm
catmem="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: $0 BUILD_DIR}"
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-lists.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

fail() {
  echo "check_test_lists: FAIL: $*" >&2
  exit 1
}

# The exceptions above are this checkout's: the build must be of it too.
meson_info="${build}/meson-info/meson-info.json"
if [[ -f "${meson_info}" ]]; then
  kind=Meson
  where="tests/meson.build's tests list"
  home="$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["directories"]["source"])' "${meson_info}")" || true
else
  kind=CMake
  where="CMakeLists.txt's tests section"
  home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "${build}/CMakeCache.txt" 2>/dev/null)" ||
    true
fi
[[ "${home}" -ef "${catmem}" ]] || fail "${build} is not a CMake or Meson build of ${catmem}"

if [[ "${kind}" == Meson ]]; then
  python3 -c 'import json, sys
for test in json.load(open(sys.argv[1])): print(test["name"])' \
    "${build}/meson-info/intro-tests.json" >"${work}/tests.out" || fail "meson's test list"
  sort "${work}/tests.out" >"${work}/build"
else
  # ctest -N prints "  Test  #1: api_test_jemalloc".
  (cd "${build}" && ctest -N) >"${work}/ctest.out" || fail "ctest -N in ${build}"
  sed -n 's/^ *Test *#[0-9]*: //p' "${work}/ctest.out" | sort >"${work}/build"
fi
# tests() expands the test_suite of each catmem_test into its cc_tests.
(cd "${catmem}" && ./tools/bazel query 'tests(//tests/...)') >"${work}/query.out" \
  2>"${work}/query.log" || { cat "${work}/query.log" >&2; fail "bazel query"; }
sed 's|^//tests[^:]*:||' "${work}/query.out" | sort >"${work}/bazel"
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
comm -23 "${work}/bazel" "${work}/build" | comm -23 - "${work}/bazel_only" >"${work}/missing"
report "${work}/missing" "in Bazel (tests/BUILD.bazel), not in ${kind}" \
  "Add each to ${where}, or to bazel_only in tools/check_test_lists.sh with its reason. One \
variant missing from every test: ${kind}'s variants differ from VARIANTS in tests/defs.bzl. Or \
${kind} did not find a package: see its \"catmem:\" configure lines."
comm -13 "${work}/bazel" "${work}/build" >"${work}/extra"
report "${work}/extra" "in ${kind}, not in Bazel (tests/BUILD.bazel)"
comm -12 "${work}/bazel_only" "${work}/build" >"${work}/stale"
report "${work}/stale" "in ${kind}, but listed as Bazel-only" \
  "Remove them from bazel_only in tools/check_test_lists.sh."
comm -23 "${work}/bazel_only" "${work}/bazel" >"${work}/gone"
report "${work}/gone" "listed as Bazel-only, but not in Bazel" \
  "Remove them from bazel_only in tools/check_test_lists.sh."
((status == 0)) || exit 1

echo "check_test_lists: OK: $(wc -l <"${work}/build") ${kind} tests = $(wc -l <"${work}/bazel") \
Bazel tests less ${#bazel_only[@]} Bazel-only"
