/* catmem: THE BACKEND CONTRACT. What the core gives an engine, what an engine gives the core,
   and the locks. Part of the implementation (core/impl.h), compiled before the engines.

   An engine is a folder in backends/:
     fast.h   its data layout and inline paths, included in every file that includes catmem.h
              (by backends/inline.h, the one place that chooses the engine), and the type of its
              data in each arena slot (catmemi_<be>_slot, with CATMEMI_HAS_<BE> defined).
     *.h      its implementation, compiled once (core/impl.h lists the files in order), ending
              with the table of its operations: CATMEMI_OPS_TABLE(<be>, "display name", "what its
              total_stats covers").

   WHAT AN ENGINE GIVES THE CORE
   - Inline paths: catmemi_<be>_fast_alloc(a, size, opts), catmemi_<be>_fast_free(a, p) and
     catmemi_<be>_fast_free_sized(a, p, size), which backends/inline.h wraps as catmemi_be_alloc,
     _free and _free_sized for catmem_alloc & co. They may assume: a is not NULL (not
     necessarily live: it may be released or catmem shut down, and then they must fall back);
     1 <= size <= CATMEM_SIZE_MAX; opts = log2 of the alignment (at most 30) | CATMEMI_ZERO;
     p is not NULL. Whatever they do not serve goes to catmemi_alloc_slow / catmemi_free_slow
     (core/alloc.h), which check the arguments and report errors. Data they read is declared
     extern (never CATMEM_API, which may be static). No locks.
   - The operations of catmemi_ops below, each called only after the core has checked the
     handle (a live slot, catmem up) and the arguments, with size 0 already 1.
   - For small arenas, a catmemi_sm_engine (below): the memory they share, and its front caches.

   WHAT THE CORE GIVES AN ENGINE (declared below, defined in core/registry.h, core/accounting.h
   and core/small.h; an engine uses nothing else of the core)
   - catmemi_slot_at(id), the registry's record of slot id: its handle (catmemi_key), state,
     name, limit, and the engine's own data (catmemi_slot.je, .sys); catmemi_nslots, the
     number of slots. An inline path never reads a record: it knows arenas by their handles.
   - catmemi_lock/_unlock: the registry lock, catmemi_mu.
   - catmemi_is_up, catmemi_slot_live, catmemi_created: the state checks; catmemi_slot_of:
     the record of a handle (NULL for anything but a live arena's current handle).
   - catmemi_counted, catmemi_charge, _uncharge, _peak, _recharge: the byte accounting of
     arenas with a limit (core/accounting.h).
   - catmemi_say: adds a note to catmem_backend_info's text, from any thread.
   - catmemi_random_word: a random word (never 0), for an engine's keys; catmemi_rand: random
     picks (reuse after a reset), from a state of the caller's or the calling thread's
     (catmemi_rng).
   - catmemi_alloc_slow, catmemi_free_slow: the core's slow paths (for the inline paths).
   - Small arenas (core/small.h): catmemi_sm_alloc, _free, _realloc, _usable, _owner, _reset,
     _stats, _fork, _init for a small slot's operations, and its lock, lists and headers for an
     engine's front caches (catmemi_sm_lock, _get, _put, _mix).

   LOCKS, in the order they are taken (nothing that holds a later lock takes an earlier one):
     1. catmemi_mu           the registry: init, shutdown, create, release, reset, set_limit,
                             every operation marked "mu" below, and every engine operation on
                             other threads' caches or heaps.
     2. catmemi_sys_slot.mu  system engine: an arena's heaps, orphans, segments moving between
                             heaps.
     3. catmemi_sys_heap.mu  system engine: a heap's slow path and other threads' visits. The
                             owner takes it only on its slow path and never holds it while
                             taking an arena's mutex.
     4. catmemi_sys_heap.lmu system engine: a heap's large blocks (backends/system/large.h).
     5. a stripe's mutex     system engine: a 64th of the large-block table.
     6. catmemi_sys_rec_mu   system engine: new slabs of large-block records.
   Leaves, held around nothing else: catmemi_oom_mu (the out-of-memory handler and its
   argument), catmemi_info_mu (writers of catmem_backend_info's text); a small arena's spin
   lock (catmemi_small.mu) and catmemi_sm_big_mu, taken with or without catmemi_mu, and around
   nothing of catmem's but the engine's calls for memory (jemalloc's locks, and malloc's, are
   below all of these); catmemi_prof_mu (heap profiles' samples, core/profile.h), taken with or
   without catmemi_mu, around nothing but the system malloc, and last of all at fork(). The
   jemalloc engine's extent hooks (backends/jemalloc/owners.h) run inside jemalloc, under its
   locks, and take none (an mmap at most). "mu" below: called with catmemi_mu held. Every other
   operation may run on any thread at any time, concurrently with allocation
   and free in the same arena, except where THREADS in the manual says otherwise (reset and
   release: nobody else uses that arena). Under CATMEM_DEBUG, CATMEMI_ASSERT_LOCKED checks
   catmemi_mu where a function relies on it. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* catmemi_state. NEVER until the first init: a call then initialises catmem implicitly. DOWN
   after catmem_shutdown: calls fail with ESHUTDOWN until the next catmem_init. */
