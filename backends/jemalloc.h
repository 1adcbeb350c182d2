/* catmem backend: jemalloc manual arenas (CATMEM_BACKEND_JEMALLOC). Included only by catmem.h.

   Every backend file has the same three parts, selected by the macro catmem.h defines around
   each #include:
     CATMEMI_PART_INLINE  the fast paths, inline in every user file, under the backend's own
                          names (catmemi_je_fast_alloc(a, size, opts), catmemi_je_fast_free(a, p),
                          catmemi_je_fast_free_sized(a, p, size)); the backend that is compiled
                          in maps catmemi_be_alloc/_free/_free_sized, which catmem.h calls, to
                          them (the runtime backend maps them itself). Each falls back to
                          catmemi_alloc_slow / catmemi_free_slow.
     CATMEMI_PART_TYPES   catmemi_<name>_slot, the backend's data in each arena slot.
     CATMEMI_PART_IMPL    the out-of-line functions, gathered by name in a catmemi_ops table
                          (declared in catmem.h) by CATMEMI_OPS_TABLE, and catmemi_select(),
                          which returns the table to use (called once, under pthread_once).
   Adding a backend is adding one file with these parts. The runtime backend (runtime.h)
   includes this file and system.h under CATMEMI_RUNTIME and picks one of the two at run time.

   How this backend keeps arenas separate and fast: every block comes from mallocx on the
   arena's own jemalloc manual arena with MALLOCX_TCACHE_NONE, so jemalloc's automatic thread
   cache never sees catmem's blocks (it would mix arenas). That call takes the arena's bin lock
   (about 650 instructions per allocate + free pair here), so each thread keeps, per arena, a
   small front cache of its own: freed blocks of each small size class (jemalloc's 36 classes,
   8 B to 14 KiB) on an intrusive list, refilled a few blocks at a time from the arena. A
   thread's caches together keep at most CATMEM_JEMALLOC_CACHE_BYTES of blocks: each cache may
   hold that budget divided by the number of caches its thread has (at least
   CATMEMI_JE_CACHE_FLOOR), and gives blocks back when it holds more; it keeps no class larger
   than a sixteenth of that share. So one busy arena gets the whole budget and a hundred arenas
   share it. A cache is about 600 bytes, made on a thread's first call in an arena, and uses no
   jemalloc cache id, so any number of (thread, arena) pairs works. Taking blocks one mallocx
   at a time costs little when a cache mostly serves what its thread frees; a pair whose
   traffic runs past its cache (a heap that grows and shrinks by more than the budget) gets a
   jemalloc cache of its own behind the front cache (catmemi_je_promote), within caps. The
   fast path is one TLS load, a size-class lookup and a list pop or push; catmem_free without
   a size first asks jemalloc for the block's size class (sallocx). Caches are registered
   under catmemi_mu so that reset, release and shutdown can empty them all, and are emptied
   when their thread exits (a pthread key destructor).
   Blocks above the largest small class, and every block while heap profiling is on (opt.prof:
   jemalloc's sampler must see every allocation), go to the arena directly. */

#if defined(CATMEMI_PART_INLINE)
#  include <string.h>
#  if !defined(CATMEMI_RUNTIME)
#    include <jemalloc/jemalloc.h>
#    define CATMEMI_CAT2(a, b) a##b
#    define CATMEMI_CAT(a, b)  CATMEMI_CAT2(a, b)
/* jemalloc's functions under the prefix of the jemalloc in use (CATMEM_JEMALLOC_PREFIX). The
   runtime backend defines this to call through the pointers it found instead. */
#    define CATMEMI_JE(name) CATMEMI_CAT(CATMEM_JEMALLOC_PREFIX, name)
#  endif

/* Bytes of freed blocks one thread keeps in its front caches, all arenas together; 0 turns
   the front caches off. */
#  ifndef CATMEM_JEMALLOC_CACHE_BYTES
#    define CATMEM_JEMALLOC_CACHE_BYTES (1024 * 1024)
#  endif
/* jemalloc caches (tcache.create) catmem may hold for busy (thread, arena) pairs, all threads
   together; 0: none. jemalloc has about 4,000 in a process. */
#  ifndef CATMEM_JEMALLOC_TCACHES
#    define CATMEM_JEMALLOC_TCACHES 1024
#  endif

/* jemalloc's small size classes (lg_quantum 4, the x86-64 and arm64 default): 8, 16, 32, 48,
   64, then four per doubling up to 14336. Checked against arenas.bin.<i>.size at the first
   init; on a jemalloc with other classes the front cache stays off. */
#  define CATMEMI_JE_NCLASS    36
#  define CATMEMI_JE_SMALL_MAX 14336

/* One size class of a front cache: freed blocks linked through their first word. */
typedef struct catmemi_je_bin {
    void *head;
    uint32_t n;    /* blocks on the list */
    uint32_t fill; /* blocks the next refill takes: 1, doubling up to CATMEMI_JE_FILL_MAX */
} catmemi_je_bin;

/* One thread's front cache for one arena. Only its thread touches it, except under catmemi_mu
   while that thread does not use the arena (reset, release, shutdown, fork; see THREADS). */
typedef struct catmemi_je_cache {
    catmemi_je_bin bin[CATMEMI_JE_NCLASS];
    intptr_t room;      /* bytes it may still take; below 0, the slow path gives blocks back */
    /* catmem calls served by this thread in this arena (the arena's nmalloc and ndalloc):
       written by the thread, read by statistics (relaxed); added to the arena's at drop. */
    uint64_t nalloc, nfree;
    intptr_t allowance; /* room + the bytes it holds (its share of the thread's budget) */
    unsigned top;       /* the largest class it keeps (catmemi_je_top) */
    int flags;          /* mallocx flags: this arena, MALLOCX_TCACHE_NONE */
    /* Flags of refills and give-backs: flags, or this arena and the pair's own jemalloc cache
       (tc) once the pair is busy (catmemi_je_promote). */
    int back;
    unsigned tc;
    unsigned moved; /* blocks refilled or given back since the last promotion check */
    unsigned slot;
} catmemi_je_cache;

/* The calling thread's cache per arena slot; NULL: take the slow path (no cache yet, dropped
   by shutdown or release, or the front cache is off). */
extern CATMEMI_TLS catmemi_je_cache *catmemi_je_caches[CATMEM_MAX_ARENAS];

