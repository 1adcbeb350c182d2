/* catmem's jemalloc engine: the front caches, and the busy pairs' jemalloc caches. Part of the
   implementation (core/impl.h); the engine is described at the top of fast.h.

   A thread's front caches together keep at most CATMEM_JEMALLOC_CACHE_BYTES of blocks: each
   may hold that budget divided by the number of caches its thread has (at least
   CATMEMI_JE_CACHE_FLOOR), and gives blocks back when it holds more; it keeps no class larger
   than a sixteenth of that share. So one busy arena gets the whole budget and a hundred arenas
   share it. A cache is about 600 bytes, made on a thread's first call in an arena, and uses no
   jemalloc cache id, so any number of (thread, arena) pairs works. A cache is on two lists,
   under catmemi_mu: its arena's (catmemi_je_slot.caches), so that reset, release and limits
   find every thread's, and its thread's (catmemi_je_threads), so that shutdown and thread
   exit do. A thread finds its caches through its table (catmemi_je_tab, backends/inline.h),
   and, for one the table lost to another arena of the same entry, through the arena's list.
   Another thread drops a cache (release, cleanups, shutdown) by emptying it and clearing its
   key; the memory goes when its own thread next makes a cache, or exits, for its table may
   still point at it. A thread's caches are emptied when it exits (a pthread key destructor).

   BUSY PAIRS. A pair that moved CATMEMI_JE_BUSY blocks between its front cache and the arena
   gets a jemalloc cache of its own (tcache.create, catmemi_je_promote): its refills then take
   up to CATMEMI_JE_FILL_MAX blocks in one experimental.batch_alloc through that cache (jemalloc
   fills it from the arena's bin under one lock), and its give-backs go into it, and from it to
   the arena in batches. Only that pair uses it, so arenas stay separate. Batches stay below
   one slab (arenas.bin.<i>.nregs): a batch of a whole slab or more takes fresh slabs and skips
   the freed blocks of partly used ones. At most CATMEMI_JE_TC_PER_THREAD per thread and
   CATMEM_JEMALLOC_TCACHES in the process; reaching that is said once in catmem_backend_info.
   A pair's jemalloc cache is flushed before a reset of its arena (jemalloc requires it),
   destroyed with the front cache, and taken away by a first limit (a limited arena is charged
   where blocks leave it, so it keeps the per-block path). Not available before jemalloc 5.3
   (no experimental.batch_alloc). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

static catmemi_je_cache catmemi_je_none; /* what an empty entry holds: key 0 */
CATMEMI_TLS catmemi_je_cache *catmemi_je_tab[CATMEMI_TAB] = CATMEMI_TAB_INIT(&catmemi_je_none);
uintptr_t catmemi_je_lkey; /* front-cache links (fast.h) */
uintptr_t catmemi_je_fkey; /* free marks (fast.h) */

/* p, freed, looks linked: it stops the process if it is on b's list (at most b->n blocks, each
   link checked as it is followed). Otherwise its first word was the user's data, or a link left
   in a block jemalloc handed out: the free goes on. */
CATMEMI_API void catmemi_je_twice(const catmemi_je_bin *b, const void *p) {
    const void *x = b->head;
    uint32_t i;
    for (i = 0; x != NULL && i < b->n; i++, x = catmemi_je_next(x))
        if (x == p) {
            fprintf(stderr, "catmem: double free of %p (%s)\n", p,
                    i == 0 ? "freed twice in a row" : "this thread's front cache holds it");
            abort();
        }
}

/* p, freed, has its free mark: freed before and not handed out since. Where it is, when this
   thread's list of its class (b, NULL for none) holds it, said; elsewhere, it may be anywhere
   (see FREE MARKS in fast.h). */
CATMEMI_API void catmemi_je_again(const catmemi_je_bin *b, const void *p) {
    if (b != NULL && ((uintptr_t)p & b->amask) != 0) {
        /* A mark off a block start: a block of an older layout of the slab freed there, under
           a pointer inside a block now, or a block freed twice whose class jemalloc no longer
           knows (a large block it merged): which, catmem cannot tell. */
        fprintf(stderr, "catmem: free of %p, which is not where a block of its size class starts "
                        "and has a free mark (a pointer inside a block, or a double free)\n", p);
        abort();
    }
    if (b != NULL) catmemi_je_twice(b, p);
    fprintf(stderr, "catmem: double free of %p (freed before and not handed out since: another "
                    "thread's front cache or the arena holds it, or its arena was reset)\n", p);
    abort();
}

