/* The hardening tests' views of memory: issue 20 E's measure of reuse after a reset (where the
   first blocks land), and whether an address lies between guard pages. Include after
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

/* Whether a fork child reuses a's memory after a reset in its parent's order: each resets a
   and takes a block of each of the n sizes (at most 16). 1 when every block of the child's was
   where its parent's was, as it is every time when the child keeps its parent's random
   sequences (with the same memory, the same draws give the same blocks). */
static int child_reuses_like_parent(catmem_arena *a, const size_t *sizes, int n) {
    void *mine[16], *its[16];
    int fds[2], i, status, same = 1;
    pid_t pid;
    if (n > 16) n = 16;
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (catmem_arena_reset(a) != 0) _exit(3);
        for (i = 0; i < n; i++) its[i] = catmem_alloc(a, sizes[i]);
        _exit(write(fds[1], its, (size_t)n * sizeof its[0]) == (ssize_t)(n * sizeof its[0]) ? 0
                                                                                          : 3);
    }
    close(fds[1]);
    assert_int_equal(catmem_arena_reset(a), 0);
    for (i = 0; i < n; i++) assert_non_null(mine[i] = catmem_alloc(a, sizes[i]));
    assert_int_equal(read(fds[0], its, (size_t)n * sizeof its[0]), (ssize_t)(n * sizeof its[0]));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (i = 0; i < n; i++) same &= mine[i] == its[i];
    return same;
}

/* 1 when the mapping that holds addr has an inaccessible (PROT_NONE) mapping right before and
   right after it, which no malloc'd memory has on both sides; 0 otherwise. No cmocka asserts:
   it may run on any thread. */
static inline int between_guards(const void *addr) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512], perm[8], before[8] = "", after[8] = "";
    unsigned long lo, hi, prev_hi = 0, at_hi = 0;
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3) continue;
        if (at_hi != 0) { /* the mapping after addr's */
            if (lo == at_hi) strcpy(after, perm);
            break;
        }
        if ((uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            at_hi = hi;
            if (prev_hi != lo) before[0] = 0; /* a gap: nothing right before */
        } else {
            strcpy(before, perm);
        }
        prev_hi = hi;
    }
    fclose(f);
    return strcmp(before, "---p") == 0 && strcmp(after, "---p") == 0;
}

#endif
