#!/usr/bin/env bash
# Same-run A/B of ipcm-host builds: alternate one repeat of each given
# `throughput` example binary (build one per commit and copy it away), plus
# crossbeam-channel from the first, ROUNDS times, and print the medians.
#   usage: crates/ipcm-bench/scripts/ab.sh spsc|2x2|4x4|pingpong|p99|async|async-pingpong ROUNDS BIN_A [BIN_B ...]
# (pingpong, p99, async-pingpong: round trips in µs, lower is better; for
# async shapes "crossbeam" is tokio mpsc, see the throughput example)
set -euo pipefail
shape="$1"; rounds="$2"; shift 2
rate() { "$@" 1 | sed 's/.*median \([0-9.]*\).*/\1/'; }
for _ in $(seq "$rounds"); do
    for bin in "$@"; do echo "$bin $(rate "$bin" ipcm "$shape")"; done
    echo "crossbeam $(rate "$1" crossbeam "$shape")"
done | sort -s -k1,1 -k2,2g | awk '
    { v[$1] = v[$1] " " $2 }
    END {
        for (k in v) {
            m = split(substr(v[k], 2), xs, " ")
            med = (m % 2) ? xs[(m + 1) / 2] : (xs[m / 2] + xs[m / 2 + 1]) / 2
            printf "%s: median %.2f of %d\n", k, med, m
        }
    }'
