/* Heap profiles (catmem_profile_write, CATMEM_PROFILE), read back by a real tool: Debian's
   go tool pprof (golang-go) symbolizes the stacks from this binary's DWARF (it is built with
   -g) and attributes each function to its arena; -tags lists the arenas and their parents.
   Without go the checks that need it are skipped, loudly, except in CI, which installs
   golang-go and fails without it. Run on every backend variant. */
#include "catmem.h"
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define INTERVAL 16384 /* mean bytes between samples in the accuracy test */

static const char *tmp_file(char *buf, size_t size, const char *name) {
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(buf, size, "%s/catmem-%d-%s", dir != NULL ? dir : "/tmp", (int)getpid(), name);
    return buf;
}

static const char *go_path(void) {
    static const char *const where[] = {"/usr/bin/go", "/usr/lib/go/bin/go",
                                        "/usr/local/go/bin/go"};
    const char *env = getenv("PROFILE_TEST_GO"); /* a go of one's own; "": none */
    unsigned i;
    if (env != NULL) return env[0] != '\0' && access(env, X_OK) == 0 ? env : NULL;
    for (i = 0; i < sizeof where / sizeof *where; i++)
        if (access(where[i], X_OK) == 0) return where[i];
    return NULL;
}

/* go tool pprof with args (NULL-terminated, the profile last) into out; 0 when it exited 0.
   Not under LD_PRELOAD: the runtime_preload variant's jemalloc is for this process only. */
static int pprof(const char *out, const char *const *args) {
    const char *argv[16] = {"go", "tool", "pprof"};
    int n = 3, status;
    pid_t pid;
    while (*args != NULL && n < 15) argv[n++] = *args++;
    argv[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(out, "w", stdout);
        char home[512];
        if (f == NULL) _exit(126);
        unsetenv("LD_PRELOAD");
        if (getenv("HOME") == NULL) setenv("HOME", tmp_file(home, sizeof home, "home"), 1);
        execv(go_path(), (char *const *)argv);
        perror("profile_test: go");
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The flat value pprof -top gives fn (in bytes with -unit=B, or a count), -1 when it is not
   listed. */
static long long top_value(const char *out, const char *fn) {
    FILE *f = fopen(out, "r");
    char line[1024];
    long long v = -1;
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line), fl = strlen(fn);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' ')) line[--len] = '\0';
        if (len > fl && strcmp(line + len - fl, fn) == 0 && line[len - fl - 1] == ' ')
            v = strtoll(line, NULL, 10);
    }
    fclose(f);
    return v;
}

static int file_has(const char *path, const char *text) {
    FILE *f = fopen(path, "r");
    char buf[65536];
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

static void write_profile(const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(catmem_profile_write(f, 0), 0);
    assert_int_equal(fclose(f), 0);
}

/* 1 when go is here. Without it: in CI (CI set, as .ci/run sets it), a failure, since CI
   installs golang-go (tools/bazel); elsewhere the pprof checks are skipped, saying so. */
static int need_go(void) {
    const char *ci = getenv("CI");
    if (go_path() != NULL) return 1;
    if (ci != NULL && ci[0] != '\0' && strcmp(ci, "false") != 0)
        fail_msg("profile_test: no go in CI, which installs Debian's golang-go (tools/bazel)");
    fprintf(stderr, "profile_test: SKIPPED the pprof checks: no go (Debian's golang-go) here\n");
    return 0;
}

/* ---- the totals the profile states ---- */

/* The line of pprof's output at out that starts with prefix, its four byte figures in st (the
   other fields 0); fails when there is none. */
static void comment_figures(const char *out, const char *prefix, catmem_stats *st) {
    FILE *f = fopen(out, "r");
    char line[1024];
    int found = 0;
    assert_non_null(f);
    memset(st, 0, sizeof *st);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
        found = sscanf(line + strlen(prefix),
                       "allocated %zu, active %zu, resident %zu, mapped %zu bytes; ",
                       &st->allocated, &st->active, &st->resident, &st->mapped) == 4;
        assert_true(found);
    }
    fclose(f);
    if (!found) fail_msg("no comment \"%s...\" in the profile", prefix);
}

