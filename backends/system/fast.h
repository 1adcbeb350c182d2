/* catmem's own engine, on the system malloc (CATMEM_BACKEND_SYSTEM, and the runtime backend
   without jemalloc): its data layout and its inline paths. Included once, by
   backends/inline.h, in every file that includes catmem.h. The engine's other files, in the
   order core/impl.h compiles them: pages.h (errors, size classes, the key, segments, pages),
   large.h (the large-block table), heap.h (allocation, free, heaps and threads), ops.h (the
   operations).

   HOW IT WORKS
   malloc has no arenas, so catmem makes them, on memory taken from malloc in large pieces:
   - A SEGMENT is 1 MiB aligned to 1 MiB (malloc of 2 MiB, aligned inside; glibc maps it, and
     pages never touched cost no RSS). Its first 64 KiB hold only its header: a keyed cookie
     first, then the descriptors of its 15 PAGES of 64 KiB. Each page holds blocks of one size
     class (36 classes: 16 to 128 bytes by 16, then four per doubling up to 16 KiB) and no
     per-block header. The owner of a pointer is found by masking it: segment, cookie check,
     page descriptor, all O(1). A process-wide bitmap says which 1 MiB units are segments, so
     that a foreign pointer is never dereferenced (16 MiB of zero-initialised data for the
     47-bit address space; only the words touched are resident).
   - A HEAP belongs to one (thread, arena): a current page per class, an allocation counter,
     its segments (statistics count live blocks from the pages when asked). Allocation pops
     the current page's free list; a free by the owner pushes onto the page's local list; a
     free by any other thread pushes onto the page's atomic thread_free list (lock-free) and
     counts as freed at once. Thread exit makes the heap an orphan, adopted by the next thread
     that needs a heap in that arena.
   - Free-list links are stored as next ^ key ^ (address of the block), with a per-process
     random key, and checked when followed: a link must decode to a block of the same page. A
     corrupted link or segment header, a double free, a pointer inside a segment that is no
     block: the process stops with a message that names the arena.
   - Pages whose blocks were all freed (by anyone, the owner asleep or not) are taken back
     under the heap's mutex by purge, by any thread of the arena that needs a new segment, and
     by the owner itself; empty segments move to the heap that needs one or go back to malloc.
     What a sleeping owner can keep is its current page of each class it used: at most 64 KiB
     per class per (thread, arena).
   - Blocks above 16 KiB (and every block when CATMEMI_SYS_ENGINE is 0: under AddressSanitizer
     or CATMEM_VALGRIND, so that the checker sees each one) are LARGE: one malloc each,
     recorded in a side table (keyed by address, each record checked with the key) rather than
     in a header next to the block. The table is split in 64 stripes by address, each with
     its mutex, and each heap has a mutex of its own for its large blocks: no lock is shared
     by all of them. A heap keeps a few freed large blocks for its next ones (large.h).
   - A thread finds its heaps through its table (catmemi_sys_tab, by slot: backends/inline.h);
     a heap's key is the handle the inline paths may serve through it, 0 for none.
   - Arenas with a limit are charged exactly: their heaps are kept off the inline paths (key
     0), and the slow paths charge every block.

   Invariants (checked by catmemi_sys_page_valid under CATMEM_DEBUG), for a page in use and
   its owner: capacity <= reserved; span == capacity * bsize; every link on free and
   local_free decodes to a block of the page; used + the blocks on free and local_free ==
   capacity (blocks freed by other threads stay in used until collected, counted in xfreed). */
#ifndef CATMEMI_INLINE_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

#define CATMEMI_SYS_SEG_SHIFT  20 /* segments of 1 MiB */
#define CATMEMI_SYS_SEG        ((uintptr_t)1 << CATMEMI_SYS_SEG_SHIFT)
#define CATMEMI_SYS_PAGE_SHIFT 16 /* pages of 64 KiB */
#define CATMEMI_SYS_PAGE       ((uintptr_t)1 << CATMEMI_SYS_PAGE_SHIFT)
#define CATMEMI_SYS_NPAGES     (1 << (CATMEMI_SYS_SEG_SHIFT - CATMEMI_SYS_PAGE_SHIFT))
#define CATMEMI_SYS_NCLS       36    /* 16..128 by 16, then 4 per doubling up to 16 KiB */
#define CATMEMI_SYS_SMALL_MAX  16384 /* above: large blocks */
#define CATMEMI_SYS_FAST_MAX   CATMEMI_SYS_SMALL_MAX /* classified by table, inline */
/* The segment bitmap covers the 47-bit user address space of x86-64 and AArch64 Linux. */
#define CATMEMI_SYS_ADDR_BITS 47
#define CATMEMI_SYS_MAP_WORDS ((size_t)1 << (CATMEMI_SYS_ADDR_BITS - CATMEMI_SYS_SEG_SHIFT - 6))


