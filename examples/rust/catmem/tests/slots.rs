//! Every arena slot in use: creation reports ErrorKind::NoFreeSlot, named, anonymous or child;
//! a drop gives a slot back. One test: it takes every slot of the process.
use catmem::{Arena, ErrorKind};

#[test]
fn no_free_slot_until_an_arena_is_dropped() {
    let mut arenas = Vec::new();
    let err = loop {
        match Arena::new(None) {
            Ok(a) => arenas.push(a),
            Err(e) => break e,
        }
        assert!(arenas.len() <= catmem_sys::CATMEM_MAX_ARENAS);
    };
    assert_eq!(err.kind(), ErrorKind::NoFreeSlot);
    // The built-in arenas take the other slots.
    assert_eq!(
        arenas.len(),
        catmem_sys::CATMEM_MAX_ARENAS - catmem_sys::CATMEM_KIND_COUNT as usize
    );
    assert_eq!(Arena::new(Some("rs-one-more")).unwrap_err().kind(), ErrorKind::NoFreeSlot);
    assert_eq!(arenas[0].child(None).unwrap_err().kind(), ErrorKind::NoFreeSlot);
    arenas.pop();
    let last = Arena::new(Some("rs-one-more")).unwrap();
    assert_eq!(Arena::new(None).unwrap_err().kind(), ErrorKind::NoFreeSlot);
    drop(last);
    drop(arenas);
    // Every slot is free again: as many arenas as before.
    let again: Vec<Arena> =
        (0..catmem_sys::CATMEM_MAX_ARENAS - 5).map(|_| Arena::new(None).unwrap()).collect();
    assert_eq!(again.len(), 59);
}
