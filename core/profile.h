/* catmem: sampled heap profiles with the arena on every sample, written as pprof's
   profile.proto (catmem_profile_write, CATMEM_PROFILE). Part of the implementation
   (core/impl.h), after the report.

   SAMPLING. catmem.h's inline allocation paths subtract each request from a per-thread byte
   countdown (catmemi_prof_left); one that goes below zero calls catmemi_prof_alloc, which
   serves the allocation as usual and, when the countdown was drawn at the current mean, keeps
   a sample and draws the next countdown from an exponential distribution of that mean. An
   allocation of s bytes is then sampled with probability 1 - exp(-s / mean), independently of
   every other, on every engine: its sample stands for 1 / that probability allocations of s
   bytes (the unbiasing jemalloc and TCMalloc use). Sampling at the engines' refills instead
   would see only the blocks that miss the front caches, a workload-dependent share: biased.
   Off, the countdown is re-armed every CATMEMI_PROF_POLL bytes, so a thread takes a new mean
   within that many bytes (at once for the thread that sets it).

   SAMPLES. A site is (arena handle, call stack) with what was sampled there since the arena's
   creation or last reset (alloc_*); its live samples hang off it, and sit in a table by address
   that the free paths check when a filter (catmemi_prof_filter, counts by a hash of the
   address) says the address may be sampled. A reset or release drops the arena's sites. All of
   it under catmemi_prof_mu, a leaf lock: nothing else is taken while it is held, and stacks are
   captured before it is taken. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

#if defined(__GLIBC__)
#  include <execinfo.h>
#endif

#define CATMEMI_PROF_DEPTH   64          /* frames kept per sample */
#define CATMEMI_PROF_POLL    (1 << 20)   /* the countdown while off */
#define CATMEMI_PROF_BUCKETS 16384u      /* address and site tables: chains of a few */

typedef struct catmemi_prof_sample catmemi_prof_sample;
typedef struct catmemi_prof_site {
    struct catmemi_prof_site *hnext; /* the site table's chain */
    struct catmemi_prof_site *snext; /* its arena's sites (catmemi_slot.prof) */
    catmemi_prof_sample *live;       /* its live samples */
    uintptr_t key;                   /* the arena's handle */
    uint64_t hash;
    double alloc_n, alloc_b; /* sampled allocations and bytes they stand for */
    unsigned nframes;
    void *frames[CATMEMI_PROF_DEPTH]; /* innermost first: return addresses */
} catmemi_prof_site;

struct catmemi_prof_sample {
    catmemi_prof_sample *hnext;        /* the address table's chain */
    catmemi_prof_sample *next, *prev;  /* its site's live samples */
    uintptr_t addr;
    size_t size;
    double count; /* the allocations it stands for */
    catmemi_prof_site *site;
};

CATMEMI_TLS intptr_t catmemi_prof_left;
uint32_t catmemi_prof_nlive;
uint16_t catmemi_prof_filter[CATMEMI_PROF_FILTER];
static size_t catmemi_prof_mean; /* atomic; 0: off */
static pthread_mutex_t catmemi_prof_mu = PTHREAD_MUTEX_INITIALIZER;
static catmemi_prof_sample *catmemi_prof_addrs[CATMEMI_PROF_BUCKETS];
static catmemi_prof_site *catmemi_prof_sites[CATMEMI_PROF_BUCKETS];
static CATMEMI_TLS size_t catmemi_prof_armed; /* the mean the countdown was drawn at; 0: none */
static CATMEMI_TLS uint64_t catmemi_prof_rng;
static uint64_t catmemi_prof_seed; /* atomic; 0 until the first mean is set */

/* ---- the draw: an exponential of the mean, without libm (a header-only library should not
   add -lm to its users' link lines) ----------------------------------------------------------- */

/* ln(u) for 0 < u <= 1: u = m * 2^e with m in [1, 2), ln(m) by the series of atanh. */
static double catmemi_prof_ln(double u) {
    uint64_t bits;
    int e;
    double m, z, z2, term, sum = 0;
    unsigned k;
    memcpy(&bits, &u, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1023 << 52);
    memcpy(&m, &bits, sizeof m);
    z = (m - 1) / (m + 1); /* at most 1/3: 20 terms leave an error below 1e-19 */
    z2 = z * z;
    term = z;
    for (k = 1; k < 40; k += 2, term *= z2) sum += term / k;
    return 2 * sum + e * 0.69314718055994530942;
}

/* 1 - exp(-x) for x >= 0: the chance that an allocation of x means is sampled. */
static double catmemi_prof_chance(double x) {
    double t = 1, sum = 0;
    unsigned k;
    if (x > 1) { /* exp(-x) = exp(-x/2^k)^(2^k), the inner one by the series below */
        double e = 1 - catmemi_prof_chance(x / 64);
        for (k = 0; k < 6; k++) e *= e;
        return 1 - e;
    }
    for (k = 1; k < 30; k++) { /* x - x^2/2 + x^3/6 - ...: exact where 1 - exp(-x) cancels */
        t *= x / k;
        sum += (k & 1) ? t : -t;
    }
    return sum;
}

