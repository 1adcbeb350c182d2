/* catmem's jemalloc engine: its data layout and its inline paths. Included once, by
   backends/inline.h, in every file that includes catmem.h. The engine's other files, in the
   order core/impl.h compiles them: cache.h (the front caches), owners.h (a pointer's arena, from
   a page map kept by extent hooks), small.h (small arenas, below:
   CATMEM_OWN_ARENAS), ops.h (the operations).

   HOW IT WORKS
   A catmem arena is a jemalloc manual arena (arenas.create), made once per slot and kept for
   the process, or past the first CATMEM_OWN_ARENAS user arenas a small one (below).
   Every block comes from mallocx on that arena with MALLOCX_TCACHE_NONE, so jemalloc's
   automatic thread cache never sees catmem's blocks (it would mix arenas and keep
   dangling pointers across arena.<i>.reset). That call takes the arena's bin lock, so each
   thread keeps, per arena, a FRONT CACHE of its own (catmemi_je_cache): freed blocks of each of
   jemalloc's 36 small classes (8 B to 14 KiB) on an intrusive list (its links encoded,
   catmemi_je_link), refilled a few blocks at a time from the arena (handed out from a
   random place on: cache.h, catmemi_je_deal). The inline paths are one TLS load, a size-class
   lookup and a list pop or push; catmem_free without a size reads the block's class from the
   page map (below), or asks jemalloc (sallocx) where the map has none.
   Blocks above the largest small class, and every block while heap profiling is on (opt.prof:
   jemalloc's sampler must see every allocation), go to the arena directly. A pair whose
   traffic runs past its front cache gets a jemalloc cache of its own behind it (a "busy
   pair", cache.h). Arenas with a limit are charged where blocks leave or come back to the
   jemalloc arena (cache.h, catmemi_je_refill and catmemi_je_give_back), so a cached block
   counts as allocated.

   Invariants (checked by catmemi_je_cache_valid under CATMEM_DEBUG): a bin's n is the length
   of its list; room + the bytes on all lists == allowance; top is catmemi_je_top(allowance);
   a bin's fill is a power of two up to CATMEMI_JE_FILL_MAX, or 0 before its first refill under
   CATMEM_SECURE (cache.h, catmemi_je_count). */
