/* catmem's runtime backend (CATMEM_BACKEND_RUNTIME): the jemalloc functions it found in the
   process. Included once, by backends/inline.h, before the jemalloc engine, which calls
   jemalloc only as CATMEMI_JE(name): here, through these pointers.

   catmem links no jemalloc in this backend. At the first catmem_init (or the first question to
   catmem_backend_name/_info), select.h looks for mallctl, mallctlnametomib, mallctlbymib,
   mallocx, dallocx, sdallocx, rallocx, sallocx and nallocx with dlsym(RTLD_DEFAULT, ...) under
   each prefix of CATMEM_RUNTIME_PREFIXES, asks mallctl("version"), and runs the jemalloc engine
   through the pointers it found. Without a jemalloc 5 in the process it runs the system engine.
   The choice is made once, before the first allocation, so every block goes back to the
   allocator that gave it. This is the backend for code that is loaded late (a Python
   extension, a plugin): it never brings a second jemalloc into the process and needs no static
   TLS of its own, yet gets arenas wherever the process has jemalloc. */
#ifndef CATMEMI_INLINE_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

/* The jemalloc functions in use: NULL until bound, and then never changed. */
typedef struct catmemi_rt_fns {
    void *(*mallocx)(size_t size, int flags);
    void (*dallocx)(void *p, int flags);
    void (*sdallocx)(void *p, size_t size, int flags);
    void *(*rallocx)(void *p, size_t size, int flags);
    size_t (*sallocx)(const void *p, int flags);
    size_t (*nallocx)(size_t size, int flags);
    int (*mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
    int (*mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp);
    int (*mallctlbymib)(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                        size_t newlen);
} catmemi_rt_fns;
/* Data the inline paths read is always extern (never CATMEM_API, which may be static). */
extern catmemi_rt_fns catmemi_rt;
/* 1 once jemalloc is bound (set at selection, before the first allocation; never changed). */
extern int catmemi_rt_je;
#define CATMEMI_JE(name) (catmemi_rt.name)
