/* catmem's own engine: large blocks, a malloc each, recorded in a side table. Part of the
   implementation (core/impl.h); the engine is described at the top of fast.h. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* Hidden by strict ISO C modes (-std=c99 without _DEFAULT_SOURCE); its value on x86-64 and
   AArch64 Linux, the platforms the segment bitmap assumes. */
#if !defined(MAP_ANONYMOUS)
#  define MAP_ANONYMOUS 0x20
#endif
#if defined(CATMEMI_ASAN)
#  include <sanitizer/lsan_interface.h> /* records hold the only pointer to their blocks */
#endif

/* A large block's record. Records and the table live in mappings of their own, between guard
   pages, never next to a block: an overflow or underflow of a block faults or hits other
   blocks before it reaches one. check seals every other field with the key and the record's
   own address; it is verified whenever a record is followed, so that a record changed by any
   other write stops the process before it is trusted. */
struct catmemi_sys_large {
    uintptr_t check;
    void *p, *base;
    size_t size;   /* usable bytes */
    size_t mapped; /* bytes taken from malloc */
    catmemi_sys_heap *heap;
    unsigned slot;                  /* the arena: heaps sit among the blocks, records do not */
    catmemi_sys_large *hnext;       /* hash chain; on the free list: the next free record */
    catmemi_sys_large *prev, *next; /* the heap's large blocks */
};

/* The largest page size of Linux (AArch64 with 64 KiB pages): a guard of one page anywhere. */
#define CATMEMI_SYS_GUARD ((size_t)1 << 16)
/* Records are carved from 1 MiB at a time (13,107 of them); pages never touched cost no RSS. */
#define CATMEMI_SYS_LSLAB ((size_t)1 << 20)

/* All under catmemi_sys_large_mu: the table, the records and every heap's list of them. The
   table is made at the first large block. */
static pthread_mutex_t catmemi_sys_large_mu = PTHREAD_MUTEX_INITIALIZER;
static catmemi_sys_large **catmemi_sys_buckets;
static size_t catmemi_sys_nbuckets, catmemi_sys_nlarge;
static char *catmemi_sys_lnext, *catmemi_sys_lend; /* what is left of the newest slab */
static catmemi_sys_large *catmemi_sys_lfree;       /* recycled records */