/* A free block: its first word is the encoded link to the next free block. */
typedef struct catmemi_sys_blk {
    uintptr_t link;
} catmemi_sys_blk;

typedef struct catmemi_sys_heap catmemi_sys_heap;

/* A page descriptor, in its segment's header, away from the blocks. Fields marked "owner" are
   touched only by the owning thread, or by another thread under the heap's mutex while the
   page is not current and holds no live block. */
typedef struct catmemi_sys_page {
    catmemi_sys_blk *free;       /* owner: blocks to hand out */
    catmemi_sys_blk *local_free; /* owner: blocks the owner freed */
    uintptr_t start;             /* first block */
    catmemi_sys_heap *heap;      /* atomic: the owning heap */
    uint32_t span;               /* atomic: bytes of blocks carved so far, from start */
    uint32_t bsize;              /* block size; 0: the page is not in use */
    uint32_t recip;              /* ceil(2^32 / bsize): block index by multiplication */
    uint32_t used;               /* atomic, owner writes: blocks out, less those collected */
    uint32_t xfreed;             /* atomic: blocks on thread_free (freed elsewhere) */
    uint32_t capacity, reserved; /* owner: blocks carved, blocks that fit */
    uint32_t touched;            /* atomic: bytes written since the last purge (resident) */
    unsigned cls;
    catmemi_sys_blk *thread_free;         /* atomic: blocks freed by other threads */
    struct catmemi_sys_page *prev, *next; /* the heap's pages of this class; heap mutex */
    uintptr_t pad[4];                     /* 128 bytes: the index is a shift */
} catmemi_sys_page;

/* The header at the start of every segment. The cookie comes first: an overflow from the
   memory below must destroy it before it reaches anything else. */
typedef struct catmemi_sys_seg {
    uintptr_t cookie; /* catmemi_sys_key ^ the segment's address */
    unsigned slot;    /* the arena */
    unsigned npages;  /* pages in use; heap mutex */
    catmemi_sys_heap *heap;
    struct catmemi_sys_seg *prev, *next; /* the heap's segments; heap mutex */
    void *base;                          /* what malloc returned */
    catmemi_sys_page pages[CATMEMI_SYS_NPAGES]; /* [0] is the header's own page: unused */
} catmemi_sys_seg;

typedef struct catmemi_sys_large catmemi_sys_large;

/* Statistics need no counter on the free path: live blocks are counted from the pages (used -
   xfreed) when asked, and frees are allocations minus live blocks. */
struct catmemi_sys_heap {
    /* The handle of the arena whose inline paths it serves; 0: none (closed, or counted).
       Written by the owner (opening) and under the arena's mutex (closing); atomic */
    uintptr_t key;
    catmemi_sys_page *pages[CATMEMI_SYS_NCLS]; /* current page per class, or the empty page */
    uint64_t nalloc;                           /* owner writes, relaxed: blocks handed out */
    pthread_mutex_t mu;                        /* the slow path, and others' visits */
    catmemi_sys_page *list[CATMEMI_SYS_NCLS];  /* pages per class; mu */
    catmemi_sys_seg *segs;                     /* mu */
    uint64_t rng;                              /* which free page a class gets next; mu */
    catmemi_sys_heap **owner;       /* the owner's catmemi_sys_tab (its identity); NULL: orphan
                                       (arena mutex) */
    struct catmemi_sys_heap *next;  /* the arena's heaps; arena mutex */
    struct catmemi_sys_heap *tnext; /* the owner's heaps; the owner */
    unsigned slot;
    /* Large blocks (large.h): under lmu, the counters read relaxed. */
    pthread_mutex_t lmu;
    catmemi_sys_large *large, *lfree; /* its blocks' records; its free records */
    uint64_t nlarge, nlarge_free;
    size_t large_bytes, large_mapped;
    /* Freed large blocks kept for the heap's next ones (large.h): malloc's pointers and sizes,
       here and not in the blocks, each entry sealed with the key (a forged entry would free or
       hand out any address; heaps are in guarded memory, the seal is the second line); under
       lmu, kept_bytes read relaxed. */
    void *kept[8];
    size_t kept_total[8];
    uintptr_t kept_seal[8];
    uint64_t kept_at[8]; /* when each was kept, ms (catmemi_sys_now): its decay */
    unsigned nkept;
    size_t kept_bytes;
};

