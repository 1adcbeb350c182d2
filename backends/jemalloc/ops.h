/* catmem's jemalloc engine: the operations the core calls (core/contract.h), and their table.
   Part of the implementation (core/impl.h); the engine is described at the top of fast.h. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* jemalloc's version string, or NULL when it does not answer. */
static const char *catmemi_je_version(void) {
    const char *version = NULL;
    size_t sz = sizeof version;
    return CATMEMI_JE(mallctl)("version", &version, &sz, NULL, 0) == 0 ? version : NULL;
}

static int catmemi_je_prof_enabled(void);

/* 1 when jemalloc's first small classes are the ones catmemi_class assumes (core/classes.h);
   learns how many blocks a slab of each holds. */
static int catmemi_je_classes_match(void) {
    unsigned nbins, k;
    size_t sz = sizeof nbins;
    if (CATMEMI_JE(mallctl)("arenas.nbins", &nbins, &sz, NULL, 0) != 0 || nbins < CATMEMI_NCLASS)
        return 0;
    for (k = 0; k < CATMEMI_NCLASS; k++) {
        char name[48];
        size_t size = 0;
        uint32_t nregs = 0;
        sz = sizeof size;
        snprintf(name, sizeof name, "arenas.bin.%u.size", k);
        if (CATMEMI_JE(mallctl)(name, &size, &sz, NULL, 0) != 0 || size != catmemi_class_size[k])
            return 0;
        sz = sizeof nregs;
        snprintf(name, sizeof name, "arenas.bin.%u.nregs", k);
        if (CATMEMI_JE(mallctl)(name, &nregs, &sz, NULL, 0) != 0 || nregs == 0) return 0;
        catmemi_je_nregs[k] = nregs;
    }
    return 1;
}

/* Once per process: is jemalloc really there and answering? And may catmem cache in front of
   it: not while heap profiling (every allocation must reach jemalloc's sampler), not with
   other size classes, not when CATMEM_JEMALLOC_CACHE_BYTES is 0. */
static int catmemi_je_once(void) {
    const char *off = NULL;
    size_t sz;
    if (catmemi_je_version() == NULL) return ENOSYS;
    sz = sizeof catmemi_je_page;
    if (CATMEMI_JE(mallctl)("arenas.page", &catmemi_je_page, &sz, NULL, 0) != 0) return ENOSYS;
    if (CATMEM_JEMALLOC_CACHE_BYTES == 0)
        off = "CATMEM_JEMALLOC_CACHE_BYTES is 0";
    else if (!catmemi_je_classes_match())
        off = "jemalloc's size classes are not the ones catmem knows";
    else if (catmemi_je_prof_enabled())
        off = "heap profiling (opt.prof)";
    catmemi_je_front = off == NULL;
    catmemi_je_batch_miblen = sizeof catmemi_je_batch_mib / sizeof catmemi_je_batch_mib[0];
    if (CATMEM_JEMALLOC_TCACHES == 0 ||
        CATMEMI_JE(mallctlnametomib)("experimental.batch_alloc", catmemi_je_batch_mib,
                                     &catmemi_je_batch_miblen) != 0)
        catmemi_je_batch_miblen = 0;
    if (off != NULL) { /* every call takes the arena's lock: say so where users look */
        char note[96];
        snprintf(note, sizeof note, "; front caches off: %s", off);
        catmemi_say(note);
    }
    catmemi_sm_key = catmemi_random_word();
    catmemi_sm_eng = &catmemi_je_sm_engine;
    catmemi_je_lkey = catmemi_random_word();
    catmemi_je_fkey = catmemi_random_word();
    catmemi_je_map_init();
    return pthread_key_create(&catmemi_je_key, catmemi_je_thread_exit);
}

/* User slots given a jemalloc arena of their own so far. */
static unsigned catmemi_je_nown;

/* Small arenas (small.h) need the front caches' inline paths. */
static int catmemi_je_next_small(void) {
    return catmemi_je_front && catmemi_je_nown + 1 > CATMEM_OWN_ARENAS;
}

