/* quickstart: the whole life of catmem in one page.
   With Bazel:  ./tools/bazel run //examples:quickstart
   By hand, from the repository root (this file is the program's only file, so it also compiles
   catmem's implementation: -DCATMEM_IMPLEMENTATION):
     cc -O2 -I. -DCATMEM_IMPLEMENTATION examples/quickstart.c -ljemalloc -lpthread
     cc -O2 -I. -DCATMEM_IMPLEMENTATION -DCATMEM_BACKEND_SYSTEM examples/quickstart.c -lpthread */
#include "catmem.h"

#include <stdio.h>
#include <string.h>

/* A request handler: everything it allocates lives in one arena and goes away in one call. */
static int handle_request(catmem_arena *req, int id) {
    char *path = catmem_strdup(req, "/hello");
    int *counters = catmem_calloc(req, 64, sizeof *counters);
    char *body = catmem_alloc(req, 256);
    if (path == NULL || counters == NULL || body == NULL) return -1;
    snprintf(body, 256, "request %d: GET %s", id, path);
    puts(body);
    return 0; /* no frees: the caller resets the arena */
}

int main(void) {
    catmem_stats st;
    catmem_arena *req, *sessions;
    char *token;
    size_t count;
    int i, err = catmem_init();
    if (err != 0) {
        fprintf(stderr, "catmem_init: %s\n", strerror(err));
        return 1;
    }
    printf("catmem backend: %s\n", catmem_backend_name());

    req = catmem_arena_get(CATMEM_REQUEST);
    for (i = 0; i < 3; i++) {
        if (handle_request(req, i) != 0) return 1;
        if (catmem_arena_stats(req, &st) == 0)
            printf("  request arena holds %zu bytes in live blocks\n", st.allocated);
        catmem_arena_reset(req); /* the whole request, freed at once */
    }

    /* A named arena of our own, measured and released on its own. */
    sessions = catmem_arena_create("sessions");
    if (sessions == NULL) {
        perror("catmem_arena_create");
        return 1;
    }
    token = catmem_strdup(sessions, "token-1234");
    catmem_arena_stats(sessions, &st);
    printf("arena '%s' (id %d): %zu bytes in %llu live blocks\n", catmem_arena_name(sessions),
           catmem_arena_id(sessions), st.allocated, (unsigned long long)(st.nmalloc - st.ndalloc));
    catmem_free(sessions, token);
    catmem_arena_release(sessions);

    /* Errors are values, never crashes: here n * size overflows. */
    count = (size_t)1 << (sizeof(size_t) * 8 - 2);
    if (catmem_calloc(req, count, 8) == NULL)
        printf("calloc overflow refused: %s\n", strerror(errno));

    catmem_shutdown();
    return 0;
}
