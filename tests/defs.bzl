"""catmem_test: one test source, one cc_test per backend."""

BACKENDS = ["jemalloc", "system"]

def catmem_test(name, srcs, backends = BACKENDS, copts = [], **kwargs):
    """Generates <name>_<backend> for every backend and a test_suite <name> of them all.

    Args:
      name: base name.
      srcs: test sources; they include "catmem.h" and <cmocka.h>.
      backends: the backends to test (default: all).
      copts: extra compiler options.
      **kwargs: passed to every cc_test (size, env, timeout, ...).
    """
    tests = []
    for backend in backends:
        test = "%s_%s" % (name, backend)
        native.cc_test(
            name = test,
            srcs = srcs,
            copts = ["-Wall", "-Wextra", "-Werror"] + copts,
            deps = ["//:catmem_" + backend],
            linkopts = ["-lcmocka"],
            **kwargs
        )
        tests.append(test)
    native.test_suite(name = name, tests = tests)
