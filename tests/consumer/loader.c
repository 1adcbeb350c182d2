/* Loads plugin.so late with dlopen, as a host program would, and prints its backend. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    void *module = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    void *sym = module != NULL ? dlsym(module, "plugin_backend") : NULL;
    const char *(*fn)(void);
    if (sym == NULL) {
        fprintf(stderr, "loader: %s\n", dlerror());
        return 1;
    }
    memcpy(&fn, &sym, sizeof sym);
    printf("plugin: backend %s\n", fn());
    return 0;
}
