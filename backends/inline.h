/* catmem: the engine behind the inline paths. The one place that chooses, for every file that
   includes catmem.h, which engine's inline paths catmem_alloc, catmem_calloc,
   catmem_aligned_alloc, catmem_free and catmem_free_sized run (and catmem_free_any, where the
   engine can), and how that engine reaches jemalloc. core/contract.h says what these paths
   may assume and where they fall back. */
#ifndef CATMEMI_INLINE_H
#define CATMEMI_INLINE_H

/* A handle is the value (generation << 32) | slot, never a pointer: the generation changes
   when the slot's arena is released, so a stale handle matches nothing (core/registry.h). Each
   engine keeps, per thread, a table of its per-arena state (a front cache, a heap) indexed by
   slot modulo CATMEMI_TAB, each entry knowing the handle it serves: a thread's thread-local
   storage does not grow with the number of arenas, and arenas with consecutive slots (the
   registry hands them out in order) never share an entry. */
#define CATMEMI_TAB 256
#define CATMEMI_TAB_OF(key) ((unsigned)(key) & (CATMEMI_TAB - 1))
/* A table's initializer: every entry points at the engine's empty object, whose key (0) no
   handle has, so that an inline path compares keys without testing for NULL first. */
#define CATMEMI_REP4(x)   x, x, x, x
#define CATMEMI_REP16(x)  CATMEMI_REP4(x), CATMEMI_REP4(x), CATMEMI_REP4(x), CATMEMI_REP4(x)
#define CATMEMI_REP64(x)  CATMEMI_REP16(x), CATMEMI_REP16(x), CATMEMI_REP16(x), CATMEMI_REP16(x)
#define CATMEMI_TAB_INIT(x) {CATMEMI_REP64(x), CATMEMI_REP64(x), CATMEMI_REP64(x), CATMEMI_REP64(x)}
typedef char catmemi_tab_init_fits[CATMEMI_TAB == 256 ? 1 : -1];

#if defined(CATMEM_BACKEND_JEMALLOC)
#  include "../core/classes.h"
#  include "jemalloc/linked.h"
#  include "jemalloc/fast.h"

CATMEMI_INLINE void *catmemi_be_alloc(const catmem_arena *a, size_t size, int opts) {
    return catmemi_je_fast_alloc(a, size, opts);
}
CATMEMI_INLINE void catmemi_be_free(const catmem_arena *a, void *p) { catmemi_je_fast_free(a, p); }
CATMEMI_INLINE void catmemi_be_free_sized(const catmem_arena *a, void *p, size_t size) {
    catmemi_je_fast_free_sized(a, p, size);
}
CATMEMI_INLINE int catmemi_be_free_any(void *p) { return catmemi_je_fast_free_any(p); }

#elif defined(CATMEM_BACKEND_SYSTEM)
#  include "system/fast.h"

CATMEMI_INLINE void *catmemi_be_alloc(const catmem_arena *a, size_t size, int opts) {
    return catmemi_sys_fast_alloc(a, size, opts);
}
CATMEMI_INLINE void catmemi_be_free(const catmem_arena *a, void *p) { catmemi_sys_fast_free(a, p); }
CATMEMI_INLINE void catmemi_be_free_sized(const catmem_arena *a, void *p, size_t size) {
    catmemi_sys_fast_free_sized(a, p, size);
}
/* catmem_free_any's inline path, where the engine's own free finds the owner from p: 1 when it
   took p, 0 for the engine's free_any operation. */
CATMEMI_INLINE int catmemi_be_free_any(void *p) {
    catmemi_sys_fast_free(NULL, p);
    return 1;
}

#else /* CATMEM_BACKEND_RUNTIME: both engines, one chosen at run time */
#  include "runtime/bind.h"
#  include "../core/classes.h"
#  include "jemalloc/fast.h"
#  include "system/fast.h"
#  include "runtime/fast.h"

CATMEMI_INLINE void *catmemi_be_alloc(const catmem_arena *a, size_t size, int opts) {
    return catmemi_rt_fast_alloc(a, size, opts);
}
CATMEMI_INLINE void catmemi_be_free(const catmem_arena *a, void *p) { catmemi_rt_fast_free(a, p); }
CATMEMI_INLINE void catmemi_be_free_sized(const catmem_arena *a, void *p, size_t size) {
    catmemi_rt_fast_free_sized(a, p, size);
}
CATMEMI_INLINE int catmemi_be_free_any(void *p) {
    if (catmemi_rt_je) return catmemi_je_fast_free_any(p);
    catmemi_sys_fast_free(NULL, p);
    return 1;
}
#endif

#endif /* CATMEMI_INLINE_H */
