#!/usr/bin/env bash
# Builds and tests the Rust workspace offline, as CI does: Debian's cargo and rustc, Debian's
# packaged crates (.cargo/config.toml), build products in a temporary directory. Debian packages:
# cargo rustc librust-cc-dev librust-libc-dev librust-jemalloc-sys-dev libjemalloc-dev.
#   1. cargo test --workspace: catmem-sys and the wrapper on catmem's own engine (no jemalloc in
#      those test programs), the service's tests (catmem bound to jemalloc-sys's jemalloc; the
#      example programs; the links conflict of ../conflict);
#   2. the wrapper's tests again with Debian's jemalloc preloaded, which catmem binds to;
#   3. the wrapper's allocator_api feature;
#   4. the service example, as a user runs it.
# Exit status: non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Debian's toolchain, not a rustup one that comes first in PATH: Debian's cargo accepts the
# placeholder checksums of Debian's crates, which are packaged for Debian's rustc.
cargo=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
work="$(mktemp -d "${TMPDIR:-/tmp}/catmem-rust.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
# Build products outside the tree; a Cargo home of its own, so that no user configuration
# (~/.cargo/config.toml) applies. catmem itself compiles with -Werror here.
export CARGO_TARGET_DIR="${work}/target" CARGO_HOME="${work}/cargo-home" CATMEM_SYS_WERROR=1
unset LD_PRELOAD

# Cargo.lock is not committed: it follows the crates Debian ships now.
"${cargo}" generate-lockfile --offline

echo "=== cargo test --workspace"
CATMEM_EXPECT_BACKEND=system "${cargo}" test --workspace

echo "=== cargo test -p catmem-sys -p catmem, with LD_PRELOAD=libjemalloc.so.2"
CATMEM_EXPECT_BACKEND=jemalloc LD_PRELOAD=libjemalloc.so.2 \
  "${cargo}" test -p catmem-sys -p catmem

# allocator_api is a nightly feature; RUSTC_BOOTSTRAP=1 lets Debian's stable rustc accept it,
# for this check only.
echo "=== cargo test -p catmem --features allocator_api"
RUSTC_BOOTSTRAP=1 "${cargo}" test -p catmem --features allocator_api

echo "=== cargo run -p service"
"${cargo}" run -p service