/* p, freed into a front cache, is not where a block of the class it was freed as starts. */
CATMEMI_API void catmemi_je_stray(const void *p) {
    fprintf(stderr, "catmem: free of %p, which is not where a block of its size class starts (a "
                    "pointer inside a block, or a block freed with a size too large)\n", p);
    abort();
}

/* p, freed outside the front caches (a direct free, realloc's old block), usize bytes:
   checked and marked as catmemi_je_taking does. Only a block of one of catmem's jemalloc
   arenas: every block those hand out comes through catmem, which clears the mark. */
static void catmemi_je_mark(void *p, size_t usize) {
#if CATMEM_SECURE
    if (usize > sizeof(uintptr_t)) catmemi_je_marking(NULL, p);
#else
    (void)p, (void)usize;
#endif
}

/* A front cache's link that does not decode to a block address: overwritten. */
CATMEMI_API void catmemi_je_bad_link(const void *p) {
    fprintf(stderr, "catmem: corrupted front-cache link in the free block at %p (a write past the "
                    "end of the block before it, a write after this one was freed, or a block "
                    "freed twice, by two threads say)\n", p);
    abort();
}

/* One thread's caches. Lives in the thread's TLS; linked into catmemi_je_threads (under
   catmemi_mu) from its first cache until the thread exits. */
typedef struct catmemi_je_thread {
    catmemi_je_cache **tab;   /* that thread's catmemi_je_tab */
    catmemi_je_cache *caches; /* its live caches; catmemi_mu */
    catmemi_je_cache *dead;   /* its dropped caches, for it to free; catmemi_mu */
    unsigned ncaches;         /* changed under catmemi_mu, read by its thread without */
    unsigned ntc;             /* its caches with a jemalloc cache of their own */
    struct catmemi_je_thread *prev, *next;
    int gone; /* its exit ran: it never joins again (its caches would outlive it) */
} catmemi_je_thread;

static CATMEMI_TLS catmemi_je_thread catmemi_je_self;
static catmemi_je_thread catmemi_je_threads = {NULL, NULL, NULL, 0, 0, &catmemi_je_threads,
                                               &catmemi_je_threads, 0};
static pthread_key_t catmemi_je_key;
static size_t catmemi_je_page;
/* Decided once, at the first init: front caches are used (see the top of this file). */
static int catmemi_je_front;
/* experimental.batch_alloc, looked up once; miblen 0: busy pairs get no jemalloc cache. */
static size_t catmemi_je_batch_mib[4], catmemi_je_batch_miblen;
/* Blocks in one slab of each class (arenas.bin.<i>.nregs). */
static uint32_t catmemi_je_nregs[CATMEMI_NCLASS];
/* jemalloc caches catmem holds, all threads (atomic), and whether the cap was reported. */
static unsigned catmemi_je_ntc;
static int catmemi_je_cap_said;
/* The slot of each jemalloc arena catmem made for one (NULL for the small arenas' shared one):
   for frees that name no arena; its id + 1 in catmemi_je_slot_id (fast.h) for the inline
   free_any. Written under catmemi_mu, once per arena, read anywhere. */
static catmemi_slot *catmemi_je_slot_of[CATMEMI_JE_ARENA_LIMIT];
unsigned catmemi_je_slot_id[CATMEMI_JE_ARENA_LIMIT];

/* mallctl on "<fmt with the arena index>". */
static int catmemi_je_ctl(const catmemi_slot *s, const char *fmt, void *old, size_t *oldlen,
                          void *newp, size_t newlen) {
    char name[96];
    snprintf(name, sizeof name, fmt, s->je.index);
    return CATMEMI_JE(mallctl)(name, old, oldlen, newp, newlen);
}

/* The least a cache may hold, however many caches its thread has: enough for a few blocks of
   the classes it uses, and classes up to 1 KiB (a sixteenth). 64 threads x 100 arenas in
   bench_scale ran 2.4-2.8x slower than x 2 with this floor, 3.2-4.3x with a floor of 4 KiB
   (which left 14% of the allocations, those above 640 B, to the arena's lock), for 3.5 KiB
   more resident memory per pair. */
#define CATMEMI_JE_CACHE_FLOOR 16384

/* p onto class k's list: a block that was handed out (checked: catmemi_je_taking), or one a
   refill got (fresh: whatever its first word holds, it is on no list of catmem's). */
