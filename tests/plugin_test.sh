#!/usr/bin/env bash
# The user's story end to end: a module that uses catmem, loaded late into a host that does not
# link jemalloc (dlopen from C, and ctypes from python3).
#  - runtime backend: loads everywhere; "system" in a plain process, real jemalloc arenas (the
#    module's self-test checks their separation) when jemalloc is preloaded;
#  - jemalloc backend linked dynamically: fails with "cannot allocate memory in static TLS block",
#    and each documented remedy (LD_PRELOAD, GLIBC_TUNABLES) makes it load and work;
#  - jemalloc backend on a private je_-prefixed jemalloc (tools/build_prefixed_jemalloc.sh,
#    CATMEM_JEMALLOC_PREFIX=je_): loads anywhere, and lives next to Debian's jemalloc serving the
#    host's malloc (preloaded): each heap gets its own pointers back, the self-test's ownership
#    checks go through the private copy's arenas.lookup.
set -euo pipefail

runfiles="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-catmem}"
host="${runfiles}/examples/plugin/host"
runtime_plugin="${runfiles}/examples/plugin/libcatmem_plugin.so"
jemalloc_plugin="${runfiles}/tests/libcatmem_plugin_jemalloc.so"
loader="${runfiles}/examples/plugin/load.py"
python=/usr/bin/python3
tunable="glibc.rtld.optional_static_tls=4096"

fail=0
expect() { # expect <description> <fragment>... -- <command...>: the output has every fragment
  local what="$1" out fragments=() f
  shift
  while [[ "$1" != "--" ]]; do fragments+=("$1"); shift; done
  shift
  out="$("$@" 2>&1 || true)"
  for f in "${fragments[@]}"; do
    if [[ "${out}" != *"${f}"* ]]; then
      echo "FAIL: ${what}: wanted \"${f}\", got: ${out}" >&2
      fail=1
      return
    fi
  done
  echo "ok: ${what}: ${out}"
}

for loader_cmd in "${host}" "${python} ${loader}"; do
  name="${loader_cmd##*/}"
  # shellcheck disable=SC2086 # loader_cmd is a command and its arguments
  {
    expect "${name}: runtime backend, plain process" \
      "backend system (no jemalloc in process: system malloc), selftest 0" -- \
      ${loader_cmd} "${runtime_plugin}"
    expect "${name}: runtime backend, jemalloc preloaded" \
      "backend jemalloc (jemalloc 5." "found in process), selftest 0" -- \
      env LD_PRELOAD=libjemalloc.so.2 ${loader_cmd} "${runtime_plugin}"
    expect "${name}: jemalloc backend, plain process" \
      "cannot allocate memory in static TLS block" -- \
      ${loader_cmd} "${jemalloc_plugin}"
    expect "${name}: jemalloc backend, jemalloc preloaded" \
      "backend jemalloc (jemalloc 5." "(linked)), selftest 0" -- \
      env LD_PRELOAD=libjemalloc.so.2 ${loader_cmd} "${jemalloc_plugin}"
    expect "${name}: jemalloc backend, more optional static TLS" \
      "backend jemalloc (jemalloc 5." "(linked)), selftest 0" -- \
      env GLIBC_TUNABLES="${tunable}" ${loader_cmd} "${jemalloc_plugin}"
  }
done
# The plugin on the private prefixed jemalloc, built with plain cc as a module author would.
if je="$("${runfiles}/tools/build_prefixed_jemalloc.sh" | tail -n 1)" && [[ -d "${je}/lib" ]]; then
  work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/plugin.XXXXXX")"
  # shellcheck disable=SC2046 # LIBS holds several linker options
  cc -O2 -fPIC -shared -fvisibility=hidden -I"${runfiles}" -I"${je}/include" \
    -DCATMEM_BACKEND_JEMALLOC -DCATMEM_JEMALLOC_PREFIX=je_ -DCATMEM_IMPLEMENTATION \
    "${runfiles}/examples/plugin/catmem_plugin.c" -o "${work}/libcatmem_plugin_je.so" \
    "${je}/lib/libjemalloc_pic.a" $(cat "${je}/share/catmem/LIBS") -Wl,-z,nodelete
  for loader_cmd in "${host}" "${python} ${loader}"; do
    name="${loader_cmd##*/}"
    # shellcheck disable=SC2086
    {
      expect "${name}: private je_ jemalloc, plain process" \
        "backend jemalloc (jemalloc 5." "(linked)), selftest 0" -- \
        ${loader_cmd} "${work}/libcatmem_plugin_je.so"
      expect "${name}: private je_ jemalloc next to Debian's jemalloc as malloc" \
        "backend jemalloc (jemalloc 5." "(linked)), selftest 0" -- \
        env LD_PRELOAD=libjemalloc.so.2 ${loader_cmd} "${work}/libcatmem_plugin_je.so"
    }
  done
else
  echo "FAIL: the private jemalloc could not be built (tools/build_prefixed_jemalloc.sh)" >&2
  fail=1
fi
exit "${fail}"
