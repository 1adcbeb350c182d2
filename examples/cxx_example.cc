// catmem from C++: standard containers in an arena, and per-request pmr containers in a region.
//
//   ./tools/bazel run //examples:cxx_example
//
// By hand (one file, so it compiles the implementation itself):
//   g++ -std=c++17 -I. -DCATMEM_IMPLEMENTATION examples/cxx_example.cc -o cxx_example -ljemalloc -lpthread
#include "catmem.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

template <class T> using in_arena = catmem::allocator<T>;
using arena_string = std::basic_string<char, std::char_traits<char>, in_arena<char>>;

std::size_t allocated(catmem_arena *a) {
    catmem_stats st;
    return catmem_arena_stats(a, &st) == 0 ? st.allocated : 0;
}

// One request: everything it builds lives in the region, and nothing is freed one by one.
std::size_t handle_request(catmem::region_resource &request, int id) {
    std::pmr::vector<std::pmr::string> headers(&request);
    std::pmr::map<std::pmr::string, std::pmr::string> query(&request);
    for (int i = 0; i < 20; i++) {
        headers.emplace_back("X-Request-" + std::to_string(id) + "-Header-" + std::to_string(i));
        query.emplace("parameter_" + std::to_string(i), "a value long enough to need memory");
    }
    return headers.size() + query.size();
}

} // namespace

int main() {
    if (catmem_init() != 0) return EXIT_FAILURE;
    std::printf("catmem backend: %s\n", catmem_backend_name());

    // Long-lived data with a standard allocator: a session table in an arena of its own.
    catmem_arena *sessions = catmem_arena_create("sessions");
    if (sessions == nullptr) return EXIT_FAILURE;
    {
        using table = std::map<int, arena_string, std::less<int>,
                               in_arena<std::pair<const int, arena_string>>>;
        table by_id{in_arena<std::pair<const int, arena_string>>(sessions)};
        for (int id = 0; id < 100; id++)
            by_id.emplace(id, arena_string("user session data, longer than a small string",
                                           in_arena<char>(sessions)));
        std::printf("sessions: %zu entries, %zu bytes in arena \"%s\"\n", by_id.size(),
                    allocated(sessions), catmem_arena_name(sessions));
    } // the map gave everything back through its allocator
    std::printf("sessions after the map: %zu bytes\n", allocated(sessions));

    // Per-request memory: a region on the request arena, reset when each request ends. After
    // the first requests it keeps one warm chunk, and the arena is not called at all.
    catmem_arena *req = catmem_arena_get(CATMEM_REQUEST);
    {
        catmem::region_resource request(req);
        for (int id = 0; id < 1000; id++) {
            std::size_t items = handle_request(request, id);
            if (id % 250 == 0 || id == 999)
                std::printf("request %d: %zu items, request arena holds %zu bytes\n", id, items,
                            allocated(req));
            request.release(); // the containers are gone; their memory is reused next time
        }
    } // the region's chunks go back to the arena
    std::printf("request arena after the loop: %zu bytes\n", allocated(req));

    catmem_arena_release(sessions);
    catmem_shutdown();
    return EXIT_SUCCESS;
}
