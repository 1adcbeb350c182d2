//! Raw bindings to catmem's public API (catmem.h; its top comment is the manual), compiled with
//! the runtime backend: this crate links no jemalloc. At the first catmem call, catmem looks for
//! jemalloc's functions in the process (dlsym under each prefix of CATMEM_RUNTIME_PREFIXES,
//! build.rs) and runs on jemalloc's arenas if it finds them, on its own engine otherwise;
//! `catmem_backend_name` and `catmem_backend_info` say which.
//!
//! Every function keeps catmem's C contract: allocation functions return NULL and set errno,
//! control functions return 0 or an errno value. The API's `static inline` functions
//! (`catmem_alloc`, `catmem_calloc`, `catmem_aligned_alloc`, `catmem_free`, `catmem_free_sized`,
//! `catmem_free_any`, `catmem_region_alloc`, `catmem_region_alloc_aligned`) are reached through
//! out-of-line copies in src/catmem_rs.c, under the same names here.
//!
//! The safe interface is the `catmem` crate.
#![allow(non_camel_case_types)]

use std::marker::{PhantomData, PhantomPinned};
use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

pub use libc::FILE;

/// Largest size any catmem allocation accepts (PTRDIFF_MAX); larger requests fail with ENOMEM.
pub const CATMEM_SIZE_MAX: usize = isize::MAX as usize;
/// Largest alignment `catmem_aligned_alloc` accepts.
pub const CATMEM_ALIGN_MAX: usize = 1 << 30;
/// The longest arena name, in bytes, of catmem as this crate compiles it (core/config.h).
pub const CATMEM_NAME_MAX: usize = 31;

/// `catmem_kind`: the built-in arenas, one per typical lifetime.
pub type catmem_kind = c_uint;
pub const CATMEM_REQUEST: catmem_kind = 0;
pub const CATMEM_RESPONSE: catmem_kind = 1;
pub const CATMEM_CACHE: catmem_kind = 2;
pub const CATMEM_STATIC: catmem_kind = 3;
pub const CATMEM_TASK: catmem_kind = 4;
pub const CATMEM_KIND_COUNT: catmem_kind = 5;

/// An arena handle: an opaque value in a pointer, never dereferenced (LIFECYCLE in catmem.h).
#[repr(C)]
pub struct catmem_arena {
    _private: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// STATISTICS in the manual says what each field means on each backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct catmem_stats {
    pub allocated: usize,
    pub active: usize,
    pub resident: usize,
    pub mapped: usize,
    pub nmalloc: u64,
    pub ndalloc: u64,
    pub peak: usize,
    pub limit: usize,
}

/// A region: caller-owned, used by one thread at a time, set up by `catmem_region_init`. The
/// fields are private, as in C; `Default` is all zeroes, which `catmem_region_init` overwrites.
#[repr(C)]
#[derive(Debug)]
pub struct catmem_region {
    _cur: *mut c_char,
    _end: *mut c_char,
    _chunks: *mut c_void,
    _large: *mut c_void,
    _arena: *mut catmem_arena,
    _cleanups: *mut c_void,
    _busy: c_int,
}

impl Default for catmem_region {
    fn default() -> Self {
        catmem_region {
            _cur: std::ptr::null_mut(),
            _end: std::ptr::null_mut(),
            _chunks: std::ptr::null_mut(),
            _large: std::ptr::null_mut(),
            _arena: std::ptr::null_mut(),
            _cleanups: std::ptr::null_mut(),
            _busy: 0,
        }
    }
}

/// A point to come back to with `catmem_region_restore`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct catmem_region_mark {
    _chunk: *mut c_void,
    _cur: *mut c_char,
    _large: *mut c_void,
    _cleanups: *mut c_void,
}

/// Run when the arena (or region) it was registered on is reset or released.
pub type catmem_cleanup_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;
/// Called when an allocation is about to fail for lack of memory: non-zero makes catmem retry.
pub type catmem_oom_fn =
    Option<unsafe extern "C" fn(a: *mut catmem_arena, size: usize, arg: *mut c_void) -> c_int>;

pub const CATMEM_REPORT_TEXT: c_int = 0;
pub const CATMEM_REPORT_JSON: c_int = 1;

