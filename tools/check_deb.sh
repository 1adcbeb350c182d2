#!/usr/bin/env bash
# Checks the Debian package libcatmem-dev (debian/), in a temporary directory (removed at exit):
#   1. a clean clone of this checkout (its HEAD: commit first) is built with
#      dpkg-buildpackage -us -uc -b, whose dh_auto_test runs meson test: the cmocka suite on every
#      backend variant;
#   2. lintian on the result: an error or a warning fails (info and pedantic tags are shown);
#   3. apt-get install ./libcatmem-dev_*.deb, then tools/check_installed.sh /usr (pkg-config,
#      CMake's find_package, plain #include <catmem.h>, Meson by pkg-config) and the installed
#      examples;
#   4. apt-get remove --purge, after which none of its files is left (also when a step failed).
# Installing needs root; as another user, --build-only does 1 and 2.
#
# Usage: tools/check_deb.sh [--build-only]
set -euo pipefail

catmem="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
install=1
[[ "${1:-}" == --build-only ]] && install=0
if ((install)) && [[ "$(id -u)" != 0 ]]; then
  echo "check_deb: installing the package needs root; tools/check_deb.sh --build-only builds it" >&2
  exit 1
fi
"${catmem}/tools/need_packages.sh" check_deb dpkg-buildpackage:dpkg-dev dh:debhelper \
  lintian:lintian meson:meson ninja:ninja-build git:git pkg-config:pkgconf cmake:cmake

work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-deb.XXXXXX")"
# apt-get reads the .deb as its unprivileged user.
chmod 755 "${work}"
installed=0
cleanup() {
  if ((installed)); then
    DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y libcatmem-dev >/dev/null 2>&1 || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT

# shellcheck source=tools/check_lib.sh
source "${catmem}/tools/check_lib.sh"

# The version is written in three places: they must agree.
version="$(dpkg-parsechangelog -l "${catmem}/debian/changelog" -S Version)"
meson_version="$(sed -n "s/^  version: '\(.*\)',$/\1/p" "${catmem}/meson.build")"
cmake_version="$(sed -n 's/^  VERSION \(.*\)$/\1/p' "${catmem}/CMakeLists.txt")"
[[ "${version}" == "${meson_version}" && "${version}" == "${cmake_version}" ]] ||
  fail "versions differ: debian/changelog ${version}, meson.build ${meson_version}," \
    "CMakeLists.txt ${cmake_version}"

# ---- 1. build -----------------------------------------------------------------------------------

echo "== 1. dpkg-buildpackage -us -uc -b on a clean clone of ${catmem} (${version})"
if [[ -n "$(git -C "${catmem}" status --porcelain --untracked-files=no)" ]]; then
  echo "  note: ${catmem} has uncommitted changes; the package is built from its HEAD"
fi
git clone --quiet "${catmem}" "${work}/catmem"
# build_failed: the end of the build's log, then each failed test's own log (dh_auto_test prints
# meson's test log, in which the failures are somewhere in the middle).
build_failed() {
  tail -60 "${work}/build.log"
  sed -n 's#^ *[0-9]*/[0-9]* [^ ]* / \([^ ]*\) *\(FAIL\|TIMEOUT\|ERROR\) .*#\1#p' \
    "${work}/build.log" | while read -r name; do
    echo "---- the log of ${name}"
    awk -v name="${name}" '$0 ~ "^test: .* / " name "$" {on = 1}
      on && /^=+ [0-9]+\/[0-9]+ =+$/ {on = 0}
      on' "${work}/build.log"
  done
  fail "dpkg-buildpackage (its failed tests: above)"
}
(cd "${work}/catmem" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}" \
  dpkg-buildpackage -us -uc -b) >"${work}/build.log" 2>&1 || build_failed
# The test summary of dh_auto_test (meson test).
sed -n '/dh_auto_test/,/^Full log/p' "${work}/build.log" |
  grep -E '^ *[0-9]+/[0-9]+ |^[A-Z][a-z ]*: ' || true
deb="$(echo "${work}"/libcatmem-dev_*_all.deb)"
[[ -f "${deb}" ]] || fail "no libcatmem-dev_*_all.deb"
dpkg-deb --field "${deb}" Package Version Architecture Multi-Arch Depends Recommends |
  sed 's/^/  /'

# ---- 2. lintian ---------------------------------------------------------------------------------

echo "== 2. lintian"
# Root is what CI runs as; lintian only advises against it.
lintian --fail-on error,warning --info --pedantic "${work}"/catmem_*.changes 2>&1 |
  grep -v '^running with root privileges' || true
lintian --fail-on error,warning "${work}"/catmem_*.changes >/dev/null 2>&1 || fail "lintian"
echo "  lintian: no error, no warning"
((install)) || { echo "check_deb: OK (built, not installed)"; exit 0; }

# ---- 3. install and use -------------------------------------------------------------------------

echo "== 3. apt-get install ${deb##*/}"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y "${deb}" >"${work}/install.log" 2>&1 ||
  { cat "${work}/install.log"; fail "apt-get install"; }
"${catmem}/tools/check_installed.sh" /usr || fail "the installed package"
# The examples as the package ships them, built the way their header comments say.
examples=/usr/share/doc/libcatmem-dev/examples
cc -O2 -DCATMEM_IMPLEMENTATION "${examples}/quickstart.c" -o "${work}/quickstart" \
  -ljemalloc -lpthread || fail "quickstart.c"
"${work}/quickstart" >/dev/null || fail "quickstart"
cc -O2 -DCATMEM_IMPLEMENTATION -DCATMEM_BACKEND_SYSTEM "${examples}/request_lifecycle.c" \
  -o "${work}/request_lifecycle" -lpthread || fail "request_lifecycle.c"
"${work}/request_lifecycle" >/dev/null || fail "request_lifecycle"
cc -O2 -DCATMEM_IMPLEMENTATION -DCATMEM_BACKEND_SYSTEM "${examples}/tenants.c" \
  -o "${work}/tenants" -lpthread || fail "tenants.c"
"${work}/tenants" >/dev/null || fail "tenants"
cc -O2 -DCATMEM_IMPLEMENTATION "${examples}/tenants.c" -o "${work}/tenants_jemalloc" \
  -ljemalloc -lpthread || fail "tenants.c (jemalloc)"
"${work}/tenants_jemalloc" >/dev/null || fail "tenants (jemalloc)"
g++ -std=c++17 -O2 -DCATMEM_IMPLEMENTATION "${examples}/cxx_example.cc" -o "${work}/cxx_example" \
  -ljemalloc -lpthread || fail "cxx_example.cc"
"${work}/cxx_example" >/dev/null || fail "cxx_example"
echo "  ok: the installed quickstart, request_lifecycle, tenants and cxx_example build and run"

# ---- 4. remove ----------------------------------------------------------------------------------

echo "== 4. apt-get remove --purge libcatmem-dev"
files="$(dpkg -L libcatmem-dev | while read -r f; do [[ -f "${f}" ]] && echo "${f}"; done)"
DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y libcatmem-dev >"${work}/remove.log" 2>&1 ||
  { cat "${work}/remove.log"; fail "apt-get remove"; }
installed=0
for f in ${files}; do
  [[ ! -e "${f}" ]] || fail "${f} is left after the removal"
done
echo "  ok: $(echo "${files}" | wc -l) files installed, none left"

echo "check_deb: OK (${deb##*/})"
