/* bench_common.c - the shared helpers declared in bench_common.h. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <dlfcn.h>
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#  if __has_include(<valgrind/callgrind.h>)
#    include <valgrind/callgrind.h>
#    define BENCH_HAVE_CALLGRIND 1
#  endif
#endif
#ifndef BENCH_HAVE_CALLGRIND
#  define CALLGRIND_TOGGLE_COLLECT ((void)0)
#  define CALLGRIND_ZERO_STATS ((void)0)
#  define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

static void die(const char *what) {
    fprintf(stderr, "bench: %s\n", what);
    exit(2);
}

/* ---- time ------------------------------------------------------------------------------------- */

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- sizes ------------------------------------------------------------------------------------ */

uint32_t bench_size_draw(bench_rng *r) {
    uint32_t pick = (uint32_t)(bench_rng_next(r) % 100);
    if (pick < 72) return bench_rng_range(r, 16, 128);
    if (pick < 97) return bench_rng_range(r, 129, 1024);
    return bench_rng_range(r, 1025, 8192);
}

void *bench_map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap failed");
    memset(p, 0, bytes); /* touched now, so it is never a page fault inside a timed loop */
    return p;
}

void bench_unmap(void *p, size_t bytes) {
    if (p != NULL) munmap(p, bytes);
}

void bench_reqseq_make(bench_reqseq *q, size_t nreq, uint64_t seed) {
    bench_rng r = {seed};
    size_t i, total = 0, cap = nreq * 256;
    q->nreq = nreq;
    q->max_bytes = 0;
    q->sizes = (uint32_t *)bench_map(cap * sizeof *q->sizes);
    q->first = (uint32_t *)bench_map(nreq * sizeof *q->first);
    q->count = (uint32_t *)bench_map(nreq * sizeof *q->count);
    for (i = 0; i < nreq; i++) {
        uint32_t k, n = bench_rng_range(&r, 64, 256);
        size_t bytes = 0;
        q->first[i] = (uint32_t)total;
        q->count[i] = n;
        for (k = 0; k < n; k++) {
            uint32_t s = bench_size_draw(&r);
            q->sizes[total++] = s;
            bytes += (s + 15u) & ~15u;
        }
        if (bytes > q->max_bytes) q->max_bytes = bytes;
    }
}

uint64_t bench_reqseq_objects(const bench_reqseq *q, size_t n) {
    uint64_t total = 0;
    size_t i;
    for (i = 0; i < n; i++) total += q->count[i % q->nreq];
    return total;
}

bench_op *bench_ops_make(size_t n, uint32_t nslots, uint32_t hot, uint64_t seed) {
    bench_rng r = {seed};
    bench_op *ops = (bench_op *)bench_map(n * sizeof *ops);
    size_t i;
    for (i = 0; i < n; i++) {
        ops[i].slot = (bench_rng_next(&r) % 4 != 0) ? bench_rng_range(&r, 0, hot - 1)
                                                     : bench_rng_range(&r, hot, nslots - 1);
        ops[i].size = bench_size_draw(&r);
    }
    return ops;
}

/* ---- options ---------------------------------------------------------------------------------- */

int bench_callgrind_mode;

void bench_parse_args(int argc, char **argv, bench_opts *o, const char *usage_what) {
    int i;
    o->reps = 5;
    o->scale = 1.0;
    o->callgrind = 0;
    o->rss = 1;
    o->data = NULL;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
            o->reps = atoi(argv[++i]);
        } else if (strcmp(a, "--scale") == 0 && i + 1 < argc) {
            o->scale = atof(argv[++i]);
        } else if (strcmp(a, "--quick") == 0) {
            o->scale = 0.1;
            o->reps = 3;
        } else if (strcmp(a, "--callgrind") == 0) {
            o->callgrind = 1;
        } else if (strcmp(a, "--no-rss") == 0) {
            o->rss = 0;
        } else if (strcmp(a, "--data") == 0 && i + 1 < argc) {
            o->data = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--reps N] [--scale X] [--quick] [--callgrind] [--no-rss] "
                    "[--data FILE]\n  %s\n",
                    argv[0], usage_what);
            exit(strcmp(a, "--help") == 0 ? 0 : 2);
        }
    }
    if (o->reps < 1 || o->reps > BENCH_MAX_REPS) die("--reps must be between 1 and 64");
    if (!(o->scale > 0)) die("--scale must be positive");
    if (o->callgrind) {
        /* Callgrind counts instructions, which do not vary: one repetition, and no forks. */
        o->reps = 1;
        o->rss = 0;
    }
    bench_callgrind_mode = o->callgrind;
}

