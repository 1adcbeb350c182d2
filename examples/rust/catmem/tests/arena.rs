//! The safe wrapper on owned arenas: what each call does and how each reports its errors.
//! The tests of this file run in parallel threads of one process, so each uses arenas of its
//! own; the calls that change the whole process (shutdown, every slot in use, a built-in
//! arena's reset) have a test program each (shutdown.rs, slots.rs, busy.rs).
//!
//! The same tests pass on both of catmem's engines: run_tests.sh runs them once without
//! jemalloc in the process and once with LD_PRELOAD=libjemalloc.so.2, with
//! CATMEM_EXPECT_BACKEND saying which engine catmem must have bound to.
#![cfg_attr(feature = "allocator_api", feature(allocator_api))]
use catmem::{Arena, ArenaAlloc, Error, ErrorKind, Kind, ReportFormat};
use std::alloc::{GlobalAlloc, Layout};

fn kind<T: std::fmt::Debug>(r: catmem::Result<T>) -> ErrorKind {
    r.expect_err("an error").kind()
}

/// Allocates `n` blocks of `size` bytes, writes each, and returns them.
fn fill(alloc: ArenaAlloc<'_>, n: usize, size: usize) -> Vec<*mut u8> {
    let layout = Layout::from_size_align(size, 8).unwrap();
    (0..n)
        .map(|i| {
            let p = alloc.try_alloc(layout).unwrap().as_ptr();
            unsafe { p.write_bytes(i as u8, size) };
            p
        })
        .collect()
}

#[test]
fn backend_is_named_and_explained() {
    catmem::init().unwrap();
    assert!(catmem::is_initialized());
    if let Ok(expected) = std::env::var("CATMEM_EXPECT_BACKEND") {
        assert_eq!(catmem::backend_name(), expected, "{}", catmem::backend_info());
    }
    let info = catmem::backend_info();
    match catmem::backend_name() {
        "jemalloc" => assert!(info.contains("found in process"), "{}", info),
        "system" => assert!(info.contains("system malloc"), "{}", info),
        other => panic!("backend {}", other),
    }
}

#[test]
fn named_arenas_and_their_name_errors() {
    let a = Arena::new(Some("rs-named")).unwrap();
    assert_eq!(a.name(), "rs-named");
    assert!(a.id().is_some());
    assert!(format!("{:?}", a).contains("rs-named"));
    assert_eq!(kind(Arena::new(Some("rs-named"))), ErrorKind::AlreadyExists);
    assert_eq!(kind(Arena::new(Some(""))), ErrorKind::InvalidInput);
    assert_eq!(kind(Arena::new(Some("rs\0nul"))), ErrorKind::InvalidInput);
    let long = "n".repeat(catmem_sys::CATMEM_NAME_MAX + 1);
    assert_eq!(kind(Arena::new(Some(&long))), ErrorKind::NameTooLong);
    // Exactly CATMEM_NAME_MAX bytes is allowed.
    assert!(Arena::new(Some(&long[1..])).is_ok());
    // Dropping releases: the name is free again, and catmem no longer knows the arena.
    drop(a);
    let name = std::ffi::CString::new("rs-named").unwrap();
    assert!(unsafe { catmem_sys::catmem_arena_find(name.as_ptr()) }.is_null());
    let again = Arena::new(Some("rs-named")).unwrap();
    again.release().unwrap();
}

