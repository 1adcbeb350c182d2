/* catmem: regions, the out-of-line part (the bump allocation is inline in catmem.h): chunks
   from the arena, blocks of their own, marks, cleanups, reset and release. Part of the
   implementation (core/impl.h). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* The header of every chunk and of every block of its own: the memory a region takes from its
   arena. size counts the whole block, header included. */
struct catmemi_region_block {
    catmemi_region_block *prev;
    size_t size;
#if CATMEMI_TRACKING
    catmemi_region_block *arena_prev, *arena_next; /* in its arena's list of chunks */
    unsigned slot;
#endif
};
#define CATMEMI_REGION_HDR CATMEMI_REGION_ROUND(sizeof(catmemi_region_block))

static char *catmemi_block_data(catmemi_region_block *b) { return (char *)b + CATMEMI_REGION_HDR; }
static char *catmemi_block_end(catmemi_region_block *b) { return (char *)b + b->size; }

#if CATMEMI_TRACKING
static void catmemi_track(catmemi_region_block *b, unsigned slot) {
    catmemi_lock();
    b->slot = slot;
    b->arena_prev = NULL;
    b->arena_next = catmemi_slot_at(slot)->chunks;
    if (b->arena_next != NULL) b->arena_next->arena_prev = b;
    catmemi_slot_at(slot)->chunks = b;
    catmemi_unlock();
}
static void catmemi_untrack(catmemi_region_block *b) {
    catmemi_lock();
    if (b->arena_prev != NULL)
        b->arena_prev->arena_next = b->arena_next;
    else
        catmemi_slot_at(b->slot)->chunks = b->arena_next;
    if (b->arena_next != NULL) b->arena_next->arena_prev = b->arena_prev;
    catmemi_unlock();
}
/* Under catmemi_mu, before the arena frees everything: its region chunks become usable memory
   again, so that the arena can hand it out without a false report. */
static void catmemi_untrack_chunks(catmemi_slot *s) {
    catmemi_region_block *b;
    for (b = s->chunks; b != NULL; b = b->arena_next)
        CATMEMI_TRACK_USABLE(catmemi_block_data(b), b->size - CATMEMI_REGION_HDR);
    s->chunks = NULL;
}
#else
#  define catmemi_track(b, slot) ((void)0)
#  define catmemi_untrack(b)     ((void)0)
static void catmemi_untrack_chunks(catmemi_slot *s) { (void)s; }
#endif

static catmemi_region_block *catmemi_block_new(catmem_region *r, size_t size) {
    catmemi_region_block *b = (catmemi_region_block *)catmem_alloc(r->arena, size);
    if (b != NULL) {
        b->size = size;
        catmemi_track(b, (unsigned)(uintptr_t)r->arena); /* the handle's slot id */
        CATMEMI_TRACK_UNUSABLE(catmemi_block_data(b), size - CATMEMI_REGION_HDR);
    }
    return b;
}

/* Frees the blocks of a list from b up to (not including) stop. */
static void catmemi_blocks_free(catmem_region *r, catmemi_region_block *b,
                                catmemi_region_block *stop) {
    while (b != stop) {
        catmemi_region_block *prev = b->prev;
        catmemi_untrack(b);
        CATMEMI_TRACK_USABLE(catmemi_block_data(b), b->size - CATMEMI_REGION_HDR);
        catmem_free_sized(r->arena, b, b->size);
        b = prev;
    }
}

static void catmemi_region_use_chunk(catmem_region *r, catmemi_region_block *c, char *cur) {
    r->chunks = c;
    r->cur = cur;
    r->end = catmemi_block_end(c);
}

/* Runs r's cleanups newer than stop, newest first. Meanwhile the region is busy: a cleanup that
   allocates from it, resets, restores or releases it gets EBUSY. Their records live in the
   region's memory, which stays valid until the caller takes it back. */
static void catmemi_region_cleanups(catmem_region *r, catmemi_cleanup *stop) {
    char *cur = r->cur, *end = r->end;
    if (r->cleanups == stop) return;
    r->busy = 1;
    r->cur = r->end = NULL; /* sends catmem_region_alloc to the slow path, which says EBUSY */
    while (r->cleanups != stop) {
        catmemi_cleanup *c = r->cleanups;
        r->cleanups = c->next;
        c->fn(c->arg);
    }
    r->cur = cur;
    r->end = end;
    r->busy = 0;
}

