//! Makes jemalloc-sys's jemalloc visible to catmem.
//!
//! catmem's runtime backend finds jemalloc with dlsym(RTLD_DEFAULT, "_rjem_mallocx") and its
//! eight siblings (backends/runtime/select.h), and dlsym reads only the dynamic symbol table.
//! jemalloc-sys links its jemalloc statically into the executable, whose symbols stay out of
//! that table: the linker is told to put the prefixed jemalloc functions there (GNU ld 2.35 or
//! later; elsewhere `-rdynamic` exports every symbol and works too). Nothing else changes: no
//! second jemalloc, no change to catmem.
//!
//! The `service` binary and this package's tests export them; the `no-export` binary does not,
//! and shows that catmem then runs its own engine on the system malloc.
fn main() {
    let export = "-Wl,--export-dynamic-symbol=_rjem_*";
    println!("cargo:rustc-link-arg-bin=service={}", export);
    println!("cargo:rustc-link-arg-tests={}", export);
}