/* The calling thread's heaps by slot modulo CATMEMI_TAB (backends/inline.h); an entry with no
   heap holds catmemi_sys_nobody (key 0, no pages). Written by its thread alone. The inline
   paths use a heap found here only while its key is the arena's handle. */
extern CATMEMI_TLS catmemi_sys_heap *catmemi_sys_tab[CATMEMI_TAB];
extern uintptr_t catmemi_sys_key;                              /* random, set once */
extern uint8_t catmemi_sys_cls_small[CATMEMI_SYS_FAST_MAX / 16 + 1]; /* (size+15)/16 -> class */
extern uint64_t catmemi_sys_map[CATMEMI_SYS_MAP_WORDS];        /* 1 bit per 1 MiB: a segment */
CATMEMI_API void *catmemi_sys_alloc_generic(const catmem_arena *a, size_t size, int opts);
CATMEMI_API void catmemi_sys_free_generic(void *p);
CATMEMI_API void catmemi_sys_free_checked(catmemi_sys_page *pg, catmemi_sys_blk *b);
CATMEMI_API void catmemi_sys_corrupt(const void *p, const char *what);

/* x is a carved block of pg: inside the carved span, at a multiple of the block size. The
   multiplication is exact for offsets below 2^16 and sizes of at least 16. */
static inline int catmemi_sys_in_page(const catmemi_sys_page *pg, uintptr_t x) {
    uintptr_t off = x - pg->start;
    return off < __atomic_load_n(&pg->span, __ATOMIC_RELAXED) &&
           (uint32_t)(((uint64_t)off * pg->recip) >> 32) * pg->bsize == off;
}


/* The segment of u if the bitmap says u lies in one, else NULL; its cookie is not checked. */
static inline catmemi_sys_seg *catmemi_sys_seg_raw(uintptr_t u) {
    size_t i = u >> (CATMEMI_SYS_SEG_SHIFT + 6);
    if (i >= CATMEMI_SYS_MAP_WORDS ||
        !((__atomic_load_n(&catmemi_sys_map[i], __ATOMIC_RELAXED) >>
           ((u >> CATMEMI_SYS_SEG_SHIFT) & 63)) & 1))
        return NULL;
    return (catmemi_sys_seg *)(u & ~(CATMEMI_SYS_SEG - 1));
}

/* A free-list link as stored, from the value it stands for, and back (the same function):
   mixed with the key and the block's address under CATMEM_SECURE, raw otherwise. */
static inline uintptr_t catmemi_sys_lx(uintptr_t v, const void *b) {
    return CATMEM_SECURE ? v ^ catmemi_sys_key ^ (uintptr_t)b : v;
}

static inline int catmemi_sys_cookie_ok(const catmemi_sys_seg *sg) {
    return sg->cookie == (catmemi_sys_key ^ (uintptr_t)sg);
}

static inline catmemi_sys_page *catmemi_sys_page_of(catmemi_sys_seg *sg, uintptr_t u) {
    return &sg->pages[(u >> CATMEMI_SYS_PAGE_SHIFT) & (CATMEMI_SYS_NPAGES - 1)];
}

/* Pops pg's free list (not empty), checking the link it follows: a block of this page. Any
   other value (one that would hand out the inside of a live block, say) stops the process. */
CATMEMI_INLINE void *catmemi_sys_pop(catmemi_sys_heap *h, catmemi_sys_page *pg) {
    catmemi_sys_blk *b = pg->free;
    uintptr_t next = catmemi_sys_lx(b->link, b);
    if (CATMEM_SECURE && CATMEMI_UNLIKELY(next != 0 && !catmemi_sys_in_page(pg, next)))
        catmemi_sys_corrupt(b, "free list");
    pg->free = (catmemi_sys_blk *)next;
    if (CATMEM_SECURE) b->link = 0; /* a stale link would make the double-free check scan */
    CATMEMI_OWNER_ADD(pg->used, 1);
    CATMEMI_OWNER_ADD(h->nalloc, 1);
    return b;
}

static inline void catmemi_sys_push_local(catmemi_sys_page *pg, catmemi_sys_blk *b) {
    b->link = catmemi_sys_lx((uintptr_t)pg->local_free, b);
    pg->local_free = b;
    /* release: whoever reads used sees the block on the list (see catmemi_sys_page_idle) */
    __atomic_store_n(&pg->used, __atomic_load_n(&pg->used, __ATOMIC_RELAXED) - 1,
                     __ATOMIC_RELEASE);
}

/* The entry of the calling thread's table where arena a's heap would be (never NULL), and
   whether its inline paths serve a. */
