/* attacks.c - issue 20's attacks on allocator metadata, each written once against a tiny
   allocator interface (arena, alloc, free, sized free, reset) and run in a forked child against
   catmem (this build's backend) and, with --peers, glibc, jemalloc, mimalloc and scudo.

   What the child observes decides the outcome, never an assumption: it ends with a result line
   on a pipe ("W" the attack's goal was reached, "R" a call was refused, "N" the attack ran to its
   end without reaching its goal, "A" the allocator has no such operation, "S" or "P" reuse after
   a reset was not predictable, or in part), or it dies; the parent reads the line, the exit
   status and the first line of stderr. Goals, checked by the child:
     - two owners: an allocation overlaps a block the program still holds (every block the
       attack holds is entered into a table of 16-byte granules, and so is every allocation);
     - an arbitrary address: an allocation lands in `target`, a global;
     - a write primitive: `canary`, a global, changed.

   Usage: attacks_<build> [--peers] [--tsv] | --sanitizer
   (bench/attacks.sh runs every build and writes bench/results/attacks.md; tests/attacks_test.sh
   holds the README's bad-input table to the --tsv rows). */
#define _GNU_SOURCE
#include "catmem.h"
#include "bench_common.h"

#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the allocator interface ----------------------------------------------------------------- */

typedef struct heap_ops {
    const char *name;
    void *(*create)(void); /* an arena; allocators without arenas return a dummy */
    void *(*alloc)(void *h, size_t size);
    int (*free)(void *h, void *p);                    /* 0, or -1 when the call was refused */
    int (*free_sized)(void *h, void *p, size_t size); /* NULL: no sized free */
    void (*reset)(void *h); /* NULL: no arenas; the attack frees what it holds instead */
    int free_names_arena;   /* free takes the arena (a free into the wrong one means something) */
} heap_ops;

/* catmem: a refused call sets errno to EINVAL (catmem.h, ERRORS). */
static void *cm_create(void) { return catmem_arena_create(NULL); }
static void *cm_alloc(void *h, size_t size) { return catmem_alloc((catmem_arena *)h, size); }
static int cm_free(void *h, void *p) {
    errno = 0;
    catmem_free((catmem_arena *)h, p);
    return errno == EINVAL ? -1 : 0;
}
static int cm_free_sized(void *h, void *p, size_t size) {
    errno = 0;
    catmem_free_sized((catmem_arena *)h, p, size);
    return errno == EINVAL ? -1 : 0;
}
static void cm_reset(void *h) {
    if (catmem_arena_reset((catmem_arena *)h) != 0) _exit(2);
}
/* A small arena: one past the first CATMEM_OWN_ARENAS live ones, which have memory of their own
   (README, "many arenas"); busy, so that the thread keeps a front cache for it, as
   je_hardening_test makes it. */
static void *cms_create(void) {
    static int fillers;
    catmem_arena *a;
    int i;
    for (; fillers < CATMEM_OWN_ARENAS; fillers++)
        if (catmem_arena_create(NULL) == NULL) _exit(2);
    if ((a = catmem_arena_create(NULL)) == NULL) _exit(2);
    for (i = 0; i < 300; i++) catmem_free(a, catmem_alloc(a, 16));
    return a;
}

static void *no_arena(void) { return (void *)1; }

/* glibc: reachable as __libc_malloc whichever library owns plain malloc. */
static void *gl_alloc(void *h, size_t size) { return (void)h, __libc_malloc(size); }
static int gl_free(void *h, void *p) { return (void)h, __libc_free(p), 0; }

/* jemalloc, with its thread cache (as a program using it as malloc gets it). */
static void *je_alloc(void *h, size_t size) { return (void)h, bench_je_malloc(size); }
static int je_free(void *h, void *p) { return (void)h, bench_je_free(p), 0; }
static int je_free_sized(void *h, void *p, size_t size) { return (void)h, sdallocx(p, size, 0), 0; }

