#!/usr/bin/env bash
# tests/ci_count/ci_count.py, which makes .ci/run's per-step counts and closing line, on real
# Bazel 4.2.3 outputs beside it: a passing run, a failing one (whose test output imitates a
# summary), cached tests with tag-filtered ones, a build that stopped (NO STATUS, FAILED TO
# BUILD), no summary at all; and .ci/run's step mode on plain commands and on a stand-in Bazel.
set -uo pipefail

src="${TEST_SRCDIR:-}/${TEST_WORKSPACE:-}"
[[ -d "${src}/tests/ci_count" ]] || src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
logs="${src}/tests/ci_count"
count=("python3" "${logs}/ci_count.py")
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/ci_count.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

fail=0
checks=0
expect() { # expect <wanted output> <ci_count.py arguments...>
  local want="$1" got
  shift
  checks=$((checks + 1))
  got="$("${count[@]}" "$@" 2>"${work}/stderr")" || got="(exit $?) ${got}"
  if [[ "${got}" != "${want}" ]]; then
    echo "FAIL: ci_count.py $*" >&2
    echo "  want: ${want}" >&2
    echo "  got:  ${got}" >&2
    sed 's/^/  stderr: /' "${work}/stderr" >&2
    fail=1
  fi
}

# Passing; the status changes nothing.
expect "8 passed, 0 failed" count "${logs}/pass.log"
expect "8 passed, 0 failed" count "${logs}/pass.log" --status 0
# One failure. The failed test's output, printed before the summary, has a PASSED line and an
# "Executed" line of its own: only the real summary counts.
expect "4 passed, 1 failed" count "${logs}/fail.log" --status 3
expect "4 passed, 1 failed" count "${logs}/fail.log"
# "(cached) PASSED" is a pass; --test_tag_filters=-jemalloc_preload left out the two
# runtime_preload variants of the eight tests the patterns name.
expect "6 passed, 0 failed, 2 skipped" count "${logs}/cached_skipped.log" \
  --tests "${logs}/cached_skipped.tests"
expect "6 passed, 0 failed" count "${logs}/cached_skipped.log"
# All passed but Bazel failed (a non-test target did not build): one failure for the step.
expect "6 passed, 1 failed, 2 skipped" count "${logs}/cached_skipped.log" --status 1 \
  --tests "${logs}/cached_skipped.tests"
# A summary line that Bazel counted but did not print did not pass; it is not a skip either.
grep -v '^//tests:api_test_system ' "${logs}/cached_skipped.log" >"${work}/hidden.log"
expect "5 passed, 1 failed, 2 skipped" count "${work}/hidden.log" \
  --tests "${logs}/cached_skipped.tests"
# The build stopped: FAILED TO BUILD, and NO STATUS for the tests that never ran.
expect "0 passed, 5 failed" count "${logs}/no_status.log" --status 1
# No summary at all (a pattern that does not load): the step is one test, and failed.
expect "0 passed, 1 failed" count "${logs}/no_summary.log" --status 1
# Colours, as Bazel writes them to a terminal, do not hide anything.
sed 's/\(PASSED\)/\x1b[32m\1\x1b[0m/' "${logs}/cached_skipped.log" >"${work}/colour.log"
expect "6 passed, 0 failed" count "${work}/colour.log"

# step: any command that is not a Bazel test is one test.
expect "1 passed, 0 failed" step 0 /dev/null tools/check_consumer.sh
expect "0 passed, 1 failed" step 2 /dev/null tests/fuzz/run_fuzz.sh 60
expect "1 passed, 0 failed" step 0 "${logs}/fail.log" ./tools/bazel run //examples:quickstart
# A Bazel test step: counted from its output, with the tests its patterns name listed by a
# query through the same Bazel (startup options kept, test options and "-" patterns handled).
mkdir "${work}/bin"
cat >"${work}/bin/bazel" <<EOF
#!/bin/sh
echo "\$*" >"${work}/query_args"
[ "\$FAKE_QUERY_FAILS" = 1 ] && { echo "ERROR: no such package" >&2; exit 7; }
cat "${logs}/cached_skipped.tests"
EOF
chmod +x "${work}/bin/bazel"
export FAKE_QUERY_FAILS=0
expect "6 passed, 0 failed, 2 skipped" step 0 "${logs}/cached_skipped.log" "${work}/bin/bazel" \
  --output_user_root=/x test --config=tsan --test_env=A=1 //tests:api_test -- //tests:region_test \
  -//tests:none
want="--output_user_root=/x query --output=label"
want+=" tests((//tests:api_test + //tests:region_test) - //tests:none)"
checks=$((checks + 1))
if [[ "$(cat "${work}/query_args")" != "${want}" ]]; then
  echo "FAIL: the query was: $(cat "${work}/query_args"); want: ${want}" >&2
  fail=1
fi
# If the query fails, the skipped ones are not known, and the rest is still counted.
FAKE_QUERY_FAILS=1
expect "4 passed, 1 failed" step 3 "${logs}/fail.log" "${work}/bin/bazel" test //tests:all

if ((fail)); then
  echo "ci_count_test: FAILED" >&2
  exit 1
fi
echo "ci_count_test: ${checks} checks passed"
