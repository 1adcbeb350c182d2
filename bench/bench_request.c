/* bench_request.c - the request workload: per request, 64-256 objects (mostly 16-128 B, a
   quarter 129 B-1 KiB, a few 1-8 KiB), each touched, then all released at once. Every peer runs
   in this one process on the same pre-generated sizes, in 1 and 2 threads, each thread with its
   own region / pool / heap / arena. "op" = one object: its allocation, its touch and its share of
   the release.

   Built twice (bench/BUILD.bazel): once on catmem's jemalloc backend, once on its system backend. */
#define _GNU_SOURCE
#include "catmem.h"
#include "bench_common.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

static bench_reqseq seq;
static size_t nreq_warm, nreq_timed;
static uint64_t objects_timed;
/* One manual arena per worker thread for each jemalloc-arena peer, made once: arenas are never
   destroyed, so making them per measurement would only pile them up. */
static unsigned je_arena_none[2], je_arena_tc[2];

static void die(const char *what) {
    fprintf(stderr, "bench_request: %s\n", what);
    exit(2);
}

/* nreq requests of the cyclic sequence. BEGIN runs before each request's first allocation,
   ALLOC(size) makes an object of `size` bytes, FREE(p, size) runs for every object after the
   request (peers that release in bulk pass a no-op), RESET ends the request. */
#define REQUEST_PASSES(NREQ, BEGIN, ALLOC, FREE, RESET)                 \
    do {                                                                \
        size_t r_;                                                      \
        for (r_ = 0; r_ < (NREQ); r_++) {                               \
            size_t q_ = r_ % seq.nreq;                                  \
            const uint32_t *sz_ = seq.sizes + seq.first[q_];            \
            uint32_t n_ = seq.count[q_], i_;                            \
            BEGIN;                                                      \
            for (i_ = 0; i_ < n_; i_++) {                               \
                size_t size = sz_[i_];                                  \
                void *p = (ALLOC);                                      \
                bench_touch(p, size);                                   \
                ptrs[i_] = p;                                           \
            }                                                           \
            for (i_ = 0; i_ < n_; i_++) {                               \
                void *p = ptrs[i_];                                     \
                size_t size = sz_[i_];                                  \
                (void)p;                                                \
                (void)size;                                             \
                FREE;                                                   \
            }                                                           \
            RESET;                                                      \
        }                                                               \
    } while (0)

/* A worker: set up, warm up (untimed), the timed passes, tear down. */
#define REQUEST_PEER(fn, SETUP, BEGIN, ALLOC, FREE, RESET, TEARDOWN)                \
    static void fn(bench_thread *t) {                                               \
        void *ptrs[256];                                                            \
        SETUP;                                                                      \
        REQUEST_PASSES(nreq_warm, BEGIN, ALLOC, FREE, RESET);                       \
        bench_thread_begin(t);                                                      \
        REQUEST_PASSES(nreq_timed, BEGIN, ALLOC, FREE, RESET);                      \
        bench_thread_end(t, objects_timed);                                         \
        TEARDOWN;                                                                   \
        (void)t;                                                                    \
    }

#define NOTHING ((void)0)

/* catmem region on the request arena, reset per request: the subject. */
REQUEST_PEER(peer_region,
             catmem_region reg;
             if (catmem_region_init(&reg, catmem_arena_get(CATMEM_REQUEST)) != 0)
                 die("catmem_region_init"),
             NOTHING, catmem_region_alloc(&reg, size), NOTHING, catmem_region_reset(&reg),
             catmem_region_release(&reg))

/* catmem's arena path without a region: every object allocated and freed on its own. */
REQUEST_PEER(peer_catmem_arena, catmem_arena *a = catmem_arena_get(CATMEM_REQUEST), NOTHING,
             catmem_alloc(a, size), catmem_free_sized(a, p, size), NOTHING, NOTHING)

REQUEST_PEER(peer_glibc, NOTHING, NOTHING, __libc_malloc(size), __libc_free(p), NOTHING, NOTHING)

REQUEST_PEER(peer_jemalloc, NOTHING, NOTHING, bench_je_malloc(size), bench_je_free(p), NOTHING,
             NOTHING)

REQUEST_PEER(peer_je_none, int flags = MALLOCX_ARENA(je_arena_none[t->id]) | MALLOCX_TCACHE_NONE,
             NOTHING, mallocx(size, flags), sdallocx(p, size, flags), NOTHING, NOTHING)

