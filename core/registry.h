/* catmem: the registry of arenas. Process state, init and shutdown, creating, finding and
   naming arenas, reset and release of an arena and its children, cleanups, limits, statistics,
   profiling, and the text of catmem_backend_info. Part of the implementation (core/impl.h). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* A registered cleanup, in a list newest first: an arena's (under catmemi_mu) or a region's. */
struct catmemi_cleanup {
    catmemi_cleanup *next;
    catmem_cleanup_fn fn;
    void *arg;
};

static int catmemi_state;     /* CATMEMI_NEVER, _UP or _DOWN; atomic */
static int catmemi_once_done; /* thread key and fork handlers installed; under catmemi_mu */
/* Guards the registry, init/shutdown and every backend operation on other threads' caches. */
static pthread_mutex_t catmemi_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const catmemi_kind_names[CATMEM_KIND_COUNT] = {"request", "response", "cache",
                                                                  "static", "task"};
#if CATMEM_DEBUG
/* The calling thread holds catmemi_mu (CATMEMI_ASSERT_LOCKED): a flag of each thread's own,
   so that asking never races with the holder. */
static CATMEMI_TLS int catmemi_mu_mine;
static int catmemi_locked(void) { return catmemi_mu_mine; }
static void catmemi_lock(void) {
    CATMEMI_ASSERT(!catmemi_locked()); /* not recursive: a second lock would deadlock */
    pthread_mutex_lock(&catmemi_mu);
    catmemi_mu_mine = 1;
}
static void catmemi_unlock(void) {
    CATMEMI_ASSERT_LOCKED();
    catmemi_mu_mine = 0;
    pthread_mutex_unlock(&catmemi_mu);
}
#else
static void catmemi_lock(void) { pthread_mutex_lock(&catmemi_mu); }
static void catmemi_unlock(void) { pthread_mutex_unlock(&catmemi_mu); }
#endif
static int catmemi_is_up(void) {
    return __atomic_load_n(&catmemi_state, __ATOMIC_ACQUIRE) == CATMEMI_UP;
}
/* Set once under catmemi_mu, read without it (statistics, ownership): release/acquire, so a
   reader that sees it also sees the backend arena fully made. */
static int catmemi_created(const catmemi_slot *s) {
    return __atomic_load_n(&s->created, __ATOMIC_ACQUIRE);
}
static int catmemi_slot_live(const catmemi_slot *s) {
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == CATMEMI_LIVE;
}
/* Live, or running its cleanups: it still has a name, statistics and memory. */
static int catmemi_slot_used(const catmemi_slot *s) {
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != CATMEMI_FREE;
}
/* Implicit init: the first call before any catmem_init initialises catmem; after an explicit
   catmem_shutdown nothing does but catmem_init. 0 when catmem is up; otherwise ESHUTDOWN, or
   the error of the init that failed (a later call tries again). */
static int catmemi_up_or_init(void) {
    int err;
    if (CATMEMI_LIKELY(catmemi_is_up())) return 0;
    if (__atomic_load_n(&catmemi_state, __ATOMIC_ACQUIRE) != CATMEMI_NEVER) return ESHUTDOWN;
    err = catmem_init();
    return err != 0 ? err : catmemi_is_up() ? 0 : ESHUTDOWN;
}


/* catmem_backend_info's text: set when the backend is chosen; an engine adds notes to it with
   catmemi_say. Read without a lock, at any time. */
static char catmemi_info[200];
static pthread_mutex_t catmemi_info_mu = PTHREAD_MUTEX_INITIALIZER; /* writers, one at a time */

/* Appends note to catmemi_info, from any thread. A reader holds no lock, so the note is copied
   past the terminating NUL first and that NUL is replaced by the note's first byte last (a
   release store): a reader sees the old text or the whole note, never a part. A note that does
   not fit is dropped. (Unused by the system engine, which has nothing to add.) */
