/* bench_memory.c - the memory workload: a burst of ~200 MiB in small and medium blocks (sizes as
   in the other workloads, every byte written), everything released, then each allocator's way
   of giving pages back to the OS. Reported: RSS before the burst, at its peak, after the release
   and after the purge, and whether the purge came back within 10% of where the burst started.

   Every peer runs in its own forked child so that peaks and retained pages never mix; the
   parent has generated the sizes and mapped the pointer array first, so each child starts from
   the same RSS. Built twice: on catmem's jemalloc backend and on its system backend. */
#define _GNU_SOURCE
#include "catmem.h"
#include "bench_common.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <jemalloc/jemalloc.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <talloc.h>
#include <unistd.h>

#define BURST_BYTES ((size_t)200 << 20)

static uint32_t *sizes;
static void **blocks;
static size_t nblocks;
static int jemalloc_is_malloc; /* plain malloc is jemalloc's (jemalloc-backend build) */

typedef struct mem_result {
    double before, peak_hwm, peak_ru, after_free, after_purge; /* MiB */
    double ms_burst, ms_free, ms_purge;
    double je_metadata; /* growth of jemalloc's stats.metadata over the whole run, MiB */
} mem_result;

static void die(const char *what) {
    fprintf(stderr, "bench_memory: %s\n", what);
    exit(2);
}

/* jemalloc's own bookkeeping (stats.metadata), in MiB: jemalloc never gives it back, so it is
   what a purge cannot remove. */
static double je_metadata_mib(void) {
    uint64_t epoch = 1;
    size_t sz = sizeof epoch, meta = 0;
    if (mallctl("epoch", &epoch, &sz, &epoch, sz) != 0) return 0;
    sz = sizeof meta;
    if (mallctl("stats.metadata", &meta, &sz, NULL, 0) != 0) return 0;
    return (double)meta / 1048576.0;
}

