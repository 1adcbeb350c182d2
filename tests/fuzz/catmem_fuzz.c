/* catmem_fuzz.c - libFuzzer target: the input is decoded into a sequence of catmem calls, and
   every result is checked against a small model of what the manual at the top of catmem.h
   promises.

   Build (tests/fuzz/run_fuzz.sh does this for the three backends):
     clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
         -DCATMEM_BACKEND_SYSTEM tests/fuzz/catmem_fuzz.c -o fuzz_system -lpthread
     (-DCATMEM_BACKEND_JEMALLOC ... -ljemalloc, or -DCATMEM_BACKEND_RUNTIME ... -ldl)
   Run with ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 (the huge-size probes ask
   ASan's malloc for impossible sizes and expect NULL).
   Replay one input and print every call it makes:
     CATMEM_FUZZ_TRACE=1 ./fuzz_system tests/fuzz/regressions/<file>

   The input format: a sequence of operations, each an opcode byte followed by the bytes its
   arguments need (the operations, in opcode order, are tests/fuzz/ops.def; make_corpus.py
   writes inputs by name). Reading past the end yields zeros, so every byte string is a valid
   input. The opcode is the byte modulo the number of operations; new operations are appended,
   so the committed inputs (whose opcode bytes are below the old count) decode as they did,
   while random bytes may not.

   The model (bounded: MAX_BLOCKS live blocks, MAX_BYTES live bytes, sizes up to MAX_SIZE except
   the huge-size probes that must fail):
   - every live block (arena blocks, and region allocations until their region forgets them) is
     filled with a pattern derived from its id; the pattern is verified before every free and
     realloc (the kept prefix after it), after every arena reset/release (all other blocks), after
     every region restore (the blocks older than the mark) and at the end of each input;
   - live blocks never overlap; alignment of aligned_alloc and of regions is honoured;
     calloc'ed memory reads as zero;
   - invalid input gives NULL with the documented errno (allocation functions) or the documented
     error code (control functions, which must leave errno alone);
   - statistics: no field wraps; nmalloc >= ndalloc; active >= allocated; when no region holds
     chunks of the arena, allocated equals the usable sizes (catmem_usable_size, never below the
     size asked for) of the blocks the model holds there (system backend: and nmalloc - ndalloc
     equals the number of blocks; jemalloc backend: catmem_usable_size is sallocx, the size
     class, which the manual promises to a single-threaded program);
     after a reset, allocated is 0;
   - lifetimes: cleanups registered on arenas (catmem_arena_on_reset) and regions
     (catmem_region_on_reset) run exactly once, last registered first, only at a reset, release
     or (regions) restore that covers them, before the memory goes (each verifies the blocks of
     its arena or region); a reset of a parent runs every child's cleanups before any of its
     ancestors' (the partial order the manual promises, not the slot order); a cleanup calling
     back into what is being reset gets EBUSY (which calls: bits from the input), while it may
     release regions and reset other arenas, whose cleanups then nest; child arenas
     (catmem_arena_create_child, catmem_arena_parent) reset and release with their parent; the
     out-of-memory handler runs exactly once for an allocation that cannot be served, with its
     arena and size, never for a size above CATMEM_SIZE_MAX nor re-entered; catmem_report lists
     every live arena with its parent and pending cleanups;
   - limits (catmem_arena_set_limit): an allocation that must fit under its arena's limit is
     handed out, one that cannot fit is refused with ENOMEM (the out-of-memory handler asked
     once), a block handed out never takes the arena past its limit, limit_exhaust checks that
     the limit is exact; reset keeps a limit, release forgets it; statistics and the report
     carry the limit, a peak within the model's bounds, and nmalloc/ndalloc equal to the calls
     the model counted.
   What is asserted on which backend is decided at run time from catmem_backend_name(): the
   runtime backend in a plain process is the system backend and is checked as one.

   At the end of each input everything is given back: regions released, user arenas released,
   built-in arenas reset (every pending cleanup runs then), the out-of-memory handler removed,
   so nothing leaks from one input to the next. */
#define CATMEM_IMPLEMENTATION
/* On jemalloc, user arenas past the first 4 live ones are small: every run has both kinds. */
#define CATMEM_OWN_ARENAS 4
#include "catmem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(CATMEM_BACKEND_JEMALLOC)
#define FUZZ_HAVE_SALLOCX 1 /* jemalloc is linked: sallocx gives a block's size class */
#endif

#define MAX_BLOCKS 256
#define MAX_BYTES ((size_t)1 << 20)
#define MAX_SIZE ((size_t)65536)
#define N_USER 6
#define N_ARENAS (CATMEM_KIND_COUNT + N_USER)
#define N_REGIONS 3
#define N_MARKS 4
#define N_DEAD 4
#define N_RELEASED 8
#define N_MANY 40 /* arenas the exhaust operation makes at once */
#define ERRNO_SENTINEL 4242 /* errno before a control function, which must leave it alone */
#define N_CLEANUPS 24
enum { BATCH_NONE, BATCH_ARENA, BATCH_REGION };
/* A size catmem accepts (at most CATMEM_SIZE_MAX) that no allocator can serve: the allocation
   really runs out of memory, and the out-of-memory handler must be asked. */
#define UNSERVABLE (CATMEM_SIZE_MAX - 4096)
/* The same for a region: below the region's own limit (CATMEM_SIZE_MAX less the largest
   alignment and a header), so that it asks its arena for a chunk of that size. */
#define UNSERVABLE_REGION (CATMEM_SIZE_MAX - ((size_t)1 << 32))

/* The opcodes and their names, from ops.def, which make_corpus.py reads too: one list, so the
   corpus it writes cannot drift from what this target decodes. */
enum {
#define CATMEM_FUZZ_OP(id, name) OP_##id,
#include "ops.def"
#undef CATMEM_FUZZ_OP
    OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
#define CATMEM_FUZZ_OP(id, name) #name,
#include "ops.def"
#undef CATMEM_FUZZ_OP
};

/* ---- the model -------------------------------------------------------------------------------- */

/* A call that may run cleanups: a reset or release of an arena, or a reset, release or restore
   of a region. */
typedef struct {
    int kind;          /* 0: none (no cleanup may run), BATCH_ARENA or BATCH_REGION */
    int in[N_ARENAS];  /* BATCH_ARENA: the arenas reset or released with it (busy meanwhile) */
    int ran[N_ARENAS]; /* BATCH_ARENA: a cleanup of that arena has run */
    int rg;            /* BATCH_REGION: the region */
    uint32_t after;    /* BATCH_REGION: only cleanups registered after this may run */
    int any;           /* BATCH_REGION: an unknown mark: any newest-first run is right */
    int nran;
} mbatch;
#define MAX_DEPTH 4

enum { BLK_ARENA, BLK_REGION };
typedef struct {
    unsigned char *p;
    size_t size;  /* asked for; 0 is a unique 1-byte-wide pointer nothing is written to */
    uint32_t id;  /* pattern seed */
    int kind;     /* BLK_ARENA or BLK_REGION */
    int ar;       /* BLK_ARENA: model arena index */
    int rg;       /* BLK_REGION: model region index */
    uint32_t seq; /* BLK_REGION: order within its region, compared with marks */
    int aligned;  /* from catmem_aligned_alloc: catmem_free_sized must not be used */
} blk;

typedef struct {
    catmem_arena *h;
    int live;
    int parent; /* model index + 1 of its parent (catmem_arena_create_child); 0: top level */
    char name[CATMEM_NAME_MAX + 2];
    /* LIMITS and STATISTICS: the limit set (0: none); counted: catmem counts the arena's bytes
       as they move (since its first limit), so its peak is their
       high-water, not only what statistics reads saw. pk_lo: a lower bound of the peak (the
       bytes after every allocation while counted, every allocated read); hw_hi: an upper bound
       (the most the arena can have held since it was created or reset, transients included),
       valid while hw_ok (the model saw every block since then: no built-in history, no region
       chunks). nm, nd: nmalloc and ndalloc as the model counts the calls, valid while cnt_ok
       (known from a statistics read or a creation, no region drew on the arena since).
       over: on jemalloc, the bytes held when the limit was set below them (0: it was not).
       Blocks waiting in front caches were charged when they left the arena, so until frees
       bring the arena under the limit, its freed blocks may come back from the thread's cache:
       it holds no more than over, and what it asks beyond that is refused (LIMITS). */
    size_t limit, over;
    int counted;
    size_t pk_lo, hw_hi;
    int hw_ok;
    uint64_t nm, nd;
    int cnt_ok;
} marena;

typedef struct {
    catmem_region_mark m;
    uint32_t seq;
    uint32_t cl; /* M.cl_seq when it was taken: cleanups registered later are after the mark */
} mmark;

/* A registered cleanup (catmem_arena_on_reset, catmem_region_on_reset). Its address is the
   cleanup's argument, so on_cleanup knows which one catmem runs. */
enum { CL_ARENA, CL_REGION };
typedef struct {
    int used;       /* registered and not run yet */
    int kind;       /* CL_ARENA or CL_REGION */
    int owner;      /* model arena or region index */
    uint32_t order; /* registration order (M.cl_seq) */
    unsigned acts;  /* what it does when it runs: the ACT_ bits, from the input */
} mcleanup;

typedef struct {
    catmem_region r;
    catmem_arena *h;  /* the handle it was initialised with (NULL: uninitialised) */
    int may_hold;     /* may hold chunks of h's arena */
    uint32_t seq;
    mmark marks[N_MARKS]; /* live marks, oldest first */
    int nmarks;
    catmem_region_mark dead[N_DEAD]; /* marks that died, for probing */
    int ndead;
} mregion;

static struct {
    int up;
    marena ar[N_ARENAS]; /* 0..4: built-in, 5..: user */
    blk b[MAX_BLOCKS];
    int nb;
    size_t bytes;
    mregion rg[N_REGIONS];
    catmem_arena *released[N_RELEASED];
    int nreleased;
    uint32_t next_id;
    int touched[N_ARENAS]; /* allocated from: its statistics are checked at the end */
    unsigned op;
    const char *opname;
    mcleanup cl[N_CLEANUPS];
    uint32_t cl_seq;
    /* The reset, release or restore running now, which may run cleanups; the ones it runs
       inside (a cleanup that releases a region or resets another arena) stack on top. */
    mbatch batch;
    mbatch outer[MAX_DEPTH]; /* the batches running around it, innermost last */
    int depth;
    /* The out-of-memory handler: installed or not, what it does, what the call running now
       may make it see. */
    struct {
        int on;
        int retry;    /* it returns non-zero: catmem tries once more */
        int nested;   /* it allocates an unservable size itself: must fail, not re-enter */
        int inside;   /* it is running its nested allocation */
        int allowed;  /* calls the current catmem call may make (0: any call is wrong) */
        int maybe;    /* fewer than allowed is fine too (the manual leaves it open) */
        int calls;
        catmem_arena *h; /* the arena it must be told */
        size_t size;     /* the size it must be told (at least, when !exact) */
        int exact;
    } oom;
} M;

static catmem_arena *builtin[CATMEM_KIND_COUNT];
static int builtin_id[CATMEM_KIND_COUNT];
static const char *const kind_names[CATMEM_KIND_COUNT] = {"request", "response", "cache",
                                                          "static", "task"};
static int trace;
/* CATMEM_FUZZ_AVOID_KNOWN=1: do not make the calls of known, reported, unfixed bugs (listed in
   regressions/README.md), so that a long run can look for others. Off by default in the target;
   run_fuzz.sh turns it on unless told 0. Each open bug gets a check of avoid_known where its
   calls are made: region_on_reset_errno and report_eio_errno are open now. */
static int avoid_known;
static int exact_sys; /* the live backend is the system backend */
static int exact_je;  /* the live backend is jemalloc and sallocx is at hand */
/* The live backend is jemalloc, or the runtime backend bound to it: user arenas past the first
   CATMEM_OWN_ARENAS live ones are small there (backends/jemalloc/small.h). */
static int je_backend;

/* ---- input ------------------------------------------------------------------------------------ */

static const uint8_t *in_p;
static size_t in_n;
static unsigned u8(void) {
    if (in_n == 0) return 0;
    in_n--;
    return *in_p++;
}

/* ---- reporting -------------------------------------------------------------------------------- */

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ESHUTDOWN: return "ESHUTDOWN";
    case EEXIST: return "EEXIST";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EAGAIN: return "EAGAIN";
    case ENOTSUP: return "ENOTSUP";
    case ENOENT: return "ENOENT";
    case EBUSY: return "EBUSY";
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case ERRNO_SENTINEL: return "(unchanged)";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno %d", e);
        return buf;
    }
    }
}

static void fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\ncatmem_fuzz [%s backend]: MODEL VIOLATION in op #%u (%s): ",
            catmem_backend_name(), M.op, M.opname ? M.opname : "cleanup");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(replay with CATMEM_FUZZ_TRACE=1 to see every call)\n");
    abort();
}
#define CHECK(cond, ...) \
    do {                 \
        if (!(cond)) fail(__VA_ARGS__); \
    } while (0)
#define T(...) \
    do {       \
        if (trace) fprintf(stderr, __VA_ARGS__); \
    } while (0)

/* A control function: returns an error code and must leave errno alone. */
#define CTL(rc, call)                                                                      \
    do {                                                                                   \
        errno = ERRNO_SENTINEL;                                                            \
        (rc) = (call);                                                                     \
        CHECK(errno == ERRNO_SENTINEL, "%s returned %s and changed errno to %s", #call,     \
              ename(rc), ename(errno));                                                    \
    } while (0)

/* When two documented causes apply at once (a size no one can serve, after shutdown), the manual
   does not say which one is reported: either is right. want2 0: there is one cause. */
static void expect_fail2(const void *p, int err, int want, int want2, const char *what) {
    CHECK(p == NULL, "%s returned %p, expected NULL with %s", what, p, ename(want));
    CHECK(err == want || (want2 != 0 && err == want2),
          "%s returned NULL with errno %s, expected %s%s%s", what, ename(err), ename(want),
          want2 ? " or " : "", want2 ? ename(want2) : "");
}
static void expect_fail(const void *p, int err, int want, const char *what) {
    expect_fail2(p, err, want, 0, what);
}

/* calloc, aligned_alloc, strdup and realloc(NULL) on h all fail with want; why names the case. */
static void expect_allocs_fail(catmem_arena *h, int want, const char *why) {
    char what[128];
    void *p;
    int err;
    errno = 0;
    p = catmem_calloc(h, 2, 8);
    err = errno;
    snprintf(what, sizeof what, "catmem_calloc %s", why);
    expect_fail(p, err, want, what);
    errno = 0;
    p = catmem_aligned_alloc(h, 64, 8);
    err = errno;
    snprintf(what, sizeof what, "catmem_aligned_alloc %s", why);
    expect_fail(p, err, want, what);
    errno = 0;
    p = catmem_strdup(h, "x");
    err = errno;
    snprintf(what, sizeof what, "catmem_strdup %s", why);
    expect_fail(p, err, want, what);
    errno = 0;
    p = catmem_realloc(h, NULL, 8);
    err = errno;
    snprintf(what, sizeof what, "catmem_realloc(NULL) %s", why);
    expect_fail(p, err, want, what);
}

/* ---- arenas ----------------------------------------------------------------------------------- */

/* h is a small arena: the model reads which kind of slot the arena got from the slot itself. */
static int small_arena(const catmem_arena *h) {
    catmemi_slot *s;
    return je_backend && (s = catmemi_slot_of(h)) != NULL && s->small;
}

static int arena_of(const catmem_arena *h) {
    int i;
    if (h == NULL) return -1;
    for (i = 0; i < N_ARENAS; i++)
        if (M.ar[i].live && M.ar[i].h == h) return i;
    return -1;
}

/* The arena is being reset or released by a call running now (its cleanups, or those of an
   arena reset with it, are running): every call on it but free says EBUSY. */
static int arena_busy(int ar) {
    int d;
    if (M.batch.kind == BATCH_ARENA && M.batch.in[ar]) return 1;
    for (d = 0; d < M.depth; d++)
        if (M.outer[d].kind == BATCH_ARENA && M.outer[d].in[ar]) return 1;
    return 0;
}

/* What catmem must say about a call on handle h before looking at anything else. */
static int handle_err(const catmem_arena *h) {
    int ar;
    ar = arena_of(h);
    if (ar < 0) return EINVAL; /* NULL or released: not a handle, whatever catmem's state */
    if (!M.up) return ESHUTDOWN;
    return arena_busy(ar) ? EBUSY : 0;
}

static const char *hdesc(const catmem_arena *h) {
    static char buf[4][48];
    static int k;
    int i = arena_of(h);
    k = (k + 1) & 3;
    if (h == NULL) return "NULL";
    if (i >= 0) snprintf(buf[k], sizeof buf[k], "%s", M.ar[i].name);
    else snprintf(buf[k], sizeof buf[k], "released@%p", (const void *)h);
    return buf[k];
}

static catmem_arena *released_handle(void) {
    int i, n = 0;
    catmem_arena *c[N_RELEASED];
    for (i = 0; i < M.nreleased; i++)
        if (arena_of(M.released[i]) < 0) c[n++] = M.released[i];
    return n ? c[u8() % n] : NULL;
}

static void note_released(catmem_arena *h) {
    int i;
    for (i = 0; i < M.nreleased; i++)
        if (M.released[i] == h) return;
    if (M.nreleased < N_RELEASED) M.released[M.nreleased++] = h;
}

/* A handle to call with: mostly live arenas, sometimes NULL or a released one. */
static catmem_arena *pick_arena(void) {
    unsigned s = u8() % 16;
    int i;
    if (s < 5) return M.ar[s].h;
    if (s < 11) {
        i = CATMEM_KIND_COUNT + (int)(s - 5);
        if (M.ar[i].live) return M.ar[i].h;
        return M.ar[s % 5].h;
    }
    if (s < 14) { /* any live user arena */
        for (i = 0; i < N_USER; i++) {
            int k = CATMEM_KIND_COUNT + (int)((s + (unsigned)i) % N_USER);
            if (M.ar[k].live) return M.ar[k].h;
        }
        return M.ar[s % 5].h;
    }
    if (s == 14) return NULL;
    return released_handle();
}

/* ---- blocks ----------------------------------------------------------------------------------- */

/* Block id's pattern is the pattern table from an offset that depends on the id: fills and
   checks are one memcpy and one memcmp. */
#define PAT_SPAN ((size_t)65536)
static unsigned char pat_table[PAT_SPAN + MAX_SIZE];
static const unsigned char zeros[MAX_SIZE];

static void pat_init(void) {
    size_t i;
    for (i = 0; i < sizeof pat_table; i++) {
        uint32_t x = (uint32_t)i * 2654435761u + (uint32_t)(i >> 8) * 40503u;
        pat_table[i] = (unsigned char)(x ^ (x >> 11) ^ (x >> 23));
    }
}
static const unsigned char *pat_of(uint32_t id) {
    return pat_table + ((id * 40503u + (id >> 16)) % PAT_SPAN);
}