enum { CATMEMI_NEVER = 0, CATMEMI_UP = 1, CATMEMI_DOWN = 2 };
/* catmemi_slot.state. CLEANING: its cleanups (or its children's) are running, outside
   catmemi_mu; every call on it but free fails with EBUSY meanwhile. */
enum { CATMEMI_FREE = 0, CATMEMI_LIVE = 1, CATMEMI_CLEANING = 2 };

/* A SMALL ARENA (core/small.h): no backend arena of its own; its blocks are carved from chunks
   of memory the engine shares among all small arenas, each with an 8-byte header naming its
   arena and class. Blocks up to CATMEMI_SM_MAX bytes come from the chunks; larger or more
   aligned ones are SOLO blocks, an allocation each. Free blocks wait on shared lists per class
   or, on jemalloc once the arena is busy, in its threads' front caches. All under mu, a spin
   lock. */
#include "classes.h" /* CATMEMI_SM_TOP */
typedef struct catmemi_small {
    int mu;                             /* spin lock, held around short updates only */
    int busy;                           /* its threads get front caches; atomic */
    unsigned ops;                       /* calls on the shared lists, until busy */
    char *cur, *end;                    /* the newest chunk's uncarved bytes */
    uintptr_t lo, hi;                   /* every chunk lies in [lo, hi) */
    uintptr_t chunks;                   /* newest first; links encoded */
    void *solos;                        /* solo blocks, linked through their records */
    void *shared[CATMEMI_SM_TOP + 1];   /* free blocks per class that no cache holds */
    size_t next_chunk;                  /* the size of the next chunk */
    size_t carved, shared_bytes;        /* class bytes carved, and on the shared lists */
    size_t chunk_bytes, solo_bytes, solo_mapped;
    uint64_t nmalloc, ndalloc;          /* calls served outside front caches: under mu, read
                                           without it (atomic loads and stores) */
} catmemi_small;

/* One arena slot: its record in the registry. Slots 0..CATMEM_KIND_COUNT-1 are the built-in
   arenas. Records are never freed (catmemi_slot_at), so a stale handle always reads one. A
   slot's backend arena is made once (created != 0) and kept for the process. */