__attribute__((unused)) static void catmemi_say(const char *note) {
    size_t len, n = strlen(note);
    if (n == 0) return;
    pthread_mutex_lock(&catmemi_info_mu);
    len = strlen(catmemi_info);
    if (len + n + 1 <= sizeof catmemi_info) {
        memcpy(catmemi_info + len + 1, note + 1, n);
        __atomic_store_n(&catmemi_info[len], note[0], __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&catmemi_info_mu);
}


/* A random word, never 0: /dev/urandom, or, without it, the time, the clock and where things
   were mapped. */
static uintptr_t catmemi_random_word(void) {
    uintptr_t k = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&k, sizeof k, 1, f) != 1) k = 0;
        fclose(f);
    }
    if (k == 0)
        k = ((uintptr_t)time(NULL) << 20) ^ ((uintptr_t)clock() << 40) ^ (uintptr_t)&k ^
            (uintptr_t)&catmemi_state ^ (uintptr_t)f;
    return k | 1;
}

/* The seed of every sequence of catmemi_rand: a random word of its own, drawn at the first
   init, so that an order an attacker sees tells nothing of a key. */
static uint64_t catmemi_rand_seed;

/* The next number of the sequence kept in *state (xorshift64*), seeded at its first use from
   seed and the state's own address, so that threads and heaps draw apart. */
static uint64_t catmemi_rand_from(uint64_t *state, uint64_t seed) {
    uint64_t x = *state;
    if (x == 0) x = (seed ^ (uint64_t)(uintptr_t)state * 0x9e3779b97f4a7c15ull) | 1;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}
/* The same from the process's seed: for picks and orders that must not be predictable (reuse
   after a reset, issue 20 E), not keys (numbers seen could give the state away). */
static uint64_t catmemi_rand(uint64_t *state) {
    return catmemi_rand_from(state, catmemi_rand_seed);
}

/* getrandom(2) under a name of catmem's (strict ISO C modes hide it; glibc has it since 2.25):
   no file opened and nothing allocated, so a fork child's handler may call it. */
extern long catmemi_getrandom(void *buf, size_t n, unsigned flags) __asm__("getrandom");

/* In a fork child: a new seed, and the calling thread's sequence restarted from it (the engine
   restarts its own: atfork_child), so that the child's orders of reuse are not its parent's,
   which the parent's may have shown (issue 20 E). Without getrandom: the old seed mixed with
   the child's pid and the clock. */
static void catmemi_rand_reseed(void) {
    uint64_t s = 0;
    if (catmemi_getrandom(&s, sizeof s, 0) != (long)sizeof s || s == 0)
        s = (catmemi_rand_seed ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock()) *
            0x9e3779b97f4a7c15ull;
    catmemi_rand_seed = s | 1;
    catmemi_rng = 0;
}

/* The live backend, chosen once per process before anything is allocated: memory always goes
   back to the allocator that gave it. catmemi_info says what was chosen and why. */
static const catmemi_ops *catmemi_be;
static pthread_once_t catmemi_select_once = PTHREAD_ONCE_INIT;
static void catmemi_select_now(void) {
    catmemi_be = catmemi_select(catmemi_info, sizeof catmemi_info);
}
static const catmemi_ops *catmemi_backend(void) {
    pthread_once(&catmemi_select_once, catmemi_select_now);
    return catmemi_be;
}

static void catmemi_untrack_chunks(catmemi_slot *s); /* with the regions, below */

/* Maps a handle to its slot without judging its state; NULL for anything that is not the
   handle of the slot's current arena: NULL, a value catmem never handed out, and the handle
   of a released arena (its generation is gone), even after its slot went to a new arena. The
   generation has 32 bits: a handle kept through 2^32 - 1 releases of its slot would match
   again. Under CATMEM_DEBUG a released arena's handle stops the process, naming it. */
static catmemi_slot *catmemi_slot_of(const catmem_arena *a) {
    uintptr_t key = (uintptr_t)a;
    unsigned id = (unsigned)key, gen = (unsigned)(key >> 32), now;
    catmemi_slot *s;
    if (gen == 0 || id >= __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE)) return NULL;
    s = catmemi_slot_at(id);
    now = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
    if (gen == now) return s;
#if CATMEM_DEBUG
    if (gen < now) {
        fprintf(stderr,
                "catmem: use of the handle %p of a released arena (id %u, generation %u; the "
                "slot's arena is at generation %u)\n",
                (void *)a, id, gen, now);
        abort();
    }
#endif
    return NULL;
}

