/* catmem's own engine: errors that stop the process, size classes, the key, segments and
   pages. Part of the implementation (core/impl.h); the engine is described at the top of
   fast.h. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* madvise is not declared in strict ISO C modes (-std=c99 without _DEFAULT_SOURCE), which
   catmem supports; it exists in every Linux libc, with MADV_DONTNEED 4. */
#if !defined(MADV_DONTNEED)
extern int madvise(void *addr, size_t len, int advice);
#  define MADV_DONTNEED 4
#endif

#define CATMEMI_SYS_OS_PAGE 4096u
#define CATMEMI_SYS_SCAN    8 /* pages of a class looked at before a new page is taken */

/* What an empty entry of a thread's table holds: key 0, no pages. */
static catmemi_sys_heap catmemi_sys_nobody;
CATMEMI_TLS catmemi_sys_heap *catmemi_sys_tab[CATMEMI_TAB] =
    CATMEMI_TAB_INIT(&catmemi_sys_nobody);
/* Every heap of the calling thread, linked by tnext: what its table lost to other arenas of
   the same entry, and what it orphans when it exits. */
static CATMEMI_TLS catmemi_sys_heap *catmemi_sys_own;
#define CATMEMI_SYS_NO_SLOT ((unsigned)-1) /* "no arena" where a slot id is asked for */
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
    return slot < __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE) ? catmemi_slot_at(slot)->name
                                                                     : "?";
}

static void CATMEMI_NORETURN catmemi_sys_die(const char *what, const void *p, unsigned slot) {
    fprintf(stderr, "catmem: %s at %p in arena '%s'\n", what, p, catmemi_sys_arena_name(slot));
    abort();
}

/* Corrupted metadata: the segment (and so its arena) is named when its cookie is intact. Only
   read where the bitmap says a segment is: a large block's record lies in none. */
CATMEMI_API void catmemi_sys_corrupt(const void *p, const char *what) {
    catmemi_sys_seg *sg = catmemi_sys_seg_raw((uintptr_t)p);
    char msg[96];
    unsigned slot = CATMEMI_SYS_NO_SLOT;
    if (sg != NULL && strcmp(what, "segment header") != 0 &&
        sg->cookie == (catmemi_sys_key ^ (uintptr_t)sg))
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
static void catmemi_sys_make_key(void) { catmemi_sys_key = catmemi_random_word(); }

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
            catmemi_sys_lx(i + 1 < end ? b + pg->bsize : (uintptr_t)pg->free, (void *)b);
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
        uintptr_t next = catmemi_sys_lx(x->link, x);
        /* More blocks than the page holds: the list loops, a block freed twice by other
           threads (each free went on the list) */
        if (++n > pg->reserved)
            catmemi_sys_die("double free by other threads (the page's thread free list loops)",
                            x, catmemi_sys_seg_of_page(pg)->slot);
        if (next != 0 && !catmemi_sys_in_page(pg, next))
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
    int own = purge && h->owner == catmemi_sys_tab;
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
    catmemi_sys_slot *ss = &catmemi_slot_at(h->slot)->sys;
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

/* Under h's mutex: where a search for a free page of a segment starts, 1 to NPAGES - 1, at
   random (CATMEM_SECURE; 1 otherwise). After a reset a class's blocks then come from another
   page of the segment than before, with a chance of 1 in 15 of the same: a stale pointer no
   longer lands on the new object of its class at a known offset (issue 20 E, in part: within
   a page the order stays the address order, which the Lua VM's speed depends on). */
static int catmemi_sys_page_pick(catmemi_sys_heap *h) {
    if (!CATMEM_SECURE) return 1;
    return 1 + (int)((catmemi_rand(&h->rng) >> 32) % (CATMEMI_SYS_NPAGES - 1));
}

static catmemi_sys_page *catmemi_sys_page_free_slot(catmemi_sys_heap *h, unsigned c) {
    catmemi_sys_seg *sg;
    int i, k, first = catmemi_sys_page_pick(h);
    for (sg = h->segs; sg != NULL; sg = sg->next)
        if (sg->npages < CATMEMI_SYS_NPAGES - 1)
            for (k = 0, i = first; k < CATMEMI_SYS_NPAGES - 1; k++) {
                if (sg->pages[i].bsize == 0) return catmemi_sys_page_init(h, sg, i, c);
                if (++i == CATMEMI_SYS_NPAGES) i = 1;
            }
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
    return catmemi_sys_page_init(h, sg, catmemi_sys_page_pick(h), c);
}

#if CATMEM_DEBUG
/* A page's invariants (top of fast.h), for its owner. O(blocks on its lists): debug builds
   only, on slow paths. */
static int catmemi_sys_page_valid(const catmemi_sys_page *pg) {
    const catmemi_sys_blk *lists[2], *x;
    uint32_t n = 0;
    int k;
    if (pg->bsize == 0) return pg->free == NULL && pg->local_free == NULL;
    if (pg->cls >= CATMEMI_SYS_NCLS || pg->bsize != catmemi_sys_csize[pg->cls] ||
        pg->capacity > pg->reserved ||
        __atomic_load_n(&pg->span, __ATOMIC_RELAXED) != pg->capacity * pg->bsize)
        return 0;
    lists[0] = pg->free;
    lists[1] = pg->local_free;
    for (k = 0; k < 2; k++)
        for (x = lists[k]; x != NULL; x = (const catmemi_sys_blk *)catmemi_sys_lx(x->link, x)) {
            if (++n > pg->capacity || !catmemi_sys_in_page(pg, (uintptr_t)x)) return 0;
        }
    return __atomic_load_n(&pg->used, __ATOMIC_RELAXED) + n == pg->capacity;
}
#endif

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
        CATMEMI_ASSERT(found->heap == h && catmemi_sys_page_valid(found));
        found = catmemi_sys_refill(found) ? found : NULL;
        if (found != NULL) h->pages[c] = found;
    }
    pthread_mutex_unlock(&h->mu);
    return found;
}

static void *catmemi_sys_small_alloc(catmemi_sys_heap *h, unsigned c) {
    catmemi_sys_page *pg = h->pages[c];
    CATMEMI_ASSERT(pg == &catmemi_sys_empty ||
                   (pg->cls == c && pg->heap == h && catmemi_sys_page_valid(pg)));
    if (pg == &catmemi_sys_empty || !catmemi_sys_refill(pg)) {
        pg = catmemi_sys_page_find(h, c);
        if (pg == NULL) return NULL;
    }
    return catmemi_sys_pop(h, pg);
}