/* The process malloc's purge, for peers that sit on plain malloc (APR, talloc). */
static void purge_process_malloc(void) {
    if (jemalloc_is_malloc) {
        (void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
        bench_je_purge(MALLCTL_ARENAS_ALL);
    } else {
        malloc_trim(0);
    }
}

/* One peer: BURST allocates block i of size s (ALLOC), the harness fills it; RELEASE gives
   everything back to the allocator; PURGE asks it to return pages to the OS. */
#define MEMORY_PEER(fn, SETUP, ALLOC, RELEASE, PURGE)                          \
    static void fn(mem_result *r) {                                            \
        size_t i_;                                                             \
        uint64_t t0_, t1_, t2_, t3_;                                           \
        double meta0_ = je_metadata_mib();                                     \
        SETUP;                                                                 \
        r->before = bench_rss_mib();                                           \
        t0_ = bench_now_ns();                                                  \
        for (i_ = 0; i_ < nblocks; i_++) {                                     \
            size_t size = sizes[i_];                                           \
            void *p = (ALLOC);                                                 \
            if (p == NULL) die("allocation failed");                           \
            memset(p, 0xa5, size); /* every page of the burst is resident */   \
            blocks[i_] = p;                                                    \
        }                                                                      \
        bench_clobber();                                                       \
        t1_ = bench_now_ns();                                                  \
        r->peak_hwm = bench_hwm_mib();                                         \
        r->peak_ru = bench_maxrss_mib();                                       \
        RELEASE;                                                               \
        t2_ = bench_now_ns();                                                  \
        r->after_free = bench_rss_mib();                                       \
        PURGE;                                                                 \
        t3_ = bench_now_ns();                                                  \
        r->after_purge = bench_rss_mib();                                      \
        r->je_metadata = je_metadata_mib() - meta0_;                           \
        r->ms_burst = (double)(t1_ - t0_) / 1e6;                               \
        r->ms_free = (double)(t2_ - t1_) / 1e6;                                \
        r->ms_purge = (double)(t3_ - t2_) / 1e6;                               \
    }

#define NOTHING ((void)0)
#define FREE_EACH(STMT)                               \
    do {                                              \
        size_t k_;                                    \
        for (k_ = 0; k_ < nblocks; k_++) {            \
            void *p = blocks[k_];                     \
            size_t size = sizes[k_];                  \
            (void)size;                               \
            STMT;                                     \
        }                                             \
    } while (0)

MEMORY_PEER(peer_catmem_free, catmem_arena *a = catmem_arena_get(CATMEM_CACHE),
            catmem_alloc(a, size), FREE_EACH(catmem_free(a, p)), catmem_arena_purge(a))

MEMORY_PEER(peer_catmem_reset, catmem_arena *a = catmem_arena_get(CATMEM_CACHE),
            catmem_alloc(a, size), catmem_arena_reset(a), catmem_arena_purge(a))

MEMORY_PEER(peer_region,
            catmem_arena *a = catmem_arena_get(CATMEM_CACHE);
            catmem_region reg;
            if (catmem_region_init(&reg, a) != 0) die("catmem_region_init"),
            catmem_region_alloc(&reg, size), catmem_region_release(&reg), catmem_arena_purge(a))

MEMORY_PEER(peer_glibc, NOTHING, __libc_malloc(size), FREE_EACH(__libc_free(p)), malloc_trim(0))

MEMORY_PEER(peer_jemalloc, NOTHING, bench_je_malloc(size), FREE_EACH(bench_je_free(p)),
            (void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
            bench_je_purge(MALLCTL_ARENAS_ALL))

MEMORY_PEER(peer_je_tcache,
            unsigned arena = bench_je_arena_create();
            unsigned tc = bench_je_tcache_create();
            int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE(tc),
            mallocx(size, flags), FREE_EACH(sdallocx(p, size, flags)),
            bench_je_tcache_flush(tc);
            bench_je_purge(arena))

MEMORY_PEER(peer_je_none,
            unsigned arena = bench_je_arena_create();
            int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE,
            mallocx(size, flags), FREE_EACH(sdallocx(p, size, flags)), bench_je_purge(arena))

MEMORY_PEER(peer_mimalloc, void *heap = bench_mi.heap_new(), bench_mi.heap_malloc(heap, size),
            bench_mi.heap_destroy(heap), bench_mi.collect(1))

MEMORY_PEER(peer_apr,
            apr_allocator_t *al = NULL;
            apr_pool_t *pool = NULL;
            if (apr_allocator_create(&al) != APR_SUCCESS ||
                apr_pool_create_unmanaged_ex(&pool, NULL, al) != APR_SUCCESS)
                die("APR pool");
            apr_allocator_owner_set(al, pool),
            apr_palloc(pool, size), apr_pool_clear(pool),
            apr_pool_destroy(pool);
            purge_process_malloc())

MEMORY_PEER(peer_talloc, void *ctx = talloc_new(NULL), talloc_size(ctx, size),
            talloc_free_children(ctx), talloc_free(ctx);
            purge_process_malloc())

typedef struct peer {
    const char *name, *key, *release, *purge;
    void (*fn)(mem_result *);
} peer;

/* Runs one peer in a fresh child; the result comes back through a pipe. */
static int run_child(const peer *p, mem_result *out) {
    int fd[2], status;
    pid_t pid;
    fflush(NULL);
    if (pipe(fd) != 0) return -1;
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        mem_result r;
        close(fd[0]);
        memset(&r, 0, sizeof r);
        if (bench_reset_hwm() != 0) fprintf(stderr, "bench_memory: cannot reset VmHWM\n");
        p->fn(&r);
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    status = read(fd[0], out, sizeof *out) == (ssize_t)sizeof *out ? 0 : -1;
    close(fd[0]);
    {
        int ws;
        waitpid(pid, &ws, 0);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) status = -1;
    }
    return status;
}

enum { NFIELDS = 9 };

static double field(const mem_result *r, int f) {
    const double v[NFIELDS] = {r->before,   r->peak_hwm, r->peak_ru,  r->after_free, r->after_purge,
                               r->ms_burst, r->ms_free,  r->ms_purge, r->je_metadata};
    return v[f];
}

int main(int argc, char **argv) {
    static mem_result res[16][BENCH_MAX_REPS];
    char n_free[80], n_reset[80], n_region[80], purge_name[80];
    const char *backend, *proc_purge;
    bench_opts o;
    size_t total = 0, cap;
    bench_rng rng = {0x5eed0003u};
    int i, rep, npeers;
    FILE *data = NULL;

    bench_parse_args(argc, argv, &o, "memory workload: RSS of a 200 MiB burst, free, purge");
    if (catmem_init() != 0) die("catmem_init failed");
    if (apr_initialize() != APR_SUCCESS) die("apr_initialize failed");
    backend = catmem_backend_name();
    jemalloc_is_malloc = strcmp(backend, "jemalloc") == 0;
    bench_header("memory workload", backend, &o);
    bench_peers_load(jemalloc_is_malloc ? "libjemalloc" : "libc");
    proc_purge = jemalloc_is_malloc ? "thread.tcache.flush + arena.<all>.purge" : "malloc_trim(0)";

    /* The burst's sizes, and room for its pointers, made before any child runs: counted with
       a copy of the generator first, so that the arrays (part of every child's "before") are
       no larger than they need to be. */
    {
        bench_rng count = rng;
        for (cap = 0; total < (size_t)(BURST_BYTES * o.scale); cap++)
            total += bench_size_draw(&count);
    }
    sizes = (uint32_t *)bench_map(cap * sizeof *sizes);
    for (nblocks = 0; nblocks < cap; nblocks++) sizes[nblocks] = bench_size_draw(&rng);
    blocks = (void **)bench_map(nblocks * sizeof *blocks);
    printf("\nBurst: %zu blocks, %.1f MiB asked for, every byte written; each peer in its own "
           "forked child. RSS from /proc/self/statm, peak from VmHWM (reset through "
           "/proc/self/clear_refs at the child's start) and from getrusage.\n",
           nblocks, (double)total / 1048576.0);

    snprintf(n_free, sizeof n_free, "catmem arena, catmem_free each (%s backend)", backend);
    snprintf(n_reset, sizeof n_reset, "catmem arena, catmem_arena_reset (%s backend)", backend);
    snprintf(n_region, sizeof n_region, "catmem region (%s backend)", backend);
    snprintf(purge_name, sizeof purge_name, "catmem_arena_purge (%s)",
             jemalloc_is_malloc ? "arena.<i>.purge" : "malloc_trim(0), process-wide");
    {
        peer peers[] = {
            {n_free, "catmem arena, free each", "catmem_free each", purge_name, peer_catmem_free},
            {n_reset, "catmem arena, reset", "catmem_arena_reset", purge_name, peer_catmem_reset},
            {n_region, "catmem region", "catmem_region_release", purge_name, peer_region},
            {"glibc malloc/free", "glibc malloc/free", "__libc_free each", "malloc_trim(0)",
             peer_glibc},
            {"jemalloc malloc/free", "jemalloc malloc/free", "free each",
             "thread.tcache.flush + arena.<all>.purge", peer_jemalloc},
            {"jemalloc arena + explicit tcache", "jemalloc arena + tcache", "sdallocx each",
             "tcache.flush + arena.<i>.purge", peer_je_tcache},
            {"jemalloc arena, MALLOCX_TCACHE_NONE", "jemalloc arena TCACHE_NONE", "sdallocx each",
             "arena.<i>.purge", peer_je_none},
            {"mimalloc heap", "mimalloc heap", "mi_heap_destroy", "mi_collect(true)",
             peer_mimalloc},
            {"APR pool", "APR pool", "apr_pool_clear", "apr_pool_destroy + process malloc's purge",
             peer_apr},
            {"talloc", "talloc", "talloc_free_children", "talloc_free + process malloc's purge",
             peer_talloc},
        };
        npeers = (int)(sizeof peers / sizeof peers[0]);
        for (rep = 0; rep < o.reps; rep++)
            for (i = 0; i < npeers; i++)
                if (run_child(&peers[i], &res[i][rep]) != 0) die("a child failed");

        printf("\n### memory, 1 thread, catmem %s backend\n\n", backend);
        printf("Process malloc's purge (for APR and talloc): %s. Figures: median of %d.\n\n",
               proc_purge, o.reps);
        printf("| peer | released by | purged by | before MiB | peak MiB (VmHWM / ru_maxrss) | "
               "after free MiB | after purge MiB | left over MiB (jemalloc stats.metadata growth) | "
               "within 10%% of before | burst ms | free ms | purge ms |\n");
        printf("|---|---|---|---:|---:|---:|---:|---:|:---:|---:|---:|---:|\n");
        if (o.data != NULL) data = fopen(o.data, "a");
        for (i = 0; i < npeers; i++) {
            double m[NFIELDS], v[BENCH_MAX_REPS];
            int f;
            for (f = 0; f < NFIELDS; f++) {
                for (rep = 0; rep < o.reps; rep++) v[rep] = field(&res[i][rep], f);
                m[f] = bench_median(v, o.reps);
            }
            printf("| %s | %s | %s | %.1f | %.1f / %.1f | %.1f | %.1f | %+.1f (%.1f) | %s (%+.0f%%) "
                   "| %.0f | %.1f | %.1f |\n",
                   peers[i].name, peers[i].release, peers[i].purge, m[0], m[1], m[2], m[3], m[4],
                   m[4] - m[0], m[8], m[4] <= m[0] * 1.10 ? "yes" : "**no**",
                   (m[4] / m[0] - 1) * 100, m[5], m[6], m[7]);
            if (data != NULL)
                fprintf(data, "memory\t1\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\n", backend,
                        peers[i].key, m[0], m[1], m[3], m[4]);
        }
        if (data != NULL) fclose(data);

        bench_target_head();
        for (i = 0; i < 3; i++) {
            double b[BENCH_MAX_REPS], a[BENCH_MAX_REPS], before, after;
            char what[160];
            for (rep = 0; rep < o.reps; rep++) {
                b[rep] = res[i][rep].before;
                a[rep] = res[i][rep].after_purge;
            }
            before = bench_median(b, o.reps);
            after = bench_median(a, o.reps);
            snprintf(what, sizeof what, "memory: %s, RSS after purge / before burst", peers[i].name);
            bench_target(what, after / before, "<=", 1.10, "x");
        }
    }
    return 0;
}