/* A new jemalloc arena, with the hooks of the page map (owners.h) when it is on: 0, or EAGAIN
   when jemalloc makes no more (an index past catmem's table is left unused: jemalloc cannot
   destroy an arena). */
static int catmemi_je_new_arena(unsigned *index) {
    catmemi_je_hooks *h = &catmemi_je_my_hooks;
    size_t sz = sizeof *index;
    char name[64];
    int err = CATMEMI_JE(mallctl)("arenas.create", index, &sz, NULL, 0);
    if (err == 0 && *index >= CATMEMI_JE_ARENA_LIMIT) err = EAGAIN;
    /* The hooks once the arena exists, before it hands anything out: given to arenas.create,
       jemalloc 5.2's default alloc hook (which catmem's calls) looks the arena up while it is
       being made and crashes (the Rust example's jemalloc-sys). Without them, no map. */
    if (err == 0 && catmemi_je_def != NULL) {
        snprintf(name, sizeof name, "arena.%u.extent_hooks", *index);
        if (CATMEMI_JE(mallctl)(name, NULL, NULL, &h, sizeof h) != 0)
            __atomic_store_n(&catmemi_je_map_on, 0, __ATOMIC_RELEASE);
    }
    return err;
}

/* A built-in arena, and the first CATMEM_OWN_ARENAS user slots, get a jemalloc arena of
   their own (the core reuses those slots first); later ones are small (small.h). Decided once
   per slot. A failure fails the create (ERRORS in catmem.h), and the next create tries again:
   a slot's kind does not depend on a passing failure. */
static int catmemi_je_arena_create(catmemi_slot *s) {
    unsigned index;
    int user = s->id >= CATMEM_KIND_COUNT, err;
    if (!user || !catmemi_je_next_small()) {
        if ((err = catmemi_je_new_arena(&index)) != 0) return err;
        catmemi_je_nown += (unsigned)user;
        s->je.index = index;
        __atomic_store_n(&catmemi_je_slot_of[index], s, __ATOMIC_RELEASE);
        __atomic_store_n(&catmemi_je_slot_id[index], s->id + 1, __ATOMIC_RELEASE);
        return 0;
    }
    /* The shared arena of small arenas' chunks comes with the first one (its failure fails
       that create, as any arena's). */
    if (!catmemi_je_small_on) {
        if ((err = catmemi_je_new_arena(&index)) != 0) return err;
        catmemi_je_backing = index;
        __atomic_store_n(&catmemi_je_small_on, 1, __ATOMIC_RELEASE);
    }
    s->small = 1;
    s->je.index = catmemi_je_backing;
    catmemi_sm_init(s);
    return 0;
}

static int catmemi_je_allocated(const catmemi_slot *s, size_t *bytes, int fresh);

/* Under catmemi_mu, s->limit already bytes. Blocks are charged where they leave or reach the
   arena, so a block in a front cache counts. So that the live blocks stay under the new limit,
   the calling thread's cached blocks of s go back and its cache takes its new allowance (at
   most limit / 16); for a first limit (nobody else using s) every thread's cache does, as it
   may hold a whole share of the budget. Other threads' caches learn of a later change at their
   next refill or overflow. The first limit starts the count from what jemalloc says the arena
   has handed out (catmem's caches take blocks with MALLOCX_TCACHE_NONE: no jemalloc cache in
   between). */
static int catmemi_je_set_limit(catmemi_slot *s, size_t bytes) {
    catmemi_je_cache *own = catmemi_je_own_locked(s), *c;
    size_t allocated;
    int err;
    CATMEMI_ASSERT_LOCKED();
    if (s->small) { /* exact: no front caches from the first limit on */
        if (bytes != 0 && !catmemi_counted(s)) {
            catmemi_je_s_count_from_now(s);
            __atomic_store_n(&s->counted, 1, __ATOMIC_RELAXED);
        }
        return 0;
    }
    catmemi_je_flush_own_locked(s);
    if (own != NULL) catmemi_je_reshare(own);
    if (bytes == 0 || catmemi_counted(s)) return 0;
    for (c = s->je.caches; c != NULL; c = c->anext) {
        catmemi_je_empty(c);
        catmemi_je_demote(c->thread, c, 1); /* a counted arena's blocks leave it through
                                               front caches */
        catmemi_je_reshare_in(c->thread, c);
    }
    if ((err = catmemi_je_allocated(s, &allocated, 0)) != 0) return err;
    __atomic_store_n(&s->charged, allocated, __ATOMIC_RELAXED);
    catmemi_peak(s, allocated);
    __atomic_store_n(&s->counted, 1, __ATOMIC_RELAXED);
    return 0;
}

