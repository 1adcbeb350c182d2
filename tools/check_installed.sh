#!/usr/bin/env bash
# Checks an installed header-only catmem (meson install, or the Debian package libcatmem-dev) the
# ways its users build with it, in temporary directories (removed at exit), with
# tests/consumer's programs:
#   1. pkg-config: cc with `pkg-config --cflags --libs` for catmem.pc and each catmem-<backend>.pc,
#      main.c and impl.c (the one file that defines CATMEM_IMPLEMENTATION);
#   2. CMake: find_package(catmem CONFIG REQUIRED), linking catmem::catmem, the backend targets
#      and a shared module, none of them defining CATMEM_IMPLEMENTATION;
#   3. plain cc: #include <catmem.h> with no flag of catmem's (under /usr; elsewhere only
#      -I<prefix>/include), -ljemalloc -lpthread, or -DCATMEM_BACKEND_SYSTEM and -lpthread;
#   4. Meson: dependency('catmem') and dependency('catmem-<backend>') found by pkg-config.
# Every program prints the backend it got, which is checked. Any failure exits non-zero.
#
# Usage: tools/check_installed.sh PREFIX   (/usr for the Debian package)
set -euo pipefail

catmem="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$(cd "${1:?usage: $0 PREFIX}" && pwd)"
"${catmem}/tools/need_packages.sh" check_installed cmake:cmake pkg-config:pkgconf \
  meson:meson ninja:ninja-build

work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-installed.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
src="${catmem}/tests/consumer"
# The C flags of a careful user: the installed headers must compile cleanly under them.
strict=(-std=c99 -Wall -Wextra -Wpedantic -Werror)

# shellcheck source=tools/check_lib.sh
source "${catmem}/tools/check_lib.sh"

# Under /usr everything is where the tools look by default: no path is given to them.
if [[ "${prefix}" != /usr ]]; then
  export PKG_CONFIG_PATH="${prefix}/share/pkgconfig"
  export CMAKE_PREFIX_PATH="${prefix}"
fi
[[ -f "${prefix}/include/catmem/catmem.h" ]] || fail "no ${prefix}/include/catmem/catmem.h"
pkg-config --exists catmem || fail "pkg-config finds no catmem.pc"
default="$(pkg-config --variable=backend catmem)"
have_jemalloc=0
pkg-config --exists jemalloc && have_jemalloc=1
echo "== catmem in ${prefix}: catmem.pc is ${default}, jemalloc found: ${have_jemalloc}"
# The backend a program on the runtime backend reports without jemalloc in the process.
runs_as() { [[ "$1" == runtime ]] && echo system || echo "$1"; }
backends=(system runtime)
((have_jemalloc)) && backends+=(jemalloc)

# ---- 1. pkg-config ------------------------------------------------------------------------------

echo "== 1. pkg-config"
for module in catmem "${backends[@]/#/catmem-}"; do
  flags="$(pkg-config --cflags --libs "${module}")" || fail "pkg-config ${module}"
  echo "  ${module}: ${flags}"
  # shellcheck disable=SC2086 # the flags are words
  cc "${strict[@]}" "${src}/main.c" "${src}/impl.c" -o "${work}/app-${module}" ${flags} ||
    fail "cc with ${module}"
  want="$(pkg-config --variable=backend "${module}")"
  expect "$(runs_as "${want}")" "${work}/app-${module}"
  if [[ "${want}" == runtime ]] && ((have_jemalloc)); then
    expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${work}/app-${module}"
  fi
done

# ---- 2. CMake: find_package ---------------------------------------------------------------------

echo "== 2. CMake: find_package(catmem)"
dir="${work}/cmake"
mkdir -p "${dir}"
cp "${src}"/main.c "${src}"/plugin.c "${src}"/loader.c "${dir}/"
{
  echo "cmake_minimum_required(VERSION 3.16)"
  echo "project(consumer LANGUAGES C)"
  echo "find_package(catmem CONFIG REQUIRED)"
  cat "${src}/targets.cmake"
} >"${dir}/CMakeLists.txt"
cmake -S "${dir}" -B "${dir}/build" -DCMAKE_C_FLAGS="${strict[*]}" >"${dir}/configure.log" ||
  { cat "${dir}/configure.log"; fail "cmake: configure"; }
echo "  $(grep '^catmem_DIR:' "${dir}/build/CMakeCache.txt")"
cmake --build "${dir}/build" >"${dir}/build.log" ||
  { tail -50 "${dir}/build.log"; fail "cmake: build"; }
expect "$(runs_as "${default}")" "${dir}/build/app"
expect system "${dir}/build/app_system"
expect system "${dir}/build/app_runtime"
expect system "${dir}/build/loader" "${dir}/build/plugin.so"
if ((have_jemalloc)); then
  expect jemalloc "${dir}/build/app_jemalloc"
  expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${dir}/build/app_runtime"
  expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${dir}/build/loader" "${dir}/build/plugin.so"
fi

# ---- 3. plain cc --------------------------------------------------------------------------------

echo "== 3. plain cc, #include <catmem.h>"
plain=()
[[ "${prefix}" == /usr ]] || plain=(-I "${prefix}/include")
cc "${strict[@]}" "${plain[@]}" -DCATMEM_BACKEND_SYSTEM "${src}/main.c" "${src}/impl.c" \
  -o "${work}/plain-system" -lpthread || fail "plain cc, system backend"
expect system "${work}/plain-system"
if ((have_jemalloc)); then
  # No backend macro: jemalloc, since <jemalloc/jemalloc.h> is there.
  cc "${strict[@]}" "${plain[@]}" "${src}/main.c" "${src}/impl.c" -o "${work}/plain" \
    -ljemalloc -lpthread || fail "plain cc, default backend"
  expect jemalloc "${work}/plain"
fi

# ---- 4. Meson: dependency() by pkg-config -------------------------------------------------------

echo "== 4. Meson: dependency() found by pkg-config"
cp -r "${src}" "${work}/meson"
for dep in catmem "${backends[@]/#/catmem-}"; do
  build="${work}/meson/build-${dep}"
  # nofallback: an installed catmem or nothing (there is no subprojects/ here anyway).
  meson setup "${build}" "${work}/meson" --wrap-mode=nofallback -Ddep="${dep}" \
    >"${work}/meson-${dep}.log" || { cat "${work}/meson-${dep}.log"; fail "meson setup ${dep}"; }
  meson compile -C "${build}" >>"${work}/meson-${dep}.log" ||
    { tail -50 "${work}/meson-${dep}.log"; fail "meson compile ${dep}"; }
  want="$(pkg-config --variable=backend "${dep}")"
  expect "$(runs_as "${want}")" "${build}/app"
done

echo "check_installed: OK (${prefix})"
