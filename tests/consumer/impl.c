/* catmem's implementation, compiled once per program: what a user of the header-only install
   (pkg-config, Meson, plain cc) writes in one file. */
#define CATMEM_IMPLEMENTATION
#include <catmem.h>
