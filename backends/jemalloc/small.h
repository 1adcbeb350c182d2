/* catmem's jemalloc engine: what small arenas (core/small.h) get from it. Part of the
   implementation (core/impl.h), compiled after cache.h.
   - Their memory: one jemalloc arena shared by every small arena, made with the first one
     (ops.h), used without a jemalloc cache (MALLOCX_TCACHE_NONE) so that its page map
     (owners.h) names that arena for every chunk and solo block.
   - Front caches: an arena's first CATMEMI_SM_BUSY calls take its spin lock; then it is busy,
     and each thread that uses it gets a front cache of its own for it (cache.h), so that a busy
     small arena runs the same inline paths as any arena. Such a cache keeps classes up to
     CATMEMI_SM_MAX bytes and never gives blocks back to jemalloc: it gives them to the shared
     lists when it is dropped or flushed. The inline free without a size takes a small arena's
     block to catmemi_je_free_small (below), which reads its class from its header: jemalloc's
     class of a block inside a chunk is the chunk's, above what such a cache keeps, and a solo
     block is at least 640 bytes of jemalloc's, above it too. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

static unsigned catmemi_je_backing; /* the jemalloc arena of every small arena's memory */
/* The shared arena exists: made with the first small arena (ops.h), under catmemi_mu; atomic */
static int catmemi_je_small_on;

/* sallocx of a block inside a chunk is the chunk's class, above every class a small arena's
   front cache keeps: the inline free without a size sends such a block to the slow path. */
typedef char catmemi_je_chunk_above_cache[CATMEMI_SM_CHUNK_MIN > CATMEMI_SM_MAX ? 1 : -1];

/* p is in the small arenas' shared arena. */
static int catmemi_je_in_small(unsigned index) {
    return __atomic_load_n(&catmemi_je_small_on, __ATOMIC_ACQUIRE) &&
           index == catmemi_je_backing;
}

/* At least 640 bytes: jemalloc's size of the block is then above what a small arena's front
   cache keeps (see the top). Past the largest small class a block is one of jemalloc's large
   ones, whose pages jemalloc registers only at both ends: page-aligned, the pointer a solo
   block has 64 bytes in stays on its first page. */
static void *catmemi_je_sm_get(size_t size, unsigned lg, int zero) {
    if (size < 640) size = 640;
    if (size > CATMEMI_CLASS_MAX && lg < 12) lg = 12;
    return CATMEMI_JE(mallocx)(size, CATMEMI_MALLOCX_ARENA(catmemi_je_backing) |
                                         CATMEMI_MALLOCX_TCACHE_NONE | (lg > 4 ? (int)lg : 0) |
                                         (zero ? CATMEMI_ZERO : 0));
}
static void catmemi_je_sm_put(void *p) { CATMEMI_JE(dallocx)(p, CATMEMI_MALLOCX_TCACHE_NONE); }
static size_t catmemi_je_sm_mapped(const void *p) { return CATMEMI_JE(sallocx)(p, 0); }
/* The word before p is read only where it is sure to be mapped: on p's own page, or once
   jemalloc said p is in the small arenas' shared arena. */
static int catmemi_je_sm_holds(const void *p) {
    return ((uintptr_t)p & 4095) >= 8 || catmemi_je_in_small(catmemi_je_lookup(p));
}

/* A block of class k from s's cache; when it has none, up to its fill from the shared lists
   and the chunks, the first for the caller. */
