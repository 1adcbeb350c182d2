/* catmem backend: the system malloc (CATMEM_BACKEND_SYSTEM). Included only by catmem.h; the
   three parts and the catmemi_be_* interface are described at the top of backends/jemalloc.h.

   malloc has no arenas, so catmem makes them. Every block carries a header that links it into a
   list, which is what lets catmem_arena_reset free everything at once and keeps per-arena
   statistics exact. To keep locks off the fast path, each thread has a heap of its own per arena
   (its list and counters, touched only by that thread):
   - a thread frees its own blocks directly; a block of another thread's heap is pushed onto that
     heap's lock-free "remote" stack, and the owner frees it at its next call;
   - when a thread exits, its heaps become orphans: their pending remote frees are done, the
     remote stack is closed, and from then on the heap belongs to whoever holds the arena's
     mutex (frees into it lock that mutex); the next thread to need a heap in that arena adopts
     an orphan before it makes a new one, so heaps never outnumber the threads that were alive
     at once;
   - reset, release and statistics walk all heaps of an arena under the arena's mutex (reset
     and release under the THREADS rule of catmem.h: nobody else uses the arena meanwhile).
   Statistics count a block freed by another thread as allocated until its owner's next call. */

#if defined(CATMEMI_PART_INLINE) && !defined(CATMEMI_RUNTIME)
typedef struct catmemi_sys_heap catmemi_sys_heap;
#  define CATMEMI_SYS_HEAP_DECLARED 1
/* Per slot: 1 while catmem is initialised and the arena is live. The fast path's only check. */
extern int catmemi_sys_open[CATMEM_MAX_ARENAS];
/* The calling thread's heap per slot; NULL until its first allocation there. */
extern CATMEMI_TLS catmemi_sys_heap *catmemi_sys_tls[CATMEM_MAX_ARENAS];
CATMEM_API void *catmemi_sys_heap_alloc(catmemi_sys_heap *h, size_t size, int opts);
CATMEM_API void catmemi_sys_free(void *p);

static inline void *catmemi_sys_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_sys_heap *h = catmemi_sys_tls[a->slot];
    void *p;
    if (CATMEMI_LIKELY(h != NULL &&
                       __atomic_load_n(&catmemi_sys_open[a->slot], __ATOMIC_RELAXED)) &&
        CATMEMI_LIKELY((p = catmemi_sys_heap_alloc(h, size, opts)) != NULL))
        return p;
    return catmemi_alloc_slow(a, size, opts);
}
/* The block's header names its heap and arena: the handle is not needed to free it. */
static inline void catmemi_sys_fast_free(const catmem_arena *a, void *p) {
    (void)a;
    catmemi_sys_free(p);
}
static inline void catmemi_sys_fast_free_sized(const catmem_arena *a, void *p, size_t size) {
    (void)a;
    (void)size;
    catmemi_sys_free(p);
}
#  define catmemi_be_alloc      catmemi_sys_fast_alloc
#  define catmemi_be_free       catmemi_sys_fast_free
#  define catmemi_be_free_sized catmemi_sys_fast_free_sized
#endif /* CATMEMI_PART_INLINE */

#if defined(CATMEMI_PART_TYPES)
#  define CATMEMI_HAS_SYS 1
#  if !defined(CATMEMI_SYS_HEAP_DECLARED)
typedef struct catmemi_sys_heap catmemi_sys_heap;
#  endif

/* The header in front of every block: 48 bytes on 64-bit, a multiple of malloc's alignment. */
typedef struct catmemi_sys_blk {
    struct catmemi_sys_blk *prev, *next; /* in its heap's list */
    catmemi_sys_heap *heap;              /* the heap it belongs to */
    struct catmemi_sys_blk *remote_next; /* in that heap's remote stack, once freed elsewhere */
    size_t size;                         /* bytes asked for */
    uint32_t offset;                     /* from malloc's block to this header (alignment) */
    uint16_t slot;                       /* owning arena */
    uint8_t lg_align;                    /* log2 of the alignment asked for */
    uint8_t magic;                       /* CATMEMI_SYS_MAGIC while the block is live */
} catmemi_sys_blk;