static void fill(unsigned char *p, uint32_t id, size_t from, size_t to) {
    if (to > from) memcpy(p + from, pat_of(id) + from, to - from);
}

static const char *bdesc(const blk *b) {
    static char buf[96];
    if (b->kind == BLK_ARENA)
        snprintf(buf, sizeof buf, "block #%u (%zu bytes at %p, arena %s)", (unsigned)b->id,
                 b->size, (void *)b->p, M.ar[b->ar].name);
    else
        snprintf(buf, sizeof buf, "region block #%u (%zu bytes at %p, region %d, seq %u)",
                 (unsigned)b->id, b->size, (void *)b->p, b->rg, (unsigned)b->seq);
    return buf;
}

static void verify(const blk *b, size_t upto, const char *when) {
    const unsigned char *want = pat_of(b->id);
    size_t i;
    if (upto > b->size) upto = b->size;
    if (upto == 0 || memcmp(b->p, want, upto) == 0) return;
    for (i = 0; i < upto && b->p[i] == want[i]; i++) {}
    fail("%s: %s: byte %zu is 0x%02x, expected 0x%02x (contents not preserved)", when, bdesc(b),
         i, b->p[i], want[i]);
}

/* p[0..size) must read as zero. */
static void check_zero(const unsigned char *p, size_t size, const char *what) {
    size_t i;
    if (size == 0 || memcmp(p, zeros, size) == 0) return;
    for (i = 0; i < size && p[i] == 0; i++) {}
    fail("%s = %p (%zu bytes): byte %zu is 0x%02x, not zero", what, (const void *)p, size, i, p[i]);
}

static void verify_all(const char *when) {
    int i;
    for (i = 0; i < M.nb; i++) verify(&M.b[i], M.b[i].size, when);
}

/* [p, p + max(size, 1)) must not overlap any live block but skip. */
static void check_overlap(const unsigned char *p, size_t size, int skip, const char *what) {
    uintptr_t a = (uintptr_t)p, n = size ? size : 1;
    int i;
    CHECK(a + n > a, "%s: %p + %zu wraps around", what, (const void *)p, size);
    for (i = 0; i < M.nb; i++) {
        uintptr_t q = (uintptr_t)M.b[i].p, m = M.b[i].size ? M.b[i].size : 1;
        if (i == skip) continue;
        if (a < q + m && q < a + n)
            fail("%s returned %p (%zu bytes), which overlaps live %s", what, (const void *)p,
                 size, bdesc(&M.b[i]));
    }
}

static int room_for(size_t size) { return M.nb < MAX_BLOCKS && M.bytes + size <= MAX_BYTES; }

static int add_block(unsigned char *p, size_t size, int kind, int ar, int rg, uint32_t seq,
                     int aligned) {
    blk *b;
    if (!room_for(size)) return -1;
    b = &M.b[M.nb];
    b->p = p;
    b->size = size;
    b->id = ++M.next_id;
    b->kind = kind;
    b->ar = ar;
    b->rg = rg;
    b->seq = seq;
    b->aligned = aligned;
    fill(p, b->id, 0, size);
    M.bytes += size;
    if (kind == BLK_ARENA) M.touched[ar] = 1;
    else if (arena_of(M.rg[rg].h) >= 0) M.touched[arena_of(M.rg[rg].h)] = 1;
    return M.nb++;
}

static void remove_block(int i) {
    M.bytes -= M.b[i].size;
    M.b[i] = M.b[--M.nb];
}

static void forget_arena(int ar) {
    int i;
    for (i = M.nb - 1; i >= 0; i--)
        if (M.b[i].kind == BLK_ARENA && M.b[i].ar == ar) remove_block(i);
}

static void forget_region(int rg, uint32_t from_seq) {
    int i;
    for (i = M.nb - 1; i >= 0; i--)
        if (M.b[i].kind == BLK_REGION && M.b[i].rg == rg && M.b[i].seq >= from_seq)
            remove_block(i);
}

/* An arena block, or -1 when there is none. */
static int pick_block(void) {
    int i, start, n = M.nb;
    if (n == 0) return -1;
    start = (int)(u8() % (unsigned)n);
    for (i = 0; i < n; i++) {
        int k = (start + i) % n;
        if (M.b[k].kind == BLK_ARENA) return k;
    }
    return -1;
}

static size_t charged_of(int ar);
static int limit_known(int ar);
static void note_alloc(int ar, size_t lo, size_t hi);


static size_t lim_cap(int ar); /* with lim_verdict, below */
/* A new arena block from h (model arena ar): checked, then kept or given back at once. It must
   fit under the arena's limit (LIMITS: never past it), and is counted as one allocation. */
static void new_block(catmem_arena *h, int ar, unsigned char *p, size_t size, size_t align,
                      int zeroed, int aligned, const char *what) {
    size_t c, u;
    CHECK(p != NULL, "%s(%s, %zu) failed with errno %s", what, hdesc(h), size, ename(errno));
    CHECK(((uintptr_t)p & (align - 1)) == 0, "%s(%s, %zu) returned %p, not %zu-aligned", what,
          hdesc(h), size, (void *)p, align);
    check_overlap(p, size, -1, what);
    if (zeroed) check_zero(p, size, what);
    c = charged_of(ar);
    u = catmem_usable_size(p);
    CHECK(u >= (size ? size : 1), "catmem_usable_size(%p) = %zu < %zu asked for", (void *)p, u,
          size ? size : 1);
    if (M.ar[ar].limit != 0 && limit_known(ar))
        CHECK(c <= lim_cap(ar) && u <= lim_cap(ar) - c,
              "%s(%s, %zu): a block of %zu bytes with %zu held is past the limit %zu", what,
              hdesc(h), size, u, c, lim_cap(ar));
    note_alloc(ar, c + u, c + u);
    M.ar[ar].nm++;
    if (add_block(p, size, BLK_ARENA, ar, 0, 0, aligned) < 0) {
        fill(p, 7, 0, size); /* usable for all of size */
        catmem_free(h, p);
        M.ar[ar].nd++;
        T("  (model full: freed at once)\n");
    }
}

/* ---- sizes ------------------------------------------------------------------------------------ */

static const size_t special_sizes[] = {
    0,     1,     7,     8,     15,    16,    17,    31,    32,    33,    48,    63,
    64,    65,    127,   128,   129,   255,   256,   257,   511,   512,   1023,  1024,
    2000,  2032,  2047,  2048,  3583,  3584,  4064,  4080,  4095,  4096,  4097,  8191,
    8192,  8193,  14336, 16384, 16385, 28672, 32768, 32769, 57344, 65535, 65536};
#define N_SPECIAL (sizeof special_sizes / sizeof special_sizes[0])

/* 0..MAX_SIZE, mostly small. */
static size_t pick_size(void) {
    unsigned m = u8(), v = m >> 2;
    switch (m & 3) {
    case 0: return v;
    case 1: return (size_t)v * 64 + u8() % 64;
    case 2: return ((size_t)v << 10) | ((size_t)u8() << 2) | (u8() & 3);
    default: return special_sizes[v % N_SPECIAL];
    }
}

