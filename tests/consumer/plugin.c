/* A shared module on catmem (catmem::runtime): links only if the library is PIC. */
#include <catmem.h>

const char *plugin_backend(void);
const char *plugin_backend(void) {
    return catmem_init() == 0 && catmem_alloc(catmem_arena_get(CATMEM_TASK), 64) != NULL
               ? catmem_backend_name()
               : "failed";
}
