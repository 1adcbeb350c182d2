/* The system engine against heap corruption: a linear overflow reaches no allocator metadata it
   can use, a forged free-list link and a double free stop the process with a message that names
   the arena, and a pointer catmem never handed out is refused. Runs on the variants where the
   system engine serves catmem (system, and runtime falling back to it).

   The overflows are real overflows, written through a volatile byte pointer computed from the
   block's address, so that the compiler neither sees nor removes them. Under AddressSanitizer
   every block is a malloc of its own (catmem.h, MEMORY CHECKERS) and ASan reports the overflow
   itself: those tests are skipped there, and the double free is refused with EINVAL instead. */
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

#if defined(CATMEMI_ASAN)
#  define BLOCKS_ARE_MALLOCS 1 /* the large-block path only: ASan watches each block */
#else
#  define BLOCKS_ARE_MALLOCS 0
#endif


/* Writes n pointer-sized copies of v starting at address at: the overflow. */
static void overwrite_words(uintptr_t at, uintptr_t v, int n) {
    volatile unsigned char *dst = (volatile unsigned char *)at;
    int i;
    size_t k;
    for (i = 0; i < n; i++)
        for (k = 0; k < sizeof v; k++)
            dst[(size_t)i * sizeof v + k] = (unsigned char)(v >> (8 * k));
}

/* A global the attack aims at: the old backend's free wrote a heap pointer into it. */
static void *volatile victim[32];

static int victim_untouched(void) {
    int i;
    for (i = 0; i < 32; i++)
        if (victim[i] != NULL) return 0;
    return 1;
}

/* issue 8's reproduction: two 64-byte blocks, the pointer-sized fields of the 48 bytes before
   the second overwritten with the address of a global, the second freed, the global read. The
   old backend kept a 48-byte header there (list links, heap, remote link) and its free wrote
   through the forged pointers; the engine keeps nothing between blocks. */
static void test_overflow_into_the_next_block_writes_nothing_elsewhere(void **state) {
    catmem_arena *a = catmem_arena_create("unlink");
    unsigned char *x, *y;
    (void)state;
    if (BLOCKS_ARE_MALLOCS) skip();
    assert_non_null(a);
    x = (unsigned char *)catmem_alloc(a, 64);
    y = (unsigned char *)catmem_alloc(a, 64);
    assert_non_null(x);
    assert_non_null(y);
    memset(x, 0, 64);
    overwrite_words((uintptr_t)y - 48, (uintptr_t)victim, 4);
    catmem_free(a, y);
    assert_true(victim_untouched());
    catmem_free(a, x);
    assert_int_equal(catmem_arena_release(a), 0);
}

static void double_free_at_once(void) {
    catmem_arena *a = catmem_arena_create("hardening");
    void *p = catmem_alloc(a, 64), *q, *r;
    catmem_free(a, p);
    errno = 0;
    catmem_free(a, p); /* the engine stops here */
    if (errno != EINVAL) _exit(3);
    q = catmem_alloc(a, 64);
    r = catmem_alloc(a, 64);
    _exit(q != NULL && r != NULL && q != r ? 0 : 4); /* never one block for two owners */
}

static void double_free_later(void) {
    catmem_arena *a = catmem_arena_create("hardening");
    void *p = catmem_alloc(a, 64), *q = catmem_alloc(a, 64), *r = catmem_alloc(a, 64);
    catmem_free(a, p);
    catmem_free(a, q);
    catmem_free(a, r);
    errno = 0;
    catmem_free(a, p); /* p is no longer the head of the list */
    _exit(errno == EINVAL ? 0 : 3);
}

static void check_double_free(void (*fn)(void)) {
    outcome o = run_child(fn);
    if (BLOCKS_ARE_MALLOCS) { /* refused with EINVAL, and the block went to one owner */
        assert_true(o.exited);
        assert_int_equal(o.status, 0);
        return;
    }
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "double free"));
    assert_non_null(strstr(o.err, "in arena 'hardening'"));
}

static void test_double_free_stops_the_process(void **state) {
    (void)state;
    check_double_free(double_free_at_once);
    check_double_free(double_free_later);
}

/* A linear overflow from one block into the free block after it rewrites its free-list link:
   the link no longer decodes to a block of the page when it is followed. */
static void forged_link(void) {
    catmem_arena *a = catmem_arena_create("hardening");
    unsigned char *x = (unsigned char *)catmem_alloc(a, 64);
    unsigned char *y = (unsigned char *)catmem_alloc(a, 64);
    int i;
    catmem_free(a, y);
    overwrite_words((uintptr_t)x + 64, (uintptr_t)victim, 1);
    for (i = 0; i < 100000; i++) (void)!catmem_alloc(a, 64); /* until y's link is followed */
    _exit(victim_untouched() ? 0 : 5);
}

static void test_forged_free_list_link_stops_the_process(void **state) {
    outcome o;
    (void)state;
    if (BLOCKS_ARE_MALLOCS) skip();
    o = run_child(forged_link);
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "corrupted free list"));
    assert_non_null(strstr(o.err, "in arena 'hardening'"));
}

/* Memory that catmem never handed out: refused, nothing written. */
static void test_foreign_pointer_is_refused(void **state) {
    catmem_arena *a = catmem_arena_create("foreign");
    char stack[64];
    void *m = malloc(64);
    (void)state;
    assert_non_null(a);
    assert_non_null(m);
    memset(stack, 7, sizeof stack);
    errno = 0;
    catmem_free(a, stack);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    catmem_free_any(m);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(catmem_usable_size(m), 0);
    assert_int_equal(stack[0], 7);
    free(m);
    assert_int_equal(catmem_arena_release(a), 0);
}

static volatile unsigned char sink;

static void use_after_free(void) {
    catmem_arena *a = catmem_arena_create("hardening");
    unsigned char *p = (unsigned char *)catmem_alloc(a, 64);
    memset(p, 1, 64);
    catmem_free(a, p);
    sink = p[8]; /* AddressSanitizer stops the child here */
}

static void overflow_by_one(void) {
    catmem_arena *a = catmem_arena_create("hardening");
    unsigned char *p = (unsigned char *)catmem_alloc(a, 64);
    volatile unsigned char *q = p;
    q[64] = 1; /* one byte past the block */
}

/* Under AddressSanitizer every block is a malloc of its own: ASan reports a use after free and
   an overflow by one byte, as for malloc. */
static void test_address_sanitizer_sees_every_block(void **state) {
    outcome o;
    (void)state;
    if (!BLOCKS_ARE_MALLOCS) skip();
    o = run_child(use_after_free);
    assert_false(o.exited && o.status == 0);
    assert_non_null(strstr(o.err, "heap-use-after-free"));
    o = run_child(overflow_by_one);
    assert_false(o.exited && o.status == 0);
    assert_non_null(strstr(o.err, "heap-buffer-overflow"));
}

static int setup(void **state) {
    (void)state;
    return catmem_init();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_into_the_next_block_writes_nothing_elsewhere),
        cmocka_unit_test(test_double_free_stops_the_process),
        cmocka_unit_test(test_forged_free_list_link_stops_the_process),
        cmocka_unit_test(test_foreign_pointer_is_refused),
        cmocka_unit_test(test_address_sanitizer_sees_every_block),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
