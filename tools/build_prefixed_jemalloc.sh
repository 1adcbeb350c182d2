#!/usr/bin/env bash
# Builds a private jemalloc 5.3.0 with the public prefix je_ (je_mallocx, je_mallctl, ...) from
# Debian's source package, for code that is loaded late with dlopen: Python extensions, plugins.
#
#   tools/build_prefixed_jemalloc.sh [INSTALL_DIR]
#   CC=clang tools/build_prefixed_jemalloc.sh       # another compiler (default: gcc)
#
# INSTALL_DIR defaults to $CATMEM_PREFIXED_JEMALLOC_DIR, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/catmem/jemalloc-je-5.3.0 (without HOME: the passwd entry's home
# directory): outside the repository, shared by every checkout. The last line on stdout is
# INSTALL_DIR, so scripts can write
#   je="$(tools/build_prefixed_jemalloc.sh)"
#   cc -fPIC -shared -I"$je/include" module.c "$je/lib/libjemalloc_pic.a" \
#     $(cat "$je/share/catmem/LIBS") -o module.so          # LIBS: -lm -lgcc -pthread here
# Everything else goes to stderr. A finished build (INSTALL_DIR/.catmem-build-complete, written
# last, after the checks below pass) makes a second run print INSTALL_DIR and exit at once; a
# build made with other options is rebuilt. Concurrent runs wait for each other (flock).
#
# What gets installed:
#   include/jemalloc/jemalloc.h   the prefixed API: je_malloc, je_mallocx, je_mallctl, ...
#   lib/libjemalloc_pic.a         position-independent (-fPIC): links into shared objects and
#                                 programs alike. jemalloc's non-PIC libjemalloc.a is not built
#                                 (it would double the build time and cannot go into a .so).
#   share/catmem/LIBS             what the archive needs on the link line after it
#   share/catmem/BUILD-INFO       source package, options, link flags, build time; build.log
#
# Why these options (see /work/shared/notes/jemalloc-facts.md, "Loading jemalloc late"):
#   --disable-initial-exec-tls    Debian's libjemalloc.so.2 uses initial-exec TLS, so dlopen fails
#                                 with "cannot allocate memory in static TLS block". Without it,
#                                 jemalloc's thread-locals use the dynamic TLS model, which dlopen
#                                 can always satisfy (at the cost of a slower TLS access).
#   --with-jemalloc-prefix=je_    the copy never defines malloc/free/mallocx/mallctl: it cannot
#                                 replace the process's allocator or collide with another jemalloc.
#                                 Its environment variable is JE_MALLOC_CONF, not MALLOC_CONF.
#   --without-export              the je_* functions get hidden visibility: a module that embeds
#                                 this archive keeps them to itself. Two modules, each with its own
#                                 copy, cannot bind to each other's je_mallocx (RTLD_GLOBAL,
#                                 LD_PRELOAD) and mix heaps. Static linking is unaffected.
#   --with-private-namespace=catmem_   jemalloc's internal symbols become catmem_je_*, not je_*,
#                                 which Debian's libjemalloc.so.2 uses (and partly exports:
#                                 je_test_hooks_*).
#   --disable-shared, --disable-cxx   only static archives; no operator new/delete, which would
#                                 otherwise move every C++ allocation of the module to this heap.
#   --with-lg-page, --with-lg-hugepage, --enable-prof, --with-version=VERSION: as Debian's
#                                 debian/rules, so the copy behaves like the system's jemalloc.
#
# Needs: apt's deb-src index for jemalloc, dpkg-dev (apt-get source), a C compiler, make. As root
# the script adds what is missing: a deb-src entry next to the machine's own Debian entry (same
# mirror, same key) and the packages dpkg-dev gcc libc6-dev make. Otherwise it says what to run.
set -euo pipefail
# Bash reads a script while it runs it; the braces make it read the rest at once, so that a
# checkout or an edit during the build cannot change what runs.
{

je_version=5.3.0
# Upstream's release tarball, as Debian ships it (jemalloc_5.3.0.orig.tar.bz2).
orig_sha256=2db82d1e7119df3e71b7640219b6dfe84789bc0537983c3b7ac4f7189aecfeaa
build_deps="dpkg-dev gcc libc6-dev make"

case "${1:-}" in
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

# HOME may be unset (Bazel's test environment): then the home directory of the passwd entry.
home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
dest="${1:-${CATMEM_PREFIXED_JEMALLOC_DIR:-${XDG_CACHE_HOME:-${home}/.cache}/catmem/jemalloc-je-${je_version}}}"
[[ -n "${1:-}${CATMEM_PREFIXED_JEMALLOC_DIR:-}${XDG_CACHE_HOME:-}${home}" ]] ||
  { echo "build_prefixed_jemalloc: no HOME: pass INSTALL_DIR" >&2; exit 1; }
case "${dest}" in
  /*) ;;
  *) dest="${PWD}/${dest}" ;;
esac
dest="${dest%/}"
marker="${dest}/.catmem-build-complete"
cc="${CC:-gcc}"

log() { echo "build_prefixed_jemalloc: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Options, following debian/rules of jemalloc 5.3.0-1 for the page sizes and profiling.
case "$(uname -m)" in
  x86_64 | i?86) arch_opts=(--with-lg-page=12 --enable-prof) ;;
  *) arch_opts=(--with-lg-page=16) ;;
esac
configure_opts=(
  --with-jemalloc-prefix=je_
  --with-private-namespace=catmem_
  --without-export
  --disable-initial-exec-tls
  --disable-shared
  --enable-static
  --disable-cxx
  --disable-doc
  --with-version=VERSION
  --with-lg-hugepage=21
  "${arch_opts[@]}"
)
# What a finished build must have been made with; any change means a rebuild.
recipe="jemalloc ${je_version} orig ${orig_sha256} cc ${cc} configure ${configure_opts[*]} recipe 2"

finished() { [[ -f "${marker}" && "$(sed -n 's/^recipe: //p' "${marker}")" == "${recipe}" ]]; }

if finished; then
  echo "${dest}"
  exit 0
fi

mkdir -p "$(dirname "${dest}")"
exec 9>"${dest}.lock"
if ! flock -n 9; then
  log "another build into ${dest} is running; waiting for it"
  flock 9
fi
if finished; then # built by the run we waited for
  echo "${dest}"
  exit 0
fi

start=${SECONDS}
is_root=0
[[ "$(id -u)" == 0 ]] && is_root=1
export DEBIAN_FRONTEND=noninteractive

# 1. Tools. apt-get source needs dpkg-source (dpkg-dev, which brings bzip2, xz-utils and patch).
# Debian's source tree ships configure, so autoconf is not needed.
missing=""
command -v apt-get >/dev/null || die "apt-get not found: this script builds from Debian's source package"
command -v dpkg-source >/dev/null || missing="${missing} dpkg-dev"
command -v "${cc}" >/dev/null || missing="${missing} gcc"
command -v make >/dev/null || missing="${missing} make"
[[ -e /usr/include/stdio.h ]] || missing="${missing} libc6-dev"
if [[ -n "${missing}" ]]; then
  if [[ "${is_root}" != 1 ]]; then
    die "missing tools. Install them with:
  sudo apt-get install -y --no-install-recommends ${build_deps}"
  fi
  log "installing ${build_deps}"
  # shellcheck disable=SC2086 # a list of package names
  if ! apt-get install -y --no-install-recommends ${build_deps} >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends ${build_deps} >&2
  fi
fi

# 2. The source index. Add a deb-src entry that mirrors the machine's own deb entry for this
# release (same URI, so the same mirror or proxy; same key), in the same format.
# shellcheck source=/dev/null
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
src_file_822=/etc/apt/sources.list.d/catmem-deb-src.sources
src_file_list=/etc/apt/sources.list.d/catmem-deb-src.list

have_source_index() { apt-cache showsrc jemalloc 2>/dev/null | grep -q '^Package: jemalloc$'; }

# Prints a deb-src entry for ${codename}, built from the first enabled deb entry for it.
deb_src_entry() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "${f}" ]] || continue
    # deb822 stanzas, separated by blank lines; continuation lines start with a blank.
    awk -v want="${codename}" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && enabled != "no" && uris != "") {
          print "Types: deb-src"
          print "URIs: " uris
          print "Suites: " want
          print "Components: main"
          if (signed ~ /^\//) print "Signed-By: " signed
          found = 1
          exit
        }
        types = suites = uris = signed = enabled = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { next }
      {
        key = tolower($1); sub(/:$/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "types") types = val
        else if (key == "suites") suites = val
        else if (key == "uris") uris = val
        else if (key == "signed-by") signed = val
        else if (key == "enabled") enabled = tolower(val)
      }
      END { if (!found) flush() }' "${f}" | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "${f}" ]] || continue
    # deb [options] URI suite components
    awk -v want="${codename}" '
      $1 == "deb" {
        i = 2; opts = ""
        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts $i " "; i++ } opts = opts $i " "; i++ }
        if ($(i + 1) == want) { print "deb-src " opts $i " " want " main"; exit }
      }' "${f}" | grep . && return 0
  done
  return 1
}

if ! have_source_index; then
  if [[ -f "${src_file_822}" ]]; then
    src_file="${src_file_822}"
  elif [[ -f "${src_file_list}" ]]; then
    src_file="${src_file_list}"
  elif grep -qsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    src_file="" # the machine has deb-src entries of its own: a full apt-get update
  else
    entry="$(deb_src_entry)" || die "no enabled Debian 'deb' entry for ${codename} found in /etc/apt"
    if [[ "${entry}" == Types:* ]]; then src_file="${src_file_822}"; else src_file="${src_file_list}"; fi
    if [[ "${is_root}" != 1 ]]; then
      die "apt has no source index for jemalloc. As root, put this in ${src_file}:
${entry}
and run apt-get update (or run this script as root once)."
    fi
    log "adding ${src_file}:"
    printf '%s\n' "${entry}" | sed 's/^/    /' >&2
    printf '# Added by catmem tools/build_prefixed_jemalloc.sh: Debian source packages.\n%s\n' \
      "${entry}" >"${src_file}"
  fi
  [[ "${is_root}" == 1 ]] || die "apt has no source index for jemalloc yet: run apt-get update as root"
  if [[ -n "${src_file}" ]]; then
    # Fetch only this entry's index: quick, and leaves every other list as it is.
    log "apt-get update for ${src_file}"
    apt-get update -o Dir::Etc::SourceList="${src_file}" -o Dir::Etc::SourceParts=- \
      -o APT::Get::List-Cleanup=0 >&2
  else
    log "apt-get update"
    apt-get update >&2
  fi
  have_source_index || die "apt still has no source index for jemalloc after apt-get update"
fi

# 3. Source: download, check, unpack (dpkg-source applies Debian's patches).
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-jemalloc.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
cd "${work}"
log "apt-get source jemalloc (in ${work})"
apt_opts=()
# As root apt drops privileges to _apt for downloads, which cannot write here.
[[ "${is_root}" == 1 ]] && apt_opts=(-o APT::Sandbox::User=root)
apt-get source "${apt_opts[@]}" jemalloc >build.log 2>&1 || {
  cat build.log >&2
  die "apt-get source jemalloc failed"
}
dsc="$(ls jemalloc_*.dsc)"
[[ -f "jemalloc_${je_version}.orig.tar.bz2" ]] || die "Debian's jemalloc is not ${je_version}: ${dsc}"
echo "${orig_sha256}  jemalloc_${je_version}.orig.tar.bz2" | sha256sum -c --quiet - >&2 ||
  die "jemalloc_${je_version}.orig.tar.bz2 is not upstream's ${je_version} release tarball"
src="${work}/jemalloc-${je_version}"
[[ "$(cut -d- -f1 "${src}/VERSION")" == "${je_version}" ]] || die "unexpected ${src}/VERSION"
debian_version="$(sed -n 's/^Version: //p' "${dsc}")"

# 4. Build and install. Ambient CFLAGS/CPPFLAGS/LDFLAGS (sanitizers, -march) stay out: empty
# CFLAGS gives jemalloc's own optimisation flags. Debug info names the source as jemalloc-5.3.0/.
cd "${src}"
log "configure ${configure_opts[*]}"
rm -rf "${dest}"
if ! env -u CFLAGS -u CPPFLAGS -u LDFLAGS -u CXXFLAGS CC="${cc}" \
    ./configure --prefix="${dest}" "${configure_opts[@]}" >>"${work}/build.log" 2>&1; then
  tail -40 "${work}/build.log" >&2
  die "configure failed"
fi
log "make ($(nproc) jobs)"
if ! make -j"$(nproc)" EXTRA_CFLAGS="-ffile-prefix-map=${src}=jemalloc-${je_version}" \
    lib/libjemalloc_pic.a >>"${work}/build.log" 2>&1 ||
  ! make install_include >>"${work}/build.log" 2>&1 ||
  ! install -D -m 644 lib/libjemalloc_pic.a "${dest}/lib/libjemalloc_pic.a"; then
  tail -40 "${work}/build.log" >&2
  die "make failed"
fi
libs="$(sh bin/jemalloc-config --libs | tr -s " ")"
[[ -n "${libs}" ]] || die "bin/jemalloc-config --libs printed nothing"

# 5. Checks, before the build counts as finished.
lib="${dest}/lib/libjemalloc_pic.a"
header="${dest}/include/jemalloc/jemalloc.h"
[[ -f "${lib}" && -f "${header}" ]] || die "install incomplete"
for fn in je_malloc je_free je_mallocx je_dallocx je_sallocx je_mallctl je_malloc_usable_size; do
  grep -Eq "(^|[^_[:alnum:]])${fn} ?\(" "${header}" || die "${header} does not declare ${fn}"
done
# Every global symbol defined by the archive is je_* (the API) or catmem_je_* (internal).
foreign="$(nm -g --defined-only "${lib}" 2>/dev/null | awk 'NF == 3 { print $3 }' |
  grep -Ev '^(je_|catmem_je_)' | sort -u | tr '\n' ' ' || true)"
[[ -z "${foreign}" ]] || die "${lib} defines symbols outside je_/catmem_je_: ${foreign}"
cd "${work}"
cat >smoke.c <<'EOF'
#include <stdio.h>
#include <jemalloc/jemalloc.h>
int smoke(void) {
  const char *version = NULL;
  size_t len = sizeof(version);
  void *p = je_mallocx(100, 0);
  if (p == NULL || je_sallocx(p, 0) < 100) return 1;
  je_dallocx(p, 0);
  if (je_mallctl("version", (void *)&version, &len, NULL, 0) != 0) return 1;
  printf("%s\n", version);
  return 0;
}
EOF
printf 'int smoke(void);\nint main(void) { return smoke(); }\n' >main.c
# shellcheck disable=SC2086 # libs is a list of flags
"${cc}" -O2 -I"${dest}/include" smoke.c main.c "${lib}" ${libs} -o smoke ||
  die "cannot link a program with ${lib}"
version="$(./smoke)" || die "the smoke test program failed"
[[ "${version}" == "${je_version}"-* ]] || die "je_mallctl(\"version\") says ${version}"
# shellcheck disable=SC2086
"${cc}" -O2 -fPIC -shared -I"${dest}/include" smoke.c "${lib}" ${libs} -o smoke.so ||
  die "cannot link a shared object with ${lib}"
if readelf -dW smoke.so | grep -q STATIC_TLS; then
  die "a shared object linked with ${lib} still needs static TLS"
fi
exported="$(nm -D --defined-only smoke.so | awk '{ print $3 }' | grep -E '^(je_|catmem_)' | tr '\n' ' ' || true)"
[[ -z "${exported}" ]] || die "a shared object linked with ${lib} exports ${exported}"

mkdir -p "${dest}/share/catmem"
cp build.log "${dest}/share/catmem/build.log"
echo "${libs}" >"${dest}/share/catmem/LIBS"
seconds=$((SECONDS - start))
cat >"${dest}/share/catmem/BUILD-INFO" <<EOF
jemalloc ${version}, Debian source package jemalloc ${debian_version} (${codename})
configure: ${configure_opts[*]}
compiler: $("${cc}" --version | head -1)
link (a shared object or a program): -I${dest}/include ... ${lib} ${libs}
environment variable: JE_MALLOC_CONF (MALLOC_CONF configures only the unprefixed jemalloc)
built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${seconds} s
EOF
printf 'recipe: %s\nlibs: %s\n' "${recipe}" "${libs}" >"${marker}"
log "built jemalloc ${version} (Debian ${debian_version}) in ${seconds} s; link with ${lib} ${libs}"
echo "${dest}"
exit 0
}
