#!/usr/bin/env bash
# Runs examples/tenants.c on every backend it is given: with its defaults, then with 160 requests
# in flight against budgets of 1 MiB (room for 15 requests a tenant), so that requests wait for
# their tenant's budget. Every run must exit with status 0 and say that every check passed.
# Usage: examples/tenants_test.sh TENANTS...   (Bazel passes one binary per backend)
set -euo pipefail

(($# > 0)) || { echo "usage: $0 TENANTS..." >&2; exit 2; }
fail=0
for bin in "$@"; do
  for args in "" "160 1"; do
    status=0
    # shellcheck disable=SC2086 # args is two words, or none
    out="$("${bin}" ${args} 2>&1)" || status=$?
    if [[ "${status}" != 0 || "${out}" != *"tenants: every check passed"* ]]; then
      echo "FAIL: ${bin##*/} ${args:-(defaults)}: exit ${status}" >&2
      echo "${out}" >&2
      fail=1
      continue
    fi
    summary="$(grep -E '^(done in|peak live)' <<<"${out}" | tr '\n' ' ')"
    echo "ok: ${bin##*/} ${args:-(defaults)}: ${summary}"
  done
done
exit "${fail}"
