/* What catmem_malloc.c gives catmem_new.cc: C++'s operators go through the same arena, the same
   rounding and the same boot blocks as malloc. Hidden: not part of any library's interface. */
#ifndef CATMEM_MALLOC_H
#define CATMEM_MALLOC_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* A block of n bytes aligned to align (0 or up to 16: malloc's own), or NULL with errno. */
void *catmemi_mx_new(size_t n, size_t align);
void catmemi_mx_free(void *p);
void catmemi_mx_free_sized(void *p, size_t n); /* n: what catmemi_mx_new was given */
#ifdef __cplusplus
}
#endif
#endif