#ifndef CATMEMI_INLINE_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* jemalloc's mallocx flag encoding, part of its ABI since 4.0, so that the runtime backend
   needs no jemalloc header (checked against jemalloc's own macros below when it is there). */
#define CATMEMI_MALLOCX_ARENA(a)    ((int)(((unsigned)(a) + 1) << 20))
#define CATMEMI_MALLOCX_TCACHE(tc)  ((int)(((unsigned)(tc) + 2) << 8))
#define CATMEMI_MALLOCX_TCACHE_NONE CATMEMI_MALLOCX_TCACHE(-1)
#if defined(MALLOCX_ARENA)
/* catmem's encodings (and its allocation options, CATMEMI_ZERO and the alignment in the low
   bits) must be jemalloc's: a compile-time check. */
typedef char catmemi_je_flags_match[(CATMEMI_MALLOCX_ARENA(7) == MALLOCX_ARENA(7) &&
                                     CATMEMI_MALLOCX_TCACHE(5) == MALLOCX_TCACHE(5) &&
                                     CATMEMI_MALLOCX_TCACHE_NONE == MALLOCX_TCACHE_NONE &&
                                     CATMEMI_ZERO == MALLOCX_ZERO && MALLOCX_LG_ALIGN(5) == 5 &&
                                     CATMEMI_LG_ALIGN_MASK == 0x3f)
                                        ? 1
                                        : -1];
#endif


/* One size class of a front cache: freed blocks linked through their first word. */
typedef struct catmemi_je_bin {
    void *head;
    uint32_t n;     /* blocks on the list */
    uint16_t fill;  /* blocks the next refill takes: doubling up to CATMEMI_JE_FILL_MAX */
    uint16_t amask; /* CATMEM_SECURE: a block of the class has none of these address bits */
} catmemi_je_bin;

/* One thread's front cache for one arena. Only its thread touches it, except under catmemi_mu
   while that thread does not use the arena (reset, release, shutdown, fork; see THREADS). */
typedef struct catmemi_je_cache {
    /* The handle of the arena it serves; 0: dropped, waiting for its thread to free it (its
       thread's table may still point at it). Atomic: its thread reads it for any arena whose
       slot shares its entry, while another thread may drop it. */
    uintptr_t key;
    catmemi_je_bin bin[CATMEMI_NCLASS];
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
    unsigned owner; /* its jemalloc arena's index + 1: the page map's entry for its blocks */
    int small; /* a small arena's cache: refilled from its chunks, never gives back (small.h) */
    struct catmemi_je_thread *thread;       /* its thread */
    struct catmemi_je_cache *anext, *aprev; /* its arena's caches; catmemi_mu */
    struct catmemi_je_cache *tnext, *tprev; /* its thread's caches (or dropped ones); catmemi_mu */
} catmemi_je_cache;

/* The calling thread's caches, by slot modulo CATMEMI_TAB (backends/inline.h); an entry with
   no cache holds catmemi_je_none (key 0). Written by its thread alone. A cache found here
   serves the arena whose handle is its key. */
extern CATMEMI_TLS catmemi_je_cache *catmemi_je_tab[CATMEMI_TAB];

/* The entry of the calling thread's table where arena a's cache would be (never NULL), and
   whether it is a's: if not, take the slow path (no cache yet, another arena's in the entry,
   dropped by shutdown or release, or the front cache is off). */
static inline catmemi_je_cache *catmemi_je_entry(const catmem_arena *a) {
    return catmemi_je_tab[CATMEMI_TAB_OF((uintptr_t)a)];
}
static inline int catmemi_je_serves(const catmemi_je_cache *c, const catmem_arena *a) {
    return __atomic_load_n(&c->key, __ATOMIC_RELAXED) == (uintptr_t)a;
}
/* The calling thread's cache for arena a, or NULL. */
static inline catmemi_je_cache *catmemi_je_mine(const catmem_arena *a) {
    catmemi_je_cache *c = catmemi_je_entry(a);
    return catmemi_je_serves(c, a) ? c : NULL;
}

/* A front cache's links are kept encoded in the free blocks: next ^ key, rotated left by 17
   bits, ^ the block's own address. An overflow of the block before that rewrites the link
   without the key cannot aim it: a change to its low 17 bits (a partial overwrite) sets the
   decoded link's top bits, one to the next bits moves it off its alignment, and a whole word
   decodes to noise; catmemi_je_next stops the process at all of these. The key is set once,
   by the first init (catmemi_random_word). */
extern uintptr_t catmemi_je_lkey;
#define CATMEMI_JE_LINK_BAD (~(((uintptr_t)1 << 47) - 1) | 7) /* user addresses are below 2^47 */
CATMEMI_API void catmemi_je_bad_link(const void *p) CATMEMI_NORETURN __attribute__((cold));
CATMEMI_API void catmemi_je_twice(const catmemi_je_bin *b, const void *p) __attribute__((cold));
CATMEMI_API void catmemi_je_free_small(catmemi_je_cache *c, void *p); /* small.h */
static inline uintptr_t catmemi_je_link(const void *p, const void *next) {
#if CATMEM_SECURE
    uintptr_t x = (uintptr_t)next ^ catmemi_je_lkey;
    return ((x << 17) | (x >> 47)) ^ (uintptr_t)p;
#else
    (void)p;
    return (uintptr_t)next;
#endif
}
/* p's first word decodes to a link (a block address, or the end of a list): p may be on a
   list already. A block handed out has its link cleared (catmemi_je_handed), so a block freed
   once does not look so, but for a 2^-17 chance (the address's low bits meet the key's). */
static inline int catmemi_je_linked(const void *p) {
#if CATMEM_SECURE
    uintptr_t x = *(const uintptr_t *)p ^ (uintptr_t)p;
    x = ((x >> 17) | (x << 47)) ^ catmemi_je_lkey;
    return (x & CATMEMI_JE_LINK_BAD) == 0;
#else
    (void)p;
    return 0;
#endif
}
/* The block after p on its list (p's first word decoded), checked. */
static inline void *catmemi_je_next(const void *p) {
#if CATMEM_SECURE
    uintptr_t x = *(const uintptr_t *)p ^ (uintptr_t)p;
    x = ((x >> 17) | (x << 47)) ^ catmemi_je_lkey;
    if (CATMEMI_UNLIKELY(x & CATMEMI_JE_LINK_BAD)) catmemi_je_bad_link(p);
    return (void *)x;
#else
    return *(void *const *)p;
#endif
}

/* THE PAGE MAP (owners.h): per 4 KiB page of catmem's arenas, the jemalloc arena that holds it
   (index + 1, 0 for none), kept by extent hooks, and the size class of the blocks catmem handed
   out on it (class + 1, 0 for "ask jemalloc"), written where a block leaves jemalloc for a
   front cache (cache.h, catmemi_je_refill) and cleared where one leaves it for a caller
   (ops.h). The inline frees read both in one entry: the owner checks that a block freed into a
   front cache is of that cache's arena, and the class spares the unsized free jemalloc's
   lookup (sallocx, about 40 instructions; issue 21).
   Why the class is right: a page lies in one jemalloc extent at a time, and an extent has one
   class (a slab) or none (a large block); every block catmem hands out wrote its first page's
   entry (its class, or 0) after jemalloc made it and before any caller saw it, so while a block
   is live its first page's entry is its class or 0. Older values (a page's earlier extent) are
   written over before any block of the new extent there goes out. Only an entry whose owner is
   the freeing cache's arena is trusted: a pointer of any other memory falls back to jemalloc. */
#define CATMEMI_JE_MAP_PAGE 12 /* 4 KiB: jemalloc's smallest page */
#define CATMEMI_JE_MAP_LEAF 18 /* pages per leaf (1 GiB); a leaf is 1 MiB, touched as used */
#define CATMEMI_JE_MAP_TOP  47 /* user addresses of x86-64 and AArch64 Linux */
#define CATMEMI_JE_MAP_ROOT                                                                        \
  ((size_t)1 << (CATMEMI_JE_MAP_TOP - CATMEMI_JE_MAP_PAGE - CATMEMI_JE_MAP_LEAF))
typedef struct catmemi_je_pg {
    uint16_t owner; /* the arena's index + 1; written by the extent hooks */
    uint8_t cls;    /* the class + 1 of the blocks catmem handed out here, or 0 */
    uint8_t spare;
} catmemi_je_pg;
typedef catmemi_je_pg catmemi_je_leaf[(size_t)1 << CATMEMI_JE_MAP_LEAF];
/* jemalloc's arena indexes stay below its MALLOCX_ARENA_LIMIT. */
#define CATMEMI_JE_ARENA_LIMIT 4096
extern catmemi_je_leaf *catmemi_je_map[CATMEMI_JE_MAP_ROOT];
extern int catmemi_je_map_on; /* 0: the map is off (owners.h), and owners come from jemalloc */

/* u's entry, or NULL: no leaf there (no arena of catmem's ever held the page). */
CATMEMI_INLINE catmemi_je_pg *catmemi_je_pg_of(uintptr_t u) {
    uintptr_t at = u >> (CATMEMI_JE_MAP_PAGE + CATMEMI_JE_MAP_LEAF);
    catmemi_je_leaf *leaf;
    if (CATMEMI_UNLIKELY(at >= CATMEMI_JE_MAP_ROOT)) return NULL; /* above 47 bits */
    leaf = __atomic_load_n(&catmemi_je_map[at], __ATOMIC_ACQUIRE);
    if (CATMEMI_UNLIKELY(leaf == NULL)) return NULL;
    return &(*leaf)[(u >> CATMEMI_JE_MAP_PAGE) & (((size_t)1 << CATMEMI_JE_MAP_LEAF) - 1)];
}
/* u's owner: the arena index + 1, 0 for none. */
CATMEMI_INLINE unsigned catmemi_je_map_get(uintptr_t u) {
    const catmemi_je_pg *e = catmemi_je_pg_of(u);
    return e != NULL ? __atomic_load_n(&e->owner, __ATOMIC_RELAXED) : 0;
}
/* The class + 1 of p, a block freed into a front cache of the jemalloc arena owner (index + 1),
   from the map; 0: ask jemalloc (the map is off, p is not on owner's pages, or no class is
   written there). */
CATMEMI_INLINE unsigned catmemi_je_class_in(const void *p, unsigned owner) {
    const catmemi_je_pg *e;
    if (!__atomic_load_n(&catmemi_je_map_on, __ATOMIC_RELAXED) ||
        (e = catmemi_je_pg_of((uintptr_t)p)) == NULL ||
        __atomic_load_n(&e->owner, __ATOMIC_RELAXED) != owner)
        return 0;
    return __atomic_load_n(&e->cls, __ATOMIC_RELAXED);
}

/* FREE MARKS (CATMEM_SECURE). A block of 16 bytes or more that catmem takes back carries a
   mark in its second word: its address ^ a per-process key (catmemi_je_fkey, not the links'
   key: a mark read after a free gives its key away). Every path that hands a block out clears
   it (catmemi_je_handed, the arena's direct allocations, realloc's new blocks, a small arena's
   carving: core/small.h), so a block that has it when freed was freed before and not handed
   out since, wherever it is now: this thread's cache, another thread's, jemalloc's arena (its
   thread exited, a trim), or its arena was reset since. That free stops the process. The
   program cannot write the mark by chance without knowing the key (one value in 2^64, a
   different one for every address). The 8-byte class has no second word: there a block whose
   first word decodes to a link is looked for on this thread's list (catmemi_je_linked). */
extern uintptr_t catmemi_je_fkey;
CATMEMI_API void catmemi_je_again(const catmemi_je_bin *b, const void *p) CATMEMI_NORETURN
    __attribute__((cold));
CATMEMI_API void catmemi_je_stray(const void *p) CATMEMI_NORETURN __attribute__((cold));
/* p's free mark. */
static inline uintptr_t catmemi_je_mark_of(const void *p) {
    return (uintptr_t)p ^ catmemi_je_fkey;
}
/* p, a block of 16 bytes or more taken back onto b's list (NULL: straight to jemalloc): a mark
   there already stops the process, else it is marked. */
static inline void catmemi_je_marking(const catmemi_je_bin *b, void *p) {
    uintptr_t mark = catmemi_je_mark_of(p);
    if (CATMEMI_UNLIKELY(((const uintptr_t *)p)[1] == mark)) catmemi_je_again(b, p);
    ((uintptr_t *)p)[1] = mark;
}
/* p, of class k, taken back onto b's list: checked, then marked. The mark is looked at first:
   jemalloc's answer for the class of a block freed before may be stale (sallocx of a large
   block it has merged into a free extent reads what the page's last slab left). Then the check
   jemalloc's layout allows cheaply: a block of a class starts at a multiple of the class's
   alignment (the lowest set bit of its size, at most a page: a slab is page-aligned and its
   blocks a multiple of the size apart; 16 bytes in a small arena's chunks), so a free of a
   pointer that is not (inside a block, or a block freed with too large a size) stops the
   process. A pointer inside a block at a multiple of that alignment is not seen. */
static inline void catmemi_je_taking(const catmemi_je_bin *b, unsigned k, void *p) {
#if CATMEM_SECURE
    if (CATMEMI_LIKELY(k != 0))
        catmemi_je_marking(b, p);
    else if (CATMEMI_UNLIKELY(catmemi_je_linked(p)))
        catmemi_je_twice(b, p);
    if (CATMEMI_UNLIKELY((uintptr_t)p & b->amask)) catmemi_je_stray(p);
#else
    (void)b, (void)k, (void)p;
#endif
}
/* p, of class k, handed out: no link (catmemi_je_linked) and no mark. */
static inline void catmemi_je_handed(unsigned k, void *p) {
#if CATMEM_SECURE
    ((uintptr_t *)p)[0] = 0;
    if (k != 0) ((uintptr_t *)p)[1] = 0;
#else
    (void)k, (void)p;
#endif
}

/* Every pop is a block handed to a caller: counted as one allocation. */
static inline void *catmemi_je_pop(catmemi_je_cache *c, unsigned k) {
    catmemi_je_bin *b = &c->bin[k];
    void *p = b->head;
    if (CATMEMI_LIKELY(p != NULL)) {
        b->head = catmemi_je_next(p);
        catmemi_je_handed(k, p);
        b->n--;
        c->room += catmemi_class_size[k];
        CATMEMI_OWNER_ADD(c->nalloc, 1);
    }
    return p;
}

/* p is not a block of c's arena, where the page map can say so: freed into the wrong arena, or
   no block of catmem's. The slow path gives it to its owner (ops.h, catmemi_je_free_slow). In
   the cache, c's arena would hand it out again while its owner still counts it, and after a
   reset of the owner it would have two. The free without a size reads p's entry anyway (its
   class): it is checked at every level but 0; every free at CATMEM_SECURE 2 (about 16
   instructions a sized free, core/config.h). */
static inline int catmemi_je_alien(const catmemi_je_cache *c, const void *p) {
    return __atomic_load_n(&catmemi_je_map_on, __ATOMIC_RELAXED) &&
           catmemi_je_map_get((uintptr_t)p) != c->owner;
}
static inline int catmemi_je_foreign(const catmemi_je_cache *c, const void *p) {
    return CATMEM_SECURE >= 2 && catmemi_je_alien(c, p);
}

/* 0 when the cache is full or does not keep class k: the slow path then decides. The link is
   written before the head (a release store) so that a fork() child never sees a head without
   its link. A block freed twice stops the process (catmemi_je_taking). mapped: the page map
   said p is of c's arena (catmemi_je_class_in), no need to look again. */
CATMEMI_INLINE int catmemi_je_push_in(catmemi_je_cache *c, unsigned k, void *p, int mapped) {
    catmemi_je_bin *b = &c->bin[k];
    intptr_t room = c->room - (intptr_t)catmemi_class_size[k];
    if (CATMEMI_UNLIKELY(room < 0 || k > c->top || (!mapped && catmemi_je_foreign(c, p))))
        return 0;
    catmemi_je_taking(b, k, p);
    c->room = room;
    *(uintptr_t *)p = catmemi_je_link(p, b->head);
    b->n++;
    __atomic_store_n(&b->head, p, __ATOMIC_RELEASE);
    CATMEMI_OWNER_ADD(c->nfree, 1);
    return 1;
}
CATMEMI_INLINE int catmemi_je_push(catmemi_je_cache *c, unsigned k, void *p) {
    return catmemi_je_push_in(c, k, p, 0);
}

/* Small requests without alignment come from the cache; calloc zeroes what it gets there. */
static inline void *catmemi_je_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_je_cache *c = catmemi_je_entry(a);
    if (CATMEMI_LIKELY(catmemi_je_serves(c, a) && size <= CATMEMI_CLASS_MAX &&
                       (opts & CATMEMI_LG_ALIGN_MASK) == 0)) {
        void *p = catmemi_je_pop(c, catmemi_class(size));
        if (CATMEMI_LIKELY(p != NULL)) {
            if (opts & CATMEMI_ZERO) memset(p, 0, size);
            return p;
        }
    }
    return catmemi_alloc_slow(a, size, opts);
}

