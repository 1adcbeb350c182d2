/* bench_workloads.c - the allocator field's standard multithreaded workloads (larson, mstress,
   xmalloc-test, glibc's bench-malloc-thread, alloc-test, cache-scratch, rptest) and a large-block
   churn, written here from their published descriptions, on plain malloc/free/realloc/calloc so
   that LD_PRELOAD decides the allocator (bench/workloads.sh runs it; issue 21).

   Each run does a fixed amount of work from fixed seeds (never a fixed time) and prints one line:
     workload=NAME threads=T malloc=LIB ops=N seconds=S maxrss_kib=K minflt=F check=C
   malloc is the file name of the library whose malloc the program calls (what LD_PRELOAD did);
   seconds covers the workload's threads only (not start-up or a warm-up the workload has);
   maxrss_kib and minflt are the process's (getrusage) at the end; check is a value computed
   from what the workload read back, so that the compiler keeps every access.

   Usage: workloads --workload NAME [--scale X] [--threads T] [--seed S] | --list | --describe
   --scale multiplies the work (the test runs each workload at a tiny scale); --describe prints
   each name, a tab and what the workload does in one line. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- the harness -------------------------------------------------------------------------- */

typedef struct params {
    double scale;
    int threads; /* 0: the workload's own count */
    uint64_t seed;
} params;

typedef struct result {
    uint64_t ops; /* allocations + frees (+ reallocs), the figure ops/s would use */
    uint64_t check;
} result;

static void die(const char *what) {
    fprintf(stderr, "workloads: %s\n", what);
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL) die("malloc returned NULL");
    return p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The work scaled, at least 1. */
static size_t scaled(double base, double scale) {
    double n = base * scale;
    return n < 1.0 ? 1 : (size_t)n;
}

/* Runs fn on n threads, each given &args[i * size], and waits for them all. */
static void run_threads(int n, void *(*fn)(void *), void *args, size_t size) {
    pthread_t *t = (pthread_t *)xmalloc((size_t)n * sizeof *t);
    int i;
    for (i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * size) != 0)
            die("pthread_create failed");
    for (i = 0; i < n; i++) pthread_join(t[i], NULL);
    free(t);
}

/* run_threads, timed: the seconds from before the first start to after the last join. */
static double timed_threads(int n, void *(*fn)(void *), void *args, size_t size) {
    double t0 = now_s();
    run_threads(n, fn, args, size);
    return now_s() - t0;
}

/* Writes every page of a block once (and its last byte): what makes its memory resident. */
static void touch_pages(char *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i += 4096) p[i] = (char)i;
    p[n - 1] = 1;
    bench_escape(p);
}

/* ---- larson: a server whose threads come and go ------------------------------------------- */
/* Each of T lineages owns 5000 slots of 8-999 B blocks, first allocated (and churned) by the main
   thread. A thread of a lineage replaces random slots' blocks (free, then malloc a new size) and
   after a fixed number of replacements starts its successor and exits: each generation frees
   what the previous one, or the main thread, allocated. */

#define LARSON_SLOTS       5000
#define LARSON_GENERATIONS 6

typedef struct larson_line {
    char **slot;
    bench_rng rng;
    size_t ops_per_gen;
    int gens_left;
    uint64_t check;
    struct larson_shared *shared;
} larson_line;

typedef struct larson_shared {
    pthread_mutex_t mu;
    pthread_cond_t done;
    int lines_left;
} larson_shared;

static size_t larson_size(bench_rng *r) { return bench_rng_range(r, 8, 999); }

static void larson_replace(char **slot, bench_rng *r) {
    uint32_t v = bench_rng_range(r, 0, LARSON_SLOTS - 1);
    size_t n = larson_size(r);
    free(slot[v]);
    slot[v] = (char *)xmalloc(n);
    slot[v][0] = 'a';
    slot[v][n - 1] = 'b';
    bench_escape(slot[v]);
}

static void *larson_thread(void *arg) {
    larson_line *l = (larson_line *)arg;
    bench_rng r = l->rng; /* locals in the loop: the lines share cache lines */
    uint64_t check = 0;
    size_t i;
    pthread_t next;
    for (i = 0; i < l->ops_per_gen; i++) {
        larson_replace(l->slot, &r);
        check += (unsigned char)l->slot[i % LARSON_SLOTS][0];
    }
    l->rng = r;
    l->check += check;
    if (--l->gens_left > 0) {
        /* The successor inherits the slots: the next frees are of this thread's blocks. */
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&next, &a, larson_thread, l) != 0) die("pthread_create failed");
        pthread_attr_destroy(&a);
        return NULL;
    }
    pthread_mutex_lock(&l->shared->mu);
    if (--l->shared->lines_left == 0) pthread_cond_signal(&l->shared->done);
    pthread_mutex_unlock(&l->shared->mu);
    return NULL;
}

