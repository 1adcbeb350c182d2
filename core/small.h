/* catmem's core: SMALL ARENAS, on every engine (the slot's memory: catmemi_small, contract.h).
   Part of the implementation (core/impl.h), compiled before the engines, which call it.

   Why: an arena of an engine's own (a jemalloc arena; the system engine's heaps and segments)
   costs 30-120 KB and, on jemalloc, tens of microseconds to make and to reset, and jemalloc
   makes about 4,000. A small arena costs its record in the registry and the chunks it uses,
   1 KiB to start with, and any number of them can live: what an arena per request, per
   connection or per tenant needs. Each engine gives its first user arenas memory of their own
   (catmemi_ops.next_small) and makes the rest small.
   - Chunks (1 KiB, doubling up to 8 KiB) come from memory the engine shares among all small
     arenas (catmemi_sm_engine.get: one jemalloc arena; the system malloc). Blocks are carved
     from a chunk in order, each 16-byte aligned with its header in the 8 bytes before it, and
     never at the start of a page; a free block goes on its class's shared list (or, on
     jemalloc, a front cache) and is reused for that class.
   - A block's header is (slot << 8 | class) mixed with the block's address and a per-process
     random key: the pointer alone names its arena (catmem_free with no arena, free_any,
     usable_size, owns), and a header that was overwritten stops the process instead of freeing
     into another arena. A solo block's header is the last word of a 64-byte record before it
     that links it into its arena's list.
   - Blocks aligned to a page or more are BIG: the engine's block, without a header (its first
     page is its own), recorded on a list of the process.
   - An arena with a limit is counted exactly: every call charges or uncharges it under its
     lock.
   - Reset and release free every chunk and solo block at once; the arena starts again from
     nothing (and a release makes it not busy). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif
#include "classes.h"

static const catmemi_sm_engine *catmemi_sm_eng; /* the live engine's (contract.h) */
static uintptr_t catmemi_sm_key;                 /* random: block headers and chunk links */

/* A block's header is (slot << 8 | class) ^ catmemi_sm_mix(its address): the address mixed
   with the key through a multiplication and a shift, so that one header read tells nothing
   about another's. */
static uint64_t catmemi_sm_mix(const void *p) {
    uint64_t x = ((uint64_t)(uintptr_t)p ^ (uint64_t)catmemi_sm_key) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    return x * 0xbf58476d1ce4e5b9ull;
}

#define CATMEMI_SM_SOLO      0xff /* the class of a solo block */
#define CATMEMI_SM_BUSY      256  /* calls under the lock before an arena's threads get caches */
#define CATMEMI_SM_CHUNK_MIN 1024
#define CATMEMI_SM_CHUNK_MAX 8192

/* The record before a solo block; hdr is the block's header (the word before the block). The
   record is next to the memory before it: check seals base, size and mapped with the key and
   the record's address (catmemi_sm_solo_at), and the list links are checked with their
   neighbours before an unlink, so that an overflow into it can neither free another block nor
   write through a link. */
typedef struct catmemi_sm_solo {
    struct catmemi_sm_solo *prev, *next; /* the arena's solo blocks; under its lock */
    void *base;                          /* what the engine gave */
    size_t size, mapped;                 /* bytes asked for, bytes the engine gave */
    uintptr_t check, links; /* sealed: base, size, mapped; prev and next (catmemi_sm_solo_link) */
    uint64_t hdr;
} catmemi_sm_solo;
typedef char catmemi_sm_solo_is_64[sizeof(catmemi_sm_solo) == 64 ? 1 : -1];

static void catmemi_sm_init(catmemi_slot *s) { s->sm.next_chunk = CATMEMI_SM_CHUNK_MIN; }

static void catmemi_sm_lock_word(int *mu) {
    while (__atomic_exchange_n(mu, 1, __ATOMIC_ACQUIRE) != 0)
        while (__atomic_load_n(mu, __ATOMIC_RELAXED) != 0) sched_yield();
}
static void catmemi_sm_unlock_word(int *mu) { __atomic_store_n(mu, 0, __ATOMIC_RELEASE); }
static void catmemi_sm_lock(catmemi_small *m) { catmemi_sm_lock_word(&m->mu); }
static void catmemi_sm_unlock(catmemi_small *m) { catmemi_sm_unlock_word(&m->mu); }

static void catmemi_sm_tag(void *p, unsigned slot, unsigned k) {
    ((uint64_t *)p)[-1] = (((uint64_t)slot << 8) | k) ^ catmemi_sm_mix(p);
}

/* The arena and class of p when the word before it is a small arena's block header; NULL
   otherwise. Another block's last word passes only by a chance of about 2^-40 (and only
   with the key could it be written to pass). */
