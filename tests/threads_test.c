/* catmem under threads: one arena shared by many threads, frees from other threads, thread churn,
   and reset/release while other threads hold caches of the arena. */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <limits.h> /* PTHREAD_DESTRUCTOR_ITERATIONS */
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

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void fill(unsigned char *p, size_t n, unsigned char tag) { memset(p, tag, n); }
static int intact(const unsigned char *p, size_t n, unsigned char tag) {
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != tag) return 0;
    return 1;
}

static size_t allocated(catmem_arena *a) {
    catmem_stats st;
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    return st.allocated;
}

/* ---- many threads, one arena ----------------------------------------------------------------- */

#define WORKERS 8
#define LIVE    64

typedef struct {
    catmem_arena *arena;
    int id;
    int errors;
} worker_arg;

static void *churn(void *arg) {
    worker_arg *w = (worker_arg *)arg;
    unsigned char *p[LIVE] = {0};
    size_t n[LIVE] = {0};
    uint32_t seed = 0x9e3779b9u * (uint32_t)(w->id + 1);
    int i, k;
    for (i = 0; i < test_scaled(20000); i++) {
        k = (int)(rnd(&seed) % LIVE);
        if (p[k] != NULL) {
            if (!intact(p[k], n[k], (unsigned char)(w->id * LIVE + k))) w->errors++;
            if (i & 1)
                catmem_free(w->arena, p[k]);
            else
                catmem_free_sized(w->arena, p[k], n[k]);
        }
        n[k] = (rnd(&seed) % 8 == 0) ? 1000 + rnd(&seed) % 60000 : 1 + rnd(&seed) % 512;
        p[k] = (unsigned char *)catmem_alloc(w->arena, n[k]);
        if (p[k] == NULL) {
            w->errors++;
            continue;
        }
        fill(p[k], n[k], (unsigned char)(w->id * LIVE + k));
    }
    for (k = 0; k < LIVE; k++) {
        if (p[k] == NULL) continue;
        if (!intact(p[k], n[k], (unsigned char)(w->id * LIVE + k))) w->errors++;
        catmem_free(w->arena, p[k]);
    }
    return NULL;
}

static void run_workers(catmem_arena *a, void *(*fn)(void *)) {
    pthread_t t[WORKERS];
    worker_arg w[WORKERS];
    int i;
    for (i = 0; i < WORKERS; i++) {
        w[i].arena = a;
        w[i].id = i;
        w[i].errors = 0;
        assert_int_equal(pthread_create(&t[i], NULL, fn, &w[i]), 0);
    }
    for (i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].errors, 0);
    }
}

static void test_many_threads_allocate_from_one_arena(void **state) {
    catmem_arena *a = catmem_arena_create("shared");
    (void)state;
    assert_non_null(a);
    run_workers(a, churn);
    /* Exited threads gave their caches back: nothing is left over. */
    assert_int_equal(allocated(a), 0);
    run_workers(catmem_arena_get(CATMEM_REQUEST), churn);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- frees from another thread --------------------------------------------------------------- */

#define QUEUE 256
static void *queue[QUEUE];
static int q_head, q_tail, q_done;
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg) {
    catmem_arena *a = (catmem_arena *)arg;
    int i;
    for (i = 0; i < test_scaled(20000); i++) {
        unsigned char *p = (unsigned char *)catmem_alloc(a, 16 + (size_t)(i % 200));
        assert_non_null(p);
        p[0] = (unsigned char)i;
        pthread_mutex_lock(&q_mu);
        while (q_tail - q_head == QUEUE) pthread_cond_wait(&q_cv, &q_mu);
        queue[q_tail++ % QUEUE] = p;
        pthread_cond_broadcast(&q_cv);
        pthread_mutex_unlock(&q_mu);
    }
    pthread_mutex_lock(&q_mu);
    q_done = 1;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
    return NULL;
}

