/* catmem for Rust: the implementation, compiled once with the runtime backend (build.rs defines
   CATMEM_BACKEND_RUNTIME and CATMEM_RUNTIME_PREFIXES), and what Rust cannot call directly:
   out-of-line copies of the API's static inline functions, a report into memory, and the sizes
   of the structures and the values of the constants that lib.rs mirrors (checked by its
   tests). */
#define _GNU_SOURCE /* RTLD_DEFAULT (backends/runtime/select.h), open_memstream */
#define CATMEM_IMPLEMENTATION
#include "catmem.h"

#include <stdlib.h>

void *catmem_rs_alloc(catmem_arena *a, size_t size) { return catmem_alloc(a, size); }
void *catmem_rs_calloc(catmem_arena *a, size_t n, size_t size) {
    return catmem_calloc(a, n, size);
}
void *catmem_rs_aligned_alloc(catmem_arena *a, size_t alignment, size_t size) {
    return catmem_aligned_alloc(a, alignment, size);
}
void catmem_rs_free(catmem_arena *a, void *p) { catmem_free(a, p); }
void catmem_rs_free_sized(catmem_arena *a, void *p, size_t size) {
    catmem_free_sized(a, p, size);
}
void catmem_rs_free_any(void *p) { catmem_free_any(p); }
void *catmem_rs_region_alloc(catmem_region *r, size_t size) {
    return catmem_region_alloc(r, size);
}
void *catmem_rs_region_alloc_aligned(catmem_region *r, size_t alignment, size_t size) {
    return catmem_region_alloc_aligned(r, alignment, size);
}

/* catmem_report into a buffer of malloc's: 0 and *out (free it with catmem_rs_report_free), or
   catmem_report's error (ENOMEM when the stream cannot be made). */
int catmem_rs_report(int flags, char **out, size_t *len) {
    FILE *f = open_memstream(out, len);
    int err;
    if (f == NULL) return ENOMEM;
    err = catmem_report(f, flags);
    if (fclose(f) != 0 && err == 0) err = EIO;
    if (err != 0) {
        free(*out);
        *out = NULL;
    }
    return err;
}
void catmem_rs_report_free(char *p) { free(p); }

/* sizeof and alignof of the structures lib.rs declares: 0 catmem_stats, 1 catmem_region,
   2 catmem_region_mark; alignment at what + 16. */
size_t catmem_rs_layout(int what) {
    switch (what) {
    case 0: return sizeof(catmem_stats);
    case 1: return sizeof(catmem_region);
    case 2: return sizeof(catmem_region_mark);
    case 16: return _Alignof(catmem_stats);
    case 17: return _Alignof(catmem_region);
    case 18: return _Alignof(catmem_region_mark);
    default: return 0;
    }
}

/* The constants lib.rs repeats: 0 CATMEM_NAME_MAX, 1 CATMEM_SIZE_MAX, 2 CATMEM_ALIGN_MAX,
   3 CATMEM_KIND_COUNT, 4 CATMEM_REPORT_JSON. */
size_t catmem_rs_constant(int what) {
    switch (what) {
    case 0: return CATMEM_NAME_MAX;
    case 1: return CATMEM_SIZE_MAX;
    case 2: return CATMEM_ALIGN_MAX;
    case 3: return CATMEM_KIND_COUNT;
    case 4: return CATMEM_REPORT_JSON;
    default: return 0;
    }
}