struct catmemi_sys_heap {
    catmemi_sys_blk head;     /* circular list of its live blocks */
    catmemi_sys_blk *remote;  /* atomic: blocks freed by other threads, or CLOSED (orphan) */
    catmemi_sys_heap **owner; /* the owner's catmemi_sys_tls; NULL: orphan (under the mutex) */
    size_t allocated;         /* one writer at a time; read with relaxed atomics */
    size_t padding;           /* room reserved to align blocks beyond malloc's alignment */
    uint64_t nmalloc, ndalloc;
    struct catmemi_sys_heap *next; /* the arena's heaps, under its mutex */
    unsigned slot;                 /* the arena */
};

typedef struct catmemi_sys_slot {
    pthread_mutex_t mu;
    catmemi_sys_heap *heaps;
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
/* The remote stack of an orphan: pushes fail and free under the arena's mutex instead. */
#  define CATMEMI_SYS_CLOSED ((catmemi_sys_blk *)(uintptr_t)1)

int catmemi_sys_open[CATMEM_MAX_ARENAS];
CATMEMI_TLS catmemi_sys_heap *catmemi_sys_tls[CATMEM_MAX_ARENAS];
static pthread_key_t catmemi_sys_key;

static catmemi_sys_blk *catmemi_sys_hdr(const void *p) {
    return (catmemi_sys_blk *)(void *)((char *)(uintptr_t)p - CATMEMI_SYS_HDR);
}
/* Bytes taken from malloc for a block: header, payload, and room to align it. */
static size_t catmemi_sys_total(size_t size, unsigned lg_align) {
    size_t align = (size_t)1 << lg_align;
    return CATMEMI_SYS_HDR + size + (align > CATMEMI_SYS_ALIGN ? align : 0);
}
static void *catmemi_sys_base(catmemi_sys_blk *h) { return (char *)h - h->offset; }
static catmemi_sys_slot *catmemi_sys_slot_of(const catmemi_sys_blk *h) {
    return &catmemi_slots[h->slot].sys;
}

/* Counters: one writer at a time (the owner, or the mutex holder for an orphan), readers
   anywhere; relaxed atomics keep both honest without a lock. */
static void catmemi_sys_add_size(size_t *c, size_t d) {
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}
static void catmemi_sys_add_count(uint64_t *c, uint64_t d) { /* release: see catmemi_sys_add */
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + d, __ATOMIC_RELEASE);
}

/* Link and unlink are on every allocation and free: inline, and the bytes taken from malloc
   ("active") are not counted here but derived in the statistics from what is (see
   catmemi_sys_add). */
static inline void catmemi_sys_link(catmemi_sys_heap *hp, catmemi_sys_blk *h) {
    h->heap = hp;
    h->prev = &hp->head;
    h->next = hp->head.next;
    h->next->prev = h;
    hp->head.next = h;
    catmemi_sys_add_size(&hp->allocated, h->size);
    if (CATMEMI_UNLIKELY(h->lg_align != 0))
        catmemi_sys_add_size(&hp->padding, catmemi_sys_total(0, h->lg_align) - CATMEMI_SYS_HDR);
}

static inline void catmemi_sys_unlink(catmemi_sys_heap *hp, catmemi_sys_blk *h) {
    h->prev->next = h->next;
    h->next->prev = h->prev;
    catmemi_sys_add_size(&hp->allocated, (size_t)0 - h->size);
    if (CATMEMI_UNLIKELY(h->lg_align != 0))
        catmemi_sys_add_size(&hp->padding,
                             (size_t)0 - (catmemi_sys_total(0, h->lg_align) - CATMEMI_SYS_HDR));
}

/* Unlinks and frees one block of hp (by its owner, or under the mutex for an orphan). */
static inline void catmemi_sys_release_blk(catmemi_sys_heap *hp, catmemi_sys_blk *h) {
    catmemi_sys_unlink(hp, h);
    catmemi_sys_add_count(&hp->ndalloc, 1);
    h->magic = 0;
    CATMEM_SYSTEM_FREE(catmemi_sys_base(h));
}

