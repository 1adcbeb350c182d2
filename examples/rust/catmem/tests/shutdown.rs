//! After catmem::shutdown every call that needs catmem up reports ErrorKind::Shutdown, memory
//! stays valid and frees keep working; init brings everything back. One test: shutdown must not
//! run beside other catmem calls, so this program has no other.
use catmem::{Arena, ErrorKind, Kind, ReportFormat};
use std::alloc::{GlobalAlloc, Layout};

fn kind<T: std::fmt::Debug>(r: catmem::Result<T>) -> ErrorKind {
    r.expect_err("an error").kind()
}

#[test]
fn every_call_reports_shutdown_and_init_brings_catmem_back() {
    let layout = Layout::from_size_align(256, 8).unwrap();
    let kept = Arena::new(Some("rs-kept")).unwrap();
    let mut arena = Arena::new(Some("rs-down")).unwrap();
    let builtin = Arena::builtin(Kind::Request).unwrap();
    let p = kept.allocator().try_alloc(layout).unwrap();
    unsafe { p.as_ptr().write_bytes(1, 256) };

    unsafe { catmem::shutdown() };
    assert!(!catmem::is_initialized());
    assert_eq!(kind(Arena::new(Some("rs-new"))), ErrorKind::Shutdown);
    assert_eq!(kind(Arena::new(None)), ErrorKind::Shutdown);
    assert_eq!(kind(Arena::builtin(Kind::Cache)), ErrorKind::Shutdown);
    assert_eq!(kind(arena.child(None)), ErrorKind::Shutdown);
    assert_eq!(kind(arena.reset()), ErrorKind::Shutdown);
    assert_eq!(kind(unsafe { builtin.reset_unchecked() }), ErrorKind::Shutdown);
    assert_eq!(kind(arena.purge()), ErrorKind::Shutdown);
    assert_eq!(kind(arena.stats()), ErrorKind::Shutdown);
    assert_eq!(kind(arena.set_limit(Some(4096))), ErrorKind::Shutdown);
    assert_eq!(kind(arena.set_decay(0, 0)), ErrorKind::Shutdown);
    assert_eq!(kind(arena.on_reset(|| ())), ErrorKind::Shutdown);
    assert_eq!(kind(arena.allocator().try_alloc(layout)), ErrorKind::Shutdown);
    assert_eq!(kind(arena.allocator().try_alloc_zeroed(layout)), ErrorKind::Shutdown);
    assert!(unsafe { arena.allocator().alloc(layout) }.is_null());
    assert_eq!(kind(catmem::total_stats()), ErrorKind::Shutdown);
    assert_eq!(kind(catmem::report(ReportFormat::Text)), ErrorKind::Shutdown);
    assert_eq!(kind(catmem::prof_active(false)), ErrorKind::Shutdown);
    assert_eq!(kind(catmem::prof_dump(None)), ErrorKind::Shutdown);
    // Memory stays valid and can be freed.
    assert!((0..256).all(|i| unsafe { *p.as_ptr().add(i) } == 1));
    unsafe { kept.allocator().free(p, layout) };
    // An explicit release reports the error and leaves the slot in use; a drop ignores it.
    assert_eq!(kind(arena.release()), ErrorKind::Shutdown);

    catmem::init().unwrap();
    catmem::init().unwrap(); // idempotent
    assert!(catmem::is_initialized());
    // The same arenas come back: the one kept, and the one whose release failed is still live.
    let name = std::ffi::CString::new("rs-down").unwrap();
    assert!(!unsafe { catmem_sys::catmem_arena_find(name.as_ptr()) }.is_null());
    let mut kept = kept;
    let p = kept.allocator().try_alloc(layout).unwrap();
    unsafe { kept.allocator().free(p, layout) };
    assert_eq!(kept.stats().unwrap().allocated, 0);
    kept.reset().unwrap();
    kept.release().unwrap();
    Arena::new(Some("rs-new")).unwrap();
}