/* Size class of sizes 1..1024, indexed by (size + 7) / 8: one load for 97% of typical sizes. */
static const unsigned char catmemi_je_class_tab[129] = {
    0,  0,  1,  2,  2,  3,  3,  4,  4,  5,  5,  6,  6,  7,  7,  8,  8,  9,  9,  9,  9,  10,
    10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14,
    14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17,
    17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19,
    19, 19, 19, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20};
static const uint16_t catmemi_je_class_size[CATMEMI_JE_NCLASS] = {
    8,    16,   32,   48,   64,   80,   96,   112,  128,  160,   192,   224,
    256,  320,  384,  448,  512,  640,  768,  896,  1024, 1280,  1536,  1792,
    2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192, 10240, 12288, 14336};

/* The class of a size in 1..CATMEMI_JE_SMALL_MAX. Above 1 KiB: (1 << lg, 2 << lg] holds four
   classes 1 << (lg - 2) apart, the 20 classes up to 1024 come first. */
static inline unsigned catmemi_je_class(size_t size) {
    unsigned lg;
    if (CATMEMI_LIKELY(size <= 1024)) return catmemi_je_class_tab[(size + 7) >> 3];
    lg = (unsigned)(8 * sizeof(unsigned long) - 1) -
         (unsigned)__builtin_clzl((unsigned long)size - 1);
    return 20 + (lg - 10) * 4 + (unsigned)((size - 1 - ((size_t)1 << lg)) >> (lg - 2)) + 1;
}

/* The owner's count, readable by other threads' statistics. */
#  define CATMEMI_JE_COUNT(x) __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)

/* Every pop is a block handed to a caller: counted as one allocation. */
static inline void *catmemi_je_pop(catmemi_je_cache *c, unsigned k) {
    catmemi_je_bin *b = &c->bin[k];
    void *p = b->head;
    if (CATMEMI_LIKELY(p != NULL)) {
        b->head = *(void **)p;
        b->n--;
        c->room += catmemi_je_class_size[k];
        CATMEMI_JE_COUNT(c->nalloc);
    }
    return p;
}

/* 0 when the cache is full or does not keep class k: the slow path then decides. The link is written before
   the head (a release store) so that a fork() child never sees a head without its link. */
static inline int catmemi_je_push(catmemi_je_cache *c, unsigned k, void *p) {
    catmemi_je_bin *b = &c->bin[k];
    intptr_t room = c->room - (intptr_t)catmemi_je_class_size[k];
    if (CATMEMI_UNLIKELY(room < 0 || k > c->top)) return 0;
    c->room = room;
    *(void **)p = b->head;
    b->n++;
    __atomic_store_n(&b->head, p, __ATOMIC_RELEASE);
    CATMEMI_JE_COUNT(c->nfree);
    return 1;
}

/* Small requests without alignment come from the cache; calloc zeroes what it gets there. */
static inline void *catmemi_je_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_je_cache *c = catmemi_je_caches[a->slot];
    if (CATMEMI_LIKELY(c != NULL && size <= CATMEMI_JE_SMALL_MAX &&
                       (opts & CATMEMI_LG_ALIGN_MASK) == 0)) {
        void *p = catmemi_je_pop(c, catmemi_je_class(size));
        if (CATMEMI_LIKELY(p != NULL)) {
            if (opts & CATMEMI_ZERO) memset(p, 0, size);
            return p;
        }
    }
    return catmemi_alloc_slow(a, size, opts);
}

/* The block's class comes from jemalloc (sallocx): aligned blocks and blocks from realloc are
   ordinary class-sized blocks too. The slow path gets the usable size, a valid size to free. */
static inline void catmemi_je_fast_free(const catmem_arena *a, void *p) {
    catmemi_je_cache *c = catmemi_je_caches[a->slot];
    size_t usize = 0;
    if (CATMEMI_LIKELY(c != NULL)) {
        usize = CATMEMI_JE(sallocx)(p, 0);
        if (CATMEMI_LIKELY(usize <= CATMEMI_JE_SMALL_MAX) &&
            CATMEMI_LIKELY(catmemi_je_push(c, catmemi_je_class(usize), p)))
            return;
    }
    catmemi_free_slow(a, p, usize);
}

/* Any size from the one asked for up to the usable size names the same class. */
static inline void catmemi_je_fast_free_sized(const catmem_arena *a, void *p, size_t size) {
    catmemi_je_cache *c = catmemi_je_caches[a->slot];
    if (CATMEMI_LIKELY(c != NULL && size <= CATMEMI_JE_SMALL_MAX) &&
        CATMEMI_LIKELY(catmemi_je_push(c, catmemi_je_class(size), p)))
        return;
    catmemi_free_slow(a, p, size);
}
#  if !defined(CATMEMI_RUNTIME)
#    define catmemi_be_alloc      catmemi_je_fast_alloc
#    define catmemi_be_free       catmemi_je_fast_free
#    define catmemi_be_free_sized catmemi_je_fast_free_sized
#  endif
#endif /* CATMEMI_PART_INLINE */

#if defined(CATMEMI_PART_TYPES)
#  define CATMEMI_HAS_JE 1
typedef struct catmemi_je_slot {
    unsigned index; /* jemalloc arena index, from arenas.create */
    /* catmem calls served without a cache, and those of caches dropped since; atomic */
    uint64_t nmalloc, ndalloc;
} catmemi_je_slot;
#endif

#if defined(CATMEMI_PART_IMPL)
#  include <stdbool.h>
#  include <sys/types.h>

#  if !defined(CATMEMI_RUNTIME)
#    define CATMEMI_MALLOCX_ARENA(a)    MALLOCX_ARENA(a)
#    define CATMEMI_MALLOCX_TCACHE(tc)  MALLOCX_TCACHE(tc)
#    define CATMEMI_MALLOCX_TCACHE_NONE MALLOCX_TCACHE_NONE
/* catmem's option encoding must be jemalloc's mallocx flags (a compile-time check). */
typedef char catmemi_je_opts_match[(CATMEMI_ZERO == MALLOCX_ZERO && MALLOCX_LG_ALIGN(5) == 5 &&
                                    CATMEMI_LG_ALIGN_MASK == 0x3f)
                                       ? 1
                                       : -1];
#  endif

CATMEMI_TLS catmemi_je_cache *catmemi_je_caches[CATMEM_MAX_ARENAS];

/* One thread's caches. Lives in the thread's TLS; linked into catmemi_je_threads (under
   catmemi_mu) from its first cache until the thread exits. */
