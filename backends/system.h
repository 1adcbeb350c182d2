/* catmem backend: catmem's own small-object engine on the system malloc (CATMEM_BACKEND_SYSTEM).
   Included only by catmem.h; the three parts and the catmemi_be_* interface are described in
   the BACKEND CONTRACT comment next to catmemi_ops in catmem.h.

   malloc has no arenas, so catmem makes them, on memory taken from malloc in large pieces:
   - A SEGMENT is 1 MiB aligned to 1 MiB (malloc of 2 MiB, aligned inside; glibc maps it, and
     pages never touched cost no RSS). Its first 64 KiB hold only its header: a keyed cookie
     first, then the descriptors of its 15 PAGES of 64 KiB. Each page holds blocks of one size
     class (36 classes, 16 B to 16 KiB) and no per-block header. The owner of a pointer is found
     by masking it: segment, cookie check, page descriptor, all O(1). A process-wide bitmap says
     which 1 MiB units are segments, so that a foreign pointer is never dereferenced (16 MiB of
     zero-initialised data for the 47-bit address space; only the words touched are resident).
   - A HEAP belongs to one (thread, arena): a current page per class, an allocation counter,
     its segments (statistics count live blocks from the pages when asked). Allocation pops the current page's free list; a free by the owner pushes onto the
     page's local list; a free by any other thread pushes onto the page's atomic thread_free list
     (lock-free) and counts as freed at once. Thread exit makes the heap an orphan, adopted by
     the next thread that needs a heap in that arena.
   - Free-list links are stored as next ^ key ^ (address of the block), with a per-process
     random key, and checked when followed: a link must decode to a block of the same page. A
     corrupted link or segment header, a double free, a pointer inside a segment that is no
     block: the process stops with a message that names the arena.
   - Pages whose blocks were all freed (by anyone, the owner asleep or not) are taken back
     under the heap's mutex by purge, by any thread of the arena that needs a new segment, and
     by the owner itself; empty segments move to the heap that needs one or go back to malloc.
   - Blocks above 16 KiB (and every block under AddressSanitizer or CATMEM_VALGRIND, so that
     the checker sees each one) are LARGE: one malloc each, recorded in a side table (keyed by
     address, each record checked with the key) rather than in a header next to the block.
   Lock order: catmemi_mu, then an arena's mutex (catmemi_sys_slot.mu), then a heap's mutex
   (heap.mu), then the large-block table's mutex. The owner of a heap takes its heap's mutex
   only on its slow path and never holds it while taking an arena's mutex. */

#if defined(CATMEMI_PART_INLINE)
#  include <pthread.h>

#  define CATMEMI_SYS_SEG_SHIFT  20 /* segments of 1 MiB */
#  define CATMEMI_SYS_SEG        ((uintptr_t)1 << CATMEMI_SYS_SEG_SHIFT)
#  define CATMEMI_SYS_PAGE_SHIFT 16 /* pages of 64 KiB */
#  define CATMEMI_SYS_PAGE       ((uintptr_t)1 << CATMEMI_SYS_PAGE_SHIFT)
#  define CATMEMI_SYS_NPAGES     (1 << (CATMEMI_SYS_SEG_SHIFT - CATMEMI_SYS_PAGE_SHIFT))
#  define CATMEMI_SYS_NCLS       36    /* 16..128 by 16, then 4 per doubling up to 16 KiB */
#  define CATMEMI_SYS_SMALL_MAX  16384 /* above: large blocks */
#  define CATMEMI_SYS_FAST_MAX   CATMEMI_SYS_SMALL_MAX /* classified by table, inline */
/* The segment bitmap covers the 47-bit user address space of x86-64 and AArch64 Linux. */
#  define CATMEMI_SYS_ADDR_BITS 47
#  define CATMEMI_SYS_MAP_WORDS ((size_t)1 << (CATMEMI_SYS_ADDR_BITS - CATMEMI_SYS_SEG_SHIFT - 6))

/* Under a memory checker every block is a malloc of its own, which the checker watches, unless
   CATMEM_SYSTEM_ENGINE says otherwise (the fuzzer runs the engine under ASan that way). */
#  if defined(CATMEM_SYSTEM_ENGINE)
#    define CATMEMI_SYS_ENGINE CATMEM_SYSTEM_ENGINE
#  elif defined(CATMEMI_ASAN) || CATMEM_VALGRIND
#    define CATMEMI_SYS_ENGINE 0
#  else
#    define CATMEMI_SYS_ENGINE 1
#  endif

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
    catmemi_sys_page *pages[CATMEMI_SYS_NCLS]; /* current page per class, or the empty page */
    uint64_t nalloc;                           /* owner writes, relaxed: blocks handed out */
    pthread_mutex_t mu;                        /* the slow path, and others' visits */
    catmemi_sys_page *list[CATMEMI_SYS_NCLS];  /* pages per class; mu */
    catmemi_sys_seg *segs;                     /* mu */
    /* The owner's catmemi_sys_tls (its identity, and where count() closes its inline path);
       NULL: orphan (arena mutex) */
    catmemi_sys_heap **owner;
    struct catmemi_sys_heap *next; /* the arena's heaps; arena mutex */
    unsigned slot;
    /* Large blocks: under the table's mutex, read relaxed. */
    catmemi_sys_large *large;
    uint64_t nlarge, nlarge_free;
    size_t large_bytes, large_mapped;
};

/* Per slot: 1 while catmem is initialised and the arena is live (the generic path checks). */
extern int catmemi_sys_open[CATMEM_MAX_ARENAS];
/* The calling thread's heap per slot for the inline paths; NULL until its first allocation
   there, and for an arena whose bytes are counted (a limit: LIMITS in catmem.h), which the
   inline paths must not serve. The slow paths find the heap in catmemi_sys_mine. */
extern CATMEMI_TLS catmemi_sys_heap *catmemi_sys_tls[CATMEM_MAX_ARENAS];
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