static void catmemi_je_put(catmemi_je_cache *c, unsigned k, void *p, int fresh) {
    catmemi_je_bin *b = &c->bin[k];
    if (!fresh)
        catmemi_je_taking(b, k, p);
    else if (CATMEM_SECURE && k != 0)
        ((uintptr_t *)p)[1] = catmemi_je_mark_of(p); /* whatever it had */
    c->room -= (intptr_t)catmemi_class_size[k];
    *(uintptr_t *)p = catmemi_je_link(p, b->head);
    b->n++;
    __atomic_store_n(&b->head, p, __ATOMIC_RELEASE);
}
static void catmemi_je_add(catmemi_je_cache *c, unsigned k, void *p) {
    catmemi_je_put(c, k, p, 0);
}

/* The largest refill, in blocks. */
#define CATMEMI_JE_FILL_MAX 32
/* The fill of a class before its first refill in a new or reset cache: 0 under CATMEM_SECURE
   (catmemi_je_count), 1 otherwise, so that a class used once costs one block. */
#define CATMEMI_JE_FILL_FIRST (CATMEM_SECURE ? 0 : 1)
/* The most blocks a class's first refill takes under CATMEM_SECURE. */
#define CATMEMI_JE_FIRST_MAX 8

/* How many blocks a refill of b takes, at most max; b's next refill takes twice as many, up to
   CATMEMI_JE_FILL_MAX. jemalloc hands a slab's regions out lowest first and gives the same
   slabs back after a reset, so under CATMEM_SECURE a class's first refill takes 1 to
   CATMEMI_JE_FIRST_MAX blocks at random and its caller gets the last one taken (*last,
   catmemi_je_deal): the first block after a reset is any of the slab's first 8, the old one 1
   time in 8, for 4.5 blocks taken on average; the next refill takes the power of two above
   that count, as the doubling would. (8 taken and one handed out at random would give the
   old one more often.) */
static unsigned catmemi_je_count(catmemi_je_bin *b, unsigned max, int *last) {
    unsigned n;
    *last = CATMEM_SECURE && b->fill == 0;
    if (*last) {
        n = max < CATMEMI_JE_FIRST_MAX ? max : CATMEMI_JE_FIRST_MAX;
        n = 1 + (unsigned)((catmemi_rand(&catmemi_rng) >> 32) % n);
        for (b->fill = 1; b->fill <= n; b->fill *= 2) {}
        return n;
    }
    n = b->fill < max ? b->fill : max;
    if (b->fill < CATMEMI_JE_FILL_MAX) b->fill *= 2;
    return n;
}

/* n blocks (at least one) of class k that a refill got: one for the caller (the last one taken
   when last), the rest onto the list. Under CATMEM_SECURE they go out from a random place on,
   wrapping around (one draw a refill): the k-th block after a reset is not the k-th before it
   (issue 20 E), and blocks handed out one after the other stay next to each other (a shuffle
   of every refill cost the Lua VM about a third of its time: bench/results/hardening.md). */
static void *catmemi_je_deal(catmemi_je_cache *c, unsigned k, void **blocks, unsigned n,
                             int last) {
    unsigned m = n - (unsigned)last, at = 0, start, j; /* blocks[0..m) go out from at on */
    void *mine;
    if (CATMEM_SECURE && m > 1) at = (unsigned)(((catmemi_rand(&catmemi_rng) >> 32) * m) >> 32);
    mine = last ? blocks[n - 1] : blocks[at];
    start = last ? at : at + 1;
    for (j = last ? m : m - 1; j > 0; j--) { /* pushed last first, so handed out in order */
        unsigned x = start + j - 1;
        catmemi_je_put(c, k, blocks[x < m ? x : x - m], 1);
    }
    *(uintptr_t *)mine = 0; /* defined, and no link: catmemi_je_linked reads it */
    catmemi_je_handed(k, mine);
    CATMEMI_OWNER_ADD(c->nalloc, 1);
    return mine;
}

/* Gives class k's blocks back to the arena until keep are left, one mallocx-free call each
   (jemalloc has no batch free). Stops at the list's end too: in a fork() child, a cache of a
   vanished thread may have been caught between two stores. */
