//! catmem for Rust: arenas that are freed all at once, measured on their own and capped.
//!
//! ```no_run
//! use std::alloc::{GlobalAlloc, Layout};
//!
//! let mut request = catmem::Arena::new(None)?;        // anonymous
//! let alloc = request.allocator();                     // GlobalAlloc-shaped, borrows the arena
//! let p = alloc.try_alloc(Layout::new::<[u8; 256]>())?;
//! unsafe { p.as_ptr().write_bytes(0, 256) };
//! println!("{:?}", request.stats()?);                  // allocated, active, nmalloc, ...
//! request.reset()?;                                    // everything in it gone, in one call
//! # Ok::<(), catmem::Error>(())
//! ```
//!
//! catmem (catmem.h; its top comment is the manual) is compiled by `catmem-sys` with its runtime
//! backend: it links no jemalloc, and at the first call binds to the jemalloc already in the
//! process (under the prefixes catmem-sys was built with: `_rjem_`, then none), or runs its own
//! engine on the system malloc. [`backend_name`] and [`backend_info`] say which.
//!
//! Ownership carries catmem's lifetime rules, so that safe code cannot keep memory that a reset
//! or a release frees:
//! - [`Arena::reset`] takes `&mut self`, and [`ArenaAlloc`] borrows its arena: no container
//!   allocated in an arena survives its reset. Dropping an [`Arena`] releases it.
//! - A child ([`Arena::child`]) borrows its parent, because catmem resets and releases children
//!   with their parent: a parent cannot be reset or dropped while a child lives.
//! - The built-in arenas ([`Arena::builtin`]) are shared by the whole process: they are handed
//!   out as `&'static Arena` and reset only through the `unsafe` [`Arena::reset_unchecked`].
//!
//! Errors are [`Error`]s: catmem's errno values, with a [`ErrorKind`] for the ones it documents.
//!
//! With the `allocator_api` feature (a nightly compiler), [`ArenaAlloc`] is also a
//! `core::alloc::Allocator`, for `Vec::new_in`, `Box::new_in` and the like.
#![cfg_attr(feature = "allocator_api", feature(allocator_api))]

use catmem_sys as ffi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::{c_int, c_long, c_void};
use std::ptr::{self, NonNull};
use std::sync::Mutex;

/// A catmem error: the errno value catmem reported (ERRORS in the manual).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    code: i32,
}

/// What an [`Error`] means, for the errno values catmem documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// ENOMEM: out of memory, past the arena's limit, or a size catmem never accepts.
    OutOfMemory,
    /// EINVAL: a bad argument (an empty name or one with a NUL byte, a limit of 0 bytes, a
    /// decay below -1, an alignment catmem refuses).
    InvalidInput,
    /// ESHUTDOWN: called after [`shutdown`] and before the next [`init`].
    Shutdown,
    /// EBUSY: the arena is running its reset cleanups ([`Arena::on_reset`]).
    Busy,
    /// EEXIST: an arena of that name is alive.
    AlreadyExists,
    /// ENAMETOOLONG: a name longer than catmem_sys::CATMEM_NAME_MAX bytes.
    NameTooLong,
    /// EAGAIN: jemalloc cannot create more arenas (about 4,000 live ones; catmem itself has no
    /// cap, and on the system malloc arenas are limited by memory alone).
    NoFreeSlot,
    /// ENOTSUP: not on this backend, or not in this process (profiling, decay of a small
    /// arena).
    Unsupported,
    /// EIO: the report could not be written.
    Io,
    /// Any other errno value.
    Other,
}

impl Error {
    /// The error of an errno value.
    pub fn from_code(code: i32) -> Error {
        Error { code }
    }

    /// The errno value.
    pub fn code(&self) -> i32 {
        self.code
    }