/* A block straight from the arena, charged first: its class size comes from nallocx. */
static void *catmemi_je_direct_alloc(catmemi_slot *s, size_t size, int flags) {
    size_t usize = 0, total = 0;
    int counted = catmemi_counted(s);
    void *p;
    if (counted && ((usize = CATMEMI_JE(nallocx)(size, flags)) == 0 ||
                    (total = catmemi_je_charge(s, usize)) == 0))
        return NULL;
    p = CATMEMI_JE(mallocx)(size, flags);
    if (p == NULL) {
        if (counted) catmemi_uncharge(s, usize);
        return NULL;
    }
    if (counted) catmemi_peak(s, total);
    catmemi_je_map_class(p, 0); /* its page's class (fast.h, THE PAGE MAP): ask jemalloc */
    __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
    /* No free mark (FREE MARKS in fast.h): the block has a second word when it is above 8
       bytes or aligned to 16 or more. */
    if (CATMEM_SECURE && (size > sizeof(uintptr_t) || (flags & CATMEMI_LG_ALIGN_MASK) >= 4))
        ((uintptr_t *)p)[1] = 0;
    return p;
}

/* The arena p belongs to, when it has a jemalloc arena of its own: for frees that name no
   arena. */
CATMEMI_INLINE catmemi_slot *catmemi_je_owner(unsigned index) {
    return index < CATMEMI_JE_ARENA_LIMIT
               ? __atomic_load_n(&catmemi_je_slot_of[index], __ATOMIC_ACQUIRE)
               : NULL;
}

/* Small requests through the cache, aligned ones too: rounded up to a multiple of their
   alignment (up to a page), the class of that size is itself a multiple of the alignment, and
   jemalloc lays a class's blocks out at multiples of its size from a page boundary. */
static void *catmemi_je_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    catmemi_je_cache *c;
    size_t align = (size_t)1 << (opts & CATMEMI_LG_ALIGN_MASK);
    if (s->small) return catmemi_sm_alloc(s, size, opts);
    c = catmemi_je_cache_for(s);
    if (c != NULL && align <= catmemi_je_page) {
        size_t need = (size + align - 1) & ~(align - 1);
        if (need <= CATMEMI_CLASS_MAX && catmemi_class(need) <= c->top) {
            unsigned k = catmemi_class(need);
            void *p = catmemi_je_pop(c, k);
            if (p == NULL) p = catmemi_je_refill(c, k);
            if (p != NULL && (opts & CATMEMI_ZERO)) memset(p, 0, size);
            return p;
        }
    }
    return catmemi_je_direct_alloc(
        s, size, CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE | opts);
}

/* A block straight back to its arena, uncharged from s (NULL: the arena jemalloc names). */
static void catmemi_je_direct_free(catmemi_slot *s, void *p, size_t size) {
    if (s == NULL) {
        unsigned index = catmemi_je_lookup(p);
        if (catmemi_je_in_small(index)) {
            catmemi_sm_free(NULL, p);
            return;
        }
        s = catmemi_je_owner(index);
    }
    if (s != NULL) { /* the usable size for the charge, any size of the class for the mark */
        int counted = catmemi_counted(s);
        size_t usize = counted || (CATMEM_SECURE && size == 0) ? CATMEMI_JE(sallocx)(p, 0) : size;
        catmemi_je_mark(p, usize);
        if (counted) catmemi_uncharge(s, usize);
        __atomic_fetch_add(&s->je.ndalloc, 1, __ATOMIC_RELAXED);
    }
    if (size != 0)
        CATMEMI_JE(sdallocx)(p, size, CATMEMI_MALLOCX_TCACHE_NONE);
    else
        CATMEMI_JE(dallocx)(p, CATMEMI_MALLOCX_TCACHE_NONE);
}