CATMEMI_API int catmem_region_on_reset(catmem_region *r, catmem_cleanup_fn fn, void *arg) {
    catmemi_cleanup *c;
    if (r == NULL || fn == NULL) return EINVAL;
    if (r->busy) return EBUSY;
    {
        int saved = errno, err; /* a control function reports its error and leaves errno alone */
        c = (catmemi_cleanup *)catmem_region_alloc(r, sizeof *c);
        err = errno;
        errno = saved;
        if (c == NULL) return err;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = r->cleanups;
    r->cleanups = c;
    return 0;
}

CATMEMI_API int catmem_region_init(catmem_region *r, catmem_arena *a) {
    if (r == NULL) return EINVAL;
    memset(r, 0, sizeof *r);
    r->arena = a;
    return a != NULL ? 0 : EINVAL;
}

CATMEMI_API void *catmemi_region_alloc_slow(catmem_region *r, size_t alignment, size_t size) {
    catmemi_region_block *b;
    size_t n, need, next;
    uintptr_t p;
    int huge, err = 0;
    if (r == NULL || r->arena == NULL || alignment == 0 || (alignment & (alignment - 1)) != 0 ||
        alignment > CATMEM_ALIGN_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if (r->busy) { /* running its cleanups: cur and end are cleared, so every call comes here */
        errno = EBUSY;
        return NULL;
    }
    huge = size > CATMEM_SIZE_MAX - CATMEM_ALIGN_MAX - CATMEMI_REGION_HDR;
    if (alignment < CATMEM_REGION_ALIGN) alignment = CATMEM_REGION_ALIGN;
    n = CATMEMI_REGION_ROUND(size == 0 ? 1 : size);
    /* Size 0 took this path only because of the rounding: it may still fit. */
    p = ((uintptr_t)r->cur + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (!huge && r->cur != NULL && p <= (uintptr_t)r->end && n <= (size_t)((uintptr_t)r->end - p)) {
        r->cur = (char *)p + n;
        CATMEMI_TRACK_USABLE((void *)p, size);
        return (void *)p;
    }
    /* From here on the arena is needed: its errors come first, as for catmem_alloc. */
    if (catmemi_check(r->arena, &err) == NULL || (huge && (err = ENOMEM) != 0)) {
        errno = err;
        return NULL;
    }
    need = CATMEMI_REGION_HDR + n + (alignment - CATMEM_REGION_ALIGN); /* room to align in */
    next = r->chunks == NULL ? CATMEM_REGION_CHUNK_MIN : r->chunks->size * 2;
    if (next > CATMEM_REGION_CHUNK_MAX) next = CATMEM_REGION_CHUNK_MAX;
    /* Large: a block of its own, so that the rest of the current chunk is not wasted. */
    b = catmemi_block_new(r, need > next / 2 ? need : next);
    if (b == NULL) return NULL; /* errno set by catmem_alloc */
    p = ((uintptr_t)catmemi_block_data(b) + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (need > next / 2) {
        b->prev = r->large;
        r->large = b;
    } else {
        b->prev = r->chunks;
        catmemi_region_use_chunk(r, b, (char *)p + n);
    }
    CATMEMI_TRACK_USABLE((void *)p, size);
    return (void *)p;
}

CATMEMI_API void *catmem_region_calloc(catmem_region *r, size_t n, size_t size) {
    size_t total = catmemi_mul_size(n, size);
    void *p = catmem_region_alloc(r, total);
    if (p != NULL) memset(p, 0, total);
    return p;
}

CATMEMI_API char *catmem_region_strdup(catmem_region *r, const char *s) {
    size_t n;
    char *p;
    if (s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    n = strlen(s) + 1;
    p = (char *)catmem_region_alloc(r, n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

CATMEMI_API catmem_region_mark catmem_region_save(const catmem_region *r) {
    catmem_region_mark m;
    memset(&m, 0, sizeof m);
    if (r != NULL) {
        m.chunk = r->chunks;
        m.cur = r->cur;
        m.large = r->large;
        m.cleanups = r->cleanups;
    }
    return m;
}

static int catmemi_block_listed(catmemi_region_block *list, catmemi_region_block *b) {
    for (; list != NULL; list = list->prev)
        if (list == b) return 1;
    return b == NULL;
}

static int catmemi_cleanup_listed(catmemi_cleanup *list, catmemi_cleanup *c) {
    for (; list != NULL; list = list->next)
        if (list == c) return 1;
    return c == NULL;
}

CATMEMI_API int catmem_region_restore(catmem_region *r, catmem_region_mark m) {
    if (r == NULL) return EINVAL;
    if (r->busy) return EBUSY;
    /* A mark from this region that is still valid: its blocks are still ours, and it does not
       point past what is allocated now (a mark taken before a reset, say). */
    if (!catmemi_block_listed(r->chunks, m.chunk) || !catmemi_block_listed(r->large, m.large))
        return EINVAL;
    if (m.chunk == NULL
            ? m.cur != NULL
            : (m.cur < catmemi_block_data(m.chunk) || m.cur > catmemi_block_end(m.chunk) ||
               (m.chunk == r->chunks && m.cur > r->cur)))
        return EINVAL;
    if (!catmemi_cleanup_listed(r->cleanups, m.cleanups)) return EINVAL;
    catmemi_region_cleanups(r, m.cleanups);
    catmemi_blocks_free(r, r->large, m.large);
    r->large = m.large;
    catmemi_blocks_free(r, r->chunks, m.chunk);
    if (m.chunk == NULL) {
        r->chunks = NULL;
        r->cur = r->end = NULL;
    } else {
        catmemi_region_use_chunk(r, m.chunk, m.cur);
        CATMEMI_TRACK_UNUSABLE(r->cur, (size_t)(r->end - r->cur));
    }
    return 0;
}

CATMEMI_API int catmem_region_reset(catmem_region *r) {
    catmemi_region_block *b, *keep;
    size_t used = 0, want;
    if (r == NULL) return EINVAL;
    if (r->busy) return EBUSY;
    catmemi_region_cleanups(r, NULL);
    keep = r->chunks;
    if (keep == NULL && r->large == NULL) return 0; /* holds nothing: nothing to keep warm */
    if (keep != NULL && keep->prev == NULL && r->large == NULL) {
        /* The steady state: one chunk that held everything. No call into the arena. */
        catmemi_region_use_chunk(r, keep, catmemi_block_data(keep));
        CATMEMI_TRACK_UNUSABLE(r->cur, (size_t)(r->end - r->cur));
        return 0;
    }
    /* Keep one chunk, big enough for what this cycle used (up to the cap), so that the next
       cycle of the same shape fits in it. If that chunk cannot be had, keep the newest. */
    for (b = r->chunks; b != NULL; b = b->prev) used += b->size;
    for (b = r->large; b != NULL; b = b->prev) used += b->size;
    want = used < CATMEM_REGION_CHUNK_MAX ? used : CATMEM_REGION_CHUNK_MAX;
    want = (want + CATMEM_REGION_CHUNK_MIN - 1) / CATMEM_REGION_CHUNK_MIN * CATMEM_REGION_CHUNK_MIN;
    if (keep == NULL || keep->size < want) {
        /* Optional: a failure here loses nothing (the newest chunk stays), so neither errno
           nor the out-of-memory handler hears of it (the handler is skipped as if re-entered). */
        int saved = errno, in_oom = catmemi_in_oom;
        catmemi_region_block *fresh;
        catmemi_in_oom = 1;
        fresh = catmemi_block_new(r, want);
        catmemi_in_oom = in_oom;
        errno = saved;
        if (fresh != NULL) {
            fresh->prev = keep;
            keep = fresh;
        }
    }
    catmemi_blocks_free(r, r->large, NULL);
    r->large = NULL;
    if (keep == NULL) {
        r->chunks = NULL;
        r->cur = r->end = NULL;
        return 0;
    }
    catmemi_blocks_free(r, keep->prev, NULL);
    keep->prev = NULL;
    catmemi_region_use_chunk(r, keep, catmemi_block_data(keep));
    CATMEMI_TRACK_UNUSABLE(r->cur, (size_t)(r->end - r->cur));
    return 0;
}

CATMEMI_API int catmem_region_release(catmem_region *r) {
    if (r == NULL) return EINVAL;
    if (r->busy) return EBUSY;
    catmemi_region_cleanups(r, NULL);
    catmemi_blocks_free(r, r->large, NULL);
    catmemi_blocks_free(r, r->chunks, NULL);
    r->large = r->chunks = NULL;
    r->cur = r->end = NULL;
    return 0;
}