    pub fn kind(&self) -> ErrorKind {
        match self.code {
            libc::ENOMEM => ErrorKind::OutOfMemory,
            libc::EINVAL => ErrorKind::InvalidInput,
            libc::ESHUTDOWN => ErrorKind::Shutdown,
            libc::EBUSY => ErrorKind::Busy,
            libc::EEXIST => ErrorKind::AlreadyExists,
            libc::ENAMETOOLONG => ErrorKind::NameTooLong,
            libc::EAGAIN => ErrorKind::NoFreeSlot,
            libc::ENOTSUP => ErrorKind::Unsupported,
            libc::EIO => ErrorKind::Io,
            _ => ErrorKind::Other,
        }
    }

    /// The error an allocation function reported through errno.
    fn last() -> Error {
        let code = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Error { code: if code == 0 { libc::ENOMEM } else { code } }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}, {})", self.kind(), self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "catmem: {}", std::io::Error::from_raw_os_error(self.code))
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.code)
    }
}

/// catmem's Result.
pub type Result<T> = std::result::Result<T, Error>;

/// A control function's return value: 0, or an errno value.
fn check(rc: c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::from_code(rc))
    }
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::from_code(libc::EINVAL))
}

// ---- the process ---------------------------------------------------------------------------

/// Initialises catmem (optional: the first call of any kind does it). Idempotent, thread-safe.
pub fn init() -> Result<()> {
    check(unsafe { ffi::catmem_init() })
}

/// Makes every call fail with [`ErrorKind::Shutdown`] until the next [`init`]; frees nothing
/// (memory stays valid, and frees keep working).
///
/// # Safety
/// No other catmem call may run in any thread during it (THREADS in the manual).
pub unsafe fn shutdown() {
    ffi::catmem_shutdown()
}

/// Whether catmem is initialised and not shut down.
pub fn is_initialized() -> bool {
    unsafe { ffi::catmem_is_initialized() != 0 }
}

/// "jemalloc" (catmem found a jemalloc in the process) or "system".
pub fn backend_name() -> &'static str {
    // A string literal of catmem's.
    unsafe { CStr::from_ptr(ffi::catmem_backend_name()) }.to_str().unwrap_or("?")
}

/// Why that backend, e.g. "jemalloc 5.1.0-0-g61efbda7... found in process with symbol prefix
/// _rjem_", or "no jemalloc in process: system malloc".
pub fn backend_info() -> String {
    unsafe { CStr::from_ptr(ffi::catmem_backend_info()) }.to_string_lossy().into_owned()
}

/// Statistics of the whole process (jemalloc: everything jemalloc serves; system: catmem's
/// arenas); peak and limit are 0.
pub fn total_stats() -> Result<Stats> {
    let mut raw = ffi::catmem_stats::default();
    check(unsafe { ffi::catmem_total_stats(&mut raw) })?;
    Ok(Stats::from(raw))
}

/// The shape of [`report`]'s text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// A readable table.
    Text,
    /// One JSON object.
    Json,
}

/// Every live arena (name, id, parent, statistics, pending cleanups) and the total.
pub fn report(format: ReportFormat) -> Result<String> {
    let flags = match format {
        ReportFormat::Text => ffi::CATMEM_REPORT_TEXT,
        ReportFormat::Json => ffi::CATMEM_REPORT_JSON,
    };
    let mut buf = ptr::null_mut();
    let mut len = 0;
    check(unsafe { ffi::catmem_rs_report(flags, &mut buf, &mut len) })?;
    let text = unsafe { std::slice::from_raw_parts(buf as *const u8, len) };
    let text = String::from_utf8_lossy(text).into_owned();
    unsafe { ffi::catmem_rs_report_free(buf) };
    Ok(text)
}

/// jemalloc heap profiling on or off; [`ErrorKind::Unsupported`] unless the process started
/// with MALLOC_CONF=prof:true on a jemalloc built with profiling.
pub fn prof_active(on: bool) -> Result<()> {
    check(unsafe { ffi::catmem_prof_active(on as c_int) })
}

/// Writes a jemalloc heap profile to `path` (None: jemalloc's default name); as
/// [`prof_active`] for when it works.
pub fn prof_dump(path: Option<&std::path::Path>) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = match path {
        Some(p) => Some(
            CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::from_code(libc::EINVAL))?,
        ),
        None => None,
    };
    check(unsafe { ffi::catmem_prof_dump(path.as_ref().map_or(ptr::null(), |p| p.as_ptr())) })
}

