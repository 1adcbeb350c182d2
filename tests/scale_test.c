/* The scale case: 64 threads x 100 arenas, every (thread, arena) pair alive at once. Each pair
   gets a front cache of its own on jemalloc (none falls back to the arena's slow path), blocks
   stay separate, and everything goes back when the threads exit. And a thread with 100 caches
   keeps no more in one of them than its share of the thread's budget.

   The test reads the engines' per-thread tables and compiles catmem's implementation itself
   (tests/BUILD.bazel), with a small cap on the jemalloc caches of busy pairs, to reach it. */
#define CATMEM_JEMALLOC_TCACHES 12
/* On jemalloc, user arenas with jemalloc arenas of their own: this test is about the front
   caches and busy pairs of such arenas at scale (small arenas: api_test, threads_test). */
#define CATMEM_OWN_ARENAS 4096
#define CATMEM_IMPLEMENTATION
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#define THREADS 64
#define ARENAS  100
#define PER     4 /* blocks each thread holds in each arena */

static catmem_arena *arenas[ARENAS];
static pthread_barrier_t all_alive;
static int errors[THREADS];

static size_t block_size(int id, int k) { return 16 + (size_t)k * 200 + (size_t)id; }

/* arenas[0..n): the built-in arenas first when builtins is set, then arenas made as
   "<prefix>-<i>". */
static void make_arenas(const char *prefix, int n, int builtins) {
    int i;
    for (i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        arenas[i] = builtins && i < CATMEM_KIND_COUNT ? catmem_arena_get((catmem_kind)i)
                                                      : catmem_arena_create(name);
        assert_non_null(arenas[i]);
    }
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg, a, k;
    static __thread unsigned char *p[ARENAS][PER];
    for (a = 0; a < ARENAS; a++)
        for (k = 0; k < PER; k++) {
            p[a][k] = (unsigned char *)catmem_alloc(arenas[a], block_size(id, k));
            if (p[a][k] == NULL) {
                errors[id]++;
                continue;
            }
            memset(p[a][k], (unsigned char)(a + id), block_size(id, k));
        }
#if EXPECT_JEMALLOC
    /* Every pair has a front cache of its own: none was refused and sent to the slow path. */
    for (a = 0; a < ARENAS; a++)
        if (catmemi_je_mine(arenas[a]) == NULL) errors[id]++;
#endif
    pthread_barrier_wait(&all_alive); /* 6,400 pairs alive at once */
    for (a = 0; a < ARENAS; a++)
        for (k = 0; k < PER; k++) {
            size_t i;
            if (p[a][k] == NULL) continue;
            for (i = 0; i < block_size(id, k); i++)
                if (p[a][k][i] != (unsigned char)(a + id)) {
                    errors[id]++;
                    break;
                }
            if (k == 0 && !catmem_arena_owns(arenas[a], p[a][k])) errors[id]++;
            catmem_free(arenas[a], p[a][k]);
        }
    /* Freed blocks wait in each pair's cache; the next allocation takes them from there. */
    for (a = 0; a < ARENAS; a++) {
        void *q = catmem_alloc(arenas[a], block_size(id, 0));
        if (q == NULL || !catmem_arena_owns(arenas[a], q)) errors[id]++;
        catmem_free(arenas[a], q);
    }
    return NULL;
}

static void test_64_threads_times_100_arenas(void **state) {
    pthread_t t[THREADS];
    int i;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    make_arenas("scale", ARENAS, 1);
    pthread_barrier_init(&all_alive, NULL, THREADS);
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i), 0);
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(errors[i], 0);
    }
    pthread_barrier_destroy(&all_alive);
    /* The caches died with their threads and gave every block back. */
    for (i = 0; i < ARENAS; i++) {
        catmem_stats st;
        assert_int_equal(catmem_arena_stats(arenas[i], &st), 0);
        assert_int_equal(st.allocated, 0);
        if (i >= CATMEM_KIND_COUNT) assert_int_equal(catmem_arena_release(arenas[i]), 0);
    }
    catmem_shutdown();
}

#if EXPECT_JEMALLOC
/* A thread's caches share one budget: with 100 caches, one that is handed 224 KB of frees keeps
   no more than its share (the budget / 100, or the floor), however much it was allowed while it
   was alone. */
