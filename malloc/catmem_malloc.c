/* catmem as the process's malloc: the malloc family served from one catmem arena, named
   "malloc", on the backend this file is compiled for (CATMEM_BACKEND_*). Built as
   libcatmem_malloc_<backend>.so for LD_PRELOAD and as a library to link (malloc/BUILD.bazel);
   catmem_new.cc adds C++'s operator new and delete. README.md ("Any program on catmem") is
   the user's manual.

   Why it is built the way it is:
   - catmem's own functions are static here (CATMEM_API), and only the malloc family is
     exported: a program that compiles catmem in itself keeps its own copy, and neither copy's
     calls can land in the other.
   - catmem's own memory (the system engine's segments, its bookkeeping) comes from glibc's
     __libc_malloc family, which glibc exports for this purpose: calling malloc there would
     come back here.
   - The first call initialises catmem, and catmem's initialisation calls malloc itself
     (pthread_atfork, atexit, dlsym on the runtime backend). Those nested calls, on the thread
     that initialises, are served from a static buffer (boot) that is never reused; free of
     such a block does nothing, realloc copies it out. Other threads wait for the
     initialisation under a mutex.
   - glibc's observable behaviour is kept (tests/malloc/semantics.c compares the two call by
     call): every block 16-byte aligned (jemalloc's 8-byte class is never used: sizes below
     16 are asked as 16, and so are C++ sized deletes, so that a sized free names the same
     class), realloc(p, 0) frees p and returns NULL, memalign rounds an alignment up to a power
     of two, errno untouched on success. */
#define _GNU_SOURCE
#define CATMEM_IMPLEMENTATION
#define CATMEM_API static
#define CATMEM_SYSTEM_MALLOC  __libc_malloc
#define CATMEM_SYSTEM_CALLOC  __libc_calloc
#define CATMEM_SYSTEM_REALLOC __libc_realloc
#define CATMEM_SYSTEM_FREE    __libc_free
#include <stddef.h>
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

#include "../catmem.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "catmem_malloc.h"

#define CATMEMI_MX_EXPORT __attribute__((visibility("default")))
#define CATMEMI_MX_MIN    16 /* glibc's alignment of every block, and its smallest one */

static catmem_arena *catmemi_mx_arena; /* set once catmem is ready; atomic */

/* Sizes below 16 are asked as 16: every block is then 16-byte aligned on every engine. */
static inline size_t catmemi_mx_size(size_t n) {
    return n < CATMEMI_MX_MIN ? CATMEMI_MX_MIN : n;
}

/* >>boot: blocks for catmem's own initialisation ================================================
   Each block is preceded by its size; the buffer is bumped, never reused (it is zero, so a
   calloc needs no clearing). 256 KiB of .bss costs nothing until touched: an initialisation
   takes a few hundred bytes. */
#define CATMEMI_MX_BOOT (256u << 10)
static unsigned char catmemi_mx_boot[CATMEMI_MX_BOOT] __attribute__((aligned(4096)));
static size_t catmemi_mx_boot_used; /* atomic */

static inline int catmemi_mx_is_boot(const void *p) {
    return (uintptr_t)p - (uintptr_t)catmemi_mx_boot < CATMEMI_MX_BOOT;
}

/* The size before p, a boot block. It sits between boot blocks, unsealed: a size past the
   buffer's end (an overflow of the block before rewrote it) stops the process rather than let
   realloc copy, or malloc_usable_size promise, memory after the buffer. */
static size_t catmemi_mx_boot_size(const void *p) {
    size_t n, left = (size_t)(catmemi_mx_boot + CATMEMI_MX_BOOT - (const unsigned char *)p);
    memcpy(&n, (const unsigned char *)p - sizeof n, sizeof n);
    if (n > left) {
        fprintf(stderr, "catmem: corrupted size of the boot block at %p\n", p);
        abort();
    }
    return n;
}

