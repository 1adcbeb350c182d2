/* The contract of every public function, run on each backend. */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#if CATMEM_OWN_ARENAS == 0 && defined(CATMEM_IMPLEMENTATION)
#  include <signal.h>
#  include <stdlib.h>
#  include <sys/wait.h>
#  include <unistd.h>
#endif

/* Sizes the compiler cannot see through: with constants, gcc's alloc_size diagnostics would
   reject these calls at compile time (which is good for users, but here the run time is tested). */
static volatile size_t huge_size = CATMEM_SIZE_MAX;
static volatile size_t max_size = SIZE_MAX;
static volatile size_t zero_size = 0;

static catmem_arena *req(void) { return catmem_arena_get(CATMEM_REQUEST); }

/* The first call before any catmem_init would initialise catmem (lifetime_test checks that);
   an explicit catmem_shutdown first makes every call fail until catmem_init. */
static void test_shutdown_before_init_makes_everything_fail_cleanly(void **state) {
    catmem_stats st;
    void *m;
    (void)state;
    assert_false(catmem_is_initialized());
    catmem_shutdown();
    catmem_shutdown(); /* idempotent */
    assert_false(catmem_is_initialized());
    assert_null_errno(catmem_arena_get(CATMEM_REQUEST), ESHUTDOWN);
    assert_null_errno(catmem_arena_create("early"), ESHUTDOWN);
    assert_null_errno(catmem_alloc(NULL, 16), EINVAL);
    m = malloc(32); /* no pointer is catmem's yet: refused, untouched */
    assert_non_null(m);
    errno = 0;
    catmem_free_any(m);
    assert_int_equal(errno, EINVAL);
    free(m);
    assert_int_equal(catmem_total_stats(&st), ESHUTDOWN);
    assert_int_equal(catmem_all_arenas_stats(&st), ESHUTDOWN);
    assert_int_equal(catmem_prof_dump(NULL), ESHUTDOWN);
    assert_int_equal(catmem_report(stdout, CATMEM_REPORT_TEXT), ESHUTDOWN);
    assert_false(catmem_is_initialized());
#if EXPECT_JEMALLOC
    assert_string_equal(catmem_backend_name(), "jemalloc");
#else
    assert_string_equal(catmem_backend_name(), "system");
#endif
    /* The reason for the choice, before init too. */
#if defined(CATMEM_BACKEND_JEMALLOC)
    assert_non_null(strstr(catmem_backend_info(), "jemalloc 5."));
    assert_non_null(strstr(catmem_backend_info(), "(linked)"));
#elif defined(CATMEM_BACKEND_SYSTEM)
    assert_string_equal(catmem_backend_info(), "system malloc (compiled in)");
#elif EXPECT_JEMALLOC
    assert_non_null(strstr(catmem_backend_info(), "jemalloc 5."));
    assert_non_null(strstr(catmem_backend_info(), "found in process"));
#else
    assert_string_equal(catmem_backend_info(), "no jemalloc in process: system malloc");
#endif
}

static void test_init_is_idempotent_and_gives_distinct_builtin_arenas(void **state) {
    int i, j;
    (void)state;
    for (i = 0; i < 3; i++) assert_int_equal(catmem_init(), 0);
    assert_true(catmem_is_initialized());
    for (i = 0; i < CATMEM_KIND_COUNT; i++) {
        catmem_arena *a = catmem_arena_get((catmem_kind)i);
        assert_non_null(a);
        assert_true(catmem_arena_id(a) >= 0);
        for (j = 0; j < i; j++) assert_ptr_not_equal(a, catmem_arena_get((catmem_kind)j));
    }
    assert_string_equal(catmem_arena_name(catmem_arena_get(CATMEM_REQUEST)), "request");
    assert_string_equal(catmem_arena_name(catmem_arena_get(CATMEM_TASK)), "task");
    assert_null_errno(catmem_arena_get(CATMEM_KIND_COUNT), EINVAL);
    assert_null_errno(catmem_arena_get((catmem_kind)-1), EINVAL);
}

static void test_alloc_and_free(void **state) {
    size_t sizes[] = {1, 7, 16, 100, 4096, 40000, 3 << 20};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = catmem_alloc(req(), sizes[i]);
        assert_non_null(p);
        /* suitable for any object of that size: 16-byte aligned, or 8 for jemalloc's 8-byte
           class (an object of up to 8 bytes needs no more) */
        assert_int_equal((uintptr_t)p % (sizes[i] > 8 ? 16 : 8), 0);
        memset(p, 0xab, sizes[i]);
        assert_true(catmem_arena_owns(req(), p));
        catmem_free(req(), p);
    }
    catmem_free(req(), NULL); /* no-op */
}

static void test_zero_size_gives_unique_pointers(void **state) {
    void *a, *b;
    (void)state;
    a = catmem_alloc(req(), 0);
    b = catmem_alloc(req(), 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    catmem_free(req(), a);
    catmem_free_sized(req(), b, 0);
}

static void test_absurd_sizes_fail_with_enomem(void **state) {
    size_t bad[] = {huge_size, huge_size + 1, max_size, max_size - 15, (size_t)1 << 62};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null_errno(catmem_alloc(req(), bad[i]), ENOMEM);
        assert_null_errno(catmem_aligned_alloc(req(), 64, bad[i]), ENOMEM);
    }
}

