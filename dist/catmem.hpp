/* catmem.hpp, as installed in <prefix>/include: see catmem.h beside it. */
#include "catmem/catmem.hpp"
