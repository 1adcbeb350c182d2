/* A module that uses jemalloc's API directly, as a Python extension or a server plugin built on
   catmem's jemalloc backend does, for static_tls_test.sh.

   Built against Debian's jemalloc (cc -fPIC -shared module.c -ljemalloc -pthread) it depends on
   libjemalloc.so.2, which uses initial-exec TLS: dlopen of this module fails unless the process
   already has jemalloc or glibc keeps enough static TLS in reserve.

   Built with -DJEMALLOC_MANGLE against the private prefixed jemalloc of
   tools/build_prefixed_jemalloc.sh (-I<prefix>/include <prefix>/lib/libjemalloc_pic.a), the
   same calls go to je_mallctl, je_mallocx, ... of a copy that lives inside the module, uses no
   initial-exec TLS and exports nothing. */
#include <pthread.h>
#include <stdio.h>
#include <jemalloc/jemalloc.h>

#ifdef JEMALLOC_MANGLE
#  define MODULE_JEMALLOC "private je_ jemalloc"
#else
#  define MODULE_JEMALLOC "shared jemalloc"
#endif

/* Allocation touches jemalloc's thread-local state: do it in a thread the module starts too,
   whose TLS block is set up after the module was loaded. */
static void *in_thread(void *arg) {
  void *p = mallocx(1000, 0);
  (void)arg;
  if (p == NULL) return NULL;
  dallocx(p, 0);
  return p; /* only compared with NULL, never used */
}

/* Writes a one-line report into out; returns 0 when mallctl, mallocx/dallocx and a thread work. */
__attribute__((visibility("default"))) int dlopen_module_probe(char *out, size_t outlen) {
  const char *version = NULL;
  size_t len = sizeof(version);
  pthread_t thread;
  void *p, *thread_result = NULL;
  size_t usable;

  if (mallctl("version", (void *)&version, &len, NULL, 0) != 0) {
    snprintf(out, outlen, "mallctl(\"version\") failed");
    return 1;
  }
  p = mallocx(100, 0);
  if (p == NULL) {
    snprintf(out, outlen, "mallocx failed");
    return 1;
  }
  usable = sallocx(p, 0);
  dallocx(p, 0);
  if (pthread_create(&thread, NULL, in_thread, NULL) != 0 ||
      pthread_join(thread, &thread_result) != 0 || thread_result == NULL) {
    snprintf(out, outlen, "allocation in a new thread failed");
    return 1;
  }
  snprintf(out, outlen, "%s %s: mallctl ok, mallocx(100) usable %zu, new thread ok",
           MODULE_JEMALLOC, version, usable);
  return 0;
}
