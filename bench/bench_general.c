/* bench_general.c - the general workload: allocation and free with mixed lifetimes. Each thread
   keeps a ring of 4096 live objects; every operation frees the object in one slot and puts a new
   one there (sizes as in the request workload, first and last byte written). Three quarters of
   the operations hit the first 64 slots (objects that die young), the rest any other slot
   (objects that live for thousands of operations). "op" = one free + one allocation.

   catmem is measured through its arena path (catmem_alloc / catmem_free on one arena shared by
   the threads, as a server would use CATMEM_TASK), against the same through jemalloc's manual
   arena with an explicit cache per thread (what catmem did underneath on the jemalloc backend
   before its front caches), the same without a cache (MALLOCX_TCACHE_NONE, what catmem's front
   caches refill from), glibc, jemalloc's malloc, and a mimalloc heap per thread. Built twice: on catmem's jemalloc backend and on its system backend. */
#define _GNU_SOURCE
#include "catmem.h"
#include "bench_common.h"
#include "bench_catmem.h"

#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS 4096u
#define HOT 64u
#define NOPS_PATTERN ((size_t)1 << 20) /* the op sequence; longer runs wrap around it */

static bench_op *ops;
static size_t nops_warm, nops_timed;
/* Shared by the threads like catmem's arena; each thread has its own tcache. */
static unsigned je_arena_tc, je_arena_none;
static catmem_arena *arena;
/* The same arena use on an arena with a limit (SIZE_MAX: counted, never refused): what a limit
   costs (LIMITS in catmem.h). */
static catmem_arena *limited;

typedef struct slot {
    void *p;
    size_t size;
} slot;

/* Operations [FIRST, FIRST + N) of the cyclic sequence: FREE(p, size) the slot's object, then
   ALLOC(size) its successor and touch it. */
#define GENERAL_PASS(FIRST, N, ALLOC, FREE)                                   \
    do {                                                                      \
        size_t k_;                                                            \
        for (k_ = (FIRST); k_ < (FIRST) + (N); k_++) {                        \
            const bench_op *op_ = &ops[k_ & (NOPS_PATTERN - 1)];              \
            slot *s_ = &slots[op_->slot];                                     \
            if (s_->p != NULL) {                                              \
                void *p = s_->p;                                              \
                size_t size = s_->size;                                       \
                (void)p;                                                      \
                (void)size;                                                   \
                FREE;                                                         \
            }                                                                 \
            {                                                                 \
                size_t size = op_->size;                                      \
                void *p = (ALLOC);                                            \
                bench_touch(p, size);                                         \
                s_->p = p;                                                    \
                s_->size = size;                                              \
            }                                                                 \
        }                                                                     \
    } while (0)

/* A worker: fill the ring and warm up (untimed), the timed operations, then free what is left. */
#define GENERAL_PEER(fn, SETUP, ALLOC, FREE, TEARDOWN)                                       \
    static void fn(bench_thread *t) {                                                        \
        slot *slots = (slot *)bench_map(NSLOTS * sizeof(slot));                              \
        size_t i_;                                                                           \
        SETUP;                                                                               \
        GENERAL_PASS(0, nops_warm, ALLOC, FREE);                                             \
        bench_thread_begin(t);                                                               \
        GENERAL_PASS(nops_warm, nops_timed, ALLOC, FREE);                                    \
        bench_thread_end(t, nops_timed);                                                     \
        for (i_ = 0; i_ < NSLOTS; i_++)                                                      \
            if (slots[i_].p != NULL) {                                                       \
                void *p = slots[i_].p;                                                       \
                size_t size = slots[i_].size;                                                \
                (void)p;                                                                     \
                (void)size;                                                                  \
                FREE;                                                                        \
            }                                                                                \
        TEARDOWN;                                                                            \
        bench_unmap(slots, NSLOTS * sizeof(slot));                                           \
        (void)t;                                                                             \
    }

#define NOTHING ((void)0)

GENERAL_PEER(peer_catmem, NOTHING, catmem_alloc(arena, size), catmem_free(arena, p), NOTHING)

GENERAL_PEER(peer_catmem_sized, NOTHING, catmem_alloc(arena, size),
             catmem_free_sized(arena, p, size), NOTHING)

/* The free that names no arena (a generic free site, operator delete): the owner from the
   pointer. */
GENERAL_PEER(peer_catmem_any, NOTHING, catmem_alloc(arena, size), catmem_free_any(p), NOTHING)

GENERAL_PEER(peer_catmem_limited, NOTHING, catmem_alloc(limited, size),
             catmem_free_sized(limited, p, size), NOTHING)

GENERAL_PEER(peer_glibc, NOTHING, __libc_malloc(size), __libc_free(p), NOTHING)

GENERAL_PEER(peer_jemalloc, NOTHING, bench_je_malloc(size), bench_je_free(p), NOTHING)

