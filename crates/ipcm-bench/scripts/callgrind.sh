#!/usr/bin/env bash
# Instructions per uncontended core write + read (64 B by default), counted by
# callgrind: exact and repeatable on a noisy machine. Two runs differ only in
# the iteration count, so set-up cost cancels out.
#   usage: crates/ipcm-bench/scripts/callgrind.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/../../.."
size="${1:-64}"
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
cargo build --release -q -p ipcm-bench --bin callgrind_core
bin=target/release/callgrind_core
count() {
    local out; out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$size" >/dev/null 2>&1
    local total; total=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
    rm -f "$out"
    echo "$total"
}
low=$(count 10000)
high=$(count 110000)
echo "core write+read of ${size} B: $(( (high - low) / 100000 )) instructions per pair (callgrind, ${low} vs ${high} total)"