typedef struct catmemi_je_thread {
    catmemi_je_cache **caches; /* that thread's catmemi_je_caches */
    unsigned ncaches;          /* changed under catmemi_mu, read by its thread without */
    unsigned ntc;              /* its caches with a jemalloc cache of their own */
    struct catmemi_je_thread *prev, *next;
} catmemi_je_thread;

static CATMEMI_TLS catmemi_je_thread catmemi_je_self;
static catmemi_je_thread catmemi_je_threads = {NULL, 0, 0, &catmemi_je_threads,
                                               &catmemi_je_threads};
static pthread_key_t catmemi_je_key;
static size_t catmemi_je_page;
/* Decided once, at the first init: front caches are used (see the top of this file). */
static int catmemi_je_front;
/* experimental.batch_alloc, looked up once; miblen 0: busy pairs get no jemalloc cache. */
static size_t catmemi_je_batch_mib[4], catmemi_je_batch_miblen;
/* Blocks in one slab of each class (arenas.bin.<i>.nregs). */
static uint32_t catmemi_je_nregs[CATMEMI_JE_NCLASS];
/* jemalloc caches catmem holds, all threads (atomic), and whether the cap was reported. */
static unsigned catmemi_je_ntc;
static int catmemi_je_cap_said;

/* mallctl on "<fmt with the arena index>". */
static int catmemi_je_ctl(const catmemi_slot *s, const char *fmt, void *old, size_t *oldlen,
                          void *newp, size_t newlen) {
    char name[96];
    snprintf(name, sizeof name, fmt, s->je.index);
    return CATMEMI_JE(mallctl)(name, old, oldlen, newp, newlen);
}

/* The least a cache may hold, however many caches its thread has: enough for a few blocks of
   the classes it uses, and classes up to 1 KiB (a sixteenth). 64 threads x 100 arenas in
   bench_scale ran 2.4-2.8x slower than x 2 with this floor, 3.2-4.3x with a floor of 4 KiB
   (which left 14% of the allocations, those above 640 B, to the arena's lock), for 3.5 KiB
   more resident memory per pair. */
#  define CATMEMI_JE_CACHE_FLOOR 16384

static void catmemi_je_add(catmemi_je_cache *c, unsigned k, void *p) {
    catmemi_je_bin *b = &c->bin[k];
    c->room -= (intptr_t)catmemi_je_class_size[k];
    *(void **)p = b->head;
    b->n++;
    __atomic_store_n(&b->head, p, __ATOMIC_RELEASE);
}

/* Gives class k's blocks back to the arena until keep are left, one mallocx-free call each
   (jemalloc has no batch free). Stops at the list's end too: in a fork() child, a cache of a
   vanished thread may have been caught between two stores. */
static void catmemi_je_give_back(catmemi_je_cache *c, unsigned k, unsigned keep) {
    catmemi_je_bin *b = &c->bin[k];
    size_t n = 0;
    while (b->n > keep && b->head != NULL) {
        void *p = b->head;
        b->head = *(void **)p;
        b->n--;
        c->room += (intptr_t)catmemi_je_class_size[k];
        CATMEMI_JE(sdallocx)(p, catmemi_je_class_size[k], c->back);
        n++;
    }
    c->moved += (unsigned)n;
    if (n != 0 && catmemi_counted(&catmemi_slots[c->slot]))
        catmemi_uncharge(&catmemi_slots[c->slot], n * catmemi_je_class_size[k]);
}

static void catmemi_je_empty(catmemi_je_cache *c) {
    unsigned k;
    for (k = 0; k < CATMEMI_JE_NCLASS; k++) catmemi_je_give_back(c, k, 0);
}

/* What one of t's caches for slot may hold: the budget shared by its caches, at least the
   floor; for an arena with a limit, at most a sixteenth of the limit (blocks in caches count
   against it: LIMITS in catmem.h). */
static intptr_t catmemi_je_allowance(const catmemi_je_thread *t, unsigned slot) {
    unsigned n = __atomic_load_n(&t->ncaches, __ATOMIC_RELAXED);
    size_t share = CATMEM_JEMALLOC_CACHE_BYTES / (n != 0 ? n : 1);
    size_t limit = __atomic_load_n(&catmemi_slots[slot].limit, __ATOMIC_RELAXED);
    if (share < CATMEMI_JE_CACHE_FLOOR) share = CATMEMI_JE_CACHE_FLOOR;
    if (limit != 0 && share > limit / 16) share = limit / 16;
    return (intptr_t)share;
}

/* The largest class a cache with this allowance keeps: a sixteenth of the allowance at most.
   With a small share (a thread that uses many arenas), a few large blocks would fill the cache
   and push out the many small ones; large blocks then go to the arena directly, and the small
   ones stay cached (measured in bench_scale: 64 threads x 100 arenas ran 5.4x slower than x 2
   when every class was kept, 3.0x with this limit). */
static unsigned catmemi_je_top(intptr_t allowance) {
    unsigned k = CATMEMI_JE_NCLASS - 1;
    while (k > 0 && (intptr_t)catmemi_je_class_size[k] > allowance / 16) k--;
    return k;
}

/* An empty cache that may take its allowance. */
static void catmemi_je_cache_init(catmemi_je_cache *c, intptr_t allowance) {
    unsigned k;
    for (k = 0; k < CATMEMI_JE_NCLASS; k++) {
        c->bin[k].head = NULL;
        c->bin[k].n = 0;
        c->bin[k].fill = 1;
    }
    c->room = c->allowance = allowance;
    c->top = catmemi_je_top(allowance);
}

/* The class holding the most bytes. */
static unsigned catmemi_je_fullest(const catmemi_je_cache *c) {
    unsigned k, best = 0;
    for (k = 1; k < CATMEMI_JE_NCLASS; k++)
        if ((size_t)c->bin[k].n * catmemi_je_class_size[k] >
            (size_t)c->bin[best].n * catmemi_je_class_size[best])
            best = k;
    return best;
}

/* The thread's number of caches may have changed since c's allowance was set: its share now. */
static void catmemi_je_reshare_in(const catmemi_je_thread *t, catmemi_je_cache *c) {
    intptr_t allowance = catmemi_je_allowance(t, c->slot);
    c->room += allowance - c->allowance;
    c->allowance = allowance;
    c->top = catmemi_je_top(allowance);
}
static void catmemi_je_reshare(catmemi_je_cache *c) { catmemi_je_reshare_in(&catmemi_je_self, c); }