static int on_system(void) { return strcmp(catmem_backend_name(), "system") == 0; }

/* The profile at path states both totals as comments (go tool pprof -comments), each named for
   what it is: "all arenas", the sum of catmem_arena_stats over the live arenas (these n), and
   "backend <name>", catmem_total_stats: catmem's arenas on the system backend; the whole
   process on jemalloc, which stdio's mallocs move, so at least catmem's arenas there. Nothing
   allocates in catmem's arenas between the profile and these readings. */
static void check_totals(const char *path, catmem_arena *const *live, int n) {
    const char *args[] = {"-comments", path, NULL};
    char out[512], want[256];
    catmem_stats sum, st, total, got;
    int i;
    memset(&sum, 0, sizeof sum);
    for (i = 0; i < n; i++) {
        assert_int_equal(catmem_arena_stats(live[i], &st), 0);
        sum.allocated += st.allocated;
        sum.active += st.active;
        sum.resident += st.resident;
        sum.mapped += st.mapped;
    }
    assert_int_equal(catmem_total_stats(&total), 0);
    assert_int_equal(pprof(tmp_file(out, sizeof out, "comments.txt"), args), 0);
    assert_true(file_has(out, "all arenas: allocated "));
    assert_true(file_has(out, " bytes; catmem_all_arenas_stats, the sum over catmem's live "
                              "arenas\n"));
    comment_figures(out, "all arenas: ", &got);
    assert_true(sum.allocated > 0);
    assert_int_equal(got.allocated, sum.allocated);
    assert_int_equal(got.active, sum.active);
    assert_int_equal(got.resident, sum.resident);
    assert_int_equal(got.mapped, sum.mapped);
    snprintf(want, sizeof want, "backend %s: ", catmem_backend_name());
    comment_figures(out, want, &got);
    if (on_system()) {
        assert_true(file_has(out, " bytes; catmem_total_stats, catmem's arenas\n"));
        assert_int_equal(got.allocated, total.allocated);
        assert_int_equal(got.active, total.active);
        assert_int_equal(got.resident, total.resident);
        assert_int_equal(got.mapped, total.mapped);
    } else {
        assert_true(file_has(out, " bytes; catmem_total_stats, the whole process (every block "
                                  "jemalloc serves, catmem's or not)\n"));
        assert_true(got.allocated >= sum.allocated && got.mapped >= sum.mapped);
    }
}

/* ---- two arenas, two functions ---- */
#define NA 65536 /* blocks of 256 B: 16 MiB, half of them freed */
#define NB 8192  /* blocks of 1000 B: some 8 MiB */
static void *blocks_a[NA], *blocks_b[NB];

__attribute__((noinline)) void fill_alpha(catmem_arena *a) {
    int i;
    for (i = 0; i < NA; i++) assert_non_null(blocks_a[i] = catmem_alloc(a, 256));
}

__attribute__((noinline)) void fill_beta(catmem_arena *b) {
    int i;
    for (i = 0; i < NB; i++) assert_non_null(blocks_b[i] = catmem_alloc(b, 1000));
}

/* |value - truth| within 5 standard deviations of the estimate: a Poisson count of samples,
   each standing for about INTERVAL bytes, has a variance of truth * INTERVAL. */
static void assert_near(long long value, double truth) {
    double sd = 0, x = truth * INTERVAL;
    for (sd = x / 2; sd > 0 && (sd * sd - x > 1 || x - sd * sd > 1);) sd = (sd + x / sd) / 2;
    fprintf(stderr, "  pprof says %lld B, the truth is %.0f B (5 sd: %.0f B)\n", value, truth,
            5 * sd);
    assert_true(value >= 0);
    assert_true((double)value > truth - 5 * sd && (double)value < truth + 5 * sd);
}

