/* CATMEM_DEBUG=1 turns misuse that a release build cannot report into a clear abort, and makes
   region memory that was taken back unusable: ASan reports a use after reset, and without ASan
   the memory reads as 0xdd. Runs against the _debug libraries. */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
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

typedef struct {
    int exited;     /* exited normally */
    int status;     /* exit status or signal */
    char err[8192]; /* what it printed on stderr */
} outcome;

/* Runs fn in a child process and collects how it ended and what it said. */
static outcome run_child(void (*fn)(void)) {
    outcome o;
    int fds[2], st = 0;
    ssize_t got, n = 0;
    pid_t pid;
    memset(&o, 0, sizeof o);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    while ((got = read(fds[0], o.err + n, sizeof o.err - 1 - (size_t)n)) > 0) n += got;
    close(fds[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    o.exited = WIFEXITED(st);
    o.status = o.exited ? WEXITSTATUS(st) : WTERMSIG(st);
    return o;
}

static void free_into_wrong_arena(void) {
    catmem_arena *a = catmem_arena_create("dbg-a"), *b = catmem_arena_create("dbg-b");
    void *p = catmem_alloc(a, 64);
    catmem_free(b, p);
}

static void test_free_into_the_wrong_arena_aborts_with_a_message(void **state) {
    outcome o = run_child(free_into_wrong_arena);
    (void)state;
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "freed into arena 'dbg-b' but belongs to arena 'dbg-a'"));
}

static void free_with_null_handle(void) {
    void *p = catmem_alloc(catmem_arena_get(CATMEM_CACHE), 64);
    catmem_free(NULL, p);
}

static void test_free_with_a_null_handle_aborts_with_a_message(void **state) {
    outcome o = run_child(free_with_null_handle);
    (void)state;
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "invalid arena handle"));
}

static void right_arena_is_fine(void) {
    catmem_arena *a = catmem_arena_create("dbg-ok");
    void *p = catmem_alloc(a, 64), *q = catmem_aligned_alloc(a, 256, 10);
    catmem_free(a, p);
    catmem_free_sized(a, catmem_alloc(a, 20), 20);
    catmem_free(a, q);
    _exit(catmem_arena_release(a) == 0 ? 0 : 3);
}

static void test_correct_frees_pass_the_checks(void **state) {
    outcome o = run_child(right_arena_is_fine);
    (void)state;
    assert_true(o.exited);
    assert_int_equal(o.status, 0);
}

static volatile unsigned char sink;

/* Who watches memory in this run: AddressSanitizer, Valgrind's memcheck, or only the debug
   fill. */
enum { WATCH_FILL, WATCH_ASAN, WATCH_VALGRIND };
static int watcher(void) {
#if defined(CATMEMI_ASAN)
    return WATCH_ASAN;
#elif CATMEM_VALGRIND
    return RUNNING_ON_VALGRIND ? WATCH_VALGRIND : WATCH_FILL;
#else
    return WATCH_FILL;
#endif
}

static void use_after_region_reset(void) {
    catmem_region r;
    unsigned char *p;
    catmem_region_init(&r, catmem_arena_get(CATMEM_REQUEST));
    p = (unsigned char *)catmem_region_alloc(&r, 32);
    memset(p, 7, 32);
    catmem_region_reset(&r);
    if (watcher() == WATCH_ASAN) {
        sink = p[0]; /* AddressSanitizer reports this read and stops the child */
        _exit(0);
    }
#if CATMEM_VALGRIND
    if (watcher() == WATCH_VALGRIND) {
        /* memcheck writes its report to its own descriptor, not to our pipe: count instead. */
        unsigned before = VALGRIND_COUNT_ERRORS;
        sink = p[0];
        if (VALGRIND_COUNT_ERRORS > before) fputs("memcheck reported the read\n", stderr);
        _exit(0);
    }
#endif
    /* Otherwise the memory still belongs to the warm chunk: it reads as the debug fill. */
    _exit(p[0] == 0xdd && p[31] == 0xdd ? 0 : 4);
}

static void test_use_after_region_reset_is_caught(void **state) {
    outcome o = run_child(use_after_region_reset);
    (void)state;
    switch (watcher()) {
    case WATCH_ASAN:
        assert_false(o.exited && o.status == 0);
        assert_non_null(strstr(o.err, "use-after-poison"));
        break;
    case WATCH_VALGRIND:
        assert_non_null(strstr(o.err, "memcheck reported the read"));
        break;
    default:
        assert_true(o.exited);
        assert_int_equal(o.status, 0);
    }
}

static void use_after_free(void) {
    catmem_arena *a = catmem_arena_get(CATMEM_CACHE);
    unsigned char *p = (unsigned char *)catmem_alloc(a, 48);
    memset(p, 7, 48);
    catmem_free(a, p);
    if (watcher() == WATCH_ASAN) {
        sink = p[0]; /* AddressSanitizer reports this read and stops the child */
        _exit(0);
    }
#if CATMEM_VALGRIND
    if (watcher() == WATCH_VALGRIND) {
        unsigned before = VALGRIND_COUNT_ERRORS;
        sink = p[0];
        if (VALGRIND_COUNT_ERRORS > before) fputs("memcheck reported the read\n", stderr);
    }
#endif
    _exit(0);
}

/* On the system backend a watched build gives every block a malloc of its own (the manual's
   SYSTEM BACKEND): the checker reports a use after free of an arena block. jemalloc's blocks
   are invisible to both checkers. */
static void test_use_after_free_of_an_arena_block_is_caught(void **state) {
    outcome o;
    (void)state;
    if (EXPECT_JEMALLOC || watcher() == WATCH_FILL) skip();
    o = run_child(use_after_free);
    if (watcher() == WATCH_ASAN) {
        assert_false(o.exited && o.status == 0);
        assert_non_null(strstr(o.err, "heap-use-after-free"));
    } else {
        assert_non_null(strstr(o.err, "memcheck reported the read"));
    }
}

static int setup(void **state) {
    (void)state;
    return catmem_init();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_into_the_wrong_arena_aborts_with_a_message),
        cmocka_unit_test(test_free_with_a_null_handle_aborts_with_a_message),
        cmocka_unit_test(test_correct_frees_pass_the_checks),
        cmocka_unit_test(test_use_after_region_reset_is_caught),
        cmocka_unit_test(test_use_after_free_of_an_arena_block_is_caught),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