/* The block's class comes from the page map (catmemi_je_class_in); where the map has none
   (blocks jemalloc made for a caller directly: large, aligned past a page, realloc's; the map
   off; another arena's block) the slow path decides. A small arena's cache takes the class
   from the block's header (jemalloc's is its chunk's). */
CATMEMI_API int catmemi_je_class_check(const void *p, unsigned k); /* CATMEM_DEBUG */
CATMEMI_INLINE void catmemi_je_fast_free(const catmem_arena *a, void *p) {
    catmemi_je_cache *c = catmemi_je_entry(a);
    size_t usize = 0;
    if (CATMEMI_LIKELY(catmemi_je_serves(c, a))) {
        unsigned k;
        if (CATMEMI_UNLIKELY(c->small)) {
            catmemi_je_free_small(c, p);
            return;
        }
        if (CATMEMI_LIKELY((k = catmemi_je_class_in(p, c->owner)) != 0)) {
            CATMEMI_ASSERT(catmemi_je_class_check(p, k - 1));
            if (CATMEMI_LIKELY(catmemi_je_push_in(c, k - 1, p, 1))) return;
            usize = catmemi_class_size[k - 1]; /* full, or not keeping k */
        }
    }
    catmemi_free_slow(a, p, usize);
}

/* Any size from the one asked for up to the usable size names the same class. */
CATMEMI_INLINE void catmemi_je_fast_free_sized(const catmem_arena *a, void *p, size_t size) {
    catmemi_je_cache *c = catmemi_je_entry(a);
    if (CATMEMI_LIKELY(catmemi_je_serves(c, a) && size <= CATMEMI_CLASS_MAX) &&
        CATMEMI_LIKELY(catmemi_je_push(c, catmemi_class(size), p)))
        return;
    catmemi_free_slow(a, p, size);
}


