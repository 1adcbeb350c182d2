#!/usr/bin/env bash
# run_fuzz.sh [SECONDS] - catmem's libFuzzer target (tests/fuzz/catmem_fuzz.c) on every backend.
#
# For each of the jemalloc, system and runtime backends (the runtime one falls back to the
# system malloc here, as in any process without jemalloc) it
#   1. builds the target with clang: -fsanitize=fuzzer,address,undefined, every UB report fatal;
#   2. replays every input in tests/fuzz/regressions/ (inputs that once made catmem fail) and
#      the seed corpus tests/fuzz/corpus/;
#   3. fuzzes for SECONDS (default 30; 0: replay only) from a scratch copy of the corpus, so the
#      committed corpus never grows, and prints the executions and time it got.
# It exits non-zero if any build, replay or fuzzing run fails.
#
# Longer runs (an hour per backend, three hours in all):
#     tests/fuzz/run_fuzz.sh 3600
# Environment:
#     CATMEM_FUZZ_BACKENDS="system"  only some backends (default: "jemalloc system runtime")
#     CATMEM_FUZZ_AVOID_KNOWN=1      the target does not make the calls of known, unfixed bugs
#                                    (tests/fuzz/regressions/README.md) while fuzzing, so that a
#                                    long run can look for others; the replay still runs them
#     CATMEM_FUZZ_CC=clang-14        the compiler (default clang; needs libFuzzer's runtime,
#                                    Debian's libclang-rt-14-dev)
# A failing input is kept: under Bazel in the test's outputs
# (bazel-testlogs/tests/fuzz_test/test.outputs/), otherwise in the work directory, which is then
# left in place and printed. Replay it with every call printed:
#     CATMEM_FUZZ_TRACE=1 <work>/fuzz_system <input>
# and turn it into a regression: add it to REGRESSIONS in tests/fuzz/make_corpus.py (by
# operation names), or copy the file into tests/fuzz/regressions/, and describe it in
# tests/fuzz/regressions/README.md.
set -uo pipefail

seconds="${1:-30}"
if [[ ! "${seconds}" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS]   (seconds of fuzzing per backend, default 30)" >&2
  exit 2
fi

# The sources: Bazel's runfiles, or this checkout.
src="${TEST_SRCDIR:-}/${TEST_WORKSPACE:-}"
[[ -f "${src}/catmem.h" ]] || src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fuzz_dir="${src}/tests/fuzz"
cc="${CATMEM_FUZZ_CC:-clang}"
backends="${CATMEM_FUZZ_BACKENDS:-jemalloc system runtime}"

work="$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/catmem_fuzz.XXXXXX")"
keep=0
trap '[[ ${keep} == 1 ]] || rm -rf "${work}"' EXIT
artifacts="${TEST_UNDECLARED_OUTPUTS_DIR:-${work}/artifacts}"
mkdir -p "${artifacts}"

# The sanitizers' settings, whatever the caller's environment says (Bazel's --config=asan sets
# its own). allocator_may_return_null: the target asks ASan's malloc for impossible sizes on
# purpose and expects NULL. No LD_PRELOAD: ASan must be the first runtime loaded.
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
unset LD_PRELOAD MALLOC_CONF

if ! command -v "${cc}" >/dev/null; then
  echo "run_fuzz: no ${cc}; on Debian: apt-get install clang libclang-rt-14-dev" >&2
  exit 1
fi
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  >"${work}/probe.c"
if ! "${cc}" -fsanitize=fuzzer,address,undefined "${work}/probe.c" -o "${work}/probe" \
    2>"${work}/probe.log"; then
  cat "${work}/probe.log" >&2
  echo "run_fuzz: ${cc} cannot link libFuzzer; on Debian: apt-get install libclang-rt-14-dev" >&2
  exit 1
fi

mapfile -t regressions < <(find -L "${fuzz_dir}/regressions" -type f ! -name '*.md' | sort)
mapfile -t seeds < <(find -L "${fuzz_dir}/corpus" -type f | sort)
now() { date +%s.%N; }

