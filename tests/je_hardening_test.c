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
#include <pthread.h>
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

/* issue 20 E after fork(): a child draws new random sequences, so a parent's order of reuse
   (which an attacker may have seen) does not tell its children's. On main a child kept its
   parent's sequence and reused memory after a reset exactly as the parent did, every time; now
   both match by chance about once in 8^8 (a refill's count and start per class). */
static void test_a_fork_child_reuses_in_an_order_of_its_own(void **state) {
    static const size_t sizes[8] = {16, 32, 48, 64, 96, 160, 256, 512};
    int k, i;
    (void)state;
    for (k = 0; k < 2; k++) {
        catmem_arena *a;
        small_kind = k;
        a = victim_arena();
        for (i = 0; i < 8; i++) catmem_free(a, catmem_alloc(a, sizes[i]));
        assert_false(child_reuses_like_parent(a, sizes, 8));
        assert_int_equal(catmem_arena_release(a), 0);
    }
}

/* issue 20 B4, B5: a block freed twice where this thread's front cache does not hold it: in
   another thread's cache, back in jemalloc's arena (its thread exited, emptying its caches),
   freed before a reset of its arena, or a block too large for any cache. Each second free
   stops the process, naming a double free. On main each of these went on: the block then came
   out twice (two owners), or jemalloc's own state was corrupted. */
enum { IN_OTHER_CACHE, BACK_IN_JEMALLOC, BEFORE_RESET, LARGE };
static int where;
static catmem_arena *b_arena;
static void *b_block;
static pthread_barrier_t b_freed, b_done;

static void *other_thread(void *arg) {
    void *r;
    (void)arg;
    catmem_free(b_arena, b_block);
    if (where == BACK_IN_JEMALLOC) return NULL; /* its exit empties its caches */
    pthread_barrier_wait(&b_freed);
    pthread_barrier_wait(&b_done); /* the second free came between */
    r = catmem_alloc(b_arena, 48);
    return r;
}

/* 1 if one of the next n allocations of size bytes is handed out twice, or is b_block while
   other is too (two owners). */
static int handed_out_twice(size_t size, int n, void *other) {
    void *got[256];
    int i, j, hits = other == b_block;
    if (n > 256) n = 256;
    for (i = 0; i < n; i++) {
        if ((got[i] = catmem_alloc(b_arena, size)) == NULL) _exit(3);
        if (got[i] == b_block && ++hits > 1) return 1;
        for (j = 0; j < i; j++)
            if (got[j] == got[i]) return 1;
    }
    return 0;
}

static void twice_elsewhere(void) {
    size_t size = where == LARGE ? 65536 : 48;
    void *other = NULL;
    pthread_t t;
    b_arena = victim_arena();
    if ((b_block = catmem_alloc(b_arena, size)) == NULL) _exit(3);
    switch (where) {
    case IN_OTHER_CACHE:
        pthread_barrier_init(&b_freed, NULL, 2);
        pthread_barrier_init(&b_done, NULL, 2);
        if (pthread_create(&t, NULL, other_thread, NULL) != 0) _exit(3);
        pthread_barrier_wait(&b_freed);
        catmem_free(b_arena, b_block);
        pthread_barrier_wait(&b_done);
        pthread_join(t, &other);
        break;
    case BACK_IN_JEMALLOC:
        if (pthread_create(&t, NULL, other_thread, NULL) != 0) _exit(3);
        pthread_join(t, NULL);
        catmem_free(b_arena, b_block);
        break;
    case BEFORE_RESET:
        catmem_free(b_arena, b_block);
        if (catmem_arena_reset(b_arena) != 0) _exit(3);
        catmem_free(b_arena, b_block);
        break;
    default:
        catmem_free(b_arena, b_block);
        catmem_free(b_arena, b_block);
        break;
    }
    _exit(handed_out_twice(size, 200, other) ? 4 : 0);
}

static void stops_when_freed_twice_elsewhere(int w) {
    int k;
    where = w;
    for (k = 0; k < 2; k++) {
        outcome o;
        small_kind = k;
        o = run_child(twice_elsewhere);
        if (!(!o.exited && o.status == SIGABRT && strstr(o.err, "double free") != NULL))
            fprintf(stderr, "  %s arena, case %d: %s %d: %s\n", k ? "small" : "own", w,
                    o.exited ? "exited" : "signal", o.status, o.err);
        assert_false(o.exited);
        assert_int_equal(o.status, SIGABRT);
        assert_non_null(strstr(o.err, "double free"));
    }
}

static void test_double_free_while_another_threads_cache_holds_it_stops_the_process(void **s) {
    (void)s;
    stops_when_freed_twice_elsewhere(IN_OTHER_CACHE);
}

