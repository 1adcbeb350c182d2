/* catmem.h - arena allocation for C and C++, on jemalloc or on the system malloc.

   WHAT IT IS
   ==========
   catmem groups memory by lifetime: every allocation goes to an arena (request, response, cache,
   static, background task, or one you create by name), an arena can be freed all at once, measured
   on its own, and trimmed. On jemalloc the arenas are real jemalloc manual arenas; on the system
   backend catmem tracks every block itself so that the same calls mean the same thing.

   It removes the usual traps of using jemalloc arenas by hand:
   - arenas created at every init until the process runs out of them: catmem creates each arena
     once per process and reuses it across catmem_init/catmem_shutdown and create/release cycles;
   - mallocx(MALLOCX_ARENA(i)) silently going through the thread's automatic cache, which mixes
     arenas and leaves dangling pointers after a reset; MALLOCX_TCACHE_NONE, which is correct but
     takes the arena's lock on every call; explicit caches (tcache.create), about 49 KiB each and
     no more than 4,096 in a process: catmem takes blocks from the arena with MALLOCX_TCACHE_NONE
     and keeps a small front cache of its own per thread and arena (freed blocks per size class,
     no jemalloc cache id), empties them all before a reset and when their thread exits;
   - mallctl names that do not exist (arena.<i>.name, stats.arenas.<i>.allocated): catmem keeps
     names itself and checks every mallctl result;
   - crashes on bad input: every call validates what it is given and reports errors (below).

   INCLUDING IT
   ============
   Everywhere:                       #include "catmem.h"
   In exactly one C or C++ file:     #define CATMEM_IMPLEMENTATION
                                     #include "catmem.h"
   Keep catmem.h next to its backends/ directory (it includes "backends/<name>.h"). With Bazel,
   depend on @catmem//:catmem; the targets compile the implementation for you.
   Link with -ljemalloc -lpthread for the jemalloc backend, -lpthread for the system backend,
   -ldl -lpthread for the runtime backend.
   Compilers: GCC and Clang (C99 or later, C++11 or later); POSIX threads.

   CONFIGURATION MACROS (define them before every #include, the same way in every file)
   ====================
   CATMEM_BACKEND_JEMALLOC  use jemalloc's manual arenas (needs <jemalloc/jemalloc.h>, -ljemalloc).
   CATMEM_BACKEND_SYSTEM    use malloc/free; catmem tracks blocks so reset and stats still work.
   CATMEM_BACKEND_RUNTIME   link no jemalloc; at init, use the jemalloc already in the process
                            (LD_PRELOAD, or linked by the host program) if there is one, and the
                            system backend otherwise. For code loaded late: Python extensions,
                            plugins. catmem_backend_name/_info tell what was found.
                            Define at most one. With none, jemalloc is chosen when
                            <jemalloc/jemalloc.h> can be included and the system backend otherwise.
   CATMEM_JEMALLOC_PREFIX   the symbol prefix of the jemalloc to link (one built with
                            --with-jemalloc-prefix=je_: define it as je_). Default: none.
   CATMEM_RUNTIME_PREFIXES  the prefixes the runtime backend tries, as a list of strings
                            (default ""; for example "", "je_").
   CATMEM_SYSTEM_MALLOC, CATMEM_SYSTEM_CALLOC, CATMEM_SYSTEM_REALLOC, CATMEM_SYSTEM_FREE
                            the functions under the system backend (default: the C library's);
                            define all four or none.
   CATMEM_MAX_ARENAS        arena slots, built-in ones included (default 64, at most 4000).
                            Every thread keeps one word per slot in thread-local storage.
   CATMEM_NAME_MAX          longest arena name in bytes (default 31).
   CATMEM_JEMALLOC_CACHE_BYTES  jemalloc: bytes of freed blocks one thread keeps in its front
                            caches, all arenas together (default 1 MiB); 0: no front caches,
                            every call goes to the arena (and its lock).
   CATMEM_DEBUG             1: check on every free that the pointer belongs to the arena given,
                            and abort with a message on misuse that cannot be reported otherwise.
                            Slow (jemalloc: one arenas.lookup per free). Default 0.
   CATMEM_API               storage class of the public functions (default: extern).
   CATMEM_REGION_ALIGN      alignment of every region allocation (default 16).
   CATMEM_REGION_CHUNK_MIN  first chunk of a region, in bytes (default 4096).
   CATMEM_REGION_CHUNK_MAX  largest chunk of a region (default 1 MiB).
   CATMEM_VALGRIND          1: describe region memory to Valgrind's memcheck (default: 1 when
                            CATMEM_DEBUG is and <valgrind/memcheck.h> exists).

   A SHORT EXAMPLE
   ===============
       if (catmem_init() != 0) abort();
       catmem_arena *req = catmem_arena_get(CATMEM_REQUEST);
       char *body = catmem_alloc(req, 4096);            // NULL and errno on failure
       char *copy = catmem_strdup(req, "hello");
       ...
       catmem_arena_reset(req);                         // body and copy are gone, in one call
       catmem_arena *sessions = catmem_arena_create("sessions");
       catmem_stats st;
       catmem_arena_stats(sessions, &st);               // st.allocated, st.nmalloc, ...
       catmem_arena_release(sessions);                  // frees it; the slot is reused later
       catmem_shutdown();

   REGIONS
   =======
   A catmem_region is a bump allocator for one thread that draws chunks from an arena: the fastest
   way to allocate many small objects that die together, such as everything of one request.
       catmem_region r;                                  // one per worker thread
       catmem_region_init(&r, catmem_arena_get(CATMEM_REQUEST));
       for (;;) {                                        // each request
           char *path = catmem_region_strdup(&r, "/index.html");
           ...
           catmem_region_reset(&r);                      // all of it gone at once
       }
       catmem_region_release(&r);                        // chunks back to the arena
   - Allocation bumps a pointer (inline), aligned to CATMEM_REGION_ALIGN; there is no per-object
     free. Requests larger than half of the next chunk get a block of their own, so the current
     chunk is not wasted. Chunks double from CATMEM_REGION_CHUNK_MIN up to CATMEM_REGION_CHUNK_MAX.
   - catmem_region_reset keeps one chunk, sized for what the cycle used (up to the cap): a steady
     workload then never calls into the arena at all.
   - catmem_region_save and catmem_region_restore make nested scopes. A mark dies with its scope
     (a restore to an outer mark, a reset, a release); restore refuses a mark it can tell is dead
     or foreign with EINVAL, and changes nothing then.
   - Many regions, one per thread, may draw on one arena at once. This is how request memory
     scales: a shared arena cannot be reset while other requests live in it, a region can.
   - Never reset or release an arena while regions hold chunks of it: release the regions first
     (or catmem_region_init them again afterwards, which forgets their chunks).
   - After catmem_shutdown a region still serves from the chunk it holds (that memory stays valid,
     like all catmem memory); anything that needs its arena fails with ESHUTDOWN.
   - Under AddressSanitizer, region memory not handed out is poisoned: a use after reset, restore
     or release is reported. With CATMEM_DEBUG it is also filled with 0xdd.

   ERRORS
   ======
   Allocation functions return NULL and set errno; control functions return 0 or an errno value
   (and leave errno alone). Nothing is lost on failure: a failed realloc leaves the block as it was.
     EINVAL      NULL or released arena handle; NULL or uninitialised region; alignment zero, not
                 a power of two, or above CATMEM_ALIGN_MAX; unknown kind; bad name; release of a
                 built-in arena; a dead or foreign region mark.
     ENOMEM      out of memory; size above CATMEM_SIZE_MAX; n * size overflows in calloc.
     ESHUTDOWN   called before catmem_init() or after catmem_shutdown().
     EEXIST      catmem_arena_create with the name of a live arena.
     ENAMETOOLONG  name longer than CATMEM_NAME_MAX.
     EAGAIN      no free arena slot (CATMEM_MAX_ARENAS), or jemalloc cannot create more arenas.
     ENOTSUP     the feature does not exist on this backend or in this process (profiling without
                 MALLOC_CONF=prof:true, decay tuning on the system backend).
     ENOENT      catmem_arena_find found no arena of that name.
   Size 0 is valid everywhere and returns a unique pointer, as if 1 byte had been asked for; this
   includes catmem_realloc(a, p, 0), which never frees p and returns NULL.
   catmem_free(a, NULL) does nothing. catmem_free(NULL, p) still frees p correctly (the owner comes
   from the pointer) and sets errno to EINVAL so the mistake can be found.

   LIFETIME
   ========
   catmem_init is idempotent and thread-safe; it is not reference-counted. catmem_shutdown is
   idempotent: it drops every thread's caches and makes allocation, reset, purge and stats fail
   with ESHUTDOWN until the next catmem_init. It does NOT free what the arenas hold: arenas and
   handles live as long as the process, and the next catmem_init hands back the same arenas, with
   the same ids, without creating any. catmem_free keeps working after shutdown, so memory can be
   handed back at any time. catmem_arena_release frees everything the arena holds and gives its
   slot to the next catmem_arena_create, which reuses the backend arena too: create/release cycles
   never grow the number of backend arenas. A released handle fails with EINVAL until its slot is
   reused; after that it names the new arena, as a closed file descriptor number would.

   THREADS
   =======
   - Every function may be called from any thread.
   - Allocation and free in one arena from many threads at once is safe and scales: on jemalloc
     each thread allocates through its own front cache for that arena; on the system backend
     through a heap of its own for that arena (a block freed by another thread goes back through
     its owner's heap). Caches are emptied, and heaps handed on, when their thread exits, so
     thread churn piles up neither.
   - On jemalloc any number of threads and arenas works the same way: a front cache is made on a
     thread's first call in an arena and costs about 600 bytes, plus the blocks it holds (those
     the thread freed and has not reused, and the rest of a refill). A thread's caches share
     CATMEM_JEMALLOC_CACHE_BYTES: each may hold that budget divided by the number of caches the
     thread has, at least 4 KiB, and gives blocks back beyond it (a cache learns of a smaller
     share at its next refill or overflow). One busy arena gets the whole budget; 100 arenas
     get about 10 KiB each, and keep blocks up to a sixteenth of that (640 B), so that a few
     large blocks do not push out the small ones. Blocks above 14 KiB (or above that sixteenth
     of a cache's share), and every block while heap profiling is on
     (MALLOC_CONF=prof:true, so that jemalloc's sampler sees every allocation), go to the arena
     directly, with its lock.
   - catmem_arena_reset and catmem_arena_release free memory other threads may be using. The caller
     must make sure that no other thread allocates from or frees into THAT arena during the call
     and that nobody uses its memory afterwards; other arenas are unaffected. A built-in arena
     shared by concurrent requests (CATMEM_REQUEST) therefore cannot be reset while requests are in
     flight: give each worker its own arena with catmem_arena_create, or reset at a quiescent point.
   - catmem_shutdown must not run concurrently with other catmem calls.
   - catmem_arena_stats and catmem_arena_purge may run at any time.

   STATISTICS (catmem_stats)
   ==========
                jemalloc backend                          system backend
     allocated  bytes in live blocks, size-class rounded  bytes asked for by live blocks
     active     bytes in the arena's active pages         bytes taken from malloc (block headers
                                                          and alignment padding included)
     resident   bytes of the arena physically resident    0 per arena; total: process RSS
     mapped     bytes mapped for the arena                0 per arena; total: glibc heap (mallinfo2)
     nmalloc    objects handed out by the arena           allocation calls
     ndalloc    objects returned to the arena             frees, and blocks freed by reset/release
   On jemalloc, blocks travel between the arena and each thread's front cache in batches: nmalloc
   counts blocks the arena handed out (to a cache or to a caller), ndalloc blocks given back to
   it, and a block that a thread freed into its front cache still counts as allocated (in
   nmalloc, not yet in ndalloc) until the cache gives it back: when it is over its share of
   the thread's budget, when the thread exits, at catmem_arena_release and catmem_shutdown (a reset frees cached blocks with the
   rest). catmem_arena_stats and catmem_arena_purge first empty the calling thread's cache for
   that arena, so a single-threaded program sees exact figures; another thread's caches hold at
   most about CATMEM_JEMALLOC_CACHE_BYTES together (THREADS). catmem_total_stats covers the whole process on jemalloc (everything
   jemalloc serves) and the sum of catmem's arenas on the system backend. On the system backend a
   block that one thread freed into another living thread's heap counts as allocated until that
   thread's next allocation or free in the arena. While other threads allocate, the fields are
   read one after another and may be a few operations out of step; catmem keeps them coherent
   (ndalloc <= nmalloc, allocated <= active). On jemalloc a stats
   call refreshes every arena's statistics (mallctl "epoch") and costs a fraction of a
   millisecond (about 0.18 ms measured here): call it to monitor, not on every request.

   MISUSE THAT CANNOT BE REPORTED
   ==============================
   Freeing a pointer that catmem did not allocate, or freeing it twice, is undefined, as with
   free().
   Freeing a catmem block with plain free() on jemalloc puts it into the thread's automatic cache,
   which defeats reset; always use catmem_free. Freeing into the wrong arena still frees the block,
   but on jemalloc puts it into the front cache of the arena named, which hands it out again:
   CATMEM_DEBUG aborts on it.
   catmem_free_sized needs the size asked for (or anything up to the usable size) and must not be
   used on blocks from catmem_aligned_alloc; use catmem_free for those. It is the fastest free:
   on jemalloc, catmem_free first asks jemalloc for the block's size class (sallocx, about 45
   instructions).
*/
#ifndef CATMEM_H
#define CATMEM_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>