#[test]
fn anonymous_arenas_have_no_name_and_distinct_ids() {
    let anon: Vec<Arena> = (0..8).map(|_| Arena::new(None).unwrap()).collect();
    assert!(anon.iter().all(|a| a.name().is_empty()));
    let mut ids: Vec<u32> = anon.iter().map(|a| a.id().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    assert!(ids[0] >= 5, "{:?}", ids); // the built-in arenas are 0 to 4
}

#[test]
fn allocation_in_every_shape() {
    let arena = Arena::new(Some("rs-shapes")).unwrap();
    let alloc = arena.allocator();
    for &(size, align) in
        &[(0, 1), (1, 1), (8, 8), (24, 8), (100, 16), (7, 64), (4096, 4096), (100_000, 32)]
    {
        let layout = Layout::from_size_align(size, align).unwrap();
        let p = alloc.try_alloc(layout).unwrap();
        assert_eq!(p.as_ptr() as usize % align, 0, "{:?}", layout);
        assert!(unsafe { arena.owns(p.as_ptr()) });
        let z = alloc.try_alloc_zeroed(layout).unwrap();
        assert!((0..size).all(|i| unsafe { *z.as_ptr().add(i) } == 0), "{:?}", layout);
        unsafe {
            p.as_ptr().write_bytes(0xab, size);
            // Grow and shrink, in place or not: the contents and the alignment stay.
            let q = alloc.try_realloc(p, layout, size * 3 + 10).unwrap();
            assert_eq!(q.as_ptr() as usize % align, 0);
            assert!((0..size).all(|i| *q.as_ptr().add(i) == 0xab));
            let grown = Layout::from_size_align(size * 3 + 10, align).unwrap();
            let r = alloc.try_realloc(q, grown, size / 2 + 1).unwrap();
            assert!((0..size / 2).all(|i| *r.as_ptr().add(i) == 0xab));
            alloc.free(r, Layout::from_size_align(size / 2 + 1, align).unwrap());
            alloc.free(z, layout);
        }
    }
    let st = arena.stats().unwrap();
    assert_eq!(st.allocated, 0, "{:?}", st);
    assert_eq!(st.nmalloc, st.ndalloc, "{:?}", st);
}

#[test]
fn global_alloc_shape_for_a_programs_own_containers() {
    let arena = Arena::new(Some("rs-global")).unwrap();
    let alloc: &dyn GlobalAlloc = &arena.allocator();
    let layout = Layout::array::<u64>(16).unwrap();
    unsafe {
        let p = alloc.alloc(layout) as *mut u64;
        assert!(!p.is_null());
        for i in 0..16 {
            p.add(i).write(i as u64);
        }
        let p = alloc.realloc(p as *mut u8, layout, 64 * 8) as *mut u64;
        assert!((0..16).all(|i| *p.add(i) == i as u64));
        alloc.dealloc(p as *mut u8, Layout::array::<u64>(64).unwrap());
        let z = alloc.alloc_zeroed(layout);
        assert!((0..layout.size()).all(|i| *z.add(i) == 0));
        alloc.dealloc(z, layout);
        alloc.dealloc(std::ptr::null_mut(), layout); // nothing
        assert!(alloc.realloc(std::ptr::null_mut(), layout, 8).is_null());
    }
    assert_eq!(arena.stats().unwrap().allocated, 0);
}

#[test]
fn allocation_errors() {
    let arena = Arena::new(Some("rs-alloc-errors")).unwrap();
    let alloc = arena.allocator();
    // Larger than catmem ever accepts (Layout allows up to isize::MAX).
    let huge = Layout::from_size_align(isize::MAX as usize, 1).unwrap();
    assert_eq!(kind(alloc.try_alloc(huge)), ErrorKind::OutOfMemory);
    assert_eq!(kind(alloc.try_alloc_zeroed(huge)), ErrorKind::OutOfMemory);
    let huge_aligned = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
    assert_eq!(kind(alloc.try_alloc(huge_aligned)), ErrorKind::OutOfMemory);
    assert_eq!(kind(alloc.try_alloc_zeroed(huge_aligned)), ErrorKind::OutOfMemory);
    // An alignment above catmem's CATMEM_ALIGN_MAX (Layout allows it).
    let over = Layout::from_size_align(8, catmem_sys::CATMEM_ALIGN_MAX * 2).unwrap();
    assert_eq!(kind(alloc.try_alloc(over)), ErrorKind::InvalidInput);
    unsafe {
        assert!(alloc.alloc(huge).is_null());
        assert!(alloc.alloc_zeroed(huge).is_null());
        // A failed realloc leaves the block as it was.
        let layout = Layout::from_size_align(64, 8).unwrap();
        let p = alloc.try_alloc(layout).unwrap();
        p.as_ptr().write_bytes(7, 64);
        let too_big = isize::MAX as usize - 7; // the largest size that 8 bytes' alignment allows
        assert_eq!(kind(alloc.try_realloc(p, layout, too_big)), ErrorKind::OutOfMemory);
        assert!(alloc.realloc(p.as_ptr(), layout, too_big).is_null());
        let big = Layout::from_size_align(64, 64).unwrap();
        let q = alloc.try_alloc(big).unwrap();
        assert_eq!(
            kind(alloc.try_realloc(q, big, isize::MAX as usize - 63)),
            ErrorKind::OutOfMemory
        );
        assert!((0..64).all(|i| *p.as_ptr().add(i) == 7));
        alloc.free(p, layout);
        alloc.free(q, big);
    }
}

#[test]
fn limits_refuse_allocations_past_them() {
    let arena = Arena::new(Some("rs-limit")).unwrap();
    assert_eq!(arena.limit(), None);
    assert_eq!(kind(arena.set_limit(Some(0))), ErrorKind::InvalidInput);
    arena.set_limit(Some(64 * 1024)).unwrap();
    assert_eq!(arena.limit(), Some(64 * 1024));
    assert_eq!(arena.stats().unwrap().limit, Some(64 * 1024));
    let alloc = arena.allocator();
    let layout = Layout::from_size_align(1024, 8).unwrap();
    let mut blocks = Vec::new();
    let err = loop {
        match alloc.try_alloc(layout) {
            Ok(p) => blocks.push(p),
            Err(e) => break e,
        }
        assert!(blocks.len() <= 64, "the limit let more than 64 KiB through");
    };
    assert_eq!(err.kind(), ErrorKind::OutOfMemory);
    assert!(blocks.len() >= 32, "{} blocks", blocks.len());
    assert!(unsafe { alloc.alloc(layout) }.is_null());
    let st = arena.stats().unwrap();
    assert!(st.allocated <= 64 * 1024 && st.peak >= st.allocated, "{:?}", st);
    // No limit: allocation works again.
    arena.set_limit(None).unwrap();
    assert_eq!(arena.limit(), None);
    let p = alloc.try_alloc(layout).unwrap();
    unsafe { alloc.free(p, layout) };
    for p in blocks {
        unsafe { alloc.free(p, layout) };
    }
}

#[test]
fn stats_reset_and_purge() {
    let mut arena = Arena::new(Some("rs-reset")).unwrap();
    let blocks = fill(arena.allocator(), 1000, 100);
    let st = arena.stats().unwrap();
    assert_eq!(st.nmalloc, 1000);
    assert_eq!(st.ndalloc, 0);
    assert!(st.allocated >= 100_000 && st.active >= st.allocated, "{:?}", st);
    assert!(st.peak >= st.allocated && st.mapped >= st.active, "{:?}", st);
    drop(blocks); // raw pointers: reset frees them
    arena.reset().unwrap();
    let st = arena.stats().unwrap();
    assert_eq!(st.allocated, 0, "{:?}", st);
    assert_eq!(st.ndalloc, st.nmalloc, "{:?}", st);
    arena.purge().unwrap();
    // The arena works after a reset, and a reset keeps its limit.
    arena.set_limit(Some(1 << 20)).unwrap();
    let again = fill(arena.allocator(), 10, 100);
    assert_eq!(again.len(), 10);
    arena.reset().unwrap();
    assert_eq!(arena.limit(), Some(1 << 20));
    let total = catmem::total_stats().unwrap();
    assert!(total.nmalloc >= 1010 && total.limit.is_none() && total.peak == 0, "{:?}", total);
}

#[test]
fn decay_works_on_an_arena_of_its_own() {
    // jemalloc's page decay; on the system engine, that of the large blocks it keeps.
    let arena = Arena::new(Some("rs-decay")).unwrap();
    arena.set_decay(0, 0).unwrap();
    arena.set_decay(-1, 1000).unwrap();
    assert_eq!(kind(arena.set_decay(-2, 0)), ErrorKind::InvalidInput);
    assert_eq!(kind(arena.set_decay(0, -5)), ErrorKind::InvalidInput);
}

#[test]
fn children_are_separate_and_go_with_their_parent() {
    let parent = Arena::new(Some("rs-parent")).unwrap();
    let named = parent.child(Some("rs-child")).unwrap();
    let anon = parent.child(None).unwrap();
    let grandchild = named.child(None).unwrap();
    assert_eq!(unsafe { catmem_sys::catmem_arena_parent(named.as_raw()) }, parent.as_raw());
    assert_eq!(unsafe { catmem_sys::catmem_arena_parent(grandchild.as_raw()) }, named.as_raw());
    assert!(anon.name().is_empty());
    assert_eq!(kind(parent.child(Some("rs-child"))), ErrorKind::AlreadyExists);
    assert_eq!(kind(parent.child(Some(""))), ErrorKind::InvalidInput);

    fill(named.allocator(), 10, 64);
    fill(grandchild.allocator(), 20, 64);
    assert_eq!(parent.stats().unwrap().nmalloc, 0); // statistics are per arena
    assert_eq!(named.stats().unwrap().nmalloc, 10);
    assert_eq!(grandchild.stats().unwrap().nmalloc, 20);
    // A reset of the parent takes its children with it; with child handles alive it needs
    // reset_unchecked (nothing uses their blocks any more).
    unsafe { parent.reset_unchecked() }.unwrap();
    assert_eq!(named.stats().unwrap().allocated, 0);
    assert_eq!(grandchild.stats().unwrap().allocated, 0);
    // Children dropped first, as the borrow checker demands; then the parent.
    drop(grandchild);
    named.release().unwrap();
    drop(anon);
    parent.release().unwrap();
}

#[test]
fn cleanups_run_at_reset_and_at_release() {
    use std::sync::{Arc, Mutex};
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut arena = Arena::new(Some("rs-cleanups")).unwrap();
    for i in 0..3 {
        let log = Arc::clone(&log);
        arena.on_reset(move || log.lock().unwrap().push(i)).unwrap();
    }
    arena.reset().unwrap();
    assert_eq!(*log.lock().unwrap(), vec![2, 1, 0]); // last registered first
    arena.reset().unwrap();
    assert_eq!(log.lock().unwrap().len(), 3); // each exactly once
    let child = arena.child(None).unwrap();
    let l = Arc::clone(&log);
    child.on_reset(move || l.lock().unwrap().push(10)).unwrap();
    let l = Arc::clone(&log);
    arena.on_reset(move || l.lock().unwrap().push(20)).unwrap();
    drop(child); // its own release runs its cleanup
    assert_eq!(log.lock().unwrap()[3..], [10]);
    drop(arena);
    assert_eq!(log.lock().unwrap()[3..], [10, 20]);
    assert_eq!(Arc::strong_count(&log), 1); // every closure was dropped
}

#[test]
fn many_threads_allocate_in_one_arena() {
    let arena = Arena::new(Some("rs-threads")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let alloc = arena.allocator();
            s.spawn(move || {
                let layout = Layout::from_size_align(48, 8).unwrap();
                let mut blocks = Vec::new();
                for i in 0..10_000 {
                    let p = alloc.try_alloc(layout).unwrap();
                    unsafe { p.as_ptr().write_bytes(t as u8, 48) };
                    blocks.push(p);
                    if i % 3 == 0 {
                        unsafe { alloc.free(blocks.swap_remove(0), layout) };
                    }
                }
                for p in blocks {
                    unsafe { alloc.free(p, layout) };
                }
            });
        }
    });
    let st = arena.stats().unwrap();
    assert_eq!(st.nmalloc, 40_000);
    assert_eq!(st.ndalloc, 40_000);
}

