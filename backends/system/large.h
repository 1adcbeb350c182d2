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
   blocks before it reaches one. Two seals, each the key and the record's address mixed with
   the fields one lock guards, verified whenever a record is followed, so that a record changed
   by any other write stops the process before it is trusted: check, the block's fields and the
   table's chain (its stripe's mutex); lcheck, the heap's list (the heap's lmu). A record
   belongs to one heap for the process's life (a freed one waits on its heap's free list), so
   heap never changes and either lock's holder may read it. */
struct catmemi_sys_large {
    uintptr_t check;
    void *p, *base;
    size_t size;   /* usable bytes */
    size_t mapped; /* bytes taken from malloc */
    catmemi_sys_heap *heap;
    unsigned slot;                  /* the arena (read without the heap's lock) */
    catmemi_sys_large *hnext;       /* hash chain; on the free list: the next free record */
    uintptr_t lcheck;
    catmemi_sys_large *prev, *next; /* the heap's large blocks */
};

/* The largest page size of Linux (AArch64 with 64 KiB pages): a guard of one page anywhere. */
#define CATMEMI_SYS_GUARD ((size_t)1 << 16)
/* Records and heaps (catmemi_sys_meta) are carved from 1 MiB at a time (11,915 records);
   pages never touched cost no RSS. */
#define CATMEMI_SYS_LSLAB ((size_t)1 << 20)

/* LOCKS of large blocks (core/contract.h's order): a heap's lmu (its list of large blocks, its
   kept blocks, its free records), then a stripe's mutex (a 64th of the table, by address),
   then catmemi_sys_rec_mu (new slabs of records, and the table's first mapping; a leaf). A
   free takes its block's stripe, then its heap's lmu, one after the other: no lock is shared
   by all large blocks, so threads of different heaps meet only on a stripe, for a few
   instructions, 1 time in 64. */
#define CATMEMI_SYS_NSTRIPE 64
#define CATMEMI_SYS_STRIPE0 64 /* buckets of each stripe at first */
typedef union {
    struct {
        pthread_mutex_t mu;
        catmemi_sys_large **buckets;
        size_t nbuckets, n;
        int own; /* buckets mapped for this stripe alone (not the first, shared mapping) */
    } s;
    char line[128]; /* a cache line or two of its own: stripes are taken by different threads */
} catmemi_sys_stripe;
static catmemi_sys_stripe catmemi_sys_stripes[CATMEMI_SYS_NSTRIPE];
static int catmemi_sys_lready; /* atomic: the stripes are made (at the first large block) */
static pthread_mutex_t catmemi_sys_rec_mu = PTHREAD_MUTEX_INITIALIZER;
static char *catmemi_sys_lnext, *catmemi_sys_lend; /* what is left of the newest slab; rec_mu */

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
#define CATMEMI_SYS_MIX(s, x) (((s) ^ (uintptr_t)(x)) * (uintptr_t)0x9e3779b97f4a7c15ull)
static uintptr_t catmemi_sys_large_sum(const catmemi_sys_large *r) {
    uintptr_t s = catmemi_sys_key ^ (uintptr_t)r;
    s = CATMEMI_SYS_MIX(s, r->p);
    s = CATMEMI_SYS_MIX(s, r->base);
    s = CATMEMI_SYS_MIX(s, r->size);
    s = CATMEMI_SYS_MIX(s, r->mapped);
    s = CATMEMI_SYS_MIX(s, r->heap);
    s = CATMEMI_SYS_MIX(s, r->slot);
    return CATMEMI_SYS_MIX(s, r->hnext);
}
/* The list's seal starts from another value than the table's (r + 1: records are aligned),
   so that neither seal can stand for the other. */
static uintptr_t catmemi_sys_large_lsum(const catmemi_sys_large *r) {
    uintptr_t s = catmemi_sys_key ^ ((uintptr_t)r + 1);
    s = CATMEMI_SYS_MIX(s, r->heap);
    s = CATMEMI_SYS_MIX(s, r->prev);
    return CATMEMI_SYS_MIX(s, r->next);
}
static void catmemi_sys_large_seal(catmemi_sys_large *r) { r->check = catmemi_sys_large_sum(r); }
static void catmemi_sys_large_lseal(catmemi_sys_large *r) { r->lcheck = catmemi_sys_large_lsum(r); }
static catmemi_sys_large *catmemi_sys_large_ok(catmemi_sys_large *r) {
    if (r->check != catmemi_sys_large_sum(r)) catmemi_sys_corrupt(r, "large block record");
    return r;
}
static catmemi_sys_large *catmemi_sys_large_lok(catmemi_sys_large *r) {
    if (r->lcheck != catmemi_sys_large_lsum(r)) catmemi_sys_corrupt(r, "large block record");
    return r;
}

