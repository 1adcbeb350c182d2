//! Many arenas at once: catmem has no cap of its own. 10,000 live arenas, named, anonymous
//! and children; on jemalloc (this crate's runtime backend binds to it when the process has
//! it) creation may stop past 3,000 with ErrorKind::NoFreeSlot, jemalloc's own limit, and a
//! drop makes room again. One test: it takes many arenas of the process.
use catmem::{Arena, ErrorKind};

#[test]
fn many_arenas_and_no_free_slot_only_from_jemalloc() {
    let parent = Arena::new(Some("rs-parent")).unwrap();
    let mut arenas = Vec::new();
    let mut stopped = None;
    for i in 0..10_000 {
        let made = match i % 3 {
            0 => Arena::new(None),
            1 => Arena::new(Some(&format!("rs-{i}"))),
            _ => parent.child(None),
        };
        match made {
            Ok(a) => arenas.push(a),
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    if let Some(e) = stopped {
        assert_eq!(e.kind(), ErrorKind::NoFreeSlot);
        assert!(catmem::backend_name().contains("jemalloc"));
        assert!(arenas.len() > 3000);
        arenas.pop();
        arenas.push(Arena::new(Some("rs-one-more")).unwrap());
    } else {
        assert_eq!(arenas.len(), 10_000);
    }
    let n = arenas.len();
    drop(arenas);
    // Every arena went: as many can be made again.
    let again: Vec<Arena> = (0..n).map(|_| Arena::new(None).unwrap()).collect();
    assert_eq!(again.len(), n);
}
