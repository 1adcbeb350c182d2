/* catmem's runtime backend: the inline paths, dispatching to the engine chosen at run time.
   Included once, by backends/inline.h, after both engines' fast.h. */
#ifndef CATMEMI_INLINE_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* Both inline paths exist; which one runs follows the choice made once at selection. The
   system path's own first test (does this thread's table hold a's heap?) comes first: on jemalloc no thread ever
   has a system heap. Without one, the flag decides: jemalloc's path, or the system backend's
   out-of-line path (a thread's first allocation in the arena, or an arena with a limit, which
   the inline path does not serve). */
CATMEMI_INLINE void *catmemi_rt_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    catmemi_sys_heap *h = catmemi_sys_entry(a);
    if (CATMEMI_LIKELY(catmemi_sys_serves(h, a)))
        return catmemi_sys_fast_alloc_in(h, a, size, opts);
    if (CATMEMI_LIKELY(catmemi_rt_je)) return catmemi_je_fast_alloc(a, size, opts);
    return catmemi_sys_alloc_generic(a, size, opts);
}
CATMEMI_INLINE void catmemi_rt_fast_free(const catmem_arena *a, void *p) {
    if (catmemi_rt_je)
        catmemi_je_fast_free(a, p);
    else
        catmemi_sys_fast_free(a, p);
}
CATMEMI_INLINE void catmemi_rt_fast_free_sized(const catmem_arena *a, void *p, size_t size) {
    if (catmemi_rt_je)
        catmemi_je_fast_free_sized(a, p, size);
    else
        catmemi_sys_fast_free_sized(a, p, size);
}
