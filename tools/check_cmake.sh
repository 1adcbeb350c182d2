#!/usr/bin/env bash
# Checks catmem's CMake and pkg-config support, from a clean state, in temporary directories
# outside the source tree (removed at exit):
#   1. configure and build catmem with CMake, run the cmocka suite with ctest; check that CTest
#      has Bazel's tests but the Bazel-only ones (tools/check_test_lists.sh, which asks Bazel);
#   2. three consumer projects that get catmem by add_subdirectory, by FetchContent (SOURCE_DIR,
#      so nothing is downloaded) and by find_package from an installed prefix, each linking
#      catmem::catmem, the explicit backend targets and a shared module (catmem's static
#      libraries must be PIC), and running what they built;
#   3. plain cc with `pkg-config --cflags --libs` for catmem.pc and each catmem-<backend>.pc.
# Every program prints the backend it got, which is checked. Any failure exits non-zero.
#
# Usage: tools/check_cmake.sh [CATMEM_DIR]   (default: this checkout)
set -euo pipefail

catmem="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"

"${catmem}/tools/need_packages.sh" check_cmake cmake:cmake pkg-config:pkgconf

work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-cmake.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

# shellcheck source=tools/check_lib.sh
source "${catmem}/tools/check_lib.sh"

# ---- 1. catmem's own build and tests ------------------------------------------------------------

echo "== 1. cmake build and ctest (${catmem})"
cmake -S "${catmem}" -B "${work}/build" >"${work}/configure.log" ||
  { cat "${work}/configure.log"; fail "configure"; }
grep '^-- catmem:' "${work}/configure.log"
# Needs only the configured tests, so a test missing from CMakeLists.txt fails before the build.
"${catmem}/tools/check_test_lists.sh" "${work}/build" || fail "CMake's tests are not Bazel's"
cmake --build "${work}/build" --parallel "${jobs}" >"${work}/build.log" ||
  { tail -50 "${work}/build.log"; fail "build"; }
(cd "${work}/build" && ctest --output-on-failure --parallel "${jobs}") || fail "ctest"

# The backend catmem::catmem and catmem.pc default to, and whether jemalloc was found.
default="$(sed -n 's/^CATMEM_BACKEND:STRING=//p' "${work}/build/CMakeCache.txt")"
have_jemalloc=0
[[ -f "${work}/build/libcatmem_jemalloc.a" ]] && have_jemalloc=1
echo "  default backend: ${default}, jemalloc found: ${have_jemalloc}"

cmake --install "${work}/build" --prefix "${work}/prefix" >/dev/null || fail "install"
[[ -f "${work}/prefix/include/catmem/catmem.h" ]] || fail "catmem.h not installed"
for header in "${catmem}"/core/*.h "${catmem}"/backends/*.h "${catmem}"/backends/*/*.h "${catmem}/catmem.hpp"; do
  [[ -f "${header}" ]] || continue
  rel="${header#"${catmem}/"}"
  [[ -f "${work}/prefix/include/catmem/${rel}" ]] || fail "${rel} not installed"
done

# ---- 2. consumer projects -----------------------------------------------------------------------

# The consumer's sources: main.c prints its backend; plugin.c is a shared module on catmem's static
# library (it links only if that library is PIC), loaded by loader.c; targets.cmake builds them.
src="${catmem}/tests/consumer"

# consumer <route> <how to get catmem> [cmake options...]: builds and runs a consumer project.
consumer() {
  local route="$1" get="$2" dir="${work}/consumer-$1" want
  shift 2
  echo "== 2. consumer: ${route}"
  mkdir -p "${dir}"
  cp "${src}"/*.c "${dir}/"
  {
    echo "cmake_minimum_required(VERSION 3.16)"
    echo "project(consumer LANGUAGES C)"
    echo "${get}"
    cat "${src}/targets.cmake"
  } >"${dir}/CMakeLists.txt"
  cmake -S "${dir}" -B "${dir}/build" "$@" >"${dir}/configure.log" ||
    { cat "${dir}/configure.log"; fail "${route}: configure"; }
  cmake --build "${dir}/build" --parallel "${jobs}" >"${dir}/build.log" ||
    { tail -50 "${dir}/build.log"; fail "${route}: build"; }
  # A subproject builds no tests (CATMEM_BUILD_TESTS defaults to ON only at the top level).
  if find "${dir}/build" -name 'api_test_*' -type f | grep -q .; then
    fail "${route}: catmem's tests were built inside a consumer"
  fi
  want="${default}"
  for arg in "$@"; do [[ "${arg}" == -DCATMEM_BACKEND=* ]] && want="${arg#-DCATMEM_BACKEND=}"; done
  # The runtime backend without jemalloc in the process is the system backend.
  [[ "${want}" == runtime ]] && want=system
  expect "${want}" "${dir}/build/app"
  expect system "${dir}/build/app_system"
  expect system "${dir}/build/app_runtime"
  expect system "${dir}/build/loader" "${dir}/build/plugin.so"
  if [[ "${have_jemalloc}" == 1 ]]; then
    expect jemalloc "${dir}/build/app_jemalloc"
    expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${dir}/build/app_runtime"
    expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${dir}/build/loader" "${dir}/build/plugin.so"
  fi
}

consumer add_subdirectory "add_subdirectory(\"${catmem}\" catmem)"
consumer add_subdirectory-runtime "add_subdirectory(\"${catmem}\" catmem)" -DCATMEM_BACKEND=runtime
consumer FetchContent "include(FetchContent)
FetchContent_Declare(catmem SOURCE_DIR \"${catmem}\")
FetchContent_MakeAvailable(catmem)"
consumer find_package "find_package(catmem CONFIG REQUIRED)" "-DCMAKE_PREFIX_PATH=${work}/prefix"

# ---- 3. pkg-config ------------------------------------------------------------------------------

pc="$(find "${work}/prefix" -name catmem.pc -print -quit)"
[[ -n "${pc}" ]] || fail "catmem.pc not installed"
export PKG_CONFIG_PATH="${pc%/*}"
echo "== 3. pkg-config (PKG_CONFIG_PATH=${PKG_CONFIG_PATH})"
# pkgconf_app <module> <expected backend>: builds main.c with the module's flags and runs it.
pkgconf_app() {
  local module="$1" want="$2" flags
  flags="$(pkg-config --cflags --libs "${module}")" || fail "pkg-config ${module}"
  echo "  ${module}: ${flags}"
  # shellcheck disable=SC2086 # the flags are words
  cc -std=c99 -Wall -Wextra -Wpedantic -Werror "${src}/main.c" -o "${work}/app-${module}" \
    ${flags} || fail "cc with ${module}"
  expect "${want}" "${work}/app-${module}"
}
pkgconf_app catmem "$([[ "${default}" == runtime ]] && echo system || echo "${default}")"
pkgconf_app catmem-system system
pkgconf_app catmem-runtime system
if [[ "${have_jemalloc}" == 1 ]]; then
  pkgconf_app catmem-jemalloc jemalloc
  expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${work}/app-catmem-runtime"
fi

echo "check_cmake: OK (${catmem})"
