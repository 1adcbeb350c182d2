/* bench_common.h - what every catmem benchmark program shares: options, time, the deterministic
   size sequences, the thread runner, result tables, RSS readings, and the checks that each peer
   really is the allocator it claims to be.

   Why one place: every peer of every workload must see the same sizes, the same touch, the same
   timing and the same statistics, or the ratios mean nothing. Nothing here depends on catmem or on
   which catmem backend the program was built with, so bench_common is one library shared by the
   jemalloc-backend and system-backend builds of each program. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* ---- keeping the compiler honest ------------------------------------------------------------- */

/* p escapes: the compiler must assume anything may read *p, so stores into it stay. */
static inline void bench_escape(const void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }
/* All memory may have been read or written here: nothing is moved across or thrown away. */
static inline void bench_clobber(void) { __asm__ volatile("" : : : "memory"); }

/* The one way every peer writes to a fresh object: its first and last byte. Cheap enough not to
   drown allocator differences, and the same for every peer (the memory workload, which is about
   pages, fills whole objects instead). */
static inline void bench_touch(void *p, size_t size) {
    char *c = (char *)p;
    c[0] = (char)size;
    c[size - 1] = (char)size;
    bench_escape(p);
}

/* ---- time ------------------------------------------------------------------------------------- */

uint64_t bench_now_ns(void); /* CLOCK_MONOTONIC */

/* ---- deterministic sizes ---------------------------------------------------------------------- */

/* splitmix64: tiny, fast, and the same sequence on every machine for a given seed. */
typedef struct bench_rng {
    uint64_t s;
} bench_rng;

