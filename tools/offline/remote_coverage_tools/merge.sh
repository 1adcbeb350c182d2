#!/usr/bin/env bash
# Offline stand-in for Bazel's coverage merger and report generator (the real
# ones are a downloaded Java tool). It only concatenates reports that are
# already lcov (*.dat: clang's llvm-cov output) into --output_file; gcc's gcov
# JSON is not converted, so with gcc the report stays empty. It exists so that
# `bazel coverage` runs the tests instead of failing.
set -eu
out="" dir="" list=""
for arg in "$@"; do
  case "${arg}" in
    --output_file=*) out="${arg#*=}" ;;
    --coverage_dir=*) dir="${arg#*=}" ;;
    --reports_file=*) list="${arg#*=}" ;;
  esac
done
[[ -n "${out}" ]] || { echo "merge.sh: no --output_file" >&2; exit 1; }
: >"${out}.tmp"
if [[ -n "${dir}" ]]; then
  find "${dir}" -name '*.dat' ! -path "${out}" -exec cat {} + >>"${out}.tmp"
fi
if [[ -n "${list}" ]]; then
  while read -r f; do [[ -f "${f}" ]] && cat "${f}" >>"${out}.tmp"; done <"${list}"
fi
mv "${out}.tmp" "${out}"