/* Whatever the process's malloc is: glibc's in the system and runtime builds, unless a library
   is preloaded (bench/run.sh --callgrind runs this row with LD_PRELOAD set to catmem's malloc
   libraries and the peers'); jemalloc's in the jemalloc build, which links it. */
GENERAL_PEER(peer_malloc, NOTHING, malloc(size), free(p), NOTHING)

GENERAL_PEER(peer_je_tcache,
             unsigned tc = bench_je_tcache_create();
             int flags = MALLOCX_ARENA(je_arena_tc) | MALLOCX_TCACHE(tc),
             mallocx(size, flags), sdallocx(p, size, flags), bench_je_tcache_destroy(tc))

GENERAL_PEER(peer_je_none, int flags = MALLOCX_ARENA(je_arena_none) | MALLOCX_TCACHE_NONE,
             mallocx(size, flags), sdallocx(p, size, flags), NOTHING)

GENERAL_PEER(peer_mimalloc, void *heap = bench_mi.heap_new(), bench_mi.heap_malloc(heap, size),
             bench_mi.free(p), bench_mi.heap_delete(heap))

/* The floor: a bump pointer that never frees, cycling through 2 MiB mapped and touched up
   front. What is left per operation is the loop, the touch and the ring bookkeeping. 2 MiB is
   about the ring's live set (4096 x ~330 B), the memory the real allocators keep reusing: a
   larger buffer would make the floor pay cache misses that they do not. */
#define BUMP_BYTES ((size_t)2 << 20)
static inline void *bump(char **cur, char *base, size_t size) {
    void *p;
    if ((size_t)(base + BUMP_BYTES - *cur) < size + 16) *cur = base;
    p = *cur;
    *cur += (size + 15) & ~(size_t)15;
    return p;
}
GENERAL_PEER(peer_bump, char *base = (char *)bench_map(BUMP_BYTES); char *cur = base,
             bump(&cur, base, size), NOTHING, bench_unmap(base, BUMP_BYTES))

typedef struct peer {
    const char *name, *key;
    bench_thread_fn fn;
} peer;

enum {
    P_CATMEM,
    P_CATMEM_SIZED,
    P_CATMEM_ANY,
    P_CATMEM_LIMITED,
    P_GLIBC,
    P_JEMALLOC,
    P_MALLOC,
    P_JE_TC,
    P_JE_NONE,
    P_MI,
    P_BUMP,
    NPEERS
};

static const bench_table *table_1t;
static const char *throughput_col(const bench_table *t2, int row, char *buf, size_t n) {
    snprintf(buf, n, "%.2f", 2.0 / bench_ratio2(t2, row, table_1t, row));
    return buf;
}