/* The one argument check behind every call that takes a handle: the slot, or NULL with *err.
   Under catmemi_mu (which catmem_init takes): no implicit init here; the caller did that before
   taking the lock, with catmemi_up_or_init. */
static catmemi_slot *catmemi_check_locked(const catmem_arena *a, int *err) {
    catmemi_slot *s = catmemi_slot_of(a);
    if (s == NULL) {
        *err = EINVAL;
        return NULL;
    }
    if (!catmemi_is_up()) {
        *err = ESHUTDOWN;
        return NULL;
    }
    switch (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) {
    case CATMEMI_LIVE: return s;
    case CATMEMI_CLEANING: *err = EBUSY; return NULL;
    default: *err = EINVAL; return NULL;
    }
}

/* The same without the lock held. */
static catmemi_slot *catmemi_check(const catmem_arena *a, int *err) {
    if (catmemi_slot_of(a) != NULL && (*err = catmemi_up_or_init()) != 0) return NULL;
    return catmemi_check_locked(a, err);
}

static int catmemi_make_arena(catmemi_slot *s) {
    int err;
    CATMEMI_ASSERT_LOCKED();
    if (catmemi_created(s)) return 0;
    err = catmemi_be->arena_create(s);
    if (err == 0) __atomic_store_n(&s->created, 1, __ATOMIC_RELEASE);
    return err;
}

/* ---- the registry's indexes: names, free slots, the arena tree (all under catmemi_mu) ------ */

/* Name hash chains, by slot id + 1: a power of two of buckets, grown to keep chains short. */
static unsigned catmemi_names0[256];
static unsigned *catmemi_names = catmemi_names0;
static unsigned catmemi_nbuckets = 256, catmemi_nnamed;
/* Released slots (their backend arenas exist), newest first, by slot id + 1: [0] those with a
   backend arena of their own, [1] small ones. A create takes a released slot first (reuse keeps
   the arena count flat), one of its own while there is one: the backend makes only so many
   (catmemi_ops.next_small), and a new arena gets one whenever one is free. */
static unsigned catmemi_free_slots[2];

static uint32_t catmemi_name_hash(const char *name) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *name != '\0'; name++) h = (h ^ (unsigned char)*name) * 16777619u;
    return h;
}
static unsigned *catmemi_name_head(const char *name) {
    return &catmemi_names[catmemi_name_hash(name) & (catmemi_nbuckets - 1)];
}

static catmemi_slot *catmemi_find_locked(const char *name) {
    unsigned i;
    CATMEMI_ASSERT_LOCKED();
    for (i = *catmemi_name_head(name); i != 0; i = catmemi_slot_at(i - 1)->hnext)
        if (strcmp(catmemi_slot_at(i - 1)->name, name) == 0) return catmemi_slot_at(i - 1);
    return NULL;
}

/* Four times the buckets once there are twice as many names; when the memory cannot be had,
   longer chains. */
static void catmemi_names_grow(void) {
    unsigned n = catmemi_nbuckets * 4, i, j, *b;
    CATMEMI_ASSERT_LOCKED();
    if (catmemi_nnamed < catmemi_nbuckets * 2 || n == 0) return;
    if ((b = (unsigned *)CATMEM_SYSTEM_CALLOC(n, sizeof *b)) == NULL) return;
    for (i = 0; i < catmemi_nbuckets; i++)
        for (j = catmemi_names[i]; j != 0;) {
            catmemi_slot *s = catmemi_slot_at(j - 1);
            unsigned *head = &b[catmemi_name_hash(s->name) & (n - 1)];
            j = s->hnext;
            s->hnext = *head;
            *head = s->id + 1;
        }
    if (catmemi_names != catmemi_names0) CATMEM_SYSTEM_FREE(catmemi_names);
    catmemi_names = b;
    catmemi_nbuckets = n;
}

/* s takes name (NULL: anonymous) and, when named, its place in the index. */
static void catmemi_name_set(catmemi_slot *s, const char *name) {
    unsigned *head;
    CATMEMI_ASSERT_LOCKED();
    if (name == NULL) {
        s->name[0] = '\0';
        return;
    }
    strcpy(s->name, name);
    head = catmemi_name_head(name);
    s->hnext = *head;
    *head = s->id + 1;
    catmemi_nnamed++;
    catmemi_names_grow();
}

