/* What the tests may expect of the backend under test, and a way to ask jemalloc directly.

   CATMEM_TEST_PRELOAD is 1 for the runtime backend run with jemalloc in LD_PRELOAD, 0 without.
   EXPECT_JEMALLOC is 1 where jemalloc serves catmem: the jemalloc backend, and the runtime
   backend with jemalloc preloaded. test_mallctl reaches the process's jemalloc through dlsym,
   so the runtime tests need not link it (linking it would put it in the process). */
#ifndef CATMEM_TESTING_H
#define CATMEM_TESTING_H

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(CATMEM_BACKEND_JEMALLOC) || (defined(CATMEM_TEST_PRELOAD) && CATMEM_TEST_PRELOAD)
#  define EXPECT_JEMALLOC 1
#else
#  define EXPECT_JEMALLOC 0
#endif

/* Under valgrind (memcheck), where catmem's owner probes read words memcheck forbids (the
   word before a block malloc handed out, or a freed block's first word holding bytes the
   program never wrote: the manual, MISUSE): tests of those probes skip themselves there. */
#if defined(__has_include)
#  if __has_include(<valgrind/valgrind.h>)
#    include <valgrind/valgrind.h>
#  endif
#endif
#if !defined(RUNNING_ON_VALGRIND)
#  define RUNNING_ON_VALGRIND 0
#endif
/* UNDER_TSAN: 1 in a ThreadSanitizer build (gcc says so with a macro, clang with a feature). */
#if defined(__SANITIZE_THREAD__)
#  define UNDER_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define UNDER_TSAN 1
#  endif
#endif
#if !defined(UNDER_TSAN)
#  define UNDER_TSAN 0
#endif

static inline int test_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
                               size_t newlen) {
    int (*fn)(const char *, void *, size_t *, void *, size_t);
    void *sym = dlsym(RTLD_DEFAULT, "mallctl");
    if (sym == NULL) abort(); /* only called where EXPECT_JEMALLOC */
    memcpy(&fn, &sym, sizeof sym);
    return fn(name, oldp, oldlenp, newp, newlen);
}

/* A block of jemalloc's own (its mallocx, no arena named: what its malloc gives), where
   EXPECT_JEMALLOC: under a sanitizer, malloc is the sanitizer's and not jemalloc's. */
static inline void *test_je_mallocx(size_t size) {
    void *(*fn)(size_t, int);
    void *sym = dlsym(RTLD_DEFAULT, "mallocx");
    if (sym == NULL) abort(); /* only called where EXPECT_JEMALLOC */
    memcpy(&fn, &sym, sizeof sym);
    return fn(size, 0);
}

/* expr returns NULL and sets errno to err (cmocka's asserts, so the line of the call is shown). */
#define assert_null_errno(expr, err)                                                               \
  do {                                                                                             \
    errno = 0;                                                                                     \
    assert_null(expr);                                                                             \
    assert_int_equal(errno, (err));                                                                \
  } while (0)

/* n scaled by CATMEM_TEST_SCALE percent (default 100): the Valgrind configuration runs the
   long loops shorter, since memcheck is some fifty times slower. */
static inline long test_scaled(long n) {
    const char *env = getenv("CATMEM_TEST_SCALE");
    long pct = env != NULL ? atol(env) : 100, m = n * (pct > 0 ? pct : 100) / 100;
    return m > 0 ? m : 1;
}

#endif
