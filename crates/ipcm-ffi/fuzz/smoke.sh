#!/usr/bin/env bash
# Build the C ABI fuzz target and run it for a while (default 30 s).
#   bash crates/ipcm-ffi/fuzz/smoke.sh [seconds]
# Installs cargo-fuzz from crates.io if missing. Uses the nightly toolchain
# when there is one, otherwise stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz
# passes nightly -Z flags; the machine may have only one toolchain).
set -euo pipefail
seconds="${1:-30}"
cd "$(dirname "$0")"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi
mkdir -p corpus/c_abi artifacts/c_abi
cargo "${toolchain[@]}" fuzz run c_abi -- -max_total_time="$seconds" -print_final_stats=1
