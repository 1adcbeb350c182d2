/* A program that uses catmem, built by the consumer projects of tools/check_cmake.sh. It prints
   the backend it got, which the script checks. */
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