static void *consumer(void *arg) {
    catmem_arena *a = (catmem_arena *)arg;
    int i = 0;
    for (;;) {
        unsigned char *p;
        pthread_mutex_lock(&q_mu);
        while (q_head == q_tail && !q_done) pthread_cond_wait(&q_cv, &q_mu);
        if (q_head == q_tail) {
            pthread_mutex_unlock(&q_mu);
            break;
        }
        p = (unsigned char *)queue[q_head++ % QUEUE];
        pthread_cond_broadcast(&q_cv);
        pthread_mutex_unlock(&q_mu);
        assert_int_equal(p[0], (unsigned char)i++);
        catmem_free(a, p);
    }
    return NULL;
}

static void test_blocks_freed_by_another_thread(void **state) {
    catmem_arena *a = catmem_arena_create("handoff");
    pthread_t p, c;
    (void)state;
    assert_non_null(a);
    q_head = q_tail = q_done = 0;
    assert_int_equal(pthread_create(&p, NULL, producer, a), 0);
    assert_int_equal(pthread_create(&c, NULL, consumer, a), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    assert_int_equal(allocated(a), 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- thread churn ---------------------------------------------------------------------------- */

static void *short_lived(void *arg) {
    catmem_arena *a = (catmem_arena *)arg;
    char *x = (char *)catmem_alloc(a, 32);
    char *y = (char *)catmem_alloc(catmem_arena_get(CATMEM_TASK), 700);
    char *z = (char *)catmem_calloc(a, 3, 1000);
    if (x == NULL || y == NULL || z == NULL || z[2999] != 0) return (void *)1;
    x[0] = y[0] = 'x';
    catmem_free(a, x);
    catmem_free(catmem_arena_get(CATMEM_TASK), y);
    catmem_free(a, z);
    return NULL;
}

/* 20,000 threads each make caches in two arenas and exit: caches die with their thread, and
   catmem never holds a jemalloc cache id (there are about 4,000) that thread churn could use up. */
static void test_20000_short_lived_threads(void **state) {
    catmem_arena *a = catmem_arena_create("churn");
    pthread_t t[WORKERS];
    int batch, i;
    (void)state;
    assert_non_null(a);
    for (batch = 0; batch < test_scaled(20000) / WORKERS; batch++) {
        for (i = 0; i < WORKERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, short_lived, a), 0);
        for (i = 0; i < WORKERS; i++) {
            void *ret = (void *)1;
            pthread_join(t[i], &ret);
            assert_null(ret);
        }
    }
    assert_int_equal(allocated(a), 0);
#if EXPECT_JEMALLOC
    {
        /* No cache id is held: a new one comes from the few that were ever live at once. */
        unsigned tc;
        size_t sz = sizeof tc;
        assert_int_equal(test_mallctl("tcache.create", &tc, &sz, NULL, 0), 0);
        assert_true(tc < 4 * WORKERS);
        assert_int_equal(test_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc), 0);
    }
#endif
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- reset and release while other threads hold caches of the arena -------------------------- */

#define HOLDERS 4
#define BLOCKS  400

typedef struct {
    catmem_arena **arena; /* read after each barrier: release may swap it */
    int id;
    unsigned char *p[BLOCKS];
    int errors;
} holder_arg;

static pthread_barrier_t phase;
/* Holders first make their pair busy (BUSY_BLOCKS below), so that on jemalloc it has a jemalloc
   cache of its own, holding blocks of the arena when the reset comes. */
static int holders_busy;

#define BUSY_BLOCKS 2500
#define BUSY_SIZE   512

/* Moves BUSY_BLOCKS blocks of BUSY_SIZE bytes (more than the thread's front-cache budget)
   through the thread's pair with a, rounds times: allocated, checked, freed; errors counted. */
static int make_busy(catmem_arena *a, int rounds) {
    static __thread void *p[BUSY_BLOCKS];
    int round, k, errors = 0;
    for (round = 0; round < rounds; round++) {
        for (k = 0; k < BUSY_BLOCKS; k++) {
            p[k] = catmem_alloc(a, BUSY_SIZE);
            if (p[k] == NULL) errors++;
        }
        for (k = 0; k < BUSY_BLOCKS; k++) {
            if (p[k] == NULL) continue;
            if (k % 64 == 0 && !catmem_arena_owns(a, p[k])) errors++;
            if (k & 1)
                catmem_free(a, p[k]);
            else
                catmem_free_sized(a, p[k], BUSY_SIZE);
        }
    }
    return errors;
}

/* jemalloc's count of cache fills from bin `bin` of a's arena: a busy pair's refills through
   its jemalloc cache are fills, blocks taken one mallocx at a time are not. */
static uint64_t arena_fills(catmem_arena *a, unsigned bin) {
    uint64_t epoch = 1, n = 0;
    size_t sz = sizeof n, isz = sizeof(unsigned);
    unsigned index;
    char name[64];
    /* jemalloc's index of a's arena, from one of its blocks (8 bytes: not bin's class). */
    void *probe = catmem_alloc(a, 8);
    assert_non_null(probe);
    assert_int_equal(test_mallctl("arenas.lookup", &index, &isz, &probe, sizeof probe), 0);
    catmem_free(a, probe);
    assert_int_equal(test_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
    snprintf(name, sizeof name, "stats.arenas.%u.bins.%u.nfills", index, bin);
    assert_int_equal(test_mallctl(name, &n, &sz, NULL, 0), 0);
    return n;
}
#define BIN_512 16 /* jemalloc's bin of 512-byte blocks */

static void alloc_tagged(holder_arg *h, catmem_arena *a, int tag_base) {
    int k;
    for (k = 0; k < BLOCKS; k++) {
        h->p[k] = (unsigned char *)catmem_alloc(a, 16 + (size_t)(k % 8) * 16);
        if (h->p[k] == NULL) {
            h->errors++;
            continue;
        }
        fill(h->p[k], 16 + (size_t)(k % 8) * 16, (unsigned char)(tag_base + h->id));
    }
}

static void check_tagged(holder_arg *h, int tag_base) {
    int k;
    for (k = 0; k < BLOCKS; k++)
        if (h->p[k] == NULL ||
            !intact(h->p[k], 16 + (size_t)(k % 8) * 16, (unsigned char)(tag_base + h->id)))
            h->errors++;
}

static void *holder(void *arg) {
    holder_arg *h = (holder_arg *)arg;
    int k;
    if (holders_busy) h->errors += make_busy(*h->arena, 2);
    /* Phase 1: allocate, then free every other block: the freed ones sit in this thread's cache. */
    alloc_tagged(h, *h->arena, 0);
    for (k = 0; k < BLOCKS; k += 2) catmem_free(*h->arena, h->p[k]);
    pthread_barrier_wait(&phase); /* main resets (or releases and re-creates) now */
    pthread_barrier_wait(&phase);
    /* Phase 2: allocate again. A cache still holding pointers into the reset arena would hand
       out blocks the arena also hands to others: the tags below would then be overwritten. */
    alloc_tagged(h, *h->arena, 100);
    pthread_barrier_wait(&phase);
    check_tagged(h, 100);
    pthread_barrier_wait(&phase);
    for (k = 0; k < BLOCKS; k++) catmem_free(*h->arena, h->p[k]);
    return NULL;
}

static void run_holders(catmem_arena **shared, int release) {
    pthread_t t[HOLDERS];
    static holder_arg h[HOLDERS + 1];
    int i;
    pthread_barrier_init(&phase, NULL, HOLDERS + 1);
    for (i = 0; i < HOLDERS; i++) {
        memset(&h[i], 0, sizeof h[i]);
        h[i].arena = shared;
        h[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, holder, &h[i]), 0);
    }
    pthread_barrier_wait(&phase);
    if (release) {
        assert_int_equal(catmem_arena_release(*shared), 0);
        *shared = catmem_arena_create("holders-2");
        assert_non_null(*shared);
    } else {
        assert_int_equal(catmem_arena_reset(*shared), 0);
    }
    assert_int_equal(allocated(*shared), 0);
    pthread_barrier_wait(&phase);
    memset(&h[HOLDERS], 0, sizeof h[HOLDERS]);
    h[HOLDERS].id = HOLDERS;
    alloc_tagged(&h[HOLDERS], *shared, 100); /* the main thread competes for the same memory */
    pthread_barrier_wait(&phase);
    check_tagged(&h[HOLDERS], 100);
    assert_int_equal(h[HOLDERS].errors, 0);
    pthread_barrier_wait(&phase);
    for (i = 0; i < HOLDERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].errors, 0);
    }
    for (i = 0; i < BLOCKS; i++) catmem_free(*shared, h[HOLDERS].p[i]);
    pthread_barrier_destroy(&phase);
}