static void test_a_busy_cache_keeps_its_share_of_the_budget(void **state) {
    enum { N = 2000, SIZE = 100 };
    static void *p[N];
    catmem_arena *busy;
    catmemi_je_cache *c;
    intptr_t share = CATMEM_JEMALLOC_CACHE_BYTES / ARENAS > CATMEMI_JE_CACHE_FLOOR
                         ? CATMEM_JEMALLOC_CACHE_BYTES / ARENAS
                         : CATMEMI_JE_CACHE_FLOOR;
    int i;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    make_arenas("share", ARENAS, 1);
    for (i = 0; i < ARENAS; i++) /* this thread's cache in each */
        catmem_free(arenas[i], catmem_alloc(arenas[i], 16));
    busy = arenas[0];
    for (i = 0; i < N; i++) assert_non_null(p[i] = catmem_alloc(busy, SIZE));
    for (i = 0; i < N; i++) catmem_free(busy, p[i]);
    c = catmemi_je_mine(busy);
    assert_non_null(c);
    assert_int_equal(c->allowance, share);
    assert_true(c->allowance - c->room <= share); /* the bytes it holds */
    for (i = CATMEM_KIND_COUNT; i < ARENAS; i++)
        assert_int_equal(catmem_arena_release(arenas[i]), 0);
    catmem_shutdown();
}
#endif

#if EXPECT_JEMALLOC
/* Busy pairs get jemalloc caches of their own up to the caps: at most CATMEMI_JE_TC_PER_THREAD
   per thread, CATMEM_JEMALLOC_TCACHES in the process, and reaching the latter is said in
   catmem_backend_info. Pairs past the caps work the same, without. The caches go with their
   threads. */
#define BUSY_THREADS 4
#define BUSY_ARENAS  10
static int busy_pairs_with_tc;

static void *busy_worker(void *arg) {
    int id = (int)(intptr_t)arg, a, k, mine = 0;
    static __thread void *p[1500];
    for (a = 0; a < BUSY_ARENAS; a++)
        for (k = 0; k < 2; k++) { /* 3,000 blocks through each pair: busy */
            int j;
            for (j = 0; j < 1500; j++)
                if ((p[j] = catmem_alloc(arenas[a], 64)) == NULL ||
                    (j % 100 == 0 && !catmem_arena_owns(arenas[a], p[j])))
                    errors[id]++;
            for (j = 0; j < 1500; j++) catmem_free_sized(arenas[a], p[j], 64);
        }
    for (a = 0; a < BUSY_ARENAS; a++) {
        catmemi_je_cache *c = catmemi_je_mine(arenas[a]);
        if (c == NULL) errors[id]++;
        else if (c->back != c->flags) mine++;
    }
    if (mine > CATMEMI_JE_TC_PER_THREAD) errors[id]++;
    __atomic_fetch_add(&busy_pairs_with_tc, mine, __ATOMIC_RELAXED);
    pthread_barrier_wait(&all_alive);
    if (id == 0 && (__atomic_load_n(&catmemi_je_ntc, __ATOMIC_RELAXED) != CATMEM_JEMALLOC_TCACHES ||
                    busy_pairs_with_tc != CATMEM_JEMALLOC_TCACHES))
        errors[id]++;
    pthread_barrier_wait(&all_alive);
    return NULL;
}

static void test_busy_pairs_get_jemalloc_caches_up_to_the_caps(void **state) {
    pthread_t t[BUSY_THREADS];
    int i;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    make_arenas("busy", BUSY_ARENAS, 0);
    pthread_barrier_init(&all_alive, NULL, BUSY_THREADS);
    for (i = 0; i < BUSY_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, busy_worker, (void *)(intptr_t)i), 0);
    for (i = 0; i < BUSY_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(errors[i], 0);
    }
    pthread_barrier_destroy(&all_alive);
    assert_non_null(strstr(catmem_backend_info(), "busy arenas past 12 jemalloc caches"));
    assert_int_equal(__atomic_load_n(&catmemi_je_ntc, __ATOMIC_RELAXED), 0);
    for (i = 0; i < BUSY_ARENAS; i++) {
        catmem_stats st;
        assert_int_equal(catmem_arena_stats(arenas[i], &st), 0);
        assert_int_equal(st.allocated, 0);
        assert_int_equal(catmem_arena_release(arenas[i]), 0);
    }
    catmem_shutdown();
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_64_threads_times_100_arenas),
#if EXPECT_JEMALLOC
        cmocka_unit_test(test_a_busy_cache_keeps_its_share_of_the_budget),
        cmocka_unit_test(test_busy_pairs_get_jemalloc_caches_up_to_the_caps),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
