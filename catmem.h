/* catmem.h - arena allocation for C and C++, on jemalloc or on the system malloc.

   CONTENTS
     WHAT IT IS                  what catmem does, and the traps of jemalloc arenas it removes
     INCLUDING IT                one header, the implementation once, what to link
     CONFIGURATION               the macros (their defaults and checks: core/config.h)
     A SHORT EXAMPLE
     REGIONS                     bump allocation for one thread, freed all at once
     LIFETIMES                   cleanups, child arenas, the out-of-memory handler, the report
     HEAP PROFILES               sampled allocations by arena and call stack, for pprof
     LIMITS                      a cap on an arena's bytes, and how exact it is on each backend
     ERRORS                      what every call reports, and how
     LIFECYCLE                   init and shutdown; how long a handle is valid
     THREADS                     what may run at the same time
     STATISTICS                  catmem_stats, field by field, on each backend
     THE SYSTEM BACKEND          what a program sees of catmem's own engine
     MISUSE THAT CANNOT BE REPORTED
     WHERE THE CODE IS           the files, and where to start reading
   The code below is in sections that grep finds as ">>name": >>types, >>lifecycle, >>arenas,
   >>lifetimes, >>allocation, >>regions, >>inline paths, >>implementation.

   WHAT IT IS
   ==========
   catmem groups memory by lifetime: every allocation goes to an arena (request, response, cache,
   static, background task, or one you create by name), an arena can be freed all at once, measured
   on its own, and trimmed. On jemalloc the arenas are real jemalloc manual arenas (past the
   first 64 live ones, small arenas: CATMEM_OWN_ARENAS); on the system
   backend catmem runs an allocator of its own on memory taken from malloc in large pieces, so
   that the same calls mean the same thing.

   It removes the usual traps of using jemalloc arenas by hand:
   - arenas created at every init until the process runs out of them: catmem creates each arena
     once per process and reuses it across catmem_init/catmem_shutdown and create/release cycles;
   - mallocx(MALLOCX_ARENA(i)) silently going through the thread's automatic cache, which mixes
     arenas and leaves dangling pointers after a reset; MALLOCX_TCACHE_NONE, which is correct but
     takes the arena's lock on every call; explicit caches (tcache.create), no more than about
     4,000 in a process: catmem keeps a small front cache of its own per thread and arena, gives
     a jemalloc cache of their own only to the busiest pairs, within a cap, and empties them all
     before a reset and when their thread exits;
   - mallctl names that do not exist (arena.<i>.name, stats.arenas.<i>.allocated): catmem keeps
     names itself and checks every mallctl result;
   - crashes on bad input: every call validates what it is given and reports errors (ERRORS).

   INCLUDING IT
   ============
   Everywhere:                       #include "catmem.h"
   In exactly one C or C++ file:     #define CATMEM_IMPLEMENTATION
                                     #include "catmem.h"
   Keep catmem.h next to its core/ and backends/ directories (it includes them by relative
   path). With Bazel, depend on @catmem//:catmem; with CMake, on catmem::catmem: those targets
   compile the implementation for you. Link with -ljemalloc -lpthread for the jemalloc backend,
   -lpthread for the system backend, -ldl -lpthread for the runtime backend.
   Installed header-only (the Debian package libcatmem-dev, meson install), #include <catmem.h>
   needs no -I, and pkg-config --cflags --libs catmem (or catmem-<backend>) gives the backend
   macro and what to link. The file that defines CATMEM_IMPLEMENTATION is then yours, as it is
   with Meson's dependency('catmem'); the CMake package's targets compile it for you.
   Compilers: GCC and Clang (C99 or later, C++11 or later); POSIX threads.
   A module (a plugin, an extension) that compiles catmem in and may be unloaded with dlclose
   while jemalloc stays in the process: link it with -Wl,-z,nodelete. catmem's jemalloc arenas
   outlive it (jemalloc never destroys an arena) and their extent hooks are its code.

   CONFIGURATION
   =============
   Macros, defined before #include "catmem.h". core/config.h gives each one's default and range,
   checks it, and says whether it must be defined the same way in every file or only where the
   implementation is compiled.
   CATMEM_BACKEND_JEMALLOC  jemalloc's manual arenas (needs <jemalloc/jemalloc.h>, -ljemalloc).
   CATMEM_BACKEND_SYSTEM    catmem's own engine on malloc (THE SYSTEM BACKEND): arenas, reset and
                            statistics as on jemalloc, no jemalloc needed.
   CATMEM_BACKEND_RUNTIME   link no jemalloc; at init, use the jemalloc already in the process
                            (LD_PRELOAD, or linked by the host program) if there is one, and the
                            system backend otherwise. For code loaded late: Python extensions,
                            plugins. catmem_backend_name/_info tell what was found.
                            At most one of the three; with none, jemalloc when
                            <jemalloc/jemalloc.h> can be included, the system backend otherwise.
   CATMEM_JEMALLOC_PREFIX   the symbol prefix of the jemalloc to link (je_, say).
   CATMEM_RUNTIME_PREFIXES  the prefixes the runtime backend tries, as a list of strings.
   CATMEM_SYSTEM_MALLOC, _CALLOC, _REALLOC, _FREE
                            the functions under the system backend and catmem's bookkeeping:
                            all four or none.
   CATMEM_SYSTEM_ENGINE     0: every block of the system backend a malloc of its own (the default
                            under a memory checker); 1: catmem's engine.
   CATMEM_SYSTEM_DECAY_MS   the engine's decay of the large blocks it keeps for reuse, in ms
                            (default 1000; -1 never): catmem_arena_set_decay per arena.
   CATMEM_NAME_MAX          the longest arena name, in bytes.
   CATMEM_JEMALLOC_CACHE_BYTES  jemalloc: bytes of freed blocks one thread keeps in its front
                            caches, all arenas together; 0: every call goes to the arena's lock.
   CATMEM_JEMALLOC_TCACHES  jemalloc: how many jemalloc caches catmem may hold for busy (thread,
                            arena) pairs, all threads together (THREADS).
   CATMEM_OWN_ARENAS        how many user arenas live at once have memory of their own from
                            the engine (default 64; a released one goes to the next arena
                            created): a jemalloc arena, or the system engine's heaps. Those past
                            them are SMALL: their blocks carved from 1-8 KiB chunks the engine
                            shares among all small arenas (one jemalloc arena; the system
                            malloc), each with an 8-byte header (core/small.h). Any number of
                            them (about 1.5 KB each with a few objects, where an arena of its
                            own costs 30-120 KB and jemalloc makes about 4,000), created and
                            released in a fraction of the time, but slower when busy
                            (bench/results/lifetimes.md); 0 makes every user arena small (not
                            under a memory checker on the system backend: its engine is off).
                            What differs: a small arena keeps its chunks until reset or
                            release (catmem_arena_purge returns nothing of them; then up to 64
                            chunks of each size wait for the next small arenas), has no decay
                            of its own (ENOTSUP), counts a limit exactly (every call takes its
                            lock then), and takes its lock on every call until it is busy (256
                            calls: then its threads get front caches on jemalloc, heaps of
                            their own on the system engine); statistics:
                            allocated is what its chunks hand out less what waits on its free
                            lists (blocks in front caches count), mapped its chunks.
   CATMEM_DEBUG             1: check on every free that the pointer belongs to the arena given,
                            check catmem's internal invariants, and abort with a message on
                            misuse that cannot be reported otherwise. Slow (every free looks
                            its block's owner up).
   CATMEM_SECURE            1 (default): free-list links of the inline paths encoded with a
                            per-process key and checked, double frees looked for on the list
                            a block would join (on jemalloc: a keyed free mark in every freed
                            block of 16 bytes or more), a block freed without a size into the
                            wrong arena sent to its own (on jemalloc, with EINVAL), and blocks
                            after a reset handed out in an order that is not the old one (THE
                            SYSTEM BACKEND, MISUSE); 0: raw links, none of those checks, and the
                            address order, for raw speed (bench/results/hardening.md: 12-30% of
                            the instructions of a free and allocation pair); 2: 1, and on
                            jemalloc catmem_free_sized's arena checked too (16 instructions a
                            pair more: bench/pairs.sh).
                            Every file the same way.
   CATMEM_API               the storage class of catmem's functions (extern, or static).
   CATMEM_REGION_ALIGN, CATMEM_REGION_CHUNK_MIN, CATMEM_REGION_CHUNK_MAX
                            regions: the alignment of every allocation, the first and the
                            largest chunk.
   CATMEM_HEAP_PROFILES     0: no heap-profile checks on the inline paths (HEAP PROFILES), for
                            a program that never profiles.
   CATMEM_VALGRIND          1: describe region memory to Valgrind's memcheck, and give every
                            block of the system backend a malloc of its own, which memcheck
                            watches.

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

   LIFETIMES
   =========
   Cleanups, child arenas, the out-of-memory handler, the report.
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
   - catmem_report(out, CATMEM_REPORT_TEXT, _JSON or _OPENMETRICS) writes the live arenas (name,
     id, parent, statistics with peak and limit, pending cleanups) and two totals, each named
     for what it is (STATISTICS): "all arenas", the sum over catmem's live arenas on every
     backend (catmem_all_arenas_stats), and "backend <name>" (catmem_total_stats), as a table
     (a line under the totals says what each is), as one JSON object, or as OpenMetrics text for a
     metrics scraper (below); an anonymous arena is "#<id>" in the table and has the name null
     in JSON, where "parent_id" gives its parent's id. The JSON object: {"backend", "info",
     "arenas": [{"name", "id", "parent", "parent_id", "cleanups", "allocated", "active",
     "resident", "mapped", "nmalloc", "ndalloc", "peak", "limit"}, ...], "all_arenas": {the
     figures, from catmem_all_arenas_stats}, "backend_total": {the figures, from
     catmem_total_stats}, "total": {the same as "backend_total": its name from before there
     were two, kept for the readers that know it}}. With CATMEM_REPORT=stderr,
     stdout or a file path in the environment at the first init, the report is written when the
     process exits (JSON when the path ends in ".json", OpenMetrics when it ends in ".om" or
     ".prom", the table otherwise; with CATMEM_REPORT_ALL=1 beside it, every arena: below). Each
     "%p" in the path becomes the process's id ("%%" a "%"): one file per process of a program
     that forks or starts others (CATMEM_PROFILE's path too).
   - Bounded: past CATMEM_REPORT_ARENAS (100) live arenas, the table and the JSON object show
     the 100 with the most allocated bytes (the lower id first among equals), one row summing
     the rest (their figures and cleanups added, peaks too, no limit), the totals, and children
     per parent: for each parent, the top level included, how many live children it has (not
     grandchildren) and their allocated bytes, the 100 parents with the most children one by one
     (the lower id first among equals, the top level first of all), the rest summed in one row.
     The table says so above each part. The JSON object then also has "arenas_total" and
     "shown" (before "arenas"), and before "all_arenas": "other": {"arenas": how many,
     "cleanups", the figures}, "parents_total", "parents": [{"name", "id" (both null for the top
     level), "children", "allocated"}, ...], "parents_other": {"parents", "children",
     "allocated"}. Up
     to the cut-off there is none of this. CATMEM_REPORT_ALL, OR-ed with any format (OpenMetrics
     too), lists every arena whatever their number. A report holds catmem's lock only to copy
     the arenas' names and links; it reads their statistics after one refresh for all (on
     jemalloc a single "epoch", where catmem_arena_stats makes one per call: STATISTICS) and
     sorts them past a cut-off: time n log n in the arenas, about 170 bytes per arena meanwhile.
   - The OpenMetrics text (application/openmetrics-text; version=1.0.0, ending with "# EOF"):
     per arena the gauges catmem_arena_allocated_bytes, _active_bytes, _resident_bytes,
     _mapped_bytes, _peak_bytes, _limit_bytes (arenas with a limit only) and catmem_arena_cleanups
     (pending), and the counters catmem_arena_allocations_total and catmem_arena_frees_total
     (nmalloc, ndalloc), each series labelled arena (the name, "#<id>" when anonymous), id (no
     two live arenas share one) and parent ("" at the top). Label values are escaped, and bytes
     of a name that are not UTF-8 are written as U+FFFD. Totals, each named for what it is:
     catmem_all_arenas_<figure>_bytes, the sum over catmem's live arenas on every backend
     (catmem_all_arenas_stats); catmem_backend_<figure>_bytes{backend=...}, catmem_total_stats
     (the whole process on jemalloc, catmem's arenas on the system backend: STATISTICS);
     catmem_arenas, the live arenas. Bounded: past CATMEM_REPORT_OPENMETRICS_ARENAS (1,000)
     live arenas, those with the most allocated bytes (the lower id first among equals) have
     series of their own, and the rest are summed into one series labelled arena="(other)" (its
     peak the sum of their peaks, no limit); catmem_arenas_other says how many it sums.
     Counters restart from zero when an arena's id goes to a new arena, and the (other) series'
     move when arenas change places. Name arenas that come and go (one per request) after
     something stable, or leave them anonymous: a new name is a new series for the scraper to
     keep.

   HEAP PROFILES
   =============
   catmem samples allocations itself, on every backend, and keeps each sample's call stack and
   arena: a heap profile by arena, which no per-process profiler gives.
       catmem_profile_interval(512 * 1024);              // on: a sample every 512 KiB on average
       ...
       FILE *f = fopen("heap.pb", "wb");
       catmem_profile_write(f, 0);                       // pprof's profile.proto
       fclose(f);
       $ go tool pprof -top -tagroot=arena heap.pb      # functions under their arena
       $ go tool pprof -tags heap.pb                    # bytes per arena, per parent
   - Sampling: each thread counts the bytes it asks for (catmem_alloc, _calloc, _aligned_alloc,
     _realloc, _strdup, region chunks) down from a random interval, exponential with the mean
     set by catmem_profile_interval (0, the default: off); the allocation that crosses zero is
     sampled: its stack (glibc's backtrace(); elsewhere only the caller), size and arena are
     kept, and it stands for 1 / (1 - exp(-size / mean)) allocations of its size, as in
     jemalloc's and TCMalloc's profiles. Off, the cost is a subtraction and a branch per
     allocation and a test per free (bench/results/profile.md); the stack is captured only
     for the samples. A thread takes a new mean at its next sample, or within 1 MiB of
     allocation while off (the thread that sets it, at once).
   - A free (catmem_free, _free_sized, _free_any, realloc's move) drops its block's sample; a
     reset or release of an arena drops all of its samples and its alloc_* figures.
   - catmem_profile_write(out, 0) writes profile.proto, uncompressed (pprof reads it as it reads
     gzip; zlib would be one more library to link for every user): sample types alloc_objects,
     alloc_space (sampled since the arena's creation or last reset), inuse_objects,
     inuse_space (the default), one sample per arena and stack, with string labels arena (its
     name, #<id> when anonymous) and parent ("-" at the top level). Addresses are not
     symbolized: pprof reads the function names and lines from the binaries named in the
     profile's mappings, which need their DWARF (-g) and to be at hand where pprof runs.
     Its comments (go tool pprof -comments; -top shows them above the table) state the two
     totals as the report names them (LIFETIMES, STATISTICS), read as it is written, beside
     which to judge the sampled estimate: "all arenas: allocated <n>, active <n>, resident <n>,
     mapped <n> bytes; catmem_all_arenas_stats, the sum over catmem's live arenas" and
     "backend <name>: ...; catmem_total_stats, <what it covers on that backend>".
   - CATMEM_PROFILE=path in the environment at the first init turns sampling on (at
     CATMEM_PROFILE_INTERVAL bytes, else CATMEM_PROFILE_DEFAULT_INTERVAL: 512 KiB) and writes
     the profile at exit; CATMEM_PROFILE_INTERVAL alone sets the mean; a value that is not a
     number of bytes turns sampling off, with one line on stderr.
   - Leaks named: with CATMEM_PROFILE_LEAKS=1 in the environment (or under CATMEM_DEBUG), the
     release of an arena that still holds sampled blocks says on stderr how many, what they
     stand for, and each stack that allocated them (function names for what the program
     exports: link it with -rdynamic). An arena is meant to be released with blocks in it, so
     this is opt-in: it finds the blocks a program meant to free one by one and did not.
   - A stack ends at the function that called catmem (a caller that returns catmem_alloc's
     result directly may be left out by a tail call, as in every sampling profiler).
   - CATMEM_HEAP_PROFILES 0 (in every file) takes the countdown and the test out of the inline
     paths; catmem_profile_interval then refuses any mean but 0 with ENOTSUP.
   - Its size follows the bytes sampled, not the number of arenas: one row per (arena, stack)
     with samples since the arena's creation or last reset, about a row per mean interval
     of bytes allocated at most, however many arenas hold them.

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
     one atomic operation each, and threads allocating in one limited arena at once share its
     counter (what that costs: "catmem, arena with a limit" in bench/results/latest.md).
     Arenas without a limit cost nothing more.
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
     EINVAL      NULL, released or unknown arena handle (LIFECYCLE); a NULL catmem_stats
                 pointer (catmem_arena_stats, _all_arenas_stats, _total_stats); NULL or
                 uninitialised region; alignment zero, not a power of two, or above
                 CATMEM_ALIGN_MAX; unknown kind; an empty name (or a NULL one to
                 catmem_arena_find); release of a built-in arena; a dead or foreign region
                 mark; a NULL cleanup function; an unknown report format or flag; profile
                 flags other than 0, an interval above CATMEM_SIZE_MAX.
     ENOMEM      out of memory (a new arena's record too, and the copy of the arenas' list
                 that a report, a profile and catmem_all_arenas_stats make), or past the
                 arena's limit (after the out-of-memory handler had its chance); size above
                 CATMEM_SIZE_MAX; n * size overflows in calloc.
     ESHUTDOWN   called after catmem_shutdown() (and before the next catmem_init()).
     EBUSY       the arena or region is running its cleanups (LIFETIMES).
     EIO         catmem_report or catmem_profile_write could not write to its stream.
     EEXIST      catmem_arena_create with the name of a live arena.
     ENAMETOOLONG  name longer than CATMEM_NAME_MAX.
     EAGAIN      jemalloc made no more arenas where catmem needed one (it makes about 4,000 in
                 a process, its other users' included): for a built-in arena, one of the first
                 CATMEM_OWN_ARENAS user arenas, the one all small arenas share, or any
                 arena when the front caches are off (catmem_backend_info says so; small
                 arenas need them). catmem has no cap of its own.
     ENOTSUP     the feature does not exist on this backend or in this process (profiling without
                 MALLOC_CONF=prof:true, decay of a small arena).
     ENOENT      catmem_arena_find found no arena of that name.
   Size 0 is valid everywhere and returns a unique pointer, as if 1 byte had been asked for; this
   includes catmem_realloc(a, p, 0), which is catmem_realloc(a, p, 1): p is never freed without a
   block that replaces it (which may be at another address, as with any realloc).
   catmem_free(a, NULL) does nothing. catmem_free(NULL, p) still frees p correctly (the owner comes
   from the pointer) and sets errno to EINVAL so the mistake can be found. catmem_free_any(p)
   frees p into whichever arena owns it, on every backend; catmem_usable_size(p) is the size
   class of p (0 for NULL). catmem_realloc_any(p, n) is catmem_realloc in the arena that owns p
   (its errors too); with p NULL, or a p no catmem arena owns (malloc's), it has no arena to
   allocate in: NULL and EINVAL, p untouched. catmem_free_any of such a p: on jemalloc, where
   jemalloc is malloc, jemalloc frees it (it gave it out); the system backend frees nothing and
   sets EINVAL.
   The system backend stops the process (abort, with a message naming the arena) on corrupted
   allocator metadata and on the double frees it recognises; see THE SYSTEM BACKEND.

   LIFECYCLE
   =========
   Init and shutdown, and how long a handle is valid.
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
   never grow the number of backend arenas.
   A handle is a value, not a pointer: the arena's slot number (catmem_arena_id) and the slot's
   generation, which a release changes. A released arena's handle therefore fails with EINVAL
   from the release on, also once its slot holds a new arena (which has the same id and a new
   handle); catmem_free with it still frees the block into the arena that owns it. The check
   misses only a handle kept through 2^32 - 1 further releases of the same slot. With
   CATMEM_DEBUG, any use of a released arena's handle stops the process with a message naming
   the handle, its id and both generations. Handles of live arenas never change; copy them
   freely. There is no cap on arenas in catmem itself (ERRORS: EAGAIN on jemalloc).

   THREADS
   =======
   - Every function may be called from any thread.
   - Allocation and free in one arena from many threads at once is safe and scales: on jemalloc
     each thread allocates through its own front cache for that arena; on the system backend
     through a heap of its own for that arena, and a block freed by another thread goes back to
     its owner's page without a lock (a compare-and-swap) and counts as freed at once. Caches are
     emptied, and heaps handed on, when their thread exits, so thread churn piles up neither.
   - A thread's thread-local storage does not grow with the number of arenas: each engine keeps
     a table of 256 pointers per thread (2 KiB), where an arena's entry is its id modulo 256.
     Arenas whose ids are 256 apart share an entry; a thread that alternates between two such
     arenas finds its state on a slower path at each switch (under catmem's lock on jemalloc,
     through its own list of heaps on the system backend). Ids are handed out in order, lowest
     free first, so arenas made together do not collide.
   - On jemalloc any number of threads and arenas works the same way: a front cache is made on a
     thread's first call in an arena (a few hundred bytes, sizeof(catmemi_je_cache)), plus the
     blocks it holds (those the thread freed and has not reused, and the rest of a refill). A
     thread's caches share CATMEM_JEMALLOC_CACHE_BYTES: each may hold that budget divided by the
     number of caches the thread has, at least 16 KiB, and gives blocks back beyond it (a cache
     learns of a smaller share at its next refill or overflow). One busy arena gets the whole
     budget; 100 arenas get 16 KiB each, and keep blocks up to a sixteenth of that (1 KiB),
     so that a few large blocks do not push out the small ones. Blocks above 14 KiB (or above
     that sixteenth of a cache's share), and every block while heap profiling is on
     (MALLOC_CONF=prof:true, so that jemalloc's sampler sees every allocation), go to the
     arena directly, with its lock.
   - On jemalloc a busy pair (one that moves more blocks than its front cache holds) also gets a
     jemalloc cache of its own, which takes blocks from the arena and gives them back in
     batches under one lock (how, and what it costs: backends/jemalloc/cache.h). Only that pair
     uses it, so arenas stay separate; it holds at most jemalloc's bound per size class (about
     2 MiB if every class were full), is flushed before a reset of its arena, and goes with its
     front cache. At most 8 per thread and CATMEM_JEMALLOC_TCACHES in the process: pairs past
     that take the arena's lock per block, and catmem_backend_info says so once it happens.
     Arenas with a limit do without, and so does every pair on a jemalloc before 5.3.
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

   STATISTICS
   ==========
   The fields of catmem_stats.
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
   Two totals, each what its name says. catmem_all_arenas_stats: the sum over catmem's live
   arenas, the same on every backend: each field the sum of the arenas' (peak the sum of their
   peaks), limit 0. catmem_total_stats: the backend's own figure: on jemalloc the whole process
   (every block jemalloc serves, catmem's or not: malloc's too where jemalloc is malloc), on
   the system backend the sum of catmem's arenas (the bytes of catmem_all_arenas_stats); on
   both its nmalloc and ndalloc are catmem's calls in every arena, its peak and limit 0.
   catmem_all_arenas_stats reads the arenas as catmem_report does: their list copied under
   catmem's lock (about 170 bytes per arena meanwhile; ENOMEM without them), their figures
   after one refresh for all (an arena released meanwhile counts as zeros). The report (table,
   JSON object, OpenMetrics) and the heap profile give both totals, each under its name
   (LIFETIMES, HEAP PROFILES).
   On the system backend the figures are exact whatever the threads do: a block freed by
   another thread counts as freed the moment it is freed, even while its owner sleeps, and its
   memory counts as resident until a purge (or another thread's need for a segment) takes its
   page back. While other threads allocate, the fields are read one after another and may be a
   few operations out of step; catmem keeps them coherent (ndalloc <= nmalloc, allocated <=
   active). On jemalloc a stats
   call refreshes every arena's statistics (mallctl "epoch") and costs a fraction of a
   millisecond: call it to monitor, not on every request.

   THE SYSTEM BACKEND
   ==================
   An allocator of catmem's own on memory taken from malloc in large pieces (how it works:
   backends/system/fast.h). What a program sees of it:
   - Memory comes from malloc 1 MiB at a time (a segment, the unit of "mapped"), handed out in
     pages of 64 KiB of one size class (the unit of "active"); blocks above 16 KiB are a malloc
     each. catmem_usable_size is the size class (36 classes from 16 bytes to 16 KiB; large
     blocks rounded up to 16 bytes). catmem_realloc of a large block reallocs it in place when
     it can. No lock is shared by all large blocks: their table is split by address into 64
     stripes with a mutex each, and each thread's heap in an arena has a mutex for its own
     large blocks (any thread's free of one takes it). A large block freed is kept for the
     next large blocks of the same thread and arena (up to 8 blocks, 4 MiB, each reused for a
     request it fits within a quarter), so that a program freeing and allocating large blocks
     in turn does not make glibc trim its heap and grow it again; kept blocks count in
     resident and mapped. One kept unused longer than the arena's decay (1 s by default:
     CATMEM_SYSTEM_DECAY_MS, catmem_arena_set_decay) goes back to malloc at that thread's next
     large allocation or free in the arena.
   - catmem_arena_reset and _release free the arena's segments and large blocks (kept ones
     too, as do catmem_arena_purge and the thread's exit), in time
     proportional to segments, not to small objects. catmem_arena_purge gives the OS the pages
     whose blocks are all free, gives malloc back the segments left empty, and trims glibc's
     free memory (malloc_trim, which is process-wide).
   - Hardening. Between two blocks there is no allocator data: a linear overflow from one block
     reaches only the next block (large blocks' records and their table live in mappings of their
     own, between guard pages). Free-list links are stored encoded with a per-process random key
     and the block's own address, and checked when followed: a link must decode to a block of
     its page (a multiple of its size from the page's start), so that even a link rewritten
     with the key (learnt from a read after free) cannot hand out the inside of a live block.
     Segment headers are checked with the key too, and so is every field of a large block's
     record, its list links included, before the record is followed or unlinked. A corrupted
     link, header or record, a double free, or a free of a pointer inside a block or into memory
     never handed out stops the process with "catmem: <what> at <address> in arena '<name>'"
     (abort()), <what> naming it. A double free is recognised when the block is on its page's
     lists (always so for an immediate double free by the owning thread; by other threads: when
     it is the last block freed into that page, or when the page takes back what they freed and
     finds it twice); a pointer catmem never handed out is refused with errno EINVAL.
     Heaps (a thread's current pages, lists and large blocks in an arena) live between guard
     pages too, never next to a block; their kept large blocks (above) are sealed with the key
     all the same, each pointer, size and time checked before the block is handed out or freed
     ("corrupted kept large block").
     Reuse after a reset or release (at CATMEM_SECURE 1), so that a stale pointer does not land
     on the new object at a known offset: a size class starts on a page of its segment picked
     at random (the same page 1 time in 15); within a page blocks come in address order (a
     random order there cost the Lua VM in bench/ 10-40% of its time). On jemalloc, which
     gives the same slabs back and hands their regions out lowest first, a front cache hands
     each refill's blocks out from one picked at random on, wrapping around (a random order
     cost the Lua VM about a third of its time), and a class's first refill after a reset
     takes 1 to 8 blocks at random and hands out the last: the first block of a class is
     where it was before 1 time in 8 (bench/results/hardening.md: what it costs). A
     small arena's chunk starts its blocks at one of 8 offsets picked at random: after a
     reset (which gives its first chunk back first) its blocks are where they were 1 time in
     8. On jemalloc the old addresses still come back, in another order: a stale pointer
     aliases some new object, which the attacker cannot name in advance. The picks come from a
     sequence per thread (and per heap) seeded from a random word of the process's own, not a
     key; a fork child draws a new seed (getrandom) and restarts them, so that its orders are
     not its parent's.
     Small arenas (CATMEM_OWN_ARENAS): each block's header is sealed with the key and its
     address, their free lists' links too, checked when followed; a bad header stops the
     process.
   - Memory checkers. Under AddressSanitizer, and with CATMEM_VALGRIND, every block is a malloc of
     its own (CATMEM_SYSTEM_ENGINE 0), so ASan's redzones and quarantine and memcheck's tracking
     apply to every block: a use after free or an overflow is reported as with malloc. Region
     memory is described to both as well.
   - CATMEM_BACKEND_RUNTIME without jemalloc in the process runs this backend with the same
     inline paths.

   MISUSE THAT CANNOT BE REPORTED
   ==============================
   Freeing a pointer that catmem did not allocate, or freeing it twice, is undefined, as with
   free(); the system backend refuses a foreign pointer and stops the process on the double
   frees it recognises (THE SYSTEM BACKEND).
   On jemalloc the front caches' free-list links are encoded (a per-process key, the block's
   address, a rotation) and checked when followed: a link rewritten whole or in part by an
   overflow stops the process at the allocation that would follow it. Double frees: a block of
   16 bytes or more that catmem takes back gets a free mark in its second word (its address
   mixed with a per-process key), which every path that hands a block out clears; a free of a
   block that has it stops the process ("catmem: double free of <address>"), wherever the block
   is by then: in the freeing thread's front cache, in another thread's, back in jemalloc's
   arena, or freed before a reset of its arena (until the memory is handed out again: then the
   stale free looks like the new owner's). An 8-byte block has no room for it: there a freed
   block whose first word is a link is looked for on the freeing thread's list (a double free
   while that cache holds it, in a row or with other frees between). A small arena's free list
   is searched the same way. Blocks after a reset come in another order than before (THE
   SYSTEM BACKEND, Hardening, Reuse). Not seen (undefined, as with free()): an 8-byte block
   freed twice when the freeing thread's cache does not hold it; a stale free of a block that
   was live at a reset (jemalloc hands its memory out again). Interior and wrong-size frees: a
   block of a class starts at a multiple of the class's alignment (the lowest set bit of its
   size, at most a page; 16 bytes in a small arena), and a free of a pointer that is not stops
   the process ("catmem: free of <address>, which is not where a block of its size class
   starts"): p + 16 of a 64-byte block, a 16-byte block freed as 14,000 bytes (unless it is
   2 KiB-aligned). Not seen: a pointer inside a block at such a multiple (p + 16 of a 48-byte
   block), a wrong size whose class is no more aligned than the block.
   Freeing a catmem block with plain free() on jemalloc puts it into the thread's automatic cache,
   which defeats reset; always use catmem_free (or catmem_free_any). Freeing into the wrong arena
   still frees the block. On jemalloc, catmem_free (without a size) sends it to its own arena
   and sets errno to EINVAL (the page map it reads for the block's class names the arena; not
   at CATMEM_SECURE 0, nor where the map is off: catmem_backend_info says so);
   catmem_free_sized does so at CATMEM_SECURE 2 only, and otherwise puts the block into the
   front cache of the arena named, which hands it out again and counts it there (statistics
   and limits of both arenas go wrong). CATMEM_DEBUG aborts on it.
   Under valgrind's memcheck, catmem's probes may be reported: catmem_free_any, _usable_size,
   _arena_owns and _realloc_any of a pointer catmem did not hand out read the word before it
   (malloc's own, which memcheck forbids), and a free reads the block's first word, which
   memcheck calls uninitialised when the program never wrote all of it (CATMEM_VALGRIND, or a
   suppression, for programs that do so).
   catmem_free_sized needs the size asked for (or anything up to the usable size) and must not be
   used on blocks from catmem_aligned_alloc; use catmem_free for those. It is the fastest free:
   on jemalloc, catmem_free first reads the block's size class from catmem's page map (18
   instructions of a free + allocation pair, 149 against 130: bench/results/callgrind.md).

   WHERE THE CODE IS
   =================
   catmem.h                 this manual, the public API and the inline paths (>>inline paths).
   core/config.h            every configuration macro: default, check, where to define it.
   core/platform.h          attributes, memory-checker hooks, CATMEMI_ASSERT (CATMEM_DEBUG).
   backends/inline.h        the one place that picks the engine behind the inline paths.
   core/impl.h              the implementation: every file of it, in the order it is compiled.
   core/contract.h          THE BACKEND CONTRACT: what the core and an engine give each other,
                            and every lock in order. Read it before an engine.
   core/registry.h          arenas: init, create, find, reset, release, limits, statistics.
   core/small.h             small arenas, on any engine (CATMEM_OWN_ARENAS).
   core/alloc.h, core/accounting.h, core/classes.h, core/report.h, core/region.h   the rest.
   backends/jemalloc/, backends/system/, backends/runtime/   the engines, each described at the
                            top of its fast.h.
   malloc/                  catmem as the process's malloc (LD_PRELOAD or linked): a program's
                            malloc family and C++ operators from one arena named "malloc"
                            (README.md, "Any program on catmem").
   To follow one allocation: catmem_alloc (>>inline paths, below) -> catmemi_be_alloc
   (backends/inline.h) -> the engine's fast path in its fast.h -> on a miss catmemi_alloc_slow
   (core/alloc.h) -> the engine's alloc_slow in its ops.h. CONTRIBUTING.md says how the house
   is organised and how each check is run.
*/
#ifndef CATMEM_H
#define CATMEM_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"   /* every configuration macro, its default and its check */
#include "core/platform.h" /* attributes, memory-checker hooks, CATMEMI_ASSERT */

