/* bench_scale.c - catmem with many (thread, arena) pairs, and what one pair, one object and one
   init/shutdown cycle cost.

   1. Scale: 64 threads, each with 1,600 live objects spread over A arenas (slot j lives in arena
      j % A), running the general workload's operations (free one slot's object, allocate its
      successor). A = 100 (6,400 pairs) against A = 2 (128 pairs): the same live set, the same
      operations; only the number of pairs differs. Resident memory is read while all threads
      are alive, after their warm-up; per pair = (RSS at 100 arenas - RSS at 2) / (64 x 98).
      Plain jemalloc malloc/free runs the same operations as a reference, and so does jemalloc's
      mallocx/sdallocx with MALLOCX_TCACHE_NONE on the same 100 and 2 arenas (catmem without
      its front caches): what spreading the live set over 100 arenas costs by itself.
   2. Resident bytes per live object: 1,000,000 objects of 16, 48 and 128 bytes, every byte
      written, catmem against plain jemalloc malloc.
   3. One catmem_shutdown + catmem_init cycle with one block allocated and freed in each
      built-in arena (the pattern of a framework that makes and drops instances in a loop).

   Every measurement runs in a forked child of its own, so that allocators never share pages or
   caches between measurements. The program compiles catmem's implementation itself
   (bench/defs.bzl). */
#define _GNU_SOURCE
#define CATMEM_IMPLEMENTATION
#include "catmem.h"
#include "bench_common.h"

#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS      64
#define MAX_ARENAS   100
#define SLOTS        1600u /* live objects per thread */
#define HOT          64u
#define NOPS_PATTERN ((size_t)1 << 20)

static void die(const char *what) {
    fprintf(stderr, "bench_scale: %s\n", what);
    exit(2);
}

/* ---- 1. scale --------------------------------------------------------------------------------- */

enum { PEER_CATMEM, PEER_JEMALLOC, PEER_NONE };

typedef struct scale_run {
    int peer, narenas;
    catmem_arena *arenas[MAX_ARENAS];
    int none_flags[MAX_ARENAS]; /* PEER_NONE: mallocx flags of each arena */
    const bench_op *ops;
    size_t nops_warm, nops;
    pthread_barrier_t warm, go, done;
    double rss_alive;
    uint64_t t0, t1;
} scale_run;

typedef struct scale_worker {
    scale_run *run;
    int id;
} scale_worker;

static void *scale_alloc(const scale_run *r, unsigned slot, size_t size) {
    unsigned a = slot % (unsigned)r->narenas;
    void *p = r->peer == PEER_CATMEM ? catmem_alloc(r->arenas[a], size)
              : r->peer == PEER_NONE ? mallocx(size, r->none_flags[a])
                                     : bench_je_malloc(size);
    if (p == NULL) die("allocation failed");
    bench_touch(p, size);
    return p;
}

static void scale_free(const scale_run *r, unsigned slot, void *p) {
    unsigned a = slot % (unsigned)r->narenas;
    if (r->peer == PEER_CATMEM)
        catmem_free(r->arenas[a], p);
    else if (r->peer == PEER_NONE)
        dallocx(p, r->none_flags[a]);
    else
        bench_je_free(p);
}

/* Operations [first, first + n) of the cyclic sequence, each thread from its own offset. */
static void scale_pass(const scale_run *r, void **p, size_t first, size_t n) {
    size_t k;
    for (k = first; k < first + n; k++) {
        const bench_op *op = &r->ops[k & (NOPS_PATTERN - 1)];
        scale_free(r, op->slot, p[op->slot]);
        p[op->slot] = scale_alloc(r, op->slot, op->size);
    }
}

static void *scale_thread(void *arg) {
    scale_worker *w = (scale_worker *)arg;
    scale_run *r = w->run;
    void **p = (void **)bench_map(SLOTS * sizeof(void *));
    size_t offset = (size_t)w->id * 7919u, j;
    bench_rng rng = {0x5ca1e000u + (uint64_t)w->id};
    for (j = 0; j < SLOTS; j++) p[j] = scale_alloc(r, (unsigned)j, bench_size_draw(&rng));
    scale_pass(r, p, offset, r->nops_warm);
    pthread_barrier_wait(&r->warm);
    if (w->id == 0) {
        r->rss_alive = bench_rss_mib(); /* every pair alive, every thread parked */
        r->t0 = bench_now_ns();
    }
    pthread_barrier_wait(&r->go);
    scale_pass(r, p, offset + r->nops_warm, r->nops);
    pthread_barrier_wait(&r->done);
    if (w->id == 0) r->t1 = bench_now_ns();
    for (j = 0; j < SLOTS; j++) scale_free(r, (unsigned)j, p[j]);
    bench_unmap(p, SLOTS * sizeof(void *));
    return NULL;
}