typedef struct catmemi_slot {
    unsigned id;  /* the slot's number: catmemi_slot_at(id) is this record */
    unsigned gen; /* the live arena's generation (never 0), changed at release; atomic */
    int state;    /* CATMEMI_FREE, _LIVE or _CLEANING; atomic */
    int created;  /* the backend arena exists; atomic (catmemi_created) */
    /* Slot id + 1 of the parent, the first child and the next and previous sibling; 0: none.
       The arena tree, so that a reset or release visits a subtree without a scan. Under mu */
    unsigned parent, first_child, next_sibling, prev_sibling;
    unsigned hnext;     /* slot id + 1 of the next arena in its name's hash chain; under mu */
    unsigned next_free; /* slot id + 1 of the next released slot; under mu */
    struct catmemi_slot *order; /* the next arena of the reset or release under way; under mu */
    catmemi_cleanup *cleanups;  /* newest first; under catmemi_mu */
    unsigned ncleanups;
    /* LIMITS: bytes of the arena's blocks out of its backend arena, counted by the backend when
       counted is set (catmemi_charge); their high-water; the limit (0: none). Atomic. */
    size_t charged, peak, limit;
    int counted; /* set by the backend's set_limit at the first limit, cleared at release */
    /* SMALL: arena_create gave the slot no backend arena of its own; its arenas share memory
       with other small slots' (core/small.h). Set once. */
    int small;
    catmemi_small sm; /* a small slot's blocks (core/small.h) */
    void *prof; /* its heap profile's sites (core/profile.h); catmemi_prof_mu, read atomic */
    char name[CATMEM_NAME_MAX + 1]; /* "": anonymous */
#if defined(CATMEMI_HAS_JE)
    catmemi_je_slot je;
#endif
#if defined(CATMEMI_HAS_SYS)
    catmemi_sys_slot sys;
#endif
#if CATMEMI_TRACKING
    catmemi_region_block *chunks; /* region chunks drawn from this arena; under catmemi_mu */
#endif
} catmemi_slot;

/* What an engine gives small arenas (core/small.h): memory it shares among them all, and on
   jemalloc its front caches. Its once() points catmemi_sm_eng at its table; read without a lock
   afterwards. In return, a block the core hands out of a small arena's chunks or lists has its
   first word cleared (no link) and, above the 8-byte class, its second (no free mark of the
   jemalloc engine's: FREE MARKS in backends/jemalloc/fast.h). */
typedef struct catmemi_sm_engine {
    /* size bytes aligned to 1 << lg (at least 16), zeroed when zero; NULL: out of memory */
    void *(*get)(size_t size, unsigned lg, int zero);
    void (*put)(void *p);            /* p from get */
    size_t (*mapped)(const void *p); /* the bytes get gave for p */
    /* p may be a small arena's block (its header may be read): a pointer into the shared
       memory, or one whose word before it is mapped and can only be a header by a chance of
       2^-40 (catmemi_sm_try decides). */
    int (*holds)(const void *p);
    /* The calling thread's front cache for s (busy, no limit), or NULL for none: a block of
       class k from it; p of class k into it (1), or not (0). */
    void *(*pop)(catmemi_slot *s, unsigned k);
    int (*push)(catmemi_slot *s, unsigned k, void *p);
    void (*forget)(catmemi_slot *s); /* every cache of s forgets its blocks; mu */
    /* The calling thread's first use of a small arena's short way (catmemi_sm_quick_alloc):
       what it does next may make the engine's per-thread state, as late as its exit's last
       destructor round, where no destructor registered then runs; the engine registers the
       thread's exit now (NULL: nothing to do). */
    void (*seen)(void);
} catmemi_sm_engine;

