//! In a test program that exports jemalloc-sys's symbols (build.rs) and has its jemalloc as the
//! global allocator, catmem binds to that jemalloc: its arenas are jemalloc arenas, their
//! blocks are where jemalloc says, and catmem's statistics are jemalloc's.
use catmem::Arena;
use service::containers::ArenaVec;
use service::jemalloc::{self, Jemalloc};
use std::alloc::Layout;

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

#[test]
fn catmem_binds_to_the_jemalloc_of_jemalloc_sys() {
    assert_eq!(catmem::backend_name(), "jemalloc", "{}", catmem::backend_info());
    let info = catmem::backend_info();
    assert!(
        info.contains(&format!(
            "jemalloc {} found in process with symbol prefix _rjem_",
            jemalloc::version()
        )),
        "{}",
        info
    );
}

#[test]
fn arenas_are_jemalloc_arenas_and_statistics_agree() {
    let mut arena = Arena::new(Some("bound")).unwrap();
    let id;
    {
        let mut v = ArenaVec::new(arena.allocator());
        for i in 0..10_000u32 {
            v.try_push(i).unwrap();
        }
        // The jemalloc arena of the arena's blocks: a manual one (catmem's id is its own).
        id = jemalloc::arena_of(v.as_ptr() as *const u8).unwrap();
        assert!(id >= jemalloc::narenas_automatic().unwrap() && id < jemalloc::narenas().unwrap());
        let big =
            arena.allocator().try_alloc(Layout::from_size_align(1 << 20, 64).unwrap()).unwrap();
        assert_eq!(jemalloc::arena_of(v.as_ptr() as *const u8), Some(id));
        assert_eq!(jemalloc::arena_of(big.as_ptr()), Some(id));
        let st = arena.stats().unwrap();
        assert!(st.allocated >= 40_000 + (1 << 20), "{:?}", st);
        assert_eq!(jemalloc::arena_allocated(id), Some(st.allocated));
        unsafe { arena.allocator().free(big, Layout::from_size_align(1 << 20, 64).unwrap()) };
    }
    arena.reset().unwrap();
    assert_eq!(arena.stats().unwrap().allocated, 0);
    assert_eq!(jemalloc::arena_allocated(id), Some(0));
    // The global allocator's blocks are in another (automatic) jemalloc arena.
    let b = Box::new([1u8; 64]);
    assert_ne!(jemalloc::arena_of(b.as_ptr()), Some(id));
}

#[test]
fn a_limit_is_a_result_not_an_abort() {
    let arena = Arena::new(Some("bound-limit")).unwrap();
    arena.set_limit(Some(64 * 1024)).unwrap();
    let mut v: ArenaVec<u8> = ArenaVec::new(arena.allocator());
    v.try_extend_from_slice(&[0; 1000]).unwrap();
    let e = v.try_reserve(1 << 20).unwrap_err();
    assert_eq!(e.kind(), catmem::ErrorKind::OutOfMemory);
    assert_eq!(v.len(), 1000);
}
