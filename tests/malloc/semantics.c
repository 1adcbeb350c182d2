/* The malloc family's observable behaviour, one line per case: run under glibc and under
   catmem's malloc library (malloc_test.sh), the two outputs must be the same. Only what a
   program may rely on is printed (NULL or not, errno, alignment, contents), never addresses or
   usable sizes beyond "at least what was asked". */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *err_name(int e) {
    switch (e) {
    case 0: return "0";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case 1234: return "untouched";
    default: return "other";
    }
}

/* A case's result: NULL or not, the alignment it was asked for honoured, errno after it. */
static void show(const char *what, void *p, size_t align, size_t n) {
    int e = errno;
    printf("%-40s %s", what, p == NULL ? "NULL" : "ptr");
    if (p != NULL) {
        printf(" aligned=%d usable>=n=%d", align == 0 || (uintptr_t)p % align == 0,
               malloc_usable_size(p) >= n);
        memset(p, 0x5a, n); /* every byte asked for is writable */
    }
    printf(" errno=%s\n", err_name(e));
}

#define CASE(what, expr, align, n)                                                                 \
    do {                                                                                           \
        void *p_;                                                                                  \
        errno = 1234;                                                                              \
        p_ = (expr);                                                                               \
        show(what, p_, align, n);                                                                  \
        free(p_);                                                                                  \
    } while (0)

static void allocation(void) {
    size_t n, huge = SIZE_MAX, half = (SIZE_MAX >> 1) + 1;
    for (n = 0; n <= 64; n += (n < 24 ? 1 : 8)) {
        char what[40];
        snprintf(what, sizeof what, "malloc(%zu)", n);
        CASE(what, malloc(n), 16, n);
    }
    CASE("malloc(4 KiB)", malloc(4096), 16, 4096);
    CASE("malloc(1 MiB)", malloc(1 << 20), 16, 1 << 20);
    CASE("malloc(SIZE_MAX)", malloc(huge), 0, 0);
    CASE("malloc(PTRDIFF_MAX + 1)", malloc(half), 0, 0);
    CASE("calloc(0, 0)", calloc(0, 0), 16, 0);
    CASE("calloc(3, 5)", calloc(3, 5), 16, 15);
    CASE("calloc(SIZE_MAX / 2, 3)", calloc(SIZE_MAX / 2, 3), 0, 0);
    CASE("calloc(2^32, 2^32)", calloc((size_t)1 << 32, (size_t)1 << 32), 0, 0);
    CASE("memalign(1, 10)", memalign(1, 10), 16, 10);
    CASE("memalign(3, 10)", memalign(3, 10), 4, 10);
    CASE("memalign(24, 10)", memalign(24, 10), 32, 10);
    CASE("memalign(64, 0)", memalign(64, 0), 64, 0);
    CASE("memalign(4096, 100)", memalign(4096, 100), 4096, 100);
    CASE("memalign(1 MiB, 100)", memalign(1 << 20, 100), 1 << 20, 100);
    CASE("memalign(PTRDIFF_MAX + 2, 1)", memalign(half + 1, 1), 0, 0);
    CASE("memalign(64, SIZE_MAX)", memalign(64, huge), 0, 0);
    CASE("aligned_alloc(64, 100)", aligned_alloc(64, 100), 64, 100);
    CASE("aligned_alloc(8, 1)", aligned_alloc(8, 1), 16, 1);
    CASE("aligned_alloc(4096, 1)", aligned_alloc(4096, 1), 4096, 1);
    CASE("valloc(1)", valloc(1), 4096, 1);
    CASE("valloc(10000)", valloc(10000), 4096, 10000);
    CASE("pvalloc(1)", pvalloc(1), 4096, 4096);
    CASE("pvalloc(0)", pvalloc(0), 4096, 0);
    CASE("pvalloc(SIZE_MAX)", pvalloc(huge), 0, 0);
}

static void posix(void) {
    static const size_t aligns[] = {0, 1, 4, 8, 16, 24, 48, 64, 4096, (size_t)1 << 20};
    size_t i;
    for (i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        void *p = NULL;
        int r;
        errno = 1234;
        r = posix_memalign(&p, aligns[i], 100);
        printf("posix_memalign(%zu, 100): returns %s p=%s aligned=%d errno=%s\n", aligns[i],
               err_name(r), p == NULL ? "NULL" : "ptr",
               p != NULL && (uintptr_t)p % aligns[i] == 0, err_name(errno));
        free(p);
    }
    {
        void *p = (void *)1;
        int r;
        errno = 1234;
        r = posix_memalign(&p, 64, SIZE_MAX);
        printf("posix_memalign(64, SIZE_MAX): returns %s p=%s errno=%s\n", err_name(r),
               p == (void *)1 ? "untouched" : p == NULL ? "NULL" : "ptr", err_name(errno));
    }
}

static void resizing(void) {
    char *p, *q;
    unsigned i;
    errno = 1234;
    p = realloc(NULL, 10);
    show("realloc(NULL, 10)", p, 16, 10);
    for (i = 0; i < 10; i++) p[i] = (char)i;
    errno = 1234;
    q = realloc(p, 100000); /* grows, moves: the first bytes follow */
    show("realloc(p, 100000)", q, 16, 10);
    for (i = 0; i < 10; i++) q[i] = (char)i;
    errno = 1234;
    p = realloc(q, SIZE_MAX); /* fails: q untouched */
    printf("realloc(q, SIZE_MAX)                     %s errno=%s q intact=%d\n",
           p == NULL ? "NULL" : "ptr", err_name(errno), q[9] == 9 && q[0] == 0);
    errno = 1234;
    p = realloc(q, 5); /* shrinks */
    printf("realloc(q, 5)                            %s errno=%s kept=%d\n",
           p == NULL ? "NULL" : "ptr", err_name(errno), p != NULL && p[4] == 4);
    errno = 1234;
    q = realloc(p, 0); /* glibc: frees p, returns NULL */
    printf("realloc(p, 0)                            %s errno=%s\n", q == NULL ? "NULL" : "ptr",
           err_name(errno));
    free(q);
    errno = 1234;
    p = realloc(NULL, 0);
    show("realloc(NULL, 0)", p, 16, 0);
    errno = 1234;
    q = reallocarray(NULL, 3, 7);
    show("reallocarray(NULL, 3, 7)", q, 16, 21);
    errno = 1234;
    p = reallocarray(q, SIZE_MAX / 2, 3);
    printf("reallocarray(q, SIZE_MAX / 2, 3)         %s errno=%s\n", p == NULL ? "NULL" : "ptr",
           err_name(errno));
    free(q);
    errno = 1234;
    p = calloc(100, 100); /* zeroed, also where a freed block of the same size is reused */
    memset(p, 0xff, 10000);
    free(p);
    p = calloc(100, 100);
    for (i = 0; i < 10000 && p[i] == 0; i++) continue;
    printf("calloc(100, 100) after a dirty free      zeroed=%d errno=%s\n", i == 10000,
           err_name(errno));
    free(p);
    errno = 1234;
    free(NULL);
    printf("free(NULL)                               errno=%s\n", err_name(errno));
    printf("malloc_usable_size(NULL)                 %zu\n", malloc_usable_size(NULL));
    p = strdup("catmem");
    printf("strdup                                   %s\n", p);
    free(p);
}

int main(void) {
    allocation();
    posix();
    resizing();
    return 0;
}