/* The cache holds more than its allowance: the class holding the most bytes gives half of them
   back, until the cache holds three quarters of its allowance. Classes whose frees and
   allocations balance keep their blocks; the ones that pile up (a long run of frees of one
   size) give them back. */
static void catmemi_je_trim(catmemi_je_cache *c) {
    intptr_t allowance = c->allowance;
    while (c->room < allowance / 4) {
        unsigned k = catmemi_je_fullest(c);
        catmemi_je_give_back(c, k, c->bin[k].n / 2);
    }
}

/* Charges bytes to s, a counted arena (one with a limit: only those pay for the shared
   counter); at the limit the calling thread's own cached blocks of s (charged too) go back
   first, so that one thread sees its limit exactly. The new total, or 0: refused. */
static size_t catmemi_je_charge(catmemi_slot *s, size_t bytes) {
    size_t total = catmemi_charge(s, bytes);
    catmemi_je_cache *c = catmemi_je_caches[s->handle.slot];
    if (total == 0 && c != NULL) {
        catmemi_je_empty(c);
        total = catmemi_charge(s, bytes);
    }
    return total;
}

/* A busy pair: one that moved CATMEMI_JE_BUSY blocks between its front cache and the arena. */
#  define CATMEMI_JE_BUSY 1024
/* The most jemalloc caches one thread's pairs may have. */
#  define CATMEMI_JE_TC_PER_THREAD 8

/* Once, the first time a busy pair gets no jemalloc cache because the process-wide cap is
   reached or jemalloc has no cache id left: said in catmem_backend_info (the suffix is written
   before the separator that makes it visible). */
static void catmemi_je_say_cap(void) {
    char note[96];
    size_t len, n;
    if (__atomic_exchange_n(&catmemi_je_cap_said, 1, __ATOMIC_RELAXED) != 0) return;
    n = (size_t)snprintf(note, sizeof note,
                         "; busy arenas past %u jemalloc caches take the arena's lock per block",
                         (unsigned)__atomic_load_n(&catmemi_je_ntc, __ATOMIC_RELAXED));
    len = strlen(catmemi_info);
    if (len + n + 1 > sizeof catmemi_info) return;
    memcpy(catmemi_info + len + 1, note + 1, n);
    __atomic_store_n(&catmemi_info[len], note[0], __ATOMIC_RELEASE);
}

/* Gives a busy pair a jemalloc cache of its own (tcache.create: about 5 us and 8 KiB, and then
   the blocks it holds, at most a few hundred per class; the process's first costs jemalloc
   170 KiB of tables, measured, and bench_objects shows 0.6 MiB), so that its refills take many blocks
   from the arena under one lock (experimental.batch_alloc through that cache) and its
   give-backs go to that cache, which returns them in batches. The cache is the pair's alone:
   arenas stay separate. Not for arenas with a limit (their blocks are counted where they leave
   the arena), not past CATMEMI_JE_TC_PER_THREAD per thread or CATMEM_JEMALLOC_TCACHES in the
   process. */
static void catmemi_je_promote(catmemi_je_cache *c) {
    catmemi_je_thread *t = &catmemi_je_self;
    const catmemi_slot *s = &catmemi_slots[c->slot];
    unsigned tc;
    size_t sz = sizeof tc;
    c->moved = 0;
    if (catmemi_je_batch_miblen == 0 || catmemi_counted(s) ||
        __atomic_load_n(&t->ntc, __ATOMIC_RELAXED) >= CATMEMI_JE_TC_PER_THREAD)
        return;
    if (__atomic_add_fetch(&catmemi_je_ntc, 1, __ATOMIC_RELAXED) > CATMEM_JEMALLOC_TCACHES ||
        CATMEMI_JE(mallctl)("tcache.create", &tc, &sz, NULL, 0) != 0) {
        __atomic_sub_fetch(&catmemi_je_ntc, 1, __ATOMIC_RELAXED);
        catmemi_je_say_cap();
        return;
    }
    __atomic_fetch_add(&t->ntc, 1, __ATOMIC_RELAXED); /* a release may drop another pair now */
    c->tc = tc;
    c->back = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE(tc);
}

/* Takes the pair's jemalloc cache away: its blocks go back to the arena (tcache.destroy), or,
   in a fork() child for a thread that is gone (destroy 0), are left where they are (that cache
   may have been caught mid-change). */
static void catmemi_je_demote(catmemi_je_thread *t, catmemi_je_cache *c, int destroy) {
    if (c->back == c->flags) return;
    if (destroy) CATMEMI_JE(mallctl)("tcache.destroy", NULL, NULL, &c->tc, sizeof c->tc);
    c->back = c->flags;
    __atomic_fetch_sub(&t->ntc, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&catmemi_je_ntc, 1, __ATOMIC_RELAXED);
}

/* Up to n blocks of class k from the arena into out, the number that came: one batch_alloc
   through the pair's jemalloc cache when it has one, one mallocx each otherwise (or when the
   batch fails). A batch of a whole slab or more would take fresh slabs and leave the freed
   blocks of partly used ones alone: batches stay below a slab. */
static unsigned catmemi_je_take(const catmemi_je_cache *c, unsigned k, void **out, unsigned n) {
    size_t size = catmemi_je_class_size[k];
    unsigned i;
    if (c->back != c->flags) {
        struct { /* jemalloc's batch_alloc_packet_t */
            void **ptrs;
            size_t num, size;
            int flags;
        } req;
        size_t got = 0, sz = sizeof got;
        if (n >= catmemi_je_nregs[k]) n = catmemi_je_nregs[k] > 1 ? catmemi_je_nregs[k] - 1 : 1;
        req.ptrs = out;
        req.num = n;
        req.size = size;
        req.flags = c->back;
        if (CATMEMI_JE(mallctlbymib)(catmemi_je_batch_mib, catmemi_je_batch_miblen, &got, &sz,
                                     &req, sizeof req) == 0)
            return (unsigned)got;
        /* refused whole (out of memory): one block at a time, past that cache */
    }
    for (i = 0; i < n; i++)
        if ((out[i] = CATMEMI_JE(mallocx)(size, c->flags)) == NULL) break;
    return i;
}

/* The largest refill, in blocks. */
#  define CATMEMI_JE_FILL_MAX 32

