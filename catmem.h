/* catmem.h - arena allocation for C and C++, on jemalloc or on the system malloc.

   WHAT IT IS
   ==========
   catmem groups memory by lifetime: every allocation goes to an arena (request, response, cache,
   static, background task, or one you create by name), an arena can be freed all at once, measured
   on its own, and trimmed. On jemalloc the arenas are real jemalloc manual arenas; on the system
   backend catmem runs an allocator of its own on memory taken from malloc in large pieces, so
   that the same calls mean the same thing.

   It removes the usual traps of using jemalloc arenas by hand:
   - arenas created at every init until the process runs out of them: catmem creates each arena
     once per process and reuses it across catmem_init/catmem_shutdown and create/release cycles;
   - mallocx(MALLOCX_ARENA(i)) silently going through the thread's automatic cache, which mixes
     arenas and leaves dangling pointers after a reset; MALLOCX_TCACHE_NONE, which is correct but
     takes the arena's lock on every call; explicit caches (tcache.create), no more than about
     4,000 in a process: catmem keeps a small front cache of its own per thread and arena (freed
     blocks per size class, no jemalloc cache id) filled from the arena, gives a jemalloc cache
     of their own only to the busiest pairs, within a cap, and empties them all before a reset
     and when their thread exits;
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
   CATMEM_BACKEND_SYSTEM    catmem's own engine on malloc (SYSTEM BACKEND below): arenas, reset
                            and statistics as on jemalloc, no jemalloc needed.
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
                            define all four or none. Every byte the engine uses comes from them:
                            segments, large blocks, heaps, the large-block table.
   CATMEM_SYSTEM_ENGINE     1: the system backend's engine even under a memory checker; 0: every
                            block a malloc of its own (default: 0 under AddressSanitizer and with
                            CATMEM_VALGRIND, 1 otherwise).
   CATMEM_MAX_ARENAS        arena slots, built-in ones included (default 64, at most 4000).
                            Every thread keeps one word per slot in thread-local storage (two
                            on the system backend, three on the runtime backend).
   CATMEM_NAME_MAX          longest arena name in bytes (default 31).
   CATMEM_JEMALLOC_CACHE_BYTES  jemalloc: bytes of freed blocks one thread keeps in its front
                            caches, all arenas together (default 1 MiB); 0: no front caches,
                            every call goes to the arena (and its lock).
   CATMEM_JEMALLOC_TCACHES  jemalloc: how many jemalloc caches (tcache.create) catmem may hold
                            for busy (thread, arena) pairs, all threads together (default 1024;
                            0: none). THREADS says what they do.
   CATMEM_DEBUG             1: check on every free that the pointer belongs to the arena given,
                            and abort with a message on misuse that cannot be reported otherwise.
                            Slow (jemalloc: one arenas.lookup per free). Default 0.
   CATMEM_API               storage class of the public functions (default: extern).
   CATMEM_REGION_ALIGN      alignment of every region allocation (default 16).
   CATMEM_REGION_CHUNK_MIN  first chunk of a region, in bytes (default 4096).
   CATMEM_REGION_CHUNK_MAX  largest chunk of a region (default 1 MiB).
   CATMEM_VALGRIND          1: describe region memory to Valgrind's memcheck, and give every
                            block of the system backend a malloc of its own, which memcheck
                            watches (default: 1 when CATMEM_DEBUG is and <valgrind/memcheck.h>
                            exists).

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

   LIFETIMES: CLEANUPS, CHILD ARENAS, OUT OF MEMORY, THE REPORT
   ============================================================
       catmem_arena *req = catmem_arena_create_child(catmem_arena_get(CATMEM_REQUEST), "req-42");
       int fd = open(path, O_RDONLY);
       catmem_arena_on_reset(req, close_fd, (void *)(intptr_t)fd);   // runs at reset or release
       ...
       catmem_arena_release(req);                       // close_fd runs, then the memory goes
   - Cleanups (catmem_arena_on_reset) run at catmem_arena_reset and _release: last registered
     first, each exactly once, on the calling thread, before any of the arena's memory is freed.
     They run outside catmem's locks, so a cleanup may call catmem; but while they run the arena
     (and every arena reset with it) refuses everything except catmem_free with EBUSY: a cleanup
     that allocates from, resets, releases or registers on it gets EBUSY, never a deadlock. A
     record costs one small malloc; ENOMEM registers nothing.
   - Child arenas (catmem_arena_create_child) are user arenas with a parent, any arena built-in
     ones included. catmem_arena_reset(parent) resets every child first, deepest first, each
     with its cleanups, then the parent; catmem_arena_release(parent) releases them all the same
     way. A child's own reset or release touches only its subtree. Statistics are per arena: a
     parent's figures do not include its children's.
   - Regions have cleanups too (catmem_region_on_reset): run by catmem_region_reset and _release,
     and by catmem_region_restore for those registered after the mark, before the region takes
     its memory back. Their records live in the region. While they run the region answers EBUSY.
   - catmem_set_oom_handler(fn, arg): when an allocation, a realloc or a region chunk is about to
     fail for lack of memory, fn(arena, size, arg) runs; non-zero makes catmem try once more.
     (Not for the larger chunk catmem_region_reset tries to keep: that one may fail quietly.)
     Sizes above CATMEM_SIZE_MAX fail at once, without it. A thread never re-enters it (an
     allocation failing inside it just fails); several threads may run it at once.
   - Limits (catmem_arena_set_limit): see LIMITS below.
   - catmem_report(out, CATMEM_REPORT_TEXT or _JSON) writes every live arena (name, id, parent,
     statistics with peak and limit, pending cleanups) and the total, as a table or as one JSON
     object. With
     CATMEM_REPORT=stderr, stdout or a file path in the environment at the first init, the
     report is written when the process exits (JSON when the path ends in ".json").

   LIMITS
   ======
       catmem_arena *req = catmem_arena_create_child(catmem_arena_get(CATMEM_REQUEST), "req-42");
       catmem_arena_set_limit(req, 1 << 20);            // at most 1 MiB of blocks
       char *p = catmem_alloc(req, n);                  // NULL and ENOMEM past it
   - An allocation that would take the arena's allocated bytes (size classes, as in STATISTICS)
     past its limit fails with NULL and ENOMEM, after the out-of-memory handler ran (it may free
     or raise the limit and have catmem try once more). Every allocation call counts: calloc,
     aligned_alloc, realloc's growth, strdup, and the chunks and blocks of regions drawing on the
     arena. catmem_arena_limit says the limit (0: none); a limit below what the arena holds is
     allowed (allocations fail until frees bring it under); reset keeps the limit, release
     forgets it. A limit covers its own arena only, not its children: give each child its own.
   - System backend: exact. The arena's blocks are counted as they are handed out and freed,
     by any thread, and an allocation fails only when its block does not fit under the limit at
     that moment. To count every call, an arena with a limit (from its first limit until it is
     released) leaves the inline paths: its allocations and frees take the out-of-line path with
     one atomic operation each (measured: 298 instructions per free + allocate against 97.5
     inline, 2.1 times the time; threads allocating in one limited arena at once share its
     counter: two took 6.5 times the time; bench/bench_general.c). Arenas without a limit cost
     nothing more.
   - jemalloc backend: never past the limit, and within a stated bound of it. From its first
     limit an arena's blocks are counted where they leave or come back to the jemalloc arena
     (slow paths only: a limit costs the inline paths nothing), so a block sitting in a
     thread's front cache counts as allocated. A cache of an arena with a limit holds at most
     limit / 16 bytes (another thread's cache learns of a lowered limit at its next refill), and
     a thread that is refused first gives back its own cached blocks of that arena. An
     allocation is therefore refused only when the live blocks plus what OTHER threads' caches
     of the arena hold (each at most limit / 16, given back when those threads exit) leave no
     room: with one thread the limit is exact. A limit set below what the arena holds: the
     caller's cached blocks go back at once (every thread's for an arena that had no limit);
     until frees bring the arena under the limit, blocks it frees may come back from the front
     cache, so it holds no more than it did, and anything beyond that is refused.
   - Set the first limit of an arena when no other thread is allocating from or freeing into it
     (as for catmem_arena_reset: THREADS): on the system backend that call moves the arena off
     the inline paths of every thread. Changing a limit afterwards is safe at any time.

   ERRORS
   ======
   Allocation functions return NULL and set errno; control functions return 0 or an errno value
   (and leave errno alone). Nothing is lost on failure: a failed realloc leaves the block as it was.
     EINVAL      NULL or released arena handle; NULL or uninitialised region; alignment zero, not
                 a power of two, or above CATMEM_ALIGN_MAX; unknown kind; bad name; release of a
                 built-in arena; a dead or foreign region mark; a NULL cleanup function; an
                 unknown report format.
     ENOMEM      out of memory, or past the arena's limit (after the out-of-memory handler had
                 its chance); size above CATMEM_SIZE_MAX; n * size overflows in calloc.
     ESHUTDOWN   called after catmem_shutdown() (and before the next catmem_init()).
     EBUSY       the arena or region is running its cleanups (see LIFETIMES).
     EIO         catmem_report could not write to its stream.
     EEXIST      catmem_arena_create with the name of a live arena.
     ENAMETOOLONG  name longer than CATMEM_NAME_MAX.
     EAGAIN      no free arena slot (CATMEM_MAX_ARENAS), or jemalloc cannot create more arenas.
     ENOTSUP     the feature does not exist on this backend or in this process (profiling without
                 MALLOC_CONF=prof:true, decay tuning on the system backend).
     ENOENT      catmem_arena_find found no arena of that name.
   Size 0 is valid everywhere and returns a unique pointer, as if 1 byte had been asked for; this
   includes catmem_realloc(a, p, 0), which is catmem_realloc(a, p, 1): p is never freed without a
   block that replaces it (which may be at another address, as with any realloc).
   catmem_free(a, NULL) does nothing. catmem_free(NULL, p) still frees p correctly (the owner comes
   from the pointer) and sets errno to EINVAL so the mistake can be found. catmem_free_any(p)
   frees p into whichever arena owns it, on every backend; catmem_usable_size(p) is the size
   class of p (0 for NULL).
   The system backend stops the process (abort, with a message naming the arena) on corrupted
   allocator metadata and on the double frees it recognises; see SYSTEM BACKEND.

   LIFETIME
   ========
   The first catmem call of the process initialises catmem as catmem_init would (if that fails,
   the call reports the init's error and the next call tries again), so code that allocates
   before anyone calls catmem_init works. catmem_init is idempotent and thread-safe; it is not
   reference-counted. catmem_shutdown is idempotent: it drops every thread's caches and makes
   allocation, reset, purge and stats fail with ESHUTDOWN until the next catmem_init (after it no
   call initialises implicitly). It does NOT free what the arenas hold: arenas and
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
     through a heap of its own for that arena, and a block freed by another thread goes back to
     its owner's page without a lock (a compare-and-swap) and counts as freed at once. Caches are
     emptied, and heaps handed on, when their thread exits, so thread churn piles up neither.
   - On jemalloc any number of threads and arenas works the same way: a front cache is made on a
     thread's first call in an arena and costs about 600 bytes, plus the blocks it holds (those
     the thread freed and has not reused, and the rest of a refill). A thread's caches share
     CATMEM_JEMALLOC_CACHE_BYTES: each may hold that budget divided by the number of caches the
     thread has, at least 16 KiB, and gives blocks back beyond it (a cache learns of a smaller
     share at its next refill or overflow). One busy arena gets the whole budget; 100 arenas
     get 16 KiB each, and keep blocks up to a sixteenth of that (1 KiB), so that a few large
     blocks do not push out the small ones. Blocks above 14 KiB (or above that sixteenth of a
     cache's share), and every block while heap profiling is on (MALLOC_CONF=prof:true, so that
     jemalloc's sampler sees every allocation), go to the arena directly, with its lock.
   - On jemalloc a busy pair (one that moved 1,024 blocks between its front cache and the arena)
     also gets a jemalloc cache of its own (tcache.create: about 5 us and 8 KiB; the first in
     the process adds 0.2 to 0.6 MiB of jemalloc's own metadata, once): its refills then take
     many blocks under one arena lock (experimental.batch_alloc) and its give-backs go into
     that cache, which returns them in batches. Only that pair uses it, so arenas stay
     separate. It holds at most jemalloc's bound per size class (20 to 200 blocks; about 2 MiB
     if every class were full), is flushed before a reset of its arena, and goes with its front
     cache. At most 8 per thread and CATMEM_JEMALLOC_TCACHES in the process (jemalloc has about
     4,000): pairs past that take the arena's lock per block, as before they were busy, and
     catmem_backend_info says so once it happens. Arenas with a limit do without, and so does
     every pair on a jemalloc without experimental.batch_alloc (before 5.3).
   - A thread that sleeps keeps nothing that others freed: on the system backend, a page whose
     blocks were all freed (by any thread) is taken back by catmem_arena_purge and whenever any
     thread of the arena needs a new segment, whether its owner sleeps or not. What a sleeping
     owner can keep is its current page of each size class it used: at most 64 KiB per size
     class per (thread, arena), 2.3 MiB in all if it used all 36 classes. (A purge by the owner
     itself takes those back too.) On jemalloc, blocks in a sleeping thread's front caches stay
     there: at most its CATMEM_JEMALLOC_CACHE_BYTES.
   - catmem_arena_reset and catmem_arena_release free memory other threads may be using. The caller
     must make sure that no other thread allocates from or frees into THAT arena (or, for a
     parent, any of its children) during the call and that nobody uses its memory afterwards;
     other arenas are unaffected. A built-in arena shared by concurrent requests (CATMEM_REQUEST)
     therefore cannot be reset while requests are in flight: give each request or worker its own
     arena (catmem_arena_create_child(catmem_arena_get(CATMEM_REQUEST), name) keeps them grouped),
     or reset at a quiescent point. Cleanups run on the thread that resets or releases.
   - catmem_shutdown must not run concurrently with other catmem calls.
   - catmem_arena_stats and catmem_arena_purge may run at any time.

   STATISTICS (catmem_stats)
   ==========
                jemalloc backend                          system backend
     allocated  bytes in live blocks, size-class rounded  the same: catmem_usable_size of every
                                                          live block (size classes; large blocks
                                                          rounded up to 16 bytes)
     active     bytes in the arena's active pages         bytes of the arena's pages in use (64 KiB
                                                          each) and of its large blocks
     resident   bytes of the arena physically resident    bytes of its segments written since the
                                                          last purge, and its large blocks
     mapped     bytes mapped for the arena                its segments (1 MiB each) and what its
                                                          large blocks took from malloc
     nmalloc    catmem calls that handed out a block: alloc, calloc, aligned_alloc, strdup,
                and a realloc that moved the block (a realloc in place counts nothing)
     ndalloc    blocks freed: free, free_sized, free_any, a moving realloc's old block, and
                every block a reset or release freed
     peak       the highest allocated since the arena was created or last reset (below)
     limit      catmem_arena_limit (LIMITS)
   nmalloc and ndalloc count calls the same way on every backend, in counters of each thread's
   own (a front cache, a heap) added up when read: they cost the fast path one increment. After
   a release the slot's next arena starts from zero.
   peak: for an arena with a limit, the high-water of its counted bytes (LIMITS: exact on the
   system backend; on jemalloc the bytes out of the arena, front caches included, kept where
   blocks leave it). For an arena without one, catmem does not count bytes as they move (that
   would cost every call a shared counter), so peak is the highest allocated that
   catmem_arena_stats and catmem_report have read: give the arena a limit of SIZE_MAX to have
   its peak counted without capping it (LIMITS says what that costs).
   On jemalloc, a block that a thread freed into its front cache still counts as allocated
   until the cache gives it back: when it is over its share of the thread's budget, when the
   thread exits, at catmem_arena_release and catmem_shutdown (a reset frees cached blocks with
   the rest). So does a block in a busy pair's jemalloc cache (THREADS) until that cache
   returns it. catmem_arena_stats and catmem_arena_purge first empty the calling thread's caches
   for that arena, so a single-threaded program sees exact figures; another thread's caches
   hold at most about CATMEM_JEMALLOC_CACHE_BYTES together, plus its busy pairs' jemalloc
   caches (THREADS).
   catmem_total_stats covers the whole process on jemalloc (everything jemalloc serves) and the
   sum of catmem's arenas on the system backend; its nmalloc and ndalloc are catmem's calls in
   every arena, its peak and limit 0. On the system backend the figures are exact
   whatever the threads do: a block freed by another thread counts as freed the moment it is
   freed, even while its owner sleeps, and its memory counts as resident until a purge (or
   another thread's need for a segment) takes its page back. While other threads allocate, the
   fields are read one after another and may be a few operations out of step; catmem keeps them
   coherent (ndalloc <= nmalloc, allocated <= active). On jemalloc a stats
   call refreshes every arena's statistics (mallctl "epoch") and costs a fraction of a
   millisecond (about 0.18 ms measured here): call it to monitor, not on every request.

   SYSTEM BACKEND
   ==============
   An allocator of catmem's own on memory taken from malloc in large pieces:
   - Segments of 1 MiB, aligned to 1 MiB (malloc of 2 MiB; pages never touched cost no RSS), each
     owned by one heap, i.e. one (thread, arena). A segment is a 64 KiB header, then 15 pages of
     64 KiB; a page holds blocks of one size class (36 classes: 16 to 128 bytes by 16, then four
     per doubling up to 16 KiB) and no per-block header. The owner of a pointer comes from the
     pointer: mask it to its segment, check the segment's cookie, index the page. Allocation pops
     the page's free list; a free by the owner pushes onto the page's local list; a free by
     another thread onto the page's atomic list. catmem_usable_size is the size class. A bitmap
     of the address space (16 MiB of zero-initialised data, resident only where segments are)
     says which pointers lie in segments, so a foreign pointer is never read.
   - Blocks above 16 KiB are large: one malloc each, recorded in a table beside them (a global
     mutex, taken only for large blocks). catmem_realloc of a large block reallocs it in place
     when it can; a failed realloc leaves the block as it was.
   - catmem_arena_reset and _release free the arena's segments and large blocks (time
     proportional to segments, not to small objects). catmem_arena_purge gives the OS the pages
     whose blocks are all free, gives malloc back the segments left empty, and trims glibc's
     free memory (malloc_trim, which is process-wide).
   - Hardening. Between two blocks there is no allocator data: a linear overflow from one block
     reaches only the next block. Free-list links are stored encoded with a per-process random
     key and the block's own address, and every link is checked when it is followed: it must
     point into the same page. A segment header starts with a keyed cookie, checked before the
     header is trusted. Large-block records are checked with the key too. A corrupted link,
     cookie or record, a double free, or a free of a pointer inside a segment that is no block
     stops the process with "catmem: <what> at <address> in arena '<name>'" (abort()). A double
     free is recognised when the block is on its page's lists (always so for an immediate double
     free by the owning thread; by another thread: when it is the last block freed into that
     page); a pointer catmem never handed out is refused with errno EINVAL.
   - Memory checkers. Under AddressSanitizer, and with CATMEM_VALGRIND, every block is a malloc of
     its own (the large-block path), so ASan's redzones and quarantine and memcheck's tracking
     apply to every block: a use after free or an overflow is reported as with malloc
     (tests/hardening_test.c checks ASan's report). Region memory is described to both as well.
   - CATMEM_BACKEND_RUNTIME without jemalloc in the process runs this backend with the same
     inline paths.

   MISUSE THAT CANNOT BE REPORTED
   ==============================
   Freeing a pointer that catmem did not allocate, or freeing it twice, is undefined, as with
   free(); the system backend refuses a foreign pointer and stops the process on the double
   frees it recognises (SYSTEM BACKEND).
   Freeing a catmem block with plain free() on jemalloc puts it into the thread's automatic cache,
   which defeats reset; always use catmem_free (or catmem_free_any). Freeing into the wrong arena
   still frees the block, but on jemalloc puts it into the front cache of the arena named, which
   hands it out again, and counts it there (statistics and limits of both arenas go wrong):
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
#include <stdio.h>
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
/* Every function of catmem is declared and defined with CATMEMI_API: the user's storage class,
   and "unused" so that a program built with CATMEM_API=static that does not call every
   function still compiles without warnings. */