/* mimalloc: a heap is its arena, mi_heap_destroy its reset (it frees every block at once). */
typedef struct mi_arena {
    void *heap;
} mi_arena;
static void (*mi_free_size)(void *, size_t);
static void *mi_create(void) {
    static mi_arena slots[4];
    static int used;
    mi_arena *a = &slots[used++ & 3];
    a->heap = bench_mi.heap_new();
    return a;
}
static void *mi_alloc(void *h, size_t size) {
    return bench_mi.heap_malloc(((mi_arena *)h)->heap, size);
}
static int mi_free(void *h, void *p) { return (void)h, bench_mi.free(p), 0; }
static int mi_free_sized(void *h, void *p, size_t size) {
    return (void)h, mi_free_size(p, size), 0;
}
static void mi_reset(void *h) {
    bench_mi.heap_destroy(((mi_arena *)h)->heap);
    ((mi_arena *)h)->heap = bench_mi.heap_new();
}

/* scudo: its library cannot be dlopen'ed (its TLS must be static), so a child that runs an
   attack on it re-executes this program with scudo preloaded, and plain malloc is scudo's there
   (checked with dladdr). */
static void *(*sc_malloc)(size_t);
static void (*sc_free)(void *);
static void *sc_alloc(void *h, size_t size) { return (void)h, sc_malloc(size); }
static int sc_free_(void *h, void *p) { return (void)h, sc_free(p), 0; }

static const heap_ops catmem_ops[] = {
    {"catmem", cm_create, cm_alloc, cm_free, cm_free_sized, cm_reset, 1},
    {"catmem small", cms_create, cm_alloc, cm_free, cm_free_sized, cm_reset, 1},
};
static const heap_ops peer_ops[] = {
    {"glibc", no_arena, gl_alloc, gl_free, NULL, NULL, 0},
    {"jemalloc", no_arena, je_alloc, je_free, je_free_sized, NULL, 0},
    {"mimalloc", mi_create, mi_alloc, mi_free, mi_free_sized, mi_reset, 0},
    {"scudo", no_arena, sc_alloc, sc_free_, NULL, NULL, 0},
};
#define NPEERS ((int)(sizeof peer_ops / sizeof peer_ops[0]))
#define SCUDO  (&peer_ops[NPEERS - 1])

/* ---- what the child observes ----------------------------------------------------------------- */

static int result_fd = -1;

/* The child's last word: a code and a few words of detail, then exit. */
static void verdict(char code, const char *detail) {
    char line[160];
    int n = snprintf(line, sizeof line, "%c%s", code, detail);
    if (write(result_fd, line, (size_t)n) != n) _exit(2);
    _exit(0);
}

/* The blocks the program holds, as 16-byte granules in an open-addressing table. */
#define GRAN_BITS 21
static uintptr_t granules[(size_t)1 << GRAN_BITS];

static uintptr_t *gran_slot(uintptr_t g) {
    size_t i = (size_t)((g * 0x9e3779b97f4a7c15ull) >> (64 - GRAN_BITS));
    while (granules[i] != 0 && granules[i] != g) i = (i + 1) & (((size_t)1 << GRAN_BITS) - 1);
    return &granules[i];
}

static int held(const void *p, size_t size) {
    uintptr_t g;
    for (g = (uintptr_t)p >> 4; g <= ((uintptr_t)p + size - 1) >> 4; g++)
        if (*gran_slot(g) != 0) return 1;
    return 0;
}

static void hold(const void *p, size_t size) {
    uintptr_t g;
    for (g = (uintptr_t)p >> 4; g <= ((uintptr_t)p + size - 1) >> 4; g++) *gran_slot(g) = g;
}

static unsigned char target[512] __attribute__((aligned(64))); /* where forged links point */
static uintptr_t canary[32]; /* where forged list pointers point */
#define CANARY ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static int canary_intact(void) {
    int i;
    for (i = 0; i < 32; i++)
        if (canary[i] != CANARY) return 0;
    return 1;
}

/* A new block of size: the attack's goal is reached if it is already held by the program or is
   in target. Then the program holds it. */
static void *take(const heap_ops *o, void *h, size_t size) {
    void *p = o->alloc(h, size);
    if (p == NULL) return NULL;
    if ((unsigned char *)p >= target && (unsigned char *)p < target + sizeof target)
        verdict('W', "an allocation returned the forged address");
    if (held(p, size)) verdict('W', "an allocation returned a block the program holds");
    hold(p, size);
    return p;
}