/* A link may point anywhere inside the carved span, 16-aligned (the cheap check of a pop). */
static inline int catmemi_sys_link_ok(const catmemi_sys_page *pg, uintptr_t x) {
    uintptr_t off = x - pg->start;
    return off < __atomic_load_n(&pg->span, __ATOMIC_RELAXED) && (off & 15) == 0;
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

static inline int catmemi_sys_cookie_ok(const catmemi_sys_seg *sg) {
    return sg->cookie == (catmemi_sys_key ^ (uintptr_t)sg);
}

static inline catmemi_sys_page *catmemi_sys_page_of(catmemi_sys_seg *sg, uintptr_t u) {
    return &sg->pages[(u >> CATMEMI_SYS_PAGE_SHIFT) & (CATMEMI_SYS_NPAGES - 1)];
}

/* Pops pg's free list (not empty), checking the link it follows. */
CATMEMI_INLINE void *catmemi_sys_pop(catmemi_sys_heap *h, catmemi_sys_page *pg) {
    catmemi_sys_blk *b = pg->free;
    uintptr_t next = b->link ^ catmemi_sys_key ^ (uintptr_t)b;
    if (CATMEMI_UNLIKELY(next != 0 && !catmemi_sys_link_ok(pg, next)))
        catmemi_sys_corrupt(b, "free list");
    pg->free = (catmemi_sys_blk *)next;
    b->link = 0; /* a stale link would make the double-free check scan on its free */
    __atomic_store_n(&pg->used, __atomic_load_n(&pg->used, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&h->nalloc, __atomic_load_n(&h->nalloc, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
    return b;
}

static inline void catmemi_sys_push_local(catmemi_sys_page *pg, catmemi_sys_blk *b) {
    b->link = (uintptr_t)pg->local_free ^ catmemi_sys_key ^ (uintptr_t)b;
    pg->local_free = b;
    /* release: whoever reads used sees the block on the list (see catmemi_sys_page_idle) */
    __atomic_store_n(&pg->used, __atomic_load_n(&pg->used, __ATOMIC_RELAXED) - 1,
                     __ATOMIC_RELEASE);
}

CATMEMI_INLINE void *catmemi_sys_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_sys_heap *h = catmemi_sys_tls[a->slot];
    if (CATMEMI_SYS_ENGINE && CATMEMI_LIKELY(h != NULL && size <= CATMEMI_SYS_FAST_MAX &&
                                             opts == 0)) {
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

/* A free by pg's owner: onto the local list, unless the block's first word decodes to a link
   (the end of a list, or a block of this page), as every block on a free list has: maybe a
   double free, checked out of line. */
static inline void catmemi_sys_owner_free(catmemi_sys_page *pg, catmemi_sys_blk *b) {
    uintptr_t d = b->link ^ catmemi_sys_key ^ (uintptr_t)b;
    if (CATMEMI_UNLIKELY(d == 0 || d - pg->start < __atomic_load_n(&pg->span, __ATOMIC_RELAXED)))
        catmemi_sys_free_checked(pg, b);
    else
        catmemi_sys_push_local(pg, b);
}

/* The owner's free: onto the page's local list. Anything else, and anything that does not look
   right, takes the generic path, which tells them apart. */
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
        /* An unused page has no heap and an empty span: in_page fails for it. */
        if (CATMEMI_LIKELY(catmemi_sys_cookie_ok(sg) &&
                           __atomic_load_n(&pg->heap, __ATOMIC_RELAXED) ==
                               catmemi_sys_tls[sg->slot] &&
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
#  if !defined(CATMEMI_RUNTIME)
#    define catmemi_be_alloc      catmemi_sys_fast_alloc
#    define catmemi_be_free       catmemi_sys_fast_free
#    define catmemi_be_free_sized catmemi_sys_fast_free_sized
#  endif
#endif /* CATMEMI_PART_INLINE */

#if defined(CATMEMI_PART_TYPES)
#  define CATMEMI_HAS_SYS 1
typedef struct catmemi_sys_slot {
    pthread_mutex_t mu;      /* the arena's heaps, orphans, segments moving between heaps */
    catmemi_sys_heap *heaps;
    int was_open;            /* under catmemi_mu: open at the last publish */
} catmemi_sys_slot;
#endif /* CATMEMI_PART_TYPES */

#if defined(CATMEMI_PART_IMPL)
#  include <malloc.h>
#  include <sys/mman.h>
#  include <time.h>
/* madvise is not declared in strict ISO C modes (-std=c99 without _DEFAULT_SOURCE), which
   catmem supports; it exists in every Linux libc, with MADV_DONTNEED 4. */
#  if !defined(MADV_DONTNEED)
extern int madvise(void *addr, size_t len, int advice);
#    define MADV_DONTNEED 4
#  endif

/* The allocator under this backend: define all four to put catmem on another malloc (or, in
   catmem's fault-injection test, on one that fails when told to). */
#  ifndef CATMEM_SYSTEM_MALLOC
#    define CATMEM_SYSTEM_MALLOC  malloc
#    define CATMEM_SYSTEM_CALLOC  calloc
#    define CATMEM_SYSTEM_REALLOC realloc
#    define CATMEM_SYSTEM_FREE    free
#  endif

#  if defined(__GNUC__)
#    define CATMEMI_NORETURN __attribute__((noreturn))
#  else
#    define CATMEMI_NORETURN
#  endif

#  define CATMEMI_SYS_OS_PAGE 4096u
#  define CATMEMI_SYS_SCAN    8 /* pages of a class looked at before a new page is taken */

int catmemi_sys_open[CATMEM_MAX_ARENAS];
CATMEMI_TLS catmemi_sys_heap *catmemi_sys_tls[CATMEM_MAX_ARENAS];
/* The calling thread's heap per slot, counted arenas too; what the slow paths use. */
static CATMEMI_TLS catmemi_sys_heap *catmemi_sys_mine[CATMEM_MAX_ARENAS];
uintptr_t catmemi_sys_key;
uint8_t catmemi_sys_cls_small[CATMEMI_SYS_FAST_MAX / 16 + 1];
uint64_t catmemi_sys_map[CATMEMI_SYS_MAP_WORDS];
static uint32_t catmemi_sys_csize[CATMEMI_SYS_NCLS];
static pthread_key_t catmemi_sys_tkey;
/* The current page of every class of a heap that has none: its free list is always empty. */
static catmemi_sys_page catmemi_sys_empty;

/* The segment of u, its cookie checked (the process stops on a bad one); NULL if none. */
static catmemi_sys_seg *catmemi_sys_seg_of(uintptr_t u) {
    catmemi_sys_seg *sg = catmemi_sys_seg_raw(u);
    if (sg != NULL && !catmemi_sys_cookie_ok(sg)) catmemi_sys_corrupt(sg, "segment header");
    return sg;
}

/* ---- errors that stop the process ---------------------------------------------------------- */

static const char *catmemi_sys_arena_name(unsigned slot) {
    return slot < CATMEM_MAX_ARENAS ? catmemi_slots[slot].name : "?";
}

static void CATMEMI_NORETURN catmemi_sys_die(const char *what, const void *p, unsigned slot) {
    fprintf(stderr, "catmem: %s at %p in arena '%s'\n", what, p, catmemi_sys_arena_name(slot));
    abort();
}

/* Corrupted metadata: the segment (and so its arena) is named when its cookie is intact. */
CATMEMI_API void catmemi_sys_corrupt(const void *p, const char *what) {
    uintptr_t u = (uintptr_t)p;
    catmemi_sys_seg *sg = (catmemi_sys_seg *)(u & ~(CATMEMI_SYS_SEG - 1));
    char msg[96];
    unsigned slot = CATMEM_MAX_ARENAS;
    if (strcmp(what, "segment header") != 0 && sg->cookie == (catmemi_sys_key ^ (uintptr_t)sg))
        slot = sg->slot;
    snprintf(msg, sizeof msg, "corrupted %s", what);
    catmemi_sys_die(msg, p, slot);
}

/* ---- size classes and the key -------------------------------------------------------------- */

static unsigned catmemi_sys_cls(size_t n) { /* 1 <= n <= CATMEMI_SYS_SMALL_MAX */
    unsigned k = 0;
    if (n <= 128) return (unsigned)((n + 15) >> 4) - 1;
    while (((n - 1) >> k) > 1) k++; /* 2^k <= n-1 < 2^(k+1) */
    return 8 + (k - 7) * 4 + (unsigned)((n - 1) >> (k - 2)) - 4;
}

static void catmemi_sys_classes(void) {
    unsigned c, i;
    for (c = 0; c < 8; c++) catmemi_sys_csize[c] = 16 * (c + 1);
    for (c = 8; c < CATMEMI_SYS_NCLS; c++) {
        unsigned k = 7 + (c - 8) / 4; /* the doubling: (2^k, 2^(k+1)] */
        catmemi_sys_csize[c] = (1u << k) + ((c - 8) % 4 + 1) * (1u << (k - 2));
    }
    for (i = 1; i <= CATMEMI_SYS_FAST_MAX / 16; i++)
        catmemi_sys_cls_small[i] = (uint8_t)catmemi_sys_cls(i * 16);
    catmemi_sys_cls_small[0] = 0;
}

/* A per-process secret for the link encoding and cookies: from the kernel, else mixed. */
static void catmemi_sys_make_key(void) {
    uintptr_t k = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&k, sizeof k, 1, f) != 1) k = 0;
        fclose(f);
    }
    if (k == 0) /* no /dev/urandom: the time, the clock and where things were mapped */
        k = ((uintptr_t)time(NULL) << 20) ^ ((uintptr_t)clock() << 40) ^ (uintptr_t)&k ^
            (uintptr_t)&catmemi_sys_key ^ (uintptr_t)f;
    catmemi_sys_key = k | 1;
}

/* ---- segments ----------------------------------------------------------------------------- */

static void catmemi_sys_map_set(uintptr_t u, int on) {
    uint64_t bit = (uint64_t)1 << ((u >> CATMEMI_SYS_SEG_SHIFT) & 63);
    uint64_t *w = &catmemi_sys_map[u >> (CATMEMI_SYS_SEG_SHIFT + 6)];
    if (on)
        __atomic_fetch_or(w, bit, __ATOMIC_RELEASE);
    else
        __atomic_fetch_and(w, ~bit, __ATOMIC_RELEASE);
}

static catmemi_sys_seg *catmemi_sys_seg_new(catmemi_sys_heap *h) {
    char *base = (char *)CATMEM_SYSTEM_MALLOC(2 * CATMEMI_SYS_SEG);
    uintptr_t u;
    catmemi_sys_seg *sg;
    if (base == NULL) return NULL;
    u = ((uintptr_t)base + CATMEMI_SYS_SEG - 1) & ~(CATMEMI_SYS_SEG - 1);
    if ((u + CATMEMI_SYS_SEG - 1) >> CATMEMI_SYS_ADDR_BITS != 0) { /* beyond the bitmap */
        CATMEM_SYSTEM_FREE(base);
        return NULL;
    }
    sg = (catmemi_sys_seg *)u;
    memset(sg, 0, sizeof *sg);
    sg->cookie = catmemi_sys_key ^ u;
    sg->slot = h->slot;
    sg->heap = h;
    sg->base = base;
    catmemi_sys_map_set(u, 1);
    return sg;
}

/* Gives a segment back to malloc, its pages first to the OS (glibc may keep the chunk). */
static void catmemi_sys_seg_free(catmemi_sys_seg *sg, int purge) {
    void *base = sg->base;
    if (purge)
        (void)madvise((char *)sg + CATMEMI_SYS_PAGE, CATMEMI_SYS_SEG - CATMEMI_SYS_PAGE,
                      MADV_DONTNEED);
    catmemi_sys_map_set((uintptr_t)sg, 0);
    sg->cookie = 0;
    CATMEM_SYSTEM_FREE(base);
}

static void catmemi_sys_seg_link(catmemi_sys_heap *h, catmemi_sys_seg *sg) { /* heap mutex */
    sg->heap = h;
    sg->prev = NULL;
    sg->next = h->segs;
    if (sg->next != NULL) sg->next->prev = sg;
    h->segs = sg;
}

static void catmemi_sys_seg_unlink(catmemi_sys_heap *h, catmemi_sys_seg *sg) { /* heap mutex */
    if (sg->prev != NULL)
        sg->prev->next = sg->next;
    else
        h->segs = sg->next;
    if (sg->next != NULL) sg->next->prev = sg->prev;
    sg->prev = sg->next = NULL;
}

static catmemi_sys_seg *catmemi_sys_seg_of_page(catmemi_sys_page *pg) {
    return (catmemi_sys_seg *)((uintptr_t)pg & ~(CATMEMI_SYS_SEG - 1));
}

/* ---- pages -------------------------------------------------------------------------------- */

static void catmemi_sys_list_add(catmemi_sys_heap *h, catmemi_sys_page *pg) { /* heap mutex */
    pg->prev = NULL;
    pg->next = h->list[pg->cls];
    if (pg->next != NULL) pg->next->prev = pg;
    h->list[pg->cls] = pg;
}

static void catmemi_sys_list_del(catmemi_sys_heap *h, catmemi_sys_page *pg) { /* heap mutex */
    if (pg->prev != NULL)
        pg->prev->next = pg->next;
    else
        h->list[pg->cls] = pg->next;
    if (pg->next != NULL) pg->next->prev = pg->prev;
    pg->prev = pg->next = NULL;
}

/* Under the heap's mutex: page i of sg becomes a page of class c, with nothing carved yet. */
static catmemi_sys_page *catmemi_sys_page_init(catmemi_sys_heap *h, catmemi_sys_seg *sg, int i,
                                               unsigned c) {
    catmemi_sys_page *pg = &sg->pages[i];
    uint32_t touched = __atomic_load_n(&pg->touched, __ATOMIC_RELAXED);
    memset(pg, 0, sizeof *pg);
    __atomic_store_n(&pg->touched, touched, __ATOMIC_RELAXED);
    pg->start = (uintptr_t)sg + (uintptr_t)i * CATMEMI_SYS_PAGE;
    pg->bsize = catmemi_sys_csize[c];
    pg->recip = (uint32_t)((((uint64_t)1 << 32) + pg->bsize - 1) / pg->bsize);
    pg->reserved = (uint32_t)(CATMEMI_SYS_PAGE / pg->bsize);
    pg->cls = c;
    __atomic_store_n(&pg->heap, h, __ATOMIC_RELEASE);
    sg->npages++;
    catmemi_sys_list_add(h, pg);
    return pg;
}

/* Under the heap's mutex, for a page that is not current and holds no live block. */
static void catmemi_sys_page_retire(catmemi_sys_heap *h, catmemi_sys_page *pg) {
    catmemi_sys_list_del(h, pg);
    pg->free = pg->local_free = NULL;
    __atomic_store_n(&pg->thread_free, (catmemi_sys_blk *)NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->used, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->xfreed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->span, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->heap, (catmemi_sys_heap *)NULL, __ATOMIC_RELAXED);
    pg->bsize = 0;
    catmemi_sys_seg_of_page(pg)->npages--;
}

/* Every block of a page in use is free, wherever it is: the page can be taken back. Reads of
   used (release by the owner's frees) and xfreed (release by other threads' frees) in that
   order: when they agree, no block is live, so no one can free into the page any more. */
static int catmemi_sys_page_idle(catmemi_sys_page *pg) {
    uint32_t used = __atomic_load_n(&pg->used, __ATOMIC_ACQUIRE);
    return pg->bsize != 0 && used == __atomic_load_n(&pg->xfreed, __ATOMIC_ACQUIRE);
}

static int catmemi_sys_is_current(const catmemi_sys_heap *h, const catmemi_sys_page *pg) {
    return h->pages[pg->cls] == pg;
}

/* Carves more blocks from the untouched end of the page: about one OS page at a time, so that
   a page with few live blocks costs little RSS. Owner only. */
static int catmemi_sys_extend(catmemi_sys_page *pg) {
    uint32_t n = CATMEMI_SYS_OS_PAGE / pg->bsize, i, end, span;
    uintptr_t b;
    if (pg->capacity >= pg->reserved) return 0;
    if (n == 0) n = 1;
    if (n > pg->reserved - pg->capacity) n = pg->reserved - pg->capacity;
    end = pg->capacity + n;
    for (i = pg->capacity; i < end; i++) {
        b = pg->start + (uintptr_t)i * pg->bsize;
        ((catmemi_sys_blk *)b)->link =
            (i + 1 < end ? b + pg->bsize : (uintptr_t)pg->free) ^ catmemi_sys_key ^ b;
    }
    pg->free = (catmemi_sys_blk *)(pg->start + (uintptr_t)pg->capacity * pg->bsize);
    pg->capacity = end;
    span = end * pg->bsize;
    __atomic_store_n(&pg->span, span, __ATOMIC_RELEASE);
    span = (span + CATMEMI_SYS_OS_PAGE - 1) & ~(CATMEMI_SYS_OS_PAGE - 1);
    if (span > __atomic_load_n(&pg->touched, __ATOMIC_RELAXED))
        __atomic_store_n(&pg->touched, span, __ATOMIC_RELAXED);
    return 1;
}

/* Takes what other threads freed into pg onto its free list (empty). Owner only. */
static int catmemi_sys_collect(catmemi_sys_page *pg) {
    catmemi_sys_blk *b =
        __atomic_exchange_n(&pg->thread_free, (catmemi_sys_blk *)NULL, __ATOMIC_ACQUIRE);
    catmemi_sys_blk *x = b;
    uint32_t n = 0;
    if (b == NULL) return 0;
    for (;;) {
        uintptr_t next = x->link ^ catmemi_sys_key ^ (uintptr_t)x;
        if (++n > pg->reserved || (next != 0 && !catmemi_sys_in_page(pg, next)))
            catmemi_sys_corrupt(x, "thread free list");
        if (next == 0) break;
        x = (catmemi_sys_blk *)next;
    }
    pg->free = b;
    __atomic_store_n(&pg->used, __atomic_load_n(&pg->used, __ATOMIC_RELAXED) - n,
                     __ATOMIC_RELEASE);
    __atomic_fetch_sub(&pg->xfreed, n, __ATOMIC_RELEASE);
    return 1;
}

/* Gives pg (its free list empty) blocks again: the owner's frees, other threads' frees, or
   fresh ones. 0 when the page is full. Owner only. */
static int catmemi_sys_refill(catmemi_sys_page *pg) {
    if (pg->free != NULL) return 1;
    if (pg->local_free != NULL) {
        pg->free = pg->local_free;
        pg->local_free = NULL;
        return 1;
    }
    return catmemi_sys_collect(pg) || catmemi_sys_extend(pg);
}

/* Under every heap's mutex it visits (the arena's mutex held): takes back the idle pages of
   h that are not current (all of an orphan's), madvises them on a purge, and detaches the
   segments left empty. Returns the empty segments, linked by next. */
static catmemi_sys_seg *catmemi_sys_heap_trim(catmemi_sys_heap *h, int purge) {
    catmemi_sys_seg *sg, *next, *empty = NULL;
    /* A purge by the heap's own thread may take its current pages too: its fast path is not
       running meanwhile. */
    int own = purge && catmemi_sys_mine[h->slot] == h;
    int i;
    for (sg = h->segs; sg != NULL; sg = next) {
        next = sg->next;
        for (i = 1; i < CATMEMI_SYS_NPAGES; i++) {
            catmemi_sys_page *pg = &sg->pages[i];
            if (catmemi_sys_page_idle(pg) && (own || !catmemi_sys_is_current(h, pg))) {
                if (catmemi_sys_is_current(h, pg)) h->pages[pg->cls] = &catmemi_sys_empty;
                catmemi_sys_page_retire(h, pg);
            }
            if (purge && pg->bsize == 0 && sg->npages != 0 &&
                __atomic_load_n(&pg->touched, __ATOMIC_RELAXED) != 0) {
                (void)madvise((void *)((uintptr_t)sg + (uintptr_t)i * CATMEMI_SYS_PAGE),
                              CATMEMI_SYS_PAGE, MADV_DONTNEED);
                __atomic_store_n(&pg->touched, 0, __ATOMIC_RELAXED);
            }
        }
        if (sg->npages == 0) {
            catmemi_sys_seg_unlink(h, sg);
            sg->next = empty;
            empty = sg;
        }
    }
    return empty;
}

/* A segment for h from the arena: the idle pages of every heap are taken back first, and an
   empty segment is handed over. The rest of the empty segments go back to malloc only on a
   purge; here they stay with their heaps. Called without h's mutex. */
static catmemi_sys_seg *catmemi_sys_reclaim(catmemi_sys_heap *h) {
    catmemi_sys_slot *ss = &catmemi_slots[h->slot].sys;
    catmemi_sys_heap *o;
    catmemi_sys_seg *got = NULL;
    pthread_mutex_lock(&ss->mu);
    for (o = ss->heaps; o != NULL; o = o->next) {
        catmemi_sys_seg *empty, *next;
        pthread_mutex_lock(&o->mu);
        for (empty = catmemi_sys_heap_trim(o, 0); empty != NULL; empty = next) {
            next = empty->next;
            if (got == NULL) {
                got = empty;
                got->next = NULL;
            } else {
                catmemi_sys_seg_link(o, empty); /* stays where it was */
            }
        }
        pthread_mutex_unlock(&o->mu);
    }
    pthread_mutex_unlock(&ss->mu);
    return got;
}

static catmemi_sys_page *catmemi_sys_page_free_slot(catmemi_sys_heap *h, unsigned c) {
    catmemi_sys_seg *sg;
    int i;
    for (sg = h->segs; sg != NULL; sg = sg->next)
        if (sg->npages < CATMEMI_SYS_NPAGES - 1)
            for (i = 1; i < CATMEMI_SYS_NPAGES; i++)
                if (sg->pages[i].bsize == 0) return catmemi_sys_page_init(h, sg, i, c);
    return NULL;
}

/* Under h's mutex (dropped and taken again around getting a segment): a new page of class c. */
static catmemi_sys_page *catmemi_sys_page_new(catmemi_sys_heap *h, unsigned c) {
    catmemi_sys_page *pg = catmemi_sys_page_free_slot(h, c);
    catmemi_sys_seg *sg;
    if (pg != NULL) return pg;
    pthread_mutex_unlock(&h->mu);
    sg = catmemi_sys_reclaim(h);
    pthread_mutex_lock(&h->mu);
    if (sg != NULL) catmemi_sys_seg_link(h, sg);
    if ((pg = catmemi_sys_page_free_slot(h, c)) != NULL) return pg;
    pthread_mutex_unlock(&h->mu);
    sg = catmemi_sys_seg_new(h);
    pthread_mutex_lock(&h->mu);
    if (sg == NULL) return NULL;
    catmemi_sys_seg_link(h, sg);
    return catmemi_sys_page_init(h, sg, 1, c);
}

/* The owner's slow path for class c: another page of the class with free blocks (a few are
   looked at; full ones go to the back), or a new page. */
static catmemi_sys_page *catmemi_sys_page_find(catmemi_sys_heap *h, unsigned c) {
    catmemi_sys_page *pg, *next, *found = NULL, *cur = h->pages[c];
    int k;
    pthread_mutex_lock(&h->mu);
    for (pg = h->list[c], k = 0; pg != NULL && k < CATMEMI_SYS_SCAN && found == NULL; k++) {
        next = pg->next;
        if (pg != cur && catmemi_sys_refill(pg))
            found = pg;
        else if (next != NULL) { /* to the back of the list */
            catmemi_sys_page *tail = next;
            while (tail->next != NULL) tail = tail->next;
            catmemi_sys_list_del(h, pg);
            pg->prev = tail;
            tail->next = pg;
        }
        pg = next;
    }
    if (found == NULL) found = catmemi_sys_page_new(h, c);
    if (found != NULL) {
        catmemi_sys_list_del(h, found); /* to the front */
        catmemi_sys_list_add(h, found);
        found = catmemi_sys_refill(found) ? found : NULL;
        if (found != NULL) h->pages[c] = found;
    }
    pthread_mutex_unlock(&h->mu);
    return found;
}

static void *catmemi_sys_small_alloc(catmemi_sys_heap *h, unsigned c) {
    catmemi_sys_page *pg = h->pages[c];
    if (pg == &catmemi_sys_empty || !catmemi_sys_refill(pg)) {
        pg = catmemi_sys_page_find(h, c);
        if (pg == NULL) return NULL;
    }
    return catmemi_sys_pop(h, pg);
}

/* ---- large blocks: a malloc each, recorded in a side table --------------------------------- */

/* Nothing of it sits next to the block; the check word ties it to its block and the key. */
struct catmemi_sys_large {
    uintptr_t check; /* catmemi_sys_key ^ p ^ size ^ heap */
    void *p, *base;
    size_t size;     /* usable bytes */
    size_t mapped;   /* bytes taken from malloc */
    catmemi_sys_heap *heap;
    catmemi_sys_large *hnext;      /* hash chain */
    catmemi_sys_large *prev, *next; /* the heap's large blocks */
};

static pthread_mutex_t catmemi_sys_large_mu = PTHREAD_MUTEX_INITIALIZER;
static catmemi_sys_large *catmemi_sys_buckets0[256];
static catmemi_sys_large **catmemi_sys_buckets = catmemi_sys_buckets0;
static size_t catmemi_sys_nbuckets = 256, catmemi_sys_nlarge;

static uintptr_t catmemi_sys_large_sum(const catmemi_sys_large *r) {
    return catmemi_sys_key ^ (uintptr_t)r->p ^ r->size ^ (uintptr_t)r->heap;
}
static size_t catmemi_sys_hash(const void *p, size_t n) {
    return (size_t)((((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull) >> 20) & (n - 1);
}

static void catmemi_sys_large_put(catmemi_sys_large *r) { /* table mutex */
    size_t i = catmemi_sys_hash(r->p, catmemi_sys_nbuckets);
    r->check = catmemi_sys_large_sum(r);
    r->hnext = catmemi_sys_buckets[i];
    catmemi_sys_buckets[i] = r;
    catmemi_sys_nlarge++;
}

/* Removes and returns p's record; NULL when p is no large block. Table mutex. */
static catmemi_sys_large *catmemi_sys_large_take(const void *p) {
    catmemi_sys_large **r = &catmemi_sys_buckets[catmemi_sys_hash(p, catmemi_sys_nbuckets)], *x;
    for (; (x = *r) != NULL; r = &x->hnext)
        if (x->p == p) {
            if (x->check != catmemi_sys_large_sum(x)) catmemi_sys_corrupt(x, "large block record");
            *r = x->hnext;
            catmemi_sys_nlarge--;
            return x;
        }
    return NULL;
}

/* Table mutex. A bigger table when chains grow; when it cannot be had, longer chains. */
static void catmemi_sys_large_grow(void) {
    size_t n = catmemi_sys_nbuckets * 4, i;
    catmemi_sys_large **b, *r, *next;
    if (catmemi_sys_nlarge < catmemi_sys_nbuckets * 2) return;
    b = (catmemi_sys_large **)CATMEM_SYSTEM_CALLOC(n, sizeof *b);
    if (b == NULL) return;
    for (i = 0; i < catmemi_sys_nbuckets; i++)
        for (r = catmemi_sys_buckets[i]; r != NULL; r = next) {
            size_t j = catmemi_sys_hash(r->p, n);
            next = r->hnext;
            r->hnext = b[j];
            b[j] = r;
        }
    if (catmemi_sys_buckets != catmemi_sys_buckets0) CATMEM_SYSTEM_FREE(catmemi_sys_buckets);
    catmemi_sys_buckets = b;
    catmemi_sys_nbuckets = n;
}

static void catmemi_sys_add_z(size_t *c, size_t d) {
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}
static void catmemi_sys_add_n(uint64_t *c, uint64_t d) {
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

/* Table mutex: r joins or leaves its heap's list and counters. */
static void catmemi_sys_large_link(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    r->prev = NULL;
    r->next = h->large;
    if (r->next != NULL) r->next->prev = r;
    h->large = r;
    catmemi_sys_add_z(&h->large_bytes, r->size);
    catmemi_sys_add_z(&h->large_mapped, r->mapped);
}
static void catmemi_sys_large_unlink(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        h->large = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    catmemi_sys_add_z(&h->large_bytes, (size_t)0 - r->size);
    catmemi_sys_add_z(&h->large_mapped, (size_t)0 - r->mapped);
}

/* Usable bytes of a large block of size bytes: 16-byte granules, or exactly size when a
   checker watches every block (so that it sees an overflow by one byte). */
static size_t catmemi_sys_large_usable(size_t size) {
    return CATMEMI_SYS_ENGINE ? (size + 15) & ~(size_t)15 : size;
}

static void *catmemi_sys_large_alloc(catmemi_sys_heap *h, size_t size, unsigned lg, int zero) {
    size_t align = (size_t)1 << lg, usable = catmemi_sys_large_usable(size), total;
    catmemi_sys_large *r;
    char *base;
    if (size > CATMEM_SIZE_MAX - 2 * align - 16) return NULL; /* no malloc can serve it */
    total = usable + (align > 16 ? align : 0);
    base = (char *)(zero ? CATMEM_SYSTEM_CALLOC(1, total) : CATMEM_SYSTEM_MALLOC(total));
    if (base == NULL) return NULL;
    r = (catmemi_sys_large *)CATMEM_SYSTEM_MALLOC(sizeof *r);
    if (r == NULL) {
        CATMEM_SYSTEM_FREE(base);
        return NULL;
    }
    r->base = base;
    r->p = align > 16 ? (void *)(((uintptr_t)base + align - 1) & ~(uintptr_t)(align - 1)) : base;
    r->size = usable;
    r->mapped = total;
    r->heap = h;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    catmemi_sys_large_put(r);
    catmemi_sys_large_link(r);
    catmemi_sys_add_n(&h->nlarge, 1);
    catmemi_sys_large_grow();
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    return r->p;
}

/* Frees p if it is a large block: 1; 0 when it is not one (anymore). */
static int catmemi_sys_large_free(void *p) {
    catmemi_sys_large *r;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    r = catmemi_sys_large_take(p);
    if (r != NULL) {
        catmemi_sys_large_unlink(r);
        catmemi_sys_add_n(&r->heap->nlarge_free, 1);
    }
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    if (r == NULL) return 0;
    if (catmemi_counted(&catmemi_slots[r->heap->slot]))
        catmemi_uncharge(&catmemi_slots[r->heap->slot], r->size);
    CATMEM_SYSTEM_FREE(r->base);
    CATMEM_SYSTEM_FREE(r);
    return 1;
}

/* Looks p up without changing anything: its usable size and arena, or 0. */
static size_t catmemi_sys_large_info(const void *p, unsigned *slot) {
    catmemi_sys_large *r;
    size_t n = 0;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    r = catmemi_sys_large_take(p);
    if (r != NULL) {
        n = r->size;
        *slot = r->heap->slot;
        catmemi_sys_large_put(r);
    }
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    return n;
}

/* ---- allocation and free ------------------------------------------------------------------- */

static size_t catmemi_sys_pow2(size_t n) {
    size_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

/* The size a small block of size bytes with these options is served from, or anything above
   CATMEMI_SYS_SMALL_MAX for a large block. A power-of-two class is aligned to its size: pages
   start 64 KiB-aligned. */
static size_t catmemi_sys_small_size(size_t size, int opts) {
    unsigned lg = (unsigned)(opts & CATMEMI_LG_ALIGN_MASK);
    if (lg > 4 && size <= CATMEMI_SYS_SMALL_MAX)
        return catmemi_sys_pow2(size > ((size_t)1 << lg) ? size : (size_t)1 << lg);
    return CATMEMI_SYS_ENGINE ? size : CATMEMI_SYS_SMALL_MAX + 1;
}

/* Every allocation of the slow paths. A counted arena's block is charged first, at the size
   statistics count (its class, or a large block's usable size). */
static void *catmemi_sys_heap_alloc(catmemi_sys_heap *h, size_t size, int opts) {
    catmemi_slot *s = &catmemi_slots[h->slot];
    size_t n = catmemi_sys_small_size(size, opts), charge = 0, total = 0;
    int counted = catmemi_counted(s);
    void *p;
    if (n <= CATMEMI_SYS_SMALL_MAX) {
        unsigned c = catmemi_sys_cls_small[(n + 15) >> 4];
        if (counted && (total = catmemi_charge(s, charge = catmemi_sys_csize[c])) == 0)
            return NULL;
        p = catmemi_sys_small_alloc(h, c);
        if (p != NULL && (opts & CATMEMI_ZERO)) memset(p, 0, size);
    } else {
        if (counted && (total = catmemi_charge(s, charge = catmemi_sys_large_usable(size))) == 0)
            return NULL;
        p = catmemi_sys_large_alloc(h, size, (unsigned)(opts & CATMEMI_LG_ALIGN_MASK),
                                    opts & CATMEMI_ZERO);
    }
    if (charge != 0) {
        if (p != NULL)
            catmemi_peak(s, total);
        else
            catmemi_uncharge(s, charge);
    }
    return p;
}

/* h, the calling thread's heap for s: the inline paths get it unless s is counted. A slot that
   was counted and is not any more (released, then reused) opens again here. */
static void catmemi_sys_open_inline(catmemi_slot *s, catmemi_sys_heap *h) {
    if (!catmemi_counted(s) && catmemi_sys_tls[s->handle.slot] == NULL)
        catmemi_sys_tls[s->handle.slot] = h;
}

/* Everything the inline path does not serve, while the calling thread has a heap there (a
   counted arena's heap too, which the inline path does not see). */
CATMEMI_API void *catmemi_sys_alloc_generic(const catmem_arena *a, size_t size, int opts) {
    catmemi_sys_heap *h = catmemi_sys_mine[a->slot];
    void *p;
    if (h == NULL || !__atomic_load_n(&catmemi_sys_open[a->slot], __ATOMIC_RELAXED))
        return catmemi_alloc_slow(a, size, opts);
    catmemi_sys_open_inline(&catmemi_slots[a->slot], h);
    p = catmemi_sys_heap_alloc(h, size, opts);
    /* A failure goes through the core's slow path: its errno, and the out-of-memory handler. */
    return p != NULL ? p : catmemi_alloc_slow(a, size, opts);
}

/* The owner's free of a block whose first word looked like a link of its page: a double free
   when the block is on a free list of the page. The owner's lists are scanned (we are the
   owner), and the head of thread_free; otherwise it was the user's data, and the free goes on. */
CATMEMI_API void catmemi_sys_free_checked(catmemi_sys_page *pg, catmemi_sys_blk *b) {
    catmemi_sys_blk *lists[2], *x;
    unsigned slot = catmemi_sys_seg_of_page(pg)->slot;
    uint32_t n;
    int k;
    lists[0] = pg->free;
    lists[1] = pg->local_free;
    for (k = 0; k < 2; k++)
        for (x = lists[k], n = 0; x != NULL; n++) {
            uintptr_t next = x->link ^ catmemi_sys_key ^ (uintptr_t)x;
            if (x == b) catmemi_sys_die("double free", b, slot);
            if (n > pg->reserved || (next != 0 && !catmemi_sys_link_ok(pg, next)))
                catmemi_sys_corrupt(x, "free list");
            x = (catmemi_sys_blk *)next;
        }
    if (__atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED) == b)
        catmemi_sys_die("double free", b, slot);
    catmemi_sys_push_local(pg, b);
}

/* A block of another heap (another thread's, or an orphan's): onto its page's thread_free,
   lock-free, counted as freed at once. */
static void catmemi_sys_remote_free(catmemi_sys_page *pg, catmemi_sys_blk *b) {
    catmemi_sys_blk *old = __atomic_load_n(&pg->thread_free, __ATOMIC_RELAXED);
    if (old == b) catmemi_sys_die("double free", b, catmemi_sys_seg_of_page(pg)->slot);
    do {
        b->link = (uintptr_t)old ^ catmemi_sys_key ^ (uintptr_t)b;
    } while (!__atomic_compare_exchange_n(&pg->thread_free, &old, b, 1, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    __atomic_fetch_add(&pg->xfreed, 1, __ATOMIC_RELEASE);
}

/* The page of p, which must be a block of a segment; stops the process otherwise. */
static catmemi_sys_page *catmemi_sys_block_page(catmemi_sys_seg *sg, const void *p) {
    catmemi_sys_page *pg = catmemi_sys_page_of(sg, (uintptr_t)p);
    if (!catmemi_sys_in_page(pg, (uintptr_t)p))
        catmemi_sys_die("free of a pointer that is no block (double free?)", p, sg->slot);
    return pg;
}

/* Any free: a block of a segment (own or remote), a large block, or a pointer that is neither
   (refused with EINVAL, as the block has no owner to name). */
CATMEMI_API void catmemi_sys_free_generic(void *p) {
    uintptr_t u = (uintptr_t)p;
    catmemi_sys_seg *sg = catmemi_sys_seg_of(u);
    if (sg != NULL) {
        catmemi_sys_page *pg = catmemi_sys_block_page(sg, p);
        catmemi_sys_heap *h = catmemi_sys_mine[sg->slot];
        catmemi_slot *s = &catmemi_slots[sg->slot];
        if (catmemi_counted(s)) catmemi_uncharge(s, pg->bsize);
        if (h != NULL && __atomic_load_n(&pg->heap, __ATOMIC_RELAXED) == h)
            catmemi_sys_owner_free(pg, (catmemi_sys_blk *)p);
        else
            catmemi_sys_remote_free(pg, (catmemi_sys_blk *)p);
        return;
    }
    if (!catmemi_sys_large_free(p)) errno = EINVAL;
}

/* ---- heaps and threads --------------------------------------------------------------------- */

static void catmemi_sys_heap_close(catmemi_sys_heap *h) { /* heap mutex */
    int c;
    for (c = 0; c < CATMEMI_SYS_NCLS; c++) h->pages[c] = &catmemi_sys_empty;
}

/* Under the arena's mutex: the heap has no thread any more; its pages are all non-current,
   so purge and other threads' need for segments take back what gets freed into it. */
static void catmemi_sys_orphan(catmemi_sys_heap *h) {
    pthread_mutex_lock(&h->mu);
    catmemi_sys_heap_close(h);
    h->owner = NULL;
    pthread_mutex_unlock(&h->mu);
}

static catmemi_sys_heap *catmemi_sys_heap_new(unsigned slot) {
    catmemi_sys_heap *h = (catmemi_sys_heap *)CATMEM_SYSTEM_CALLOC(1, sizeof *h);
    if (h == NULL) return NULL;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        CATMEM_SYSTEM_FREE(h);
        return NULL;
    }
    catmemi_sys_heap_close(h);
    h->slot = slot;
    return h;
}

/* The calling thread's heap for s: an orphan adopted, or a new one. NULL: out of memory. The
   inline paths get it too unless s is counted. */
static catmemi_sys_heap *catmemi_sys_heap_for(catmemi_slot *s) {
    catmemi_sys_heap *h = catmemi_sys_mine[s->handle.slot];
    if (h != NULL) {
        catmemi_sys_open_inline(s, h);
        return h;
    }
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL && h->owner != NULL; h = h->next) {}
    if (h == NULL && (h = catmemi_sys_heap_new(s->handle.slot)) != NULL) {
        h->next = s->sys.heaps;
        s->sys.heaps = h;
    }
    if (h != NULL) {
        pthread_mutex_lock(&h->mu);
        h->owner = catmemi_sys_tls;
        pthread_mutex_unlock(&h->mu);
        catmemi_sys_mine[s->handle.slot] = h;
        catmemi_sys_open_inline(s, h);
        pthread_setspecific(catmemi_sys_tkey, catmemi_sys_tls); /* orphaned at thread exit */
    }
    pthread_mutex_unlock(&s->sys.mu);
    return h;
}

/* Runs on the exiting thread, whose thread-locals are still there. */
static void catmemi_sys_thread_exit(void *arg) {
    unsigned i;
    (void)arg;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        if (catmemi_sys_mine[i] == NULL) continue;
        pthread_mutex_lock(&catmemi_slots[i].sys.mu);
        catmemi_sys_orphan(catmemi_sys_mine[i]);
        pthread_mutex_unlock(&catmemi_slots[i].sys.mu);
        catmemi_sys_mine[i] = catmemi_sys_tls[i] = NULL;
    }
}

/* ---- the operations ------------------------------------------------------------------------ */

static int catmemi_sys_once(void) {
    catmemi_sys_classes();
    catmemi_sys_make_key();
    return pthread_key_create(&catmemi_sys_tkey, catmemi_sys_thread_exit);
}

static int catmemi_sys_arena_create(catmemi_slot *s) {
    s->sys.heaps = NULL;
    return pthread_mutex_init(&s->sys.mu, NULL);
}

static int catmemi_sys_arena_id(const catmemi_slot *s) { return (int)s->handle.slot; }

static void *catmemi_sys_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    catmemi_sys_heap *h = catmemi_sys_heap_for(s);
    return h != NULL ? catmemi_sys_heap_alloc(h, size, opts) : NULL;
}

static void catmemi_sys_free_slow(catmemi_slot *s, void *p, size_t size) {
    (void)s;
    (void)size;
    catmemi_sys_free_generic(p);
}

/* Usable size and arena of p; 0 when p is not catmem's. */
static size_t catmemi_sys_info(const void *p, unsigned *slot) {
    catmemi_sys_seg *sg = catmemi_sys_seg_of((uintptr_t)p);
    if (sg != NULL) {
        catmemi_sys_page *pg = catmemi_sys_page_of(sg, (uintptr_t)p);
        if (!catmemi_sys_in_page(pg, (uintptr_t)p)) return 0;
        *slot = sg->slot;
        return pg->bsize;
    }
    return catmemi_sys_large_info(p, slot);
}

static size_t catmemi_sys_usable_size(const void *p) {
    unsigned slot;
    return catmemi_sys_info(p, &slot);
}

static void *catmemi_sys_move(catmemi_sys_heap *h, void *p, size_t old, size_t size) {
    void *q = catmemi_sys_heap_alloc(h, size, 0);
    if (q == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    catmemi_sys_free_generic(p);
    return q;
}

/* A large block of this arena, not aligned beyond malloc's: realloc'ed where it is, its record
   out of the table meanwhile. NULL: failed, the block as it was. */
static void *catmemi_sys_large_realloc(catmemi_sys_large *r, size_t size) {
    catmemi_slot *s = &catmemi_slots[r->heap->slot];
    size_t usable = catmemi_sys_large_usable(size), old = r->size;
    int counted = catmemi_counted(s);
    void *q = NULL;
    /* A counted arena is charged the growth first, and settles after. */
    if (!counted || usable <= old || catmemi_charge(s, usable - old)) {
        q = CATMEM_SYSTEM_REALLOC(r->base, usable);
        if (counted) catmemi_recharge(s, usable > old ? usable : old, q != NULL ? usable : old);
    }
    pthread_mutex_lock(&catmemi_sys_large_mu);
    if (q != NULL && q != r->base) { /* moved: counted as an allocation and a free */
        catmemi_sys_add_n(&r->heap->nlarge, 1);
        catmemi_sys_add_n(&r->heap->nlarge_free, 1);
    }
    if (q != NULL) {
        catmemi_sys_large_unlink(r);
        r->p = r->base = q;
        r->size = r->mapped = usable;
        catmemi_sys_large_link(r);
    }
    catmemi_sys_large_put(r);
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    return q;
}

static void *catmemi_sys_realloc(catmemi_slot *s, void *p, size_t size) {
    catmemi_sys_heap *h = catmemi_sys_heap_for(s);
    catmemi_sys_large *r;
    unsigned slot = 0;
    size_t old;
    if (h == NULL) return NULL;
    if (catmemi_sys_seg_of((uintptr_t)p) != NULL) {
        old = catmemi_sys_info(p, &slot);
        if (old == 0) catmemi_sys_die("realloc of a pointer that is no block", p, slot);
        if (slot == s->handle.slot && size <= old && size > old / 2) return p;
        return catmemi_sys_move(h, p, old, size);
    }
    pthread_mutex_lock(&catmemi_sys_large_mu);
    r = catmemi_sys_large_take(p);
    if (r != NULL && r->heap->slot == s->handle.slot && r->base == r->p &&
        (!CATMEMI_SYS_ENGINE || size > CATMEMI_SYS_SMALL_MAX)) {
        pthread_mutex_unlock(&catmemi_sys_large_mu);
        return catmemi_sys_large_realloc(r, size);
    }
    if (r != NULL) catmemi_sys_large_put(r);
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    if (r == NULL) return NULL; /* not catmem's */
    return catmemi_sys_move(h, p, r->size, size);
}

static void catmemi_sys_drop_caches(catmemi_slot *s) { (void)s; } /* no caches */

/* Table mutex: every large block of h, unlinked and counted as freed; freed by the caller. */
static catmemi_sys_large *catmemi_sys_large_drop(catmemi_sys_heap *h) {
    catmemi_sys_large *r, *all = h->large;
    for (r = all; r != NULL; r = r->next) {
        catmemi_sys_large *t = catmemi_sys_large_take(r->p);
        (void)t;
        catmemi_sys_add_n(&h->nlarge_free, 1);
    }
    h->large = NULL;
    __atomic_store_n(&h->large_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->large_mapped, 0, __ATOMIC_RELAXED);
    return all;
}

/* Under catmemi_mu, with nobody else using the arena (THREADS in catmem.h): every segment and
   large block goes back to malloc; counters say every live block was freed. */
static void catmemi_sys_heap_reset(catmemi_sys_heap *h) {
    catmemi_sys_seg *sg, *next;
    catmemi_sys_large *r, *rnext;
    int c;
    pthread_mutex_lock(&h->mu);
    for (c = 0; c < CATMEMI_SYS_NCLS; c++) {
        h->pages[c] = &catmemi_sys_empty;
        h->list[c] = NULL;
    }
    for (sg = h->segs; sg != NULL; sg = next) {
        next = sg->next;
        catmemi_sys_seg_free(sg, 0);
    }
    h->segs = NULL;
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_lock(&catmemi_sys_large_mu);
    r = catmemi_sys_large_drop(h);
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    for (; r != NULL; r = rnext) {
        rnext = r->next;
        CATMEM_SYSTEM_FREE(r->base);
        CATMEM_SYSTEM_FREE(r);
    }
}

/* A release also zeroes the counters, and the next arena in the slot starts uncounted (each
   thread's inline path opens again at its next slow path, catmemi_sys_heap_for). */
static int catmemi_sys_reset(catmemi_slot *s, int release) {
    catmemi_sys_heap *h;
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL; h = h->next) {
        catmemi_sys_heap_reset(h);
        if (release) {
            __atomic_store_n(&h->nalloc, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&h->nlarge, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&h->nlarge_free, 0, __ATOMIC_RELAXED);
        }
    }
    if (release) __atomic_store_n(&s->counted, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->sys.mu);
    return 0;
}

static void catmemi_sys_add(catmem_stats *out, catmemi_sys_slot *ss);

/* Under catmemi_mu. The first limit (nobody else using s): every thread's inline path stops
   serving s (its allocations and frees take the slow paths, which charge them), and the charge
   starts at what s holds now. Exact from then on: nothing more to do for a later limit. */
static int catmemi_sys_set_limit(catmemi_slot *s, size_t bytes) {
    catmemi_sys_heap *h;
    catmem_stats st;
    if (bytes == 0 || catmemi_counted(s)) return 0;
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL; h = h->next) {
        pthread_mutex_lock(&h->mu);
        if (h->owner != NULL) __atomic_store_n(&h->owner[s->handle.slot], NULL, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_unlock(&s->sys.mu);
    memset(&st, 0, sizeof st);
    catmemi_sys_add(&st, &s->sys);
    __atomic_store_n(&s->charged, st.allocated, __ATOMIC_RELAXED);
    if (st.allocated > s->peak) __atomic_store_n(&s->peak, st.allocated, __ATOMIC_RELAXED);
    __atomic_store_n(&s->counted, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Any time, any thread: idle pages of every heap of the arena to the OS, empty segments back to
   malloc, and glibc's free memory trimmed (large blocks were glibc's). */
static int catmemi_sys_purge(catmemi_slot *s) {
    catmemi_sys_heap *h;
    catmemi_sys_seg *empty = NULL, *e, *next;
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL; h = h->next) {
        pthread_mutex_lock(&h->mu);
        for (e = catmemi_sys_heap_trim(h, 1); e != NULL; e = next) {
            next = e->next;
            e->next = empty;
            empty = e;
        }
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_unlock(&s->sys.mu);
    for (; empty != NULL; empty = next) {
        next = empty->next;
        catmemi_sys_seg_free(empty, 1);
    }
#  if defined(__GLIBC__)
    malloc_trim(0);
#  endif
    return 0;
}

/* One heap's figures, under its mutex: live blocks are counted from the pages, then the
   allocations read, so that frees (allocations less live blocks) never come out negative. */
static void catmemi_sys_heap_stats(catmemi_sys_heap *h, catmem_stats *out) {
    catmemi_sys_seg *sg;
    uint64_t live = 0, nalloc;
    int i;
    pthread_mutex_lock(&h->mu);
    for (sg = h->segs; sg != NULL; sg = sg->next) {
        out->mapped += CATMEMI_SYS_SEG;
        out->active += (size_t)sg->npages * CATMEMI_SYS_PAGE;
        out->resident += CATMEMI_SYS_OS_PAGE; /* the header */
        for (i = 1; i < CATMEMI_SYS_NPAGES; i++) {
            catmemi_sys_page *pg = &sg->pages[i];
            uint32_t x = __atomic_load_n(&pg->xfreed, __ATOMIC_ACQUIRE);
            uint32_t u = __atomic_load_n(&pg->used, __ATOMIC_ACQUIRE);
            out->resident += __atomic_load_n(&pg->touched, __ATOMIC_RELAXED);
            if (pg->bsize == 0 || u <= x) continue;
            live += u - x;
            out->allocated += (size_t)(u - x) * pg->bsize;
        }
    }
    pthread_mutex_unlock(&h->mu);
    nalloc = __atomic_load_n(&h->nalloc, __ATOMIC_RELAXED);
    out->nmalloc += nalloc;
    out->ndalloc += nalloc > live ? nalloc - live : 0;
    out->nmalloc += __atomic_load_n(&h->nlarge, __ATOMIC_RELAXED);
    out->ndalloc += __atomic_load_n(&h->nlarge_free, __ATOMIC_RELAXED);
    out->allocated += __atomic_load_n(&h->large_bytes, __ATOMIC_RELAXED);
    out->active += __atomic_load_n(&h->large_mapped, __ATOMIC_RELAXED);
    out->resident += __atomic_load_n(&h->large_bytes, __ATOMIC_RELAXED);
    out->mapped += __atomic_load_n(&h->large_mapped, __ATOMIC_RELAXED);
}

static void catmemi_sys_add(catmem_stats *out, catmemi_sys_slot *ss) {
    catmemi_sys_heap *h;
    pthread_mutex_lock(&ss->mu);
    for (h = ss->heaps; h != NULL; h = h->next) catmemi_sys_heap_stats(h, out);
    pthread_mutex_unlock(&ss->mu);
}

static int catmemi_sys_stats(catmemi_slot *s, catmem_stats *out) {
    catmemi_sys_add(out, &s->sys);
    return 0;
}

static int catmemi_sys_total_stats(catmem_stats *out) {
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) catmemi_sys_add(out, &catmemi_slots[i].sys);
    return 0;
}

static int catmemi_sys_owns(const catmemi_slot *s, const void *p) {
    unsigned slot = CATMEM_MAX_ARENAS;
    return catmemi_sys_info(p, &slot) != 0 && slot == s->handle.slot;
}

static void catmemi_sys_free_any(void *p) { catmemi_sys_free_generic(p); }

static int catmemi_sys_set_decay(catmemi_slot *s, long dirty_ms, long muzzy_ms) {
    (void)s;
    (void)dirty_ms;
    (void)muzzy_ms;
    return ENOTSUP; /* no decay: catmem_arena_purge gives pages back when asked */
}
static int catmemi_sys_prof_active(int on) {
    (void)on;
    return ENOTSUP;
}
static int catmemi_sys_prof_dump(const char *path) {
    (void)path;
    return ENOTSUP;
}

/* Under catmemi_mu: which arenas the generic path may serve. An arena that closes (shutdown,
   release) also loses every heap's current pages, so the inline path stops serving it. */
static void catmemi_sys_publish(void) {
    unsigned i;
    int up = catmemi_is_up();
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        catmemi_slot *s = &catmemi_slots[i];
        int open = up && catmemi_slot_live(s);
        __atomic_store_n(&catmemi_sys_open[i], open, __ATOMIC_RELAXED);
        if (s->sys.was_open && !open) {
            catmemi_sys_heap *h;
            pthread_mutex_lock(&s->sys.mu);
            for (h = s->sys.heaps; h != NULL; h = h->next) {
                pthread_mutex_lock(&h->mu);
                catmemi_sys_heap_close(h);
                pthread_mutex_unlock(&h->mu);
            }
            pthread_mutex_unlock(&s->sys.mu);
        }
        s->sys.was_open = open;
    }
}

/* Every mutex of the backend is taken around fork(), in the lock order, so that the child never
   inherits one held mid-update. */
static void catmemi_sys_atfork_prepare(void) {
    unsigned i;
    catmemi_sys_heap *h;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) {
            pthread_mutex_lock(&catmemi_slots[i].sys.mu);
            for (h = catmemi_slots[i].sys.heaps; h != NULL; h = h->next)
                pthread_mutex_lock(&h->mu);
        }
    pthread_mutex_lock(&catmemi_sys_large_mu);
}
static void catmemi_sys_atfork_parent(void) {
    unsigned i;
    catmemi_sys_heap *h;
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) {
            for (h = catmemi_slots[i].sys.heaps; h != NULL; h = h->next)
                pthread_mutex_unlock(&h->mu);
            pthread_mutex_unlock(&catmemi_slots[i].sys.mu);
        }
}
/* In the child only the forking thread runs: the other threads' heaps become orphans. */
static void catmemi_sys_atfork_child(void) {
    unsigned i;
    pthread_mutex_init(&catmemi_sys_large_mu, NULL);
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        catmemi_sys_heap *h;
        if (!catmemi_created(&catmemi_slots[i])) continue;
        pthread_mutex_init(&catmemi_slots[i].sys.mu, NULL);
        for (h = catmemi_slots[i].sys.heaps; h != NULL; h = h->next) {
            pthread_mutex_init(&h->mu, NULL);
            if (h->owner != NULL && h->owner != catmemi_sys_tls) catmemi_sys_orphan(h);
        }
    }
}

/* The table the core calls through (CATMEMI_OPS_TABLE in catmem.h). */
CATMEMI_OPS_TABLE(sys, "system")

#  if !defined(CATMEMI_RUNTIME)
static const catmemi_ops *catmemi_select(char *info, size_t size) {
    snprintf(info, size, "system malloc (compiled in)");
    return catmemi_sys_table();
}
#  endif
#endif /* CATMEMI_PART_IMPL */
