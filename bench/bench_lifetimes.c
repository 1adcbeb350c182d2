/* bench_lifetimes.c - what one arena "lifetime" costs, and what a live arena costs in memory
   (issue 19). Every peer runs in this one process:
   1. lifetime: create an arena, make 20 allocations of 16-512 B in it (first and last byte
      written), free 5 of them one by one, release the arena with the other 15 still in it.
      op = one lifetime.
   2. empty arena: create + release, nothing in between. op = one pair.
   3. live arenas: N arenas alive at once (1,000,000 x --scale), 8 objects of 16-128 B in each,
      every byte written; resident bytes per live arena, each peer in a forked child.
   Peers: a catmem arena (catmem_arena_create, catmem_alloc, catmem_free_sized,
   catmem_arena_release; the one arena live has memory of its own from the engine), the same
   with CATMEM_OWN_ARENAS other arenas live (so that the measured one is small), an APR pool (apr_pool_create with no parent, apr_palloc,
   apr_pool_destroy; APR cannot free a single block, so it skips the 5 frees), talloc (a
   talloc_new context, talloc_size children, talloc_free), a list of malloc'ed blocks (a head
   of its own and a two-word link before each block, so that one block can be freed and the
   rest walked at the release) on glibc and on jemalloc, and a mimalloc heap (mi_heap_new,
   mi_heap_malloc, mi_free, mi_heap_destroy). APR and talloc get their memory from plain malloc.

   One thread: a lifetime is one thread's, and this measures what it costs, not how the
   registries behind create and release scale.

   The live-arena measurement asks how far each peer gets: every peer tries N, stops at its
   first failure or at
   a resident budget that keeps the shared machine alive, and the table says how many it
   reached and the figure at that count. Built for the jemalloc, system and runtime-falling-back
   builds, each compiling catmem itself (bench/BUILD.bazel). */
#define _GNU_SOURCE
#define CATMEM_IMPLEMENTATION
#include "catmem.h"
#include "bench_common.h"
#include "bench_catmem.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#define NALLOC   20   /* allocations per lifetime */
#define NFREE    5    /* of those, freed one by one before the release */
#define NPATTERN 4096 /* lifetimes in the pattern; longer runs wrap around it */

#define LIVE_TARGET  1000000.0 /* live arenas asked for at --scale 1 */
#define LIVE_OBJECTS 8         /* objects per live arena */
/* A child stops growing past this much resident memory: a million mimalloc heaps or APR pools
   would take tens of GiB on a machine that others share. The per-arena figure at the count it
   reached is still its figure. */
#define LIVE_BUDGET_MIB  2048.0
#define LIVE_CHECK_EVERY 1024 /* arenas between two RSS readings in a child */

typedef struct lifetime {
    uint16_t size[NALLOC];
    uint8_t freed[NFREE]; /* indices into size, distinct, in the order they are freed */
} lifetime;

static lifetime *pattern;
static size_t nlife_warm, nlife_timed;

static void die(const char *what) {
    fprintf(stderr, "bench_lifetimes: %s (errno %d)\n", what, errno);
    exit(2);
}

/* ---- the peers: create (NULL and errno on failure), alloc, free one block, release --------- */

/* One name for every lifetime: one arena is live at a time, and catmem names must be unique
   only among live arenas. The live-arena pass gives each arena a name of its own. */
#define LIFETIME_NAME "lifetime"

static void *cm_create(const char *name) { return catmem_arena_create(name); }
static void *cm_alloc(void *a, size_t n) { return catmem_alloc((catmem_arena *)a, n); }
static void cm_free(void *a, void *p, size_t n) { catmem_free_sized((catmem_arena *)a, p, n); }
static void cm_release(void *a) {
    if (catmem_arena_release((catmem_arena *)a) != 0) die("catmem_arena_release failed");
}

/* A child of APR's global pool, as apr_pool_create(&p, NULL) makes it: the default, whose one
   lock (the global allocator's) is the counterpart of catmem's registry lock. */
static void *pool_create(const char *name) {
    apr_pool_t *p = NULL;
    (void)name;
    return apr_pool_create(&p, NULL) == APR_SUCCESS ? p : NULL;
}
static void *pool_alloc(void *a, size_t n) { return apr_palloc((apr_pool_t *)a, n); }
/* APR frees a pool's memory only all at once. */
static void pool_no_free(void *a, void *p, size_t n) {
    (void)a;
    (void)p;
    (void)n;
}
static void pool_release(void *a) { apr_pool_destroy((apr_pool_t *)a); }