// ---- arenas ----------------------------------------------------------------------------------

/// The built-in arenas, one per typical lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Request,
    Response,
    Cache,
    Static,
    Task,
}

/// An arena's statistics (STATISTICS in the manual says what each means on each backend).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in live blocks, size-class rounded.
    pub allocated: usize,
    /// Bytes in the arena's active pages.
    pub active: usize,
    /// Bytes of the arena physically resident.
    pub resident: usize,
    /// Bytes mapped for the arena.
    pub mapped: usize,
    /// Calls that handed out a block.
    pub nmalloc: u64,
    /// Blocks freed, one by one or by a reset.
    pub ndalloc: u64,
    /// The highest `allocated` since the arena was created or last reset.
    pub peak: usize,
    /// The arena's limit ([`Arena::set_limit`]).
    pub limit: Option<usize>,
}

impl From<ffi::catmem_stats> for Stats {
    fn from(s: ffi::catmem_stats) -> Stats {
        Stats {
            allocated: s.allocated,
            active: s.active,
            resident: s.resident,
            mapped: s.mapped,
            nmalloc: s.nmalloc,
            ndalloc: s.ndalloc,
            peak: s.peak,
            limit: if s.limit == 0 { None } else { Some(s.limit) },
        }
    }
}

/// A catmem arena. An owned `Arena` (from [`Arena::new`] or [`Arena::child`]) is released when
/// it is dropped: its memory is freed, its cleanups run, its slot is reused. `'p` is the borrow
/// of its parent (`'static` for a top-level arena).
///
/// Allocation, free, statistics, limits and purges may run from any thread at once (an `Arena`
/// is `Send` and `Sync`); a reset needs `&mut`.
pub struct Arena<'p> {
    raw: NonNull<ffi::catmem_arena>,
    _parent: PhantomData<&'p ()>,
}

// catmem's calls on one arena are thread-safe, except reset and release, which need ownership
// or `&mut` here (THREADS in the manual).
unsafe impl Send for Arena<'_> {}
unsafe impl Sync for Arena<'_> {}

/// The built-in arenas handed out so far, one leaked handle each, so that they can be
/// `&'static`.
static BUILTINS: Mutex<[Option<&'static Arena<'static>>; 5]> = Mutex::new([None; 5]);

impl Arena<'static> {
    /// A top-level arena named `name` (unique among live arenas; at most
    /// catmem_sys::CATMEM_NAME_MAX bytes), or anonymous with `None`.
    pub fn new(name: Option<&str>) -> Result<Arena<'static>> {
        Arena::create(None, name)
    }

    /// A built-in arena, shared by the whole process. It is never released; resetting it needs
    /// [`Arena::reset_unchecked`], since anyone may hold memory of it.
    pub fn builtin(kind: Kind) -> Result<&'static Arena<'static>> {
        let (i, k) = match kind {
            Kind::Request => (0, ffi::CATMEM_REQUEST),
            Kind::Response => (1, ffi::CATMEM_RESPONSE),
            Kind::Cache => (2, ffi::CATMEM_CACHE),
            Kind::Static => (3, ffi::CATMEM_STATIC),
            Kind::Task => (4, ffi::CATMEM_TASK),
        };
        // Asked every time, so that a call after shutdown fails as catmem says.
        let raw = NonNull::new(unsafe { ffi::catmem_arena_get(k) }).ok_or_else(Error::last)?;
        let mut builtins = BUILTINS.lock().unwrap_or_else(|e| e.into_inner());
        Ok(*builtins[i]
            .get_or_insert_with(|| Box::leak(Box::new(Arena { raw, _parent: PhantomData }))))
    }
}

