/* catmem's jemalloc engine: the owner of a pointer, known without asking jemalloc. Part of the
   implementation (core/impl.h), compiled after cache.h.

   Every jemalloc arena catmem makes (ops.h, catmemi_je_new_arena) gets extent hooks that wrap
   jemalloc's default ones (arena.0.extent_hooks): the alloc hook writes the arena's index into a
   PAGE MAP, one entry per 4 KiB page of the 47-bit user address space (a root of pointers to
   leaves of 1 GiB each, leaves mapped on demand and never freed), and the dalloc and destroy
   hooks clear it. arenas.lookup takes jemalloc's process-wide control mutex and parses a name on
   every call (issue 21: free_any made larson 4.3x glibc's time); a map read is two loads.
   Each entry holds a size class too, written where catmem hands blocks out (catmemi_je_map_class
   below; why it is right: THE PAGE MAP in fast.h).

   INVARIANT: a page's owner is 1 + the index of the catmem arena whose alloc hook handed it out
   last, or 0 when none did or it went back to the OS since. So every block of a catmem arena
   lies on pages naming that arena, and a block of anyone else's (malloc's, another arena of
   jemalloc's) on pages reading 0. Why it holds: jemalloc moves memory between arenas only
   through the OS. An extent stays in the arena whose hook mapped it (split, merge, commit,
   decommit and purge keep it there: those hooks only pass through) until a dalloc or destroy
   hook returns it to the OS. With opt.retain (Linux's default) jemalloc's own dalloc unmaps
   nothing (it says no, and jemalloc retains the range in the same arena), so catmem's arenas
   get no dalloc hook at all: jemalloc then retains at once, as it does with its default hooks,
   and a reset (which hands every extent to dalloc) costs no map writes. catmem never destroys
   an arena. Without opt.retain a dalloc clears the entries BEFORE the range is unmapped, while
   no block lies in it, and writes them back when jemalloc kept the range: once unmapped, the
   range may be mapped again by any thread at once, and its new owner's entries must not be
   cleared after they were written. Entries are per 4 KiB whatever jemalloc's page (a multiple
   of it).
   The hooks are this module's code, called by jemalloc for as long as the process lives: a
   module that compiles catmem in and is dlclose'd must be linked -z nodelete (the manual,
   INCLUDING IT); pinning itself at init (dlopen RTLD_NOLOAD | RTLD_NODELETE) would take the
   loader's lock under catmemi_mu.
   An entry that cannot be written (an address above 47 bits, no memory for a leaf) turns the map
   off for the process, before the hook returns the memory: owners then come from arenas.lookup,
   as they do when jemalloc gives no default hooks to wrap. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* jemalloc's extent_hooks_t, its layout part of jemalloc's ABI since 5.0 (the runtime backend
   has no jemalloc header; checked against it below when there is one). */
typedef struct catmemi_je_hooks catmemi_je_hooks;
struct catmemi_je_hooks {
    void *(*alloc)(catmemi_je_hooks *, void *, size_t, size_t, bool *, bool *, unsigned);
    bool (*dalloc)(catmemi_je_hooks *, void *, size_t, bool, unsigned);
    void (*destroy)(catmemi_je_hooks *, void *, size_t, bool, unsigned);
    bool (*commit)(catmemi_je_hooks *, void *, size_t, size_t, size_t, unsigned);
    bool (*decommit)(catmemi_je_hooks *, void *, size_t, size_t, size_t, unsigned);
    bool (*purge_lazy)(catmemi_je_hooks *, void *, size_t, size_t, size_t, unsigned);
    bool (*purge_forced)(catmemi_je_hooks *, void *, size_t, size_t, size_t, unsigned);
    bool (*split)(catmemi_je_hooks *, void *, size_t, size_t, size_t, bool, unsigned);
    bool (*merge)(catmemi_je_hooks *, void *, size_t, void *, size_t, bool, unsigned);
};
#if defined(JEMALLOC_VERSION_MAJOR)
typedef char catmemi_je_hooks_match[sizeof(catmemi_je_hooks) == sizeof(extent_hooks_t) ? 1 : -1];
#endif

/* The map's layout and its read are in fast.h (the inline free checks a block's arena). */
typedef char catmemi_je_index_fits[CATMEMI_JE_ARENA_LIMIT <= 65535 ? 1 : -1];
catmemi_je_leaf *catmemi_je_map[CATMEMI_JE_MAP_ROOT]; /* atomic; 1 MiB, touched as used */
/* 1: every arena catmem made so far has the hooks and every entry was written; atomic. */
int catmemi_je_map_on;
static catmemi_je_hooks *catmemi_je_def;     /* jemalloc's default hooks, set once */
static catmemi_je_hooks catmemi_je_my_hooks; /* what catmem's arenas get, set once */

