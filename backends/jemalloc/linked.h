/* catmem's jemalloc engine, bound to a jemalloc linked into the program
   (CATMEM_BACKEND_JEMALLOC). Included once, by backends/inline.h.

   The engine calls jemalloc only as CATMEMI_JE(name): here that is the function itself, under
   the prefix of the jemalloc in use (CATMEM_JEMALLOC_PREFIX). The runtime backend defines
   CATMEMI_JE instead to call through the pointers it found (backends/runtime/bind.h). */
#ifndef CATMEMI_INLINE_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

#include <jemalloc/jemalloc.h>

#define CATMEMI_CAT2(a, b) a##b
#define CATMEMI_CAT(a, b)  CATMEMI_CAT2(a, b)
#define CATMEMI_JE(name)   CATMEMI_CAT(CATMEM_JEMALLOC_PREFIX, name)
