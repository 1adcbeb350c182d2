/* catmem's own engine: what small arenas (core/small.h) get from it. Part of the
   implementation (core/impl.h), compiled after heap.h. The engine is described at the top of
   fast.h.

   The engine's first CATMEM_OWN_ARENAS user arenas live at once get heaps and segments of their
   own (30 KB resident each); those past them are small, on the system malloc's memory: each
   piece (a chunk, a solo block, a big block) with 16 bytes before it, its size and malloc's
   pointer sealed with the engine's key. No segment holds their blocks, so the inline free
   sends them to catmemi_sys_free_generic, which asks the core whose they are before the
   large-block table. Every call takes the arena's spin lock until the arena is busy; then it
   gets heaps of its own (catmemi_sys_sm_only).
   Only with the engine on: under AddressSanitizer or Valgrind every block stays a malloc of its
   own, where a header read before a block would be an error to the checker. */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* User slots given heaps of their own so far; small ones exist (atomic: frees look for them). */
static unsigned catmemi_sys_nown;
static int catmemi_sys_small_on;

static void *catmemi_sys_sm_get(size_t size, unsigned lg, int zero) {
    size_t align = (size_t)1 << lg, total;
    uintptr_t p;
    char *base;
    if (align < 16) align = 16;
    if (size > CATMEM_SIZE_MAX - 2 * align - 16) return NULL;
    total = size + 16 + (align > 16 ? align : 0);
    base = (char *)(zero ? CATMEM_SYSTEM_CALLOC(1, total) : CATMEM_SYSTEM_MALLOC(total));
    if (base == NULL) return NULL;
    p = ((uintptr_t)base + 16 + align - 1) & ~(uintptr_t)(align - 1);
    ((uintptr_t *)p)[-2] = total ^ catmemi_sys_key ^ p;
    ((uintptr_t *)p)[-1] = (uintptr_t)base ^ catmemi_sys_key ^ p;
    return (void *)p;
}

/* malloc's pointer for p, from p's sealed prefix; a prefix rewritten without the key (an
   underflow of p) stops the process rather than free elsewhere. */
static void *catmemi_sys_sm_base(const void *p, size_t *total) {
    uintptr_t u = (uintptr_t)p, base = ((const uintptr_t *)p)[-1] ^ catmemi_sys_key ^ u;
    *total = ((const uintptr_t *)p)[-2] ^ catmemi_sys_key ^ u;
    if ((base & 15) != 0 || base > u - 16 || u - base - 16 > CATMEM_ALIGN_MAX ||
        *total < u - base || *total - (u - base) > CATMEM_SIZE_MAX)
        catmemi_sys_corrupt(p, "small arena's chunk prefix");
    return (void *)base;
}
static void catmemi_sys_sm_put(void *p) {
    size_t total;
    CATMEM_SYSTEM_FREE(catmemi_sys_sm_base(p, &total));
}
static size_t catmemi_sys_sm_mapped(const void *p) {
    size_t total;
    (void)catmemi_sys_sm_base(p, &total);
    return total;
}
/* Outside every segment, p is a malloc'd block of catmem's (a small arena's, whose word before
   it is its header; a large block, with a zero word there: large.h) or a foreign one; the word
   is on p's page. */
static int catmemi_sys_sm_holds(const void *p) {
    return ((uintptr_t)p & 4095) >= 8 && catmemi_sys_seg_raw((uintptr_t)p) == NULL;
}

static const catmemi_sm_engine catmemi_sys_sm_engine = {
    catmemi_sys_sm_get, catmemi_sys_sm_put, catmemi_sys_sm_mapped, catmemi_sys_sm_holds,
    NULL,               NULL,               NULL,                 NULL};

/* s serves from its small arena's chunks alone. A small arena that turns busy (CATMEMI_SM_BUSY
   calls) gets heaps of its own for what it allocates next, and so the engine's inline paths:
   its chunks' blocks are still found by address when freed, and a reset or release frees both
   kinds. A released slot starts small again. */
static int catmemi_sys_sm_only(catmemi_slot *s) {
    return s->small && !__atomic_load_n(&s->sm.busy, __ATOMIC_RELAXED);
}

/* The small arena p belongs to (p outside every segment), or NULL. */
static catmemi_slot *catmemi_sys_sm_owner(const void *p) {
    if (!__atomic_load_n(&catmemi_sys_small_on, __ATOMIC_ACQUIRE)) return NULL;
    return catmemi_sm_owner(p);
}
