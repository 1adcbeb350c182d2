/* Fault injection: the allocator under catmem fails at its N-th call, for every N along a
   scripted workload. Every catmem call must then fail cleanly (NULL and ENOMEM/EAGAIN, or that
   error code), lose nothing (a failed realloc keeps the block and its contents), leak nothing,
   and the library must work again as soon as allocation succeeds.

   This file compiles catmem's implementation itself, on top of counting wrappers: on the
   jemalloc backend through CATMEM_JEMALLOC_PREFIX (catmem calls fault_mallocx, which calls
   jemalloc's mallocx), on the system backend through CATMEM_SYSTEM_MALLOC and friends. Arena
   creation (mallctl) is an allocation too and fails on its turn; on jemalloc, so do making a
   thread's front cache and every block of a refill (mallocx). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long fault_calls;   /* allocation calls since the counter was reset */
static long fault_at = -1; /* the call that fails; -1: none */
/* Blocks the underlying allocator handed out and did not get back: exact on the system backend.
   On jemalloc, arena.<i>.reset frees blocks inside jemalloc, past these wrappers, so there the
   arenas' own statistics show the leaks instead. */
static long live_blocks;
/* What stays allocated on purpose: the system backend's per-thread heaps, kept with their
   arenas for the next thread, and segments that hold a heap's current page. Measured after the
   first clean run. */
static long baseline_blocks;
static long injected; /* failures injected so far */

static int fault_now(void) {
    if (++fault_calls != fault_at) return 0;
    injected++;
    return 1;
}

#if defined(FAULT_JEMALLOC)
#  include <jemalloc/jemalloc.h>
#  define CATMEM_BACKEND_JEMALLOC 1
#  define CATMEM_JEMALLOC_PREFIX  fault_

static void *fault_mallocx(size_t size, int flags) {
    void *p = fault_now() ? NULL : mallocx(size, flags);
    if (p != NULL) live_blocks++;
    return p;
}
static void *fault_rallocx(void *p, size_t size, int flags) {
    return fault_now() ? NULL : rallocx(p, size, flags);
}
static void fault_dallocx(void *p, int flags) {
    live_blocks--;
    dallocx(p, flags);
}
static size_t fault_sallocx(const void *p, int flags) { return sallocx(p, flags); }
static size_t fault_nallocx(size_t size, int flags) { return nallocx(size, flags); }
static void fault_sdallocx(void *p, size_t size, int flags) {
    live_blocks--;
    sdallocx(p, size, flags);
}
/* Creating an arena or a jemalloc cache allocates too; reading statistics and resetting do
   not. */
/* Set by the busy-pair test: every tcache.create fails (as when jemalloc has no id left), every
   batch fails whole. */
static int fail_tcache_create, fail_batch;
static int fault_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    if (strcmp(name, "tcache.create") == 0 && (fail_tcache_create || fault_now()))
        return EFAULT; /* as jemalloc answers */
    if (strcmp(name, "arenas.create") == 0 && fault_now()) return EAGAIN;
    return mallctl(name, oldp, oldlenp, newp, newlen);
}
static int fault_mallctlnametomib(const char *name, size_t *mib, size_t *miblen) {
    return mallctlnametomib(name, mib, miblen);
}
/* The only call catmem makes by MIB is experimental.batch_alloc: it fails whole on its turn. */
static int fault_mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                              void *newp, size_t newlen) {
    int err;
    if (fail_batch || fault_now()) return ENOMEM;
    err = mallctlbymib(mib, miblen, oldp, oldlenp, newp, newlen);
    if (err == 0) live_blocks += (long)*(size_t *)oldp;
    return err;
}
#else
#  define CATMEM_BACKEND_SYSTEM 1
static void *fault_malloc(size_t size) {
    void *p = fault_now() ? NULL : malloc(size);
    if (p != NULL) live_blocks++;
    return p;
}
static void *fault_calloc(size_t n, size_t size) {
    void *p = fault_now() ? NULL : calloc(n, size);
    if (p != NULL) live_blocks++;
    return p;
}
static void *fault_realloc(void *p, size_t size) { return fault_now() ? NULL : realloc(p, size); }
static void fault_free(void *p) {
    if (p != NULL) live_blocks--;
    free(p);
}
#  define CATMEM_SYSTEM_MALLOC  fault_malloc
#  define CATMEM_SYSTEM_CALLOC  fault_calloc
#  define CATMEM_SYSTEM_REALLOC fault_realloc
#  define CATMEM_SYSTEM_FREE    fault_free
#endif

#define CATMEM_IMPLEMENTATION
#include "catmem.h"

