/* Heap profiling. Bazel runs this with MALLOC_CONF=prof:true,lg_prof_sample:0 (see
   tests/BUILD.bazel): jemalloc then samples every allocation and catmem can dump; the system
   backend refuses with ENOTSUP all the same. */
#define _GNU_SOURCE /* dladdr */
#include "catmem.h"
#include "testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define MARKED_SIZE  7000 /* size class 7168 */
#define MARKED_CLASS 7168

/* The allocation the dump must show, from a function the test can name (exported with
   -rdynamic, see tests/BUILD.bazel). Not inlined, and no tail call: an address inside it must be
   on the stack that jemalloc records. */
void *prof_marked_allocation(catmem_arena *a);
__attribute__((noinline)) void *prof_marked_allocation(catmem_arena *a) {
    void *p = catmem_alloc(a, MARKED_SIZE);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

/* 1 when an address inside prof_marked_allocation (dladdr names it) is on a stack of the heap
   profile at path, and that stack's totals count whole MARKED_CLASS blocks. jemalloc's format:
   "@ addr addr ..." per stack, then "  t*: <objects>: <bytes> [...]". */
static int dump_shows_marked_allocation(const char *path) {
    static char line[1 << 16];
    int in_stack = 0, found = 0;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        unsigned long long objects, bytes;
        if (line[0] == '@') {
            char *tok = strtok(line + 1, " \n");
            in_stack = 0;
            for (; tok != NULL; tok = strtok(NULL, " \n")) {
                Dl_info info;
                uintptr_t a = (uintptr_t)strtoull(tok, NULL, 16);
                if (dladdr((void *)a, &info) != 0 && info.dli_sname != NULL &&
                    strcmp(info.dli_sname, "prof_marked_allocation") == 0)
                    in_stack = 1;
            }
        } else if (in_stack && sscanf(line, " t*: %llu: %llu", &objects, &bytes) == 2) {
            found = objects >= 1 && bytes == objects * MARKED_CLASS;
            in_stack = 0;
        }
    }
    fclose(f);
    return found;
}

/* With opt.prof on, every catmem allocation must reach jemalloc's sampler, even where a front
   cache would have had a block of that size ready: the cache is primed first. */
static void test_every_allocation_is_sampled(void **state) {
    char path[4096];
    const char *dir = getenv("TEST_TMPDIR");
    catmem_arena *a;
    void *warm[8], *p;
    int i;
    (void)state;
    assert_int_equal(catmem_init(), 0);
    a = catmem_arena_get(CATMEM_TASK);
    snprintf(path, sizeof path, "%s/catmem-marked-%d.heap", dir != NULL ? dir : "/tmp",
             (int)getpid());
#if EXPECT_JEMALLOC
    /* the user can tell that every call goes to the arena */
    assert_non_null(strstr(catmem_backend_info(), "; front caches off: heap profiling"));
    assert_int_equal(catmem_prof_active(1), 0);
    for (i = 0; i < 8; i++) assert_non_null(warm[i] = catmem_alloc(a, MARKED_SIZE));
    for (i = 0; i < 8; i++) catmem_free(a, warm[i]);
    p = prof_marked_allocation(a);
    assert_non_null(p);
    assert_int_equal(catmem_prof_dump(path), 0);
    assert_true(dump_shows_marked_allocation(path));
    catmem_free(a, p);
    assert_int_equal(catmem_prof_active(0), 0);
    unlink(path);
#else
    (void)warm;
    (void)i;
    (void)p;
    (void)a;
    (void)dump_shows_marked_allocation;
    (void)prof_marked_allocation;
    assert_int_equal(catmem_prof_dump(path), ENOTSUP);
#endif
    catmem_shutdown();
}

static void test_prof_dump(void **state) {
    char path[4096];
    const char *dir = getenv("TEST_TMPDIR");
    void *p[1000];
    int i;
    (void)state;
    assert_non_null(getenv("MALLOC_CONF"));
    assert_int_equal(catmem_init(), 0);
    snprintf(path, sizeof path, "%s/catmem-%d.heap", dir != NULL ? dir : "/tmp", (int)getpid());
#if EXPECT_JEMALLOC
    {
        struct stat st;
        assert_int_equal(catmem_prof_active(1), 0);
        for (i = 0; i < 1000; i++) p[i] = catmem_alloc(catmem_arena_get(CATMEM_CACHE), 4096);
        assert_int_equal(catmem_prof_dump(path), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 0);
        assert_int_equal(catmem_prof_active(0), 0);
        for (i = 0; i < 1000; i++) catmem_free(catmem_arena_get(CATMEM_CACHE), p[i]);
        unlink(path);
    }
#else
    (void)p;
    (void)i;
    assert_int_equal(catmem_prof_active(1), ENOTSUP);
    assert_int_equal(catmem_prof_dump(path), ENOTSUP);
    assert_int_equal(access(path, F_OK), -1);
#endif
    catmem_shutdown();
    assert_int_equal(catmem_prof_dump(path), ESHUTDOWN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prof_dump),
        cmocka_unit_test(test_every_allocation_is_sampled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