impl<'p> Arena<'p> {
    /// An anonymous arena is catmem's own (a NULL name): it has no name and is never found by
    /// one.
    fn create(parent: Option<&Arena<'_>>, name: Option<&str>) -> Result<Arena<'p>> {
        let name = name.map(c_string).transpose()?;
        let name_ptr = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
        let raw = unsafe {
            match parent {
                Some(p) => ffi::catmem_arena_create_child(p.raw.as_ptr(), name_ptr),
                None => ffi::catmem_arena_create(name_ptr),
            }
        };
        let raw = NonNull::new(raw).ok_or_else(Error::last)?;
        Ok(Arena { raw, _parent: PhantomData })
    }

    /// A child arena of this one (named, or anonymous with `None`). catmem resets and releases
    /// children with their parent, so the child borrows this arena: this one cannot be reset
    /// or dropped while the child lives. A child's statistics and limit are its own.
    pub fn child(&self, name: Option<&str>) -> Result<Arena<'_>> {
        Arena::create(Some(self), name)
    }

    /// The arena's name ("" for an anonymous arena).
    pub fn name(&self) -> String {
        let p = unsafe { ffi::catmem_arena_name(self.raw.as_ptr()) };
        if p.is_null() {
            return String::new();
        }
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// catmem's number for the arena, the same on every backend (the built-in arenas are 0 to
    /// 4); a released arena's number goes to a later one.
    pub fn id(&self) -> Option<u32> {
        u32::try_from(unsafe { ffi::catmem_arena_id(self.raw.as_ptr()) }).ok()
    }

    /// Frees every block of the arena and of its children at once, after running their
    /// cleanups ([`Arena::on_reset`]). The limit stays.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { ffi::catmem_arena_reset(self.raw.as_ptr()) })
    }

    /// [`Arena::reset`] through a shared reference: for the built-in arenas, and for a parent
    /// whose children are alive.
    ///
    /// # Safety
    /// Nobody may use memory of this arena or of its children afterwards, and no other thread
    /// may allocate from or free into them during the call.
    pub unsafe fn reset_unchecked(&self) -> Result<()> {
        check(ffi::catmem_arena_reset(self.raw.as_ptr()))
    }

    /// Releases the arena now (dropping it does the same and ignores the error): its memory is
    /// freed, its cleanups run, its slot goes to the next arena created. After a failure (after
    /// [`shutdown`], or while the arena runs its cleanups) the slot stays in use.
    pub fn release(self) -> Result<()> {
        let rc = unsafe { ffi::catmem_arena_release(self.raw.as_ptr()) };
        std::mem::forget(self);
        check(rc)
    }

    /// Gives the arena's unused pages back to the system.
    pub fn purge(&self) -> Result<()> {
        check(unsafe { ffi::catmem_arena_purge(self.raw.as_ptr()) })
    }

    /// The arena's statistics (its own: a parent's do not include its children's).
    pub fn stats(&self) -> Result<Stats> {
        let mut raw = ffi::catmem_stats::default();
        check(unsafe { ffi::catmem_arena_stats(self.raw.as_ptr(), &mut raw) })?;
        Ok(Stats::from(raw))
    }

    /// Caps the arena's allocated bytes (None: no limit): an allocation that would pass it
    /// fails with [`ErrorKind::OutOfMemory`]. `Some(0)` is [`ErrorKind::InvalidInput`]: catmem's
    /// 0 means no limit. LIMITS in the manual says how exact it is on each backend.
    pub fn set_limit(&self, bytes: Option<usize>) -> Result<()> {
        let bytes = match bytes {
            Some(0) => return Err(Error::from_code(libc::EINVAL)),
            Some(n) => n,
            None => 0,
        };
        check(unsafe { ffi::catmem_arena_set_limit(self.raw.as_ptr(), bytes) })
    }

    /// The arena's limit.
    pub fn limit(&self) -> Option<usize> {
        match unsafe { ffi::catmem_arena_limit(self.raw.as_ptr()) } {
            0 => None,
            n => Some(n),
        }
    }

    /// This arena's decay, in milliseconds (-1: never, 0: at once): jemalloc's page decay, or on
    /// the system engine that of the large blocks it keeps for reuse (`muzzy_ms` unused);
    /// [`ErrorKind::Unsupported`] for a small arena.
    pub fn set_decay(&self, dirty_ms: i64, muzzy_ms: i64) -> Result<()> {
        let ms = |v: i64| c_long::try_from(v).map_err(|_| Error::from_code(libc::EINVAL));
        check(unsafe {
            ffi::catmem_arena_set_decay(self.raw.as_ptr(), ms(dirty_ms)?, ms(muzzy_ms)?)
        })
    }

