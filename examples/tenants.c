/* tenants: a multi-tenant server's memory, with thousands of requests in flight at once.
   - Each tenant has an arena of its own (its settings, a log of its last requests) with a
     limit, and a memory budget: every request gets an anonymous child arena of its tenant with
     a limit of its own, released when the request ends, whichever thread ends it.
   - A limit covers its own arena, not its children (LIMITS in catmem.h; checked at start). So a
     tenant's budget is kept the way the manual allows: every arena of the tenant has a limit,
     and a request is admitted only when its arena's limit fits in what the budget has left. The
     tenant's arenas together then never hold more than the budget; a request that does not fit
     waits for one of its tenant's requests to end.
   - A few workers interleave thousands of requests: each parses its headers into small strings,
     builds a response that grows with catmem_realloc, frees a few blocks; one response in four
     goes to a writer thread, which frees it and releases the arena (memory freed by another
     thread than the one that allocated it).
   - One tenant misbehaves: now and then a request announces an upload twice its tenant's
     budget. It gets NULL and ENOMEM from its own arena, answers 413, and nobody else notices.
   - catmem has no cap on arenas: the first 64 live ones have memory of their own from the
     engine, and the thousands past them are small arenas (CATMEM_OWN_ARENAS in catmem.h),
     about 1.5 KB each. Should an engine run out of arenas of its own (jemalloc makes about
     4,000, its other users' included), catmem_arena_create_child fails with EAGAIN, and the
     request waits for another one to release its arena.
   The exit status is 0 only if every check passed.
   Usage: tenants [CONCURRENT [BUDGET_MIB]]
     CONCURRENT  requests in flight at most (default 4000); 5 times as many are served
     BUDGET_MIB  each tenant's budget (default 32: room for 511 requests at their limit)
   With Bazel:  ./tools/bazel run //examples:tenants   (or :tenants_system, :tenants_jemalloc)
   By hand, from the repository root:
     cc -O2 -I. -DCATMEM_IMPLEMENTATION -DCATMEM_BACKEND_SYSTEM examples/tenants.c -lpthread
     cc -O2 -I. -DCATMEM_IMPLEMENTATION examples/tenants.c -ljemalloc -lpthread */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "catmem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TENANTS         8
#define WORKERS         4
#define NOISY           (TENANTS - 1) /* the tenant that misbehaves */
#define NOISY_EVERY     50            /* one of its requests in 50 */
#define TENANT_OWN      (64 * 1024)   /* the tenant arena's limit: settings and log */
#define REQUEST_LIMIT   (64 * 1024)   /* each request's arena */
#define BODY_MAX        (24 * 1024)   /* grown by doubling: 48 KiB at most while realloc moves it */
#define CHUNK           4096          /* a response grows by this much per step */
#define LOG_LINES       32
#define SERVED_PER_SLOT 5

struct tenant {
    catmem_arena *arena; /* its settings and log; the parent of its requests' arenas */
    char *host;          /* in arena, as the log: written before the workers start */
    pthread_mutex_t mu;  /* everything below */
    size_t reserved;     /* the limits of its live arenas, its own included */
    size_t reserved_peak;
    long served, refused, waited;
    char *log[LOG_LINES]; /* in arena: its last requests, the oldest freed */
    int log_next;
};

enum state { EMPTY, ADMIT, PARSE, BUILD, RESPOND };

/* A worker's slot: the request in it, if any. */
struct request {
    enum state state;
    long id;
    int waited;
    struct tenant *tenant;
    catmem_arena *arena;
    char **headers; /* in arena: name, value, name, value, ... */
    int nheaders, status;
    char *body; /* in arena: the response, grown with catmem_realloc */
    size_t len, cap, want;
};

/* A finished response, in its request's arena, on its way to whoever writes it. */
struct reply {
    struct reply *next;
    struct tenant *tenant;
    catmem_arena *arena;
    long id;
    int status;
    char *body;
    size_t len;
};

static struct tenant tenants[TENANTS];
static size_t budget;
static long total, next_id;

/* Under mu: the counts below, and the writer's queue. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static struct reply *queue;
static int workers_done;
static long live, live_peak; /* request arenas */
static long no_arena, to_writer, failures;

