/* catmem: every configuration macro, its default and its check, in one place. Included by
   catmem.h, first. The manual (CONFIGURATION at the top of catmem.h) says what each one does;
   each entry here also says where it must be defined:
     [every file]  before every #include "catmem.h", the same way in every file of the program
                   (the inline paths depend on it; the Bazel and CMake targets export the
                   backend and CATMEM_DEBUG for you);
     [impl]        only where the implementation is compiled (the file that defines
                   CATMEM_IMPLEMENTATION, or the Bazel/CMake target's own build). */
#ifndef CATMEMI_CONFIG_H
#define CATMEMI_CONFIG_H

#if !defined(__GNUC__)
#  error "catmem: needs GCC or Clang (it uses their atomics, builtins and thread-local storage)"
#endif

/* ---- the backend [every file] ---------------------------------------------------------------
   CATMEM_BACKEND_JEMALLOC, CATMEM_BACKEND_SYSTEM or CATMEM_BACKEND_RUNTIME: at most one. With
   none, jemalloc when <jemalloc/jemalloc.h> can be included, the system backend otherwise. */
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

/* CATMEM_JEMALLOC_PREFIX [every file]: the symbol prefix of a jemalloc built with
   --with-jemalloc-prefix (je_, say). Default: none. */
#ifndef CATMEM_JEMALLOC_PREFIX
#  define CATMEM_JEMALLOC_PREFIX
#endif

/* CATMEM_RUNTIME_PREFIXES [impl]: the prefixes the runtime backend tries, in order, as a list
   of strings: "" is a jemalloc that is the process's malloc; "je_" finds a jemalloc built with
   --with-jemalloc-prefix=je_ whose symbols are visible. Default: "". */
#ifndef CATMEM_RUNTIME_PREFIXES
#  define CATMEM_RUNTIME_PREFIXES ""
#endif

/* CATMEM_SYSTEM_MALLOC, _CALLOC, _REALLOC, _FREE [impl]: the allocator under the system engine
   and under catmem's own bookkeeping (cleanup records, report rows): all four or none (the
   fault-injection test puts catmem on a malloc that fails when told to). */
#if (defined(CATMEM_SYSTEM_MALLOC) + defined(CATMEM_SYSTEM_CALLOC) +                              \
     defined(CATMEM_SYSTEM_REALLOC) + defined(CATMEM_SYSTEM_FREE)) % 4 != 0
#  error "catmem: define all four of CATMEM_SYSTEM_MALLOC, _CALLOC, _REALLOC and _FREE, or none"
#endif
#ifndef CATMEM_SYSTEM_MALLOC
#  define CATMEM_SYSTEM_MALLOC  malloc
#  define CATMEM_SYSTEM_CALLOC  calloc
#  define CATMEM_SYSTEM_REALLOC realloc
#  define CATMEM_SYSTEM_FREE    free
#endif

/* CATMEM_MAX_ARENAS: gone. Arenas are limited by memory alone (and, on jemalloc, by the
   number of arenas jemalloc can make: ERRORS in catmem.h); a definition is ignored. */

/* catmem's handles and tables assume 64-bit pointers (and the engine's segment map a 47-bit
   user address space). */
#if UINTPTR_MAX < 0xffffffffffffffffu
#  error "catmem: a 64-bit platform is required"
#endif

/* CATMEM_NAME_MAX [impl]: the longest arena name, in bytes (default 31). */
#ifndef CATMEM_NAME_MAX
#  define CATMEM_NAME_MAX 31
#endif

/* CATMEM_DEBUG [every file]: 1 checks every free's arena and catmem's internal invariants
   (CATMEMI_ASSERT), and aborts with a message on misuse that cannot be reported otherwise.
   Default 0. */
#ifndef CATMEM_DEBUG
#  define CATMEM_DEBUG 0
#endif

/* CATMEM_API [every file]: the storage class of catmem's functions (default extern; static
   for a program that compiles catmem into one file). */
#ifndef CATMEM_API
#  define CATMEM_API extern
#endif
/* Every function of catmem is declared and defined with CATMEMI_API: the user's storage class,
   and "unused" so that a program built with CATMEM_API=static that does not call every
   function still compiles without warnings. */
#define CATMEMI_API CATMEM_API __attribute__((unused))

/* CATMEM_JEMALLOC_CACHE_BYTES [impl]: jemalloc backend: the bytes of freed blocks one thread
   keeps in its front caches, all arenas together (default 1 MiB); 0 turns them off. */
#ifndef CATMEM_JEMALLOC_CACHE_BYTES
#  define CATMEM_JEMALLOC_CACHE_BYTES (1024 * 1024)
#endif

/* CATMEM_JEMALLOC_TCACHES [impl]: jemalloc backend: how many jemalloc caches (tcache.create)
   catmem may hold for busy (thread, arena) pairs, all threads together (default 1024; 0:
   none). jemalloc has about 4,000 in a process. */
#ifndef CATMEM_JEMALLOC_TCACHES
#  define CATMEM_JEMALLOC_TCACHES 1024
#endif

/* CATMEM_OWN_ARENAS [impl]: how many user arenas live at once get memory of their own from the
   engine (default 64): a jemalloc arena, or the system engine's heaps and segments. Arenas past
   them are SMALL (blocks carved from chunks the engine shares among them: any number, about
   1.5 KB each; core/small.h). An arena of its own is the fastest for a busy arena (the Lua VM
   in bench/ took 0.75x glibc's time in one on jemalloc, 1.2x in a small one) but costs 30-120
   KB, and jemalloc makes about 4,000; 0 makes every user arena small. */