#if defined(__GNUC__)
#  define CATMEMI_API CATMEM_API __attribute__((unused))
#else
#  define CATMEMI_API CATMEM_API
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
/* The fast paths are small but nested (public call, backend dispatch, pop): inlined whole. */
#if CATMEMI_HAS_ATTR(always_inline)
#  define CATMEMI_INLINE static inline __attribute__((always_inline))
#else
#  define CATMEMI_INLINE static inline
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
    size_t peak;  /* the highest allocated since the arena was created or last reset */
    size_t limit; /* catmem_arena_limit; 0: none */
} catmem_stats;

/* ---- lifetime -------------------------------------------------------------------------------- */

CATMEMI_API int catmem_init(void);      /* 0, or an errno value; idempotent, thread-safe */
CATMEMI_API void catmem_shutdown(void); /* idempotent; arenas persist and are reused by init */
CATMEMI_API int catmem_is_initialized(void);
CATMEMI_API const char *catmem_backend_name(void); /* "jemalloc" or "system"; works before init */
/* Why that backend: "jemalloc 5.3.0-... (linked)", "jemalloc 5.3.0-... found in process",
   "no jemalloc in process: system malloc", ... Works before init; after the first init it also
   says when jemalloc's front caches are off, and why ("; front caches off: heap profiling"). */
