#!/usr/bin/env bash
# Instructions per uncontended write + read (64 B by default), counted by
# callgrind: exact and repeatable on a noisy machine. Two runs differ only in
# the iteration count, so set-up cost cancels out.
#   usage: crates/ipcm-bench/scripts/callgrind.sh [SIZE] [core|host]
#   core (default): the core with a no-op kernel (callgrind_core);
#   host: an ipcm-host pipe's try_write + try_read (callgrind_host), and
#   crossbeam-channel's try_send + try_recv in the same run for comparison
#   (callgrind_crossbeam, 64 B only);
#   async: instructions per async ping-pong round trip and per async SPSC
#   message on one thread, for ipcm-host's futures, tokio mpsc and flume
#   (callgrind_async);
#   select: instructions per write + select over 2 and 16 members, for
#   ipcm-host's Select and crossbeam-channel's (callgrind_select).
set -euo pipefail
cd "$(dirname "$0")/../../.."
size="${1:-64}"
what="${2:-core}"
case "$what" in
    core|host|async|select) ;;
    *) echo "usage: $0 [SIZE] [core|host|async|select]" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
cargo build --release -q -p ipcm-bench --bin "callgrind_$what" --bin callgrind_crossbeam
bin="target/release/callgrind_$what"
# count N [MODE] [ARGS]: total instructions of one run. ARGS (the channel,
# then an optional shape) replace the size and mode and are split into words.
count() {
    local out; out=$(mktemp)
    if [ -n "${3:-}" ]; then
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" $3 >/dev/null 2>&1
    else
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$size" ${2:-} >/dev/null 2>&1
    fi
    local total; total=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
    rm -f "$out"
    echo "$total"
}
valgrind_select() {
    local out; out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" "$3" >/dev/null 2>&1
    grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
    rm -f "$out"
}
if [ "$what" = select ]; then
    for members in 2 16; do
        for channel in ipcm crossbeam; do
            low=$(valgrind_select 2000 "$members" "$channel")
            high=$(valgrind_select 12000 "$members" "$channel")
            echo "write + select over $members members, $channel: $(( (high - low) / 10000 )) instructions"
        done
    done
    exit 0
fi
if [ "$what" = async ]; then
    for channel in ipcm tokio flume; do
        low=$(count 2000 "" "$channel")
        high=$(count 12000 "" "$channel")
        echo "async ping-pong round trip (64 B), $channel: $(( (high - low) / 10000 )) instructions"
    done
    for channel in ipcm tokio flume; do
        low=$(count 10000 "" "$channel spsc")
        high=$(count 110000 "" "$channel spsc")
        echo "async SPSC message (64 B, depth 64, one thread), $channel: $(( (high - low) / 100000 )) instructions"
    done
    exit 0
fi
low=$(count 10000)
high=$(count 110000)
echo "$what write+read of ${size} B: $(( (high - low) / 100000 )) instructions per pair (callgrind, ${low} vs ${high} total)"
if [ "$what" = host ] && [ "$size" = 64 ]; then
    bin=target/release/callgrind_crossbeam
    low=$(count 10000)
    high=$(count 110000)
    echo "crossbeam-channel try_send+try_recv of 64 B, same run: $(( (high - low) / 100000 )) instructions per pair"
fi
if [ "$what" = core ]; then
    # The no-op kernel's hook calls alone (copy in, copy out, length out).
    copies=$(( ($(count 110000 copies) - $(count 10000 copies)) / 100000 ))
    echo "  of which the kernel's copies: ${copies}; the core itself: $(( (high - low) / 100000 - copies ))"
    by_id=$(( ($(count 110000 by-id) - $(count 10000 by-id)) / 100000 ))
    echo "  the same pairs by id: ${by_id} instructions (by id / by handle = $(awk "BEGIN { printf \"%.2f\", ${by_id} / ((${high} - ${low}) / 100000) }"))"
    # The blocking path: a read that blocks, a write that hands off and wakes.
    rounds=$(( ($(count 110000 blockwake) - $(count 10000 blockwake)) / 100000 ))
    echo "core block + hand-off + wake of ${size} B (by id): ${rounds} instructions per round"
fi