    /// Runs `f` at the next reset or release of this arena (or of an ancestor), before its
    /// memory is freed: last registered first, exactly once, on the thread that resets. While
    /// cleanups run, the arena answers [`ErrorKind::Busy`] to everything but frees. A panic in
    /// `f` aborts the process (it cannot unwind through catmem).
    pub fn on_reset<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<()> {
        unsafe extern "C" fn run(arg: *mut c_void) {
            let f = Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>);
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                std::process::abort();
            }
        }
        let f: Box<Box<dyn FnOnce() + Send>> = Box::new(Box::new(f));
        let arg = Box::into_raw(f) as *mut c_void;
        let rc = unsafe { ffi::catmem_arena_on_reset(self.raw.as_ptr(), Some(run), arg) };
        if rc != 0 {
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) });
        }
        check(rc)
    }

    /// Whether `p`, a live block of some catmem arena, belongs to this one.
    ///
    /// # Safety
    /// `p` must come from catmem (jemalloc's lookup crashes on pointers it never handed out).
    pub unsafe fn owns(&self, p: *const u8) -> bool {
        ffi::catmem_arena_owns(self.raw.as_ptr(), p as *const c_void) != 0
    }

    /// An allocator into this arena, for the program's own containers. It borrows the arena, so
    /// nothing it allocated outlives a reset.
    pub fn allocator(&self) -> ArenaAlloc<'_> {
        ArenaAlloc { raw: self.raw, _arena: PhantomData }
    }

    /// The catmem handle, for catmem_sys.
    pub fn as_raw(&self) -> *mut ffi::catmem_arena {
        self.raw.as_ptr()
    }
}

impl Drop for Arena<'_> {
    fn drop(&mut self) {
        // Errors (after shutdown, or dropped inside its own cleanup) leave the slot in use.
        let _ = unsafe { ffi::catmem_arena_release(self.raw.as_ptr()) };
    }
}

impl fmt::Debug for Arena<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena").field("name", &self.name()).field("id", &self.id()).finish()
    }
}

// ---- allocation ------------------------------------------------------------------------------

/// The alignment a plain catmem_alloc gives a block at least that large (malloc's, which both
/// engines keep through their size classes; catmem.hpp decides the same way).
const PLAIN_ALIGN: usize = 2 * std::mem::size_of::<usize>();

/// Whether a layout needs catmem_aligned_alloc (and then catmem_free, never _free_sized).
fn needs_aligned(size: usize, align: usize) -> bool {
    align > PLAIN_ALIGN || size < align
}

/// Allocation into one arena, shaped as `std::alloc::GlobalAlloc` (and, with the
/// `allocator_api` feature, `core::alloc::Allocator`). Copy it freely: every copy allocates
/// into the same arena and borrows it.
#[derive(Clone, Copy, Debug)]
pub struct ArenaAlloc<'a> {
    raw: NonNull<ffi::catmem_arena>,
    _arena: PhantomData<&'a ()>,
}

unsafe impl Send for ArenaAlloc<'_> {}
unsafe impl Sync for ArenaAlloc<'_> {}

impl<'a> ArenaAlloc<'a> {
    fn result(p: *mut c_void) -> Result<NonNull<u8>> {
        NonNull::new(p as *mut u8).ok_or_else(Error::last)
    }

    /// A block for `layout`, or why not ([`ErrorKind::OutOfMemory`] past the arena's limit,
    /// [`ErrorKind::Busy`] during its cleanups, [`ErrorKind::Shutdown`]). A size of 0 is a
    /// valid, unique block.
    pub fn try_alloc(&self, layout: Layout) -> Result<NonNull<u8>> {
        let a = self.raw.as_ptr();
        Self::result(unsafe {
            if needs_aligned(layout.size(), layout.align()) {
                ffi::catmem_aligned_alloc(a, layout.align(), layout.size())
            } else {
                ffi::catmem_alloc(a, layout.size())
            }
        })
    }