static void test_null_handle_fails_with_einval(void **state) {
    void *p;
    (void)state;
    assert_null_errno(catmem_alloc(NULL, 8), EINVAL);
    assert_null_errno(catmem_calloc(NULL, 2, 8), EINVAL);
    assert_null_errno(catmem_aligned_alloc(NULL, 64, 8), EINVAL);
    assert_null_errno(catmem_strdup(NULL, "x"), EINVAL);
    assert_null_errno(catmem_realloc(NULL, NULL, 8), EINVAL);
    assert_int_equal(catmem_arena_reset(NULL), EINVAL);
    assert_int_equal(catmem_arena_purge(NULL), EINVAL);
    assert_int_equal(catmem_arena_release(NULL), EINVAL);
    assert_int_equal(catmem_arena_set_decay(NULL, 0, 0), EINVAL);
    assert_null(catmem_arena_name(NULL));
    assert_int_equal(catmem_arena_id(NULL), -1);
    assert_false(catmem_arena_owns(NULL, &p));
    {
        catmem_stats st;
        assert_int_equal(catmem_arena_stats(NULL, &st), EINVAL);
        assert_int_equal(catmem_arena_stats(req(), NULL), EINVAL);
        assert_int_equal(catmem_total_stats(NULL), EINVAL);
        assert_int_equal(catmem_all_arenas_stats(NULL), EINVAL);
    }
    /* Every call rejects a handle that is not one of catmem's: a pointer to anything, a slot
       number that was never handed out, a generation the slot never had. Handles are values,
       never dereferenced. */
    {
        int local;
        catmem_arena *fakes[4];
        catmem_stats st;
        size_t i;
        fakes[0] = (catmem_arena *)(void *)&local;
        fakes[1] = (catmem_arena *)(uintptr_t)2;                        /* generation 0 */
        fakes[2] = (catmem_arena *)(((uintptr_t)1 << 32) | 0x3fffffffu); /* no such slot */
        fakes[3] = (catmem_arena *)(((uintptr_t)7777 << 32) | 1);       /* a future generation */
        for (i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
            catmem_arena *fake = fakes[i];
            assert_int_equal(catmem_arena_reset(fake), EINVAL);
            assert_int_equal(catmem_arena_stats(fake, &st), EINVAL);
            assert_int_equal(catmem_arena_release(fake), EINVAL);
            assert_int_equal(catmem_arena_set_limit(fake, 100), EINVAL);
            assert_null(catmem_arena_name(fake));
            assert_int_equal(catmem_arena_id(fake), -1);
            errno = 0;
            assert_null(catmem_alloc(fake, 16));
            assert_int_equal(errno, EINVAL);
            errno = 0;
            assert_null(catmem_arena_create_child(fake, NULL));
            assert_int_equal(errno, EINVAL);
        }
    }
}

#if CATMEM_OWN_ARENAS == 0 && defined(CATMEM_IMPLEMENTATION)
/* A small arena's free lists are linked through the free blocks, encoded: an overflow of the
   block before a free one that rewrites its link stops the process at the next allocation of
   that class, instead of handing out the address it wrote. */