/* Allocations of size until one reaches the goal or n are done: enough for every allocator to
   come to the block the attack corrupted (a free list taken back only when the page's own list
   runs out, as on the system engine and mimalloc). */
#define HUNT 50000
static void hunt(const heap_ops *o, void *h, size_t size, int n) {
    int i;
    for (i = 0; i < n; i++)
        if (take(o, h, size) == NULL) break;
}

/* Writes the word v at address at, a byte at a time, through a volatile pointer: a real
   overflow, which the compiler neither sees nor removes. */
static void poke(uintptr_t at, uintptr_t v, size_t bytes) {
    volatile unsigned char *dst = (volatile unsigned char *)at;
    size_t k;
    for (k = 0; k < bytes; k++) dst[k] = (unsigned char)(v >> (8 * k));
}
static uintptr_t peek(uintptr_t at) {
    uintptr_t v = 0;
    size_t k;
    for (k = 0; k < sizeof v; k++) v |= (uintptr_t)((volatile unsigned char *)at)[k] << (8 * k);
    return v;
}

/* The end of an attack that ran without reaching its goal. */
static void ran(int refused) {
    if (refused) verdict('R', "a call was refused (EINVAL)");
    verdict('N', "ran to its end, goal not reached");
}

/* ---- A: a linear overflow into a free block's link ------------------------------------------- */

/* 64 blocks of size; x and y: the closest pair with y after x, as an attacker grooms them; w: the
   other block nearest to x, to be freed before y so that y's link leads to it (a list of one
   entry is never followed on glibc, whose thread cache counts its entries). Every block but y and
   w is held. */
static void groom(const heap_ops *o, void *h, size_t size, unsigned char **x, unsigned char **y,
                  unsigned char **w) {
    unsigned char *b[64];
    uintptr_t best = UINTPTR_MAX, near = UINTPTR_MAX;
    int i, j, bx = 0, by = 0, bw = -1;
    for (i = 0; i < 64; i++)
        if ((b[i] = (unsigned char *)o->alloc(h, size)) == NULL) _exit(2);
    for (i = 0; i < 64; i++)
        for (j = 0; j < 64; j++)
            if (b[j] > b[i] && (uintptr_t)(b[j] - b[i]) < best) {
                best = (uintptr_t)(b[j] - b[i]);
                bx = i;
                by = j;
            }
    for (i = 0; i < 64; i++) {
        uintptr_t d = b[i] > b[bx] ? (uintptr_t)(b[i] - b[bx]) : (uintptr_t)(b[bx] - b[i]);
        if (i != bx && i != by && d < near) {
            near = d;
            bw = i;
        }
    }
    for (i = 0; i < 64; i++)
        if (i != by && i != bw) hold(b[i], size);
    *x = b[bx];
    *y = b[by];
    *w = b[bw];
}

/* The overflow of x: the bytes between x's end and y rewritten with what they held (allocator
   headers that an attacker aiming at the free list keeps intact, as they know their format),
   then `bytes` bytes of y's first word, where a free list keeps its link: the whole word aimed
   at target (8), or its lowest one or two bytes made x's, so that a link to a block near x leads
   to x (1, 2: no address needed; x + 8's, inside x, where x's are there already). */
static void overflow_link(const heap_ops *o, int bytes) {
    void *h = o->create();
    unsigned char *x, *y, *w;
    uintptr_t at, mask = bytes == 1 ? 0xff : 0xffff;
    groom(o, h, 16, &x, &y, &w);
    o->free(h, w);
    o->free(h, y);
    for (at = (uintptr_t)x + 16; at < (uintptr_t)y; at++) poke(at, peek(at) & 0xff, 1);
    if (bytes == 8)
        poke((uintptr_t)y, (uintptr_t)(target + 64), 8);
    else if (((peek((uintptr_t)y) ^ (uintptr_t)x) & mask) != 0)
        poke((uintptr_t)y, (uintptr_t)x, (size_t)bytes);
    else /* the link's low bytes are x's already: a write there would change nothing */
        poke((uintptr_t)y, (uintptr_t)x + 8, (size_t)bytes);
    hunt(o, h, 16, HUNT);
    ran(0);
}
static void a_full(const heap_ops *o) { overflow_link(o, 8); }
static void a_byte(const heap_ops *o) { overflow_link(o, 1); }
static void a_two(const heap_ops *o) { overflow_link(o, 2); }