static catmemi_slot *catmemi_sm_try(const void *p, unsigned *k) {
    uint64_t v = ((const uint64_t *)p)[-1] ^ catmemi_sm_mix(p);
    unsigned slot = (unsigned)(v >> 8);
    catmemi_slot *s;
    *k = (unsigned)(v & 0xff);
    if ((v >> 34) == 0 && slot < __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE) &&
        (s = catmemi_slot_at(slot))->small && (*k <= CATMEMI_SM_TOP || *k == CATMEMI_SM_SOLO))
        return s;
    return NULL;
}
/* The same for p known to be a small arena's block: a header that names no small arena stops
   the process (an overwritten header, a double free of a solo block). */
static catmemi_slot *catmemi_sm_read(const void *p, unsigned *k) {
    catmemi_slot *s = catmemi_sm_try(p, k);
    if (s != NULL) return s;
    fprintf(stderr,
            "catmem: corrupted block header at %p (double free, or no block of catmem's?)\n", p);
    abort();
}

/* ---- big blocks: aligned to a page or more ------------------------------------------------------
   Such a block is the engine's block of its own, with no header (the engine's bookkeeping of
   it may use its first page's address): a record in a list of the process names its arena.
   Rare: the list is walked. */
typedef struct catmemi_sm_big {
    struct catmemi_sm_big *prev, *next;
    void *p;
    size_t size, mapped;
    uintptr_t slot;
    uintptr_t check; /* p, size, mapped and slot sealed with the key (catmemi_sm_big_ok) */
} catmemi_sm_big;
static pthread_mutex_t catmemi_sm_big_mu = PTHREAD_MUTEX_INITIALIZER;
static catmemi_sm_big *catmemi_sm_bigs;
static unsigned catmemi_sm_nbig; /* atomic: 0 lets every free skip the list */

static uintptr_t catmemi_sm_seal4(uintptr_t at, uintptr_t a, uintptr_t b, uintptr_t c,
                                  uintptr_t d);
/* r's fields as sealed; a record rewritten without the key (an overflow of the malloc before
   it) stops the process before its block is freed or named. */
static catmemi_sm_big *catmemi_sm_big_ok(catmemi_sm_big *r) {
    if (r->check !=
        catmemi_sm_seal4((uintptr_t)r, (uintptr_t)r->p, r->size, r->mapped, r->slot)) {
        fprintf(stderr, "catmem: corrupted big block record at %p\n", (void *)r);
        abort();
    }
    return r;
}

/* Under catmemi_sm_big_mu: r leaves the list, its neighbours checked first (a record is a
   malloc of its own, which an overflow of a neighbouring malloc could rewrite). */
static void catmemi_sm_big_unlink(catmemi_sm_big *r) {
    if ((r->prev != NULL ? r->prev->next : catmemi_sm_bigs) != r ||
        (r->next != NULL && r->next->prev != r)) {
        fprintf(stderr, "catmem: corrupted big block record at %p\n", (void *)r);
        abort();
    }
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        catmemi_sm_bigs = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    __atomic_fetch_sub(&catmemi_sm_nbig, 1, __ATOMIC_RELEASE);
}

/* p's record, taken out of the list when take; NULL: p is no big block. */
static catmemi_sm_big *catmemi_sm_big_find(const void *p, int take) {
    catmemi_sm_big *r;
    if (__atomic_load_n(&catmemi_sm_nbig, __ATOMIC_ACQUIRE) == 0) return NULL;
    pthread_mutex_lock(&catmemi_sm_big_mu);
    for (r = catmemi_sm_bigs; r != NULL && r->p != p; r = r->next) {}
    if (r != NULL) catmemi_sm_big_ok(r);
    if (r != NULL && take) catmemi_sm_big_unlink(r);
    pthread_mutex_unlock(&catmemi_sm_big_mu);
    return r;
}

/* The small arena p belongs to, or NULL when p is no small arena's block: what frees without
   an arena, usable_size and owns ask first. */
static catmemi_slot *catmemi_sm_owner(const void *p) {
    catmemi_sm_big *r = catmemi_sm_big_find(p, 0);
    unsigned k;
    if (r != NULL) return catmemi_slot_at((unsigned)r->slot);
    return catmemi_sm_eng->holds(p) ? catmemi_sm_try(p, &k) : NULL;
}