static void test_pprof_attributes_each_function_to_its_arena(void **state) {
    char path[512], out[512];
    catmem_arena *a, *b, *live[CATMEM_KIND_COUNT + 2];
    int i;
    (void)state;
    assert_int_equal(catmem_profile_interval(INTERVAL), 0);
    a = catmem_arena_create("alpha");
    b = catmem_arena_create_child(a, "beta");
    assert_non_null(a);
    assert_non_null(b);
    fill_alpha(a);
    fill_beta(b);
    for (i = 0; i < NA; i += 2) catmem_free(a, blocks_a[i]); /* their samples go */
    write_profile(tmp_file(path, sizeof path, "two.pb"));
    if (need_go()) {
        const char *in_a[] = {"-top", "-unit=B", "-sample_index=inuse_space",
                              "-tagfocus=arena=alpha", path, NULL};
        const char *in_b[] = {"-top", "-unit=B", "-sample_index=inuse_space",
                              "-tagfocus=arena=beta", path, NULL};
        const char *all_a[] = {"-top", "-unit=B", "-sample_index=alloc_space",
                               "-tagfocus=arena=alpha", path, NULL};
        const char *tags[] = {"-tags", path, NULL};
        tmp_file(out, sizeof out, "pprof.txt");
        assert_int_equal(pprof(out, in_a), 0);
        assert_near(top_value(out, "fill_alpha"), NA / 2 * 256.0);
        assert_int_equal(top_value(out, "fill_beta"), -1);
        assert_int_equal(pprof(out, in_b), 0);
        assert_near(top_value(out, "fill_beta"), NB * 1000.0);
        assert_int_equal(top_value(out, "fill_alpha"), -1);
        assert_int_equal(pprof(out, all_a), 0); /* freed blocks count in alloc_space */
        assert_near(top_value(out, "fill_alpha"), NA * 256.0);
        assert_int_equal(pprof(out, tags), 0);
        assert_true(file_has(out, ": alpha\n"));
        assert_true(file_has(out, ": beta\n"));
        assert_true(file_has(out, " parent: "));
        for (i = 0; i < CATMEM_KIND_COUNT; i++) live[i] = catmem_arena_get((catmem_kind)i);
        live[i++] = a; /* the process's only other arenas: the tests before ran in children */
        live[i++] = b;
        check_totals(path, live, i);
    }
    for (i = 1; i < NA; i += 2) catmem_free(a, blocks_a[i]);
    assert_int_equal(catmem_arena_release(a), 0); /* beta with it */
    assert_int_equal(catmem_profile_interval(0), 0);
}

/* ---- free, realloc, free_any, reset and release drop samples ---- */
__attribute__((noinline)) void fill_gamma(catmem_arena *g, void **p, int n) {
    int i;
    for (i = 0; i < n; i++) assert_non_null(p[i] = catmem_alloc(g, 4096));
}

/* pprof's inuse_objects of fill_gamma in arena gamma (-1: none). */
static long long gamma_objects(const char *path, const char *index) {
    char out[512], si[64];
    const char *args[] = {"-top", si, "-tagfocus=arena=gamma", path, NULL};
    snprintf(si, sizeof si, "-sample_index=%s", index);
    write_profile(path);
    assert_int_equal(pprof(tmp_file(out, sizeof out, "gamma.txt"), args), 0);
    return top_value(out, "fill_gamma");
}

static void test_free_reset_and_release_drop_samples(void **state) {
    char path[512];
    void *p[100], *q;
    catmem_arena *g = catmem_arena_create("gamma");
    int i;
    (void)state;
    if (!need_go()) return;
    tmp_file(path, sizeof path, "gamma.pb");
    assert_int_equal(catmem_profile_interval(1), 0); /* every block of 4 KiB: a sample */
    fill_gamma(g, p, 100);
    assert_int_equal(gamma_objects(path, "inuse_objects"), 100);
    for (i = 0; i < 30; i++) catmem_free(g, p[i]);
    for (; i < 40; i++) catmem_free_sized(g, p[i], 4096);
    for (; i < 50; i++) catmem_free_any(p[i]);
    q = catmem_realloc(g, p[50], 1 << 20); /* moved: counted at catmem_realloc's caller */
    assert_non_null(q);
    assert_int_equal(gamma_objects(path, "inuse_objects"), 49);
    assert_int_equal(gamma_objects(path, "alloc_objects"), 100);
    assert_int_equal(catmem_arena_reset(g), 0); /* since reset: nothing */
    assert_int_equal(gamma_objects(path, "alloc_objects"), -1);
    fill_gamma(g, p, 10);
    assert_int_equal(gamma_objects(path, "inuse_objects"), 10);
    assert_int_equal(catmem_arena_release(g), 0);
    g = catmem_arena_create("gamma"); /* the same name, a new arena: none of the old samples */
    assert_int_equal(gamma_objects(path, "alloc_objects"), -1);
    assert_int_equal(catmem_arena_release(g), 0);
    assert_int_equal(catmem_profile_interval(0), 0);
}

