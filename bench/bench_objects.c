/* bench_objects.c - memory, not time. Two measurements, each peer in a forked child of its own so
   that no peer inherits another's heap:
   1. resident bytes per live object: 1,000,000 objects of 16, 48 and 128 B, every byte written;
      (VmRSS after - VmRSS before) / 1,000,000. catmem (an arena of this build's backend), glibc,
      jemalloc malloc and a mimalloc heap.
   2. issue 13's sleeping producer: a thread allocates 1,000,000 x 64 B and waits on a condition
      variable; the main thread frees every block, allocates and frees a few more, and purges
      (catmem_arena_purge; glibc: malloc_trim(0); jemalloc: arena.<all>.purge). RSS before, after
      the burst, and after the frees and purge with the producer still asleep; for catmem also
      the arena's `allocated`.
   Built for the jemalloc, system and runtime-falling-back builds. */
#define _GNU_SOURCE
#include "catmem.h"
#include "bench_common.h"
#include "bench_catmem.h"

#include <jemalloc/jemalloc.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOBJ 1000000L

typedef struct alloc_peer {
    const char *name;
    void *(*alloc)(void *ctx, size_t n);
    void (*free)(void *ctx, void *p, size_t n);
    void (*purge)(void *ctx);
    void *(*setup)(void);
} alloc_peer;

static void *catmem_setup(void) {
    static int k;
    char name[32];
    snprintf(name, sizeof name, "objects-%d-%d", (int)getpid(), k++);
    return catmem_arena_create(name);
}
static void *catmem_a(void *ctx, size_t n) { return catmem_alloc((catmem_arena *)ctx, n); }
static void catmem_f(void *ctx, void *p, size_t n) { catmem_free_sized((catmem_arena *)ctx, p, n); }
static void catmem_p(void *ctx) { catmem_arena_purge((catmem_arena *)ctx); }

static void *none_setup(void) { return NULL; }
static void *glibc_a(void *ctx, size_t n) { (void)ctx; return __libc_malloc(n); }
static void glibc_f(void *ctx, void *p, size_t n) { (void)ctx; (void)n; __libc_free(p); }
static void glibc_p(void *ctx) { (void)ctx; malloc_trim(0); }

static void *je_a(void *ctx, size_t n) { (void)ctx; return bench_je_malloc(n); }
static void je_f(void *ctx, void *p, size_t n) { (void)ctx; (void)n; bench_je_free(p); }
static void je_p(void *ctx) {
    (void)ctx;
    bench_je_purge(MALLCTL_ARENAS_ALL);
}

static void *mi_setup(void) { return bench_mi.heap_new(); }
static void *mi_a(void *ctx, size_t n) { return bench_mi.heap_malloc(ctx, n); }
static void mi_f(void *ctx, void *p, size_t n) { (void)ctx; (void)n; bench_mi.free(p); }
static void mi_p(void *ctx) { (void)ctx; bench_mi.collect(1); }

static double rss_bytes(void) { return bench_rss_mib() * 1048576.0; }

/* What a forked measurement (bench_in_child) is given: the peer and one argument. */
typedef struct job {
    const alloc_peer *peer;
    size_t arg;
} job;

/* ---- 1. resident bytes per live object ------------------------------------------------------ */

/* arg: the object size; out[0]: resident bytes per object. */
static void per_object(void *arg, double *out, int nout) {
    const alloc_peer *p = ((const job *)arg)->peer;
    size_t size = ((const job *)arg)->arg;
    void **v = (void **)bench_map(NOBJ * sizeof(void *));
    void *ctx = p->setup();
    double before;
    long i;
    (void)nout;
    memset(v, 0, NOBJ * sizeof(void *));
    before = rss_bytes();
    for (i = 0; i < NOBJ; i++) {
        v[i] = p->alloc(ctx, size);
        if (v[i] == NULL) _exit(1);
        memset(v[i], 0x5a, size);
    }
    out[0] = (rss_bytes() - before) / (double)NOBJ;
}

/* ---- 2. the sleeping producer (issue 13) ----------------------------------------------------- */

static const alloc_peer *prod_peer;
static void *prod_ctx;
static void **prod_v;
static int prod_stage;
static pthread_mutex_t prod_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t prod_cv = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg) {
    long i;
    (void)arg;
    for (i = 0; i < NOBJ; i++) {
        prod_v[i] = prod_peer->alloc(prod_ctx, 64);
        if (prod_v[i] == NULL) _exit(1);
        memset(prod_v[i], 0x5a, 64);
    }
    pthread_mutex_lock(&prod_mu);
    prod_stage = 1;
    pthread_cond_broadcast(&prod_cv);
    while (prod_stage != 2) pthread_cond_wait(&prod_cv, &prod_mu);
    pthread_mutex_unlock(&prod_mu);
    return NULL;
}