#[test]
fn builtin_arenas_are_shared_and_never_released() {
    let a = Arena::builtin(Kind::Cache).unwrap();
    let b = Arena::builtin(Kind::Cache).unwrap();
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.name(), "cache");
    for (k, name) in [
        (Kind::Request, "request"),
        (Kind::Response, "response"),
        (Kind::Static, "static"),
        (Kind::Task, "task"),
    ] {
        assert_eq!(Arena::builtin(k).unwrap().name(), name);
    }
    let p = a.allocator().try_alloc(Layout::new::<[u8; 32]>()).unwrap();
    unsafe { a.allocator().free(p, Layout::new::<[u8; 32]>()) };
    let child = a.child(None).unwrap();
    assert_eq!(unsafe { catmem_sys::catmem_arena_parent(child.as_raw()) }, a.as_raw());
}

#[test]
fn report_lists_live_arenas() {
    let arena = Arena::new(Some("rs-report")).unwrap();
    fill(arena.allocator(), 3, 10);
    let text = catmem::report(ReportFormat::Text).unwrap();
    assert!(text.contains("rs-report"), "{}", text);
    let json = catmem::report(ReportFormat::Json).unwrap();
    assert!(json.starts_with('{') && json.contains("\"rs-report\""), "{}", json);
}

#[test]
fn profiling_needs_a_profiling_jemalloc() {
    // Neither the system backend nor a jemalloc started without MALLOC_CONF=prof:true profiles.
    assert_eq!(kind(catmem::prof_active(true)), ErrorKind::Unsupported);
    assert_eq!(kind(catmem::prof_dump(None)), ErrorKind::Unsupported);
    let nul = std::path::Path::new("a\0b");
    assert_eq!(kind(catmem::prof_dump(Some(nul))), ErrorKind::InvalidInput);
}