CATMEMI_API const char *catmem_backend_info(void);

/* ---- arenas ---------------------------------------------------------------------------------- */

CATMEMI_API catmem_arena *catmem_arena_get(catmem_kind kind);
CATMEMI_API catmem_arena *catmem_arena_create(const char *name); /* a user arena, named uniquely */
CATMEMI_API catmem_arena *catmem_arena_find(const char *name);
CATMEMI_API int catmem_arena_release(catmem_arena *a); /* frees its memory; slot reused later */
CATMEMI_API const char *catmem_arena_name(const catmem_arena *a); /* NULL for a bad handle */
/* The backend's own id for the arena (jemalloc arena index; system: catmem slot), or -1. */
CATMEMI_API int catmem_arena_id(const catmem_arena *a);
/* 1 when p, a live block from any catmem arena, belongs to a; 0 otherwise (and for NULL). p must
   come from catmem: jemalloc's lookup crashes on pointers it never handed out. */
CATMEMI_API int catmem_arena_owns(const catmem_arena *a, const void *p);

CATMEMI_API int catmem_arena_reset(catmem_arena *a); /* frees every block of a at once */
CATMEMI_API int catmem_arena_purge(catmem_arena *a); /* unused pages back to the OS */
CATMEMI_API int catmem_arena_stats(catmem_arena *a, catmem_stats *out);
CATMEMI_API int catmem_total_stats(catmem_stats *out);
/* jemalloc's page decay for one arena, in milliseconds (-1: never, 0: at once). System: ENOTSUP. */
CATMEMI_API int catmem_arena_set_decay(catmem_arena *a, long dirty_ms, long muzzy_ms);

