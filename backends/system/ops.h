/* catmem's own engine: the operations the core calls (core/contract.h), and their table. Part
   of the implementation (core/impl.h); the engine is described at the top of fast.h. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

static int catmemi_sys_once(void) {
    catmemi_sys_classes();
    catmemi_sys_make_key();
    catmemi_sm_key = catmemi_random_word();
    catmemi_sm_eng = &catmemi_sys_sm_engine;
    return pthread_key_create(&catmemi_sys_tkey, catmemi_sys_thread_exit);
}

static int catmemi_sys_next_small(void) {
    return CATMEMI_SYS_ENGINE && catmemi_sys_nown + 1 > CATMEM_OWN_ARENAS;
}

/* Built-in arenas, and the first CATMEM_OWN_ARENAS user slots, get heaps of their own (the
   core reuses those slots first); later ones are small (small.h). Decided once per slot. */
static int catmemi_sys_arena_create(catmemi_slot *s) {
    int err = pthread_mutex_init(&s->sys.mu, NULL);
    s->sys.heaps = NULL;
    s->sys.decay = CATMEM_SYSTEM_DECAY_MS;
    if (err != 0 || s->id < CATMEM_KIND_COUNT) return err;
    if (catmemi_sys_next_small()) {
        s->small = 1;
        catmemi_sm_init(s);
        __atomic_store_n(&catmemi_sys_small_on, 1, __ATOMIC_RELEASE);
    } else {
        catmemi_sys_nown++;
    }
    return 0;
}

static void *catmemi_sys_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    catmemi_sys_heap *h;
    void *p;
    if (catmemi_sys_sm_only(s)) return catmemi_sm_alloc(s, size, opts);
    h = catmemi_sys_heap_for(s);
    p = h != NULL ? catmemi_sys_heap_alloc(h, size, opts) : NULL;
    catmemi_sys_let_go();
    return p;
}

static void catmemi_sys_free_slow(catmemi_slot *s, void *p, size_t size) {
    (void)s;
    (void)size;
    catmemi_sys_free_generic(p);
}

