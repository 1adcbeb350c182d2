/* A program that uses catmem, built by the consumers of tools/check_cmake.sh,
   tools/check_installed.sh and tools/check_meson.sh. It prints the backend it got, which the
   scripts check. With CMake's targets it is the whole program; with pkg-config, Meson or plain
   cc, impl.c beside it compiles catmem's implementation. */
#include <catmem.h>

#include <stdio.h>

int main(void) {
    char *s;
    if (catmem_init() != 0) return 1;
    s = catmem_strdup(catmem_arena_get(CATMEM_REQUEST), "consumer");
    if (s == NULL) return 1;
    printf("%s: backend %s (%s)\n", s, catmem_backend_name(), catmem_backend_info());
    catmem_arena_reset(catmem_arena_get(CATMEM_REQUEST));
    catmem_shutdown();
    return 0;
}
