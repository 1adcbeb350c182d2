//! What the service and its tests share: jemalloc-sys's jemalloc as a global allocator and as
//! a source of statistics, and a container of the program's own on a catmem arena.
pub mod containers;
pub mod jemalloc;