/* The operations an engine gives the core (WHAT AN ENGINE GIVES THE CORE, above). */
typedef struct catmemi_ops {
    const char *name;                     /* catmem_backend_name() */
    int (*once)(void);                    /* at the first init: keys, tables; mu */
    int (*arena_create)(catmemi_slot *s); /* once per slot, kept for the process; mu */
    int (*next_small)(void); /* 1: arena_create would now make a small slot; mu */
    /* A block of size bytes for the calling thread in s (opts as above); NULL: out of memory
       (the core sets errno). Makes the thread's per-arena state when it has none. */
    void *(*alloc_slow)(catmemi_slot *s, size_t size, int opts);
    /* Frees p; size 0 or what was asked. s NULL: no usable arena (NULL handle, shutdown,
       released): free without touching any cache. */
    void (*free_slow)(catmemi_slot *s, void *p, size_t size);
    /* p moved or resized into s; NULL: failed, p untouched and still valid. */
    void *(*realloc)(catmemi_slot *s, void *p, size_t size);
    size_t (*usable_size)(const void *p); /* p != NULL, a live block; 0 if not catmem's */
    void (*free_any)(void *p); /* p != NULL; the owner comes from p (where catmemi_be_free_any,
                                  backends/inline.h, does not take p inline) */
    /* p != NULL, a live block: the slot whose arena holds it (live or not), NULL when no
       catmem arena does. Without catmemi_mu (it may take the engine's own later locks). */
    catmemi_slot *(*owner_of)(const void *p);
    /* Every thread's cache for s (all slots when NULL) is dropped: after shutdown and before
       release no thread may serve from one. For s, a reset of s always follows, which frees
       what the caches held (should it fail, the next reset does). mu */
    void (*drop_caches)(catmemi_slot *s);
    /* Every block of s freed at once; release: s goes to a new arena next, so its counters
       (nmalloc, ndalloc) start again from zero. mu */
    int (*reset)(catmemi_slot *s, int release);
    /* s's limit became bytes (in s->limit; the core restores the old one on an error): the
       backend makes it hold. An arena it does not count yet is counted from now on: every
       block of s that leaves or comes back to the backend arena is charged (catmemi_charge,
       catmemi_uncharge), starting from what s holds now, and s->counted is set. mu; when s had
       no limit, nobody else uses s (LIMITS). */
    int (*set_limit)(catmemi_slot *s, size_t bytes);
    int (*purge)(catmemi_slot *s); /* unused memory of s back to the OS */
    /* out zeroed; STATISTICS in the manual. fresh: refresh_stats has just succeeded on this
       thread (a report reading every arena), so s's figures are read as they are. */
    int (*stats)(catmemi_slot *s, catmem_stats *out, int fresh);
    /* What stats does first for one arena, done once for all of them before a report reads
       them: the calling thread's cached blocks back in their arenas, the engine's figures made
       current (jemalloc: one "epoch", whose cost grows with the number of arenas). */
    int (*refresh_stats)(void);
    int (*total_stats)(catmem_stats *out);             /* out zeroed */
    /* What total_stats covers, in words, for the report and the profile, which name each total
       for what it is (STATISTICS in the manual). */
    const char *total_is;
    int (*owns)(const catmemi_slot *s, const void *p); /* p a live block of any arena */
    int (*set_decay)(catmemi_slot *s, long dirty_ms, long muzzy_ms); /* ENOTSUP if none */
    int (*prof_active)(int on);                                     /* ENOTSUP if none */
    int (*prof_dump)(const char *path);                             /* ENOTSUP if none */
    /* After s opened or closed (created, released, its cleanups started) or, for s NULL, after
       init or shutdown (every arena): whatever the inline paths read to know which arenas they
       may serve. mu */
    void (*publish)(catmemi_slot *s);
    /* fork(): prepare takes every lock of the backend in order, parent releases them, child
       makes them new and forgets the other threads (their state becomes orphaned). mu for the
       first two; the child runs alone. */
    void (*atfork_prepare)(void);
    void (*atfork_parent)(void);
    void (*atfork_child)(void);
} catmemi_ops;

/* A backend's table, filled by name from its catmemi_<be>_<operation> functions: the one list of
   the operations besides the struct above, so a missing or misnamed function is a compile error
   (and C++, which compiles this file too, has no designated initializers before C++20). */