/* The slot id + 1 of each jemalloc arena catmem made for one (0: none, or the small arenas'
   shared one; cache.h). Atomic. */
extern unsigned catmemi_je_slot_id[CATMEMI_JE_ARENA_LIMIT];

/* p's page map entry, when the page is in a jemalloc arena catmem made for one of its arenas
   (*owner: the entry's arena index + 1, *id: the slot id + 1); NULL otherwise (the map off,
   no arena of catmem's, or the small arenas' shared one, which has no slot id: their blocks'
   class is in their header). */
CATMEMI_INLINE const catmemi_je_pg *catmemi_je_owned(const void *p, unsigned *owner,
                                                     unsigned *id) {
    const catmemi_je_pg *pg;
    if (!__atomic_load_n(&catmemi_je_map_on, __ATOMIC_RELAXED) ||
        (pg = catmemi_je_pg_of((uintptr_t)p)) == NULL ||
        (*owner = __atomic_load_n(&pg->owner, __ATOMIC_RELAXED)) - 1 >= CATMEMI_JE_ARENA_LIMIT ||
        (*id = __atomic_load_n(&catmemi_je_slot_id[*owner - 1], __ATOMIC_ACQUIRE)) == 0)
        return NULL;
    return pg;
}

/* catmem_free_any's inline path (backends/inline.h): p's arena and class from the page map,
   and this thread's front cache there from the table, which is the arena's when its own
   arena index is p's. 1 when p went into it; 0: the engine's free_any decides (no map, no
   cache, a full one). */