/* Usable size and arena of p; 0 when p is not catmem's. */
static size_t catmemi_sys_info(const void *p, unsigned *slot) {
    catmemi_sys_seg *sg = catmemi_sys_seg_of((uintptr_t)p);
    catmemi_slot *o;
    if (sg != NULL) {
        catmemi_sys_page *pg = catmemi_sys_page_of(sg, (uintptr_t)p);
        if (!catmemi_sys_in_page(pg, (uintptr_t)p)) return 0;
        *slot = sg->slot;
        return pg->bsize;
    }
    if ((o = catmemi_sys_sm_owner(p)) != NULL) {
        *slot = o->id;
        return catmemi_sm_usable(p);
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
   out of the table and its heap's list meanwhile (catmemi_sys_large_claim), and back in both
   after. NULL: failed, the block as it was. */
static void *catmemi_sys_large_realloc(catmemi_sys_large *r, size_t size) {
    catmemi_slot *s = catmemi_slot_at(r->slot);
    catmemi_sys_heap *h = r->heap;
    size_t usable = catmemi_sys_large_usable(size), old = r->size;
    int counted = catmemi_counted(s);
    void *q = NULL;
    /* A counted arena is charged the growth first, and settles after. */
    if (!counted || usable <= old || catmemi_charge(s, usable - old)) {
        q = CATMEM_SYSTEM_REALLOC(r->base, usable + CATMEMI_SYS_LPAD);
        if (counted) catmemi_recharge(s, usable > old ? usable : old, q != NULL ? usable : old);
    }
    pthread_mutex_lock(&h->lmu);
    if (q != NULL) {
        if (q != r->base) { /* moved: counted as an allocation and a free */
            CATMEMI_OWNER_ADD(h->nlarge, 1);
            CATMEMI_OWNER_ADD(h->nlarge_free, 1);
        }
        r->base = q;
        r->p = (char *)q + CATMEMI_SYS_LPAD;
        r->size = usable;
        r->mapped = usable + CATMEMI_SYS_LPAD;
    }
    catmemi_sys_large_link(r);
    catmemi_sys_large_put(r);
    pthread_mutex_unlock(&h->lmu);
    return q != NULL ? (char *)q + CATMEMI_SYS_LPAD : NULL;
}

static void *catmemi_sys_realloc_in(catmemi_slot *s, void *p, size_t size) {
    catmemi_sys_heap *h;
    catmemi_sys_large *r;
    unsigned slot = 0;
    size_t old;
    if (catmemi_sys_sm_only(s))
        return catmemi_sm_realloc(s, p, size, catmemi_sys_usable_size, catmemi_sys_free_generic);
    if ((h = catmemi_sys_heap_for(s)) == NULL) return NULL;
    if (catmemi_sys_seg_of((uintptr_t)p) == NULL && catmemi_sys_sm_owner(p) != NULL)
        return catmemi_sys_move(h, p, catmemi_sm_usable(p), size);
    if (catmemi_sys_seg_of((uintptr_t)p) != NULL) {
        old = catmemi_sys_info(p, &slot);
        if (old == 0) catmemi_sys_die("realloc of a pointer that is no block", p, slot);
        if (slot == s->id && size <= old && size > old / 2) return p;
        return catmemi_sys_move(h, p, old, size);
    }
    if ((r = catmemi_sys_large_claim(p)) == NULL) return NULL; /* not catmem's */
    if (r->slot == s->id && (char *)r->p == (char *)r->base + CATMEMI_SYS_LPAD &&
        (!CATMEMI_SYS_ENGINE || size > CATMEMI_SYS_SMALL_MAX)) {
        pthread_mutex_unlock(&r->heap->lmu);
        return catmemi_sys_large_realloc(r, size);
    }
    old = r->size;
    catmemi_sys_large_link(r);
    catmemi_sys_large_put(r);
    pthread_mutex_unlock(&r->heap->lmu);
    return catmemi_sys_move(h, p, old, size);
}

static void *catmemi_sys_realloc(catmemi_slot *s, void *p, size_t size) {
    void *q = catmemi_sys_realloc_in(s, p, size);
    catmemi_sys_let_go();
    return q;
}

static void catmemi_sys_drop_caches(catmemi_slot *s) { (void)s; } /* no caches */

/* Under catmemi_mu, with nobody else using the arena (THREADS in catmem.h): every segment and
   large block goes back to malloc; counters say every live block was freed. */
static void catmemi_sys_heap_reset(catmemi_sys_heap *h) {
    catmemi_sys_seg *sg, *next;
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
    catmemi_sys_large_reset(h);
}

/* A release also zeroes the counters, and the next arena in the slot starts uncounted (each
   thread's inline path opens again at its next slow path, catmemi_sys_heap_for). */
static int catmemi_sys_reset(catmemi_slot *s, int release) {
    catmemi_sys_heap *h;
    CATMEMI_ASSERT_LOCKED();
    if (s->small) catmemi_sm_reset(s, release);
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL; h = h->next) {
        catmemi_sys_heap_reset(h);
        if (release) {
            __atomic_store_n(&h->nalloc, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&h->nlarge, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&h->nlarge_free, 0, __ATOMIC_RELAXED);
        }
    }
    if (release) {
        __atomic_store_n(&s->counted, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->sys.decay, (long)CATMEM_SYSTEM_DECAY_MS, __ATOMIC_RELAXED);
    }
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
    CATMEMI_ASSERT_LOCKED();
    if (bytes == 0 || catmemi_counted(s)) return 0;
    pthread_mutex_lock(&s->sys.mu);
    for (h = s->sys.heaps; h != NULL; h = h->next) {
        pthread_mutex_lock(&h->mu);
        __atomic_store_n(&h->key, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_unlock(&s->sys.mu);
    memset(&st, 0, sizeof st);
    catmemi_sys_add(&st, &s->sys);
    if (s->small) catmemi_sm_stats(s, &st); /* a small arena's calls under its lock are exact */
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
        catmemi_sys_kept_drop(h);
    }
    pthread_mutex_unlock(&s->sys.mu);
    for (; empty != NULL; empty = next) {
        next = empty->next;
        catmemi_sys_seg_free(empty, 1);
    }
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
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
    out->resident += __atomic_load_n(&h->kept_bytes, __ATOMIC_RELAXED); /* freed, kept (large.h) */
    out->mapped += __atomic_load_n(&h->kept_bytes, __ATOMIC_RELAXED);
}

static void catmemi_sys_add(catmem_stats *out, catmemi_sys_slot *ss) {
    catmemi_sys_heap *h;
    pthread_mutex_lock(&ss->mu);
    for (h = ss->heaps; h != NULL; h = h->next) catmemi_sys_heap_stats(h, out);
    pthread_mutex_unlock(&ss->mu);
}

/* Always current: a reading sums the heaps' (or a small arena's) counters as they are. */
static int catmemi_sys_stats(catmemi_slot *s, catmem_stats *out, int fresh) {
    (void)fresh;
    if (s->small) {
        catmemi_sm_stats(s, out);
        out->nmalloc += __atomic_load_n(&s->sm.nmalloc, __ATOMIC_RELAXED);
        out->ndalloc += __atomic_load_n(&s->sm.ndalloc, __ATOMIC_RELAXED);
    }
    catmemi_sys_add(out, &s->sys);
    return 0;
}
static int catmemi_sys_refresh_stats(void) { return 0; }

static int catmemi_sys_total_stats(catmem_stats *out) {
    unsigned i;
    for (i = 0; i < __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE); i++)
        if (catmemi_created(catmemi_slot_at(i)))
            (void)catmemi_sys_stats(catmemi_slot_at(i), out, 1);
    return 0;
}

static catmemi_slot *catmemi_sys_owner_of(const void *p) {
    unsigned slot = CATMEMI_SYS_NO_SLOT;
    return catmemi_sys_info(p, &slot) != 0 ? catmemi_slot_at(slot) : NULL;
}

static int catmemi_sys_owns(const catmemi_slot *s, const void *p) {
    return catmemi_sys_owner_of(p) == s;
}

static void catmemi_sys_free_any(void *p) { catmemi_sys_free_generic(p); }

/* dirty_ms: how long the arena's kept large blocks may wait unused (large.h); the engine has no
   second stage (jemalloc's muzzy pages): muzzy_ms is checked, not used. A small arena keeps no
   large blocks: ENOTSUP, as on jemalloc; nor does any arena with the engine off (every block a
   malloc of its own). Pages of segments go back at catmem_arena_purge. */
static int catmemi_sys_set_decay(catmemi_slot *s, long dirty_ms, long muzzy_ms) {
    (void)muzzy_ms;
    if (s->small || !CATMEMI_SYS_ENGINE) return ENOTSUP;
    __atomic_store_n(&s->sys.decay, dirty_ms, __ATOMIC_RELAXED);
    return 0;
}
static int catmemi_sys_prof_active(int on) {
    (void)on;
    return ENOTSUP;
}
static int catmemi_sys_prof_dump(const char *path) {
    (void)path;
    return ENOTSUP;
}

/* Under catmemi_mu: whether the generic path may serve s. An arena that closes (shutdown,
   release, cleanups) also loses every heap's key and current pages, so the inline paths stop
   serving it. */
static void catmemi_sys_publish_one(catmemi_slot *s, int up) {
    int open = up && catmemi_slot_live(s);
    __atomic_store_n(&s->sys.open, open, __ATOMIC_RELAXED);
    if (s->sys.was_open && !open) {
        catmemi_sys_heap *h;
        pthread_mutex_lock(&s->sys.mu);
        for (h = s->sys.heaps; h != NULL; h = h->next) {
            pthread_mutex_lock(&h->mu);
            __atomic_store_n(&h->key, 0, __ATOMIC_RELAXED);
            catmemi_sys_heap_close(h);
            pthread_mutex_unlock(&h->mu);
        }
        pthread_mutex_unlock(&s->sys.mu);
    }
    s->sys.was_open = open;
}

/* s opened or closed; NULL: catmem itself (init, shutdown), every arena. */
static void catmemi_sys_publish(catmemi_slot *s) {
    unsigned i;
    int up;
    CATMEMI_ASSERT_LOCKED();
    if (s != NULL) {
        catmemi_sys_publish_one(s, catmemi_is_up());
        return;
    }
    up = catmemi_is_up();
    for (i = 0; i < catmemi_nslots; i++)
        if (catmemi_created(catmemi_slot_at(i))) catmemi_sys_publish_one(catmemi_slot_at(i), up);
}

/* Every mutex of the backend is taken around fork(), in the lock order, so that the child never
   inherits one held mid-update. */
static void catmemi_sys_atfork_prepare(void) {
    unsigned i;
    catmemi_sys_heap *h;
    catmemi_sm_fork(0);
    for (i = 0; i < catmemi_nslots; i++)
        if (catmemi_created(catmemi_slot_at(i))) {
            pthread_mutex_lock(&catmemi_slot_at(i)->sys.mu);
            for (h = catmemi_slot_at(i)->sys.heaps; h != NULL; h = h->next) {
                pthread_mutex_lock(&h->mu);
                pthread_mutex_lock(&h->lmu);
            }
        }
    catmemi_sys_large_fork(0);
}
static void catmemi_sys_atfork_parent(void) {
    unsigned i;
    catmemi_sys_heap *h;
    catmemi_sys_large_fork(1);
    for (i = 0; i < catmemi_nslots; i++)
        if (catmemi_created(catmemi_slot_at(i))) {
            for (h = catmemi_slot_at(i)->sys.heaps; h != NULL; h = h->next) {
                pthread_mutex_unlock(&h->lmu);
                pthread_mutex_unlock(&h->mu);
            }
            pthread_mutex_unlock(&catmemi_slot_at(i)->sys.mu);
        }
    catmemi_sm_fork(1);
}
/* In the child only the forking thread runs: the other threads' heaps become orphans. */
static void catmemi_sys_atfork_child(void) {
    unsigned i;
    catmemi_sm_fork(2);
    catmemi_sys_large_fork(2);
    for (i = 0; i < catmemi_nslots; i++) {
        catmemi_sys_heap *h;
        if (!catmemi_created(catmemi_slot_at(i))) continue;
        pthread_mutex_init(&catmemi_slot_at(i)->sys.mu, NULL);
        for (h = catmemi_slot_at(i)->sys.heaps; h != NULL; h = h->next) {
            pthread_mutex_init(&h->mu, NULL);
            pthread_mutex_init(&h->lmu, NULL);
            h->rng = 0; /* restarts from the child's seed (catmemi_rand_reseed) */
            if (h->owner != NULL && h->owner != catmemi_sys_tab) catmemi_sys_orphan(h);
        }
    }
}

/* The table the core calls through (CATMEMI_OPS_TABLE, core/contract.h). */
CATMEMI_OPS_TABLE(sys, "system", "catmem's arenas")
