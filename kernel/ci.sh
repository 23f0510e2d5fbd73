#!/usr/bin/env bash
# CI for the bare-metal kernel, its user programs and xtask: installs QEMU
# if it is missing, checks formatting and lints of the three workspaces,
# runs xtask's own tests, then boots every scenario under QEMU and checks
# its serial log (`cargo xtask qemu-test`, which ends "N passed, M failed").
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v qemu-system-x86_64 >/dev/null; then
    step "install QEMU"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 >/dev/null
fi
qemu-system-x86_64 --version | head -1

for dir in kernel user xtask; do
    step "format: $dir"
    (cd "$dir" && cargo fmt --all -- --check)
done

step "clippy: user programs"
(cd user && cargo clippy --release --workspace -- -D warnings)
step "clippy: xtask"
(cd xtask && cargo clippy --all-targets -- -D warnings)
step "xtask tests (the log checks reject bad evidence)"
(cd xtask && cargo test)
# The kernel embeds the user programs: build them (and the kernel) first.
step "build user programs and kernel"
cargo xtask build
step "clippy: kernel"
(cd kernel && cargo clippy --release -- -D warnings)

step "boot every scenario under QEMU on 1 CPU (-icount) and check its serial log"
LUKOS_CPUS=1 cargo xtask qemu-test
# Then every scenario on 4 CPUs (multi-threaded TCG: real races, host
# timing). About 2 minutes on a loaded 2-core host (load average ~20),
# smp-stress about 1 minute of it; clean since the kernel's spinlocks are
# test-and-test-and-set (a ticket lock convoyed behind descheduled vCPUs).
step "boot every scenario under QEMU on 4 CPUs (multi-threaded TCG)"
LUKOS_CPUS=4 cargo xtask qemu-test
