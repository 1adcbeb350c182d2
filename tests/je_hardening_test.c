/* The jemalloc backend against heap corruption: the front caches keep their free-list links in
   the free blocks, where an overflow of the block before can reach them. A link rewritten
   without catmem's key, whole or in part, stops the process at the allocation that would
   follow it, instead of handing out the address written (issue 20, A); a block freed twice
   while the thread's cache holds it stops it too, in a row or with other frees between (B).
   Runs on the variants
   where jemalloc serves catmem, in an arena with a jemalloc arena of its own and in a small
   one (past the first CATMEM_OWN_ARENAS). */
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
#include "reuse.h"

static char target[64]; /* where the forged link points */

/* The arena the attack runs in: the first user arena, or one past every arena with a jemalloc
   arena of its own (busy, so that its threads have front caches). The arenas made to get
   there are released: the next arena made has a jemalloc arena of its own again. */
static int small_kind;
static catmem_arena *victim_arena(void) {
    catmem_arena *a, *own[64]; /* CATMEM_OWN_ARENAS is 64 */
    int i;
    if (!small_kind) return catmem_arena_create("hardening");
    for (i = 0; i < 64; i++) own[i] = catmem_arena_create(NULL);
    a = catmem_arena_create(NULL);
    if (a == NULL || catmem_arena_set_decay(a, -1, -1) != ENOTSUP) _exit(3); /* not small */
    for (i = 0; i < 64; i++) catmem_arena_release(own[i]);
    for (i = 0; i < 300; i++) catmem_free(a, catmem_alloc(a, 16));
    return a;
}

/* y's link, as a linear overflow of the block before y writes it: the whole word, or only its
   lowest byte (the partial overwrite that needs no address). */
static int partial;
static void forge(void) {
    catmem_arena *a = victim_arena();
    unsigned char *x = (unsigned char *)catmem_alloc(a, 16);
    unsigned char *y = (unsigned char *)catmem_alloc(a, 16);
    volatile unsigned char *link = y;
    uintptr_t t = (uintptr_t)target;
    size_t k;
    int i;
    if (x == NULL || y == NULL) _exit(3);
    catmem_free(a, y); /* into the thread's front cache: y's first word is now its link */
    if (partial)
        link[0] ^= 0x40;
    else
        for (k = 0; k < sizeof t; k++) link[k] = (unsigned char)(t >> (8 * k));
    for (i = 0; i < 4; i++)
        if (catmem_alloc(a, 16) == (void *)target) _exit(4); /* the attack won */
    _exit(0);
}

static void check(int small, int part) {
    outcome o;
    small_kind = small;
    partial = part;
    o = run_child(forge);
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "corrupted front-cache link"));
}

static void test_forged_link_stops_the_process(void **state) {
    (void)state;
    check(0, 0);
    check(1, 0);
}

static void test_partly_overwritten_link_stops_the_process(void **state) {
    (void)state;
    check(0, 1);
    check(1, 1);
}

/* A block freed twice in a row is still the head of its front cache's list: the second free
   stops the process (without the check, the next two allocations would both get it). */
static int sized;
static void twice(void) {
    catmem_arena *a = victim_arena();
    void *p = catmem_alloc(a, 48), *q, *r;
    if (p == NULL) _exit(3);
    catmem_free(a, p);
    if (sized)
        catmem_free_sized(a, p, 48);
    else
        catmem_free(a, p);
    q = catmem_alloc(a, 48);
    r = catmem_alloc(a, 48);
    _exit(q == r ? 4 : 0);
}

/* fn, in an arena of its own and in a small one, freeing with and without the size: each run
   stops the process, naming a double free. */
static void stops_at_the_double_free(void (*fn)(void)) {
    int k;
    for (k = 0; k < 4; k++) {
        outcome o;
        small_kind = k & 1;
        sized = k >> 1;
        o = run_child(fn);
        assert_false(o.exited);
        assert_int_equal(o.status, SIGABRT);
        assert_non_null(strstr(o.err, "double free"));
    }
}

static void test_double_free_in_a_row_stops_the_process(void **state) {
    (void)state;
    stops_at_the_double_free(twice);
}

/* A-B-A: p is no longer the head when it is freed again (without the walk of the list, the
   next allocations would hand p out twice). */
static void twice_apart(void) {
    catmem_arena *a = victim_arena();
    void *p = catmem_alloc(a, 48), *q = catmem_alloc(a, 48), *r, *s, *t;
    if (p == NULL || q == NULL) _exit(3);
    catmem_free(a, p);
    catmem_free(a, q);
    if (sized)
        catmem_free_sized(a, p, 48);
    else
        catmem_free(a, p);
    r = catmem_alloc(a, 48);
    s = catmem_alloc(a, 48);
    t = catmem_alloc(a, 48);
    _exit(r == t || r == s || s == t ? 4 : 0);
}

static void test_double_free_with_frees_between_stops_the_process(void **state) {
    (void)state;
    stops_at_the_double_free(twice_apart);
}

/* No false alarm: blocks handed out by the cache and freed once, whose first word the program
   never writes, or writes with what a link would look like to a reader without the key. */
static void test_blocks_freed_once_are_never_taken_for_double_frees(void **state) {
    int k;
    (void)state;
    for (k = 0; k < 2; k++) {
        catmem_arena *a;
        void *p[64];
        int i, round;
        small_kind = k;
        a = victim_arena();
        for (round = 0; round < 100; round++) {
            for (i = 0; i < 64; i++) assert_non_null(p[i] = catmem_alloc(a, 48));
            for (i = 0; i < 64; i += 2) *(void **)p[i] = p[(i + 1) % 64];
            for (i = 0; i < 64; i++) catmem_free(a, p[(i * 7) % 64]);
        }
        assert_int_equal(catmem_arena_release(a), 0);
    }
}

/* issue 20 E: after a reset jemalloc gives the same slabs back and hands their regions out
   lowest first, so the first block of a class was where the first one was before the reset,
   every time (a stale pointer then aliases the new object at a known offset). A refill's
   blocks now go out from a random place on, and a class's first refill after a reset takes 1
   to 8 blocks at random and hands out the last, so the first block lands where it was 1 time
   in 8 (a small arena's chunk also starts its blocks at a random offset): about 8 of the 64
   here, more than 24 about once in 10^7 runs. */
static void test_reset_hands_blocks_out_in_another_order(void **state) {
    static const size_t sizes[8] = {16, 32, 48, 64, 96, 160, 256, 512};
    int k;
    (void)state;
    for (k = 0; k < 2; k++) {
        catmem_arena *a;
        int same;
        small_kind = k;
        a = victim_arena();
        same = first_blocks_in_place(a, sizes, 8, 8);
        fprintf(stderr, "  %s arena: %d of 64 first blocks where they were before the reset\n",
                k ? "small" : "own", same);
        assert_true(same <= 24);
        assert_int_equal(catmem_arena_release(a), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forged_link_stops_the_process),
        cmocka_unit_test(test_partly_overwritten_link_stops_the_process),
        cmocka_unit_test(test_double_free_in_a_row_stops_the_process),
        cmocka_unit_test(test_double_free_with_frees_between_stops_the_process),
        cmocka_unit_test(test_blocks_freed_once_are_never_taken_for_double_frees),
        cmocka_unit_test(test_reset_hands_blocks_out_in_another_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
