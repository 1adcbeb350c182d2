/* catmem.h, as installed in <prefix>/include: not the header itself, which lives in
   <prefix>/include/catmem/ with the core/ and backends/ directories it includes by relative path.
   This file lets a program with no -I of its own write #include <catmem.h>. pkg-config, CMake and
   Meson put <prefix>/include/catmem on the include path, where the real catmem.h is found
   first. Installed by meson.build (the Debian package libcatmem-dev). */
#include "catmem/catmem.h"
