//! Benchmarks of the LuKOS IPC manager against the peers a user would pick
//! instead — crossbeam-channel, flume, std `sync_channel`, POSIX message
//! queues and Linux packet pipes — measured in the same run and reported as
//! ratios.
//!
//! ```
//! use ipcm_bench::measure::spsc_throughput;
//! use ipcm_bench::peers::Crossbeam;
//!
//! let per_second = spsc_throughput::<Crossbeam, 64>(64, 1_000)?;
//! assert!(per_second > 0.0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The `compare` binary runs every measurement, interleaving the peers and
//! repeating, then the async comparison ([`asynk`]) and the select
//! comparison ([`select`]), and writes
//! `docs/bench/results.md` and PNG plots ([`plot`]);
//! `scripts/callgrind.sh [SIZE] [core|host]` counts instructions per
//! uncontended write + read (the core with a no-op kernel, split into the
//! kernel's copies and the core's own cost; or an `ipcm-host` pipe, next to
//! crossbeam-channel in the same run);
//! `scripts/ab.sh` alternates builds of the `throughput` example for a
//! same-run A/B of a change.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod affinity;
pub mod asynk;
pub mod machine;
pub mod measure;
pub mod noop;
pub mod peers;
pub mod plot;
pub mod report;
pub mod select;