REQUEST_PEER(peer_je_tcache,
             unsigned tc = bench_je_tcache_create();
             int flags = MALLOCX_ARENA(je_arena_tc[t->id]) | MALLOCX_TCACHE(tc),
             NOTHING, mallocx(size, flags), sdallocx(p, size, flags), NOTHING,
             bench_je_tcache_destroy(tc))

/* A heap per request: mimalloc's way to free everything at once is to destroy the heap. */
REQUEST_PEER(peer_mimalloc, void *heap = NULL, heap = bench_mi.heap_new(),
             bench_mi.heap_malloc(heap, size), NOTHING, bench_mi.heap_destroy(heap), NOTHING)

/* An unmanaged pool with its own allocator per thread (as a threaded server would): no lock is
   shared between the threads. */
REQUEST_PEER(peer_apr,
             apr_allocator_t *al = NULL;
             apr_pool_t *pool = NULL;
             if (apr_allocator_create(&al) != APR_SUCCESS ||
                 apr_pool_create_unmanaged_ex(&pool, NULL, al) != APR_SUCCESS)
                 die("APR pool");
             apr_allocator_owner_set(al, pool),
             NOTHING, apr_palloc(pool, size), NOTHING, apr_pool_clear(pool),
             apr_pool_destroy(pool))

REQUEST_PEER(peer_talloc, void *ctx = talloc_new(NULL), NOTHING, talloc_size(ctx, size), NOTHING,
             talloc_free_children(ctx), talloc_free(ctx))

/* The floor: bump a pointer through memory already mapped and touched, 16-byte steps like the
   region. Nothing can do less per object. */
static inline void *bump(char **cur, size_t size) {
    void *p = *cur;
    *cur += (size + 15) & ~(size_t)15;
    return p;
}
REQUEST_PEER(peer_bump, char *base = (char *)bench_map(seq.max_bytes); char *cur = base, NOTHING,
             bump(&cur, size), NOTHING, cur = base, bench_unmap(base, seq.max_bytes))

typedef struct peer {
    const char *name, *key;
    bench_thread_fn fn;
} peer;

/* Row indices used by the targets below. */
enum { P_REGION, P_ARENA, P_GLIBC, P_JEMALLOC, P_JE_NONE, P_JE_TC, P_MI, P_APR, P_TALLOC, P_BUMP,
       NPEERS };

static const char *throughput_col(const bench_table *t2, int row, char *buf, size_t n);
static const bench_table *table_1t; /* for throughput_col */

