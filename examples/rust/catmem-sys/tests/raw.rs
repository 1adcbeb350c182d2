//! The raw bindings as C sees them: structure layouts, the inline functions' out-of-line copies,
//! and the C contract (NULL and errno, or an errno value) on the calls that take input.
use catmem_sys::*;
use std::ffi::{CStr, CString};
use std::mem::{align_of, size_of};
use std::ptr;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

#[test]
fn layouts_match_c() {
    unsafe {
        assert_eq!(catmem_rs_layout(0), size_of::<catmem_stats>());
        assert_eq!(catmem_rs_layout(1), size_of::<catmem_region>());
        assert_eq!(catmem_rs_layout(2), size_of::<catmem_region_mark>());
        assert_eq!(catmem_rs_layout(16), align_of::<catmem_stats>());
        assert_eq!(catmem_rs_layout(17), align_of::<catmem_region>());
        assert_eq!(catmem_rs_layout(18), align_of::<catmem_region_mark>());
    }
}

#[test]
fn constants_match_c() {
    unsafe {
        assert_eq!(catmem_rs_constant(0), CATMEM_NAME_MAX);
        assert_eq!(catmem_rs_constant(1), CATMEM_SIZE_MAX);
        assert_eq!(catmem_rs_constant(2), CATMEM_ALIGN_MAX);
        assert_eq!(catmem_rs_constant(3), CATMEM_KIND_COUNT as usize);
        assert_eq!(catmem_rs_constant(4), CATMEM_REPORT_JSON as usize);
    }
}

#[test]
fn arenas_allocation_and_regions() {
    unsafe {
        assert_eq!(catmem_init(), 0);
        let backend = CStr::from_ptr(catmem_backend_name()).to_str().unwrap();
        assert!(backend == "jemalloc" || backend == "system", "{}", backend);
        let name = CString::new("sys-raw").unwrap();
        let a = catmem_arena_create(name.as_ptr());
        assert!(!a.is_null());
        assert_eq!(CStr::from_ptr(catmem_arena_name(a)), name.as_c_str());
        assert_eq!(catmem_arena_find(name.as_ptr()), a);

        let p = catmem_alloc(a, 100) as *mut u8;
        assert!(!p.is_null() && catmem_usable_size(p as *const _) >= 100);
        assert_eq!(catmem_arena_owns(a, p as *const _), 1);
        let z = catmem_calloc(a, 10, 10) as *mut u8;
        assert!((0..100).all(|i| *z.add(i) == 0));
        let al = catmem_aligned_alloc(a, 4096, 10);
        assert_eq!(al as usize % 4096, 0);
        let s = catmem_strdup(a, name.as_ptr());
        assert_eq!(CStr::from_ptr(s), name.as_c_str());
        let p = catmem_realloc(a, p as *mut _, 5000);
        assert!(!p.is_null());
        catmem_free_sized(a, z as *mut _, 100);
        catmem_free(a, al);
        catmem_free_any(s as *mut _);
        catmem_free(a, p);

        let mut st = catmem_stats::default();
        assert_eq!(catmem_arena_stats(a, &mut st), 0);
        assert_eq!(st.allocated, 0);
        assert_eq!(st.nmalloc, 5);
        assert_eq!(st.ndalloc, 5);

        let mut r = catmem_region::default();
        assert_eq!(catmem_region_init(&mut r, a), 0);
        let x = catmem_region_alloc(&mut r, 24);
        let mark = catmem_region_save(&r);
        let y = catmem_region_alloc_aligned(&mut r, 256, 24);
        assert!(!x.is_null() && y as usize % 256 == 0);
        assert_eq!(catmem_region_restore(&mut r, mark), 0);
        assert_eq!(catmem_region_reset(&mut r), 0);
        assert_eq!(catmem_region_release(&mut r), 0);

        assert_eq!(catmem_arena_release(a), 0);
        // A released handle: EINVAL until its slot is reused.
        assert_eq!(catmem_arena_reset(a), libc::EINVAL);
    }
}

#[test]
fn errors_follow_the_c_contract() {
    unsafe {
        let a = catmem_arena_get(CATMEM_TASK);
        assert!(!a.is_null());
        assert!(catmem_alloc(a, CATMEM_SIZE_MAX).is_null());
        assert_eq!(errno(), libc::ENOMEM);
        assert!(catmem_calloc(a, usize::MAX, 2).is_null());
        assert_eq!(errno(), libc::ENOMEM);
        assert!(catmem_aligned_alloc(a, 3, 8).is_null());
        assert_eq!(errno(), libc::EINVAL);
        assert!(catmem_alloc(ptr::null_mut(), 8).is_null());
        assert_eq!(errno(), libc::EINVAL);
        assert!(catmem_arena_get(CATMEM_KIND_COUNT).is_null());
        assert_eq!(errno(), libc::EINVAL);
        let empty = CString::new("").unwrap();
        assert!(catmem_arena_create(empty.as_ptr()).is_null()); // NULL would be anonymous
        assert_eq!(errno(), libc::EINVAL);
        assert!(catmem_arena_find(ptr::null()).is_null());
        assert_eq!(errno(), libc::EINVAL);
        let long = CString::new("x".repeat(CATMEM_NAME_MAX + 1)).unwrap();
        assert!(catmem_arena_create(long.as_ptr()).is_null());
        assert_eq!(errno(), libc::ENAMETOOLONG);
        let missing = CString::new("sys-none").unwrap();
        assert!(catmem_arena_find(missing.as_ptr()).is_null());
        assert_eq!(errno(), libc::ENOENT);
        assert_eq!(catmem_arena_release(a), libc::EINVAL); // a built-in arena
        assert_eq!(catmem_arena_stats(a, ptr::null_mut()), libc::EINVAL);
        assert_eq!(catmem_arena_on_reset(a, None, ptr::null_mut()), libc::EINVAL);
        assert_eq!(catmem_report(ptr::null_mut(), CATMEM_REPORT_TEXT), libc::EINVAL);
        let mut out = ptr::null_mut();
        let mut len = 0;
        assert_eq!(catmem_rs_report(7, &mut out, &mut len), libc::EINVAL);
        assert!(out.is_null());
        assert_eq!(catmem_rs_report(CATMEM_REPORT_JSON, &mut out, &mut len), 0);
        let json = CStr::from_ptr(out).to_str().unwrap().to_owned();
        catmem_rs_report_free(out);
        assert!(json.starts_with('{') && json.contains("\"task\""), "{}", json);
    }
}