static void test_double_free_after_the_block_went_back_stops_the_process(void **s) {
    (void)s;
    stops_when_freed_twice_elsewhere(BACK_IN_JEMALLOC);
}

static void test_double_free_across_a_reset_stops_the_process(void **s) {
    (void)s;
    stops_when_freed_twice_elsewhere(BEFORE_RESET);
}

static void test_double_free_of_a_large_block_stops_the_process(void **s) {
    (void)s;
    stops_when_freed_twice_elsewhere(LARGE);
}

/* issue 20 B7, B8 as far as jemalloc's layout shows them cheaply: a free of a pointer that is
   not at a multiple of its class's alignment (inside a block; a block freed with a size whose
   class is aligned more) stops the process. how: 0 p + 16 of a 64-byte block, unsized; 1 p + 8
   of a 32-byte block freed as 32 bytes; 2 a 16-byte block (not 2 KiB-aligned) freed as 14,000
   bytes, whose class (14,336) is 2 KiB-aligned. On main each was taken into the cache and
   handed out for the next allocation of its class: overlapping a live block. */
static int how;
static void stray_free(void) {
    catmem_arena *a = victim_arena();
    unsigned char *p = NULL;
    int i;
    switch (how) {
    case 0:
        p = (unsigned char *)catmem_alloc(a, 64);
        catmem_free(a, p + 16);
        _exit(catmem_alloc(a, 64) == p + 16 ? 4 : 0);
    case 1:
        p = (unsigned char *)catmem_alloc(a, 32);
        catmem_free_sized(a, p + 8, 32);
        _exit(catmem_alloc(a, 32) == p + 8 ? 4 : 0);
    default:
        for (i = 0; i < 100 && (p == NULL || ((uintptr_t)p & 2047) == 0); i++)
            p = (unsigned char *)catmem_alloc(a, 16);
        catmem_free_sized(a, p, 14000);
        _exit(catmem_alloc(a, 14000) == p ? 4 : 0);
    }
}

static void stops_off_a_block_start(int small, int h) {
    outcome o;
    small_kind = small;
    how = h;
    o = run_child(stray_free);
    if (o.exited || o.status != SIGABRT ||
        strstr(o.err, "not where a block of its size class starts") == NULL)
        fprintf(stderr, "  %s arena, case %d: %s %d: %s\n", small ? "small" : "own", h,
                o.exited ? "exited" : "signal", o.status, o.err);
    assert_false(o.exited);
    assert_int_equal(o.status, SIGABRT);
    assert_non_null(strstr(o.err, "not where a block of its size class starts"));
}

static void test_free_off_a_block_start_stops_the_process(void **state) {
    (void)state;
    stops_off_a_block_start(0, 0);
    stops_off_a_block_start(0, 1);
    stops_off_a_block_start(0, 2);
    /* A small arena's blocks are 16 bytes apart: p + 8 (its header says what p + 16 is not) */
    stops_off_a_block_start(1, 1);
}

/* No false alarm from the free mark: every way a block comes out (the cache, a refill, the
   arena directly, aligned, zeroed, realloc's moves from the 8-byte class up, blocks that went
   back to jemalloc when their thread exited and came out again, after resets) and is freed
   once, by its thread or another, with and without its size, ends with nothing stopped. */
static void *free_them(void *arg) {
    void **p = (void **)arg;
    int i;
    for (i = 0; i < 64; i++) catmem_free(b_arena, p[i]);
    return NULL;
}

