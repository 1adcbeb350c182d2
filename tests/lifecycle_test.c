/* Regressions for the user's reports: arenas that accumulate on every init, init races, fork. */
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#if EXPECT_JEMALLOC
/* jemalloc's own count of arenas: the figure that grew on every init in the user's report. */
static unsigned backend_arena_count(void) {
    unsigned n = 0;
    size_t sz = sizeof n;
    assert_int_equal(test_mallctl("arenas.narenas", &n, &sz, NULL, 0), 0);
    return n;
}
#else
static unsigned backend_arena_count(void) { return 0; } /* malloc has no arenas to count */
#endif

#define RACERS 8

static pthread_barrier_t race_start;
static int race_result[RACERS];
static catmem_arena *race_handle[RACERS];

static void *racer(void *arg) {
    int i = (int)(intptr_t)arg;
    pthread_barrier_wait(&race_start);
    race_result[i] = catmem_init();
    race_handle[i] = catmem_arena_get(CATMEM_CACHE);
    return NULL;
}

/* Must run first: the very first init of the process, raced by 8 threads, then 100 more races. */
static void test_8_threads_racing_init(void **state) {
    pthread_t t[RACERS];
    unsigned before = backend_arena_count(), after_first = 0;
    int round, i, id = -1;
    (void)state;
    assert_false(catmem_is_initialized());
    for (round = 0; round < test_scaled(100); round++) {
        pthread_barrier_init(&race_start, NULL, RACERS);
        for (i = 0; i < RACERS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i), 0);
        for (i = 0; i < RACERS; i++) pthread_join(t[i], NULL);
        pthread_barrier_destroy(&race_start);
        for (i = 0; i < RACERS; i++) {
            assert_int_equal(race_result[i], 0);
            assert_ptr_equal(race_handle[i], race_handle[0]);
        }
        if (round == 0) {
            id = catmem_arena_id(race_handle[0]);
            after_first = backend_arena_count();
#if EXPECT_JEMALLOC
            assert_int_equal(after_first, before + CATMEM_KIND_COUNT); /* each created once */
#endif
        }
        assert_int_equal(catmem_arena_id(race_handle[0]), id);
        assert_int_equal(backend_arena_count(), after_first);
        catmem_shutdown();
    }
    (void)before;
    assert_int_equal(catmem_init(), 0);
}

static void test_10000_init_shutdown_cycles_keep_arena_ids(void **state) {
    catmem_arena *user = catmem_arena_create("user");
    int ids[CATMEM_KIND_COUNT + 1], cycle, k;
    unsigned count;
    (void)state;
    assert_non_null(user);
    for (k = 0; k < CATMEM_KIND_COUNT; k++)
        ids[k] = catmem_arena_id(catmem_arena_get((catmem_kind)k));
    ids[CATMEM_KIND_COUNT] = catmem_arena_id(user);
    count = backend_arena_count();
    for (cycle = 0; cycle < test_scaled(10000); cycle++) {
        void *p;
        catmem_shutdown();
        assert_int_equal(catmem_init(), 0);
        for (k = 0; k < CATMEM_KIND_COUNT; k++)
            assert_int_equal(catmem_arena_id(catmem_arena_get((catmem_kind)k)), ids[k]);
        assert_int_equal(catmem_arena_id(user), ids[CATMEM_KIND_COUNT]);
        /* Use an arena every cycle, so every cycle makes (and shutdown drops) a thread cache. */
        p = catmem_alloc(catmem_arena_get((catmem_kind)(cycle % CATMEM_KIND_COUNT)), 64);
        assert_non_null(p);
        catmem_free(catmem_arena_get((catmem_kind)(cycle % CATMEM_KIND_COUNT)), p);
    }
    assert_int_equal(backend_arena_count(), count);
    assert_int_equal(catmem_arena_release(user), 0);
}

static void test_create_release_cycles_reuse_backend_arenas(void **state) {
    catmem_arena *a, *b;
    unsigned count;
    int cycle, id_a = -1, id_b = -1;
    char name[32];
    (void)state;
    a = catmem_arena_create("warm-a"); /* reach the high-water mark: two user arenas at once */
    b = catmem_arena_create("warm-b");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_int_equal(catmem_arena_release(b), 0);
    count = backend_arena_count();
    for (cycle = 0; cycle < test_scaled(2000); cycle++) {
        snprintf(name, sizeof name, "a-%d", cycle);
        a = catmem_arena_create(name);
        snprintf(name, sizeof name, "b-%d", cycle);
        b = catmem_arena_create(name);
        assert_non_null(a);
        assert_non_null(b);
        if (cycle == 0) {
            id_a = catmem_arena_id(a);
            id_b = catmem_arena_id(b);
        }
        assert_true(catmem_arena_id(a) == id_a || catmem_arena_id(a) == id_b);
        assert_true(catmem_arena_id(b) == id_a || catmem_arena_id(b) == id_b);
        assert_non_null(catmem_strdup(a, "left behind")); /* release frees it */
        assert_int_equal(catmem_arena_release(b), 0);
        assert_int_equal(catmem_arena_release(a), 0);
    }
    assert_int_equal(backend_arena_count(), count);
}