/* s NULL: no usable arena (NULL handle, shutdown, released): straight back to its arena. A
   small block goes into the cache even past its allowance; the cache then trims itself. */
static void catmemi_je_free_any(void *p);
static void catmemi_je_free_slow(catmemi_slot *s, void *p, size_t size) {
    catmemi_je_cache *c;
    if (s != NULL && s->small) {
        catmemi_je_sm_free(s, p);
        return;
    }
    c = s != NULL ? catmemi_je_cache_for(s) : NULL;
    /* Freed into the wrong arena: to its owner. A free without a size is checked at every level
       but 0 (the inline path read p's entry: no class there, or not c's arena). */
    if (c != NULL && (catmemi_je_foreign(c, p) ||
                      (CATMEM_SECURE && size == 0 && catmemi_je_alien(c, p)))) {
        catmemi_je_free_any(p);
        errno = EINVAL;
        return;
    }
    if (c != NULL) {
        size_t usize = size != 0 ? size : CATMEMI_JE(sallocx)(p, 0);
        if (usize <= CATMEMI_CLASS_MAX && catmemi_class(usize) <= c->top) {
            catmemi_je_add(c, catmemi_class(usize), p);
            CATMEMI_OWNER_ADD(c->nfree, 1);
            if (c->room < 0) catmemi_je_reshare(c);
            if (c->room < 0) catmemi_je_trim(c);
            return;
        }
    }
    catmemi_je_direct_free(s, p, size);
}

/* For small arenas' realloc (core/small.h): a block of a jemalloc arena of catmem's. */
static size_t catmemi_je_size_of(const void *p) { return CATMEMI_JE(sallocx)(p, 0); }
static void catmemi_je_free_of(void *p) { catmemi_je_direct_free(NULL, p, 0); }

/* A small new size: the block stays where it is when its class does not change, and moves to a
   block from the cache otherwise. The old block goes straight back to its own arena: catmem
   cannot tell cheaply whether it belongs to s (a realloc may move a block between arenas); it
   is uncharged from s, whose handle is trusted as catmem_free trusts it. */
static void *catmemi_je_realloc(catmemi_slot *s, void *p, size_t size) {
    catmemi_je_cache *c;
    size_t old;
    unsigned k;
    void *q;
    if (s->small) return catmemi_sm_realloc(s, p, size, catmemi_je_size_of, catmemi_je_free_of);
    c = catmemi_je_cache_for(s);
    old = CATMEMI_JE(sallocx)(p, 0);
    /* A small arena's block moving here: jemalloc's size is not its own (small.h). */
    if (old > CATMEMI_SM_MAX && catmemi_je_in_small(catmemi_je_lookup(p))) {
        size_t had = catmemi_sm_usable(p);
        if ((q = catmemi_je_alloc_slow(s, size, 0)) == NULL) return NULL;
        memcpy(q, p, had < size ? had : size);
        catmemi_sm_free(NULL, p);
        return q;
    }
    if (c == NULL || size > CATMEMI_CLASS_MAX) {
        /* jemalloc resizes in place or moves; the charge grows first and settles after. */
        int flags = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE;
        int counted = catmemi_counted(s);
        size_t usize = counted ? CATMEMI_JE(nallocx)(size, flags) : 0;
        size_t had = usize > old ? usize : old;
        if (counted && (usize == 0 || (usize > old && catmemi_je_charge(s, usize - old) == 0)))
            return NULL;
        q = CATMEMI_JE(rallocx)(p, size, flags);
        if (q != NULL) catmemi_je_map_class(q, 0);
        /* From the 8-byte class: its second word is new, and may hold an old free mark. */
        if (CATMEM_SECURE && q != NULL && old <= sizeof(uintptr_t) && size > old)
            ((uintptr_t *)q)[1] = 0;
        if (counted) catmemi_recharge(s, had, q != NULL ? CATMEMI_JE(sallocx)(q, 0) : old);
        if (q != NULL && q != p) {
            __atomic_fetch_add(&s->je.nmalloc, 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&s->je.ndalloc, 1, __ATOMIC_RELAXED);
        }
        return q;
    }
    k = catmemi_class(size);
    if (old == catmemi_class_size[k]) return p;
    q = catmemi_je_pop(c, k);
    if (q == NULL && (q = catmemi_je_refill(c, k)) == NULL) return NULL;
    memcpy(q, p, old < size ? old : size);
    catmemi_je_mark(p, old);
    if (catmemi_counted(s)) catmemi_uncharge(s, old);
    CATMEMI_OWNER_ADD(c->nfree, 1);
    CATMEMI_JE(sdallocx)(p, old, CATMEMI_MALLOCX_TCACHE_NONE);
    return q;
}