/* arg: 1 for catmem. out: RSS before (MiB), growth by the burst (MiB), left after the frees and
   purge (MiB), catmem's allocated (-1: not catmem). Returns with the producer still asleep: the
   child ends without it. */
static void sleeping_producer(void *arg, double *out, int nout) {
    const alloc_peer *p = ((const job *)arg)->peer;
    size_t is_catmem = ((const job *)arg)->arg;
    pthread_t t;
    void *few[16];
    double before;
    long i;
    (void)nout;
    prod_peer = p;
    prod_ctx = p->setup();
    prod_v = (void **)bench_map(NOBJ * sizeof(void *));
    memset(prod_v, 0, NOBJ * sizeof(void *));
    before = bench_rss_mib();
    if (pthread_create(&t, NULL, producer, NULL) != 0) _exit(1);
    pthread_mutex_lock(&prod_mu);
    while (prod_stage != 1) pthread_cond_wait(&prod_cv, &prod_mu);
    pthread_mutex_unlock(&prod_mu);
    out[0] = before;
    out[1] = bench_rss_mib() - before;
    for (i = 0; i < NOBJ; i++) p->free(prod_ctx, prod_v[i], 64);
    for (i = 0; i < 16; i++) few[i] = p->alloc(prod_ctx, 64);
    for (i = 0; i < 16; i++) p->free(prod_ctx, few[i], 64);
    p->purge(prod_ctx);
    out[2] = bench_rss_mib() - before;
    out[3] = -1;
    if (is_catmem) {
        catmem_stats st;
        if (catmem_arena_stats((catmem_arena *)prod_ctx, &st) == 0) out[3] = (double)st.allocated;
    }
}

int main(int argc, char **argv) {
    static const size_t sizes[] = {16, 48, 128};
    alloc_peer peers[4] = {
        {NULL, catmem_a, catmem_f, catmem_p, catmem_setup},
        {"glibc malloc/free", glibc_a, glibc_f, glibc_p, none_setup},
        {"jemalloc malloc/free", je_a, je_f, je_p, none_setup},
        {"mimalloc heap", mi_a, mi_f, mi_p, mi_setup},
    };
    char catmem_name[64];
    const char *backend;
    bench_opts o;
    int i, k;
    bench_parse_args(argc, argv, &o, "resident bytes per object; the sleeping producer");
    backend = bench_catmem_backend();
    bench_header("memory per object, and memory freed by another thread", backend, &o);
    bench_peers_load(strcmp(backend, "jemalloc") == 0 ? "libjemalloc" : "libc");
    snprintf(catmem_name, sizeof catmem_name, "catmem arena (%s backend)", backend);
    peers[0].name = catmem_name;

    printf("\n## Resident bytes per live object (1,000,000 objects, every byte written)\n\n");
    printf("| peer | 16 B | 48 B | 128 B |\n|---|---|---|---|\n");
    for (i = 0; i < 4; i++) {
        printf("| %s |", peers[i].name);
        for (k = 0; k < 3; k++) {
            double r[1];
            job j = {&peers[i], sizes[k]};
            if (bench_in_child(per_object, &j, r, 1) != 0)
                printf(" failed |");
            else
                printf(" %.1f |", r[0]);
        }
        printf("\n");
    }

    printf("\n## A sleeping producer (issue 13): 1,000,000 x 64 B allocated by a thread that then "
           "sleeps, freed by another thread, which allocates a few more and purges\n\n");
    printf("| peer | RSS growth by the burst | left after the frees and purge | given back | "
           "catmem `allocated` after |\n|---|---|---|---|---|\n");
    for (i = 0; i < 3; i++) {
        double r[4];
        job j = {&peers[i], i == 0};
        if (bench_in_child(sleeping_producer, &j, r, 4) != 0) {
            printf("| %s | failed | | | |\n", peers[i].name);
            continue;
        }
        printf("| %s | +%.1f MiB | %.1f MiB | %.0f%% |", peers[i].name, r[1], r[2],
               r[1] > 0 ? 100.0 * (r[1] - r[2]) / r[1] : 0.0);
        if (r[3] >= 0)
            printf(" %.0f |\n", r[3]);
        else
            printf(" - |\n");
    }
    return 0;
}