/* Four words of the record at at, mixed with the key and its address. */
static uintptr_t catmemi_sm_seal4(uintptr_t at, uintptr_t a, uintptr_t b, uintptr_t c,
                                  uintptr_t d) {
    const uintptr_t m = (uintptr_t)0x9e3779b97f4a7c15ull;
    uintptr_t s = catmemi_sm_key ^ at;
    s = (s ^ a) * m;
    s = (s ^ b) * m;
    s = (s ^ c) * m;
    return (s ^ d) * m;
}
static uintptr_t catmemi_sm_seal(const catmemi_sm_solo *h) {
    return catmemi_sm_seal4((uintptr_t)h, (uintptr_t)h->base, h->size, h->mapped, 0);
}
static uintptr_t catmemi_sm_link_seal(const catmemi_sm_solo *h) {
    return catmemi_sm_seal4((uintptr_t)h, (uintptr_t)h->prev, (uintptr_t)h->next, 0, 1);
}
/* h's links changed (under the arena's lock): sealed again. */
static void catmemi_sm_solo_link(catmemi_sm_solo *h) {
    if (h != NULL) h->links = catmemi_sm_link_seal(h);
}
/* h's links as sealed, checked before either is followed: a record's links rewritten without
   the key stop the process without a read through them. */
static catmemi_sm_solo *catmemi_sm_solo_links(catmemi_sm_solo *h, const char *arena) {
    if (h->links != catmemi_sm_link_seal(h)) {
        fprintf(stderr, "catmem: corrupted solo block record at %p in arena '%s'\n", (void *)h,
                arena);
        abort();
    }
    return h;
}
/* The record of p, a solo block, its seal checked: a record rewritten without the key stops
   the process before any of it is trusted. */
static catmemi_sm_solo *catmemi_sm_solo_at(const void *p) {
    catmemi_sm_solo *h = (catmemi_sm_solo *)(void *)((char *)(uintptr_t)p - sizeof *h);
    if (h->check != catmemi_sm_seal(h)) {
        fprintf(stderr, "catmem: corrupted solo block record at %p\n", (void *)h);
        abort();
    }
    return h;
}

/* The bytes a block of p's kind can hold. */
static size_t catmemi_sm_usable(const void *p) {
    unsigned k;
    catmemi_sm_big *r = catmemi_sm_big_find(p, 0);
    if (r != NULL) return r->size;
    (void)catmemi_sm_read(p, &k);
    if (k == CATMEMI_SM_SOLO) return catmemi_sm_solo_at(p)->size;
    return catmemi_class_size[k];
}

/* ---- chunks, kept for the next small arenas ------------------------------------------------
   A released or reset arena's chunks go to a store of the process, up to CATMEMI_SM_KEEP of each
   size, and the next chunks of any small arena come from there: an arena per request then costs
   no call to the engine (a jemalloc arena's lock and bin; malloc). The store is an array, not
   links in the chunks: nothing in a kept chunk is trusted. A chunk's second word is its size
   mixed with the key and its address, checked when it goes back. */
#define CATMEMI_SM_KEEP 64
static struct {
    int mu; /* a catmemi_small-style spin lock; around the array only */
    unsigned n[4];
    void *c[4][CATMEMI_SM_KEEP];
} catmemi_sm_kept;

static unsigned catmemi_sm_chunk_lg(size_t size) { /* 1 KiB -> 0 ... 8 KiB -> 3 */
    return size <= 1024 ? 0 : size <= 2048 ? 1 : size <= 4096 ? 2 : 3;
}
static void *catmemi_sm_chunk_new(size_t size) {
    unsigned i = catmemi_sm_chunk_lg(size);
    void *c = NULL;
    catmemi_sm_lock_word(&catmemi_sm_kept.mu);
    if (catmemi_sm_kept.n[i] != 0) c = catmemi_sm_kept.c[i][--catmemi_sm_kept.n[i]];
    catmemi_sm_unlock_word(&catmemi_sm_kept.mu);
    return c != NULL ? c : catmemi_sm_eng->get(size, 4, 0);
}
/* c, a chunk of an arena being reset: its size checked, then kept or given back. */
static void catmemi_sm_chunk_drop(uintptr_t c, const char *arena) {
    size_t size = (size_t)(((uintptr_t *)c)[1] ^ catmemi_sm_mix((char *)c + 8));
    unsigned i = catmemi_sm_chunk_lg(size);
    if (size != (size_t)CATMEMI_SM_CHUNK_MIN << i) {
        fprintf(stderr, "catmem: corrupted chunk at %p in arena '%s'\n", (void *)c, arena);
        abort();
    }
    catmemi_sm_lock_word(&catmemi_sm_kept.mu);
    if (catmemi_sm_kept.n[i] < CATMEMI_SM_KEEP) {
        catmemi_sm_kept.c[i][catmemi_sm_kept.n[i]++] = (void *)c;
        c = 0;
    }
    catmemi_sm_unlock_word(&catmemi_sm_kept.mu);
    if (c != 0) catmemi_sm_eng->put((void *)c);
}

/* ---- chunks and the shared lists, under the arena's lock ----------------------------------- */

/* Under CATMEM_SECURE a chunk's first block starts 0 to 7 granules of 16 bytes later than it
   could, at random (56 bytes of a 1-8 KiB chunk lost on average): chunks come back to the next
   arenas, and to the same one after a reset (its first chunk first), and every block of a chunk
   would otherwise be where it was before (issue 20 E). */