/* ---- configuration ------------------------------------------------------------------------- */

#if (defined(CATMEM_BACKEND_JEMALLOC) + defined(CATMEM_BACKEND_SYSTEM) +                           \
     defined(CATMEM_BACKEND_RUNTIME)) > 1
#  error "catmem: define exactly one CATMEM_BACKEND_* (JEMALLOC, SYSTEM or RUNTIME), or none"
#endif
#if !defined(CATMEM_BACKEND_JEMALLOC) && !defined(CATMEM_BACKEND_SYSTEM) &&                        \
    !defined(CATMEM_BACKEND_RUNTIME)
#  if defined(__has_include)
#    if __has_include(<jemalloc/jemalloc.h>)
#      define CATMEM_BACKEND_JEMALLOC 1
#    else
#      define CATMEM_BACKEND_SYSTEM 1
#    endif
#  else
#    define CATMEM_BACKEND_SYSTEM 1
#  endif
#endif

/* The backend file, included once per part (inline fast paths, types, implementation). */
#if defined(CATMEM_BACKEND_JEMALLOC)
#  define CATMEMI_BACKEND_FILE "backends/jemalloc.h"
#elif defined(CATMEM_BACKEND_SYSTEM)
#  define CATMEMI_BACKEND_FILE "backends/system.h"
#else
#  define CATMEMI_BACKEND_FILE "backends/runtime.h"
#endif
/* A prefixed jemalloc (built with --with-jemalloc-prefix=je_, say): CATMEM_JEMALLOC_PREFIX je_ */
#ifndef CATMEM_JEMALLOC_PREFIX
#  define CATMEM_JEMALLOC_PREFIX
#endif