/* The main thread's warm-up: every block allocated, shuffled, then churned 4 times over. */
static void larson_warm(char **all, size_t n, bench_rng *r) {
    size_t i;
    for (i = 0; i < n; i++) all[i] = (char *)xmalloc(larson_size(r));
    for (i = n; i > 1; i--) {
        size_t j = bench_rng_next(r) % i;
        char *t = all[i - 1];
        all[i - 1] = all[j];
        all[j] = t;
    }
    for (i = 0; i < 4 * n; i++) {
        size_t v = bench_rng_next(r) % n;
        free(all[v]);
        all[v] = (char *)xmalloc(larson_size(r));
    }
}

static double larson(const params *p, int t, result *res) {
    size_t n = (size_t)t * LARSON_SLOTS, i;
    char **all = (char **)xmalloc(n * sizeof *all);
    larson_line *line = (larson_line *)calloc((size_t)t, sizeof *line);
    larson_shared sh = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, t};
    bench_rng r = {p->seed};
    pthread_t first;
    double t0;
    if (line == NULL) die("calloc returned NULL");
    larson_warm(all, n, &r);
    t0 = now_s();
    for (i = 0; i < (size_t)t; i++) {
        line[i].slot = all + i * LARSON_SLOTS;
        line[i].rng.s = p->seed + 1 + i;
        line[i].ops_per_gen = scaled(LARSON_SLOTS * 100.0, p->scale);
        line[i].gens_left = LARSON_GENERATIONS;
        line[i].shared = &sh;
        if (pthread_create(&first, NULL, larson_thread, &line[i]) != 0) die("pthread_create");
        pthread_detach(first);
    }
    pthread_mutex_lock(&sh.mu);
    while (sh.lines_left > 0) pthread_cond_wait(&sh.done, &sh.mu);
    pthread_mutex_unlock(&sh.mu);
    t0 = now_s() - t0;
    for (i = 0; i < (size_t)t; i++) {
        res->ops += 2 * line[i].ops_per_gen * LARSON_GENERATIONS;
        res->check += line[i].check;
    }
    for (i = 0; i < n; i++) free(all[i]);
    free(all);
    free(line);
    return t0;
}

/* ---- mstress: objects traded between short-lived threads, a few of them huge -------------- */
/* Each round starts T threads; thread i makes 20000 * (i % 8 + 1) allocations, half kept until it
   ends, the others freed at random (2 in 3 steps) or swapped with a slot of a table that all
   threads share (1 step in 4) and that outlives the round (half of it is freed after each). Most
   blocks are 1-16 words, kept ones up to 64; 1% are 100 times larger, 0.1% 1000 times and 0.01%
   10000 times (up to 5 MiB). Every word is written with a pattern that is checked at the free. */

#define MSTRESS_SHARED 1000
#define MSTRESS_ROUNDS 25

static uint64_t *mstress_table[MSTRESS_SHARED]; /* only through __atomic_exchange_n */

typedef struct mstress_arg {
    int id;
    size_t steps;
    uint64_t seed, ops;
} mstress_arg;

static uint64_t mstress_word(uint64_t words, uint64_t i) {
    return (words - i) * 0x9e3779b97f4a7c15ull;
}

static uint64_t *mstress_alloc(bench_rng *r, unsigned max_shift) {
    uint64_t words = (uint64_t)1 << (bench_rng_next(r) % max_shift), i;
    uint64_t *p;
    if (bench_rng_next(r) % 100 == 0) {
        uint64_t pick = bench_rng_next(r) % 100;
        words *= pick == 0 ? 10000 : pick <= 10 ? 1000 : 100;
    }
    p = (uint64_t *)xmalloc(words * sizeof *p);
    p[0] = words;
    for (i = 1; i < words; i++) p[i] = mstress_word(words, i);
    return p;
}

static void mstress_free(uint64_t *p) {
    uint64_t i;
    if (p == NULL) return;
    for (i = 1; i < p[0]; i++)
        if (p[i] != mstress_word(p[0], i)) die("mstress: a block was corrupted");
    free(p);
}