static void fail(const char *what, long id) {
    pthread_mutex_lock(&mu);
    if (failures++ < 10) fprintf(stderr, "tenants: request %ld: %s\n", id, what);
    pthread_mutex_unlock(&mu);
}

/* The tenant's budget pays for the request's limit up front, or the request waits. */
static int reserve(struct request *r) {
    struct tenant *t = r->tenant;
    int ok;
    pthread_mutex_lock(&t->mu);
    ok = t->reserved + REQUEST_LIMIT <= budget;
    if (ok) t->reserved += REQUEST_LIMIT;
    if (t->reserved > t->reserved_peak) t->reserved_peak = t->reserved;
    t->waited += !ok && !r->waited;
    pthread_mutex_unlock(&t->mu);
    r->waited |= !ok;
    return ok;
}

static int admit(struct request *r) {
    struct tenant *t = r->tenant;
    if (!reserve(r)) return 0;
    r->arena = catmem_arena_create_child(t->arena, NULL); /* anonymous: no name to invent */
    if (r->arena == NULL) {
        int err = errno;
        pthread_mutex_lock(&t->mu);
        t->reserved -= REQUEST_LIMIT;
        pthread_mutex_unlock(&t->mu);
        if (err != EAGAIN) fail(strerror(err), r->id);
        /* EAGAIN: jemalloc has no arena left; one comes back when a request ends. */
        pthread_mutex_lock(&mu);
        no_arena++;
        pthread_mutex_unlock(&mu);
        return 0;
    }
    /* The first limit is set before any other thread knows the arena (LIMITS). */
    if (catmem_arena_set_limit(r->arena, REQUEST_LIMIT) != 0) fail("set_limit", r->id);
    pthread_mutex_lock(&mu);
    if (++live > live_peak) live_peak = live;
    pthread_mutex_unlock(&mu);
    r->state = PARSE;
    return 1;
}