/* Heap profiling: jemalloc only, and only when the process started with MALLOC_CONF=prof:true
   (or a malloc_conf symbol saying so); ENOTSUP otherwise. path NULL: jemalloc's default name. */
CATMEMI_API int catmem_prof_active(int on);
CATMEMI_API int catmem_prof_dump(const char *path);

/* ---- lifetimes: cleanups, child arenas, the out-of-memory handler, the report ---------------- */

/* Run when the arena (or region) it was registered on is reset or released. */
typedef void (*catmem_cleanup_fn)(void *arg);
/* fn(arg) runs at the next catmem_arena_reset or _release of a, or of an ancestor of a: last
   registered first, each exactly once, before the arena's memory is freed (a cleanup may still
   read what it points to). fn NULL: EINVAL. */
CATMEMI_API int catmem_arena_on_reset(catmem_arena *a, catmem_cleanup_fn fn, void *arg);
/* A user arena that lives inside parent: resetting parent resets it first (its cleanups run
   first), releasing parent releases it. Children of children work. */
CATMEMI_API catmem_arena *catmem_arena_create_child(catmem_arena *parent, const char *name);
CATMEMI_API catmem_arena *catmem_arena_parent(const catmem_arena *a); /* NULL: top level */

/* An allocation that would take a's allocated bytes past bytes fails with NULL and ENOMEM
   (after the out-of-memory handler had its chance); region chunks count. 0: no limit. A limit
   below what a holds is allowed: allocations fail until frees bring it under. LIMITS in the
   manual says how exact it is on each backend. */
CATMEMI_API int catmem_arena_set_limit(catmem_arena *a, size_t bytes);
CATMEMI_API size_t catmem_arena_limit(const catmem_arena *a); /* 0: none, or a bad handle */

/* Called when an allocation is about to fail for lack of memory: return non-zero after making
   room to have catmem try once more, zero to fail. Never re-entered by the thread running it.
   fn NULL: no handler (the default). */
typedef int (*catmem_oom_fn)(catmem_arena *a, size_t size, void *arg);
CATMEMI_API void catmem_set_oom_handler(catmem_oom_fn fn, void *arg);

/* Every live arena (name, id, parent, statistics, pending cleanups) and the total, as a
   readable table or as one JSON object. */
#define CATMEM_REPORT_TEXT 0
#define CATMEM_REPORT_JSON 1
CATMEMI_API int catmem_report(FILE *out, int flags);

/* ---- allocation (fast paths are inline below) ------------------------------------------------ */