#ifndef CATMEM_OWN_ARENAS
#  define CATMEM_OWN_ARENAS 64
#endif

/* CATMEM_SECURE [every file]: 1 (the default) checks what the inline paths can check cheaply:
   free-list links encoded with a per-process key and the block's address and checked when
   followed, links cleared in blocks handed out, a double free looked for on the list it would
   join (the system engine's pages; on jemalloc a keyed free mark in each freed block of 16 bytes
   or more, FREE MARKS in backends/jemalloc/fast.h); and, on slow paths, reuse after a
   reset in an order that is not the old one (a random page, a refill's blocks from a random
   place on, a chunk's blocks at a random offset); on jemalloc, a block freed without a size
   into the wrong arena goes to its own (errno EINVAL: the page map the free reads for the
   block's class names its arena, backends/jemalloc/fast.h). 0 keeps the links raw, checks none
   of it and reuses in address order, for raw speed (the cost of 1: bench/results/hardening.md).
   2 adds, on jemalloc, the same check of every sized free (about 16 instructions a free,
   bench/pairs.sh): in the named arena's cache the block would be handed out while its owner
   still counts it, and after a reset of the owner have two (issue 20's B6).
   The system engine finds every block's owner from its address at every level.
   What the slow paths check (records, headers, segment cookies) does not depend on it. */
#ifndef CATMEM_SECURE
#  define CATMEM_SECURE 1
#endif
#if CATMEM_SECURE != 0 && CATMEM_SECURE != 1 && CATMEM_SECURE != 2
#  error "catmem: CATMEM_SECURE must be 0, 1 or 2"
#endif

/* CATMEM_REGION_ALIGN, CATMEM_REGION_CHUNK_MIN, CATMEM_REGION_CHUNK_MAX [every file]: the
   alignment of every region allocation (default 16, suitable for max_align_t on the common
   64-bit ABIs), a region's first chunk (4096) and its largest (1 MiB). */
#ifndef CATMEM_REGION_ALIGN
#  define CATMEM_REGION_ALIGN 16
#endif
#ifndef CATMEM_REGION_CHUNK_MIN
#  define CATMEM_REGION_CHUNK_MIN 4096
#endif
#ifndef CATMEM_REGION_CHUNK_MAX
#  define CATMEM_REGION_CHUNK_MAX (1024 * 1024)
#endif

/* AddressSanitizer is on: not a setting, but the defaults below follow it. */
#if defined(__SANITIZE_ADDRESS__)
#  define CATMEMI_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CATMEMI_ASAN 1
#  endif
#endif

/* CATMEM_VALGRIND [every file]: 1 describes region memory to Valgrind's memcheck and gives
   every block of the system backend a malloc of its own, which memcheck watches. Default: 1
   when CATMEM_DEBUG is and <valgrind/memcheck.h> exists. */
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

/* CATMEM_HEAP_PROFILES [every file]: 0 leaves the heap-profile checks out of the inline paths
   (a countdown per allocation, a test per free: bench/results/profile.md), for a program that
   never profiles; catmem_profile_interval then refuses any mean but 0 (ENOTSUP). Default 1. */
#ifndef CATMEM_HEAP_PROFILES
#  define CATMEM_HEAP_PROFILES 1
#endif
#if CATMEM_HEAP_PROFILES != 0 && CATMEM_HEAP_PROFILES != 1
#  error "catmem: CATMEM_HEAP_PROFILES must be 0 or 1"
#endif

/* CATMEM_PROFILE_DEFAULT_INTERVAL [impl]: the mean bytes between heap-profile samples when
   CATMEM_PROFILE turns sampling on without CATMEM_PROFILE_INTERVAL. Default 512 KiB, as
   jemalloc's lg_prof_sample (19) and TCMalloc's: some 2,000 samples per GiB allocated. */
#ifndef CATMEM_PROFILE_DEFAULT_INTERVAL
#  define CATMEM_PROFILE_DEFAULT_INTERVAL (512 * 1024)
#endif
#if CATMEM_PROFILE_DEFAULT_INTERVAL <= 0
#  error "catmem: CATMEM_PROFILE_DEFAULT_INTERVAL must be a positive number of bytes"
#endif

/* CATMEM_SYSTEM_DECAY_MS [impl]: on the system engine, how long a freed large block a heap keeps
   for its next ones (backends/system/large.h) may wait unused before it goes back to malloc, in
   milliseconds, until catmem_arena_set_decay says otherwise for an arena; -1: never (until a
   purge, reset, release or the thread's exit). Default 1000: the programs that free and
   allocate large blocks in turn reuse them within microseconds. */
#ifndef CATMEM_SYSTEM_DECAY_MS
#  define CATMEM_SYSTEM_DECAY_MS 1000
#endif
#if CATMEM_SYSTEM_DECAY_MS < -1
#  error "catmem: CATMEM_SYSTEM_DECAY_MS must be -1 or more"
#endif

/* CATMEM_SYSTEM_ENGINE [every file]: 1 runs the system backend's engine even under a memory
   checker (the fuzzer does, under ASan); 0 gives every block a malloc of its own, which the
   checker watches. Default: 0 under AddressSanitizer and with CATMEM_VALGRIND, 1 otherwise. */
#if defined(CATMEM_SYSTEM_ENGINE)
#  define CATMEMI_SYS_ENGINE CATMEM_SYSTEM_ENGINE
#elif defined(CATMEMI_ASAN) || CATMEM_VALGRIND
#  define CATMEMI_SYS_ENGINE 0
#else
#  define CATMEMI_SYS_ENGINE 1
#endif

#endif /* CATMEMI_CONFIG_H */