#[test]
fn errors_are_errno_values() {
    for (code, k) in [
        (libc::ENOMEM, ErrorKind::OutOfMemory),
        (libc::EINVAL, ErrorKind::InvalidInput),
        (libc::ESHUTDOWN, ErrorKind::Shutdown),
        (libc::EBUSY, ErrorKind::Busy),
        (libc::EEXIST, ErrorKind::AlreadyExists),
        (libc::ENAMETOOLONG, ErrorKind::NameTooLong),
        (libc::EAGAIN, ErrorKind::NoFreeSlot),
        (libc::ENOTSUP, ErrorKind::Unsupported),
        (libc::EIO, ErrorKind::Io),
        (libc::ENOENT, ErrorKind::Other),
    ] {
        let e = Error::from_code(code);
        assert_eq!((e.code(), e.kind()), (code, k));
        let io: std::io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(code));
        assert!(e.to_string().starts_with("catmem: "), "{}", e);
    }
    assert_eq!(
        format!("{:?}", Error::from_code(libc::EBUSY)),
        format!("Error(Busy, {})", libc::EBUSY)
    );
}

#[cfg(feature = "allocator_api")]
#[test]
fn allocator_api_containers() {
    let mut arena = Arena::new(Some("rs-allocator-api")).unwrap();
    {
        let alloc = arena.allocator();
        let mut v: Vec<u64, _> = Vec::new_in(alloc);
        v.extend(0..10_000u64);
        let b = Box::new_in([7u8; 100], alloc);
        #[repr(align(256))]
        struct Aligned(u8);
        let c = Box::new_in(Aligned(1), alloc);
        assert_eq!(&*c as *const Aligned as usize % 256, 0);
        v.shrink_to_fit();
        assert_eq!(v.iter().sum::<u64>(), 49_995_000);
        let st = arena.stats().unwrap();
        assert!(st.allocated >= 80_000, "{:?}", st);
        assert_eq!(b[99] + c.0, 8);
        // v, b and c go back to the arena when they drop.
    }
    assert_eq!(arena.stats().unwrap().allocated, 0);
    // Past a limit, try_reserve reports the failure instead of aborting.
    arena.set_limit(Some(4096)).unwrap();
    let mut v: Vec<u8, _> = Vec::new_in(arena.allocator());
    assert!(v.try_reserve(1 << 20).is_err());
    drop(v);
    arena.reset().unwrap();
}
