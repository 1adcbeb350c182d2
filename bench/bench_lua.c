/* bench_lua.c - a real client: the Lua 5.4 VM (Debian's liblua5.4) running an allocation-heavy
   script (tables, strings, closures, a sort and a concat), with its allocator (lua_Alloc) on
   catmem, on glibc and on jemalloc, in one process, interleaved.

   catmem: one arena per Lua state (created before lua_newstate, released after lua_close);
   growth and shrinking through catmem_realloc, frees sized with the old size Lua passes. glibc:
   __libc_malloc/__libc_realloc/__libc_free. jemalloc: mallocx/rallocx/sdallocx with no flags
   (jemalloc's automatic thread cache, i.e. its malloc). Built on catmem's jemalloc and system
   backends and on the runtime backend falling back. Reported: the median wall time of each
   peer and the median over repetitions of its ratio to glibc within the repetition. */
#define _GNU_SOURCE
#include "catmem.h"
#include "bench_common.h"
#include "bench_catmem.h"

#include <jemalloc/jemalloc.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__libc_realloc(void *p, size_t size);

static const char *script =
    "local rounds, n = ...\n"
    "local acc = 0\n"
    "for round = 1, rounds do\n"
    "  local objs = {}\n"
    "  for i = 1, n do\n"
    "    local s = 'k' .. i .. '_' .. round\n"
    "    objs[i] = {i, s, x = i * 2, y = {i, s}}\n"
    "    if i % 3 == 0 then objs[i - 1] = nil end\n"
    "    local f = function(a) return a + i end\n"
    "    acc = acc + f(#s)\n"
    "  end\n"
    "  local keys = {}\n"
    "  for _, v in pairs(objs) do keys[#keys + 1] = v.x end\n"
    "  table.sort(keys)\n"
    "  local parts = {}\n"
    "  for i = 1, 2000 do parts[#parts + 1] = tostring(keys[i]) end\n"
    "  acc = acc + #table.concat(parts, ',')\n"
    "end\n"
    "return acc\n";

static void *glibc_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        __libc_free(p);
        return NULL;
    }
    return __libc_realloc(p, nsize);
}

static void *je_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    (void)ud;
    if (nsize == 0) {
        if (p != NULL) sdallocx(p, osize, 0);
        return NULL;
    }
    return p == NULL ? mallocx(nsize, 0) : rallocx(p, nsize, 0);
}

static void *catmem_lua_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    catmem_arena *a = (catmem_arena *)ud;
    if (nsize == 0) {
        if (p != NULL) catmem_free_sized(a, p, osize);
        return NULL;
    }
    return p == NULL ? catmem_alloc(a, nsize) : catmem_realloc(a, p, nsize);
}

typedef struct lua_peer {
    const char *name;
    lua_Alloc fn;
    int catmem;
} lua_peer;

static int rounds = 4, n = 100000;

/* One run of the script in a new state; the result must be the same for every peer. */
static double run(const lua_peer *p, long long *result) {
    catmem_arena *a = NULL;
    uint64_t t0;
    lua_State *L;
    if (p->catmem && (a = catmem_arena_create("lua")) == NULL) exit(2);
    t0 = bench_now_ns();
    L = lua_newstate(p->fn, a);
    if (L == NULL) exit(2);
    luaL_openlibs(L);
    if (luaL_loadstring(L, script) != LUA_OK) exit(2);
    lua_pushinteger(L, rounds);
    lua_pushinteger(L, n);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        fprintf(stderr, "bench_lua: %s\n", lua_tostring(L, -1));
        exit(2);
    }
    *result = (long long)lua_tointeger(L, -1);
    lua_close(L);
    t0 = bench_now_ns() - t0;
    if (a != NULL && catmem_arena_release(a) != 0) exit(2);
    return (double)t0 / 1e6;
}

int main(int argc, char **argv) {
    static double ms[3][BENCH_MAX_REPS], ratio[3][BENCH_MAX_REPS];
    char catmem_name[64];
    lua_peer peers[3] = {
        {"glibc malloc/realloc/free", glibc_alloc, 0},
        {"jemalloc mallocx/rallocx/sdallocx", je_alloc, 0},
        {NULL, catmem_lua_alloc, 1},
    };
    const char *backend;
    long long want = 0, got;
    bench_opts o;
    int rep, i;
    bench_parse_args(argc, argv, &o, "the Lua 5.4 VM on each allocator");
    backend = bench_catmem_backend();
    bench_header("a real client: the Lua 5.4 VM", backend, &o);
    bench_peers_load(strcmp(backend, "jemalloc") == 0 ? "libjemalloc" : "libc");
    snprintf(catmem_name, sizeof catmem_name, "catmem arena (%s backend), sized frees", backend);
    peers[2].name = catmem_name;
    rounds = (int)(rounds * o.scale);
    if (rounds < 1) rounds = 1;
    (void)run(&peers[0], &want); /* warm-up, and the expected result */
    for (rep = 0; rep < o.reps; rep++)
        for (i = 0; i < 3; i++) { /* the order rotates per repetition */
            int k = (i + rep) % 3;
            ms[k][rep] = run(&peers[k], &got);
            if (got != want) {
                fprintf(stderr, "bench_lua: %s computed %lld, expected %lld\n", peers[k].name,
                        got, want);
                return 2;
            }
        }
    for (rep = 0; rep < o.reps; rep++)
        for (i = 0; i < 3; i++) ratio[i][rep] = ms[i][rep] / ms[0][rep];
    printf("\nScript: %d rounds of %d objects (a table with a string and a subtable each, a third "
           "dropped at once), a closure per object, a sort and a concat per round; a new state per "
           "run. Median of %d runs per peer; ratio: median of the per-repetition ratios to glibc.\n\n",
           rounds, n, o.reps);
    printf("| peer | ms (median) | vs glibc |\n|---|---|---|\n");
    for (i = 0; i < 3; i++)
        printf("| %s | %.0f | %.2fx |\n", peers[i].name, bench_median(ms[i], o.reps),
               bench_median(ratio[i], o.reps));
    return 0;
}
