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
#include <unistd.h>
#include <cmocka.h>
#include "child.h"


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

/* A released arena's handle, its slot already reused by a new arena: every use stops the
   process, naming the handle, its id and the generations. */
static void use_released_handle_to_alloc(void) {
    catmem_arena *old = catmem_arena_create("dbg-old");
    (void)catmem_arena_release(old);
    (void)catmem_arena_create("dbg-new"); /* the same slot, a new generation */
    _exit(catmem_alloc(old, 16) == NULL ? 0 : 3);
}
static void use_released_handle_to_reset(void) {
    catmem_arena *old = catmem_arena_create(NULL);
    (void)catmem_arena_release(old);
    (void)catmem_arena_reset(old);
    _exit(0);
}

static void test_use_of_a_released_handle_aborts_naming_it(void **state) {
    void (*uses[2])(void) = {use_released_handle_to_alloc, use_released_handle_to_reset};
    int i;
    (void)state;
    for (i = 0; i < 2; i++) {
        outcome o = run_child(uses[i]);
        assert_false(o.exited);
        assert_int_equal(o.status, SIGABRT);
        assert_non_null(strstr(o.err, "catmem: use of the handle 0x"));
        assert_non_null(strstr(o.err, "of a released arena (id "));
        assert_non_null(strstr(o.err, "generation 1; the slot's arena is at generation 2"));
    }
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

/* Reads p, which is no longer the program's, where a checker watches: ASan stops the child;
   memcheck's report goes to its own descriptor, so a line on stderr says it counted one.
   Returns when nothing watches. */
static void read_watched(const unsigned char *p) {
    if (watcher() == WATCH_ASAN) {
        sink = p[0]; /* AddressSanitizer reports this read and stops the child */
        _exit(0);
    }
#if CATMEM_VALGRIND
    if (watcher() == WATCH_VALGRIND) {
        unsigned before = VALGRIND_COUNT_ERRORS;
        sink = p[0];
        if (VALGRIND_COUNT_ERRORS > before) fputs("memcheck reported the read\n", stderr);
        _exit(0);
    }
#endif
}

static void use_after_region_reset(void) {
    catmem_region r;
    unsigned char *p;
    catmem_region_init(&r, catmem_arena_get(CATMEM_REQUEST));
    p = (unsigned char *)catmem_region_alloc(&r, 32);
    memset(p, 7, 32);
    catmem_region_reset(&r);
    read_watched(p);
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
    read_watched(p);
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
        cmocka_unit_test(test_use_of_a_released_handle_aborts_naming_it),
        cmocka_unit_test(test_correct_frees_pass_the_checks),
        cmocka_unit_test(test_use_after_region_reset_is_caught),
        cmocka_unit_test(test_use_after_free_of_an_arena_block_is_caught),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
