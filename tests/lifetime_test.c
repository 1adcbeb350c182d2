/* Lifetimes: implicit init, cleanups on arenas and regions, child arenas, the out-of-memory
   handler, the report (text, and JSON read back by a real parser), the report at exit. Run on
   every backend variant. */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <cmocka.h>

/* A size catmem accepts but no allocator can serve: the allocation really runs out of memory. */
static volatile size_t unservable = CATMEM_SIZE_MAX - 4096;
static volatile size_t too_big = SIZE_MAX;

/* ---- a log of what ran, in order ---- */
static char run_log[256];
static void log_str(const char *s) { strncat(run_log, s, sizeof run_log - strlen(run_log) - 1); }
static void log_cleanup(void *arg) { log_str((const char *)arg); }

static char *read_file(const char *path) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The process's own file: without Bazel's TEST_TMPDIR (CTest, meson test), the other variants of
   this test write theirs in /tmp at the same time. */
static char tmp_path[512];
static const char *tmp_file(const char *name) {
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/catmem-%d-%s", dir != NULL ? dir : "/tmp",
             (int)getpid(), name);
    return tmp_path;
}

/* Must run first, in a process where catmem has not been called yet. */
static void test_first_call_initialises_and_exit_report_is_written(void **state) {
    const char *path = tmp_file("exit_report.json");
    char *text;
    cJSON *doc, *arenas, *a;
    int status, found = 0;
    pid_t pid;
    (void)state;
    assert_false(catmem_is_initialized());
    unlink(path);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* CATMEM_REPORT is read at the first init, which the first call makes */
        catmem_arena *x;
        setenv("CATMEM_REPORT", path, 1);
        x = catmem_arena_create("at-exit");
        if (x == NULL || catmem_alloc(x, 1000) == NULL) _exit(3);
        exit(0); /* atexit handlers run */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = read_file(path);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    arenas = cJSON_GetObjectItemCaseSensitive(doc, "arenas");
    assert_true(cJSON_IsArray(arenas));
    cJSON_ArrayForEach(a, arenas) {
        cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "at-exit") == 0) {
            found = 1;
            assert_true(cJSON_GetObjectItemCaseSensitive(a, "allocated")->valuedouble >= 1000);
        }
    }
    assert_true(found);
    cJSON_Delete(doc);
    unlink(path);

    /* In this process: the first call, here an arena creation, initialises catmem. */
    assert_false(catmem_is_initialized());
    {
        catmem_arena *early = catmem_arena_create("early");
        void *p;
        assert_non_null(early);
        assert_true(catmem_is_initialized());
        p = catmem_alloc(early, 64);
        assert_non_null(p);
        catmem_free(early, p);
        /* After an explicit shutdown, nothing initialises implicitly. */
        catmem_shutdown();
        assert_null_errno(catmem_arena_get(CATMEM_CACHE), ESHUTDOWN);
        assert_null_errno(catmem_alloc(early, 8), ESHUTDOWN);
        assert_null_errno(catmem_arena_create_child(early, "late"), ESHUTDOWN);
        assert_int_equal(catmem_arena_on_reset(early, log_cleanup, "x"), ESHUTDOWN);
        assert_int_equal(catmem_report(stdout, CATMEM_REPORT_TEXT), ESHUTDOWN);
        assert_false(catmem_is_initialized());
        assert_int_equal(catmem_init(), 0);
        assert_int_equal(catmem_arena_release(early), 0);
    }
}

static void test_cleanups_run_last_first_once_before_the_memory_goes(void **state) {
    catmem_arena *a = catmem_arena_create("cleanups");
    char *text;
    (void)state;
    assert_non_null(a);
    text = catmem_strdup(a, "B");
    assert_non_null(text);
    run_log[0] = '\0';
    assert_int_equal(catmem_arena_on_reset(a, log_cleanup, "1"), 0);
    assert_int_equal(catmem_arena_on_reset(a, log_cleanup, text), 0); /* reads arena memory */
    assert_int_equal(catmem_arena_on_reset(a, log_cleanup, "3"), 0);
    assert_string_equal(run_log, "");
    assert_int_equal(catmem_arena_reset(a), 0);
    assert_string_equal(run_log, "3B1");
    assert_int_equal(catmem_arena_reset(a), 0); /* each exactly once */
    assert_string_equal(run_log, "3B1");
    assert_non_null(catmem_alloc(a, 10)); /* the arena is live again after its cleanups */
    assert_int_equal(catmem_arena_on_reset(a, log_cleanup, "R"), 0);
    assert_int_equal(catmem_arena_release(a), 0);
    assert_string_equal(run_log, "3B1R");
    /* Gone after the release: registering on the released handle is refused. */
    assert_int_equal(catmem_arena_on_reset(a, log_cleanup, "x"), EINVAL);
    assert_int_equal(catmem_arena_on_reset(NULL, log_cleanup, "x"), EINVAL);
    assert_int_equal(catmem_arena_on_reset(catmem_arena_get(CATMEM_TASK), NULL, "x"), EINVAL);
}

