/* catmem's jemalloc engine: small arenas (described in fast.h, at catmemi_je_small). Part of
   the implementation (core/impl.h), compiled after cache.h.

   Why: a jemalloc arena costs about 120 KB and tens of microseconds to make and to reset, and
   jemalloc makes about 4,000. A small arena costs its record in the registry and the chunks it
   uses, 1 KiB to start with, and any number of them can live: what an arena per request, per
   connection or per tenant needs.
   - Chunks (1 KiB, doubling up to 8 KiB) come from one jemalloc arena shared by every small
     arena, made at the first init, without a jemalloc cache (MALLOCX_TCACHE_NONE), so that
     arenas.lookup names that arena for every chunk. Blocks are carved from a chunk in order,
     each 16-byte aligned with its header in the 8 bytes before it; a free block goes on its
     class's shared list (or a front cache) and is reused for that class.
   - A block's header is (slot << 8 | class) mixed with the block's address and a per-process
     random key: the pointer alone names its arena (catmem_free with no arena, free_any,
     usable_size, owns), and a header that was overwritten stops the process instead of freeing
     into another arena. A solo block's header is the last word of a 64-byte record before it
     that links it into its arena's list.
   - Front caches: an arena's first CATMEMI_JE_S_BUSY calls take its spin lock; then it is busy,
     and each thread that uses it gets a front cache of its own for it (cache.h), so that a busy
     small arena runs the same inline paths as any arena. Such a cache keeps classes up to
     CATMEMI_JE_S_MAX bytes and never gives blocks back to jemalloc: it gives them to the shared
     lists when it is dropped or flushed. The inline paths leave a small arena's blocks to the
     slow path where they must: the inline free without a size asks jemalloc for the block's
     class (sallocx), which for a block inside a chunk is the chunk's class, above what such a
     cache keeps; a larger block is a solo block, above it too.
   - An arena with a limit has no front caches: every call charges or uncharges it under the
     lock, exactly.
   - Reset and release free every chunk and solo block at once; the arena starts again from
     nothing (and a release makes it not busy). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

static unsigned catmemi_je_backing; /* the jemalloc arena of every small arena's chunks */
/* The shared arena exists: made with the first small arena (ops.h), under catmemi_mu; atomic */
static int catmemi_je_small_on;
static uintptr_t catmemi_je_skey;   /* random: block headers and chunk links */

#define CATMEMI_JE_SOLO      0xff /* the class of a solo block */
#define CATMEMI_JE_S_BUSY    256  /* calls under the lock before an arena's threads get caches */
#define CATMEMI_JE_CHUNK_MIN 1024
#define CATMEMI_JE_CHUNK_MAX 8192
/* sallocx of a block inside a chunk is the chunk's class, above every class a small arena's
   front cache keeps: the inline free without a size sends such a block to the slow path. */
typedef char catmemi_je_chunk_above_cache[CATMEMI_JE_CHUNK_MIN > CATMEMI_JE_S_MAX ? 1 : -1];

/* The record before a solo block; hdr is the block's header (the word before the block). */
typedef struct catmemi_je_solo {
    struct catmemi_je_solo *prev, *next; /* the arena's solo blocks; under its lock */
    void *base;                          /* what jemalloc returned */
    size_t size, mapped;                 /* bytes asked for, bytes jemalloc gave */
    uintptr_t pad[2];
    uint64_t hdr;
} catmemi_je_solo;
typedef char catmemi_je_solo_is_64[sizeof(catmemi_je_solo) == 64 ? 1 : -1];

/* The jemalloc arena of p (arenas.lookup), or CATMEMI_JE_ARENA_LIMIT when jemalloc cannot say. */
static unsigned catmemi_je_lookup(const void *p) {
    unsigned index;
    size_t sz = sizeof index;
    if (CATMEMI_JE(mallctl)("arenas.lookup", &index, &sz, (void *)&p, sizeof p) != 0 ||
        index >= CATMEMI_JE_ARENA_LIMIT)
        return CATMEMI_JE_ARENA_LIMIT;
    return index;
}
/* p is a block of a small arena: its jemalloc arena is the shared one of their chunks. */
static int catmemi_je_in_small(unsigned index) {
    return __atomic_load_n(&catmemi_je_small_on, __ATOMIC_ACQUIRE) &&
           index == catmemi_je_backing;
}