/* ---- threads ---------------------------------------------------------------------------------- */

double bench_last_cores;

typedef struct bench_run {
    pthread_barrier_t start, stop;
    const char *cg_label;
} bench_run;

void bench_thread_begin(bench_thread *t) {
    pthread_barrier_wait(&t->run->start);
    if (bench_callgrind_mode) {
        CALLGRIND_ZERO_STATS;
        CALLGRIND_TOGGLE_COLLECT; /* on: callgrind runs with --collect-atstart=no */
    }
    t->c0 = thread_cpu_ns();
    t->t0 = bench_now_ns();
}

void bench_thread_end(bench_thread *t, uint64_t ops) {
    t->t1 = bench_now_ns();
    t->c1 = thread_cpu_ns();
    t->ops = ops;
    if (bench_callgrind_mode) {
        char label[256];
        CALLGRIND_TOGGLE_COLLECT; /* off */
        /* The label carries the operation count so that the driver can divide. */
        snprintf(label, sizeof label, "bench|%s|%llu", t->run->cg_label ? t->run->cg_label : "?",
                 (unsigned long long)ops);
        CALLGRIND_DUMP_STATS_AT(label);
    }
    pthread_barrier_wait(&t->run->stop);
}

typedef struct bench_thread_start {
    bench_thread t;
    bench_thread_fn fn;
} bench_thread_start;

static void *bench_thread_main(void *arg) {
    bench_thread_start *s = (bench_thread_start *)arg;
    s->fn(&s->t);
    return NULL;
}

double bench_run_threads(int nthreads, bench_thread_fn fn, void *arg, const char *cg_label) {
    bench_run run;
    bench_thread_start st[8];
    pthread_t tid[8];
    uint64_t t0 = UINT64_MAX, t1 = 0, cpu = 0;
    int i;
    if (nthreads < 1 || nthreads > 8) die("1 to 8 threads");
    run.cg_label = cg_label;
    pthread_barrier_init(&run.start, NULL, (unsigned)nthreads);
    pthread_barrier_init(&run.stop, NULL, (unsigned)nthreads);
    for (i = 0; i < nthreads; i++) {
        memset(&st[i], 0, sizeof st[i]);
        st[i].t.id = i;
        st[i].t.nthreads = nthreads;
        st[i].t.arg = arg;
        st[i].t.run = &run;
        st[i].fn = fn;
        if (pthread_create(&tid[i], NULL, bench_thread_main, &st[i]) != 0)
            die("pthread_create failed");
    }
    for (i = 0; i < nthreads; i++) pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&run.start);
    pthread_barrier_destroy(&run.stop);
    for (i = 0; i < nthreads; i++) {
        if (st[i].t.t0 < t0) t0 = st[i].t.t0;
        if (st[i].t.t1 > t1) t1 = st[i].t.t1;
        cpu += st[i].t.c1 - st[i].t.c0;
    }
    if (st[0].t.ops == 0) die("a worker reported no operations");
    bench_last_cores = (double)cpu / (double)(t1 - t0);
    return (double)(t1 - t0) / (double)st[0].t.ops;
}

double bench_peak_rss_mib(int nthreads, bench_thread_fn fn, void *arg, double *start_mib) {
    int fd[2], status;
    double res[2] = {-1, -1}; /* peak, start */
    pid_t pid;
    fflush(NULL); /* or the child's exit would print what the parent buffered, twice */
    if (pipe(fd) != 0) return -1;
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        bench_reset_hwm();
        res[1] = bench_rss_mib();
        (void)bench_run_threads(nthreads, fn, arg, NULL);
        res[0] = bench_hwm_mib();
        if (write(fd[1], res, sizeof res) != (ssize_t)sizeof res) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (read(fd[0], res, sizeof res) != (ssize_t)sizeof res) res[0] = res[1] = -1;
    close(fd[0]);
    waitpid(pid, &status, 0);
    if (start_mib) *start_mib = res[1];
    return res[0];
}