/* Frees transient block k with probability 2/3, swaps one with the shared table with 1/4. */
static void mstress_mix(uint64_t **live, size_t n, bench_rng *r, uint64_t *ops) {
    if (n == 0) return;
    if (bench_rng_next(r) % 3 != 0) {
        size_t k = bench_rng_next(r) % n;
        if (live[k] != NULL) ++*ops;
        mstress_free(live[k]);
        live[k] = NULL;
    }
    if (bench_rng_next(r) % 4 == 0) {
        size_t k = bench_rng_next(r) % n;
        uint64_t **shared = &mstress_table[bench_rng_next(r) % MSTRESS_SHARED];
        live[k] = __atomic_exchange_n(shared, live[k], __ATOMIC_ACQ_REL);
    }
}

static void *mstress_thread(void *arg) {
    mstress_arg *a = (mstress_arg *)arg;
    bench_rng r = {a->seed};
    size_t keep_cap = a->steps / 2, nkeep = 0, nlive = 0, cap = 0, allocs = a->steps - keep_cap;
    uint64_t **keep = (uint64_t **)xmalloc((keep_cap + 1) * sizeof *keep);
    uint64_t **live = NULL;
    size_t i;
    uint64_t ops = 0; /* a local: the threads' arguments share cache lines */
    while (allocs > 0 || nkeep < keep_cap) {
        if (nkeep == keep_cap || (allocs > 0 && bench_rng_next(&r) % 2 == 0)) {
            if (nlive == cap) { /* grown by realloc, as a program's vector would be */
                cap = cap ? 2 * cap : 1024;
                live = (uint64_t **)realloc(live, cap * sizeof *live);
                if (live == NULL) die("realloc returned NULL");
                ops++;
            }
            live[nlive++] = mstress_alloc(&r, 5);
            allocs--;
        } else {
            keep[nkeep++] = mstress_alloc(&r, 7);
        }
        ops++;
        mstress_mix(live, nlive, &r, &ops);
    }
    for (i = 0; i < nkeep; i++) mstress_free(keep[i]);
    for (i = 0; i < nlive; i++) ops += live[i] != NULL, mstress_free(live[i]);
    free(keep);
    free(live);
    a->ops = ops + nkeep + 2;
    return NULL;
}

static double mstress(const params *p, int t, result *res) {
    mstress_arg *a = (mstress_arg *)xmalloc((size_t)t * sizeof *a);
    bench_rng r = {p->seed};
    double t0 = now_s();
    int round, i, k;
    for (round = 0; round < MSTRESS_ROUNDS; round++) {
        for (i = 0; i < t; i++) {
            a[i].id = i;
            a[i].steps = scaled(20000.0 * (i % 8 + 1), p->scale);
            a[i].seed = p->seed + 1000003u * (uint64_t)round + (uint64_t)i;
            a[i].ops = 0;
        }
        run_threads(t, mstress_thread, a, sizeof *a);
        for (i = 0; i < t; i++) res->ops += a[i].ops;
        for (k = 0; k < MSTRESS_SHARED; k++) {
            if (round + 1 < MSTRESS_ROUNDS && bench_rng_next(&r) % 2 == 0) continue;
            uint64_t *q = __atomic_exchange_n(&mstress_table[k], NULL, __ATOMIC_ACQ_REL);
            if (q != NULL) res->ops++, res->check += q[0];
            mstress_free(q);
        }
    }
    free(a);
    return now_s() - t0;
}

/* ---- xmalloc-test: producers allocate, consumers free -------------------------------------- */
/* T/2 producer threads fill batches of 4096 pointers to 64-byte blocks (writing each block) and
   push them on one shared stack of at most 100 batches; T/2 consumer threads pop batches and
   free every block and the batch itself. Every free is of another thread's block. */

#define XM_BATCH 4096
#define XM_LIMIT 100
#define XM_SIZE  64

typedef struct xm_batch {
    struct xm_batch *next;
    void *obj[XM_BATCH];
} xm_batch;

typedef struct xm_shared {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    xm_batch *top;
    int count;
    size_t to_pop; /* batches not yet taken by a consumer */
    size_t per_producer;
} xm_shared;

typedef struct xm_arg {
    xm_shared *sh;
    int producer;
    uint64_t ops;
} xm_arg;

static void xm_produce(xm_arg *a) {
    xm_shared *sh = a->sh;
    size_t b;
    int i;
    for (b = 0; b < sh->per_producer; b++) {
        xm_batch *x = (xm_batch *)xmalloc(sizeof *x);
        for (i = 0; i < XM_BATCH; i++) {
            x->obj[i] = xmalloc(XM_SIZE);
            memset(x->obj[i], i, XM_SIZE);
        }
        pthread_mutex_lock(&sh->mu);
        while (sh->count >= XM_LIMIT) pthread_cond_wait(&sh->not_full, &sh->mu);
        x->next = sh->top;
        sh->top = x;
        sh->count++;
        pthread_cond_signal(&sh->not_empty);
        pthread_mutex_unlock(&sh->mu);
        a->ops += XM_BATCH + 1;
    }
}

