/* bench_catmem.h - what every benchmark asks of catmem at start-up. Include after catmem.h. */
#ifndef BENCH_CATMEM_H
#define BENCH_CATMEM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Initialises catmem and names this build's backend: "jemalloc", "system", or "runtime" for the
   runtime backend falling back to the system engine (exits if it did not fall back). */
static inline const char *bench_catmem_backend(void) {
    const char *b;
    if (catmem_init() != 0) {
        fprintf(stderr, "bench: catmem_init failed\n");
        exit(2);
    }
    b = catmem_backend_name();
#if defined(CATMEM_BACKEND_RUNTIME)
    if (strcmp(b, "system") != 0) {
        fprintf(stderr, "bench: the runtime backend did not fall back (%s)\n",
                catmem_backend_info());
        exit(2);
    }
    b = "runtime";
#endif
    return b;
}

#endif /* BENCH_CATMEM_H */
