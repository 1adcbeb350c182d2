/* Two jemallocs in one process, for static_tls_test.sh: the private je_-prefixed copy built by
   tools/build_prefixed_jemalloc.sh (linked statically: <prefix>/lib/libjemalloc_pic.a) and
   Debian's libjemalloc.so.2 (-ljemalloc), which serves malloc/free in this program.

     coexist [SYSTEM_NARENAS PRIVATE_NARENAS]

   Checks that each copy answers for its own pointers and that each heap grows only with its
   own allocations; with arguments, also that opt.narenas of each copy is the one given (set
   through MALLOC_CONF and JE_MALLOC_CONF). Prints what it saw; exit status 0 when all holds.
   Never hands a pointer of one copy to the other: that is undefined (arenas.lookup on a foreign
   pointer can crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jemalloc/jemalloc.h> /* the prefixed header (-I<prefix>/include): je_* only */

/* Debian's jemalloc. Its header has the same include guard (JEMALLOC_H_) as the prefixed one,
   so the two cannot be included together: declare the two functions used here. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
size_t malloc_usable_size(void *ptr);

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);

/* Through volatile pointers: compilers may drop a malloc/free pair whose memory is never used
   (clang does), and this program must really allocate. */
static void *(*volatile sys_malloc)(size_t) = malloc;
static void (*volatile sys_free)(void *) = free;

static int failures;

static void check(int ok, const char *what) {
  printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) failures++;
}

static const char *version_of(mallctl_fn *ctl) {
  const char *v = NULL;
  size_t len = sizeof(v);
  return ctl("version", (void *)&v, &len, NULL, 0) == 0 ? v : "?";
}

static unsigned narenas_opt(mallctl_fn *ctl) {
  unsigned n = 0;
  size_t len = sizeof(n);
  return ctl("opt.narenas", &n, &len, NULL, 0) == 0 ? n : 0;
}

/* stats.allocated, refreshed. */
static size_t allocated(mallctl_fn *ctl) {
  uint64_t epoch = 1;
  size_t len = sizeof(epoch), value = 0;
  if (ctl("epoch", &epoch, &len, &epoch, sizeof(epoch)) != 0) return 0;
  len = sizeof(value);
  return ctl("stats.allocated", &value, &len, NULL, 0) == 0 ? value : 0;
}

static int owns(mallctl_fn *ctl, void *p) { /* arenas.lookup: only ever on the copy's own pointers */
  unsigned arena = 0;
  size_t len = sizeof(arena);
  return ctl("arenas.lookup", &arena, &len, &p, sizeof(p)) == 0;
}

int main(int argc, char **argv) {
  const size_t big = (size_t)64 << 20, slack = (size_t)1 << 20;
  size_t je0, sys0, je1, sys1, je2, sys2;
  void *pj, *ps, *big_je, *big_sys;
  char line[200];

  printf("private: je_mallctl(\"version\") = %s\n", version_of(je_mallctl));
  printf("system:  mallctl(\"version\")    = %s\n", version_of(mallctl));
  check(strncmp(version_of(je_mallctl), "5.3.0-", 6) == 0, "the private copy is jemalloc 5.3.0");
  check(strncmp(version_of(mallctl), "5.", 2) == 0, "the system's jemalloc answers mallctl");

  pj = je_mallocx(100, 0);
  ps = sys_malloc(100);
  check(pj != NULL && ps != NULL, "je_mallocx(100) and malloc(100)");
  check(owns(je_mallctl, pj), "je_mallctl(\"arenas.lookup\") finds the je_mallocx block");
  check(owns(mallctl, ps), "mallctl(\"arenas.lookup\") finds the malloc block");
  check(je_sallocx(pj, 0) >= 100 && je_malloc_usable_size(pj) >= 100,
        "je_sallocx/je_malloc_usable_size size the je_mallocx block");
  check(malloc_usable_size(ps) >= 100, "malloc_usable_size sizes the malloc block");

  /* Each heap grows with its own allocations only. */
  je0 = allocated(je_mallctl);
  sys0 = allocated(mallctl);
  big_je = je_mallocx(big, 0);
  je1 = allocated(je_mallctl);
  sys1 = allocated(mallctl);
  big_sys = sys_malloc(big);
  je2 = allocated(je_mallctl);
  sys2 = allocated(mallctl);
  printf("stats.allocated  private: %zu -> %zu -> %zu   system: %zu -> %zu -> %zu\n", je0, je1,
         je2, sys0, sys1, sys2);
  check(big_je != NULL && big_sys != NULL, "64 MiB from each");
  check(je1 >= je0 + big && sys1 < sys0 + slack, "je_mallocx(64 MiB) grows the private heap only");
  check(sys2 >= sys1 + big && je2 < je1 + slack, "malloc(64 MiB) grows the system heap only");

  /* Each block goes back to the copy that made it. */
  je_dallocx(big_je, 0);
  sys_free(big_sys);
  je_dallocx(pj, 0);
  sys_free(ps);
  check(allocated(je_mallctl) < je0 + slack && allocated(mallctl) < sys2 - big + slack,
        "je_dallocx and free give the blocks back to their own heaps");

  if (argc == 3) {
    unsigned want_sys = (unsigned)strtoul(argv[1], NULL, 10);
    unsigned want_je = (unsigned)strtoul(argv[2], NULL, 10);
    snprintf(line, sizeof(line),
             "opt.narenas: system %u (want %u, MALLOC_CONF), private %u (want %u, JE_MALLOC_CONF)",
             narenas_opt(mallctl), want_sys, narenas_opt(je_mallctl), want_je);
    check(narenas_opt(mallctl) == want_sys && narenas_opt(je_mallctl) == want_je, line);
  }
  printf("%s\n", failures ? "coexist: FAILED" : "coexist: both heaps work independently");
  return failures ? 1 : 0;
}