static void xm_consume(xm_arg *a) {
    xm_shared *sh = a->sh;
    int i;
    for (;;) {
        xm_batch *x;
        pthread_mutex_lock(&sh->mu);
        while (sh->top == NULL && sh->to_pop > 0) pthread_cond_wait(&sh->not_empty, &sh->mu);
        if (sh->to_pop == 0) {
            pthread_mutex_unlock(&sh->mu);
            return;
        }
        x = sh->top;
        sh->top = x->next;
        sh->count--;
        if (--sh->to_pop == 0) pthread_cond_broadcast(&sh->not_empty); /* the others stop */
        pthread_cond_signal(&sh->not_full);
        pthread_mutex_unlock(&sh->mu);
        for (i = 0; i < XM_BATCH; i++) free(x->obj[i]);
        free(x);
        a->ops += XM_BATCH + 1;
    }
}

static void *xm_thread(void *arg) {
    xm_arg *a = (xm_arg *)arg;
    if (a->producer)
        xm_produce(a);
    else
        xm_consume(a);
    return NULL;
}

static double xmalloc_test(const params *p, int t, result *res) {
    int pairs = t / 2 > 0 ? t / 2 : 1, i;
    xm_shared sh;
    xm_arg *a = (xm_arg *)xmalloc(2 * (size_t)pairs * sizeof *a);
    double secs;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.not_empty, NULL);
    pthread_cond_init(&sh.not_full, NULL);
    sh.per_producer = scaled(1000.0, p->scale);
    sh.to_pop = sh.per_producer * (size_t)pairs;
    for (i = 0; i < 2 * pairs; i++) a[i] = (xm_arg){&sh, i % 2, 0};
    secs = timed_threads(2 * pairs, xm_thread, a, sizeof *a);
    for (i = 0; i < 2 * pairs; i++) res->ops += a[i].ops;
    res->check = sh.to_pop + (uint64_t)sh.count;
    pthread_mutex_destroy(&sh.mu);
    pthread_cond_destroy(&sh.not_empty);
    pthread_cond_destroy(&sh.not_full);
    free(a);
    return secs;
}

/* ---- glibc-thread: glibc's bench-malloc-thread pattern ------------------------------------- */
/* Each thread keeps 1024 slots; every operation frees a random slot's block and puts a new one
   there, of a size drawn from an inverse-square distribution over 4 B-32 KiB (most are small),
   and writes all its bytes. Sizes and slots come from tables made once, read from a per-thread
   starting point. */

#define GT_SLOTS  1024
#define GT_NSIZES 8000
#define GT_NPICKS 4096

typedef struct gt_arg {
    const uint32_t *sizes, *picks;
    size_t ops, start;
    uint64_t check;
} gt_arg;

static void *gt_thread(void *arg) {
    gt_arg *a = (gt_arg *)arg;
    char **slot = (char **)calloc(GT_SLOTS, sizeof *slot);
    uint64_t check = 0; /* a local: the threads' arguments share cache lines */
    size_t i, k;
    if (slot == NULL) die("calloc returned NULL");
    for (i = 0; i < a->ops; i++) {
        uint32_t v = a->picks[(a->start + i) % GT_NPICKS];
        uint32_t n = a->sizes[(a->start + i) % GT_NSIZES];
        free(slot[v]);
        slot[v] = (char *)xmalloc(n);
        memset(slot[v], (int)i, n);
        bench_escape(slot[v]);
        check += n;
    }
    a->check = check;
    for (k = 0; k < GT_SLOTS; k++) free(slot[k]);
    free(slot);
    return NULL;
}

static double glibc_thread(const params *p, int t, result *res) {
    uint32_t sizes[GT_NSIZES], picks[GT_NPICKS];
    gt_arg *a = (gt_arg *)xmalloc((size_t)t * sizeof *a);
    bench_rng r = {p->seed};
    const double lo = 4, hi = 32768;
    double secs;
    int i;
    /* The inverse of the cumulative distribution of a density proportional to 1/x^2. */
    for (i = 0; i < GT_NSIZES; i++) {
        double u = (double)(bench_rng_next(&r) >> 11) * 0x1p-53;
        sizes[i] = (uint32_t)(1.0 / (1.0 / lo - u * (1.0 / lo - 1.0 / hi)));
    }
    for (i = 0; i < GT_NPICKS; i++) picks[i] = bench_rng_range(&r, 0, GT_SLOTS - 1);
    for (i = 0; i < t; i++)
        a[i] = (gt_arg){sizes, picks, scaled(6e6, p->scale), (size_t)i * 977, 0};
    secs = timed_threads(t, gt_thread, a, sizeof *a);
    for (i = 0; i < t; i++) res->ops += 2 * a[i].ops, res->check += a[i].check;
    free(a);
    return secs;
}