static void *catmemi_mx_boot_alloc(size_t n, size_t align) {
    size_t used = __atomic_load_n(&catmemi_mx_boot_used, __ATOMIC_RELAXED), start;
    if (align < CATMEMI_MX_MIN) align = CATMEMI_MX_MIN;
    do {
        start = (used + sizeof n + align - 1) & ~(align - 1);
        if (start > CATMEMI_MX_BOOT || n > CATMEMI_MX_BOOT - start) {
            errno = ENOMEM;
            return NULL;
        }
    } while (!__atomic_compare_exchange_n(&catmemi_mx_boot_used, &used, start + n, 1,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    memcpy(catmemi_mx_boot + start - sizeof n, &n, sizeof n);
    return catmemi_mx_boot + start;
}

/* The system engine takes its segments and large blocks from glibc's malloc, which no one else
   uses here: glibc is tuned for that. By default glibc maps each block of 128 KiB or more on its
   own and trims its heap's top as soon as 128 KiB of it is free, so a program that frees and
   allocates large blocks in turn faults every page of each anew (bench/workloads.sh's churn:
   150,000 faults, 0.86 s). Its heap's top kept up to 16 MiB, and blocks mapped apart only from
   1 MiB, the engine's segment size: 4,500 faults, 0.2-0.4 s. Mapping apart only from 4 MiB
   (this library's first setting) put the engine's 1 MiB segments into glibc's heap among large
   blocks, where what is freed below the top stays resident: 11 of CPython's test files in one
   process peaked at 242 MB against 208 MB on glibc's malloc alone; from 1 MiB, 213 MB (from
   256 KiB, 211 MB; glibc's own dynamic threshold, 275 MB). A user's own settings (glibc's
   tunables, or the MALLOC_*_ variables) win. */
static void catmemi_mx_tune_glibc(void) {
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
    const char *t = getenv("GLIBC_TUNABLES");
    if (strcmp(catmem_backend_name(), "system") != 0 || (t != NULL && strstr(t, "malloc.")) ||
        getenv("MALLOC_TRIM_THRESHOLD_") != NULL || getenv("MALLOC_MMAP_THRESHOLD_") != NULL)
        return;
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 16 << 20);
#endif
}

/* >>start: the first call =========================================================================
   The arena, made on the first call; NULL on the thread that is making it (its nested calls
   take boot blocks). A failure to make it stops the process: no allocation could work. */
static pthread_mutex_t catmemi_mx_mu = PTHREAD_MUTEX_INITIALIZER;
static CATMEMI_TLS int catmemi_mx_starting;

static __attribute__((noinline, cold)) catmem_arena *catmemi_mx_start(void) {
    catmem_arena *a;
    int saved = errno, err = 0;
    if (catmemi_mx_starting) return NULL;
    pthread_mutex_lock(&catmemi_mx_mu);
    a = __atomic_load_n(&catmemi_mx_arena, __ATOMIC_ACQUIRE);
    if (a == NULL) {
        catmemi_mx_starting = 1;
        err = catmem_init();
        if (err == 0 && (a = catmem_arena_create("malloc")) == NULL) err = errno;
        if (a != NULL) catmemi_mx_tune_glibc();
        catmemi_mx_starting = 0;
        if (a == NULL) {
            fprintf(stderr, "catmem malloc: catmem could not start on %s: %s\n",
                    catmem_backend_name(), strerror(err));
            abort();
        }
        __atomic_store_n(&catmemi_mx_arena, a, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&catmemi_mx_mu);
    errno = saved;
    return a;
}

/* The arena, starting catmem if need be; NULL: take a boot block. */
static inline catmem_arena *catmemi_mx_get(void) {
    catmem_arena *a = __atomic_load_n(&catmemi_mx_arena, __ATOMIC_ACQUIRE);
    return CATMEMI_LIKELY(a != NULL) ? a : catmemi_mx_start();
}

/* >>the malloc family ========================================================================== */

CATMEMI_MX_EXPORT void *malloc(size_t n) {
    catmem_arena *a = catmemi_mx_get();
    if (CATMEMI_LIKELY(a != NULL)) return catmem_alloc(a, catmemi_mx_size(n));
    return catmemi_mx_boot_alloc(n, 0);
}

CATMEMI_MX_EXPORT void free(void *p) {
    catmem_arena *a = __atomic_load_n(&catmemi_mx_arena, __ATOMIC_ACQUIRE);
    /* Before catmem is ready, only boot blocks can have come from here. */
    if (CATMEMI_LIKELY(a != NULL && !catmemi_mx_is_boot(p))) catmem_free(a, p);
}

CATMEMI_MX_EXPORT void *calloc(size_t n, size_t size) {
    catmem_arena *a;
    size_t total = catmemi_mul_size(n, size);
    if (total > CATMEM_SIZE_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    a = catmemi_mx_get();
    if (CATMEMI_LIKELY(a != NULL)) return catmem_calloc(a, 1, catmemi_mx_size(total));
    return catmemi_mx_boot_alloc(total, 0); /* zero: boot blocks are never reused */
}

static __attribute__((noinline)) void *catmemi_mx_realloc_slow(void *p, size_t n) {
    void *q;
    if (p == NULL) return malloc(n);
    if (n == 0) { /* glibc's realloc(p, 0): p freed, NULL returned */
        free(p);
        return NULL;
    }
    if (!catmemi_mx_is_boot(p)) { /* catmem not started: p is not from here */
        errno = EINVAL;
        return NULL;
    }
    q = malloc(n);
    if (q != NULL) {
        size_t old = catmemi_mx_boot_size(p);
        memcpy(q, p, n < old ? n : old);
    }
    return q;
}

CATMEMI_MX_EXPORT void *realloc(void *p, size_t n) {
    catmem_arena *a = __atomic_load_n(&catmemi_mx_arena, __ATOMIC_ACQUIRE);
    if (CATMEMI_LIKELY(a != NULL && p != NULL && n != 0 && !catmemi_mx_is_boot(p)))
        return catmem_realloc(a, p, catmemi_mx_size(n));
    return catmemi_mx_realloc_slow(p, n);
}

CATMEMI_MX_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
    size_t total = catmemi_mul_size(n, size);
    if (total > CATMEM_SIZE_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

/* glibc's memalign: up to 16 a plain malloc, a non-power of two rounded up to one, EINVAL
   above half the address space. Above CATMEM_ALIGN_MAX (1 GiB) catmem refuses with EINVAL,
   where glibc would map size + alignment bytes. */
static void *catmemi_mx_memalign(size_t align, size_t n) {
    catmem_arena *a;
    if (align <= CATMEMI_MX_MIN) return malloc(n);
    if (align > (SIZE_MAX >> 1) + 1) {
        errno = EINVAL;
        return NULL;
    }
    if ((align & (align - 1)) != 0) align = (size_t)1 << (64 - __builtin_clzll(align));
    a = catmemi_mx_get();
    if (a != NULL) return catmem_aligned_alloc(a, align, n);
    return catmemi_mx_boot_alloc(n, align);
}

CATMEMI_MX_EXPORT void *memalign(size_t align, size_t n) {
    return catmemi_mx_memalign(align, n);
}

/* glibc 2.36's aligned_alloc is its memalign; the C standard allows it. */
CATMEMI_MX_EXPORT void *aligned_alloc(size_t align, size_t n) {
    return catmemi_mx_memalign(align, n);
}

/* As glibc's: a bad alignment leaves errno alone, a failed allocation sets it as well. */
CATMEMI_MX_EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    void *p;
    if (align == 0 || align % sizeof(void *) != 0 || (align & (align - 1)) != 0) return EINVAL;
    p = catmemi_mx_memalign(align, n);
    if (p == NULL) return errno;
    *out = p;
    return 0;
}

static size_t catmemi_mx_page(void) {
    static size_t page; /* atomic; the same value whoever stores it */
    size_t n = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (n == 0) {
        long got = sysconf(_SC_PAGESIZE);
        n = got > 0 ? (size_t)got : 4096;
        __atomic_store_n(&page, n, __ATOMIC_RELAXED);
    }
    return n;
}

CATMEMI_MX_EXPORT void *valloc(size_t n) {
    return catmemi_mx_memalign(catmemi_mx_page(), n);
}

CATMEMI_MX_EXPORT void *pvalloc(size_t n) {
    size_t page = catmemi_mx_page(), rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return catmemi_mx_memalign(page, rounded & ~(page - 1));
}

CATMEMI_MX_EXPORT size_t malloc_usable_size(void *p) {
    if (catmemi_mx_is_boot(p)) return catmemi_mx_boot_size(p);
    return catmem_usable_size(p);
}

/* >>for catmem_new.cc ========================================================================== */

void *catmemi_mx_new(size_t n, size_t align) {
    if (align > CATMEMI_MX_MIN) return catmemi_mx_memalign(align, n);
    return malloc(n);
}

void catmemi_mx_free(void *p) {
    free(p);
}

/* A C++ sized delete: the size operator new was given, asked as malloc asked it. */
void catmemi_mx_free_sized(void *p, size_t n) {
    catmem_arena *a = __atomic_load_n(&catmemi_mx_arena, __ATOMIC_ACQUIRE);
    if (CATMEMI_LIKELY(a != NULL && !catmemi_mx_is_boot(p)))
        catmem_free_sized(a, p, catmemi_mx_size(n));
}
