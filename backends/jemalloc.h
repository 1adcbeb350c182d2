/* catmem backend: jemalloc manual arenas (CATMEM_BACKEND_JEMALLOC). Included only by catmem.h.

   Every backend file has the same three parts, selected by the macro catmem.h defines around
   each #include:
     CATMEMI_PART_INLINE  the fast paths, inline in every user file, under the backend's own
                          names (catmemi_je_fast_alloc(a, size, opts), catmemi_je_fast_free(a, p),
                          catmemi_je_fast_free_sized(a, p, size)); the backend that is compiled
                          in maps catmemi_be_alloc/_free/_free_sized, which catmem.h calls, to
                          them (the runtime backend maps them itself). Each falls back to
                          catmemi_alloc_slow / catmemi_free_slow.
     CATMEMI_PART_TYPES   catmemi_<name>_slot, the backend's data in each arena slot.
     CATMEMI_PART_IMPL    the out-of-line functions, gathered by name in a catmemi_ops table
                          (declared in catmem.h) by catmemi_<name>_table(), and catmemi_select(),
                          which returns the table to use (called once, under pthread_once).
   Adding a backend is adding one file with these parts. The runtime backend (runtime.h)
   includes this file and system.h under CATMEMI_RUNTIME and picks one of the two at run time.

   How this backend keeps arenas separate and fast: each thread gets, per arena, its own explicit
   jemalloc thread cache (tcache.create). The mallocx flags for "this arena through my cache" are
   kept in a thread-local array indexed by arena slot, so the fast path is one TLS load and one
   mallocx call. A zero entry means "no cache yet" (or dropped by shutdown/release) and takes the
   slow path. Caches are registered in a list under catmemi_mu so that reset can flush them all,
   and are destroyed when their thread exits (a pthread key destructor). */

#if defined(CATMEMI_PART_INLINE)
#  if !defined(CATMEMI_RUNTIME)
#    include <jemalloc/jemalloc.h>
#    define CATMEMI_CAT2(a, b) a##b
#    define CATMEMI_CAT(a, b)  CATMEMI_CAT2(a, b)
/* jemalloc's functions under the prefix of the jemalloc in use (CATMEM_JEMALLOC_PREFIX). The
   runtime backend defines this to call through the pointers it found instead. */
#    define CATMEMI_JE(name) CATMEMI_CAT(CATMEM_JEMALLOC_PREFIX, name)
#  endif

/* mallocx flags per arena slot for the calling thread; 0 = take the slow path. */
extern CATMEMI_TLS int catmemi_je_flags[CATMEM_MAX_ARENAS];

static inline void *catmemi_je_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    int f = catmemi_je_flags[a->slot];
    void *p;
    if (CATMEMI_LIKELY(f != 0) && CATMEMI_LIKELY((p = CATMEMI_JE(mallocx)(size, f | opts)) != NULL))
        return p;
    return catmemi_alloc_slow(a, size, opts);
}

/* dallocx ignores the arena bits of f and takes the owner from the pointer. */
static inline void catmemi_je_fast_free(const catmem_arena *a, void *p) {
    int f = catmemi_je_flags[a->slot];
    if (CATMEMI_LIKELY(f != 0))
        CATMEMI_JE(dallocx)(p, f);
    else
        catmemi_free_slow(a, p, 0);
}

static inline void catmemi_je_fast_free_sized(const catmem_arena *a, void *p, size_t size) {
    int f = catmemi_je_flags[a->slot];
    if (CATMEMI_LIKELY(f != 0))
        CATMEMI_JE(sdallocx)(p, size, f);
    else
        catmemi_free_slow(a, p, size);
}
#  if !defined(CATMEMI_RUNTIME)
#    define catmemi_be_alloc      catmemi_je_fast_alloc
#    define catmemi_be_free       catmemi_je_fast_free
#    define catmemi_be_free_sized catmemi_je_fast_free_sized
#  endif
#endif /* CATMEMI_PART_INLINE */

#if defined(CATMEMI_PART_TYPES)
#  define CATMEMI_HAS_JE 1
typedef struct catmemi_je_slot {
    unsigned index; /* jemalloc arena index, from arenas.create */
} catmemi_je_slot;
#endif

#if defined(CATMEMI_PART_IMPL)
#  include <stdbool.h>
#  include <sys/types.h>