/* Zeroed memory of at least bytes between two PROT_NONE guards; NULL when the OS refuses. */
static void *catmemi_sys_guarded(size_t bytes) {
    size_t n = (bytes + CATMEMI_SYS_GUARD - 1) & ~(CATMEMI_SYS_GUARD - 1);
    char *m = (char *)mmap(NULL, n + 2 * CATMEMI_SYS_GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
    if (m == (char *)MAP_FAILED) return NULL;
    if (mprotect(m + CATMEMI_SYS_GUARD, n, PROT_READ | PROT_WRITE) != 0) {
        munmap(m, n + 2 * CATMEMI_SYS_GUARD);
        return NULL;
    }
#if defined(CATMEMI_ASAN)
    __lsan_register_root_region(m + CATMEMI_SYS_GUARD, n); /* LeakSanitizer scans no mmap */
#endif
    return m + CATMEMI_SYS_GUARD;
}
static void catmemi_sys_unguarded(void *p, size_t bytes) {
    size_t n = (bytes + CATMEMI_SYS_GUARD - 1) & ~(CATMEMI_SYS_GUARD - 1);
#if defined(CATMEMI_ASAN)
    __lsan_unregister_root_region(p, n);
#endif
    munmap((char *)p - CATMEMI_SYS_GUARD, n + 2 * CATMEMI_SYS_GUARD);
}

/* Each field is mixed in by a multiplication, a bijection: changing any one field always
   changes the sum, and changing several so that it stays needs the key. */
static uintptr_t catmemi_sys_large_sum(const catmemi_sys_large *r) {
    const uintptr_t m = (uintptr_t)0x9e3779b97f4a7c15ull;
    uintptr_t s = catmemi_sys_key ^ (uintptr_t)r;
    s = (s ^ (uintptr_t)r->p) * m;
    s = (s ^ (uintptr_t)r->base) * m;
    s = (s ^ r->size) * m;
    s = (s ^ r->mapped) * m;
    s = (s ^ (uintptr_t)r->heap) * m;
    s = (s ^ r->slot) * m;
    s = (s ^ (uintptr_t)r->hnext) * m;
    s = (s ^ (uintptr_t)r->prev) * m;
    return (s ^ (uintptr_t)r->next) * m;
}
static void catmemi_sys_large_seal(catmemi_sys_large *r) { r->check = catmemi_sys_large_sum(r); }
static catmemi_sys_large *catmemi_sys_large_ok(catmemi_sys_large *r) {
    if (r->check != catmemi_sys_large_sum(r)) catmemi_sys_corrupt(r, "large block record");
    return r;
}

static size_t catmemi_sys_hash(const void *p, size_t n) {
    return (size_t)((((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull) >> 20) & (n - 1);
}

/* Table mutex. A recycled record, or a new one from the newest slab; NULL: out of memory. */
static catmemi_sys_large *catmemi_sys_large_new(void) {
    catmemi_sys_large *r = catmemi_sys_lfree;
    if (r != NULL) {
        catmemi_sys_lfree = catmemi_sys_large_ok(r)->hnext;
        return r;
    }
    if (catmemi_sys_lnext == NULL || (size_t)(catmemi_sys_lend - catmemi_sys_lnext) < sizeof *r) {
        char *slab = (char *)catmemi_sys_guarded(CATMEMI_SYS_LSLAB);
        if (slab == NULL) return NULL;
        catmemi_sys_lnext = slab;
        catmemi_sys_lend = slab + CATMEMI_SYS_LSLAB;
    }
    r = (catmemi_sys_large *)(void *)catmemi_sys_lnext;
    catmemi_sys_lnext += sizeof *r;
    return r;
}

/* Table mutex: r, out of the table and its heap's list, back to the free list. Zeroed, so that
   nothing of its block lingers; kept for the process. */
static void catmemi_sys_large_recycle(catmemi_sys_large *r) {
    memset(r, 0, sizeof *r);
    r->hnext = catmemi_sys_lfree;
    catmemi_sys_large_seal(r);
    catmemi_sys_lfree = r;
}

/* Table mutex. The table becomes n buckets (a power of two); 0 when it cannot be had. Every
   record is verified on the way, as it is followed. */
static int catmemi_sys_large_rehash(size_t n) {
    catmemi_sys_large **b = (catmemi_sys_large **)catmemi_sys_guarded(n * sizeof *b), *r, *next;
    size_t i;
    if (b == NULL) return 0;
    for (i = 0; i < catmemi_sys_nbuckets; i++)
        for (r = catmemi_sys_buckets[i]; r != NULL; r = next) {
            size_t j = catmemi_sys_hash(catmemi_sys_large_ok(r)->p, n);
            next = r->hnext;
            r->hnext = b[j];
            catmemi_sys_large_seal(r);
            b[j] = r;
        }
    if (catmemi_sys_buckets != NULL)
        catmemi_sys_unguarded(catmemi_sys_buckets, catmemi_sys_nbuckets * sizeof *b);
    catmemi_sys_buckets = b;
    catmemi_sys_nbuckets = n;
    return 1;
}

/* Table mutex. r joins the table; there is one (catmemi_sys_large_alloc made it). */
static void catmemi_sys_large_put(catmemi_sys_large *r) {
    size_t i = catmemi_sys_hash(r->p, catmemi_sys_nbuckets);
    r->hnext = catmemi_sys_buckets[i];
    catmemi_sys_large_seal(r);
    catmemi_sys_buckets[i] = r;
    catmemi_sys_nlarge++;
}

/* Table mutex. Where the table points at p's record (NULL when p is no large block), and the
   record before it on its chain (NULL for the first), every record on the way verified. */
static catmemi_sys_large **catmemi_sys_large_find(const void *p, catmemi_sys_large **before) {
    catmemi_sys_large **at, *x;
    *before = NULL;
    if (catmemi_sys_buckets == NULL) return NULL;
    for (at = &catmemi_sys_buckets[catmemi_sys_hash(p, catmemi_sys_nbuckets)]; (x = *at) != NULL;
         at = &x->hnext) {
        if (catmemi_sys_large_ok(x)->p == p) return at;
        *before = x;
    }
    return NULL;
}

/* Removes and returns p's record; NULL when p is no large block. Table mutex. */
static catmemi_sys_large *catmemi_sys_large_take(const void *p) {
    catmemi_sys_large *before, **at = catmemi_sys_large_find(p, &before), *x;
    if (at == NULL) return NULL;
    x = *at;
    *at = x->hnext;
    if (before != NULL) catmemi_sys_large_seal(before);
    catmemi_sys_nlarge--;
    return x;
}

/* Table mutex. A bigger table when chains grow; when it cannot be had, longer chains. */
static void catmemi_sys_large_grow(void) {
    if (catmemi_sys_nlarge >= catmemi_sys_nbuckets * 2)
        (void)catmemi_sys_large_rehash(catmemi_sys_nbuckets * 4);
}

/* Table mutex: r joins or leaves its heap's list and counters. The neighbours are verified, and
   must point back at r, before anything is written through them. A record that joins goes into
   the table next (catmemi_sys_large_put), which seals it: its fields may have changed since it
   was sealed (a realloc, ops.h). */
static void catmemi_sys_large_link(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    catmemi_sys_large *next = h->large;
    if (next != NULL) {
        if (catmemi_sys_large_ok(next)->prev != NULL || next->heap != h)
            catmemi_sys_corrupt(next, "large block record");
        next->prev = r;
        catmemi_sys_large_seal(next);
    }
    r->prev = NULL;
    r->next = next;
    h->large = r;
    CATMEMI_OWNER_ADD(h->large_bytes, r->size);
    CATMEMI_OWNER_ADD(h->large_mapped, r->mapped);
}
static void catmemi_sys_large_unlink(catmemi_sys_large *r) {
    catmemi_sys_heap *h = catmemi_sys_large_ok(r)->heap;
    catmemi_sys_large *prev = r->prev, *next = r->next;
    if (prev != NULL ? catmemi_sys_large_ok(prev)->next != r : h->large != r)
        catmemi_sys_corrupt(r, "large block record");
    if (next != NULL && catmemi_sys_large_ok(next)->prev != r)
        catmemi_sys_corrupt(r, "large block record");
    if (prev != NULL) {
        prev->next = next;
        catmemi_sys_large_seal(prev);
    } else {
        h->large = next;
    }
    if (next != NULL) {
        next->prev = prev;
        catmemi_sys_large_seal(next);
    }
    CATMEMI_OWNER_ADD(h->large_bytes, (size_t)0 - r->size);
    CATMEMI_OWNER_ADD(h->large_mapped, (size_t)0 - r->mapped);
}

/* Usable bytes of a large block of size bytes: 16-byte granules, or exactly size when a
   checker watches every block (so that it sees an overflow by one byte). */
/* With the engine on, 16 bytes of the malloc come before each large block: a word before the
   block that is catmem's own, zero, so that a free that asks whether the block is a small
   arena's (its header would be there: core/small.h) reads initialised memory of catmem's, which
   memory checkers allow. */
#define CATMEMI_SYS_LPAD (CATMEMI_SYS_ENGINE ? 16u : 0u)

static size_t catmemi_sys_large_usable(size_t size) {
    return CATMEMI_SYS_ENGINE ? (size + 15) & ~(size_t)15 : size;
}

/* Table mutex: a record for base, in the table and on h's list; NULL: no memory for it. */
static catmemi_sys_large *catmemi_sys_large_record(catmemi_sys_heap *h, char *base, size_t usable,
                                                   size_t total, size_t align) {
    catmemi_sys_large *r;
    uintptr_t at = (uintptr_t)base + CATMEMI_SYS_LPAD;
    if (catmemi_sys_buckets == NULL && !catmemi_sys_large_rehash(256)) return NULL;
    if ((r = catmemi_sys_large_new()) == NULL) return NULL;
    r->base = base;
    r->p = (void *)(align > 16 ? (at + align - 1) & ~(uintptr_t)(align - 1) : at);
    if (CATMEMI_SYS_LPAD != 0) ((uintptr_t *)r->p)[-1] = 0;
    r->size = usable;
    r->mapped = total;
    r->heap = h;
    r->slot = h->slot;
    catmemi_sys_large_link(r);
    catmemi_sys_large_put(r);
    CATMEMI_OWNER_ADD(h->nlarge, 1);
    catmemi_sys_large_grow();
    return r;
}

/* ---- kept blocks -----------------------------------------------------------------------------
   A large block freed goes back to malloc, unless its heap keeps it for its next large block:
   up to CATMEMI_SYS_KEEP blocks and CATMEMI_SYS_KEEP_BYTES together per heap (a thread's share
   of an arena). A program that frees and allocates large blocks in turn (mstress in issue 21)
   otherwise makes glibc trim its heap and grow it again, a page fault per page every time. A
   kept block serves an allocation it fits within a quarter; reset, release, purge and the
   thread's exit give them all back. DECAY: a kept block that waited unused longer than its
   arena's decay (CATMEM_SYSTEM_DECAY_MS, catmem_arena_set_decay's dirty_ms; 0: none is kept,
   -1: no decay) goes back to malloc at its heap's next large allocation or free, as jemalloc
   purges at an arena's next operations when it has no background thread. Only 16-byte aligned
   blocks, and only with the engine on (under a memory checker every block stays a malloc of
   its own, freed when freed). Table mutex. */
#define CATMEMI_SYS_KEEP       8
#define CATMEMI_SYS_KEEP_BYTES ((size_t)4 << 20)
typedef char catmemi_sys_keep_fits[sizeof(((catmemi_sys_heap *)0)->kept) ==
                                           CATMEMI_SYS_KEEP * sizeof(void *)
                                       ? 1
                                       : -1];

/* The seal of h's kept entry i: its pointer and size mixed with the key and the entry's
   address. The heap is a malloc among the program's: an overflow of the one before it could
   otherwise make the next large allocation return any address, or free one to malloc. */
static uintptr_t catmemi_sys_kept_sum(const catmemi_sys_heap *h, unsigned i) {
    const uintptr_t m = (uintptr_t)0x9e3779b97f4a7c15ull;
    uintptr_t s = (catmemi_sys_key ^ (uintptr_t)&h->kept[i] ^ (uintptr_t)h->kept[i]) * m;
    return (s ^ h->kept_total[i]) * m;
}
/* h's number of kept blocks, checked: one forged past the array stops the process. */
static unsigned catmemi_sys_kept_n(const catmemi_sys_heap *h) {
    if (h->nkept > CATMEMI_SYS_KEEP)
        catmemi_sys_die("corrupted kept large block count", &h->nkept, h->slot);
    return h->nkept;
}
/* Entry i of h (below its count), its seal checked: a forged one stops the process before it
   is used, moved or freed. */
static void *catmemi_sys_kept_at(const catmemi_sys_heap *h, unsigned i) {
    if (h->kept_seal[i] != catmemi_sys_kept_sum(h, i))
        catmemi_sys_die("corrupted kept large block", &h->kept[i], h->slot);
    return h->kept[i];
}
/* Entry i of h becomes base, total bytes (NULL, 0: an empty entry, with no valid seal). */
static void catmemi_sys_kept_set(catmemi_sys_heap *h, unsigned i, void *base, size_t total) {
    h->kept[i] = base;
    h->kept_total[i] = total;
    h->kept_seal[i] = base != NULL ? catmemi_sys_kept_sum(h, i) : 0;
}

/* clock_gettime under a name of catmem's: strict ISO C modes hide it and struct timespec (two
   longs on the 64-bit Linux ABIs catmem runs on). */
struct catmemi_sys_ts {
    long sec, nsec;
};
extern int catmemi_sys_clock(int id, struct catmemi_sys_ts *t) __asm__("clock_gettime");

/* Now, for decay: milliseconds of a clock that only goes forward: Linux's CLOCK_MONOTONIC_COARSE
   (6: a tick of a few milliseconds, read without a system call), else CLOCK_MONOTONIC (1). */
static uint64_t catmemi_sys_now(void) {
    struct catmemi_sys_ts t = {0, 0};
    if (catmemi_sys_clock(6, &t) != 0) (void)catmemi_sys_clock(1, &t);
    return (uint64_t)t.sec * 1000u + (uint64_t)t.nsec / 1000000u;
}

/* h's kept entry i leaves the set: the last one takes its place. Its block: the caller's. */
static void catmemi_sys_kept_out(catmemi_sys_heap *h, unsigned i) {
    unsigned n = catmemi_sys_kept_n(h) - 1;
    __atomic_store_n(&h->kept_bytes, h->kept_bytes - h->kept_total[i], __ATOMIC_RELAXED);
    catmemi_sys_kept_set(h, i, catmemi_sys_kept_at(h, n), h->kept_total[n]);
    h->kept_at[i] = h->kept_at[n];
    catmemi_sys_kept_set(h, n, NULL, 0);
    h->nkept = n;
}

/* A kept block of h for total bytes (at least, at most a quarter more), out of the heap's set;
   NULL: none fits. *got: its size. */
static char *catmemi_sys_kept_take(catmemi_sys_heap *h, size_t total, size_t *got) {
    unsigned i, best = CATMEMI_SYS_KEEP, n = catmemi_sys_kept_n(h);
    char *base;
    for (i = 0; i < n; i++)
        if (h->kept_total[i] >= total && h->kept_total[i] - total <= total / 4 &&
            (best == CATMEMI_SYS_KEEP || h->kept_total[i] < h->kept_total[best]))
            best = i;
    if (best == CATMEMI_SYS_KEEP) return NULL;
    base = (char *)catmemi_sys_kept_at(h, best);
    *got = h->kept_total[best];
    catmemi_sys_kept_out(h, best);
    return base;
}
/* h's arena's decay (DECAY above). */
static long catmemi_sys_decay_of(const catmemi_sys_heap *h) {
    return __atomic_load_n(&catmemi_slot_at(h->slot)->sys.decay, __ATOMIC_RELAXED);
}
/* base (total bytes, malloc's) kept by h since now: 1; 0 when h has no room for it, or its
   arena keeps nothing (decay 0). */
static int catmemi_sys_kept_put(catmemi_sys_heap *h, void *base, size_t total, uint64_t now) {
    unsigned n = catmemi_sys_kept_n(h);
    if (!CATMEMI_SYS_ENGINE || n == CATMEMI_SYS_KEEP ||
        total > CATMEMI_SYS_KEEP_BYTES - h->kept_bytes || catmemi_sys_decay_of(h) == 0)
        return 0;
    catmemi_sys_kept_set(h, n, base, total);
    h->kept_at[n] = now;
    h->nkept = n + 1;
    __atomic_store_n(&h->kept_bytes, h->kept_bytes + total, __ATOMIC_RELAXED);
    return 1;
}
/* h's kept blocks that waited unused longer than its arena's decay, out of its set into out
   (room for CATMEMI_SYS_KEEP), for the caller to free outside the mutex: how many. */
static unsigned catmemi_sys_kept_expire(catmemi_sys_heap *h, uint64_t now, void **out) {
    long decay = catmemi_sys_decay_of(h);
    unsigned i = 0, gone = 0;
    if (decay < 0) return 0;
    while (i < catmemi_sys_kept_n(h))
        if (now >= h->kept_at[i] && now - h->kept_at[i] >= (uint64_t)decay) {
            out[gone++] = catmemi_sys_kept_at(h, i);
            catmemi_sys_kept_out(h, i);
        } else {
            i++;
        }
    return gone;
}
/* Every block h keeps back to malloc, each entry checked first (none: no lock taken; one kept
   meanwhile by another thread's free stays, for the heap's next thread, until the next
   drop). */
static void catmemi_sys_kept_drop(catmemi_sys_heap *h) {
    void *kept[CATMEMI_SYS_KEEP];
    unsigned i, n;
    if (__atomic_load_n(&h->kept_bytes, __ATOMIC_RELAXED) == 0) return;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    n = catmemi_sys_kept_n(h);
    for (i = 0; i < n; i++) {
        kept[i] = catmemi_sys_kept_at(h, i);
        catmemi_sys_kept_set(h, i, NULL, 0);
    }
    h->nkept = 0;
    __atomic_store_n(&h->kept_bytes, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    for (i = 0; i < n; i++) CATMEM_SYSTEM_FREE(kept[i]);
}

static void *catmemi_sys_large_alloc(catmemi_sys_heap *h, size_t size, unsigned lg, int zero) {
    size_t align = (size_t)1 << lg, usable = catmemi_sys_large_usable(size), total, got = 0;
    catmemi_sys_large *r;
    char *base = NULL;
    void *p = NULL;
    if (size > CATMEM_SIZE_MAX - 2 * align - 16) return NULL; /* no malloc can serve it */
    total = usable + CATMEMI_SYS_LPAD + (align > 16 ? align : 0);
    if (align <= 16 && __atomic_load_n(&h->kept_bytes, __ATOMIC_RELAXED) != 0) {
        void *gone[CATMEMI_SYS_KEEP];
        uint64_t now = catmemi_sys_now();
        unsigned i, ngone;
        pthread_mutex_lock(&catmemi_sys_large_mu);
        if ((base = catmemi_sys_kept_take(h, total, &got)) != NULL &&
            (r = catmemi_sys_large_record(h, base, usable, got, align)) != NULL)
            p = r->p;
        else if (base != NULL && !catmemi_sys_kept_put(h, base, got, now))
            CATMEM_SYSTEM_FREE(base); /* no record to be had: back where it was, or to malloc */
        ngone = catmemi_sys_kept_expire(h, now, gone);
        pthread_mutex_unlock(&catmemi_sys_large_mu);
        for (i = 0; i < ngone; i++) CATMEM_SYSTEM_FREE(gone[i]);
        if (p != NULL) {
            if (zero) memset(p, 0, usable);
            return p;
        }
        if (base != NULL) return NULL;
    }
    base = (char *)(zero ? CATMEM_SYSTEM_CALLOC(1, total) : CATMEM_SYSTEM_MALLOC(total));
    if (base == NULL) return NULL;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    if ((r = catmemi_sys_large_record(h, base, usable, total, align)) != NULL) p = r->p;
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    if (p == NULL) CATMEM_SYSTEM_FREE(base);
    return p;
}

/* Frees p if it is a large block: 1; 0 when it is not one (anymore). */
static int catmemi_sys_large_free(void *p) {
    catmemi_sys_large *r;
    void *base = NULL, *gone[CATMEMI_SYS_KEEP];
    size_t size = 0;
    unsigned slot = 0, i, ngone = 0;
    uint64_t now = catmemi_sys_now();
    pthread_mutex_lock(&catmemi_sys_large_mu);
    r = catmemi_sys_large_take(p);
    if (r != NULL) {
        catmemi_sys_heap *h = r->heap;
        catmemi_sys_large_unlink(r);
        CATMEMI_OWNER_ADD(h->nlarge_free, 1);
        base = r->base;
        size = r->size;
        slot = r->slot;
        ngone = catmemi_sys_kept_expire(h, now, gone); /* first: room for this one */
        if ((char *)r->p == (char *)base + CATMEMI_SYS_LPAD &&
            catmemi_sys_kept_put(h, base, r->mapped, now))
            base = NULL;
        catmemi_sys_large_recycle(r);
    }
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    for (i = 0; i < ngone; i++) CATMEM_SYSTEM_FREE(gone[i]);
    if (r == NULL) return 0;
    if (catmemi_counted(catmemi_slot_at(slot))) catmemi_uncharge(catmemi_slot_at(slot), size);
    if (base != NULL) CATMEM_SYSTEM_FREE(base);
    return 1;
}

/* Looks p up without changing anything: its usable size and arena, or 0. */
static size_t catmemi_sys_large_info(const void *p, unsigned *slot) {
    catmemi_sys_large *before, **at;
    size_t n = 0;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    at = catmemi_sys_large_find(p, &before);
    if (at != NULL) {
        n = (*at)->size;
        *slot = (*at)->slot;
    }
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    return n;
}

/* Under catmemi_mu, nobody else using h's arena (THREADS in catmem.h): every large block of h
   back to malloc, counted as freed, its record recycled. Records are taken out under the table
   mutex, the blocks freed outside it, the records recycled under it again. */
static void catmemi_sys_large_reset(catmemi_sys_heap *h) {
    catmemi_sys_large *all, *r, *prev = NULL;
    pthread_mutex_lock(&catmemi_sys_large_mu);
    all = h->large;
    for (r = all; r != NULL; prev = r, r = r->next) {
        if (catmemi_sys_large_ok(r)->heap != h || r->prev != prev ||
            catmemi_sys_large_take(r->p) != r)
            catmemi_sys_corrupt(r, "large block record");
        CATMEMI_OWNER_ADD(h->nlarge_free, 1);
    }
    h->large = NULL;
    __atomic_store_n(&h->large_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->large_mapped, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    for (r = all; r != NULL; r = r->next) CATMEM_SYSTEM_FREE(r->base);
    pthread_mutex_lock(&catmemi_sys_large_mu);
    while ((r = all) != NULL) {
        all = r->next;
        catmemi_sys_large_recycle(r);
    }
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    catmemi_sys_kept_drop(h);
}
