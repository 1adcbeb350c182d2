// C++'s operator new and delete on catmem's malloc (catmem_malloc.c): every form the standard
// replaces (C++17), sized deletes through catmem's sized free. Built into the same libraries.
#include <cstddef>
#include <new>

#include "catmem_malloc.h"

#define CATMEMI_MX_EXPORT __attribute__((visibility("default")))

namespace {

// The standard's loop: on failure the new-handler runs (it may make room, or throw) and the
// allocation is tried again; without one, std::bad_alloc.
__attribute__((noinline)) void *new_slow(std::size_t n, std::size_t align) {
    for (;;) {
        void *p = catmemi_mx_new(n, align);
        if (p != nullptr) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) throw std::bad_alloc();
        handler();
    }
}

inline void *new_block(std::size_t n, std::size_t align) {
    void *p = catmemi_mx_new(n, align);
    return __builtin_expect(p != nullptr, 1) ? p : new_slow(n, align);
}

// The nothrow forms call the throwing ones, as the standard specifies.
inline void *new_nothrow(std::size_t n, std::size_t align) noexcept {
    try {
        return new_block(n, align);
    } catch (const std::bad_alloc &) {
        return nullptr;
    }
}

inline std::size_t align_of(std::align_val_t a) {
    return static_cast<std::size_t>(a);
}

} // namespace

CATMEMI_MX_EXPORT void *operator new(std::size_t n) {
    return new_block(n, 0);
}
CATMEMI_MX_EXPORT void *operator new[](std::size_t n) {
    return new_block(n, 0);
}
CATMEMI_MX_EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
    return new_nothrow(n, 0);
}
CATMEMI_MX_EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
    return new_nothrow(n, 0);
}
CATMEMI_MX_EXPORT void *operator new(std::size_t n, std::align_val_t a) {
    return new_block(n, align_of(a));
}
CATMEMI_MX_EXPORT void *operator new[](std::size_t n, std::align_val_t a) {
    return new_block(n, align_of(a));
}
CATMEMI_MX_EXPORT void *operator new(std::size_t n, std::align_val_t a,
                                     const std::nothrow_t &) noexcept {
    return new_nothrow(n, align_of(a));
}
CATMEMI_MX_EXPORT void *operator new[](std::size_t n, std::align_val_t a,
                                       const std::nothrow_t &) noexcept {
    return new_nothrow(n, align_of(a));
}

CATMEMI_MX_EXPORT void operator delete(void *p) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete[](void *p) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete(void *p, std::size_t n) noexcept {
    catmemi_mx_free_sized(p, n);
}
CATMEMI_MX_EXPORT void operator delete[](void *p, std::size_t n) noexcept {
    catmemi_mx_free_sized(p, n);
}
// Aligned blocks are freed unsized: catmem's sized free is for blocks of the plain alignment.
CATMEMI_MX_EXPORT void operator delete(void *p, std::align_val_t) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete[](void *p, std::align_val_t) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete(void *p, std::size_t, std::align_val_t) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete[](void *p, std::size_t, std::align_val_t) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept {
    catmemi_mx_free(p);
}
CATMEMI_MX_EXPORT void operator delete[](void *p, std::align_val_t,
                                         const std::nothrow_t &) noexcept {
    catmemi_mx_free(p);
}