static void catmemi_je_give_back(catmemi_je_cache *c, unsigned k, unsigned keep) {
    catmemi_je_bin *b = &c->bin[k];
    size_t n = 0;
    while (b->n > keep && b->head != NULL) {
        void *p = b->head;
        b->head = catmemi_je_next(p);
        b->n--;
        c->room += (intptr_t)catmemi_class_size[k];
        CATMEMI_JE(sdallocx)(p, catmemi_class_size[k], c->back);
        n++;
    }
    c->moved += (unsigned)n;
    if (n != 0 && catmemi_counted(catmemi_slot_at(c->slot)))
        catmemi_uncharge(catmemi_slot_at(c->slot), n * catmemi_class_size[k]);
}

static void catmemi_je_s_empty(catmemi_je_cache *c); /* small.h */

/* Every block of c goes back: to the arena, or, for a small arena's cache, to its lists. */
static void catmemi_je_empty(catmemi_je_cache *c) {
    unsigned k;
    if (c->small) {
        catmemi_je_s_empty(c);
        return;
    }
    for (k = 0; k < CATMEMI_NCLASS; k++) catmemi_je_give_back(c, k, 0);
}

/* What one of t's caches for slot may hold: the budget shared by its caches, at least the
   floor; for an arena with a limit, at most a sixteenth of the limit (blocks in caches count
   against it: LIMITS in catmem.h). */
static intptr_t catmemi_je_allowance(const catmemi_je_thread *t, unsigned slot) {
    unsigned n = __atomic_load_n(&t->ncaches, __ATOMIC_RELAXED);
    size_t share = CATMEM_JEMALLOC_CACHE_BYTES / (n != 0 ? n : 1);
    size_t limit = __atomic_load_n(&catmemi_slot_at(slot)->limit, __ATOMIC_RELAXED);
    if (share < CATMEMI_JE_CACHE_FLOOR) share = CATMEMI_JE_CACHE_FLOOR;
    if (limit != 0 && share > limit / 16) share = limit / 16;
    return (intptr_t)share;
}

/* The largest class a cache with this allowance keeps: a sixteenth of the allowance at most.
   With a small share (a thread that uses many arenas), a few large blocks would fill the cache
   and push out the many small ones; large blocks then go to the arena directly, and the small
   ones stay cached (measured in bench_scale: 64 threads x 100 arenas ran 5.4x slower than x 2
   when every class was kept, 3.0x with this limit). */
static unsigned catmemi_je_top(intptr_t allowance) {
    unsigned k = CATMEMI_NCLASS - 1;
    while (k > 0 && (intptr_t)catmemi_class_size[k] > allowance / 16) k--;
    return k;
}

/* An empty cache that may take its allowance. */
static void catmemi_je_cache_init(catmemi_je_cache *c, intptr_t allowance) {
    unsigned k;
    for (k = 0; k < CATMEMI_NCLASS; k++) {
        size_t size = catmemi_class_size[k], align = size & (~size + 1); /* lowest set bit */
        if (align > catmemi_je_page) align = catmemi_je_page;
        c->bin[k].head = NULL;
        c->bin[k].n = 0;
        c->bin[k].fill = CATMEMI_JE_FILL_FIRST;
        /* catmemi_je_taking; a small arena's blocks are 16 bytes apart in its chunks */
        c->bin[k].amask = CATMEM_SECURE ? (uint16_t)((c->small ? 16 : align) - 1) : 0;
    }
    c->room = c->allowance = allowance;
    c->top = catmemi_je_top(allowance);
}

/* The class holding the most bytes. */
static unsigned catmemi_je_fullest(const catmemi_je_cache *c) {
    unsigned k, best = 0;
    for (k = 1; k < CATMEMI_NCLASS; k++)
        if ((size_t)c->bin[k].n * catmemi_class_size[k] >
            (size_t)c->bin[best].n * catmemi_class_size[best])
            best = k;
    return best;
}

/* The thread's number of caches may have changed since c's allowance was set: its share now. */
static void catmemi_je_reshare_in(const catmemi_je_thread *t, catmemi_je_cache *c) {
    intptr_t allowance = catmemi_je_allowance(t, c->slot);
    c->room += allowance - c->allowance;
    c->allowance = allowance;
    c->top = catmemi_je_top(allowance);
}
static void catmemi_je_reshare(catmemi_je_cache *c) { catmemi_je_reshare_in(&catmemi_je_self, c); }


#if CATMEM_DEBUG
/* The front cache's invariants (top of fast.h). For its own thread, or under catmemi_mu while
   that thread does not use the arena. O(blocks held): debug builds only, on slow paths. */
