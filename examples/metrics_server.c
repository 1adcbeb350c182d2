/* metrics_server: catmem's statistics for a metrics scraper (Prometheus, or anything that reads
   OpenMetrics), from a small HTTP endpoint on the loopback address.
   - GET /metrics answers with catmem_report(..., CATMEM_REPORT_OPENMETRICS), written into memory
     first (open_memstream), so the answer carries its length and a failed report is a 500,
     never half an exposition;
   - every request is served in a child arena of CATMEM_REQUEST with a limit, released when the
     answer is sent: a scrape shows the request arena that is serving it. It is anonymous, so
     its series are labelled by its id, which the next request's arena reuses: named per
     request, each would leave new series behind in the scraper's database;
   - a "sessions" arena keeps a record of the last 64 requests (so its figures move between
     scrapes) and a "templates" arena holds what the server loads at start.
   One thread, one connection at a time: enough for a scraper, not a web server.
   Usage: metrics_server [PORT [REQUESTS]]
     PORT      on 127.0.0.1; 0 (the default): a free port, printed on the first line
     REQUESTS  exit after answering that many (a test drives it so); 0 (the default): never
   With Bazel:  ./tools/bazel run //examples:metrics_server -- 9464
                curl -s http://127.0.0.1:9464/metrics
   By hand, from the repository root:
     cc -O2 -I. -DCATMEM_IMPLEMENTATION -DCATMEM_BACKEND_SYSTEM examples/metrics_server.c \
        -lpthread */
#define _GNU_SOURCE /* open_memstream, MSG_NOSIGNAL */
#include "catmem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define OPENMETRICS_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define REQUEST_LIMIT    (64 * 1024) /* each request's arena */
#define HEAD_MAX         8192        /* the request line and headers */

static catmem_arena *sessions;
static char *recent[64]; /* in sessions: the last requests' lines, the oldest freed */

/* send until all is sent: a socket may take less than it is given. */
static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int answer(int fd, const char *status, const char *type, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, len);
    return send_all(fd, head, (size_t)n) == 0 ? send_all(fd, body, len) : -1;
}

/* The exposition, whole, or a 500: catmem_report writes into memory first. */
static int answer_metrics(int fd) {
    char *body = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&body, &len);
    int err = mem != NULL ? catmem_report(mem, CATMEM_REPORT_OPENMETRICS) : ENOMEM;
    int rc;
    if (mem != NULL && fclose(mem) != 0 && err == 0) err = EIO;
    if (err == 0)
        rc = answer(fd, "200 OK", OPENMETRICS_TYPE, body, len);
    else
        rc = answer(fd, "500 Internal Server Error", "text/plain", "report failed\n", 14);
    free(body);
    return rc;
}

/* The request line and headers, up to the blank line, into req's memory; NULL when the client
   sent none (or more than HEAD_MAX bytes of them). */
static char *read_head(int fd, catmem_arena *req) {
    char *buf = catmem_alloc(req, HEAD_MAX + 1);
    size_t have = 0;
    if (buf == NULL) return NULL;
    while (have < HEAD_MAX) {
        ssize_t k = recv(fd, buf + have, HEAD_MAX - have, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return NULL;
        have += (size_t)k;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL) return buf;
    }
    return NULL;
}

/* One connection, in an arena of its own that goes when it is answered. */
static int serve(int fd, unsigned long n) {
    char *head, *path, *end;
    catmem_arena *req = catmem_arena_create_child(catmem_arena_get(CATMEM_REQUEST), NULL);
    int rc = -1;
    if (req == NULL) return answer(fd, "503 Service Unavailable", "text/plain", "busy\n", 5);
    catmem_arena_set_limit(req, REQUEST_LIMIT);
    if ((head = read_head(fd, req)) == NULL) goto done;
    /* What a session would keep: the request line, in the long-lived arena. */
    head[strcspn(head, "\r\n")] = '\0';
    catmem_free(sessions, recent[n % 64]);
    if ((recent[n % 64] = catmem_strdup(sessions, head)) == NULL) goto done;
    path = strchr(head, ' ');
    end = path != NULL ? strchr(path + 1, ' ') : NULL;
    if (strncmp(head, "GET ", 4) != 0 || end == NULL)
        rc = answer(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
    else if ((size_t)(end - path - 1) == 8 && strncmp(path + 1, "/metrics", 8) == 0)
        rc = answer_metrics(fd);
    else
        rc = answer(fd, "404 Not Found", "text/plain", "try /metrics\n", 13);
done:
    catmem_arena_release(req);
    return rc;
}

/* A listening socket on 127.0.0.1:port (0: any free port); the port it got in *port. */
static int listen_on(int *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never beyond this machine */
    addr.sin_port = htons((unsigned short)*port);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* What the server holds from the start: a few templates. */
static int load_templates(void) {
    catmem_arena *templates = catmem_arena_create("templates");
    int i;
    if (templates == NULL) return -1;
    for (i = 0; i < 16; i++)
        if (catmem_alloc(templates, 512 * (size_t)(i + 1)) == NULL) return -1;
    return 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    unsigned long served = 0, requests = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
    struct timeval patience = {5, 0}; /* a client that sends nothing is dropped */
    int lfd;
    signal(SIGPIPE, SIG_IGN);
    if ((sessions = catmem_arena_create("sessions")) == NULL || load_templates() != 0) {
        perror("metrics_server: catmem");
        return 1;
    }
    catmem_arena_set_limit(sessions, 1 << 20);
    if ((lfd = listen_on(&port)) < 0) {
        perror("metrics_server: 127.0.0.1");
        return 1;
    }
    printf("metrics_server: http://127.0.0.1:%d/metrics\n", port);
    fflush(stdout);
    while (requests == 0 || served < requests) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("metrics_server: accept");
            return 1;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
        if (serve(fd, ++served) != 0)
            fprintf(stderr, "metrics_server: request %lu: dropped\n", served);
        close(fd);
    }
    close(lfd);
    return 0;
}