/* The leaf of u, made when make; NULL: none (or no memory for it). Not malloc: this runs inside
   jemalloc, under its locks. A leaf sits between two inaccessible guards (64 KiB: Linux's
   largest page): the OS may map it right after one of jemalloc's extents, and an overflow off
   that extent's last block must not reach the classes the inline free trusts. */
#define CATMEMI_JE_LEAF_GUARD ((size_t)1 << 16)
static catmemi_je_leaf *catmemi_je_leaf_of(uintptr_t u, int make) {
    catmemi_je_leaf **slot = &catmemi_je_map[u >> (CATMEMI_JE_MAP_PAGE + CATMEMI_JE_MAP_LEAF)];
    catmemi_je_leaf *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *mine;
    size_t total = sizeof *leaf + 2 * CATMEMI_JE_LEAF_GUARD;
    char *m;
    if (leaf != NULL || !make) return leaf;
    m = (char *)mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == (char *)MAP_FAILED) return NULL;
    if (mprotect(m + CATMEMI_JE_LEAF_GUARD, sizeof *leaf, PROT_READ | PROT_WRITE) != 0) {
        munmap(m, total);
        return NULL;
    }
    mine = (catmemi_je_leaf *)(void *)(m + CATMEMI_JE_LEAF_GUARD);
    if (__atomic_compare_exchange_n(slot, &leaf, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    munmap(m, total); /* another thread made it first: leaf is that one */
    return leaf;
}

/* The pages of [addr, addr + size) say v (index + 1, or 0); 0 when they cannot, and the map is
   then off. */
static int catmemi_je_map_set(void *addr, size_t size, unsigned v) {
    uintptr_t u = (uintptr_t)addr, end = u + size;
    if (size == 0) return 1;
    if (end < u || (end - 1) >> CATMEMI_JE_MAP_TOP) {
        __atomic_store_n(&catmemi_je_map_on, 0, __ATOMIC_RELEASE);
        return 0;
    }
    for (u &= ~(((uintptr_t)1 << CATMEMI_JE_MAP_PAGE) - 1); u < end;
         u += (uintptr_t)1 << CATMEMI_JE_MAP_PAGE) {
        catmemi_je_leaf *leaf = catmemi_je_leaf_of(u, v != 0);
        if (leaf == NULL && v != 0) {
            __atomic_store_n(&catmemi_je_map_on, 0, __ATOMIC_RELEASE);
            return 0;
        }
        if (leaf != NULL)
            __atomic_store_n(
                &(*leaf)[(u >> CATMEMI_JE_MAP_PAGE) & (((size_t)1 << CATMEMI_JE_MAP_LEAF) - 1)]
                     .owner,
                (uint16_t)v, __ATOMIC_RELAXED);
    }
    return 1;
}

/* The blocks catmem hands out on p's page are of class v - 1 (0: ask jemalloc; THE PAGE MAP in
   fast.h says why it holds). Written only when it changes: every refill of a class writes the
   same value, and the page's line stays shared between the threads that read it. A page with
   no leaf is on none of catmem's arenas' extents, whose frees never trust the map. */
static void catmemi_je_map_class(const void *p, unsigned v) {
    catmemi_je_pg *e;
    if (!__atomic_load_n(&catmemi_je_map_on, __ATOMIC_RELAXED) ||
        (e = catmemi_je_pg_of((uintptr_t)p)) == NULL)
        return;
    if (__atomic_load_n(&e->cls, __ATOMIC_RELAXED) != v)
        __atomic_store_n(&e->cls, (uint8_t)v, __ATOMIC_RELAXED);
}
/* CATMEM_DEBUG: the map's class k of p is jemalloc's, or p was freed before (its free mark: the
   free is about to stop the process, where jemalloc's answer may be stale). */
CATMEMI_API int catmemi_je_class_check(const void *p, unsigned k) {
    size_t usize = CATMEMI_JE(sallocx)(p, 0);
    if (usize <= CATMEMI_CLASS_MAX && catmemi_class(usize) == k) return 1;
    return CATMEM_SECURE && k != 0 && ((const uintptr_t *)p)[1] == catmemi_je_mark_of(p);
}

/* ---- the hooks: jemalloc's default ones, and the map kept -------------------------------- */
static void *catmemi_je_h_alloc(catmemi_je_hooks *h, void *at, size_t size, size_t align,
                                bool *zero, bool *commit, unsigned index) {
    void *p = catmemi_je_def->alloc(catmemi_je_def, at, size, align, zero, commit, index);
    (void)h;
    if (p != NULL) (void)catmemi_je_map_set(p, size, index + 1);
    return p;
}
static bool catmemi_je_h_dalloc(catmemi_je_hooks *h, void *p, size_t size, bool committed,
                                unsigned index) {
    bool kept;
    (void)h;
    (void)catmemi_je_map_set(p, size, 0);
    kept = catmemi_je_def->dalloc(catmemi_je_def, p, size, committed, index);
    if (kept) (void)catmemi_je_map_set(p, size, index + 1);
    return kept;
}
static void catmemi_je_h_destroy(catmemi_je_hooks *h, void *p, size_t size, bool committed,
                                 unsigned index) {
    (void)h;
    (void)catmemi_je_map_set(p, size, 0);
    catmemi_je_def->destroy(catmemi_je_def, p, size, committed, index);
}
/* The others leave the extent in its arena: only through. */
#define CATMEMI_JE_THROUGH(op)                                                                     \
  static bool catmemi_je_h_##op(catmemi_je_hooks *h, void *p, size_t size, size_t off, size_t len, \
                                unsigned index) {                                                  \
    (void)h;                                                                                       \
    return catmemi_je_def->op(catmemi_je_def, p, size, off, len, index);                           \
  }