fail=0
summary=()
for backend in ${backends}; do
  case "${backend}" in
    jemalloc) libs=(-ljemalloc -lpthread); want=jemalloc ;;
    system) libs=(-lpthread); want=system ;;
    runtime) libs=(-ldl -lpthread); want=system ;; # no jemalloc in this process: malloc
    *) echo "run_fuzz: unknown backend ${backend}" >&2; exit 2 ;;
  esac
  bin="${work}/fuzz_${backend}"
  macro="CATMEM_BACKEND_$(tr '[:lower:]' '[:upper:]' <<<"${backend}")"
  echo "=== ${backend}: build"
  if ! "${cc}" -g -O1 -Wall -Wextra -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=all -fno-omit-frame-pointer -I"${src}" "-D${macro}" \
      "${fuzz_dir}/catmem_fuzz.c" -o "${bin}" "${libs[@]}"; then
    echo "FAIL: ${backend}: build" >&2
    fail=1
    summary+=("$(printf '%-9s %12s %9s %9s %8s  %s' "${backend}" - - - - "build failed")")
    continue
  fi

  # The backend the build really runs on.
  info="$(CATMEM_FUZZ_TRACE=1 "${bin}" -runs=0 "${fuzz_dir}/corpus/allocations" 2>&1 |
    sed -n 's/^catmem_fuzz: backend //p')"
  if [[ "${info}" != "${want} "* ]]; then
    echo "FAIL: ${backend}: runs on '${info}', expected ${want}" >&2
    fail=1
  else
    echo "    backend: ${info}"
  fi

  echo "=== ${backend}: replay ${#regressions[@]} regression inputs and ${#seeds[@]} seeds"
  result=ok
  for input in "${regressions[@]}" "${seeds[@]}"; do
    log="${work}/replay_${backend}_$(basename "${input}").log"
    if ! env -u CATMEM_FUZZ_AVOID_KNOWN "${bin}" "${input}" >"${log}" 2>&1; then
      echo "FAIL: ${backend}: replay of ${input#"${src}"/}:" >&2
      grep -E 'MODEL VIOLATION|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|CHECK failed' \
        "${log}" | head -5 >&2
      cp "${log}" "${artifacts}/" 2>/dev/null
      fail=1
      result="replay failed"
    fi
  done

  execs=- elapsed=- rate=- rss=-
  if [[ "${seconds}" -gt 0 ]]; then
    echo "=== ${backend}: fuzz for ${seconds} s"
    corpus="${work}/corpus_${backend}"
    mkdir -p "${corpus}"
    cp "${seeds[@]}" "${corpus}/"
    log="${work}/fuzz_${backend}.log"
    start="$(now)"
    "${bin}" -max_total_time="${seconds}" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048 \
      -artifact_prefix="${artifacts}/${backend}-" "${corpus}" >"${log}" 2>&1
    status=$?
    end="$(now)"
    elapsed="$(awk -v a="${start}" -v b="${end}" 'BEGIN { printf "%.1f", b - a }')"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)"
    rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "${log}" | tail -1)"
    execs="${execs:--}"
    if [[ "${execs}" != - ]]; then
      rate="$(awk -v n="${execs}" -v t="${elapsed}" 'BEGIN { printf "%.0f", (t > 0) ? n / t : 0 }')"
    fi
    if [[ ${status} -ne 0 ]]; then
      echo "FAIL: ${backend}: fuzzing stopped with status ${status}; the end of its log:" >&2
      grep -v '^  0x\|^Shadow byte\|^  [A-Z][a-z].*: *[0-9a-f]' "${log}" | tail -40 >&2
      cp "${log}" "${artifacts}/fuzz_${backend}.log" 2>/dev/null
      fail=1
      [[ "${result}" == ok ]] && result="fuzzing failed" || result="${result}, fuzzing failed"
    fi
    echo "    ${execs} executions in ${elapsed} s"
  fi
  summary+=("$(printf '%-9s %12s %9s %9s %8s  %s' "${backend}" "${execs}" "${elapsed}" "${rate}" \
    "${rss}" "${result}")")
done

echo
echo "catmem fuzz: ${seconds} s per backend"
printf '%-9s %12s %9s %9s %8s  %s\n' backend executions seconds "exec/s" "RSS MB" result
printf '%s\n' "${summary[@]}"
if [[ ${fail} -ne 0 ]]; then
  if [[ -z "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]]; then
    keep=1
    echo "run_fuzz: FAILED; binaries, logs and failing inputs kept in ${work}" >&2
  else
    echo "run_fuzz: FAILED; logs and failing inputs are in the test's outputs" >&2
  fi
  exit 1
fi
echo "run_fuzz: all passed"
