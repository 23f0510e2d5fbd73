//! `callgrind_select N MEMBERS ipcm|crossbeam`: N write + select operations
//! over MEMBERS pipes (`ipcm_host::Select`) or crossbeam channels, one
//! thread, as `compare` measures them. Run under `valgrind --tool=callgrind`
//! by `scripts/callgrind.sh 64 select`, which subtracts a run with fewer
//! iterations to get instructions per operation.

use ipcm_bench::select::{CrossbeamSet, IpcmSet};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let members: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    match args.next().as_deref() {
        Some("crossbeam") => {
            let set = CrossbeamSet::new(members);
            (0..iterations).for_each(|_| set.once());
        }
        _ => {
            let mut set = IpcmSet::new(members);
            (0..iterations).for_each(|_| set.once());
            set.check_clean();
        }
    }
}
