/* The arenas a report test keeps alive, with what the test knows of each, for it to compare
   with what catmem_report writes. Include after <cmocka.h>, with KEPT_MAX defined: the most
   arenas the test keeps at once. */
#ifndef CATMEM_TEST_KEPT_H
#define CATMEM_TEST_KEPT_H

typedef struct kept {
    catmem_arena *a;
    int id, parent_id; /* parent_id -1: a top-level arena */
    unsigned cleanups; /* registered by the test, not run yet */
    catmem_stats st;   /* as the test last read them */
} kept;

static kept live[KEPT_MAX]; /* in the order the test made them: parents before children */
static unsigned nlive;

static catmem_arena *keep(catmem_arena *a) {
    catmem_arena *parent;
    assert_non_null(a);
    assert_true(nlive < KEPT_MAX);
    parent = catmem_arena_parent(a);
    memset(&live[nlive], 0, sizeof live[nlive]);
    live[nlive].a = a;
    live[nlive].id = catmem_arena_id(a);
    live[nlive].parent_id = parent != NULL ? catmem_arena_id(parent) : -1;
    nlive++;
    return a;
}

static kept *entry(catmem_arena *a) {
    unsigned i;
    for (i = 0; i < nlive; i++)
        if (live[i].a == a) return &live[i];
    fail_msg("arena %d is not kept", catmem_arena_id(a));
    return NULL;
}

static void no_op(void *arg) { (void)arg; }

static void add_cleanup(catmem_arena *a) {
    assert_int_equal(catmem_arena_on_reset(a, no_op, NULL), 0);
    entry(a)->cleanups++;
}

static void keep_builtins(void) {
    int k;
    nlive = 0;
    for (k = 0; k < CATMEM_KIND_COUNT; k++) keep(catmem_arena_get((catmem_kind)k));
}

/* Newest first: children before their parents. */
static void release_own(void) {
    while (nlive > CATMEM_KIND_COUNT) assert_int_equal(catmem_arena_release(live[--nlive].a), 0);
    nlive = 0;
}

#endif
