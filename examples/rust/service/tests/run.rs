//! The example programs, run as a user would: the service binds catmem to jemalloc-sys's
//! jemalloc and reports arenas whose statistics agree with jemalloc's; without the export
//! (no-export) catmem cannot see that jemalloc and runs on the system malloc.
use std::process::Command;

fn run(exe: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(exe).args(args).env_remove("LD_PRELOAD").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_service_finds_jemalloc_and_its_statistics_agree() {
    let (ok, out) = run(env!("CARGO_BIN_EXE_service"), &["300"]);
    assert!(ok, "{}", out);
    assert!(
        out.contains("catmem backend: jemalloc (jemalloc 5.")
            && out.contains("found in process with symbol prefix _rjem_)"),
        "{}",
        out
    );
    assert!(out.contains("served 600 requests on 2 workers"), "{}", out);
    for arena in ["req.w0", "req.w1", "sessions"] {
        let row = out.lines().find(|l| l.trim_start().starts_with(arena)).unwrap_or("");
        assert!(row.ends_with(" yes"), "{}\n{}", arena, out);
    }
    assert!(out.contains("req.w1 after its last reset: allocated 0"), "{}", out);
    assert!(out.lines().last().unwrap_or("").starts_with("ok: "), "{}", out);
}

#[test]
fn without_the_export_catmem_runs_on_the_system_malloc() {
    let (ok, out) = run(env!("CARGO_BIN_EXE_no-export"), &[]);
    assert!(ok, "{}", out);
    assert!(
        out.contains("catmem backend: system (no jemalloc in process: system malloc)"),
        "{}",
        out
    );
    assert!(out.contains("global allocator: jemalloc-sys's jemalloc 5."), "{}", out);
}