static void catmemi_name_drop(catmemi_slot *s) {
    unsigned *i, me = s->id + 1;
    CATMEMI_ASSERT_LOCKED();
    if (s->name[0] == '\0') return;
    for (i = catmemi_name_head(s->name); *i != 0 && *i != me;
         i = &catmemi_slot_at(*i - 1)->hnext) {}
    CATMEMI_ASSERT(*i == me); /* a named arena is in its chain */
    if (*i == me) {
        *i = s->hnext;
        catmemi_nnamed--;
    }
    s->hnext = 0;
    s->name[0] = '\0';
}

/* s (not in the tree) becomes a child of ps, or a top-level arena for ps NULL. */
static void catmemi_tree_link(catmemi_slot *s, catmemi_slot *ps) {
    CATMEMI_ASSERT_LOCKED();
    s->parent = ps != NULL ? ps->id + 1 : 0;
    s->prev_sibling = 0;
    s->next_sibling = ps != NULL ? ps->first_child : 0;
    if (s->next_sibling != 0) catmemi_slot_at(s->next_sibling - 1)->prev_sibling = s->id + 1;
    if (ps != NULL) ps->first_child = s->id + 1;
}

static void catmemi_tree_unlink(catmemi_slot *s) {
    CATMEMI_ASSERT_LOCKED();
    if (s->parent == 0) return;
    if (s->prev_sibling != 0)
        catmemi_slot_at(s->prev_sibling - 1)->next_sibling = s->next_sibling;
    else
        catmemi_slot_at(s->parent - 1)->first_child = s->next_sibling;
    if (s->next_sibling != 0) catmemi_slot_at(s->next_sibling - 1)->prev_sibling = s->prev_sibling;
    s->parent = s->next_sibling = s->prev_sibling = 0;
}

/* The record of the next slot never used, its block of records allocated if need be (zeroed:
   every field starts as "nothing"); NULL with *err (ENOMEM, or EAGAIN past 2^26 slots). */
static catmemi_slot *catmemi_slot_fresh(int *err) {
    unsigned id = catmemi_nslots, b = id >> CATMEMI_BLOCK_SHIFT, i;
    catmemi_slot *block;
    CATMEMI_ASSERT_LOCKED();
    if (b >= CATMEMI_DIR) {
        *err = EAGAIN;
        return NULL;
    }
    if ((block = catmemi_dir[b]) == NULL) {
        block = (catmemi_slot *)CATMEM_SYSTEM_CALLOC(CATMEMI_BLOCK, sizeof *block);
        if (block == NULL) {
            *err = ENOMEM;
            return NULL;
        }
        for (i = 0; i < CATMEMI_BLOCK; i++) {
            block[i].id = (b << CATMEMI_BLOCK_SHIFT) + i;
            block[i].gen = 1;
        }
        __atomic_store_n(&catmemi_dir[b], block, __ATOMIC_RELEASE);
    }
    return &block[id & (CATMEMI_BLOCK - 1)];
}

/* A free slot with its backend arena made, or NULL with *err (EAGAIN: the backend can make no
   more arenas; ENOMEM). The slot is counted in catmemi_nslots once its arena exists. */
static catmemi_slot *catmemi_slot_take(int *err) {
    catmemi_slot *s;
    int k = 0;
    CATMEMI_ASSERT_LOCKED();
    if (catmemi_free_slots[0] == 0 && catmemi_be->next_small()) k = 1;
    if (catmemi_free_slots[k] != 0) {
        s = catmemi_slot_at(catmemi_free_slots[k] - 1);
        catmemi_free_slots[k] = s->next_free;
        s->next_free = 0;
        return s;
    }
    if ((s = catmemi_slot_fresh(err)) == NULL) return NULL;
    if ((*err = catmemi_make_arena(s)) != 0) return NULL; /* the next create tries it again */
    __atomic_store_n(&catmemi_nslots, s->id + 1, __ATOMIC_RELEASE);
    return s;
}