CATMEMI_JE_THROUGH(commit)
CATMEMI_JE_THROUGH(decommit)
CATMEMI_JE_THROUGH(purge_lazy)
CATMEMI_JE_THROUGH(purge_forced)
#undef CATMEMI_JE_THROUGH
static bool catmemi_je_h_split(catmemi_je_hooks *h, void *p, size_t size, size_t a, size_t b,
                               bool committed, unsigned index) {
    (void)h;
    return catmemi_je_def->split(catmemi_je_def, p, size, a, b, committed, index);
}
static bool catmemi_je_h_merge(catmemi_je_hooks *h, void *a, size_t na, void *b, size_t nb,
                               bool committed, unsigned index) {
    (void)h;
    return catmemi_je_def->merge(catmemi_je_def, a, na, b, nb, committed, index);
}

/* Once, before catmem's first arena: the default hooks to wrap, and the map on. A hook jemalloc
   leaves NULL (an operation it cannot do) stays NULL. Without hooks to wrap, catmem says so
   where users look. */
static void catmemi_je_map_init(void) {
    catmemi_je_hooks *d = NULL, *m = &catmemi_je_my_hooks;
    size_t sz = sizeof d, rsz = sizeof(bool);
    bool retain = false;
    if (CATMEMI_JE(mallctl)("arena.0.extent_hooks", &d, &sz, NULL, 0) != 0 || d == NULL ||
        d->alloc == NULL || d->dalloc == NULL || d->destroy == NULL) {
        catmemi_say("; owners of pointers from arenas.lookup (no extent hooks to wrap)");
        return;
    }
    catmemi_je_def = d;
    m->alloc = catmemi_je_h_alloc;
    if (CATMEMI_JE(mallctl)("opt.retain", &retain, &rsz, NULL, 0) != 0) retain = false;
    m->dalloc = retain ? NULL : catmemi_je_h_dalloc; /* NULL: never unmapped (the top) */
    m->destroy = catmemi_je_h_destroy;
    m->commit = d->commit != NULL ? catmemi_je_h_commit : NULL;
    m->decommit = d->decommit != NULL ? catmemi_je_h_decommit : NULL;
    m->purge_lazy = d->purge_lazy != NULL ? catmemi_je_h_purge_lazy : NULL;
    m->purge_forced = d->purge_forced != NULL ? catmemi_je_h_purge_forced : NULL;
    m->split = d->split != NULL ? catmemi_je_h_split : NULL;
    m->merge = d->merge != NULL ? catmemi_je_h_merge : NULL;
    __atomic_store_n(&catmemi_je_map_on, 1, __ATOMIC_RELEASE);
}

/* The jemalloc arena of p from arenas.lookup, or CATMEMI_JE_ARENA_LIMIT when it cannot say. */
static __attribute__((noinline, cold)) unsigned catmemi_je_asked(const void *p) {
    unsigned index;
    size_t sz = sizeof index;
    if (CATMEMI_JE(mallctl)("arenas.lookup", &index, &sz, (void *)&p, sizeof p) != 0 ||
        index >= CATMEMI_JE_ARENA_LIMIT)
        return CATMEMI_JE_ARENA_LIMIT;
    return index;
}
/* The jemalloc arena of p, or an index at or above CATMEMI_JE_ARENA_LIMIT for none of catmem's:
   from the map, or from arenas.lookup when the map is off. */
CATMEMI_INLINE unsigned catmemi_je_lookup(const void *p) {
    if (CATMEMI_LIKELY(__atomic_load_n(&catmemi_je_map_on, __ATOMIC_ACQUIRE)))
        return catmemi_je_map_get((uintptr_t)p) - 1; /* 0 - 1: CATMEMI_JE_ARENA_LIMIT or above */
    return catmemi_je_asked(p);
}
