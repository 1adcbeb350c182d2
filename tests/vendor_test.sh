#!/usr/bin/env bash
# A user who vendors catmem copies catmem.h and backends/ into their tree and builds with plain
# cc, no Bazel: the quickstart example must build warning-free as C99, C11 and C17 with gcc and
# clang, on both backends and with the backend picked automatically, and run.
set -euo pipefail

src="${TEST_SRCDIR:-}/${TEST_WORKSPACE:-}"
[[ -f "${src}/catmem.h" ]] || src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/vendor.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

mkdir -p "${work}/third_party/catmem" "${work}/app"
cp "${src}/catmem.h" "${work}/third_party/catmem/"
cp -r "${src}/core" "${src}/backends" "${work}/third_party/catmem/"
cp "${src}/examples/quickstart.c" "${work}/app/"
# The usual layout: the implementation compiled in a file of its own.
printf '#define CATMEM_IMPLEMENTATION\n#include "catmem.h"\n' >"${work}/app/catmem_impl.c"
cd "${work}"

fail=0
check() { # check <expected backend> <compiler and flags...>
  local want="$1" out
  shift
  if ! "$@" -Wall -Wextra -Wpedantic -Werror -Ithird_party/catmem app/quickstart.c \
      app/catmem_impl.c -o app/quickstart ${libs}; then
    echo "FAIL: build: $*" >&2
    fail=1
    return
  fi
  out="$(LD_PRELOAD="${LD_PRELOAD:-}" ./app/quickstart)"
  if [[ "${out}" != *"catmem backend: ${want}"* || "${out}" != *"calloc overflow refused"* ]]; then
    echo "FAIL: run: $*: ${out}" >&2
    fail=1
    return
  fi
  echo "ok: ${want}: $*"
}

for cc in gcc clang; do
  for std in c99 c11 c17; do
    libs="-ljemalloc -lpthread" check jemalloc "${cc}" "-std=${std}" -DCATMEM_BACKEND_JEMALLOC
    libs="-lpthread" check system "${cc}" "-std=${std}" -DCATMEM_BACKEND_SYSTEM
  done
  # The runtime backend links no jemalloc: system malloc alone, jemalloc when preloaded.
  libs="-ldl -lpthread" check system "${cc}" -std=c99 -DCATMEM_BACKEND_RUNTIME
  libs="-ldl -lpthread" LD_PRELOAD=libjemalloc.so.2 check jemalloc "${cc}" -std=c11 \
    -DCATMEM_BACKEND_RUNTIME
  # No backend macro: jemalloc, because <jemalloc/jemalloc.h> is installed here.
  libs="-ljemalloc -lpthread" check jemalloc "${cc}" -std=c11
done
# The implementation compiles as C++17 too, for C++-only trees.
for backend in JEMALLOC SYSTEM RUNTIME; do
  for cxx in g++ clang++; do
    if "${cxx}" -std=c++17 -Wall -Wextra -Wpedantic -Werror -Ithird_party/catmem \
        "-DCATMEM_BACKEND_${backend}" -fsyntax-only -x c++ app/catmem_impl.c; then
      echo "ok: ${cxx} -std=c++17 implementation, ${backend}"
    else
      echo "FAIL: ${cxx} -std=c++17 implementation, ${backend}" >&2
      fail=1
    fi
  done
done
# CATMEM_API=static: everything in one file, nothing exported, and no warning for functions the
# program does not call.
cat app/catmem_impl.c app/quickstart.c >app/one_file.c
for backend in JEMALLOC SYSTEM RUNTIME; do
  for cc in gcc clang; do
    if "${cc}" -std=c99 -Wall -Wextra -Wpedantic -Werror -Ithird_party/catmem -DCATMEM_API=static \
        "-DCATMEM_BACKEND_${backend}" app/one_file.c -o app/one_file -ljemalloc -ldl -lpthread &&
        ./app/one_file >/dev/null; then
      echo "ok: ${cc} CATMEM_API=static, ${backend}"
    else
      echo "FAIL: ${cc} CATMEM_API=static, ${backend}" >&2
      fail=1
    fi
  done
done
# Both backends at once is a clear compile-time error.
if gcc -Ithird_party/catmem -DCATMEM_BACKEND_JEMALLOC -DCATMEM_BACKEND_SYSTEM -fsyntax-only \
    app/catmem_impl.c 2>err.txt; then
  echo "FAIL: both backends defined compiled" >&2
  fail=1
elif ! grep -q "define exactly one CATMEM_BACKEND_" err.txt; then
  echo "FAIL: unclear error for two backends: $(cat err.txt)" >&2
  fail=1
fi
exit "${fail}"
