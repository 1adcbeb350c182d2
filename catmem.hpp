/* catmem.hpp - catmem arenas and regions behind the C++ standard allocator interfaces.

   catmem::allocator<T>       a standard allocator that allocates from one catmem arena (C++11).
   catmem::arena_resource     a std::pmr::memory_resource over an arena (C++17).
   catmem::region_resource    a monotonic std::pmr::memory_resource over a region it owns: frees
                              nothing one by one, release() drops everything at once (C++17).

   Include it instead of catmem.h; configuration and linking are catmem.h's (its manual is the
   top of that file). Exactly one file still defines CATMEM_IMPLEMENTATION, or depend on
   @catmem//:catmem with Bazel.

       catmem_arena *a = catmem_arena_create("sessions");
       std::vector<int, catmem::allocator<int>> v{catmem::allocator<int>(a)};

       catmem::region_resource request{catmem_arena_get(CATMEM_REQUEST)};
       for (;;) {                                   // each request
           {
               std::pmr::vector<std::pmr::string> headers{&request};
               ...
           }                                        // nothing points into the region now
           request.release();                       // the whole request freed in one call
       }

   Errors follow the standard library, not catmem's errno convention: when catmem returns NULL
   (out of memory, a size above CATMEM_SIZE_MAX, a call after catmem_shutdown) allocation throws
   std::bad_alloc, and std::bad_array_new_length when n * sizeof(T) overflows.

   Lifetime rules are catmem's: resetting or releasing an arena while a container still holds
   memory from it leaves the container dangling. Destroy (or clear and shrink) the containers
   first, or reset only what no live container uses. A region_resource belongs to one thread at a
   time, like the region under it. */
#ifndef CATMEM_HPP
#define CATMEM_HPP

#include "catmem.h"

#include <cstddef>
#include <limits>
#include <new>
#include <type_traits>

#if __cplusplus >= 201703L && defined(__has_include)
#  if __has_include(<memory_resource>)
#    include <memory_resource>
#    include <system_error>
#    define CATMEM_HPP_PMR 1
#  endif
#endif
#ifndef CATMEM_HPP_PMR
#  define CATMEM_HPP_PMR 0
#endif

namespace catmem {

namespace detail {

// The alignment a plain catmem_alloc gives any block at least that large: malloc's guarantee,
// which both backends keep through their size classes (a class of 16 bytes or more is a
// multiple of 16, and blocks are laid out at multiples of their class). Stricter alignment, or a block smaller than its alignment, goes through
// catmem_aligned_alloc.
constexpr std::size_t plain_alignment = 2 * sizeof(void *);

constexpr bool needs_aligned(std::size_t bytes, std::size_t alignment) noexcept {
    return alignment > plain_alignment || bytes < alignment;
}

inline void *allocate(catmem_arena *a, std::size_t bytes, std::size_t alignment) {
    void *p = needs_aligned(bytes, alignment) ? catmem_aligned_alloc(a, alignment, bytes)
                                              : catmem_alloc(a, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

// The same decision as allocate(), from the same arguments: catmem_free_sized is faster, but
// the manual forbids it for blocks from catmem_aligned_alloc.
inline void deallocate(catmem_arena *a, void *p, std::size_t bytes,
                       std::size_t alignment) noexcept {
    if (needs_aligned(bytes, alignment))
        catmem_free(a, p);
    else
        catmem_free_sized(a, p, bytes);
}

} // namespace detail

// A standard allocator over a catmem arena. It holds the arena handle only: copies, and
// rebound copies, allocate from the same arena and compare equal. There is no default
// constructor, since no arena is a sensible default for everyone; so the few standard calls
// that default-construct an allocator do not compile with it (basic_string::substr before
// C++23: write basic_string(s, pos, n, s.get_allocator()) instead).
template <class T> class allocator {
public:
    using value_type = T;
    using size_type = std::size_t;
    using difference_type = std::ptrdiff_t;
    // Stateful: memory must always go back to the arena it came from, so the allocator travels
    // with the memory on copy assignment, move assignment and swap.
    using propagate_on_container_copy_assignment = std::true_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    explicit allocator(catmem_arena *arena) noexcept : arena_(arena) {}
    template <class U> allocator(const allocator<U> &other) noexcept : arena_(other.arena()) {}

    catmem_arena *arena() const noexcept { return arena_; }

    T *allocate(std::size_t n) {
        if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
            throw std::bad_array_new_length();
        return static_cast<T *>(detail::allocate(arena_, n * sizeof(T), alignof(T)));
    }

    void deallocate(T *p, std::size_t n) noexcept {
        detail::deallocate(arena_, p, n * sizeof(T), alignof(T));
    }

    // What catmem can hand out at all; containers check it before they allocate.
    std::size_t max_size() const noexcept { return CATMEM_SIZE_MAX / sizeof(T); }

private:
    catmem_arena *arena_;
};

template <class T, class U>
bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept {
    return a.arena() == b.arena();
}

template <class T, class U>
bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept {
    return a.arena() != b.arena();
}

#if CATMEM_HPP_PMR

// A memory resource over a catmem arena; it does not own the arena. Two resources over the same
// arena are interchangeable, so they compare equal (containers then move memory between them
// instead of copying).
class arena_resource : public std::pmr::memory_resource {
public:
    explicit arena_resource(catmem_arena *arena) noexcept : arena_(arena) {}

    catmem_arena *arena() const noexcept { return arena_; }

private:
    void *do_allocate(std::size_t bytes, std::size_t alignment) override {
        return detail::allocate(arena_, bytes, alignment);
    }

    void do_deallocate(void *p, std::size_t bytes, std::size_t alignment) override {
        detail::deallocate(arena_, p, bytes, alignment);
    }

    bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
        if (this == &other) return true;
        auto *that = dynamic_cast<const arena_resource *>(&other);
        return that != nullptr && that->arena_ == arena_;
    }

    catmem_arena *arena_;
};

// A monotonic memory resource over a catmem region that it owns: allocation is the region's
// pointer bump, deallocation does nothing, release() takes everything back at once (keeping one
// warm chunk, so a steady request loop stops calling into the arena). Not copyable: the region
// is one object that one thread uses.
class region_resource : public std::pmr::memory_resource {
public:
    // Throws std::system_error (EINVAL) for a NULL arena, as catmem_region_init reports it.
    explicit region_resource(catmem_arena *arena) {
        int err = catmem_region_init(&region_, arena);
        if (err != 0) throw std::system_error(err, std::generic_category(), "catmem_region_init");
    }
    ~region_resource() override { catmem_region_release(&region_); }

    region_resource(const region_resource &) = delete;
    region_resource &operator=(const region_resource &) = delete;

    // Everything allocated so far becomes invalid; the memory is reused by what comes next.
    void release() noexcept { catmem_region_reset(&region_); }

    // For catmem_region_save/_restore scopes and the region's own calls.
    catmem_region *region() noexcept { return &region_; }

private:
    void *do_allocate(std::size_t bytes, std::size_t alignment) override {
        void *p = alignment <= CATMEM_REGION_ALIGN
                      ? catmem_region_alloc(&region_, bytes)
                      : catmem_region_alloc_aligned(&region_, alignment, bytes);
        if (p == nullptr) throw std::bad_alloc();
        return p;
    }

    // Monotonic: single objects are never given back; release() or the destructor does it.
    void do_deallocate(void *, std::size_t, std::size_t) override {}

    bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override {
        return this == &other;
    }

    catmem_region region_;
};

#endif // CATMEM_HPP_PMR

} // namespace catmem

#endif // CATMEM_HPP
