/* catmem's implementation for attacks_jemalloc_strict (bench/BUILD.bazel): the attacks at
   CATMEM_SECURE 2, a level every file must share, so the program compiles catmem itself. */
#define CATMEM_IMPLEMENTATION
#include "catmem.h"
