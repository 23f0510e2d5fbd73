//! Print the park cost `ipcm-host` measures in this process, in µs: run it
//! in a loop of fresh processes to see how much the measurement varies
//! (`for i in $(seq 15); do target/release/examples/park_cost; done`).

use std::time::Duration;

fn main() {
    // Zero extra cost: the measurement of this machine's own parks.
    let cost = ipcm_host::emulate_park_cost(Duration::ZERO);
    println!("{:.1}", cost.as_secs_f64() * 1e6);
}