static void catmemi_je_s_lock(catmemi_je_small *m) {
    while (__atomic_exchange_n(&m->mu, 1, __ATOMIC_ACQUIRE) != 0)
        while (__atomic_load_n(&m->mu, __ATOMIC_RELAXED) != 0) sched_yield();
}
static void catmemi_je_s_unlock(catmemi_je_small *m) {
    __atomic_store_n(&m->mu, 0, __ATOMIC_RELEASE);
}

/* Header words depend on the block's address through a multiplication and a shift, so one
   header read tells nothing about another's. */
static uint64_t catmemi_je_s_mix(const void *p) {
    uint64_t x = ((uint64_t)(uintptr_t)p ^ (uint64_t)catmemi_je_skey) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    return x * 0xbf58476d1ce4e5b9ull;
}
static void catmemi_je_s_tag(void *p, unsigned slot, unsigned k) {
    ((uint64_t *)p)[-1] = (((uint64_t)slot << 8) | k) ^ catmemi_je_s_mix(p);
}

/* The arena and class of p when the word before it is a small arena's block header; NULL
   otherwise. Another block's last word passes only by a chance of about 2^-40 (and only
   with the key could it be written to pass). */
static catmemi_slot *catmemi_je_s_try(const void *p, unsigned *k) {
    uint64_t v = ((const uint64_t *)p)[-1] ^ catmemi_je_s_mix(p);
    unsigned slot = (unsigned)(v >> 8);
    catmemi_slot *s;
    *k = (unsigned)(v & 0xff);
    if ((v >> 34) == 0 && slot < __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE) &&
        (s = catmemi_slot_at(slot))->small && (*k <= CATMEMI_JE_S_TOP || *k == CATMEMI_JE_SOLO))
        return s;
    return NULL;
}
/* The same for p known to be a small arena's block: a header that names no small arena stops
   the process (an overwritten header, a double free of a solo block). */
static catmemi_slot *catmemi_je_s_read(const void *p, unsigned *k) {
    catmemi_slot *s = catmemi_je_s_try(p, k);
    if (s != NULL) return s;
    fprintf(stderr,
            "catmem: corrupted block header at %p (double free, or no block of catmem's?)\n", p);
    abort();
}

/* ---- big blocks: aligned to a page or more ------------------------------------------------------
   Such a block is a jemalloc block of its own whose pointer is where jemalloc's block starts
   (the only page of a large block sure to be known), so it has no header: a record in a list
   of the process names its arena. Rare: the list is walked. */
typedef struct catmemi_je_big {
    struct catmemi_je_big *prev, *next;
    void *p;
    size_t size, mapped;
    unsigned slot;
} catmemi_je_big;
static pthread_mutex_t catmemi_je_big_mu = PTHREAD_MUTEX_INITIALIZER;
static catmemi_je_big *catmemi_je_bigs;
static unsigned catmemi_je_nbig; /* atomic: 0 lets every free skip the list */

/* Under catmemi_je_big_mu: r leaves the list. */
static void catmemi_je_s_big_unlink(catmemi_je_big *r) {
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        catmemi_je_bigs = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    __atomic_fetch_sub(&catmemi_je_nbig, 1, __ATOMIC_RELEASE);
}

/* p's record, taken out of the list when take; NULL: p is no big block. */
static catmemi_je_big *catmemi_je_s_big_find(const void *p, int take) {
    catmemi_je_big *r;
    if (__atomic_load_n(&catmemi_je_nbig, __ATOMIC_ACQUIRE) == 0) return NULL;
    pthread_mutex_lock(&catmemi_je_big_mu);
    for (r = catmemi_je_bigs; r != NULL && r->p != p; r = r->next) {}
    if (r != NULL && take) catmemi_je_s_big_unlink(r);
    pthread_mutex_unlock(&catmemi_je_big_mu);
    return r;
}

/* The bytes a block of p's kind can hold. */
static size_t catmemi_je_s_usable(const void *p) {
    unsigned k;
    catmemi_je_big *r = catmemi_je_s_big_find(p, 0);
    if (r != NULL) return r->size;
    (void)catmemi_je_s_read(p, &k);
    if (k == CATMEMI_JE_SOLO) return ((const catmemi_je_solo *)((const char *)p - 64))->size;
    return catmemi_je_class_size[k];
}

/* ---- chunks and the shared lists, under the arena's lock ----------------------------------- */

