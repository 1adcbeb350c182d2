/* A bounded soak: threads allocate, free and reallocate in shared arenas, use regions, query
   statistics and create/release arenas of their own, at random, for CATMEM_SOAK_SECONDS (default
   5). Every block carries a pattern that is checked before it goes; arena counts stay bounded. */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define THREADS 4
#define SLOTS   128

static double deadline;
static catmem_arena *shared[2];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

typedef struct {
    int id;
    long ops, errors;
} soaker;

typedef struct {
    unsigned char *p;
    size_t n;
    catmem_arena *a;
    unsigned char tag;
} block;

/* Counts an error and says where, so that a failure in a long run can be read. */
static void soak_error(soaker *me, int line) {
    me->errors++;
    fprintf(stderr, "soak: thread %d: check at soak_test.c:%d failed (errno %d)\n", me->id, line,
            errno);
}

#define SOAK_ERROR(me) soak_error((me), __LINE__)

static int check(const block *b) {
    size_t i;
    for (i = 0; i < b->n; i += 1 + i / 8) /* every byte of small blocks, a sample of big ones */
        if (b->p[i] != b->tag) return 0;
    return b->p[b->n - 1] == b->tag;
}

static void *soak(void *arg) {
    soaker *me = (soaker *)arg;
    block blocks[SLOTS];
    catmem_region region;
    catmem_region_mark mark;
    catmem_arena *own = NULL;
    uint32_t seed = 0x2545f491u * (uint32_t)(me->id + 1);
    unsigned char *rp = NULL;
    int k, own_count = 0;
    char name[32];
    memset(blocks, 0, sizeof blocks);
    catmem_region_init(&region, catmem_arena_get(CATMEM_REQUEST));
    mark = catmem_region_save(&region);
    while (now() < deadline) {
        uint32_t op = rnd(&seed) % 100;
        block *b = &blocks[rnd(&seed) % SLOTS];
        me->ops++;
        if (op < 60) { /* replace a block: check, free, allocate, fill */
            if (b->p != NULL) {
                if (!check(b)) SOAK_ERROR(me);
                if (op & 1)
                    catmem_free(b->a, b->p);
                else
                    catmem_free_sized(b->a, b->p, b->n);
            }
            b->a = (own != NULL && op % 3 == 0) ? own : shared[op % 2];
            b->n = (op % 16 == 0) ? 1 + rnd(&seed) % 100000 : 1 + rnd(&seed) % 600;
            b->p = (unsigned char *)((op % 5 == 0) ? catmem_calloc(b->a, 1, b->n)
                                                   : catmem_alloc(b->a, b->n));
            if (b->p == NULL) {
                SOAK_ERROR(me);
                continue;
            }
            b->tag = (unsigned char)rnd(&seed);
            memset(b->p, b->tag, b->n);
        } else if (op < 70) { /* grow or shrink a block */
            unsigned char *q;
            size_t n;
            if (b->p == NULL) continue;
            if (!check(b)) SOAK_ERROR(me);
            n = 1 + rnd(&seed) % 4000;
            q = (unsigned char *)catmem_realloc(b->a, b->p, n);
            if (q == NULL) {
                SOAK_ERROR(me);
                continue;
            }
            if (q[0] != b->tag || (n >= b->n && q[b->n - 1] != b->tag)) SOAK_ERROR(me);
            b->p = q;
            b->n = n;
            memset(b->p, b->tag, b->n);
        } else if (op < 85) { /* region work */
            if (op == 70) {
                catmem_region_reset(&region);
                mark = catmem_region_save(&region);
                rp = NULL;
            } else if (op == 71) {
                if (catmem_region_restore(&region, mark) != 0) SOAK_ERROR(me);
                rp = NULL;
            } else {
                if (rp != NULL && rp[0] != 0x7e) SOAK_ERROR(me);
                rp = (unsigned char *)catmem_region_alloc(&region, 1 + rnd(&seed) % 300);
                if (rp == NULL) {
                    SOAK_ERROR(me);
                    continue;
                }
                rp[0] = 0x7e;
            }
        } else if (op < 95) { /* statistics, never inconsistent */
            catmem_stats st;
            if (catmem_arena_stats(shared[op % 2], &st) != 0 || st.active < st.allocated ||
                st.nmalloc < st.ndalloc)
                SOAK_ERROR(me);
            if (catmem_total_stats(&st) != 0) SOAK_ERROR(me);
        } else { /* an arena of our own: release it with its blocks, or make a new one */
            if (own != NULL) {
                for (k = 0; k < SLOTS; k++)
                    if (blocks[k].a == own) {
                        if (blocks[k].p != NULL && !check(&blocks[k])) SOAK_ERROR(me);
                        blocks[k].p = NULL; /* freed by the release */
                    }
                if (catmem_arena_release(own) != 0) SOAK_ERROR(me);
                own = NULL;
            } else {
                snprintf(name, sizeof name, "soak-%d-%d", me->id, own_count++);
                own = catmem_arena_create(name);
                if (own == NULL) SOAK_ERROR(me);
            }
        }
    }
    for (k = 0; k < SLOTS; k++)
        if (blocks[k].p != NULL) {
            if (!check(&blocks[k])) SOAK_ERROR(me);
            catmem_free(blocks[k].a, blocks[k].p);
        }
    if (own != NULL && catmem_arena_release(own) != 0) SOAK_ERROR(me);
    catmem_region_release(&region);
    return NULL;
}

static unsigned arena_count(void) {
#if EXPECT_JEMALLOC
    unsigned n = 0;
    size_t sz = sizeof n;
    assert_int_equal(test_mallctl("arenas.narenas", &n, &sz, NULL, 0), 0);
    return n;
#else
    return 0;
#endif
}

static void test_soak(void **state) {
    pthread_t t[THREADS];
    soaker s[THREADS];
    const char *env = getenv("CATMEM_SOAK_SECONDS");
    double seconds = env != NULL ? atof(env) : 5.0;
    long ops = 0;
    unsigned before;
    int i;
    catmem_stats st;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    shared[0] = catmem_arena_get(CATMEM_CACHE);
    shared[1] = catmem_arena_create("soak-shared");
    assert_non_null(shared[1]);
    before = arena_count();
    deadline = now() + seconds;
    for (i = 0; i < THREADS; i++) {
        s[i].id = i;
        s[i].ops = s[i].errors = 0;
        assert_int_equal(pthread_create(&t[i], NULL, soak, &s[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].errors, 0);
        ops += s[i].ops;
    }
    /* Each thread had at most one arena of its own at a time: slots were reused. */
    assert_true(arena_count() <= before + THREADS);
    assert_int_equal(catmem_arena_stats(shared[1], &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(shared[1]), 0);
    printf("soak: %ld operations in %.0f s on %d threads\n", ops, seconds, THREADS);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_soak)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
