/* catmem: what catmem needs of the compiler, of the memory checkers, and of itself in debug
   builds: attributes, thread-local storage, the owner's counters, the memory-checker hooks and
   CATMEMI_ASSERT. Included by catmem.h, after core/config.h. */
#ifndef CATMEMI_PLATFORM_H
#define CATMEMI_PLATFORM_H

/* ---- compiler ------------------------------------------------------------------------------ */

#if defined(__has_attribute)
#  define CATMEMI_HAS_ATTR(x) __has_attribute(x)
#else
#  define CATMEMI_HAS_ATTR(x) 0
#endif
/* What compilers and _FORTIFY_SOURCE learn of what an allocation function returns. */
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
#define CATMEMI_MALLOC    __attribute__((malloc))
#define CATMEMI_NODISCARD __attribute__((warn_unused_result))
#define CATMEMI_NORETURN  __attribute__((noreturn))
/* The fast paths are small but nested (public call, engine dispatch, pop): inlined whole. */
#define CATMEMI_INLINE      static inline __attribute__((always_inline))
#define CATMEMI_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CATMEMI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CATMEMI_TLS         __thread

/* x += d on a counter with one writer at a time (its owner thread, or whoever holds its lock)
   that other threads read (statistics): a plain load and add, stored atomically so that
   readers see whole values. */
#define CATMEMI_OWNER_ADD(x, d)                                                                    \
  __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (d), __ATOMIC_RELAXED)

/* ---- memory checkers ---------------------------------------------------------------------- */

/* Where memory checkers learn what catmem hands out and takes back; the only place that knows
   about them. Under AddressSanitizer, region memory that is not handed out is poisoned, so a use
   after catmem_region_reset/restore/release is reported. With CATMEM_VALGRIND memcheck is told
   the same. With CATMEM_DEBUG, memory taken back is also filled with 0xdd. Under either checker
   the system engine gives every block a malloc of its own (CATMEMI_SYS_ENGINE 0, core/config.h),
   so that the checker watches each block itself. */
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
/* A freed block's first word, read by the double-free probes (core/small.h), may hold bytes the
   program never wrote (a struct's padding, copied by a realloc): memcheck is told they are
   defined, so that a probe of user data is not reported as a use of uninitialised memory.
   Without valgrind's header: nothing. */
#if defined(__has_include)
#  if __has_include(<valgrind/memcheck.h>)
#    include <valgrind/memcheck.h>
#    define CATMEMI_VG_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#  endif
#endif
#if !defined(CATMEMI_VG_DEFINED)
#  define CATMEMI_VG_DEFINED(p, n) ((void)0)
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

/* ---- invariants ----------------------------------------------------------------------------- */

/* CATMEMI_ASSERT(cond): under CATMEM_DEBUG, a state the code relies on; a false one stops the
   process naming the condition and where (catmemi_assert_fail, core/alloc.h). Free otherwise:
   the condition is not evaluated. CATMEMI_ASSERT_LOCKED(): the caller holds catmemi_mu. */
#if CATMEM_DEBUG
#  ifdef __cplusplus
extern "C" {
#  endif
CATMEMI_API void catmemi_assert_fail(const char *cond, const char *file, int line) CATMEMI_NORETURN;
#  ifdef __cplusplus
}
#  endif
#  define CATMEMI_ASSERT(cond)                                                                     \
    (CATMEMI_LIKELY(cond) ? (void)0 : catmemi_assert_fail(#cond, __FILE__, __LINE__))
#  define CATMEMI_ASSERT_LOCKED() CATMEMI_ASSERT(catmemi_locked())
#else
#  define CATMEMI_ASSERT(cond)    ((void)0)
#  define CATMEMI_ASSERT_LOCKED() ((void)0)
#endif

#endif /* CATMEMI_PLATFORM_H */
