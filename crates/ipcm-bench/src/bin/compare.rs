//! `compare`: every measurement of the IPC manager and its peers in one
//! process run, interleaved and repeated, then the async comparison and the
//! select comparison; writes `docs/bench/results.md`,
//! `docs/bench/channels.png`, `docs/bench/async.png` and
//! `docs/bench/select.png` and prints the tables.
//!
//! `cargo run --release -p ipcm-bench --bin compare` (add `--quick` for a
//! smoke run that only checks everything runs).

use std::path::PathBuf;

use clap::Parser;
use ipcm_bench::machine::Machine;
use ipcm_bench::noop::{core_fixture, cost_with_pipes, cost_with_waiters, ns_per_op, write_read};
use ipcm_bench::peers::{Crossbeam, Flume, IpcmHost, PacketPipe, PosixMq, StdSync};
use ipcm_bench::report::{CoreFigures, Effort, markdown, plots, run_all, runner};

#[derive(Parser)]
#[command(about = "Benchmark the IPC manager against its peers in one run and report ratios")]
struct Args {
    /// A smoke run: tiny workloads, one repeat (figures are meaningless).
    #[arg(long)]
    quick: bool,
    /// Times each measurement is repeated, interleaved across channels.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeats: u32,
    /// Only the async comparison, printed, nothing written (for A/B runs).
    #[arg(long)]
    async_only: bool,
    /// Where results.md and the PNG plots go.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let effort = if args.quick {
        Effort {
            messages: 2_000,
            rounds: 200,
            repeats: 1,
        }
    } else {
        Effort {
            messages: 200_000,
            rounds: 20_000,
            repeats: args.repeats as usize,
        }
    };
    // The first runner is the subject every ratio is taken against.
    let runners = [
        runner::<IpcmHost>(),
        runner::<Crossbeam>(),
        runner::<Flume>(),
        runner::<StdSync>(),
        runner::<PosixMq>(),
        runner::<PacketPipe>(),
    ];
    let machine = Machine::here();
    if args.async_only {
        let asynk = ipcm_bench::asynk::run_all(
            &ipcm_bench::asynk::runners(),
            effort.messages,
            effort.rounds,
            effort.repeats,
            |_| {},
        );
        println!("{}", ipcm_bench::report::async_markdown(&asynk));
        return Ok(());
    }
    let figures = run_all(&runners, effort, |step| eprintln!("{step}"));
    let asynk = ipcm_bench::asynk::run_all(
        &ipcm_bench::asynk::runners(),
        effort.messages,
        effort.rounds,
        effort.repeats,
        |step| eprintln!("{step}"),
    );

    eprintln!("select over {:?} members", ipcm_bench::select::MEMBERS);
    let select_iterations = if args.quick { 2_000 } else { 200_000 };
    let select = ipcm_bench::select::run_all(select_iterations, effort.repeats);

    eprintln!("core alone");
    let iterations = if args.quick { 10_000 } else { 2_000_000 };
    let (ipcm, _, pipe) = core_fixture(64);
    let (tx, rx) = crossbeam_channel::bounded::<[u8; 64]>(64);
    let msg = [0xA5u8; 64];
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..effort.repeats.max(3) {
        ours.push(ns_per_op(iterations, || write_read(&ipcm, &pipe, 64)));
        theirs.push(ns_per_op(iterations, || {
            tx.try_send(std::hint::black_box(msg)).expect("room");
            std::hint::black_box(rx.try_recv().expect("message"));
        }));
    }
    let sweep = iterations / 10;
    let core = CoreFigures {
        write_read_ns: ipcm_bench::measure::median(&mut ours),
        crossbeam_ns: ipcm_bench::measure::median(&mut theirs),
        by_pipes: [1, 1_000, 100_000]
            .map(|n| (n, cost_with_pipes(n, sweep)))
            .to_vec(),
        by_waiters: [1, 100, 10_000]
            .map(|n| (n, cost_with_waiters(n, sweep)))
            .to_vec(),
    };

    let mut report = markdown(&figures, &asynk, &core, effort, &machine);
    report.push_str(&ipcm_bench::select::markdown(&select));
    println!("{report}");
    if args.quick {
        eprintln!("quick run: results not written");
        return Ok(());
    }
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("results.md"), &report)?;
    plots(&figures, &asynk, effort, &machine, &args.out)?;
    ipcm_bench::select::plot(&select, effort.repeats, &machine, &args.out)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
