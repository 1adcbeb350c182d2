/* CATMEM_DEBUG=1 makes catmem's internal invariants executable (CATMEMI_ASSERT): a front
   cache's counts and lists on jemalloc, a page's counts and lists on the system engine, and the
   registry lock where a function relies on it. This test runs a workload that reaches every
   checked slow path on every backend (threads, cross-thread frees, refills and trims, resets,
   releases, limits, a fork) on catmem compiled here with CATMEM_DEBUG=1 and the system engine
   on, so a violated invariant stops it;
   and it corrupts one count by hand to show that a check does stop the process, naming it. */
#define CATMEM_DEBUG         1
#define CATMEM_SYSTEM_ENGINE 1 /* even where CATMEM_DEBUG turns CATMEM_VALGRIND on */
#define CATMEM_IMPLEMENTATION
#include "catmem.h"
#include "testing.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "child.h"

enum { THREADS = 4, LIVE = 2000 };

static catmem_arena *shared;
/* Blocks a thread hands to the next one to free: cross-thread frees. */
static void *handoff[THREADS][LIVE / 4];

/* Sizes over every small class and some large ones, allocated and freed out of order, so that
   caches refill, overflow and trim, and pages fill, empty and are collected. */
static void churn(catmem_arena *a, unsigned seed, long rounds) {
    void *live[LIVE];
    long i;
    memset(live, 0, sizeof live);
    for (i = 0; i < rounds; i++) {
        unsigned k;
        size_t size;
        seed = seed * 1103515245u + 12345u;
        k = (seed >> 8) % LIVE;
        size = 1 + (seed >> 16) % ((seed & 31) == 0 ? 40000 : 600);
        catmem_free(a, live[k]);
        live[k] = (seed & 7) == 0 ? catmem_calloc(a, 1, size) : catmem_alloc(a, size);
        if (live[k] == NULL) abort(); /* cmocka's asserts are for the main thread */
        memset(live[k], (int)k, size < 64 ? size : 64);
    }
    for (i = 0; i < LIVE; i++) catmem_free(a, live[i]);
}

static void *worker(void *arg) {
    unsigned me = (unsigned)(uintptr_t)arg, i;
    char name[16];
    catmem_arena *own;
    snprintf(name, sizeof name, "inv-w%u", me);
    if ((own = catmem_arena_create_child(shared, name)) == NULL) abort();
    churn(shared, me + 1, test_scaled(60000));
    churn(own, me + 100, test_scaled(20000));
    for (i = 0; i < LIVE / 4; i++) handoff[me][i] = catmem_alloc(shared, 16 + i % 300);
    return NULL;
}

static void test_a_threaded_workload_keeps_every_invariant(void **state) {
    pthread_t t[THREADS];
    unsigned i, j;
    catmem_stats st;
    (void)state;
    shared = catmem_arena_create("inv-shared");
    assert_non_null(shared);
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i), 0);
    for (i = 0; i < THREADS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    /* Blocks of exited threads' caches and heaps, freed here: another thread's frees. */
    for (i = 0; i < THREADS; i++)
        for (j = 0; j < LIVE / 4; j++) catmem_free(shared, handoff[i][j]);
    churn(shared, 7, test_scaled(20000));
    assert_int_equal(catmem_arena_set_limit(shared, 4u << 20), 0);
    churn(shared, 8, test_scaled(20000));
    assert_int_equal(catmem_arena_stats(shared, &st), 0);
    assert_int_equal(catmem_arena_purge(shared), 0);
    assert_int_equal(catmem_arena_reset(shared), 0);
    churn(shared, 9, test_scaled(5000));
    assert_int_equal(catmem_arena_release(shared), 0); /* its children with it */
}

/* A fork child inherits the registry lock held by the forking thread and caches of threads that
   do not exist in it: its checks must hold there too. */
static void fork_child_work(void) {
    catmem_arena *a = catmem_arena_create("inv-child");
    churn(a, 11, test_scaled(20000));
    _exit(catmem_arena_release(a) == 0 ? 0 : 3);
}