static intptr_t catmemi_prof_draw(size_t mean) {
    /* the profile's own seed, set with the mean (which may come before the first init) */
    uint64_t x =
        catmemi_rand_from(&catmemi_prof_rng, __atomic_load_n(&catmemi_prof_seed, __ATOMIC_RELAXED));
    double u = ((double)(x >> 11) + 0.5) / 9007199254740992.0, d; /* (0, 1) */
    d = -catmemi_prof_ln(u) * (double)mean;
    return d >= (double)INTPTR_MAX / 2 ? INTPTR_MAX / 2 : (intptr_t)d;
}

/* ---- recording ------------------------------------------------------------------------------ */

static unsigned catmemi_prof_bucket(uintptr_t addr) {
    return (unsigned)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 40) & (CATMEMI_PROF_BUCKETS - 1);
}

/* The site of (key, stack) in s, made if new; NULL: out of memory. catmemi_prof_mu */
static catmemi_prof_site *catmemi_prof_site_of(catmemi_slot *s, uintptr_t key, void **frames,
                                               unsigned n) {
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    catmemi_prof_site *site, **head;
    unsigned i;
    for (i = 0; i < n; i++) h = (h ^ (uintptr_t)frames[i]) * 0x100000001b3ull;
    head = &catmemi_prof_sites[h & (CATMEMI_PROF_BUCKETS - 1)];
    for (site = *head; site != NULL; site = site->hnext)
        if (site->hash == h && site->key == key && site->nframes == n &&
            memcmp(site->frames, frames, n * sizeof *frames) == 0)
            return site;
    site = (catmemi_prof_site *)CATMEM_SYSTEM_CALLOC(1, sizeof *site);
    if (site == NULL) return NULL;
    site->key = key;
    site->hash = h;
    site->nframes = n;
    memcpy(site->frames, frames, n * sizeof *frames);
    site->hnext = *head;
    *head = site;
    site->snext = (catmemi_prof_site *)s->prof;
    __atomic_store_n(&s->prof, (void *)site, __ATOMIC_RELAXED);
    return site;
}

/* Unlinks x from the address table and its site. catmemi_prof_mu */
static void catmemi_prof_unlink(catmemi_prof_sample *x) {
    catmemi_prof_sample **pp = &catmemi_prof_addrs[catmemi_prof_bucket(x->addr)];
    uint16_t *f = &catmemi_prof_filter[CATMEMI_PROF_HASH(x->addr)];
    while (*pp != x) pp = &(*pp)->hnext;
    *pp = x->hnext;
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        x->site->live = x->next;
    if (x->next != NULL) x->next->prev = x->prev;
    __atomic_store_n(f, (uint16_t)(*f - 1), __ATOMIC_RELAXED);
    __atomic_store_n(&catmemi_prof_nlive, catmemi_prof_nlive - 1, __ATOMIC_RELAXED);
}

/* The live sample at addr, unlinked, or NULL. catmemi_prof_mu */
static catmemi_prof_sample *catmemi_prof_take(uintptr_t addr) {
    catmemi_prof_sample *x = catmemi_prof_addrs[catmemi_prof_bucket(addr)];
    while (x != NULL && x->addr != addr) x = x->hnext;
    if (x != NULL) catmemi_prof_unlink(x);
    return x;
}

/* Keeps a sample of p, size bytes in arena a, allocated with chance 1 - exp(-size / mean).
   caller: the return address into the caller of catmem's entry point (catmemi_prof_alloc,
   catmem_realloc), where the stack starts: found in the stack rather than counted, since
   inlining and tail calls change how many frames of catmem's own lie above it. */