static int catmemi_je_cache_valid(const catmemi_je_cache *c) {
    intptr_t held = 0;
    unsigned k;
    if (c->slot >= __atomic_load_n(&catmemi_nslots, __ATOMIC_RELAXED) ||
        c->top != (c->small ? CATMEMI_SM_TOP : catmemi_je_top(c->allowance)))
        return 0;
    for (k = 0; k < CATMEMI_NCLASS; k++) {
        const catmemi_je_bin *b = &c->bin[k];
        const void *p = b->head;
        uint32_t n = 0;
        if (b->fill == 0 ? !CATMEM_SECURE
                         : (b->fill & (b->fill - 1)) != 0 || b->fill > CATMEMI_JE_FILL_MAX)
            return 0;
        for (; p != NULL && n <= b->n; p = catmemi_je_next(p)) n++;
        if (p != NULL || n != b->n) return 0;
        held += (intptr_t)n * catmemi_class_size[k];
    }
    return c->room + held == c->allowance;
}
#endif

/* The cache holds more than its allowance: the class holding the most bytes gives half of them
   back, until the cache holds three quarters of its allowance. Classes whose frees and
   allocations balance keep their blocks; the ones that pile up (a long run of frees of one
   size) give them back. */
static void catmemi_je_trim(catmemi_je_cache *c) {
    intptr_t allowance = c->allowance;
    while (c->room < allowance / 4) {
        unsigned k = catmemi_je_fullest(c);
        catmemi_je_give_back(c, k, c->bin[k].n / 2);
    }
    CATMEMI_ASSERT(catmemi_je_cache_valid(c));
}

/* Charges bytes to s, a counted arena (one with a limit: only those pay for the shared
   counter); at the limit the calling thread's own cached blocks of s (charged too) go back
   first, so that one thread sees its limit exactly. The new total, or 0: refused. Called
   after catmemi_je_cache_for(s), so the thread's cache, if any, is in its table. */
static size_t catmemi_je_charge(catmemi_slot *s, size_t bytes) {
    size_t total = catmemi_charge(s, bytes);
    catmemi_je_cache *c = catmemi_je_mine(catmemi_handle(s));
    if (total == 0 && c != NULL) {
        catmemi_je_empty(c);
        total = catmemi_charge(s, bytes);
    }
    return total;
}

/* A busy pair: one that moved CATMEMI_JE_BUSY blocks between its front cache and the arena. */
#define CATMEMI_JE_BUSY 1024
/* The most jemalloc caches one thread's pairs may have. */
#define CATMEMI_JE_TC_PER_THREAD 8

/* Once, the first time a busy pair gets no jemalloc cache because the process-wide cap is
   reached or jemalloc has no cache id left: said in catmem_backend_info. */
static void catmemi_je_say_cap(void) {
    char note[96];
    if (__atomic_exchange_n(&catmemi_je_cap_said, 1, __ATOMIC_RELAXED) != 0) return;
    snprintf(note, sizeof note,
             "; busy arenas past %u jemalloc caches take the arena's lock per block",
             (unsigned)__atomic_load_n(&catmemi_je_ntc, __ATOMIC_RELAXED));
    catmemi_say(note);
}

/* Gives a busy pair a jemalloc cache of its own (tcache.create: about 5 us and 8 KiB, and then
   the blocks it holds, at most a few hundred per class; the process's first costs jemalloc
   170 KiB of tables, measured, and bench_objects shows 0.6 MiB), so that its refills take many
   blocks from the arena under one lock (experimental.batch_alloc through that cache) and its
   give-backs go to that cache, which returns them in batches. The cache is the pair's alone:
   arenas stay separate. Not for arenas with a limit (their blocks are counted where they leave
   the arena), not past CATMEMI_JE_TC_PER_THREAD per thread or CATMEM_JEMALLOC_TCACHES in the
   process. */
static void catmemi_je_promote(catmemi_je_cache *c) {
    catmemi_je_thread *t = &catmemi_je_self;
    const catmemi_slot *s = catmemi_slot_at(c->slot);
    unsigned tc;
    size_t sz = sizeof tc;
    c->moved = 0;
    if (catmemi_je_batch_miblen == 0 || catmemi_counted(s) ||
        __atomic_load_n(&t->ntc, __ATOMIC_RELAXED) >= CATMEMI_JE_TC_PER_THREAD)
        return;
    if (__atomic_add_fetch(&catmemi_je_ntc, 1, __ATOMIC_RELAXED) > CATMEM_JEMALLOC_TCACHES ||
        CATMEMI_JE(mallctl)("tcache.create", &tc, &sz, NULL, 0) != 0) {
        __atomic_sub_fetch(&catmemi_je_ntc, 1, __ATOMIC_RELAXED);
        catmemi_je_say_cap();
        return;
    }
    __atomic_fetch_add(&t->ntc, 1, __ATOMIC_RELAXED); /* a release may drop another pair now */
    c->tc = tc;
    c->back = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE(tc);
}

