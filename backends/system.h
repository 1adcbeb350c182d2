/* catmem backend: the system malloc (CATMEM_BACKEND_SYSTEM). Included only by catmem.h; the
   three parts and the catmemi_be_* interface are described at the top of backends/jemalloc.h.

   malloc has no arenas, so catmem makes them: every block carries a header that links it into
   its arena's list, which is what lets catmem_arena_reset free everything at once and keeps
   per-arena statistics exact. The list and counters of an arena are guarded by its own mutex. */

#if defined(CATMEMI_PART_INLINE) && !defined(CATMEMI_RUNTIME)
/* Every call needs the arena's lock anyway: the slow path is the only path. */
static inline void *catmemi_be_alloc(const catmem_arena *a, size_t size, int opts) {
    return catmemi_alloc_slow(a, size, opts);
}
static inline void catmemi_be_free(const catmem_arena *a, void *p) { catmemi_free_slow(a, p, 0); }
static inline void catmemi_be_free_sized(const catmem_arena *a, void *p, size_t size) {
    catmemi_free_slow(a, p, size);
}
#endif /* CATMEMI_PART_INLINE */

#if defined(CATMEMI_PART_TYPES)
#  define CATMEMI_HAS_SYS 1
/* The header in front of every block: 32 bytes on 64-bit, a multiple of malloc's alignment. */
typedef struct catmemi_sys_blk {
    struct catmemi_sys_blk *prev, *next;
    size_t size;      /* bytes asked for */
    uint32_t offset;  /* from the start of malloc's block to this header (alignment padding) */
    uint16_t slot;    /* owning arena */
    uint8_t lg_align; /* log2 of the alignment asked for */
    uint8_t magic;    /* CATMEMI_SYS_MAGIC while the block is live */
} catmemi_sys_blk;

typedef struct catmemi_sys_slot {
    pthread_mutex_t mu;
    catmemi_sys_blk head; /* circular list of live blocks */
    size_t allocated, active;
    uint64_t nmalloc, ndalloc;
} catmemi_sys_slot;
#endif /* CATMEMI_PART_TYPES */

#if defined(CATMEMI_PART_IMPL)
#  include <malloc.h>
#  include <unistd.h>

/* The allocator under this backend: define all four to put catmem on another malloc (or, in
   catmem's fault-injection test, on one that fails when told to). */
#  ifndef CATMEM_SYSTEM_MALLOC
#    define CATMEM_SYSTEM_MALLOC  malloc
#    define CATMEM_SYSTEM_CALLOC  calloc
#    define CATMEM_SYSTEM_REALLOC realloc
#    define CATMEM_SYSTEM_FREE    free
#  endif

#  define CATMEMI_SYS_MAGIC 0xC7
/* malloc's guaranteed alignment: at least 2 * sizeof(void *) on every glibc/musl target. */
#  define CATMEMI_SYS_ALIGN (2 * sizeof(void *))
#  define CATMEMI_SYS_HDR                                                                          \
    ((sizeof(catmemi_sys_blk) + CATMEMI_SYS_ALIGN - 1) & ~(CATMEMI_SYS_ALIGN - 1))

static catmemi_sys_blk *catmemi_sys_hdr(const void *p) {
    return (catmemi_sys_blk *)(void *)((char *)(uintptr_t)p - CATMEMI_SYS_HDR);
}
/* Bytes taken from malloc for a block: header, payload, and room to align it. */
static size_t catmemi_sys_total(size_t size, unsigned lg_align) {
    size_t align = (size_t)1 << lg_align;
    return CATMEMI_SYS_HDR + size + (align > CATMEMI_SYS_ALIGN ? align : 0);
}
static catmemi_slot *catmemi_sys_owner(const catmemi_sys_blk *h) {
    return (h->magic == CATMEMI_SYS_MAGIC && h->slot < CATMEM_MAX_ARENAS) ? &catmemi_slots[h->slot]
                                                                          : NULL;
}

/* Links h into s's list and counts its bytes; counted: also one more allocation. */
static void catmemi_sys_link(catmemi_slot *s, catmemi_sys_blk *h, int counted) {
    catmemi_sys_slot *b = &s->sys;
    pthread_mutex_lock(&b->mu);
    h->prev = &b->head;
    h->next = b->head.next;
    h->next->prev = h;
    b->head.next = h;
    b->allocated += h->size;
    b->active += catmemi_sys_total(h->size, h->lg_align);
    b->nmalloc += (uint64_t)counted;
    pthread_mutex_unlock(&b->mu);
}