static char *copy(catmem_arena *a, const char *s, size_t n) {
    char *p = catmem_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int noisy(long id) { return id % TENANTS == NOISY && id / TENANTS % NOISY_EVERY == 0; }

/* What a client sent: a GET, or a POST with a small body; the noisy tenant's bad requests
   announce twice their tenant's budget. */
static int request_text(char *raw, size_t size, const struct request *r, size_t *upload) {
    int n, i, extra = (int)(r->id % 6);
    *upload = noisy(r->id) ? 2 * budget : r->id % 3 == 1 ? (size_t)(r->id % 2000) : 0;
    n = snprintf(raw, size,
                 "%s /items/%ld HTTP/1.1\r\nHost: %s\r\nUser-Agent: tenants/1.0\r\n"
                 "Accept: */*\r\nCookie: session=%08lx\r\nContent-Length: %zu\r\n",
                 *upload != 0 ? "POST" : "GET", r->id, r->tenant->host,
                 (unsigned long)r->id * 2654435761ul % 0xffffffff, *upload);
    for (i = 0; i < extra; i++)
        n += snprintf(raw + n, size - (size_t)n, "X-Trace-%d: %0*d\r\n", i, 8 + i * 8, i);
    return n + snprintf(raw + n, size - (size_t)n, "\r\n");
}

/* The upload is read into the request's arena, stored, and freed. */
static int receive(struct request *r, size_t upload) {
    char *buf = catmem_alloc(r->arena, upload);
    if (buf == NULL) {
        /* Past the request's own limit: refused there, before any other arena is touched. */
        if (errno != ENOMEM || !noisy(r->id)) fail("upload refused", r->id);
        r->status = 413;
        r->state = RESPOND;
        return 1;
    }
    if (noisy(r->id)) fail("a huge upload was accepted", r->id);
    memset(buf, 'u', upload);
    catmem_free(r->arena, buf);
    return 1;
}

/* A request that went wrong is answered 500, and counted as a failure. */
static int broken(struct request *r, const char *what) {
    fail(what, r->id);
    r->status = 500;
    r->state = RESPOND;
    return 1;
}

/* Headers into small strings of the request's arena; then the upload, if any. */
static int parse(struct request *r) {
    char raw[1024], *line, *end;
    size_t upload;
    int cap = 0, cookie = -1;
    request_text(raw, sizeof raw, r, &upload);
    line = strstr(raw, "\r\n") + 2; /* after the request line */
    for (; (end = strstr(line, "\r\n")) != line; line = end + 2) {
        char *colon = strchr(line, ':');
        if (end == NULL || colon == NULL || colon > end) return broken(r, "bad header");
        if (r->nheaders + 2 > cap) {
            char **h = catmem_realloc(r->arena, r->headers, (cap = cap ? 2 * cap : 8) * sizeof *h);
            if (h == NULL) return broken(r, "headers");
            r->headers = h;
        }
        r->headers[r->nheaders] = copy(r->arena, line, (size_t)(colon - line));
        r->headers[r->nheaders + 1] = copy(r->arena, colon + 2, (size_t)(end - colon - 2));
        if (r->headers[r->nheaders] == NULL || r->headers[r->nheaders + 1] == NULL)
            return broken(r, "header");
        if (strcmp(r->headers[r->nheaders], "Cookie") == 0) cookie = r->nheaders + 1;
        r->nheaders += 2;
    }
    if (r->nheaders == 0 || strcmp(r->headers[1], r->tenant->host) != 0) return broken(r, "host");
    if (cookie >= 0) { /* the session is looked up: its cookie can go now */
        catmem_free(r->arena, r->headers[cookie]);
        r->headers[cookie] = NULL;
    }
    r->status = 200;
    r->want = 1 + (size_t)((unsigned long)r->id * 40503ul % BODY_MAX);
    r->state = BUILD;
    return upload != 0 ? receive(r, upload) : 1;
}

static char body_byte(long id, size_t i) { return (char)('a' + (size_t)(id + (long)i) % 26); }

/* One chunk more of the response; the buffer doubles when full. */
static int build(struct request *r) {
    size_t n = r->want - r->len < CHUNK ? r->want - r->len : CHUNK, i;
    if (r->len + n > r->cap) {
        size_t cap = r->cap != 0 ? r->cap : 256;
        char *p;
        while (cap < r->len + n) cap *= 2;
        if ((p = catmem_realloc(r->arena, r->body, cap)) == NULL)
            return broken(r, "response buffer");
        r->body = p;
        r->cap = cap;
    }
    for (i = 0; i < n; i++) r->body[r->len + i] = body_byte(r->id, r->len + i);
    r->len += n;
    if (r->len == r->want) r->state = RESPOND;
    return 1;
}

static const char too_large[] = "413 Payload Too Large\n";

static int reply_ok(const struct reply *rep) {
    size_t i;
    if (rep->status == 413)
        return rep->body != NULL && strcmp(rep->body, too_large) == 0 && noisy(rep->id);
    for (i = 0; i < rep->len; i++)
        if (rep->body[i] != body_byte(rep->id, i)) return 0;
    return rep->status == 200 && rep->len > 0;
}

/* Writes the response (checks it here), frees it, releases the request's arena: rep itself may
   be in that arena. */
static void finish(const struct reply *rep) {
    struct tenant *t = rep->tenant;
    char line[64];
    int refused = rep->status == 413;
    if (!reply_ok(rep)) fail("response", rep->id);
    snprintf(line, sizeof line, "%ld %d %zu", rep->id, rep->status, rep->len);
    /* The release frees it anyway; but a connection kept alive frees each response once it is
       written, from whichever thread wrote it. */
    catmem_free(rep->arena, rep->body);
    if (catmem_arena_release(rep->arena) != 0) fail("release", -1);
    pthread_mutex_lock(&mu);
    live--;
    pthread_mutex_unlock(&mu);
    pthread_mutex_lock(&t->mu);
    t->reserved -= REQUEST_LIMIT;
    t->served++;
    t->refused += refused;
    catmem_free(t->arena, t->log[t->log_next]);
    if ((t->log[t->log_next] = catmem_strdup(t->arena, line)) == NULL) fail("log", -1);
    t->log_next = (t->log_next + 1) % LOG_LINES;
    pthread_mutex_unlock(&t->mu);
}

/* One response in four goes to the writer thread, the rest are written here. */
static int respond(struct request *r) {
    struct reply rep = {NULL, r->tenant, r->arena, r->id, r->status, r->body, r->len}, *node;
    if (r->status == 413) {
        rep.body = catmem_strdup(r->arena, too_large);
        rep.len = sizeof too_large - 1;
    }
    r->state = EMPTY;
    if (r->id % 4 != 0 || (node = catmem_alloc(r->arena, sizeof rep)) == NULL) {
        if (r->id % 4 == 0) fail("reply", r->id); /* the limit leaves room for it */
        finish(&rep);
        return 1;
    }
    *node = rep;
    pthread_mutex_lock(&mu);
    node->next = queue;
    queue = node;
    to_writer++;
    pthread_cond_signal(&queued);
    pthread_mutex_unlock(&mu);
    return 1;
}

/* One step of the request in slot r: 1 when it moved on. */
static int step(struct request *r) {
    switch (r->state) {
    case EMPTY: {
        long id;
        pthread_mutex_lock(&mu);
        id = next_id < total ? next_id++ : -1;
        pthread_mutex_unlock(&mu);
        if (id < 0) return 0;
        memset(r, 0, sizeof *r);
        r->state = ADMIT;
        r->id = id;
        r->tenant = &tenants[id % TENANTS];
        return 1;
    }
    case ADMIT: return admit(r);
    case PARSE: return parse(r);
    case BUILD: return build(r);
    case RESPOND: return respond(r);
    }
    return 0;
}

struct slots {
    struct request *r;
    long n;
};

/* Every request of its slots one step at a time: all of them are in flight together. */
static void *worker(void *arg) {
    struct slots *s = arg;
    for (;;) {
        long i, busy = 0, moved = 0;
        for (i = 0; i < s->n; i++) {
            moved += step(&s->r[i]);
            busy += s->r[i].state != EMPTY;
        }
        if (busy == 0 && moved == 0) return NULL;
        if (moved == 0) sched_yield(); /* all wait for a budget or an arena */
    }
}

static void *writer(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        struct reply *batch = queue;
        queue = NULL;
        if (batch == NULL) {
            if (workers_done) break;
            pthread_cond_wait(&queued, &mu);
            continue;
        }
        pthread_mutex_unlock(&mu);
        while (batch != NULL) {
            struct reply *next = batch->next;
            finish(batch);
            batch = next;
        }
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* The manual says a limit covers its own arena only, not its children: the budget above
   depends on that, so check it. */
static int limits_are_per_arena(struct tenant *t) {
    catmem_arena *child = catmem_arena_create_child(t->arena, NULL);
    void *in_tenant = catmem_alloc(t->arena, 2 * TENANT_OWN);
    int refused = in_tenant == NULL && errno == ENOMEM;
    void *in_child = catmem_alloc(child, 2 * TENANT_OWN); /* the child has no limit */
    printf("limits are per arena: %s (limit %d KiB) %s %d KiB, its child without a limit %s\n",
           catmem_arena_name(t->arena), TENANT_OWN / 1024, refused ? "refuses" : "TAKES",
           2 * TENANT_OWN / 1024, in_child != NULL ? "takes them" : "FAILS");
    catmem_free(t->arena, in_tenant);
    catmem_arena_release(child);
    return refused && in_child != NULL;
}

/* 0 or an errno value. */
static int open_tenant(struct tenant *t, int i) {
    char name[16], host[32];
    int err;
    snprintf(name, sizeof name, "tenant-%d", i);
    snprintf(host, sizeof host, "%s.example.org", name);
    if ((err = pthread_mutex_init(&t->mu, NULL)) != 0) return err;
    if ((t->arena = catmem_arena_create(name)) == NULL) return errno;
    if ((err = catmem_arena_set_limit(t->arena, TENANT_OWN)) != 0) return err;
    t->reserved = t->reserved_peak = TENANT_OWN; /* the tenant's own arena is in its budget */
    return (t->host = catmem_strdup(t->arena, host)) != NULL ? 0 : errno;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Per tenant: its own arena's peak (catmem_arena_stats: its children are not in it), and the
   budget its arenas' limits took at most. */
static int summary(void) {
    long i, served = 0, refused = 0, expected = 0, waited = 0;
    int ok = 1;
    printf("%-9s %7s %5s %7s %24s %15s\n", "tenant", "served", "413s", "waited",
           "budget reserved at peak", "own arena peak");
    for (i = 0; i < TENANTS; i++) {
        struct tenant *t = &tenants[i];
        catmem_stats st;
        if (catmem_arena_stats(t->arena, &st) != 0) return 0;
        printf("%-9s %7ld %5ld %7ld %9.1f of %5.1f MiB %8.1f KiB\n", catmem_arena_name(t->arena),
               t->served, t->refused, t->waited, t->reserved_peak / 1048576.0, budget / 1048576.0,
               st.peak / 1024.0);
        ok &= t->reserved_peak <= budget && t->reserved == TENANT_OWN && st.peak <= TENANT_OWN;
        ok &= i == NOISY || t->refused == 0;
        served += t->served;
        refused += t->refused;
        waited += t->waited;
    }
    for (i = 0; i < total; i++) expected += noisy(i);
    printf("served %ld requests, %ld of them written and freed by the writer thread\n", served,
           to_writer);
    printf("%s: %ld requests announced %zu MiB uploads: NULL and ENOMEM, answered 413\n",
           catmem_arena_name(tenants[NOISY].arena), refused, 2 * budget >> 20);
    printf("peak live arenas: %ld (%ld requests, %d tenants, %d built-in)\n",
           live_peak + TENANTS + CATMEM_KIND_COUNT, live_peak, TENANTS, CATMEM_KIND_COUNT);
    printf("requests that waited for their tenant's budget: %ld; arenas refused (EAGAIN): %ld\n",
           waited, no_arena);
    return ok && served == total && refused == expected;
}

int main(int argc, char **argv) {
    long concurrent = argc > 1 ? atol(argv[1]) : 4000, i;
    long budget_mib = argc > 2 ? atol(argv[2]) : 32;
    pthread_t workers[WORKERS], wr;
    struct slots slots[WORKERS];
    struct request *all;
    double start;
    int ok, err;
    if (concurrent < WORKERS || budget_mib < 1) {
        fprintf(stderr, "usage: tenants [CONCURRENT (>= %d) [BUDGET_MIB (>= 1)]]\n", WORKERS);
        return 2;
    }
    budget = (size_t)budget_mib << 20;
    total = SERVED_PER_SLOT * concurrent;
    for (i = 0; i < TENANTS; i++)
        if ((err = open_tenant(&tenants[i], (int)i)) != 0) {
            fprintf(stderr, "tenants: tenant %ld: %s\n", i, strerror(err));
            return 1;
        }
    ok = limits_are_per_arena(&tenants[0]);
    /* The server's own table lives as long as the process: CATMEM_STATIC. */
    all = catmem_calloc(catmem_arena_get(CATMEM_STATIC), (size_t)concurrent, sizeof *all);
    if (all == NULL) {
        fprintf(stderr, "tenants: %ld slots: %s\n", concurrent, strerror(errno));
        return 1;
    }
    printf("%s backend: %d tenants, %d workers and a writer, up to %ld requests in flight, "
           "%ld in all\n",
           catmem_backend_name(), TENANTS, WORKERS, concurrent, total);
    start = seconds();
    err = pthread_create(&wr, NULL, writer, NULL);
    for (i = 0; i < WORKERS && err == 0; i++) {
        slots[i] = (struct slots){all + concurrent * i / WORKERS,
                                  concurrent * (i + 1) / WORKERS - concurrent * i / WORKERS};
        err = pthread_create(&workers[i], NULL, worker, &slots[i]);
    }
    if (err != 0) {
        fprintf(stderr, "tenants: pthread_create: %s\n", strerror(err));
        return 1;
    }
    for (i = 0; i < WORKERS; i++) pthread_join(workers[i], NULL);
    pthread_mutex_lock(&mu);
    workers_done = 1;
    pthread_cond_signal(&queued);
    pthread_mutex_unlock(&mu);
    pthread_join(wr, NULL);
    printf("done in %.2f s\n", seconds() - start);
    ok &= summary();
    /* Thousands of rows would say little: the report is for when only the tenants are left. */
    if (live == 0)
        ok &= catmem_report(stdout, CATMEM_REPORT_TEXT) == 0;
    else
        printf("%ld request arenas still live: no report\n", live);
    ok &= live == 0 && failures == 0;
    printf("tenants: %s\n", ok ? "every check passed" : "FAILED");
    return ok ? 0 : 1;
}
