//! `compare`: every measurement of the IPC manager and its peers in one
//! process run, interleaved and repeated, then the async comparison and the
//! select comparison; writes `docs/bench/results.md`,
//! `docs/bench/channels.png`, `docs/bench/async.png` and
//! `docs/bench/select.png` and prints the tables. ipcm-host is measured
//! twice, with this machine's parks and with parks made `--park-cost-us`
//! dearer (`channels-dear-parks.png`).
//!
//! `cargo run --release -p ipcm-bench --bin compare` (add `--quick` for a
//! smoke run that only checks everything runs).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ipcm_bench::machine::Machine;
use ipcm_bench::noop::{core_fixture, cost_with_pipes, cost_with_waiters, ns_per_op, write_read};
use ipcm_bench::peers::{Crossbeam, Flume, IpcmHost, PacketPipe, PosixMq, StdSync};
use ipcm_bench::report::{CoreFigures, Effort, markdown, plots, run_all, runner, split_regimes};

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
    /// Also run ipcm-host with every park this many µs dearer (interleaved
    /// with the other runs; peers' parks are not slowed), as on a VM where
    /// a park/unpark hand-off costs that much more; 0: only this machine's
    /// parks.
    #[arg(long, default_value_t = 43)]
    park_cost_us: u64,
    /// Where results.md and the PNG plots go (default docs/bench; a
    /// `--quick` run writes only when this is given).
    #[arg(long)]
    out: Option<PathBuf>,
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
    let dear_parks = (args.park_cost_us > 0).then(|| Duration::from_micros(args.park_cost_us));
    let mut runners = vec![runner::<IpcmHost>()];
    if let Some(extra) = dear_parks {
        let name = format!("ipcm-host +{} µs", args.park_cost_us);
        runners.push(runner::<IpcmHost>().with_park_cost(Box::leak(name.into_boxed_str()), extra));
    }
    runners.extend([
        runner::<Crossbeam>(),
        runner::<Flume>(),
        runner::<StdSync>(),
        runner::<PosixMq>(),
        runner::<PacketPipe>(),
    ]);
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
    let (figures, dear) = split_regimes(
        run_all(&runners, effort, |step| eprintln!("{step}")),
        dear_parks,
    );
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

    let mut report = markdown(&figures, dear.as_ref(), &asynk, &core, effort, &machine);
    report.push_str(&ipcm_bench::select::markdown(&select));
    println!("{report}");
    let out = match (args.out, args.quick) {
        (Some(out), _) => out,
        (None, false) => PathBuf::from("docs/bench"),
        (None, true) => {
            eprintln!("quick run: results not written");
            return Ok(());
        }
    };
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("results.md"), &report)?;
    plots(&figures, dear.as_ref(), &asynk, effort, &machine, &out)?;
    ipcm_bench::select::plot(&select, effort.repeats, &machine, &out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
