//! Never built (see Cargo.toml): jemalloc-sys's jemalloc as the global allocator and catmem on
//! its jemalloc backend, each linking a jemalloc of its own.
fn main() {
    let name = unsafe { std::ffi::CStr::from_ptr(catmem_sys_jemalloc::catmem_backend_name()) };
    let p = unsafe { jemalloc_sys::malloc(16) };
    unsafe { jemalloc_sys::free(p) };
    println!("{:?}", name);
}