/* s's arena is gone: its handle with it (a new generation), its slot to the next create. */
static void catmemi_slot_give_back(catmemi_slot *s) {
    unsigned gen = s->gen + 1;
    CATMEMI_ASSERT_LOCKED();
    __atomic_store_n(&s->gen, gen != 0 ? gen : 1, __ATOMIC_RELAXED);
    s->next_free = catmemi_free_slots[s->small != 0];
    catmemi_free_slots[s->small != 0] = s->id + 1;
}

static void catmemi_prof_reset(catmemi_slot *s, int release); /* heap profiles (profile.h) */
static void catmemi_prof_atfork(int stage);

static void catmemi_atfork_prepare(void) {
    catmemi_lock();
    catmemi_be->atfork_prepare();
    catmemi_prof_atfork(0);
}
static void catmemi_atfork_parent(void) {
    catmemi_prof_atfork(1);
    catmemi_be->atfork_parent();
    catmemi_unlock();
}
static void catmemi_atfork_child(void) {
    catmemi_prof_atfork(2);
    catmemi_rand_reseed();
    catmemi_be->atfork_child();
    pthread_mutex_init(&catmemi_mu, NULL); /* other threads are gone; nobody else holds it */
#if CATMEM_DEBUG
    catmemi_mu_mine = 0;
#endif
}

static void catmemi_report_at_exit_once(void); /* with the report, below */
static void catmemi_prof_env(void);

CATMEMI_API int catmem_init(void) {
    int err = 0;
    unsigned i;
    if (catmemi_is_up()) return 0;
    catmemi_backend();
    catmemi_lock();
    if (catmemi_state == CATMEMI_UP) goto out;
    if (!catmemi_once_done) {
        catmemi_rand_seed = (uint64_t)catmemi_random_word();
        err = catmemi_be->once();
        if (err == 0 && pthread_atfork(catmemi_atfork_prepare, catmemi_atfork_parent,
                                       catmemi_atfork_child) != 0)
            err = ENOMEM;
        if (err != 0) goto out;
        catmemi_report_at_exit_once();
        catmemi_prof_env();
        catmemi_once_done = 1;
    }
    for (i = 0; i < CATMEM_KIND_COUNT; i++) { /* slots 0 to 4, the first ones made */
        catmemi_slot *s = i < catmemi_nslots ? catmemi_slot_at(i) : catmemi_slot_take(&err);
        if (s == NULL || (err = catmemi_make_arena(s)) != 0) goto out;
        if (s->name[0] == '\0') catmemi_name_set(s, catmemi_kind_names[i]);
        __atomic_store_n(&s->state, CATMEMI_LIVE, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&catmemi_state, CATMEMI_UP, __ATOMIC_RELEASE);
    catmemi_be->publish(NULL);
out:
    catmemi_unlock();
    return err;
}

CATMEMI_API void catmem_shutdown(void) {
    catmemi_lock();
    if (catmemi_state == CATMEMI_NEVER) /* no implicit init after an explicit shutdown */
        __atomic_store_n(&catmemi_state, CATMEMI_DOWN, __ATOMIC_RELEASE);
    if (catmemi_state == CATMEMI_UP) {
        __atomic_store_n(&catmemi_state, CATMEMI_DOWN, __ATOMIC_RELEASE);
        catmemi_be->publish(NULL);
        catmemi_be->drop_caches(NULL);
    }
    catmemi_unlock();
}

CATMEMI_API int catmem_is_initialized(void) { return catmemi_is_up(); }

CATMEMI_API const char *catmem_backend_name(void) { return catmemi_backend()->name; }

CATMEMI_API const char *catmem_backend_info(void) {
    catmemi_backend();
    return catmemi_info;
}

CATMEMI_API catmem_arena *catmem_arena_get(catmem_kind kind) {
    int err;
    if ((unsigned)kind >= CATMEM_KIND_COUNT) {
        errno = EINVAL;
        return NULL;
    }
    if ((err = catmemi_up_or_init()) != 0) {
        errno = err;
        return NULL;
    }
    return catmemi_handle(catmemi_slot_at((unsigned)kind));
}

static int catmemi_check_name(const char *name) {
    size_t len;
    if (name == NULL || name[0] == '\0') return EINVAL;
    len = strlen(name);
    return len > CATMEM_NAME_MAX ? ENAMETOOLONG : 0;
}

/* Before a call that takes a name: the name checked, then catmem up (initialised on first
   use). 0, or the error to report. */
static int catmemi_named_call(const char *name) {
    int err = catmemi_check_name(name);
    return err != 0 ? err : catmemi_up_or_init();
}

/* catmem_arena_create and _create_child: parent NULL for a top-level arena. */
static catmem_arena *catmemi_create(const catmem_arena *parent, const char *name) {
    catmemi_slot *s = NULL, *ps = NULL;
    int err = name == NULL ? catmemi_up_or_init() : catmemi_named_call(name); /* NULL: anonymous */
    if (err != 0) {
        errno = err;
        return NULL;
    }
    catmemi_lock();
    if (parent != NULL && (ps = catmemi_check_locked(parent, &err)) == NULL) goto out;
    if (catmemi_state != CATMEMI_UP) {
        err = ESHUTDOWN;
        goto out;
    }
    if (name != NULL && catmemi_find_locked(name) != NULL) {
        err = EEXIST;
        goto out;
    }
    if ((s = catmemi_slot_take(&err)) == NULL) goto out;
    catmemi_name_set(s, name);
    catmemi_tree_link(s, ps);
    __atomic_store_n(&s->state, CATMEMI_LIVE, __ATOMIC_RELEASE);
    catmemi_be->publish(s);
out:
    catmemi_unlock();
    if (s == NULL) {
        errno = err;
        return NULL;
    }
    return catmemi_handle(s);
}

CATMEMI_API catmem_arena *catmem_arena_create(const char *name) {
    return catmemi_create(NULL, name);
}

CATMEMI_API catmem_arena *catmem_arena_create_child(catmem_arena *parent, const char *name) {
    if (parent == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return catmemi_create(parent, name);
}

CATMEMI_API catmem_arena *catmem_arena_parent(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    catmem_arena *p = NULL;
    if (s == NULL) {
        errno = EINVAL;
        return NULL;
    }
    catmemi_lock();
    if (catmemi_slot_used(s) && s->parent != 0) p = catmemi_handle(catmemi_slot_at(s->parent - 1));
    catmemi_unlock();
    return p;
}

CATMEMI_API catmem_arena *catmem_arena_find(const char *name) {
    catmemi_slot *s;
    int err = catmemi_named_call(name);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    catmemi_lock();
    if (catmemi_state != CATMEMI_UP) err = ESHUTDOWN;
    s = err ? NULL : catmemi_find_locked(name);
    catmemi_unlock();
    if (s == NULL) {
        errno = err ? err : ENOENT;
        return NULL;
    }
    return catmemi_handle(s);
}

CATMEMI_API const char *catmem_arena_name(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_slot_used(s)) ? s->name : NULL;
}

CATMEMI_API int catmem_arena_id(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_created(s)) ? (int)s->id : -1;
}