/* Frees what other threads freed into hp; returns the remote stack as it was. */
static void catmemi_sys_drain(catmemi_sys_heap *hp, catmemi_sys_blk *replacement) {
    catmemi_sys_blk *h = __atomic_exchange_n(&hp->remote, replacement, __ATOMIC_ACQUIRE), *next;
    for (; h != NULL && h != CATMEMI_SYS_CLOSED; h = next) {
        next = h->remote_next;
        catmemi_sys_release_blk(hp, h);
    }
}

static void catmemi_sys_orphan(catmemi_sys_heap *hp) { /* under the arena's mutex */
    catmemi_sys_drain(hp, CATMEMI_SYS_CLOSED);
    hp->owner = NULL;
}

/* The calling thread's heap for s: an orphan adopted, or a new one. NULL: out of memory. */
static catmemi_sys_heap *catmemi_sys_heap_for(catmemi_slot *s) {
    catmemi_sys_heap *hp = catmemi_sys_tls[s->handle.slot];
    if (hp != NULL) return hp;
    pthread_mutex_lock(&s->sys.mu);
    for (hp = s->sys.heaps; hp != NULL && hp->owner != NULL; hp = hp->next) {}
    if (hp == NULL) {
        hp = (catmemi_sys_heap *)CATMEM_SYSTEM_CALLOC(1, sizeof *hp);
        if (hp != NULL) {
            hp->head.prev = hp->head.next = &hp->head;
            hp->slot = s->handle.slot;
            hp->next = s->sys.heaps;
            s->sys.heaps = hp;
        }
    }
    if (hp != NULL) {
        __atomic_store_n(&hp->remote, (catmemi_sys_blk *)NULL, __ATOMIC_RELEASE);
        hp->owner = catmemi_sys_tls;
        catmemi_sys_tls[s->handle.slot] = hp;
        pthread_setspecific(catmemi_sys_key, catmemi_sys_tls); /* orphaned at thread exit */
    }
    pthread_mutex_unlock(&s->sys.mu);
    return hp;
}

static void catmemi_sys_thread_exit(void *arg) {
    catmemi_sys_heap **tls = (catmemi_sys_heap **)arg;
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        if (tls[i] == NULL) continue;
        pthread_mutex_lock(&catmemi_slots[i].sys.mu);
        catmemi_sys_orphan(tls[i]);
        pthread_mutex_unlock(&catmemi_slots[i].sys.mu);
        tls[i] = NULL;
    }
}

CATMEM_API void *catmemi_sys_heap_alloc(catmemi_sys_heap *hp, size_t size, int opts) {
    unsigned lg = (unsigned)(opts & CATMEMI_LG_ALIGN_MASK);
    size_t align = (size_t)1 << lg, total;
    catmemi_sys_blk *h;
    char *base;
    uintptr_t user;
    if (__atomic_load_n(&hp->remote, __ATOMIC_RELAXED) != NULL) catmemi_sys_drain(hp, NULL);
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
    h->slot = (uint16_t)hp->slot;
    h->lg_align = (uint8_t)lg;
    h->magic = CATMEMI_SYS_MAGIC;
    catmemi_sys_link(hp, h);
    catmemi_sys_add_count(&hp->nmalloc, 1);
    return (void *)user;
}

/* A block without catmem's header (a foreign or already freed pointer, as far as can be seen) is
   left alone and reported rather than handed to free(). */