static void test_small_arena_free_list_link_cannot_be_forged(void **state) {
    catmem_arena *probe = catmem_arena_create("probe");
    int status, small, k;
    pid_t pid;
    (void)state;
    assert_non_null(probe);
    small = catmemi_slot_of(probe)->small; /* not under a memory checker on the system engine */
    assert_int_equal(catmem_arena_release(probe), 0);
    if (!small) skip();
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static char target[64];
        catmem_arena *a = catmem_arena_create("forge");
        char *x = catmem_alloc(a, 32), *y = catmem_alloc(a, 32);
        if (x == NULL || y == NULL) _exit(3);
        catmem_free(a, y);
        *(void **)y = target; /* what an overflow of x writes over y's link */
        (void)!catmem_alloc(a, 32);
        if (catmem_alloc(a, 32) == (void *)target) _exit(4);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    /* A block freed twice, in a row or with another free between, before the arena is busy
       (its shared list) and after (the thread's front cache on jemalloc; heaps on the system
       engine): it stops the process too. */
    for (k = 0; k < 4; k++) {
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            catmem_arena *a = catmem_arena_create("twice");
            void *p, *q, *r, *o = NULL;
            int i;
            for (i = 0; (k & 1) && i < 300; i++) catmem_free(a, catmem_alloc(a, 32));
            if ((p = catmem_alloc(a, 32)) == NULL) _exit(3);
            if ((k & 2) && (o = catmem_alloc(a, 32)) == NULL) _exit(3);
            catmem_free(a, p);
            if (o != NULL) catmem_free(a, o);
            catmem_free(a, p);
            q = catmem_alloc(a, 32);
            r = catmem_alloc(a, 32);
            _exit(q == r || (o != NULL && catmem_alloc(a, 32) == q) ? 4 : 0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
    }
}

/* fn in a child process: 1 when it stopped with SIGABRT (a hang, on a link followed without
   its check, ends in SIGALRM). */
static int aborts(void (*fn)(void)) {
    int status;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        fn();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* What sits next to a small arena's memory, rewritten as an overflow or underflow would, stops
   the process before it is trusted: a solo block's record (its base: another block would be
   freed), the link and the size before a chunk's first block (followed and read at the reset),
   a big block's record's links (a write through them at the unlink). */
static void solo_base_rewritten(void) {
    catmem_arena *a = catmem_arena_create("sealed");
    char *p = catmem_alloc(a, 600), *q = catmem_alloc(a, 600);
    ((void **)(void *)(p - 64))[2] = q; /* the record's base */
    catmem_free(a, p);
}
static void chunk_link_rewritten(void) {
    catmem_arena *a = catmem_arena_create("sealed");
    (void)!catmem_alloc(a, 32);
    *(uintptr_t *)catmemi_slot_of(a)->sm.chunks ^= 0x5a5a0; /* what an underflow writes */
    (void)catmem_arena_reset(a);
}
static void chunk_size_rewritten(void) { /* kept chunks are sized by their second word */
    catmem_arena *a = catmem_arena_create("sealed");
    (void)!catmem_alloc(a, 32);
    ((uintptr_t *)catmemi_slot_of(a)->sm.chunks)[1] ^= 0x4000;
    (void)catmem_arena_release(a);
}
static void solo_link_rewritten(void) { /* followed at the release */
    catmem_arena *a = catmem_arena_create("sealed");
    char *p = catmem_alloc(a, 600), *q = catmem_alloc(a, 600);
    (void)p;
    /* q's record is the head: its next, to memory that is not mapped (followed: SIGSEGV) */
    ((void **)(void *)(q - 64))[1] = (void *)(uintptr_t)4096;
    (void)catmem_arena_release(a);
}
static void big_block_rewritten(void) { /* the record names another block */
    catmem_arena *a = catmem_arena_create("sealed");
    void *p = catmem_aligned_alloc(a, 4096, 100), *q = catmem_aligned_alloc(a, 4096, 100);
    if (p == NULL || q == NULL) _exit(3);
    catmemi_sm_bigs->p = p; /* q's record (the head) */
    catmem_free(a, p);
}
static void big_links_rewritten(void) {
    catmem_arena *a = catmem_arena_create("sealed");
    void *p = catmem_aligned_alloc(a, 4096, 100), *q = catmem_aligned_alloc(a, 4096, 100);
    if (p == NULL || q == NULL) _exit(3);
    catmemi_sm_bigs->next->prev = NULL; /* q's record (the head) is its neighbour */
    catmem_free(a, q);
}
static void test_small_arena_records_are_checked(void **state) {
    catmem_arena *probe = catmem_arena_create("probe");
    int small;
    (void)state;
    assert_non_null(probe);
    small = catmemi_slot_of(probe)->small;
    assert_int_equal(catmem_arena_release(probe), 0);
    if (!small) skip();
    assert_true(aborts(solo_base_rewritten));
    assert_true(aborts(chunk_link_rewritten));
    assert_true(aborts(chunk_size_rewritten));
    assert_true(aborts(big_links_rewritten));
    assert_true(aborts(solo_link_rewritten));
    assert_true(aborts(big_block_rewritten));
}
#endif

/* A released arena's handle stays invalid when its slot goes to a new arena: the new arena has
   the same id (the slot's number) but another handle, and nothing done with the old handle
   reaches it. */
static void test_stale_handles_fail_after_reuse(void **state) {
    catmem_arena *old = catmem_arena_create("stale"), *now, *child;
    catmem_stats st;
    void *p, *q;
    int id;
    (void)state;
    assert_non_null(old);
    id = catmem_arena_id(old);
    assert_int_equal(catmem_arena_release(old), 0);
    assert_non_null(now = catmem_arena_create("stale"));
    assert_int_equal(catmem_arena_id(now), id);
    assert_true(now != old);
    assert_non_null(q = catmem_alloc(now, 64));
    errno = 0;
    assert_null(catmem_alloc(old, 64));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(catmem_arena_reset(old), EINVAL);
    assert_int_equal(catmem_arena_release(old), EINVAL);
    assert_int_equal(catmem_arena_set_limit(old, 1), EINVAL);
    assert_int_equal(catmem_arena_stats(old, &st), EINVAL);
    assert_int_equal(catmem_arena_on_reset(old, (catmem_cleanup_fn)free, NULL), EINVAL);
    assert_null(catmem_arena_name(old));
    assert_null(catmem_arena_parent(old));
    assert_int_equal(errno, EINVAL);
    assert_false(catmem_arena_owns(old, q));
    assert_null(catmem_arena_create_child(old, "orphan"));
    assert_int_equal(errno, EINVAL);
    assert_ptr_equal(catmem_arena_find("stale"), now);
    /* The new arena is untouched: its block, its limit, its statistics. */
    assert_int_equal(catmem_arena_limit(now), 0);
    assert_int_equal(catmem_arena_stats(now, &st), 0);
    assert_int_equal(st.nmalloc, 1);
    assert_int_equal(st.ndalloc, 0);
    /* A free with the stale handle still frees the block into its own arena (the pointer
       knows it), as a free with a NULL handle does. */
    assert_non_null(p = catmem_alloc(now, 64));
    catmem_free(old, p);
    assert_int_equal(catmem_arena_stats(now, &st), 0);
    assert_int_equal(st.ndalloc, 1);
    catmem_free(now, q);
    /* A child made under a released parent fails; a live parent's child is released with it,
       and its handle then fails too. */
    assert_non_null(child = catmem_arena_create_child(now, NULL));
    assert_int_equal(catmem_arena_release(now), 0);
    assert_int_equal(catmem_arena_id(child), -1);
    assert_int_equal(catmem_arena_reset(child), EINVAL);
}

static void test_free_with_null_handle_still_frees(void **state) {
    catmem_arena *a = catmem_arena_create("nullfree");
    catmem_stats st;
    void *p;
    (void)state;
    assert_non_null(a);
    p = catmem_alloc(a, 5000);
    assert_non_null(p);
    errno = 0;
    catmem_free(NULL, p);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_calloc_zeroes_and_checks_overflow(void **state) {
    size_t n = (size_t)1 << (sizeof(size_t) * 8 - 2);
    unsigned char *p;
    size_t i;
    int round;
    (void)state;
    for (round = 0; round < 2; round++) { /* the second round reuses dirty memory */
        p = catmem_calloc(req(), 100, 33);
        assert_non_null(p);
        for (i = 0; i < 3300; i++) assert_int_equal(p[i], 0);
        memset(p, 0xff, 3300);
        catmem_free(req(), p);
    }
    assert_null_errno(catmem_calloc(req(), n, 8), ENOMEM);
    assert_null_errno(catmem_calloc(req(), max_size, max_size), ENOMEM);
    p = catmem_calloc(req(), 0, 8);
    assert_non_null(p);
    catmem_free(req(), p);
}

static void test_realloc_keeps_contents_and_fails_without_loss(void **state) {
    unsigned char *p, *q;
    size_t i, sizes[] = {10, 100, 5000, 70000, 50, 3};
    size_t k, prev = 10;
    (void)state;
    p = catmem_realloc(req(), NULL, 10); /* NULL: an allocation */
    assert_non_null(p);
    for (i = 0; i < 10; i++) p[i] = (unsigned char)i;
    for (k = 1; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t keep = prev < sizes[k] ? prev : sizes[k];
        q = catmem_realloc(req(), p, sizes[k]);
        assert_non_null(q);
        for (i = 0; i < keep && i < 10; i++) assert_int_equal(q[i], (unsigned char)i);
        for (i = 10; i < sizes[k]; i++) q[i] = (unsigned char)i;
        p = q;
        prev = sizes[k];
    }
    assert_null_errno(catmem_realloc(req(), p, huge_size), ENOMEM);
    assert_int_equal(p[2], 2);       /* untouched */
    p[0] = 0x5a;
    q = catmem_realloc(req(), p, 0); /* size 0: as size 1, never a free (it may move) */
    assert_non_null(q);
    assert_int_equal(q[0], 0x5a);
    catmem_free(req(), q);
}

static void test_realloc_into_another_arena_moves_the_block(void **state) {
    catmem_arena *other = catmem_arena_create("realloc-target");
    char *p, *q;
    (void)state;
    assert_non_null(other);
    p = catmem_alloc(req(), 64);
    assert_non_null(p);
    strcpy(p, "moving");
    q = catmem_realloc(other, p, 100000); /* large enough that jemalloc must move it */
    assert_non_null(q);
    assert_string_equal(q, "moving");
    assert_true(catmem_arena_owns(other, q));
    assert_false(catmem_arena_owns(req(), q));
    catmem_free(other, q);
    assert_int_equal(catmem_arena_release(other), 0);
}

static void test_aligned_alloc(void **state) {
    size_t al;
    (void)state;
    for (al = 1; al <= ((size_t)1 << 21); al <<= 1) {
        unsigned char *p = catmem_aligned_alloc(req(), al, 24);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % al, 0);
        memset(p, 1, 24);
        assert_true(catmem_arena_owns(req(), p));
        catmem_free(req(), p);
    }
    {
        size_t bad[] = {0, 3, 24, 48, 1000, CATMEM_ALIGN_MAX << 1, SIZE_MAX};
        size_t i;
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            assert_null_errno(catmem_aligned_alloc(req(), bad[i], 16), EINVAL);
        }
    }
}