int main(int argc, char **argv) {
    static bench_table t1, t2;
    char n_free[80], n_sized[80], n_any[80], n_limited[96];
    peer peers[NPEERS];
    bench_opts o;
    const char *backend;
    int i, rep, jemalloc_backend;

    bench_parse_args(argc, argv, &o, "general workload: every peer, 1 and 2 threads");
    backend = bench_catmem_backend();
    jemalloc_backend = strcmp(backend, "jemalloc") == 0;
    bench_header("general workload", backend, &o);
    bench_peers_load(jemalloc_backend ? "libjemalloc" : "libc");
    arena = catmem_arena_get(CATMEM_TASK);
    limited = catmem_arena_create("limited");
    if (limited == NULL || catmem_arena_set_limit(limited, SIZE_MAX) != 0) {
        fprintf(stderr, "bench_general: cannot make the limited arena\n");
        return 1;
    }

    snprintf(n_free, sizeof n_free, "catmem_alloc/catmem_free (%s backend)", backend);
    snprintf(n_sized, sizeof n_sized, "catmem_alloc/catmem_free_sized (%s backend)", backend);
    snprintf(n_any, sizeof n_any, "catmem_alloc/catmem_free_any (%s backend)", backend);
    snprintf(n_limited, sizeof n_limited,
             "catmem_alloc/catmem_free_sized, arena with a limit (%s backend)", backend);
    {
        peer p[NPEERS] = {
            [P_CATMEM] = {n_free, "catmem_alloc/catmem_free", peer_catmem},
            [P_CATMEM_SIZED] = {n_sized, "catmem_alloc/catmem_free_sized", peer_catmem_sized},
            [P_CATMEM_ANY] = {n_any, "catmem_alloc/catmem_free_any", peer_catmem_any},
            [P_CATMEM_LIMITED] = {n_limited, "catmem, arena with a limit", peer_catmem_limited},
            [P_GLIBC] = {"glibc malloc/free", "glibc malloc/free", peer_glibc},
            [P_JEMALLOC] = {"jemalloc malloc/free", "jemalloc malloc/free", peer_jemalloc},
            [P_MALLOC] = {"malloc/free: the process's (glibc's, jemalloc's if linked, or "
                          "preloaded)",
                          "process malloc/free", peer_malloc},
            [P_JE_TC] = {"jemalloc mallocx/sdallocx, arena + explicit tcache",
                         "jemalloc arena + tcache", peer_je_tcache},
            [P_JE_NONE] = {"jemalloc mallocx/sdallocx, arena, MALLOCX_TCACHE_NONE",
                           "jemalloc arena TCACHE_NONE", peer_je_none},
            [P_MI] = {"mimalloc mi_heap_malloc/mi_free", "mimalloc heap", peer_mimalloc},
            [P_BUMP] = {"bump pointer, never frees (floor)", "bump pointer (floor)", peer_bump},
        };
        memcpy(peers, p, sizeof peers);
    }

    ops = bench_ops_make(NOPS_PATTERN, NSLOTS, HOT, 0x5eed0002u);
    nops_timed = (size_t)((o.callgrind ? 50000 : 2000000) * o.scale);
    if (nops_timed < 1000) nops_timed = 1000;
    nops_warm = NSLOTS * 4; /* fills the ring, then some */
    je_arena_tc = bench_je_arena_create();
    je_arena_none = bench_je_arena_create();
    printf("\nWorkload: a ring of %u live objects per thread; %zu timed operations (free one "
           "object, allocate its successor, write its first and last byte) after %zu warm-up "
           "operations. catmem and the jemalloc manual arenas use one arena shared by the "
           "threads, with a cache per thread where there is one.\n",
           NSLOTS, nops_timed, nops_warm);

    bench_table_init(&t1, "general", backend, 1, o.reps);
    for (i = 0; i < NPEERS; i++) bench_table_add(&t1, peers[i].name, peers[i].key);
    t2 = t1; /* the same rows, on 2 threads */
    t2.nthreads = 2;
    if (o.rss)
        for (i = 0; i < NPEERS; i++) {
            bench_table_peak(&t1, i, peers[i].fn);
            bench_table_peak(&t2, i, peers[i].fn);
        }
    for (rep = 0; rep < o.reps; rep++)
        for (i = 0; i < NPEERS; i++) {
            int k = (i + rep) % NPEERS;
            bench_table_measure(&t1, rep, k, peers[k].fn);
            if (!o.callgrind) bench_table_measure(&t2, rep, k, peers[k].fn);
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
        if (jemalloc_backend) {
            /* What users of jemalloc compare with: plain malloc/free (issue 9). */
            bench_target("general 1T: catmem_alloc/catmem_free / jemalloc malloc/free",
                         bench_ratio(&t1, P_CATMEM, P_JEMALLOC), "<=", 1.1, "x");
            bench_target("general 2T: catmem_alloc/catmem_free / jemalloc malloc/free",
                         bench_ratio(&t2, P_CATMEM, P_JEMALLOC), "<=", 1.1, "x");
            bench_target("general 1T: catmem_alloc/catmem_free_sized / jemalloc malloc/free",
                         bench_ratio(&t1, P_CATMEM_SIZED, P_JEMALLOC), "<=", 1.1, "x");
            bench_target("general 2T: catmem_alloc/catmem_free_sized / jemalloc malloc/free",
                         bench_ratio(&t2, P_CATMEM_SIZED, P_JEMALLOC), "<=", 1.1, "x");
            bench_target("general 1T: catmem_alloc/catmem_free / mallocx+sdallocx arena+tcache "
                         "(jemalloc)",
                         bench_ratio(&t1, P_CATMEM, P_JE_TC), "<=", 1.1, "x");
            bench_target("general 2T: catmem_alloc/catmem_free / mallocx+sdallocx arena+tcache "
                         "(jemalloc)",
                         bench_ratio(&t2, P_CATMEM, P_JE_TC), "<=", 1.1, "x");
            bench_target("general 1T: speed-up of catmem over TCACHE_NONE (jemalloc)",
                         bench_ratio(&t1, P_JE_NONE, P_CATMEM), ">=", 5.0, "x");
            bench_target("general 2T: speed-up of catmem over TCACHE_NONE (jemalloc)",
                         bench_ratio(&t2, P_JE_NONE, P_CATMEM), ">=", 5.0, "x");
        } else {
            snprintf(what, sizeof what, "general 1T: catmem_alloc/catmem_free / glibc (%s)",
                     backend);
            bench_target(what, bench_ratio(&t1, P_CATMEM, P_GLIBC), "<=", 1.2, "x");
            snprintf(what, sizeof what, "general 2T: catmem_alloc/catmem_free / glibc (%s)",
                     backend);
            bench_target(what, bench_ratio(&t2, P_CATMEM, P_GLIBC), "<=", 1.2, "x");
        }
    }
    return 0;
}
