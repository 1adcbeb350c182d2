/* catmem backend: bind at run time to the jemalloc already in the process, or fall back to the
   system malloc (CATMEM_BACKEND_RUNTIME). Included only by catmem.h; the parts are described at
   the top of backends/jemalloc.h.

   catmem does not link jemalloc at all here. At the first catmem_init (or the first question to
   catmem_backend_name/_info), it looks for mallctl, mallctlnametomib, mallctlbymib, mallocx,
   dallocx, sdallocx, rallocx, sallocx and nallocx with dlsym(RTLD_DEFAULT, ...) under each
   prefix of CATMEM_RUNTIME_PREFIXES, asks mallctl("version"), and uses real manual arenas
   exactly as the jemalloc backend does (the same code, through the pointers it found). Without
   a jemalloc 5 in the process it uses the system backend. The choice is made once, before the
   first allocation, so every block goes back to the allocator that gave it.

   This is the backend for code that is loaded late (a Python extension, a plugin): it never
   brings a second jemalloc into the process and never needs static TLS of its own, yet gets
   arenas wherever the process has jemalloc (LD_PRELOAD, or a host linked with it). */

#if !defined(CATMEMI_RUNTIME)
#  define CATMEMI_RUNTIME 1
#endif

/* The symbol prefixes to try, in order: "" is a jemalloc that is the process's malloc; "je_"
   finds a jemalloc built with --with-jemalloc-prefix=je_ whose symbols are visible. */
#ifndef CATMEM_RUNTIME_PREFIXES
#  define CATMEM_RUNTIME_PREFIXES ""
#endif

#if defined(CATMEMI_PART_INLINE)
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
#  define CATMEMI_JE(name) (catmemi_rt.name)
#endif

#if defined(CATMEMI_PART_IMPL)
#  include <dlfcn.h>

/* jemalloc's mallocx flag encoding, part of its ABI since 4.0 (jemalloc.h is not included). */
#  define CATMEMI_MALLOCX_ARENA(a)    ((int)(((unsigned)(a) + 1) << 20))
#  define CATMEMI_MALLOCX_TCACHE(tc)  ((int)(((unsigned)(tc) + 2) << 8))
#  define CATMEMI_MALLOCX_TCACHE_NONE CATMEMI_MALLOCX_TCACHE(-1)

catmemi_rt_fns catmemi_rt;
int catmemi_rt_je;
#endif

/* The two backends this one chooses between, each with all its parts. */
#include "jemalloc.h"
#include "system.h"

#if defined(CATMEMI_PART_INLINE)
/* Both inline paths exist; which one runs follows the choice made once at selection. The
   system path's own first test (a heap for this arena?) comes first: on jemalloc no thread ever
   has a system heap. Without one, the flag decides: jemalloc's path, or the system backend's
   out-of-line path (a thread's first allocation in the arena, or an arena with a limit, which
   the inline path does not serve). */
CATMEMI_INLINE void *catmemi_rt_fast_alloc(const catmem_arena *a, size_t size, int opts) {
    if (CATMEMI_LIKELY(catmemi_sys_tls[a->slot] != NULL))
        return catmemi_sys_fast_alloc(a, size, opts);
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
#  define catmemi_be_alloc      catmemi_rt_fast_alloc
#  define catmemi_be_free       catmemi_rt_fast_free
#  define catmemi_be_free_sized catmemi_rt_fast_free_sized
#endif

#if defined(CATMEMI_PART_IMPL)

/* Looks the nine functions up under one prefix; 1 when all are there. */
static int catmemi_rt_bind(const char *prefix, catmemi_rt_fns *f) {
    static const char *const names[] = {"mallocx", "dallocx", "sdallocx",
                                        "rallocx", "sallocx", "nallocx",
                                        "mallctl", "mallctlnametomib", "mallctlbymib"};
    void *sym[9];
    char name[64];
    unsigned i;
    for (i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, names[i]);
        if ((sym[i] = dlsym(RTLD_DEFAULT, name)) == NULL) return 0;
    }
    /* POSIX guarantees that dlsym results convert to function pointers; memcpy says so to C. */
    memcpy(&f->mallocx, &sym[0], sizeof sym[0]);
    memcpy(&f->dallocx, &sym[1], sizeof sym[1]);
    memcpy(&f->sdallocx, &sym[2], sizeof sym[2]);
    memcpy(&f->rallocx, &sym[3], sizeof sym[3]);
    memcpy(&f->sallocx, &sym[4], sizeof sym[4]);
    memcpy(&f->nallocx, &sym[5], sizeof sym[5]);
    memcpy(&f->mallctl, &sym[6], sizeof sym[6]);
    memcpy(&f->mallctlnametomib, &sym[7], sizeof sym[7]);
    memcpy(&f->mallctlbymib, &sym[8], sizeof sym[8]);
    return 1;
}

static const catmemi_ops *catmemi_select(char *info, size_t size) {
    static const char *const prefixes[] = {CATMEM_RUNTIME_PREFIXES};
    const char *why = "no jemalloc in process";
    unsigned i;
    for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        catmemi_rt_fns f;
        const char *v = NULL;
        size_t sz = sizeof v;
        if (!catmemi_rt_bind(prefixes[i], &f)) continue;
        if (f.mallctl("version", &v, &sz, NULL, 0) != 0 || v == NULL) {
            why = "jemalloc in process does not answer mallctl(\"version\")";
            continue;
        }
        if (strtol(v, NULL, 10) < 5) { /* arena reset and destroy as catmem uses them */
            snprintf(info, size, "jemalloc %s in process is older than 5.0: system malloc", v);
            return catmemi_sys_table();
        }
        catmemi_rt = f;
        catmemi_rt_je = 1;
        snprintf(info, size, "jemalloc %s found in process%s%s", v,
                 prefixes[i][0] != '\0' ? " with symbol prefix " : "", prefixes[i]);
        return catmemi_je_table();
    }
    snprintf(info, size, "%s: system malloc", why);
    return catmemi_sys_table();
}
#endif /* CATMEMI_PART_IMPL */