extern "C" {
    // >>lifecycle
    pub fn catmem_init() -> c_int;
    pub fn catmem_shutdown();
    pub fn catmem_is_initialized() -> c_int;
    pub fn catmem_backend_name() -> *const c_char;
    pub fn catmem_backend_info() -> *const c_char;

    // >>arenas
    pub fn catmem_arena_get(kind: catmem_kind) -> *mut catmem_arena;
    pub fn catmem_arena_create(name: *const c_char) -> *mut catmem_arena;
    pub fn catmem_arena_find(name: *const c_char) -> *mut catmem_arena;
    pub fn catmem_arena_release(a: *mut catmem_arena) -> c_int;
    pub fn catmem_arena_name(a: *const catmem_arena) -> *const c_char;
    pub fn catmem_arena_id(a: *const catmem_arena) -> c_int;
    pub fn catmem_arena_owns(a: *const catmem_arena, p: *const c_void) -> c_int;
    pub fn catmem_arena_reset(a: *mut catmem_arena) -> c_int;
    pub fn catmem_arena_purge(a: *mut catmem_arena) -> c_int;
    pub fn catmem_arena_stats(a: *mut catmem_arena, out: *mut catmem_stats) -> c_int;
    pub fn catmem_total_stats(out: *mut catmem_stats) -> c_int;
    pub fn catmem_arena_set_decay(
        a: *mut catmem_arena,
        dirty_ms: c_long,
        muzzy_ms: c_long,
    ) -> c_int;
    pub fn catmem_prof_active(on: c_int) -> c_int;
    pub fn catmem_prof_dump(path: *const c_char) -> c_int;

    // >>lifetimes
    pub fn catmem_arena_on_reset(
        a: *mut catmem_arena,
        f: catmem_cleanup_fn,
        arg: *mut c_void,
    ) -> c_int;
    pub fn catmem_arena_create_child(
        parent: *mut catmem_arena,
        name: *const c_char,
    ) -> *mut catmem_arena;
    pub fn catmem_arena_parent(a: *const catmem_arena) -> *mut catmem_arena;
    pub fn catmem_arena_set_limit(a: *mut catmem_arena, bytes: usize) -> c_int;
    pub fn catmem_arena_limit(a: *const catmem_arena) -> usize;
    pub fn catmem_set_oom_handler(f: catmem_oom_fn, arg: *mut c_void);
    pub fn catmem_report(out: *mut FILE, flags: c_int) -> c_int;

    // >>allocation (the first five and catmem_free_any are catmem.h's inline functions, out of
    // line)
    #[link_name = "catmem_rs_alloc"]
    pub fn catmem_alloc(a: *mut catmem_arena, size: usize) -> *mut c_void;
    #[link_name = "catmem_rs_calloc"]
    pub fn catmem_calloc(a: *mut catmem_arena, n: usize, size: usize) -> *mut c_void;
    #[link_name = "catmem_rs_aligned_alloc"]
    pub fn catmem_aligned_alloc(a: *mut catmem_arena, alignment: usize, size: usize)
        -> *mut c_void;
    #[link_name = "catmem_rs_free"]
    pub fn catmem_free(a: *mut catmem_arena, p: *mut c_void);
    #[link_name = "catmem_rs_free_sized"]
    pub fn catmem_free_sized(a: *mut catmem_arena, p: *mut c_void, size: usize);
    pub fn catmem_realloc(a: *mut catmem_arena, p: *mut c_void, size: usize) -> *mut c_void;
    pub fn catmem_strdup(a: *mut catmem_arena, s: *const c_char) -> *mut c_char;
    pub fn catmem_usable_size(p: *const c_void) -> usize;
    #[link_name = "catmem_rs_free_any"]
    pub fn catmem_free_any(p: *mut c_void);

    // >>regions (the first two inline in C, out of line here)
    pub fn catmem_region_init(r: *mut catmem_region, a: *mut catmem_arena) -> c_int;
    #[link_name = "catmem_rs_region_alloc"]
    pub fn catmem_region_alloc(r: *mut catmem_region, size: usize) -> *mut c_void;
    #[link_name = "catmem_rs_region_alloc_aligned"]
    pub fn catmem_region_alloc_aligned(
        r: *mut catmem_region,
        alignment: usize,
        size: usize,
    ) -> *mut c_void;
    pub fn catmem_region_calloc(r: *mut catmem_region, n: usize, size: usize) -> *mut c_void;
    pub fn catmem_region_strdup(r: *mut catmem_region, s: *const c_char) -> *mut c_char;
    pub fn catmem_region_save(r: *const catmem_region) -> catmem_region_mark;
    pub fn catmem_region_restore(r: *mut catmem_region, mark: catmem_region_mark) -> c_int;
    pub fn catmem_region_reset(r: *mut catmem_region) -> c_int;
    pub fn catmem_region_release(r: *mut catmem_region) -> c_int;
    pub fn catmem_region_on_reset(
        r: *mut catmem_region,
        f: catmem_cleanup_fn,
        arg: *mut c_void,
    ) -> c_int;

    // src/catmem_rs.c's helpers, not part of catmem's API.
    /// `catmem_report` into a buffer: 0 and `*out` (`len` bytes, freed with
    /// `catmem_rs_report_free`), or catmem_report's errno value.
    pub fn catmem_rs_report(flags: c_int, out: *mut *mut c_char, len: *mut usize) -> c_int;
    pub fn catmem_rs_report_free(p: *mut c_char);
    /// sizeof (what 0..2) and alignof (what 16..18) of catmem_stats, catmem_region and
    /// catmem_region_mark as C sees them; the tests compare them with this file's structures.
    pub fn catmem_rs_layout(what: c_int) -> usize;
    /// The values of CATMEM_NAME_MAX (0), CATMEM_SIZE_MAX (1), CATMEM_ALIGN_MAX (2),
    /// CATMEM_KIND_COUNT (3) and CATMEM_REPORT_JSON (4) as catmem was compiled; the tests
    /// compare them with this file's constants.
    pub fn catmem_rs_constant(what: c_int) -> usize;
}