/* Class k is empty: a batch from the arena, the first block for the caller. Batches start at
   one block and double up to CATMEMI_JE_FILL_MAX, within the room the cache has left, so a
   class used once costs one block and a busy class visits the arena rarely. A failure midway
   keeps what came; NULL only when not even one block could be had. The batch is charged to the arena first;
   near its limit the batch is one block, and then the thread's own cached blocks of the arena
   go back before the allocation is refused. */
static void *catmemi_je_refill(catmemi_je_cache *c, unsigned k) {
    catmemi_je_bin *b = &c->bin[k];
    catmemi_slot *s = &catmemi_slots[c->slot];
    size_t size = catmemi_je_class_size[k], fits, total = 0;
    unsigned i, n, got;
    int counted = catmemi_counted(s);
    void *blocks[CATMEMI_JE_FILL_MAX];
    catmemi_je_reshare(c);
    fits = c->room > 0 ? (size_t)c->room / size + 1 : 1;
    n = b->fill < fits ? b->fill : (unsigned)fits;
    if (counted && (total = catmemi_charge(s, n * size)) == 0) {
        n = 1;
        if ((total = catmemi_je_charge(s, size)) == 0) return NULL;
    }
    got = catmemi_je_take(c, k, blocks, n);
    if (b->fill < CATMEMI_JE_FILL_MAX) b->fill *= 2;
    for (i = got; i > 1; i--) catmemi_je_add(c, k, blocks[i - 1]); /* handed out in order */
    if (counted) {
        catmemi_uncharge(s, (size_t)(n - got) * size); /* what did not come */
        if (got != 0) catmemi_peak(s, total - (size_t)(n - got) * size);
    }
    if (got == 0) return NULL;
    CATMEMI_JE_COUNT(c->nalloc);
    c->moved += got;
    if (c->moved >= CATMEMI_JE_BUSY && c->back == c->flags) catmemi_je_promote(c);
    return blocks[0];
}

/* Drops one thread's cache for slot i (or all slots when i < 0): its blocks go back to their
   arena, the cache is freed. Under catmemi_mu, and only while that thread does not use the
   arena (see THREADS in catmem.h). */
static void catmemi_je_drop(catmemi_je_thread *t, int i) {
    int k;
    for (k = (i < 0 ? 0 : i); k < (i < 0 ? CATMEM_MAX_ARENAS : i + 1); k++) {
        catmemi_je_cache *c = t->caches[k];
        if (c == NULL) continue;
        t->caches[k] = NULL;
        __atomic_store_n(&t->ncaches, t->ncaches - 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&catmemi_slots[k].je.nmalloc, c->nalloc, __ATOMIC_RELAXED);
        __atomic_fetch_add(&catmemi_slots[k].je.ndalloc, c->nfree, __ATOMIC_RELAXED);
        catmemi_je_empty(c);
        catmemi_je_demote(t, c, 1);
        CATMEMI_JE(dallocx)(c, CATMEMI_MALLOCX_TCACHE_NONE);
    }
}