#ifndef CATMEM_MAX_ARENAS
#  define CATMEM_MAX_ARENAS 64
#endif
#if CATMEM_MAX_ARENAS < 6 || CATMEM_MAX_ARENAS > 4000
#  error "catmem: CATMEM_MAX_ARENAS must be between 6 and 4000 (jemalloc's arena limit)"
#endif
#ifndef CATMEM_NAME_MAX
#  define CATMEM_NAME_MAX 31
#endif
#ifndef CATMEM_DEBUG
#  define CATMEM_DEBUG 0
#endif
#ifndef CATMEM_API
#  define CATMEM_API extern
#endif

/* Largest size any catmem allocation accepts; larger requests fail with ENOMEM. */
#define CATMEM_SIZE_MAX ((size_t)PTRDIFF_MAX)
/* Largest alignment catmem_aligned_alloc accepts (1 GiB, enough for huge-page alignment). */
#define CATMEM_ALIGN_MAX ((size_t)1 << 30)

/* ---- compiler attributes ------------------------------------------------------------------- */

#if defined(__has_attribute)
#  define CATMEMI_HAS_ATTR(x) __has_attribute(x)
#else
#  define CATMEMI_HAS_ATTR(x) 0
#endif
#if CATMEMI_HAS_ATTR(malloc)
#  define CATMEMI_MALLOC __attribute__((malloc))
#else
#  define CATMEMI_MALLOC
#endif
#if CATMEMI_HAS_ATTR(alloc_size)
#  define CATMEMI_SIZE(i)     __attribute__((alloc_size(i)))
#  define CATMEMI_SIZE2(i, j) __attribute__((alloc_size(i, j)))
#else
#  define CATMEMI_SIZE(i)
#  define CATMEMI_SIZE2(i, j)
#endif
#if CATMEMI_HAS_ATTR(alloc_align)
#  define CATMEMI_ALIGN(i) __attribute__((alloc_align(i)))
#else
#  define CATMEMI_ALIGN(i)
#endif
#if CATMEMI_HAS_ATTR(warn_unused_result)
#  define CATMEMI_NODISCARD __attribute__((warn_unused_result))
#else
#  define CATMEMI_NODISCARD
#endif
#if defined(__GNUC__)
#  define CATMEMI_LIKELY(x)   __builtin_expect(!!(x), 1)
#  define CATMEMI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define CATMEMI_TLS         __thread
#else
#  define CATMEMI_LIKELY(x)   (x)
#  define CATMEMI_UNLIKELY(x) (x)
#  define CATMEMI_TLS         _Thread_local
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ----------------------------------------------------------------------------------- */

/* The built-in arenas, one per typical lifetime. */
typedef enum catmem_kind {
    CATMEM_REQUEST = 0, /* memory of one request; reset when the request ends */
    CATMEM_RESPONSE,    /* response bodies and headers */
    CATMEM_CACHE,       /* long-lived cached objects */
    CATMEM_STATIC,      /* lives until the process exits */
    CATMEM_TASK,        /* background tasks */
    CATMEM_KIND_COUNT
} catmem_kind;

/* An arena handle. Valid for the whole process; the field is private. */
typedef struct catmem_arena {
    unsigned slot;
} catmem_arena;

/* See STATISTICS at the top of this file for what each backend reports. */
typedef struct catmem_stats {
    size_t allocated;
    size_t active;
    size_t resident;
    size_t mapped;
    uint64_t nmalloc;
    uint64_t ndalloc;
} catmem_stats;

/* ---- lifetime -------------------------------------------------------------------------------- */

CATMEM_API int catmem_init(void);      /* 0, or an errno value; idempotent, thread-safe */
CATMEM_API void catmem_shutdown(void); /* idempotent; arenas persist and are reused by init */
CATMEM_API int catmem_is_initialized(void);
CATMEM_API const char *catmem_backend_name(void); /* "jemalloc" or "system"; works before init */
/* Why that backend: "jemalloc 5.3.0-... (linked)", "jemalloc 5.3.0-... found in process",
   "no jemalloc in process: system malloc", ... Works before init. */
CATMEM_API const char *catmem_backend_info(void);

/* ---- arenas ---------------------------------------------------------------------------------- */

CATMEM_API catmem_arena *catmem_arena_get(catmem_kind kind);
CATMEM_API catmem_arena *catmem_arena_create(const char *name); /* a user arena, named uniquely */
CATMEM_API catmem_arena *catmem_arena_find(const char *name);
CATMEM_API int catmem_arena_release(catmem_arena *a); /* frees its memory; slot reused later */
CATMEM_API const char *catmem_arena_name(const catmem_arena *a); /* NULL for a bad handle */
/* The backend's own id for the arena (jemalloc arena index; system: catmem slot), or -1. */
CATMEM_API int catmem_arena_id(const catmem_arena *a);
/* 1 when p, a live block from any catmem arena, belongs to a; 0 otherwise (and for NULL). p must
   come from catmem: jemalloc's lookup crashes on pointers it never handed out. */
