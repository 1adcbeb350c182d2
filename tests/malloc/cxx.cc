// C++'s operators on catmem's malloc: every form, the new-handler, bad_alloc, nothrow, aligned
// and sized deletes. argv[1] names the library operator new must come from.
#include <dlfcn.h>
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

void fail(const char *what) {
    std::fprintf(stderr, "cxx: %s\n", what);
    std::exit(1);
}

void *reserve;
int handler_calls;
void give_back() { // the new-handler: frees a reserve once, then gives up
    handler_calls++;
    std::free(reserve);
    reserve = nullptr;
    std::set_new_handler(nullptr);
}

struct alignas(256) Wide {
    char bytes[300];
};

struct Sized { // deleted through the sized operator delete
    char bytes[40];
};

} // namespace

int main(int argc, char **argv) {
    Dl_info info;
    void *(*plain_new)(std::size_t) = &::operator new;
    if (argc != 2) fail("usage: cxx LIBRARY-NAME");
    if (dladdr(reinterpret_cast<void *>(plain_new), &info) == 0 ||
        std::strstr(info.dli_fname, argv[1]) == nullptr)
        fail("operator new is not the library's");

    std::vector<std::unique_ptr<Sized>> v;
    for (int i = 0; i < 10000; i++) v.emplace_back(new Sized());
    v.clear();
    std::string s(100000, 'x');
    s += s;
    if (s.size() != 200000) fail("string");
    for (int i = 0; i < 1000; i++) {
        Wide *w = new Wide[3];
        if (reinterpret_cast<std::uintptr_t>(w) % alignof(Wide) != 0) fail("aligned new[]");
        delete[] w;
        Wide *one = new Wide;
        if (reinterpret_cast<std::uintptr_t>(one) % alignof(Wide) != 0) fail("aligned new");
        delete one;
        char *c = new char[1 + i % 20];
        if (malloc_usable_size(c) < static_cast<std::size_t>(1 + i % 20)) fail("usable size");
        delete[] c;
        void *p = ::operator new(i, std::align_val_t(4096));
        if (reinterpret_cast<std::uintptr_t>(p) % 4096 != 0) fail("align_val_t new");
        ::operator delete(p, i, std::align_val_t(4096));
    }

    volatile std::size_t huge_size = static_cast<std::size_t>(PTRDIFF_MAX) + 1;
    std::size_t huge = huge_size; // volatile: the compiler must not see the size
    if (::operator new(huge, std::nothrow) != nullptr) fail("nothrow new of a huge size");
    if (::operator new[](huge, std::align_val_t(64), std::nothrow) != nullptr)
        fail("nothrow aligned new[] of a huge size");
    bool threw = false;
    try {
        (void)::operator new(huge);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    if (!threw) fail("new of a huge size did not throw bad_alloc");
    // The handler runs on failure; once it returns, the allocation is tried again (and fails
    // again here, the size being impossible), and with no handler left, bad_alloc.
    reserve = std::malloc(1000);
    std::set_new_handler(give_back);
    threw = false;
    try {
        (void)::operator new(huge);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    if (!threw || handler_calls != 1 || reserve != nullptr) fail("the new-handler's loop");
    std::puts("cxx: ok");
    return 0;
}
