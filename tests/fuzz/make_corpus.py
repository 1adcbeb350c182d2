#!/usr/bin/env python3
"""Writes the seed corpus (corpus/) and the regression inputs (regressions/) of catmem_fuzz.c.

Each input is a list of operations, spelled here by name; the byte format is the one
catmem_fuzz.c decodes (an opcode byte, then the bytes of its arguments). Run it after changing
either file and commit what it writes:

    python3 tests/fuzz/make_corpus.py

The operations, in opcode order, are read from ops.def, the list catmem_fuzz.c is built from.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_ops(path):
    """The operation names of ops.def, in opcode order."""
    with open(path) as f:
        src = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
    entry = re.compile(r"CATMEM_FUZZ_OP\(\s*(\w+)\s*,\s*(\w+)\s*\)")
    # Anything else left over would be an entry the regex missed, and every opcode after it
    # would shift: refuse it rather than write a corpus the target reads differently.
    stray = entry.sub("", src).split()
    if stray:
        sys.exit(f"{path}: not an entry: {stray[0]!r}")
    names = [m.group(2) for m in entry.finditer(src)]
    if len(set(names)) != len(names):
        sys.exit(f"{path}: an operation name is listed twice")
    return names


OPS = read_ops(os.path.join(HERE, "ops.def"))
OP = {name: i for i, name in enumerate(OPS)}

# Arena selectors (pick_arena): built-ins by kind, user model slots, NULL, a released handle.
REQUEST, RESPONSE, CACHE, STATIC, TASK = 0, 1, 2, 3, 4
def USER(i): return 5 + i          # the model's user arena i (a built-in when not live)
NULL_ARENA = 14
RELEASED = 15                      # followed by one byte choosing among released handles

# What a cleanup does when it runs (the ACT_ bits in catmem_fuzz.c).
SELF_ALLOC, SELF_RESET, SELF_RELEASE, SELF_REGISTER, SELF_OTHER = 1, 2, 4, 8, 16
FREE, ELSEWHERE, KIN = 32, 64, 128
NO_FN = 7                          # arena_on_reset / region_on_reset mode: a NULL function
# arena_on_reset mode bits 3..5: more for the cleanup to do (ACT_REGIONS, ACT_NESTED...)
REGIONS, NESTED, NESTED_RELEASE = 1 << 3, 2 << 3, 4 << 3

# arena_set_limit modes (op_limit): the limit is 0 (none), SIZE_MAX, what the arena holds,
# just above it (+ 1 + x), just below it (- 1 - x), 1 + 64 x, held + a size, 2^(10 + x % 20).
LIM_NONE, LIM_MAX, LIM_HELD, LIM_ABOVE, LIM_BELOW, LIM_SMALL, LIM_PLUS_SIZE, LIM_POW2 = range(8)
# limit_exhaust mode bits: a realloc growing past the room, a second allocation after the free
# (refused), the old limit back at the end, a statistics check at the end.
EX_REALLOC, EX_AGAIN, EX_RESTORE, EX_STATS = 1, 2, 4, 8

SPECIAL = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129, 255, 256, 257,
           511, 512, 1023, 1024, 2000, 2032, 2047, 2048, 3583, 3584, 4064, 4080, 4095, 4096,
           4097, 8191, 8192, 8193, 14336, 16384, 16385, 28672, 32768, 32769, 57344, 65535, 65536]


def size(n):
    """The bytes pick_size() decodes to n."""
    if n < 64:
        return [n << 2]
    if n < 4096:
        return [((n // 64) << 2) | 1, n % 64]
    if n < 65536:
        return [((n >> 10) << 2) | 2, (n >> 2) & 0xFF, n & 3]
    return [(SPECIAL.index(n) << 2) | 3]


def op(name, *args):
    out = [OP[name]]
    for a in args:
        out.extend(a if isinstance(a, list) else [a])
    return out


def seq(*ops):
    return bytes(b for o in ops for b in o)


def text(s):
    return [len(s)] + list(s.encode())


# The seed corpus: small inputs that reach every operation.
CORPUS = {
    "allocations": seq(
        op("alloc", REQUEST, size(24)),
        op("alloc", RESPONSE, size(0)),
        op("alloc", CACHE, size(5000)),
        op("calloc", STATIC, 10, size(12)),
        op("aligned_alloc", TASK, 12, size(100)),      # 4096-aligned
        op("strdup", REQUEST, text("hello, catmem")),
        op("realloc", 0, 0, size(3000)),
        op("realloc", 1, 0, size(1)),
        op("free", 0, 0),
        op("free_sized", 1, 0),
        op("free", 0, 7),                               # catmem_free(NULL, p): EINVAL
        op("stats", REQUEST, 2),
        op("stats", REQUEST, 1),                        # total
    ),
    "owner": seq(                                       # the arena from the pointer
        op("arena_create", 0),                          # "u0"
        op("alloc", USER(0), size(24)),
        op("alloc", CACHE, size(5000)),
        op("realloc_any", 0, 0, size(3000)),            # stays in u0
        op("realloc_any", 1, 0, size(10)),              # stays in cache
        op("realloc_any", 0, 15, size(0)),              # past CATMEM_SIZE_MAX: ENOMEM, kept
        op("stats", USER(0), 2),
    ),
    "arenas": seq(
        op("arena_create", 0),                          # "u0"
        op("arena_create", 1),                          # "u1"
        op("arena_create", 0),                          # EEXIST
        op("arena_create", 8, CACHE),                   # "cache": EEXIST
        op("arena_create", 9),                          # the longest name
        op("alloc", USER(0), size(100)),
        op("alloc", USER(1), size(20000)),
        op("calloc", USER(1), 3, size(7)),
        op("stats", USER(0), 3),
        op("info", USER(1), 0),
        op("arena_purge", USER(1)),
        op("arena_reset", USER(0), 0),
        op("arena_release", USER(1), 0),
        op("alloc", RELEASED, 0, size(8)),              # released handle: EINVAL
        op("arena_get", 2),
        op("arena_get", 6),                             # kind -1: EINVAL
        op("arena_release", CACHE, 0),                  # built-in: EINVAL
        op("arena_create", 1),                          # "u1" again: reuses the slot
        op("alloc", USER(1), size(64)),
    ),
    "regions": seq(
        op("region_init", 0, REQUEST),
        op("region_alloc", 0, size(24)),
        op("region_alloc", 0, size(0)),
        op("region_save", 0),
        op("region_alloc", 0, size(3000)),              # a block of its own
        op("region_alloc_aligned", 0, 8, size(40)),     # 256-aligned
        op("region_save", 0),
        op("region_calloc", 0, 5, size(9)),
        op("region_strdup", 0, text("region string")),
        op("region_restore", 0, 0, 1),                  # the inner mark
        op("region_alloc", 0, size(6000)),
        op("region_restore", 0, 0, 0),                  # the outer mark
        op("region_alloc", 0, size(100)),
        op("region_reset", 0),
        op("region_restore", 0, 5, 0),                  # a dead mark
        op("region_alloc", 0, size(100)),
        op("region_init", 1, CACHE),
        op("region_alloc", 1, size(5000)),
        op("region_restore", 1, 6, 0),                  # another region's mark
        op("region_release", 1),
        op("region_release", 0),
    ),
    "arena_reset_with_regions": seq(
        op("arena_create", 0),
        op("region_init", 0, USER(0)),
        op("region_init", 1, USER(0)),
        op("region_alloc", 0, size(100)),
        op("region_alloc", 1, size(100)),
        op("alloc", USER(0), size(50)),
        op("alloc", REQUEST, size(50)),
        op("arena_reset", USER(0), 0b010),              # region 0 released first, 1 init after
        op("region_alloc", 1, size(10)),
        op("arena_release", USER(0), 0b001),            # region 0 init after, 1 released first
        op("region_alloc", 0, size(10)),                # on a released arena: EINVAL
    ),
    "shutdown": seq(
        op("alloc", REQUEST, size(40)),
        op("region_init", 0, RESPONSE),
        op("region_alloc", 0, size(40)),
        op("shutdown", 1),
        op("alloc", REQUEST, size(40)),                 # ESHUTDOWN
        op("realloc", 0, 0, size(80)),                  # ESHUTDOWN, block kept
        op("region_alloc", 0, size(40)),                # from the chunk in hand
        op("stats", REQUEST, 2),                        # ESHUTDOWN
        op("arena_get", 0),                             # ESHUTDOWN
        op("free", 0, 0),                               # still frees
        op("init", 1),
        op("alloc", REQUEST, size(40)),
    ),
    "probes": seq(
        op("alloc", REQUEST, size(10)),
        op("arena_create", 0),
        op("arena_release", USER(0), 0),
        op("probe", 0, REQUEST, 1, size(16)),          # alignment 3: EINVAL
        op("probe", 1, NULL_ARENA, 2),                  # overflowing calloc, NULL handle
        op("probe", 1, CACHE, 3),                       # overflowing calloc: ENOMEM
        op("probe", 2, TASK, 0),                        # SIZE_MAX
        op("probe", 2, TASK, 11),                       # 2^48
        op("probe", 3, STATIC, 12, 9),                  # 4096-aligned 2^62
        op("probe", 4, REQUEST),                        # strdup(NULL)
        op("probe", 5, REQUEST, 2),                     # 32-byte name
        op("probe", 6, REQUEST, 1),                     # release of a built-in
        op("probe", 7, REQUEST, 0),                     # a released handle everywhere
        op("region_init", 0, REQUEST),
        op("probe", 8, REQUEST, 0),                     # uninitialised region
        op("probe", 8, REQUEST, 1),                     # NULL region
        op("probe", 9, REQUEST, 0, 1, 0, 1),            # region 0: alignment 3, SIZE_MAX - 1
        op("probe", 9, REQUEST, 1, 0, 11, 0, 4),        # region 1 (uninitialised), 2^48
        op("probe", 10, REQUEST, 0, 9),                 # realloc to 2^62
        op("probe", 11, REQUEST, 1),                    # prof without prof:true
        op("probe", 12, REQUEST),                       # catmem_free(a, NULL)
        op("probe", 13, REQUEST),                       # CATMEM_ALIGN_MAX
        op("shutdown", 0),
        op("probe", 2, TASK, 4),                        # after shutdown: ESHUTDOWN
        op("probe", 7, REQUEST, 0),
        op("init", 0),
    ),
    "misc": seq(
        op("set_decay", REQUEST, 2, 3),
        op("set_decay", REQUEST, 0, 2),                 # -2: EINVAL
        op("arena_purge", NULL_ARENA),
        op("exhaust"),
        op("arena_create", 3),
        op("exhaust"),
        op("info", RELEASED, 0),
    ),
    "cleanups": seq(
        op("arena_create", 0),                          # "u0"
        op("alloc", USER(0), size(100)),
        op("alloc", USER(0), size(5000)),
        op("arena_on_reset", USER(0), 0, SELF_ALLOC | SELF_RESET),
        op("arena_on_reset", USER(0), 0, SELF_RELEASE | SELF_REGISTER | SELF_OTHER),
        op("arena_on_reset", USER(0), 0, FREE | ELSEWHERE),
        op("arena_on_reset", USER(0), NO_FN, 0),        # NULL function: EINVAL
        op("arena_on_reset", NULL_ARENA, 0, 0),         # EINVAL
        op("arena_reset", USER(0), 0),                  # the three run, last first
        op("arena_reset", USER(0), 0),                  # each exactly once: none now
        op("alloc", USER(0), size(64)),
        op("arena_on_reset", USER(0), 0, SELF_ALLOC),
        op("arena_on_reset", REQUEST, 0, SELF_OTHER | ELSEWHERE),  # runs at the end of input
        op("arena_release", USER(0), 0),
        op("arena_on_reset", RELEASED, 0, 0, 0),        # released: EINVAL
        op("shutdown", 0),
        op("arena_on_reset", CACHE, 0, 0),              # ESHUTDOWN
        op("init", 0),
    ),
    "children": seq(
        op("arena_create", 0),                          # "u0", model slot USER(0)
        op("arena_create_child", USER(0), 0),           # "c0" in USER(1)
        op("arena_create_child", USER(1), 1),           # "c1" in USER(2): a grandchild
        op("arena_create_child", USER(0), 2),           # "c2" in USER(3): a sibling of c0
        op("arena_create_child", USER(0), 0),           # "c0" again: EEXIST
        op("arena_create_child", NULL_ARENA, 3),        # EINVAL
        op("arena_create_child", USER(0), 10),          # ENAMETOOLONG
        op("arena_create_child", USER(0), 11),          # "": EINVAL
        op("arena_create_child", REQUEST, 8, 0),        # "request": EEXIST
        op("arena_parent", USER(2)),
        op("arena_parent", USER(0)),
        op("arena_parent", NULL_ARENA),                 # EINVAL
        op("alloc", USER(2), size(300)),
        op("alloc", USER(1), size(40)),
        op("alloc", USER(0), size(4000)),
        op("alloc", USER(3), size(10)),
        op("arena_on_reset", USER(0), 0, KIN),
        op("arena_on_reset", USER(1), 0, SELF_ALLOC | KIN),
        op("arena_on_reset", USER(2), 0, FREE | SELF_RESET),
        op("arena_on_reset", USER(3), 0, ELSEWHERE),
        op("report", 4),                                # JSON: parents, pending cleanups
        op("arena_reset", USER(1), 0),                  # c1's cleanup, then c0's
        op("arena_on_reset", USER(2), 0, 0),
        op("arena_reset", USER(0), 0),                  # c1 before c0, all before u0
        op("report", 3),                                # text
        op("arena_on_reset", USER(2), 0, SELF_OTHER),
        op("arena_release", USER(0), 0),                # the whole tree
        op("arena_create_child", RELEASED, 0, 4),       # released parent: EINVAL
        op("arena_create_child", REQUEST, 4),           # "c4", a child of a built-in arena
        op("alloc", USER(0), size(100)),
        op("arena_on_reset", USER(0), 0, SELF_RELEASE),
        op("arena_reset", REQUEST, 0),                  # resets c4 too
    ),
    "region_cleanups": seq(
        op("region_init", 0, REQUEST),
        op("region_on_reset", 0, 0, SELF_ALLOC | SELF_RESET),
        op("region_alloc", 0, size(100)),
        op("region_save", 0),
        op("region_on_reset", 0, 0, SELF_RELEASE | SELF_REGISTER | SELF_OTHER),
        op("region_alloc", 0, size(50)),
        op("region_on_reset", 0, 0, ELSEWHERE),
        op("region_restore", 0, 0, 0),                  # runs the two after the mark
        op("region_reset", 0),                          # runs the first
        op("region_on_reset", 0, 0, 0),
        op("region_on_reset", 0, 7, 0),                 # NULL region, NULL function: EINVAL
        op("region_release", 0),
        op("region_init", 1, CACHE),
        op("region_on_reset", 1, 0, SELF_ALLOC),
        op("region_on_reset", 1, 0, 0),
        op("arena_reset", CACHE, 0b000),                # region 1 released first: both run
    ),
    "nested_cleanups": seq(
        op("arena_create", 0),                          # "u0"
        op("arena_create", 1),                          # "u1"
        op("region_init", 0, USER(0)),
        op("region_alloc", 0, size(100)),
        op("region_on_reset", 0, 0, ELSEWHERE | SELF_ALLOC),  # its arena is busy then: EBUSY
        op("alloc", USER(0), size(300)),
        op("alloc", USER(1), size(50)),
        op("arena_on_reset", USER(1), 0, SELF_ALLOC | FREE),
        op("arena_on_reset", USER(0), REGIONS | NESTED, ELSEWHERE),
        op("arena_reset", USER(0), 0b001),              # region 0 kept: the cleanup releases it,
                                                        # then resets u1 (its cleanup nested)
        op("arena_create_child", USER(1), 0),           # "c0" under u1
        op("arena_on_reset", USER(2), 0, SELF_RESET),
        op("arena_on_reset", USER(0), NESTED_RELEASE, 0),
        op("arena_release", USER(0), 0),                # releases u1 and c0 inside
        op("arena_on_reset", REQUEST, NESTED, KIN),     # nothing left with cleanups: any arena
    ),
    "oom_and_report": seq(
        op("oom", 2, REQUEST),                          # no handler: just ENOMEM
        op("oom", 0, 0b11),                             # install: retries, allocates inside
        op("oom", 2, REQUEST),                          # called once, with the arena and size
        op("oom", 3, CACHE),                            # calloc
        op("oom", 4, TASK, 6),                          # aligned_alloc
        op("alloc", STATIC, size(10)),
        op("oom", 5, 0),                                # realloc of that block
        op("region_init", 0, STATIC),
        op("oom", 6, 0),                                # a region's chunk
        op("oom", 7, REQUEST, 5),                       # above CATMEM_SIZE_MAX: not called
        op("probe", 2, TASK, 4),                        # PTRDIFF_MAX: called
        op("probe", 2, TASK, 0),                        # SIZE_MAX: not called
        op("oom", 0, 0),                                # returns 0, allocates nothing
        op("probe", 10, REQUEST, 0, 11),                # realloc to 2^48
        op("oom", 1),                                   # removed
        op("oom", 2, REQUEST),
        op("report", 0, 0),                             # NULL stream: EINVAL
        op("report", 1, 0),                             # bad flags: EINVAL
        op("report", 4),
        op("report", 3),
        op("shutdown", 0),
        op("oom", 0, 1),
        op("oom", 2, REQUEST),                          # ESHUTDOWN, handler not called
        op("report", 4),                                # ESHUTDOWN
        op("init", 0),
    ),
    "limits": seq(
        op("arena_create", 0),                          # "u0"
        op("alloc", USER(0), size(100)),
        op("arena_set_limit", USER(0), LIM_HELD, 0),    # exactly what it holds
        op("alloc", USER(0), size(1)),                  # refused: ENOMEM
        op("stats", USER(0), 2),                        # limit, peak, calls
        op("arena_set_limit", USER(0), LIM_ABOVE, 200), # room for 201 bytes
        op("alloc", USER(0), size(64)),
        op("calloc", USER(0), 4, size(100)),            # 400 bytes: refused
        op("strdup", USER(0), text("fits")),
        op("realloc", 0, 0, size(5000)),                # growth past the limit: refused
        op("arena_set_limit", USER(0), LIM_BELOW, 10),  # below what it holds: allowed
        op("aligned_alloc", USER(0), 6, size(8)),       # refused
        op("free", 0, 0),
        op("report", 4),                                # JSON: peak and limit
        op("arena_reset", USER(0), 0),                  # keeps the limit, peak back to 0
        op("stats", USER(0), 2),
        op("arena_set_limit", USER(0), LIM_MAX, 0),     # counted, never refused
        op("alloc", USER(0), size(20000)),
        op("stats", USER(0), 3),
        op("arena_set_limit", NULL_ARENA, LIM_SMALL, 1),  # EINVAL
        op("arena_release", USER(0), 0),               # forgets the limit
        op("arena_set_limit", RELEASED, 0, LIM_SMALL, 1), # released: EINVAL
        op("arena_create", 1),                          # the slot again: limit 0, counters 0
        op("stats", USER(0), 2),
        op("shutdown", 0),
        op("arena_set_limit", REQUEST, LIM_SMALL, 2),   # ESHUTDOWN
        op("init", 0),
        op("arena_set_limit", REQUEST, LIM_POW2, 2),    # 4096 on a built-in arena
        op("alloc", REQUEST, size(3000)),
        op("alloc", REQUEST, size(3000)),               # refused
        op("stats", REQUEST, 1),                        # total: peak and limit 0
    ),
    "limit_exhaust": seq(
        op("arena_create", 0),
        op("alloc", USER(0), size(40)),
        op("limit_exhaust", USER(0), size(100), 3, 7, EX_REALLOC | EX_AGAIN | EX_STATS),
        op("limit_exhaust", USER(0), size(0), 0, 0, EX_AGAIN),
        op("limit_exhaust", USER(0), size(5000), 7, 255, EX_REALLOC | EX_RESTORE),
        op("oom", 0, 0b11),                             # the handler: asked once per refusal
        op("limit_exhaust", CACHE, size(24), 1, 3, EX_REALLOC | EX_AGAIN | EX_STATS),
        op("limit_exhaust", TASK, size(20000 % 4097), 2, 9, EX_AGAIN | EX_RESTORE),
        op("oom", 1),
        op("stats", USER(0), 2),
    ),
    "limits_lifetimes": seq(
        op("arena_create", 0),                          # "u0"
        op("arena_create_child", USER(0), 0),           # "c0": its own limit
        op("arena_set_limit", USER(1), LIM_POW2, 2),    # 4096
        op("alloc", USER(0), size(8000)),               # the parent has none
        op("alloc", USER(1), size(3000)),
        op("alloc", USER(1), size(3000)),               # refused
        op("region_init", 0, USER(1)),
        op("region_alloc", 0, size(600)),               # a chunk: counts
        op("region_alloc", 0, size(3000)),              # refused (ENOMEM) or not: the model
                                                        # does not know the chunks
        op("arena_on_reset", USER(1), 0, SELF_OTHER | ELSEWHERE),  # set_limit: EBUSY
        op("arena_reset", USER(0), 0b000),              # region released first
        op("stats", USER(1), 2),                        # the limit stays
        op("arena_release", USER(0), 0),
    ),
    "profiles": seq(
        op("profile", 0, 1),                            # every block sampled
        op("arena_create", 0),                          # "u0"
        op("alloc", USER(0), size(100)),
        op("alloc", USER(0), size(5000)),
        op("profile", 3),                               # written
        op("arena_reset", USER(0), 0),                  # its samples go
        op("alloc", USER(0), size(40)),
        op("profile", 3),
        op("arena_release", USER(0), 0),
        op("profile", 2),                               # a 16-byte stream: EIO
        op("profile", 1, 0),                            # NULL, flags: EINVAL
        op("profile", 0, 5),                            # above CATMEM_SIZE_MAX: EINVAL
        op("shutdown", 0),
        op("profile", 3),                               # ESHUTDOWN
        op("init", 0),
        op("profile", 0, 0),                            # off
    ),
}

# Inputs that made catmem fail; replayed by run_fuzz.sh on every run. See regressions/README.md.
REGRESSIONS = {
    # catmem_region_reset of a region that holds nothing (just initialised) on a live arena.
    "region_reset_empty": seq(
        op("region_init", 0, STATIC),
        op("region_reset", 0),
    ),
    # jemalloc backend under ASan: an arena reset while a region holds chunks of it (allowed when
    # the region is initialised again afterwards) gives the chunks back still poisoned; the
    # arena's next block lies in that memory and the first write to it is reported.
    "jemalloc_poisoned_after_arena_reset": seq(
        op("arena_create", 0),
        op("region_init", 0, USER(0)),
        op("region_alloc", 0, size(16)),
        op("arena_reset", USER(0), 0b001),              # region 0: init again afterwards
        op("alloc", USER(0), size(4096)),
    ),
    # Open (see regressions/README.md): catmem_region_on_reset on a region that cannot take the
    # record (here never initialised) returns EINVAL and also sets errno.
    "region_on_reset_errno": seq(
        op("region_on_reset", 1, 0, 0),
    ),
    # Open: catmem_report to a stream that fails returns EIO and leaves stdio's errno (ENOSPC).
    "report_eio_errno": seq(
        op("report", 2, 0),
    ),
    # An allocation no allocator can serve, on a counted arena: its charge raised the peak.
    "peak_failed_charge": seq(
        op("arena_create", 0),
        op("arena_set_limit", USER(0), LIM_MAX, 0),
        op("oom", 2, USER(0)),
        op("stats", USER(0), 2),
    ),
    # catmem_region_reset asked for a larger chunk to keep, which a limit refused, and called
    # the out-of-memory handler for it, though the reset loses nothing without it.
    "region_reset_optional_chunk": seq(
        op("region_init", 0, REQUEST),
        op("region_alloc", 0, size(28672)),             # a block of its own
        op("oom", 0, 0),                                # a handler that declines
        op("arena_set_limit", REQUEST, LIM_SMALL, 15),  # 961 bytes: below what is held
        op("region_reset", 0),
    ),
    # jemalloc: a block that waited in the front cache came back past a limit set below it.
    "jemalloc_cache_past_limit": seq(
        op("arena_create", 0),
        op("alloc", USER(0), size(8)),
        op("alloc", USER(0), size(8)),
        op("free", 1, 0),
        op("arena_set_limit", USER(0), LIM_ABOVE, 7),   # 16: room for one more 8-byte block
        op("alloc", USER(0), size(8)),
        op("alloc", USER(0), size(8)),
    ),
}


def main():
    for sub, inputs in (("corpus", CORPUS), ("regressions", REGRESSIONS)):
        d = os.path.join(HERE, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in inputs.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
