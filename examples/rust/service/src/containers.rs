//! A container of the program's own on catmem's GlobalAlloc-shaped allocator: a growable
//! vector in one arena. It borrows the arena through its allocator, so it cannot outlive a
//! reset of it; a failed allocation is an Err, never an abort.
use catmem::{ArenaAlloc, Error};
use std::alloc::{GlobalAlloc, Layout};
use std::ops::Deref;
use std::ptr::NonNull;

pub struct ArenaVec<'a, T> {
    alloc: ArenaAlloc<'a>,
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
}

// The elements are the vector's own; its allocator may be used from any thread.
unsafe impl<T: Send> Send for ArenaVec<'_, T> {}

impl<'a, T> ArenaVec<'a, T> {
    pub fn new(alloc: ArenaAlloc<'a>) -> Self {
        assert!(std::mem::size_of::<T>() != 0, "no zero-sized elements");
        ArenaVec { alloc, ptr: NonNull::dangling(), len: 0, cap: 0 }
    }

    /// Room for `extra` more elements, or the arena's error (past its limit: OutOfMemory).
    pub fn try_reserve(&mut self, extra: usize) -> Result<(), Error> {
        // A size that overflows before catmem sees it is out of memory too.
        let need = self.len.checked_add(extra).ok_or_else(|| Error::from_code(libc::ENOMEM))?;
        if need <= self.cap {
            return Ok(());
        }
        let cap = need.max(self.cap * 2).max(4);
        let layout = Layout::array::<T>(cap).map_err(|_| Error::from_code(libc::ENOMEM))?;
        let p = if self.cap == 0 {
            self.alloc.try_alloc(layout)?
        } else {
            let old = Layout::array::<T>(self.cap).unwrap();
            unsafe { self.alloc.try_realloc(self.ptr.cast(), old, layout.size())? }
        };
        self.ptr = p.cast();
        self.cap = cap;
        Ok(())
    }

    pub fn try_push(&mut self, value: T) -> Result<(), Error> {
        self.try_reserve(1)?;
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
        Ok(())
    }
}

impl<'a> ArenaVec<'a, u8> {
    pub fn try_extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.try_reserve(bytes.len())?;
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                bytes.len(),
            )
        };
        self.len += bytes.len();
        Ok(())
    }

    /// A copy of `s` in the arena.
    pub fn try_from_str(alloc: ArenaAlloc<'a>, s: &str) -> Result<Self, Error> {
        let mut v = ArenaVec::new(alloc);
        v.try_extend_from_slice(s.as_bytes())?;
        Ok(v)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self).unwrap_or("")
    }
}

impl<T> Deref for ArenaVec<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for ArenaVec<'_, T> {
    fn drop(&mut self) {
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
            if self.cap != 0 {
                self.alloc
                    .dealloc(self.ptr.as_ptr() as *mut u8, Layout::array::<T>(self.cap).unwrap());
            }
        }
    }
}