static void catmemi_sys_unlink(catmemi_slot *s, catmemi_sys_blk *h, int counted) {
    catmemi_sys_slot *b = &s->sys;
    pthread_mutex_lock(&b->mu);
    h->prev->next = h->next;
    h->next->prev = h->prev;
    b->allocated -= h->size;
    b->active -= catmemi_sys_total(h->size, h->lg_align);
    b->ndalloc += (uint64_t)counted;
    pthread_mutex_unlock(&b->mu);
}

static void *catmemi_sys_base(catmemi_sys_blk *h) { return (char *)h - h->offset; }

static int catmemi_sys_once(void) { return 0; }

static int catmemi_sys_arena_create(catmemi_slot *s) {
    int err = pthread_mutex_init(&s->sys.mu, NULL);
    s->sys.head.prev = s->sys.head.next = &s->sys.head;
    return err;
}

static int catmemi_sys_arena_id(const catmemi_slot *s) { return (int)s->handle.slot; }

static void *catmemi_sys_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    unsigned lg = (unsigned)(opts & CATMEMI_LG_ALIGN_MASK);
    size_t align = (size_t)1 << lg, total;
    char *base;
    uintptr_t user;
    catmemi_sys_blk *h;
    if (size > CATMEM_SIZE_MAX - catmemi_sys_total(0, lg)) return NULL; /* no malloc can */
    total = catmemi_sys_total(size, lg);
    base = (char *)((opts & CATMEMI_ZERO) ? CATMEM_SYSTEM_CALLOC(1, total)
                                          : CATMEM_SYSTEM_MALLOC(total));
    if (base == NULL) return NULL;
    user = (uintptr_t)base + CATMEMI_SYS_HDR;
    if (align > CATMEMI_SYS_ALIGN) user = (user + align - 1) & ~(uintptr_t)(align - 1);
    h = catmemi_sys_hdr((void *)user);
    h->size = size;
    h->offset = (uint32_t)((char *)h - base);
    h->slot = (uint16_t)s->handle.slot;
    h->lg_align = (uint8_t)lg;
    h->magic = CATMEMI_SYS_MAGIC;
    catmemi_sys_link(s, h, 1);
    return (void *)user;
}

/* The block's own header names its arena, so s (possibly NULL or wrong) is not needed. A pointer
   without catmem's header is left alone and reported rather than handed to free(). */
static void catmemi_sys_free_slow(catmemi_slot *s, void *p, size_t size) {
    catmemi_sys_blk *h = catmemi_sys_hdr(p);
    catmemi_slot *owner = catmemi_sys_owner(h);
    (void)s;
    (void)size;
    if (owner == NULL) {
        errno = EINVAL;
        return;
    }
    catmemi_sys_unlink(owner, h, 1);
    h->magic = 0;
    CATMEM_SYSTEM_FREE(catmemi_sys_base(h));
}

static void *catmemi_sys_realloc(catmemi_slot *s, void *p, size_t size) {
    catmemi_sys_blk *h = catmemi_sys_hdr(p), *nh;
    catmemi_slot *owner = catmemi_sys_owner(h);
    void *q;
    if (owner == NULL) return NULL;
    if (owner != s || h->offset != 0) {
        /* Moves to another arena, or sits behind alignment padding: new block and a copy. */
        q = catmemi_sys_alloc_slow(s, size, 0);
        if (q == NULL) return NULL;
        memcpy(q, p, h->size < size ? h->size : size);
        catmemi_sys_free_slow(owner, p, 0);
        return q;
    }
    /* Out of the list while realloc may move it; back in whether or not realloc succeeds. */
    if (size > CATMEM_SIZE_MAX - catmemi_sys_total(0, 0)) return NULL;
    catmemi_sys_unlink(s, h, 0);
    nh = (catmemi_sys_blk *)CATMEM_SYSTEM_REALLOC(h, catmemi_sys_total(size, 0));
    if (nh == NULL) {
        catmemi_sys_link(s, h, 0);
        return NULL;
    }
    nh->size = size;
    nh->lg_align = 0;
    catmemi_sys_link(s, nh, 0);
    return (char *)nh + CATMEMI_SYS_HDR;
}