static void test_a_fork_child_keeps_every_invariant(void **state) {
    catmem_arena *a = catmem_arena_create("inv-parent");
    outcome o;
    (void)state;
    churn(a, 10, test_scaled(20000));
    o = run_child(fork_child_work);
    assert_true(o.exited);
    assert_int_equal(o.status, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* On jemalloc the unsized free takes a block's class from the page map (backends/jemalloc/
   fast.h), written where blocks leave jemalloc; under CATMEM_DEBUG every such free checks it
   against jemalloc's. Pages of one class's slabs, given back by a reset, come back as large
   blocks, aligned blocks, realloc's blocks and slabs of other classes: each freed without a
   size (and through catmem_free_any) and asked its usable size, so a page whose entry still
   named its earlier class stops the test. */
static void free_either(catmem_arena *a, void *p, unsigned i) {
    if (i & 1)
        catmem_free_any(p);
    else
        catmem_free(a, p);
}
static void reuse(catmem_arena *a, size_t small, size_t other) {
    enum { N = 3000, M = 60 };
    static void *p[N];
    unsigned i;
    for (i = 0; i < N; i++) assert_non_null(p[i] = catmem_alloc(a, small));
    for (i = 0; i < N; i++) catmem_free(a, p[i]);
    assert_int_equal(catmem_arena_reset(a), 0);
    for (i = 0; i < M; i++) {
        assert_non_null(p[i] = catmem_alloc(a, 20000 + 4096 * (i % 3)));
        assert_non_null(p[M + i] = catmem_aligned_alloc(a, 8192, 64));
        assert_non_null(p[2 * M + i] = catmem_alloc(a, 24));
        assert_non_null(p[2 * M + i] = catmem_realloc(a, p[2 * M + i], 30000));
    }
    for (i = 0; i < 3 * M; i++) free_either(a, p[i], i);
    for (i = 0; i < N; i++) {
        assert_non_null(p[i] = catmem_alloc(a, other));
        assert_true(catmem_usable_size(p[i]) >= other); /* the map's class, checked too */
    }
    for (i = 0; i < N; i++) free_either(a, p[i], i);
}

static void test_a_page_reused_by_another_class_frees_by_its_own(void **state) {
    catmem_arena *a = catmem_arena_create("inv-reuse");
    (void)state;
    assert_non_null(a);
    reuse(a, 48, 160);
    reuse(a, 160, 8);
    reuse(a, 8, 48);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* One count of the engine's state made wrong by hand, then the slow path that checks it. */
static void corrupt_and_allocate(void) {
    /* A built-in arena: on jemalloc its front cache is made at its first allocation (a user
       arena's is made once the arena is busy, small.h). */
    catmem_arena *a = catmem_arena_get(CATMEM_TASK);
    void *p = catmem_alloc(a, 48);
    int i;
    if (p == NULL) _exit(4);
#if defined(CATMEMI_HAS_JE)
    if (strcmp(catmem_backend_name(), "jemalloc") == 0) {
        catmemi_je_cache *c = catmemi_je_mine(a);
        if (c == NULL) _exit(5); /* the front cache is on in these tests */
        c->bin[catmemi_class(48)].n += 1; /* one block more than its list holds */
    }
#endif
#if defined(CATMEMI_HAS_SYS)
    if (strcmp(catmem_backend_name(), "system") == 0) {
        catmemi_sys_seg *sg = catmemi_sys_seg_raw((uintptr_t)p);
        if (sg == NULL) _exit(6); /* the engine is on where the test runs this */
        catmemi_sys_page_of(sg, (uintptr_t)p)->used += 1; /* one block more than exists */
    }
#endif
    /* The class's list runs dry within a page's worth of blocks: the slow path checks. */
    for (i = 0; i < 5000; i++)
        if (catmem_alloc(a, 48) == NULL) _exit(7);
    _exit(0);
}

static void test_a_corrupted_count_stops_the_process(void **state) {
    outcome o;
    (void)state;
    o = run_child(corrupt_and_allocate);
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "catmem: internal check failed: "));
    assert_non_null(strstr(o.err, strcmp(catmem_backend_name(), "jemalloc") == 0
                                      ? "catmemi_je_cache_valid"
                                      : "catmemi_sys_page_valid"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_threaded_workload_keeps_every_invariant),
        cmocka_unit_test(test_a_fork_child_keeps_every_invariant),
        cmocka_unit_test(test_a_page_reused_by_another_class_frees_by_its_own),
        cmocka_unit_test(test_a_corrupted_count_stops_the_process),
    };
    assert_int_equal(catmem_init(), 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