#  if !defined(CATMEMI_RUNTIME)
#    define CATMEMI_MALLOCX_ARENA(a)    MALLOCX_ARENA(a)
#    define CATMEMI_MALLOCX_TCACHE(tc)  MALLOCX_TCACHE(tc)
#    define CATMEMI_MALLOCX_TCACHE_NONE MALLOCX_TCACHE_NONE
#    define CATMEMI_MALLCTL_ARENAS_ALL  MALLCTL_ARENAS_ALL
/* catmem's option encoding must be jemalloc's mallocx flags (a compile-time check). */
typedef char catmemi_je_opts_match[(CATMEMI_ZERO == MALLOCX_ZERO && MALLOCX_LG_ALIGN(5) == 5 &&
                                    CATMEMI_LG_ALIGN_MASK == 0x3f)
                                       ? 1
                                       : -1];
#  endif

CATMEMI_TLS int catmemi_je_flags[CATMEM_MAX_ARENAS];

/* One thread's explicit caches. Lives in the thread's TLS; linked into catmemi_je_threads
   (under catmemi_mu) from its first cache until the thread exits. */
typedef struct catmemi_je_thread {
    unsigned tc[CATMEM_MAX_ARENAS]; /* tcache id + 1 per slot; 0 = none */
    int *flags;                     /* that thread's catmemi_je_flags */
    struct catmemi_je_thread *prev, *next;
} catmemi_je_thread;

static CATMEMI_TLS catmemi_je_thread catmemi_je_self;
static catmemi_je_thread catmemi_je_threads = {{0}, NULL, &catmemi_je_threads, &catmemi_je_threads};
static pthread_key_t catmemi_je_key;
static size_t catmemi_je_page;

/* mallctl on "<fmt with the arena index>". */
static int catmemi_je_ctl(const catmemi_slot *s, const char *fmt, void *old, size_t *oldlen,
                          void *newp, size_t newlen) {
    char name[96];
    snprintf(name, sizeof name, fmt, s->je.index);
    return CATMEMI_JE(mallctl)(name, old, oldlen, newp, newlen);
}

/* Drops one thread's cache for slot i (or all slots when i < 0). Under catmemi_mu, and only
   while that thread does not use the arena (see THREADS in catmem.h). */
static void catmemi_je_drop(catmemi_je_thread *t, int i) {
    int k;
    for (k = (i < 0 ? 0 : i); k < (i < 0 ? CATMEM_MAX_ARENAS : i + 1); k++) {
        if (t->tc[k] != 0) {
            unsigned id = t->tc[k] - 1;
            (void)CATMEMI_JE(mallctl)("tcache.destroy", NULL, NULL, &id,
                                      sizeof id); /* fails only for bad ids */
            t->tc[k] = 0;
        }
        t->flags[k] = 0;
    }
}