static void *tal_create(const char *name) {
    (void)name;
    return talloc_new(NULL);
}
static void *tal_alloc(void *a, size_t n) { return talloc_size(a, n); }
static void tal_free(void *a, void *p, size_t n) {
    (void)a;
    (void)n;
    talloc_free(p);
}
static void tal_release(void *a) { talloc_free(a); }

/* What a program without an arena library writes: every block malloc'ed with two links in
   front of it (16 bytes, so the block keeps malloc's alignment), on a list whose head is
   malloc'ed too; a single free unlinks one, the release walks the list. */
typedef struct list_link {
    struct list_link *next, *prev;
} list_link;
typedef struct list_arena {
    list_link head;
    void *(*malloc)(size_t);
    void (*free)(void *);
} list_arena;

static void *list_create(void *(*m)(size_t), void (*f)(void *)) {
    list_arena *a = (list_arena *)m(sizeof *a);
    if (a == NULL) return NULL;
    a->head.next = a->head.prev = &a->head;
    a->malloc = m;
    a->free = f;
    return a;
}
static void *glibc_list_create(const char *name) {
    (void)name;
    return list_create(__libc_malloc, __libc_free);
}
static void *je_list_create(const char *name) {
    (void)name;
    return list_create(bench_je_malloc, bench_je_free);
}
static void *list_alloc(void *arena, size_t n) {
    list_arena *a = (list_arena *)arena;
    list_link *l = (list_link *)a->malloc(sizeof *l + n);
    if (l == NULL) return NULL;
    l->next = a->head.next;
    l->prev = &a->head;
    a->head.next->prev = l;
    a->head.next = l;
    return l + 1;
}
static void list_free(void *arena, void *p, size_t n) {
    list_link *l = (list_link *)p - 1;
    (void)n;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    ((list_arena *)arena)->free(l);
}
static void list_release(void *arena) {
    list_arena *a = (list_arena *)arena;
    list_link *l = a->head.next;
    while (l != &a->head) {
        list_link *next = l->next;
        a->free(l);
        l = next;
    }
    a->free(a);
}

static void *mih_create(const char *name) {
    (void)name;
    return bench_mi.heap_new();
}
static void *mih_alloc(void *a, size_t n) { return bench_mi.heap_malloc(a, n); }
static void mih_free(void *a, void *p, size_t n) {
    (void)a;
    (void)n;
    bench_mi.free(p);
}
static void mih_release(void *a) { bench_mi.heap_destroy(a); }

/* ---- the timed workers ---------------------------------------------------------------------- */

/* Lifetimes [first, first + n) of the cyclic pattern. Always inlined into each peer's worker,
   so that the peer's functions are called directly, as the other programs' macros do. */
static inline __attribute__((always_inline)) void
lifetime_pass(size_t first, size_t n, void *(*create)(const char *), void *(*alloc)(void *, size_t),
              void (*free_one)(void *, void *, size_t), void (*release)(void *)) {
    void *p[NALLOC];
    size_t l;
    for (l = first; l < first + n; l++) {
        const lifetime *lt = &pattern[l % NPATTERN];
        void *a = create(LIFETIME_NAME);
        int i;
        if (a == NULL) die("arena creation failed");
        for (i = 0; i < NALLOC; i++) {
            p[i] = alloc(a, lt->size[i]);
            bench_touch(p[i], lt->size[i]);
        }
        for (i = 0; i < NFREE; i++) free_one(a, p[lt->freed[i]], lt->size[lt->freed[i]]);
        release(a);
    }
}

static inline __attribute__((always_inline)) void
empty_pass(size_t n, void *(*create)(const char *), void (*release)(void *)) {
    size_t l;
    for (l = 0; l < n; l++) {
        void *a = create(LIFETIME_NAME);
        if (a == NULL) die("arena creation failed");
        bench_escape(a);
        release(a);
    }
}

