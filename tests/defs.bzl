"""catmem_test: one test source, one cc_test per backend."""

BACKENDS = ["jemalloc", "system"]

def catmem_test(name, srcs, backends = BACKENDS, copts = [], debug = False, **kwargs):
    """Generates <name>_<backend> for every backend and a test_suite <name> of them all.

    Args:
      name: base name.
      srcs: test sources; they include "catmem.h" and <cmocka.h>.
      backends: the backends to test (default: all).
      copts: extra compiler options.
      debug: link the CATMEM_DEBUG=1 variant of the library.
      **kwargs: passed to every cc_test (size, env, timeout, ...).
    """
    tests = []
    for backend in backends:
        test = "%s_%s" % (name, backend)
        native.cc_test(
            name = test,
            srcs = srcs,
            copts = ["-Wall", "-Wextra", "-Werror"] + copts,
            deps = ["//:catmem_" + backend + ("_debug" if debug else "")],
            linkopts = ["-lcmocka"],
            **kwargs
        )
        tests.append(test)
    native.test_suite(name = name, tests = tests)
