/* Issue 20 E's measure of reuse after a reset: where the first blocks land. Include after
   <cmocka.h>. */
#ifndef CATMEM_TEST_REUSE_H
#define CATMEM_TEST_REUSE_H

/* resets + 1 rounds of: a block of each of the n sizes (at most 16), then a reset of a. Returns
   how many of the blocks after a reset were where the block of that size was before it. */
static int first_blocks_in_place(catmem_arena *a, const size_t *sizes, int n, int resets) {
    void *before[16], *p;
    int i, r, same = 0;
    for (r = 0; r <= resets; r++) {
        for (i = 0; i < n && i < 16; i++) {
            assert_non_null(p = catmem_alloc(a, sizes[i]));
            if (r > 0 && p == before[i]) same++;
            before[i] = p;
        }
        assert_int_equal(catmem_arena_reset(a), 0);
    }
    return same;
}

#endif