/* A peer's two workers: warm up (untimed), then the timed lifetimes or empty pairs. */
#define LIFETIME_PEER(PEER, CREATE, ALLOC, FREE, RELEASE)                                  \
    static void PEER##_lifetimes(bench_thread *t) {                                       \
        lifetime_pass(0, nlife_warm, CREATE, ALLOC, FREE, RELEASE);                       \
        bench_thread_begin(t);                                                            \
        lifetime_pass(nlife_warm, nlife_timed, CREATE, ALLOC, FREE, RELEASE);             \
        bench_thread_end(t, nlife_timed);                                                 \
    }                                                                                     \
    static void PEER##_empty(bench_thread *t) {                                           \
        empty_pass(nlife_warm, CREATE, RELEASE);                                          \
        bench_thread_begin(t);                                                            \
        empty_pass(nlife_timed, CREATE, RELEASE);                                         \
        bench_thread_end(t, nlife_timed);                                                 \
    }

LIFETIME_PEER(cm, cm_create, cm_alloc, cm_free, cm_release)

/* The catmem peer again, while CATMEM_OWN_ARENAS arenas hold every slot with memory of its own
   (made and released outside the timed section): each arena it makes is small. */
static catmem_arena *cm_holders[CATMEM_OWN_ARENAS + 1]; /* + 1: OWN_ARENAS may be 0 */
static void cm_hold(int on) {
    int i;
    for (i = 0; i < CATMEM_OWN_ARENAS; i++)
        if (on ? (cm_holders[i] = catmem_arena_create(NULL)) == NULL
               : catmem_arena_release(cm_holders[i]) != 0)
            die("holding arenas failed");
}
static void cms_lifetimes(bench_thread *t) {
    cm_hold(1);
    cm_lifetimes(t);
    cm_hold(0);
}
static void cms_empty(bench_thread *t) {
    cm_hold(1);
    cm_empty(t);
    cm_hold(0);
}
LIFETIME_PEER(pool, pool_create, pool_alloc, pool_no_free, pool_release)
LIFETIME_PEER(tal, tal_create, tal_alloc, tal_free, tal_release)
LIFETIME_PEER(glibc_list, glibc_list_create, list_alloc, list_free, list_release)
LIFETIME_PEER(je_list, je_list_create, list_alloc, list_free, list_release)
LIFETIME_PEER(mih, mih_create, mih_alloc, mih_free, mih_release)

typedef struct peer {
    const char *name, *key;
    bench_thread_fn lifetimes, empty;
    void *(*create)(const char *); /* the live-arena pass */
    void *(*alloc)(void *, size_t);
} peer;

enum { P_CATMEM, P_CATMEM_SMALL, P_APR, P_TALLOC, P_GLIBC_LIST, P_JE_LIST, P_MI, NPEERS };

/* ---- live arenas ----------------------------------------------------------------------------- */

typedef struct live_run {
    const peer *p;
    size_t n; /* arenas asked for */
} live_run;

enum { LIVE_REACHED, LIVE_PER_ARENA, LIVE_ASKED, LIVE_STOP, LIVE_NOUT };
/* out[LIVE_STOP]: 0 (it reached n), one of these, or the errno of the failure that stopped it. */
#define LIVE_STOP_BUDGET    (-1.0)
#define LIVE_STOP_NO_ERRNO  (-2.0) /* a failure that set no errno */

/* In a forked child: arenas until n, the first failure or the budget. out: arenas reached
   (each with all its objects), resident bytes per arena, bytes asked for per arena, why it
   stopped. */
static void live_child(void *arg, double *out, int nout) {
    const live_run *r = (const live_run *)arg;
    void **arenas = (void **)bench_map(r->n * sizeof *arenas);
    bench_rng rng = {0x5eed0006u};
    double before, asked = 0;
    size_t i;
    (void)nout;
    out[LIVE_STOP] = 0;
    before = bench_rss_mib();
    for (i = 0; i < r->n; i++) {
        char name[32];
        int k;
        snprintf(name, sizeof name, "live-%zu", i);
        errno = 0;
        if ((arenas[i] = r->p->create(name)) == NULL) break;
        for (k = 0; k < LIVE_OBJECTS; k++) {
            size_t size = bench_rng_range(&rng, 16, 128);
            void *p = r->p->alloc(arenas[i], size);
            if (p == NULL) break;
            memset(p, 0x5a, size); /* every byte, as bench_objects does */
            asked += (double)size;
        }
        if (k < LIVE_OBJECTS) break;
        if ((i + 1) % LIVE_CHECK_EVERY == 0 && bench_rss_mib() - before > LIVE_BUDGET_MIB) {
            out[LIVE_STOP] = LIVE_STOP_BUDGET;
            i++;
            break;
        }
    }
    if (i < r->n && out[LIVE_STOP] == 0) out[LIVE_STOP] = errno != 0 ? errno : LIVE_STOP_NO_ERRNO;
    out[LIVE_REACHED] = (double)i;
    out[LIVE_PER_ARENA] = i > 0 ? (bench_rss_mib() - before) * 1048576.0 / (double)i : -1;
    out[LIVE_ASKED] = i > 0 ? asked / (double)i : -1;
    bench_escape(arenas);
}

