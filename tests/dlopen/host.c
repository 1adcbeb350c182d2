/* A host that does not link jemalloc and loads modules late, by path, with dlopen: what python3
   or a plugin host does. For static_tls_test.sh.

     host MODULE.so...            loads each module in turn and calls its dlopen_module_probe
     host --dlclose MODULE.so     calls the probe in a thread, dlcloses the module while that
                                  thread is alive, then lets the thread exit

   Prints one line per module: "loaded <path>: <probe report>" or "dlopen failed: <dlerror()>".
   Exit status: 0 all loaded and probed, 2 a dlopen failed, 1 another failure. With --dlclose, a
   module that carries its own jemalloc and can be unloaded crashes at the thread's exit: jemalloc's
   thread-exit destructor is still registered but its code is gone. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef int probe_fn(char *out, size_t outlen);

static probe_fn *probe;
static char report[256];
static int probe_result = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the thread has probed; 2: the module is closed, the thread may exit */

static void *probe_and_wait(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  probe_result = probe(report, sizeof(report));
  stage = 1;
  pthread_cond_broadcast(&cond);
  while (stage != 2) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  return NULL; /* the thread's TLS destructors run after this */
}

int main(int argc, char **argv) {
  int i, first = 1, close_it = 0;
  if (argc > 1 && strcmp(argv[1], "--dlclose") == 0) {
    close_it = 1;
    first = 2;
  }
  if (argc <= first) {
    fprintf(stderr, "usage: %s [--dlclose] MODULE.so...\n", argv[0]);
    return 1;
  }
  for (i = first; i < argc; i++) {
    void *handle = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
      printf("dlopen failed: %s\n", dlerror());
      return 2;
    }
    /* POSIX guarantees that dlsym's object pointer converts to a function pointer. */
    *(void **)(&probe) = dlsym(handle, "dlopen_module_probe");
    if (probe == NULL) {
      printf("no dlopen_module_probe in %s: %s\n", argv[i], dlerror());
      return 1;
    }
    if (!close_it) {
      probe_result = probe(report, sizeof(report));
    } else {
      pthread_t thread;
      stage = 0;
      if (pthread_create(&thread, NULL, probe_and_wait, NULL) != 0) return 1;
      pthread_mutex_lock(&lock);
      while (stage != 1) pthread_cond_wait(&cond, &lock);
      pthread_mutex_unlock(&lock);
      if (dlclose(handle) != 0) {
        printf("dlclose failed: %s\n", dlerror());
        return 1;
      }
      printf("dlclosed %s; the probing thread exits now\n", argv[i]);
      fflush(stdout);
      pthread_mutex_lock(&lock);
      stage = 2;
      pthread_cond_broadcast(&cond);
      pthread_mutex_unlock(&lock);
      pthread_join(thread, NULL);
    }
    if (probe_result != 0) {
      printf("probe failed in %s: %s\n", argv[i], report);
      return 1;
    }
    printf("loaded %s: %s\n", argv[i], report);
    /* Without --dlclose nothing is closed: process exit is the safe way to unload jemalloc. */
  }
  return 0;
}