static void test_blocks_freed_once_on_every_path_are_never_taken_for_double_frees(void **s) {
    static const size_t sizes[] = {8, 16, 24, 48, 100, 512, 4000, 14336, 20000, 100000};
    int k;
    (void)s;
    for (k = 0; k < 2; k++) {
        int round;
        small_kind = k;
        b_arena = victim_arena();
        for (round = 0; round < 40; round++) {
            void *p[64];
            pthread_t t;
            int i;
            for (i = 0; i < 64; i++) {
                size_t n = sizes[(i + round) % 10];
                switch ((i + round) % 5) {
                case 0: p[i] = catmem_alloc(b_arena, n); break;
                case 1: p[i] = catmem_calloc(b_arena, 1, n); break;
                case 2: p[i] = catmem_aligned_alloc(b_arena, 64, n); break;
                case 3: p[i] = catmem_realloc(b_arena, catmem_alloc(b_arena, 8), n); break;
                default: p[i] = catmem_aligned_alloc(b_arena, 16, 8); break;
                }
                assert_non_null(p[i]);
            }
            if (round % 3 == 0) { /* another thread frees them, then exits */
                assert_int_equal(pthread_create(&t, NULL, free_them, p), 0);
                pthread_join(t, NULL);
            } else if (round % 3 == 1) {
                for (i = 0; i < 64; i++) catmem_free(b_arena, p[(i * 7) % 64]);
            } else { /* with the size, but the aligned ones (catmem_free_sized's contract) */
                for (i = 0; i < 64; i++)
                    if ((i + round) % 5 == 2 || (i + round) % 5 == 4)
                        catmem_free(b_arena, p[i]);
                    else
                        catmem_free_sized(b_arena, p[i], sizes[(i + round) % 10]);
            }
            if (round % 10 == 9) assert_int_equal(catmem_arena_reset(b_arena), 0);
        }
        assert_int_equal(catmem_arena_release(b_arena), 0);
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

/* Issue 20 B6: a block freed into the wrong arena went into that arena's front cache, which
   handed it out again while its own arena still counted it (and after a reset of the owner,
   gave it two owners). It goes to its own arena, with EINVAL: the named arena never hands it
   out, and the owner counts it freed. catmem_free without a size checks at every level but 0
   (it reads the block's page map entry for its class anyway), catmem_free_sized at
   CATMEM_SECURE 2; without the page map (no extent hooks) nothing can tell. */
static void test_free_into_the_wrong_arena_goes_to_its_owner(void **state) {
    catmem_arena *a = catmem_arena_create("owner"), *b = catmem_arena_create("named");
    catmem_stats st;
    void *p[2], *q[64];
    int i, j, frees = CATMEM_SECURE >= 2 ? 2 : 1; /* unsized, then sized */
    (void)state;
    if (CATMEM_SECURE == 0 || strstr(catmem_backend_info(), "arenas.lookup") != NULL) skip();
    assert_non_null(a);
    assert_non_null(b);
    for (j = 0; j < frees; j++) {
        assert_non_null(p[j] = catmem_alloc(a, 48));
        catmem_free(b, catmem_alloc(b, 48)); /* b's cache holds blocks of that class */
        errno = 0;
        if (j == 0)
            catmem_free(b, p[j]);
        else
            catmem_free_sized(b, p[j], 48);
        assert_int_equal(errno, EINVAL);
        for (i = 0; i < 64; i++) {
            assert_non_null(q[i] = catmem_alloc(b, 48));
            assert_ptr_not_equal(q[i], p[j]);
        }
        for (i = 0; i < 64; i++) catmem_free(b, q[i]);
    }
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    assert_int_equal(st.nmalloc, frees);
    assert_int_equal(st.ndalloc, frees);
    assert_int_equal(catmem_arena_stats(b, &st), 0);
    assert_int_equal(st.nmalloc, st.ndalloc);
    assert_int_equal(st.nmalloc, frees * 65);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_int_equal(catmem_arena_release(b), 0);
}

/* Issue 20 (review): the page map's classes decide which list a freed block joins. A leaf of
   the map is a mapping of its own, which the OS may place right after one of jemalloc's
   extents: guards on both sides keep an overflow off that extent's last block away from it. */
static void test_page_map_leaves_are_between_guards(void **state) {
    catmem_arena *a = catmem_arena_create("leaf");
    void *p;
    (void)state;
    if (strstr(catmem_backend_info(), "arenas.lookup") != NULL) skip(); /* no map */
    assert_non_null(a);
    assert_non_null(p = catmem_alloc(a, 48));
    assert_non_null(catmemi_je_map[(uintptr_t)p >> (CATMEMI_JE_MAP_PAGE + CATMEMI_JE_MAP_LEAF)]);
    assert_true(between_guards(
        catmemi_je_map[(uintptr_t)p >> (CATMEMI_JE_MAP_PAGE + CATMEMI_JE_MAP_LEAF)]));
    catmem_free(a, p);
    assert_int_equal(catmem_arena_release(a), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forged_link_stops_the_process),
        cmocka_unit_test(test_partly_overwritten_link_stops_the_process),
        cmocka_unit_test(test_double_free_in_a_row_stops_the_process),
        cmocka_unit_test(test_double_free_with_frees_between_stops_the_process),
        cmocka_unit_test(test_blocks_freed_once_are_never_taken_for_double_frees),
        cmocka_unit_test(test_reset_hands_blocks_out_in_another_order),
        cmocka_unit_test(test_a_fork_child_reuses_in_an_order_of_its_own),
        cmocka_unit_test(test_double_free_while_another_threads_cache_holds_it_stops_the_process),
        cmocka_unit_test(test_double_free_after_the_block_went_back_stops_the_process),
        cmocka_unit_test(test_double_free_across_a_reset_stops_the_process),
        cmocka_unit_test(test_double_free_of_a_large_block_stops_the_process),
        cmocka_unit_test(test_free_off_a_block_start_stops_the_process),
        cmocka_unit_test(test_blocks_freed_once_on_every_path_are_never_taken_for_double_frees),
        cmocka_unit_test(test_free_into_the_wrong_arena_goes_to_its_owner),
        cmocka_unit_test(test_page_map_leaves_are_between_guards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