#define CATMEMI_SM_SHIFTS 8

/* A new chunk becomes the one blocks are carved from; 0: out of memory. Its first word links to
   the previous chunk (encoded with the key and its own address), its second is its size
   (above), the first block starts 32 bytes in, after its header, or up to 7 granules later. */
static int catmemi_sm_grow(catmemi_small *m) {
    size_t size = m->next_chunk;
    char *c = (char *)catmemi_sm_chunk_new(size);
    if (c == NULL) return 0;
    ((uintptr_t *)(void *)c)[0] = m->chunks ^ catmemi_sm_key ^ (uintptr_t)c;
    ((uintptr_t *)(void *)c)[1] = (uintptr_t)size ^ (uintptr_t)catmemi_sm_mix(c + 8);
    m->chunks = (uintptr_t)c;
    if (m->lo == 0 || (uintptr_t)c < m->lo) m->lo = (uintptr_t)c;
    if ((uintptr_t)c + size > m->hi) m->hi = (uintptr_t)c + size;
    m->cur = c + 32;
    if (CATMEM_SECURE) m->cur += 16 * ((catmemi_rand(&catmemi_rng) >> 32) % CATMEMI_SM_SHIFTS);
    m->end = c + size;
    m->chunk_bytes += size;
    if (m->next_chunk < CATMEMI_SM_CHUNK_MAX) m->next_chunk *= 2;
    return 1;
}

/* A block of class k aligned to align (at most 64): the shared list first when align is
   what every block has (16), else carved. NULL: out of memory. */
CATMEMI_INLINE void *catmemi_sm_get(catmemi_slot *s, unsigned k, size_t align) {
    catmemi_small *m = &s->sm;
    size_t size = catmemi_class_size[k];
    char *p = (char *)m->shared[k];
    if (p != NULL && align <= 16) {
        /* The link is encoded with the key and the block's address, and must lead to a block
           of the same arena and class: an overflow of the block before cannot forge it. */
        uintptr_t next = *(uintptr_t *)(void *)p ^ catmemi_sm_key ^ (uintptr_t)p;
        unsigned nk;
        if (next != 0 && (next - m->lo >= m->hi - m->lo || (next & 15) != 0 ||
                          catmemi_sm_try((void *)next, &nk) != s || nk != k)) {
            fprintf(stderr, "catmem: corrupted free list at %p in arena '%s'\n", (void *)p,
                    s->name);
            abort();
        }
        m->shared[k] = (void *)next;
        m->shared_bytes -= size;
        *(uintptr_t *)(void *)p = 0; /* no link in a block handed out: catmemi_sm_put */
        if (k != 0) ((uintptr_t *)(void *)p)[1] = 0; /* nor a free mark (jemalloc engine) */
        return p;
    }
    /* cur may be past end: the last block's stride ran over it. Rounding cur up keeps the
       header's word after the previous block; a block never starts a page (holds, above). The
       first test is the common case: cur is 16-aligned already (every stride is). */
    if (align == 16 && (p = m->cur) != NULL && p < m->end && size <= (size_t)(m->end - p) &&
        ((uintptr_t)p & 4095) != 0)
        goto carve;
    for (;;) {
        if (m->cur != NULL)
            m->cur = (char *)(((uintptr_t)m->cur + align - 1) & ~(uintptr_t)(align - 1));
        if ((m->cur == NULL || m->cur >= m->end || size > (size_t)(m->end - m->cur)) &&
            !catmemi_sm_grow(m))
            return NULL;
        m->cur = (char *)(((uintptr_t)m->cur + align - 1) & ~(uintptr_t)(align - 1));
        if (((uintptr_t)m->cur & 4095) != 0) break;
        m->cur += 16;
    }
    p = m->cur;
carve:
    m->cur = p + ((size + 8 + 15) & ~(size_t)15); /* the next block's header fits after this one */
    m->carved += size;
    catmemi_sm_tag(p, s->id, k);
    *(uintptr_t *)(void *)p = 0; /* defined, and no link: catmemi_sm_put reads it at the free */
    if (k != 0) ((uintptr_t *)(void *)p)[1] = 0; /* nor a free mark (jemalloc engine) */
    return p;
}

/* A block whose first word decodes to a link of the arena (the end of a list, or a block in its
   chunks) may be on the list already: it is looked for there, and a block freed twice while
   the list holds it (in a row, or with others between) stops the process. A block handed out
   has its link cleared, so a block freed once takes the walk only when its first word is the
   user's data and happens to decode so. */
