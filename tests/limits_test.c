/* Limits, peaks and call counts: catmem_arena_set_limit/_limit, catmem_stats.peak and .limit,
   nmalloc/ndalloc counting catmem calls. Run on every backend variant; where the backends
   differ (LIMITS and STATISTICS in catmem.h) the test says which bound it checks. */
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

/* The backend serving catmem right now: jemalloc keeps front caches whose blocks count
   against a limit (a bound), the system backend counts exactly. */
static int on_jemalloc(void) { return strcmp(catmem_backend_name(), "jemalloc") == 0; }

static catmem_stats stats_of(catmem_arena *a) {
    catmem_stats st;
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    return st;
}

enum { MAX_HELD = 1 << 16 };
static void *held[MAX_HELD];

/* Allocates size-byte blocks until one fails; returns how many came and their usable bytes. */
static size_t fill(catmem_arena *a, size_t size, size_t *bytes) {
    size_t n = 0;
    *bytes = 0;
    for (;;) {
        void *p;
        assert_true(n < MAX_HELD);
        errno = 0;
        p = catmem_alloc(a, size);
        if (p == NULL) break;
        memset(p, 0x5a, size);
        held[n++] = p;
        *bytes += catmem_usable_size(p);
    }
    assert_int_equal(errno, ENOMEM);
    return n;
}

static void drop(catmem_arena *a, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) catmem_free(a, held[i]);
}

/* A single thread sees its limit exactly on every backend: before refusing, jemalloc's front
   cache gives the thread's own cached blocks back, so only live blocks count. */
static void test_limit_refuses_past_it_and_frees_make_room(void **state) {
    const size_t limit = 64 * 1024;
    catmem_arena *a;
    catmem_stats st;
    size_t n, bytes, cls;
    void *p;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    a = catmem_arena_create("limited");
    assert_non_null(a);
    assert_int_equal(catmem_arena_limit(a), 0);
    assert_int_equal(catmem_arena_set_limit(a, limit), 0);
    assert_int_equal(catmem_arena_limit(a), limit);
    p = catmem_alloc(a, 100);
    assert_non_null(p);
    cls = catmem_usable_size(p);
    catmem_free(a, p);
    n = fill(a, 100, &bytes);
    assert_true(n > 0);
    assert_true(bytes <= limit);
    assert_true(limit - bytes < cls); /* refused only when the next block did not fit */
    st = stats_of(a);
    assert_int_equal(st.limit, limit);
    assert_true(st.allocated <= limit);
    assert_true(st.allocated >= bytes);
    assert_true(st.peak >= bytes);
    /* a limit refuses, it does not break: a free makes room for exactly one more */
    catmem_free(a, held[--n]);
    held[n] = catmem_alloc(a, 100);
    assert_non_null(held[n++]);
    assert_null_errno(catmem_alloc(a, 100), ENOMEM);
    /* calloc, aligned_alloc, realloc and strdup are refused the same way */
    assert_null_errno(catmem_calloc(a, 10, 10), ENOMEM);
    assert_null_errno(catmem_aligned_alloc(a, 64, 100), ENOMEM);
    {
        char str[200];
        memset(str, 's', sizeof str - 1);
        str[sizeof str - 1] = '\0';
        assert_null_errno(catmem_strdup(a, str), ENOMEM);
    }
    errno = 0;
    assert_null(catmem_realloc(a, held[0], 4096));
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(((unsigned char *)held[0])[99], 0x5a); /* the block is as it was */
    /* a large block is refused too, and fits once the limit is raised */
    assert_null_errno(catmem_alloc(a, 1 << 20), ENOMEM);
    assert_int_equal(catmem_arena_set_limit(a, 0), 0); /* no limit */
    p = catmem_alloc(a, 1 << 20);
    assert_non_null(p);
    catmem_free(a, p);
    drop(a, n);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* Another thread's busy pair (on jemalloc it has a jemalloc cache of its own, holding blocks of
   the arena), alive while a first limit is set: the limit counts from the blocks really live,
   so this thread still sees it exactly. */
static pthread_barrier_t busy_done, limit_done;
static void *busy_pair(void *arg) {
    catmem_arena *a = (catmem_arena *)arg;
    static void *p[3000];
    int round, k;
    for (round = 0; round < 4; round++) { /* 12,000 blocks through this thread's pair */
        for (k = 0; k < 3000; k++) p[k] = catmem_alloc(a, 512);
        for (k = 0; k < 3000; k++) catmem_free(a, p[k]);
    }
    pthread_barrier_wait(&busy_done);
    pthread_barrier_wait(&limit_done); /* its caches stay until it exits */
    return NULL;
}