static __attribute__((noinline)) void catmemi_prof_record(const catmem_arena *a, void *p,
                                                           size_t size, size_t mean,
                                                           void *caller) {
    void *frames[CATMEMI_PROF_DEPTH + 3];
    unsigned n = 0;
    double count = 1 / catmemi_prof_chance((double)size / (double)mean);
    catmemi_slot *s;
    catmemi_prof_sample *x, *old;
    catmemi_prof_site *site;
    int saved = errno; /* backtrace's first call loads libgcc_s: the caller's errno stays */
#if defined(__GLIBC__)
    int got = backtrace(frames, CATMEMI_PROF_DEPTH + 3), skip = 0;
    while (skip < got && skip < 6 && frames[skip] != caller) skip++;
    if (skip == got || frames[skip] != caller) skip = 0; /* not found: keep them all */
    n = (unsigned)(got - skip);
    if (n > CATMEMI_PROF_DEPTH) n = CATMEMI_PROF_DEPTH;
    memmove(frames, frames + skip, n * sizeof *frames);
#else
    frames[0] = caller;
    n = 1;
#endif
    x = (catmemi_prof_sample *)CATMEM_SYSTEM_CALLOC(1, sizeof *x);
    errno = saved;
    if (x == NULL) return; /* a sample lost: the profile reads low, nothing else fails */
    x->addr = (uintptr_t)p;
    x->size = size;
    x->count = count;
    pthread_mutex_lock(&catmemi_prof_mu);
    /* The arena may have gone since the block was allocated (a release by another thread is
       the caller's misuse, but no sample may outlive its arena's release): checked here. */
    s = catmemi_slot_of(a);
    site = s != NULL ? catmemi_prof_site_of(s, (uintptr_t)a, frames, n) : NULL;
    old = catmemi_prof_take(x->addr); /* freed by a path that does not look (never expected) */
    if (site != NULL) {
        uint16_t *f = &catmemi_prof_filter[CATMEMI_PROF_HASH(x->addr)];
        catmemi_prof_sample **head = &catmemi_prof_addrs[catmemi_prof_bucket(x->addr)];
        site->alloc_n += count;
        site->alloc_b += count * (double)size;
        x->site = site;
        x->next = site->live;
        if (x->next != NULL) x->next->prev = x;
        site->live = x;
        x->hnext = *head;
        *head = x;
        __atomic_store_n(f, (uint16_t)(*f + 1), __ATOMIC_RELAXED);
        __atomic_store_n(&catmemi_prof_nlive, catmemi_prof_nlive + 1, __ATOMIC_RELAXED);
        x = NULL;
    }
    pthread_mutex_unlock(&catmemi_prof_mu);
    if (old != NULL) CATMEM_SYSTEM_FREE(old);
    if (x != NULL) CATMEM_SYSTEM_FREE(x);
    errno = saved;
}

/* The thread's countdown ran out at an allocation of size bytes: the next countdown, drawn
   before the allocation is made (an out-of-memory handler may allocate meanwhile), and the mean
   at which this allocation is sampled, or 0 when it is not: it is sampled if the countdown was
   drawn at the current mean; otherwise the countdown is drawn now and this allocation counts
   as its first. */
static size_t catmemi_prof_due(size_t size) {
    size_t mean = __atomic_load_n(&catmemi_prof_mean, __ATOMIC_RELAXED);
    int hit = catmemi_prof_armed != 0 && catmemi_prof_armed == mean;
    if (mean == 0) {
        catmemi_prof_armed = 0;
        catmemi_prof_left = CATMEMI_PROF_POLL;
        return 0;
    }
    catmemi_prof_armed = mean;
    catmemi_prof_left = catmemi_prof_draw(mean);
    if (!hit) { /* a fresh countdown: this allocation is its first */
        catmemi_prof_left -= (intptr_t)size;
        hit = catmemi_prof_left < 0;
        if (hit) catmemi_prof_left = catmemi_prof_draw(mean);
    }
    return hit ? mean : 0;
}

/* catmem.h's inline paths, when the countdown runs out: the allocation as usual, then the
   sample. */
CATMEMI_API __attribute__((noinline)) void *catmemi_prof_alloc(const catmem_arena *a,
                                                               size_t size, int opts) {
    size_t mean = catmemi_prof_due(size);
    void *p = catmemi_be_alloc(a, size, opts);
    if (mean != 0 && p != NULL) catmemi_prof_record(a, p, size, mean, __builtin_return_address(0));
    return p;
}

/* catmem_realloc's new block counts as an allocation of its size (its old block's sample went
   before it moved: catmemi_prof_freeing). */
CATMEMI_INLINE void catmemi_prof_realloced(const catmem_arena *a, void *p, size_t size,
                                           void *caller) {
    size_t mean;
    if ((catmemi_prof_left -= (intptr_t)size) < 0 && (mean = catmemi_prof_due(size)) != 0)
        catmemi_prof_record(a, p, size, mean, caller);
}

/* p is being freed (or moved by realloc): its sample, if it has one, goes. noinline: inlined
   into the file that compiles the implementation (the malloc library's free), its mutex calls
   made every free save and restore registers, 10 instructions of the 27 there. */
CATMEMI_API __attribute__((noinline, cold)) void catmemi_prof_free(const void *p) {
    catmemi_prof_sample *x;
    pthread_mutex_lock(&catmemi_prof_mu);
    x = catmemi_prof_take((uintptr_t)p);
    pthread_mutex_unlock(&catmemi_prof_mu);
    if (x != NULL) CATMEM_SYSTEM_FREE(x);
}