    /// [`ArenaAlloc::try_alloc`], zero-filled.
    pub fn try_alloc_zeroed(&self, layout: Layout) -> Result<NonNull<u8>> {
        if needs_aligned(layout.size(), layout.align()) {
            let p = self.try_alloc(layout)?;
            unsafe { p.as_ptr().write_bytes(0, layout.size()) };
            return Ok(p);
        }
        Self::result(unsafe { ffi::catmem_calloc(self.raw.as_ptr(), 1, layout.size()) })
    }

    /// Frees a block.
    ///
    /// # Safety
    /// `p` came from this allocator (or another of the same arena) with this `layout`, and is
    /// not used afterwards.
    pub unsafe fn free(&self, p: NonNull<u8>, layout: Layout) {
        let a = self.raw.as_ptr();
        if needs_aligned(layout.size(), layout.align()) {
            ffi::catmem_free(a, p.as_ptr() as *mut c_void)
        } else {
            ffi::catmem_free_sized(a, p.as_ptr() as *mut c_void, layout.size())
        }
    }

    /// Resizes a block to `new_size` bytes, keeping `layout`'s alignment and the contents up to
    /// the smaller size. On failure the block is unchanged.
    ///
    /// # Safety
    /// As for [`ArenaAlloc::free`]; `new_size` rounded up to the alignment must not overflow
    /// isize.
    pub unsafe fn try_realloc(
        &self,
        p: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>> {
        let align = layout.align();
        if !needs_aligned(layout.size(), align) && !needs_aligned(new_size, align) {
            let q = ffi::catmem_realloc(self.raw.as_ptr(), p.as_ptr() as *mut c_void, new_size);
            return Self::result(q);
        }
        let new = self.try_alloc(Layout::from_size_align_unchecked(new_size, align))?;
        ptr::copy_nonoverlapping(p.as_ptr(), new.as_ptr(), layout.size().min(new_size));
        self.free(p, layout);
        Ok(new)
    }
}

unsafe impl GlobalAlloc for ArenaAlloc<'_> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.try_alloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.try_alloc_zeroed(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(p) {
            self.free(p, layout)
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match NonNull::new(p) {
            Some(p) => {
                self.try_realloc(p, layout, new_size).map_or(ptr::null_mut(), NonNull::as_ptr)
            }
            None => ptr::null_mut(),
        }
    }
}

#[cfg(feature = "allocator_api")]
mod allocator_api {
    use super::ArenaAlloc;
    use core::alloc::{AllocError, Allocator, Layout};
    use core::ptr::{self, NonNull};

    fn slice(p: NonNull<u8>, len: usize) -> NonNull<[u8]> {
        // slice_from_raw_parts_mut of a non-null pointer is non-null.
        unsafe { NonNull::new_unchecked(ptr::slice_from_raw_parts_mut(p.as_ptr(), len)) }
    }

    unsafe impl Allocator for ArenaAlloc<'_> {
        fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            self.try_alloc(layout).map(|p| slice(p, layout.size())).map_err(|_| AllocError)
        }

        fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
            self.try_alloc_zeroed(layout).map(|p| slice(p, layout.size())).map_err(|_| AllocError)
        }

        unsafe fn deallocate(&self, p: NonNull<u8>, layout: Layout) {
            self.free(p, layout)
        }

        unsafe fn grow(
            &self,
            p: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            self.resize(p, old, new)
        }

        unsafe fn shrink(
            &self,
            p: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            self.resize(p, old, new)
        }
    }

    impl ArenaAlloc<'_> {
        unsafe fn resize(
            &self,
            p: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, AllocError> {
            let q = if new.align() == old.align() {
                self.try_realloc(p, old, new.size())
            } else {
                self.try_alloc(new).map(|q| {
                    ptr::copy_nonoverlapping(p.as_ptr(), q.as_ptr(), old.size().min(new.size()));
                    self.free(p, old);
                    q
                })
            };
            q.map(|q| slice(q, new.size())).map_err(|_| AllocError)
        }
    }
}
