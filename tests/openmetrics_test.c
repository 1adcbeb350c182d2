/* The OpenMetrics exposition (catmem_report with CATMEM_REPORT_OPENMETRICS), read back by a real
   parser: this program writes the exposition and, beside it, what catmem_arena_stats and
   catmem_total_stats say of the same arenas; tests/openmetrics_check.py parses the first with
   Debian's python3-prometheus-client and compares every value with the second. Run on every
   backend variant, with a few arenas of every sort and with more arenas than the exposition
   shows one by one (CATMEM_REPORT_OPENMETRICS_ARENAS). The checker is found through
   CATMEM_OPENMETRICS_CHECK (CMake, Meson), else in tests/ under the current directory (Bazel's
   runfiles). */
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
#include <cmocka.h>

#define KEPT_MAX (CATMEM_REPORT_OPENMETRICS_ARENAS + 64)
#include "kept.h"

/* The process's own files: CTest and meson test run the variants at once, without TEST_TMPDIR. */
static const char *tmp_file(char *buf, size_t size, const char *name) {
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(buf, size, "%s/catmem-%d-%s", dir != NULL ? dir : "/tmp", (int)getpid(), name);
    return buf;
}

/* ---- what the C side knows: every live arena's catmem_arena_stats, as JSON ---- */
/* Names are the caller's bytes: written in hex, so the checker sees exactly those bytes. */
static void put_hex(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s != '\0'; s++) fprintf(f, "%02x", (unsigned char)*s);
    fputc('"', f);
}