/* Takes the pair's jemalloc cache away: its blocks go back to the arena (tcache.destroy), or,
   in a fork() child for a thread that is gone (destroy 0), are left where they are (that cache
   may have been caught mid-change). */
static void catmemi_je_demote(catmemi_je_thread *t, catmemi_je_cache *c, int destroy) {
    if (c->back == c->flags) return;
    if (destroy) CATMEMI_JE(mallctl)("tcache.destroy", NULL, NULL, &c->tc, sizeof c->tc);
    c->back = c->flags;
    __atomic_fetch_sub(&t->ntc, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&catmemi_je_ntc, 1, __ATOMIC_RELAXED);
}

/* Up to n blocks of class k from the arena into out, the number that came: one batch_alloc
   through the pair's jemalloc cache when it has one, one mallocx each otherwise (or when the
   batch fails). A batch of a whole slab or more would take fresh slabs and leave the freed
   blocks of partly used ones alone: batches stay below a slab. */
static unsigned catmemi_je_take(const catmemi_je_cache *c, unsigned k, void **out, unsigned n) {
    size_t size = catmemi_class_size[k];
    unsigned i;
    if (c->back != c->flags) {
        struct { /* jemalloc's batch_alloc_packet_t */
            void **ptrs;
            size_t num, size;
            int flags;
        } req;
        size_t got = 0, sz = sizeof got;
        if (n >= catmemi_je_nregs[k]) n = catmemi_je_nregs[k] > 1 ? catmemi_je_nregs[k] - 1 : 1;
        req.ptrs = out;
        req.num = n;
        req.size = size;
        req.flags = c->back;
        if (CATMEMI_JE(mallctlbymib)(catmemi_je_batch_mib, catmemi_je_batch_miblen, &got, &sz,
                                     &req, sizeof req) == 0)
            return (unsigned)got;
        /* refused whole (out of memory): one block at a time, past that cache */
    }
    for (i = 0; i < n; i++)
        if ((out[i] = CATMEMI_JE(mallocx)(size, c->flags)) == NULL) break;
    return i;
}

static void catmemi_je_map_class(const void *p, unsigned v); /* owners.h */

/* Class k is empty: a batch from the arena, handed out from a random place on (catmemi_je_deal),
   one block for the caller. Batches start at one block (1 to 8 at random under CATMEM_SECURE) and
   double up to CATMEMI_JE_FILL_MAX (catmemi_je_count), within the room the cache has left, so
   a class used once costs a few blocks and a busy class visits the arena rarely. A failure
   midway keeps what came; NULL only when not even one block could be had. The batch is charged
   to the arena first; near its limit the batch is one block, and then the thread's own cached
   blocks of the arena go back before the allocation is refused. */
static void *catmemi_je_refill(catmemi_je_cache *c, unsigned k) {
    catmemi_je_bin *b = &c->bin[k];
    catmemi_slot *s = catmemi_slot_at(c->slot);
    size_t size = catmemi_class_size[k], fits, total = 0;
    unsigned n, got, i;
    int counted = catmemi_counted(s), last;
    void *blocks[CATMEMI_JE_FILL_MAX];
    uintptr_t page;
    CATMEMI_ASSERT(catmemi_je_cache_valid(c));
    catmemi_je_reshare(c);
    fits = c->room > 0 ? (size_t)c->room / size + 1 : 1;
    n = catmemi_je_count(b, fits < CATMEMI_JE_FILL_MAX ? (unsigned)fits : CATMEMI_JE_FILL_MAX,
                         &last);
    if (counted && (total = catmemi_charge(s, n * size)) == 0) {
        n = 1;
        if ((total = catmemi_je_charge(s, size)) == 0) return NULL;
    }
    got = catmemi_je_take(c, k, blocks, n);
    if (counted) {
        catmemi_uncharge(s, (size_t)(n - got) * size); /* what did not come */
        if (got != 0) catmemi_peak(s, total - (size_t)(n - got) * size);
    }
    if (got == 0) return NULL;
    for (i = 0, page = 0; i < got; i++) /* the class on their pages, once a page */
        if ((uintptr_t)blocks[i] >> CATMEMI_JE_MAP_PAGE != page) {
            page = (uintptr_t)blocks[i] >> CATMEMI_JE_MAP_PAGE;
            catmemi_je_map_class(blocks[i], k + 1);
        }
    c->moved += got;
    if (c->moved >= CATMEMI_JE_BUSY && c->back == c->flags) catmemi_je_promote(c);
    return catmemi_je_deal(c, k, blocks, got, last);
}