/* 1: a release names the sampled blocks still live (CATMEM_PROFILE_LEAKS=1, or CATMEM_DEBUG). */
static int catmemi_prof_leaks = CATMEM_DEBUG;

/* Under catmemi_prof_mu: s, being released, still has sampled blocks: on stderr, how many and
   what they stand for, then each place that allocated them with its stack (glibc names the
   functions a program exports: link with -rdynamic; addresses otherwise). A debugging aid:
   writes under the locks, once per such release. */
static void catmemi_prof_name_leaks(const catmemi_slot *s) {
    const catmemi_prof_site *site;
    const catmemi_prof_sample *x;
    double bytes = 0, blocks = 0;
    size_t n = 0;
    for (site = (const catmemi_prof_site *)s->prof; site != NULL; site = site->snext)
        for (x = site->live; x != NULL; x = x->next, n++) {
            bytes += (double)x->size * x->count;
            blocks += x->count;
        }
    if (n == 0) return;
    fprintf(stderr,
            "catmem: arena '%s' (id %u) released with %zu sampled blocks still live, standing "
            "for about %.0f bytes in %.0f blocks; where they were allocated:\n",
            s->name, s->id, n, bytes, blocks);
    for (site = (const catmemi_prof_site *)s->prof; site != NULL; site = site->snext) {
        unsigned i;
        for (bytes = blocks = 0, x = site->live; x != NULL; x = x->next) {
            bytes += (double)x->size * x->count;
            blocks += x->count;
        }
        if (blocks == 0) continue;
        fprintf(stderr, "  about %.0f bytes in %.0f blocks:\n", bytes, blocks);
        fflush(stderr);
#if defined(__GLIBC__)
        backtrace_symbols_fd((void *const *)site->frames, (int)site->nframes, 2);
        (void)i;
#else
        for (i = 0; i < site->nframes; i++) fprintf(stderr, "    %p\n", site->frames[i]);
#endif
    }
}

/* s was reset or released: its sites and samples go. catmemi_mu */
static void catmemi_prof_reset(catmemi_slot *s, int release) {
    catmemi_prof_site *site, *next;
    CATMEMI_ASSERT_LOCKED();
    if (__atomic_load_n(&s->prof, __ATOMIC_RELAXED) == NULL) return;
    pthread_mutex_lock(&catmemi_prof_mu);
    if (release && catmemi_prof_leaks) catmemi_prof_name_leaks(s);
    site = (catmemi_prof_site *)s->prof;
    __atomic_store_n(&s->prof, NULL, __ATOMIC_RELAXED);
    for (; site != NULL; site = next) {
        catmemi_prof_site **pp = &catmemi_prof_sites[site->hash & (CATMEMI_PROF_BUCKETS - 1)];
        next = site->snext;
        while (site->live != NULL) {
            catmemi_prof_sample *x = site->live;
            catmemi_prof_unlink(x);
            CATMEM_SYSTEM_FREE(x);
        }
        while (*pp != site) pp = &(*pp)->hnext;
        *pp = site->hnext;
        CATMEM_SYSTEM_FREE(site);
    }
    pthread_mutex_unlock(&catmemi_prof_mu);
}

/* fork(): the child gets the lock free (prepare takes it last of all: it is a leaf). */
static void catmemi_prof_atfork(int stage) {
    if (stage == 0)
        pthread_mutex_lock(&catmemi_prof_mu);
    else if (stage == 1)
        pthread_mutex_unlock(&catmemi_prof_mu);
    else
        pthread_mutex_init(&catmemi_prof_mu, NULL);
}

CATMEMI_API int catmem_profile_interval(size_t bytes) {
    int saved = errno;
    if (bytes > CATMEM_SIZE_MAX) return EINVAL;
    if (!CATMEM_HEAP_PROFILES && bytes != 0) return ENOTSUP; /* the inline paths never count */
    if (__atomic_load_n(&catmemi_prof_seed, __ATOMIC_RELAXED) == 0)
        __atomic_store_n(&catmemi_prof_seed, (uint64_t)catmemi_random_word(), __ATOMIC_RELAXED);
    errno = saved;
    __atomic_store_n(&catmemi_prof_mean, bytes, __ATOMIC_RELAXED);
    catmemi_prof_armed = 0; /* this thread takes it at its next allocation */
    catmemi_prof_left = 0;
    return 0;
}

CATMEMI_API size_t catmem_profile_interval_get(void) {
    return __atomic_load_n(&catmemi_prof_mean, __ATOMIC_RELAXED);
}

/* ---- profile.proto (github.com/google/pprof, proto/profile.proto): the field numbers of its
   messages, encoded by hand into a buffer that is written in one piece. Uncompressed: pprof
   reads it as it reads a gzipped one, and a header-only library should not make its users
   link zlib for it (gzip the file to store it). --------------------------------------------- */

