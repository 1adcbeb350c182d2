#!/usr/bin/env bash
# catmem.hpp with both compilers, not only the one Bazel's toolchain picks: a program that
# instantiates every template must compile warning-free with g++ and clang++ from C++11 (the
# allocator alone) to C++20 (with the pmr resources), and hpp_test.cc must build and pass when
# clang++ compiles it.
set -euo pipefail

src="${TEST_SRCDIR:-}/${TEST_WORKSPACE:-}"
[[ -f "${src}/catmem.hpp" ]] || src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/hpp.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

cat >"${work}/use.cc" <<'EOF'
#include "catmem.hpp"
#include <map>
#include <string>
#include <vector>
#if CATMEM_HPP_PMR
#  include <unordered_map>
#endif
struct alignas(64) Line { char bytes[64]; };
int use(catmem_arena *a);
int use(catmem_arena *a) {
    std::vector<Line, catmem::allocator<Line>> lines{catmem::allocator<Line>(a)};
    lines.resize(3);
    std::map<int, int, std::less<int>, catmem::allocator<std::pair<const int, int>>> m{
        catmem::allocator<std::pair<const int, int>>(a)};
    m[1] = 2;
    std::basic_string<char, std::char_traits<char>, catmem::allocator<char>> s{
        catmem::allocator<char>(a)};
    s.assign(100, 'x');
    int n = static_cast<int>(lines.size() + m.size() + s.size());
#if CATMEM_HPP_PMR
    catmem::arena_resource ar(a);
    catmem::region_resource rr(a);
    std::pmr::unordered_map<int, std::pmr::string> um(&ar);
    um[1] = "value";
    std::pmr::vector<Line> pv(&rr);
    pv.resize(2);
    rr.release();
    n += static_cast<int>(um.size());
#endif
    return n;
}
EOF

fail=0
for cxx in g++ clang++; do
  for std in c++11 c++14 c++17 c++20; do
    # With C++17 and later the pmr part must be there: a typo in the guard would hide it.
    want_pmr=1
    [[ "${std}" == c++11 || "${std}" == c++14 ]] && want_pmr=0
    if "${cxx}" "-std=${std}" -Wall -Wextra -Wpedantic -Werror -I"${src}" -fsyntax-only \
        -DCATMEM_BACKEND_SYSTEM -DEXPECT_PMR="${want_pmr}" \
        -include "${work}/use.cc" -x c++ - <<<'static_assert(CATMEM_HPP_PMR == EXPECT_PMR, "pmr");'
    then
      echo "ok: ${cxx} -std=${std}"
    else
      echo "FAIL: ${cxx} -std=${std}" >&2
      fail=1
    fi
  done
done

# The whole test, compiled by clang++ and run on the system backend.
printf '#define CATMEM_IMPLEMENTATION\n#include "catmem.h"\n' >"${work}/impl.c"
if clang++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -I"${src}" -I"${src}/tests" \
    -DCATMEM_BACKEND_SYSTEM -DCATMEM_TEST_PRELOAD=0 "${src}/tests/hpp_test.cc" \
    -x c++ "${work}/impl.c" -o "${work}/hpp_test" -lcmocka -ldl -lpthread &&
    "${work}/hpp_test"; then
  echo "ok: hpp_test built by clang++ passes"
else
  echo "FAIL: hpp_test built by clang++" >&2
  fail=1
fi
exit "${fail}"
