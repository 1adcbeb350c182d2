//! catmem-sys's C file, compiled with CATMEM_BACKEND_JEMALLOC and linked with jemalloc.
fn main() {
    cc::Build::new()
        .file("../../catmem-sys/src/catmem_rs.c")
        .include("../../../..")
        .define("CATMEM_BACKEND_JEMALLOC", "1")
        .compile("catmem_rs_jemalloc");
    println!("cargo:rustc-link-lib=jemalloc");
}
