/* glibc under catmem's malloc library: on the system engine, whose segments and large blocks are
   glibc's, the library sets glibc to map blocks apart from 1 MiB (the segment size) and to keep
   16 MiB of its heap's top (malloc/catmem_malloc.c, catmemi_mx_tune_glibc), unless the user's
   tunables say otherwise; on jemalloc it leaves glibc alone. Prints where glibc put a block of
   512 KiB and one of 2 MiB ("mapped" apart, or "heap"), as mallinfo2's count of mapped chunks
   says; malloc_test.sh compares with what each setting must give. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

void *__libc_malloc(size_t n);
void __libc_free(void *p);

static const char *where(size_t n) {
    struct mallinfo2 before = mallinfo2(), after;
    void *p = __libc_malloc(n);
    after = mallinfo2();
    if (p == NULL) return "failed";
    __libc_free(p);
    return after.hblks > before.hblks ? "mapped" : "heap";
}

int main(void) {
    const char *small, *big;
    free(malloc(1)); /* the library starts, and tunes glibc, at its first call */
    /* The smaller first: glibc's own threshold rises to the size of a mapped block freed. */
    small = where((size_t)512 << 10);
    big = where((size_t)2 << 20);
    printf("512KiB %s\n2MiB %s\n", small, big);
    return 0;
}