/* ---- B: frees the allocator must not believe ------------------------------------------------- */

static void b_immediate(const heap_ops *o) {
    void *h = o->create(), *p = o->alloc(h, 48);
    int refused;
    o->free(h, p);
    refused = o->free(h, p);
    hunt(o, h, 48, HUNT);
    ran(refused);
}

static void b_aba(const heap_ops *o) {
    void *h = o->create(), *p = o->alloc(h, 48), *q = o->alloc(h, 48);
    int refused;
    o->free(h, p);
    o->free(h, q);
    refused = o->free(h, p);
    hunt(o, h, 48, HUNT);
    ran(refused);
}

/* Another thread frees p, q, p; the owner allocates. */
typedef struct remote {
    const heap_ops *o;
    void *h, *p, *q;
    int refused;
} remote;
static void *free_p_q_p(void *arg) {
    remote *r = (remote *)arg;
    r->o->free(r->h, r->p);
    r->o->free(r->h, r->q);
    r->refused = r->o->free(r->h, r->p);
    return NULL;
}
static void b_remote(const heap_ops *o) {
    remote r = {o, NULL, NULL, NULL, 0};
    pthread_t t;
    r.h = o->create();
    r.p = o->alloc(r.h, 48);
    r.q = o->alloc(r.h, 48);
    if (pthread_create(&t, NULL, free_p_q_p, &r) != 0 || pthread_join(t, NULL) != 0) _exit(2);
    hunt(o, r.h, 48, HUNT);
    ran(r.refused);
}

/* p freed by its owner, then again by another thread, which allocates (its own cache, if it has
   one, hands p out first) and exits; the owner allocates. */
static void *free_p_take(void *arg) {
    remote *r = (remote *)arg;
    int i;
    r->refused = r->o->free(r->h, r->p);
    for (i = 0; i < 64; i++)
        if (take(r->o, r->h, 48) == NULL) break;
    return NULL;
}
static void b_other_thread(const heap_ops *o) {
    remote r = {o, NULL, NULL, NULL, 0};
    pthread_t t;
    r.h = o->create();
    r.p = o->alloc(r.h, 48);
    o->free(r.h, r.p);
    if (pthread_create(&t, NULL, free_p_take, &r) != 0 || pthread_join(t, NULL) != 0) _exit(2);
    hunt(o, r.h, 48, HUNT);
    ran(r.refused);
}

/* p freed by a thread that then exits (its cache, if any, emptied), then freed again. */
static void *free_p(void *arg) {
    remote *r = (remote *)arg;
    r->o->free(r->h, r->p);
    return NULL;
}
static void b_after_exit(const heap_ops *o) {
    remote r = {o, NULL, NULL, NULL, 0};
    pthread_t t;
    int refused;
    r.h = o->create();
    r.p = o->alloc(r.h, 48);
    if (pthread_create(&t, NULL, free_p, &r) != 0 || pthread_join(t, NULL) != 0) _exit(2);
    refused = o->free(r.h, r.p);
    hunt(o, r.h, 48, HUNT);
    ran(refused);
}

/* A reset (or, without arenas, the program freeing what it held), a new block q, then a stale
   free of p, from before the reset: if q was p, it now has two owners. After the first reset, or
   the fourth (p from the round before it), as an engine may reuse memory only from then on. */
static void reset_or_free(const heap_ops *o, void *h, void **held_blocks, int n) {
    int i;
    if (o->reset != NULL)
        o->reset(h);
    else
        for (i = 0; i < n; i++) o->free(h, held_blocks[i]);
}
static void stale_free(const heap_ops *o, int cycles) {
    void *h = o->create(), *p = NULL;
    int c, refused;
    for (c = 0; c < cycles; c++) {
        p = o->alloc(h, 48);
        reset_or_free(o, h, &p, 1);
    }
    (void)take(o, h, 48);
    refused = o->free(h, p);
    hunt(o, h, 48, HUNT);
    ran(refused);
}
static void b_after_reset(const heap_ops *o) { stale_free(o, 1); }
static void b_after_fourth_reset(const heap_ops *o) { stale_free(o, 4); }