static void put_stats(FILE *f, const catmem_stats *st) {
    fprintf(f,
            "\"allocated\": %zu, \"active\": %zu, \"resident\": %zu, \"mapped\": %zu, "
            "\"peak\": %zu, \"limit\": %zu, \"nmalloc\": %llu, \"ndalloc\": %llu",
            st->allocated, st->active, st->resident, st->mapped, st->peak, st->limit,
            (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc);
}

static void write_known(const char *path) {
    FILE *f = fopen(path, "w");
    catmem_stats st;
    unsigned i;
    assert_non_null(f);
    fprintf(f, "{\"backend\": \"%s\", \"cap\": %d, \"arenas\": [", catmem_backend_name(),
            CATMEM_REPORT_OPENMETRICS_ARENAS);
    for (i = 0; i < nlive; i++) {
        catmem_arena *parent = catmem_arena_parent(live[i].a);
        assert_int_equal(catmem_arena_stats(live[i].a, &st), 0);
        fprintf(f, "%s\n {\"id\": %d, \"parent_id\": %d, \"name\": ", i ? "," : "",
                catmem_arena_id(live[i].a), parent != NULL ? catmem_arena_id(parent) : -1);
        put_hex(f, catmem_arena_name(live[i].a));
        fprintf(f, ", \"cleanups\": %u, ", live[i].cleanups);
        put_stats(f, &st);
        fputc('}', f);
    }
    assert_int_equal(catmem_total_stats(&st), 0);
    fputs("],\n \"total\": {", f);
    put_stats(f, &st);
    fputs("}}\n", f);
    assert_int_equal(fclose(f), 0);
}

/* The exposition, then the statistics right after: nothing allocates in catmem's arenas between
   the two, so they must agree (a jemalloc backend's process-wide figures aside: stdio's own
   mallocs move them; the checker knows). */
static void check_exposition(const char *what) {
    char om[512], js[512];
    const char *check = getenv("CATMEM_OPENMETRICS_CHECK");
    FILE *f;
    int status;
    pid_t pid;
    tmp_file(om, sizeof om, "exposition.om");
    tmp_file(js, sizeof js, "stats.json");
    f = fopen(om, "w");
    assert_non_null(f);
    assert_int_equal(catmem_report(f, CATMEM_REPORT_OPENMETRICS), 0);
    assert_int_equal(fclose(f), 0);
    write_known(js);
    if (check == NULL) check = "tests/openmetrics_check.py";
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Debian's interpreter, which has python3-prometheus-client: not whichever python3 comes
           first in PATH (pyenv, a virtualenv). */
        execl("/usr/bin/python3", "python3", check, om, js, what, (char *)NULL);
        perror("openmetrics_test: /usr/bin/python3");
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unlink(om);
    unlink(js);
}

/* ---- the tests ---- */

/* Named, anonymous, child (named and anonymous, of a user arena and of a built-in one), with a
   limit, with cleanups, with a name that needs escaping and is not UTF-8. */
static void test_every_value_matches_the_arena_stats(void **state) {
    catmem_arena *sessions, *child, *anon, *req_child, *odd;
    void *p[8];
    int i;
    (void)state;
    keep_builtins();
    sessions = keep(catmem_arena_create("om-sessions"));
    child = keep(catmem_arena_create_child(sessions, "om-child"));
    anon = keep(catmem_arena_create(NULL));
    req_child = keep(catmem_arena_create_child(catmem_arena_get(CATMEM_REQUEST), NULL));
    odd = keep(catmem_arena_create("om \"q\" \\b\\\nx\xff\xe0\x80y"));
    keep(catmem_arena_create_child(anon, "om-under-anon"));
    assert_int_equal(catmem_arena_set_limit(child, 1 << 20), 0);
    for (i = 0; i < 3; i++) assert_non_null(catmem_alloc(sessions, 1000));
    for (i = 0; i < 8; i++) assert_non_null(p[i] = catmem_alloc(child, 5000));
    for (i = 0; i < 5; i++) catmem_free(child, p[i]);
    assert_non_null(catmem_alloc(anon, 100000));
    assert_non_null(catmem_alloc(req_child, 64));
    assert_non_null(catmem_strdup(odd, "escaped"));
    add_cleanup(child);
    add_cleanup(child);
    add_cleanup(odd);
    check_exposition("few");

    /* A reset frees every block and starts the peak again; the exposition follows. */
    assert_int_equal(catmem_arena_reset(sessions), 0); /* runs the child's cleanups too */
    entry(child)->cleanups = 0;
    assert_non_null(catmem_alloc(child, 300));
    check_exposition("few");
    release_own();
}

/* Past CATMEM_REPORT_OPENMETRICS_ARENAS live arenas, the rest are one series, arena "(other)",
   and catmem_arenas_other says how many. Arenas of many sizes, with ties (the lower id goes
   first), cleanups and limits among those summed. */
static void test_arenas_past_the_cap_are_summed_into_other(void **state) {
    unsigned i, extra = 7;
    (void)state;
    keep_builtins();
    for (i = 0; i < CATMEM_REPORT_OPENMETRICS_ARENAS + extra; i++) {
        char name[32];
        catmem_arena *a;
        snprintf(name, sizeof name, "om-%u", i);
        a = keep(catmem_arena_create(i % 3 == 0 ? name : NULL));
        assert_non_null(catmem_alloc(a, 16 * (1 + (i * 37) % 101)));
        if (i % 5 == 0) add_cleanup(a);
        if (i % 7 == 0) assert_int_equal(catmem_arena_set_limit(a, 1 << 16), 0);
    }
    check_exposition("cap");
    release_own();
}

static void test_bad_format_and_unwritable_stream(void **state) {
    FILE *f;
    (void)state;
    assert_int_equal(catmem_report(stdout, 3), EINVAL);
    assert_int_equal(catmem_report(stdout, -1), EINVAL);
    assert_int_equal(catmem_report(NULL, CATMEM_REPORT_OPENMETRICS), EINVAL);
    f = fopen("/dev/null", "r"); /* a stream that cannot be written */
    assert_non_null(f);
    errno = 0;
    assert_int_equal(catmem_report(f, CATMEM_REPORT_OPENMETRICS), EIO);
    assert_int_equal(errno, 0); /* a control function leaves errno alone */
    fclose(f);
}

/* CATMEM_REPORT=<path>.om or .prom: the exposition at exit, read at the first init; .json stays
   JSON. Each in a child that has not called catmem yet. */
static void exit_report_in(const char *path, const char *expect) {
    char text[256];
    size_t n;
    FILE *f;
    int status;
    pid_t pid;
    unlink(path);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("CATMEM_REPORT", path, 1);
        exit(catmem_arena_create("at-exit") != NULL ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_memory_equal(text, expect, strlen(expect));
    unlink(path);
}

/* Must run first: the children must start without catmem initialised. */
static void test_exit_report_format_follows_the_path(void **state) {
    char path[512];
    (void)state;
    assert_false(catmem_is_initialized());
    exit_report_in(tmp_file(path, sizeof path, "exit.om"), "# TYPE catmem_arena_allocated_bytes");
    exit_report_in(tmp_file(path, sizeof path, "exit.prom"), "# TYPE catmem_arena_allocated_bytes");
    exit_report_in(tmp_file(path, sizeof path, "exit.json"), "{\"backend\": ");
    exit_report_in(tmp_file(path, sizeof path, "exit.txt"), "catmem report: backend ");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_report_format_follows_the_path),
        cmocka_unit_test(test_every_value_matches_the_arena_stats),
        cmocka_unit_test(test_arenas_past_the_cap_are_summed_into_other),
        cmocka_unit_test(test_bad_format_and_unwritable_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