/* A new chunk becomes the one blocks are carved from; 0: out of memory. Its first word links to
   the previous chunk (encoded with the key and its own address), the first block starts 32
   bytes in, after its header. */
static int catmemi_je_s_grow(catmemi_je_small *m) {
    size_t size = m->next_chunk;
    char *c = (char *)CATMEMI_JE(mallocx)(
        size, CATMEMI_MALLOCX_ARENA(catmemi_je_backing) | CATMEMI_MALLOCX_TCACHE_NONE);
    if (c == NULL) return 0;
    ((uintptr_t *)(void *)c)[0] = m->chunks ^ catmemi_je_skey ^ (uintptr_t)c;
    m->chunks = (uintptr_t)c;
    if (m->lo == 0 || (uintptr_t)c < m->lo) m->lo = (uintptr_t)c;
    if ((uintptr_t)c + size > m->hi) m->hi = (uintptr_t)c + size;
    m->cur = c + 32;
    m->end = c + size;
    m->chunk_bytes += size;
    if (m->next_chunk < CATMEMI_JE_CHUNK_MAX) m->next_chunk *= 2;
    return 1;
}

/* A block of class k aligned to align (at most 64): the shared list first when align is
   what every block has (16), else carved. NULL: out of memory. */
static void *catmemi_je_s_get(catmemi_slot *s, unsigned k, size_t align) {
    catmemi_je_small *m = &s->je.sm;
    size_t size = catmemi_je_class_size[k];
    char *p = (char *)m->shared[k];
    if (p != NULL && align <= 16) {
        /* The link is encoded with the key and the block's address, and must lead to a block
           of the same arena and class: an overflow of the block before cannot forge it. */
        uintptr_t next = *(uintptr_t *)(void *)p ^ catmemi_je_skey ^ (uintptr_t)p;
        unsigned nk;
        if (next != 0 && (next - m->lo >= m->hi - m->lo || (next & 15) != 0 ||
                          catmemi_je_s_try((void *)next, &nk) != s || nk != k)) {
            fprintf(stderr, "catmem: corrupted free list at %p in arena '%s'\n", (void *)p,
                    s->name);
            abort();
        }
        m->shared[k] = (void *)next;
        m->shared_bytes -= size;
        return p;
    }
    /* cur may be past end: the last block's stride ran over it. Rounding cur up keeps the
       header's word after the previous block. */
    if (m->cur != NULL)
        m->cur = (char *)(((uintptr_t)m->cur + align - 1) & ~(uintptr_t)(align - 1));
    if ((m->cur == NULL || m->cur >= m->end || size > (size_t)(m->end - m->cur)) &&
        !catmemi_je_s_grow(m))
        return NULL;
    m->cur = (char *)(((uintptr_t)m->cur + align - 1) & ~(uintptr_t)(align - 1));
    p = m->cur;
    m->cur = p + ((size + 8 + 15) & ~(size_t)15); /* the next block's header fits after this one */
    m->carved += size;
    catmemi_je_s_tag(p, s->id, k);
    return p;
}

static void catmemi_je_s_put(catmemi_je_small *m, unsigned k, void *p) {
#if CATMEM_DEBUG
    unsigned hk;
    (void)catmemi_je_s_read(p, &hk);
    CATMEMI_ASSERT(hk == k); /* onto its own class's list */
#endif
    *(uintptr_t *)p = (uintptr_t)m->shared[k] ^ catmemi_je_skey ^ (uintptr_t)p;
    m->shared[k] = p;
    m->shared_bytes += catmemi_je_class_size[k];
}

/* One more call under the lock: CATMEMI_JE_S_BUSY of them make the arena busy. */
static void catmemi_je_s_count(catmemi_je_small *m) {
    if (++m->ops == CATMEMI_JE_S_BUSY) __atomic_store_n(&m->busy, 1, __ATOMIC_RELAXED);
}

/* The calling thread's front cache for s, a small arena, once it is busy and when it has no
   limit; NULL: use the shared lists. */
static catmemi_je_cache *catmemi_je_s_cache(catmemi_slot *s) {
    if (!__atomic_load_n(&s->je.sm.busy, __ATOMIC_RELAXED) || catmemi_counted(s)) return NULL;
    return catmemi_je_cache_for(s);
}

/* Class k is empty in c: up to its fill from the shared lists and the chunks, the first block
   for the caller. */