/* p from arena a1 freed into a2, then a1 reset: a1 and a2 may each hand p out. */
static void b_wrong_arena(const heap_ops *o) {
    void *a1, *a2, *p;
    int i, refused;
    if (!o->free_names_arena) verdict('A', "free does not take an arena");
    a1 = o->create();
    a2 = o->create();
    p = o->alloc(a1, 48);
    refused = o->free(a2, p);
    o->reset(a1);
    for (i = 0; i < HUNT / 2; i++)
        if (take(o, a1, 48) == NULL || take(o, a2, 48) == NULL) break;
    ran(refused);
}

/* free(p + 16) of a held 64-byte block. */
static void b_interior(const heap_ops *o) {
    void *h = o->create();
    unsigned char *p = (unsigned char *)take(o, h, 64);
    int refused = o->free(h, p + 16);
    hunt(o, h, 64, HUNT);
    ran(refused);
}

/* A 16-byte block freed as 14,000 bytes, among held neighbours: a 14,000-byte allocation at
   its address would overlap them. */
static void b_wrong_size(const heap_ops *o) {
    void *h = o->create(), *b[64];
    int i, refused;
    if (o->free_sized == NULL) verdict('A', "no sized free");
    for (i = 0; i < 64; i++)
        if ((b[i] = o->alloc(h, 16)) == NULL) _exit(2);
    for (i = 0; i < 64; i++)
        if (i != 32) hold(b[i], 16);
    refused = o->free_sized(h, b[32], 14000);
    hunt(o, h, 14000, 16);
    ran(refused);
}

/* ---- C: a link forged with what one read after free taught ----------------------------------- */

/* w then y freed: y's link leads to w. Whatever a link is, next mixed with a secret by XOR (raw:
   no secret; glibc: the slot's address >> 12; catmem's engine: a key and y's address), one read
   of y's link and w's address give the secret, and with it a link that leads inside the held
   block x. x's first words are left as the allocator wrote them. */
static void c_after_read(const heap_ops *o) {
    void *h = o->create();
    unsigned char *x = (unsigned char *)take(o, h, 64);
    unsigned char *w = (unsigned char *)o->alloc(h, 64), *y = (unsigned char *)o->alloc(h, 64);
    uintptr_t secret;
    o->free(h, w);
    o->free(h, y);
    secret = peek((uintptr_t)y) ^ (uintptr_t)w; /* the use-after-free read */
    poke((uintptr_t)y, ((uintptr_t)x + 16) ^ secret, 8);
    hunt(o, h, 64, HUNT);
    ran(0);
}

/* ---- D: a large block's neighbour ------------------------------------------------------------ */

#define LARGE 20000

/* 8 large blocks; x and y the closest pair with y after x, as an attacker grooms them; all held
   but x. 64 bytes after x (an overflow) or before y (an underflow) forged: every word pointing
   into canary, but for malloc's chunk-size words (a small odd number), which an attacker aiming
   at the allocator's own records keeps. Then free(x), a new large block, free(y). */
static void large_neighbour(const heap_ops *o, int underflow) {
    void *h = o->create();
    unsigned char *b[8], *x, *y, *z;
    uintptr_t best = UINTPTR_MAX, at;
    int i, j, refused;
    for (i = 0; i < 8; i++)
        if ((b[i] = (unsigned char *)o->alloc(h, LARGE)) == NULL) _exit(2);
    x = b[0];
    y = b[1];
    for (i = 0; i < 8; i++)
        for (j = 0; j < 8; j++)
            if (b[j] > b[i] && (uintptr_t)(b[j] - b[i]) < best) {
                best = (uintptr_t)(b[j] - b[i]);
                x = b[i];
                y = b[j];
            }
    for (i = 0; i < 8; i++)
        if (b[i] != x) hold(b[i], LARGE);
    memset(x, 0x11, LARGE);
    memset(y, 0x22, LARGE);
    for (i = 0; i < 32; i++) canary[i] = CANARY;
    at = underflow ? (uintptr_t)y - 64 : (uintptr_t)x + LARGE;
    for (i = 0; i < 8; i++, at += sizeof(uintptr_t)) {
        uintptr_t v = peek(at);
        if (!((v & 1) && v < ((uintptr_t)1 << 32))) poke(at, (uintptr_t)&canary[16], 8);
    }
    refused = o->free(h, x);
    if (!canary_intact()) verdict('W', "free wrote through a forged pointer");
    if ((z = (unsigned char *)take(o, h, LARGE)) != NULL) memset(z, 0x33, LARGE);
    if (y[LARGE - 1] != 0x22) verdict('W', "a new block overwrote a held one");
    o->free(h, y);
    if (!canary_intact()) verdict('W', "free wrote through a forged pointer");
    ran(refused);
}
static void d_overflow(const heap_ops *o) { large_neighbour(o, 0); }
static void d_underflow(const heap_ops *o) { large_neighbour(o, 1); }