static inline catmemi_sys_heap *catmemi_sys_entry(const catmem_arena *a) {
    return catmemi_sys_tab[CATMEMI_TAB_OF((uintptr_t)a)];
}
static inline int catmemi_sys_serves(const catmemi_sys_heap *h, const catmem_arena *a) {
    return __atomic_load_n(&h->key, __ATOMIC_RELAXED) == (uintptr_t)a;
}

/* The inline allocation from h, a heap that serves a. */
CATMEMI_INLINE void *catmemi_sys_fast_alloc_in(catmemi_sys_heap *h, const catmem_arena *a,
                                               size_t size, int opts) {
    if (CATMEMI_SYS_ENGINE && CATMEMI_LIKELY(size <= CATMEMI_SYS_FAST_MAX && opts == 0)) {
        catmemi_sys_page *pg = h->pages[catmemi_sys_cls_small[(size + 15) >> 4]];
        if (CATMEMI_LIKELY(pg->free != NULL)) return catmemi_sys_pop(h, pg);
        if (pg->local_free != NULL) { /* the owner's frees become the free list */
            pg->free = pg->local_free;
            pg->local_free = NULL;
            return catmemi_sys_pop(h, pg);
        }
    }
    return catmemi_sys_alloc_generic(a, size, opts);
}

CATMEMI_INLINE void *catmemi_sys_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_sys_heap *h = catmemi_sys_entry(a);
    if (CATMEMI_LIKELY(catmemi_sys_serves(h, a)))
        return catmemi_sys_fast_alloc_in(h, a, size, opts);
    return catmemi_sys_alloc_generic(a, size, opts);
}

/* A free by pg's owner: onto the local list, unless the block's first word decodes to a link
   (the end of a list, or a block of this page), as every block on a free list has: maybe a
   double free, checked out of line. */
static inline void catmemi_sys_owner_free(catmemi_sys_page *pg, catmemi_sys_blk *b) {
    uintptr_t d = catmemi_sys_lx(b->link, b);
    if (CATMEM_SECURE &&
        CATMEMI_UNLIKELY(d == 0 || d - pg->start < __atomic_load_n(&pg->span, __ATOMIC_RELAXED)))
        catmemi_sys_free_checked(pg, b);
    else
        catmemi_sys_push_local(pg, b);
}

/* The owner's free: onto the page's local list. Anything else, and anything that does not look
   right, takes the generic path, which tells them apart. The heap's key says its inline paths
   are open (not so for an arena with a limit, whose frees the slow path uncharges). */
static inline void catmemi_sys_fast_free(const catmem_arena *a, void *p) {
    uintptr_t u = (uintptr_t)p;
    size_t i = u >> (CATMEMI_SYS_SEG_SHIFT + 6);
    (void)a;
    if (CATMEMI_SYS_ENGINE && CATMEMI_LIKELY(i < CATMEMI_SYS_MAP_WORDS &&
                                             ((__atomic_load_n(&catmemi_sys_map[i],
                                                               __ATOMIC_RELAXED) >>
                                               ((u >> CATMEMI_SYS_SEG_SHIFT) & 63)) & 1))) {
        catmemi_sys_seg *sg = (catmemi_sys_seg *)(u & ~(CATMEMI_SYS_SEG - 1));
        catmemi_sys_page *pg = catmemi_sys_page_of(sg, u);
        catmemi_sys_heap *h = __atomic_load_n(&pg->heap, __ATOMIC_RELAXED);
        /* An unused page has no heap and an empty span: in_page fails for it. */
        if (CATMEMI_LIKELY(catmemi_sys_cookie_ok(sg) &&
                           h == catmemi_sys_tab[CATMEMI_TAB_OF(sg->slot)] &&
                           __atomic_load_n(&h->key, __ATOMIC_RELAXED) != 0 &&
                           catmemi_sys_in_page(pg, u))) {
            catmemi_sys_owner_free(pg, (catmemi_sys_blk *)p);
            return;
        }
    }
    catmemi_sys_free_generic(p);
}

static inline void catmemi_sys_fast_free_sized(const catmem_arena *a, void *p, size_t size) {
    (void)size;
    catmemi_sys_fast_free(a, p);
}

/* The engine's data in each arena slot (catmemi_slot.sys, core/contract.h). */
#define CATMEMI_HAS_SYS 1
typedef struct catmemi_sys_slot {
    pthread_mutex_t mu;      /* the arena's heaps, orphans, segments moving between heaps */
    catmemi_sys_heap *heaps;
    int open;     /* catmem is up and the arena live: the generic path may serve it; atomic */
    int was_open; /* under catmemi_mu: open at the last publish */
    long decay;   /* ms a kept large block may wait unused (large.h); -1 never; atomic */
} catmemi_sys_slot;