int bench_in_child(void (*fn)(void *arg, double *out, int n), void *arg, double *out, int n) {
    int fd[2], status, i, ok;
    pid_t pid;
    for (i = 0; i < n; i++) out[i] = -1;
    fflush(NULL); /* or the child's exit would print what the parent buffered, twice */
    if (pipe(fd) != 0) return -1;
    pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        fn(arg, out, n);
        if (write(fd[1], out, sizeof(double) * (size_t)n) != (ssize_t)(sizeof(double) * n))
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    ok = read(fd[0], out, sizeof(double) * (size_t)n) == (ssize_t)(sizeof(double) * n);
    close(fd[0]);
    ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
    if (!ok)
        for (i = 0; i < n; i++) out[i] = -1;
    return ok ? 0 : -1;
}

/* ---- results ---------------------------------------------------------------------------------- */

void bench_table_init(bench_table *t, const char *workload, const char *backend, int nthreads,
                      int nreps) {
    memset(t, 0, sizeof *t);
    t->workload = workload;
    t->backend = backend;
    t->nthreads = nthreads;
    t->nreps = nreps;
}

int bench_table_add(bench_table *t, const char *name, const char *key) {
    bench_row *r;
    if (t->nrows >= BENCH_MAX_ROWS) die("too many rows in a table");
    r = &t->rows[t->nrows];
    r->name = name;
    r->key = key;
    r->peak_mib = -1;
    return t->nrows++;
}

void bench_table_peak(bench_table *t, int row, bench_thread_fn fn) {
    t->rows[row].peak_mib = bench_peak_rss_mib(t->nthreads, fn, NULL, &t->rows[row].start_mib);
}