/* ---- E: reuse after a reset ------------------------------------------------------------------ */

/* 16 blocks of 64 bytes, a reset (or all freed, in the order allocated), 16 again, `cycles`
   times; the last two rounds compared: the old addresses in the old order (or reversed, as a
   LIFO list gives them) let a stale pointer alias a known new object. Several cycles, as an
   engine may give new memory after the first reset and reuse it from then on. */
static void reuse_order(const heap_ops *o, int cycles) {
    void *h = o->create(), *old[16], *now[16];
    int c, i, same = 0, reversed = 0, reused = 0, k;
    char line[96];
    for (i = 0; i < 16; i++)
        if ((now[i] = o->alloc(h, 64)) == NULL) _exit(2);
    for (c = 0; c < cycles; c++) {
        memcpy(old, now, sizeof old);
        reset_or_free(o, h, old, 16);
        for (i = 0; i < 16; i++)
            if ((now[i] = o->alloc(h, 64)) == NULL) _exit(2);
    }
    for (i = 0; i < 16; i++) {
        same += now[i] == old[i];
        reversed += now[i] == old[15 - i];
        for (k = 0; k < 16; k++) reused += now[i] == old[k];
    }
    if (same == 16) verdict('W', "the old addresses in the old order");
    if (reversed == 16) verdict('W', "the old addresses in reverse order");
    snprintf(line, sizeof line, "%d of 16 old addresses reused, %d in the old place", reused, same);
    verdict(same > 0 || reversed > 0 ? 'P' : 'S', line);
}
static void e_first_reset(const heap_ops *o) { reuse_order(o, 1); }
static void e_fourth_reset(const heap_ops *o) { reuse_order(o, 4); }

/* ---- the table ------------------------------------------------------------------------------- */

typedef struct attack {
    const char *id, *what;
    void (*fn)(const heap_ops *o);
} attack;

static const attack attacks[] = {
    {"A1", "A: overflow of x forges the free block y's link (whole word)", a_full},
    {"A2", "A: partial overwrite: y's link's lowest byte", a_byte},
    {"A3", "A: partial overwrite: y's link's lowest two bytes", a_two},
    {"B1", "B: double free, immediate", b_immediate},
    {"B2", "B: double free, A-B-A", b_aba},
    {"B3", "B: double free by another thread (p, q, p)", b_remote},
    {"B4", "B: stale free after a reset", b_after_reset},
    {"B5", "B: stale free after the fourth reset (p from before it)", b_after_fourth_reset},
    {"B6", "B: free into the wrong arena, then the owner's reset", b_wrong_arena},
    {"B7", "B: interior free (p + 16 of a 64-byte block)", b_interior},
    {"B8", "B: sized free of a 16-byte block as 14,000 bytes", b_wrong_size},
    {"B9", "B: double free, the second by another thread", b_other_thread},
    {"B10", "B: double free after the freeing thread exited", b_after_exit},
    {"C1", "C: link forged after a use-after-free read (into a held block)", c_after_read},
    {"D1", "D: overflow of a large block into what follows it, then free", d_overflow},
    {"D2", "D: underflow of a large block into what precedes it, then free of the other",
     d_underflow},
    {"E1", "E: reuse after a reset: the old addresses in the old order?", e_first_reset},
    {"E2", "E: the same after the fourth reset", e_fourth_reset},
};
#define NATTACKS ((int)(sizeof attacks / sizeof attacks[0]))