/* A block of a small arena is inside a chunk or after a solo record, where jemalloc's size is
   not its own: above CATMEMI_SM_MAX, jemalloc is asked whose the block is. */
static size_t catmemi_je_usable_size(const void *p) {
    size_t n;
    unsigned k = catmemi_je_mapped_class(p);
    if (k != 0) return catmemi_class_size[k - 1];
    n = CATMEMI_JE(sallocx)(p, 0);
    if (n > CATMEMI_SM_MAX && catmemi_je_in_small(catmemi_je_lookup(p)))
        return catmemi_sm_usable(p);
    return n;
}

/* The slot whose arena holds p (the page map, then a small block's header), or NULL: none of
   catmem's, or a small arena's block whose header names no arena. */
CATMEMI_INLINE catmemi_slot *catmemi_je_owner_of(const void *p) {
    unsigned index = catmemi_je_lookup(p);
    catmemi_slot *s = catmemi_je_owner(index);
    if (CATMEMI_LIKELY(s != NULL) || !catmemi_je_in_small(index)) return s;
    return catmemi_sm_owner(p);
}

/* Through the owner's front cache, as catmem_free(owner, p) would. None: straight back to
   jemalloc (a block of malloc's), or to the core's report of a bad small header. */
static void catmemi_je_free_any(void *p) {
    catmemi_slot *s = catmemi_je_owner_of(p);
    if (CATMEMI_LIKELY(s != NULL))
        catmemi_je_fast_free(catmemi_handle(s), p);
    else
        catmemi_je_direct_free(NULL, p, 0);
}

/* Under catmemi_mu: every thread's cache for s (every cache when s is NULL) is dropped. A reset
   of s follows (contract.h): its caches forget their blocks instead of walking them back. */
static void catmemi_je_drop_caches(catmemi_slot *s) {
    catmemi_je_thread *t;
    CATMEMI_ASSERT_LOCKED();
    if (s != NULL)
        while (s->je.caches != NULL) catmemi_je_drop(s->je.caches->thread, s->je.caches, 1);
    else
        for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next)
            catmemi_je_drop_all(t);
}

/* Under catmemi_mu: s's catmem calls, its own counters and every thread's cache's. */
static void catmemi_je_sum(const catmemi_slot *s, uint64_t *nmalloc, uint64_t *ndalloc) {
    const catmemi_je_cache *c;
    CATMEMI_ASSERT_LOCKED();
    *nmalloc = __atomic_load_n(&s->je.nmalloc, __ATOMIC_RELAXED) +
               __atomic_load_n(&s->sm.nmalloc, __ATOMIC_RELAXED);
    *ndalloc = __atomic_load_n(&s->je.ndalloc, __ATOMIC_RELAXED) +
               __atomic_load_n(&s->sm.ndalloc, __ATOMIC_RELAXED);
    for (c = s->je.caches; c != NULL; c = c->anext) {
        *nmalloc += __atomic_load_n(&c->nalloc, __ATOMIC_RELAXED);
        *ndalloc += __atomic_load_n(&c->nfree, __ATOMIC_RELAXED);
    }
}