void bench_table_measure(bench_table *t, int rep, int row, bench_thread_fn fn) {
    char label[160];
    snprintf(label, sizeof label, "%s|%s|%s", t->workload, t->backend, t->rows[row].key);
    t->rows[row].ns[rep] = bench_run_threads(t->nthreads, fn, NULL, label);
    t->rows[row].cores[rep] = bench_last_cores;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *v, int n) {
    double s[BENCH_MAX_REPS];
    if (n <= 0) return 0;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double bench_row_median(const bench_table *t, int row) {
    return bench_median(t->rows[row].ns, t->nreps);
}

double bench_ratio2(const bench_table *ta, int a, const bench_table *tb, int b) {
    double r[BENCH_MAX_REPS];
    int i, n = ta->nreps < tb->nreps ? ta->nreps : tb->nreps;
    for (i = 0; i < n; i++) r[i] = ta->rows[a].ns[i] / tb->rows[b].ns[i];
    return bench_median(r, n);
}

double bench_ratio(const bench_table *t, int a, int b) { return bench_ratio2(t, a, t, b); }

int bench_fastest(const bench_table *t) {
    int i, best = 0;
    for (i = 1; i < t->nrows; i++)
        if (bench_row_median(t, i) < bench_row_median(t, best)) best = i;
    return best;
}

static double row_min(const bench_table *t, int row) {
    double m = t->rows[row].ns[0];
    int i;
    for (i = 1; i < t->nreps; i++)
        if (t->rows[row].ns[i] < m) m = t->rows[row].ns[i];
    return m;
}

static double row_max(const bench_table *t, int row) {
    double m = t->rows[row].ns[0];
    int i;
    for (i = 1; i < t->nreps; i++)
        if (t->rows[row].ns[i] > m) m = t->rows[row].ns[i];
    return m;
}

void bench_table_print(const bench_table *t, const char *extra_head,
                       const char *(*extra)(const bench_table *, int, char *, size_t)) {
    int i, best = bench_fastest(t);
    printf("\n### %s, %d thread%s, catmem %s backend\n\n", t->workload, t->nthreads,
           t->nthreads == 1 ? "" : "s", t->backend);
    printf("cores used: the threads' CPU time over the wall time of the timed section, median "
           "(%d would be every thread on a core of its own all the time).\n\n", t->nthreads);
    printf("| peer | ns/op (median of %d) | min-max | x fastest | cores used | "
           "peak RSS MiB (growth) |%s%s\n",
           t->nreps, extra_head ? " " : "", extra_head ? extra_head : "");
    printf("|---|---:|---:|---:|---:|---:|%s\n", extra_head ? "---:|" : "");
    for (i = 0; i < t->nrows; i++) {
        char buf[64], peak[32];
        if (t->rows[i].peak_mib >= 0)
            snprintf(peak, sizeof peak, "%.1f (+%.1f)", t->rows[i].peak_mib,
                     t->rows[i].peak_mib - t->rows[i].start_mib);
        else
            snprintf(peak, sizeof peak, "-");
        printf("| %s%s%s | %.2f | %.2f-%.2f | %.2f | %.2f | %s |", i == best ? "**" : "",
               t->rows[i].name, i == best ? "**" : "", bench_row_median(t, i), row_min(t, i),
               row_max(t, i), bench_ratio(t, i, best), bench_median(t->rows[i].cores, t->nreps),
               peak);
        if (extra_head) printf(" %s |", extra(t, i, buf, sizeof buf));
        printf("\n");
    }
}

void bench_table_data(const bench_table *t, const bench_opts *o) {
    FILE *f;
    int i, best;
    if (o->data == NULL) return;
    f = fopen(o->data, "a");
    if (f == NULL) die("cannot open the --data file");
    best = bench_fastest(t);
    for (i = 0; i < t->nrows; i++)
        fprintf(f, "%s\t%d\t%s\t%s\t%.3f\t%.3f\t%.1f\n", t->workload, t->nthreads, t->backend,
                t->rows[i].key, bench_row_median(t, i), bench_ratio(t, i, best),
                t->rows[i].peak_mib);
    fclose(f);
}

void bench_target_head(void) {
    printf("\n| target (reported, not asserted) | measured | target | met |\n");
    printf("|---|---:|---:|:---:|\n");
}

void bench_target(const char *what, double measured, const char *cmp, double limit,
                  const char *unit) {
    int met = strcmp(cmp, "<=") == 0 ? measured <= limit : measured >= limit;
    printf("| %s | %.2f%s | %s %.2f%s | %s |\n", what, measured, unit, cmp, limit, unit,
           met ? "yes" : "**no**");
}

/* ---- memory ----------------------------------------------------------------------------------- */

double bench_rss_mib(void) {
    long pages_total = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2) pages_rss = -1;
    fclose(f);
    return pages_rss < 0 ? -1 : (double)pages_rss * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

double bench_hwm_mib(void) {
    char line[256];
    double kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

double bench_maxrss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports kilobytes */
}

int bench_reset_hwm(void) {
    /* "5" resets the peak RSS to the current RSS (Linux 4.0+). */
    int ok;
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) return -1;
    ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* ---- identities ------------------------------------------------------------------------------- */

const char *bench_lib_of(const void *addr) {
    Dl_info info;
    const char *slash;
    if (addr == NULL || dladdr(addr, &info) == 0 || info.dli_fname == NULL) return "?";
    slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

void *(*bench_je_malloc)(size_t);
void (*bench_je_free)(void *);
bench_mimalloc bench_mi;

static void *must_sym(void *handle, const char *name) {
    void *p = dlsym(handle, name);
    if (p == NULL) {
        fprintf(stderr, "bench: %s not found: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

static int lib_is(const void *addr, const char *prefix) {
    return strncmp(bench_lib_of(addr), prefix, strlen(prefix)) == 0;
}

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "bench: check failed: %s\n", what);
        exit(2);
    }
}

void bench_peers_load(const char *expect_malloc) {
    void *je, *mi, *probe;
    const void *live_malloc = dlsym(RTLD_DEFAULT, "malloc");

    /* jemalloc is linked into every build (for mallocx & co.); take malloc/free from it. */
    je = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (je == NULL) die("libjemalloc.so.2 is not loaded: link with -ljemalloc");
    *(void **)&bench_je_malloc = must_sym(je, "malloc");
    *(void **)&bench_je_free = must_sym(je, "free");

    mi = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (mi == NULL) {
        fprintf(stderr, "bench: cannot load libmimalloc.so.2 (%s); install libmimalloc2.0\n",
                dlerror());
        exit(2);
    }
    *(void **)&bench_mi.heap_new = must_sym(mi, "mi_heap_new");
    *(void **)&bench_mi.heap_malloc = must_sym(mi, "mi_heap_malloc");
    *(void **)&bench_mi.heap_destroy = must_sym(mi, "mi_heap_destroy");
    *(void **)&bench_mi.heap_delete = must_sym(mi, "mi_heap_delete");
    *(void **)&bench_mi.free = must_sym(mi, "mi_free");
    *(void **)&bench_mi.collect = must_sym(mi, "mi_collect");
    *(void **)&bench_mi.is_in_heap_region = must_sym(mi, "mi_is_in_heap_region");
    *(void **)&bench_mi.version = must_sym(mi, "mi_version");

    /* Who serves what, checked rather than assumed. A run with a malloc in LD_PRELOAD names it
       (bench/run.sh); "libc" alone would also match libcatmem_malloc_*. */
    if (getenv("BENCH_PRELOADED_MALLOC") != NULL && *getenv("BENCH_PRELOADED_MALLOC") != '\0')
        expect_malloc = getenv("BENCH_PRELOADED_MALLOC");
    else if (strcmp(expect_malloc, "libc") == 0)
        expect_malloc = "libc.so";
    check(lib_is(live_malloc, expect_malloc), "plain malloc comes from the expected library");
    /* dlsym(RTLD_DEFAULT) resolves a name the way the program's own calls are resolved. */
    check(lib_is(dlsym(RTLD_DEFAULT, "__libc_malloc"), "libc.so") &&
              lib_is(dlsym(RTLD_DEFAULT, "__libc_free"), "libc.so"),
          "__libc_malloc/__libc_free are glibc's");
    check(lib_is((const void *)bench_je_malloc, "libjemalloc"), "jemalloc's malloc is jemalloc's");
    check(lib_is((const void *)bench_mi.heap_malloc, "libmimalloc"), "mi_heap_malloc is mimalloc's");
    check(!lib_is(dlsym(RTLD_DEFAULT, "free"), "libmimalloc") &&
              !lib_is(dlsym(RTLD_DEFAULT, "__libc_malloc"), "libmimalloc"),
          "mimalloc did not take over free or __libc_malloc");
    probe = malloc(64);
    check(!bench_mi.is_in_heap_region(probe), "malloc'ed memory is not mimalloc's");
    free(probe);
    probe = __libc_malloc(64);
    check(!bench_mi.is_in_heap_region(probe), "__libc_malloc'ed memory is not mimalloc's");
    __libc_free(probe);
    {
        void *h = bench_mi.heap_new();
        probe = bench_mi.heap_malloc(h, 64);
        check(bench_mi.is_in_heap_region(probe), "mi_heap_malloc'ed memory is mimalloc's");
        bench_mi.heap_destroy(h);
    }

    printf("Allocators in this process (checked at start-up with dladdr and mi_is_in_heap_region): "
           "plain `malloc` is **%s**'s; glibc peer: `__libc_malloc`/`__libc_free` from %s; "
           "jemalloc peer: `malloc`/`free` looked up in %s; mimalloc %d.%d.%d loaded with "
           "`dlopen(RTLD_LOCAL)`, so it overrides nothing (malloc'ed memory is not in its "
           "region: checked).\n",
           bench_lib_of(live_malloc), bench_lib_of(dlsym(RTLD_DEFAULT, "__libc_malloc")),
           bench_lib_of((const void *)bench_je_malloc), bench_mi.version() / 100,
           (bench_mi.version() / 10) % 10, bench_mi.version() % 10);
}

unsigned bench_je_arena_create(void) {
    unsigned a;
    size_t sz = sizeof a;
    if (mallctl("arenas.create", &a, &sz, NULL, 0) != 0) die("arenas.create failed");
    return a;
}

unsigned bench_je_tcache_create(void) {
    unsigned tc;
    size_t sz = sizeof tc;
    if (mallctl("tcache.create", &tc, &sz, NULL, 0) != 0) die("tcache.create failed");
    return tc;
}

void bench_je_tcache_destroy(unsigned tc) {
    if (mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) != 0) die("tcache.destroy failed");
}

void bench_je_tcache_flush(unsigned tc) {
    if (mallctl("tcache.flush", NULL, NULL, &tc, sizeof tc) != 0) die("tcache.flush failed");
}

void bench_je_purge(unsigned arena) {
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", arena);
    if (mallctl(name, NULL, NULL, NULL, 0) != 0) die("arena.<i>.purge failed");
}

void bench_header(const char *title, const char *backend, const bench_opts *o) {
    printf("\n## %s - catmem %s backend\n\n", title, backend);
    printf("Repetitions: %d (each row: median; ratios: median of the ratios within each "
           "repetition), scale %.2f%s.\n\n",
           o->reps, o->scale, o->callgrind ? ", callgrind mode" : "");
}