/* Aligned and zeroed requests of every small size class: on jemalloc they are served from the
   front cache, which then holds blocks freed dirty (0xab) by the rounds before. */
static void test_aligned_and_zeroed_blocks_reuse_freed_memory(void **state) {
    size_t sizes[] = {1, 24, 100, 700, 3000, 5000, 9000, 14000, 20000};
    size_t al, i, k;
    int round;
    (void)state;
    for (round = 0; round < 3; round++)
        for (al = 1; al <= 8192; al <<= 1)
            for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                unsigned char *p = catmem_aligned_alloc(req(), al, sizes[i]);
                assert_non_null(p);
                assert_int_equal((uintptr_t)p % al, 0);
                assert_true(catmem_arena_owns(req(), p));
                memset(p, 0xab, sizes[i]);
                catmem_free(req(), p);
                p = catmem_calloc(req(), 1, sizes[i]);
                assert_non_null(p);
                for (k = 0; k < sizes[i]; k++) assert_int_equal(p[k], 0);
                memset(p, 0xab, sizes[i]);
                catmem_free_sized(req(), p, sizes[i]);
            }
}

#if EXPECT_JEMALLOC
/* The front cache's size classes are jemalloc's: for every small size, the class catmem files
   a block under has the usable size jemalloc gives that size (nallocx). */
static void test_front_cache_classes_are_jemallocs(void **state) {
    size_t (*nallocx)(size_t, int);
    void *sym = dlsym(RTLD_DEFAULT, "nallocx");
    size_t size;
    (void)state;
    assert_non_null(sym);
    memcpy(&nallocx, &sym, sizeof sym);
    for (size = 1; size <= CATMEMI_CLASS_MAX; size++)
        if (catmemi_class_size[catmemi_class(size)] != nallocx(size, 0))
            fail_msg("size %zu: class size %u, jemalloc %zu", size,
                     (unsigned)catmemi_class_size[catmemi_class(size)], nallocx(size, 0));
    assert_true(nallocx(CATMEMI_CLASS_MAX + 1, 0) > CATMEMI_CLASS_MAX);
}
#endif

static void test_free_sized(void **state) {
    size_t sizes[] = {1, 24, 200, 9000, 100000};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = catmem_alloc(req(), sizes[i]);
        assert_non_null(p);
        catmem_free_sized(req(), p, sizes[i]);
    }
    catmem_free_sized(req(), NULL, 10);
}