static void live_arenas(const peer *peers, const char *backend, const bench_opts *o) {
    live_run r;
    int i;
    r.n = (size_t)(LIVE_TARGET * o->scale);
    if (r.n < LIVE_CHECK_EVERY) r.n = LIVE_CHECK_EVERY;
    printf("\n### live arenas, catmem %s backend\n\n", backend);
    printf("%zu arenas asked for, each holding %d objects of 16-128 B (every byte written), "
           "each peer in a forked child; resident bytes per arena: (VmRSS after - VmRSS "
           "before) / arenas reached. A peer stops at its first failure, or past %.0f MiB of "
           "growth (the machine is shared).\n\n",
           r.n, LIVE_OBJECTS, LIVE_BUDGET_MIB);
    printf("| peer | arenas reached / asked | resident bytes per live arena | beyond the "
           "objects' own bytes | stopped by |\n|---|---:|---:|---:|---|\n");
    for (i = 0; i < NPEERS; i++) {
        double out[LIVE_NOUT];
        char stop[64];
        if (i == P_CATMEM_SMALL) continue; /* the same arenas as the catmem peer's: all past 64 */
        r.p = &peers[i];
        if (bench_in_child(live_child, &r, out, LIVE_NOUT) != 0) {
            printf("| %s | failed | | | |\n", peers[i].name);
            continue;
        }
        if (out[LIVE_STOP] == 0)
            snprintf(stop, sizeof stop, "-");
        else if (out[LIVE_STOP] == LIVE_STOP_BUDGET)
            snprintf(stop, sizeof stop, "the %.0f MiB budget", LIVE_BUDGET_MIB);
        else if (out[LIVE_STOP] == LIVE_STOP_NO_ERRNO)
            snprintf(stop, sizeof stop, "a failure (no errno)");
        else
            snprintf(stop, sizeof stop, "a failure: %s", strerrorname_np((int)out[LIVE_STOP]));
        if (out[LIVE_REACHED] == 0)
            printf("| %s | 0 / %zu | - | - | %s |\n", peers[i].name, r.n, stop);
        else
            printf("| %s | %.0f / %zu | %.1f | %.1f | %s |\n", peers[i].name, out[LIVE_REACHED],
                   r.n, out[LIVE_PER_ARENA], out[LIVE_PER_ARENA] - out[LIVE_ASKED], stop);
        if (o->data != NULL) {
            /* live arenas  1  backend  key  bytes per arena  arenas reached  arenas asked */
            FILE *f = fopen(o->data, "a");
            if (f == NULL) die("cannot open the --data file");
            fprintf(f, "live arenas\t1\t%s\t%s\t%.1f\t%.0f\t%zu\n", backend, peers[i].key,
                    out[LIVE_PER_ARENA], out[LIVE_REACHED], r.n);
            fclose(f);
        }
    }
}

/* ---- main ------------------------------------------------------------------------------------ */

/* This peer's time over catmem's, median of the ratios within each repetition. */
static const char *x_catmem_col(const bench_table *t, int row, char *buf, size_t n) {
    snprintf(buf, n, "%.2f", bench_ratio(t, row, P_CATMEM));
    return buf;
}

static void make_pattern(void) {
    bench_rng r = {0x5eed0007u};
    size_t l;
    pattern = (lifetime *)bench_map(NPATTERN * sizeof *pattern);
    for (l = 0; l < NPATTERN; l++) {
        uint8_t order[NALLOC];
        int i;
        for (i = 0; i < NALLOC; i++) {
            pattern[l].size[i] = (uint16_t)bench_rng_range(&r, 16, 512);
            order[i] = (uint8_t)i;
        }
        /* The first NFREE of a partial Fisher-Yates shuffle: distinct, in random order. */
        for (i = 0; i < NFREE; i++) {
            int j = (int)bench_rng_range(&r, (uint32_t)i, NALLOC - 1);
            uint8_t x = order[i];
            order[i] = order[j];
            order[j] = x;
            pattern[l].freed[i] = order[i];
        }
    }
}