static void catmemi_sys_drop_caches(catmemi_slot *s) { (void)s; } /* no caches */

static int catmemi_sys_reset(catmemi_slot *s) {
    catmemi_sys_slot *b = &s->sys;
    catmemi_sys_blk *h, *next;
    pthread_mutex_lock(&b->mu);
    for (h = b->head.next; h != &b->head; h = next) {
        next = h->next;
        h->magic = 0;
        CATMEM_SYSTEM_FREE(catmemi_sys_base(h));
        b->ndalloc++;
    }
    b->head.prev = b->head.next = &b->head;
    b->allocated = b->active = 0;
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* glibc can only trim the whole process's heap. */
static int catmemi_sys_purge(catmemi_slot *s) {
    (void)s;
#  if defined(__GLIBC__)
    malloc_trim(0);
#  endif
    return 0;
}

static void catmemi_sys_add(catmem_stats *out, catmemi_sys_slot *b) {
    pthread_mutex_lock(&b->mu);
    out->allocated += b->allocated;
    out->active += b->active;
    out->nmalloc += b->nmalloc;
    out->ndalloc += b->ndalloc;
    pthread_mutex_unlock(&b->mu);
}

static int catmemi_sys_stats(catmemi_slot *s, catmem_stats *out) {
    catmemi_sys_add(out, &s->sys);
    return 0;
}

static int catmemi_sys_total_stats(catmem_stats *out) {
    unsigned i;
    FILE *f;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) catmemi_sys_add(out, &catmemi_slots[i].sys);
    f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        unsigned long pages, rss;
        if (fscanf(f, "%lu %lu", &pages, &rss) == 2)
            out->resident = rss * (size_t)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
#  if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    {
        struct mallinfo2 mi = mallinfo2();
        out->mapped = mi.arena + mi.hblkhd;
    }
#  endif
    return 0;
}

static int catmemi_sys_owns(const catmemi_slot *s, const void *p) {
    return catmemi_sys_owner(catmemi_sys_hdr(p)) == s;
}

static int catmemi_sys_set_decay(catmemi_slot *s, long dirty_ms, long muzzy_ms) {
    (void)s;
    (void)dirty_ms;
    (void)muzzy_ms;
    return ENOTSUP; /* glibc has no per-arena decay */
}
static int catmemi_sys_prof_active(int on) {
    (void)on;
    return ENOTSUP;
}
static int catmemi_sys_prof_dump(const char *path) {
    (void)path;
    return ENOTSUP;
}

/* Arena locks are taken around fork() so that the child never inherits one held mid-update. */
static void catmemi_sys_atfork_prepare(void) {
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) pthread_mutex_lock(&catmemi_slots[i].sys.mu);
}
static void catmemi_sys_atfork_parent(void) {
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) pthread_mutex_unlock(&catmemi_slots[i].sys.mu);
}
static void catmemi_sys_atfork_child(void) {
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i])) pthread_mutex_init(&catmemi_slots[i].sys.mu, NULL);
}
static const catmemi_ops catmemi_sys_ops = {"system",
                                            catmemi_sys_once,
                                            catmemi_sys_arena_create,
                                            catmemi_sys_arena_id,
                                            catmemi_sys_alloc_slow,
                                            catmemi_sys_free_slow,
                                            catmemi_sys_realloc,
                                            catmemi_sys_drop_caches,
                                            catmemi_sys_reset,
                                            catmemi_sys_purge,
                                            catmemi_sys_stats,
                                            catmemi_sys_total_stats,
                                            catmemi_sys_owns,
                                            catmemi_sys_set_decay,
                                            catmemi_sys_prof_active,
                                            catmemi_sys_prof_dump,
                                            catmemi_sys_atfork_prepare,
                                            catmemi_sys_atfork_parent,
                                            catmemi_sys_atfork_child};

#  if !defined(CATMEMI_RUNTIME)
static const catmemi_ops *catmemi_select(char *info, size_t size) {
    snprintf(info, size, "system malloc (compiled in)");
    return &catmemi_sys_ops;
}
#  endif
#endif /* CATMEMI_PART_IMPL */
