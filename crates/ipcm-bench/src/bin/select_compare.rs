//! `select_compare`: only the select comparison of `compare` (see
//! `ipcm_bench::select`), printed, nothing written; for quick A/B runs.
//!
//! `cargo run --release -p ipcm-bench --bin select_compare [-- --quick]`

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (iterations, repeats) = if quick { (2_000, 1) } else { (200_000, 7) };
    let figures = ipcm_bench::select::run_all(iterations, repeats);
    println!("{}", ipcm_bench::select::markdown(&figures));
}