CATMEMI_API int catmem_arena_owns(const catmem_arena *a, const void *p) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_created(s) && p != NULL) ? catmemi_be->owns(s, p) : 0;
}

/* ---- reset and release of an arena and its children ----------------------------------------- */

/* Under catmemi_mu: s and every arena below it, children before their parent, chained through
   their order fields (the last one is s); returns the first. Iterative: a tree as deep as
   there are arenas costs no stack. */
static catmemi_slot *catmemi_subtree(catmemi_slot *root) {
    catmemi_slot *first = NULL, *last = NULL, *s = root;
    CATMEMI_ASSERT_LOCKED();
    for (;;) {
        while (s->first_child != 0) s = catmemi_slot_at(s->first_child - 1); /* deepest first */
        for (;;) {
            s->order = NULL;
            if (last != NULL)
                last->order = s;
            else
                first = s;
            last = s;
            if (s == root) return first;
            if (s->next_sibling != 0) break;
            s = catmemi_slot_at(s->parent - 1); /* its children are done */
        }
        s = catmemi_slot_at(s->next_sibling - 1);
    }
}

/* Runs the cleanups of each arena of the chain from first, in order, newest first; catmemi_mu
   is NOT held, so a cleanup may call catmem; its own arenas are CLEANING meanwhile and refuse
   it with EBUSY (so the chain cannot change). */