/* What a cleanup gets when it calls back into the arena being reset. */
static catmem_arena *busy_arena;
static void *busy_block;
static int busy_alloc_errno, busy_reset, busy_release, busy_register, busy_stats;
static int other_alloc_ok;
static void calls_its_own_arena(void *arg) {
    catmem_stats st;
    (void)arg;
    errno = 0;
    busy_alloc_errno = catmem_alloc(busy_arena, 16) == NULL ? errno : 0;
    busy_reset = catmem_arena_reset(busy_arena);
    busy_release = catmem_arena_release(busy_arena);
    busy_register = catmem_arena_on_reset(busy_arena, log_cleanup, "x");
    busy_stats = catmem_arena_stats(busy_arena, &st);
    catmem_free(busy_arena, busy_block); /* freeing stays allowed */
    {
        void *q = catmem_alloc(catmem_arena_get(CATMEM_TASK), 16); /* other arenas work */
        other_alloc_ok = q != NULL;
        catmem_free(catmem_arena_get(CATMEM_TASK), q);
    }
}

static void test_a_cleanup_calling_its_own_arena_gets_ebusy(void **state) {
    catmem_stats st;
    int round;
    (void)state;
    busy_arena = catmem_arena_create("busy");
    assert_non_null(busy_arena);
    for (round = 0; round < 2; round++) { /* the second time with a cache already made */
        assert_non_null(catmem_alloc(busy_arena, 16));
        busy_block = catmem_alloc(busy_arena, 100);
        assert_non_null(busy_block);
        assert_int_equal(catmem_arena_on_reset(busy_arena, calls_its_own_arena, NULL), 0);
        assert_int_equal(catmem_arena_reset(busy_arena), 0);
        assert_int_equal(busy_alloc_errno, EBUSY);
        assert_int_equal(busy_reset, EBUSY);
        assert_int_equal(busy_release, EBUSY);
        assert_int_equal(busy_register, EBUSY);
        assert_int_equal(busy_stats, EBUSY);
        assert_true(other_alloc_ok);
    }
    assert_int_equal(catmem_arena_stats(busy_arena, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(busy_arena), 0);
}

static void test_children_reset_and_release_with_their_parent(void **state) {
    catmem_arena *p = catmem_arena_create("parent");
    catmem_arena *c = catmem_arena_create_child(p, "child");
    catmem_arena *g = catmem_arena_create_child(c, "grandchild");
    catmem_arena *sib = catmem_arena_create_child(p, "sibling");
    catmem_stats st;
    (void)state;
    assert_non_null(p);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(sib);
    assert_ptr_equal(catmem_arena_parent(g), c);
    assert_ptr_equal(catmem_arena_parent(c), p);
    assert_ptr_equal(catmem_arena_parent(sib), p);
    assert_null(catmem_arena_parent(p));
    assert_null(catmem_arena_parent(catmem_arena_get(CATMEM_REQUEST)));
    assert_null_errno(catmem_arena_parent(NULL), EINVAL);
    assert_null_errno(catmem_arena_create_child(NULL, "orphan"), EINVAL);
    assert_null_errno(catmem_arena_create_child(p, "child"), EEXIST);
    assert_null_errno(catmem_arena_create_child(p, ""), EINVAL);

    run_log[0] = '\0';
    assert_int_equal(catmem_arena_on_reset(p, log_cleanup, "P"), 0);
    assert_int_equal(catmem_arena_on_reset(c, log_cleanup, "C"), 0);
    assert_int_equal(catmem_arena_on_reset(g, log_cleanup, "G"), 0);
    assert_int_equal(catmem_arena_on_reset(sib, log_cleanup, "S"), 0);
    assert_non_null(catmem_alloc(g, 3000));
    assert_non_null(catmem_alloc(c, 3000));
    assert_non_null(catmem_alloc(p, 3000));
    /* A child alone: only its subtree. */
    assert_int_equal(catmem_arena_reset(c), 0);
    assert_string_equal(run_log, "GC");
    assert_int_equal(catmem_arena_stats(g, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_stats(p, &st), 0);
    assert_true(st.allocated >= 3000);
    /* The parent: every child first, each child's own children before it. */
    run_log[0] = '\0';
    assert_int_equal(catmem_arena_on_reset(c, log_cleanup, "C"), 0);
    assert_int_equal(catmem_arena_on_reset(g, log_cleanup, "G"), 0);
    assert_int_equal(catmem_arena_reset(p), 0);
    assert_true(strcmp(run_log, "GCSP") == 0 || strcmp(run_log, "SGCP") == 0);
    assert_int_equal(catmem_arena_stats(p, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_string_equal(catmem_arena_name(g), "grandchild"); /* reset keeps them */
    /* Releasing the parent releases them all. */
    run_log[0] = '\0';
    assert_int_equal(catmem_arena_on_reset(g, log_cleanup, "G"), 0);
    assert_int_equal(catmem_arena_on_reset(p, log_cleanup, "P"), 0);
    assert_int_equal(catmem_arena_release(p), 0);
    assert_string_equal(run_log, "GP");
    assert_null(catmem_arena_name(c));
    assert_null(catmem_arena_name(g));
    assert_null(catmem_arena_name(sib));
    assert_null_errno(catmem_arena_find("grandchild"), ENOENT);
    assert_null_errno(catmem_alloc(g, 8), EINVAL);
    assert_null_errno(catmem_arena_create_child(c, "late"), EINVAL);
    /* The slots come back, as top-level arenas. */
    c = catmem_arena_create("child");
    assert_non_null(c);
    assert_null(catmem_arena_parent(c));
    assert_int_equal(catmem_arena_release(c), 0);
}

static void test_children_of_a_builtin_arena(void **state) {
    catmem_arena *req = catmem_arena_get(CATMEM_REQUEST);
    catmem_arena *one = catmem_arena_create_child(req, "request-1");
    catmem_stats st;
    (void)state;
    assert_non_null(one);
    assert_non_null(catmem_alloc(one, 500));
    run_log[0] = '\0';
    assert_int_equal(catmem_arena_on_reset(one, log_cleanup, "1"), 0);
    assert_int_equal(catmem_arena_on_reset(req, log_cleanup, "R"), 0);
    assert_int_equal(catmem_arena_reset(req), 0);
    assert_string_equal(run_log, "1R");
    assert_int_equal(catmem_arena_stats(one, &st), 0);
    assert_int_equal(st.allocated, 0);
    assert_int_equal(catmem_arena_release(req), EINVAL); /* built-ins stay */
    assert_int_equal(catmem_arena_release(one), 0);
}

/* A child's cleanup that resets its parent: EBUSY, the parent is cleaning too. */
static int child_reset_parent;
static void resets_parent(void *arg) {
    child_reset_parent = catmem_arena_reset((catmem_arena *)arg);
}

static void test_a_childs_cleanup_cannot_reset_its_parent(void **state) {
    catmem_arena *p = catmem_arena_create("p2");
    catmem_arena *c = catmem_arena_create_child(p, "c2");
    (void)state;
    assert_int_equal(catmem_arena_on_reset(c, resets_parent, p), 0);
    assert_int_equal(catmem_arena_reset(p), 0);
    assert_int_equal(child_reset_parent, EBUSY);
    assert_int_equal(catmem_arena_release(p), 0);
}

/* ---- regions ---- */
static catmem_region *busy_region;
static int region_alloc_errno, region_reset_rc, region_release_rc, region_register_rc;
static void calls_its_own_region(void *arg) {
    (void)arg;
    errno = 0;
    region_alloc_errno = catmem_region_alloc(busy_region, 8) == NULL ? errno : 0;
    region_reset_rc = catmem_region_reset(busy_region);
    region_release_rc = catmem_region_release(busy_region);
    region_register_rc = catmem_region_on_reset(busy_region, log_cleanup, "x");
}

static void test_region_cleanups(void **state) {
    catmem_region r;
    catmem_region_mark m;
    char *late;
    (void)state;
    assert_int_equal(catmem_region_init(&r, catmem_arena_get(CATMEM_REQUEST)), 0);
    run_log[0] = '\0';
    assert_int_equal(catmem_region_on_reset(&r, log_cleanup, "1"), 0);
    m = catmem_region_save(&r);
    late = catmem_region_strdup(&r, "L"); /* taken back by the restore, read by its cleanup */
    assert_non_null(late);
    assert_int_equal(catmem_region_on_reset(&r, log_cleanup, late), 0);
    assert_int_equal(catmem_region_on_reset(&r, log_cleanup, "3"), 0);
    assert_int_equal(catmem_region_restore(&r, m), 0); /* only those after the mark */
    assert_string_equal(run_log, "3L");
    assert_int_equal(catmem_region_reset(&r), 0);
    assert_string_equal(run_log, "3L1");
    assert_int_equal(catmem_region_reset(&r), 0);
    assert_string_equal(run_log, "3L1");
    assert_int_equal(catmem_region_on_reset(&r, log_cleanup, "R"), 0);
    assert_int_equal(catmem_region_release(&r), 0);
    assert_string_equal(run_log, "3L1R");

    /* A cleanup that calls its own region gets EBUSY; the region works afterwards. */
    busy_region = &r;
    assert_int_equal(catmem_region_on_reset(&r, calls_its_own_region, NULL), 0);
    assert_int_equal(catmem_region_reset(&r), 0);
    assert_int_equal(region_alloc_errno, EBUSY);
    assert_int_equal(region_reset_rc, EBUSY);
    assert_int_equal(region_release_rc, EBUSY);
    assert_int_equal(region_register_rc, EBUSY);
    assert_non_null(catmem_region_alloc(&r, 64));
    assert_int_equal(catmem_region_release(&r), 0);

    {
        catmem_region never_initialised;
        memset(&never_initialised, 0, sizeof never_initialised);
        errno = 0;
        assert_int_equal(catmem_region_on_reset(&never_initialised, log_cleanup, "x"), EINVAL);
        assert_int_equal(errno, 0);
    }
    assert_int_equal(catmem_region_on_reset(NULL, log_cleanup, "x"), EINVAL);
    assert_int_equal(catmem_region_on_reset(&r, NULL, "x"), EINVAL);
}

/* ---- the out-of-memory handler ---- */
static int oom_calls;
static catmem_arena *oom_arena;
static size_t oom_size;
static void *oom_arg;
static int oom_nested_errno;
static int on_oom(catmem_arena *a, size_t size, void *arg) {
    oom_calls++;
    oom_arena = a;
    oom_size = size;
    oom_arg = arg;
    /* An allocation that fails inside the handler does not call it again. */
    errno = 0;
    oom_nested_errno = catmem_alloc(a, unservable) == NULL ? errno : 0;
    return 1; /* "made room": catmem tries once more, and fails again */
}

static void test_oom_handler_is_called_once_and_never_reentered(void **state) {
    catmem_arena *a = catmem_arena_get(CATMEM_CACHE);
    char *p;
    int tag;
    (void)state;
    /* With this thread's cache or heap for the arena already made, so that the failure happens
       past the backend's fast path. */
    p = catmem_alloc(a, 16);
    assert_non_null(p);
    catmem_free(a, p);
    catmem_set_oom_handler(on_oom, &tag);
    assert_null_errno(catmem_alloc(a, unservable), ENOMEM);
    assert_int_equal(oom_calls, 1);
    assert_ptr_equal(oom_arena, a);
    assert_int_equal(oom_size, unservable);
    assert_ptr_equal(oom_arg, &tag);
    assert_int_equal(oom_nested_errno, ENOMEM);
    /* realloc too, and the block stays as it was. */
    p = catmem_strdup(a, "keep");
    assert_null_errno(catmem_realloc(a, p, unservable), ENOMEM);
    assert_int_equal(oom_calls, 2);
    assert_string_equal(p, "keep");
    catmem_free(a, p);
    /* Sizes no allocation accepts fail at once: nothing for a handler to do. */
    assert_null_errno(catmem_alloc(a, too_big), ENOMEM);
    assert_int_equal(oom_calls, 2);
    catmem_set_oom_handler(NULL, NULL);
    assert_null_errno(catmem_alloc(a, unservable), ENOMEM);
    assert_int_equal(oom_calls, 2);
}

/* ---- the report ---- */
static cJSON *find_arena(cJSON *doc, const char *name) {
    cJSON *a, *arenas = cJSON_GetObjectItemCaseSensitive(doc, "arenas");
    cJSON_ArrayForEach(a, arenas) {
        cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) return a;
    }
    return NULL;
}

static void test_report_text_and_json(void **state) {
    catmem_arena *p = catmem_arena_create("rep-parent");
    catmem_arena *c = catmem_arena_create_child(p, "rep-child");
    catmem_arena *odd = catmem_arena_create("q\"uo\\te\t");
    const char *path = tmp_file("report.txt");
    cJSON *doc, *row, *total;
    FILE *f;
    char *text;
    (void)state;
    assert_non_null(odd);
    assert_int_equal(catmem_arena_set_limit(c, 1 << 20), 0);
    assert_non_null(catmem_alloc(c, 5000));
    assert_int_equal(catmem_arena_on_reset(c, log_cleanup, "a"), 0);
    assert_int_equal(catmem_arena_on_reset(c, log_cleanup, "b"), 0);

    f = fopen(path, "w");
    assert_int_equal(catmem_report(f, CATMEM_REPORT_TEXT), 0);
    fclose(f);
    text = read_file(path);
    assert_non_null(strstr(text, "catmem report: backend "));
    assert_non_null(strstr(text, "rep-parent"));
    assert_non_null(strstr(text, "rep-child"));
    assert_non_null(strstr(text, "request"));
    assert_non_null(strstr(text, "\nall arenas ")); /* the two totals, each named */
    assert_non_null(strstr(text, "\nbackend "));
    assert_non_null(strstr(text, " peak "));
    assert_non_null(strstr(text, " limit "));
    assert_non_null(strstr(text, " 1048576 ")); /* the child's limit */

    f = fopen(path, "w");
    assert_int_equal(catmem_report(f, CATMEM_REPORT_JSON), 0);
    fclose(f);
    doc = cJSON_Parse(read_file(path));
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "backend")->valuestring,
                        catmem_backend_name());
    row = find_arena(doc, "rep-child");
    assert_non_null(row);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(row, "parent")->valuestring, "rep-parent");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "cleanups")->valueint, 2);
    assert_true(cJSON_GetObjectItemCaseSensitive(row, "allocated")->valuedouble >= 5000);
    assert_true(cJSON_GetObjectItemCaseSensitive(row, "peak")->valuedouble >=
                cJSON_GetObjectItemCaseSensitive(row, "allocated")->valuedouble);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "limit")->valuedouble, 1 << 20);
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(find_arena(doc, "rep-parent"), "limit")->valuedouble, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "id")->valueint, catmem_arena_id(c));
    assert_true(
        cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(find_arena(doc, "rep-parent"), "parent")));
    assert_non_null(find_arena(doc, "q\"uo\\te\t")); /* escaped, and read back the same */
    total = cJSON_GetObjectItemCaseSensitive(doc, "total");
    assert_true(cJSON_GetObjectItemCaseSensitive(total, "allocated")->valuedouble >= 5000);
    total = cJSON_GetObjectItemCaseSensitive(doc, "all_arenas");
    assert_true(cJSON_GetObjectItemCaseSensitive(total, "allocated")->valuedouble >= 5000);
    cJSON_Delete(doc);
    unlink(path);

    assert_int_equal(catmem_report(NULL, CATMEM_REPORT_TEXT), EINVAL);
    assert_int_equal(catmem_report(stdout, 7), EINVAL);
    f = fopen("/dev/null", "r"); /* a stream that cannot be written */
    errno = 0;
    assert_int_equal(catmem_report(f, CATMEM_REPORT_TEXT), EIO);
    assert_int_equal(errno, 0); /* a control function leaves errno alone */
    fclose(f);
    assert_int_equal(catmem_arena_release(p), 0);
    assert_int_equal(catmem_arena_release(odd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_call_initialises_and_exit_report_is_written),
        cmocka_unit_test(test_cleanups_run_last_first_once_before_the_memory_goes),
        cmocka_unit_test(test_a_cleanup_calling_its_own_arena_gets_ebusy),
        cmocka_unit_test(test_children_reset_and_release_with_their_parent),
        cmocka_unit_test(test_children_of_a_builtin_arena),
        cmocka_unit_test(test_a_childs_cleanup_cannot_reset_its_parent),
        cmocka_unit_test(test_region_cleanups),
        cmocka_unit_test(test_oom_handler_is_called_once_and_never_reentered),
        cmocka_unit_test(test_report_text_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