#include <cmocka.h>

static int violations;

#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      violations++;                                                                                \
      fprintf(stderr, "fault_at %ld: line %d: %s\n", fault_at, __LINE__, #cond);                   \
    }                                                                                              \
  } while (0)

/* A failed allocation must say why: ENOMEM, or EAGAIN where an arena or cache could not be
   made. */
#define EXPECT_CLEAN_NULL() EXPECT(errno == ENOMEM || errno == EAGAIN)

static void fill(void *p, size_t n, unsigned char tag) { memset(p, tag, n); }
static int intact(const void *p, size_t n, unsigned char tag) {
    const unsigned char *c = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (c[i] != tag) return 0;
    return 1;
}

#define NBLOCKS 40

/* The workload must make the same calls in every run, so that the N-th call of a clean run is
   the N-th of the next: the thread's random picks (a refill's count and order, a small
   arena's chunk offset: issue 20 E) start each run from the same state. */
static void same_random_orders(void) { catmemi_rng = 1; }

/* The scripted workload: everything a program does with catmem, each result checked. Returns
   with everything it allocated given back, whatever failed on the way. */
static void workload(void) {
    catmem_arena *req, *user;
    catmem_region r;
    catmem_region_mark m;
    catmem_stats st;
    void *p[NBLOCKS];
    size_t n[NBLOCKS];
    char *s;
    int i, err;

    same_random_orders();
    err = catmem_init();
    if (err != 0) {
        EXPECT(err == ENOMEM || err == EAGAIN);
        EXPECT(!catmem_is_initialized());
        return;
    }
    req = catmem_arena_get(CATMEM_REQUEST);
    EXPECT(req != NULL);
    errno = 0;
    user = catmem_arena_create("fault-user");
    if (user == NULL) EXPECT_CLEAN_NULL();

    for (i = 0; i < NBLOCKS; i++) {
        catmem_arena *a = (user != NULL && i % 2) ? user : req;
        n[i] = (i % 7 == 0) ? 20000 + (size_t)i * 100 : 8 + (size_t)i * 24;
        errno = 0;
        switch (i % 4) {
        case 0: p[i] = catmem_alloc(a, n[i]); break;
        case 1: p[i] = catmem_calloc(a, 1, n[i]); break;
        case 2: p[i] = catmem_aligned_alloc(a, 256, n[i]); break;
        default: p[i] = NULL; break; /* below */
        }
        if (i % 4 == 3) { /* strdup: a string of its own, freed at once */
            errno = 0;
            s = catmem_strdup(a, "fault injection");
            if (s == NULL)
                EXPECT_CLEAN_NULL();
            else
                catmem_free(a, s);
            errno = 0;
            p[i] = catmem_alloc(a, n[i]);
        }
        if (p[i] == NULL) {
            EXPECT_CLEAN_NULL();
            continue;
        }
        if (i % 4 == 1) EXPECT(intact(p[i], n[i], 0));
        fill(p[i], n[i], (unsigned char)i);
    }
    /* Grow every other block: a failed realloc keeps the block and its contents. */
    for (i = 0; i < NBLOCKS; i += 2) {
        catmem_arena *a = (user != NULL && i % 2) ? user : req;
        void *q;
        if (p[i] == NULL || i % 4 == 2) continue; /* realloc does not keep big alignment */
        errno = 0;
        q = catmem_realloc(a, p[i], n[i] * 3);
        if (q == NULL) {
            EXPECT_CLEAN_NULL();
            EXPECT(intact(p[i], n[i], (unsigned char)i));
            continue;
        }
        EXPECT(intact(q, n[i], (unsigned char)i));
        p[i] = q;
    }
    /* A region with chunks, a large block, a scope, and a reset that wants a new warm chunk. */
    catmem_region_init(&r, req);
    for (i = 0; i < 60; i++) {
        errno = 0;
        s = (char *)catmem_region_alloc(&r, (i % 20 == 0) ? 50000 : 100);
        if (s == NULL)
            EXPECT_CLEAN_NULL();
        else
            s[0] = 'x';
    }
    m = catmem_region_save(&r);
    for (i = 0; i < 30; i++) {
        errno = 0;
        if (catmem_region_strdup(&r, "scoped") == NULL) EXPECT_CLEAN_NULL();
    }
    EXPECT(catmem_region_restore(&r, m) == 0);
    EXPECT(catmem_region_reset(&r) == 0);
    errno = 0;
    if (catmem_region_calloc(&r, 10, 10) == NULL) EXPECT_CLEAN_NULL();
    EXPECT(catmem_region_release(&r) == 0);

    EXPECT(catmem_arena_stats(req, &st) == 0);
    for (i = 0; i < NBLOCKS; i++) {
        catmem_arena *a = (user != NULL && i % 2) ? user : req;
        if (p[i] == NULL) continue;
        if (i % 3 == 0) catmem_free(a, p[i]); /* the rest goes with reset and release */
    }
    EXPECT(catmem_arena_reset(req) == 0);
    EXPECT(catmem_arena_stats(req, &st) == 0 && st.allocated == 0); /* nothing leaked */
    if (user != NULL) {
        EXPECT(catmem_arena_reset(user) == 0);
        EXPECT(catmem_arena_stats(user, &st) == 0 && st.allocated == 0);
        EXPECT(catmem_arena_release(user) == 0);
    }
    catmem_shutdown();
}

