/* heap_profile: a heap profile with the arena on every sample, for pprof. A small server's
   memory at one moment: a cache that lives for the process, three sessions (child arenas of
   "sessions"), and the request in flight in the built-in request arena; the requests before it
   were reset, so their blocks are gone from the profile. It samples at catmem's default mean
   interval (512 KiB) and writes the profile to OUT.
   Usage: heap_profile [OUT]   (default heap.pb), then, with Debian's golang-go:
     go tool pprof -top -tagroot=arena heap.pb        functions under their arena
     go tool pprof -tags heap.pb                      bytes per arena and per parent
     go tool pprof -http=localhost:8080 heap.pb       the flame graph (-tagroot=arena too)
   With Bazel:  ./tools/bazel run //examples:heap_profile -- /tmp/heap.pb
   By hand, from the repository root (-g: pprof finds function names in the DWARF):
     cc -g -O2 -I. -DCATMEM_IMPLEMENTATION examples/heap_profile.c -ljemalloc -lpthread */
#include "catmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Noinline: each keeps a frame of its own in the stacks, as a larger function would. */
#define FRAME __attribute__((noinline))

static FRAME void cache_fill(catmem_arena *cache) {
    int i;
    for (i = 0; i < 40000; i++) { /* 40,000 entries of 200 B: 8 MB, kept */
        char *entry = (char *)catmem_alloc(cache, 200);
        if (entry == NULL) abort();
        memset(entry, 'c', 200);
    }
}

static FRAME void session_buffers(catmem_arena *session) {
    int i;
    for (i = 0; i < 32; i++) /* 32 buffers of 64 KiB: 2 MiB per session */
        if (catmem_calloc(session, 1, 65536) == NULL) abort();
}

static FRAME void parse_request(catmem_arena *req) {
    int i;
    for (i = 0; i < 50000; i++) /* 50,000 tokens of 48 B: 2.4 MB until the reset */
        if (catmem_strdup(req, "a header line, or a token of the request's body") == NULL)
            abort();
}

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "heap.pb";
    catmem_arena *cache, *sessions, *req;
    FILE *f;
    int i, err;
    if (catmem_init() != 0 || catmem_profile_interval(CATMEM_PROFILE_DEFAULT_INTERVAL) != 0)
        return 1;
    cache = catmem_arena_get(CATMEM_CACHE); /* built-in, as the request arena */
    sessions = catmem_arena_create("sessions");
    req = catmem_arena_get(CATMEM_REQUEST);
    if (cache == NULL || sessions == NULL) return 1;
    cache_fill(cache);
    for (i = 1; i <= 3; i++) {
        char name[32];
        catmem_arena *s;
        snprintf(name, sizeof name, "session-%d", i);
        if ((s = catmem_arena_create_child(sessions, name)) == NULL) return 1;
        session_buffers(s);
    }
    for (i = 0; i < 10; i++) { /* nine requests served and reset, the tenth in flight */
        if (i > 0) catmem_arena_reset(req);
        parse_request(req);
    }
    if ((f = fopen(out, "wb")) == NULL) {
        perror(out);
        return 1;
    }
    err = catmem_profile_write(f, 0);
    if (fclose(f) != 0 && err == 0) err = 5; /* EIO */
    if (err != 0) {
        fprintf(stderr, "heap_profile: %s: %s\n", out, strerror(err));
        return 1;
    }
    printf("heap_profile: wrote %s; try: go tool pprof -top -tagroot=arena %s\n", out, out);
    catmem_shutdown();
    return 0;
}
