"""bench_program: one benchmark source, one cc_binary per catmem backend."""

# -O2 whatever the compilation mode (fastbuild would otherwise measure unoptimised code);
# `bench/run.sh` builds with -c opt anyway. APR's headers live in their own directory.
BENCH_COPTS = [
    "-O2",
    "-Wall",
    "-Wextra",
    "-isystem/usr/include/apr-1.0",
]

# Libraries of the peers. jemalloc is in every build (mallocx, arenas, tcaches); mimalloc is not
# linked at all: bench_common dlopens it with RTLD_LOCAL (see bench_common.h for why).
PEER_LIBS = [
    "-lapr-1",
    "-ltalloc",
    "-ldl",
]

# Which library's malloc is the process's malloc is decided by the dynamic linker's search
# order, which follows the order of DT_NEEDED entries, which follows the link command line:
#   jemalloc backend: //:catmem_jemalloc links -ljemalloc before the implicit -lc, so plain malloc
#     is jemalloc's, as in any program that uses that backend;
#   system backend: catmem must sit on glibc's malloc, but the jemalloc peers need jemalloc in
#     the process: -lc is named before -ljemalloc so that libc.so.6 comes first and plain
#     malloc stays glibc's; mallocx & co. exist only in jemalloc and still resolve there.
# bench_peers_load checks the outcome at run time and refuses to run otherwise.
BACKEND_LINKOPTS = {
    "jemalloc": [],
    "system": [
        "-Wl,--no-as-needed",
        "-lc",
        "-ljemalloc",
    ],
    # As system; jemalloc is in the process for the peers, so this build's catmem looks for it
    # under a prefix that does not exist (bench:catmem_runtime_fallback) and falls back.
    "runtime": [
        "-Wl,--no-as-needed",
        "-lc",
        "-ljemalloc",
    ],
}

# The runtime build's catmem looks for jemalloc under this prefix, which does not exist, so that
# it falls back to the system engine although the peers put jemalloc in the process.
RUNTIME_FALLBACK_PREFIXES = "CATMEM_RUNTIME_PREFIXES=\\\"catmem_bench_no_such_prefix_\\\""

# The catmem library of each build.
BACKEND_LIB = {
    "jemalloc": "//:catmem_jemalloc",
    "system": "//:catmem_system",
    "runtime": ":catmem_runtime_fallback",
}

def bench_program(name, srcs, backends = ["jemalloc", "system"], copts = [], linkopts = [], own_implementation = False, **kwargs):
    """Generates <name>_<backend> for each backend (jemalloc, system, runtime).

    Args:
      name: base name.
      srcs: the program's sources; they include "catmem.h" and "bench_common.h" and must not
        define CATMEM_IMPLEMENTATION (the //:catmem_<backend> target compiles it), unless
        own_implementation is set.
      backends: the builds to make; "runtime" is the runtime backend falling back to the
        system engine.
      copts: extra compiler options.
      linkopts: extra linker options (after the peers' libraries).
      own_implementation: the program defines CATMEM_IMPLEMENTATION itself, with a configuration
        of its own (CATMEM_JEMALLOC_TCACHES, say); the backend macro (and for the runtime build the
        prefixes that make it fall back) comes from here.
      **kwargs: passed to every cc_binary.
    """
    for backend in backends:
        own_defines = ["CATMEM_BACKEND_" + backend.upper()]
        if backend == "runtime":
            own_defines.append(RUNTIME_FALLBACK_PREFIXES)
        native.cc_binary(
            name = "%s_%s" % (name, backend),
            srcs = srcs,
            copts = BENCH_COPTS + copts,
            local_defines = own_defines if own_implementation else [],
            deps = [
                ":bench_common",
                "//:headers" if own_implementation else BACKEND_LIB[backend],
            ],
            linkopts = BACKEND_LINKOPTS[backend] + PEER_LIBS + linkopts + ["-lpthread"] +
                       (["-ljemalloc"] if own_implementation and backend == "jemalloc" else []),
            **kwargs
        )
