/* catmem: the slow paths of allocation and free (argument checks, errno, the out-of-memory
   handler), realloc, and the calls that find a block's owner from the pointer. Part of the
   implementation (core/impl.h). */
#ifndef CATMEMI_IMPL_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

CATMEMI_INLINE void catmemi_prof_realloced(const catmem_arena *a, void *p, size_t size,
                                           void *caller); /* core/profile.h */

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

/* Every call that hands out a block ends here: the handle and the arguments checked, size 0
   taken as 1, the engine asked (a new block when old is NULL, else old resized or moved), and
   asked once more after the out-of-memory handler made room. NULL with errno on failure.
   Inlined into its two callers, so each keeps its own straight path. */
CATMEMI_INLINE void *catmemi_get(const catmem_arena *a, void *old, size_t size, int opts) {
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
    p = old == NULL ? catmemi_be->alloc_slow(s, size, opts) : catmemi_be->realloc(s, old, size);
    /* The handler may have reset, released or shut down anything: check again. */
    if (p == NULL && catmemi_oom(a, size) && (s = catmemi_check(a, &err)) != NULL)
        p = old == NULL ? catmemi_be->alloc_slow(s, size, opts) : catmemi_be->realloc(s, old, size);
    if (p == NULL) errno = err != 0 ? err : ENOMEM;
    return p;
}

CATMEMI_API void *catmemi_alloc_slow(const catmem_arena *a, size_t size, int opts) {
    void *p = catmemi_sm_quick_alloc(a, size, opts);
    return p != NULL ? p : catmemi_get(a, NULL, size, opts);
}

CATMEMI_API void catmemi_free_slow(const catmem_arena *a, void *p, size_t size) {
    int err = 0;
    catmemi_slot *s;
    if (p == NULL || catmemi_sm_quick_free(a, p)) return;
    s = catmemi_check(a, &err);
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
    void *q;
    if (p == NULL) return catmem_alloc(a, size);
    catmemi_prof_freeing(p); /* before: once moved, its address may be sampled again */
    q = catmemi_get(a, p, size, 0);
    if (q != NULL) catmemi_prof_realloced(a, q, size, __builtin_return_address(0));
    return q;
}

/* The owner from the pointer, then as catmem_realloc in it: its handle checked there (a
   released or cleaning arena, shutdown). */
CATMEMI_API void *catmem_realloc_any(void *p, size_t size) {
    catmemi_slot *s;
    if (p == NULL || catmemi_be == NULL || (s = catmemi_be->owner_of(p)) == NULL) {
        errno = EINVAL; /* no arena to name: NULL, or not catmem's (before any init: cannot be) */
        return NULL;
    }
    return catmemi_get(catmemi_handle(s), p, size, 0);
}

CATMEMI_API size_t catmem_usable_size(const void *p) {
    return (p != NULL && catmemi_be != NULL) ? catmemi_be->usable_size(p) : 0;
}

CATMEMI_API void catmemi_free_any_slow(void *p) {
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

#if CATMEM_DEBUG
CATMEMI_API void catmemi_assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "catmem: internal check failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

CATMEMI_API void catmemi_debug_check_free(const catmem_arena *a, const void *p) {
    catmemi_slot *s = catmemi_slot_of(a);
    unsigned i;
    if (s == NULL) {
        fprintf(stderr, "catmem: free of %p with an invalid arena handle %p\n", p, (void *)a);
        abort();
    }
    if (catmem_arena_owns(a, p)) return;
    for (i = 0; i < __atomic_load_n(&catmemi_nslots, __ATOMIC_ACQUIRE); i++)
        if (catmemi_created(catmemi_slot_at(i)) && catmemi_be->owns(catmemi_slot_at(i), p)) {
            fprintf(stderr, "catmem: %p freed into arena '%s' but belongs to arena '%s'\n", p,
                    s->name, catmemi_slot_at(i)->name);
            abort();
        }
    fprintf(stderr, "catmem: %p freed into arena '%s' was not allocated by catmem\n", p, s->name);
    abort();
}
#endif