int main(int argc, char **argv) {
    static bench_table t1, t2; /* large: not on the stack */
    char region_name[64], arena_name[64];
    peer peers[NPEERS];
    bench_opts o;
    const char *backend;
    int i, rep, nthreads_max;

    bench_parse_args(argc, argv, &o, "request workload: every peer, 1 and 2 threads");
    if (catmem_init() != 0) die("catmem_init failed");
    if (apr_initialize() != APR_SUCCESS) die("apr_initialize failed");
    backend = catmem_backend_name();
    bench_header("request workload", backend, &o);
    bench_peers_load(strcmp(backend, "jemalloc") == 0 ? "libjemalloc" : "libc");

    snprintf(region_name, sizeof region_name, "catmem region (%s backend)", backend);
    snprintf(arena_name, sizeof arena_name, "catmem_alloc/catmem_free_sized (%s backend)", backend);
    {
        peer p[NPEERS] = {
            [P_REGION] = {region_name, "catmem region", peer_region},
            [P_ARENA] = {arena_name, "catmem arena, free each", peer_catmem_arena},
            [P_GLIBC] = {"glibc malloc/free", "glibc malloc/free", peer_glibc},
            [P_JEMALLOC] = {"jemalloc malloc/free", "jemalloc malloc/free", peer_jemalloc},
            [P_JE_NONE] = {"jemalloc arena, MALLOCX_TCACHE_NONE", "jemalloc arena TCACHE_NONE",
                           peer_je_none},
            [P_JE_TC] = {"jemalloc arena + explicit tcache", "jemalloc arena + tcache",
                         peer_je_tcache},
            [P_MI] = {"mimalloc heap (new/destroy per request)", "mimalloc heap", peer_mimalloc},
            [P_APR] = {"APR pool (clear per request)", "APR pool", peer_apr},
            [P_TALLOC] = {"talloc (free_children per request)", "talloc", peer_talloc},
            [P_BUMP] = {"bump pointer (floor)", "bump pointer (floor)", peer_bump},
        };
        memcpy(peers, p, sizeof peers);
    }

    bench_reqseq_make(&seq, 4096, 0x5eed0001u);
    nreq_timed = (size_t)(40000 * o.scale);
    if (o.callgrind) nreq_timed = (size_t)(500 * o.scale);
    if (nreq_timed < 10) nreq_timed = 10;
    nreq_warm = nreq_timed / 10 < 50 ? 50 : nreq_timed / 10;
    objects_timed = bench_reqseq_objects(&seq, nreq_timed);
    for (i = 0; i < 2; i++) {
        je_arena_none[i] = bench_je_arena_create();
        je_arena_tc[i] = bench_je_arena_create();
    }
    printf("\nWorkload: %zu requests per thread per measurement (%llu objects, "
           "64-256 per request), after %zu warm-up requests; each object's first and last byte "
           "written. APR and talloc get their memory from plain malloc (see above).\n",
           nreq_timed, (unsigned long long)objects_timed, nreq_warm);

    nthreads_max = o.callgrind ? 1 : 2; /* valgrind runs threads one at a time anyway */
    bench_table_init(&t1, "request", backend, 1, o.reps);
    for (i = 0; i < NPEERS; i++) bench_table_add(&t1, peers[i].name, peers[i].key);
    t2 = t1; /* the same rows, on 2 threads */
    t2.nthreads = 2;
    /* Peaks first, each in a fresh child, while this process has allocated almost nothing. */
    if (o.rss)
        for (i = 0; i < NPEERS; i++) {
            bench_table_peak(&t1, i, peers[i].fn);
            bench_table_peak(&t2, i, peers[i].fn);
        }
    /* Every repetition measures every peer, in an order rotated per repetition so that no peer
       always runs right after the same neighbour. */
    for (rep = 0; rep < o.reps; rep++)
        for (i = 0; i < NPEERS; i++) {
            int k = (i + rep) % NPEERS;
            bench_table_measure(&t1, rep, k, peers[k].fn);
            if (nthreads_max >= 2) bench_table_measure(&t2, rep, k, peers[k].fn);
        }

    if (o.callgrind) {
        printf("\n(callgrind mode: instruction counts are in the callgrind dumps)\n");
        return 0;
    }
    bench_table_print(&t1, NULL, NULL);
    table_1t = &t1;
    bench_table_print(&t2, "throughput 2T/1T", throughput_col);
    bench_table_data(&t1, &o);
    bench_table_data(&t2, &o);

    bench_target_head();
    {
        char what[160];
        snprintf(what, sizeof what, "request 1T: catmem region / APR pool (%s)", backend);
        bench_target(what, bench_ratio(&t1, P_REGION, P_APR), "<=", 1.0, "x");
        snprintf(what, sizeof what, "request 2T: catmem region / APR pool (%s)", backend);
        bench_target(what, bench_ratio(&t2, P_REGION, P_APR), "<=", 1.0, "x");
        snprintf(what, sizeof what, "request 1T: catmem region / bump floor (%s)", backend);
        bench_target(what, bench_ratio(&t1, P_REGION, P_BUMP), "<=", 1.3, "x");
        snprintf(what, sizeof what, "request 2T: catmem region / bump floor (%s)", backend);
        bench_target(what, bench_ratio(&t2, P_REGION, P_BUMP), "<=", 1.3, "x");
        snprintf(what, sizeof what, "request: catmem region throughput 2T / 1T (%s)", backend);
        bench_target(what, 2.0 / bench_ratio2(&t2, P_REGION, &t1, P_REGION), ">=", 1.8, "x");
        /* On a shared machine two threads may not get two cores: the floor, which shares
           nothing, shows what the machine allowed, and cores used shows why. */
        printf("\nScaling context (%s build): the bump floor's own 2T/1T throughput was %.2fx "
               "and catmem region's 2 threads used %.2f cores (median); catmem region's 2T/1T "
               "relative to the floor's: %.2f.\n",
               backend, 2.0 / bench_ratio2(&t2, P_BUMP, &t1, P_BUMP),
               bench_median(t2.rows[P_REGION].cores, t2.nreps),
               bench_ratio2(&t2, P_BUMP, &t1, P_BUMP) / bench_ratio2(&t2, P_REGION, &t1, P_REGION));
    }
    return 0;
}

/* Throughput of 2 threads over 1 thread: 2 x (1T ns/op) / (2T ns/op), median over the
   repetitions of that ratio (1T and 2T ran back to back in each repetition). */
static const char *throughput_col(const bench_table *t2, int row, char *buf, size_t n) {
    snprintf(buf, n, "%.2f", 2.0 / bench_ratio2(t2, row, table_1t, row));
    return buf;
}
