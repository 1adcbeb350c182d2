/* Heap profiling. Bazel runs this with MALLOC_CONF=prof:true (see tests/BUILD.bazel): jemalloc
   then profiles and catmem can dump; the system backend refuses with ENOTSUP all the same. */
#include "catmem.h"
#include "testing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