static void catmemi_je_unlink(catmemi_je_thread *t) {
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void catmemi_je_thread_exit(void *arg) {
    catmemi_je_thread *t = (catmemi_je_thread *)arg;
    catmemi_lock();
    if (t->next != NULL) {
        catmemi_je_drop(t, -1);
        catmemi_je_unlink(t);
    }
    catmemi_unlock();
}

/* The calling thread's flags for s, making its cache on first use. 0 when s went away. */
static int catmemi_je_thread_flags(catmemi_slot *s) {
    catmemi_je_thread *t = &catmemi_je_self;
    unsigned i = s->handle.slot, tc;
    size_t sz = sizeof tc;
    int f;
    catmemi_lock();
    f = catmemi_je_flags[i];
    if (f != 0 || !catmemi_is_up() || !catmemi_slot_live(s)) goto out;
    if (t->next == NULL) {
        t->flags = catmemi_je_flags;
        t->next = catmemi_je_threads.next;
        t->prev = &catmemi_je_threads;
        t->next->prev = t;
        catmemi_je_threads.next = t;
        pthread_setspecific(catmemi_je_key, t);
    }
    if (CATMEMI_JE(mallctl)("tcache.create", &tc, &sz, NULL, 0) == 0) {
        t->tc[i] = tc + 1;
        f = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE(tc);
    } else {
        /* Out of cache ids (thousands of live thread/arena pairs): still correct, slower. */
        f = CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE;
    }
    catmemi_je_flags[i] = f;
out:
    catmemi_unlock();
    return f;
}

static int catmemi_je_flags_for(catmemi_slot *s) {
    int f = catmemi_je_flags[s->handle.slot];
    if (f == 0) f = catmemi_je_thread_flags(s);
    return f != 0 ? f : (CATMEMI_MALLOCX_ARENA(s->je.index) | CATMEMI_MALLOCX_TCACHE_NONE);
}

/* Flushes the calling thread's cache for s so that its objects are back in the arena. */
static void catmemi_je_flush_own(const catmemi_slot *s) {
    unsigned tc = catmemi_je_self.tc[s->handle.slot];
    if (tc != 0) {
        tc -= 1;
        (void)CATMEMI_JE(mallctl)("tcache.flush", NULL, NULL, &tc, sizeof tc);
    }
}

/* jemalloc's version string, or NULL when it does not answer. */
static const char *catmemi_je_version(void) {
    const char *version = NULL;
    size_t sz = sizeof version;
    return CATMEMI_JE(mallctl)("version", &version, &sz, NULL, 0) == 0 ? version : NULL;
}

/* Once per process: is jemalloc really there and answering? */
static int catmemi_je_once(void) {
    size_t sz;
    if (catmemi_je_version() == NULL) return ENOSYS;
    sz = sizeof catmemi_je_page;
    if (CATMEMI_JE(mallctl)("arenas.page", &catmemi_je_page, &sz, NULL, 0) != 0) return ENOSYS;
    return pthread_key_create(&catmemi_je_key, catmemi_je_thread_exit);
}

static int catmemi_je_arena_create(catmemi_slot *s) {
    unsigned index;
    size_t sz = sizeof index;
    int err = CATMEMI_JE(mallctl)("arenas.create", &index, &sz, NULL, 0);
    if (err == 0) s->je.index = index;
    return err;
}

static int catmemi_je_arena_id(const catmemi_slot *s) { return (int)s->je.index; }

static void *catmemi_je_alloc_slow(catmemi_slot *s, size_t size, int opts) {
    return CATMEMI_JE(mallocx)(size, catmemi_je_flags_for(s) | opts);
}

/* s NULL: no usable arena (NULL handle, shutdown, released): free without any cache. */
static void catmemi_je_free_slow(catmemi_slot *s, void *p, size_t size) {
    int f = s != NULL ? catmemi_je_flags_for(s) : CATMEMI_MALLOCX_TCACHE_NONE;
    if (size != 0)
        CATMEMI_JE(sdallocx)(p, size, f);
    else
        CATMEMI_JE(dallocx)(p, f);
}

static void *catmemi_je_realloc(catmemi_slot *s, void *p, size_t size) {
    return CATMEMI_JE(rallocx)(p, size, catmemi_je_flags_for(s));
}

static size_t catmemi_je_usable_size(const void *p) { return CATMEMI_JE(sallocx)(p, 0); }

/* The owner arena comes from the pointer, and no cache is involved: correct whatever caching
   the calling thread does. */
static void catmemi_je_free_any(void *p) { CATMEMI_JE(dallocx)(p, CATMEMI_MALLOCX_TCACHE_NONE); }

/* Under catmemi_mu: every thread's cache for s (all slots when s is NULL) is destroyed. */
static void catmemi_je_drop_caches(catmemi_slot *s) {
    catmemi_je_thread *t;
    for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next)
        catmemi_je_drop(t, s != NULL ? (int)s->handle.slot : -1);
}

/* Under catmemi_mu. Caches hold pointers into the arena: flush them all first. */
static int catmemi_je_reset(catmemi_slot *s) {
    catmemi_je_thread *t;
    unsigned i = s->handle.slot;
    for (t = catmemi_je_threads.next; t != &catmemi_je_threads; t = t->next)
        if (t->tc[i] != 0) {
            unsigned id = t->tc[i] - 1;
            int err = CATMEMI_JE(mallctl)("tcache.flush", NULL, NULL, &id, sizeof id);
            if (err != 0) return err;
        }
    return catmemi_je_ctl(s, "arena.%u.reset", NULL, NULL, NULL, 0);
}

static int catmemi_je_purge(catmemi_slot *s) {
    catmemi_je_flush_own(s);
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

/* The same statistics for one arena or, with s NULL, for all of jemalloc's arenas merged. */
static int catmemi_je_counts(const catmemi_slot *s, const char *prefix, catmem_stats *out) {
    uint64_t sm, lm, sd, ld;
    char fmt[64];
    int err = 0;
#  define CATMEMI_JE_READ(what, var)                                                               \
    if (err == 0) {                                                                                \
      snprintf(fmt, sizeof fmt, "%s." what, prefix);                                               \
      err = catmemi_je_read(s, fmt, &(var), sizeof(var));                                          \
    }
    CATMEMI_JE_READ("small.nmalloc", sm)
    CATMEMI_JE_READ("large.nmalloc", lm)
    CATMEMI_JE_READ("small.ndalloc", sd)
    CATMEMI_JE_READ("large.ndalloc", ld)
#  undef CATMEMI_JE_READ
    if (err == 0) {
        out->nmalloc = sm + lm;
        out->ndalloc = sd + ld;
    }
    return err;
}

static int catmemi_je_stats(catmemi_slot *s, catmem_stats *out) {
    size_t small, large, pactive;
    int err;
    catmemi_je_flush_own(s);
    if ((err = catmemi_je_epoch()) != 0) return err;
    if ((err = catmemi_je_read(s, "stats.arenas.%u.small.allocated", &small, sizeof small)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.large.allocated", &large, sizeof large)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.pactive", &pactive, sizeof pactive)) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.resident", &out->resident, sizeof(size_t))) ||
        (err = catmemi_je_read(s, "stats.arenas.%u.mapped", &out->mapped, sizeof(size_t))))
        return err == ENOENT ? ENOTSUP : err; /* ENOENT: jemalloc built without stats */
    out->allocated = small + large;
    out->active = pactive * catmemi_je_page;
    return catmemi_je_counts(s, "stats.arenas.%u", out);
}