/* ---- alloc-test: a large working set with skewed reuse ------------------------------------- */
/* 2^18 slots shared out among the threads, half filled first. Each operation picks a slot with
   the 80/20 rule applied six times over (a quarter of the picks land on 0.006% of the slots,
   two thirds on 0.16%): a full slot has its block read in full and freed, an empty one gets a
   new block, written in full. Sizes: half 5-8 B, a quarter 9-16 B, and so on, halving up to
   513 B-1 KiB. */

#define AT_SLOTS ((size_t)1 << 18)

typedef struct at_arg {
    size_t nslots, ops;
    uint64_t seed, check;
} at_arg;

static size_t at_size(bench_rng *r) {
    uint64_t x = bench_rng_next(r);
    int k = __builtin_ctzll((x & 0x7f) | 0x80); /* 0 with 1/2, 1 with 1/4, ... 7 */
    size_t base = (size_t)4 << k;
    return base + 1 + (size_t)((x >> 8) % base);
}

/* Six times: the range's first fifth with probability 4/5, else the rest; then uniform in it. */
static size_t at_pick(bench_rng *r, size_t n) {
    size_t lo = 0, len = n;
    int level;
    for (level = 0; level < 6 && len > 1; level++) {
        size_t hot = len / 5 > 0 ? len / 5 : 1;
        if (bench_rng_next(r) % 5 == 0) {
            lo += hot;
            len -= hot;
        } else {
            len = hot;
        }
    }
    return lo + (size_t)(bench_rng_next(r) % len);
}

/* Reads every byte, a word at a time. */
static uint64_t at_read(const char *p, size_t n) {
    uint64_t s = 0, w;
    size_t i;
    for (i = 0; i + 8 <= n; i += 8) memcpy(&w, p + i, 8), s += w;
    for (; i < n; i++) s += (unsigned char)p[i];
    return s;
}

static void *at_thread(void *arg) {
    at_arg *a = (at_arg *)arg;
    bench_rng r = {a->seed};
    char **slot = (char **)calloc(a->nslots, sizeof *slot);
    uint32_t *len = (uint32_t *)calloc(a->nslots, sizeof *len);
    uint64_t check = 0; /* a local: the threads' arguments share cache lines */
    size_t i;
    if (slot == NULL || len == NULL) die("calloc returned NULL");
    for (i = 0; i < a->nslots; i++) {
        if (bench_rng_next(&r) % 2 != 0) continue;
        len[i] = (uint32_t)at_size(&r);
        slot[i] = (char *)xmalloc(len[i]);
        memset(slot[i], (int)len[i], len[i]);
    }
    for (i = 0; i < a->ops; i++) {
        size_t k = at_pick(&r, a->nslots);
        if (slot[k] != NULL) {
            check += at_read(slot[k], len[k]);
            free(slot[k]);
            slot[k] = NULL;
        } else {
            len[k] = (uint32_t)at_size(&r);
            slot[k] = (char *)xmalloc(len[k]);
            memset(slot[k], (int)len[k], len[k]);
        }
    }
    for (i = 0; i < a->nslots; i++) free(slot[i]);
    free(slot);
    free(len);
    a->check = check;
    return NULL;
}

static double alloc_test(const params *p, int t, result *res) {
    at_arg *a = (at_arg *)xmalloc((size_t)t * sizeof *a);
    double secs;
    int i;
    for (i = 0; i < t; i++)
        a[i] = (at_arg){AT_SLOTS / (size_t)t, scaled(1e7, p->scale), p->seed + (uint64_t)i, 0};
    secs = timed_threads(t, at_thread, a, sizeof *a);
    for (i = 0; i < t; i++) res->ops += a[i].ops, res->check += a[i].check;
    free(a);
    return secs;
}

/* ---- cache-scratch: passive false sharing -------------------------------------------------- */
/* The main thread allocates one 8-byte object per thread, back to back (they may share a line),
   and hands one to each thread. Each thread frees it, then 1000 times allocates an 8-byte object,
   writes and reads it many times and frees it. An allocator that gives a thread the memory
   another thread freed puts two threads' objects on one cache line, and every write then
   crosses cores. */

