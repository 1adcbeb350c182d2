#!/usr/bin/env bash
# Checks catmem's Meson support from a clean state, in temporary directories outside the source
# tree (removed at exit):
#   1. meson setup, compile and test: the cmocka suite on every backend variant; the test list
#      against Bazel's (tools/check_test_lists.sh, which asks Bazel);
#   2. tests/consumer with catmem as a subproject: its subprojects/catmem.wrap is a wrap-git on
#      this checkout's directory (so the subproject is its HEAD: commit first), for
#      catmem_backend auto, jemalloc, system and runtime, and for dependency('catmem-<backend>');
#      the subproject builds no test and installs nothing;
#   3. meson install into a prefix, checked by tools/check_installed.sh (pkg-config, CMake's
#      find_package, plain cc, Meson by pkg-config).
# Every program prints the backend it got, which is checked. Any failure exits non-zero.
#
# Usage: tools/check_meson.sh [CATMEM_DIR]   (default: this checkout)
set -euo pipefail

catmem="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"
"${catmem}/tools/need_packages.sh" check_meson meson:meson ninja:ninja-build git:git \
  pkg-config:pkgconf cmake:cmake

work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-meson.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

# shellcheck source=tools/check_lib.sh
source "${catmem}/tools/check_lib.sh"

# ---- 1. catmem's own build and tests ------------------------------------------------------------

echo "== 1. meson setup, compile, test (${catmem})"
build="${work}/build"
meson setup "${build}" "${catmem}" --prefix "${work}/prefix" -Dtests=enabled \
  >"${work}/setup.log" || { cat "${work}/setup.log"; fail "meson setup"; }
grep '^Message: catmem:' "${work}/setup.log" || true
# Needs only the configured tests, so a test missing from tests/meson.build fails before the build.
"${catmem}/tools/check_test_lists.sh" "${build}" || fail "Meson's tests are not Bazel's"
meson compile -C "${build}" >"${work}/compile.log" ||
  { tail -50 "${work}/compile.log"; fail "meson compile"; }
meson test -C "${build}" --print-errorlogs || fail "meson test"
have_jemalloc=0
grep -q "dependency('catmem') is jemalloc" "${work}/setup.log" && have_jemalloc=1

# ---- 2. catmem as a subproject ------------------------------------------------------------------

echo "== 2. catmem as a subproject (subprojects/catmem.wrap: wrap-git on ${catmem})"
if [[ -n "$(git -C "${catmem}" status --porcelain --untracked-files=no)" ]]; then
  echo "  note: ${catmem} has uncommitted changes; the subproject is its HEAD"
fi
consumer="${work}/consumer"
cp -r "${catmem}/tests/consumer" "${consumer}"
mkdir -p "${consumer}/subprojects"
cat >"${consumer}/subprojects/catmem.wrap" <<WRAP
[wrap-git]
url = ${catmem}
revision = HEAD

[provide]
dependency_names = catmem, catmem-jemalloc, catmem-system, catmem-runtime
WRAP
# subproject <name> <backend it must report> [meson options...]
subproject() {
  local name="$1" want="$2" dir="${consumer}/build-$1"
  shift 2
  echo "  ${name}: $*"
  # Forced, so that an installed catmem (the Debian package, say) cannot stand in for it.
  meson setup "${dir}" "${consumer}" \
    --force-fallback-for=catmem,catmem-jemalloc,catmem-system,catmem-runtime "$@" \
    >"${dir}.log" || { cat "${dir}.log"; fail "subproject ${name}: setup"; }
  meson compile -C "${dir}" >>"${dir}.log" || { tail -50 "${dir}.log"; fail "subproject ${name}"; }
  if find "${dir}" -name 'api_test_*' | grep -q .; then
    fail "subproject ${name}: catmem's tests were built inside a consumer"
  fi
  expect "${want}" "${dir}/app"
}
if ((have_jemalloc)); then
  subproject default jemalloc
else
  subproject default system
fi
subproject system system -Dcatmem:catmem_backend=system
subproject runtime system -Dcatmem:catmem_backend=runtime
subproject catmem-system system -Ddep=catmem-system
if ((have_jemalloc)); then
  subproject jemalloc jemalloc -Dcatmem:catmem_backend=jemalloc
  subproject catmem-jemalloc jemalloc -Ddep=catmem-jemalloc
  echo "  runtime, with jemalloc preloaded"
  expect jemalloc env LD_PRELOAD=libjemalloc.so.2 "${consumer}/build-runtime/app"
fi
# A subproject installs nothing of catmem's into the consumer's prefix.
DESTDIR="${work}/consumer-dest" meson install -C "${consumer}/build-system" >/dev/null ||
  fail "meson install of the consumer"
if [[ -d "${work}/consumer-dest" ]] && find "${work}/consumer-dest" -type f | grep .; then
  fail "the subproject installed files (above) into the consumer's prefix"
fi

# ---- 3. meson install ---------------------------------------------------------------------------

echo "== 3. meson install --prefix ${work}/prefix"
meson install -C "${build}" >"${work}/install.log" || { cat "${work}/install.log"; fail "install"; }
"${catmem}/tools/check_installed.sh" "${work}/prefix" || fail "the installed catmem"

echo "check_meson: OK (${catmem})"