CATMEM_API int catmem_arena_owns(const catmem_arena *a, const void *p);

CATMEM_API int catmem_arena_reset(catmem_arena *a); /* frees every block of a at once */
CATMEM_API int catmem_arena_purge(catmem_arena *a); /* unused pages back to the OS (system:
                                                        malloc_trim, process-wide) */
CATMEM_API int catmem_arena_stats(catmem_arena *a, catmem_stats *out);
CATMEM_API int catmem_total_stats(catmem_stats *out);
/* jemalloc's page decay for one arena, in milliseconds (-1: never, 0: at once). System: ENOTSUP. */
CATMEM_API int catmem_arena_set_decay(catmem_arena *a, long dirty_ms, long muzzy_ms);

/* Heap profiling: jemalloc only, and only when the process started with MALLOC_CONF=prof:true
   (or a malloc_conf symbol saying so); ENOTSUP otherwise. path NULL: jemalloc's default name. */
CATMEM_API int catmem_prof_active(int on);
CATMEM_API int catmem_prof_dump(const char *path);

/* ---- allocation (fast paths are inline below) ------------------------------------------------ */

static inline void *catmem_alloc(catmem_arena *a, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE(2) CATMEMI_NODISCARD;
static inline void *catmem_calloc(catmem_arena *a, size_t n, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE2(2, 3) CATMEMI_NODISCARD;
static inline void *catmem_aligned_alloc(catmem_arena *a, size_t alignment,
                                         size_t size) CATMEMI_MALLOC CATMEMI_ALIGN(2)
    CATMEMI_SIZE(3) CATMEMI_NODISCARD;
CATMEM_API void *catmem_realloc(catmem_arena *a, void *p, size_t size)
    CATMEMI_SIZE(3) CATMEMI_NODISCARD;
CATMEM_API char *catmem_strdup(catmem_arena *a, const char *s) CATMEMI_MALLOC CATMEMI_NODISCARD;
static inline void catmem_free(catmem_arena *a, void *p);
static inline void catmem_free_sized(catmem_arena *a, void *p, size_t size);

/* ---- memory checkers ------------------------------------------------------------------------ */

/* Where memory checkers learn what catmem hands out and takes back; the only place that knows
   about them. Under AddressSanitizer, region memory that is not handed out is poisoned, so a use
   after catmem_region_reset/restore/release is reported. With CATMEM_VALGRIND (default: on when
   CATMEM_DEBUG is and <valgrind/memcheck.h> exists) memcheck is told the same. With CATMEM_DEBUG,
   memory taken back is also filled with 0xdd. */
#if defined(__SANITIZE_ADDRESS__)
#  define CATMEMI_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CATMEMI_ASAN 1
#  endif
#endif
#ifndef CATMEM_VALGRIND
#  if CATMEM_DEBUG && defined(__has_include)
#    if __has_include(<valgrind/memcheck.h>)
#      define CATMEM_VALGRIND 1
#    endif
#  endif
#endif
#ifndef CATMEM_VALGRIND
#  define CATMEM_VALGRIND 0
#endif
#if defined(CATMEMI_ASAN)
#  include <sanitizer/asan_interface.h>
#  define CATMEMI_ASAN_POISON(p, n)   __asan_poison_memory_region((p), (n))
#  define CATMEMI_ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#  define CATMEMI_ASAN_POISON(p, n)   ((void)0)
#  define CATMEMI_ASAN_UNPOISON(p, n) ((void)0)
#endif
#if CATMEM_VALGRIND
#  include <valgrind/memcheck.h>
#  define CATMEMI_VG_NOACCESS(p, n)  ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#  define CATMEMI_VG_UNDEFINED(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#else
#  define CATMEMI_VG_NOACCESS(p, n)  ((void)0)
#  define CATMEMI_VG_UNDEFINED(p, n) ((void)0)
#endif
#if CATMEM_DEBUG
#  include <string.h>
#  define CATMEMI_DEBUG_FILL(p, n) memset((p), 0xdd, (n))
#else
#  define CATMEMI_DEBUG_FILL(p, n) ((void)0)
#endif
/* p..p+n may be used: handed out to the caller, or given back to the arena. */
#define CATMEMI_TRACK_USABLE(p, n) (CATMEMI_ASAN_UNPOISON(p, n), CATMEMI_VG_UNDEFINED(p, n))
/* p..p+n taken back by the region: no one may touch it until it is handed out again. */
#define CATMEMI_TRACK_UNUSABLE(p, n)                                                               \
  (CATMEMI_TRACK_USABLE(p, n), CATMEMI_DEBUG_FILL(p, n), CATMEMI_ASAN_POISON(p, n),                \
   CATMEMI_VG_NOACCESS(p, n))

/* Region chunks are watched (poisoned) while a region holds them; an arena reset frees them
   behind the region's back (allowed when the region is initialised again, see REGIONS), so the
   implementation then keeps a list of each arena's chunks to make them usable again first. */
#if defined(CATMEMI_ASAN) || CATMEM_VALGRIND
#  define CATMEMI_TRACKING 1
#else
#  define CATMEMI_TRACKING 0
#endif

/* ---- internals shared by the inline fast paths ----------------------------------------------- */

/* Allocation options, encoded as jemalloc's mallocx flags so that backend passes them through:
   the low 6 bits are log2 of the alignment, CATMEMI_ZERO asks for zeroed memory. */
#define CATMEMI_ZERO          0x40
#define CATMEMI_LG_ALIGN_MASK 0x3f

/* The slow paths: argument checks, errno, first use of an arena on a thread, backend fallbacks. */
CATMEM_API void *catmemi_alloc_slow(const catmem_arena *a, size_t size, int opts);
CATMEM_API void catmemi_free_slow(const catmem_arena *a, void *p, size_t size);

/* The backend's inline part: catmemi_be_alloc, catmemi_be_free, catmemi_be_free_sized (see the
   top of backends/jemalloc.h). */
#define CATMEMI_PART_INLINE
#include CATMEMI_BACKEND_FILE
#undef CATMEMI_PART_INLINE

#if CATMEM_DEBUG
CATMEM_API void catmemi_debug_check_free(const catmem_arena *a, const void *p);
#  define CATMEMI_DEBUG_CHECK_FREE(a, p) catmemi_debug_check_free((a), (p))
#else
#  define CATMEMI_DEBUG_CHECK_FREE(a, p) ((void)0)
#endif

/* One unsigned comparison rejects both 0 and sizes above CATMEM_SIZE_MAX: they take the slow
   path, which maps 0 to 1 and reports the rest. */
#define CATMEMI_SIZE_OK(n) ((size_t)(n)-1 < CATMEM_SIZE_MAX)

static inline void *catmem_alloc(catmem_arena *a, size_t size) {
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(size))) return catmemi_be_alloc(a, size, 0);
    return catmemi_alloc_slow(a, size, 0);
}