static void catmemi_sm_put(catmemi_small *m, unsigned k, void *p) {
    uintptr_t w;
    CATMEMI_VG_DEFINED(p, sizeof w);
    w = *(uintptr_t *)p ^ catmemi_sm_key ^ (uintptr_t)p;
    if (w == 0 || (w - m->lo < m->hi - m->lo && (w & 15) == 0)) {
        uintptr_t x = (uintptr_t)m->shared[k];
        size_t i, n = m->shared_bytes / catmemi_class_size[k];
        for (i = 0; x != 0 && i < n; i++) {
            if (x == (uintptr_t)p) {
                fprintf(stderr, "catmem: double free of %p (%s)\n", p,
                        i == 0 ? "freed twice in a row" : "its arena's free list holds it");
                abort();
            }
            w = *(const uintptr_t *)x ^ catmemi_sm_key ^ x;
            if (w != 0 && (w - m->lo >= m->hi - m->lo || (w & 15) != 0)) {
                fprintf(stderr, "catmem: corrupted free list at %p\n", (void *)x);
                abort();
            }
            x = w;
        }
    }
#if CATMEM_DEBUG
    unsigned hk;
    (void)catmemi_sm_read(p, &hk);
    CATMEMI_ASSERT(hk == k); /* onto its own class's list */
#endif
    *(uintptr_t *)p = (uintptr_t)m->shared[k] ^ catmemi_sm_key ^ (uintptr_t)p;
    m->shared[k] = p;
    m->shared_bytes += catmemi_class_size[k];
}

/* One more call under the lock: CATMEMI_SM_BUSY of them make the arena busy. */
static void catmemi_sm_count(catmemi_small *m) {
    if (++m->ops == CATMEMI_SM_BUSY) __atomic_store_n(&m->busy, 1, __ATOMIC_RELAXED);
}

/* The calling thread may use a front cache for s: busy, and no limit. */
static int catmemi_sm_cached(catmemi_slot *s) {
    return catmemi_sm_eng->pop != NULL && __atomic_load_n(&s->sm.busy, __ATOMIC_RELAXED) &&
           !catmemi_counted(s);
}

/* A block of class k (aligned to align, at most 64) from the shared lists or the chunks,
   charged when s has a limit. */
static void *catmemi_sm_one(catmemi_slot *s, unsigned k, size_t align) {
    catmemi_small *m = &s->sm;
    size_t size = catmemi_class_size[k], total = 0;
    int counted = catmemi_counted(s);
    void *p = NULL;
    catmemi_sm_lock(m);
    if (!counted || (total = catmemi_charge(s, size)) != 0) {
        p = catmemi_sm_get(s, k, align);
        if (counted) {
            if (p != NULL)
                catmemi_peak(s, total);
            else
                catmemi_uncharge(s, size);
        }
    }
    if (p != NULL) CATMEMI_OWNER_ADD(m->nmalloc, 1);
    catmemi_sm_count(m);
    catmemi_sm_unlock(m);
    return p;
}

/* ---- solo blocks ---------------------------------------------------------------------------- */

/* A block above CATMEMI_SM_MAX, or aligned to more than 64 bytes, with its record in the 64
   bytes before it (1 << lg of them for a larger alignment). It never starts a page either. */
static void *catmemi_sm_solo_alloc(catmemi_slot *s, size_t size, unsigned lg, int zero) {
    catmemi_small *m = &s->sm;
    size_t off = lg > 6 ? (size_t)1 << lg : 64, total = 0;
    int counted = catmemi_counted(s);
    catmemi_sm_solo *h;
    char *base, *p;
    if (size > CATMEM_SIZE_MAX - 2 * off) return NULL;
    if (counted && (total = catmemi_charge(s, size)) == 0) return NULL;
    base = (char *)catmemi_sm_eng->get(2 * off + size, lg > 6 ? lg : 6, zero);
    if (base == NULL) {
        if (counted) catmemi_uncharge(s, size);
        return NULL;
    }
    p = base + off;
    if (((uintptr_t)p & 4095) == 0) p += off;
    h = (catmemi_sm_solo *)(void *)(p - sizeof *h);
    h->base = base;
    h->size = size;
    h->mapped = catmemi_sm_eng->mapped(base);
    h->check = catmemi_sm_seal(h);
    catmemi_sm_tag(p, s->id, CATMEMI_SM_SOLO);
    catmemi_sm_lock(m);
    h->prev = NULL;
    h->next = (catmemi_sm_solo *)m->solos;
    if (h->next != NULL) catmemi_sm_solo_links(h->next, s->name)->prev = h;
    catmemi_sm_solo_link(h);
    catmemi_sm_solo_link(h->next);
    m->solos = h;
    m->solo_bytes += size;
    m->solo_mapped += h->mapped;
    CATMEMI_OWNER_ADD(m->nmalloc, 1);
    catmemi_sm_count(m);
    catmemi_sm_unlock(m);
    if (counted) catmemi_peak(s, total);
    return p;
}

