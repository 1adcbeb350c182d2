/* catmem: the implementation, compiled once: where the including file defines
   CATMEM_IMPLEMENTATION (the Bazel and CMake targets do it for you). This file is its table of
   contents: every file of the implementation, in the order it is compiled, and the one choice
   of the engine whose operations the core calls. */
#ifndef CATMEMI_IMPL_H
#define CATMEMI_IMPL_H

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
/* Hidden by strict ISO C modes (-std=c99 without _DEFAULT_SOURCE); its value on x86-64 and
   AArch64 Linux, the platforms the engines' address maps assume. */
#if !defined(MAP_ANONYMOUS)
#  define MAP_ANONYMOUS 0x20
#endif

#ifdef __cplusplus
extern "C" {
#endif

#include "contract.h"   /* the backend contract: slots, operations, the core's services, locks */
#include "accounting.h" /* byte accounting of arenas with a limit */
#include "small.h"      /* small arenas: blocks carved from chunks the engine shares */

#if defined(CATMEM_BACKEND_JEMALLOC) || defined(CATMEM_BACKEND_RUNTIME)
#  include "../backends/jemalloc/cache.h" /* front caches, busy pairs' jemalloc caches */
#  include "../backends/jemalloc/owners.h" /* the page map: a pointer's arena, no mallctl */
#  include "../backends/jemalloc/small.h" /* small arenas: blocks carved from shared chunks */
#  include "../backends/jemalloc/ops.h"   /* the operations, catmemi_je_table() */
#endif
#if defined(CATMEM_BACKEND_SYSTEM) || defined(CATMEM_BACKEND_RUNTIME)
#  include "../backends/system/pages.h" /* errors, size classes, the key, segments, pages */
#  include "../backends/system/large.h" /* the large-block table */
#  include "../backends/system/small.h" /* what small arenas get from the engine */
#  include "../backends/system/heap.h"  /* allocation and free, heaps and threads */
#  include "../backends/system/ops.h"   /* the operations, catmemi_sys_table() */
#endif
#if defined(CATMEM_BACKEND_RUNTIME)
#  include "../backends/runtime/select.h" /* jemalloc found in the process, or not */
#endif

/* The engine's operations, chosen once per process (core/registry.h calls this under
   pthread_once, before anything is allocated); info says what and why. */
static const catmemi_ops *catmemi_select(char *info, size_t size) {
#if defined(CATMEM_BACKEND_JEMALLOC)
    const char *v = catmemi_je_version();
    snprintf(info, size, "jemalloc %s (linked)", v != NULL ? v : "(not answering)");
    return catmemi_je_table();
#elif defined(CATMEM_BACKEND_SYSTEM)
    snprintf(info, size, "system malloc (compiled in)");
    return catmemi_sys_table();
#else
    return catmemi_rt_select(info, size);
#endif
}

#include "registry.h" /* arenas: init, create, find, reset, release, limits, statistics */
#include "alloc.h"    /* slow paths, out-of-memory handler, realloc, free_any, assertions */
#include "report.h"   /* catmem_report, CATMEM_REPORT, catmem_all_arenas_stats */
#include "region.h"   /* regions' slow paths */
#include "profile.h"  /* sampled heap profiles, catmem_profile_write, CATMEM_PROFILE */

#ifdef __cplusplus
}
#endif

#endif /* CATMEMI_IMPL_H */