static void *catmemi_je_s_refill(catmemi_je_cache *c, catmemi_slot *s, unsigned k) {
    catmemi_je_bin *b = &c->bin[k];
    void *first = NULL, *p;
    unsigned i;
    catmemi_je_s_lock(&s->je.sm);
    for (i = 0; i < b->fill && (p = catmemi_je_s_get(s, k, 16)) != NULL; i++) {
        if (first == NULL)
            first = p;
        else
            catmemi_je_add(c, k, p);
    }
    catmemi_je_s_unlock(&s->je.sm);
    if (b->fill < CATMEMI_JE_FILL_MAX) b->fill *= 2;
    if (first != NULL) CATMEMI_OWNER_ADD(c->nalloc, 1);
    return first;
}

/* A block of class k (aligned to align, at most 64) from the shared lists or the chunks,
   charged when s has a limit. */
static void *catmemi_je_s_one(catmemi_slot *s, unsigned k, size_t align) {
    catmemi_je_small *m = &s->je.sm;
    size_t size = catmemi_je_class_size[k], total = 0;
    int counted = catmemi_counted(s);
    void *p = NULL;
    catmemi_je_s_lock(m);
    if (!counted || (total = catmemi_charge(s, size)) != 0) {
        p = catmemi_je_s_get(s, k, align);
        if (counted) {
            if (p != NULL)
                catmemi_peak(s, total);
            else
                catmemi_uncharge(s, size);
        }
    }
    catmemi_je_s_count(m);
    catmemi_je_s_unlock(m);
    if (p != NULL) __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
    return p;
}

/* ---- solo blocks ---------------------------------------------------------------------------- */

/* A solo block's pointer must lie on a page jemalloc knows (sallocx and arenas.lookup read
   it: the inline free, usable_size, frees without an arena): jemalloc registers every page of
   a small block's slab but only the first and last pages of a large block, so a large (or more
   aligned) solo block starts on a page and its pointer is on that page. Alignments of a page
   or more cannot be had so: those blocks are BIG (below). */
static void *catmemi_je_s_solo(catmemi_slot *s, size_t size, unsigned lg, int zero) {
    catmemi_je_small *m = &s->je.sm;
    size_t off = lg > 6 ? (size_t)1 << lg : 64, total = 0;
    int counted = catmemi_counted(s), flags;
    catmemi_je_solo *h;
    char *base, *p;
    if (size > CATMEM_SIZE_MAX - off) return NULL;
    if (counted && (total = catmemi_charge(s, size)) == 0) return NULL;
    flags = CATMEMI_MALLOCX_ARENA(catmemi_je_backing) | CATMEMI_MALLOCX_TCACHE_NONE |
            (zero ? CATMEMI_ZERO : 0);
    if (off + size > CATMEMI_JE_SMALL_MAX || lg > 6) flags |= 12; /* MALLOCX_LG_ALIGN: a page */
    /* At least 640 bytes: jemalloc's size of the block is then above what a front cache of a
       small arena keeps, so an inline free sends it to the slow path (see the top). */
    base = (char *)CATMEMI_JE(mallocx)(off + size > 640 ? off + size : 640, flags);
    if (base == NULL) {
        if (counted) catmemi_uncharge(s, size);
        return NULL;
    }
    p = base + off;
    h = (catmemi_je_solo *)(void *)(p - sizeof *h);
    h->base = base;
    h->size = size;
    h->mapped = CATMEMI_JE(sallocx)(base, 0);
    catmemi_je_s_tag(p, s->id, CATMEMI_JE_SOLO);
    catmemi_je_s_lock(m);
    h->prev = NULL;
    h->next = (catmemi_je_solo *)m->solos;
    if (h->next != NULL) h->next->prev = h;
    m->solos = h;
    m->solo_bytes += size;
    m->solo_mapped += h->mapped;
    catmemi_je_s_count(m);
    catmemi_je_s_unlock(m);
    if (counted) catmemi_peak(s, total);
    __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
    return p;
}

