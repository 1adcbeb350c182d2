/* catmem's small size classes, shared by jemalloc's front caches and small arenas on every
   engine: jemalloc's own (lg_quantum 4, the x86-64 and arm64 default): 8, 16, 32, 48, 64, then
   four per doubling up to 14336. The jemalloc engine checks them against arenas.bin.<i>.size at
   the first init; on a jemalloc with other classes its front cache stays off. Included by
   backends/inline.h for the jemalloc engine's inline paths, and by core/small.h. */
#ifndef CATMEMI_CLASSES_H
#define CATMEMI_CLASSES_H
#ifndef CATMEMI_INLINE_H
#  error "catmem: include catmem.h, not catmem's internal files"
#endif

#define CATMEMI_NCLASS    36
#define CATMEMI_CLASS_MAX 14336

/* Small arenas (core/small.h) carve the classes up to this one from their chunks. */
#define CATMEMI_SM_TOP 16 /* 512 bytes */
#define CATMEMI_SM_MAX 512

/* Size class of sizes 1..1024, indexed by (size + 7) / 8: one load for 97% of typical sizes. */
static const unsigned char catmemi_class_tab[129] = {
    0,  0,  1,  2,  2,  3,  3,  4,  4,  5,  5,  6,  6,  7,  7,  8,  8,  9,  9,  9,  9,  10,
    10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14,
    14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17,
    17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19,
    19, 19, 19, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20};
static const uint16_t catmemi_class_size[CATMEMI_NCLASS] = {
    8,    16,   32,   48,   64,   80,   96,   112,  128,  160,   192,   224,
    256,  320,  384,  448,  512,  640,  768,  896,  1024, 1280,  1536,  1792,
    2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192, 10240, 12288, 14336};

/* The class of a size in 1..CATMEMI_CLASS_MAX. Above 1 KiB: (1 << lg, 2 << lg] holds four
   classes 1 << (lg - 2) apart, the 20 classes up to 1024 come first. */
static inline unsigned catmemi_class(size_t size) {
    unsigned lg;
    if (CATMEMI_LIKELY(size <= 1024)) return catmemi_class_tab[(size + 7) >> 3];
    lg = (unsigned)(8 * sizeof(unsigned long) - 1) -
         (unsigned)__builtin_clzl((unsigned long)size - 1);
    return 20 + (lg - 10) * 4 + (unsigned)((size - 1 - ((size_t)1 << lg)) >> (lg - 2)) + 1;
}

#endif /* CATMEMI_CLASSES_H */