static void catmemi_sm_solo_free(catmemi_slot *s, void *p) {
    catmemi_small *m = &s->sm;
    catmemi_sm_solo *h = catmemi_sm_solo_at(p);
    size_t size = h->size;
    catmemi_sm_lock(m);
    catmemi_sm_solo_links(h, s->name);
    if ((h->prev != NULL ? h->prev->next : (catmemi_sm_solo *)m->solos) != h ||
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
    catmemi_sm_solo_link(h->prev);
    catmemi_sm_solo_link(h->next);
    m->solo_bytes -= size;
    m->solo_mapped -= h->mapped;
    CATMEMI_OWNER_ADD(m->ndalloc, 1);
    catmemi_sm_count(m);
    catmemi_sm_unlock(m);
    h->hdr = 0; /* a second free finds no header */
    if (catmemi_counted(s)) catmemi_uncharge(s, size);
    catmemi_sm_eng->put(h->base);
}

static void *catmemi_sm_big_alloc(catmemi_slot *s, size_t size, unsigned lg, int zero) {
    catmemi_small *m = &s->sm;
    catmemi_sm_big *r = (catmemi_sm_big *)CATMEM_SYSTEM_MALLOC(sizeof *r);
    size_t total = 0;
    int counted = catmemi_counted(s);
    if (r == NULL) return NULL;
    if (counted && (total = catmemi_charge(s, size)) == 0) {
        CATMEM_SYSTEM_FREE(r);
        return NULL;
    }
    if ((r->p = catmemi_sm_eng->get(size, lg, zero)) == NULL) {
        if (counted) catmemi_uncharge(s, size);
        CATMEM_SYSTEM_FREE(r);
        return NULL;
    }
    r->size = size;
    r->mapped = catmemi_sm_eng->mapped(r->p);
    r->slot = s->id;
    r->check = catmemi_sm_seal4((uintptr_t)r, (uintptr_t)r->p, r->size, r->mapped, r->slot);
    pthread_mutex_lock(&catmemi_sm_big_mu);
    r->prev = NULL;
    r->next = catmemi_sm_bigs;
    if (r->next != NULL) r->next->prev = r;
    catmemi_sm_bigs = r;
    __atomic_fetch_add(&catmemi_sm_nbig, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&catmemi_sm_big_mu);
    catmemi_sm_lock(m);
    m->solo_bytes += size;
    m->solo_mapped += r->mapped;
    CATMEMI_OWNER_ADD(m->nmalloc, 1);
    catmemi_sm_unlock(m);
    if (counted) catmemi_peak(s, total);
    return r->p;
}

/* r, out of the list: its block goes. */
static void catmemi_sm_big_free(catmemi_sm_big *r) {
    catmemi_slot *s = catmemi_slot_at((unsigned)r->slot);
    catmemi_sm_lock(&s->sm);
    s->sm.solo_bytes -= r->size;
    s->sm.solo_mapped -= r->mapped;
    CATMEMI_OWNER_ADD(s->sm.ndalloc, 1);
    catmemi_sm_unlock(&s->sm);
    if (catmemi_counted(s)) catmemi_uncharge(s, r->size);
    catmemi_sm_eng->put(r->p);
    CATMEM_SYSTEM_FREE(r);
}

/* ---- what the engines call for a small arena ----------------------------------------------- */

static void *catmemi_sm_alloc(catmemi_slot *s, size_t size, int opts) {
    unsigned lg = (unsigned)(opts & CATMEMI_LG_ALIGN_MASK);
    if (lg >= 12) return catmemi_sm_big_alloc(s, size, lg, opts & CATMEMI_ZERO);
    if (size <= CATMEMI_SM_MAX && lg <= 6) { /* carved, 16- to 64-byte aligned */
        unsigned k = catmemi_class(size);
        void *p = NULL;
        if (lg <= 4 && catmemi_sm_cached(s)) p = catmemi_sm_eng->pop(s, k);
        if (p == NULL) p = catmemi_sm_one(s, k, (size_t)1 << (lg > 4 ? lg : 4));
        if (p != NULL && (opts & CATMEMI_ZERO)) memset(p, 0, size);
        return p;
    }
    return catmemi_sm_solo_alloc(s, size, lg, opts & CATMEMI_ZERO);
}

/* Frees p, of class k of o, a small arena (s: the arena the caller named, NULL for none): into
   the calling thread's front cache when o is s and has one, else onto o's shared list. */
static void catmemi_sm_free_block(catmemi_slot *s, catmemi_slot *o, unsigned k, void *p) {
    catmemi_small *m = &o->sm;
    if (k == CATMEMI_SM_SOLO) {
        catmemi_sm_solo_free(o, p);
        return;
    }
    if (o == s && catmemi_sm_cached(o) && catmemi_sm_eng->push(o, k, p)) return;
    catmemi_sm_lock(m);
    catmemi_sm_put(m, k, p);
    CATMEMI_OWNER_ADD(m->ndalloc, 1);
    catmemi_sm_count(m);
    catmemi_sm_unlock(m);
    if (catmemi_counted(o)) catmemi_uncharge(o, catmemi_class_size[k]);
}

/* Frees p, a block of a small arena: the one its header (or big record) names. */
static void catmemi_sm_free(catmemi_slot *s, void *p) {
    unsigned k;
    catmemi_slot *o;
    catmemi_sm_big *r = catmemi_sm_big_find(p, 1);
    if (r != NULL) {
        catmemi_sm_big_free(r);
        return;
    }
    o = catmemi_sm_read(p, &k);
    catmemi_sm_free_block(s, o, k, p);
}

/* Frees p when it is a small arena's block: 1; 0 when it is none (nothing done). */
__attribute__((unused)) static int catmemi_sm_free_if_small(void *p) {
    unsigned k;
    catmemi_slot *o;
    catmemi_sm_big *r = catmemi_sm_big_find(p, 1);
    if (r != NULL) {
        catmemi_sm_big_free(r);
        return 1;
    }
    if (!catmemi_sm_eng->holds(p) || (o = catmemi_sm_try(p, &k)) == NULL) return 0;
    catmemi_sm_free_block(NULL, o, k, p);
    return 1;
}

/* ---- the short way: what the core's slow paths try first ------------------------------------
   A live small arena that is not busy and has no limit serves every call under its lock, and
   the core's general checks (implicit init, the out-of-memory handler, the engine's table)
   have nothing to add for a block of up to CATMEMI_SM_MAX bytes: these take a quarter of the
   instructions of the long way. NULL / 0: take the long way. */
static catmemi_slot *catmemi_sm_plain(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    if (s == NULL || !s->small || __atomic_load_n(&s->sm.busy, __ATOMIC_RELAXED) ||
        catmemi_counted(s) || !catmemi_is_up() ||
        __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != CATMEMI_LIVE)
        return NULL;
    return s;
}
static CATMEMI_TLS int catmemi_sm_seen; /* the calling thread took the short way */
static void *catmemi_sm_quick_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_slot *s;
    if (opts != 0 || size - 1 >= CATMEMI_SM_MAX || (s = catmemi_sm_plain(a)) == NULL)
        return NULL;
    if (CATMEMI_UNLIKELY(!catmemi_sm_seen)) {
        catmemi_sm_seen = 1;
        if (catmemi_sm_eng->seen != NULL) catmemi_sm_eng->seen();
    }
    {
        unsigned k = catmemi_class(size);
        void *p;
        catmemi_sm_lock(&s->sm);
        p = catmemi_sm_get(s, k, 16);
        if (p != NULL) CATMEMI_OWNER_ADD(s->sm.nmalloc, 1);
        catmemi_sm_count(&s->sm);
        catmemi_sm_unlock(&s->sm);
        return p;
    }
}
static int catmemi_sm_quick_free(const catmem_arena *a, void *p) {
    catmemi_slot *s = catmemi_sm_plain(a);
    unsigned k;
    if (s == NULL || !catmemi_sm_eng->holds(p) || catmemi_sm_try(p, &k) != s ||
        k > CATMEMI_SM_TOP)
        return 0;
    catmemi_sm_free_block(s, s, k, p);
    return 1;
}