/* Sizes that no allocator can serve: all must fail with ENOMEM. */
static const size_t huge_sizes[] = {
    SIZE_MAX,
    SIZE_MAX - 1,
    SIZE_MAX - 4096,
    (size_t)PTRDIFF_MAX + 1,
    (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX - 1,
    (size_t)PTRDIFF_MAX - 64,
    (size_t)PTRDIFF_MAX - ((size_t)1 << 30) - 16, /* just past the region's own limit */
    (size_t)PTRDIFF_MAX - ((size_t)1 << 30) - 4096,
    (size_t)1 << 62,
    (size_t)1 << 56,
    (size_t)1 << 48, /* more than the 47-bit user address space */
};
#define N_HUGE (sizeof huge_sizes / sizeof huge_sizes[0])
static size_t pick_huge(void) { return huge_sizes[u8() % N_HUGE]; }

/* ---- statistics ------------------------------------------------------------------------------- */

static int region_holds(const catmem_arena *h) {
    int i;
    for (i = 0; i < N_REGIONS; i++)
        if (M.rg[i].may_hold && M.rg[i].h == h) return 1;
    return 0;
}

static void check_sane(const catmem_stats *st, const char *what) {
    CHECK(st->allocated < ((size_t)1 << 40) && st->active < ((size_t)1 << 40) &&
              st->resident < ((size_t)1 << 46) && st->mapped < ((size_t)1 << 46) &&
              st->nmalloc < ((uint64_t)1 << 50) && st->ndalloc < ((uint64_t)1 << 50) &&
              st->peak < ((size_t)1 << 40),
          "%s: a figure wrapped: allocated %zu active %zu resident %zu mapped %zu nmalloc %llu "
          "ndalloc %llu peak %zu",
          what, st->allocated, st->active, st->resident, st->mapped,
          (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc, st->peak);
    CHECK(st->nmalloc >= st->ndalloc, "%s: nmalloc %llu < ndalloc %llu", what,
          (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc);
}

/* What the arena counts for a block: its usable size (the size class), which must cover what
   was asked for and, on jemalloc, be jemalloc's own figure in an arena with a jemalloc arena
   of its own. A small arena there (backends/jemalloc/small.h): its blocks of up to 512
   bytes have their size class, larger or more aligned ones exactly what was asked. */
static size_t usable(const blk *b) {
    size_t u = catmem_usable_size(b->p), asked = b->size ? b->size : 1;
    CHECK(u >= asked, "catmem_usable_size(%p) = %zu < %zu asked for", b->p, u, asked);
#if defined(FUZZ_HAVE_SALLOCX)
    if (exact_je && b->kind == BLK_ARENA && !small_arena(M.ar[b->ar].h))
        CHECK(u == sallocx(b->p, 0), "catmem_usable_size(%p) = %zu, sallocx %zu", b->p, u,
              sallocx(b->p, 0));
    else if (exact_je && b->kind == BLK_ARENA) /* aligned ones may be either */
        CHECK(u == asked || (asked <= 512 && u == nallocx(asked, 0)),
              "catmem_usable_size(%p) = %zu in a small arena, for %zu asked", b->p, u, asked);
#endif
    return u;
}

/* ---- limits ----------------------------------------------------------------------------------- */

/* What the arena's limit counts, as far as the model knows it: the usable sizes of its live
   blocks (region chunks are not known: see limit_known). */
static size_t charged_of(int ar) {
    size_t c = 0;
    int i;
    for (i = 0; i < M.nb; i++)
        if (M.b[i].kind == BLK_ARENA && M.b[i].ar == ar) c += usable(&M.b[i]);
    return c;
}

/* The model knows exactly what the limit of arena ar counts: a backend with exact figures for
   one thread (system; jemalloc, whose refused thread gives its cached blocks back first), and
   no region holding chunks of the arena. */
static int limit_known(int ar) {
    return ar >= 0 && (exact_sys || exact_je) && !region_holds(M.ar[ar].h);
}

/* The arena's bytes reached at least lo (a lower bound of its peak while it is counted) and
   at most hi (an upper bound of everything it held). */
static void note_alloc(int ar, size_t lo, size_t hi) {
    if (M.ar[ar].counted && lo > M.ar[ar].pk_lo) M.ar[ar].pk_lo = lo;
    if (hi > M.ar[ar].hw_hi) M.ar[ar].hw_hi = hi;
}

/* A region draws on the arena (or gives chunks back): its bytes and calls are unknown until a
   reset (hw_ok) or the next statistics read with no region holding chunks (cnt_ok). */
static void region_touch(const mregion *g) {
    int ar = arena_of(g->h);
    if (ar < 0) return;
    M.ar[ar].cnt_ok = 0;
    M.ar[ar].hw_ok = 0;
}

/* The largest usable size a new block of size bytes aligned to align can have on any backend
   (size classes: at most a quarter more; power-of-two classes for alignments; jemalloc's page
   rounding and its 16 KiB least large class for alignments above a page). Only outcomes that
   hold whatever the class is are asserted. */
static size_t usable_hi(size_t size, size_t align) {
    size_t m = size ? size : 1;
    if (align > m) m = align;
    if (align > 16) m *= 2;
    m += m / 4 + 32;
    if (!exact_sys) {
        m += 4096;
        if (align > 4096 && m < 20480) m = 20480;
    }
    return m;
}

enum { LIM_OK, LIM_FAIL, LIM_EITHER };

/* An allocation of at least lo and at most hi bytes in arena ar: must it fit under the limit
   (LIM_OK), must it be refused (LIM_FAIL), or can the model not tell (LIM_EITHER)? */
static int lim_verdict(int ar, size_t lo, size_t hi) {
    size_t c, lim;
    if (ar < 0 || M.ar[ar].limit == 0) return LIM_OK;
    if (!limit_known(ar)) return LIM_EITHER;
    c = charged_of(ar);
    lim = M.ar[ar].limit;
    if (c <= lim && hi <= lim - c) return LIM_OK;
    if (c > lim || lo > lim - c) /* refused, or handed out again from the front cache */
        return c <= M.ar[ar].over && lo <= M.ar[ar].over - c ? LIM_EITHER : LIM_FAIL;
    return LIM_EITHER;
}

/* The most arena ar may hold: its limit, or what it held when the limit was set below that. */
static size_t lim_cap(int ar) {
    return M.ar[ar].over > M.ar[ar].limit ? M.ar[ar].over : M.ar[ar].limit;
}

static const char *const lim_names[] = {"fits", "past the limit", "either"};

static void oom_expect(catmem_arena *h, size_t size, int exact, int calls, int maybe);

/* Before an arena allocation of size (aligned to align) on h: the verdict of the limit, and
   the out-of-memory handler's expectation (a refusal runs it once, with at least size). */
static int alloc_verdict(catmem_arena *h, size_t size, size_t align) {
    int v = handle_err(h) ? LIM_OK : lim_verdict(arena_of(h), size ? size : 1,
                                                  usable_hi(size, align));
    oom_expect(h, size, 0, v != LIM_OK, v == LIM_EITHER);
    if (v != LIM_OK) T("  limit %zu, %zu held: %s\n", M.ar[arena_of(h)].limit,
                       charged_of(arena_of(h)), lim_names[v]);
    return v;
}

/* After it (handle errors already dealt with): a refusal by the limit is NULL with ENOMEM;
   anything else is a new block. */
static void alloc_result(catmem_arena *h, int v, unsigned char *p, int e, size_t size,
                         size_t align, int zeroed, int aligned, const char *what) {
    char desc[160];
    int ar = arena_of(h);
    if (v == LIM_FAIL || (v == LIM_EITHER && p == NULL)) {
        snprintf(desc, sizeof desc, "%s(%s, %zu) with %zu held under the limit %zu", what,
                 hdesc(h), size, charged_of(ar), M.ar[ar].limit);
        expect_fail(p, e, ENOMEM, desc);
        return;
    }
    new_block(h, ar, p, size, align, zeroed, aligned, what);
}

/* A block of arena ar allocated and freed at once (inside a cleanup): counted, and the arena
   held it for a moment. */
static void transient_block(int ar, const void *p) {
    size_t c = charged_of(ar) + catmem_usable_size(p);
    note_alloc(ar, c, c);
    M.ar[ar].nm++;
    M.ar[ar].nd++;
}

/* A model arena that starts now: no limit, no blocks, no calls, no peak. Built-in arenas have
   a history from earlier inputs (statistics reads set their baselines). */
static void arena_fresh(int ar, int builtin_arena) {
    M.ar[ar].limit = M.ar[ar].over = 0;
    M.ar[ar].counted = 0; /* from its first limit */
    M.ar[ar].pk_lo = M.ar[ar].hw_hi = 0;
    M.ar[ar].hw_ok = !builtin_arena;
    M.ar[ar].nm = M.ar[ar].nd = 0;
    M.ar[ar].cnt_ok = !builtin_arena;
}

/* The statistics of model arena ar against the model. */
static void check_arena_stats(int ar, const catmem_stats *st) {
    size_t sum = 0, rsum = 0;
    uint64_t count = 0;
    int i, holds = region_holds(M.ar[ar].h);
    char what[80];
    snprintf(what, sizeof what, "catmem_arena_stats(%s)", M.ar[ar].name);
    check_sane(st, what);
    CHECK(st->active >= st->allocated, "%s: active %zu < allocated %zu", what, st->active,
          st->allocated);
    /* Peak and limit (LIMITS, STATISTICS). */
    CHECK(st->limit == M.ar[ar].limit && catmem_arena_limit(M.ar[ar].h) == M.ar[ar].limit,
          "%s: limit %zu, catmem_arena_limit %zu, but the limit set is %zu", what, st->limit,
          catmem_arena_limit(M.ar[ar].h), M.ar[ar].limit);
    CHECK(st->peak >= st->allocated, "%s: peak %zu < allocated %zu", what, st->peak,
          st->allocated);
    CHECK(st->peak >= M.ar[ar].pk_lo, "%s: peak %zu, but the arena %s %zu since its %s", what,
          st->peak, M.ar[ar].counted ? "(counted) held" : "was read at", M.ar[ar].pk_lo,
          M.ar[ar].hw_ok ? "creation or reset" : "last reset");
    if (exact_sys && M.ar[ar].hw_ok)
        CHECK(st->peak <= M.ar[ar].hw_hi,
              "%s: peak %zu, but the arena never held more than %zu since its creation or reset",
              what, st->peak, M.ar[ar].hw_hi);
    if (st->allocated > M.ar[ar].pk_lo) M.ar[ar].pk_lo = st->allocated;
    for (i = 0; i < M.nb; i++) {
        const blk *b = &M.b[i];
        if (b->kind == BLK_ARENA && b->ar == ar) {
            sum += usable(b);
            count++;
        } else if (b->kind == BLK_REGION && M.rg[b->rg].h == M.ar[ar].h) {
            rsum += b->size ? b->size : 1;
        }
    }
    T("  stats %s: allocated %zu active %zu resident %zu mapped %zu nmalloc %llu ndalloc %llu; "
      "model %zu bytes in %llu blocks, %zu in regions%s\n",
      M.ar[ar].name, st->allocated, st->active, st->resident, st->mapped,
      (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc, sum,
      (unsigned long long)count, rsum, holds ? " (a region holds chunks)" : "");
    T("  stats %s: peak %zu limit %zu; model peak in [%zu, %s%zu], calls %s%llu/%llu\n",
      M.ar[ar].name, st->peak, st->limit, M.ar[ar].pk_lo, M.ar[ar].hw_ok ? "" : "?",
      M.ar[ar].hw_hi, M.ar[ar].cnt_ok ? "" : "(unknown) ", (unsigned long long)M.ar[ar].nm,
      (unsigned long long)M.ar[ar].nd);
    /* nmalloc and ndalloc count calls on every backend: exactly the model's count of them when
       it saw every call since its baseline, and the live blocks' number in any case. */
    if (!holds) {
        CHECK(st->nmalloc - st->ndalloc == count,
              "%s: nmalloc %llu - ndalloc %llu != %llu live blocks", what,
              (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc,
              (unsigned long long)count);
        if (M.ar[ar].cnt_ok)
            CHECK(st->nmalloc == M.ar[ar].nm && st->ndalloc == M.ar[ar].nd,
                  "%s: nmalloc %llu ndalloc %llu, but the model counted %llu allocations and "
                  "%llu frees", what, (unsigned long long)st->nmalloc,
                  (unsigned long long)st->ndalloc, (unsigned long long)M.ar[ar].nm,
                  (unsigned long long)M.ar[ar].nd);
        M.ar[ar].nm = st->nmalloc;
        M.ar[ar].nd = st->ndalloc;
        M.ar[ar].cnt_ok = 1;
    }
    if (exact_sys) {
        CHECK(st->resident <= st->mapped && st->allocated <= st->mapped,
              "%s: resident %zu or allocated %zu above mapped %zu", what, st->resident,
              st->allocated, st->mapped);
        if (!holds) {
            CHECK(st->allocated == sum,
                  "%s: allocated %zu, but the live blocks' usable sizes add up to %zu", what,
                  st->allocated, sum);
            CHECK(st->nmalloc - st->ndalloc == count,
                  "%s: nmalloc %llu - ndalloc %llu != %llu live blocks", what,
                  (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc,
                  (unsigned long long)count);
        } else {
            CHECK(st->allocated >= sum + rsum, "%s: allocated %zu < %zu in live blocks", what,
                  st->allocated, sum + rsum);
            CHECK(st->nmalloc - st->ndalloc >= count, "%s: nmalloc - ndalloc < %llu live blocks",
                  what, (unsigned long long)count);
        }
    } else if (exact_je) {
        if (!holds)
            CHECK(st->allocated == sum,
                  "%s: allocated %zu, but the live blocks' size classes add up to %zu", what,
                  st->allocated, sum);
        else
            CHECK(st->allocated >= sum + rsum, "%s: allocated %zu < %zu in live blocks", what,
                  st->allocated, sum + rsum);
    }
}

static void stats_of(int ar) {
    catmem_stats st;
    int rc;
    CTL(rc, catmem_arena_stats(M.ar[ar].h, &st));
    CHECK(rc == handle_err(M.ar[ar].h), "catmem_arena_stats(%s) = %s, expected %s",
          M.ar[ar].name, ename(rc), ename(handle_err(M.ar[ar].h)));
    if (rc == 0) check_arena_stats(ar, &st);
}

/* ---- child arenas ----------------------------------------------------------------------------- */

static int parent_of(int ar) { return M.ar[ar].parent - 1; }

/* a is a proper ancestor of x. */
static int is_ancestor(int a, int x) {
    for (x = parent_of(x); x >= 0; x = parent_of(x))
        if (x == a) return 1;
    return 0;
}

/* in[i] = 1 for ar and every live arena below it: what a reset or release of ar covers. */
static void subtree(int ar, int *in) {
    int i;
    for (i = 0; i < N_ARENAS; i++) in[i] = M.ar[i].live && (i == ar || is_ancestor(ar, i));
}

/* ---- the out-of-memory handler ---------------------------------------------------------------- */

/* Installed by the oom operation. Every catmem call runs with M.oom.allowed calls to it: 0 for
   all but the allocations the model knows must run out of memory, so a call from anywhere else
   (a size above CATMEM_SIZE_MAX, an ordinary allocation) is a violation; so is a second call
   for one failing allocation, and a call from inside it. */
static int on_oom(catmem_arena *a, size_t size, void *arg) {
    CHECK(arg == (void *)&M.oom, "out-of-memory handler got arg %p, not the one installed", arg);
    CHECK(!M.oom.inside,
          "out-of-memory handler re-entered (%s, %zu) by the allocation it makes itself",
          hdesc(a), size);
    M.oom.calls++;
    T("  out-of-memory handler(%s, %zu): call %d of %d allowed\n", hdesc(a), size, M.oom.calls,
      M.oom.allowed);
    CHECK(M.oom.calls <= M.oom.allowed,
          "out-of-memory handler called (%s, %zu) %d times by a call that may call it %d times",
          hdesc(a), size, M.oom.calls, M.oom.allowed);
    CHECK(a == M.oom.h, "out-of-memory handler told arena %s, expected %s", hdesc(a),
          hdesc(M.oom.h));
    CHECK(M.oom.exact ? size == M.oom.size : size >= M.oom.size,
          "out-of-memory handler told size %zu, expected %s%zu", size, M.oom.exact ? "" : ">= ",
          M.oom.size);
    if (M.oom.nested) {
        void *p;
        int e, saved_errno = errno; /* what catmem reports must not depend on the handler */
        M.oom.inside = 1;
        errno = 0;
        p = catmem_alloc(a, UNSERVABLE);
        e = errno;
        M.oom.inside = 0;
        expect_fail(p, e, ENOMEM, "catmem_alloc(unservable) inside the out-of-memory handler");
        errno = saved_errno;
    }
    return M.oom.retry;
}

/* The next catmem call may run the handler `calls` times (if it is installed), telling it h and
   size (exactly, or at least size); maybe: fewer is right too. */
static void oom_expect(catmem_arena *h, size_t size, int exact, int calls, int maybe) {
    M.oom.allowed = M.oom.on ? calls : 0;
    M.oom.maybe = maybe;
    M.oom.calls = 0;
    M.oom.h = h;
    M.oom.size = size;
    M.oom.exact = exact;
}

static void oom_check(const char *what) {
    CHECK(M.oom.maybe ? M.oom.calls <= M.oom.allowed : M.oom.calls == M.oom.allowed,
          "%s: the out-of-memory handler ran %d times, expected %s%d", what, M.oom.calls,
          M.oom.maybe ? "at most " : "", M.oom.allowed);
    M.oom.allowed = M.oom.calls = M.oom.maybe = 0;
}

/* Whether an arena allocation of size on h (handle_err he) must ask the handler: it passed
   every check (so the backend was asked) and the size is one catmem accepts. The huge sizes
   the model uses that are at most CATMEM_SIZE_MAX are all 2^48 or more: no allocator has them. */
static int oom_due(int he, size_t size) { return he == 0 && size <= CATMEM_SIZE_MAX; }

/* A region allocation of a huge size asks its arena for a chunk (and so the handler) below the
   region's own limit, CATMEM_SIZE_MAX less the largest alignment and a header whose size the
   manual does not give: within 2^31 of CATMEM_SIZE_MAX either is right. */
static void oom_expect_region(const mregion *g, size_t size) {
    int ok = g->h != NULL && handle_err(g->h) == 0;
    if (size > CATMEM_SIZE_MAX) ok = 0;
    oom_expect(g->h, size, 0, ok, size > CATMEM_SIZE_MAX - ((size_t)1 << 31));
}

/* ---- cleanups ----------------------------------------------------------------------------------- */

/* What a cleanup does when it runs, chosen by the input at registration. Besides these, every
   arena cleanup verifies the blocks of its arena (its memory is not freed yet) and every region
   cleanup the blocks of its region. */
enum {
    ACT_SELF_ALLOC = 1,    /* allocate from its own arena or region: EBUSY */
    ACT_SELF_RESET = 2,    /* reset it: EBUSY */
    ACT_SELF_RELEASE = 4,  /* release it: EBUSY */
    ACT_SELF_REGISTER = 8, /* register another cleanup on it: EBUSY */
    ACT_SELF_OTHER = 16,   /* every other call on it (calloc, aligned, realloc, stats, ...): EBUSY */
    ACT_FREE = 32,         /* arena: free one of its blocks (catmem_free stays allowed) */
    ACT_ELSEWHERE = 64,    /* allocate from an arena that is not being reset: works */
    ACT_KIN = 128,         /* arena: call another arena reset with it: EBUSY */
    /* From the registration's mode byte (arena cleanups): */
    ACT_REGIONS = 256,     /* release the regions holding chunks of its arena: they give the
                              chunks back with catmem_free, which stays allowed; their own
                              cleanups run inside (and find the arena busy) */
    ACT_NESTED = 512,      /* reset an arena outside the reset (one with no busy arena below
                              it): its cleanups run inside this one */
    ACT_NESTED_RELEASE = 1024 /* ... release it instead, if it is a user arena */
};

static void region_release(int k, const char *why);
static void tree_reset(catmem_arena *h, int release, unsigned policy, int want);

/* Registered by a cleanup while its arena or region refuses registrations: never runs. */
static void stray_cleanup(void *arg) {
    (void)arg;
    fail("a cleanup registered while its arena or region was running its cleanups ran");
}

static int free_cleanup(void) {
    int i;
    for (i = 0; i < N_CLEANUPS; i++)
        if (!M.cl[i].used) return i;
    return -1;
}

static void add_cleanup(int i, int kind, int owner, unsigned acts) {
    M.cl[i].used = 1;
    M.cl[i].kind = kind;
    M.cl[i].owner = owner;
    M.cl[i].order = ++M.cl_seq;
    M.cl[i].acts = acts;
}

static unsigned pending_cleanups(int kind, int owner) {
    unsigned n = 0;
    int i;
    for (i = 0; i < N_CLEANUPS; i++)
        n += M.cl[i].used && M.cl[i].kind == kind && M.cl[i].owner == owner;
    return n;
}

/* Cleanups of c's owner registered after c: catmem runs last registered first. */
static void check_newest(const mcleanup *c) {
    int i;
    for (i = 0; i < N_CLEANUPS; i++)
        if (M.cl[i].used && M.cl[i].kind == c->kind && M.cl[i].owner == c->owner &&
            M.cl[i].order > c->order)
            fail("cleanup #%u of %s %s ran before #%u, registered after it (not last-first)",
                 (unsigned)c->order, c->kind == CL_ARENA ? "arena" : "region",
                 c->kind == CL_ARENA ? M.ar[c->owner].name : "", (unsigned)M.cl[i].order);
}

static void arena_cleanup_acts(const mcleanup *c) {
    int ar = c->owner, rc, e, i;
    catmem_arena *h = M.ar[ar].h;
    catmem_stats st;
    void *p;
    if (c->acts & ACT_SELF_ALLOC) {
        errno = 0;
        p = catmem_alloc(h, 16);
        e = errno;
        expect_fail(p, e, EBUSY, "catmem_alloc on its own arena in a cleanup");
    }
    if (c->acts & ACT_SELF_RESET) {
        CTL(rc, catmem_arena_reset(h));
        CHECK(rc == EBUSY, "catmem_arena_reset(%s) in its cleanup = %s, expected EBUSY",
              M.ar[ar].name, ename(rc));
    }
    if (c->acts & ACT_SELF_RELEASE) {
        CTL(rc, catmem_arena_release(h));
        /* A built-in arena is never released either: both causes apply. */
        CHECK(rc == EBUSY || (ar < CATMEM_KIND_COUNT && rc == EINVAL),
              "catmem_arena_release(%s) in its cleanup = %s, expected EBUSY", M.ar[ar].name,
              ename(rc));
    }
    if (c->acts & ACT_SELF_REGISTER) {
        CTL(rc, catmem_arena_on_reset(h, stray_cleanup, NULL));
        CHECK(rc == EBUSY, "catmem_arena_on_reset(%s) in its cleanup = %s, expected EBUSY",
              M.ar[ar].name, ename(rc));
    }
    if (c->acts & ACT_SELF_OTHER) {
        int b = -1;
        expect_allocs_fail(h, EBUSY, "on its own arena in a cleanup");
        for (i = 0; i < M.nb && b < 0; i++)
            if (M.b[i].kind == BLK_ARENA && M.b[i].ar == ar) b = i;
        if (b >= 0) {
            errno = 0;
            p = catmem_realloc(h, M.b[b].p, M.b[b].size + 100);
            expect_fail(p, errno, EBUSY, "catmem_realloc on its own arena in a cleanup");
            verify(&M.b[b], M.b[b].size, "after a refused catmem_realloc in a cleanup");
        }
        errno = 0;
        p = catmem_arena_create_child(h, "c-busy");
        expect_fail(p, errno, EBUSY, "catmem_arena_create_child of its own arena in a cleanup");
        CTL(rc, catmem_arena_stats(h, &st));
        CHECK(rc == EBUSY, "catmem_arena_stats(%s) in its cleanup = %s", M.ar[ar].name,
              ename(rc));
        CTL(rc, catmem_arena_purge(h));
        CHECK(rc == EBUSY, "catmem_arena_purge(%s) in its cleanup = %s", M.ar[ar].name,
              ename(rc));
        CTL(rc, catmem_arena_set_limit(h, 4096));
        CHECK(rc == EBUSY, "catmem_arena_set_limit(%s) in its cleanup = %s", M.ar[ar].name,
              ename(rc));
        CHECK(catmem_arena_limit(h) == M.ar[ar].limit,
              "catmem_arena_limit(%s) = %zu in its cleanup after a refused set_limit, not %zu",
              M.ar[ar].name, catmem_arena_limit(h), M.ar[ar].limit);
    }
    if (c->acts & ACT_FREE) {
        for (i = 0; i < M.nb; i++)
            if (M.b[i].kind == BLK_ARENA && M.b[i].ar == ar) break;
        if (i < M.nb) {
            T("  cleanup frees #%u\n", (unsigned)M.b[i].id);
            catmem_free(h, M.b[i].p);
            M.ar[ar].nd++;
            remove_block(i);
        }
    }
    if (c->acts & ACT_ELSEWHERE) { /* a built-in arena not busy (at most 2 of 5 are), no limit */
        for (i = 0; i < CATMEM_KIND_COUNT && (arena_busy(i) || M.ar[i].limit != 0); i++) {}
        if (i < CATMEM_KIND_COUNT) {
            errno = 0;
            p = catmem_alloc(M.ar[i].h, 24);
            e = errno;
            CHECK(p != NULL, "catmem_alloc(%s) in a cleanup of %s failed: %s", M.ar[i].name,
                  M.ar[ar].name, ename(e));
            check_overlap((unsigned char *)p, 24, -1, "catmem_alloc in a cleanup");
            memset(p, 0x5a, 24);
            transient_block(i, p);
            catmem_free(M.ar[i].h, p);
        }
    }
    if (c->acts & ACT_KIN) { /* another arena of the same reset: busy too */
        for (i = 0; i < N_ARENAS; i++) {
            if (i == ar || !M.batch.in[i]) continue;
            errno = 0;
            p = catmem_alloc(M.ar[i].h, 16);
            e = errno;
            expect_fail(p, e, EBUSY, "catmem_alloc on another arena of the reset in a cleanup");
            CTL(rc, catmem_arena_reset(M.ar[i].h));
            CHECK(rc == EBUSY, "catmem_arena_reset(%s) in a cleanup of %s = %s, expected EBUSY",
                  M.ar[i].name, M.ar[ar].name, ename(rc));
            break;
        }
    }
    if (c->acts & ACT_REGIONS)
        for (i = 0; i < N_REGIONS; i++)
            if (M.rg[i].may_hold && arena_of(M.rg[i].h) == ar)
                region_release(i, "in a cleanup of its arena");
    if ((c->acts & (ACT_NESTED | ACT_NESTED_RELEASE)) && M.depth == 1) {
        /* One level deep: the cleanups of the nested reset do not nest further. */
        int in[N_ARENAS], j = -1, n, pass, busy, cl, rel = (c->acts & ACT_NESTED_RELEASE) != 0;
        /* First choice: an arena whose subtree has cleanups pending, so that they nest. */
        for (pass = 0; pass < 2 && j < 0; pass++)
            for (n = 0; n < N_ARENAS && j < 0; n++) {
                int x = (int)((c->order + (unsigned)n) % N_ARENAS);
                if (!M.ar[x].live || (rel && x < CATMEM_KIND_COUNT)) continue;
                subtree(x, in);
                for (busy = 0, cl = 0, i = 0; i < N_ARENAS; i++) {
                    busy |= in[i] && arena_busy(i);
                    cl += in[i] ? (int)pending_cleanups(CL_ARENA, i) : 0;
                }
                if (!busy && (pass == 1 || cl > 0)) j = x;
            }
        if (j >= 0) {
            T("  cleanup %s %s, outside the reset\n", rel ? "releases" : "resets", M.ar[j].name);
            tree_reset(M.ar[j].h, rel, 0, 0);
        }
    }
}

static void region_cleanup_acts(const mcleanup *c) {
    mregion *g = &M.rg[c->owner];
    int rc, e, he;
    void *p;
    if (c->acts & ACT_SELF_ALLOC) {
        errno = 0;
        p = catmem_region_alloc(&g->r, 16);
        e = errno;
        expect_fail(p, e, EBUSY, "catmem_region_alloc on its own region in a cleanup");
    }
    if (c->acts & ACT_SELF_RESET) {
        CTL(rc, catmem_region_reset(&g->r));
        CHECK(rc == EBUSY, "catmem_region_reset in its cleanup = %s, expected EBUSY", ename(rc));
    }
    if (c->acts & ACT_SELF_RELEASE) {
        CTL(rc, catmem_region_release(&g->r));
        CHECK(rc == EBUSY, "catmem_region_release in its cleanup = %s, expected EBUSY",
              ename(rc));
    }
    if (c->acts & ACT_SELF_REGISTER) {
        CTL(rc, catmem_region_on_reset(&g->r, stray_cleanup, NULL));
        CHECK(rc == EBUSY, "catmem_region_on_reset in its cleanup = %s, expected EBUSY",
              ename(rc));
    }
    if (c->acts & ACT_SELF_OTHER) {
        CTL(rc, catmem_region_restore(&g->r, catmem_region_save(&g->r)));
        CHECK(rc == EBUSY, "catmem_region_restore in its cleanup = %s, expected EBUSY",
              ename(rc));
        errno = 0;
        p = catmem_region_alloc_aligned(&g->r, 64, 8);
        expect_fail(p, errno, EBUSY, "catmem_region_alloc_aligned in a cleanup");
        errno = 0;
        p = catmem_region_calloc(&g->r, 2, 8);
        expect_fail(p, errno, EBUSY, "catmem_region_calloc in a cleanup");
        errno = 0;
        p = catmem_region_strdup(&g->r, "x");
        expect_fail(p, errno, EBUSY, "catmem_region_strdup in a cleanup");
    }
    if ((c->acts & ACT_ELSEWHERE) &&
        !(arena_of(g->h) >= 0 && M.ar[arena_of(g->h)].limit != 0)) { /* not busy, no limit */
        he = handle_err(g->h);
        errno = 0;
        p = catmem_alloc(g->h, 24);
        e = errno;
        if (he) {
            expect_fail(p, e, he, "catmem_alloc on the region's arena in a region cleanup");
        } else {
            CHECK(p != NULL, "catmem_alloc(%s) in a region cleanup failed: %s", hdesc(g->h),
                  ename(e));
            check_overlap((unsigned char *)p, 24, -1, "catmem_alloc in a region cleanup");
            memset(p, 0x5a, 24);
            transient_block(arena_of(g->h), p);
            catmem_free(g->h, p);
        }
    }
}

/* Every cleanup the fuzzer registers: arg is its record. */
static void on_cleanup(void *arg) {
    mcleanup *c = (mcleanup *)arg;
    int i, k = (int)(c - M.cl), saved_errno = errno;
    CHECK(k >= 0 && k < N_CLEANUPS, "a cleanup ran with argument %p, not one registered", arg);
    if (c->kind == CL_ARENA)
        T("  cleanup #%u of arena %s runs (acts 0x%02x)\n", (unsigned)c->order,
          M.ar[c->owner].name, c->acts);
    else
        T("  cleanup #%u of region %d runs (acts 0x%02x)\n", (unsigned)c->order, c->owner,
          c->acts);
    CHECK(c->used, "cleanup #%u ran again, or after its region forgot it", (unsigned)c->order);
    if (c->kind == CL_ARENA) {
        int ar = c->owner, a;
        CHECK(M.batch.kind == BATCH_ARENA && M.batch.in[ar],
              "cleanup #%u of arena %s ran, but no reset or release of it is running",
              (unsigned)c->order, M.ar[ar].name);
        check_newest(c);
        /* Children first: no cleanup of an ancestor in this reset may have run yet. */
        for (a = parent_of(ar); a >= 0; a = parent_of(a))
            CHECK(!M.batch.in[a] || !M.batch.ran[a],
                  "cleanup #%u of arena %s ran after a cleanup of its ancestor %s",
                  (unsigned)c->order, M.ar[ar].name, M.ar[a].name);
        /* Before the arena's memory is freed: its blocks still hold their patterns. */
        for (i = 0; i < M.nb; i++)
            if (M.b[i].kind == BLK_ARENA && M.b[i].ar == ar)
                verify(&M.b[i], M.b[i].size, "in a cleanup of its arena");
        arena_cleanup_acts(c);
        M.batch.ran[ar] = 1;
    } else {
        CHECK(M.batch.kind == BATCH_REGION && M.batch.rg == c->owner,
              "cleanup #%u of region %d ran, but no reset, release or restore of it is running",
              (unsigned)c->order, c->owner);
        check_newest(c);
        CHECK(M.batch.any || c->order > M.batch.after,
              "cleanup #%u of region %d ran, but it was registered before the mark restored",
              (unsigned)c->order, c->owner);
        for (i = 0; i < M.nb; i++)
            if (M.b[i].kind == BLK_REGION && M.b[i].rg == c->owner)
                verify(&M.b[i], M.b[i].size, "in a cleanup of its region");
        region_cleanup_acts(c);
    }
    c->used = 0;
    M.batch.nran++;
    /* A well-behaved cleanup leaves errno as it found it, so that the reset or restore that ran
       it is still checked for leaving errno alone itself. */
    errno = saved_errno;
}

static void batch_begin(int kind) {
    CHECK(M.depth < MAX_DEPTH, "fuzzer: batches nested too deep");
    M.outer[M.depth++] = M.batch;
    memset(&M.batch, 0, sizeof M.batch);
    M.batch.kind = kind;
}

/* After the call: on success every cleanup it covers ran (those left over are named); on
   failure none did. */
static void batch_end(int rc, const char *what) {
    int i;
    if (rc != 0) {
        CHECK(M.batch.nran == 0, "%s failed with %s, but ran %d cleanups", what, ename(rc),
              M.batch.nran);
    } else {
        for (i = 0; i < N_CLEANUPS; i++) {
            const mcleanup *c = &M.cl[i];
            if (!c->used) continue;
            if (M.batch.kind == BATCH_ARENA && c->kind == CL_ARENA && M.batch.in[c->owner])
                fail("%s returned 0, but cleanup #%u of arena %s never ran", what,
                     (unsigned)c->order, M.ar[c->owner].name);
            if (M.batch.kind == BATCH_REGION && c->kind == CL_REGION &&
                c->owner == M.batch.rg && !M.batch.any && c->order > M.batch.after)
                fail("%s returned 0, but cleanup #%u of region %d never ran", what,
                     (unsigned)c->order, c->owner);
        }
    }
    M.batch = M.outer[--M.depth];
}

/* A region initialised again forgets its cleanups: they never run. */
static void region_drop_cleanups(int k) {
    int i;
    for (i = 0; i < N_CLEANUPS; i++)
        if (M.cl[i].used && M.cl[i].kind == CL_REGION && M.cl[i].owner == k) M.cl[i].used = 0;
}

/* ---- regions ---------------------------------------------------------------------------------- */

static void marks_die(mregion *g) {
    int i;
    for (i = 0; i < g->nmarks; i++) {
        if (g->ndead == N_DEAD) {
            memmove(&g->dead[0], &g->dead[1], sizeof g->dead[0] * (N_DEAD - 1));
            g->ndead--;
        }
        g->dead[g->ndead++] = g->marks[i].m;
    }
    g->nmarks = 0;
}

/* The region's memory is gone (reset, release, init, an accepted restore to an unknown mark). */
static void region_forget_all(int k) {
    forget_region(k, 0);
    marks_die(&M.rg[k]);
}

static void region_release(int k, const char *why) {
    int rc;
    T("  catmem_region_release(region %d) (%s)\n", k, why);
    region_touch(&M.rg[k]); /* its chunks go back to the arena */
    batch_begin(BATCH_REGION);
    M.batch.rg = k;
    CTL(rc, catmem_region_release(&M.rg[k].r));
    batch_end(rc, "catmem_region_release");
    T("  catmem_region_release(region %d) = %s\n", k, ename(rc));
    CHECK(rc == 0, "catmem_region_release(region %d) = %s (%s)", k, ename(rc), why);
    region_forget_all(k);
    M.rg[k].may_hold = 0;
}

/* Before arena reset/release: regions holding chunks of an arena in `in` (the arena and its
   children) are released first (policy bit 0) or initialised again afterwards (bit 1), the two
   ways the manual allows. Returns the regions to initialise again. */
static unsigned regions_before_arena_reset(const int *in, unsigned policy) {
    unsigned later = 0;
    int k, ar;
    for (k = 0; k < N_REGIONS; k++) {
        ar = arena_of(M.rg[k].h);
        if (ar < 0 || !in[ar] || !M.rg[k].may_hold) continue;
        if (policy & (1u << k)) later |= 1u << k;
        else region_release(k, "before its arena goes");
    }
    return later;
}

static void regions_after_arena_reset(unsigned later) {
    int k, rc;
    for (k = 0; k < N_REGIONS; k++) {
        catmem_arena *h = M.rg[k].h;
        if (!(later & (1u << k))) continue;
        CTL(rc, catmem_region_init(&M.rg[k].r, h));
        T("  catmem_region_init(region %d, %s) = %s (after its arena went)\n", k, hdesc(h),
          ename(rc));
        CHECK(rc == 0, "catmem_region_init(region %d, %s) = %s", k, hdesc(h), ename(rc));
        region_forget_all(k);
        region_drop_cleanups(k);
        M.rg[k].may_hold = 0;
    }
}

/* The region's arena has a limit: its chunks count (LIMITS), so any allocation that needs one
   may be refused with ENOMEM, after the out-of-memory handler ran once (what the region holds
   is not known to the model). */
static int region_limited(const mregion *g) {
    int ar = arena_of(g->h);
    return ar >= 0 && M.ar[ar].limit != 0;
}

/* A region allocation result: p from region k asked for size with the alignment given. */
static void region_result(int k, void *vp, int err, size_t size, size_t align, int zeroed,
                          const char *what) {
    mregion *g = &M.rg[k];
    unsigned char *p = (unsigned char *)vp;
    int he = handle_err(g->h);
    char desc[96];
    snprintf(desc, sizeof desc, "%s(region %d on %s, %zu)", what, k, hdesc(g->h), size);
    if (g->h != NULL) g->may_hold = 1;
    if (g->h == NULL) {
        expect_fail(p, err, EINVAL, desc); /* uninitialised */
        return;
    }
    if (he == 0 && p == NULL && region_limited(g)) { /* a chunk past the arena's limit */
        expect_fail(p, err, ENOMEM, desc);
        return;
    }
    if (he != 0) {
        /* After shutdown the chunk in hand still serves; anything else needs the arena. A
           region whose arena was released holds no chunk (the model releases or initialises
           it again), so it must fail. */
        if (p == NULL || arena_of(g->h) < 0 || M.up) {
            expect_fail(p, err, he, desc);
            return;
        }
    }
    CHECK(p != NULL, "%s failed with errno %s", desc, ename(err));
    if (align < CATMEM_REGION_ALIGN) align = CATMEM_REGION_ALIGN;
    CHECK(((uintptr_t)p & (align - 1)) == 0, "%s returned %p, not %zu-aligned", desc,
          (void *)p, align);
    check_overlap(p, size, -1, desc);
    if (zeroed) check_zero(p, size, desc);
    if (add_block(p, size, BLK_REGION, -1, k, g->seq++, 0) < 0) {
        fill(p, 7, 0, size); /* usable for all of size; the model just does not keep it */
        T("  (model full: not kept)\n");
    }
}

/* ---- operations ------------------------------------------------------------------------------- */

static void op_alloc(void) {
    catmem_arena *h = pick_arena();
    size_t size = pick_size();
    int he = handle_err(h), e, v = alloc_verdict(h, size, 1);
    void *p;
    errno = 0;
    p = catmem_alloc(h, size);
    e = errno;
    T("catmem_alloc(%s, %zu) = %p (%s)\n", hdesc(h), size, p, ename(e));
    oom_check("catmem_alloc");
    if (he) expect_fail(p, e, he, "catmem_alloc");
    else alloc_result(h, v, (unsigned char *)p, e, size, 1, 0, 0, "catmem_alloc");
}

static void op_calloc(void) {
    catmem_arena *h = pick_arena();
    size_t n = u8() % 65, size = pick_size();
    int he = handle_err(h), e, v;
    void *p;
    if (n != 0 && n * size > MAX_SIZE) size = MAX_SIZE / n;
    v = alloc_verdict(h, n * size, 1);
    errno = 0;
    p = catmem_calloc(h, n, size);
    e = errno;
    T("catmem_calloc(%s, %zu, %zu) = %p (%s)\n", hdesc(h), n, size, p, ename(e));
    oom_check("catmem_calloc");
    if (he) expect_fail(p, e, he, "catmem_calloc");
    else alloc_result(h, v, (unsigned char *)p, e, n * size, 1, 1, 0, "catmem_calloc");
}

static void op_aligned(void) {
    catmem_arena *h = pick_arena();
    size_t align = (size_t)1 << (u8() % 17), size = pick_size();
    int he = handle_err(h), e, v = alloc_verdict(h, size, align);
    void *p;
    errno = 0;
    p = catmem_aligned_alloc(h, align, size);
    e = errno;
    T("catmem_aligned_alloc(%s, %zu, %zu) = %p (%s)\n", hdesc(h), align, size, p, ename(e));
    oom_check("catmem_aligned_alloc");
    if (he) expect_fail(p, e, he, "catmem_aligned_alloc");
    else alloc_result(h, v, (unsigned char *)p, e, size, align, 0, 1, "catmem_aligned_alloc");
}

static void op_strdup(void) {
    catmem_arena *h = pick_arena();
    char s[128];
    size_t len = u8() % 100, i;
    int he = handle_err(h), e, v;
    char *p;
    for (i = 0; i < len; i++) {
        unsigned c = u8();
        s[i] = (char)(c ? c : 'z');
    }
    s[len] = '\0';
    v = alloc_verdict(h, len + 1, 1);
    errno = 0;
    p = catmem_strdup(h, s);
    e = errno;
    T("catmem_strdup(%s, <%zu chars>) = %p (%s)\n", hdesc(h), len, (void *)p, ename(e));
    oom_check("catmem_strdup");
    if (he) {
        expect_fail(p, e, he, "catmem_strdup");
        return;
    }
    if (v == LIM_FAIL || (v == LIM_EITHER && p == NULL)) {
        alloc_result(h, v, (unsigned char *)p, e, len + 1, 1, 0, 0, "catmem_strdup");
        return;
    }
    CHECK(p != NULL, "catmem_strdup(%s, <%zu chars>) failed: %s", hdesc(h), len, ename(e));
    CHECK(memcmp(p, s, len + 1) == 0, "catmem_strdup(%s) = %p does not hold the string",
          hdesc(h), (void *)p);
    alloc_result(h, v, (unsigned char *)p, e, len + 1, 1, 0, 0, "catmem_strdup");
}

/* any: catmem_realloc_any(p, n), the arena p's own, whose live handle the model knows; NULL
   has no arena (EINVAL). */
static void op_realloc(int any) {
    int i = pick_block(), e, he, ar, v = LIM_OK;
    unsigned mode = u8() % 16;
    size_t size = mode == 15 ? pick_huge() : pick_size(), c = 0, uo = 0, un, lim;
    catmem_arena *h;
    blk *b;
    unsigned char *q;
    if (i < 0 && any) {
        errno = 0;
        q = (unsigned char *)catmem_realloc_any(NULL, size);
        e = errno;
        T("catmem_realloc_any(NULL, %zu) = %p (%s)\n", size, (void *)q, ename(e));
        expect_fail(q, e, EINVAL, "catmem_realloc_any(NULL)");
        return;
    }
    if (i < 0) { /* realloc(a, NULL, n) is catmem_alloc(a, n) */
        h = pick_arena();
        he = handle_err(h);
        if (mode == 15) size = 100;
        v = alloc_verdict(h, size, 1);
        errno = 0;
        q = (unsigned char *)catmem_realloc(h, NULL, size);
        e = errno;
        T("catmem_realloc(%s, NULL, %zu) = %p (%s)\n", hdesc(h), size, (void *)q, ename(e));
        oom_check("catmem_realloc(NULL)");
        if (he) expect_fail(q, e, he, "catmem_realloc(NULL)");
        else alloc_result(h, v, q, e, size, 1, 0, 0, "catmem_realloc(NULL)");
        return;
    }
    b = &M.b[i];
    ar = b->ar;
    h = any ? M.ar[ar].h : mode == 13 ? NULL : mode == 14 ? released_handle() : M.ar[ar].h;
    he = handle_err(h);
    if (he == 0 && mode == 15) he = ENOMEM;
    verify(b, b->size, "before catmem_realloc");
    oom_expect(h, size, 1, mode == 15 && oom_due(handle_err(h), size), 0);
    if (he == 0 && M.ar[ar].limit != 0) {
        /* Growth counts (LIMITS). It fits for sure when the new block fits beside the old one
           (a move holds both for a moment); it is refused for sure when even without the old
           block the new one does not fit; anything between depends on the backend. */
        size_t lo = size ? size : 1;
        lim = M.ar[ar].limit;
        uo = usable(b);
        c = charged_of(ar);
        if (!limit_known(ar)) v = LIM_EITHER;
        else if (c <= lim && usable_hi(size, 1) <= lim - c) v = LIM_OK;
        else if (lo > uo && (c - uo > lim || lo - uo > lim - (c - uo)))
            /* refused, unless a front cache may serve it (over: see marena) */
            v = c - uo <= M.ar[ar].over && lo <= M.ar[ar].over - (c - uo) ? LIM_EITHER
                                                                           : LIM_FAIL;
        else v = LIM_EITHER;
        oom_expect(h, size, 0, v != LIM_OK, v == LIM_EITHER);
        T("  limit %zu, %zu held, block %zu: %s\n", lim, c, uo, lim_names[v]);
    } else if (he == 0) {
        uo = usable(b);
        c = charged_of(ar);
    }
    errno = 0;
    q = (unsigned char *)(any ? catmem_realloc_any(b->p, size) : catmem_realloc(h, b->p, size));
    e = errno;
    oom_check("catmem_realloc");
    T("catmem_realloc%s(%s, #%u %p [%zu], %zu) = %p (%s)\n", any ? "_any" : "", hdesc(h),
      (unsigned)b->id, (void *)b->p, b->size, size, (void *)q, ename(e));
    if (he) {
        expect_fail(q, e, he, "catmem_realloc");
        verify(b, b->size, "after a failed catmem_realloc");
        return;
    }
    if (v == LIM_FAIL || (v == LIM_EITHER && q == NULL)) {
        char desc[160];
        snprintf(desc, sizeof desc, "catmem_realloc(%s, %zu-byte block, %zu) with %zu held "
                 "under the limit %zu", hdesc(h), uo, size, c, M.ar[ar].limit);
        expect_fail(q, e, ENOMEM, desc);
        verify(b, b->size, "after a catmem_realloc refused by the limit");
        return;
    }
    CHECK(q != NULL, "catmem_realloc(%s, %p, %zu) failed: %s", hdesc(h), (void *)b->p, size,
          ename(e));
    if (q != b->p) { /* moved: an allocation and a free; in place counts nothing */
        M.ar[ar].nm++;
        M.ar[ar].nd++;
    }
    un = catmem_usable_size(q);
    note_alloc(ar, c - uo + un, c + un);
    b->p = q;
    verify(b, size, "after catmem_realloc (the kept prefix)");
    check_overlap(q, size, i, "catmem_realloc");
    fill(q, b->id, b->size < size ? b->size : size, size);
    M.bytes = M.bytes - b->size + size;
    b->size = size;
    if (M.ar[ar].limit != 0 && limit_known(ar) && un > uo)
        CHECK(charged_of(ar) <= lim_cap(ar),
              "catmem_realloc(%s, %zu-byte block, %zu) grew it to %zu: %zu held, past the limit "
              "%zu", hdesc(h), uo, size, un, charged_of(ar), M.ar[ar].limit);
    if (M.bytes > MAX_BYTES) { /* keep the model small */
        catmem_free(h, q);
        M.ar[ar].nd++;
        remove_block(i);
        T("  (model full: freed at once)\n");
    }
}

static void op_free(int sized) {
    int i = pick_block(), e;
    unsigned mode = u8() % 8;
    size_t size;
    catmem_arena *h;
    blk *b;
    if (i < 0) { /* catmem_free(a, NULL) does nothing */
        h = pick_arena();
        T("catmem_free%s(%s, NULL)\n", sized ? "_sized" : "", hdesc(h));
        if (sized) catmem_free_sized(h, NULL, 8);
        else catmem_free(h, NULL);
        return;
    }
    b = &M.b[i];
    h = mode == 7 ? NULL : M.ar[b->ar].h; /* NULL: still frees, and says EINVAL */
    verify(b, b->size, "before catmem_free");
    /* free_sized takes the size asked for, or anything up to the usable size. */
    size = mode >= 4 ? usable(b) : b->size;
    errno = 0;
    if (sized && !b->aligned) catmem_free_sized(h, b->p, size);
    else catmem_free(h, b->p);
    e = errno;
    T("catmem_free%s(%s, #%u %p [%zu], %zu) (%s)\n", sized && !b->aligned ? "_sized" : "",
      hdesc(h), (unsigned)b->id, (void *)b->p, b->size, size, ename(e));
    if (h == NULL)
        CHECK(e == EINVAL, "catmem_free(NULL, p) must free p and set errno to EINVAL, errno %s",
              ename(e));
    M.ar[b->ar].nd++; /* a free counts in the block's arena, whatever the handle */
    remove_block(i);
}

/* catmem_arena_reset (release = 0) or catmem_arena_release (1) of h, expected to return want;
   policy chooses what happens to regions holding chunks (regions_before_arena_reset). On
   success the arena and every arena below it are reset or released: cleanups of all of them
   run, children's before their ancestors', and the model forgets all their blocks. */
static void tree_reset(catmem_arena *h, int release, unsigned policy, int want) {
    int ar = arena_of(h), rc, i;
    int in[N_ARENAS];
    unsigned later = 0;
    const char *what = release ? "catmem_arena_release" : "catmem_arena_reset";
    char name[CATMEM_NAME_MAX + 2] = "";
    memset(in, 0, sizeof in);
    if (want == 0) {
        subtree(ar, in);
        later = regions_before_arena_reset(in, policy);
    }
    if (ar >= 0) snprintf(name, sizeof name, "%s", M.ar[ar].name);
    batch_begin(BATCH_ARENA);
    memcpy(M.batch.in, in, sizeof in);
    CTL(rc, release ? catmem_arena_release(h) : catmem_arena_reset(h));
    batch_end(rc, what);
    T("%s(%s) = %s\n", what, hdesc(h), ename(rc));
    CHECK(rc == want, "%s(%s) = %s, expected %s", what, hdesc(h), ename(rc), ename(want));
    if (rc != 0) return;
    for (i = 0; i < N_ARENAS; i++) {
        if (!in[i]) continue;
        /* Every block the reset freed counts as freed; the peak starts again from zero, and the
           model saw everything since (the regions holding chunks are released or forgotten). */
        M.ar[i].nd = M.ar[i].nm;
        M.ar[i].pk_lo = M.ar[i].hw_hi = M.ar[i].over = 0;
        M.ar[i].hw_ok = 1;
        forget_arena(i);
        if (!release)
            CHECK(catmem_arena_limit(M.ar[i].h) == M.ar[i].limit,
                  "catmem_arena_limit(%s) = %zu after reset of %s, the limit set was %zu (reset "
                  "keeps it)", M.ar[i].name, catmem_arena_limit(M.ar[i].h), name, M.ar[i].limit);
        if (release) {
            CHECK(catmem_arena_limit(M.ar[i].h) == 0,
                  "catmem_arena_limit of released arena %s = %zu", M.ar[i].name,
                  catmem_arena_limit(M.ar[i].h));
            M.ar[i].live = 0;
            note_released(M.ar[i].h);
            CHECK(catmem_arena_name(M.ar[i].h) == NULL,
                  "catmem_arena_name of released arena %s%s is not NULL", M.ar[i].name,
                  i == ar ? "" : " (released with its ancestor)");
            { /* the handle is dead at once, children's too */
                void *p;
                errno = 0;
                p = catmem_alloc(M.ar[i].h, 8);
                expect_fail(p, errno, EINVAL, "catmem_alloc on a just released arena");
                CHECK(catmem_arena_parent(M.ar[i].h) == NULL,
                      "catmem_arena_parent of released arena %s is not NULL", M.ar[i].name);
            }
        }
    }
    regions_after_arena_reset(later);
    verify_all(release ? "after another arena's release" : "after another arena's reset");
    if (!release) {
        for (i = 0; i < N_ARENAS; i++) {
            catmem_stats st;
            if (!in[i]) continue;
            CTL(rc, catmem_arena_stats(M.ar[i].h, &st));
            CHECK(rc == 0, "catmem_arena_stats(%s) after reset of %s = %s", M.ar[i].name, name,
                  ename(rc));
            check_arena_stats(i, &st);
            if (!region_holds(M.ar[i].h))
                CHECK(st.allocated == 0 && st.peak == 0,
                      "catmem_arena_stats(%s) after reset of %s: allocated %zu peak %zu",
                      M.ar[i].name, name, st.allocated, st.peak);
        }
    }
}

static void op_reset(int release) {
    catmem_arena *h = pick_arena();
    unsigned policy = u8();
    int ar = arena_of(h), want = handle_err(h);
    if (release && want == 0 && ar < CATMEM_KIND_COUNT) want = EINVAL; /* built-ins stay */
    tree_reset(h, release, policy, want);
}

static void op_purge(void) {
    catmem_arena *h = pick_arena();
    int rc, want = handle_err(h);
    CTL(rc, catmem_arena_purge(h));
    T("catmem_arena_purge(%s) = %s\n", hdesc(h), ename(rc));
    CHECK(rc == want, "catmem_arena_purge(%s) = %s, expected %s", hdesc(h), ename(rc),
          ename(want));
}

/* The two totals: catmem_total_stats (the backend's; peak and limit 0) and
   catmem_all_arenas_stats (the sum over the live arenas; limit 0), each at least the live blocks
   the model knows of where sizes are exact. */
static void op_totals(void) {
    catmem_stats st;
    size_t sum = 0;
    int rc, i, all;
    for (i = 0; i < M.nb; i++)
        if (M.b[i].kind == BLK_ARENA) sum += usable(&M.b[i]);
    for (all = 0; all < 2; all++) {
        const char *what = all ? "catmem_all_arenas_stats" : "catmem_total_stats";
        if (all)
            CTL(rc, catmem_all_arenas_stats(&st));
        else
            CTL(rc, catmem_total_stats(&st));
        T("%s = %s: allocated %zu nmalloc %llu ndalloc %llu\n", what, ename(rc), st.allocated,
          (unsigned long long)st.nmalloc, (unsigned long long)st.ndalloc);
        CHECK(rc == (M.up ? 0 : ESHUTDOWN), "%s = %s", what, ename(rc));
        if (rc != 0) continue;
        check_sane(&st, what);
        CHECK(st.limit == 0 && (all || st.peak == 0), "%s: peak %zu limit %zu", what, st.peak,
              st.limit);
        if (exact_sys || exact_je)
            CHECK(st.allocated >= sum, "%s: allocated %zu < %zu live", what, st.allocated, sum);
    }
}

static void op_stats(void) {
    catmem_arena *h = pick_arena();
    unsigned mode = u8() % 8;
    catmem_stats st;
    int rc, want;
    if (mode == 0) {
        CTL(rc, catmem_arena_stats(h, NULL));
        T("catmem_arena_stats(%s, NULL) = %s\n", hdesc(h), ename(rc));
        CHECK(rc == EINVAL || (rc != 0 && rc == handle_err(h)), "catmem_arena_stats(%s, NULL) = %s",
              hdesc(h), ename(rc));
        return;
    }
    if (mode == 1) {
        op_totals();
        return;
    }
    want = handle_err(h);
    CTL(rc, catmem_arena_stats(h, &st));
    T("catmem_arena_stats(%s) = %s\n", hdesc(h), ename(rc));
    CHECK(rc == want, "catmem_arena_stats(%s) = %s, expected %s", hdesc(h), ename(rc),
          ename(want));
    if (rc == 0) check_arena_stats(arena_of(h), &st);
}

static int name_live(const char *name) {
    int i;
    for (i = 0; i < N_ARENAS; i++)
        if (M.ar[i].live && strcmp(M.ar[i].name, name) == 0) return 1;
    return 0;
}

static void op_create(void) {
    unsigned s = u8() % 12;
    char name[80];
    int want = 0, e, slot = -1, i, rc;
    catmem_arena *h;
    if (s < 8) snprintf(name, sizeof name, "u%u", s);
    else if (s == 8) snprintf(name, sizeof name, "%s", kind_names[u8() % CATMEM_KIND_COUNT]);
    else if (s == 9) memset(name, 'n', CATMEM_NAME_MAX), name[CATMEM_NAME_MAX] = '\0';
    else if (s == 10) memset(name, 'l', CATMEM_NAME_MAX + 1), name[CATMEM_NAME_MAX + 1] = '\0';
    else name[0] = '\0';
    if (name[0] == '\0') want = EINVAL;
    else if (strlen(name) > CATMEM_NAME_MAX) want = ENAMETOOLONG;
    else if (!M.up) want = ESHUTDOWN;
    else if (name_live(name)) want = EEXIST;
    errno = 0;
    h = catmem_arena_create(name);
    e = errno;
    T("catmem_arena_create(\"%s\") = %p (%s)\n", name, (void *)h, ename(e));
    if (want) {
        expect_fail2(h, e, want, M.up ? 0 : ESHUTDOWN, "catmem_arena_create");
        return;
    }
    CHECK(h != NULL, "catmem_arena_create(\"%s\") failed: %s", name, ename(e));
    CHECK(arena_of(h) < 0, "catmem_arena_create(\"%s\") returned the live handle of %s", name,
          hdesc(h));
    CHECK(catmem_arena_name(h) != NULL && strcmp(catmem_arena_name(h), name) == 0,
          "catmem_arena_name of new arena \"%s\" is \"%s\"", name,
          catmem_arena_name(h) ? catmem_arena_name(h) : "(null)");
    CHECK(catmem_arena_find(name) == h, "catmem_arena_find(\"%s\") is not the new arena", name);
    for (i = CATMEM_KIND_COUNT; i < N_ARENAS && slot < 0; i++)
        if (!M.ar[i].live) slot = i;
    if (slot < 0) { /* the model has no room: give it back */
        CTL(rc, catmem_arena_release(h));
        CHECK(rc == 0, "catmem_arena_release(new \"%s\") = %s", name, ename(rc));
        note_released(h);
        return;
    }
    M.ar[slot].h = h;
    M.ar[slot].live = 1;
    M.ar[slot].parent = 0; /* the model slot may have held a child */
    snprintf(M.ar[slot].name, sizeof M.ar[slot].name, "%s", name);
    arena_fresh(slot, 0); /* a released slot's next arena: no limit, counters from zero */
    CHECK(catmem_arena_parent(h) == NULL, "catmem_arena_parent of new top-level arena \"%s\" "
          "is not NULL", name);
    stats_of(slot); /* a new arena (maybe a reused slot) starts empty */
}

static void check_builtin(int k, catmem_arena *h) {
    CHECK(h == builtin[k], "catmem_arena_get(%s) = %p, was %p", kind_names[k], (void *)h,
          (void *)builtin[k]);
    CHECK(catmem_arena_id(h) == builtin_id[k], "catmem_arena_id(%s) = %d, was %d", kind_names[k],
          catmem_arena_id(h), builtin_id[k]);
    CHECK(catmem_arena_name(h) != NULL && strcmp(catmem_arena_name(h), kind_names[k]) == 0,
          "catmem_arena_name(%s) wrong", kind_names[k]);
}

static void op_get(void) {
    static const int kinds[] = {0, 1, 2, 3, 4, CATMEM_KIND_COUNT, -1, 1000};
    int k = kinds[u8() % 8], e, want;
    catmem_arena *h;
    want = (k < 0 || k >= CATMEM_KIND_COUNT) ? EINVAL : M.up ? 0 : ESHUTDOWN;
    errno = 0;
    h = catmem_arena_get((catmem_kind)k);
    e = errno;
    T("catmem_arena_get(%d) = %p (%s)\n", k, (void *)h, ename(e));
    if (want) expect_fail2(h, e, want, M.up ? 0 : ESHUTDOWN, "catmem_arena_get");
    else check_builtin(k, h);
}

/* find, name, id, owns. */
static void op_info(void) {
    catmem_arena *h = pick_arena();
    int ar = arena_of(h), e, i;
    catmem_arena *f;
    const char *name = catmem_arena_name(h);
    T("info(%s)\n", hdesc(h));
    if (ar < 0) {
        CHECK(name == NULL, "catmem_arena_name(%s) = \"%s\", expected NULL", hdesc(h), name);
        CHECK(catmem_arena_owns(h, NULL) == 0, "catmem_arena_owns(%s, NULL) != 0", hdesc(h));
        errno = 0;
        f = catmem_arena_find("u7-never");
        e = errno;
        expect_fail(f, e, M.up ? ENOENT : ESHUTDOWN, "catmem_arena_find(unknown name)");
        return;
    }
    CHECK(name != NULL && strcmp(name, M.ar[ar].name) == 0, "catmem_arena_name(%s) = \"%s\"",
          M.ar[ar].name, name ? name : "(null)");
    CHECK(catmem_arena_id(h) >= 0, "catmem_arena_id(%s) = %d", M.ar[ar].name, catmem_arena_id(h));
    errno = 0;
    f = catmem_arena_find(M.ar[ar].name);
    e = errno;
    if (M.up) CHECK(f == h, "catmem_arena_find(\"%s\") = %p, expected %p (%s)", M.ar[ar].name,
                    (void *)f, (void *)h, ename(e));
    else expect_fail(f, e, ESHUTDOWN, "catmem_arena_find after shutdown");
    /* owns: up to 8 blocks, of this arena and of others. */
    if (M.nb > 0) {
        int start = (int)u8();
        for (i = 0; i < M.nb && i < 8; i++) {
            const blk *b = &M.b[(start + i) % M.nb];
            if (b->kind != BLK_ARENA) continue;
            CHECK(catmem_arena_owns(h, b->p) == (b->ar == ar), "catmem_arena_owns(%s, %s) = %d",
                  M.ar[ar].name, bdesc(b), catmem_arena_owns(h, b->p));
        }
    }
}

/* ---- region operations ------------------------------------------------------------------------ */

static int pick_region(void) { return (int)(u8() % N_REGIONS); }

static void op_r_init(void) {
    int k = pick_region(), rc;
    catmem_arena *h = pick_arena();
    mregion *g = &M.rg[k];
    if (g->may_hold) region_release(k, "before init");
    CTL(rc, catmem_region_init(&g->r, h));
    T("catmem_region_init(region %d, %s) = %s\n", k, hdesc(h), ename(rc));
    CHECK(rc == (h == NULL ? EINVAL : 0), "catmem_region_init(region %d, %s) = %s", k, hdesc(h),
          ename(rc));
    region_forget_all(k);
    region_drop_cleanups(k); /* none were left (released above); init would forget them */
    g->h = h;
    g->may_hold = 0;
}

static void op_r_alloc(int how) { /* 0 alloc, 1 aligned, 2 calloc, 3 strdup */
    int k = pick_region(), e;
    mregion *g = &M.rg[k];
    size_t size, align = CATMEM_REGION_ALIGN, n = 1;
    char s[128];
    void *p;
    if (how == 1) align = (size_t)1 << (u8() % 13);
    if (how == 2) n = u8() % 33;
    size = how == 3 ? 0 : pick_size();
    if (n != 0 && n * size > MAX_SIZE) size = MAX_SIZE / n;
    if (how == 3) {
        size_t i;
        size = u8() % 100;
        for (i = 0; i < size; i++) {
            unsigned c = u8();
            s[i] = (char)(c ? c : 'y');
        }
        s[size] = '\0';
    }
    /* The region asks for at least what it hands out. */
    oom_expect(g->h, 0, 0, region_limited(g) && handle_err(g->h) == 0, 1);
    errno = 0;
    switch (how) {
    case 0: p = catmem_region_alloc(&g->r, size); break;
    case 1: p = catmem_region_alloc_aligned(&g->r, align, size); break;
    case 2: p = catmem_region_calloc(&g->r, n, size); break;
    default: p = catmem_region_strdup(&g->r, s); break;
    }
    e = errno;
    T("catmem_%s(region %d on %s, align %zu, %zu x %zu) = %p (%s)\n", M.opname, k,
      hdesc(g->h), align, n, size, p, ename(e));
    oom_check(M.opname);
    if (how == 3) {
        if (p != NULL)
            CHECK(memcmp(p, s, size + 1) == 0, "catmem_region_strdup = %p lost the string", p);
        size += 1;
    }
    region_result(k, p, e, n * size, how == 1 ? align : CATMEM_REGION_ALIGN, how == 2,
                  M.opname);
}

static void op_r_save(void) {
    int k = pick_region();
    mregion *g = &M.rg[k];
    catmem_region_mark m = catmem_region_save(&g->r);
    T("catmem_region_save(region %d) = {%p, %p, %p} seq %u\n", k, (void *)m.chunk, (void *)m.cur,
      (void *)m.large, (unsigned)g->seq);
    if (g->nmarks == N_MARKS) { /* the oldest stays valid; the model stops tracking it */
        memmove(&g->marks[0], &g->marks[1], sizeof g->marks[0] * (N_MARKS - 1));
        g->nmarks--;
    }
    g->marks[g->nmarks].m = m;
    g->marks[g->nmarks].seq = g->seq;
    g->marks[g->nmarks].cl = M.cl_seq;
    g->nmarks++;
}

static void op_r_restore(void) {
    int k = pick_region(), rc;
    mregion *g = &M.rg[k];
    unsigned s = u8() % 8, idx = u8();
    catmem_region_mark m;
    memset(&m, 0, sizeof m);
    if (s < 5 && g->nmarks > 0) { /* a live mark: must work */
        int i = (int)(idx % (unsigned)g->nmarks);
        batch_begin(BATCH_REGION); /* the cleanups registered after the mark run */
        M.batch.rg = k;
        M.batch.after = g->marks[i].cl;
        CTL(rc, catmem_region_restore(&g->r, g->marks[i].m));
        batch_end(rc, "catmem_region_restore(live mark)");
        T("catmem_region_restore(region %d, live mark %d, seq %u) = %s\n", k, i,
          (unsigned)g->marks[i].seq, ename(rc));
        CHECK(rc == 0, "catmem_region_restore(region %d, live mark %d) = %s", k, i, ename(rc));
        forget_region(k, g->marks[i].seq);
        g->nmarks = i + 1;
        verify_all("after catmem_region_restore (blocks older than the mark)");
        return;
    }
    if (s == 5 && g->ndead > 0) m = g->dead[idx % (unsigned)g->ndead];
    else if (s == 6) { /* another region's mark */
        mregion *o = &M.rg[(k + 1 + (int)(idx % (N_REGIONS - 1))) % N_REGIONS];
        if (o->nmarks > 0) m = o->marks[o->nmarks - 1].m;
        else if (o->ndead > 0) m = o->dead[0];
    } else if (s == 7) { /* the NULL region */
        CTL(rc, catmem_region_restore(NULL, m));
        T("catmem_region_restore(NULL) = %s\n", ename(rc));
        CHECK(rc == EINVAL, "catmem_region_restore(NULL) = %s", ename(rc));
        return;
    }
    /* A dead, foreign or empty mark: refused with EINVAL when catmem can tell, else taken
       (which cleanups run then is not the model's to say, but still newest first, once). */
    batch_begin(BATCH_REGION);
    M.batch.rg = k;
    M.batch.any = 1;
    CTL(rc, catmem_region_restore(&g->r, m));
    batch_end(rc, "catmem_region_restore(unknown mark)");
    T("catmem_region_restore(region %d, other mark {%p, %p, %p}) = %s\n", k, (void *)m.chunk,
      (void *)m.cur, (void *)m.large, ename(rc));
    CHECK(rc == 0 || rc == EINVAL, "catmem_region_restore(region %d, dead/foreign mark) = %s", k,
          ename(rc));
    if (rc == 0) region_forget_all(k);
    verify_all(rc == 0 ? "after an accepted restore to an unknown mark"
                       : "after a refused restore");
}

static void op_r_reset(void) {
    int k = pick_region(), rc;
    mregion *g = &M.rg[k];
    batch_begin(BATCH_REGION);
    M.batch.rg = k;
    CTL(rc, catmem_region_reset(&g->r));
    batch_end(rc, "catmem_region_reset");
    T("catmem_region_reset(region %d on %s) = %s\n", k, hdesc(g->h), ename(rc));
    if (g->h != NULL) CHECK(rc == 0, "catmem_region_reset(region %d) = %s", k, ename(rc));
    else CHECK(rc == 0 || rc == EINVAL, "catmem_region_reset(uninitialised) = %s", ename(rc));
    region_forget_all(k);
    if (g->h != NULL) g->may_hold = 1;
    verify_all("after another region's reset");
}

static void op_r_release(void) {
    int k = pick_region();
    region_release(k, "asked");
    verify_all("after another region's release");
}

/* ---- lifetime --------------------------------------------------------------------------------- */

static void op_shutdown(void) {
    catmem_shutdown();
    if (u8() & 1) catmem_shutdown(); /* idempotent */
    T("catmem_shutdown()\n");
    M.up = 0;
    CHECK(catmem_is_initialized() == 0, "catmem_is_initialized() after shutdown");
}

static void do_init(void) {
    int rc, k;
    CTL(rc, catmem_init());
    T("catmem_init() = %s\n", ename(rc));
    CHECK(rc == 0, "catmem_init() = %s", ename(rc));
    M.up = 1;
    CHECK(catmem_is_initialized() == 1, "catmem_is_initialized() after init");
    for (k = 0; k < CATMEM_KIND_COUNT; k++) check_builtin(k, catmem_arena_get((catmem_kind)k));
}

static void op_init(void) {
    do_init();
    if (u8() & 1) do_init(); /* idempotent */
}

/* ---- probes: invalid input must be reported, never crash --------------------------------------- */

static void probe(void) {
    unsigned what = u8() % 14;
    catmem_arena *h = pick_arena();
    int he = handle_err(h), e, rc;
    size_t size;
    void *p;
    catmem_stats st;
    switch (what) {
    case 0: { /* bad alignment */
        static const size_t bad[] = {0, 3, 6, 24, 48, 1000, (size_t)1 << 31, (size_t)1 << 40,
                                     (size_t)1 << 63, SIZE_MAX, ((size_t)1 << 30) + 1};
        size_t align = bad[u8() % (sizeof bad / sizeof bad[0])];
        size = pick_size();
        errno = 0;
        p = catmem_aligned_alloc(h, align, size);
        e = errno;
        T("catmem_aligned_alloc(%s, %zu, %zu) = %p (%s)\n", hdesc(h), align, size, p, ename(e));
        expect_fail2(p, e, EINVAL, he, "catmem_aligned_alloc(bad alignment)");
        break;
    }
    case 1: { /* calloc overflow */
        static const size_t ns[][2] = {{SIZE_MAX, 2},
                                       {(SIZE_MAX >> 1) + 2, 2},
                                       {(size_t)1 << 32, (size_t)1 << 32},
                                       {SIZE_MAX, SIZE_MAX},
                                       {(size_t)PTRDIFF_MAX, 3},
                                       {2, (size_t)PTRDIFF_MAX},
                                       {(size_t)1 << 24, (size_t)1 << 40},
                                       {1, SIZE_MAX}};
        unsigned j = u8() % 8;
        errno = 0;
        p = catmem_calloc(h, ns[j][0], ns[j][1]);
        e = errno;
        T("catmem_calloc(%s, %zu, %zu) = %p (%s)\n", hdesc(h), ns[j][0], ns[j][1], p, ename(e));
        expect_fail2(p, e, ENOMEM, he, "catmem_calloc(overflowing)");
        break;
    }
    case 2: /* huge size */
        size = pick_huge();
        oom_expect(h, size, 1, oom_due(he, size), 0);
        errno = 0;
        p = catmem_alloc(h, size);
        e = errno;
        oom_check("catmem_alloc(huge)");
        T("catmem_alloc(%s, %zu) = %p (%s)\n", hdesc(h), size, p, ename(e));
        expect_fail2(p, e, ENOMEM, he, "catmem_alloc(huge)");
        break;
    case 3: { /* huge size, good alignment (the largest one included) */
        size_t align = (size_t)1 << (u8() % 31);
        size = pick_huge();
        oom_expect(h, size, 1, oom_due(he, size), 0);
        errno = 0;
        p = catmem_aligned_alloc(h, align, size);
        e = errno;
        oom_check("catmem_aligned_alloc(huge)");
        T("catmem_aligned_alloc(%s, %zu, %zu) = %p (%s)\n", hdesc(h), align, size, p, ename(e));
        expect_fail2(p, e, ENOMEM, he, "catmem_aligned_alloc(huge)");
        break;
    }
    case 4: /* strdup(NULL) */
        errno = 0;
        p = catmem_strdup(h, NULL);
        e = errno;
        T("catmem_strdup(%s, NULL) = %p (%s)\n", hdesc(h), p, ename(e));
        expect_fail2(p, e, EINVAL, he, "catmem_strdup(NULL string)");
        break;
    case 5: { /* bad names; NULL makes an anonymous arena, given back at once */
        static const char *const names[] = {NULL, "",
                                            "0123456789abcdef0123456789abcdef",
                                            "0123456789abcdef0123456789abcdef0123456789"};
        static const int want[] = {EINVAL, EINVAL, ENAMETOOLONG, ENAMETOOLONG};
        unsigned j = u8() % 4;
        if (j == 0) {
            errno = 0;
            p = catmem_arena_create(NULL);
            e = errno;
            T("catmem_arena_create(NULL) = %p (%s)\n", p, ename(e));
            if (!M.up) {
                expect_fail(p, e, ESHUTDOWN, "catmem_arena_create(NULL) after shutdown");
            } else if (p != NULL) {
                CHECK(arena_of((catmem_arena *)p) < 0 &&
                          strcmp(catmem_arena_name((catmem_arena *)p), "") == 0,
                      "catmem_arena_create(NULL) = %s, named \"%s\"", hdesc((catmem_arena *)p),
                      catmem_arena_name((catmem_arena *)p));
                CTL(rc, catmem_arena_release((catmem_arena *)p));
                CHECK(rc == 0, "catmem_arena_release(anonymous) = %s", ename(rc));
                note_released((catmem_arena *)p);
            } else {
                CHECK(0, "catmem_arena_create(NULL) failed: %s", ename(e)); /* no cap to reach */
            }
        } else {
            errno = 0;
            p = catmem_arena_create(names[j]);
            e = errno;
            T("catmem_arena_create(bad name %u) = %p (%s)\n", j, p, ename(e));
            expect_fail2(p, e, want[j], M.up ? 0 : ESHUTDOWN, "catmem_arena_create(bad name)");
        }
        errno = 0;
        p = catmem_arena_find(names[j]);
        e = errno;
        expect_fail2(p, e, want[j], M.up ? 0 : ESHUTDOWN, "catmem_arena_find(bad name)");
        break;
    }
    case 6: /* release of a built-in arena; NULL handles to control functions */
        CTL(rc, catmem_arena_release(builtin[u8() % CATMEM_KIND_COUNT]));
        T("catmem_arena_release(built-in) = %s\n", ename(rc));
        CHECK(rc == EINVAL || (!M.up && rc == ESHUTDOWN), "catmem_arena_release(built-in) = %s",
              ename(rc));
        CTL(rc, catmem_arena_release(NULL));
        CHECK(rc == EINVAL, "catmem_arena_release(NULL) = %s", ename(rc));
        CTL(rc, catmem_arena_reset(NULL));
        CHECK(rc == EINVAL, "catmem_arena_reset(NULL) = %s", ename(rc));
        CTL(rc, catmem_arena_purge(NULL));
        CHECK(rc == EINVAL, "catmem_arena_purge(NULL) = %s", ename(rc));
        CTL(rc, catmem_arena_stats(NULL, &st));
        CHECK(rc == EINVAL, "catmem_arena_stats(NULL) = %s", ename(rc));
        CTL(rc, catmem_total_stats(NULL));
        CHECK(rc == EINVAL || (!M.up && rc == ESHUTDOWN), "catmem_total_stats(NULL) = %s",
              ename(rc));
        CTL(rc, catmem_all_arenas_stats(NULL));
        CHECK(rc == EINVAL, "catmem_all_arenas_stats(NULL) = %s", ename(rc));
        CTL(rc, catmem_arena_set_decay(NULL, 0, 0));
        CHECK(rc == EINVAL, "catmem_arena_set_decay(NULL) = %s", ename(rc));
        CHECK(catmem_arena_name(NULL) == NULL && catmem_arena_id(NULL) == -1,
              "catmem_arena_name/_id(NULL)");
        break;
    case 7: { /* a released handle through every call */
        catmem_arena *r = released_handle();
        int want = EINVAL; /* not a handle any more, whatever catmem's state */
        T("released handle %s\n", hdesc(r));
        errno = 0;
        p = catmem_alloc(r, 16);
        expect_fail(p, errno, want, "catmem_alloc(released)");
        expect_allocs_fail(r, want, "on a released handle");
        CTL(rc, catmem_arena_reset(r));
        CHECK(rc == want, "catmem_arena_reset(released) = %s", ename(rc));
        CTL(rc, catmem_arena_purge(r));
        CHECK(rc == want, "catmem_arena_purge(released) = %s", ename(rc));
        CTL(rc, catmem_arena_stats(r, &st));
        CHECK(rc == want, "catmem_arena_stats(released) = %s", ename(rc));
        CTL(rc, catmem_arena_release(r));
        CHECK(rc == want, "catmem_arena_release(released) = %s", ename(rc));
        CTL(rc, catmem_arena_set_decay(r, 0, 0));
        CHECK(rc == want, "catmem_arena_set_decay(released) = %s", ename(rc));
        CHECK(catmem_arena_name(r) == NULL, "catmem_arena_name(released) is not NULL");
        CHECK(r == NULL || catmem_arena_id(r) == -1, "catmem_arena_id(released) = %d",
              catmem_arena_id(r));
        break;
    }
    case 8: { /* the NULL region, and a region never initialised (all zero) */
        catmem_region z;
        catmem_region_mark m = catmem_region_save(NULL);
        catmem_region *r = (u8() & 1) ? NULL : &z;
        memset(&z, 0, sizeof z);
        CHECK(m.chunk == NULL && m.cur == NULL && m.large == NULL, "catmem_region_save(NULL)");
        errno = 0;
        p = catmem_region_alloc(r, 16);
        expect_fail(p, errno, EINVAL, "catmem_region_alloc(NULL or uninitialised)");
        errno = 0;
        p = catmem_region_alloc_aligned(r, 64, 16);
        expect_fail(p, errno, EINVAL, "catmem_region_alloc_aligned(NULL or uninitialised)");
        errno = 0;
        p = catmem_region_calloc(r, 4, 4);
        expect_fail(p, errno, EINVAL, "catmem_region_calloc(NULL or uninitialised)");
        errno = 0;
        p = catmem_region_strdup(r, "x");
        expect_fail(p, errno, EINVAL, "catmem_region_strdup(NULL or uninitialised)");
        if (r == NULL) {
            CTL(rc, catmem_region_reset(NULL));
            CHECK(rc == EINVAL, "catmem_region_reset(NULL) = %s", ename(rc));
            CTL(rc, catmem_region_release(NULL));
            CHECK(rc == EINVAL, "catmem_region_release(NULL) = %s", ename(rc));
            CTL(rc, catmem_region_init(NULL, h));
            CHECK(rc == EINVAL, "catmem_region_init(NULL) = %s", ename(rc));
        }
        T("region NULL/uninitialised probes\n");
        break;
    }
    case 9: { /* a model region: bad alignment, huge sizes, overflowing calloc, NULL string */
        int k = pick_region();
        mregion *g = &M.rg[k];
        static const size_t bad[] = {0, 3, 24, (size_t)1 << 31, SIZE_MAX};
        size_t align = bad[u8() % 5];
        errno = 0;
        p = catmem_region_alloc_aligned(&g->r, align, 16);
        e = errno;
        T("catmem_region_alloc_aligned(region %d, %zu, 16) = %p (%s)\n", k, align, p, ename(e));
        expect_fail2(p, e, EINVAL, g->h ? handle_err(g->h) : 0,
                     "catmem_region_alloc_aligned(bad alignment)");
        errno = 0;
        p = catmem_region_strdup(&g->r, NULL);
        e = errno;
        expect_fail2(p, e, EINVAL, g->h ? handle_err(g->h) : 0,
                     "catmem_region_strdup(NULL string)");
        size = pick_huge();
        oom_expect_region(g, size);
        errno = 0;
        p = (u8() & 1) ? catmem_region_alloc(&g->r, size)
                       : catmem_region_alloc_aligned(&g->r, (size_t)1 << (u8() % 31), size);
        e = errno;
        oom_check("catmem_region_alloc(huge)");
        T("catmem_region_alloc(region %d on %s, %zu) = %p (%s)\n", k, hdesc(g->h), size, p,
          ename(e));
        /* Too big, and maybe uninitialised or on an arena that cannot serve. */
        expect_fail2(p, e, ENOMEM, g->h == NULL ? EINVAL : handle_err(g->h),
                     "catmem_region_alloc(huge)");
        errno = 0;
        p = catmem_region_calloc(&g->r, (size_t)1 << 33, (size_t)1 << 33);
        e = errno;
        expect_fail2(p, e, ENOMEM, g->h == NULL ? EINVAL : handle_err(g->h),
                     "catmem_region_calloc(overflowing)");
        if (g->h != NULL) g->may_hold = 1;
        break;
    }
    case 10: { /* huge realloc of a live block: fails, block intact */
        int i = pick_block();
        blk *b;
        if (i < 0) break;
        b = &M.b[i];
        size = pick_huge();
        he = handle_err(M.ar[b->ar].h);
        oom_expect(M.ar[b->ar].h, size, 1, oom_due(he, size), 0);
        errno = 0;
        p = catmem_realloc(M.ar[b->ar].h, b->p, size);
        e = errno;
        oom_check("catmem_realloc(huge)");
        T("catmem_realloc(%s, #%u, %zu) = %p (%s)\n", M.ar[b->ar].name, (unsigned)b->id, size, p,
          ename(e));
        expect_fail2(p, e, ENOMEM, he, "catmem_realloc(huge)");
        verify(b, b->size, "after a failed huge catmem_realloc");
        break;
    }
    case 11: /* prof without MALLOC_CONF=prof:true */
        CTL(rc, catmem_prof_active(u8() & 1));
        T("catmem_prof_active = %s\n", ename(rc));
        CHECK(M.up ? (rc == ENOTSUP || rc == 0) : rc == ESHUTDOWN, "catmem_prof_active = %s",
              ename(rc));
        break;
    case 12: /* catmem_free(NULL handle / any handle, NULL) does nothing */
        catmem_free(h, NULL);
        catmem_free_sized(h, NULL, 16);
        catmem_free(NULL, NULL);
        T("catmem_free(%s, NULL)\n", hdesc(h));
        break;
    default: { /* the largest alignment is accepted (with a size that cannot be had) */
        size = (size_t)1 << 48;
        oom_expect(h, size, 1, oom_due(he, size), 0);
        errno = 0;
        p = catmem_aligned_alloc(h, CATMEM_ALIGN_MAX, size);
        e = errno;
        oom_check("catmem_aligned_alloc(CATMEM_ALIGN_MAX, 2^48)");
        T("catmem_aligned_alloc(%s, CATMEM_ALIGN_MAX, 2^48) = %p (%s)\n", hdesc(h), p, ename(e));
        expect_fail2(p, e, ENOMEM, he, "catmem_aligned_alloc(CATMEM_ALIGN_MAX, 2^48)");
        break;
    }
    }
}

static void op_decay(void) {
    static const long v[] = {-2, -1, 0, 1, 1000, 10000};
    catmem_arena *h = pick_arena();
    long d = v[u8() % 6], m = v[u8() % 6];
    int rc, want = handle_err(h), bad = (d < -1 || m < -1) ? EINVAL : 0;
    /* No decay of its own: a small arena (either backend), and every arena on the system backend
       with its engine off (every block a malloc of its own: nothing kept to decay). */
    catmemi_slot *s = catmemi_slot_of(h);
    if (want == 0 && bad)
        want = bad;
    else if (want == 0 && ((exact_sys && !CATMEMI_SYS_ENGINE) || (s != NULL && s->small)))
        want = ENOTSUP;
    CTL(rc, catmem_arena_set_decay(h, d, m));
    T("catmem_arena_set_decay(%s, %ld, %ld) = %s\n", hdesc(h), d, m, ename(rc));
    CHECK(rc == want || (bad && rc == bad), "catmem_arena_set_decay(%s, %ld, %ld) = %s, expected %s",
          hdesc(h), d, m, ename(rc), ename(want));
}

/* Many arenas at once (catmem has no cap of its own): every create succeeds with a handle
   that names no other arena, live or released, and they all go again. */
static void op_exhaust(void) {
    catmem_arena *made[N_MANY];
    int n = 0, i, e = 0, rc;
    char name[16];
    catmem_arena *h = NULL;
    for (; n < N_MANY; n++) {
        snprintf(name, sizeof name, "x%d", n);
        errno = 0;
        h = catmem_arena_create(name);
        e = errno;
        if (h == NULL) break;
        made[n] = h;
    }
    T("exhaust: %d arenas created, then %s\n", n, ename(e));
    if (!M.up) {
        expect_fail(h, e, ESHUTDOWN, "catmem_arena_create after shutdown");
        return;
    }
    CHECK(n == N_MANY, "only %d of %d arenas created (%s)", n, N_MANY, ename(e));
    for (i = 0; i < M.nreleased; i++) /* their slots may be in use again: not their handles */
        CHECK(catmem_arena_id(M.released[i]) == -1, "a released handle has the id %d again",
              catmem_arena_id(M.released[i]));
    for (i = 0; i < n; i++) {
        CHECK(arena_of(made[i]) < 0, "exhaust: a new arena has a live handle");
        CTL(rc, catmem_arena_release(made[i]));
        CHECK(rc == 0, "catmem_arena_release(x%d) = %s", i, ename(rc));
        note_released(made[i]);
    }
}

/* ---- lifetimes: cleanups, child arenas, the out-of-memory handler, the report ----------------- */

static void op_on_reset(void) {
    catmem_arena *h = pick_arena();
    unsigned mode = u8(), acts = u8();
    int ar = arena_of(h), he = handle_err(h), nofn = (mode & 7) == 7, k = free_cleanup(), rc;
    acts |= ((mode >> 3) & 7) << 8; /* ACT_REGIONS and up */
    if (!nofn && k < 0) {
        T("catmem_arena_on_reset: the model keeps no more cleanups\n");
        return;
    }
    CTL(rc, catmem_arena_on_reset(h, nofn ? NULL : on_cleanup, nofn ? NULL : &M.cl[k]));
    T("catmem_arena_on_reset(%s, %s, acts 0x%03x) = %s\n", hdesc(h), nofn ? "NULL" : "fn", acts,
      ename(rc));
    if (nofn) { /* with a bad handle too, either cause may be reported */
        CHECK(rc == EINVAL || (he != 0 && rc == he), "catmem_arena_on_reset(%s, NULL) = %s",
              hdesc(h), ename(rc));
        return;
    }
    CHECK(rc == he, "catmem_arena_on_reset(%s) = %s, expected %s", hdesc(h), ename(rc),
          ename(he));
    if (rc != 0) return;
    add_cleanup(k, CL_ARENA, ar, acts);
    M.touched[ar] = 1; /* a built-in arena is then reset at the end, which runs it */
}

static void op_r_on_reset(void) {
    int k = pick_region(), i = free_cleanup(), rc, he, want;
    unsigned mode = u8() % 8, acts = u8();
    mregion *g = &M.rg[k];
    if (mode == 7) { /* NULL region, NULL function */
        CTL(rc, catmem_region_on_reset(NULL, on_cleanup, &M.cl[0]));
        CHECK(rc == EINVAL, "catmem_region_on_reset(NULL) = %s", ename(rc));
        CTL(rc, catmem_region_on_reset(&g->r, NULL, NULL));
        CHECK(rc == EINVAL, "catmem_region_on_reset(region %d, NULL) = %s", k, ename(rc));
        T("catmem_region_on_reset(NULL region / NULL fn) = EINVAL\n");
        return;
    }
    if (i < 0) {
        T("catmem_region_on_reset: the model keeps no more cleanups\n");
        return;
    }
    he = g->h == NULL ? EINVAL : handle_err(g->h);
    oom_expect(g->h, 0, 0, he == 0 && region_limited(g), 1); /* the record may need a chunk */
    CTL(rc, catmem_region_on_reset(&g->r, on_cleanup, &M.cl[i]));
    oom_check("catmem_region_on_reset");
    T("catmem_region_on_reset(region %d on %s, acts 0x%02x) = %s\n", k, hdesc(g->h), acts,
      ename(rc));
    /* The record is a region allocation: after shutdown the chunk in hand may still serve it
       (region_result). */
    want = he;
    if (he == ESHUTDOWN && rc == 0 && arena_of(g->h) >= 0) want = 0;
    if (he == 0 && rc == ENOMEM && region_limited(g)) want = ENOMEM; /* past the limit */
    CHECK(rc == want, "catmem_region_on_reset(region %d on %s) = %s, expected %s", k,
          hdesc(g->h), ename(rc), ename(want));
    if (rc != 0) return;
    g->may_hold = 1; /* the record took room in a chunk */
    add_cleanup(i, CL_REGION, k, acts);
    if (arena_of(g->h) >= 0) M.touched[arena_of(g->h)] = 1;
}

static void op_child(void) {
    catmem_arena *ph = pick_arena(), *h;
    unsigned s = u8() % 12;
    char name[80];
    int par = arena_of(ph), e, slot = -1, i, rc, nerr = 0, ok = 0;
    int errs[4];
    if (s < 8) snprintf(name, sizeof name, "c%u", s);
    else if (s == 8) { /* the name of a live arena (a built-in one when the slot is free) */
        i = (int)(u8() % N_ARENAS);
        snprintf(name, sizeof name, "%s", M.ar[i].live ? M.ar[i].name : kind_names[i % 5]);
    } else if (s == 9) memset(name, 'n', CATMEM_NAME_MAX), name[CATMEM_NAME_MAX] = '\0';
    else if (s == 10) memset(name, 'l', CATMEM_NAME_MAX + 1), name[CATMEM_NAME_MAX + 1] = '\0';
    else name[0] = '\0';
    /* Every documented cause that applies; the manual does not rank them. */
    if (ph == NULL || par < 0) errs[nerr++] = EINVAL; /* NULL or released parent */
    if (name[0] == '\0') errs[nerr++] = EINVAL;
    else if (strlen(name) > CATMEM_NAME_MAX) errs[nerr++] = ENAMETOOLONG;
    if (!M.up) errs[nerr++] = ESHUTDOWN;
    if (nerr == 0 && name_live(name)) errs[nerr++] = EEXIST;
    errno = 0;
    h = catmem_arena_create_child(ph, name);
    e = errno;
    T("catmem_arena_create_child(%s, \"%s\") = %p (%s)\n", hdesc(ph), name, (void *)h, ename(e));
    if (nerr) {
        for (i = 0; i < nerr; i++) ok |= e == errs[i];
        CHECK(h == NULL && ok, "catmem_arena_create_child(%s, \"%s\") = %p with errno %s, "
              "expected NULL with %s%s%s", hdesc(ph), name, (void *)h, ename(e), ename(errs[0]),
              nerr > 1 ? " or " : "", nerr > 1 ? ename(errs[1]) : "");
        return;
    }
    CHECK(h != NULL, "catmem_arena_create_child(%s, \"%s\") failed: %s", hdesc(ph), name,
          ename(e));
    CHECK(arena_of(h) < 0, "catmem_arena_create_child(\"%s\") returned the live handle of %s",
          name, hdesc(h));
    CHECK(catmem_arena_name(h) != NULL && strcmp(catmem_arena_name(h), name) == 0,
          "catmem_arena_name of new child \"%s\" is wrong", name);
    CHECK(catmem_arena_find(name) == h, "catmem_arena_find(\"%s\") is not the new child", name);
    CHECK(catmem_arena_parent(h) == ph, "catmem_arena_parent(new child \"%s\") = %p, not %s",
          name, (void *)catmem_arena_parent(h), hdesc(ph));
    for (i = CATMEM_KIND_COUNT; i < N_ARENAS && slot < 0; i++)
        if (!M.ar[i].live) slot = i;
    if (slot < 0) { /* the model has no room: give it back */
        CTL(rc, catmem_arena_release(h));
        CHECK(rc == 0, "catmem_arena_release(new child \"%s\") = %s", name, ename(rc));
        note_released(h);
        CHECK(catmem_arena_name(ph) != NULL, "releasing a child released its parent %s",
              hdesc(ph));
        return;
    }
    M.ar[slot].h = h;
    M.ar[slot].live = 1;
    M.ar[slot].parent = par + 1;
    snprintf(M.ar[slot].name, sizeof M.ar[slot].name, "%s", name);
    arena_fresh(slot, 0);
    stats_of(slot); /* a new arena (maybe a reused slot) starts empty */
}

static void op_parent(void) {
    catmem_arena *h = pick_arena(), *p, *want = NULL;
    int ar = arena_of(h), e;
    errno = 0;
    p = catmem_arena_parent(h);
    e = errno;
    T("catmem_arena_parent(%s) = %s (%s)\n", hdesc(h), p ? hdesc(p) : "NULL", ename(e));
    if (h == NULL) {
        expect_fail(p, e, EINVAL, "catmem_arena_parent(NULL)");
        return;
    }
    if (ar < 0) {
        CHECK(p == NULL, "catmem_arena_parent(released) = %p", (void *)p);
        return;
    }
    if (M.ar[ar].parent) want = M.ar[parent_of(ar)].h;
    /* After shutdown the manual lets it work (like catmem_arena_name) or say ESHUTDOWN. */
    CHECK(p == want || (!M.up && p == NULL && e == ESHUTDOWN),
          "catmem_arena_parent(%s) = %s, expected %s", M.ar[ar].name, p ? hdesc(p) : "NULL",
          want ? hdesc(want) : "NULL (top level)");
}

static void op_oom(void) {
    unsigned what = u8() % 8;
    catmem_arena *h;
    int he, e, i;
    void *p = NULL;
    size_t size = UNSERVABLE;
    const char *fn = "";
    switch (what) {
    case 0: { /* install */
        unsigned f = u8();
        M.oom.on = 1;
        M.oom.retry = f & 1;
        M.oom.nested = (f >> 1) & 1;
        catmem_set_oom_handler(on_oom, &M.oom);
        T("catmem_set_oom_handler(on_oom: returns %d, allocates inside: %d)\n", M.oom.retry,
          M.oom.nested);
        return;
    }
    case 1:
        M.oom.on = 0;
        catmem_set_oom_handler(NULL, NULL);
        T("catmem_set_oom_handler(NULL)\n");
        return;
    case 6: { /* a region: the chunk it asks its arena for cannot be had */
        int k = pick_region();
        mregion *g = &M.rg[k];
        he = g->h == NULL ? EINVAL : handle_err(g->h);
        size = UNSERVABLE_REGION;
        oom_expect(g->h, size, 0, he == 0, 0);
        errno = 0;
        p = catmem_region_alloc(&g->r, size);
        e = errno;
        T("catmem_region_alloc(region %d on %s, %zu) = %p (%s)\n", k, hdesc(g->h), size, p,
          ename(e));
        oom_check("catmem_region_alloc(unservable)");
        expect_fail(p, e, he ? he : ENOMEM, "catmem_region_alloc(unservable)");
        return;
    }
    case 5: { /* realloc of a live block: fails, block intact */
        blk *b;
        i = pick_block();
        if (i < 0) return;
        b = &M.b[i];
        h = M.ar[b->ar].h;
        he = handle_err(h);
        oom_expect(h, size, 1, he == 0, 0);
        errno = 0;
        p = catmem_realloc(h, b->p, size);
        e = errno;
        T("catmem_realloc(%s, #%u, %zu) = %p (%s)\n", hdesc(h), (unsigned)b->id, size, p,
          ename(e));
        oom_check("catmem_realloc(unservable)");
        expect_fail(p, e, he ? he : ENOMEM, "catmem_realloc(unservable)");
        verify(b, b->size, "after a failed catmem_realloc(unservable)");
        return;
    }
    default:
        break;
    }
    h = pick_arena();
    he = handle_err(h);
    if (what == 7) size = CATMEM_SIZE_MAX + 1 + u8(); /* above the limit: never the handler */
    oom_expect(h, size, 1, what != 7 && he == 0, 0);
    errno = 0;
    switch (what) {
    case 2: fn = "catmem_alloc"; p = catmem_alloc(h, size); break;
    case 3: fn = "catmem_calloc"; p = catmem_calloc(h, 1, size); break;
    case 4: fn = "catmem_aligned_alloc"; p = catmem_aligned_alloc(h, (size_t)1 << (u8() % 13), size); break;
    default: fn = "catmem_alloc(above CATMEM_SIZE_MAX)"; p = catmem_alloc(h, size); break;
    }
    e = errno;
    T("%s(%s, %zu) = %p (%s)\n", fn, hdesc(h), size, p, ename(e));
    oom_check(fn);
    expect_fail2(p, e, ENOMEM, he, fn);
    if (what != 7) expect_fail(p, e, he ? he : ENOMEM, fn);
}

/* The JSON object of arena name in a report: its text from the "name" key to the next '}'
   (nothing inside an arena's object nests). NULL when it is not there. */
static const char *json_arena(const char *js, const char *name, const char **end) {
    size_t len = strlen(name);
    const char *q, *r;
    for (q = js; (q = strstr(q, "\"name\"")) != NULL; q += 6) {
        r = q + 6;
        while (*r == ' ') r++;
        if (*r++ != ':') continue;
        while (*r == ' ') r++;
        if (*r == '"' && strncmp(r + 1, name, len) == 0 && r[1 + len] == '"') {
            *end = strchr(r, '}');
            return *end ? q : NULL;
        }
    }
    return NULL;
}

/* The value of key in js[.. end), after the colon; NULL when it is not there. */
static const char *json_value(const char *js, const char *end, const char *key) {
    char k[32];
    const char *q;
    snprintf(k, sizeof k, "\"%s\"", key);
    q = strstr(js, k);
    if (q == NULL || q >= end) return NULL;
    q += strlen(k);
    while (*q == ' ') q++;
    if (*q++ != ':') return NULL;
    while (*q == ' ') q++;
    return q;
}

static void check_report_json(const char *js) {
    int i, depth = 0, instr = 0, nobj = 0, nlive = 0;
    const char *q;
    /* One JSON object: braces and brackets balance outside strings. */
    for (q = js; *q == ' ' || *q == '\n'; q++) {}
    CHECK(*q == '{', "catmem_report(JSON) does not start with an object: \"%.40s\"", js);
    for (; *q; q++) {
        if (instr) {
            if (*q == '\\' && q[1]) q++;
            else if (*q == '"') instr = 0;
        } else if (*q == '"') instr = 1;
        else if (*q == '{' || *q == '[') depth++;
        else if (*q == '}' || *q == ']') {
            depth--;
            CHECK(depth >= 0 || q[1] == '\0', "catmem_report(JSON): unbalanced at \"%.40s\"", q);
        }
    }
    CHECK(depth == 0 && !instr, "catmem_report(JSON): not one complete object");
    for (q = js; (q = strstr(q, "\"name\"")) != NULL; q += 6) nobj++;
    for (i = 0; i < N_ARENAS; i++) {
        const char *end, *o, *v;
        char want[CATMEM_NAME_MAX + 4];
        unsigned long n;
        if (!M.ar[i].live) continue;
        nlive++;
        o = json_arena(js, M.ar[i].name, &end);
        CHECK(o != NULL, "catmem_report(JSON) does not list live arena \"%s\"", M.ar[i].name);
        v = json_value(o, end, "parent");
        if (M.ar[i].parent) snprintf(want, sizeof want, "\"%s\"", M.ar[parent_of(i)].name);
        else snprintf(want, sizeof want, "null");
        CHECK(v != NULL && strncmp(v, want, strlen(want)) == 0,
              "catmem_report(JSON): arena \"%s\" has parent %.20s, expected %s", M.ar[i].name,
              v ? v : "(none)", want);
        v = json_value(o, end, "cleanups");
        n = v ? strtoul(v, NULL, 10) : ~0ul;
        CHECK(n == pending_cleanups(CL_ARENA, i),
              "catmem_report(JSON): arena \"%s\" has %lu cleanups pending, expected %u",
              M.ar[i].name, n, pending_cleanups(CL_ARENA, i));
        v = json_value(o, end, "id");
        CHECK(v != NULL && strtol(v, NULL, 10) == catmem_arena_id(M.ar[i].h),
              "catmem_report(JSON): arena \"%s\" has id %.12s, catmem_arena_id says %d",
              M.ar[i].name, v ? v : "(none)", catmem_arena_id(M.ar[i].h));
        /* The statistics are the arena's own, as catmem_arena_stats gives them: exact where
           the model knows them (check_arena_stats). */
        if ((exact_sys || exact_je) && !region_holds(M.ar[i].h)) {
            size_t sum = 0;
            int b;
            for (b = 0; b < M.nb; b++)
                if (M.b[b].kind == BLK_ARENA && M.b[b].ar == i) sum += usable(&M.b[b]);
            v = json_value(o, end, "allocated");
            CHECK(v != NULL && strtoull(v, NULL, 10) == sum,
                  "catmem_report(JSON): arena \"%s\" has allocated %.20s, its blocks %zu",
                  M.ar[i].name, v ? v : "(none)", sum);
        }
        {
            const char *va = json_value(o, end, "allocated"), *vp = json_value(o, end, "peak");
            v = json_value(o, end, "limit");
            CHECK(v != NULL && strtoull(v, NULL, 10) == M.ar[i].limit,
                  "catmem_report(JSON): arena \"%s\" has limit %.20s, the limit set is %zu",
                  M.ar[i].name, v ? v : "(none)", M.ar[i].limit);
            CHECK(va != NULL && vp != NULL && strtoull(vp, NULL, 10) >= strtoull(va, NULL, 10) &&
                      strtoull(vp, NULL, 10) >= M.ar[i].pk_lo,
                  "catmem_report(JSON): arena \"%s\" has peak %.20s, allocated %.20s, the "
                  "model's least peak %zu", M.ar[i].name, vp ? vp : "(none)",
                  va ? va : "(none)", M.ar[i].pk_lo);
        }
    }
    CHECK(nobj == nlive, "catmem_report(JSON) lists %d arenas, the model has %d live", nobj,
          nlive);
}

/* The OpenMetrics report: whole (it ends with "# EOF"), with series of every live arena, found
   by their id label (tests/openmetrics_test.c checks the values with a real parser). */
static void check_report_openmetrics(const char *om, size_t len) {
    char want[32];
    int i;
    CHECK(len >= 6 && strcmp(om + len - 6, "# EOF\n") == 0,
          "catmem_report(OpenMetrics) does not end with # EOF");
    for (i = 0; i < N_ARENAS; i++) {
        if (!M.ar[i].live) continue;
        snprintf(want, sizeof want, ",id=\"%d\",", catmem_arena_id(M.ar[i].h));
        CHECK(strstr(om, want) != NULL, "catmem_report(OpenMetrics) has no series of arena \"%s\"",
              M.ar[i].name);
    }
}

static void op_report(void) {
    /* 0 to 2 are the formats, CATMEM_REPORT_ALL (0x100) the one bit besides */
    static const int bad_flags[] = {3, -1, 4, 0x200};
    static const char *const format_names[] = {"text", "JSON", "OpenMetrics"};
    unsigned mode = u8() % 8;
    char *buf = NULL, small[16];
    size_t len = 0;
    int rc, flags, i;
    FILE *f;
    if (mode == 0) {
        CTL(rc, catmem_report(NULL, (int)(u8() & 1)));
        T("catmem_report(NULL) = %s\n", ename(rc));
        CHECK(rc == EINVAL, "catmem_report(NULL stream) = %s, expected EINVAL", ename(rc));
        return;
    }
    if (mode == 1) {
        flags = bad_flags[u8() % 4];
        f = open_memstream(&buf, &len);
        CHECK(f != NULL, "fuzzer: open_memstream failed");
        CTL(rc, catmem_report(f, flags));
        fclose(f);
        free(buf);
        T("catmem_report(stream, flags %d) = %s\n", flags, ename(rc));
        CHECK(rc == EINVAL || (!M.up && rc == ESHUTDOWN),
              "catmem_report(stream, flags %d) = %s, expected EINVAL", flags, ename(rc));
        return;
    }
    if (mode == 2) { /* a stream that fails on the first write past 16 bytes */
        f = fmemopen(small, sizeof small, "w");
        CHECK(f != NULL, "fuzzer: fmemopen failed");
        setvbuf(f, NULL, _IONBF, 0);
        flags = (int)(u8() & 1);
        CTL(rc, catmem_report(f, flags));
        fclose(f);
        T("catmem_report(16-byte stream, %d) = %s\n", flags, ename(rc));
        CHECK(rc == (M.up ? EIO : ESHUTDOWN), "catmem_report(16-byte stream) = %s, expected %s",
              ename(rc), ename(M.up ? EIO : ESHUTDOWN));
        return;
    }
    flags = mode == 3   ? CATMEM_REPORT_TEXT
            : mode == 4 ? CATMEM_REPORT_OPENMETRICS
                        : CATMEM_REPORT_JSON;
    f = open_memstream(&buf, &len);
    CHECK(f != NULL, "fuzzer: open_memstream failed");
    CTL(rc, catmem_report(f, flags));
    fclose(f);
    T("catmem_report(stream, %s) = %s, %zu bytes\n", format_names[flags], ename(rc), len);
    CHECK(rc == (M.up ? 0 : ESHUTDOWN), "catmem_report(%s) = %s", format_names[flags], ename(rc));
    if (rc == 0 && flags == CATMEM_REPORT_JSON) check_report_json(buf);
    if (rc == 0 && flags == CATMEM_REPORT_OPENMETRICS) check_report_openmetrics(buf, len);
    if (rc == 0 && flags == CATMEM_REPORT_TEXT)
        for (i = 0; i < N_ARENAS; i++)
            CHECK(!M.ar[i].live || strstr(buf, M.ar[i].name) != NULL,
                  "catmem_report(text) does not list live arena \"%s\"", M.ar[i].name);
    free(buf);
}

/* ---- heap profiles ---------------------------------------------------------------------------- */

/* catmem_profile_interval from a few means (off, every block, small, the default, above
   CATMEM_SIZE_MAX: EINVAL), and catmem_profile_write to a memory stream (0, or ESHUTDOWN), to a
   16-byte stream (EIO), to NULL or with flags (EINVAL). Sampling changes nothing the model
   checks: every later operation runs with it, samples taken and dropped. */
static void op_profile(void) {
    static const size_t means[] = {0, 1, 64, 4096, 524288, (size_t)-1};
    unsigned mode = u8() % 4;
    char *buf = NULL, small[16];
    size_t len = 0, v;
    int rc;
    FILE *f;
    if (mode == 0) {
        v = means[u8() % 6];
        CTL(rc, catmem_profile_interval(v));
        T("catmem_profile_interval(%zu) = %s\n", v, ename(rc));
        CHECK(rc == (v > CATMEM_SIZE_MAX ? EINVAL : 0), "catmem_profile_interval(%zu) = %s", v,
              ename(rc));
        return;
    }
    if (mode == 1) {
        CTL(rc, catmem_profile_write(NULL, 0));
        CHECK(rc == EINVAL, "catmem_profile_write(NULL) = %s, expected EINVAL", ename(rc));
        f = open_memstream(&buf, &len);
        CHECK(f != NULL, "fuzzer: open_memstream failed");
        CTL(rc, catmem_profile_write(f, 1 + (int)u8()));
        fclose(f);
        free(buf);
        T("catmem_profile_write(NULL; flags) = EINVAL; %s\n", ename(rc));
        CHECK(rc == EINVAL, "catmem_profile_write(flags) = %s, expected EINVAL", ename(rc));
        return;
    }
    if (mode == 2) { /* a stream that fails on the first write past 16 bytes */
        f = fmemopen(small, sizeof small, "w");
        CHECK(f != NULL, "fuzzer: fmemopen failed");
        setvbuf(f, NULL, _IONBF, 0);
        CTL(rc, catmem_profile_write(f, 0));
        fclose(f);
        T("catmem_profile_write(16-byte stream) = %s\n", ename(rc));
        CHECK(rc == (M.up ? EIO : ESHUTDOWN), "catmem_profile_write(16-byte stream) = %s",
              ename(rc));
        return;
    }
    f = open_memstream(&buf, &len);
    CHECK(f != NULL, "fuzzer: open_memstream failed");
    CTL(rc, catmem_profile_write(f, 0));
    fclose(f);
    T("catmem_profile_write(stream) = %s, %zu bytes\n", ename(rc), len);
    CHECK(rc == (M.up ? 0 : ESHUTDOWN), "catmem_profile_write = %s", ename(rc));
    /* profile.proto: string_table[0], "" (field 6, length-delimited, length 0), comes first */
    CHECK(rc != 0 || (len > 16 && buf[0] == 0x32 && buf[1] == 0),
          "catmem_profile_write: %zu bytes, first %#x", len,
          len > 0 ? (unsigned)(unsigned char)buf[0] : 0u);
    free(buf);
}

/* ---- limits ----------------------------------------------------------------------------------- */

/* catmem_arena_set_limit(h, v): an arena's limit (limit_of) on arena ar, checked; 0 or the
   error. The first non-zero limit makes catmem count the arena (its peak exact from then on,
   starting from what it holds). */
static int set_limit(catmem_arena *h, size_t v, const char *why) {
    int ar = arena_of(h), he = handle_err(h), rc;
    size_t c = ar >= 0 ? charged_of(ar) : 0;
    CTL(rc, catmem_arena_set_limit(h, v));
    T("catmem_arena_set_limit(%s, %zu) = %s (%s; %zu held)\n", hdesc(h), v, ename(rc), why, c);
    CHECK(rc == he, "catmem_arena_set_limit(%s, %zu) = %s, expected %s", hdesc(h), v, ename(rc),
          ename(he));
    if (rc == 0) {
        if (v != 0 && !M.ar[ar].counted) {
            M.ar[ar].counted = 1;
            if (c > M.ar[ar].pk_lo) M.ar[ar].pk_lo = c;
        }
        M.ar[ar].limit = v;
        /* catmem gave this thread's cached blocks back: exact from here, unless below */
        M.ar[ar].over = !exact_sys && v != 0 && c > v ? c : 0;
    }
    CHECK(catmem_arena_limit(h) == (ar >= 0 ? M.ar[ar].limit : 0),
          "catmem_arena_limit(%s) = %zu after catmem_arena_set_limit(%zu) = %s, expected %zu",
          hdesc(h), catmem_arena_limit(h), v, ename(rc), ar >= 0 ? M.ar[ar].limit : (size_t)0);
    return rc;
}

/* A limit from a few interesting values: none, the largest, exactly what the arena holds (the
   next block is refused), just above or below it (below is allowed: allocations fail until
   frees bring it under), small ones, and room for one more block of some size. */
static void op_limit(void) {
    catmem_arena *h = pick_arena();
    unsigned mode = u8() % 8, x = u8();
    int ar = arena_of(h);
    size_t c = ar >= 0 ? charged_of(ar) : 0, v;
    switch (mode) {
    case 0: v = 0; break;
    case 1: v = SIZE_MAX; break;
    case 2: v = c; break;
    case 3: v = c + 1 + x; break;
    case 4: v = c > x + 1 ? c - x - 1 : 1; break;
    case 5: v = 1 + (size_t)x * 64; break;
    case 6: v = c + pick_size(); break;
    default: v = (size_t)1 << (10 + x % 20); break;
    }
    CHECK(catmem_arena_limit(h) == (ar >= 0 ? M.ar[ar].limit : 0),
          "catmem_arena_limit(%s) = %zu, the limit set is %zu", hdesc(h), catmem_arena_limit(h),
          ar >= 0 ? M.ar[ar].limit : (size_t)0);
    (void)set_limit(h, v, "limit");
}

/* Fills an arena up to a limit and checks that the limit is exact: the class of a request is
   measured with one block (no limit), the limit is set to what the arena holds plus room for k
   more such blocks and less than one more; the k must fit, the next is refused (ENOMEM, the
   out-of-memory handler asked once), a realloc growing past the room is refused with the block
   intact, and after one free exactly one more fits again. Only where the model knows what the
   limit counts (limit_known). */
static void op_limit_exhaust(void) {
    catmem_arena *h = pick_arena();
    size_t size = pick_size() % 4097, u, c, lim, r, old;
    unsigned k = u8() % 8 + 1, rb = u8(), mode = u8(), j;
    int ar = arena_of(h), i, e;
    unsigned char *p;
    if (handle_err(h) != 0 || !limit_known(ar) || M.nb + (int)k + 2 > MAX_BLOCKS ||
        M.bytes + (k + 2) * (size + 1) > MAX_BYTES) {
        T("limit_exhaust(%s): not here\n", hdesc(h));
        return;
    }
    old = M.ar[ar].limit;
    if (set_limit(h, 0, "limit_exhaust: measure") != 0) return;
    oom_expect(h, size, 0, 0, 0);
    errno = 0;
    p = (unsigned char *)catmem_alloc(h, size);
    e = errno;
    oom_check("catmem_alloc (limit_exhaust)");
    errno = e;
    new_block(h, ar, p, size, 1, 0, 0, "catmem_alloc (limit_exhaust)");
    u = catmem_usable_size(p);
    c = charged_of(ar);
    r = rb % u;
    lim = c + k * u + r;
    T("limit_exhaust(%s): %zu-byte requests take %zu, %zu held, limit %zu: room for %u\n",
      hdesc(h), size, u, c, lim, k);
    if (set_limit(h, lim, "limit_exhaust") != 0) return;
    for (j = 0; j <= k; j++) {
        oom_expect(h, size, 0, j == k, 0);
        errno = 0;
        p = (unsigned char *)catmem_alloc(h, size);
        e = errno;
        oom_check("catmem_alloc (limit_exhaust)");
        T("catmem_alloc(%s, %zu) = %p (%s), %u of %u\n", hdesc(h), size, (void *)p, ename(e),
          j + 1, k);
        if (j == k) {
            char desc[160];
            snprintf(desc, sizeof desc, "catmem_alloc(%s, %zu) with %zu held under the limit "
                     "%zu (the block takes %zu)", hdesc(h), size, charged_of(ar), lim, u);
            expect_fail(p, e, ENOMEM, desc);
            break;
        }
        CHECK(p != NULL, "catmem_alloc(%s, %zu) refused (%s) with %zu held under the limit %zu "
              "(the block takes %zu)", hdesc(h), size, ename(e), charged_of(ar), lim, u);
        CHECK(catmem_usable_size(p) == u, "catmem_alloc(%s, %zu): usable size %zu, then %zu",
              hdesc(h), size, u, catmem_usable_size(p));
        errno = e;
        new_block(h, ar, p, size, 1, 0, 0, "catmem_alloc (limit_exhaust)");
    }
    i = M.nb - 1; /* the last block: this arena's */
    if (mode & 1) { /* growth past the room: refused, the block intact */
        size_t to = u + r + 1 + (mode >> 4);
        verify(&M.b[i], M.b[i].size, "before catmem_realloc (limit_exhaust)");
        oom_expect(h, to, 0, 1, 0);
        errno = 0;
        p = (unsigned char *)catmem_realloc(h, M.b[i].p, to);
        e = errno;
        oom_check("catmem_realloc (limit_exhaust)");
        T("catmem_realloc(%s, %zu-byte block, %zu) = %p (%s)\n", hdesc(h), u, to, (void *)p,
          ename(e));
        expect_fail(p, e, ENOMEM, "catmem_realloc growing past the limit (limit_exhaust)");
        verify(&M.b[i], M.b[i].size, "after a catmem_realloc refused by the limit");
    }
    /* One free: room for exactly one block again. */
    catmem_free(h, M.b[i].p);
    M.ar[ar].nd++;
    remove_block(i);
    for (j = 0; j < ((mode & 2) ? 2u : 1u); j++) {
        oom_expect(h, size, 0, j == 1, 0);
        errno = 0;
        p = (unsigned char *)catmem_alloc(h, size);
        e = errno;
        oom_check("catmem_alloc (limit_exhaust, after a free)");
        T("catmem_alloc(%s, %zu) = %p (%s) after a free\n", hdesc(h), size, (void *)p, ename(e));
        if (j == 1) {
            expect_fail(p, e, ENOMEM, "catmem_alloc past the limit after a free (limit_exhaust)");
            break;
        }
        CHECK(p != NULL, "catmem_alloc(%s, %zu) refused (%s) after a free made room: %zu held, "
              "limit %zu, the block takes %zu", hdesc(h), size, ename(e), charged_of(ar), lim, u);
        errno = e;
        new_block(h, ar, p, size, 1, 0, 0, "catmem_alloc (limit_exhaust, after a free)");
    }
    if (mode & 4) (void)set_limit(h, old, "limit_exhaust: the old limit back");
    if (mode & 8) stats_of(ar);
}

/* ---- driver ----------------------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *t = getenv("CATMEM_FUZZ_TRACE");
    int k;
    (void)argc;
    (void)argv;
    trace = t != NULL && *t != '\0' && *t != '0';
    pat_init();
    t = getenv("CATMEM_FUZZ_AVOID_KNOWN");
    avoid_known = t != NULL && *t != '\0' && *t != '0';
    if (catmem_init() != 0) {
        fprintf(stderr, "catmem_fuzz: catmem_init failed\n");
        abort();
    }
    for (k = 0; k < CATMEM_KIND_COUNT; k++) {
        builtin[k] = catmem_arena_get((catmem_kind)k);
        builtin_id[k] = catmem_arena_id(builtin[k]);
    }
    exact_sys = strcmp(catmem_backend_name(), "system") == 0;
    je_backend = strcmp(catmem_backend_name(), "jemalloc") == 0;
#if defined(FUZZ_HAVE_SALLOCX)
    exact_je = strcmp(catmem_backend_name(), "jemalloc") == 0;
#endif
    if (trace) fprintf(stderr, "catmem_fuzz: backend %s (%s)%s\n", catmem_backend_name(),
                       catmem_backend_info(), avoid_known ? ", avoiding known bugs" : "");
    return 0;
}

/* Everything back: regions released, user arenas released, built-in arenas reset, the
   out-of-memory handler removed; every cleanup registered has run by then. */
static void cleanup(void) {
    int i;
    M.opname = NULL;
    T("-- end of input: cleanup\n");
    if (!M.up) do_init();
    catmem_set_oom_handler(NULL, NULL);
    M.oom.on = 0;
    verify_all("at the end of the input");
    for (i = 0; i < N_REGIONS; i++) region_release(i, "end of input");
    for (i = 0; i < CATMEM_KIND_COUNT; i++) /* reset keeps a limit: take it away */
        if (M.ar[i].limit != 0) (void)set_limit(M.ar[i].h, 0, "end of input");
    /* A parent's release takes its children with it (tree_reset marks them released). */
    for (i = CATMEM_KIND_COUNT; i < N_ARENAS; i++)
        if (M.ar[i].live) tree_reset(M.ar[i].h, 1, 0, 0);
    for (i = 0; i < CATMEM_KIND_COUNT; i++) {
        /* An arena the input never allocated from (nor registered a cleanup on) holds nothing
           of it (failed allocations leave nothing, transient blocks are freed at once, region
           chunks went with the regions); on jemalloc a reset and a stats call each cost a pass
           over every arena. tree_reset checks allocated == 0 afterwards. */
        if (M.touched[i]) tree_reset(M.ar[i].h, 0, 0, 0);
    }
    CHECK(M.nb == 0 && M.bytes == 0, "model not empty at the end");
    for (i = 0; i < N_CLEANUPS; i++)
        CHECK(!M.cl[i].used, "cleanup #%u of %s %d never ran", (unsigned)M.cl[i].order,
              M.cl[i].kind == CL_ARENA ? "arena" : "region", M.cl[i].owner);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int k;
    memset(&M, 0, sizeof M);
    catmem_set_oom_handler(NULL, NULL); /* the previous input removed it; be safe anyway */
    M.up = catmem_is_initialized();
    if (!M.up) do_init(); /* the previous input always leaves catmem up; be safe anyway */
    for (k = 0; k < CATMEM_KIND_COUNT; k++) {
        M.ar[k].h = builtin[k];
        M.ar[k].live = 1;
        snprintf(M.ar[k].name, sizeof M.ar[k].name, "%s", kind_names[k]);
        arena_fresh(k, 1);
        CHECK(catmem_arena_limit(builtin[k]) == 0, "built-in arena %s starts an input with limit "
              "%zu", kind_names[k], catmem_arena_limit(builtin[k]));
    }
    in_p = data;
    in_n = size;
    T("-- input of %zu bytes\n", size);
    while (in_n > 0) {
        unsigned op = u8() % OP_COUNT;
        M.op++;
        M.opname = op_names[op];
        /* Region calls may take chunks from or give them back to their arenas: the model no
           longer knows those arenas' bytes and calls exactly (region_touch). */
        if ((op >= OP_R_INIT && op <= OP_R_RELEASE) || op == OP_R_ON_RESET || op == OP_PROBE ||
            op == OP_OOM)
            for (k = 0; k < N_REGIONS; k++) region_touch(&M.rg[k]);
        switch (op) {
        case OP_ALLOC: op_alloc(); break;
        case OP_CALLOC: op_calloc(); break;
        case OP_REALLOC: op_realloc(0); break;
        case OP_ALIGNED: op_aligned(); break;
        case OP_FREE: op_free(0); break;
        case OP_FREE_SIZED: op_free(1); break;
        case OP_STRDUP: op_strdup(); break;
        case OP_RESET: op_reset(0); break;
        case OP_PURGE: op_purge(); break;
        case OP_STATS: op_stats(); break;
        case OP_CREATE: op_create(); break;
        case OP_RELEASE: op_reset(1); break;
        case OP_GET: op_get(); break;
        case OP_INFO: op_info(); break;
        case OP_R_INIT: op_r_init(); break;
        case OP_R_ALLOC: op_r_alloc(0); break;
        case OP_R_ALIGNED: op_r_alloc(1); break;
        case OP_R_CALLOC: op_r_alloc(2); break;
        case OP_R_STRDUP: op_r_alloc(3); break;
        case OP_R_SAVE: op_r_save(); break;
        case OP_R_RESTORE: op_r_restore(); break;
        case OP_R_RESET: op_r_reset(); break;
        case OP_R_RELEASE: op_r_release(); break;
        case OP_SHUTDOWN: op_shutdown(); break;
        case OP_INIT: op_init(); break;
        case OP_PROBE: probe(); break;
        case OP_DECAY: op_decay(); break;
        case OP_EXHAUST: op_exhaust(); break;
        case OP_ON_RESET: op_on_reset(); break;
        case OP_CHILD: op_child(); break;
        case OP_PARENT: op_parent(); break;
        case OP_R_ON_RESET: op_r_on_reset(); break;
        case OP_OOM: op_oom(); break;
        case OP_REPORT: op_report(); break;
        case OP_LIMIT: op_limit(); break;
        case OP_LIMIT_EXHAUST: op_limit_exhaust(); break;
        case OP_REALLOC_ANY: op_realloc(1); break;
        default: op_profile(); break;
        }
    }
    cleanup();
    return 0;
}