typedef struct catmemi_pb {
    unsigned char *p;
    size_t n, cap;
    int err; /* ENOMEM once anything could not be stored */
} catmemi_pb;

static void catmemi_pb_put(catmemi_pb *b, const void *data, size_t n) {
    if (b->err != 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap * 2 > b->n + n ? b->cap * 2 : b->n + n + 4096;
        unsigned char *q = (unsigned char *)CATMEM_SYSTEM_REALLOC(b->p, cap);
        if (q == NULL) {
            b->err = ENOMEM;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void catmemi_pb_varint(catmemi_pb *b, uint64_t v) {
    unsigned char buf[10];
    size_t n = 0;
    do {
        buf[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    catmemi_pb_put(b, buf, n);
}

/* A varint field (wire type 0); zero is the default and is left out. */
static void catmemi_pb_uint(catmemi_pb *b, unsigned field, uint64_t v) {
    if (v == 0) return;
    catmemi_pb_varint(b, (uint64_t)field << 3);
    catmemi_pb_varint(b, v);
}

/* A length-delimited field (wire type 2): bytes, a string, a message, packed numbers. */
static void catmemi_pb_bytes(catmemi_pb *b, unsigned field, const void *data, size_t n) {
    catmemi_pb_varint(b, (uint64_t)field << 3 | 2);
    catmemi_pb_varint(b, n);
    catmemi_pb_put(b, data, n);
}

/* The message built in sub, as field of b; sub emptied for the next one. */
static void catmemi_pb_msg(catmemi_pb *b, unsigned field, catmemi_pb *sub) {
    if (sub->err != 0) b->err = sub->err;
    catmemi_pb_bytes(b, field, sub->p, sub->n);
    sub->n = 0;
}

/* Interning: the index of a key (a string, or an address's 8 bytes) among those seen, by an
   open-addressing table over their indices. Strings go to the profile's string table, in b. */
typedef struct catmemi_pb_set {
    const void **keys;
    size_t *lens;
    uint64_t *vals;
    size_t n, cap;    /* keys stored, room in keys */
    uint32_t *slots;  /* index + 1; 0: empty */
    size_t nslots;    /* a power of two, at least twice n */
    int err;
} catmemi_pb_set;

static uint64_t catmemi_pb_hash(const void *key, size_t len) {
    const unsigned char *k = (const unsigned char *)key;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    for (i = 0; i < len; i++) h = (h ^ k[i]) * 0x100000001b3ull;
    return h;
}

static int catmemi_pb_grow(catmemi_pb_set *t) {
    size_t cap = t->cap ? t->cap * 2 : 64, ns = cap * 2, i;
    const void **keys = (const void **)CATMEM_SYSTEM_REALLOC(t->keys, cap * sizeof *keys);
    size_t *lens;
    uint64_t *vals;
    uint32_t *slots;
    if (keys != NULL) t->keys = keys;
    lens = keys ? (size_t *)CATMEM_SYSTEM_REALLOC(t->lens, cap * sizeof *lens) : NULL;
    if (lens != NULL) t->lens = lens;
    vals = lens ? (uint64_t *)CATMEM_SYSTEM_REALLOC(t->vals, cap * sizeof *vals) : NULL;
    if (vals != NULL) t->vals = vals;
    slots = vals ? (uint32_t *)CATMEM_SYSTEM_CALLOC(ns, sizeof *slots) : NULL;
    if (slots == NULL) return t->err = ENOMEM;
    CATMEM_SYSTEM_FREE(t->slots);
    t->slots = slots;
    t->nslots = ns;
    t->cap = cap;
    for (i = 0; i < t->n; i++) {
        size_t j = catmemi_pb_hash(t->keys[i], t->lens[i]) & (ns - 1);
        while (slots[j] != 0) j = (j + 1) & (ns - 1);
        slots[j] = (uint32_t)i + 1;
    }
    return 0;
}

/* The index of key (its bytes stay valid while t lives); *fresh: it is new. ~0: no memory. */
static size_t catmemi_pb_intern(catmemi_pb_set *t, const void *key, size_t len, int *fresh) {
    size_t j;
    *fresh = 0;
    if (t->n == t->cap && catmemi_pb_grow(t) != 0) return (size_t)-1;
    for (j = catmemi_pb_hash(key, len) & (t->nslots - 1); t->slots[j] != 0;
         j = (j + 1) & (t->nslots - 1)) {
        size_t i = t->slots[j] - 1;
        if (t->lens[i] == len && memcmp(t->keys[i], key, len) == 0) return i;
    }
    t->slots[j] = (uint32_t)t->n + 1;
    t->keys[t->n] = key;
    t->lens[t->n] = len;
    *fresh = 1;
    return t->n++;
}

static void catmemi_pb_set_free(catmemi_pb_set *t) {
    CATMEM_SYSTEM_FREE(t->keys);
    CATMEM_SYSTEM_FREE(t->lens);
    CATMEM_SYSTEM_FREE(t->vals);
    CATMEM_SYSTEM_FREE(t->slots);
}

/* The writer's state: the profile (out), a scratch message, its strings (their text is kept
   in the snapshot or static), its locations by address, and the process's mappings. */
typedef struct catmemi_pp_map {
    uint64_t lo, hi, off; /* where, and from where in the file */
    char path[256];
} catmemi_pp_map;

typedef struct catmemi_pp {
    catmemi_pb out, msg, sub;
    catmemi_pb_set strs, locs;
    catmemi_pp_map *maps;
    size_t nmaps;
    char totals[2][320]; /* the comments: the two totals (catmemi_pp_totals) */
} catmemi_pp;

static uint64_t catmemi_pp_str(catmemi_pp *w, const char *s) {
    int fresh;
    size_t i = catmemi_pb_intern(&w->strs, s, strlen(s), &fresh);
    if (i == (size_t)-1) {
        w->out.err = ENOMEM;
        return 0;
    }
    if (fresh) catmemi_pb_bytes(&w->out, 6, s, strlen(s)); /* string_table */
    return i;
}

/* The executable mappings with a file, from /proc/self/maps: pprof symbolizes the addresses
   from those files (catmem keeps no symbols of its own), with their DWARF (-g). */
static void catmemi_pp_maps(catmemi_pp *w) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    size_t cap = 0;
    if (f == NULL) return;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long lo, hi, off;
        char perms[8], path[256];
        path[0] = '\0';
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255s", &lo, &hi, perms, &off, path) < 4 ||
            perms[2] != 'x' || path[0] != '/')
            continue;
        if (w->nmaps == cap) {
            void *q = CATMEM_SYSTEM_REALLOC(w->maps, (cap = cap ? cap * 2 : 32) * sizeof *w->maps);
            if (q == NULL) break;
            w->maps = (catmemi_pp_map *)q;
        }
        w->maps[w->nmaps].lo = lo;
        w->maps[w->nmaps].hi = hi;
        w->maps[w->nmaps].off = off;
        memcpy(w->maps[w->nmaps].path, path, sizeof path);
        w->nmaps++;
    }
    fclose(f);
}

/* The two totals, each named for what it is as in the report's table (catmemi_total_say), as
   the profile's comments: pprof shows them above -top and with -comments, beside the sampled
   estimate, which they let a reader check. Read before the samples, outside the locks. */
static void catmemi_pp_totals(catmemi_pp *w) {
    catmemi_total_words t;
    catmem_stats st[2];
    int i;
    if (catmemi_all_arenas(&st[0]) != 0) w->out.err = ENOMEM;
    (void)catmemi_backend_total(&st[1]);
    for (i = 0; i < 2; i++) {
        catmemi_total_say(&t, i);
        snprintf(w->totals[i], sizeof w->totals[i],
                 "%s: allocated %zu, active %zu, resident %zu, mapped %zu bytes; %s", t.name,
                 st[i].allocated, st[i].active, st[i].resident, st[i].mapped, t.is);
    }
}

/* The location id of a return address: its call instruction, address - 1, which is what pprof
   symbolizes (the line of the call, not of the one after it). */
static uint64_t catmemi_pp_loc(catmemi_pp *w, void *const *frame) {
    int fresh;
    uint64_t addr = (uint64_t)(uintptr_t)*frame - 1;
    size_t i = catmemi_pb_intern(&w->locs, frame, sizeof *frame, &fresh), m;
    if (i == (size_t)-1) {
        w->out.err = ENOMEM;
        return 0;
    }
    if (!fresh) return i + 1;
    catmemi_pb_uint(&w->msg, 1, i + 1); /* Location.id */
    for (m = 0; m < w->nmaps; m++)
        if (addr >= w->maps[m].lo && addr < w->maps[m].hi)
            catmemi_pb_uint(&w->msg, 2, m + 1); /* mapping_id */
    catmemi_pb_uint(&w->msg, 3, addr);           /* address */
    catmemi_pb_msg(&w->out, 4, &w->msg);         /* Profile.location */
    return i + 1;
}

/* One site as the profile shows it, copied under the locks and written after. */
typedef struct catmemi_pp_row {
    char arena[CATMEM_NAME_MAX + 1], parent[CATMEM_NAME_MAX + 1]; /* the labels */
    double v[4]; /* alloc_objects, alloc_space, inuse_objects, inuse_space */
    unsigned nframes;
    void *frames[CATMEMI_PROF_DEPTH];
} catmemi_pp_row;

/* The labels of s, as the text report gives them: the name or #<id>, and the parent's ("-" at
   the top level). catmemi_mu */
static void catmemi_pp_labels(catmemi_pp_row *r, const catmemi_slot *s) {
    char buf[16];
    snprintf(r->arena, sizeof r->arena, "%s", catmemi_text_name(s->name, (int)s->id, buf));
    snprintf(r->parent, sizeof r->parent, "-"); /* as the table says it: pprof hides "" */
    if (s->parent != 0) {
        const catmemi_slot *p = catmemi_slot_at(s->parent - 1);
        snprintf(r->parent, sizeof r->parent, "%s", catmemi_text_name(p->name, (int)p->id, buf));
    }
}

/* Every site, copied; *n of them. NULL with *n 0: none; NULL otherwise: no memory. */
static catmemi_pp_row *catmemi_pp_snapshot(size_t *n) {
    catmemi_pp_row *rows = NULL;
    size_t count = 0, i;
    catmemi_lock();
    pthread_mutex_lock(&catmemi_prof_mu);
    for (i = 0; i < CATMEMI_PROF_BUCKETS; i++) {
        catmemi_prof_site *site;
        for (site = catmemi_prof_sites[i]; site != NULL; site = site->hnext) count++;
    }
    if (count != 0) rows = (catmemi_pp_row *)CATMEM_SYSTEM_CALLOC(count, sizeof *rows);
    *n = count;
    for (i = 0, count = 0; rows != NULL && i < CATMEMI_PROF_BUCKETS; i++) {
        catmemi_prof_site *site;
        for (site = catmemi_prof_sites[i]; site != NULL; site = site->hnext, count++) {
            catmemi_pp_row *r = &rows[count];
            catmemi_prof_sample *x;
            /* Sites go with their arena's release, under catmemi_mu: s is its live arena. */
            catmemi_pp_labels(r, catmemi_slot_at((unsigned)(site->key & 0xffffffffu)));
            r->v[0] = site->alloc_n;
            r->v[1] = site->alloc_b;
            for (x = site->live; x != NULL; x = x->next) {
                r->v[2] += x->count;
                r->v[3] += x->count * (double)x->size;
            }
            r->nframes = site->nframes;
            memcpy(r->frames, site->frames, site->nframes * sizeof *site->frames);
        }
    }
    pthread_mutex_unlock(&catmemi_prof_mu);
    catmemi_unlock();
    return rows;
}

static void catmemi_pp_sample(catmemi_pp *w, const catmemi_pp_row *r) {
    static const char *const keys[2] = {"arena", "parent"};
    const char *vals[2];
    unsigned i;
    vals[0] = r->arena;
    vals[1] = r->parent;
    for (i = 0; i < r->nframes; i++) catmemi_pb_varint(&w->sub, catmemi_pp_loc(w, &r->frames[i]));
    catmemi_pb_msg(&w->msg, 1, &w->sub); /* Sample.location_id, packed */
    for (i = 0; i < 4; i++) catmemi_pb_varint(&w->sub, (uint64_t)(int64_t)(r->v[i] + 0.5));
    catmemi_pb_msg(&w->msg, 2, &w->sub); /* Sample.value, packed */
    for (i = 0; i < 2; i++) {
        catmemi_pb sub2 = {NULL, 0, 0, 0};
        catmemi_pb_uint(&sub2, 1, catmemi_pp_str(w, keys[i])); /* Label.key */
        catmemi_pb_uint(&sub2, 2, catmemi_pp_str(w, vals[i])); /* Label.str */
        catmemi_pb_msg(&w->msg, 3, &sub2);                     /* Sample.label */
        CATMEM_SYSTEM_FREE(sub2.p);
    }
}

/* The whole profile into w->out: sample types, samples with their locations and strings, the
   mappings, the period, the totals. */
static void catmemi_pp_encode(catmemi_pp *w, const catmemi_pp_row *rows, size_t n, size_t mean) {
    static const char *const types[4][2] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                                            {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    size_t i;
    catmemi_pp_str(w, ""); /* string_table[0] must be "" */
    for (i = 0; i < 4; i++) {
        catmemi_pb_uint(&w->sub, 1, catmemi_pp_str(w, types[i][0])); /* ValueType.type */
        catmemi_pb_uint(&w->sub, 2, catmemi_pp_str(w, types[i][1])); /* ValueType.unit */
        catmemi_pb_msg(&w->out, 1, &w->sub);                         /* Profile.sample_type */
    }
    for (i = 0; i < n; i++) {
        catmemi_pp_sample(w, &rows[i]);
        catmemi_pb_msg(&w->out, 2, &w->msg); /* Profile.sample */
    }
    for (i = 0; i < w->nmaps; i++) {
        catmemi_pb_uint(&w->msg, 1, i + 1);          /* Mapping.id */
        catmemi_pb_uint(&w->msg, 2, w->maps[i].lo);  /* memory_start */
        catmemi_pb_uint(&w->msg, 3, w->maps[i].hi);  /* memory_limit */
        catmemi_pb_uint(&w->msg, 4, w->maps[i].off); /* file_offset */
        catmemi_pb_uint(&w->msg, 5, catmemi_pp_str(w, w->maps[i].path)); /* filename */
        catmemi_pb_msg(&w->out, 3, &w->msg);         /* Profile.mapping */
    }
    catmemi_pb_uint(&w->out, 9, (uint64_t)time(NULL) * 1000000000u); /* time_nanos */
    catmemi_pb_uint(&w->sub, 1, catmemi_pp_str(w, "space"));
    catmemi_pb_uint(&w->sub, 2, catmemi_pp_str(w, "bytes"));
    catmemi_pb_msg(&w->out, 11, &w->sub);                        /* period_type */
    catmemi_pb_uint(&w->out, 12, mean);                          /* period */
    catmemi_pb_uint(&w->out, 14, catmemi_pp_str(w, "inuse_space")); /* default_sample_type */
    /* Profile.comment, unpacked: pprof reads repeated numbers either way */
    for (i = 0; i < 2; i++) catmemi_pb_uint(&w->out, 13, catmemi_pp_str(w, w->totals[i]));
}

/* The profile into out, checked: 0, ENOMEM or EIO. Also after shutdown (at exit). */
static int catmemi_profile_write(FILE *out) {
    catmemi_pp w;
    catmemi_pp_row *rows;
    size_t n;
    int err, saved = errno;
    memset(&w, 0, sizeof w);
    catmemi_pp_totals(&w);
    rows = catmemi_pp_snapshot(&n);
    if (rows == NULL && n != 0) {
        errno = saved;
        return ENOMEM;
    }
    catmemi_pp_maps(&w);
    catmemi_pp_encode(&w, rows, n, __atomic_load_n(&catmemi_prof_mean, __ATOMIC_RELAXED));
    err = w.out.err != 0 ? w.out.err : w.msg.err != 0 ? w.msg.err : w.sub.err;
    if (err == 0 && (fwrite(w.out.p, 1, w.out.n, out) != w.out.n || fflush(out) != 0))
        err = EIO;
    CATMEM_SYSTEM_FREE(rows);
    CATMEM_SYSTEM_FREE(w.maps);
    CATMEM_SYSTEM_FREE(w.out.p);
    CATMEM_SYSTEM_FREE(w.msg.p);
    CATMEM_SYSTEM_FREE(w.sub.p);
    catmemi_pb_set_free(&w.strs);
    catmemi_pb_set_free(&w.locs);
    errno = saved;
    return err;
}

CATMEMI_API int catmem_profile_write(FILE *out, int flags) {
    int err;
    if (out == NULL || flags != 0) return EINVAL;
    if ((err = catmemi_up_or_init()) != 0) return err;
    return catmemi_profile_write(out);
}

/* CATMEM_PROFILE=path: the profile when the process exits. */
static void catmemi_prof_at_exit(void) {
    const char *where = getenv("CATMEM_PROFILE");
    FILE *f;
    if (where == NULL || where[0] == '\0' || catmemi_be == NULL) return;
    if ((f = catmemi_exit_fopen("CATMEM_PROFILE", where, "wb")) == NULL) return;
    /* after catmem_shutdown too, as the report at exit: the records outlive it */
    if (catmemi_profile_write(f) != 0 || fclose(f) != 0)
        fprintf(stderr, "catmem: CATMEM_PROFILE: cannot write %s\n", where);
}

/* At the first init: CATMEM_PROFILE_INTERVAL (bytes; 0: off) sets the mean; CATMEM_PROFILE
   alone turns sampling on at CATMEM_PROFILE_DEFAULT_INTERVAL and writes the profile at exit. */
static void catmemi_prof_env(void) {
    int saved = errno;
    const char *where = getenv("CATMEM_PROFILE"), *mean = getenv("CATMEM_PROFILE_INTERVAL");
    const char *leaks = getenv("CATMEM_PROFILE_LEAKS");
    int on = where != NULL && where[0] != '\0';
    if (leaks != NULL && strcmp(leaks, "1") == 0) catmemi_prof_leaks = 1;
    if (on) (void)atexit(catmemi_prof_at_exit);
    if (mean != NULL && mean[0] != '\0') {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(mean, &end, 10);
        if (errno != 0 || *end != '\0' || mean[0] < '0' || mean[0] > '9' || v > CATMEM_SIZE_MAX) {
            fprintf(stderr, "catmem: CATMEM_PROFILE_INTERVAL=%s is not a number of bytes: "
                            "heap profiling off\n", mean);
            v = 0;
        }
        (void)catmem_profile_interval((size_t)v);
    } else if (on) {
        (void)catmem_profile_interval(CATMEM_PROFILE_DEFAULT_INTERVAL);
    }
    errno = saved;
}
