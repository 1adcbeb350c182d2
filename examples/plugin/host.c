/* A host program that does not link jemalloc and loads a plugin with dlopen, as an interpreter
   loads an extension. Usage: host ./libcatmem_plugin.so */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *(*backend)(void), *(*info)(void);
    int (*selftest)(void);
    void *sym[3];
    void *h;
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("load failed: %s\n", dlerror());
        return 1;
    }
    sym[0] = dlsym(h, "plugin_backend");
    sym[1] = dlsym(h, "plugin_backend_info");
    sym[2] = dlsym(h, "plugin_selftest");
    if (sym[0] == NULL || sym[1] == NULL || sym[2] == NULL) {
        printf("missing symbols: %s\n", dlerror());
        return 1;
    }
    memcpy(&backend, &sym[0], sizeof sym[0]); /* POSIX: dlsym results are function pointers */
    memcpy(&info, &sym[1], sizeof sym[1]);
    memcpy(&selftest, &sym[2], sizeof sym[2]);
    printf("loaded: backend %s (%s), selftest %d\n", backend(), info(), selftest());
    return 0;
}