/* n * size, or SIZE_MAX when it overflows: a size no allocation accepts (ENOMEM). */
static inline size_t catmemi_mul_size(size_t n, size_t size) {
    size_t total;
#if defined(__GNUC__)
    if (__builtin_mul_overflow(n, size, &total)) total = SIZE_MAX;
#else
    total = (size != 0 && n > SIZE_MAX / size) ? SIZE_MAX : n * size;
#endif
    return total;
}

static inline void *catmem_calloc(catmem_arena *a, size_t n, size_t size) {
    size_t total = catmemi_mul_size(n, size);
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(total)))
        return catmemi_be_alloc(a, total, CATMEMI_ZERO);
    return catmemi_alloc_slow(a, total, CATMEMI_ZERO);
}

static inline void *catmem_aligned_alloc(catmem_arena *a, size_t alignment, size_t size) {
    int lg;
    if (CATMEMI_UNLIKELY(alignment == 0 || (alignment & (alignment - 1)) != 0 ||
                         alignment > CATMEM_ALIGN_MAX))
        return catmemi_alloc_slow(a, size, -1); /* -1: bad alignment, reported as EINVAL */
#if defined(__GNUC__)
    lg = __builtin_ctzll((unsigned long long)alignment);
#else
    for (lg = 0; ((size_t)1 << lg) < alignment; lg++) {}
#endif
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(size))) return catmemi_be_alloc(a, size, lg);
    return catmemi_alloc_slow(a, size, lg);
}

static inline void catmem_free(catmem_arena *a, void *p) {
    if (p == NULL) return;
    CATMEMI_DEBUG_CHECK_FREE(a, p);
    if (CATMEMI_LIKELY(a != NULL))
        catmemi_be_free(a, p);
    else
        catmemi_free_slow(a, p, 0);
}

static inline void catmem_free_sized(catmem_arena *a, void *p, size_t size) {
    if (p == NULL) return;
    CATMEMI_DEBUG_CHECK_FREE(a, p);
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(size)))
        catmemi_be_free_sized(a, p, size);
    else
        catmemi_free_slow(a, p, size);
}

/* ---- regions: single-threaded bump allocation, released in bulk ------------------------------ */

/* Every region allocation is aligned to CATMEM_REGION_ALIGN (suitable for max_align_t on the
   common 64-bit ABIs). Chunks start at CATMEM_REGION_CHUNK_MIN bytes and double up to
   CATMEM_REGION_CHUNK_MAX. */
#ifndef CATMEM_REGION_ALIGN
#  define CATMEM_REGION_ALIGN 16
#endif
#ifndef CATMEM_REGION_CHUNK_MIN
#  define CATMEM_REGION_CHUNK_MIN 4096
#endif
#ifndef CATMEM_REGION_CHUNK_MAX
#  define CATMEM_REGION_CHUNK_MAX (1024 * 1024)
#endif

typedef struct catmemi_region_block catmemi_region_block;

/* A region: caller-owned (a local, a struct member, a thread-local), used by one thread at a
   time. The fields are private. */
typedef struct catmem_region {
    char *cur;                    /* next free byte, CATMEM_REGION_ALIGN-aligned */
    char *end;                    /* end of the current chunk */
    catmemi_region_block *chunks; /* the current chunk, then older ones */
    catmemi_region_block *large;  /* blocks of their own, newest first */
    catmem_arena *arena;
} catmem_region;

/* A point to come back to with catmem_region_restore. */
typedef struct catmem_region_mark {
    catmemi_region_block *chunk;
    char *cur;
    catmemi_region_block *large;
} catmem_region_mark;

CATMEM_API int catmem_region_init(catmem_region *r, catmem_arena *a); /* allocates nothing */
static inline void *catmem_region_alloc(catmem_region *r, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE(2) CATMEMI_NODISCARD;
static inline void *catmem_region_alloc_aligned(catmem_region *r, size_t alignment,
                                                size_t size) CATMEMI_MALLOC CATMEMI_ALIGN(2)
    CATMEMI_SIZE(3) CATMEMI_NODISCARD;
CATMEM_API void *catmem_region_calloc(catmem_region *r, size_t n, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE2(2, 3) CATMEMI_NODISCARD;
CATMEM_API char *catmem_region_strdup(catmem_region *r,
                                      const char *s) CATMEMI_MALLOC CATMEMI_NODISCARD;
CATMEM_API catmem_region_mark catmem_region_save(const catmem_region *r);
CATMEM_API int catmem_region_restore(catmem_region *r, catmem_region_mark mark);
CATMEM_API int catmem_region_reset(catmem_region *r);
CATMEM_API int catmem_region_release(catmem_region *r);

/* Everything that does not fit the current chunk: new chunks, blocks of their own, errors. */
CATMEM_API void *catmemi_region_alloc_slow(catmem_region *r, size_t alignment, size_t size);

#define CATMEMI_REGION_ROUND(n)                                                                    \
  (((size_t)(n) + (CATMEM_REGION_ALIGN - 1)) & ~(size_t)(CATMEM_REGION_ALIGN - 1))

static inline void *catmem_region_alloc(catmem_region *r, size_t size) {
    if (CATMEMI_LIKELY(r != NULL)) {
        char *p = r->cur;
        size_t n = CATMEMI_REGION_ROUND(size); /* 0 for size 0 and for sizes that wrap */
        if (CATMEMI_LIKELY(n - 1 < (size_t)((uintptr_t)r->end - (uintptr_t)p))) {
            r->cur = p + n;
            CATMEMI_TRACK_USABLE(p, size);
            return p;
        }
    }
    return catmemi_region_alloc_slow(r, CATMEM_REGION_ALIGN, size);
}

static inline void *catmem_region_alloc_aligned(catmem_region *r, size_t alignment, size_t size) {
    if (CATMEMI_LIKELY(r != NULL && alignment != 0 && (alignment & (alignment - 1)) == 0 &&
                       alignment <= CATMEM_ALIGN_MAX)) {
        uintptr_t p = ((uintptr_t)r->cur + alignment - 1) & ~(uintptr_t)(alignment - 1);
        size_t n = CATMEMI_REGION_ROUND(size);
        if (CATMEMI_LIKELY(p <= (uintptr_t)r->end && n - 1 < (size_t)((uintptr_t)r->end - p))) {
            r->cur = (char *)p + n;
            CATMEMI_TRACK_USABLE((void *)p, size);
            return (void *)p;
        }
    }
    return catmemi_region_alloc_slow(r, alignment, size);
}

#ifdef __cplusplus
}
#endif
#endif /* CATMEM_H */

/* =============================================================================================
   IMPLEMENTATION: process-wide state and every slow path. Compiled once, where the including
   file defines CATMEM_IMPLEMENTATION.
   ============================================================================================= */
#if defined(CATMEM_IMPLEMENTATION) && !defined(CATMEMI_IMPLEMENTED)
#define CATMEMI_IMPLEMENTED

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CATMEMI_DOWN = 0, CATMEMI_UP = 1 };   /* catmemi_state */
enum { CATMEMI_FREE = 0, CATMEMI_LIVE = 1 }; /* catmemi_slot.state */