static void catmemi_je_unlink(catmemi_je_thread *t) {
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void catmemi_je_thread_exit(void *arg) {
    catmemi_je_thread *t = (catmemi_je_thread *)arg;
    catmemi_lock();
    if (t->next != NULL) {
        catmemi_je_drop(t, -1);
        catmemi_je_unlink(t);
    }
    catmemi_unlock();
}

/* Under catmemi_mu: the calling thread joins the registry (once); 0 when it cannot, for then
   its caches would outlive it. */
static int catmemi_je_join(void) {
    catmemi_je_thread *t = &catmemi_je_self;
    if (t->next != NULL) return 1;
    if (pthread_setspecific(catmemi_je_key, t) != 0) return 0;
    t->caches = catmemi_je_caches;
    t->next = catmemi_je_threads.next;
    t->prev = &catmemi_je_threads;
    t->next->prev = t;
    catmemi_je_threads.next = t;
    return 1;
}

/* The calling thread's cache for s, made on first use (from jemalloc's automatic arena, so
   that a reset of s never frees it). NULL when the front cache is off, s went away, or the
   cache cannot be made now: the caller then goes to the arena directly, and the next call
   tries again. */
static catmemi_je_cache *catmemi_je_cache_for(catmemi_slot *s) {
    unsigned i = s->handle.slot;
    catmemi_je_cache *c = catmemi_je_caches[i];
    if (c != NULL || !catmemi_je_front) return c;
    catmemi_lock();
    if (catmemi_is_up() && catmemi_slot_live(s) && catmemi_je_join()) {
        c = (catmemi_je_cache *)CATMEMI_JE(mallocx)(sizeof *c, CATMEMI_MALLOCX_TCACHE_NONE);
        if (c != NULL) {
            catmemi_je_thread *t = &catmemi_je_self;
            __atomic_store_n(&t->ncaches, t->ncaches + 1, __ATOMIC_RELAXED);
            catmemi_je_cache_init(c, catmemi_je_allowance(t, i));
            c->nalloc = c->nfree = 0;
            c->flags = c->back = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE;
            c->tc = 0;
            c->moved = 0;
            c->slot = i;
            catmemi_je_caches[i] = c;
        }
    }
    catmemi_unlock();
    return c;
}

/* Empties a pair's jemalloc cache (if it has one) into the arena. */
static void catmemi_je_flush_tc(const catmemi_je_cache *c) {
    if (c->back != c->flags)
        CATMEMI_JE(mallctl)("tcache.flush", NULL, NULL, (void *)&c->tc, sizeof c->tc);
}

/* Empties the calling thread's caches for s so that its blocks are back in the arena. */
static void catmemi_je_flush_own(const catmemi_slot *s) {
    catmemi_je_cache *c = catmemi_je_caches[s->handle.slot];
    if (c != NULL) {
        catmemi_je_empty(c);
        catmemi_je_flush_tc(c);
    }
}

/* jemalloc's version string, or NULL when it does not answer. */
static const char *catmemi_je_version(void) {
    const char *version = NULL;
    size_t sz = sizeof version;
    return CATMEMI_JE(mallctl)("version", &version, &sz, NULL, 0) == 0 ? version : NULL;
}

static int catmemi_je_prof_enabled(void);

/* 1 when jemalloc's first small classes are the ones catmemi_je_class assumes; learns how many
   blocks a slab of each holds. */
static int catmemi_je_classes_match(void) {
    unsigned nbins, k;
    size_t sz = sizeof nbins;
    if (CATMEMI_JE(mallctl)("arenas.nbins", &nbins, &sz, NULL, 0) != 0 || nbins < CATMEMI_JE_NCLASS)
        return 0;
    for (k = 0; k < CATMEMI_JE_NCLASS; k++) {
        char name[48];
        size_t size = 0;
        uint32_t nregs = 0;
        sz = sizeof size;
        snprintf(name, sizeof name, "arenas.bin.%u.size", k);
        if (CATMEMI_JE(mallctl)(name, &size, &sz, NULL, 0) != 0 || size != catmemi_je_class_size[k])
            return 0;
        sz = sizeof nregs;
        snprintf(name, sizeof name, "arenas.bin.%u.nregs", k);
        if (CATMEMI_JE(mallctl)(name, &nregs, &sz, NULL, 0) != 0 || nregs == 0) return 0;
        catmemi_je_nregs[k] = nregs;
    }
    return 1;
}

/* Once per process: is jemalloc really there and answering? And may catmem cache in front of
   it: not while heap profiling (every allocation must reach jemalloc's sampler), not with
   other size classes, not when CATMEM_JEMALLOC_CACHE_BYTES is 0. */
static int catmemi_je_once(void) {
    const char *off = NULL;
    size_t sz;
    if (catmemi_je_version() == NULL) return ENOSYS;
    sz = sizeof catmemi_je_page;
    if (CATMEMI_JE(mallctl)("arenas.page", &catmemi_je_page, &sz, NULL, 0) != 0) return ENOSYS;
    if (CATMEM_JEMALLOC_CACHE_BYTES == 0)
        off = "CATMEM_JEMALLOC_CACHE_BYTES is 0";
    else if (!catmemi_je_classes_match())
        off = "jemalloc's size classes are not the ones catmem knows";
    else if (catmemi_je_prof_enabled())
        off = "heap profiling (opt.prof)";
    catmemi_je_front = off == NULL;
    catmemi_je_batch_miblen = sizeof catmemi_je_batch_mib / sizeof catmemi_je_batch_mib[0];
    if (CATMEM_JEMALLOC_TCACHES == 0 ||
        CATMEMI_JE(mallctlnametomib)("experimental.batch_alloc", catmemi_je_batch_mib,
                                     &catmemi_je_batch_miblen) != 0)
        catmemi_je_batch_miblen = 0;
    if (off != NULL) { /* every call takes the arena's lock: say so where users look */
        size_t len = strlen(catmemi_info);
        snprintf(catmemi_info + len, sizeof catmemi_info - len, "; front caches off: %s", off);
    }
    return pthread_key_create(&catmemi_je_key, catmemi_je_thread_exit);
}

static int catmemi_je_arena_create(catmemi_slot *s) {
    unsigned index;
    size_t sz = sizeof index;
    int err = CATMEMI_JE(mallctl)("arenas.create", &index, &sz, NULL, 0);
    if (err == 0) s->je.index = index;
    return err;
}

static void catmemi_je_flush_own(const catmemi_slot *s);
static int catmemi_je_allocated(const catmemi_slot *s, size_t *bytes);

/* Under catmemi_mu, s->limit already bytes. Blocks are charged where they leave or reach the
   arena, so a block in a front cache counts. So that the live blocks stay under the new limit,
   the calling thread's cached blocks of s go back and its cache takes its new allowance (at
   most limit / 16); for a first limit (nobody else using s) every thread's cache does, as it
   may hold a whole share of the budget. Other threads' caches learn of a later change at their
   next refill or overflow. The first limit starts the count from what jemalloc says the arena
   has handed out (catmem's caches take blocks with MALLOCX_TCACHE_NONE: no jemalloc cache in
   between). */
static int catmemi_je_set_limit(catmemi_slot *s, size_t bytes) {
    catmemi_je_cache *own = catmemi_je_caches[s->handle.slot];
    catmemi_je_thread *t;
    size_t allocated;
    int err;
    catmemi_je_flush_own(s);
    if (own != NULL) catmemi_je_reshare(own);
    if (bytes == 0 || catmemi_counted(s)) return 0;
    for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next) {
        catmemi_je_cache *c = t->caches[s->handle.slot];
        if (c == NULL) continue;
        catmemi_je_empty(c);
        catmemi_je_demote(t, c, 1); /* a counted arena's blocks leave it through front caches */
        catmemi_je_reshare_in(t, c);
    }
    if ((err = catmemi_je_allocated(s, &allocated)) != 0) return err;
    __atomic_store_n(&s->charged, allocated, __ATOMIC_RELAXED);
    catmemi_peak(s, allocated);
    __atomic_store_n(&s->counted, 1, __ATOMIC_RELAXED);
    return 0;
}

/* A block straight from the arena, charged first: its class size comes from nallocx. */
static void *catmemi_je_direct_alloc(catmemi_slot *s, size_t size, int flags) {
    size_t usize = 0, total = 0;
    int counted = catmemi_counted(s);
    void *p;
    if (counted && ((usize = CATMEMI_JE(nallocx)(size, flags)) == 0 ||
                    (total = catmemi_je_charge(s, usize)) == 0))
        return NULL;
    p = CATMEMI_JE(mallocx)(size, flags);
    if (p == NULL) {
        if (counted) catmemi_uncharge(s, usize);
        return NULL;
    }
    if (counted) catmemi_peak(s, total);
    __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
    return p;
}

/* The arena p belongs to, asked of jemalloc (arenas.lookup): for frees that name no arena. */
static catmemi_slot *catmemi_je_owner(const void *p) {
    unsigned index, i;
    size_t sz = sizeof index;
    if (CATMEMI_JE(mallctl)("arenas.lookup", &index, &sz, (void *)&p, sizeof p) != 0) return NULL;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i]) && catmemi_slots[i].je.index == index)
            return &catmemi_slots[i];
    return NULL;
}

static int catmemi_je_arena_id(const catmemi_slot *s) { return (int)s->je.index; }

/* Small requests through the cache, aligned ones too: rounded up to a multiple of their
   alignment (up to a page), the class of that size is itself a multiple of the alignment, and
   jemalloc lays a class's blocks out at multiples of its size from a page boundary. */