static void catmemi_run_cleanups(catmemi_slot *first) {
    catmemi_slot *s;
    CATMEMI_ASSERT(!catmemi_locked());
    for (s = first; s != NULL; s = s->order) {
        catmemi_cleanup *c;
        catmemi_lock();
        c = s->cleanups;
        s->cleanups = NULL;
        s->ncleanups = 0;
        catmemi_unlock();
        while (c != NULL) {
            catmemi_cleanup *next = c->next;
            c->fn(c->arg);
            CATMEM_SYSTEM_FREE(c);
            c = next;
        }
    }
}

/* Under catmemi_mu: frees everything the arenas of the chain from first hold and, for a
   release, gives their slots back. The first error is returned; an arena that failed stays
   live. */
static int catmemi_reset_all(catmemi_slot *first, int release) {
    catmemi_slot *s, *next;
    int result = 0;
    CATMEMI_ASSERT_LOCKED();
    for (s = first; s != NULL; s = next) {
        int err;
        next = s->order;
        if (release) catmemi_be->drop_caches(s);
        catmemi_untrack_chunks(s);
        err = catmemi_be->reset(s, release);
        if (err == 0) {
            catmemi_prof_reset(s, release); /* its samples went with its blocks */
            __atomic_store_n(&s->charged, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&s->peak, 0, __ATOMIC_RELAXED);
        }
        if (err == 0 && release) {
            __atomic_store_n(&s->limit, 0, __ATOMIC_RELAXED);
            catmemi_name_drop(s);
            catmemi_tree_unlink(s);
            /* Children whose release failed (they came first) stay, at the top level. */
            while (s->first_child != 0) catmemi_tree_unlink(catmemi_slot_at(s->first_child - 1));
            __atomic_store_n(&s->state, CATMEMI_FREE, __ATOMIC_RELEASE);
            catmemi_slot_give_back(s);
        } else {
            __atomic_store_n(&s->state, CATMEMI_LIVE, __ATOMIC_RELEASE);
        }
        catmemi_be->publish(s);
        if (result == 0) result = err;
    }
    return result;
}

/* catmem_arena_reset and _release. Children go first; cleanups run outside the registry lock
   (they may call catmem), with every arena of the subtree marked CLEANING so that nothing
   registers, allocates, resets or releases there meanwhile (EBUSY, never a deadlock). */
static int catmemi_reset_tree(catmem_arena *a, int release) {
    catmemi_slot *s, *first = NULL, *x;
    int err = 0, cleanups = 0;
    if (catmemi_slot_of(a) != NULL && (err = catmemi_up_or_init()) != 0) return err;
    catmemi_lock();
    s = catmemi_check_locked(a, &err);
    if (s != NULL && release && s->id < CATMEM_KIND_COUNT) err = EINVAL; /* built-ins */
    if (err == 0) first = catmemi_subtree(s);
    for (x = first; x != NULL && err == 0; x = x->order) {
        if (x->state != CATMEMI_LIVE) err = EBUSY; /* a child is cleaning */
        cleanups |= x->cleanups != NULL;
    }
    if (err == 0 && cleanups) {
        /* Close the fast paths too: a cleanup that allocates there gets EBUSY, not memory that
           the reset is about to free. */
        for (x = first; x != NULL; x = x->order) {
            __atomic_store_n(&x->state, CATMEMI_CLEANING, __ATOMIC_RELEASE);
            catmemi_be->drop_caches(x);
            catmemi_be->publish(x);
        }
        catmemi_unlock();
        catmemi_run_cleanups(first);
        catmemi_lock();
    }
    if (err == 0) err = catmemi_reset_all(first, release);
    catmemi_unlock();
    return err;
}

CATMEMI_API int catmem_arena_reset(catmem_arena *a) { return catmemi_reset_tree(a, 0); }

CATMEMI_API int catmem_arena_release(catmem_arena *a) { return catmemi_reset_tree(a, 1); }