static int catmemi_je_total_stats(catmem_stats *out) {
    char prefix[32];
    int err;
    if ((err = catmemi_je_epoch()) != 0) return err;
    if ((err = catmemi_je_read(NULL, "stats.allocated", &out->allocated, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.active", &out->active, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.resident", &out->resident, sizeof(size_t))) ||
        (err = catmemi_je_read(NULL, "stats.mapped", &out->mapped, sizeof(size_t))))
        return err == ENOENT ? ENOTSUP : err;
    snprintf(prefix, sizeof prefix, "stats.arenas.%d", CATMEMI_MALLCTL_ARENAS_ALL);
    return catmemi_je_counts(NULL, prefix, out);
}

static int catmemi_je_owns(const catmemi_slot *s, const void *p) {
    unsigned index;
    size_t sz = sizeof index;
    return CATMEMI_JE(mallctl)("arenas.lookup", &index, &sz, (void *)&p, sizeof p) == 0 &&
           index == s->je.index;
}

static int catmemi_je_set_decay(catmemi_slot *s, long dirty_ms, long muzzy_ms) {
    ssize_t d = (ssize_t)dirty_ms, m = (ssize_t)muzzy_ms;
    int err = catmemi_je_ctl(s, "arena.%u.dirty_decay_ms", NULL, NULL, &d, sizeof d);
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

/* The fast path needs no published state: shutdown and release clear the thread caches. */
static void catmemi_je_publish(void) {}
static void catmemi_je_atfork_prepare(void) {}
static void catmemi_je_atfork_parent(void) {}
/* In the child only the forking thread runs: the other threads' caches can go. */
static void catmemi_je_atfork_child(void) {
    catmemi_je_thread *t = catmemi_je_threads.next, *next;
    for (; t != &catmemi_je_threads; t = next) {
        next = t->next;
        if (t != &catmemi_je_self) {
            catmemi_je_drop(t, -1);
            catmemi_je_unlink(t);
        }
    }
}
/* The table the core calls through, filled by name (C++, which compiles this file too, has no
   designated initializers before C++20). */
static catmemi_ops catmemi_je_ops;
static const catmemi_ops *catmemi_je_table(void) {
    catmemi_ops *o = &catmemi_je_ops;
    o->name = "jemalloc";
    o->once = catmemi_je_once;
    o->arena_create = catmemi_je_arena_create;
    o->arena_id = catmemi_je_arena_id;
    o->alloc_slow = catmemi_je_alloc_slow;
    o->free_slow = catmemi_je_free_slow;
    o->realloc = catmemi_je_realloc;
    o->usable_size = catmemi_je_usable_size;
    o->free_any = catmemi_je_free_any;
    o->drop_caches = catmemi_je_drop_caches;
    o->reset = catmemi_je_reset;
    o->purge = catmemi_je_purge;
    o->stats = catmemi_je_stats;
    o->total_stats = catmemi_je_total_stats;
    o->owns = catmemi_je_owns;
    o->set_decay = catmemi_je_set_decay;
    o->prof_active = catmemi_je_prof_active;
    o->prof_dump = catmemi_je_prof_dump;
    o->publish = catmemi_je_publish;
    o->atfork_prepare = catmemi_je_atfork_prepare;
    o->atfork_parent = catmemi_je_atfork_parent;
    o->atfork_child = catmemi_je_atfork_child;
    return o;
}

#  if !defined(CATMEMI_RUNTIME)
static const catmemi_ops *catmemi_select(char *info, size_t size) {
    const char *v = catmemi_je_version();
    snprintf(info, size, "jemalloc %s (linked)", v != NULL ? v : "(not answering)");
    return catmemi_je_table();
}
#  endif
#endif /* CATMEMI_PART_IMPL */
