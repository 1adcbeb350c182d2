/* request_lifecycle: what a server does per request, with catmem's lifetimes.
   - each request gets a child arena of CATMEM_REQUEST, released when the request ends, with a
     limit: a request that asks for more than its budget gets NULL and ENOMEM, and nothing else
     is disturbed;
   - resources the request opens (here a file descriptor) are closed by a cleanup registered on
     that arena, so every exit path closes them: the release runs it before the memory goes;
   - an out-of-memory handler can make room before an allocation fails;
   - the report shows every arena, with its peak and limit (and at exit with
     CATMEM_REPORT=stderr).
   With Bazel:  ./tools/bazel run //examples:request_lifecycle
   By hand, from the repository root:
     cc -O2 -I. -DCATMEM_IMPLEMENTATION -DCATMEM_BACKEND_SYSTEM examples/request_lifecycle.c \
        -lpthread */
#include "catmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int open_files;

static void close_fd(void *arg) {
    close((int)(intptr_t)arg);
    open_files--;
}

/* Each request may use this much memory. */
#define REQUEST_LIMIT (64 * 1024)

/* The cache may be dropped when memory runs out: its contents can be rebuilt. A request over
   its own limit is refused instead: dropping the cache would not give it more room. */
static int drop_cache(catmem_arena *a, size_t size, void *arg) {
    if (catmem_arena_limit(a) != 0) return 0;
    fprintf(stderr, "out of memory for %zu bytes: dropping the cache\n", size);
    return catmem_arena_reset((catmem_arena *)arg) == 0; /* 1: try the allocation again */
}

/* Request 2 asks for a body larger than its limit. */
static int handle_request(catmem_arena *parent, int id, int last) {
    size_t body_size = id == 2 ? 1 << 20 : 8 * 1024;
    char name[32], *line, *body;
    catmem_arena *req;
    int fd;
    snprintf(name, sizeof name, "request-%d", id);
    req = catmem_arena_create_child(parent, name);
    if (req == NULL) return -1;
    catmem_arena_set_limit(req, REQUEST_LIMIT); /* before anyone else uses the arena */
    fd = open("/proc/self/status", O_RDONLY);
    if (fd >= 0) {
        open_files++;
        /* From here on, however the request ends, releasing its arena closes the file. */
        if (catmem_arena_on_reset(req, close_fd, (void *)(intptr_t)fd) != 0)
            close_fd((void *)(intptr_t)fd);
    }
    line = catmem_alloc(req, 128);
    if (line != NULL) {
        ssize_t n = fd >= 0 ? read(fd, line, 127) : -1;
        line[n > 0 ? n : 0] = '\0';
        line[strcspn(line, "\n")] = '\0';
        printf("request %d: first line of /proc/self/status: %s\n", id, line);
    }
    body = catmem_alloc(req, body_size);
    if (body == NULL)
        printf("request %d: a body of %zu bytes is refused (%s): over its %d KiB limit\n", id,
               body_size, strerror(errno), REQUEST_LIMIT / 1024);
    else
        memset(body, 'x', body_size);
    if (last) catmem_report(stdout, CATMEM_REPORT_TEXT); /* while the request is alive */
    return catmem_arena_release(req); /* the cleanup closes fd, then the memory is freed */
}

int main(void) {
    /* No catmem_init: the first call initialises catmem. */
    catmem_arena *requests = catmem_arena_get(CATMEM_REQUEST);
    catmem_arena *cache = catmem_arena_get(CATMEM_CACHE);
    int i;
    if (requests == NULL || cache == NULL) return 1;
    catmem_set_oom_handler(drop_cache, cache);
    if (catmem_strdup(cache, "cached value") == NULL) return 1;
    for (i = 0; i < 4; i++)
        if (handle_request(requests, i, i == 3) != 0) return 1;
    printf("files still open: %d\n", open_files);
    return open_files == 0 ? 0 : 1;
}
