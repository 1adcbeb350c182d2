// catmem from C++: the header compiles as C++ and its functions link with C linkage.
#include "catmem.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <setjmp.h>
#include <stdarg.h>
extern "C" { // Debian's cmocka.h has no C++ guard of its own
#include <cmocka.h>
}

namespace {

// A minimal standard allocator on top of a catmem arena, as a C++ user would write one.
template <class T> struct ArenaAllocator {
    using value_type = T;
    catmem_arena *arena;
    explicit ArenaAllocator(catmem_arena *a) : arena(a) {}
    template <class U> ArenaAllocator(const ArenaAllocator<U> &o) : arena(o.arena) {}
    T *allocate(std::size_t n) {
        void *p = catmem_calloc(arena, n, sizeof(T));
        if (p == nullptr) throw std::bad_alloc();
        return static_cast<T *>(p);
    }
    void deallocate(T *p, std::size_t n) { catmem_free_sized(arena, p, n * sizeof(T)); }
    template <class U> bool operator==(const ArenaAllocator<U> &o) const {
        return arena == o.arena;
    }
    template <class U> bool operator!=(const ArenaAllocator<U> &o) const {
        return arena != o.arena;
    }
};

void test_vector_in_an_arena(void **) {
    assert_int_equal(catmem_init(), 0);
    catmem_arena *a = catmem_arena_create("cxx");
    assert_non_null(a);
    {
        std::vector<std::string, ArenaAllocator<std::string>> v{ArenaAllocator<std::string>(a)};
        for (int i = 0; i < 1000; i++) v.push_back(std::to_string(i));
        assert_string_equal(v[999].c_str(), "999");
        catmem_stats st;
        assert_int_equal(catmem_arena_stats(a, &st), 0);
        assert_true(st.allocated >= 1000 * sizeof(std::string));
    }
    catmem_stats st;
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    assert_int_equal(st.allocated, 0);
    errno = 0;
    volatile std::size_t bad_alignment = 3; // a constant would be refused at compile time
    assert_null(catmem_aligned_alloc(a, bad_alignment, 8));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(catmem_arena_release(a), 0);
    catmem_shutdown();
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vector_in_an_arena)};
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
