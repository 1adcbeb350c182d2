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
}

def bench_program(name, srcs, own_implementation = False, **kwargs):
    """Generates <name>_jemalloc and <name>_system.

    Args:
      name: base name.
      srcs: the program's sources; they include "catmem.h" and "bench_common.h" and must not
        define CATMEM_IMPLEMENTATION (the //:catmem_<backend> target compiles it), unless
        own_implementation is set.
      own_implementation: the program defines CATMEM_IMPLEMENTATION itself, with a configuration
        of its own (CATMEM_MAX_ARENAS, say); the backend macro comes from here.
      **kwargs: passed to every cc_binary.
    """
    for backend in ["jemalloc", "system"]:
        native.cc_binary(
            name = "%s_%s" % (name, backend),
            srcs = srcs,
            copts = BENCH_COPTS,
            local_defines = ["CATMEM_BACKEND_" + backend.upper()] if own_implementation else [],
            deps = [
                ":bench_common",
                "//:headers" if own_implementation else "//:catmem_" + backend,
            ],
            linkopts = BACKEND_LINKOPTS[backend] + PEER_LIBS + ["-lpthread"] +
                       (["-ljemalloc"] if own_implementation and backend == "jemalloc" else []),
            **kwargs
        )