typedef struct outcome {
    char cls[16];   /* stopped, refused, NOT STOPPED, partly, no effect, n/a, crashed, error */
    char cell[200]; /* what the child said or showed */
} outcome;

static char scudo_path[512];

/* The child's side: scudo's attacks re-execute this program with scudo preloaded. */
static void child(const attack *at, const heap_ops *o, int rfd, int efd) {
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    alarm(20); /* a forged pointer may loop a list: a hang ends too */
    dup2(efd, 2);
    if (o == SCUDO) {
        char *argv[] = {(char *)"attacks", (char *)"--scudo-run", (char *)at->id, NULL};
        if (dup2(rfd, 3) < 0 || setenv("LD_PRELOAD", scudo_path, 1) != 0) _exit(2);
        execv("/proc/self/exe", argv);
        _exit(2);
    }
    result_fd = rfd;
    at->fn(o);
    _exit(2); /* every attack ends with a verdict */
}

/* The first line of what the child said, for the table (| would end the cell). */
static void first_line(const char *err, char *out, size_t n) {
    size_t i = 0;
    while (*err == '\n') err++;
    for (; err[i] != '\0' && err[i] != '\n' && i + 1 < n; i++)
        out[i] = err[i] == '|' ? '/' : err[i];
    out[i] = '\0';
}

static outcome run_attack(const attack *at, const heap_ops *o) {
    outcome r;
    char err[8192], res[160], msg[160];
    int rp[2], ep[2], st = 0;
    ssize_t got, n = 0, m = 0;
    pid_t pid;
    memset(&r, 0, sizeof r);
    if (o == SCUDO && scudo_path[0] == '\0') {
        snprintf(r.cls, sizeof r.cls, "n/a");
        snprintf(r.cell, sizeof r.cell, "scudo not found");
        return r;
    }
    fflush(NULL);
    if (pipe(rp) != 0 || pipe(ep) != 0 || (pid = fork()) < 0) {
        perror("attacks");
        exit(2);
    }
    if (pid == 0) {
        close(rp[0]);
        close(ep[0]);
        child(at, o, rp[1], ep[1]);
    }
    close(rp[1]);
    close(ep[1]);
    while ((got = read(ep[0], err + n, sizeof err - 1 - (size_t)n)) > 0) n += got;
    err[n] = '\0';
    while ((got = read(rp[0], res + m, sizeof res - 1 - (size_t)m)) > 0) m += got;
    res[m] = '\0';
    close(rp[0]);
    close(ep[0]);
    waitpid(pid, &st, 0);
    first_line(err, msg, sizeof msg);
    if (m > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        static const struct {
            char code;
            const char *cls;
        } codes[] = {{'W', "NOT STOPPED"}, {'R', "refused"},   {'S', "stopped"},
                     {'P', "partly"},      {'N', "no effect"}, {'A', "n/a"}};
        size_t i;
        for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (codes[i].code == res[0]) {
                snprintf(r.cls, sizeof r.cls, "%s", codes[i].cls);
                snprintf(r.cell, sizeof r.cell, "%s", res + 1);
                return r;
            }
    }
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && msg[0] != '\0') {
        snprintf(r.cls, sizeof r.cls, "stopped");
        snprintf(r.cell, sizeof r.cell, "`%s`", msg);
    } else if (WIFSIGNALED(st) && WTERMSIG(st) != SIGALRM) {
        snprintf(r.cls, sizeof r.cls, "crashed");
        snprintf(r.cell, sizeof r.cell, "%s%s%s", strsignal(WTERMSIG(st)), msg[0] ? ", " : "", msg);
    } else {
        snprintf(r.cls, sizeof r.cls, "error");
        snprintf(r.cell, sizeof r.cell, "harness error (%s %d) %s",
                 WIFSIGNALED(st) ? "signal" : "exit",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), msg);
    }
    return r;
}

/* The re-executed scudo child: plain malloc must be scudo's. */
static int scudo_run(const char *id) {
    int i;
    *(void **)&sc_malloc = dlsym(RTLD_DEFAULT, "malloc");
    *(void **)&sc_free = dlsym(RTLD_DEFAULT, "free");
    if (strstr(bench_lib_of((const void *)sc_malloc), "scudo") == NULL) {
        fprintf(stderr, "attacks: malloc is %s's, not scudo's\n",
                bench_lib_of((const void *)sc_malloc));
        return 2;
    }
    result_fd = 3;
    for (i = 0; i < NATTACKS; i++)
        if (strcmp(attacks[i].id, id) == 0) attacks[i].fn(SCUDO);
    return 2;
}

