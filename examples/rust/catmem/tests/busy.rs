//! While an arena runs its reset cleanups it answers ErrorKind::Busy to every call but frees,
//! through the wrapper as in C. The cleanup runs on a built-in arena (a closure can reach it:
//! it is &'static), reset with reset_unchecked; one test, since that reset is process-wide.
use catmem::{Arena, ErrorKind, Kind};
use std::alloc::{GlobalAlloc, Layout};
use std::sync::{Arc, Mutex};

#[test]
fn calls_inside_a_cleanup_are_busy() {
    let task = Arena::builtin(Kind::Task).unwrap();
    let child = task.child(Some("rs-busy-child")).unwrap();
    let layout = Layout::from_size_align(64, 8).unwrap();
    let before = task.allocator().try_alloc(layout).unwrap();
    let before = before.as_ptr() as usize;
    let seen: Arc<Mutex<Vec<(&'static str, Option<ErrorKind>)>>> = Arc::default();
    let log = Arc::clone(&seen);
    // The child moves into the cleanup: it is reset with its parent, and busy too.
    task.on_reset(move || {
        let mut log = log.lock().unwrap();
        let task = Arena::builtin(Kind::Task).unwrap();
        let k = |r: catmem::Result<()>| r.err().map(|e| e.kind());
        let alloc = task.allocator();
        log.push(("alloc", alloc.try_alloc(layout).err().map(|e| e.kind())));
        log.push(("alloc_zeroed", alloc.try_alloc_zeroed(layout).err().map(|e| e.kind())));
        log.push((
            "GlobalAlloc::alloc is null",
            Some(ErrorKind::Busy).filter(|_| unsafe { alloc.alloc(layout) }.is_null()),
        ));
        log.push(("stats", task.stats().err().map(|e| e.kind())));
        log.push(("purge", k(task.purge())));
        log.push(("set_limit", k(task.set_limit(Some(1 << 20)))));
        log.push(("set_decay", k(task.set_decay(-1, -1))));
        log.push(("on_reset", k(task.on_reset(|| ()))));
        log.push(("child", task.child(None).err().map(|e| e.kind())));
        log.push(("reset_unchecked", k(unsafe { task.reset_unchecked() })));
        log.push(("child's stats", child.stats().err().map(|e| e.kind())));
        log.push(("child's release", k(child.release())));
        // Frees still work: the block allocated before the reset is still there now.
        unsafe { alloc.free(std::ptr::NonNull::new(before as *mut u8).unwrap(), layout) };
    })
    .unwrap();
    unsafe { task.reset_unchecked() }.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 12);
    for (call, kind) in seen.iter() {
        assert_eq!(*kind, Some(ErrorKind::Busy), "{}", call);
    }
    // After the cleanups the arena works again.
    let p = task.allocator().try_alloc(layout).unwrap();
    unsafe { task.allocator().free(p, layout) };
    assert_eq!(task.stats().unwrap().allocated, 0);
}