static uint64_t catmemi_sys_hash(const void *p) {
    return ((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
}
/* p's stripe: the hash's top bits; its bucket there: lower ones (catmemi_sys_bucket). */
static catmemi_sys_stripe *catmemi_sys_stripe_of(const void *p) {
    return &catmemi_sys_stripes[catmemi_sys_hash(p) >> 58];
}
static size_t catmemi_sys_bucket(const void *p, size_t n) {
    return (size_t)(catmemi_sys_hash(p) >> 20) & (n - 1);
}

/* The stripes, made once, at the first large block: 0 when the OS refuses their memory. Their
   first buckets share one mapping. */
static int catmemi_sys_large_boot(void) {
    catmemi_sys_large **b;
    int i;
    if (__atomic_load_n(&catmemi_sys_lready, __ATOMIC_ACQUIRE)) return 1;
    pthread_mutex_lock(&catmemi_sys_rec_mu);
    if (!catmemi_sys_lready &&
        (b = (catmemi_sys_large **)catmemi_sys_guarded(CATMEMI_SYS_NSTRIPE * CATMEMI_SYS_STRIPE0 *
                                                       sizeof *b)) != NULL) {
        for (i = 0; i < CATMEMI_SYS_NSTRIPE; i++) {
            catmemi_sys_stripe *st = &catmemi_sys_stripes[i];
            pthread_mutex_init(&st->s.mu, NULL);
            st->s.buckets = b + i * CATMEMI_SYS_STRIPE0;
            st->s.nbuckets = CATMEMI_SYS_STRIPE0;
            st->s.n = 0;
            st->s.own = 0;
        }
        __atomic_store_n(&catmemi_sys_lready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&catmemi_sys_rec_mu);
    return __atomic_load_n(&catmemi_sys_lready, __ATOMIC_ACQUIRE);
}

/* rec_mu. Zeroed memory for the engine's metadata that lives as long as the process (records
   of large blocks, heaps), bytes rounded up to align (a power of two up to a page), carved from
   guarded slabs, never from malloc: no block of the program's lies next to it, so no linear
   overflow or underflow of one reaches it (issue 20). NULL: out of memory. */
static void *catmemi_sys_meta_locked(size_t bytes, size_t align) {
    char *at;
    bytes = (bytes + align - 1) & ~(align - 1);
    at = catmemi_sys_lnext == NULL
             ? NULL
             : (char *)(((uintptr_t)catmemi_sys_lnext + align - 1) & ~(uintptr_t)(align - 1));
    if (at == NULL || at > catmemi_sys_lend || (size_t)(catmemi_sys_lend - at) < bytes) {
        char *slab = (char *)catmemi_sys_guarded(CATMEMI_SYS_LSLAB);
        if (slab == NULL) return NULL;
        catmemi_sys_lnext = at = slab; /* the old slab's rest stays unused */
        catmemi_sys_lend = slab + CATMEMI_SYS_LSLAB;
    }
    catmemi_sys_lnext = at + bytes;
    return at;
}
static void *catmemi_sys_meta(size_t bytes, size_t align) {
    void *p;
    pthread_mutex_lock(&catmemi_sys_rec_mu);
    p = catmemi_sys_meta_locked(bytes, align);
    pthread_mutex_unlock(&catmemi_sys_rec_mu);
    return p;
}

/* h's lmu. A record of h: one it recycled, or a new one (rec_mu); NULL: out of memory. */
static catmemi_sys_large *catmemi_sys_large_new(catmemi_sys_heap *h) {
    catmemi_sys_large *r = h->lfree;
    if (r != NULL) {
        if (catmemi_sys_large_ok(r)->heap != h) catmemi_sys_corrupt(r, "large block record");
        h->lfree = r->hnext;
        return r;
    }
    r = (catmemi_sys_large *)catmemi_sys_meta(sizeof *r, sizeof(void *));
    if (r != NULL) r->heap = h;
    return r;
}

/* r's heap's lmu: r, out of the table and its heap's list, back to its heap's free records.
   Zeroed but for its heap, so that nothing of its block lingers. */
static void catmemi_sys_large_recycle(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    memset(r, 0, sizeof *r);
    r->heap = h;
    r->hnext = h->lfree;
    catmemi_sys_large_seal(r);
    h->lfree = r;
}

/* st's mutex. st's table becomes n buckets (a power of two), when the memory can be had; every
   record is verified on the way, as it is followed. */
static void catmemi_sys_large_rehash(catmemi_sys_stripe *st, size_t n) {
    catmemi_sys_large **b = (catmemi_sys_large **)catmemi_sys_guarded(n * sizeof *b), *r, *next;
    size_t i;
    if (b == NULL) return; /* longer chains */
    for (i = 0; i < st->s.nbuckets; i++)
        for (r = st->s.buckets[i]; r != NULL; r = next) {
            size_t j = catmemi_sys_bucket(catmemi_sys_large_ok(r)->p, n);
            next = r->hnext;
            r->hnext = b[j];
            catmemi_sys_large_seal(r);
            b[j] = r;
        }
    if (st->s.own) catmemi_sys_unguarded(st->s.buckets, st->s.nbuckets * sizeof *b);
    st->s.buckets = b;
    st->s.nbuckets = n;
    st->s.own = 1;
}

/* r's heap's lmu: r, its fields set, joins the table (its stripe's mutex taken here), which
   seals it. Under the lmu, so that r is on its heap's list and in the table together, as a
   fork() may see them (catmemi_sys_large_claim). */
static void catmemi_sys_large_put(catmemi_sys_large *r) {
    catmemi_sys_stripe *st = catmemi_sys_stripe_of(r->p);
    size_t i;
    pthread_mutex_lock(&st->s.mu);
    if (st->s.n >= st->s.nbuckets * 2) catmemi_sys_large_rehash(st, st->s.nbuckets * 4);
    i = catmemi_sys_bucket(r->p, st->s.nbuckets);
    r->hnext = st->s.buckets[i];
    catmemi_sys_large_seal(r);
    st->s.buckets[i] = r;
    st->s.n++;
    pthread_mutex_unlock(&st->s.mu);
}

/* st's mutex. Where st's table points at p's record (NULL when p is no large block), and the
   record before it on its chain (NULL for the first), every record on the way verified. */
static catmemi_sys_large **catmemi_sys_large_find(catmemi_sys_stripe *st, const void *p,
                                                  catmemi_sys_large **before) {
    catmemi_sys_large **at, *x;
    *before = NULL;
    for (at = &st->s.buckets[catmemi_sys_bucket(p, st->s.nbuckets)]; (x = *at) != NULL;
         at = &x->hnext) {
        if (catmemi_sys_large_ok(x)->p == p) return at;
        *before = x;
    }
    return NULL;
}

/* Removes and returns p's record (its stripe's mutex taken here); NULL when p is no large
   block. Under the record's heap's lmu (catmemi_sys_large_claim, reset). */
static catmemi_sys_large *catmemi_sys_large_take(const void *p) {
    catmemi_sys_stripe *st = catmemi_sys_stripe_of(p);
    catmemi_sys_large *before, **at, *x = NULL;
    if (!__atomic_load_n(&catmemi_sys_lready, __ATOMIC_ACQUIRE)) return NULL;
    pthread_mutex_lock(&st->s.mu);
    if ((at = catmemi_sys_large_find(st, p, &before)) != NULL) {
        x = *at;
        *at = x->hnext;
        if (before != NULL) catmemi_sys_large_seal(before);
        st->s.n--;
    }
    pthread_mutex_unlock(&st->s.mu);
    return x;
}

/* r's heap's lmu: r joins or leaves its heap's list and counters. The neighbours are verified,
   and must point back at r, before anything is written through them. */
static void catmemi_sys_large_link(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    catmemi_sys_large *next = h->large;
    if (next != NULL) {
        if (catmemi_sys_large_lok(next)->prev != NULL || next->heap != h)
            catmemi_sys_corrupt(next, "large block record");
        next->prev = r;
        catmemi_sys_large_lseal(next);
    }
    r->prev = NULL;
    r->next = next;
    catmemi_sys_large_lseal(r);
    h->large = r;
    CATMEMI_OWNER_ADD(h->large_bytes, r->size);
    CATMEMI_OWNER_ADD(h->large_mapped, r->mapped);
}
static void catmemi_sys_large_unlink(catmemi_sys_large *r) {
    catmemi_sys_heap *h = catmemi_sys_large_lok(r)->heap;
    catmemi_sys_large *prev = r->prev, *next = r->next;
    if (prev != NULL ? catmemi_sys_large_lok(prev)->next != r : h->large != r)
        catmemi_sys_corrupt(r, "large block record");
    if (next != NULL && catmemi_sys_large_lok(next)->prev != r)
        catmemi_sys_corrupt(r, "large block record");
    if (prev != NULL) {
        prev->next = next;
        catmemi_sys_large_lseal(prev);
    } else {
        h->large = next;
    }
    if (next != NULL) {
        next->prev = prev;
        catmemi_sys_large_lseal(next);
    }
    r->prev = r->next = NULL;
    CATMEMI_OWNER_ADD(h->large_bytes, (size_t)0 - r->size);
    CATMEMI_OWNER_ADD(h->large_mapped, (size_t)0 - r->mapped);
}

/* p's record, out of the table and off its heap's list, with that heap's lmu held; NULL
   (nothing held): p is no large block (or another thread's free of it came first). It leaves
   both under the lmu, which fork() takes first: a child never finds a record on a list and
   not in the table, however its parent's threads were caught. The record is then the
   caller's alone. */
static catmemi_sys_large *catmemi_sys_large_claim(const void *p) {
    catmemi_sys_stripe *st = catmemi_sys_stripe_of(p);
    catmemi_sys_large *before, **at, *r;
    catmemi_sys_heap *h = NULL;
    if (!__atomic_load_n(&catmemi_sys_lready, __ATOMIC_ACQUIRE)) return NULL;
    pthread_mutex_lock(&st->s.mu);
    if ((at = catmemi_sys_large_find(st, p, &before)) != NULL) h = (*at)->heap;
    pthread_mutex_unlock(&st->s.mu);
    if (h == NULL) return NULL;
    pthread_mutex_lock(&h->lmu); /* records never change heaps: h stays r's */
    if ((r = catmemi_sys_large_take(p)) == NULL) {
        pthread_mutex_unlock(&h->lmu);
        return NULL;
    }
    if (r->heap != h) catmemi_sys_corrupt(r, "large block record");
    catmemi_sys_large_unlink(r);
    return r;
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

/* h's lmu: a record for base, on h's list and counted (the caller puts it in the table
   before it lets the lmu go); NULL: no memory for it. */
static catmemi_sys_large *catmemi_sys_large_record(catmemi_sys_heap *h, char *base, size_t usable,
                                                   size_t total, size_t align) {
    catmemi_sys_large *r;
    uintptr_t at = (uintptr_t)base + CATMEMI_SYS_LPAD;
    if ((r = catmemi_sys_large_new(h)) == NULL) return NULL;
    r->base = base;
    r->p = (void *)(align > 16 ? (at + align - 1) & ~(uintptr_t)(align - 1) : at);
    if (CATMEMI_SYS_LPAD != 0) ((uintptr_t *)r->p)[-1] = 0;
    r->size = usable;
    r->mapped = total;
    r->slot = h->slot;
    catmemi_sys_large_link(r);
    CATMEMI_OWNER_ADD(h->nlarge, 1);
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
   its own, freed when freed). Under the heap's lmu. */
#define CATMEMI_SYS_KEEP       8
#define CATMEMI_SYS_KEEP_BYTES ((size_t)4 << 20)
typedef char catmemi_sys_keep_fits[sizeof(((catmemi_sys_heap *)0)->kept) ==
                                           CATMEMI_SYS_KEEP * sizeof(void *)
                                       ? 1
                                       : -1];

/* The seal of h's kept entry i: its pointer, size and time mixed with the key and the entry's
   address. A forged entry would make the next large allocation return any address, free one
   to malloc, or keep a block for ever; heaps live in guarded memory (heap.h), and the seal
   still catches a write that got there some other way. */
static uintptr_t catmemi_sys_kept_sum(const catmemi_sys_heap *h, unsigned i) {
    uintptr_t s = CATMEMI_SYS_MIX(catmemi_sys_key ^ (uintptr_t)&h->kept[i], h->kept[i]);
    s = CATMEMI_SYS_MIX(s, h->kept_total[i]);
    return CATMEMI_SYS_MIX(s, h->kept_at[i]);
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
/* Entry i of h becomes base, total bytes, kept since at (NULL, 0, 0: an empty entry, with no
   valid seal). */
static void catmemi_sys_kept_set(catmemi_sys_heap *h, unsigned i, void *base, size_t total,
                                 uint64_t at) {
    h->kept[i] = base;
    h->kept_total[i] = total;
    h->kept_at[i] = at;
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
    catmemi_sys_kept_set(h, i, catmemi_sys_kept_at(h, n), h->kept_total[n], h->kept_at[n]);
    catmemi_sys_kept_set(h, n, NULL, 0, 0);
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
    catmemi_sys_kept_set(h, n, base, total, now);
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
    while (i < catmemi_sys_kept_n(h)) {
        void *base = catmemi_sys_kept_at(h, i); /* its time is sealed too */
        if (now >= h->kept_at[i] && now - h->kept_at[i] >= (uint64_t)decay) {
            out[gone++] = base;
            catmemi_sys_kept_out(h, i);
        } else {
            i++;
        }
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
    pthread_mutex_lock(&h->lmu);
    n = catmemi_sys_kept_n(h);
    for (i = 0; i < n; i++) {
        kept[i] = catmemi_sys_kept_at(h, i);
        catmemi_sys_kept_set(h, i, NULL, 0, 0);
    }
    h->nkept = 0;
    __atomic_store_n(&h->kept_bytes, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lmu);
    for (i = 0; i < n; i++) CATMEM_SYSTEM_FREE(kept[i]);
}

static void *catmemi_sys_large_alloc(catmemi_sys_heap *h, size_t size, unsigned lg, int zero) {
    size_t align = (size_t)1 << lg, usable = catmemi_sys_large_usable(size), total, got = 0;
    catmemi_sys_large *r = NULL;
    char *base = NULL;
    if (size > CATMEM_SIZE_MAX - 2 * align - 16) return NULL; /* no malloc can serve it */
    if (!catmemi_sys_large_boot()) return NULL;
    total = usable + CATMEMI_SYS_LPAD + (align > 16 ? align : 0);
    if (align <= 16 && __atomic_load_n(&h->kept_bytes, __ATOMIC_RELAXED) != 0) {
        void *gone[CATMEMI_SYS_KEEP];
        uint64_t now = catmemi_sys_now();
        unsigned i, ngone;
        pthread_mutex_lock(&h->lmu);
        if ((base = catmemi_sys_kept_take(h, total, &got)) != NULL &&
            (r = catmemi_sys_large_record(h, base, usable, got, align)) == NULL &&
            !catmemi_sys_kept_put(h, base, got, now))
            CATMEM_SYSTEM_FREE(base); /* no record to be had: back where it was, or to malloc */
        if (r != NULL) catmemi_sys_large_put(r);
        ngone = catmemi_sys_kept_expire(h, now, gone);
        pthread_mutex_unlock(&h->lmu);
        for (i = 0; i < ngone; i++) CATMEM_SYSTEM_FREE(gone[i]);
        if (r != NULL) {
            if (zero) memset(r->p, 0, usable);
            return r->p;
        }
        if (base != NULL) return NULL;
    }
    base = (char *)(zero ? CATMEM_SYSTEM_CALLOC(1, total) : CATMEM_SYSTEM_MALLOC(total));
    if (base == NULL) return NULL;
    pthread_mutex_lock(&h->lmu);
    if ((r = catmemi_sys_large_record(h, base, usable, total, align)) != NULL)
        catmemi_sys_large_put(r);
    pthread_mutex_unlock(&h->lmu);
    if (r == NULL) {
        CATMEM_SYSTEM_FREE(base);
        return NULL;
    }
    return r->p;
}

/* Frees p if it is a large block: 1; 0 when it is not one (anymore). */
static int catmemi_sys_large_free(void *p) {
    uint64_t now = catmemi_sys_now();
    catmemi_sys_large *r = catmemi_sys_large_claim(p);
    catmemi_sys_heap *h;
    void *base, *gone[CATMEMI_SYS_KEEP];
    size_t size;
    unsigned slot, i, ngone;
    if (r == NULL) return 0;
    h = r->heap;
    CATMEMI_OWNER_ADD(h->nlarge_free, 1);
    base = r->base;
    size = r->size;
    slot = r->slot;
    ngone = catmemi_sys_kept_expire(h, now, gone); /* first: room for this one */
    if ((char *)r->p == (char *)base + CATMEMI_SYS_LPAD &&
        catmemi_sys_kept_put(h, base, r->mapped, now))
        base = NULL;
    catmemi_sys_large_recycle(r);
    pthread_mutex_unlock(&h->lmu);
    for (i = 0; i < ngone; i++) CATMEM_SYSTEM_FREE(gone[i]);
    if (catmemi_counted(catmemi_slot_at(slot))) catmemi_uncharge(catmemi_slot_at(slot), size);
    if (base != NULL) CATMEM_SYSTEM_FREE(base);
    return 1;
}

/* Looks p up without changing anything: its usable size and arena, or 0. */
static size_t catmemi_sys_large_info(const void *p, unsigned *slot) {
    catmemi_sys_stripe *st = catmemi_sys_stripe_of(p);
    catmemi_sys_large *before, **at;
    size_t n = 0;
    if (!__atomic_load_n(&catmemi_sys_lready, __ATOMIC_ACQUIRE)) return 0;
    pthread_mutex_lock(&st->s.mu);
    if ((at = catmemi_sys_large_find(st, p, &before)) != NULL) {
        n = (*at)->size;
        *slot = (*at)->slot;
    }
    pthread_mutex_unlock(&st->s.mu);
    return n;
}

/* Under catmemi_mu, nobody else using h's arena (THREADS in catmem.h): every large block of h
   back to malloc, counted as freed, its record recycled. Records are taken out under the
   heap's lmu, the blocks freed outside it, the records recycled under it again. */
static void catmemi_sys_large_reset(catmemi_sys_heap *h) {
    catmemi_sys_large *all, *r, *prev = NULL;
    pthread_mutex_lock(&h->lmu);
    all = h->large;
    for (r = all; r != NULL; prev = r, r = r->next) {
        if (catmemi_sys_large_lok(r)->heap != h || r->prev != prev ||
            catmemi_sys_large_take(r->p) != r)
            catmemi_sys_corrupt(r, "large block record");
        CATMEMI_OWNER_ADD(h->nlarge_free, 1);
    }
    h->large = NULL;
    __atomic_store_n(&h->large_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->large_mapped, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lmu);
    for (r = all; r != NULL; r = r->next) CATMEM_SYSTEM_FREE(r->base);
    pthread_mutex_lock(&h->lmu);
    while ((r = all) != NULL) {
        all = r->next;
        catmemi_sys_large_recycle(r);
    }
    pthread_mutex_unlock(&h->lmu);
    catmemi_sys_kept_drop(h);
}

/* fork(): every lock of large blocks, after the heaps' (which take their lmu themselves:
   catmemi_sys_atfork_*); 0 prepare, 1 parent, 2 child. */
static void catmemi_sys_large_fork(int when) {
    int i, ready = __atomic_load_n(&catmemi_sys_lready, __ATOMIC_ACQUIRE);
    for (i = 0; ready && i < CATMEMI_SYS_NSTRIPE; i++) {
        pthread_mutex_t *mu = &catmemi_sys_stripes[i].s.mu;
        if (when == 0) pthread_mutex_lock(mu);
        else if (when == 1) pthread_mutex_unlock(mu);
        else pthread_mutex_init(mu, NULL);
    }
    if (when == 0) pthread_mutex_lock(&catmemi_sys_rec_mu);
    else if (when == 1) pthread_mutex_unlock(&catmemi_sys_rec_mu);
    else pthread_mutex_init(&catmemi_sys_rec_mu, NULL);
}