/* out: RSS before the threads (MiB), RSS with all pairs alive (MiB), ns per op per thread. */
static void scale_child(void *arg, double *out, int n) {
    scale_run *r = (scale_run *)arg;
    pthread_t t[THREADS];
    scale_worker w[THREADS];
    int i;
    (void)n;
    if (catmem_init() != 0) die("catmem_init failed");
    for (i = 0; i < r->narenas; i++) {
        char name[32];
        snprintf(name, sizeof name, "scale-%d", i);
        r->arenas[i] =
            i < CATMEM_KIND_COUNT ? catmem_arena_get((catmem_kind)i) : catmem_arena_create(name);
        if (r->arenas[i] == NULL) die("catmem_arena_create failed");
        r->none_flags[i] = MALLOCX_ARENA(catmem_arena_id(r->arenas[i])) | MALLOCX_TCACHE_NONE;
    }
    pthread_barrier_init(&r->warm, NULL, THREADS);
    pthread_barrier_init(&r->go, NULL, THREADS);
    pthread_barrier_init(&r->done, NULL, THREADS);
    out[0] = bench_rss_mib();
    for (i = 0; i < THREADS; i++) {
        w[i].run = r;
        w[i].id = i;
        if (pthread_create(&t[i], NULL, scale_thread, &w[i]) != 0) die("pthread_create failed");
    }
    for (i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    out[1] = r->rss_alive;
    out[2] = (double)(r->t1 - r->t0) / (double)r->nops;
}

/* ---- 2. resident bytes per object ------------------------------------------------------------- */

#define NOBJ 1000000u

typedef struct object_run {
    int peer;
    size_t size;
} object_run;

/* out: resident bytes per live object. */
static void object_child(void *arg, double *out, int n) {
    const object_run *o = (const object_run *)arg;
    void **p = (void **)bench_map(NOBJ * sizeof(void *));
    catmem_arena *a;
    double before;
    unsigned i;
    (void)n;
    if (catmem_init() != 0) die("catmem_init failed");
    a = catmem_arena_get(CATMEM_TASK);
    before = bench_rss_mib();
    for (i = 0; i < NOBJ; i++) {
        p[i] = o->peer == PEER_CATMEM ? catmem_alloc(a, o->size) : bench_je_malloc(o->size);
        if (p[i] == NULL) die("allocation failed");
        memset(p[i], (int)i, o->size);
    }
    out[0] = (bench_rss_mib() - before) * 1048576.0 / NOBJ;
    bench_escape(p);
}

/* ---- 3. init/shutdown cycles ------------------------------------------------------------------ */

/* out: microseconds per cycle. The first init (which makes the arenas) is not counted. */
static void cycle_child(void *arg, double *out, int n) {
    long cycles = *(const long *)arg, c;
    uint64_t t0;
    int k;
    (void)n;
    if (catmem_init() != 0) die("catmem_init failed");
    t0 = bench_now_ns();
    for (c = 0; c < cycles; c++) {
        catmem_shutdown();
        if (catmem_init() != 0) die("catmem_init failed");
        for (k = 0; k < CATMEM_KIND_COUNT; k++) {
            catmem_arena *a = catmem_arena_get((catmem_kind)k);
            void *p = catmem_alloc(a, 64);
            if (p == NULL) die("allocation failed");
            bench_touch(p, 64);
            catmem_free(a, p);
        }
    }
    out[0] = (double)(bench_now_ns() - t0) / 1000.0 / (double)cycles;
}

/* ---- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    enum { NRUNS = 5 };
    static scale_run runs[NRUNS];
    static const char *const run_names[NRUNS] = {
        "catmem, 64 threads x 100 arenas", "catmem, 64 threads x 2 arenas",
        "jemalloc malloc/free, 64 threads",
        "jemalloc mallocx, MALLOCX_TCACHE_NONE, 64 threads x 100 arenas",
        "jemalloc mallocx, MALLOCX_TCACHE_NONE, 64 threads x 2 arenas"};
    double rss_alive[NRUNS] = {0}, rss_before[NRUNS] = {0}, ns[NRUNS][BENCH_MAX_REPS];
    double ratio[BENCH_MAX_REPS], ratio_none[BENCH_MAX_REPS];
    double per_pair, obj[2][3], cycle_us[BENCH_MAX_REPS];
    size_t sizes[3] = {16, 48, 128};
    bench_op *ops;
    bench_opts o;
    const char *backend;
    long cycles;
    int i, rep, s;

    bench_parse_args(argc, argv, &o, "scale: 64 threads x 100 arenas; RSS per object; cycles");
    if (o.callgrind) die("no callgrind mode: this program measures memory and wall time");
    backend = catmem_backend_name();
    bench_header("scale, memory per object, init/shutdown cycles", backend, &o);
    bench_peers_load(strcmp(backend, "jemalloc") == 0 ? "libjemalloc" : "libc");
    ops = bench_ops_make(NOPS_PATTERN, SLOTS, HOT, 0x5eed0005u);
    for (i = 0; i < NRUNS; i++) {
        runs[i].peer = i == 2 ? PEER_JEMALLOC : i > 2 ? PEER_NONE : PEER_CATMEM;
        runs[i].narenas = (i == 0 || i == 3) ? MAX_ARENAS : 2;
        runs[i].ops = ops;
        runs[i].nops_warm = SLOTS * 4;
        runs[i].nops = (size_t)(100000 * o.scale) + 1000;
    }

    /* Interleaved: A B C D E A B C D E ..., the per-repetition ratio 100 arenas / 2 arenas. */
    for (rep = 0; rep < o.reps; rep++)
        for (i = 0; i < NRUNS; i++) {
            double out[3];
            if (bench_in_child(scale_child, &runs[i], out, 3) != 0) die("a scale run failed");
            ns[i][rep] = out[2];
            if (rep == 0 || out[1] - out[0] < rss_alive[i] - rss_before[i]) {
                rss_before[i] = out[0]; /* the smallest growth over the repetitions */
                rss_alive[i] = out[1];
            }
        }
    for (rep = 0; rep < o.reps; rep++) {
        ratio[rep] = ns[0][rep] / ns[1][rep];
        ratio_none[rep] = ns[3][rep] / ns[4][rep];
    }
    per_pair = ((rss_alive[0] - rss_before[0]) - (rss_alive[1] - rss_before[1])) * 1048576.0 /
               (THREADS * (MAX_ARENAS - 2));

    printf("\nScale: %d threads, %u live objects each (sizes: the general mix), slot j in arena "
           "j %% A; %zu timed operations per thread after %zu warm-up operations. RSS growth: "
           "with every thread alive after its warm-up, over the RSS before the threads started "
           "(the smallest over the repetitions).\n\n",
           THREADS, SLOTS, runs[0].nops, runs[0].nops_warm);
    printf("| run | ns/op per thread (median) | RSS growth, MiB |\n|---|---:|---:|\n");
    for (i = 0; i < NRUNS; i++)
        printf("| %s | %.1f | %.1f |\n", run_names[i], bench_median(ns[i], o.reps),
               rss_alive[i] - rss_before[i]);
    printf("\nResident memory per (thread, arena) pair: %.0f bytes ((growth at 100 arenas - "
           "growth at 2 arenas) / (%d x %d pairs)).\n",
           per_pair, THREADS, MAX_ARENAS - 2);
    printf("ns/op at 100 arenas over 2 arenas (median of the per-repetition ratios): catmem "
           "%.2fx; jemalloc with MALLOCX_TCACHE_NONE on the same arenas %.2fx.\n",
           bench_median(ratio, o.reps), bench_median(ratio_none, o.reps));

    for (s = 0; s < 3; s++)
        for (i = 0; i < 2; i++) {
            object_run r = {i == 0 ? PEER_CATMEM : PEER_JEMALLOC, sizes[s]};
            bench_in_child(object_child, &r, &obj[i][s], 1);
        }
    printf("\nResident bytes per live object, %u objects, every byte written:\n\n", NOBJ);
    printf(
        "| size | catmem_alloc (one arena) | jemalloc malloc | ratio |\n|---:|---:|---:|---:|\n");
    for (s = 0; s < 3; s++)
        printf("| %zu B | %.1f | %.1f | %.3f |\n", sizes[s], obj[0][s], obj[1][s],
               obj[0][s] / obj[1][s]);

    cycles = (long)(2000 * o.scale) + 10;
    for (rep = 0; rep < o.reps; rep++) bench_in_child(cycle_child, &cycles, &cycle_us[rep], 1);
    printf(
        "\nOne catmem_shutdown + catmem_init cycle with one 64-byte block allocated and freed in "
        "each of the %d built-in arenas: %.1f us (median of %d runs of %ld cycles).\n",
        CATMEM_KIND_COUNT, bench_median(cycle_us, o.reps), o.reps, cycles);

    bench_target_head();
    bench_target("scale: resident memory per (thread, arena) pair, 64 x 100", per_pair / 1024.0,
                 "<=", 16.0, " KiB");
    bench_target("scale: ns/op 64 threads x 100 arenas / 64 threads x 2 arenas",
                 bench_median(ratio, o.reps), "<=", 1.5, "x");
    for (s = 0; s < 3; s++) {
        char what[96];
        snprintf(what, sizeof what, "memory: resident bytes per %zu-B object / jemalloc malloc",
                 sizes[s]);
        bench_target(what, obj[0][s] / obj[1][s], "<=", 1.05, "x");
    }
    bench_target("cycle: catmem_shutdown + catmem_init, one block per built-in arena",
                 bench_median(cycle_us, o.reps), "<=", 50.0, " us");
    return 0;
}
