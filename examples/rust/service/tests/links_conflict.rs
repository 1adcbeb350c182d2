//! The counter-example stays true: a second crate that declares links = "jemalloc" (as a
//! catmem-sys on catmem's jemalloc backend would, ../../conflict) beside jemalloc-sys makes
//! `cargo build` fail with Cargo's conflict message, before anything is compiled.
use std::path::Path;
use std::process::Command;

#[test]
fn a_second_links_jemalloc_crate_does_not_build() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conflict");
    let target = std::env::temp_dir().join(format!("catmem-conflict.{}", std::process::id()));
    // The cargo that builds these tests, offline (../.cargo/config.toml applies from `dir`).
    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&target);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "cargo build succeeded:\n{}", err);
    assert!(
        err.contains(
            "links to the native library `jemalloc`, but it conflicts with a previous \
                          package which links to `jemalloc` as well"
        ),
        "{}",
        err
    );
    assert!(err.contains("`catmem-sys-jemalloc") && err.contains("`jemalloc-sys"), "{}", err);
    assert!(
        err.contains(
            "Only one package in the dependency graph may specify the same links \
                          value."
        ),
        "{}",
        err
    );
    assert!(!err.contains("Compiling"), "{}", err); // the resolver refused, no compiler ran
    assert!(!dir.join("Cargo.lock").exists());
}