#define CATMEMI_OPS_TABLE(be, display_name, total_words)                                           \
  static catmemi_ops catmemi_##be##_ops;                                                           \
  static const catmemi_ops *catmemi_##be##_table(void) {                                           \
    catmemi_ops *o = &catmemi_##be##_ops;                                                          \
    o->name = display_name;                                                                        \
    o->total_is = total_words;                                                                     \
    o->once = catmemi_##be##_once;                                                                 \
    o->arena_create = catmemi_##be##_arena_create;                                                 \
    o->next_small = catmemi_##be##_next_small;                                                     \
    o->alloc_slow = catmemi_##be##_alloc_slow;                                                     \
    o->free_slow = catmemi_##be##_free_slow;                                                       \
    o->realloc = catmemi_##be##_realloc;                                                           \
    o->usable_size = catmemi_##be##_usable_size;                                                   \
    o->free_any = catmemi_##be##_free_any;                                                         \
    o->owner_of = catmemi_##be##_owner_of;                                                         \
    o->drop_caches = catmemi_##be##_drop_caches;                                                   \
    o->reset = catmemi_##be##_reset;                                                               \
    o->set_limit = catmemi_##be##_set_limit;                                                       \
    o->purge = catmemi_##be##_purge;                                                               \
    o->stats = catmemi_##be##_stats;                                                               \
    o->refresh_stats = catmemi_##be##_refresh_stats;                                               \
    o->total_stats = catmemi_##be##_total_stats;                                                   \
    o->owns = catmemi_##be##_owns;                                                                 \
    o->set_decay = catmemi_##be##_set_decay;                                                       \
    o->prof_active = catmemi_##be##_prof_active;                                                   \
    o->prof_dump = catmemi_##be##_prof_dump;                                                       \
    o->publish = catmemi_##be##_publish;                                                           \
    o->atfork_prepare = catmemi_##be##_atfork_prepare;                                             \
    o->atfork_parent = catmemi_##be##_atfork_parent;                                               \
    o->atfork_child = catmemi_##be##_atfork_child;                                                 \
    return o;                                                                                      \
  }

/* ---- the registry's records (core/registry.h) ----------------------------------------------
   Slot ids count up from 0 as arenas need them (a released slot is reused first); the records
   live in blocks of CATMEMI_BLOCK, found through a directory, and never move or go away. */
#define CATMEMI_BLOCK_SHIFT 10
#define CATMEMI_BLOCK       (1u << CATMEMI_BLOCK_SHIFT)
#define CATMEMI_DIR         65536u /* so at most 2^26 slots: far more than memory holds */
static catmemi_slot *catmemi_dir[CATMEMI_DIR];
static unsigned catmemi_nslots; /* slots made so far (ids below it exist); atomic */
/* The record of slot id, which must be below catmemi_nslots. */
static inline catmemi_slot *catmemi_slot_at(unsigned id) {
    return &__atomic_load_n(&catmemi_dir[id >> CATMEMI_BLOCK_SHIFT],
                            __ATOMIC_ACQUIRE)[id & (CATMEMI_BLOCK - 1)];
}
/* The handle of s's live arena: its key, (generation << 32) | id (backends/inline.h). */
static inline uintptr_t catmemi_key(const catmemi_slot *s) {
    return ((uintptr_t)__atomic_load_n(&s->gen, __ATOMIC_RELAXED) << 32) | s->id;
}
static inline catmem_arena *catmemi_handle(const catmemi_slot *s) {
    return (catmem_arena *)catmemi_key(s);
}

/* ---- what the core gives an engine (core/registry.h, core/accounting.h) ------------------- */
static void catmemi_lock(void);
static void catmemi_unlock(void);
static int catmemi_is_up(void);
static int catmemi_created(const catmemi_slot *s);
static int catmemi_slot_live(const catmemi_slot *s);
static catmemi_slot *catmemi_slot_of(const catmem_arena *a); /* a handle's record, or NULL */
static void catmemi_say(const char *note);
static uintptr_t catmemi_random_word(void); /* random (never 0), for keys; any time */
static uint64_t catmemi_rand(uint64_t *state); /* the next number of *state's sequence */
static CATMEMI_TLS uint64_t catmemi_rng; /* the calling thread's sequence, for its slow paths */
static inline int catmemi_counted(const catmemi_slot *s);
static size_t catmemi_charge(catmemi_slot *s, size_t bytes);
static void catmemi_uncharge(catmemi_slot *s, size_t bytes);
static void catmemi_peak(catmemi_slot *s, size_t total);
static void catmemi_recharge(catmemi_slot *s, size_t old, size_t now);
#if CATMEM_DEBUG
static int catmemi_locked(void); /* the caller holds catmemi_mu (CATMEMI_ASSERT_LOCKED) */
#endif