int main(int argc, char **argv) {
    static bench_table tl, te; /* lifetimes, empty pairs */
    char catmem_name[96], small_name[128];
    peer peers[NPEERS];
    bench_opts o;
    const char *backend;
    int i, rep;

    bench_parse_args(argc, argv, &o,
                     "arena lifetimes: create, 20 allocations, 5 frees, release; empty create + "
                     "release; resident bytes per live arena");
    backend = bench_catmem_backend();
    if (apr_initialize() != APR_SUCCESS) die("apr_initialize failed");
    bench_header("arena lifetimes", backend, &o);
    bench_peers_load(strcmp(backend, "jemalloc") == 0 ? "libjemalloc" : "libc");

    snprintf(catmem_name, sizeof catmem_name, "catmem arena (%s backend)", backend);
    snprintf(small_name, sizeof small_name, "catmem small arena (%d others live)",
             CATMEM_OWN_ARENAS);
    {
        peer p[NPEERS] = {
            [P_CATMEM] = {catmem_name, "catmem arena", cm_lifetimes, cm_empty, cm_create, cm_alloc},
            [P_CATMEM_SMALL] = {small_name, "catmem small arena", cms_lifetimes, cms_empty,
                                cm_create, cm_alloc},
            [P_APR] = {"APR pool (no single frees)", "APR pool", pool_lifetimes, pool_empty,
                       pool_create, pool_alloc},
            [P_TALLOC] = {"talloc", "talloc", tal_lifetimes, tal_empty, tal_create, tal_alloc},
            [P_GLIBC_LIST] = {"glibc malloc/free + list", "glibc malloc/free + list",
                              glibc_list_lifetimes, glibc_list_empty, glibc_list_create,
                              list_alloc},
            [P_JE_LIST] = {"jemalloc malloc/free + list", "jemalloc malloc/free + list",
                           je_list_lifetimes, je_list_empty, je_list_create, list_alloc},
            [P_MI] = {"mimalloc heap", "mimalloc heap", mih_lifetimes, mih_empty, mih_create,
                      mih_alloc},
        };
        memcpy(peers, p, sizeof peers);
    }

    make_pattern();
    nlife_timed = (size_t)((o.callgrind ? 2000 : 100000) * o.scale);
    if (nlife_timed < 100) nlife_timed = 100;
    nlife_warm = nlife_timed / 10 < 100 ? 100 : nlife_timed / 10;
    printf("\nWorkload: %zu timed lifetimes per measurement after %zu warm-up ones, 1 thread. A "
           "lifetime: create an arena, %d allocations of 16-512 B (first and last byte "
           "written), %d of them freed one by one (APR cannot: it skips them), release the "
           "arena with the rest. Empty: create + release only (the list peer: malloc and free "
           "of its head). APR and talloc get their memory from plain malloc (see above).\n",
           nlife_timed, nlife_warm, NALLOC, NFREE);

    bench_table_init(&tl, "lifetime", backend, 1, o.reps);
    for (i = 0; i < NPEERS; i++) bench_table_add(&tl, peers[i].name, peers[i].key);
    te = tl; /* the same rows */
    te.workload = "empty arena";
    /* Peaks first, each in a fresh child: what a peer keeps across lifetimes shows here. */
    if (o.rss)
        for (i = 0; i < NPEERS; i++) bench_table_peak(&tl, i, peers[i].lifetimes);
    /* Interleaved, the peer order rotated per repetition; each peer's lifetimes and empty pairs
       back to back. */
    for (rep = 0; rep < o.reps; rep++)
        for (i = 0; i < NPEERS; i++) {
            int k = (i + rep) % NPEERS;
            bench_table_measure(&tl, rep, k, peers[k].lifetimes);
            bench_table_measure(&te, rep, k, peers[k].empty);
        }

    if (o.callgrind) {
        printf("\n(callgrind mode: instruction counts are in the callgrind dumps)\n");
        return 0;
    }
    bench_table_print(&tl, "x catmem", x_catmem_col);
    bench_table_print(&te, "x catmem", x_catmem_col);
    bench_table_data(&tl, &o);
    bench_table_data(&te, &o);
    if (o.rss) live_arenas(peers, backend, &o);
    return 0;
}