/* The size class behind a block, from the pointer alone, and a free that needs no arena. */
static void test_usable_size_and_free_any(void **state) {
    catmem_arena *a = catmem_arena_create("any");
    size_t sizes[] = {1, 16, 17, 100, 1000, 5000, 16384, 16385, 100000, 3 << 20};
    catmem_stats st;
    size_t i, sum = 0;
    void *p[10];
    (void)state;
    assert_non_null(a);
    assert_int_equal(catmem_usable_size(NULL), 0);
    catmem_free_any(NULL); /* nothing */
    for (i = 0; i < 10; i++) {
        size_t u;
        p[i] = catmem_alloc(a, sizes[i]);
        assert_non_null(p[i]);
        u = catmem_usable_size(p[i]);
        assert_true(u >= sizes[i]);
        assert_true(u <= sizes[i] + sizes[i] / 4 + 16); /* a size class, not a page */
        memset(p[i], 0xee, u);                          /* all of it is the caller's */
        sum += u;
    }
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    assert_int_equal(st.allocated, sum); /* allocated counts usable sizes */
    {
        void *q = catmem_aligned_alloc(a, 4096, 100);
        assert_non_null(q);
        assert_true(catmem_usable_size(q) >= 100);
        catmem_free_any(q);
    }
    for (i = 0; i < 10; i++) catmem_free_any(p[i]); /* into arena a, from the pointer */
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

/* 70 user arenas: past CATMEM_OWN_ARENAS some are small (in the small variant all are), so the
   owner comes from the page map, a small block's header or the engine's segments. Each block is
   grown and shrunk by catmem_realloc_any (it must stay in its arena) and freed by
   catmem_free_any in another order than it was made; every arena's statistics are exact. */
#define OWNER_ARENAS 70
#define OWNER_BLOCKS 12
static void test_owner_from_the_pointer_in_many_arenas(void **state) {
    static const size_t sizes[OWNER_BLOCKS] = {1,    16,    100,    640,  1000,    5000,
                                               14000, 16385, 100000, 24,   3 << 20, 300};
    catmem_arena *a[OWNER_ARENAS];
    unsigned char *p[OWNER_ARENAS][OWNER_BLOCKS];
    catmem_stats st;
    int i, j, k;
    (void)state;
    if (RUNNING_ON_VALGRIND) skip(); /* its blocks' first words are partly unwritten (testing.h) */
    for (i = 0; i < OWNER_ARENAS; i++) assert_non_null(a[i] = catmem_arena_create(NULL));
    for (i = 0; i < OWNER_ARENAS; i++)
        for (j = 0; j < OWNER_BLOCKS; j++) {
            p[i][j] = j % 4 == 3 ? catmem_aligned_alloc(a[i], 256, sizes[j])
                                 : catmem_alloc(a[i], sizes[j]);
            assert_non_null(p[i][j]);
            p[i][j][0] = (unsigned char)(i + j);
        }
    for (i = 0; i < OWNER_ARENAS; i++)
        for (j = 0; j < OWNER_BLOCKS; j++) {
            size_t grown = sizes[j] * 3 + 1, shrunk = sizes[j] / 2 + 1;
            for (k = i - 1; k <= i + 1; k++)
                if (k >= 0 && k < OWNER_ARENAS)
                    assert_int_equal(catmem_arena_owns(a[k], p[i][j]), k == i);
            assert_true(catmem_usable_size(p[i][j]) >= sizes[j]);
            assert_non_null(p[i][j] = (unsigned char *)catmem_realloc_any(p[i][j], grown));
            assert_true(catmem_arena_owns(a[i], p[i][j]));
            assert_true(catmem_usable_size(p[i][j]) >= grown);
            assert_non_null(p[i][j] = (unsigned char *)catmem_realloc_any(p[i][j], shrunk));
            assert_true(catmem_arena_owns(a[i], p[i][j]));
            assert_int_equal(p[i][j][0], (unsigned char)(i + j));
        }
    for (j = OWNER_BLOCKS - 1; j >= 0; j--)
        for (i = OWNER_ARENAS - 1; i >= 0; i--) catmem_free_any(p[i][j]);
    for (i = 0; i < OWNER_ARENAS; i++) {
        assert_int_equal(catmem_arena_stats(a[i], &st), 0);
        assert_int_equal(st.allocated, 0);
        assert_true(st.nmalloc >= OWNER_BLOCKS);
        assert_int_equal(st.nmalloc, st.ndalloc);
        assert_int_equal(catmem_arena_release(a[i]), 0);
    }
}

#if EXPECT_JEMALLOC
/* The free that names no arena goes the owner's way, as catmem_free(owner, p) would: on
   jemalloc through the thread's front cache, whose list gives the last block freed first (the
   arena itself hands out its lowest free address first). */
static void test_free_any_goes_through_the_owners_cache(void **state) {
    catmem_arena *a = catmem_arena_create("any-cache");
    void *p[4];
    int i;
    (void)state;
    assert_non_null(a);
    for (i = 0; i < 4; i++) assert_non_null(p[i] = catmem_alloc(a, 100));
    catmem_free_any(p[1]);
    catmem_free_any(p[2]);
    assert_ptr_equal(catmem_alloc(a, 100), p[2]);
    assert_ptr_equal(catmem_alloc(a, 100), p[1]);
    for (i = 0; i < 4; i++) catmem_free_any(p[i]);
    assert_int_equal(catmem_arena_release(a), 0);
}
#endif

/* No arena to name: a NULL pointer, or one no catmem arena owns (malloc's; on jemalloc, taken
   from jemalloc itself, since a sanitizer's malloc is not jemalloc's). The block is left as it
   was. catmem_free_any of it: jemalloc frees it (it gave it out); the system backend cannot,
   and says EINVAL. Either way no arena's statistics move. */
static void test_owner_calls_on_pointers_no_arena_owns(void **state) {
    catmem_stats before, after;
    char *m;
    (void)state;
    if (RUNNING_ON_VALGRIND) skip(); /* the probe reads malloc's word before m (testing.h) */
    m = (char *)(EXPECT_JEMALLOC ? test_je_mallocx(100) : malloc(100));
    assert_non_null(m);
    strcpy(m, "malloc's");
    assert_null_errno(catmem_realloc_any(NULL, 10), EINVAL);
    assert_null_errno(catmem_realloc_any(m, 200), EINVAL);
    assert_string_equal(m, "malloc's");
    assert_false(catmem_arena_owns(req(), m));
    assert_int_equal(catmem_arena_stats(req(), &before), 0);
    errno = 0;
    catmem_free_any(m);
    assert_int_equal(errno, EXPECT_JEMALLOC ? 0 : EINVAL);
    if (!EXPECT_JEMALLOC) free(m);
    assert_int_equal(catmem_arena_stats(req(), &after), 0);
    assert_int_equal(after.ndalloc, before.ndalloc);
}

/* catmem_realloc_any keeps catmem_realloc's contract: size 0 as 1, a size past CATMEM_SIZE_MAX
   fails without loss, after shutdown ESHUTDOWN (the block still valid), a released arena's
   slot reused by a new arena serves the new arena's blocks. */
static void test_realloc_any_errors_and_reuse(void **state) {
    catmem_arena *a = catmem_arena_create("realloc-any"), *b;
    unsigned char *p, *q;
    catmem_stats st;
    int id;
    (void)state;
    assert_non_null(a);
    assert_non_null(p = (unsigned char *)catmem_alloc(a, 40));
    p[0] = 7;
    assert_null_errno(catmem_realloc_any(p, huge_size), ENOMEM);
    assert_non_null(q = (unsigned char *)catmem_realloc_any(p, zero_size));
    assert_int_equal(q[0], 7);
    catmem_shutdown();
    assert_null_errno(catmem_realloc_any(q, 100), ESHUTDOWN);
    assert_int_equal(q[0], 7);
    assert_int_equal(catmem_init(), 0);
    id = catmem_arena_id(a);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_non_null(b = catmem_arena_create("realloc-any-2"));
    assert_int_equal(catmem_arena_id(b), id); /* the slot, and its engine arena, reused */
    assert_non_null(p = (unsigned char *)catmem_alloc(b, 5000));
    assert_non_null(p = (unsigned char *)catmem_realloc_any(p, 50000));
    assert_true(catmem_arena_owns(b, p));
    catmem_free_any(p);
    assert_int_equal(catmem_arena_stats(b, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(st.nmalloc, st.ndalloc);
    assert_int_equal(catmem_arena_reset(b), 0);
    assert_non_null(p = (unsigned char *)catmem_alloc(b, 100));
    catmem_free_any(p);
    assert_int_equal(catmem_arena_stats(b, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(b), 0);
}

static void test_strdup(void **state) {
    char *s;
    (void)state;
    s = catmem_strdup(req(), "catmem");
    assert_non_null(s);
    assert_string_equal(s, "catmem");
    catmem_free(req(), s);
    s = catmem_strdup(req(), "");
    assert_non_null(s);
    assert_string_equal(s, "");
    catmem_free(req(), s);
    assert_null_errno(catmem_strdup(req(), NULL), EINVAL);
}

static void test_create_find_release_and_names(void **state) {
    char longname[CATMEM_NAME_MAX + 2];
    catmem_arena *a, *b;
    int id;
    (void)state;
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_null_errno(catmem_arena_create(""), EINVAL); /* NULL is anonymous, "" a mistake */
    assert_null_errno(catmem_arena_find(NULL), EINVAL);
    assert_null_errno(catmem_arena_create(longname), ENAMETOOLONG);
    longname[CATMEM_NAME_MAX] = '\0'; /* exactly the longest allowed */
    a = catmem_arena_create(longname);
    assert_non_null(a);
    assert_string_equal(catmem_arena_name(a), longname);
    assert_int_equal(catmem_arena_release(a), 0);

    a = catmem_arena_create("sessions");
    assert_non_null(a);
    id = catmem_arena_id(a);
    assert_null_errno(catmem_arena_create("sessions"), EEXIST);
    errno = 0;
    assert_null(catmem_arena_create("request")); /* built-in names are taken too */
    assert_int_equal(errno, EEXIST);
    assert_ptr_equal(catmem_arena_find("sessions"), a);
    assert_ptr_equal(catmem_arena_find("cache"), catmem_arena_get(CATMEM_CACHE));
    assert_null_errno(catmem_arena_find("nope"), ENOENT);

    assert_int_equal(catmem_arena_release(catmem_arena_get(CATMEM_STATIC)), EINVAL);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_int_equal(catmem_arena_release(a), EINVAL); /* twice */
    assert_null(catmem_arena_name(a));
    errno = 0;
    assert_null(catmem_alloc(a, 10)); /* use after release */
    assert_int_equal(errno, EINVAL);
    assert_int_equal(catmem_arena_reset(a), EINVAL);
    assert_null_errno(catmem_arena_find("sessions"), ENOENT);

    /* The slot and its backend arena are reused by the next create, under a new handle. */
    b = catmem_arena_create("sessions-2");
    assert_true(b != a);
    assert_int_equal(catmem_arena_id(b), id);
    assert_null(catmem_arena_name(a));
    assert_int_equal(catmem_arena_release(b), 0);
}

/* No cap: 10,000 named arenas live at once, each found by name and used, on every backend (on
   jemalloc those past the first CATMEM_OWN_ARENAS are small). Only with jemalloc's front
   caches off (no small arenas then) does every arena need a jemalloc arena, and jemalloc makes
   about 4,000: there the creates may stop with EAGAIN past 3,000, and a release makes room. */
#define MANY_ARENAS 10000
static void test_many_arenas(void **state) {
    static catmem_arena *made[MANY_ARENAS];
    char name[32];
    int n = 0, i;
    (void)state;
    for (; n < MANY_ARENAS; n++) {
        snprintf(name, sizeof name, "fill-%d", n);
        if ((made[n] = catmem_arena_create(name)) == NULL) break;
    }
    if (n < MANY_ARENAS) {
        assert_int_equal(errno, EAGAIN);
        assert_non_null(strstr(catmem_backend_info(), "front caches off"));
        assert_true(n > 3000);
        assert_int_equal(catmem_arena_release(made[3]), 0);
        assert_non_null(made[3] = catmem_arena_create("again"));
    }
    for (i = 0; i < n; i += 97) {
        void *p = catmem_alloc(made[i], 32);
        assert_non_null(p);
        assert_true(catmem_arena_owns(made[i], p));
        catmem_free(made[i], p);
        if (i != 3) {
            snprintf(name, sizeof name, "fill-%d", i);
            assert_ptr_equal(catmem_arena_find(name), made[i]);
        }
    }
    for (i = 0; i < n; i++) assert_int_equal(catmem_arena_release(made[i]), 0);
    assert_null(catmem_arena_find("fill-0"));
    assert_int_equal(errno, ENOENT);
}

#if EXPECT_JEMALLOC
/* On jemalloc, CATMEM_OWN_ARENAS user arenas live at once have a jemalloc arena of their
   own (set_decay works: a small arena has none, ENOTSUP); those past them are small; a freed
   one goes to the next arena created, before any small one. No other user arena is live. */
static void test_first_arenas_have_jemalloc_arenas_of_their_own(void **state) {
    enum { N = CATMEM_OWN_ARENAS + 8 };
    static catmem_arena *made[N];
    int i, own = 0, first_small = -1, first_own = -1;
    (void)state;
    for (i = 0; i < N; i++) {
        void *p;
        assert_non_null(made[i] = catmem_arena_create(NULL));
        assert_non_null(p = catmem_alloc(made[i], 100));
        catmem_free(made[i], p);
        if (catmem_arena_set_decay(made[i], -1, -1) == 0) {
            own++;
            if (first_own < 0) first_own = i;
        } else {
            assert_int_equal(catmem_arena_set_decay(made[i], -1, -1), ENOTSUP);
            if (first_small < 0) first_small = i;
        }
    }
    assert_int_equal(own, CATMEM_OWN_ARENAS);
    assert_int_equal(first_small, CATMEM_OWN_ARENAS);
    if (first_own >= 0) { /* its slot, with its jemalloc arena, goes to the next create */
        assert_int_equal(catmem_arena_release(made[first_own]), 0);
        assert_int_equal(catmem_arena_release(made[first_small]), 0); /* released last */
        assert_non_null(made[first_own] = catmem_arena_create(NULL));
        assert_int_equal(catmem_arena_set_decay(made[first_own], -1, -1), 0);
        assert_non_null(made[first_small] = catmem_arena_create(NULL));
        assert_int_equal(catmem_arena_set_decay(made[first_small], -1, -1), ENOTSUP);
    }
    for (i = 0; i < N; i++) assert_int_equal(catmem_arena_release(made[i]), 0);
}
#endif

/* An arena needs no name: NULL makes an anonymous one, named "" by catmem_arena_name, never
   found by name, with an id like any other; children can be anonymous too, and the report
   shows them by id (null in JSON). */
static void test_anonymous_arenas(void **state) {
    catmem_arena *a = catmem_arena_create(NULL), *b = catmem_arena_create(NULL), *c;
    char *p, buf[4096];
    FILE *f;
    size_t n;
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_string_equal(catmem_arena_name(a), "");
    assert_true(catmem_arena_id(a) >= CATMEM_KIND_COUNT);
    assert_int_not_equal(catmem_arena_id(a), catmem_arena_id(b));
    c = catmem_arena_create_child(a, NULL);
    assert_non_null(c);
    assert_ptr_equal(catmem_arena_parent(c), a);
    p = catmem_strdup(c, "in an anonymous child");
    assert_non_null(p);
    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(catmem_report(f, CATMEM_REPORT_JSON), 0);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    {
        char want[96];
        snprintf(want, sizeof want, "{\"name\": null, \"id\": %d, \"parent\": null, \"parent_id\": %d",
                 catmem_arena_id(c), catmem_arena_id(a));
        assert_non_null(strstr(buf, want));
    }
    assert_int_equal(catmem_arena_release(a), 0); /* and c with it */
    assert_null(catmem_arena_name(c));
    assert_int_equal(catmem_arena_release(b), 0);
}

/* catmem_arena_id is catmem's own number for the arena on every backend: the built-in arenas
   are 0 to CATMEM_KIND_COUNT - 1 in catmem_kind's order, and a released arena's number goes to
   the next arena created. */
static void test_ids_are_catmems_own(void **state) {
    catmem_arena *a, *b;
    int k, id;
    (void)state;
    for (k = 0; k < CATMEM_KIND_COUNT; k++)
        assert_int_equal(catmem_arena_id(catmem_arena_get((catmem_kind)k)), k);
    a = catmem_arena_create("id-a");
    assert_non_null(a);
    id = catmem_arena_id(a);
    assert_true(id >= CATMEM_KIND_COUNT);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_int_equal(catmem_arena_id(a), -1); /* a released arena's handle names nothing */
    b = catmem_arena_create(NULL);
    assert_int_equal(catmem_arena_id(b), id); /* the slot, and so the number, is reused */
    assert_int_equal(catmem_arena_release(b), 0);
}

static void test_reset_frees_everything(void **state) {
    catmem_arena *a = catmem_arena_create("reset-me");
    catmem_stats st;
    int i, round;
    (void)state;
    assert_non_null(a);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 1000; i++) {
            char *p = catmem_alloc(a, (size_t)(i % 300) + 1);
            assert_non_null(p);
            p[0] = 'x';
        }
        assert_non_null(catmem_aligned_alloc(a, 4096, 100));
        assert_non_null(catmem_calloc(a, 10, 100000));
        assert_int_equal(catmem_arena_stats(a, &st), 0);
        assert_true(st.allocated >= 140500 + 100 + 1000000); /* sum of the sizes asked for */
        assert_int_equal(catmem_arena_reset(a), 0);
        assert_int_equal(catmem_arena_stats(a, &st), 0);
        assert_int_equal(st.allocated, 0);
    }
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_stats_move_as_expected(void **state) {
    catmem_arena *a = catmem_arena_create("stats");
    catmem_stats before, during, after, total;
    void *p[200];
    int i;
    (void)state;
    assert_non_null(a);
    assert_int_equal(catmem_arena_stats(a, &before), 0);
    assert_int_equal(before.allocated, 0);
    for (i = 0; i < 200; i++) {
        p[i] = catmem_alloc(a, 100);
        assert_non_null(p[i]);
    }
    p[0] = catmem_realloc(a, p[0], 200000); /* a large one too */
    assert_non_null(p[0]);
    assert_int_equal(catmem_arena_stats(a, &during), 0);
    assert_true(during.allocated >= 199 * 100 + 200000);
    assert_true(during.active >= during.allocated);
    assert_true(during.nmalloc >= before.nmalloc + 200);
    assert_int_equal(catmem_total_stats(&total), 0);
    assert_true(total.allocated >= during.allocated);
    assert_true(total.nmalloc >= during.nmalloc);
    assert_true(total.resident > 0);
#if EXPECT_JEMALLOC
    assert_true(total.mapped > 0); /* system: 0 whenever malloc is not glibc's (ASan, Valgrind) */
#endif
    for (i = 0; i < 200; i++) catmem_free(a, p[i]);
    assert_int_equal(catmem_arena_stats(a, &after), 0);
    assert_int_equal(after.allocated, 0);
    assert_true(after.ndalloc >= during.ndalloc + 200);
    assert_true(after.nmalloc - after.ndalloc == before.nmalloc - before.ndalloc);
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_arenas_are_separated(void **state) {
    catmem_arena *a = catmem_arena_create("sep-a"), *b = catmem_arena_create("sep-b");
    void *pa[300], *pb[300];
    int i, round;
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 300; i++) {
            pa[i] = catmem_alloc(a, (size_t)(i % 64) * 8 + 8);
            pb[i] = catmem_alloc(b, (size_t)(i % 64) * 8 + 8);
            assert_non_null(pa[i]);
            assert_non_null(pb[i]);
            assert_true(catmem_arena_owns(a, pa[i]));
            assert_false(catmem_arena_owns(b, pa[i]));
            assert_true(catmem_arena_owns(b, pb[i]));
            assert_false(catmem_arena_owns(a, pb[i]));
        }
        /* Free A's blocks, then allocate from B: B must never get A's memory back. */
        for (i = 0; i < 300; i++) catmem_free(a, pa[i]);
        for (i = 0; i < 300; i++) catmem_free(b, pb[i]);
    }
    assert_int_equal(catmem_arena_release(a), 0);
    assert_int_equal(catmem_arena_release(b), 0);
}

static void test_purge_and_decay(void **state) {
    catmem_arena *a = catmem_arena_create("purge");
    void *big;
    (void)state;
    assert_non_null(a);
    big = catmem_alloc(a, 8 << 20);
    assert_non_null(big);
    memset(big, 1, 8 << 20);
    catmem_free(a, big);
    assert_int_equal(catmem_arena_purge(a), 0);
    assert_int_equal(catmem_arena_set_decay(a, -2, 0), EINVAL);
    /* A small arena (all user arenas with CATMEM_OWN_ARENAS 0) has no decay of its own: on
       jemalloc its chunks are in one jemalloc arena with every other small arena's, and on the
       engine it keeps no large blocks. A built-in one, and the first user arenas (this is the
       only one live), have jemalloc arenas (or heaps) of their own. */
#define DECAY_WORKS (EXPECT_JEMALLOC || CATMEMI_SYS_ENGINE) /* the engine off: nothing kept */
#if CATMEM_OWN_ARENAS != 0 && DECAY_WORKS
    assert_int_equal(catmem_arena_set_decay(a, 0, 0), 0);
#else
    assert_int_equal(catmem_arena_set_decay(a, 0, 0), ENOTSUP);
#endif
#if DECAY_WORKS
    assert_int_equal(catmem_arena_set_decay(catmem_arena_get(CATMEM_TASK), -1, 5000), 0);
    assert_int_equal(catmem_arena_set_decay(catmem_arena_get(CATMEM_TASK), 10000, 10000), 0);
#else
    assert_int_equal(catmem_arena_set_decay(catmem_arena_get(CATMEM_TASK), 0, 0), ENOTSUP);
#endif
    assert_int_equal(catmem_arena_release(a), 0);
}

static void test_profiling_needs_prof_true(void **state) {
    (void)state;
    /* This binary does not start jemalloc with prof:true (prof_test does). */
    assert_int_equal(catmem_prof_active(1), ENOTSUP);
    assert_int_equal(catmem_prof_dump(NULL), ENOTSUP);
}

static void test_shutdown_then_use_then_reinit(void **state) {
    catmem_arena *a = catmem_arena_create("survivor"), *r = req();
    catmem_stats st;
    char *keep, *late;
    int id_a, id_r;
    (void)state;
    assert_non_null(a);
    id_a = catmem_arena_id(a);
    id_r = catmem_arena_id(r);
    keep = catmem_strdup(a, "still here");
    late = catmem_alloc(r, 32);
    assert_non_null(keep);
    assert_non_null(late);
    catmem_shutdown();
    catmem_shutdown(); /* idempotent */
    assert_false(catmem_is_initialized());
    assert_null_errno(catmem_alloc(a, 8), ESHUTDOWN);
    assert_null_errno(catmem_alloc(r, 8), ESHUTDOWN);
    assert_null_errno(catmem_realloc(r, late, 64), ESHUTDOWN);
    assert_int_equal(catmem_arena_reset(a), ESHUTDOWN);
    assert_int_equal(catmem_arena_purge(a), ESHUTDOWN);
    assert_int_equal(catmem_arena_stats(a, &st), ESHUTDOWN);
    assert_int_equal(catmem_all_arenas_stats(&st), ESHUTDOWN);
    assert_int_equal(catmem_total_stats(&st), ESHUTDOWN);
    assert_int_equal(catmem_arena_release(a), ESHUTDOWN);
    catmem_free(r, late);                    /* freeing keeps working */
    assert_string_equal(keep, "still here"); /* shutdown frees nothing */

    assert_int_equal(catmem_init(), 0);
    assert_ptr_equal(catmem_arena_find("survivor"), a);
    assert_int_equal(catmem_arena_id(a), id_a);
    assert_int_equal(catmem_arena_id(req()), id_r);
    assert_string_equal(keep, "still here");
    catmem_free(a, keep);
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(a), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_before_init_makes_everything_fail_cleanly),
        cmocka_unit_test(test_init_is_idempotent_and_gives_distinct_builtin_arenas),
        cmocka_unit_test(test_alloc_and_free),
        cmocka_unit_test(test_zero_size_gives_unique_pointers),
        cmocka_unit_test(test_absurd_sizes_fail_with_enomem),
        cmocka_unit_test(test_null_handle_fails_with_einval),
        cmocka_unit_test(test_free_with_null_handle_still_frees),
        cmocka_unit_test(test_calloc_zeroes_and_checks_overflow),
        cmocka_unit_test(test_realloc_keeps_contents_and_fails_without_loss),
        cmocka_unit_test(test_realloc_into_another_arena_moves_the_block),
        cmocka_unit_test(test_aligned_alloc),
        cmocka_unit_test(test_aligned_and_zeroed_blocks_reuse_freed_memory),
#if EXPECT_JEMALLOC
        cmocka_unit_test(test_front_cache_classes_are_jemallocs),
#endif
        cmocka_unit_test(test_free_sized),
        cmocka_unit_test(test_usable_size_and_free_any),
        cmocka_unit_test(test_owner_from_the_pointer_in_many_arenas),
#if EXPECT_JEMALLOC
        cmocka_unit_test(test_free_any_goes_through_the_owners_cache),
#endif
        cmocka_unit_test(test_owner_calls_on_pointers_no_arena_owns),
        cmocka_unit_test(test_realloc_any_errors_and_reuse),
        cmocka_unit_test(test_strdup),
        cmocka_unit_test(test_create_find_release_and_names),
        cmocka_unit_test(test_many_arenas),
#if EXPECT_JEMALLOC
        cmocka_unit_test(test_first_arenas_have_jemalloc_arenas_of_their_own),
#endif
        cmocka_unit_test(test_anonymous_arenas),
        cmocka_unit_test(test_ids_are_catmems_own),
        cmocka_unit_test(test_stale_handles_fail_after_reuse),
#if CATMEM_OWN_ARENAS == 0 && defined(CATMEM_IMPLEMENTATION)
        cmocka_unit_test(test_small_arena_free_list_link_cannot_be_forged),
        cmocka_unit_test(test_small_arena_records_are_checked),
#endif
        cmocka_unit_test(test_reset_frees_everything),
        cmocka_unit_test(test_stats_move_as_expected),
        cmocka_unit_test(test_arenas_are_separated),
        cmocka_unit_test(test_purge_and_decay),
        cmocka_unit_test(test_profiling_needs_prof_true),
        cmocka_unit_test(test_shutdown_then_use_then_reinit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