static volatile int stop_worker;

static void *busy_worker(void *arg) {
    catmem_arena *a = (catmem_arena *)arg;
    while (!__atomic_load_n(&stop_worker, __ATOMIC_RELAXED)) {
        void *p = catmem_alloc(a, 48);
        catmem_free(a, p);
    }
    return NULL;
}

/* Moves blocks through its pair with the arena faster than a front cache keeps them: on jemalloc
   the pair gets a jemalloc cache of its own, which the fork may catch mid-change. */
static void *busier_worker(void *arg) {
    catmem_arena *a = (catmem_arena *)arg;
    static void *p[2000];
    int k;
    while (!__atomic_load_n(&stop_worker, __ATOMIC_RELAXED)) {
        for (k = 0; k < 2000; k++) p[k] = catmem_alloc(a, 512);
        for (k = 0; k < 2000; k++) catmem_free(a, p[k]);
    }
    return NULL;
}

/* In the child: blocks of `busier` come out distinct (each keeps its tag), before and after a
   reset. */
static int child_blocks_distinct(catmem_arena *busier) {
    static unsigned char *q[1000];
    int round, k, ok = 1;
    for (round = 0; round < 2; round++) {
        for (k = 0; k < 1000; k++) {
            q[k] = (unsigned char *)catmem_alloc(busier, 512);
            if (q[k] == NULL) return 0;
            memset(q[k], k & 0xff, 512);
        }
        for (k = 0; k < 1000; k++) ok = ok && q[k][0] == (k & 0xff) && q[k][511] == (k & 0xff);
        ok = ok && catmem_arena_reset(busier) == 0;
    }
    return ok;
}

/* A child of fork() can allocate, reset, create, release and shut down, even when other threads
   of the parent were allocating at the moment of the fork (on jemalloc, one of them busy enough
   to have a jemalloc cache of its own: the child must not use or flush that cache, which the
   fork may have caught mid-change). The busier worker runs on jemalloc only: elsewhere it adds
   nothing, and under AddressSanitizer a fork that catches a thread inside ASan's own malloc
   deadlocks the child (GCC 12's runtime), which the busier worker made likely. */
static void test_fork_child_can_use_catmem(void **state) {
    catmem_arena *shared = catmem_arena_create("fork-busy");
    catmem_arena *busier = catmem_arena_create("fork-busier");
    pthread_t worker, worker2;
    int round;
    (void)state;
    assert_non_null(shared);
    assert_non_null(busier);
    stop_worker = 0;
    assert_int_equal(pthread_create(&worker, NULL, busy_worker, shared), 0);
    if (EXPECT_JEMALLOC)
        assert_int_equal(pthread_create(&worker2, NULL, busier_worker, busier), 0);
    for (round = 0; round < 20; round++) {
        int status = -1;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            catmem_arena *mine;
            char *p = catmem_strdup(catmem_arena_get(CATMEM_REQUEST), "child");
            void *q = catmem_alloc(shared, 100);
            int ok = p != NULL && q != NULL && strcmp(p, "child") == 0;
            catmem_stats st;
            catmem_free(shared, q);
            /* The busy thread's cached blocks went back to the arena when the child started:
               what is left is at most the one block it held at the fork. */
            ok = ok && catmem_arena_stats(shared, &st) == 0 && st.allocated <= 48;
            ok = ok && catmem_arena_reset(catmem_arena_get(CATMEM_REQUEST)) == 0;
            ok = ok && catmem_arena_reset(shared) == 0;
            ok = ok && (!EXPECT_JEMALLOC || child_blocks_distinct(busier));
            mine = catmem_arena_create("child-only");
            ok = ok && mine != NULL && catmem_alloc(mine, 10) != NULL;
            ok = ok && catmem_arena_release(mine) == 0;
            catmem_shutdown();
            /* exec, not exit: a block that the busy thread was allocating at the fork is lost
               in the child by nature, and exec ends the child without a leak check. */
            execl(ok ? "/bin/true" : "/bin/false", "child", (char *)NULL);
            _exit(2);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    __atomic_store_n(&stop_worker, 1, __ATOMIC_RELAXED);
    pthread_join(worker, NULL);
    if (EXPECT_JEMALLOC) pthread_join(worker2, NULL);
    assert_int_equal(catmem_arena_release(shared), 0);
    assert_int_equal(catmem_arena_release(busier), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_8_threads_racing_init),
        cmocka_unit_test(test_10000_init_shutdown_cycles_keep_arena_ids),
        cmocka_unit_test(test_create_release_cycles_reuse_backend_arenas),
        cmocka_unit_test(test_fork_child_can_use_catmem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
