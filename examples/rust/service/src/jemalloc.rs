//! jemalloc-sys's jemalloc (statically linked, symbols prefixed _rjem_): the global allocator,
//! and what jemalloc itself says about an arena or a block, to check catmem against.
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::CString;
use std::os::raw::{c_int, c_uint, c_void};
use std::ptr;

/// The global allocator: every Rust allocation of the program goes to jemalloc.
pub struct Jemalloc;

/// mallocx's flags for a layout: none for what its size classes align anyway.
fn flags(layout: Layout) -> c_int {
    if layout.align() <= 16 && layout.align() <= layout.size() {
        0
    } else {
        jemalloc_sys::MALLOCX_ALIGN(layout.align())
    }
}

unsafe impl GlobalAlloc for Jemalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        jemalloc_sys::mallocx(layout.size(), flags(layout)) as *mut u8
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        jemalloc_sys::mallocx(layout.size(), flags(layout) | jemalloc_sys::MALLOCX_ZERO) as *mut u8
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        jemalloc_sys::sdallocx(p as *mut c_void, layout.size(), flags(layout))
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        jemalloc_sys::rallocx(p as *mut c_void, new_size, flags(new)) as *mut u8
    }
}

/// Reads a mallctl value.
fn read<T: Copy>(name: &str, init: T) -> Option<T> {
    let name = CString::new(name).ok()?;
    let mut value = init;
    let mut len = std::mem::size_of::<T>();
    let rc = unsafe {
        jemalloc_sys::mallctl(
            name.as_ptr(),
            &mut value as *mut T as *mut c_void,
            &mut len,
            ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then(|| value)
}

/// jemalloc's version string.
pub fn version() -> String {
    let p = read::<*const std::os::raw::c_char>("version", ptr::null()).unwrap_or(ptr::null());
    if p.is_null() {
        return String::new();
    }
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Bytes in live blocks of jemalloc arena `id`, as jemalloc counts them (its statistics
/// refreshed first).
pub fn arena_allocated(id: u32) -> Option<usize> {
    let mut epoch: u64 = 1;
    let name = CString::new("epoch").unwrap();
    let rc = unsafe {
        jemalloc_sys::mallctl(
            name.as_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut epoch as *mut u64 as *mut c_void,
            std::mem::size_of::<u64>(),
        )
    };
    if rc != 0 {
        return None;
    }
    let small = read(&format!("stats.arenas.{}.small.allocated", id), 0usize)?;
    let large = read(&format!("stats.arenas.{}.large.allocated", id), 0usize)?;
    Some(small + large)
}

/// The jemalloc arena that block `p` (from this jemalloc, through any route) lives in.
pub fn arena_of(p: *const u8) -> Option<u32> {
    let name = CString::new("arenas.lookup").unwrap();
    let mut index: c_uint = 0;
    let mut len = std::mem::size_of::<c_uint>();
    let mut p = p as *const c_void;
    let rc = unsafe {
        jemalloc_sys::mallctl(
            name.as_ptr(),
            &mut index as *mut c_uint as *mut c_void,
            &mut len,
            &mut p as *mut *const c_void as *mut c_void,
            std::mem::size_of::<*const c_void>(),
        )
    };
    (rc == 0).then(|| index)
}

/// How many arenas jemalloc has (automatic and manual).
pub fn narenas() -> Option<u32> {
    read("arenas.narenas", 0 as c_uint)
}

/// How many automatic arenas jemalloc spreads threads over; the arenas a program creates
/// (catmem's) come after them.
pub fn narenas_automatic() -> Option<u32> {
    read("opt.narenas", 0 as c_uint)
}