/* The backends' per-slot data: catmemi_je_slot (CATMEMI_HAS_JE), catmemi_sys_slot
   (CATMEMI_HAS_SYS); the runtime backend has both. */
#define CATMEMI_PART_TYPES
#include CATMEMI_BACKEND_FILE
#undef CATMEMI_PART_TYPES

/* One arena slot: the registry of named arenas. Slots 0..CATMEM_KIND_COUNT-1 are the built-in
   arenas. A slot's backend arena is made once (created != 0) and kept for the process. */
typedef struct catmemi_slot {
    catmem_arena handle; /* handle.slot == index in catmemi_slots */
    int state;           /* CATMEMI_FREE or CATMEMI_LIVE; atomic */
    int created;         /* the backend arena exists; atomic (catmemi_created) */
    char name[CATMEM_NAME_MAX + 1];
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

/* What a backend does out of line. catmem.h has checked arguments and state before any call;
   the comments say which calls run under catmemi_mu. */
typedef struct catmemi_ops {
    const char *name;                     /* catmem_backend_name() */
    int (*once)(void);                    /* at the first init; mu */
    int (*arena_create)(catmemi_slot *s); /* once per slot; mu */
    int (*arena_id)(const catmemi_slot *s);
    void *(*alloc_slow)(catmemi_slot *s, size_t size, int opts);
    void (*free_slow)(catmemi_slot *s, void *p, size_t size); /* s NULL: no usable arena */
    void *(*realloc)(catmemi_slot *s, void *p, size_t size);
    void (*drop_caches)(catmemi_slot *s); /* s NULL: every slot; mu */
    int (*reset)(catmemi_slot *s);        /* mu */
    int (*purge)(catmemi_slot *s);
    int (*stats)(catmemi_slot *s, catmem_stats *out); /* out zeroed */
    int (*total_stats)(catmem_stats *out);            /* out zeroed */
    int (*owns)(const catmemi_slot *s, const void *p);
    int (*set_decay)(catmemi_slot *s, long dirty_ms, long muzzy_ms);
    int (*prof_active)(int on);
    int (*prof_dump)(const char *path);
    void (*publish)(void);        /* after init, shutdown, create, release: state for the fast
                                     path; mu */
    void (*atfork_prepare)(void); /* mu */
    void (*atfork_parent)(void);  /* mu */
    void (*atfork_child)(void);
} catmemi_ops;

static catmemi_slot catmemi_slots[CATMEM_MAX_ARENAS];
static int catmemi_state;     /* CATMEMI_DOWN or CATMEMI_UP; atomic */
static int catmemi_once_done; /* thread key and fork handlers installed; under catmemi_mu */
/* Guards the registry, init/shutdown and every backend operation on other threads' caches. */
static pthread_mutex_t catmemi_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const catmemi_kind_names[CATMEM_KIND_COUNT] = {"request", "response", "cache",
                                                                  "static", "task"};

static void catmemi_lock(void) { pthread_mutex_lock(&catmemi_mu); }
static void catmemi_unlock(void) { pthread_mutex_unlock(&catmemi_mu); }
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

/* The backend's out-of-line part: its catmemi_ops, and catmemi_select() that picks them. */
#define CATMEMI_PART_IMPL
#include CATMEMI_BACKEND_FILE
#undef CATMEMI_PART_IMPL

/* The live backend, chosen once per process before anything is allocated: memory always goes
   back to the allocator that gave it. catmemi_info says what was chosen and why. */
static const catmemi_ops *catmemi_be;
static char catmemi_info[160];
static pthread_once_t catmemi_select_once = PTHREAD_ONCE_INIT;
static void catmemi_select_now(void) {
    catmemi_be = catmemi_select(catmemi_info, sizeof catmemi_info);
}
static const catmemi_ops *catmemi_backend(void) {
    pthread_once(&catmemi_select_once, catmemi_select_now);
    return catmemi_be;
}

static void catmemi_untrack_chunks(catmemi_slot *s); /* with the regions, below */

/* Maps a handle to its slot without judging its state; NULL for anything that is not a handle. */
static catmemi_slot *catmemi_slot_of(const catmem_arena *a) {
    uintptr_t base = (uintptr_t)catmemi_slots, p = (uintptr_t)a;
    if (a == NULL || p < base || p >= base + sizeof catmemi_slots ||
        (p - base) % sizeof(catmemi_slot) != offsetof(catmemi_slot, handle))
        return NULL;
    return &catmemi_slots[(p - base) / sizeof(catmemi_slot)];
}

/* The one argument check behind every call that takes a handle: the slot, or NULL with *err. */
static catmemi_slot *catmemi_check(const catmem_arena *a, int *err) {
    catmemi_slot *s = catmemi_slot_of(a);
    if (s == NULL) {
        *err = EINVAL;
        return NULL;
    }
    if (!catmemi_is_up()) {
        *err = ESHUTDOWN;
        return NULL;
    }
    if (!catmemi_slot_live(s)) {
        *err = EINVAL;
        return NULL;
    }
    return s;
}

static int catmemi_make_arena(catmemi_slot *s) {
    int err;
    if (catmemi_created(s)) return 0;
    err = catmemi_be->arena_create(s);
    if (err == 0) __atomic_store_n(&s->created, 1, __ATOMIC_RELEASE);
    return err;
}

static void catmemi_atfork_prepare(void) {
    catmemi_lock();
    catmemi_be->atfork_prepare();
}
static void catmemi_atfork_parent(void) {
    catmemi_be->atfork_parent();
    catmemi_unlock();
}
static void catmemi_atfork_child(void) {
    catmemi_be->atfork_child();
    pthread_mutex_init(&catmemi_mu, NULL); /* other threads are gone; nobody else holds it */
}

CATMEM_API int catmem_init(void) {
    int err = 0;
    unsigned i;
    if (catmemi_is_up()) return 0;
    catmemi_backend();
    catmemi_lock();
    if (catmemi_state == CATMEMI_UP) goto out;
    if (!catmemi_once_done) {
        err = catmemi_be->once();
        if (err == 0 && pthread_atfork(catmemi_atfork_prepare, catmemi_atfork_parent,
                                       catmemi_atfork_child) != 0)
            err = ENOMEM;
        if (err != 0) goto out;
        for (i = 0; i < CATMEM_MAX_ARENAS; i++) catmemi_slots[i].handle.slot = i;
        catmemi_once_done = 1;
    }
    for (i = 0; i < CATMEM_KIND_COUNT; i++) {
        catmemi_slot *s = &catmemi_slots[i];
        if ((err = catmemi_make_arena(s)) != 0) goto out;
        if (s->name[0] == '\0') strcpy(s->name, catmemi_kind_names[i]);
        __atomic_store_n(&s->state, CATMEMI_LIVE, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&catmemi_state, CATMEMI_UP, __ATOMIC_RELEASE);
    catmemi_be->publish();
out:
    catmemi_unlock();
    return err;
}

CATMEM_API void catmem_shutdown(void) {
    catmemi_lock();
    if (catmemi_state == CATMEMI_UP) {
        __atomic_store_n(&catmemi_state, CATMEMI_DOWN, __ATOMIC_RELEASE);
        catmemi_be->publish();
        catmemi_be->drop_caches(NULL);
    }
    catmemi_unlock();
}

CATMEM_API int catmem_is_initialized(void) { return catmemi_is_up(); }

CATMEM_API const char *catmem_backend_name(void) { return catmemi_backend()->name; }

CATMEM_API const char *catmem_backend_info(void) {
    catmemi_backend();
    return catmemi_info;
}

CATMEM_API catmem_arena *catmem_arena_get(catmem_kind kind) {
    if ((unsigned)kind >= CATMEM_KIND_COUNT) {
        errno = EINVAL;
        return NULL;
    }
    if (!catmemi_is_up()) {
        errno = ESHUTDOWN;
        return NULL;
    }
    return &catmemi_slots[kind].handle;
}

static int catmemi_check_name(const char *name) {
    size_t len;
    if (name == NULL || name[0] == '\0') return EINVAL;
    len = strlen(name);
    return len > CATMEM_NAME_MAX ? ENAMETOOLONG : 0;
}

/* Under catmemi_mu. */
static catmemi_slot *catmemi_find_locked(const char *name) {
    unsigned i;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_slots[i].state == CATMEMI_LIVE && strcmp(catmemi_slots[i].name, name) == 0)
            return &catmemi_slots[i];
    return NULL;
}

CATMEM_API catmem_arena *catmem_arena_create(const char *name) {
    catmemi_slot *s = NULL;
    unsigned i;
    int err = catmemi_check_name(name);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    catmemi_lock();
    if (catmemi_state != CATMEMI_UP) {
        err = ESHUTDOWN;
        goto out;
    }
    if (catmemi_find_locked(name) != NULL) {
        err = EEXIST;
        goto out;
    }
    /* A free slot whose backend arena already exists first: reuse keeps the arena count flat. */
    for (i = CATMEM_KIND_COUNT; i < CATMEM_MAX_ARENAS && s == NULL; i++)
        if (catmemi_slots[i].state == CATMEMI_FREE && catmemi_created(&catmemi_slots[i]))
            s = &catmemi_slots[i];
    for (i = CATMEM_KIND_COUNT; i < CATMEM_MAX_ARENAS && s == NULL; i++)
        if (catmemi_slots[i].state == CATMEMI_FREE) s = &catmemi_slots[i];
    if (s == NULL) {
        err = EAGAIN;
        goto out;
    }
    if ((err = catmemi_make_arena(s)) != 0) {
        s = NULL;
        goto out;
    }
    strcpy(s->name, name);
    __atomic_store_n(&s->state, CATMEMI_LIVE, __ATOMIC_RELEASE);
    catmemi_be->publish();
out:
    catmemi_unlock();
    if (s == NULL) {
        errno = err;
        return NULL;
    }
    return &s->handle;
}

CATMEM_API catmem_arena *catmem_arena_find(const char *name) {
    catmemi_slot *s;
    int err = catmemi_check_name(name);
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
    return &s->handle;
}

CATMEM_API int catmem_arena_release(catmem_arena *a) {
    int err = 0;
    catmemi_slot *s;
    catmemi_lock();
    s = catmemi_check(a, &err);
    if (s != NULL && s->handle.slot < CATMEM_KIND_COUNT) err = EINVAL; /* built-ins stay */
    if (err == 0) {
        catmemi_be->drop_caches(s);
        catmemi_untrack_chunks(s);
        err = catmemi_be->reset(s);
        if (err == 0) {
            s->name[0] = '\0';
            __atomic_store_n(&s->state, CATMEMI_FREE, __ATOMIC_RELEASE);
            catmemi_be->publish();
        }
    }
    catmemi_unlock();
    return err;
}

CATMEM_API const char *catmem_arena_name(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_slot_live(s)) ? s->name : NULL;
}