#ifdef __cplusplus
extern "C" {
#endif

/* >>types ====================================================================================== */

/* Largest size any catmem allocation accepts; larger requests fail with ENOMEM. */
#define CATMEM_SIZE_MAX ((size_t)PTRDIFF_MAX)
/* Largest alignment catmem_aligned_alloc accepts (1 GiB, enough for huge-page alignment). */
#define CATMEM_ALIGN_MAX ((size_t)1 << 30)

/* The built-in arenas, one per typical lifetime. */
typedef enum catmem_kind {
    CATMEM_REQUEST = 0, /* memory of one request; reset when the request ends */
    CATMEM_RESPONSE,    /* response bodies and headers */
    CATMEM_CACHE,       /* long-lived cached objects */
    CATMEM_STATIC,      /* lives until the process exits */
    CATMEM_TASK,        /* background tasks */
    CATMEM_KIND_COUNT
} catmem_kind;

/* An arena handle: an opaque value, never dereferenced (LIFECYCLE says how long it is valid). */
typedef struct catmem_arena catmem_arena;

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

/* >>lifecycle ================================================================================== */


CATMEMI_API int catmem_init(void);      /* 0, or an errno value; idempotent, thread-safe */
CATMEMI_API void catmem_shutdown(void); /* idempotent; arenas persist and are reused by init */
CATMEMI_API int catmem_is_initialized(void);
CATMEMI_API const char *catmem_backend_name(void); /* "jemalloc" or "system"; works before init */
/* Why that backend: "jemalloc 5.3.0-... (linked)", "jemalloc 5.3.0-... found in process",
   "no jemalloc in process: system malloc", ... Works before init; after the first init it also
   says when jemalloc's front caches are off, and why ("; front caches off: heap profiling"). */
CATMEMI_API const char *catmem_backend_info(void);

/* >>arenas ===================================================================================== */


CATMEMI_API catmem_arena *catmem_arena_get(catmem_kind kind);
/* A user arena. name: unique among live arenas, or NULL for an anonymous arena (it has the
   name "" and is never found by name). */
CATMEMI_API catmem_arena *catmem_arena_create(const char *name);
CATMEMI_API catmem_arena *catmem_arena_find(const char *name); /* by name, not a scan */
CATMEMI_API int catmem_arena_release(catmem_arena *a); /* frees its memory; slot reused later */
/* "" for an anonymous arena; NULL for a bad handle. */
CATMEMI_API const char *catmem_arena_name(const catmem_arena *a);
/* catmem's number for the arena, the same on every backend: the built-in arenas are 0 to
   CATMEM_KIND_COUNT - 1 in catmem_kind's order; a released arena's number goes to a later one
   (its handle does not: LIFECYCLE). -1 for a bad handle, a released one's included. */
CATMEMI_API int catmem_arena_id(const catmem_arena *a);
/* 1 when p, a live block from any catmem arena, belongs to a; 0 otherwise (and for NULL). p must
   come from catmem: on jemalloc the owner comes from catmem's page map of its arenas, but where
   that map is off (catmem_backend_info says so at init) jemalloc's arenas.lookup answers, and
   it crashes on pointers it never handed out. */
CATMEMI_API int catmem_arena_owns(const catmem_arena *a, const void *p);

CATMEMI_API int catmem_arena_reset(catmem_arena *a); /* frees every block of a at once */
CATMEMI_API int catmem_arena_purge(catmem_arena *a); /* unused pages back to the OS */
CATMEMI_API int catmem_arena_stats(catmem_arena *a, catmem_stats *out);
/* Two totals, each what its name says (STATISTICS). catmem_all_arenas_stats: the sum over
   catmem's live arenas, the same on every backend, read as catmem_report reads them (peak the
   sum of their peaks, limit 0; ENOMEM when the copy of the arenas' list gets no memory).
   catmem_total_stats: the backend's own figure: on jemalloc the whole process (every block
   jemalloc serves, catmem's or not), on the system backend catmem's arenas; peak and limit 0. */
CATMEMI_API int catmem_all_arenas_stats(catmem_stats *out);
CATMEMI_API int catmem_total_stats(catmem_stats *out);
/* Page decay for one arena, in milliseconds (-1: never, 0: at once). jemalloc: its dirty and
   muzzy decay. System engine: how long a freed large block kept for the arena's next ones may
   wait unused (dirty_ms; 0: none kept; default CATMEM_SYSTEM_DECAY_MS, 1000; muzzy_ms unused);
   it goes back to malloc at that heap's next large allocation or free. A small arena, or the
   engine off under a memory checker: ENOTSUP. */
CATMEMI_API int catmem_arena_set_decay(catmem_arena *a, long dirty_ms, long muzzy_ms);

/* Heap profiling: jemalloc only, and only when the process started with MALLOC_CONF=prof:true
   (or a malloc_conf symbol saying so); ENOTSUP otherwise. path NULL: jemalloc's default name. */
CATMEMI_API int catmem_prof_active(int on);
CATMEMI_API int catmem_prof_dump(const char *path);

/* >>lifetimes: cleanups, child arenas, limits, the out-of-memory handler, the report =========== */


/* Run when the arena (or region) it was registered on is reset or released. */
typedef void (*catmem_cleanup_fn)(void *arg);
/* fn(arg) runs at the next catmem_arena_reset or _release of a, or of an ancestor of a: last
   registered first, each exactly once, before the arena's memory is freed (a cleanup may still
   read what it points to). fn NULL: EINVAL. */
CATMEMI_API int catmem_arena_on_reset(catmem_arena *a, catmem_cleanup_fn fn, void *arg);
/* A user arena that lives inside parent: resetting parent resets it first (its cleanups run
   first), releasing parent releases it. Children of children work. name as for
   catmem_arena_create (NULL: anonymous). */
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

/* The live arenas (name, id, parent, statistics, pending cleanups) and the two totals, as a
   readable table, as one JSON object, or as OpenMetrics text for a metrics scraper, each
   bounded with any number of arenas unless flags has CATMEM_REPORT_ALL (LIFETIMES says what
   each holds). 0 or an errno value: EINVAL for a NULL stream, an unknown format or other flag
   bits, ENOMEM, EIO when the stream could not be written (ERRORS). */
#define CATMEM_REPORT_TEXT        0
#define CATMEM_REPORT_JSON        1
#define CATMEM_REPORT_OPENMETRICS 2
/* OR-ed with a format: every live arena has a row (series) of its own, whatever their number. */
#define CATMEM_REPORT_ALL 0x100
/* Past this many live arenas, the table and the JSON object show those with the most allocated
   bytes, one row for the rest, and the children per parent (as many parents, those with the
   most). 100 rows are a few screens of the table (some 17 KB; 22 KB of JSON): what a person
   reads, or a log keeps at exit, and more than the stable, named arenas of most programs, which
   then see all theirs; a program with an arena per request gets a summary, not megabytes. */
#define CATMEM_REPORT_ARENAS 100
/* The OpenMetrics exposition gives series of their own to this many arenas at most, those with
   the most allocated bytes, and sums the rest into one series, arena "(other)": a scrape stays
   bounded with any number of arenas. */
#define CATMEM_REPORT_OPENMETRICS_ARENAS 1000
CATMEMI_API int catmem_report(FILE *out, int flags);

/* Sampled heap profiles with the arena on every sample, on every backend (HEAP PROFILES in the
   manual). bytes: the mean interval between samples, in allocated bytes; 0: off (the default
   unless CATMEM_PROFILE or CATMEM_PROFILE_INTERVAL is set). EINVAL above CATMEM_SIZE_MAX;
   ENOTSUP for any but 0 where CATMEM_HEAP_PROFILES is 0. */
CATMEMI_API int catmem_profile_interval(size_t bytes);
CATMEMI_API size_t catmem_profile_interval_get(void);
/* The sampled heap as pprof's profile.proto (uncompressed), for pprof or go tool pprof: sample
   types alloc_objects, alloc_space, inuse_objects, inuse_space, labels arena and parent, the
   two totals as comments (HEAP PROFILES). flags: 0. 0 or an errno value: EINVAL (NULL stream,
   flags), ENOMEM, EIO (the stream failed). */
CATMEMI_API int catmem_profile_write(FILE *out, int flags);

/* >>allocation (the fast paths are inline, below) ============================================== */


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
/* Frees p into whichever arena owns it (found from the pointer, without a lock), through that
   arena's front cache as catmem_free(owner, p) would; NULL does nothing. Its cost
   (bench/results/callgrind.md, a free + allocation pair) is catmem_free's: 133 against 137
   instructions on the system engine, which finds the owner from p anyway; 150 against 149 on
   jemalloc, whose page map names the owner and the block's class in one entry. Inline. */
static inline void catmem_free_any(void *p);
/* catmem_realloc in the arena that owns p (found from the pointer): the block keeps its arena.
   p NULL, or not catmem's: NULL and EINVAL (there is no arena to allocate in; ERRORS). */
CATMEMI_API void *catmem_realloc_any(void *p, size_t size) CATMEMI_SIZE(2) CATMEMI_NODISCARD;

/* >>regions: single-threaded bump allocation, released in bulk ================================= */

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


/* >>inline paths ================================================================================
   catmem_alloc and its siblings check their arguments in a few instructions and hand the rest to
   the engine's inline path (backends/inline.h). Anything those do not serve goes to the core's
   slow paths (core/alloc.h), which check everything and set errno. */

/* Allocation options, encoded as jemalloc's mallocx flags so that backend passes them through:
   the low 6 bits are log2 of the alignment, CATMEMI_ZERO asks for zeroed memory. */
#define CATMEMI_ZERO          0x40
#define CATMEMI_LG_ALIGN_MASK 0x3f

/* The slow paths: argument checks, errno, first use of an arena on a thread, backend fallbacks. */
CATMEMI_API void *catmemi_alloc_slow(const catmem_arena *a, size_t size, int opts);
CATMEMI_API void catmemi_free_slow(const catmem_arena *a, void *p, size_t size);

#include "backends/inline.h" /* catmemi_be_alloc, _free, _free_sized: the engine's inline paths */

#if CATMEM_DEBUG
CATMEMI_API void catmemi_debug_check_free(const catmem_arena *a, const void *p);
#  define CATMEMI_DEBUG_CHECK_FREE(a, p) catmemi_debug_check_free((a), (p))
#else
#  define CATMEMI_DEBUG_CHECK_FREE(a, p) ((void)0)
#endif

/* One unsigned comparison rejects both 0 and sizes above CATMEM_SIZE_MAX: they take the slow
   path, which maps 0 to 1 and reports the rest. */
#define CATMEMI_SIZE_OK(n) ((size_t)(n)-1 < CATMEM_SIZE_MAX)

/* Heap profiles (core/profile.h): every allocation the inline paths take counts against the
   thread's byte countdown, whose end (a sample, or a check of the settings) is out of line. A
   free looks up its block only while samples live and the filter has its address's hash. */
#define CATMEMI_PROF_FILTER 4096
#define CATMEMI_PROF_HASH(p) ((unsigned)((uintptr_t)(p) >> 4) & (CATMEMI_PROF_FILTER - 1))
extern CATMEMI_TLS intptr_t catmemi_prof_left;                /* bytes to the next sample */
extern uint32_t catmemi_prof_nlive;                           /* live samples; atomic */
extern uint16_t catmemi_prof_filter[CATMEMI_PROF_FILTER];     /* samples by hash; atomic */
CATMEMI_API void *catmemi_prof_alloc(const catmem_arena *a, size_t size, int opts);
CATMEMI_API void catmemi_prof_free(const void *p);

CATMEMI_INLINE void *catmemi_alloc_counted(const catmem_arena *a, size_t size, int opts) {
    if (!CATMEM_HEAP_PROFILES || CATMEMI_LIKELY((catmemi_prof_left -= (intptr_t)size) >= 0))
        return catmemi_be_alloc(a, size, opts);
    return catmemi_prof_alloc(a, size, opts);
}

CATMEMI_INLINE void catmemi_prof_freeing(const void *p) {
    if (CATMEM_HEAP_PROFILES &&
        CATMEMI_UNLIKELY(__atomic_load_n(&catmemi_prof_nlive, __ATOMIC_RELAXED) != 0) &&
        __atomic_load_n(&catmemi_prof_filter[CATMEMI_PROF_HASH(p)], __ATOMIC_RELAXED) != 0)
        catmemi_prof_free(p);
}

CATMEMI_INLINE void *catmem_alloc(catmem_arena *a, size_t size) {
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(size)))
        return catmemi_alloc_counted(a, size, 0);
    return catmemi_alloc_slow(a, size, 0);
}