/* ---- bad input ---- */
static void test_bad_input(void **state) {
    char path[512];
    FILE *f;
    (void)state;
    assert_int_equal(catmem_profile_write(NULL, 0), EINVAL);
    assert_int_equal(catmem_profile_write(stderr, 1), EINVAL);
    assert_int_equal(catmem_profile_interval((size_t)-1), EINVAL);
    f = fopen("/dev/full", "wb"); /* every write fails: EIO, never 0 */
    if (f != NULL) {
        assert_int_equal(catmem_profile_write(f, 0), EIO);
        fclose(f);
    }
    write_profile(tmp_file(path, sizeof path, "ro.pb"));
    f = fopen(path, "rb"); /* a stream open for reading only */
    assert_non_null(f);
    assert_int_equal(catmem_profile_write(f, 0), EIO);
    fclose(f);
}

/* ---- the environment, read at the first init: in children that have not initialised ---- */
/* Runs fn in a child with stderr in err; its exit status. */
static int in_child(void (*fn)(void), const char *err) {
    int status;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen(err, "w", stderr) == NULL) _exit(126);
        fn();
        exit(0); /* the exit handlers run: CATMEM_PROFILE */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void malformed(void) {
    setenv("CATMEM_PROFILE_INTERVAL", "12kb", 1);
    if (catmem_init() != 0 || catmem_profile_interval_get() != 0) _exit(1);
}

__attribute__((noinline)) void fill_delta(void) {
    catmem_arena *d = catmem_arena_create("delta");
    int i;
    for (i = 0; i < 1000; i++)
        if (catmem_alloc(d, 1024) == NULL) _exit(2);
}

static char exit_path[512];
static void at_exit_profile(void) {
    setenv("CATMEM_PROFILE", exit_path, 1);
    setenv("CATMEM_PROFILE_INTERVAL", "4096", 1);
    if (catmem_init() != 0 || catmem_profile_interval_get() != 4096) _exit(1);
    fill_delta();
    catmem_shutdown(); /* the profile at exit is written all the same */
}

/* CATMEM_PROFILE_LEAKS=1: a release names the sampled blocks still live and where they were
   allocated (every allocation sampled here: an interval of 1 byte). */
__attribute__((noinline)) void leaky_fill(catmem_arena *a, void **p, int n) {
    int i;
    for (i = 0; i < n; i++)
        if ((p[i] = catmem_alloc(a, 100)) == NULL) _exit(2);
}
static void leaks_named(void) {
    catmem_arena *a, *b;
    void *p[10];
    int i;
    setenv("CATMEM_PROFILE_LEAKS", "1", 1);
    setenv("CATMEM_PROFILE_INTERVAL", "1", 1);
    if (catmem_init() != 0 || (a = catmem_arena_create("leaky")) == NULL ||
        (b = catmem_arena_create("tidy")) == NULL)
        _exit(1);
    leaky_fill(a, p, 10);
    for (i = 0; i < 10; i += 2) catmem_free(a, p[i]);
    if (catmem_arena_reset(b) != 0 || catmem_arena_release(a) != 0) _exit(3);
    leaky_fill(b, p, 4);
    for (i = 0; i < 4; i++) catmem_free(b, p[i]);
    if (catmem_arena_release(b) != 0) _exit(3); /* nothing live: nothing said */
}

