/* bench/pairs.c - the inline paths' instructions a free + allocation pair, for bench/pairs.sh:
   a steady ring of 256 blocks of 16-215 bytes in one arena, each step freeing the oldest block
   (catmem_free, catmem_free_sized or catmem_free_any) and allocating one in its place. One
   thread, no contention: what is left is the inline paths' own work, which callgrind counts
   exactly (the measured loop is its own function, for --toggle-collect).
   "malloc": the process's malloc and free instead (jemalloc's in a program linked with it).
   Usage: pairs free|sized|any|malloc [PAIRS] */
#define CATMEM_IMPLEMENTATION
#include "catmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RING = 256 };
static void *ring[RING];
static size_t sizes[RING];

static size_t size_at(long i) { return 16 + (size_t)((i * 37) % 200); }

#define PAIRS_LOOP(name, freeing)                                                                  \
  static __attribute__((noinline, noipa)) void name(catmem_arena *a, long n) {                     \
    long i;                                                                                        \
    for (i = 0; i < n; i++) {                                                                      \
      unsigned k = (unsigned)i & (RING - 1);                                                       \
      freeing;                                                                                     \
      sizes[k] = size_at(i);                                                                       \
      if ((ring[k] = catmem_alloc(a, sizes[k])) == NULL) abort();                                  \
    }                                                                                              \
  }
PAIRS_LOOP(measured_free, catmem_free(a, ring[k]))
PAIRS_LOOP(measured_sized, catmem_free_sized(a, ring[k], sizes[k]))
PAIRS_LOOP(measured_any, catmem_free_any(ring[k]))
PAIRS_LOOP(warm, catmem_free(a, ring[k]))
/* The process's malloc and free in the same ring: jemalloc's where the program links it. */
#define MALLOC_LOOP(name)                                                                          \
  static __attribute__((noinline, noipa)) void name(long n) {                                      \
    long i;                                                                                        \
    for (i = 0; i < n; i++) {                                                                      \
      unsigned k = (unsigned)i & (RING - 1);                                                       \
      free(ring[k]);                                                                               \
      if ((ring[k] = malloc(size_at(i))) == NULL) abort();                                         \
    }                                                                                              \
  }
MALLOC_LOOP(measured_malloc)
MALLOC_LOOP(warm_malloc)

int main(int argc, char **argv) {
    long n = argc > 2 ? atol(argv[2]) : 150000;
    catmem_arena *a;
    unsigned k;
    if (argc < 2 || catmem_init() != 0 || (a = catmem_arena_create("pairs")) == NULL) {
        fprintf(stderr, "usage: pairs free|sized|any|malloc [PAIRS]\n");
        return 2;
    }
    if (strcmp(argv[1], "malloc") == 0) {
        for (k = 0; k < RING; k++)
            if ((ring[k] = malloc(size_at(k))) == NULL) return 1;
        warm_malloc(100000);
        measured_malloc(n);
        printf("%ld pairs\n", n);
        return 0;
    }
    for (k = 0; k < RING; k++)
        if ((ring[k] = catmem_alloc(a, sizes[k] = size_at(k))) == NULL) return 1;
    warm(a, 100000); /* caches filled, the arena's memory in place */
    if (strcmp(argv[1], "free") == 0)
        measured_free(a, n);
    else if (strcmp(argv[1], "sized") == 0)
        measured_sized(a, n);
    else if (strcmp(argv[1], "any") == 0)
        measured_any(a, n);
    else
        return 2;
    printf("%ld pairs\n", n);
    return catmem_arena_release(a) == 0 ? 0 : 1;
}