static inline uint64_t bench_rng_next(bench_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint32_t bench_rng_range(bench_rng *r, uint32_t lo, uint32_t hi) {
    return lo + (uint32_t)(bench_rng_next(r) % ((uint64_t)hi - lo + 1));
}

/* One object size of the mix every workload uses: 72% 16-128 B, 25% 129 B-1 KiB, 3% 1-8 KiB
   (mean about 330 B). */
uint32_t bench_size_draw(bench_rng *r);

/* The request workload's input: nreq requests of 64-256 objects each, sizes from
   bench_size_draw, laid out back to back. Generated once, read by every peer and thread. */
typedef struct bench_reqseq {
    uint32_t *sizes;  /* all objects of all requests */
    uint32_t *first;  /* first[i]: index in sizes of request i's first object */
    uint32_t *count;  /* count[i]: objects in request i */
    size_t nreq;
    size_t max_bytes; /* the largest request, every object rounded up to 16 bytes */
} bench_reqseq;

void bench_reqseq_make(bench_reqseq *q, size_t nreq, uint64_t seed);
/* Objects in requests [0, n) of the cyclic sequence (request i is request i % nreq). */
uint64_t bench_reqseq_objects(const bench_reqseq *q, size_t n);

/* The general workload's input: which slot of a ring to replace and the new object's size.
   Three quarters of the operations replace one of the first `hot` slots (short lifetimes), the
   rest any other slot (long lifetimes). */
typedef struct bench_op {
    uint32_t slot;
    uint32_t size;
} bench_op;

bench_op *bench_ops_make(size_t n, uint32_t nslots, uint32_t hot, uint64_t seed);

/* Memory for the benchmark's own arrays: mmap'ed and touched, so that it never goes through an
   allocator under test and is already part of RSS before anything is measured. */
void *bench_map(size_t bytes);
void bench_unmap(void *p, size_t bytes);

/* ---- options ---------------------------------------------------------------------------------- */

typedef struct bench_opts {
    int reps;        /* timed repetitions; each row reports the median */
    double scale;    /* multiplies every iteration count */
    int callgrind;   /* under callgrind: 1 thread, one pass, counts in dumps, no RSS pass */
    int rss;         /* measure each peer's peak RSS in a forked child */
    const char *data;/* append machine-readable results (TSV) to this file */
} bench_opts;

/* --reps N, --scale X, --quick (scale 0.1, 3 reps), --callgrind, --no-rss, --data FILE. Exits on
   --help or bad input. */
void bench_parse_args(int argc, char **argv, bench_opts *o, const char *usage_what);

/* ---- threads ---------------------------------------------------------------------------------- */

/* One worker thread of a measurement. The worker sets up its own allocator state, warms up, then
   brackets the timed work with bench_thread_begin/bench_thread_end, then tears down. */
typedef struct bench_thread {
    int id, nthreads;
    void *arg;       /* the workload's input, shared and read-only */
    uint64_t t0, t1; /* the timed section */
    uint64_t c0, c1; /* the thread's CPU time then (CLOCK_THREAD_CPUTIME_ID) */
    uint64_t ops;    /* operations in the timed section (given to bench_thread_end) */
    struct bench_run *run;
} bench_thread;

typedef void (*bench_thread_fn)(bench_thread *t);

/* All threads start the timed section together (a barrier) and none tears down before all have
   finished it. Under callgrind (bench_opts.callgrind), begin/end also switch event collection on
   and off and dump the counts labelled with cg_label and the number of operations. */
void bench_thread_begin(bench_thread *t);
void bench_thread_end(bench_thread *t, uint64_t ops);

/* Runs fn on nthreads new threads and returns the time per operation per thread in ns: the wall
   time from the first begin to the last end, divided by the operations of one thread. So perfect
   scaling keeps the figure equal to the one-thread figure. */
double bench_run_threads(int nthreads, bench_thread_fn fn, void *arg, const char *cg_label);
/* Cores the last bench_run_threads actually got during its timed section: the threads' CPU time
   over the wall time. Ideal: nthreads. Less means the (shared) machine ran something else, and
   then no scaling figure can be read as catmem's. */
extern double bench_last_cores;

/* Runs bench_run_threads once in a forked child (so that allocators do not share pages or
   peaks with each other) and returns the child's peak RSS in MiB, or -1; *start_mib gets the
   child's RSS before it ran (what it inherited: the sequences and the program). */
double bench_peak_rss_mib(int nthreads, bench_thread_fn fn, void *arg, double *start_mib);

/* Runs fn(arg, out, n) once in a forked child, so that what it allocates, maps or leaves
   resident never mixes with another measurement's, and copies the n doubles it wrote to out
   back to the parent. Returns 0, or -1 (out all -1) when the child failed, was killed or wrote
   less. */
int bench_in_child(void (*fn)(void *arg, double *out, int n), void *arg, double *out, int n);

/* Set by main from bench_opts: affects bench_thread_begin/end. */
extern int bench_callgrind_mode;

/* ---- results ---------------------------------------------------------------------------------- */

#define BENCH_MAX_REPS 64
#define BENCH_MAX_ROWS 24

typedef struct bench_row {
    const char *name;  /* shown in the table, backend included where it matters */
    const char *key;   /* the same peer in every build, for the chart */
    double ns[BENCH_MAX_REPS];
    double cores[BENCH_MAX_REPS]; /* bench_last_cores of each repetition */
    double peak_mib;   /* < 0: not measured */
    double start_mib;  /* RSS when that measurement started */
} bench_row;

typedef struct bench_table {
    const char *workload; /* "request", "general" */
    const char *backend;  /* catmem backend of this build */
    int nthreads;
    int nrows, nreps;
    bench_row rows[BENCH_MAX_ROWS];
} bench_table;

/* An empty table of one workload on nthreads threads (every row's peak: not measured). */
void bench_table_init(bench_table *t, const char *workload, const char *backend, int nthreads,
                      int nreps);
/* Appends a row; returns its index. */
int bench_table_add(bench_table *t, const char *name, const char *key);
/* The row's peak RSS: fn run once on the table's threads in a forked child (bench_peak_rss_mib). */
void bench_table_peak(bench_table *t, int row, bench_thread_fn fn);
/* Repetition rep of the row: fn on the table's threads (bench_run_threads; the callgrind label
   is "workload|backend|key"), its ns/op and the cores it got. */
void bench_table_measure(bench_table *t, int rep, int row, bench_thread_fn fn);

double bench_median(const double *v, int n);
double bench_row_median(const bench_table *t, int row);
/* Median over repetitions of ns[a] / ns[b]: a ratio measured within each repetition. */
double bench_ratio(const bench_table *t, int a, int b);
/* Same, between rows of two tables measured in the same repetitions. */
double bench_ratio2(const bench_table *ta, int a, const bench_table *tb, int b);
int bench_fastest(const bench_table *t);
/* The Markdown table: peer, median ns/op, min-max, ratio to the fastest, peak RSS. extra_head /
   extra(row) add one column when not NULL. */
void bench_table_print(const bench_table *t, const char *extra_head,
                       const char *(*extra)(const bench_table *, int, char *, size_t));
/* Appends the table to o->data as TSV: workload threads backend key median_ns ratio peak_mib. */
void bench_table_data(const bench_table *t, const bench_opts *o);

/* One line of a "targets" table: what is reported, never asserted. */
void bench_target_head(void);
void bench_target(const char *what, double measured, const char *cmp, double limit, const char *unit);

/* ---- memory ----------------------------------------------------------------------------------- */

double bench_rss_mib(void);     /* current, from /proc/self/statm */
double bench_hwm_mib(void);     /* peak, VmHWM from /proc/self/status */
double bench_maxrss_mib(void);  /* peak, getrusage(RUSAGE_SELF).ru_maxrss */
int bench_reset_hwm(void);      /* 0 when /proc/self/clear_refs reset the peak to the current RSS */

/* ---- the peers' identities -------------------------------------------------------------------- */

/* The file that defines the function at addr (dladdr), without its directory; "?" if unknown. */
const char *bench_lib_of(const void *addr);

/* glibc's allocator, reachable even when jemalloc owns malloc: glibc exports these. */
void *__libc_malloc(size_t size);
void __libc_free(void *p);

/* jemalloc's malloc/free, looked up in libjemalloc.so.2 itself: in the system-backend build,
   plain malloc is glibc's (see bench/BUILD.bazel), so jemalloc's must be reached by address. */
extern void *(*bench_je_malloc)(size_t);
extern void (*bench_je_free)(void *);

/* mimalloc, loaded with dlopen(RTLD_LOCAL). Debian's libmimalloc.so.2 is built to override
   malloc: linked normally it takes over malloc, free AND __libc_malloc for the whole process
   (checked with a small program: even with -ljemalloc first on the command line, __libc_malloc
   resolves to mimalloc). Loaded locally its symbols never join the global scope, so every other
   peer keeps its own allocator; bench_peers_load checks that. */
typedef struct bench_mimalloc {
    void *(*heap_new)(void);
    void *(*heap_malloc)(void *heap, size_t size);
    void (*heap_destroy)(void *heap);
    void (*heap_delete)(void *heap);
    void (*free)(void *p);
    void (*collect)(_Bool force);
    _Bool (*is_in_heap_region)(const void *p);
    int (*version)(void);
} bench_mimalloc;
extern bench_mimalloc bench_mi;

/* Loads jemalloc's and mimalloc's entry points and checks who serves what; prints a Markdown
   paragraph saying so. expect_malloc: "libjemalloc" or "libc": the library plain malloc must come
   from in this build. Exits if any check fails: a benchmark of the wrong allocator is worse than
   none. */
void bench_peers_load(const char *expect_malloc);

/* jemalloc helpers for the manual-arena peers (mallctl results checked; exit on failure). */
unsigned bench_je_arena_create(void);
unsigned bench_je_tcache_create(void);
void bench_je_tcache_destroy(unsigned tc);
void bench_je_tcache_flush(unsigned tc);
void bench_je_purge(unsigned arena);   /* arena.<i>.purge; MALLCTL_ARENAS_ALL for every arena */

/* Prints "# title" and the build's facts (backend, malloc, reps, scale). */
void bench_header(const char *title, const char *backend, const bench_opts *o);

#endif /* BENCH_COMMON_H */