static void catmemi_je_s_solo_free(catmemi_slot *s, void *p) {
    catmemi_je_small *m = &s->je.sm;
    catmemi_je_solo *h = (catmemi_je_solo *)(void *)((char *)p - sizeof *h);
    size_t size = h->size;
    catmemi_je_s_lock(m);
    if ((h->prev != NULL ? h->prev->next : (catmemi_je_solo *)m->solos) != h ||
        (h->next != NULL && h->next->prev != h)) {
        fprintf(stderr, "catmem: corrupted solo block record at %p in arena '%s'\n", (void *)h,
                s->name);
        abort();
    }
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        m->solos = h->next;
    if (h->next != NULL) h->next->prev = h->prev;
    m->solo_bytes -= size;
    m->solo_mapped -= h->mapped;
    catmemi_je_s_count(m);
    catmemi_je_s_unlock(m);
    h->hdr = 0; /* a second free finds no header */
    if (catmemi_counted(s)) catmemi_uncharge(s, size);
    __atomic_fetch_add(&s->je.ndalloc, 1, __ATOMIC_RELAXED);
    CATMEMI_JE(dallocx)(h->base, CATMEMI_MALLOCX_TCACHE_NONE);
}

static void *catmemi_je_s_big(catmemi_slot *s, size_t size, unsigned lg, int zero) {
    catmemi_je_small *m = &s->je.sm;
    catmemi_je_big *r = (catmemi_je_big *)CATMEM_SYSTEM_MALLOC(sizeof *r);
    size_t total = 0;
    int counted = catmemi_counted(s);
    if (r == NULL) return NULL;
    if (counted && (total = catmemi_charge(s, size)) == 0) {
        CATMEM_SYSTEM_FREE(r);
        return NULL;
    }
    r->p = CATMEMI_JE(mallocx)(size, CATMEMI_MALLOCX_ARENA(catmemi_je_backing) |
                                         CATMEMI_MALLOCX_TCACHE_NONE | (int)lg |
                                         (zero ? CATMEMI_ZERO : 0));
    if (r->p == NULL) {
        if (counted) catmemi_uncharge(s, size);
        CATMEM_SYSTEM_FREE(r);
        return NULL;
    }
    r->size = size;
    r->mapped = CATMEMI_JE(sallocx)(r->p, 0);
    r->slot = s->id;
    pthread_mutex_lock(&catmemi_je_big_mu);
    r->prev = NULL;
    r->next = catmemi_je_bigs;
    if (r->next != NULL) r->next->prev = r;
    catmemi_je_bigs = r;
    __atomic_fetch_add(&catmemi_je_nbig, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&catmemi_je_big_mu);
    catmemi_je_s_lock(m);
    m->solo_bytes += size;
    m->solo_mapped += r->mapped;
    catmemi_je_s_unlock(m);
    if (counted) catmemi_peak(s, total);
    __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
    return r->p;
}

/* r, out of the list: its block goes. */
static void catmemi_je_s_big_free(catmemi_je_big *r) {
    catmemi_slot *s = catmemi_slot_at(r->slot);
    catmemi_je_s_lock(&s->je.sm);
    s->je.sm.solo_bytes -= r->size;
    s->je.sm.solo_mapped -= r->mapped;
    catmemi_je_s_unlock(&s->je.sm);
    if (catmemi_counted(s)) catmemi_uncharge(s, r->size);
    __atomic_fetch_add(&s->je.ndalloc, 1, __ATOMIC_RELAXED);
    CATMEMI_JE(dallocx)(r->p, CATMEMI_MALLOCX_TCACHE_NONE);
    CATMEM_SYSTEM_FREE(r);
}

/* ---- what ops.h calls for a small arena ------------------------------------------------------ */

static void *catmemi_je_s_big(catmemi_slot *s, size_t size, unsigned lg, int zero);

static void *catmemi_je_s_alloc(catmemi_slot *s, size_t size, int opts) {
    unsigned lg = (unsigned)(opts & CATMEMI_LG_ALIGN_MASK);
    if (lg >= 12) return catmemi_je_s_big(s, size, lg, opts & CATMEMI_ZERO);
    if (size <= CATMEMI_JE_S_MAX && lg <= 6) { /* carved, 16- to 64-byte aligned */
        unsigned k = catmemi_je_class(size);
        catmemi_je_cache *c = lg <= 4 ? catmemi_je_s_cache(s) : NULL;
        void *p;
        if (c != NULL) {
            if ((p = catmemi_je_pop(c, k)) == NULL) p = catmemi_je_s_refill(c, s, k);
        } else {
            p = catmemi_je_s_one(s, k, (size_t)1 << (lg > 4 ? lg : 4));
        }
        if (p != NULL && (opts & CATMEMI_ZERO)) memset(p, 0, size);
        return p;
    }
    return catmemi_je_s_solo(s, size, lg, opts & CATMEMI_ZERO);
}