CATMEM_API void catmemi_sys_free(void *p) {
    catmemi_sys_blk *h = catmemi_sys_hdr(p), *old;
    catmemi_sys_heap *hp;
    catmemi_sys_slot *ss;
    if (h->magic != CATMEMI_SYS_MAGIC || h->slot >= CATMEM_MAX_ARENAS) {
        errno = EINVAL;
        return;
    }
    hp = h->heap;
    if (hp == catmemi_sys_tls[h->slot]) { /* our own block */
        catmemi_sys_release_blk(hp, h);
        if (__atomic_load_n(&hp->remote, __ATOMIC_RELAXED) != NULL) catmemi_sys_drain(hp, NULL);
        return;
    }
    old = __atomic_load_n(&hp->remote, __ATOMIC_RELAXED);
    while (old != CATMEMI_SYS_CLOSED) { /* another thread's: onto its remote stack */
        h->remote_next = old;
        if (__atomic_compare_exchange_n(&hp->remote, &old, h, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return;
    }
    /* An orphan's: it belongs to whoever holds the arena's mutex. It may have been adopted
       since we looked, and then takes remote frees again. */
    ss = catmemi_sys_slot_of(h);
    pthread_mutex_lock(&ss->mu);
    if (hp->owner == NULL) {
        catmemi_sys_release_blk(hp, h);
        pthread_mutex_unlock(&ss->mu);
        return;
    }
    pthread_mutex_unlock(&ss->mu);
    catmemi_sys_free(p); /* adopted: push it to the new owner */
}

static int catmemi_sys_once(void) {
    return pthread_key_create(&catmemi_sys_key, catmemi_sys_thread_exit);
}

static int catmemi_sys_arena_create(catmemi_slot *s) {
    s->sys.heaps = NULL;
    return pthread_mutex_init(&s->sys.mu, NULL);
}

static int catmemi_sys_arena_id(const catmemi_slot *s) { return (int)s->handle.slot; }

static void *catmemi_sys_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    catmemi_sys_heap *hp = catmemi_sys_heap_for(s);
    return hp != NULL ? catmemi_sys_heap_alloc(hp, size, opts) : NULL;
}

static void catmemi_sys_free_slow(catmemi_slot *s, void *p, size_t size) {
    (void)s;
    (void)size;
    catmemi_sys_free(p);
}

static void *catmemi_sys_realloc(catmemi_slot *s, void *p, size_t size) {
    catmemi_sys_blk *h = catmemi_sys_hdr(p), *nh;
    catmemi_sys_heap *hp = catmemi_sys_heap_for(s);
    void *q;
    if (hp == NULL || h->magic != CATMEMI_SYS_MAGIC) return NULL;
    if (h->heap != hp || h->offset != 0) {
        /* Another heap or arena, or behind alignment padding: a new block and a copy. */
        q = catmemi_sys_heap_alloc(hp, size, 0);
        if (q == NULL) return NULL;
        memcpy(q, p, h->size < size ? h->size : size);
        catmemi_sys_free(p);
        return q;
    }
    if (size > CATMEM_SIZE_MAX - catmemi_sys_total(0, 0)) return NULL;
    /* Out of the list while realloc may move it; back in whether or not realloc succeeds. */
    catmemi_sys_unlink(hp, h);
    nh = (catmemi_sys_blk *)CATMEM_SYSTEM_REALLOC(h, catmemi_sys_total(size, 0));
    if (nh == NULL) {
        catmemi_sys_link(hp, h);
        return NULL;
    }
    nh->size = size;
    nh->lg_align = 0;
    catmemi_sys_link(hp, nh);
    return (char *)nh + CATMEMI_SYS_HDR;
}

static void catmemi_sys_drop_caches(catmemi_slot *s) { (void)s; } /* no caches */

/* Under catmemi_mu, with nobody else using the arena (THREADS in catmem.h). */
static int catmemi_sys_reset(catmemi_slot *s) {
    catmemi_sys_heap *hp;
    pthread_mutex_lock(&s->sys.mu);
    for (hp = s->sys.heaps; hp != NULL; hp = hp->next) {
        catmemi_sys_blk *h, *next;
        catmemi_sys_drain(hp, hp->owner != NULL ? NULL : CATMEMI_SYS_CLOSED);
        for (h = hp->head.next; h != &hp->head; h = next) {
            next = h->next;
            h->magic = 0;
            CATMEM_SYSTEM_FREE(catmemi_sys_base(h));
            catmemi_sys_add_count(&hp->ndalloc, 1);
        }
        hp->head.prev = hp->head.next = &hp->head;
        __atomic_store_n(&hp->allocated, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&hp->padding, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->sys.mu);
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

static void catmemi_sys_add(catmem_stats *out, catmemi_sys_slot *ss) {
    catmemi_sys_heap *hp;
    pthread_mutex_lock(&ss->mu);
    for (hp = ss->heaps; hp != NULL; hp = hp->next) {
        /* Frees before allocations: a free counted now was counted as an allocation before,
           so nmalloc - ndalloc, the live blocks, cannot come out negative. */
        uint64_t ndalloc = __atomic_load_n(&hp->ndalloc, __ATOMIC_ACQUIRE);
        uint64_t nmalloc = __atomic_load_n(&hp->nmalloc, __ATOMIC_ACQUIRE);
        size_t allocated = __atomic_load_n(&hp->allocated, __ATOMIC_RELAXED);
        /* Bytes taken from malloc: payloads, a header per live block, alignment room. */
        out->allocated += allocated;
        out->active += allocated + (size_t)(nmalloc - ndalloc) * CATMEMI_SYS_HDR +
                       __atomic_load_n(&hp->padding, __ATOMIC_RELAXED);
        out->nmalloc += nmalloc;
        out->ndalloc += ndalloc;
    }
    pthread_mutex_unlock(&ss->mu);
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
    const catmemi_sys_blk *h = catmemi_sys_hdr(p);
    return h->magic == CATMEMI_SYS_MAGIC && h->slot == s->handle.slot;
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

/* Under catmemi_mu: which arenas the inline fast path may serve. */
static void catmemi_sys_publish(void) {
    unsigned i;
    int up = catmemi_is_up();
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        __atomic_store_n(&catmemi_sys_open[i], up && catmemi_slot_live(&catmemi_slots[i]),
                         __ATOMIC_RELAXED);
}

/* Arena mutexes are taken around fork() so that the child never inherits one held mid-update. */
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
/* In the child only the forking thread runs: the other threads' heaps become orphans. */
static void catmemi_sys_atfork_child(void) {
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        catmemi_sys_heap *hp;
        if (!catmemi_created(&catmemi_slots[i])) continue;
        pthread_mutex_init(&catmemi_slots[i].sys.mu, NULL);
        for (hp = catmemi_slots[i].sys.heaps; hp != NULL; hp = hp->next)
            if (hp->owner != NULL && hp->owner != catmemi_sys_tls) catmemi_sys_orphan(hp);
    }
}

/* The table the core calls through, filled by name (C++, which compiles this file too, has no
   designated initializers before C++20). */
static catmemi_ops catmemi_sys_ops;
static const catmemi_ops *catmemi_sys_table(void) {
    catmemi_ops *o = &catmemi_sys_ops;
    o->name = "system";
    o->once = catmemi_sys_once;
    o->arena_create = catmemi_sys_arena_create;
    o->arena_id = catmemi_sys_arena_id;
    o->alloc_slow = catmemi_sys_alloc_slow;
    o->free_slow = catmemi_sys_free_slow;
    o->realloc = catmemi_sys_realloc;
    o->drop_caches = catmemi_sys_drop_caches;
    o->reset = catmemi_sys_reset;
    o->purge = catmemi_sys_purge;
    o->stats = catmemi_sys_stats;
    o->total_stats = catmemi_sys_total_stats;
    o->owns = catmemi_sys_owns;
    o->set_decay = catmemi_sys_set_decay;
    o->prof_active = catmemi_sys_prof_active;
    o->prof_dump = catmemi_sys_prof_dump;
    o->publish = catmemi_sys_publish;
    o->atfork_prepare = catmemi_sys_atfork_prepare;
    o->atfork_parent = catmemi_sys_atfork_parent;
    o->atfork_child = catmemi_sys_atfork_child;
    return o;
}

#  if !defined(CATMEMI_RUNTIME)
static const catmemi_ops *catmemi_select(char *info, size_t size) {
    snprintf(info, size, "system malloc (compiled in)");
    return catmemi_sys_table();
}
#  endif
#endif /* CATMEMI_PART_IMPL */