/* Under catmemi_mu. Caches hold blocks of the arena: every thread's cache for s forgets them
   first (the reset frees them with everything else, so nothing is given back one by one).
   Every live block counts as freed; a release starts the counts again from zero (its caches
   were dropped, their counts are all in the slot's). */
static int catmemi_je_reset(catmemi_slot *s, int release) {
    catmemi_je_cache *c;
    uint64_t nmalloc, ndalloc;
    int err = 0;
    CATMEMI_ASSERT_LOCKED();
    if (s->small) catmemi_sm_reset(s, release);
    for (c = s->je.caches; c != NULL && !s->small; c = c->anext) {
        catmemi_je_cache_init(c, c->allowance);
        catmemi_je_flush_tc(c); /* jemalloc requires it before arena.<i>.reset */
    }
    if (!s->small) err = catmemi_je_ctl(s, "arena.%u.reset", NULL, NULL, NULL, 0);
    if (err != 0) return err;
    if (release) { /* the next arena in the slot starts uncounted, its counts at zero */
        __atomic_store_n(&s->je.nmalloc, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->je.ndalloc, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->counted, 0, __ATOMIC_RELAXED);
    } else {
        catmemi_je_sum(s, &nmalloc, &ndalloc);
        if (nmalloc > ndalloc)
            __atomic_fetch_add(&s->je.ndalloc, nmalloc - ndalloc, __ATOMIC_RELAXED);
    }
    return 0;
}

static int catmemi_je_purge(catmemi_slot *s) {
    catmemi_je_flush_own(s);
    if (s->small) return 0; /* its chunks are all in use until a reset */
    return catmemi_je_ctl(s, "arena.%u.purge", NULL, NULL, NULL, 0);
}

static int catmemi_je_epoch(void) {
    uint64_t epoch = 1;
    return CATMEMI_JE(mallctl)("epoch", NULL, NULL, &epoch, sizeof epoch);
}

static int catmemi_je_read(const catmemi_slot *s, const char *fmt, void *out, size_t size) {
    size_t sz = size;
    int err = s != NULL ? catmemi_je_ctl(s, fmt, out, &sz, NULL, 0)
                        : CATMEMI_JE(mallctl)(fmt, out, &sz, NULL, 0);
    return (err == 0 && sz != size) ? EINVAL : err;
}

/* nmalloc and ndalloc count catmem's calls (STATISTICS in catmem.h): the arena's (s) or every
   arena's (s NULL). */
static void catmemi_je_calls_of(const catmemi_slot *s, catmem_stats *out) {
    uint64_t nmalloc, ndalloc;
    catmemi_je_sum(s, &nmalloc, &ndalloc);
    out->nmalloc += nmalloc;
    out->ndalloc += ndalloc;
}
static void catmemi_je_calls(const catmemi_slot *s, catmem_stats *out) {
    unsigned i;
    catmemi_lock();
    if (s != NULL)
        catmemi_je_calls_of(s, out);
    else
        for (i = 0; i < catmemi_nslots; i++)
            if (catmemi_created(catmemi_slot_at(i))) catmemi_je_calls_of(catmemi_slot_at(i), out);
    catmemi_unlock();
}

/* The bytes of s's blocks out of the jemalloc arena (to callers or front caches), as of the
   last epoch: a new one first unless fresh (catmemi_je_refresh_stats made it). */
static int catmemi_je_allocated(const catmemi_slot *s, size_t *bytes, int fresh) {
    size_t small, large;
    int err;
    if ((!fresh && (err = catmemi_je_epoch()) != 0) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.small.allocated", &small, sizeof small)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.large.allocated", &large, sizeof large)))
        return err == ENOENT ? ENOTSUP : err; /* ENOENT: jemalloc built without stats */
    *bytes = small + large;
    return 0;
}