/* Frees p, a block of a small arena (s: the arena the caller named, NULL for none): into the
   calling thread's front cache when that is the block's arena and it has one, else onto the
   shared list of the arena its header names. */
static void catmemi_je_s_free(catmemi_slot *s, void *p) {
    unsigned k;
    catmemi_slot *o;
    catmemi_je_cache *c;
    catmemi_je_small *m;
    catmemi_je_big *r = catmemi_je_s_big_find(p, 1);
    if (r != NULL) {
        catmemi_je_s_big_free(r);
        return;
    }
    o = catmemi_je_s_read(p, &k);
    m = &o->je.sm;
    if (k == CATMEMI_JE_SOLO) {
        catmemi_je_s_solo_free(o, p);
        return;
    }
    if (o == s && (c = catmemi_je_s_cache(o)) != NULL) {
        catmemi_je_add(c, k, p);
        CATMEMI_OWNER_ADD(c->nfree, 1);
        return;
    }
    catmemi_je_s_lock(m);
    catmemi_je_s_put(m, k, p);
    catmemi_je_s_count(m);
    catmemi_je_s_unlock(m);
    if (catmemi_counted(o)) catmemi_uncharge(o, catmemi_je_class_size[k]);
    __atomic_fetch_add(&o->je.ndalloc, 1, __ATOMIC_RELAXED);
}

static void catmemi_je_direct_free(catmemi_slot *s, void *p, size_t size); /* ops.h */

/* p stays where it is while it is s's, its class does not change (or, for a solo block, it
   shrinks by at most half and stays above CATMEMI_JE_S_MAX: a sized free of it must not reach
   a front cache); otherwise it moves to a new block of s. p may be any arena's, as
   for any realloc: a block with no small arena's header is a jemalloc arena's. */