static void catmemi_je_list_add(catmemi_je_cache **head, catmemi_je_cache *c, int arena) {
    catmemi_je_cache **next = arena ? &c->anext : &c->tnext, **prev = arena ? &c->aprev : &c->tprev;
    *prev = NULL;
    *next = *head;
    if (*head != NULL) *(arena ? &(*head)->aprev : &(*head)->tprev) = c;
    *head = c;
}
static void catmemi_je_list_del(catmemi_je_cache **head, catmemi_je_cache *c, int arena) {
    catmemi_je_cache *next = arena ? c->anext : c->tnext, *prev = arena ? c->aprev : c->tprev;
    if (prev != NULL)
        *(arena ? &prev->anext : &prev->tnext) = next;
    else
        *head = next;
    if (next != NULL) *(arena ? &next->aprev : &next->tprev) = prev;
}

/* Drops c, a cache of thread t: its blocks go back to their arena (forget: they stay where
   they are, for the reset of the arena that follows to free), its counts to the arena's,
   it leaves its lists and serves nothing more (key 0). Its memory waits on t's dead list for t
   (catmemi_je_reap), whose table may still point at it. Under catmemi_mu, and only while t
   does not use the arena (see THREADS in catmem.h). */
static void catmemi_je_drop(catmemi_je_thread *t, catmemi_je_cache *c, int forget) {
    catmemi_slot *s = catmemi_slot_at(c->slot);
    CATMEMI_ASSERT_LOCKED();
    CATMEMI_ASSERT(catmemi_je_cache_valid(c));
    if (!c->small) __atomic_store_n(&t->ncaches, t->ncaches - 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->je.nmalloc, c->nalloc, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->je.ndalloc, c->nfree, __ATOMIC_RELAXED);
    if (forget) /* a reset of s comes next and frees the blocks with the rest */
        catmemi_je_cache_init(c, c->allowance);
    else
        catmemi_je_empty(c);
    catmemi_je_demote(t, c, 1);
    catmemi_je_list_del(&s->je.caches, c, 1);
    catmemi_je_list_del(&t->caches, c, 0);
    __atomic_store_n(&c->key, 0, __ATOMIC_RELAXED);
    c->tnext = t->dead;
    t->dead = c;
}

/* Frees t's dropped caches, first taking them out of its table. Under catmemi_mu, on t's own
   thread (or for a thread that is gone). */
static void catmemi_je_reap(catmemi_je_thread *t) {
    catmemi_je_cache *c, *next;
    CATMEMI_ASSERT_LOCKED();
    for (c = t->dead; c != NULL; c = next) {
        next = c->tnext;
        if (t->tab != NULL && t->tab[CATMEMI_TAB_OF(c->slot)] == c)
            t->tab[CATMEMI_TAB_OF(c->slot)] = &catmemi_je_none;
        CATMEMI_JE(dallocx)(c, CATMEMI_MALLOCX_TCACHE_NONE);
    }
    t->dead = NULL;
}

/* Drops every cache of t. Under catmemi_mu. */
static void catmemi_je_drop_all(catmemi_je_thread *t) {
    CATMEMI_ASSERT_LOCKED();
    while (t->caches != NULL) catmemi_je_drop(t, t->caches, 0);
}

