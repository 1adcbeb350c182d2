// catmem.hpp: the standard allocator and the pmr resources, on every backend variant.
#include "catmem.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <setjmp.h>
#include <stdarg.h>
extern "C" { // Debian's cmocka.h has no C++ guard of its own
#include <cmocka.h>
}

#include "testing.h"

namespace {

template <class T> using alloc = catmem::allocator<T>;
using astring = std::basic_string<char, std::char_traits<char>, alloc<char>>;

// Compile-time promises of a stateful allocator.
using traits = std::allocator_traits<alloc<int>>;
static_assert(traits::propagate_on_container_copy_assignment::value, "copy assignment");
static_assert(traits::propagate_on_container_move_assignment::value, "move assignment");
static_assert(traits::propagate_on_container_swap::value, "swap");
static_assert(!traits::is_always_equal::value, "stateful");
static_assert(std::is_same<traits::rebind_alloc<double>, alloc<double>>::value, "rebind");
static_assert(!std::is_default_constructible<alloc<int>>::value, "no default arena");
static_assert(!std::is_copy_constructible<catmem::region_resource>::value, "region owned");
static_assert(!std::is_copy_assignable<catmem::region_resource>::value, "region owned");

struct alignas(64) Line {
    unsigned char bytes[64];
};

std::size_t allocated(catmem_arena *a) {
    catmem_stats st;
    assert_int_equal(catmem_arena_stats(a, &st), 0);
    return st.allocated;
}

int setup(void **state) {
    if (catmem_init() != 0) return -1;
    catmem_arena *a = catmem_arena_create("hpp");
    *state = a;
    return a != nullptr ? 0 : -1;
}

int teardown(void **state) {
    int err = catmem_arena_release(static_cast<catmem_arena *>(*state));
    catmem_shutdown();
    return err;
}

catmem_arena *arena_of(void **state) { return static_cast<catmem_arena *>(*state); }

void test_vector_map_and_string_allocate_from_the_arena(void **state) {
    catmem_arena *a = arena_of(state);
    std::size_t before = allocated(a);
    {
        std::vector<std::uint64_t, alloc<std::uint64_t>> v{alloc<std::uint64_t>(a)};
        for (std::uint64_t i = 0; i < 1000; i++) v.push_back(i);
        assert_true(catmem_arena_owns(a, v.data()));
        assert_true(allocated(a) >= before + 1000 * sizeof(std::uint64_t));

        std::map<int, astring, std::less<int>, alloc<std::pair<const int, astring>>> m{
            alloc<std::pair<const int, astring>>(a)};
        for (int i = 0; i < 100; i++) {
            // Longer than any small-string buffer, so the characters live in the arena too.
            m.emplace(i, astring(64, static_cast<char>('a' + i % 26), alloc<char>(a)));
        }
        assert_int_equal(m.size(), 100);
        assert_true(m.at(3).get_allocator() == alloc<char>(a));
        assert_true(catmem_arena_owns(a, m.at(3).data()));
        assert_int_equal(m.at(27)[0], 'b');

        astring s{alloc<char>(a)};
        for (int i = 0; i < 500; i++) s += "catmem ";
        assert_true(catmem_arena_owns(a, s.data()));
        // Not s.substr(): until C++23 the standard builds its result with a default-constructed
        // allocator, which this one does not have. The allocator-extended form says which.
        astring sub(s, 7, 100, s.get_allocator());
        assert_true(sub.get_allocator() == s.get_allocator());
        assert_true(catmem_arena_owns(a, sub.data()));
    }
    // Every container gave its memory back through the allocator.
    assert_int_equal(allocated(a), before);
}

void test_equality_and_propagation(void **state) {
    catmem_arena *a = arena_of(state), *b = catmem_arena_create("hpp-other");
    assert_non_null(b);
    {
        alloc<int> ia(a), ib(b);
        alloc<double> da(ia); // rebind through the converting constructor
        assert_true(ia == da && da == ia);
        assert_true(ia != ib && !(ia == ib));
        assert_ptr_equal(da.arena(), a);

        using vec = std::vector<int, alloc<int>>;
        vec va({1, 2, 3, 4, 5}, ia), vb({9}, ib);
        vb = va; // copy assignment: vb now allocates from a, as va does
        assert_true(vb.get_allocator() == ia);
        assert_true(catmem_arena_owns(a, vb.data()));
        assert_int_equal(vb[4], 5);

        vec vc({7, 8}, ib);
        vc = std::move(va); // move assignment takes va's allocator and its buffer
        assert_true(vc.get_allocator() == ia);
        assert_true(catmem_arena_owns(a, vc.data()));

        vec vd({1}, ib);
        const int *d_data = vd.data();
        vd.swap(vb); // swap exchanges the allocators with the buffers
        assert_true(vd.get_allocator() == ia && vb.get_allocator() == ib);
        assert_ptr_equal(vb.data(), d_data);
        assert_true(catmem_arena_owns(b, vb.data()));
    }
    assert_int_equal(allocated(b), 0);
    assert_int_equal(catmem_arena_release(b), 0);
}

void test_absurd_sizes_throw(void **state) {
    catmem_arena *a = arena_of(state);
    alloc<char> ca(a);
    alloc<std::uint64_t> ua(a);
    // Volatile: constant sizes this large are refused at compile time (alloc_size warnings).
    volatile std::size_t too_big = static_cast<std::size_t>(PTRDIFF_MAX) + 1;
    volatile std::size_t overflows = SIZE_MAX / sizeof(std::uint64_t) + 1;

    bool threw = false;
    try {
        (void)ca.allocate(too_big); // catmem refuses sizes above CATMEM_SIZE_MAX
    } catch (const std::bad_array_new_length &) {
        fail_msg("a size that does not overflow is not bad_array_new_length");
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    assert_true(threw);

    threw = false;
    try {
        (void)ua.allocate(overflows); // n * sizeof(T) wraps around
    } catch (const std::bad_array_new_length &) {
        threw = true;
    }
    assert_true(threw);

    // Containers stop at max_size() first, with the standard's length_error.
    assert_int_equal(ua.max_size(), CATMEM_SIZE_MAX / sizeof(std::uint64_t));
    std::vector<std::uint64_t, alloc<std::uint64_t>> v{ua};
    threw = false;
    try {
        v.reserve(overflows);
    } catch (const std::length_error &) {
        threw = true;
    }
    assert_true(threw);

    catmem::arena_resource ar(a);
    threw = false;
    try {
        (void)ar.allocate(too_big, 8);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    assert_true(threw);

    catmem::region_resource rr(a);
    threw = false;
    try {
        (void)rr.allocate(too_big, 8);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    assert_true(threw);
    assert_int_equal(allocated(a), 0);
}

void test_over_aligned_types(void **state) {
    catmem_arena *a = arena_of(state);
    {
        std::vector<Line, alloc<Line>> v{alloc<Line>(a)};
        for (int i = 0; i < 200; i++) { // every reallocation along the way is aligned
            v.emplace_back();
            assert_int_equal(reinterpret_cast<std::uintptr_t>(v.data()) % alignof(Line), 0);
        }
        alloc<Line> la(a);
        Line *one = la.allocate(1);
        assert_int_equal(reinterpret_cast<std::uintptr_t>(one) % 64, 0);
        la.deallocate(one, 1); // catmem_free, not catmem_free_sized: an aligned block
        Line *none = la.allocate(0);
        la.deallocate(none, 0);

        catmem::arena_resource ar(a);
        for (std::size_t align = 1; align <= 4096; align *= 2) {
            for (std::size_t bytes : {std::size_t(1), std::size_t(24), std::size_t(5000)}) {
                void *p = ar.allocate(bytes, align);
                assert_int_equal(reinterpret_cast<std::uintptr_t>(p) % align, 0);
                ar.deallocate(p, bytes, align);
            }
        }
        catmem::region_resource rr(a);
        for (std::size_t align = 1; align <= 4096; align *= 2) {
            void *p = rr.allocate(40, align);
            assert_int_equal(reinterpret_cast<std::uintptr_t>(p) % align, 0);
        }
        std::pmr::vector<Line> pv(&rr);
        pv.resize(33);
        assert_int_equal(reinterpret_cast<std::uintptr_t>(pv.data()) % alignof(Line), 0);
    }
    // Each block went back the way it came (sized or not): nothing left over.
    assert_int_equal(allocated(a), 0);
}

void test_pmr_containers_on_an_arena(void **state) {
    catmem_arena *a = arena_of(state);
    catmem_arena *b = catmem_arena_create("hpp-pmr");
    assert_non_null(b);
    catmem::arena_resource res(a), same(a), res_b(b);
    assert_true(res.is_equal(res) && res.is_equal(same) && same.is_equal(res));
    assert_false(res.is_equal(res_b));
    assert_false(res.is_equal(*std::pmr::new_delete_resource()));
    {
        std::pmr::vector<int> v(&res);
        for (int i = 0; i < 1000; i++) v.push_back(i);
        assert_true(catmem_arena_owns(a, v.data()));

        std::pmr::unordered_map<int, std::pmr::string> m(&res);
        for (int i = 0; i < 200; i++) m.emplace(i, std::pmr::string(100, 'x'));
        // The map hands its resource down to the strings it holds.
        assert_ptr_equal(m.at(150).get_allocator().resource(), &res);
        assert_true(catmem_arena_owns(a, m.at(150).data()));

        std::pmr::string s("a string well past any small-string buffer, in the arena", &res);
        assert_true(catmem_arena_owns(a, s.data()));
        // Equal resources: moving between them keeps the buffer instead of copying it.
        const char *buffer = s.data();
        std::pmr::string t(std::move(s), &same);
        assert_ptr_equal(t.data(), buffer);
        assert_true(allocated(a) > 1000 * sizeof(int) + 200 * 100);
        assert_int_equal(allocated(b), 0);
    }
    assert_int_equal(allocated(a), 0);
    assert_int_equal(catmem_arena_release(b), 0);
}

void test_region_resource_is_monotonic_and_release_reuses(void **state) {
    catmem_arena *a = arena_of(state);
    {
        catmem::region_resource rr(a);
        assert_true(rr.is_equal(rr));
        catmem::region_resource other(a);
        assert_false(rr.is_equal(other));

        void *p = rr.allocate(48, 16);
        std::size_t held = allocated(a);
        assert_true(held >= 48);
        rr.deallocate(p, 48, 16); // does nothing: the bytes stay taken until release()
        void *q = rr.allocate(48, 16);
        assert_ptr_not_equal(p, q);
        assert_int_equal(allocated(a), held);

        rr.release(); // the region keeps its warm chunk and starts over at its beginning
        void *r = rr.allocate(48, 16);
        assert_ptr_equal(r, p);

        // A request loop: after the first cycles, the arena sees no more allocations.
        std::size_t steady = 0;
        for (int cycle = 0; cycle < 100; cycle++) {
            {
                std::pmr::vector<std::pmr::string> headers(&rr);
                for (int i = 0; i < 50; i++)
                    headers.emplace_back("X-Header-" + std::to_string(i) + ": some value here");
                std::pmr::unordered_map<int, int> params(&rr);
                for (int i = 0; i < 100; i++) params[i] = i;
                assert_int_equal(params.at(99), 99);
            }
            rr.release();
            if (cycle == 2) steady = allocated(a);
            if (cycle > 2) assert_int_equal(allocated(a), steady);
        }
        assert_true(steady > 0);
    }
    // The destructor released the region's chunks.
    assert_int_equal(allocated(a), 0);
}

void test_arena_reset_after_containers_die(void **state) {
    catmem_arena *a = arena_of(state);
    for (int round = 0; round < 3; round++) {
        {
            std::vector<astring, alloc<astring>> v{alloc<astring>(a)};
            for (int i = 0; i < 100; i++)
                v.emplace_back(40, 'r', alloc<char>(a));
            catmem::region_resource rr(a);
            std::pmr::vector<int> pv(&rr);
            pv.assign(1000, round);
            assert_true(allocated(a) > 0);
        }
        // Nothing uses the arena any more: a reset is allowed, and it works again at once.
        assert_int_equal(catmem_arena_reset(a), 0);
        assert_int_equal(allocated(a), 0);
    }
    // A block left behind on purpose (as a leaky container would) is gone after a reset.
    alloc<std::uint64_t> ua(a);
    std::uint64_t *leaked = ua.allocate(1000);
    leaked[999] = 1;
    assert_true(allocated(a) >= 8000);
    assert_int_equal(catmem_arena_reset(a), 0);
    assert_int_equal(allocated(a), 0);
}

void test_region_resource_needs_a_live_arena(void **) {
    bool threw = false;
    try {
        catmem::region_resource rr(nullptr);
    } catch (const std::system_error &e) {
        threw = e.code().value() == EINVAL;
    }
    assert_true(threw);
}

} // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vector_map_and_string_allocate_from_the_arena, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_equality_and_propagation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absurd_sizes_throw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_over_aligned_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pmr_containers_on_an_arena, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_resource_is_monotonic_and_release_reuses,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_reset_after_containers_die, setup, teardown),
        cmocka_unit_test(test_region_resource_needs_a_live_arena),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
