/* A plugin (or Python extension) that uses catmem and is loaded late, with dlopen or ctypes.

   Built with the runtime backend, it links no jemalloc: loaded into a plain process it uses
   the system malloc; loaded into a process that has jemalloc (LD_PRELOAD=libjemalloc.so.2, or a
   host linked with it) it gets real jemalloc arenas. It never causes "cannot allocate memory in
   static TLS block", and it never brings a second jemalloc into the process.

   With Bazel:  ./tools/bazel build //examples/plugin:libcatmem_plugin.so
   By hand:     cc -O2 -fPIC -shared -fvisibility=hidden -I. -DCATMEM_BACKEND_RUNTIME \
                   -DCATMEM_IMPLEMENTATION examples/plugin/catmem_plugin.c \
                   -o libcatmem_plugin.so -ldl -lpthread
   (-fvisibility=hidden keeps catmem's symbols private to the plugin; only PLUGIN_API is seen.)
   Use it:      python3 examples/plugin/load.py ./libcatmem_plugin.so */
#include "catmem.h"

#include <string.h>

#define PLUGIN_API __attribute__((visibility("default")))

PLUGIN_API const char *plugin_backend(void) { return catmem_backend_name(); }
PLUGIN_API const char *plugin_backend_info(void) { return catmem_backend_info(); }

/* Exercises what a module does with catmem; 0 when everything held, else the failed step. */
PLUGIN_API int plugin_selftest(void) {
    catmem_arena *cache, *scratch;
    catmem_region r;
    catmem_stats st;
    void *a[64], *b[64];
    char *s;
    int i;
    if (catmem_init() != 0) return 1;
    cache = catmem_arena_get(CATMEM_CACHE);
    scratch = catmem_arena_create("plugin-scratch");
    if (scratch == NULL) return 2;
    for (i = 0; i < 64; i++) { /* two arenas, interleaved: each block stays in its own */
        a[i] = catmem_alloc(cache, 32 + (size_t)i * 8);
        b[i] = catmem_alloc(scratch, 32 + (size_t)i * 8);
        if (a[i] == NULL || b[i] == NULL) return 3;
        if (!catmem_arena_owns(cache, a[i]) || catmem_arena_owns(scratch, a[i])) return 4;
        if (!catmem_arena_owns(scratch, b[i]) || catmem_arena_owns(cache, b[i])) return 5;
    }
    for (i = 0; i < 64; i++) catmem_free(cache, a[i]);
    if (catmem_arena_reset(scratch) != 0) return 6; /* b[] gone at once */
    if (catmem_arena_stats(scratch, &st) != 0 || st.allocated != 0) return 7;
    catmem_region_init(&r, catmem_arena_get(CATMEM_REQUEST));
    for (i = 0; i < 1000; i++) {
        s = catmem_region_strdup(&r, "request data");
        if (s == NULL || strcmp(s, "request data") != 0) return 8;
    }
    catmem_region_release(&r);
    if (catmem_arena_release(scratch) != 0) return 9;
    catmem_shutdown();
    return 0;
}