static void test_limit_after_another_threads_busy_pair(void **state) {
    const size_t limit = 64 * 1024;
    catmem_arena *a;
    pthread_t t;
    size_t n, bytes;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    a = catmem_arena_create("busy-then-limited");
    assert_non_null(a);
    pthread_barrier_init(&busy_done, NULL, 2);
    pthread_barrier_init(&limit_done, NULL, 2);
    assert_int_equal(pthread_create(&t, NULL, busy_pair, a), 0);
    pthread_barrier_wait(&busy_done);
    assert_int_equal(catmem_arena_set_limit(a, limit), 0);
    n = fill(a, 512, &bytes);
    assert_true(bytes <= limit);
    assert_true(limit - bytes < 512);
    assert_int_equal(stats_of(a).allocated, bytes);
    pthread_barrier_wait(&limit_done);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&busy_done);
    pthread_barrier_destroy(&limit_done);
    drop(a, n);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* Below what the arena holds: allocations fail until frees bring it under. */
static void test_limit_below_what_is_held(void **state) {
    catmem_arena *a;
    void *p[16];
    int i;
    (void)state;
    a = catmem_arena_create("shrinking");
    assert_non_null(a);
    for (i = 0; i < 16; i++) assert_non_null(p[i] = catmem_alloc(a, 1000));
    assert_int_equal(catmem_arena_set_limit(a, 4 * 1024), 0);
    assert_null_errno(catmem_alloc(a, 16), ENOMEM);
    for (i = 0; i < 14; i++) catmem_free(a, p[i]);
    p[0] = catmem_alloc(a, 1000);
    assert_non_null(p[0]);
    catmem_free(a, p[0]);
    catmem_free(a, p[14]);
    catmem_free(a, p[15]);
    /* a reset frees everything: the whole limit is there again */
    assert_int_equal(catmem_arena_reset(a), 0);
    assert_int_equal(stats_of(a).allocated, 0);
    assert_int_equal(catmem_arena_limit(a), 4 * 1024); /* a reset keeps the limit */
    for (i = 0; i < 3; i++) assert_non_null(catmem_alloc(a, 1000));
    /* a release forgets it: the next arena in the slot has none */
    assert_int_equal(catmem_arena_release(a), 0);
    a = catmem_arena_create("shrinking");
    assert_non_null(a);
    assert_int_equal(catmem_arena_limit(a), 0);
    assert_int_equal(stats_of(a).limit, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_region_chunks_count(void **state) {
    const size_t limit = 256 * 1024;
    catmem_arena *a = catmem_arena_create("region-limited");
    catmem_region r;
    size_t got = 0;
    (void)state;
    assert_non_null(a);
    assert_int_equal(catmem_arena_set_limit(a, limit), 0);
    assert_int_equal(catmem_region_init(&r, a), 0);
    for (;;) {
        errno = 0;
        if (catmem_region_alloc(&r, 1000) == NULL) break;
        got += 1000;
    }
    assert_int_equal(errno, ENOMEM);
    assert_true(got > limit / 4); /* chunks double up to the limit, then one is refused */
    assert_true(got <= limit);
    assert_true(stats_of(a).allocated <= limit);
    assert_int_equal(catmem_region_release(&r), 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_limit_errors(void **state) {
    catmem_arena *a;
    (void)state;
    assert_int_equal(catmem_arena_set_limit(NULL, 1), EINVAL);
    assert_int_equal(catmem_arena_limit(NULL), 0);
    assert_int_equal(catmem_arena_set_limit((catmem_arena *)&a, 1), EINVAL); /* not a handle */
    a = catmem_arena_create("gone");
    assert_non_null(a);
    assert_int_equal(catmem_arena_set_limit(a, 1000), 0);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_int_equal(catmem_arena_set_limit(a, 1000), EINVAL); /* released */
    assert_int_equal(catmem_arena_limit(a), 0);
    a = catmem_arena_get(CATMEM_TASK);
    catmem_shutdown();
    assert_int_equal(catmem_arena_set_limit(a, 1), ESHUTDOWN);
    assert_int_equal(catmem_init(), 0);
    /* a built-in arena takes a limit like any other */
    assert_int_equal(catmem_arena_set_limit(a, 1 << 20), 0);
    assert_int_equal(catmem_arena_limit(a), 1 << 20);
    assert_int_equal(catmem_arena_set_limit(a, 0), 0);
}

/* The handler runs when the limit refuses, and may raise it. */
static int raised;
static int raise_limit(catmem_arena *a, size_t size, void *arg) {
    (void)arg;
    raised++;
    assert_true(size >= 5000);
    return catmem_arena_set_limit(a, catmem_arena_limit(a) + 64 * 1024) == 0;
}
static int refuse(catmem_arena *a, size_t size, void *arg) {
    (void)a;
    (void)size;
    (void)arg;
    raised++;
    return 0;
}

static void test_oom_handler_sees_the_limit(void **state) {
    catmem_arena *a = catmem_arena_create("handled");
    void *p;
    (void)state;
    assert_non_null(a);
    assert_int_equal(catmem_arena_set_limit(a, 4096), 0);
    catmem_set_oom_handler(refuse, NULL);
    raised = 0;
    assert_null_errno(catmem_alloc(a, 5000), ENOMEM);
    assert_int_equal(raised, 1);
    catmem_set_oom_handler(raise_limit, NULL);
    raised = 0;
    p = catmem_alloc(a, 5000);
    assert_non_null(p);
    assert_int_equal(raised, 1);
    assert_int_equal(catmem_arena_limit(a), 4096 + 64 * 1024);
    catmem_set_oom_handler(NULL, NULL);
    catmem_free(a, p);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- threads racing past a limit ---- */
enum { RACERS = 8, RACE_SIZE = 64 };
static catmem_arena *race_arena;
static pthread_barrier_t race_start;
typedef struct racer {
    void *blocks[4096];
    size_t n, bytes;
} racer;
static racer racers[RACERS];

static void *race(void *arg) {
    racer *r = (racer *)arg;
    pthread_barrier_wait(&race_start);
    while (r->n < sizeof r->blocks / sizeof r->blocks[0]) {
        void *p = catmem_alloc(race_arena, RACE_SIZE);
        if (p == NULL) break;
        r->blocks[r->n++] = p;
        r->bytes += catmem_usable_size(p);
    }
    return NULL;
}

static void test_threads_race_past_a_limit(void **state) {
    const size_t limit = 128 * 1024;
    pthread_t t[RACERS];
    size_t total = 0, cls;
    catmem_stats st;
    int i;
    size_t j;
    (void)state;
    race_arena = catmem_arena_create("raced");
    assert_non_null(race_arena);
    cls = catmem_usable_size(held[0] = catmem_alloc(race_arena, RACE_SIZE));
    catmem_free(race_arena, held[0]);
    assert_int_equal(catmem_arena_set_limit(race_arena, limit), 0);
    memset(racers, 0, sizeof racers);
    pthread_barrier_init(&race_start, NULL, RACERS);
    for (i = 0; i < RACERS; i++) assert_int_equal(pthread_create(&t[i], NULL, race, &racers[i]), 0);
    for (i = 0; i < RACERS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&race_start);
    for (i = 0; i < RACERS; i++) {
        assert_true(racers[i].n < sizeof racers[i].blocks / sizeof racers[i].blocks[0]);
        total += racers[i].bytes;
    }
    st = stats_of(race_arena);
    /* Never past the limit, whatever the race. */
    assert_true(total <= limit);
    assert_true(st.allocated <= limit);
    assert_true(st.peak <= limit);
    if (on_jemalloc()) {
        /* Refused while other threads' front caches held blocks: each holds at most a
           sixteenth of the limit (LIMITS). Their threads have exited, so the blocks are back. */
        assert_true(limit - total < cls + (RACERS - 1) * (limit / 16));
    } else {
        /* Exact: each thread stopped at its first refusal, when less than a block was left. */
        assert_true(limit - total < cls);
        assert_int_equal(st.allocated, total);
    }
    for (i = 0; i < RACERS; i++)
        for (j = 0; j < racers[i].n; j++) catmem_free(race_arena, racers[i].blocks[j]);
    st = stats_of(race_arena);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(race_arena), 0);
}

/* ---- peak ---- */

/* Ten blocks of 1000 bytes in a: their usable bytes. */
static size_t alloc_ten(catmem_arena *a, void **p) {
    size_t live = 0;
    int i;
    for (i = 0; i < 10; i++) {
        p[i] = catmem_alloc(a, 1000);
        assert_non_null(p[i]);
        live += catmem_usable_size(p[i]);
    }
    return live;
}

static void test_peak_is_the_high_water_since_create_or_reset(void **state) {
    catmem_arena *a = catmem_arena_create("peaky");
    catmem_stats st;
    void *p[10];
    size_t live;
    int i;
    (void)state;
    assert_non_null(a);
    assert_int_equal(stats_of(a).peak, 0);
    live = alloc_ten(a, p);
    st = stats_of(a);
    assert_true(st.peak >= live);
    for (i = 0; i < 10; i++) catmem_free(a, p[i]);
    st = stats_of(a);
    assert_true(st.peak >= live); /* the high-water stays after the frees */
    assert_true(st.allocated < live);
    assert_int_equal(catmem_arena_reset(a), 0);
    assert_int_equal(stats_of(a).peak, 0); /* a reset starts it again */
    assert_int_equal(catmem_arena_release(a), 0);
}

/* With a limit, the system backend counts every call: the peak is exact without a reading in
   between. On jemalloc it counts blocks out of the arena, front caches included. */
static void test_peak_of_a_counted_arena_needs_no_reading(void **state) {
    catmem_arena *a = catmem_arena_create("counted");
    catmem_stats st;
    void *p[10];
    size_t live;
    int i;
    (void)state;
    assert_non_null(a);
    assert_int_equal(catmem_arena_set_limit(a, SIZE_MAX), 0);
    live = alloc_ten(a, p);
    for (i = 0; i < 10; i++) catmem_free(a, p[i]);
    st = stats_of(a);
    if (on_jemalloc())
        assert_true(st.peak >= live);
    else
        assert_int_equal(st.peak, live);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- nmalloc and ndalloc count catmem calls ---- */
static void *alloc_100(void *arg) {
    int i;
    for (i = 0; i < 100; i++) catmem_free((catmem_arena *)arg, catmem_alloc((catmem_arena *)arg, 48));
    return NULL;
}

static void test_counts_are_catmem_calls(void **state) {
    catmem_arena *a = catmem_arena_create("counting");
    catmem_stats st;
    pthread_t t;
    void *p, *q;
    int i;
    (void)state;
    assert_non_null(a);
    p = catmem_alloc(a, 100);
    assert_non_null(p);
    q = catmem_realloc(a, p, 5000); /* another class: the block moves (unless a memory
                                       checker's realloc grew it where it was) */
    assert_non_null(q);
    st = stats_of(a);
    if (q == p) { /* a realloc in place counts nothing */
        assert_int_equal(st.nmalloc, 1);
        assert_int_equal(st.ndalloc, 0);
        assert_non_null(q = catmem_realloc(a, q, 100000));
        assert_true(q != p);
        st = stats_of(a);
    }
    assert_int_equal(st.nmalloc, 2); /* an allocation, and the realloc's new block */
    assert_int_equal(st.ndalloc, 1); /* the realloc's old block */
    catmem_free(a, q);
    st = stats_of(a);
    assert_int_equal(st.nmalloc, 2);
    assert_int_equal(st.ndalloc, 2);
    /* another thread's calls count, and still do after it exits */
    assert_int_equal(pthread_create(&t, NULL, alloc_100, a), 0);
    pthread_join(t, NULL);
    st = stats_of(a);
    assert_int_equal(st.nmalloc, 102);
    assert_int_equal(st.ndalloc, 102);
    /* a reset counts the blocks it frees */
    for (i = 0; i < 50; i++) assert_non_null(catmem_alloc(a, 16 + i * 40));
    st = stats_of(a);
    assert_int_equal(st.nmalloc, 152);
    assert_int_equal(st.ndalloc, 102);
    assert_int_equal(catmem_arena_reset(a), 0);
    st = stats_of(a);
    assert_int_equal(st.nmalloc, 152);
    assert_int_equal(st.ndalloc, 152);
    /* the arena that gets the slot next starts from zero */
    assert_int_equal(catmem_arena_release(a), 0);
    a = catmem_arena_create("counting");
    assert_non_null(a);
    st = stats_of(a);
    assert_int_equal(st.nmalloc, 0);
    assert_int_equal(st.ndalloc, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_refuses_past_it_and_frees_make_room),
        cmocka_unit_test(test_limit_after_another_threads_busy_pair),
        cmocka_unit_test(test_limit_below_what_is_held),
        cmocka_unit_test(test_region_chunks_count),
        cmocka_unit_test(test_limit_errors),
        cmocka_unit_test(test_oom_handler_sees_the_limit),
        cmocka_unit_test(test_threads_race_past_a_limit),
        cmocka_unit_test(test_peak_is_the_high_water_since_create_or_reset),
        cmocka_unit_test(test_peak_of_a_counted_arena_needs_no_reading),
        cmocka_unit_test(test_counts_are_catmem_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