#define CS_SIZE  8
#define CS_ITERS 1000

typedef struct cs_arg {
    char *given;
    size_t writes;
    uint64_t check;
} cs_arg;

static void *cs_thread(void *arg) {
    cs_arg *a = (cs_arg *)arg;
    uint64_t check = 0; /* a local, or the arguments would share a line themselves */
    int it;
    size_t w, k;
    free(a->given);
    for (it = 0; it < CS_ITERS; it++) {
        volatile char *o = (volatile char *)xmalloc(CS_SIZE);
        for (w = 0; w < a->writes; w++)
            for (k = 0; k < CS_SIZE; k++) {
                o[k] = (char)(w + k);
                check += (unsigned char)o[k];
            }
        free((void *)o);
    }
    a->check = check;
    return NULL;
}

static double cache_scratch(const params *p, int t, result *res) {
    cs_arg *a = (cs_arg *)xmalloc((size_t)t * sizeof *a);
    double secs;
    int i;
    for (i = 0; i < t; i++)
        a[i] = (cs_arg){(char *)xmalloc(CS_SIZE), scaled(100000.0, p->scale), 0};
    secs = timed_threads(t, cs_thread, a, sizeof *a);
    for (i = 0; i < t; i++) res->ops += 2 * CS_ITERS + 1, res->check += a[i].check;
    free(a);
    return secs;
}

/* ---- rptest: rpmalloc's benchmark pattern -------------------------------------------------- */
/* Each thread keeps 1000 slots. Every loop frees 24-80 of them (walking the slots with one prime
   stride), frees the batches other threads sent it, then fills 30-100 slots (another stride;
   a full slot's block is freed first) with blocks of 8 B-16000 B, small sizes likelier (the
   density falls linearly), writing one byte per page; every second loop it also allocates a batch
   of that many blocks and sends it to the next thread, which frees them. The threads start
   together, and a sender waits (freeing what it was sent) while its receiver holds 8 unread
   batches: without that, on a shared machine one thread may run far ahead and the peak would
   measure the scheduler. */

#define RP_SLOTS  1000
#define RP_NSIZES 2000
#define RP_OPS    100
#define RP_LOOPS  20000.0
#define RP_INBOX  8

typedef struct rp_batch {
    struct rp_batch *next;
    size_t n;
    void **obj;
} rp_batch;

typedef struct rp_arg {
    struct rp_arg *all;
    int id, nthreads;
    const uint32_t *sizes;
    size_t loops;
    pthread_mutex_t mu;
    rp_batch *inbox;
    int unread;
    int *sending; /* threads still sending (__atomic) */
    pthread_barrier_t *start;
    uint64_t ops, seed;
} rp_arg;

static void *rp_new(const uint32_t *sizes, size_t *si) {
    size_t n = sizes[*si];
    char *q = (char *)xmalloc(n);
    *si = (*si + 1) % RP_NSIZES;
    touch_pages(q, n);
    return q;
}

static void rp_drain(rp_arg *a) {
    rp_batch *b;
    pthread_mutex_lock(&a->mu);
    b = a->inbox;
    a->inbox = NULL;
    a->unread = 0;
    pthread_mutex_unlock(&a->mu);
    while (b != NULL) {
        rp_batch *next = b->next;
        size_t i;
        for (i = 0; i < b->n; i++) free(b->obj[i]);
        free(b->obj);
        free(b);
        b = next;
    }
}

static void rp_send(rp_arg *a, size_t n, size_t *si, int *to) {
    rp_batch *b = (rp_batch *)xmalloc(sizeof *b);
    rp_arg *dst;
    size_t i;
    b->n = n;
    b->obj = (void **)xmalloc(n * sizeof *b->obj);
    for (i = 0; i < n; i++) b->obj[i] = rp_new(a->sizes, si);
    *to = (*to + 1) % a->nthreads;
    if (*to == a->id) *to = (*to + 1) % a->nthreads;
    dst = &a->all[*to];
    for (;;) {
        int sent = 0;
        pthread_mutex_lock(&dst->mu);
        if (dst->unread < RP_INBOX) {
            b->next = dst->inbox;
            dst->inbox = b;
            dst->unread++;
            sent = 1;
        }
        pthread_mutex_unlock(&dst->mu);
        if (sent) break;
        rp_drain(a); /* the receiver may be waiting for this thread's inbox */
        sched_yield();
    }
    a->ops += 2 * n + 4; /* its blocks, its two arrays, allocated here and freed there */
}