static void find_scudo(void) {
    glob_t g;
    if (glob("/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.scudo_standalone-x86_64.so", 0,
             NULL, &g) == 0 &&
        g.gl_pathc > 0)
        snprintf(scudo_path, sizeof scudo_path, "%s", g.gl_pathv[g.gl_pathc - 1]);
    if (scudo_path[0] != '\0') globfree(&g);
}

/* A sanitizer changes what catmem is (under AddressSanitizer every block is a malloc of its own:
   catmem.h, MEMORY CHECKERS) and reports the attacks itself: --sanitizer names it, so that
   tests/attacks_test.sh asserts nothing there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define SANITIZER "yes"
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define SANITIZER "yes"
#  endif
#endif
#if !defined(SANITIZER)
#  define SANITIZER "no"
#endif

/* This build's catmem: its backend, and for the runtime backend the engine it runs. */
static const char *catmem_label(void) {
    static char label[64];
    if (catmem_init() != 0) {
        fprintf(stderr, "attacks: catmem_init failed\n");
        exit(2);
    }
#if defined(CATMEM_BACKEND_RUNTIME)
    snprintf(label, sizeof label, "runtime (%s)", catmem_backend_name());
#else
    snprintf(label, sizeof label, "%s", catmem_backend_name());
#endif
#if CATMEM_SECURE == 2
    strcat(label, " (CATMEM_SECURE 2)"); /* attacks_jemalloc_strict */
#endif
    return label;
}

int main(int argc, char **argv) {
    const heap_ops *ops[2 + NPEERS];
    char names[2 + NPEERS][96];
    int i, k, nops = 2, peers = 0, tsv = 0;
    const char *backend;
    if (argc == 3 && strcmp(argv[1], "--scudo-run") == 0) return scudo_run(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--sanitizer") == 0) return puts(SANITIZER) < 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--peers") == 0)
            peers = 1;
        else if (strcmp(argv[i], "--tsv") == 0)
            tsv = 1;
        else {
            fprintf(stderr, "usage: %s [--peers] [--tsv]\n", argv[0]);
            return 2;
        }
    }
    backend = catmem_label();
    for (k = 0; k < 2; k++) {
        ops[k] = &catmem_ops[k];
        snprintf(names[k], sizeof names[k], "catmem %s%s", backend, k ? " small arena" : "");
    }
    if (peers) {
        void *mi;
        int out = dup(1);
        fflush(stdout);
        if (tsv) dup2(2, 1); /* its paragraph is no row */
        bench_peers_load(strcmp(catmem_backend_name(), "jemalloc") == 0 ? "libjemalloc" : "libc");
        fflush(stdout);
        dup2(out, 1);
        close(out);
        mi = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
        if (mi == NULL || (*(void **)&mi_free_size = dlsym(mi, "mi_free_size")) == NULL) {
            fprintf(stderr, "attacks: no mi_free_size\n");
            return 2;
        }
        find_scudo();
        for (k = 0; k < NPEERS; k++, nops++) {
            ops[nops] = &peer_ops[k];
            snprintf(names[nops], sizeof names[nops], "%s", peer_ops[k].name);
        }
    }
    if (!tsv) {
        printf("\n| attack |");
        for (k = 0; k < nops; k++) printf(" %s |", names[k]);
        printf("\n|---|");
        for (k = 0; k < nops; k++) printf("---|");
        printf("\n");
    }
    for (i = 0; i < NATTACKS; i++) {
        if (!tsv) printf("| %s %s |", attacks[i].id, attacks[i].what);
        for (k = 0; k < nops; k++) {
            outcome r = run_attack(&attacks[i], ops[k]);
            if (tsv)
                printf("%s\t%s\t%s\t%s\n", attacks[i].id, names[k], r.cls, r.cell);
            else
                printf(" %s: %s |", r.cls, r.cell);
            fflush(stdout);
        }
        if (!tsv) printf("\n");
    }
    return 0;
}