static void *catmemi_je_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    catmemi_je_cache *c = catmemi_je_cache_for(s);
    size_t align = (size_t)1 << (opts & CATMEMI_LG_ALIGN_MASK);
    if (c != NULL && align <= catmemi_je_page) {
        size_t need = (size + align - 1) & ~(align - 1);
        if (need <= CATMEMI_JE_SMALL_MAX && catmemi_je_class(need) <= c->top) {
            unsigned k = catmemi_je_class(need);
            void *p = catmemi_je_pop(c, k);
            if (p == NULL) p = catmemi_je_refill(c, k);
            if (p != NULL && (opts & CATMEMI_ZERO)) memset(p, 0, size);
            return p;
        }
    }
    return catmemi_je_direct_alloc(
        s, size, CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE | opts);
}

/* A block straight back to its arena, uncharged from s (NULL: the arena jemalloc names). */
static void catmemi_je_direct_free(catmemi_slot *s, void *p, size_t size) {
    if (s == NULL) s = catmemi_je_owner(p);
    if (s != NULL) {
        if (catmemi_counted(s)) catmemi_uncharge(s, CATMEMI_JE(sallocx)(p, 0));
        __atomic_fetch_add(&s->je.ndalloc, 1, __ATOMIC_RELAXED);
    }
    if (size != 0)
        CATMEMI_JE(sdallocx)(p, size, CATMEMI_MALLOCX_TCACHE_NONE);
    else
        CATMEMI_JE(dallocx)(p, CATMEMI_MALLOCX_TCACHE_NONE);
}

/* s NULL: no usable arena (NULL handle, shutdown, released): straight back to its arena. A
   small block goes into the cache even past its allowance; the cache then trims itself. */
static void catmemi_je_free_slow(catmemi_slot *s, void *p, size_t size) {
    catmemi_je_cache *c = s != NULL ? catmemi_je_cache_for(s) : NULL;
    if (c != NULL) {
        size_t usize = size != 0 ? size : CATMEMI_JE(sallocx)(p, 0);
        if (usize <= CATMEMI_JE_SMALL_MAX && catmemi_je_class(usize) <= c->top) {
            catmemi_je_add(c, catmemi_je_class(usize), p);
            CATMEMI_JE_COUNT(c->nfree);
            if (c->room < 0) catmemi_je_reshare(c);
            if (c->room < 0) catmemi_je_trim(c);
            return;
        }
    }
    catmemi_je_direct_free(s, p, size);
}

/* A small new size: the block stays where it is when its class does not change, and moves to a
   block from the cache otherwise. The old block goes straight back to its own arena: catmem
   cannot tell cheaply whether it belongs to s (a realloc may move a block between arenas); it
   is uncharged from s, whose handle is trusted as catmem_free trusts it. */
static void *catmemi_je_realloc(catmemi_slot *s, void *p, size_t size) {
    catmemi_je_cache *c = catmemi_je_cache_for(s);
    size_t old = CATMEMI_JE(sallocx)(p, 0);
    unsigned k;
    void *q;
    if (c == NULL || size > CATMEMI_JE_SMALL_MAX) {
        /* jemalloc resizes in place or moves; the charge grows first and settles after. */
        int flags = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE;
        int counted = catmemi_counted(s);
        size_t usize = counted ? CATMEMI_JE(nallocx)(size, flags) : 0;
        size_t had = usize > old ? usize : old;
        if (counted && (usize == 0 || (usize > old && catmemi_je_charge(s, usize - old) == 0)))
            return NULL;
        q = CATMEMI_JE(rallocx)(p, size, flags);
        if (counted) catmemi_recharge(s, had, q != NULL ? CATMEMI_JE(sallocx)(q, 0) : old);
        if (q != NULL && q != p) {
            __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&s->je.ndalloc, 1, __ATOMIC_RELAXED);
        }
        return q;
    }
    k = catmemi_je_class(size);
    if (old == catmemi_je_class_size[k]) return p;
    q = catmemi_je_pop(c, k);
    if (q == NULL && (q = catmemi_je_refill(c, k)) == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    if (catmemi_counted(s)) catmemi_uncharge(s, old);
    CATMEMI_JE_COUNT(c->nfree);
    CATMEMI_JE(sdallocx)(p, old, CATMEMI_MALLOCX_TCACHE_NONE);
    return q;
}

static size_t catmemi_je_usable_size(const void *p) { return CATMEMI_JE(sallocx)(p, 0); }

/* The owner arena comes from the pointer, and no cache is involved: correct whatever caching
   the calling thread does. */
static void catmemi_je_free_any(void *p) { catmemi_je_direct_free(NULL, p, 0); }

/* Under catmemi_mu: every thread's cache for s (all slots when s is NULL) is destroyed. */
static void catmemi_je_drop_caches(catmemi_slot *s) {
    catmemi_je_thread *t;
    for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next)
        catmemi_je_drop(t, s != NULL ? (int)s->handle.slot : -1);
}

/* Under catmemi_mu: s's catmem calls, its own counters and every thread's cache's. */
static void catmemi_je_sum(const catmemi_slot *s, uint64_t *nmalloc, uint64_t *ndalloc) {
    catmemi_je_thread *t;
    unsigned i = s->handle.slot;
    *nmalloc = __atomic_load_n(&s->je.nmalloc, __ATOMIC_RELAXED);
    *ndalloc = __atomic_load_n(&s->je.ndalloc, __ATOMIC_RELAXED);
    for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next) {
        const catmemi_je_cache *c = t->caches[i];
        if (c == NULL) continue;
        *nmalloc += __atomic_load_n(&c->nalloc, __ATOMIC_RELAXED);
        *ndalloc += __atomic_load_n(&c->nfree, __ATOMIC_RELAXED);
    }
}

/* Under catmemi_mu. Caches hold blocks of the arena: every thread's cache for s forgets them
   first (the reset frees them with everything else, so nothing is given back one by one).
   Every live block counts as freed; a release starts the counts again from zero (its caches
   were dropped, their counts are all in the slot's). */
static int catmemi_je_reset(catmemi_slot *s, int release) {
    catmemi_je_thread *t;
    unsigned i = s->handle.slot;
    uint64_t nmalloc, ndalloc;
    int err;
    for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next) {
        catmemi_je_cache *c = t->caches[i];
        if (c == NULL) continue;
        catmemi_je_cache_init(c, c->allowance);
        catmemi_je_flush_tc(c); /* jemalloc requires it before arena.<i>.reset */
    }
    err = catmemi_je_ctl(s, "arena.%u.reset", NULL, NULL, NULL, 0);
    if (err != 0) return err;
    if (release) { /* the next arena in the slot starts uncounted, its counts at zero */
        __atomic_store_n(&s->je.nmalloc, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->je.ndalloc, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->counted, 0, __ATOMIC_RELAXED);
    } else {
        catmemi_je_sum(s, &nmalloc, &ndalloc);
        if (nmalloc > ndalloc)
            __atomic_fetch_add(&s->je.ndalloc, nmalloc - ndalloc, __ATOMIC_RELAXED);
    }
    return 0;
}