/* p into s, a small arena: p stays where it is while it is s's and its class does not change
   (or, for a solo block, it shrinks by at most half and stays above CATMEMI_SM_MAX: a sized
   free of it must not reach a front cache); otherwise it moves to a new block of s. p may be
   any arena's, as for any realloc: old_size and free_other serve a block of the engine's own
   arenas. */
static void *catmemi_sm_realloc(catmemi_slot *s, void *p, size_t size,
                                size_t (*old_size)(const void *p),
                                void (*free_other)(void *p)) {
    unsigned k = 0;
    catmemi_sm_big *r = catmemi_sm_big_find(p, 0);
    catmemi_slot *o = r != NULL ? catmemi_slot_at((unsigned)r->slot) : NULL;
    size_t old;
    void *q;
    if (r == NULL && catmemi_sm_eng->holds(p)) o = catmemi_sm_try(p, &k);
    old = o != NULL ? catmemi_sm_usable(p) : old_size(p);
    if (old == 0) return NULL; /* no block of catmem's */
    if (o == s && r == NULL && k != CATMEMI_SM_SOLO && size <= CATMEMI_SM_MAX &&
        catmemi_class_size[catmemi_class(size)] == old)
        return p;
    if (o == s && k == CATMEMI_SM_SOLO && size > CATMEMI_SM_MAX && size <= old &&
        size > old / 2) { /* a solo block shrinks where it is */
        catmemi_sm_solo *h = catmemi_sm_solo_at(p);
        catmemi_sm_lock(&s->sm);
        s->sm.solo_bytes -= old - size;
        h->size = size;
        h->check = catmemi_sm_seal(h);
        catmemi_sm_unlock(&s->sm);
        if (catmemi_counted(s)) catmemi_uncharge(s, old - size);
        return p;
    }
    if ((q = catmemi_sm_alloc(s, size, 0)) == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    if (o != NULL)
        catmemi_sm_free(s, p);
    else
        free_other(p);
    return q;
}

/* Under catmemi_mu, nobody else using s: every chunk and solo block of s is freed; its threads'
   caches forget their blocks (those were in the chunks). A release also makes s not busy. */
static void catmemi_sm_reset(catmemi_slot *s, int release) {
    catmemi_small *m = &s->sm;
    catmemi_sm_solo *h, *hn;
    uintptr_t ch = m->chunks;
    unsigned k;
    CATMEMI_ASSERT_LOCKED();
    if (catmemi_sm_eng->forget != NULL) catmemi_sm_eng->forget(s);
    catmemi_sm_lock(m);
    while (ch != 0) { /* each link must lead into the arena's chunks, 16-aligned */
        uintptr_t next = ((uintptr_t *)ch)[0] ^ catmemi_sm_key ^ ch;
        if (next != 0 && (next - m->lo >= m->hi - m->lo || (next & 15) != 0)) {
            fprintf(stderr, "catmem: corrupted chunk list at %p in arena '%s'\n", (void *)ch,
                    s->name);
            abort();
        }
        catmemi_sm_chunk_drop(ch, s->name);
        ch = next;
    }
    for (h = (catmemi_sm_solo *)m->solos; h != NULL; h = hn) {
        hn = catmemi_sm_solo_links(h, s->name)->next;
        catmemi_sm_eng->put(catmemi_sm_solo_at((char *)h + sizeof *h)->base);
    }
    if (__atomic_load_n(&catmemi_sm_nbig, __ATOMIC_ACQUIRE) != 0) {
        catmemi_sm_big *r, *rn;
        pthread_mutex_lock(&catmemi_sm_big_mu);
        for (r = catmemi_sm_bigs; r != NULL; r = rn) {
            rn = r->next;
            if (r->slot != s->id) continue;
            catmemi_sm_big_unlink(catmemi_sm_big_ok(r));
            catmemi_sm_eng->put(r->p);
            CATMEM_SYSTEM_FREE(r);
        }
        pthread_mutex_unlock(&catmemi_sm_big_mu);
    }
    m->chunks = 0;
    m->lo = m->hi = 0;
    m->solos = NULL;
    m->cur = m->end = NULL;
    for (k = 0; k <= CATMEMI_SM_TOP; k++) m->shared[k] = NULL;
    m->next_chunk = CATMEMI_SM_CHUNK_MIN;
    m->carved = m->shared_bytes = m->chunk_bytes = m->solo_bytes = m->solo_mapped = 0;
    if (release) {
        m->ops = 0;
        __atomic_store_n(&m->busy, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&m->nmalloc, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&m->ndalloc, 0, __ATOMIC_RELAXED);
    } else { /* every live block counts as freed (jemalloc's engine adds its caches' after) */
        __atomic_store_n(&m->ndalloc, __atomic_load_n(&m->nmalloc, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
    }
    catmemi_sm_unlock(m);
}

/* Added to out. Blocks in front caches count as allocated, as on any arena of jemalloc's
   engine. The engine counts the calls (s->sm's counters: those served outside front caches). */
static void catmemi_sm_stats(catmemi_slot *s, catmem_stats *out) {
    catmemi_small *m = &s->sm;
    size_t held;
    catmemi_sm_lock(m);
    out->allocated += m->carved - m->shared_bytes + m->solo_bytes;
    held = m->chunk_bytes + m->solo_mapped;
    catmemi_sm_unlock(m);
    out->active += held;
    out->resident += held;
    out->mapped += held;
}

/* fork(): every small arena's lock is held around it, after catmemi_mu. */
static void catmemi_sm_fork(int phase) { /* 0 prepare, 1 parent, 2 child */
    unsigned i, n = __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE);
    if (phase == 0) {
        pthread_mutex_lock(&catmemi_sm_big_mu);
        catmemi_sm_lock_word(&catmemi_sm_kept.mu);
    } else {
        catmemi_sm_unlock_word(&catmemi_sm_kept.mu);
        if (phase == 1)
            pthread_mutex_unlock(&catmemi_sm_big_mu);
        else
            pthread_mutex_init(&catmemi_sm_big_mu, NULL);
    }
    for (i = CATMEM_KIND_COUNT; i < n; i++) {
        catmemi_small *m = &catmemi_slot_at(i)->sm;
        if (!catmemi_slot_at(i)->small) continue;
        if (phase == 0)
            catmemi_sm_lock(m);
        else
            catmemi_sm_unlock(m);
    }
}