CATMEMI_API int catmem_arena_on_reset(catmem_arena *a, catmem_cleanup_fn fn, void *arg) {
    catmemi_cleanup *c;
    catmemi_slot *s;
    int err = 0;
    if (catmemi_check(a, &err) == NULL) return err; /* and again under the lock */
    if (fn == NULL) return EINVAL;
    c = (catmemi_cleanup *)CATMEM_SYSTEM_MALLOC(sizeof *c);
    if (c == NULL) return ENOMEM;
    c->fn = fn;
    c->arg = arg;
    catmemi_lock();
    s = catmemi_check_locked(a, &err);
    if (s != NULL) {
        c->next = s->cleanups;
        s->cleanups = c;
        s->ncleanups++;
    }
    catmemi_unlock();
    if (s == NULL) CATMEM_SYSTEM_FREE(c);
    return err;
}

CATMEMI_API int catmem_arena_set_limit(catmem_arena *a, size_t bytes) {
    int err = 0;
    catmemi_slot *s;
    if (catmemi_slot_of(a) != NULL && (err = catmemi_up_or_init()) != 0) return err;
    catmemi_lock();
    s = catmemi_check_locked(a, &err);
    if (s != NULL) {
        size_t old = __atomic_exchange_n(&s->limit, bytes, __ATOMIC_RELAXED);
        if ((err = catmemi_be->set_limit(s, bytes)) != 0)
            __atomic_store_n(&s->limit, old, __ATOMIC_RELAXED);
    }
    catmemi_unlock();
    return err;
}

CATMEMI_API size_t catmem_arena_limit(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_slot_used(s)) ? __atomic_load_n(&s->limit, __ATOMIC_RELAXED) : 0;
}

CATMEMI_API int catmem_arena_purge(catmem_arena *a) {
    int err = 0;
    catmemi_slot *s = catmemi_check(a, &err);
    return s != NULL ? catmemi_be->purge(s) : err;
}

/* Statistics are read field by field while other threads allocate, so two fields can be a few
   operations apart. What a caller computes from them must still make sense: never more frees
   than allocations, never fewer active bytes than allocated ones. */
static int catmemi_stats_done(int err, catmem_stats *out) {
    if (out->ndalloc > out->nmalloc) out->ndalloc = out->nmalloc;
    if (out->active < out->allocated) out->active = out->allocated;
    return err;
}

/* One arena's figures with its peak and limit; fresh as for catmemi_ops.stats. An arena the
   backend does not count (system, no limit) has its peak raised to what each reading sees. */
static int catmemi_stats_of(catmemi_slot *s, catmem_stats *out, int fresh) {
    int err = catmemi_stats_done(catmemi_be->stats(s, out, fresh), out);
    size_t peak = __atomic_load_n(&s->peak, __ATOMIC_RELAXED);
    while (err == 0 && out->allocated > peak &&
           !__atomic_compare_exchange_n(&s->peak, &peak, out->allocated, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {}
    out->peak = peak > out->allocated ? peak : out->allocated;
    out->limit = __atomic_load_n(&s->limit, __ATOMIC_RELAXED);
    return err;
}

CATMEMI_API int catmem_arena_stats(catmem_arena *a, catmem_stats *out) {
    int err = 0;
    catmemi_slot *s = catmemi_check(a, &err);
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    return s != NULL ? catmemi_stats_of(s, out, 0) : err;
}

/* catmem_total_stats' figures whatever catmem's state: the report and the profile give them at
   exit too, after a shutdown. */
static int catmemi_backend_total(catmem_stats *out) {
    memset(out, 0, sizeof *out);
    return catmemi_stats_done(catmemi_be->total_stats(out), out);
}

CATMEMI_API int catmem_total_stats(catmem_stats *out) {
    int err;
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    if ((err = catmemi_up_or_init()) != 0) return err;
    return catmemi_backend_total(out);
}

CATMEMI_API int catmem_arena_set_decay(catmem_arena *a, long dirty_ms, long muzzy_ms) {
    int err = 0;
    catmemi_slot *s = catmemi_check(a, &err);
    if (s == NULL) return err;
    if (dirty_ms < -1 || muzzy_ms < -1) return EINVAL;
    return catmemi_be->set_decay(s, dirty_ms, muzzy_ms);
}

CATMEMI_API int catmem_prof_active(int on) {
    int err = catmemi_up_or_init();
    return err == 0 ? catmemi_be->prof_active(on != 0) : err;
}

CATMEMI_API int catmem_prof_dump(const char *path) {
    int err = catmemi_up_or_init();
    return err == 0 ? catmemi_be->prof_dump(path) : err;
}