CATMEM_API int catmem_arena_id(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_created(s)) ? catmemi_be->arena_id(s) : -1;
}

CATMEM_API int catmem_arena_owns(const catmem_arena *a, const void *p) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_created(s) && p != NULL) ? catmemi_be->owns(s, p) : 0;
}

CATMEM_API int catmem_arena_reset(catmem_arena *a) {
    int err = 0;
    catmemi_slot *s;
    catmemi_lock();
    s = catmemi_check(a, &err);
    if (s != NULL) {
        catmemi_untrack_chunks(s);
        err = catmemi_be->reset(s);
    }
    catmemi_unlock();
    return err;
}

CATMEM_API int catmem_arena_purge(catmem_arena *a) {
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

CATMEM_API int catmem_arena_stats(catmem_arena *a, catmem_stats *out) {
    int err = 0;
    catmemi_slot *s = catmemi_check(a, &err);
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    return s != NULL ? catmemi_stats_done(catmemi_be->stats(s, out), out) : err;
}

CATMEM_API int catmem_total_stats(catmem_stats *out) {
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    if (!catmemi_is_up()) return ESHUTDOWN;
    return catmemi_stats_done(catmemi_be->total_stats(out), out);
}

CATMEM_API int catmem_arena_set_decay(catmem_arena *a, long dirty_ms, long muzzy_ms) {
    int err = 0;
    catmemi_slot *s = catmemi_check(a, &err);
    if (s == NULL) return err;
    if (dirty_ms < -1 || muzzy_ms < -1) return EINVAL;
    return catmemi_be->set_decay(s, dirty_ms, muzzy_ms);
}

CATMEM_API int catmem_prof_active(int on) {
    return catmemi_is_up() ? catmemi_be->prof_active(on != 0) : ESHUTDOWN;
}

CATMEM_API int catmem_prof_dump(const char *path) {
    return catmemi_is_up() ? catmemi_be->prof_dump(path) : ESHUTDOWN;
}

CATMEM_API void *catmemi_alloc_slow(const catmem_arena *a, size_t size, int opts) {
    int err = 0;
    void *p;
    catmemi_slot *s = catmemi_check(a, &err);
    if (s == NULL) {
        errno = err;
        return NULL;
    }
    if (opts < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) size = 1;
    if (size > CATMEM_SIZE_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    p = catmemi_be->alloc_slow(s, size, opts);
    if (p == NULL) errno = ENOMEM;
    return p;
}

CATMEM_API void catmemi_free_slow(const catmem_arena *a, void *p, size_t size) {
    int err = 0;
    catmemi_slot *s = catmemi_check(a, &err);
    if (p == NULL) return;
    if (catmemi_be == NULL) { /* before any init: p cannot be catmem's */
        errno = EINVAL;
        return;
    }
    if (a == NULL || (size != 0 && size > CATMEM_SIZE_MAX)) {
        catmemi_be->free_slow(NULL, p, 0); /* the pointer knows its owner; the call was wrong */
        errno = EINVAL;
        return;
    }
    /* s is NULL after shutdown or for a released arena: free without touching any cache. */
    catmemi_be->free_slow(s, p, size);
}

CATMEM_API void *catmem_realloc(catmem_arena *a, void *p, size_t size) {
    int err = 0;
    catmemi_slot *s;
    void *q;
    if (p == NULL) return catmem_alloc(a, size);
    s = catmemi_check(a, &err);
    if (s == NULL) {
        errno = err;
        return NULL;
    }
    if (size == 0) size = 1;
    if (size > CATMEM_SIZE_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    q = catmemi_be->realloc(s, p, size);
    if (q == NULL) errno = ENOMEM;
    return q;
}

CATMEM_API char *catmem_strdup(catmem_arena *a, const char *str) {
    size_t n;
    char *p;
    if (str == NULL) {
        errno = EINVAL;
        return NULL;
    }
    n = strlen(str) + 1;
    p = (char *)catmem_alloc(a, n);
    if (p != NULL) memcpy(p, str, n);
    return p;
}

/* ---- regions -------------------------------------------------------------------------------- */

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
    b->arena_next = catmemi_slots[slot].chunks;
    if (b->arena_next != NULL) b->arena_next->arena_prev = b;
    catmemi_slots[slot].chunks = b;
    catmemi_unlock();
}
static void catmemi_untrack(catmemi_region_block *b) {
    catmemi_lock();
    if (b->arena_prev != NULL)
        b->arena_prev->arena_next = b->arena_next;
    else
        catmemi_slots[b->slot].chunks = b->arena_next;
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
        catmemi_track(b, r->arena->slot);
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

CATMEM_API int catmem_region_init(catmem_region *r, catmem_arena *a) {
    if (r == NULL) return EINVAL;
    memset(r, 0, sizeof *r);
    r->arena = a;
    return a != NULL ? 0 : EINVAL;
}

CATMEM_API void *catmemi_region_alloc_slow(catmem_region *r, size_t alignment, size_t size) {
    catmemi_region_block *b;
    size_t n, need, next;
    uintptr_t p;
    int huge, err = 0;
    if (r == NULL || r->arena == NULL || alignment == 0 || (alignment & (alignment - 1)) != 0 ||
        alignment > CATMEM_ALIGN_MAX) {
        errno = EINVAL;
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

CATMEM_API void *catmem_region_calloc(catmem_region *r, size_t n, size_t size) {
    size_t total = catmemi_mul_size(n, size);
    void *p = catmem_region_alloc(r, total);
    if (p != NULL) memset(p, 0, total);
    return p;
}

CATMEM_API char *catmem_region_strdup(catmem_region *r, const char *s) {
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

CATMEM_API catmem_region_mark catmem_region_save(const catmem_region *r) {
    catmem_region_mark m;
    memset(&m, 0, sizeof m);
    if (r != NULL) {
        m.chunk = r->chunks;
        m.cur = r->cur;
        m.large = r->large;
    }
    return m;
}

static int catmemi_block_listed(catmemi_region_block *list, catmemi_region_block *b) {
    for (; list != NULL; list = list->prev)
        if (list == b) return 1;
    return b == NULL;
}

CATMEM_API int catmem_region_restore(catmem_region *r, catmem_region_mark m) {
    if (r == NULL) return EINVAL;
    /* A mark from this region that is still valid: its blocks are still ours, and it does not
       point past what is allocated now (a mark taken before a reset, say). */
    if (!catmemi_block_listed(r->chunks, m.chunk) || !catmemi_block_listed(r->large, m.large))
        return EINVAL;
    if (m.chunk == NULL
            ? m.cur != NULL
            : (m.cur < catmemi_block_data(m.chunk) || m.cur > catmemi_block_end(m.chunk) ||
               (m.chunk == r->chunks && m.cur > r->cur)))
        return EINVAL;
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

CATMEM_API int catmem_region_reset(catmem_region *r) {
    catmemi_region_block *b, *keep;
    size_t used = 0, want;
    if (r == NULL) return EINVAL;
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
        int saved = errno;
        catmemi_region_block *fresh = catmemi_block_new(r, want);
        errno = saved; /* a failure here loses nothing: the newest chunk stays */
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

CATMEM_API int catmem_region_release(catmem_region *r) {
    if (r == NULL) return EINVAL;
    catmemi_blocks_free(r, r->large, NULL);
    catmemi_blocks_free(r, r->chunks, NULL);
    r->large = r->chunks = NULL;
    r->cur = r->end = NULL;
    return 0;
}

#if CATMEM_DEBUG
CATMEM_API void catmemi_debug_check_free(const catmem_arena *a, const void *p) {
    catmemi_slot *s = catmemi_slot_of(a);
    unsigned i;
    if (s == NULL) {
        fprintf(stderr, "catmem: free of %p with an invalid arena handle %p\n", p, (void *)a);
        abort();
    }
    if (catmem_arena_owns(a, p)) return;
    for (i = 0; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_created(&catmemi_slots[i]) && catmemi_be->owns(&catmemi_slots[i], p)) {
            fprintf(stderr, "catmem: %p freed into arena '%s' but belongs to arena '%s'\n", p,
                    s->name, catmemi_slots[i].name);
            abort();
        }
    fprintf(stderr, "catmem: %p freed into arena '%s' was not allocated by catmem\n", p, s->name);
    abort();
}
#endif

#ifdef __cplusplus
}
#endif
#endif /* CATMEM_IMPLEMENTATION */
