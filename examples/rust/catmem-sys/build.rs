//! Compiles catmem (the header-only library: catmem.h, core/, backends/) with its runtime
//! backend into a static library, with out-of-line copies of the API's inline functions.
//!
//! Environment, read at build time:
//!   CATMEM_DIR               catmem's source tree (default: this repository, three levels up).
//!   CATMEM_RUNTIME_PREFIXES  the symbol prefixes under which catmem looks for jemalloc in the
//!                            process, comma-separated, in order; an empty item is a jemalloc
//!                            without prefix (LD_PRELOAD, -ljemalloc). Default "_rjem_,": the
//!                            prefix of jemalloc-sys's and tikv-jemalloc-sys's bundled jemalloc
//!                            first, then an unprefixed one.
//!   CATMEM_SYS_WERROR=1      compile catmem with -Werror (run_tests.sh sets it).
use std::env;
use std::path::PathBuf;

fn main() {
    for var in ["CATMEM_DIR", "CATMEM_RUNTIME_PREFIXES", "CATMEM_SYS_WERROR"] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root =
        env::var_os("CATMEM_DIR").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../.."));
    if !root.join("catmem.h").is_file() {
        panic!(
            "catmem-sys: no catmem.h in {} (set CATMEM_DIR to catmem's source tree)",
            root.display()
        );
    }
    for path in ["catmem.h", "core", "backends"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-changed=src/catmem_rs.c");

    let prefixes = env::var("CATMEM_RUNTIME_PREFIXES").unwrap_or_else(|_| "_rjem_,".to_string());
    let mut build = cc::Build::new();
    build
        .file("src/catmem_rs.c")
        .include(&root)
        .define("CATMEM_BACKEND_RUNTIME", "1")
        .define("CATMEM_RUNTIME_PREFIXES", c_string_list(&prefixes).as_str())
        // catmem's own symbols stay private to the program (nothing of it is exported).
        .flag("-fvisibility=hidden")
        // An allocator is not what one steps through: optimised in every profile.
        .opt_level(2)
        .warnings(true)
        .extra_warnings(true);
    if env::var_os("CATMEM_SYS_WERROR").map_or(false, |v| v == "1") {
        build.warnings_into_errors(true);
    }
    build.compile("catmem_rs");
    println!("cargo:rustc-link-lib=dl");
    println!("cargo:rustc-link-lib=pthread");
    // DEP_CATMEM_INCLUDE for the build scripts of crates that depend on this one and compile C
    // against catmem.h.
    println!("cargo:include={}", root.display());
}

/// "_rjem_," -> "\"_rjem_\", \"\"": CATMEM_RUNTIME_PREFIXES as the C list of strings that
/// core/config.h expects.
fn c_string_list(list: &str) -> String {
    list.split(',')
        .map(|p| {
            let p = p.trim();
            if !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                panic!("catmem-sys: CATMEM_RUNTIME_PREFIXES: '{}' is not a symbol prefix", p);
            }
            format!("\"{}\"", p)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