static void *rp_thread(void *arg) {
    rp_arg *a = (rp_arg *)arg;
    void **slot = (void **)calloc(RP_SLOTS, sizeof *slot);
    bench_rng r = {a->seed};
    size_t l, k, fi = 0, ai = 0, si = (size_t)a->id * 37 % RP_NSIZES;
    int to = a->id;
    uint64_t ops = 0; /* a local: the threads' arguments share cache lines */
    if (slot == NULL) die("calloc returned NULL");
    pthread_barrier_wait(a->start);
    for (l = 0; l < a->loops; l++) {
        size_t nfree = RP_OPS * 8 * bench_rng_range(&r, 30, 100) / 1000;
        size_t nalloc = RP_OPS * bench_rng_range(&r, 30, 100) / 100;
        for (k = 0; k < nfree; k++, fi = (fi + 7) % RP_SLOTS) {
            ops += slot[fi] != NULL;
            free(slot[fi]);
            slot[fi] = NULL;
        }
        rp_drain(a);
        for (k = 0; k < nalloc; k++, ai = (ai + 11) % RP_SLOTS) {
            ops += 1 + (slot[ai] != NULL);
            free(slot[ai]);
            slot[ai] = rp_new(a->sizes, &si);
        }
        if (a->nthreads > 1 && l % 2 == 0) rp_send(a, nalloc, &si, &to);
    }
    __atomic_sub_fetch(a->sending, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(a->sending, __ATOMIC_ACQUIRE) > 0) rp_drain(a), sched_yield();
    rp_drain(a); /* nothing is sent any more */
    for (k = 0; k < RP_SLOTS; k++) ops += slot[k] != NULL, free(slot[k]);
    a->ops += ops;
    free(slot);
    return NULL;
}

static double rptest(const params *p, int t, result *res) {
    uint32_t sizes[RP_NSIZES];
    rp_arg *a = (rp_arg *)calloc((size_t)t, sizeof *a);
    pthread_barrier_t start;
    int sending = t;
    bench_rng r = {p->seed};
    double secs;
    int i;
    if (a == NULL) die("calloc returned NULL");
    /* Density falling linearly from 8 B to 16000 B: the inverse of its distribution. */
    for (i = 0; i < RP_NSIZES; i++) {
        double u = (double)(bench_rng_next(&r) >> 11) * 0x1p-53;
        sizes[i] = 8 + (uint32_t)((16000 - 8) * (1.0 - sqrt(1.0 - u)));
    }
    pthread_barrier_init(&start, NULL, (unsigned)t);
    for (i = 0; i < t; i++) {
        a[i].all = a;
        a[i].id = i;
        a[i].nthreads = t;
        a[i].sizes = sizes;
        a[i].loops = scaled(RP_LOOPS, p->scale);
        pthread_mutex_init(&a[i].mu, NULL);
        a[i].start = &start;
        a[i].sending = &sending;
        a[i].seed = p->seed + 1 + (uint64_t)i;
    }
    secs = timed_threads(t, rp_thread, a, sizeof *a);
    for (i = 0; i < t; i++) {
        res->ops += a[i].ops;
        pthread_mutex_destroy(&a[i].mu);
    }
    pthread_barrier_destroy(&start);
    free(a);
    return secs;
}

/* ---- churn: large blocks freed and allocated in turn (issue 21's page-fault target) -------- */
/* Each thread keeps 32 blocks of 16-256 KiB; every operation frees a random one and allocates
   a new one of a random size, writing one byte per page. An allocator that hands such blocks
   back to the kernel at every free takes a page fault per page at every allocation. */

#define CH_SLOTS 32

typedef struct ch_arg {
    size_t ops;
    uint64_t seed, check;
} ch_arg;

static void *ch_thread(void *arg) {
    ch_arg *a = (ch_arg *)arg;
    bench_rng r = {a->seed};
    char *slot[CH_SLOTS] = {NULL};
    uint64_t check = 0;
    size_t i;
    for (i = 0; i < a->ops; i++) {
        uint32_t k = bench_rng_range(&r, 0, CH_SLOTS - 1);
        size_t n = bench_rng_range(&r, 16 << 10, 256 << 10);
        free(slot[k]);
        slot[k] = (char *)xmalloc(n);
        touch_pages(slot[k], n);
        check += n;
    }
    a->check = check;
    for (i = 0; i < CH_SLOTS; i++) free(slot[i]);
    return NULL;
}