static int catmemi_je_purge(catmemi_slot *s) {
    catmemi_je_flush_own(s);
    return catmemi_je_ctl(s, "arena.%u.purge", NULL, NULL, NULL, 0);
}

static int catmemi_je_epoch(void) {
    uint64_t epoch = 1;
    return CATMEMI_JE(mallctl)("epoch", NULL, NULL, &epoch, sizeof epoch);
}

static int catmemi_je_read(const catmemi_slot *s, const char *fmt, void *out, size_t size) {
    size_t sz = size;
    int err = s != NULL ? catmemi_je_ctl(s, fmt, out, &sz, NULL, 0)
                        : CATMEMI_JE(mallctl)(fmt, out, &sz, NULL, 0);
    return (err == 0 && sz != size) ? EINVAL : err;
}

/* nmalloc and ndalloc count catmem's calls (STATISTICS in catmem.h): the arena's (s) or every
   arena's (s NULL). */
static void catmemi_je_calls(const catmemi_slot *s, catmem_stats *out) {
    uint64_t nmalloc, ndalloc;
    unsigned i;
    catmemi_lock();
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        const catmemi_slot *x = &catmemi_slots[i];
        if ((s != NULL && x != s) || !catmemi_created(x)) continue;
        catmemi_je_sum(x, &nmalloc, &ndalloc);
        out->nmalloc += nmalloc;
        out->ndalloc += ndalloc;
    }
    catmemi_unlock();
}

/* The bytes of s's blocks out of the jemalloc arena (to callers or front caches), fresh. */
static int catmemi_je_allocated(const catmemi_slot *s, size_t *bytes) {
    size_t small, large;
    int err;
    if ((err = catmemi_je_epoch()) != 0 ||
        (err = catmemi_je_read(s, "stats.arenas.%u.small.allocated", &small, sizeof small)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.large.allocated", &large, sizeof large)))
        return err == ENOENT ? ENOTSUP : err; /* ENOENT: jemalloc built without stats */
    *bytes = small + large;
    return 0;
}

static int catmemi_je_stats(catmemi_slot *s, catmem_stats *out) {
    size_t pactive;
    int err;
    catmemi_je_flush_own(s);
    if ((err = catmemi_je_allocated(s, &out->allocated)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.pactive", &pactive, sizeof pactive)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.resident", &out->resident, sizeof(size_t))) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.mapped", &out->mapped, sizeof(size_t))))
        return err == ENOENT ? ENOTSUP : err;
    out->active = pactive * catmemi_je_page;
    catmemi_je_calls(s, out);
    return 0;
}

static int catmemi_je_total_stats(catmem_stats *out) {
    int err;
    if ((err = catmemi_je_epoch()) != 0) return err;
    if ((err = catmemi_je_read(NULL, "stats.allocated", &out->allocated, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.active", &out->active, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.resident", &out->resident, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.mapped", &out->mapped, sizeof(size_t))))
        return err == ENOENT ? ENOTSUP : err;
    catmemi_je_calls(NULL, out);
    return 0;
}

static int catmemi_je_owns(const catmemi_slot *s, const void *p) {
    unsigned index;
    size_t sz = sizeof index;
    return CATMEMI_JE(mallctl)("arenas.lookup", &index, &sz, (void *)&p, sizeof p) == 0 &&
           index == s->je.index;
}

static int catmemi_je_set_decay(catmemi_slot *s, long dirty_ms, long muzzy_ms) {
    ssize_t d = (ssize_t)dirty_ms, m = (ssize_t)muzzy_ms;
    int err = catmemi_je_ctl(s, "arena.%u.dirty_decay_ms", NULL, NULL, &d, sizeof d);
    return err != 0 ? err : catmemi_je_ctl(s, "arena.%u.muzzy_decay_ms", NULL, NULL, &m, sizeof m);
}

static int catmemi_je_prof_enabled(void) {
    bool on = false;
    size_t sz = sizeof on;
    return CATMEMI_JE(mallctl)("opt.prof", &on, &sz, NULL, 0) == 0 && on;
}

static int catmemi_je_prof_active(int on) {
    bool b = on != 0;
    if (!catmemi_je_prof_enabled()) return ENOTSUP;
    return CATMEMI_JE(mallctl)("prof.active", NULL, NULL, &b, sizeof b);
}

static int catmemi_je_prof_dump(const char *path) {
    if (!catmemi_je_prof_enabled()) return ENOTSUP;
    return path != NULL ? CATMEMI_JE(mallctl)("prof.dump", NULL, NULL, (void *)&path, sizeof path)
                        : CATMEMI_JE(mallctl)("prof.dump", NULL, NULL, NULL, 0);
}

/* The fast path needs no published state: shutdown and release drop the thread caches. */
static void catmemi_je_publish(void) {}
static void catmemi_je_atfork_prepare(void) {}
static void catmemi_je_atfork_parent(void) {}
/* In the child only the forking thread runs: the other threads' caches can go. */
static void catmemi_je_atfork_child(void) {
    catmemi_je_thread *t = catmemi_je_threads.next, *next;
    for (; t != &catmemi_je_threads; t = next) {
        next = t->next;
        if (t != &catmemi_je_self) {
            int k;
            for (k = 0; k < CATMEM_MAX_ARENAS; k++)
                if (t->caches[k] != NULL) catmemi_je_demote(t, t->caches[k], 0);
            catmemi_je_drop(t, -1);
            catmemi_je_unlink(t);
        }
    }
}
/* The table the core calls through (CATMEMI_OPS_TABLE in catmem.h). */
CATMEMI_OPS_TABLE(je, "jemalloc")

#  if !defined(CATMEMI_RUNTIME)
static const catmemi_ops *catmemi_select(char *info, size_t size) {
    const char *v = catmemi_je_version();
    snprintf(info, size, "jemalloc %s (linked)", v != NULL ? v : "(not answering)");
    return catmemi_je_table();
}
#  endif
#endif /* CATMEMI_PART_IMPL */
