"""catmem_test: one test source, one cc_test per backend."""

# Every backend the suite runs on. The runtime backend runs twice: alone (it must fall back to
# the system malloc) and with Debian's jemalloc preloaded (it must bind to it). LD_PRELOAD takes
# the bare soname, found by the dynamic linker's usual search.
VARIANTS = {
    "jemalloc": struct(backend = "jemalloc", library = "catmem_jemalloc", defines = [], env = {}, tags = []),
    # "valgrind": the variants on the system malloc, which memcheck sees completely
    # (--config=valgrind runs those).
    "system": struct(backend = "system", library = "catmem_system", defines = [], env = {}, tags = ["valgrind"]),
    "runtime": struct(
        backend = "runtime",
        library = "catmem_runtime",
        defines = ["CATMEM_TEST_PRELOAD=0"],
        env = {},
        tags = ["valgrind"],
    ),
    # Not under ASan or TSan: their runtimes must be the first library loaded, and refuse a
    # preloaded malloc (.bazelrc filters the tag out there).
    "runtime_preload": struct(
        backend = "runtime",
        library = "catmem_runtime",
        defines = ["CATMEM_TEST_PRELOAD=1"],
        env = {"LD_PRELOAD": "libjemalloc.so.2"},
        tags = ["jemalloc_preload"],
    ),
}

def catmem_test(name, srcs, variants = VARIANTS.keys(), copts = [], linkopts = [], debug = False, env = {}, **kwargs):
    """Generates <name>_<variant> for every backend variant and a test_suite <name> of them all.

    Args:
      name: base name.
      srcs: test sources; they include "catmem.h", "testing.h" and <cmocka.h>.
      variants: the backend variants to test (default: all).
      copts: extra compiler options.
      linkopts: extra libraries.
      debug: link the CATMEM_DEBUG=1 variant of the library.
      env: extra environment of the test.
      **kwargs: passed to every cc_test (size, timeout, ...).
    """
    tags = kwargs.pop("tags", [])
    tests = []
    for variant in variants:
        v = VARIANTS[variant]
        test = "%s_%s" % (name, variant)
        test_env = dict(v.env)
        test_env.update(env)
        native.cc_test(
            name = test,
            srcs = srcs + ["testing.h"],
            copts = ["-Wall", "-Wextra", "-Werror"] + copts,
            local_defines = v.defines,
            deps = ["//:" + v.library + ("_debug" if debug else "")],
            env = test_env,
            linkopts = ["-lcmocka", "-ldl"] + linkopts,
            tags = v.tags + tags,
            **kwargs
        )
        tests.append(test)
    native.test_suite(name = name, tests = tests)

def catmem_own_test(name, srcs, variants = VARIANTS.keys(), linkopts = [], defines = [], **kwargs):
    """Like catmem_test, for a test that compiles catmem's implementation itself.

    Its source defines CATMEM_IMPLEMENTATION and the configuration it needs (macros that must be
    the same in every file, so no catmem library can be linked), or defines gives them; each
    <name>_<variant> gets the variant's backend macro and links what that backend needs.

    Args:
      name: base name.
      srcs: test sources.
      variants: the backend variants to test (default: all).
      linkopts: extra libraries.
      defines: macros for the test's sources (CATMEM_IMPLEMENTATION and a configuration, to run
        a catmem_test's source on a configuration of its own).
      **kwargs: passed to every cc_test (size, timeout, tags, ...).
    """
    tags = kwargs.pop("tags", [])
    tests = []
    for variant in variants:
        v = VARIANTS[variant]
        test = "%s_%s" % (name, variant)
        native.cc_test(
            name = test,
            srcs = srcs + ["testing.h"],
            copts = ["-Wall", "-Wextra", "-Werror"],
            local_defines = ["CATMEM_BACKEND_" + v.backend.upper()] + v.defines + defines,
            deps = ["//:headers"],
            env = v.env,
            linkopts = ["-lcmocka", "-ldl", "-lpthread"] +
                       (["-ljemalloc"] if v.backend == "jemalloc" else []) + linkopts,
            tags = v.tags + tags,
            **kwargs
        )
        tests.append(test)
    native.test_suite(name = name, tests = tests)