static double churn(const params *p, int t, result *res) {
    ch_arg *a = (ch_arg *)xmalloc((size_t)t * sizeof *a);
    double secs;
    int i;
    for (i = 0; i < t; i++) a[i] = (ch_arg){scaled(150000.0, p->scale), p->seed + (uint64_t)i, 0};
    secs = timed_threads(t, ch_thread, a, sizeof *a);
    for (i = 0; i < t; i++) res->ops += 2 * a[i].ops, res->check += a[i].check;
    free(a);
    return secs;
}

/* The file name of the library that defines the malloc this program calls. */
static const char *malloc_library(void) {
    void *(*volatile f)(size_t) = malloc; /* the address the dynamic linker bound */
    Dl_info info;
    const char *slash;
    if (dladdr((void *)(uintptr_t)f, &info) == 0 || info.dli_fname == NULL) return "unknown";
    slash = strrchr(info.dli_fname, '/');
    return slash != NULL ? slash + 1 : info.dli_fname;
}

/* ---- main ---------------------------------------------------------------------------------- */

typedef struct workload {
    const char *name;
    int threads; /* issue 21's count */
    double (*run)(const params *p, int threads, result *res);
    const char *about; /* one line for the results' table (--describe) */
} workload;

static const workload workloads[] = {
    {"larson", 8, larson,
     "8 threads; 8-999 B blocks replaced at random; each thread hands its blocks to a successor "
     "thread after 500,000 replacements (server threads come and go)"},
    {"mstress", 2, mstress,
     "2 threads re-created 25 times; blocks kept, freed at random or traded through a shared "
     "table; 1% of blocks 100-10000x larger (up to 5 MiB); every word checked at the free"},
    {"xmalloc-test", 8, xmalloc_test,
     "4 producer threads allocate 64 B blocks in batches of 4096, 4 consumer threads free them"},
    {"glibc-thread", 8, glibc_thread,
     "8 threads, 1024 slots each; blocks of 4 B-32 KiB (inverse-square) replaced at random, "
     "every byte written"},
    {"alloc-test", 2, alloc_test,
     "2 threads, 2^18 slots, 80/20 skew; a full slot is read and freed, an empty one filled "
     "(5 B-1 KiB, smaller likelier)"},
    {"cache-scratch", 2, cache_scratch,
     "2 threads each free an 8 B object the main thread allocated, then allocate, write and "
     "free 8 B objects (passive false sharing)"},
    {"rptest", 2, rptest,
     "2 threads, 1000 slots each, 8 B-16 KB (linear fall-off), a byte per page written; "
     "batches sent to the other thread, which frees them"},
    {"churn", 2, churn,
     "2 threads, 32 blocks of 16-256 KiB each, one freed and one allocated in turn, every page "
     "written (issue 21's page-fault target)"},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void usage(void) {
    fprintf(stderr, "usage: workloads --workload NAME [--scale X] [--threads T] [--seed S]\n"
                    "       workloads --list | --describe\n");
    exit(2);
}

int main(int argc, char **argv) {
    params p = {1.0, 0, 0x5eed2026u};
    const workload *w = NULL;
    struct rusage ru;
    result res = {0, 0};
    double secs;
    size_t k;
    int i, t;
    for (i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--list") == 0 || strcmp(o, "--describe") == 0) {
            for (k = 0; k < NWORKLOADS; k++)
                printf("%s%s%s\n", workloads[k].name, o[2] == 'd' ? "\t" : "",
                       o[2] == 'd' ? workloads[k].about : "");
            return 0;
        }
        if (v == NULL) usage();
        i++;
        if (strcmp(o, "--scale") == 0)
            p.scale = atof(v);
        else if (strcmp(o, "--threads") == 0)
            p.threads = atoi(v);
        else if (strcmp(o, "--seed") == 0)
            p.seed = strtoull(v, NULL, 0);
        else if (strcmp(o, "--workload") == 0) {
            for (k = 0; k < NWORKLOADS; k++)
                if (strcmp(v, workloads[k].name) == 0) w = &workloads[k];
            if (w == NULL) die("unknown workload (--list names them)");
        } else
            usage();
    }
    if (w == NULL || !(p.scale > 0) || p.threads < 0 || p.threads > 256) usage();
    t = p.threads > 0 ? p.threads : w->threads;
    secs = w->run(&p, t, &res);
    getrusage(RUSAGE_SELF, &ru);
    printf("workload=%s threads=%d malloc=%s ops=%llu seconds=%.4f maxrss_kib=%ld minflt=%ld "
           "check=%llu\n",
           w->name, t, malloc_library(), (unsigned long long)res.ops, secs, ru.ru_maxrss,
           ru.ru_minflt, (unsigned long long)res.check);
    return 0;
}