static int catmemi_je_stats(catmemi_slot *s, catmem_stats *out, int fresh) {
    size_t pactive;
    int err;
    if (!fresh) catmemi_je_flush_own(s);
    if (s->small) {
        catmemi_sm_stats(s, out);
        catmemi_je_calls(s, out);
        return 0;
    }
    if ((err = catmemi_je_allocated(s, &out->allocated, fresh)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.pactive", &pactive, sizeof pactive)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.resident", &out->resident, sizeof(size_t))) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.mapped", &out->mapped, sizeof(size_t))))
        return err == ENOENT ? ENOTSUP : err;
    out->active = pactive * catmemi_je_page;
    catmemi_je_calls(s, out);
    return 0;
}

/* An epoch merges every arena's statistics: one per arena would make a report's time grow
   with the square of the arenas. So a report empties the calling thread's caches, all at once,
   and refreshes once. */
static int catmemi_je_refresh_stats(void) {
    catmemi_je_cache *c;
    catmemi_lock();
    for (c = catmemi_je_self.caches; c != NULL; c = c->tnext) catmemi_je_flush(c);
    catmemi_unlock();
    return catmemi_je_epoch();
}

static int catmemi_je_total_stats(catmem_stats *out) {
    int err;
    if ((err = catmemi_je_epoch()) != 0) return err;
    if ((err = catmemi_je_read(NULL, "stats.allocated", &out->allocated, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.active", &out->active, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.resident", &out->resident, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.mapped", &out->mapped, sizeof(size_t))))
        return err == ENOENT ? ENOTSUP : err;
    catmemi_je_calls(NULL, out);
    return 0;
}

static int catmemi_je_owns(const catmemi_slot *s, const void *p) {
    return catmemi_je_owner_of(p) == s;
}

static int catmemi_je_set_decay(catmemi_slot *s, long dirty_ms, long muzzy_ms) {
    ssize_t d = (ssize_t)dirty_ms, m = (ssize_t)muzzy_ms;
    int err;
    if (s->small) return ENOTSUP; /* its chunks share one jemalloc arena with all others */
    err = catmemi_je_ctl(s, "arena.%u.dirty_decay_ms", NULL, NULL, &d, sizeof d);
    return err != 0 ? err : catmemi_je_ctl(s, "arena.%u.muzzy_decay_ms", NULL, NULL, &m, sizeof m);
}

static int catmemi_je_prof_enabled(void) {
    bool on = false;
    size_t sz = sizeof on;
    return CATMEMI_JE(mallctl)("opt.prof", &on, &sz, NULL, 0) == 0 && on;
}

static int catmemi_je_prof_active(int on) {
    bool b = on != 0;
    if (!catmemi_je_prof_enabled()) return ENOTSUP;
    return CATMEMI_JE(mallctl)("prof.active", NULL, NULL, &b, sizeof b);
}

static int catmemi_je_prof_dump(const char *path) {
    if (!catmemi_je_prof_enabled()) return ENOTSUP;
    return path != NULL ? CATMEMI_JE(mallctl)("prof.dump", NULL, NULL, (void *)&path, sizeof path)
                        : CATMEMI_JE(mallctl)("prof.dump", NULL, NULL, NULL, 0);
}

/* The fast path needs no published state: shutdown and release drop the thread caches. */
static void catmemi_je_publish(catmemi_slot *s) { (void)s; }
static void catmemi_je_atfork_prepare(void) { catmemi_sm_fork(0); }
static void catmemi_je_atfork_parent(void) { catmemi_sm_fork(1); }
/* In the child only the forking thread runs: the other threads' caches can go. */
static void catmemi_je_atfork_child(void) {
    catmemi_je_thread *t = catmemi_je_threads.next, *next;
    catmemi_sm_fork(2);
    for (; t != &catmemi_je_threads; t = next) {
        next = t->next;
        if (t != &catmemi_je_self) {
            catmemi_je_cache *c;
            for (c = t->caches; c != NULL; c = c->tnext) catmemi_je_demote(t, c, 0);
            catmemi_je_drop_all(t);
            catmemi_je_reap(t);
            catmemi_je_unlink(t);
        }
    }
}
/* The table the core calls through (CATMEMI_OPS_TABLE, core/contract.h). */
CATMEMI_OPS_TABLE(je, "jemalloc",
                  "the whole process (every block jemalloc serves, catmem's or not)")