CATMEMI_INLINE int catmemi_je_fast_free_any(void *p) {
    unsigned e, id, k;
    const catmemi_je_pg *pg = catmemi_je_owned(p, &e, &id);
    catmemi_je_cache *c;
    size_t usize;
    if (pg == NULL) return 0;
    c = catmemi_je_tab[CATMEMI_TAB_OF(id - 1)];
    if (c->owner != e || __atomic_load_n(&c->key, __ATOMIC_RELAXED) == 0) return 0;
    if (CATMEMI_LIKELY((k = __atomic_load_n(&pg->cls, __ATOMIC_RELAXED)) != 0)) {
        CATMEMI_ASSERT(catmemi_je_class_check(p, k - 1));
        return catmemi_je_push_in(c, k - 1, p, 1);
    }
    usize = CATMEMI_JE(sallocx)(p, 0);
    return usize <= CATMEMI_CLASS_MAX && catmemi_je_push(c, catmemi_class(usize), p);
}

/* The class + 1 of p, a live block of one of catmem's arenas with a jemalloc arena of its own,
   from the page map; 0: ask jemalloc (no class there, or catmemi_je_owned says no). */
CATMEMI_INLINE unsigned catmemi_je_mapped_class(const void *p) {
    unsigned e, id, k;
    const catmemi_je_pg *pg = catmemi_je_owned(p, &e, &id);
    if (pg == NULL || (k = __atomic_load_n(&pg->cls, __ATOMIC_RELAXED)) == 0) return 0;
    CATMEMI_ASSERT(catmemi_je_class_check(p, k - 1));
    return k;
}

/* The engine's data in each arena slot (catmemi_slot.je, core/contract.h). */
#define CATMEMI_HAS_JE 1
typedef struct catmemi_je_slot {
    unsigned index; /* jemalloc arena index, from arenas.create; small: the shared one's */
    catmemi_je_cache *caches; /* every thread's cache for it; catmemi_mu */
    /* catmem calls served without a cache, and those of caches dropped since; atomic */
    uint64_t nmalloc, ndalloc;
} catmemi_je_slot;