/* n * size, or SIZE_MAX when it overflows: a size no allocation accepts (ENOMEM). */
static inline size_t catmemi_mul_size(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) total = SIZE_MAX;
    return total;
}

static inline void *catmem_calloc(catmem_arena *a, size_t n, size_t size) {
    size_t total = catmemi_mul_size(n, size);
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(total)))
        return catmemi_alloc_counted(a, total, CATMEMI_ZERO);
    return catmemi_alloc_slow(a, total, CATMEMI_ZERO);
}

static inline void *catmem_aligned_alloc(catmem_arena *a, size_t alignment, size_t size) {
    int lg;
    if (CATMEMI_UNLIKELY(alignment == 0 || (alignment & (alignment - 1)) != 0 ||
                         alignment > CATMEM_ALIGN_MAX))
        return catmemi_alloc_slow(a, size, -1); /* -1: bad alignment, reported as EINVAL */
    lg = __builtin_ctzll((unsigned long long)alignment);
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(size)))
        return catmemi_alloc_counted(a, size, lg);
    return catmemi_alloc_slow(a, size, lg);
}

CATMEMI_INLINE void catmem_free(catmem_arena *a, void *p) {
    if (p == NULL) return;
    CATMEMI_DEBUG_CHECK_FREE(a, p);
    catmemi_prof_freeing(p);
    if (CATMEMI_LIKELY(a != NULL))
        catmemi_be_free(a, p);
    else
        catmemi_free_slow(a, p, 0);
}

/* catmem_free_any where the engine's inline path did not take p (jemalloc: no page map, no
   front cache of the owner's for this thread, a full one; or before init). */
CATMEMI_API void catmemi_free_any_slow(void *p);
CATMEMI_INLINE void catmem_free_any(void *p) {
    if (p == NULL) return;
    catmemi_prof_freeing(p);
    if (!catmemi_be_free_any(p)) catmemi_free_any_slow(p);
}

CATMEMI_INLINE void catmem_free_sized(catmem_arena *a, void *p, size_t size) {
    if (p == NULL) return;
    CATMEMI_DEBUG_CHECK_FREE(a, p);
    catmemi_prof_freeing(p);
    if (CATMEMI_LIKELY(a != NULL && CATMEMI_SIZE_OK(size)))
        catmemi_be_free_sized(a, p, size);
    else
        catmemi_free_slow(a, p, size);
}
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

/* >>implementation: compiled once, where the including file defines CATMEM_IMPLEMENTATION. */
#if defined(CATMEM_IMPLEMENTATION)
#  include "core/impl.h"
#endif