static void *catmemi_je_s_realloc(catmemi_slot *s, void *p, size_t size) {
    unsigned k = 0;
    catmemi_je_big *r = catmemi_je_s_big_find(p, 0);
    catmemi_slot *o = r != NULL ? catmemi_slot_at(r->slot) : NULL;
    size_t old;
    void *q;
    /* Whose block? A big block is on the list; any other block of a small arena has its header
       in the word before it. That word is read only where it is sure to be mapped: on p's own
       page, or once jemalloc said p is in the small arenas' shared arena. */
    if (r == NULL && (((uintptr_t)p & 4095) >= 8 || catmemi_je_in_small(catmemi_je_lookup(p))))
        o = catmemi_je_s_try(p, &k);
    old = o != NULL ? catmemi_je_s_usable(p) : CATMEMI_JE(sallocx)(p, 0);
    if (o == s && r == NULL && k != CATMEMI_JE_SOLO && size <= CATMEMI_JE_S_MAX &&
        catmemi_je_class_size[catmemi_je_class(size)] == old)
        return p;
    if (o == s && k == CATMEMI_JE_SOLO && size > CATMEMI_JE_S_MAX && size <= old &&
        size > old / 2) { /* a solo block shrinks where it is */
        catmemi_je_solo *h = (catmemi_je_solo *)(void *)((char *)p - sizeof *h);
        catmemi_je_s_lock(&s->je.sm);
        s->je.sm.solo_bytes -= old - size;
        h->size = size;
        catmemi_je_s_unlock(&s->je.sm);
        if (catmemi_counted(s)) catmemi_uncharge(s, old - size);
        return p;
    }
    if ((q = catmemi_je_s_alloc(s, size, 0)) == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    if (o != NULL)
        catmemi_je_s_free(s, p);
    else
        catmemi_je_direct_free(NULL, p, 0);
    return q;
}

/* A small arena's front cache gives its blocks to the shared lists (dropped, flushed). */
static void catmemi_je_s_empty(catmemi_je_cache *c) {
    catmemi_je_small *m = &catmemi_slot_at(c->slot)->je.sm;
    unsigned k;
    catmemi_je_s_lock(m);
    for (k = 0; k <= CATMEMI_JE_S_TOP; k++) {
        catmemi_je_bin *b = &c->bin[k];
        while (b->head != NULL) {
            void *p = b->head;
            b->head = catmemi_je_next(p);
            catmemi_je_s_put(m, k, p);
        }
        b->n = 0;
    }
    c->room = c->allowance;
    catmemi_je_s_unlock(m);
}

/* Under catmemi_mu, nobody else using s: every chunk and solo block of s is freed; its threads'
   caches forget their blocks (those were in the chunks). A release also makes s not busy. */
static void catmemi_je_s_reset(catmemi_slot *s, int release) {
    catmemi_je_small *m = &s->je.sm;
    catmemi_je_cache *c;
    catmemi_je_solo *h, *hn;
    uintptr_t ch = m->chunks;
    unsigned k;
    CATMEMI_ASSERT_LOCKED();
    for (c = s->je.caches; c != NULL; c = c->anext) {
        catmemi_je_cache_init(c, c->allowance);
        c->top = CATMEMI_JE_S_TOP;
    }
    catmemi_je_s_lock(m);
    while (ch != 0) {
        uintptr_t next = ((uintptr_t *)ch)[0] ^ catmemi_je_skey ^ ch;
        CATMEMI_JE(dallocx)((void *)ch, CATMEMI_MALLOCX_TCACHE_NONE);
        ch = next;
    }
    for (h = (catmemi_je_solo *)m->solos; h != NULL; h = hn) {
        hn = h->next;
        CATMEMI_JE(dallocx)(h->base, CATMEMI_MALLOCX_TCACHE_NONE);
    }
    if (__atomic_load_n(&catmemi_je_nbig, __ATOMIC_ACQUIRE) != 0) {
        catmemi_je_big *r, *rn;
        pthread_mutex_lock(&catmemi_je_big_mu);
        for (r = catmemi_je_bigs; r != NULL; r = rn) {
            rn = r->next;
            if (r->slot != s->id) continue;
            catmemi_je_s_big_unlink(r);
            CATMEMI_JE(dallocx)(r->p, CATMEMI_MALLOCX_TCACHE_NONE);
            CATMEM_SYSTEM_FREE(r);
        }
        pthread_mutex_unlock(&catmemi_je_big_mu);
    }
    m->chunks = 0;
    m->lo = m->hi = 0;
    m->solos = NULL;
    m->cur = m->end = NULL;
    for (k = 0; k <= CATMEMI_JE_S_TOP; k++) m->shared[k] = NULL;
    m->next_chunk = CATMEMI_JE_CHUNK_MIN;
    m->carved = m->shared_bytes = m->chunk_bytes = m->solo_bytes = m->solo_mapped = 0;
    if (release) {
        m->ops = 0;
        __atomic_store_n(&m->busy, 0, __ATOMIC_RELAXED);
    }
    catmemi_je_s_unlock(m);
}

/* Blocks in other threads' front caches count as allocated, as on any arena of this engine. */
static void catmemi_je_s_stats(catmemi_slot *s, catmem_stats *out) {
    catmemi_je_small *m = &s->je.sm;
    catmemi_je_s_lock(m);
    out->allocated = m->carved - m->shared_bytes + m->solo_bytes;
    out->active = out->resident = out->mapped = m->chunk_bytes + m->solo_mapped;
    catmemi_je_s_unlock(m);
}

/* Under catmemi_mu, s's first limit (nobody else using s): its front caches go, and its charge
   starts from what it holds. */
static void catmemi_je_s_count_from_now(catmemi_slot *s) {
    catmem_stats st;
    while (s->je.caches != NULL) catmemi_je_drop(s->je.caches->thread, s->je.caches, 0);
    memset(&st, 0, sizeof st);
    catmemi_je_s_stats(s, &st);
    __atomic_store_n(&s->charged, st.allocated, __ATOMIC_RELAXED);
    catmemi_peak(s, st.allocated);
}

/* fork(): every small arena's lock is held around it, after catmemi_mu. */
static void catmemi_je_s_fork(int phase) { /* 0 prepare, 1 parent, 2 child */
    unsigned i, n = __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE);
    if (phase == 0)
        pthread_mutex_lock(&catmemi_je_big_mu);
    else if (phase == 1)
        pthread_mutex_unlock(&catmemi_je_big_mu);
    else
        pthread_mutex_init(&catmemi_je_big_mu, NULL);
    for (i = CATMEM_KIND_COUNT; i < n; i++) {
        catmemi_je_small *m = &catmemi_slot_at(i)->je.sm;
        if (!catmemi_slot_at(i)->small) continue;
        if (phase == 0)
            catmemi_je_s_lock(m);
        else
            catmemi_je_s_unlock(m);
    }
}