static inline void *catmem_alloc(catmem_arena *a, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE(2) CATMEMI_NODISCARD;
static inline void *catmem_calloc(catmem_arena *a, size_t n, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE2(2, 3) CATMEMI_NODISCARD;
static inline void *catmem_aligned_alloc(catmem_arena *a, size_t alignment,
                                         size_t size) CATMEMI_MALLOC CATMEMI_ALIGN(2)
    CATMEMI_SIZE(3) CATMEMI_NODISCARD;
CATMEMI_API void *catmem_realloc(catmem_arena *a, void *p, size_t size)
    CATMEMI_SIZE(3) CATMEMI_NODISCARD;
CATMEMI_API char *catmem_strdup(catmem_arena *a, const char *s) CATMEMI_MALLOC CATMEMI_NODISCARD;
static inline void catmem_free(catmem_arena *a, void *p);
static inline void catmem_free_sized(catmem_arena *a, void *p, size_t size);
/* The bytes p may use (at least what was asked for; the size class); 0 for NULL. p must be a
   live block from catmem. */
CATMEMI_API size_t catmem_usable_size(const void *p);
/* Frees p into whichever arena owns it (found from the pointer); NULL does nothing. Bypasses
   every thread cache on jemalloc. */
CATMEMI_API void catmem_free_any(void *p);

/* ---- memory checkers ------------------------------------------------------------------------ */

/* Where memory checkers learn what catmem hands out and takes back; the only place that knows
   about them. Under AddressSanitizer, region memory that is not handed out is poisoned, so a use
   after catmem_region_reset/restore/release is reported. With CATMEM_VALGRIND (default: on when
   CATMEM_DEBUG is and <valgrind/memcheck.h> exists) memcheck is told the same. With CATMEM_DEBUG,
   memory taken back is also filled with 0xdd. Under either checker the system backend gives
   every block a malloc of its own (CATMEMI_SYS_ENGINE 0 in backends/system.h), so that the
   checker watches each block itself. */
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
CATMEMI_API void *catmemi_alloc_slow(const catmem_arena *a, size_t size, int opts);
CATMEMI_API void catmemi_free_slow(const catmem_arena *a, void *p, size_t size);

/* The backend's inline part: catmemi_be_alloc, catmemi_be_free, catmemi_be_free_sized. The
   backend file is included three times, once per part (CATMEMI_PART_INLINE here, _TYPES and
   _IMPL in the implementation below); THE BACKEND CONTRACT, next to catmemi_ops, says what each
   part holds and what it may assume. */
#define CATMEMI_PART_INLINE
#include CATMEMI_BACKEND_FILE
#undef CATMEMI_PART_INLINE

#if CATMEM_DEBUG
CATMEMI_API void catmemi_debug_check_free(const catmem_arena *a, const void *p);
#  define CATMEMI_DEBUG_CHECK_FREE(a, p) catmemi_debug_check_free((a), (p))
#else
#  define CATMEMI_DEBUG_CHECK_FREE(a, p) ((void)0)
#endif

/* One unsigned comparison rejects both 0 and sizes above CATMEM_SIZE_MAX: they take the slow
   path, which maps 0 to 1 and reports the rest. */
#define CATMEMI_SIZE_OK(n) ((size_t)(n)-1 < CATMEM_SIZE_MAX)

CATMEMI_INLINE void *catmem_alloc(catmem_arena *a, size_t size) {
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

CATMEMI_INLINE void catmem_free(catmem_arena *a, void *p) {
    if (p == NULL) return;
    CATMEMI_DEBUG_CHECK_FREE(a, p);
    if (CATMEMI_LIKELY(a != NULL))
        catmemi_be_free(a, p);
    else
        catmemi_free_slow(a, p, 0);
}

CATMEMI_INLINE void catmem_free_sized(catmem_arena *a, void *p, size_t size) {
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
typedef struct catmemi_cleanup catmemi_cleanup;

/* A region: caller-owned (a local, a struct member, a thread-local), used by one thread at a
   time. The fields are private. */
typedef struct catmem_region {
    char *cur;                    /* next free byte, CATMEM_REGION_ALIGN-aligned */
    char *end;                    /* end of the current chunk */
    catmemi_region_block *chunks; /* the current chunk, then older ones */
    catmemi_region_block *large;  /* blocks of their own, newest first */
    catmem_arena *arena;
    catmemi_cleanup *cleanups; /* newest first, allocated in the region itself */
    int busy;                  /* running its cleanups: every call but free fails with EBUSY */
} catmem_region;

/* A point to come back to with catmem_region_restore. */
typedef struct catmem_region_mark {
    catmemi_region_block *chunk;
    char *cur;
    catmemi_region_block *large;
    catmemi_cleanup *cleanups;
} catmem_region_mark;

CATMEMI_API int catmem_region_init(catmem_region *r, catmem_arena *a); /* allocates nothing */
static inline void *catmem_region_alloc(catmem_region *r, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE(2) CATMEMI_NODISCARD;
static inline void *catmem_region_alloc_aligned(catmem_region *r, size_t alignment,
                                                size_t size) CATMEMI_MALLOC CATMEMI_ALIGN(2)
    CATMEMI_SIZE(3) CATMEMI_NODISCARD;
CATMEMI_API void *catmem_region_calloc(catmem_region *r, size_t n, size_t size) CATMEMI_MALLOC
    CATMEMI_SIZE2(2, 3) CATMEMI_NODISCARD;
CATMEMI_API char *catmem_region_strdup(catmem_region *r,
                                      const char *s) CATMEMI_MALLOC CATMEMI_NODISCARD;
CATMEMI_API catmem_region_mark catmem_region_save(const catmem_region *r);
CATMEMI_API int catmem_region_restore(catmem_region *r, catmem_region_mark mark);
CATMEMI_API int catmem_region_reset(catmem_region *r);
CATMEMI_API int catmem_region_release(catmem_region *r);
/* fn(arg) runs at catmem_region_reset and _release, and at a catmem_region_restore to a mark
   taken before it was registered: last registered first, each exactly once, before the memory
   is taken back. The record lives in the region (ENOMEM when it cannot get room). */
CATMEMI_API int catmem_region_on_reset(catmem_region *r, catmem_cleanup_fn fn, void *arg);

/* Everything that does not fit the current chunk: new chunks, blocks of their own, errors. */
CATMEMI_API void *catmemi_region_alloc_slow(catmem_region *r, size_t alignment, size_t size);

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

/* catmemi_state. NEVER until the first init: a call then initialises catmem implicitly. DOWN
   after catmem_shutdown: calls fail with ESHUTDOWN until the next catmem_init. */
enum { CATMEMI_NEVER = 0, CATMEMI_UP = 1, CATMEMI_DOWN = 2 };
/* catmemi_slot.state. CLEANING: its cleanups (or its children's) are running, outside
   catmemi_mu; every call on it but free fails with EBUSY meanwhile. */
enum { CATMEMI_FREE = 0, CATMEMI_LIVE = 1, CATMEMI_CLEANING = 2 };

/* A registered cleanup, in a list newest first: an arena's (under catmemi_mu) or a region's. */
struct catmemi_cleanup {
    catmemi_cleanup *next;
    catmem_cleanup_fn fn;
    void *arg;
};

/* The backends' per-slot data: catmemi_je_slot (CATMEMI_HAS_JE), catmemi_sys_slot
   (CATMEMI_HAS_SYS); the runtime backend has both. */
#define CATMEMI_PART_TYPES
#include CATMEMI_BACKEND_FILE
#undef CATMEMI_PART_TYPES

/* One arena slot: the registry of named arenas. Slots 0..CATMEM_KIND_COUNT-1 are the built-in
   arenas. A slot's backend arena is made once (created != 0) and kept for the process. */
typedef struct catmemi_slot {
    catmem_arena handle; /* handle.slot == index in catmemi_slots */
    int state;           /* CATMEMI_FREE, _LIVE or _CLEANING; atomic */
    int created;         /* the backend arena exists; atomic (catmemi_created) */
    unsigned parent;     /* slot index + 1 of the parent arena; 0: top level. Under mu */
    catmemi_cleanup *cleanups; /* newest first; under catmemi_mu */
    unsigned ncleanups;
    /* LIMITS: bytes of the arena's blocks out of its backend arena, counted by the backend when
       counted is set (catmemi_charge); their high-water; the limit (0: none). Atomic. */
    size_t charged, peak, limit;
    int counted; /* set by the backend's set_limit at the first limit, cleared at release */
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

/* ---- THE BACKEND CONTRACT --------------------------------------------------------------------
   A backend is one file in backends/, included three times by this header, each time with one
   of these macros defined (so that each part lands where the core needs it):
     CATMEMI_PART_INLINE  (in every user file, before catmem_alloc & co.) the fast paths, under the
                          backend's own names, mapped to catmemi_be_alloc(a, size, opts),
                          catmemi_be_free(a, p) and catmemi_be_free_sized(a, p, size). They may
                          assume: a is not NULL (not necessarily live: it may be released or
                          catmem shut down, and then they must fall back); 1 <= size <=
                          CATMEM_SIZE_MAX; opts = log2 of the alignment (at most 30) | CATMEMI_ZERO;
                          p is not NULL. Whatever they do not serve goes to catmemi_alloc_slow /
                          catmemi_free_slow, which report errors. Data they read is declared
                          extern (never CATMEM_API, which may be static). No locks.
     CATMEMI_PART_TYPES   (in the implementation) catmemi_<name>_slot, its data in each arena slot,
                          and CATMEMI_HAS_<NAME>.
     CATMEMI_PART_IMPL    (in the implementation) the operations below, gathered by name into a
                          catmemi_ops by CATMEMI_OPS_TABLE(<name>, "display name"), which
                          defines catmemi_<name>_table(); and catmemi_select(info, size),
                          called once (pthread_once) before anything is allocated: the table to
                          use, and in info why.
   Locks: catmemi_mu (the registry: init, shutdown, create, release, reset) comes first; then a
   backend's per-arena lock; then anything finer (system: a heap's mutex, then the large-block
   table's). Nothing that holds a later lock takes an earlier one. "mu" below: called with
   catmemi_mu held. Every other operation may run on any thread at any time, concurrently with
   allocation and free in the same arena, except where THREADS in the manual says otherwise
   (reset and release: nobody else uses that arena). Before any call the core has checked the
   handle (a live slot, catmem up) and the arguments, and size 0 is already 1. */
typedef struct catmemi_ops {
    const char *name;                     /* catmem_backend_name() */
    int (*once)(void);                    /* at the first init: keys, tables; mu */
    int (*arena_create)(catmemi_slot *s); /* once per slot, kept for the process; mu */
    int (*arena_id)(const catmemi_slot *s);
    /* A block of size bytes for the calling thread in s (opts as above); NULL: out of memory
       (the core sets errno). Makes the thread's per-arena state when it has none. */
    void *(*alloc_slow)(catmemi_slot *s, size_t size, int opts);
    /* Frees p; size 0 or what was asked. s NULL: no usable arena (NULL handle, shutdown,
       released): free without touching any cache. */
    void (*free_slow)(catmemi_slot *s, void *p, size_t size);
    /* p moved or resized into s; NULL: failed, p untouched and still valid. */
    void *(*realloc)(catmemi_slot *s, void *p, size_t size);
    size_t (*usable_size)(const void *p); /* p != NULL, a live block; 0 if not catmem's */
    void (*free_any)(void *p);            /* p != NULL; the owner comes from p */
    /* Every thread's cache for s (all slots when NULL) is dropped: after shutdown and before
       release no thread may serve from one. mu */
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
    int (*stats)(catmemi_slot *s, catmem_stats *out); /* out zeroed; STATISTICS in the manual */
    int (*total_stats)(catmem_stats *out);            /* out zeroed */
    int (*owns)(const catmemi_slot *s, const void *p); /* p a live block of any arena */
    int (*set_decay)(catmemi_slot *s, long dirty_ms, long muzzy_ms); /* ENOTSUP if none */
    int (*prof_active)(int on);                                     /* ENOTSUP if none */
    int (*prof_dump)(const char *path);                             /* ENOTSUP if none */
    /* After init, shutdown, create, release: whatever the inline paths read to know which
       arenas they may serve. mu */
    void (*publish)(void);
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
#define CATMEMI_OPS_TABLE(be, display_name)                                                        \
  static catmemi_ops catmemi_##be##_ops;                                                           \
  static const catmemi_ops *catmemi_##be##_table(void) {                                           \
    catmemi_ops *o = &catmemi_##be##_ops;                                                          \
    o->name = display_name;                                                                        \
    o->once = catmemi_##be##_once;                                                                 \
    o->arena_create = catmemi_##be##_arena_create;                                                 \
    o->arena_id = catmemi_##be##_arena_id;                                                         \
    o->alloc_slow = catmemi_##be##_alloc_slow;                                                     \
    o->free_slow = catmemi_##be##_free_slow;                                                       \
    o->realloc = catmemi_##be##_realloc;                                                           \
    o->usable_size = catmemi_##be##_usable_size;                                                   \
    o->free_any = catmemi_##be##_free_any;                                                         \
    o->drop_caches = catmemi_##be##_drop_caches;                                                   \
    o->reset = catmemi_##be##_reset;                                                               \
    o->set_limit = catmemi_##be##_set_limit;                                                       \
    o->purge = catmemi_##be##_purge;                                                               \
    o->stats = catmemi_##be##_stats;                                                               \
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

static catmemi_slot catmemi_slots[CATMEM_MAX_ARENAS];
static int catmemi_state;     /* CATMEMI_NEVER, _UP or _DOWN; atomic */
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

/* The allocator under the system backend, and under catmem's own bookkeeping (cleanup records):
   define all four to put catmem on another malloc (or, in catmem's fault-injection test, on one
   that fails when told to). */
#ifndef CATMEM_SYSTEM_MALLOC
#  define CATMEM_SYSTEM_MALLOC  malloc
#  define CATMEM_SYSTEM_CALLOC  calloc
#  define CATMEM_SYSTEM_REALLOC realloc
#  define CATMEM_SYSTEM_FREE    free
#endif

/* ---- byte accounting: limits and peaks (LIMITS in the manual) ----------------------------------
   A counted arena's backend charges the bytes of every block before it takes it from the
   backend arena (the class size: what allocated counts) and uncharges them when the block goes
   back; the core zeroes the charge at reset and release. One place decides against the limit. */

/* The backend charges s's blocks (s->counted, written under catmemi_mu, read anywhere). */
static inline int catmemi_counted(const catmemi_slot *s) {
    return __atomic_load_n(&s->counted, __ATOMIC_RELAXED);
}

/* The total now charged to s when bytes (> 0) more fit under limit (0: none) and are charged;
   0 when they do not. The peak waits for the blocks to exist (catmemi_peak): a charge whose
   allocation then fails must not raise it. */
static size_t catmemi_charge_under(catmemi_slot *s, size_t bytes, size_t limit) {
    size_t now = __atomic_load_n(&s->charged, __ATOMIC_RELAXED), next;
    do {
        if (bytes > SIZE_MAX - now) return 0;
        next = now + bytes;
        if (limit != 0 && next > limit) return 0;
    } while (!__atomic_compare_exchange_n(&s->charged, &now, next, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return next;
}

static size_t catmemi_charge(catmemi_slot *s, size_t bytes) {
    return catmemi_charge_under(s, bytes, __atomic_load_n(&s->limit, __ATOMIC_RELAXED));
}

/* The blocks that took s's charge to total exist: the peak rises to it. */
static void catmemi_peak(catmemi_slot *s, size_t total) {
    size_t peak = __atomic_load_n(&s->peak, __ATOMIC_RELAXED);
    while (total > peak && !__atomic_compare_exchange_n(&s->peak, &peak, total, 1,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* Never below zero: a block freed through the wrong arena's handle (jemalloc trusts the handle)
   must not make the charge wrap. */
static void catmemi_uncharge(catmemi_slot *s, size_t bytes) {
    size_t now = __atomic_load_n(&s->charged, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&s->charged, &now, now > bytes ? now - bytes : 0, 1,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* A block of s changes from old to new bytes in place, or was charged a guess: the difference,
   whatever the limit (the block exists already), and the peak follows. */
static void catmemi_recharge(catmemi_slot *s, size_t old, size_t now) {
    if (now > old)
        (void)catmemi_charge_under(s, now - old, 0);
    else if (now < old)
        catmemi_uncharge(s, old - now);
    catmemi_peak(s, __atomic_load_n(&s->charged, __ATOMIC_RELAXED));
}

/* catmem_backend_info: set when the backend is chosen; a backend's once() may add to it. */
static char catmemi_info[200];

/* The backend's out-of-line part: its catmemi_ops, and catmemi_select() that picks them. */
#define CATMEMI_PART_IMPL
#include CATMEMI_BACKEND_FILE
#undef CATMEMI_PART_IMPL

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

/* Maps a handle to its slot without judging its state; NULL for anything that is not a handle. */
static catmemi_slot *catmemi_slot_of(const catmem_arena *a) {
    uintptr_t base = (uintptr_t)catmemi_slots, p = (uintptr_t)a;
    if (a == NULL || p < base || p >= base + sizeof catmemi_slots ||
        (p - base) % sizeof(catmemi_slot) != offsetof(catmemi_slot, handle))
        return NULL;
    return &catmemi_slots[(p - base) / sizeof(catmemi_slot)];
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

static void catmemi_report_at_exit_once(void); /* with the report, below */

CATMEMI_API int catmem_init(void) {
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
        catmemi_report_at_exit_once();
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

CATMEMI_API void catmem_shutdown(void) {
    catmemi_lock();
    if (catmemi_state == CATMEMI_NEVER) /* no implicit init after an explicit shutdown */
        __atomic_store_n(&catmemi_state, CATMEMI_DOWN, __ATOMIC_RELEASE);
    if (catmemi_state == CATMEMI_UP) {
        __atomic_store_n(&catmemi_state, CATMEMI_DOWN, __ATOMIC_RELEASE);
        catmemi_be->publish();
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
        if (catmemi_slot_used(&catmemi_slots[i]) && strcmp(catmemi_slots[i].name, name) == 0)
            return &catmemi_slots[i];
    return NULL;
}

/* catmem_arena_create and _create_child: parent NULL for a top-level arena. */
static catmem_arena *catmemi_create(const catmem_arena *parent, const char *name) {
    catmemi_slot *s = NULL, *ps = NULL;
    unsigned i;
    int err = catmemi_check_name(name);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    if ((err = catmemi_up_or_init()) != 0) {
        errno = err;
        return NULL;
    }
    catmemi_lock();
    if (parent != NULL && (ps = catmemi_check_locked(parent, &err)) == NULL) goto out;
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
    s->parent = ps != NULL ? ps->handle.slot + 1 : 0;
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
    if (catmemi_slot_used(s) && s->parent != 0) p = &catmemi_slots[s->parent - 1].handle;
    catmemi_unlock();
    return p;
}

CATMEMI_API catmem_arena *catmem_arena_find(const char *name) {
    catmemi_slot *s;
    int err = catmemi_check_name(name);
    if (err != 0) {
        errno = err;
        return NULL;
    }
    if ((err = catmemi_up_or_init()) != 0) {
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

CATMEMI_API const char *catmem_arena_name(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_slot_used(s)) ? s->name : NULL;
}

CATMEMI_API int catmem_arena_id(const catmem_arena *a) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_created(s)) ? catmemi_be->arena_id(s) : -1;
}

CATMEMI_API int catmem_arena_owns(const catmem_arena *a, const void *p) {
    catmemi_slot *s = catmemi_slot_of(a);
    return (s != NULL && catmemi_created(s) && p != NULL) ? catmemi_be->owns(s, p) : 0;
}

/* ---- reset and release of an arena and its children ----------------------------------------- */

/* Under catmemi_mu: s and every arena below it, children before their parent, appended to ids
   from index n; returns the new count. */
static unsigned catmemi_subtree(const catmemi_slot *s, unsigned short *ids, unsigned n) {
    unsigned i, me = s->handle.slot + 1;
    for (i = CATMEM_KIND_COUNT; i < CATMEM_MAX_ARENAS; i++)
        if (catmemi_slots[i].parent == me && catmemi_slot_used(&catmemi_slots[i]))
            n = catmemi_subtree(&catmemi_slots[i], ids, n);
    ids[n++] = (unsigned short)s->handle.slot;
    return n;
}

/* Runs the cleanups of each arena in ids, in order, newest first; catmemi_mu is NOT held, so a
   cleanup may call catmem; its own arenas are CLEANING meanwhile and refuse it with EBUSY. */
static void catmemi_run_cleanups(const unsigned short *ids, unsigned n) {
    unsigned i;
    for (i = 0; i < n; i++) {
        catmemi_slot *s = &catmemi_slots[ids[i]];
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

/* Under catmemi_mu: frees everything the arenas in ids hold and, for a release, gives their
   slots back. The first error is returned; an arena that failed stays live. */
static int catmemi_reset_all(const unsigned short *ids, unsigned n, int release) {
    unsigned i;
    int first = 0;
    for (i = 0; i < n; i++) {
        catmemi_slot *s = &catmemi_slots[ids[i]];
        int err;
        if (release) catmemi_be->drop_caches(s);
        catmemi_untrack_chunks(s);
        err = catmemi_be->reset(s, release);
        if (err == 0) {
            __atomic_store_n(&s->charged, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&s->peak, 0, __ATOMIC_RELAXED);
        }
        if (err == 0 && release) {
            __atomic_store_n(&s->limit, 0, __ATOMIC_RELAXED);
            s->name[0] = '\0';
            s->parent = 0;
            __atomic_store_n(&s->state, CATMEMI_FREE, __ATOMIC_RELEASE);
        } else {
            __atomic_store_n(&s->state, CATMEMI_LIVE, __ATOMIC_RELEASE);
        }
        if (first == 0) first = err;
    }
    catmemi_be->publish();
    return first;
}

/* catmem_arena_reset and _release. Children go first; cleanups run outside the registry lock
   (they may call catmem), with every arena of the subtree marked CLEANING so that nothing
   registers, allocates, resets or releases there meanwhile (EBUSY, never a deadlock). */
static int catmemi_reset_tree(catmem_arena *a, int release) {
    unsigned short ids[CATMEM_MAX_ARENAS];
    unsigned i, n = 0;
    int err = 0, cleanups = 0;
    catmemi_slot *s;
    if (catmemi_slot_of(a) != NULL && (err = catmemi_up_or_init()) != 0) return err;
    catmemi_lock();
    s = catmemi_check_locked(a, &err);
    if (s != NULL && release && s->handle.slot < CATMEM_KIND_COUNT) err = EINVAL; /* built-ins */
    if (err == 0) n = catmemi_subtree(s, ids, 0);
    for (i = 0; i < n && err == 0; i++) {
        if (catmemi_slots[ids[i]].state != CATMEMI_LIVE) err = EBUSY; /* a child is cleaning */
        cleanups |= catmemi_slots[ids[i]].cleanups != NULL;
    }
    if (err == 0 && cleanups) {
        /* Close the fast paths too: a cleanup that allocates there gets EBUSY, not memory that
           the reset is about to free. */
        for (i = 0; i < n; i++) {
            __atomic_store_n(&catmemi_slots[ids[i]].state, CATMEMI_CLEANING, __ATOMIC_RELEASE);
            catmemi_be->drop_caches(&catmemi_slots[ids[i]]);
        }
        catmemi_be->publish();
        catmemi_unlock();
        catmemi_run_cleanups(ids, n);
        catmemi_lock();
    }
    if (err == 0) err = catmemi_reset_all(ids, n, release);
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

/* One arena's figures with its peak and limit. An arena the backend does not count (system, no
   limit) has its peak raised to what each reading sees. */
static int catmemi_stats_of(catmemi_slot *s, catmem_stats *out) {
    int err = catmemi_stats_done(catmemi_be->stats(s, out), out);
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
    return s != NULL ? catmemi_stats_of(s, out) : err;
}

CATMEMI_API int catmem_total_stats(catmem_stats *out) {
    int err;
    if (out == NULL) return EINVAL;
    memset(out, 0, sizeof *out);
    if ((err = catmemi_up_or_init()) != 0) return err;
    return catmemi_stats_done(catmemi_be->total_stats(out), out);
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

/* ---- the out-of-memory handler -------------------------------------------------------------- */

static catmem_oom_fn catmemi_oom_fn;
static void *catmemi_oom_arg;
static pthread_mutex_t catmemi_oom_mu = PTHREAD_MUTEX_INITIALIZER; /* the pair changes together */
static CATMEMI_TLS int catmemi_in_oom; /* this thread runs the handler: never re-enter it */

CATMEMI_API void catmem_set_oom_handler(catmem_oom_fn fn, void *arg) {
    pthread_mutex_lock(&catmemi_oom_mu);
    catmemi_oom_fn = fn;
    catmemi_oom_arg = arg;
    pthread_mutex_unlock(&catmemi_oom_mu);
}

/* An allocation of size in a failed: 1 when the handler made room and it may be tried again. */
static int catmemi_oom(const catmem_arena *a, size_t size) {
    catmem_oom_fn fn;
    void *arg;
    int again;
    if (catmemi_in_oom) return 0;
    pthread_mutex_lock(&catmemi_oom_mu);
    fn = catmemi_oom_fn;
    arg = catmemi_oom_arg;
    pthread_mutex_unlock(&catmemi_oom_mu);
    if (fn == NULL) return 0;
    catmemi_in_oom = 1;
    again = fn((catmem_arena *)(uintptr_t)a, size, arg) != 0;
    catmemi_in_oom = 0;
    return again;
}

CATMEMI_API void *catmemi_alloc_slow(const catmem_arena *a, size_t size, int opts) {
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
    /* The handler may have reset, released or shut down anything: check again. */
    if (p == NULL && catmemi_oom(a, size) && (s = catmemi_check(a, &err)) != NULL)
        p = catmemi_be->alloc_slow(s, size, opts);
    if (p == NULL) errno = err != 0 ? err : ENOMEM;
    return p;
}

CATMEMI_API void catmemi_free_slow(const catmem_arena *a, void *p, size_t size) {
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

CATMEMI_API void *catmem_realloc(catmem_arena *a, void *p, size_t size) {
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
    if (q == NULL && catmemi_oom(a, size) && (s = catmemi_check(a, &err)) != NULL)
        q = catmemi_be->realloc(s, p, size);
    if (q == NULL) errno = err != 0 ? err : ENOMEM;
    return q;
}

CATMEMI_API size_t catmem_usable_size(const void *p) {
    return (p != NULL && catmemi_be != NULL) ? catmemi_be->usable_size(p) : 0;
}

CATMEMI_API void catmem_free_any(void *p) {
    if (p == NULL) return;
    if (catmemi_be == NULL) { /* before any init: p cannot be catmem's */
        errno = EINVAL;
        return;
    }
    catmemi_be->free_any(p);
}

CATMEMI_API char *catmem_strdup(catmem_arena *a, const char *str) {
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

/* ---- the report ----------------------------------------------------------------------------- */

/* One arena as the report shows it, copied under catmemi_mu and printed after. */
typedef struct catmemi_report_row {
    char name[CATMEM_NAME_MAX + 1];
    char parent[CATMEM_NAME_MAX + 1]; /* "" for a top-level arena */
    int id;
    unsigned slot, cleanups;
    catmem_stats st;
} catmemi_report_row;

/* A JSON string: names are the caller's bytes, so quotes, backslashes and controls are escaped. */
static void catmemi_json_str(FILE *out, const char *str) {
    fputc('"', out);
    for (; *str != '\0'; str++) {
        unsigned char c = (unsigned char)*str;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void catmemi_report_stats(FILE *out, int json, const catmem_stats *st) {
    if (json) {
        fprintf(out,
                "\"allocated\": %zu, \"active\": %zu, \"resident\": %zu, \"mapped\": %zu, "
                "\"nmalloc\": %llu, \"ndalloc\": %llu, \"peak\": %zu, \"limit\": %zu",
                st->allocated, st->active, st->resident, st->mapped,
                (unsigned long long)st->nmalloc, (unsigned long long)st->ndalloc, st->peak,
                st->limit);
        return;
    }
    fprintf(out, " %14zu %14zu %14zu %14zu %12llu %12llu %14zu", st->allocated, st->active,
            st->resident, st->mapped, (unsigned long long)st->nmalloc,
            (unsigned long long)st->ndalloc, st->peak);
    if (st->limit != 0)
        fprintf(out, " %14zu", st->limit);
    else
        fprintf(out, " %14s", "-");
}

static void catmemi_report_print(FILE *out, int json, const catmemi_report_row *rows, unsigned n,
                                 const catmem_stats *total) {
    unsigned i;
    int w = 8;
    if (json) {
        fputs("{\"backend\": ", out);
        catmemi_json_str(out, catmemi_be->name);
        fputs(", \"info\": ", out);
        catmemi_json_str(out, catmemi_info);
        fputs(", \"arenas\": [", out);
        for (i = 0; i < n; i++) {
            fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", out);
            catmemi_json_str(out, rows[i].name);
            fprintf(out, ", \"id\": %d, \"parent\": ", rows[i].id);
            if (rows[i].parent[0] != '\0')
                catmemi_json_str(out, rows[i].parent);
            else
                fputs("null", out);
            fprintf(out, ", \"cleanups\": %u, ", rows[i].cleanups);
            catmemi_report_stats(out, 1, &rows[i].st);
            fputc('}', out);
        }
        fputs("],\n \"total\": {", out);
        catmemi_report_stats(out, 1, total);
        fputs("}}\n", out);
        return;
    }
    /* Columns as wide as the longest name, so that the table stays readable. */
    for (i = 0; i < n; i++) {
        int a = (int)strlen(rows[i].name), b = (int)strlen(rows[i].parent);
        if (a > w) w = a;
        if (b > w) w = b;
    }
    fprintf(out, "catmem report: backend %s (%s)\n", catmemi_be->name, catmemi_info);
    fprintf(out, "%-*s %5s %-*s %14s %14s %14s %14s %12s %12s %14s %14s %8s\n", w, "arena", "id",
            w, "parent", "allocated", "active", "resident", "mapped", "nmalloc", "ndalloc", "peak",
            "limit", "cleanups");
    for (i = 0; i < n; i++) {
        fprintf(out, "%-*s %5d %-*s", w, rows[i].name, rows[i].id, w,
                rows[i].parent[0] != '\0' ? rows[i].parent : "-");
        catmemi_report_stats(out, 0, &rows[i].st);
        fprintf(out, " %8u\n", rows[i].cleanups);
    }
    fprintf(out, "%-*s %5s %-*s", w, "total", "", w, "");
    catmemi_report_stats(out, 0, total);
    fputs("\n", out);
}

/* The report whatever catmem's state (the exit report runs after a shutdown too). Statistics a
   backend cannot give are zeros, as everywhere. */
static int catmemi_report(FILE *out, int json) {
    int saved = errno, err; /* calloc and stdio may set errno; a control function leaves it */
    catmemi_report_row *rows =
        (catmemi_report_row *)CATMEM_SYSTEM_CALLOC(CATMEM_MAX_ARENAS, sizeof *rows);
    catmem_stats total;
    unsigned i, n = 0;
    if (rows == NULL) {
        errno = saved;
        return ENOMEM;
    }
    catmemi_lock();
    for (i = 0; i < CATMEM_MAX_ARENAS; i++) {
        catmemi_slot *s = &catmemi_slots[i];
        catmemi_report_row *row = &rows[n];
        if (!catmemi_created(s) || !catmemi_slot_used(s)) continue;
        strcpy(row->name, s->name);
        if (s->parent != 0) strcpy(row->parent, catmemi_slots[s->parent - 1].name);
        row->id = catmemi_be->arena_id(s);
        row->slot = i;
        row->cleanups = s->ncleanups;
        n++;
    }
    catmemi_unlock();
    /* Statistics outside the registry lock: a backend may take it to sum its threads' counts.
       An arena released meanwhile reads as zeros. */
    for (i = 0; i < n; i++) (void)catmemi_stats_of(&catmemi_slots[rows[i].slot], &rows[i].st);
    memset(&total, 0, sizeof total);
    (void)catmemi_stats_done(catmemi_be->total_stats(&total), &total);
    catmemi_report_print(out, json, rows, n, &total);
    CATMEM_SYSTEM_FREE(rows);
    err = ferror(out) || fflush(out) != 0 ? EIO : 0;
    errno = saved;
    return err;
}

CATMEMI_API int catmem_report(FILE *out, int flags) {
    if (out == NULL || (flags != CATMEM_REPORT_TEXT && flags != CATMEM_REPORT_JSON)) return EINVAL;
    int err = catmemi_up_or_init();
    if (err != 0) return err;
    return catmemi_report(out, flags == CATMEM_REPORT_JSON);
}

/* CATMEM_REPORT=stderr, stdout or a file path: the report when the process exits (JSON when the
   path ends in ".json"). Read once, at the first init. */
static void catmemi_report_at_exit(void) {
    const char *where = getenv("CATMEM_REPORT");
    size_t len;
    FILE *f;
    if (where == NULL || where[0] == '\0' || catmemi_be == NULL) return;
    len = strlen(where);
    if (strcmp(where, "stderr") == 0 || strcmp(where, "stdout") == 0) {
        f = strcmp(where, "stderr") == 0 ? stderr : stdout;
        (void)catmemi_report(f, 0);
        fflush(f);
        return;
    }
    if ((f = fopen(where, "w")) == NULL) {
        fprintf(stderr, "catmem: CATMEM_REPORT: cannot open %s\n", where);
        return;
    }
    (void)catmemi_report(f, len > 5 && strcmp(where + len - 5, ".json") == 0);
    fclose(f);
}

static void catmemi_report_at_exit_once(void) {
    const char *where = getenv("CATMEM_REPORT");
    if (where != NULL && where[0] != '\0') (void)atexit(catmemi_report_at_exit);
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

#if CATMEM_DEBUG
CATMEMI_API void catmemi_debug_check_free(const catmem_arena *a, const void *p) {
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
