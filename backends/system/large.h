/* catmem's own engine: large blocks, a malloc each, recorded in a side table. Part of the
   implementation (core/impl.h); the engine is described at the top of fast.h. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

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

/* Table mutex: r joins or leaves its heap's list and counters. */
static void catmemi_sys_large_link(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    r->prev = NULL;
    r->next = h->large;
    if (r->next != NULL) r->next->prev = r;
    h->large = r;
    CATMEMI_OWNER_ADD(h->large_bytes, r->size);
    CATMEMI_OWNER_ADD(h->large_mapped, r->mapped);
}
static void catmemi_sys_large_unlink(catmemi_sys_large *r) {
    catmemi_sys_heap *h = r->heap;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        h->large = r->next;
    if (r->next != NULL) r->next->prev = r->prev;
    CATMEMI_OWNER_ADD(h->large_bytes, (size_t)0 - r->size);
    CATMEMI_OWNER_ADD(h->large_mapped, (size_t)0 - r->mapped);
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
    CATMEMI_OWNER_ADD(h->nlarge, 1);
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
        CATMEMI_OWNER_ADD(r->heap->nlarge_free, 1);
    }
    pthread_mutex_unlock(&catmemi_sys_large_mu);
    if (r == NULL) return 0;
    if (catmemi_counted(catmemi_slot_at(r->heap->slot)))
        catmemi_uncharge(catmemi_slot_at(r->heap->slot), r->size);
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