static void *catmemi_je_sm_pop(catmemi_slot *s, unsigned k) {
    catmemi_je_cache *c = catmemi_je_cache_for(s);
    void *blocks[CATMEMI_JE_FILL_MAX], *p;
    unsigned i, n;
    int last;
    if (c == NULL) return NULL;
    if ((p = catmemi_je_pop(c, k)) != NULL) return p;
    n = catmemi_je_count(&c->bin[k], CATMEMI_JE_FILL_MAX, &last);
    catmemi_sm_lock(&s->sm);
    for (i = 0; i < n && (blocks[i] = catmemi_sm_get(s, k, 16)) != NULL; i++) {}
    catmemi_sm_unlock(&s->sm);
    return i != 0 ? catmemi_je_deal(c, k, blocks, i, last) : NULL;
}
static int catmemi_je_sm_push(catmemi_slot *s, unsigned k, void *p) {
    catmemi_je_cache *c = catmemi_je_cache_for(s);
    if (c == NULL) return 0;
    catmemi_je_add(c, k, p);
    CATMEMI_OWNER_ADD(c->nfree, 1);
    return 1;
}
/* Under catmemi_mu (a reset): the blocks s's caches hold were in its chunks. */
static void catmemi_je_sm_forget(catmemi_slot *s) {
    catmemi_je_cache *c;
    for (c = s->je.caches; c != NULL; c = c->anext) {
        catmemi_je_cache_init(c, c->allowance);
        c->top = CATMEMI_SM_TOP;
    }
}
/* A thread that allocates in small arenas the short way joins no registry; once an arena turns
   busy it would join at its next call, which may come in its exit's last destructor round:
   its exit destructor would then never run and leave it on catmemi_je_threads when its
   storage goes to the next thread (threads_test's destructor rounds, small arenas, 1 run in
   15 under ASan). Its exit destructor is registered at its first short-way call instead. */
static void catmemi_je_sm_seen(void) {
    catmemi_je_thread *t = &catmemi_je_self;
    if (!t->gone && t->next == NULL) (void)pthread_setspecific(catmemi_je_key, t);
}
static const catmemi_sm_engine catmemi_je_sm_engine = {
    catmemi_je_sm_get, catmemi_je_sm_put,  catmemi_je_sm_mapped, catmemi_je_sm_holds,
    catmemi_je_sm_pop, catmemi_je_sm_push, catmemi_je_sm_forget, catmemi_je_sm_seen};

/* p into c, a small arena's front cache of the calling thread: the block's class from its
   header, read where it is sure to be mapped (on p's page), if the header names c's arena. 0:
   not so; the core's way (core/small.h) then tells a bad header. */
static int catmemi_je_sm_cache_free(catmemi_je_cache *c, void *p) {
    uint64_t v;
    if (((uintptr_t)p & 4095) < 8) return 0;
    v = ((const uint64_t *)p)[-1] ^ catmemi_sm_mix(p);
    return (v >> 8) == c->slot && (v & 0xff) <= CATMEMI_SM_TOP &&
           catmemi_je_push(c, (unsigned)(v & 0xff), p);
}

/* The inline free without a size, for a small arena's cache (fast.h): jemalloc's class of a
   block inside a chunk is the chunk's, so the class comes from the header. */
CATMEMI_API void catmemi_je_free_small(catmemi_je_cache *c, void *p) {
    if (!catmemi_je_sm_cache_free(c, p)) catmemi_sm_free(catmemi_slot_at(c->slot), p);
}

/* A free in s, a small arena, from the slow path: the short way through the calling thread's
   cache first. */
static void catmemi_je_sm_free(catmemi_slot *s, void *p) {
    catmemi_je_cache *c = catmemi_je_mine(catmemi_handle(s));
    if (c == NULL || !c->small || !catmemi_je_sm_cache_free(c, p)) catmemi_sm_free(s, p);
}

/* A small arena's front cache gives its blocks to the shared lists (dropped, flushed). */
static void catmemi_je_s_empty(catmemi_je_cache *c) {
    catmemi_small *m = &catmemi_slot_at(c->slot)->sm;
    unsigned k;
    catmemi_sm_lock(m);
    for (k = 0; k <= CATMEMI_SM_TOP; k++) {
        catmemi_je_bin *b = &c->bin[k];
        while (b->head != NULL) {
            void *p = b->head;
            b->head = catmemi_je_next(p);
            catmemi_sm_put(m, k, p);
        }
        b->n = 0;
    }
    c->room = c->allowance;
    catmemi_sm_unlock(m);
}

/* Under catmemi_mu, s's first limit (nobody else using s): its front caches go, and its charge
   starts from what it holds. */
static void catmemi_je_s_count_from_now(catmemi_slot *s) {
    catmem_stats st;
    while (s->je.caches != NULL) catmemi_je_drop(s->je.caches->thread, s->je.caches, 0);
    memset(&st, 0, sizeof st);
    catmemi_sm_stats(s, &st);
    __atomic_store_n(&s->charged, st.allocated, __ATOMIC_RELAXED);
    catmemi_peak(s, st.allocated);
}