static void test_release_names_live_sampled_blocks(void **state) {
    char err[512];
    (void)state;
    tmp_file(err, sizeof err, "leaks.txt");
    assert_int_equal(in_child(leaks_named, err), 0);
    assert_true(file_has(err, "catmem: arena 'leaky' ("));
    assert_true(file_has(err, "released with 5 sampled blocks still live, standing for about 500 "
                              "bytes in 5 blocks"));
    assert_true(file_has(err, "leaky_fill")); /* its stack, named (-rdynamic) */
    assert_false(file_has(err, "arena 'tidy'"));
}

static void test_environment(void **state) {
    char err[512], out[512], line[512];
    FILE *f;
    int lines = 0;
    (void)state;
    assert_int_equal(catmem_is_initialized(), 0); /* the first test: the children init first */
    tmp_file(err, sizeof err, "stderr.txt");
    assert_int_equal(in_child(malformed, err), 0);
    f = fopen(err, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) lines++;
    fclose(f);
    assert_int_equal(lines, 1);
    assert_true(file_has(err, "CATMEM_PROFILE_INTERVAL"));
    tmp_file(exit_path, sizeof exit_path, "exit.pb");
    remove(exit_path);
    assert_int_equal(in_child(at_exit_profile, err), 0);
    assert_int_equal(access(exit_path, R_OK), 0);
    if (need_go()) {
        const char *args[] = {"-top", "-sample_index=alloc_objects", "-tagfocus=arena=delta",
                              exit_path, NULL};
        assert_int_equal(pprof(tmp_file(out, sizeof out, "exit.txt"), args), 0);
        assert_true(top_value(out, "fill_delta") > 0);
    }
}

/* ---- profiling while other threads create, reset and release arenas (TSan: no race) ---- */
#define WORKERS 3
static int writing;

static void *worker(void *arg) {
    void *p[64];
    int round, i;
    (void)arg;
    for (round = 0; round < (int)test_scaled(200); round++) {
        catmem_arena *a = catmem_arena_create(NULL);
        assert_non_null(a);
        for (i = 0; i < 64; i++) assert_non_null(p[i] = catmem_alloc(a, 64 + 32 * i));
        for (i = 0; i < 64; i += 3) catmem_free(a, p[i]);
        if (round & 1) assert_int_equal(catmem_arena_reset(a), 0);
        for (i = 0; i < 16; i++) assert_non_null(catmem_alloc(a, 512));
        assert_int_equal(catmem_arena_release(a), 0);
    }
    return NULL;
}

static void *writer(void *arg) {
    FILE *f = tmpfile();
    (void)arg;
    assert_non_null(f);
    while (__atomic_load_n(&writing, __ATOMIC_ACQUIRE)) {
        rewind(f);
        assert_int_equal(catmem_profile_write(f, 0), 0);
    }
    fclose(f);
    return NULL;
}

static void test_profiling_while_arenas_come_and_go(void **state) {
    pthread_t w[WORKERS], wr;
    char path[512], out[512];
    int i;
    (void)state;
    assert_int_equal(catmem_profile_interval(1024), 0);
    __atomic_store_n(&writing, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_create(&wr, NULL, writer, NULL), 0);
    for (i = 0; i < WORKERS; i++) assert_int_equal(pthread_create(&w[i], NULL, worker, NULL), 0);
    for (i = 0; i < WORKERS; i++) assert_int_equal(pthread_join(w[i], NULL), 0);
    __atomic_store_n(&writing, 0, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(wr, NULL), 0);
    assert_int_equal(catmem_profile_interval(0), 0);
    write_profile(tmp_file(path, sizeof path, "threads.pb"));
    if (need_go()) { /* every arena released: no sample of theirs is left */
        const char *args[] = {"-top", "-sample_index=alloc_objects", "-focus=worker", path, NULL};
        assert_int_equal(pprof(tmp_file(out, sizeof out, "threads.txt"), args), 0);
        assert_int_equal(top_value(out, "worker"), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_environment), /* first: before this process's first init */
        cmocka_unit_test(test_release_names_live_sampled_blocks), /* in a child, too */
        cmocka_unit_test(test_pprof_attributes_each_function_to_its_arena),
        cmocka_unit_test(test_free_reset_and_release_drop_samples),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_profiling_while_arenas_come_and_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