/* Runs first: making the process's arenas fails on every one in turn (they are made once per
   process, so the workload below never makes them again). */
#if defined(FAULT_JEMALLOC)
/* Allocations of class 112 (100 bytes) into w from an arena whose front cache holds none, until
   the cache is empty again after a refill of 4 blocks or more; how many. A refill takes a call
   per block: the first 1 to 8 at random (1 at CATMEM_SECURE 0), each next one the power of two
   above the one before. */
static int empty_refills(catmem_arena *st, void **w) {
    int n = 0, k;
    long got;
    do {
        fault_calls = 0;
        assert_non_null(w[n++] = catmem_alloc(st, 100));
        got = fault_calls;
        for (k = 1; k < got; k++) assert_non_null(w[n++] = catmem_alloc(st, 100));
        assert_int_equal(fault_calls, got); /* from the cache */
    } while (got < 4);
    return n;
}
#endif

static void test_arena_creation_fails_cleanly(void **state) {
    catmem_arena *a;
    int err, failures = 0;
    (void)state;
    do { /* each try makes one more built-in arena and fails on the next */
        fault_calls = 0;
        fault_at = 2;
        err = catmem_init();
        if (err != 0) {
            assert_int_equal(err, EAGAIN);
            assert_false(catmem_is_initialized());
            /* A call after a failed init tries the init again, and reports its failure. */
            fault_at = fault_calls + 1;
            errno = 0;
            assert_null(catmem_arena_get(CATMEM_REQUEST));
            assert_int_equal(errno, EAGAIN);
            assert_false(catmem_is_initialized());
            failures++;
        }
    } while (err != 0);
    fault_at = -1;
#if defined(FAULT_JEMALLOC)
    assert_int_equal(failures, CATMEM_KIND_COUNT - 1);
#endif
    fault_calls = 0;
    fault_at = 1;
    errno = 0;
    a = catmem_arena_create("fault-user");
#if defined(FAULT_JEMALLOC)
    assert_null(a);
    assert_int_equal(errno, EAGAIN);
    fault_at = -1;
    a = catmem_arena_create("fault-user"); /* the name was not taken by the failure */
#endif
    fault_at = -1;
    assert_non_null(a);
    assert_int_equal(catmem_arena_release(a), 0);
#if defined(FAULT_JEMALLOC)
    {
        /* A thread's first allocation in an arena makes its front cache there (call 1): when
           that fails, the block comes from the arena directly, and the next call makes it. */
        catmem_arena *st = catmem_arena_get(CATMEM_STATIC);
        void *p, *q[3], *w[64];
        long inj = injected;
        int k, emptied;
        fault_calls = 0;
        fault_at = 1;
        p = catmem_alloc(st, 10);
        assert_non_null(p);
        assert_int_equal(injected, inj + 1);
        fault_at = -1;
        catmem_free(st, p);
        /* A refill that fails midway keeps the blocks it got: once the refills of class 112
           are emptied up to one of 4 blocks or more, the next asks for 8 or more and its call
           4 fails, so the cache holds the 2 blocks after the caller's, served without a call,
           and the allocation after them refills again. */
        emptied = empty_refills(st, w);
        fault_calls = 0;
        fault_at = 4;
        q[0] = catmem_alloc(st, 100);
        assert_non_null(q[0]);
        assert_int_equal(fault_calls, 4);
        for (k = 1; k < 3; k++) assert_non_null(q[k] = catmem_alloc(st, 100));
        assert_int_equal(fault_calls, 4);
        fault_at = -1;
        p = catmem_alloc(st, 100);
        assert_non_null(p);
        assert_true(fault_calls > 4);
        catmem_free(st, p);
        for (k = 0; k < 3; k++) catmem_free(st, q[k]);
        for (k = 0; k < emptied; k++) catmem_free(st, w[k]);
        assert_int_equal(catmem_arena_reset(st), 0);
    }
#else
    {
        /* A thread's first allocation in an arena makes its heap there: that can fail too,
           leaving nothing behind (the registry's records, made at init, stay for the process). */
        void *p;
        long before = live_blocks;
        fault_calls = 0;
        fault_at = 1;
        errno = 0;
        assert_null(catmem_alloc(catmem_arena_get(CATMEM_STATIC), 10));
        assert_int_equal(errno, ENOMEM);
        assert_int_equal(live_blocks, before);
        fault_at = -1;
        p = catmem_alloc(catmem_arena_get(CATMEM_STATIC), 10);
        assert_non_null(p);
        catmem_free(catmem_arena_get(CATMEM_STATIC), p);
    }
#endif
    catmem_shutdown();
}

