//! The service's setup without build.rs's export: jemalloc-sys's jemalloc is in the executable
//! and serves every Rust allocation, but its symbols are not in the dynamic symbol table, so
//! catmem's dlsym cannot find them and catmem runs its own engine on the system malloc. Prints
//! the backend; the tests (tests/run.rs) check that it is "system".
use service::jemalloc::{self, Jemalloc};

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

fn main() {
    let v = vec![0u8; 100]; // from jemalloc-sys's jemalloc
    println!("catmem backend: {} ({})", catmem::backend_name(), catmem::backend_info());
    println!(
        "global allocator: jemalloc-sys's jemalloc {}; a Vec of the program is in its arena {}",
        jemalloc::version(),
        jemalloc::arena_of(v.as_ptr()).map_or(-1, i64::from)
    );
}
