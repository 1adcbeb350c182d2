/* catmem's malloc under threads, thread exit and fork: blocks handed between threads and freed
   by the receiver, their contents checked; thread-exit destructors that allocate after catmem's
   own ran; fork while other threads allocate, the child allocating and freeing. Run under the
   preloaded library or linked to the static one (malloc_test.sh); argv[1] names the library
   malloc must come from, so that a run on glibc's malloc by mistake fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 6
#define ROUNDS  20000
#define RING    256

static void fail(const char *what) {
    fprintf(stderr, "stress: %s\n", what);
    exit(1);
}

/* Blocks in flight between threads: each starts with its size and is filled with a byte of it. */
static void *ring[RING];
static unsigned ring_head, ring_tail;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop_forking;

static size_t pick(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    switch (*s % 16) {
    case 0: return 16384 + *s % 200000; /* the engines' large blocks */
    case 1: return *s % 4096;
    default: return *s % 256;
    }
}

static void *fill(size_t n) {
    unsigned char *p = malloc(n + sizeof n);
    if (p == NULL) fail("malloc failed");
    memcpy(p, &n, sizeof n);
    memset(p + sizeof n, (int)(n & 0xff), n);
    return p;
}

static void check(unsigned char *p) {
    size_t n, i;
    memcpy(&n, p, sizeof n);
    for (i = 0; i < n; i++)
        if (p[sizeof n + i] != (unsigned char)(n & 0xff)) fail("a block's contents changed");
    if (malloc_usable_size(p) < n + sizeof n) fail("usable size below the size asked");
}

static void *worker(void *arg) {
    uint64_t s = 0x9e3779b97f4a7c15u * ((uintptr_t)arg + 1);
    int i;
    for (i = 0; i < ROUNDS; i++) {
        void *mine = fill(pick(&s)), *theirs = NULL;
        char *r;
        pthread_mutex_lock(&ring_mu);
        if (ring_head - ring_tail == RING || (ring_head != ring_tail && (s & 1)))
            theirs = ring[ring_tail++ % RING];
        if (ring_head - ring_tail < RING) {
            ring[ring_head++ % RING] = mine;
            mine = NULL;
        }
        pthread_mutex_unlock(&ring_mu);
        if (theirs != NULL) {
            check(theirs);
            free(theirs); /* mostly another thread's block */
        }
        free(mine);
        r = realloc(NULL, 10);
        r = realloc(r, 1 + s % 70000);
        r[0] = 1;
        free(r);
        r = memalign(64 << (s % 4), 100);
        if (r == NULL || (uintptr_t)r % (64u << (s % 4)) != 0) fail("memalign");
        free(r);
        r = calloc(1, 1000);
        if (r == NULL || r[999] != 0) fail("calloc");
        free(r);
    }
    return NULL;
}

/* A destructor that runs after catmem's own (its key is newer): it allocates and frees in every
   round glibc makes (PTHREAD_DESTRUCTOR_ITERATIONS), the last included, after which catmem's
   destructor never runs again: what catmem does for this thread then must not outlive it
   (glibc itself frees after the last round too). */
static pthread_key_t late_key;
static void late_exit(void *arg) {
    uintptr_t round = (uintptr_t)arg;
    void *p = fill(100 + 1000 * round);
    check(p);
    free(p);
    pthread_setspecific(late_key, (void *)(round + 1));
}

static void *exiting(void *arg) {
    free(fill(50));
    pthread_setspecific(late_key, (void *)1);
    return arg;
}

/* Forks while the workers allocate: the child must find catmem's locks free and allocate. */
static void *forker(void *arg) {
    int n = 0;
    (void)arg;
    while (!stop_forking && n < 20) {
        int status;
        pid_t pid = fork();
        if (pid < 0) fail("fork");
        if (pid == 0) {
            int i;
            for (i = 0; i < 2000; i++) {
                void *p = fill(i % 3000);
                check(p);
                free(p);
            }
            _exit(0);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail("a forked child failed");
        n++;
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t t[THREADS], f, e[8];
    Dl_info info;
    uintptr_t i, j;
    if (argc != 2) fail("usage: stress LIBRARY-NAME");
    if (dladdr((void *)&malloc, &info) == 0 || strstr(info.dli_fname, argv[1]) == NULL)
        fail("malloc is not the library's");
    if (pthread_key_create(&late_key, late_exit) != 0) fail("pthread_key_create");
    for (i = 0; i < 64; i++) { /* threads come and go: each reuses the last one's stack */
        if (pthread_create(&e[i % 8], NULL, exiting, NULL) != 0) fail("pthread_create");
        if (i % 8 == 7)
            for (j = 0; j < 8; j++) pthread_join(e[j], NULL);
    }
    if (pthread_create(&f, NULL, forker, NULL) != 0) fail("pthread_create");
    for (i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) fail("pthread_create");
    for (i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    stop_forking = 1;
    pthread_join(f, NULL);
    while (ring_tail != ring_head) {
        check(ring[ring_tail % RING]);
        free(ring[ring_tail++ % RING]);
    }
    puts("stress: ok");
    return 0;
}