static void test_reset_after_other_threads_used_the_arena(void **state) {
    catmem_arena *a = catmem_arena_create("holders");
    (void)state;
    assert_non_null(a);
    run_holders(&a, 0);
    assert_int_equal(allocated(a), 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_release_after_other_threads_used_the_arena(void **state) {
    catmem_arena *a = catmem_arena_create("holders");
    (void)state;
    assert_non_null(a);
    run_holders(&a, 1);
    assert_int_equal(allocated(a), 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* The same with busy pairs: on jemalloc their own jemalloc caches hold blocks of the arena, which
   the reset must flush first, or they would hand out blocks the arena also hands to others (the
   tags would show it). The fills prove the pairs had those caches: a built-in arena, for on
   jemalloc a user arena may be small (its busy threads' caches take blocks from its chunks),
   which the release half tests. */
static void test_reset_and_release_after_busy_pairs(void **state) {
    catmem_arena *task = catmem_arena_get(CATMEM_TASK), *a = catmem_arena_create("busy-holders");
    (void)state;
    assert_non_null(a);
    holders_busy = 1;
    run_holders(&task, 0);
    if (EXPECT_JEMALLOC) assert_true(arena_fills(task, BIN_512) > 0);
    run_holders(&a, 0);
    run_holders(&a, 1);
    holders_busy = 0;
    assert_int_equal(allocated(a), 0);
    assert_int_equal(allocated(task), 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- busy pairs keep arenas separate, and go with their thread ------------------------------- */

/* Busy pairs with A and with B in every thread; then blocks freed into A (past the front cache,
   so into A's jemalloc cache) must not come back from B, checked with jemalloc's owner. */
static void *busy_two(void *arg) {
    worker_arg *w = (worker_arg *)arg;
    catmem_arena *a = w->arena, *b = catmem_arena_get(CATMEM_CACHE);
    static __thread void *p[BUSY_BLOCKS];
    int k;
    w->errors += make_busy(a, 2) + make_busy(b, 2);
    for (k = 0; k < BUSY_BLOCKS; k++)
        if ((p[k] = catmem_alloc(a, BUSY_SIZE)) == NULL) w->errors++;
    for (k = 0; k < BUSY_BLOCKS; k++) catmem_free(a, p[k]);
    for (k = 0; k < BUSY_BLOCKS; k++) {
        p[k] = catmem_alloc(b, BUSY_SIZE);
        if (p[k] == NULL || !catmem_arena_owns(b, p[k]) || catmem_arena_owns(a, p[k])) w->errors++;
    }
    for (k = 0; k < BUSY_BLOCKS; k++) catmem_free(b, p[k]);
    return NULL;
}

/* A and B built-in: on jemalloc they are jemalloc arenas of their own (user arenas may be
   small, and share one). */
static void test_busy_pairs_keep_arenas_separate(void **state) {
    catmem_arena *a = catmem_arena_get(CATMEM_TASK);
    uint64_t fills_a, fills_b;
    (void)state;
    fills_b = EXPECT_JEMALLOC ? arena_fills(catmem_arena_get(CATMEM_CACHE), BIN_512) : 0;
    run_workers(a, busy_two);
    /* Every worker exited: their jemalloc caches went back with their front caches. */
    assert_int_equal(allocated(a), 0);
    if (EXPECT_JEMALLOC) {
        fills_a = arena_fills(a, BIN_512);
        assert_true(fills_a > 0);
        assert_true(arena_fills(catmem_arena_get(CATMEM_CACHE), BIN_512) > fills_b);
    }
}

/* ---- arenas stay separate under threads ------------------------------------------------------ */

static void *two_arenas(void *arg) {
    worker_arg *w = (worker_arg *)arg;
    catmem_arena *mine = w->arena, *other = catmem_arena_get(CATMEM_RESPONSE);
    void *p[100], *q[100];
    int round, k;
    for (round = 0; round < 50; round++) {
        for (k = 0; k < 100; k++) {
            p[k] = catmem_alloc(mine, 8 + (size_t)k * 8);
            q[k] = catmem_alloc(other, 8 + (size_t)k * 8);
            if (!catmem_arena_owns(mine, p[k]) || !catmem_arena_owns(other, q[k])) w->errors++;
        }
        for (k = 0; k < 100; k++) {
            catmem_free(mine, p[k]);
            catmem_free(other, q[k]);
        }
    }
    return NULL;
}

static void test_arenas_stay_separate_under_threads(void **state) {
    catmem_arena *a = catmem_arena_create("separate");
    (void)state;
    assert_non_null(a);
    run_workers(a, two_arenas);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- a block freed into one arena never comes back from another ----------------------------- */

#define SEP_BLOCKS 300
static size_t sep_size(int k) { return (size_t)1 + (size_t)(k * 37) % 3000; }

/* Each thread fills its cache for A with A's blocks, then allocates the same sizes from B, then
   from A again. jemalloc says who owns what (arenas.lookup, behind catmem_arena_owns); on the
   system backend, the block headers do. */
static void *free_into_a_then_use_b(void *arg) {
    worker_arg *w = (worker_arg *)arg;
    catmem_arena *a = w->arena, *b = catmem_arena_get(CATMEM_CACHE);
    void *freed[SEP_BLOCKS], *q[SEP_BLOCKS];
    int k, j;
    for (k = 0; k < SEP_BLOCKS; k++) {
        freed[k] = catmem_alloc(a, sep_size(k));
        if (freed[k] == NULL || !catmem_arena_owns(a, freed[k])) w->errors++;
    }
    for (k = 0; k < SEP_BLOCKS; k++) catmem_free(a, freed[k]);
    for (k = 0; k < SEP_BLOCKS; k++) {
        q[k] = catmem_alloc(b, sep_size(k));
        if (q[k] == NULL || !catmem_arena_owns(b, q[k]) || catmem_arena_owns(a, q[k])) w->errors++;
        /* On malloc an address can come back in another arena's block, legitimately. */
        for (j = 0; EXPECT_JEMALLOC && j < SEP_BLOCKS; j++)
            if (q[k] == freed[j]) w->errors++;
    }
    for (k = 0; k < SEP_BLOCKS; k++) catmem_free_sized(b, q[k], sep_size(k));
    for (k = 0; k < SEP_BLOCKS; k++) {
        q[k] = catmem_alloc(a, sep_size(k)); /* A's cache serves A only */
        if (q[k] == NULL || !catmem_arena_owns(a, q[k])) w->errors++;
    }
    for (k = 0; k < SEP_BLOCKS; k++) catmem_free(a, q[k]);
    return NULL;
}

static void test_blocks_freed_into_one_arena_never_come_back_from_another(void **state) {
    catmem_arena *a = catmem_arena_create("freed-into-a");
    (void)state;
    assert_non_null(a);
    run_workers(a, free_into_a_then_use_b);
    assert_int_equal(allocated(a), 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* ---- frees that name no arena ---------------------------------------------------------------- */

/* Each worker allocates ANY_BLOCKS blocks in each of ANY_ARENAS arenas (past CATMEM_OWN_ARENAS
   with the built-in ones and the other tests' arenas: some are small), then frees with
   catmem_free_any the blocks its neighbour made, while the others do the same: every arena's
   counts must then be exact, whichever thread freed its blocks and through whichever cache. */
#define ANY_ARENAS 80
#define ANY_BLOCKS 40
static catmem_arena *any_arena[ANY_ARENAS];
static void *any_block[WORKERS][ANY_ARENAS][ANY_BLOCKS];
static pthread_barrier_t any_made;

static void *any_worker(void *arg) {
    int t = (int)(intptr_t)arg, i, j, bad = 0;
    for (i = 0; i < ANY_ARENAS; i++)
        for (j = 0; j < ANY_BLOCKS; j++) {
            size_t size = (size_t)((i * 131 + j * 977 + t * 61) % (j % 8 == 7 ? 70000 : 3000)) + 1;
            any_block[t][i][j] = catmem_alloc(any_arena[i], size);
            if (any_block[t][i][j] == NULL) bad = 1;
        }
    pthread_barrier_wait(&any_made);
    for (j = 0; j < ANY_BLOCKS; j++)
        for (i = 0; i < ANY_ARENAS; i++) {
            void *p = any_block[(t + 1) % WORKERS][i][j];
            if (!catmem_arena_owns(any_arena[i], p)) bad = 1;
            catmem_free_any(p);
        }
    return bad ? (void *)1 : NULL;
}

static void free_any_everywhere(void) {
    pthread_t t[WORKERS];
    catmem_stats st;
    void *bad;
    int i;
    for (i = 0; i < ANY_ARENAS; i++) assert_non_null(any_arena[i] = catmem_arena_create(NULL));
    assert_int_equal(pthread_barrier_init(&any_made, NULL, WORKERS), 0);
    for (i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, any_worker, (void *)(intptr_t)i), 0);
    for (i = 0; i < WORKERS; i++) {
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
    pthread_barrier_destroy(&any_made);
    for (i = 0; i < ANY_ARENAS; i++) {
        assert_int_equal(catmem_arena_stats(any_arena[i], &st), 0);
        assert_int_equal(st.allocated, 0);
        assert_int_equal(st.nmalloc, WORKERS * ANY_BLOCKS);
        assert_int_equal(st.ndalloc, WORKERS * ANY_BLOCKS);
    }
}

static void test_free_any_from_many_threads_keeps_every_arenas_counts(void **state) {
    int i;
    (void)state;
    free_any_everywhere();
    for (i = 0; i < ANY_ARENAS; i++) assert_int_equal(catmem_arena_release(any_arena[i]), 0);
}

/* A fork child frees what its parent's threads allocated in many arenas: the owners come from
   the same map, and the counts the child sees are exact. */
static void test_free_any_in_a_fork_child(void **state) {
    catmem_stats st;
    pid_t pid;
    int i, j, status, bad = 0;
    (void)state;
    for (i = 0; i < ANY_ARENAS; i++) assert_non_null(any_arena[i] = catmem_arena_create(NULL));
    for (i = 0; i < ANY_ARENAS; i++)
        for (j = 0; j < ANY_BLOCKS; j++)
            assert_non_null(any_block[0][i][j] = catmem_alloc(any_arena[i], (size_t)j * 400 + 1));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (i = 0; i < ANY_ARENAS; i++)
            for (j = 0; j < ANY_BLOCKS; j++) {
                void *p = any_block[0][i][j];
                if (catmem_usable_size(p) < (size_t)j * 400 + 1) bad = 1;
                if ((p = catmem_realloc_any(p, (size_t)j * 500 + 1)) == NULL) bad = 1;
                catmem_free_any(p);
            }
        for (i = 0; i < ANY_ARENAS; i++)
            if (catmem_arena_stats(any_arena[i], &st) != 0 || st.allocated != 0 ||
                st.nmalloc != st.ndalloc)
                bad = 1;
        _exit(bad);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (i = 0; i < ANY_ARENAS; i++) {
        for (j = 0; j < ANY_BLOCKS; j++) catmem_free_any(any_block[0][i][j]);
        assert_int_equal(catmem_arena_stats(any_arena[i], &st), 0);
        assert_int_equal(st.allocated, 0);
        assert_int_equal(catmem_arena_release(any_arena[i]), 0);
    }
}

/* ---- large blocks under threads and fork ----------------------------------------------------- */

/* Workers trade large blocks through shared slots (a block is freed, or realloc'ed and freed,
   by whichever thread takes it out: mostly not its maker, so its heap's lock is taken by
   others), asking usable_size of each; the main thread forks meanwhile, and each child uses
   large blocks at once: a lock held across fork() by a worker would hang it (alarm). The
   arena's counts must be exact at the end. */
#define LSLOTS 64
/* The sanitizers' allocators do not survive a fork while other threads are inside them: gcc
   12's AddressSanitizer hangs the child on its allocator's mutex, and ThreadSanitizer does not
   support it. Under Valgrind each child would report the blocks the vanished threads held as
   leaks. There the workers run without forks. */
#if defined(CATMEMI_ASAN)
#  define FORKS_AMID_THREADS 0
#else
#  define FORKS_AMID_THREADS (!UNDER_TSAN && !RUNNING_ON_VALGRIND)
#endif
static catmem_arena *large_arena;
static unsigned char *large_slot[LSLOTS];
static int large_forked; /* the main thread's forks are done: workers run until then */

static size_t large_size(uint32_t *seed) { return 16385 + rnd(seed) % (300u << 10); }
/* A block holds its size in its first word and its last byte. */
static unsigned char *large_make(catmem_arena *a, size_t n) {
    unsigned char *p = (unsigned char *)catmem_alloc(a, n);
    if (p == NULL) return NULL;
    memcpy(p, &n, sizeof n);
    p[n - 1] = (unsigned char)n;
    return p;
}
static int large_good(const unsigned char *p) {
    size_t n;
    memcpy(&n, p, sizeof n);
    return catmem_usable_size(p) >= n && p[n - 1] == (unsigned char)n;
}

static void *large_worker(void *arg) {
    uint32_t seed = 0x2545f491u * (uint32_t)((uintptr_t)arg + 1);
    int i, bad = 0;
    for (i = 0; i < test_scaled(1000) || !__atomic_load_n(&large_forked, __ATOMIC_ACQUIRE); i++) {
        unsigned k = rnd(&seed) % LSLOTS;
        unsigned char *p = large_make(large_arena, large_size(&seed)), *x;
        if (p == NULL) bad = 1;
        x = __atomic_exchange_n(&large_slot[k], p, __ATOMIC_ACQ_REL);
        if (x == NULL) continue;
        if (!large_good(x)) bad = 1;
        if (rnd(&seed) % 4 == 0) { /* grows or shrinks, keeping what fits */
            size_t n = large_size(&seed), old;
            memcpy(&old, x, sizeof old);
            if ((x = (unsigned char *)catmem_realloc(large_arena, x, n)) == NULL) {
                bad = 1;
                continue;
            }
            if (n < old) old = n;
            memcpy(x, &old, sizeof old);
            x[old - 1] = (unsigned char)old;
            if (!large_good(x)) bad = 1;
        }
        catmem_free(large_arena, x);
    }
    return bad ? (void *)1 : NULL;
}

/* Waits up to 30 s for child pid: 0 when it hung (it is killed; a lock held across fork() can
   hang its fork handlers, before any code of the child's could set an alarm). */
static int wait_a_while(pid_t pid, int *status) {
    int ms;
    for (ms = 0; ms < 30000; ms++) {
        if (waitpid(pid, status, WNOHANG) == pid) return 1;
        usleep(1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return 0;
}

/* In a fork child: large blocks in the parent's arena and a new one, freed, realloc'ed. */
static int large_child(void) {
    catmem_arena *b = catmem_arena_create(NULL);
    unsigned char *p[8];
    uint32_t seed = 7;
    int i, bad = b == NULL;
    for (i = 0; !bad && i < 8; i++)
        if ((p[i] = large_make(i % 2 ? b : large_arena, large_size(&seed))) == NULL) bad = 1;
    for (i = 0; !bad && i < 8; i++) {
        bad |= !large_good(p[i]);
        catmem_free_any(p[i]);
    }
    for (i = 0; !bad && i < LSLOTS; i++) /* the workers' blocks, as the fork left them */
        if (large_slot[i] != NULL) {
            bad |= !large_good(large_slot[i]);
            catmem_free(large_arena, large_slot[i]);
        }
    /* The workers' heaps, orphans now, as the fork caught them: a reset walks their lists. */
    return bad || catmem_arena_release(b) != 0 || catmem_arena_reset(large_arena) != 0;
}

static void test_large_blocks_across_threads_and_forks(void **state) {
    pthread_t t[WORKERS];
    catmem_stats st;
    void *bad;
    int i, status;
    (void)state;
    assert_non_null(large_arena = catmem_arena_create("large"));
    __atomic_store_n(&large_forked, 0, __ATOMIC_RELAXED); /* before the workers read it */
    for (i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, large_worker, (void *)(intptr_t)i), 0);
    for (i = 0; i < test_scaled(100) && FORKS_AMID_THREADS; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) _exit(large_child());
        assert_true(wait_a_while(pid, &status));
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    __atomic_store_n(&large_forked, 1, __ATOMIC_RELEASE);
    for (i = 0; i < WORKERS; i++) {
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
    for (i = 0; i < LSLOTS; i++)
        if (large_slot[i] != NULL) {
            assert_true(large_good(large_slot[i]));
            catmem_free(large_arena, large_slot[i]);
            large_slot[i] = NULL;
        }
    assert_int_equal(catmem_arena_stats(large_arena, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(st.nmalloc, st.ndalloc);
    assert_true(st.nmalloc >= (uint64_t)WORKERS * test_scaled(1000));
    assert_int_equal(catmem_arena_release(large_arena), 0);
}

/* A thread that still allocates and frees after catmem's thread-exit destructor ran, in every
   round glibc gives destructors (a newer key's, which runs after catmem's), the last one
   included: after it nothing of catmem may stay linked to the thread, whose storage the next
   thread reuses (on jemalloc a thread rejoining there corrupted catmem's list of threads and
   crashed a later exit), and nothing it took may stay out of the next threads' reach. */
static pthread_key_t late_key;
static catmem_arena *late_arena;

/* ThreadSanitizer finishes a thread itself in the last round (its key, older than this one, runs
   first): an allocation after that crashes inside it. With clang 14's TSan an allocation in the
   round before crashed too (a CHECK in an interceptor, system engine: the destructor it re-arms
   runs in the last round). There the last two rounds are left out; the earlier ones still come
   after catmem's own destructor. */
#define LATE_ROUNDS (PTHREAD_DESTRUCTOR_ITERATIONS - 2 * UNDER_TSAN)

static void late_destructor(void *arg) {
    uintptr_t round = (uintptr_t)arg;
    void *p = catmem_alloc(late_arena, 24 + round);
    assert_non_null(p);
    catmem_free(late_arena, p);
    if (round < LATE_ROUNDS) /* asks for every further round */
        pthread_setspecific(late_key, (void *)(round + 1));
}

static void *late_thread(void *arg) {
    catmem_free(late_arena, catmem_alloc(late_arena, 40));
    pthread_setspecific(late_key, (void *)1);
    return arg;
}

static void test_allocation_in_every_destructor_round(void **state) {
    pthread_t t[WORKERS];
    int round, i;
    (void)state;
    late_arena = catmem_arena_create("late");
    assert_non_null(late_arena);
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    for (round = 0; round < test_scaled(200); round++) {
        for (i = 0; i < WORKERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, late_thread, NULL), 0);
        for (i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    }
    assert_int_equal(allocated(late_arena), 0);
    {
        /* What a thread took after its exit ran went back for the next threads to reuse: on
           the system engine a heap kept past the last round held a 1 MiB segment for good,
           one per thread (at least 80 MiB here). */
        catmem_stats st;
        assert_int_equal(catmem_arena_stats(late_arena, &st), 0);
        assert_true(st.mapped <= (size_t)32 << 20);
    }
    assert_int_equal(catmem_arena_release(late_arena), 0);
    pthread_key_delete(late_key);
}

static int setup(void **state) {
    (void)state;
    return catmem_init();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads_allocate_from_one_arena),
        cmocka_unit_test(test_blocks_freed_by_another_thread),
        cmocka_unit_test(test_20000_short_lived_threads),
        cmocka_unit_test(test_allocation_in_every_destructor_round),
        cmocka_unit_test(test_reset_after_other_threads_used_the_arena),
        cmocka_unit_test(test_release_after_other_threads_used_the_arena),
        cmocka_unit_test(test_reset_and_release_after_busy_pairs),
        cmocka_unit_test(test_busy_pairs_keep_arenas_separate),
        cmocka_unit_test(test_arenas_stay_separate_under_threads),
        cmocka_unit_test(test_blocks_freed_into_one_arena_never_come_back_from_another),
        cmocka_unit_test(test_free_any_from_many_threads_keeps_every_arenas_counts),
        cmocka_unit_test(test_free_any_in_a_fork_child),
        cmocka_unit_test(test_large_blocks_across_threads_and_forks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
