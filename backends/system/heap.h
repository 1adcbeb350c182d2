/* catmem's own engine: allocation and free on the slow paths, heaps and threads. Part of the
   implementation (core/impl.h); the engine is described at the top of fast.h. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

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
   statistics count (its class, or a large block's usable size). Inlined: an arena with a limit
   allocates through here every time. */
CATMEMI_INLINE void *catmemi_sys_heap_alloc(catmemi_sys_heap *h, size_t size, int opts) {
    catmemi_slot *s = catmemi_slot_at(h->slot);
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

/* The calling thread's heap for slot id, or NULL: its table first, then its list of heaps
   (the table's entry held another arena's), which puts it back in the table. No lock: the
   list and the table are the thread's own. */
static catmemi_sys_heap *catmemi_sys_mine_listed(unsigned id) {
    catmemi_sys_heap *h;
    for (h = catmemi_sys_own; h != NULL && h->slot != id; h = h->tnext) {}
    if (h != NULL) catmemi_sys_tab[CATMEMI_TAB_OF(id)] = h;
    return h;
}
static inline catmemi_sys_heap *catmemi_sys_mine(unsigned id) {
    catmemi_sys_heap *h = catmemi_sys_tab[CATMEMI_TAB_OF(id)];
    if (CATMEMI_LIKELY(h->slot == id && h != &catmemi_sys_nobody)) return h;
    return catmemi_sys_mine_listed(id);
}

/* h, the calling thread's heap for s (in its table): the inline paths get it for s's handle
   unless s is counted. A slot that was counted and is not any more (released, then reused),
   or that has a new arena, opens again here. */
static void catmemi_sys_open_inline(catmemi_slot *s, catmemi_sys_heap *h, uintptr_t key) {
    if (!catmemi_counted(s) && __atomic_load_n(&h->key, __ATOMIC_RELAXED) != key)
        __atomic_store_n(&h->key, key, __ATOMIC_RELAXED);
}

/* Everything the inline path does not serve, while the calling thread has a heap there (a
   counted arena's heap too, which the inline path does not serve). */
CATMEMI_API void *catmemi_sys_alloc_generic(const catmem_arena *a, size_t size, int opts) {
    unsigned id = (unsigned)(uintptr_t)a;
    catmemi_sys_heap *h = catmemi_sys_mine(id);
    catmemi_slot *s;
    void *p;
    /* A heap for slot id means the slot exists; the key must be its live arena's (a stale
       handle takes the core's path, which reports it). */
    if (h == NULL || catmemi_key(s = catmemi_slot_at(id)) != (uintptr_t)a ||
        !__atomic_load_n(&s->sys.open, __ATOMIC_RELAXED))
        return catmemi_alloc_slow(a, size, opts);
    catmemi_sys_open_inline(s, h, (uintptr_t)a);
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
            uintptr_t next = catmemi_sys_lx(x->link, x);
            if (x == b) catmemi_sys_die("double free", b, slot);
            if (n > pg->reserved || (next != 0 && !catmemi_sys_in_page(pg, next)))
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
        b->link = catmemi_sys_lx((uintptr_t)old, b);
    } while (!__atomic_compare_exchange_n(&pg->thread_free, &old, b, 1, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    __atomic_fetch_add(&pg->xfreed, 1, __ATOMIC_RELEASE);
}

/* The page of p, which must be a block of a segment; stops the process otherwise, saying
   what p is: inside a block, or in memory no block was ever carved from. */
static catmemi_sys_page *catmemi_sys_block_page(catmemi_sys_seg *sg, const void *p) {
    catmemi_sys_page *pg = catmemi_sys_page_of(sg, (uintptr_t)p);
    if (!catmemi_sys_in_page(pg, (uintptr_t)p))
        catmemi_sys_die((uintptr_t)p - pg->start < __atomic_load_n(&pg->span, __ATOMIC_RELAXED)
                            ? "free of a pointer inside a block, not at its start"
                            : "free of a pointer to no block (memory catmem never handed out)",
                        p, sg->slot);
    return pg;
}

/* Any free: a block of a segment (own or remote), a large block, or a pointer that is neither
   (refused with EINVAL, as the block has no owner to name). */
CATMEMI_API void catmemi_sys_free_generic(void *p) {
    uintptr_t u = (uintptr_t)p;
    catmemi_sys_seg *sg = catmemi_sys_seg_of(u);
    if (sg != NULL) {
        catmemi_sys_page *pg = catmemi_sys_block_page(sg, p);
        catmemi_sys_heap *h = catmemi_sys_mine(sg->slot);
        catmemi_slot *s = catmemi_slot_at(sg->slot);
        if (catmemi_counted(s)) catmemi_uncharge(s, pg->bsize);
        if (h != NULL && __atomic_load_n(&pg->heap, __ATOMIC_RELAXED) == h)
            catmemi_sys_owner_free(pg, (catmemi_sys_blk *)p);
        else
            catmemi_sys_remote_free(pg, (catmemi_sys_blk *)p);
        return;
    }
    if (__atomic_load_n(&catmemi_sys_small_on, __ATOMIC_ACQUIRE) && catmemi_sm_free_if_small(p))
        return;
    if (!catmemi_sys_large_free(p))
        errno = EINVAL;
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
    __atomic_store_n(&h->key, 0, __ATOMIC_RELAXED);
    h->owner = NULL;
    pthread_mutex_unlock(&h->mu);
    catmemi_sys_kept_drop(h); /* no thread of its own to reuse them */
}

/* A heap lives as long as the process (an orphan is adopted, never freed), in catmem's guarded
   metadata (large.h, catmemi_sys_meta), not among malloc's blocks where an overflow of the
   memory before it would rewrite its pages and lists; on cache lines of its own. Linux's
   mutexes cannot fail to initialise; were one to, its memory would stay unused. */
static catmemi_sys_heap *catmemi_sys_heap_new(unsigned slot) {
    catmemi_sys_heap *h = (catmemi_sys_heap *)catmemi_sys_meta(sizeof *h, 64);
    if (h == NULL) return NULL;
    if (pthread_mutex_init(&h->mu, NULL) != 0) return NULL;
    if (pthread_mutex_init(&h->lmu, NULL) != 0) {
        pthread_mutex_destroy(&h->mu);
        return NULL;
    }
    catmemi_sys_heap_close(h);
    h->slot = slot;
    return h;
}

/* The calling thread's heap for s: an orphan adopted, or a new one. NULL: out of memory. The
   inline paths get it too unless s is counted. */
static catmemi_sys_heap *catmemi_sys_heap_for(catmemi_slot *s) {
    catmemi_sys_heap *h = catmemi_sys_mine(s->id);
    if (h != NULL) {
        catmemi_sys_open_inline(s, h, catmemi_key(s));
        return h;
    }
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL && h->owner != NULL; h = h->next) {}
    if (h == NULL && (h = catmemi_sys_heap_new(s->id)) != NULL) {
        h->next = s->sys.heaps;
        s->sys.heaps = h;
    }
    if (h != NULL) {
        pthread_mutex_lock(&h->mu);
        h->owner = catmemi_sys_tab;
        pthread_mutex_unlock(&h->mu);
        h->tnext = catmemi_sys_own;
        catmemi_sys_own = h;
        catmemi_sys_tab[CATMEMI_TAB_OF(s->id)] = h;
        catmemi_sys_open_inline(s, h, catmemi_key(s));
        pthread_setspecific(catmemi_sys_tkey, catmemi_sys_tab); /* orphaned at thread exit */
    }
    pthread_mutex_unlock(&s->sys.mu);
    return h;
}

/* The thread's exit destructor ran: glibc may run it in no further round (an allocation in a
   newer key's destructor, in the last round), so from then on every slow path that took a heap
   gives it back at once (catmemi_sys_let_go); a heap kept would never be orphaned, and its
   segment never reused. */
static CATMEMI_TLS int catmemi_sys_gone;

/* Runs on the exiting thread, whose thread-locals are still there. */
static void catmemi_sys_thread_exit(void *arg) {
    catmemi_sys_heap *h, *next;
    unsigned i;
    (void)arg;
    catmemi_sys_gone = 1;
    for (h = catmemi_sys_own; h != NULL; h = next) {
        catmemi_sys_slot *ss = &catmemi_slot_at(h->slot)->sys;
        next = h->tnext;
        pthread_mutex_lock(&ss->mu);
        catmemi_sys_orphan(h);
        pthread_mutex_unlock(&ss->mu);
    }
    catmemi_sys_own = NULL;
    for (i = 0; i < CATMEMI_TAB; i++) catmemi_sys_tab[i] = &catmemi_sys_nobody;
}

/* After a slow path of a thread whose exit ran: the heaps it took are orphans again. */
static inline void catmemi_sys_let_go(void) {
    if (CATMEMI_UNLIKELY(catmemi_sys_gone)) catmemi_sys_thread_exit(NULL);
}