static void catmemi_je_unlink(catmemi_je_thread *t) {
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* Once it ran, the thread takes the arena's lock for whatever it still allocates or frees:
   glibc may run its destructors in no further round (a destructor of a newer key, glibc's own
   frees after the last round), and a thread linked here when its storage goes to the next
   thread corrupts the list. */
static void catmemi_je_thread_exit(void *arg) {
    catmemi_je_thread *t = (catmemi_je_thread *)arg;
    catmemi_lock();
    t->gone = 1;
    if (t->next != NULL) {
        catmemi_je_drop_all(t);
        catmemi_je_reap(t);
        catmemi_je_unlink(t);
    }
    catmemi_unlock();
}

/* Under catmemi_mu: the calling thread joins the registry (once); 0 when it cannot, for then
   its caches would outlive it. */
static int catmemi_je_join(void) {
    catmemi_je_thread *t = &catmemi_je_self;
    CATMEMI_ASSERT_LOCKED();
    if (t->next != NULL) return 1;
    if (t->gone || pthread_setspecific(catmemi_je_key, t) != 0) return 0;
    t->tab = catmemi_je_tab;
    t->next = catmemi_je_threads.next;
    t->prev = &catmemi_je_threads;
    t->next->prev = t;
    catmemi_je_threads.next = t;
    return 1;
}

/* Under catmemi_mu: the calling thread's cache for s, wherever it is; NULL: none. */
static catmemi_je_cache *catmemi_je_own_locked(const catmemi_slot *s) {
    catmemi_je_cache *c;
    CATMEMI_ASSERT_LOCKED();
    for (c = s->je.caches; c != NULL && c->thread != &catmemi_je_self; c = c->anext) {}
    return c;
}

/* A new cache of the calling thread for s, on both lists. Under catmemi_mu. A small arena's
   cache (small.h) keeps classes up to CATMEMI_SM_MAX bytes without a budget (its blocks
   never leave the arena's chunks), and takes no share of the thread's budget. */
static catmemi_je_cache *catmemi_je_cache_new(catmemi_slot *s) {
    catmemi_je_thread *t = &catmemi_je_self;
    catmemi_je_cache *c =
        (catmemi_je_cache *)CATMEMI_JE(mallocx)(sizeof *c, CATMEMI_MALLOCX_TCACHE_NONE);
    if (c == NULL) return NULL;
    c->small = s->small;
    if (c->small) {
        catmemi_je_cache_init(c, INTPTR_MAX / 4);
        c->top = CATMEMI_SM_TOP;
    } else {
        __atomic_store_n(&t->ncaches, t->ncaches + 1, __ATOMIC_RELAXED);
        catmemi_je_cache_init(c, catmemi_je_allowance(t, s->id));
    }
    c->nalloc = c->nfree = 0;
    c->flags = c->back = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE;
    c->tc = 0;
    c->moved = 0;
    c->slot = s->id;
    c->owner = s->je.index + 1;
    c->thread = t;
    c->key = catmemi_key(s);
    catmemi_je_list_add(&s->je.caches, c, 1);
    catmemi_je_list_add(&t->caches, c, 0);
    return c;
}

/* The calling thread's cache for s, made on first use (from jemalloc's automatic arena, so
   that a reset of s never frees it) and put in the thread's table. NULL when the front cache
   is off, s went away, or the cache cannot be made now: the caller then goes to the arena
   directly, and the next call tries again. */
static catmemi_je_cache *catmemi_je_cache_for(catmemi_slot *s) {
    catmemi_je_cache *c = catmemi_je_mine(catmemi_handle(s));
    if (c != NULL || !catmemi_je_front) return c;
    catmemi_lock();
    if (catmemi_is_up() && catmemi_slot_live(s) && catmemi_je_join()) {
        catmemi_je_reap(&catmemi_je_self);
        if ((c = catmemi_je_own_locked(s)) == NULL) c = catmemi_je_cache_new(s);
        if (c != NULL) catmemi_je_tab[CATMEMI_TAB_OF(s->id)] = c;
    }
    catmemi_unlock();
    return c;
}

/* Empties a pair's jemalloc cache (if it has one) into the arena. */
static void catmemi_je_flush_tc(const catmemi_je_cache *c) {
    if (c->back != c->flags)
        CATMEMI_JE(mallctl)("tcache.flush", NULL, NULL, (void *)&c->tc, sizeof c->tc);
}

/* Under catmemi_mu: every block of c, a cache of the calling thread, back in the arena. */
static void catmemi_je_flush(catmemi_je_cache *c) {
    catmemi_je_empty(c);
    catmemi_je_flush_tc(c);
}

/* Under catmemi_mu: empties the calling thread's cache for s so that its blocks are back in
   the arena. */
static void catmemi_je_flush_own_locked(const catmemi_slot *s) {
    catmemi_je_cache *c = catmemi_je_own_locked(s);
    if (c != NULL) catmemi_je_flush(c);
}
static void catmemi_je_flush_own(const catmemi_slot *s) {
    catmemi_lock();
    catmemi_je_flush_own_locked(s);
    catmemi_unlock();
}