static void test_every_allocation_fails_once(void **state) {
    long total, at;
    (void)state;
    /* Two clean runs: the first makes what is made once (the system backend's heaps), the
       second counts the allocation calls of every run after it. */
    fault_at = -1;
    workload();
    fault_calls = 0;
    workload();
    total = fault_calls;
    assert_int_equal(violations, 0);
    baseline_blocks = live_blocks;
#if !defined(FAULT_JEMALLOC)
    /* One heap in each arena this thread used, the segment that the first test's block left in
       CATMEM_STATIC (its page is that heap's current page, so it stays), and the registry's
       first block of arena records. */
    assert_true(baseline_blocks <= 5);
#endif
    assert_true(total > 10); /* the system backend: 15 (large blocks' records are no mallocs) */
    for (at = 1; at <= total; at++) {
        long before = injected;
        fault_calls = 0;
        fault_at = at;
        workload();                             /* fails once, at call number `at` */
        assert_int_equal(injected, before + 1); /* the failure did happen */
#if !defined(FAULT_JEMALLOC)
        assert_int_equal(live_blocks, baseline_blocks); /* nothing leaked */
#endif
        fault_at = -1;
        fault_calls = 0;
        workload(); /* and then everything works again */
        assert_int_equal(violations, 0);
    }
    printf("fault points injected: %ld (of %ld allocation calls per workload)\n", injected, total);
}

#if defined(FAULT_JEMALLOC)
/* A busy pair whose jemalloc cache cannot be made keeps working without one (and
   catmem_backend_info says so); with one, a batch that fails whole falls back to one mallocx per
   block, and only when those fail too is the allocation refused. */
#  define BUSY_N 3000 /* x 512 B: more than the thread's front-cache budget */
static void busy(catmem_arena *a) {
    static void *p[BUSY_N];
    int k;
    for (k = 0; k < BUSY_N; k++) assert_non_null(p[k] = catmem_alloc(a, 512));
    for (k = 0; k < BUSY_N; k++) catmem_free_sized(a, p[k], 512);
}

static void test_busy_pair_without_its_jemalloc_cache(void **state) {
    static void *held[BUSY_N];
    catmem_arena *a;
    catmemi_je_cache *c;
    int k;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    a = catmem_arena_get(CATMEM_TASK); /* a jemalloc arena of its own (user ones are small) */
    fail_tcache_create = 1;
    busy(a); /* thousands of blocks through the pair: busy, and refused its cache */
    c = catmemi_je_mine(a);
    assert_non_null(c);
    assert_int_equal(c->back, c->flags);
    assert_non_null(strstr(catmem_backend_info(), "busy arenas past 0 jemalloc caches"));
    fail_tcache_create = 0;
    busy(a); /* busy again: now it gets one */
    assert_true(c->back != c->flags);
    fail_batch = 1;
    busy(a); /* every refill's batch fails: blocks come one mallocx at a time */
    /* Now the first mallocx of each refill fails too: allocations are served from the cache
       until the next refill, which is refused cleanly. */
    for (k = 0; k < BUSY_N - 1; k++) {
        fault_at = fault_calls + 1;
        errno = 0;
        if ((held[k] = catmem_alloc(a, 512)) == NULL) break;
    }
    assert_true(k < BUSY_N - 1);
    assert_int_equal(errno, ENOMEM);
    fault_at = -1;
    assert_non_null(held[k] = catmem_alloc(a, 512)); /* and the next works again */
    for (; k >= 0; k--) catmem_free(a, held[k]);
    fail_batch = 0;
    assert_int_equal(catmem_arena_reset(a), 0);
    catmem_shutdown();
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_creation_fails_cleanly),
        cmocka_unit_test(test_every_allocation_fails_once),
#if defined(FAULT_JEMALLOC)
        cmocka_unit_test(test_busy_pair_without_its_jemalloc_cache),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
