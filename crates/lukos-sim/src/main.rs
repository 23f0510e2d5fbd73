//! `lukos-sim`: run the simulated LuKOS kernel's scenarios (the default), or
//! test the IPC manager by deterministic simulation (`lukos-sim check`).

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ipcm::Status;
use lukos_sim::Trace;
use lukos_sim::check::{INJECTED, check_seed_traced, check_seeds, replay_command};
use lukos_sim::scenarios::Scenario;

/// A simulated LuKOS microkernel hosting the IPC manager: processes with
/// paged address spaces, a seeded scheduler, and the pipe system calls.
#[derive(Parser)]
#[command(name = "lukos-sim", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios and print a summary (what `lukos-sim` alone does).
    Run(RunArgs),
    /// Deterministic simulation testing: random workloads with fault
    /// injection, every IPC manager call checked against a reference model.
    Check(CheckArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Seed of the scheduler: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write a Chrome trace-event file (open it in the Perfetto UI) with
    /// every thread's state over time, every IPC call (pipe, status,
    /// bytes), an arrow from each call to the thread it woke, and each
    /// pipe's depth; scenarios one after another, 1 us = 1 tick.
    #[arg(long, value_name = "FILE.json")]
    trace: Option<PathBuf>,
    /// Run only this scenario (repeat for several).
    #[arg(long = "scenario", value_enum, value_name = "NAME")]
    scenarios: Vec<ScenarioArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScenarioArg {
    Blackboard,
    TokenSemaphore,
    MessagePassing,
    Pipeline,
    SelectServer,
}

impl From<ScenarioArg> for Scenario {
    fn from(arg: ScenarioArg) -> Scenario {
        match arg {
            ScenarioArg::Blackboard => Scenario::Blackboard,
            ScenarioArg::TokenSemaphore => Scenario::TokenSemaphore,
            ScenarioArg::MessagePassing => Scenario::MessagePassing,
            ScenarioArg::Pipeline => Scenario::Pipeline,
            ScenarioArg::SelectServer => Scenario::SelectServer,
        }
    }
}

#[derive(Args)]
struct CheckArgs {
    /// How many seeds to check.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Operations per seed (system calls plus injected faults).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    ops: u64,
    /// The first seed; seeds `first-seed .. first-seed + seeds` are checked.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// OS threads checking seeds in parallel (results do not depend on it).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: u64,
    /// Print every violation of a failing seed, not only the first.
    #[arg(long)]
    verbose: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// With `--seeds 1`: write the seed's timeline as a Chrome trace-event
    /// file (open it in the Perfetto UI).
    #[arg(long, value_name = "FILE.json")]
    trace: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check(args)) => check(&args),
    }
}

fn run(args: RunArgs) -> ExitCode {
    // Open the trace file first, so a bad path fails before the run.
    let trace_file = match &args.trace {
        None => None,
        Some(path) => match File::create(path) {
            Ok(file) => Some((path, file)),
            Err(error) => {
                eprintln!(
                    "error: cannot write the trace to {}: {error}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        },
    };
    let mut trace = trace_file.as_ref().map(|_| Trace::new());
    let scenarios: Vec<Scenario> = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios.iter().map(|&s| s.into()).collect()
    };
    println!(
        "LuKOS simulator: {} scenario(s), seed {}\n",
        scenarios.len(),
        args.seed
    );
    let mut outcomes = Vec::new();
    for scenario in scenarios {
        let outcome = scenario.run(args.seed, trace.as_mut());
        println!("{}", outcome.render());
        outcomes.push(outcome);
    }
    println!(
        "{:<16} {:>6} {:>6} {:>7} {:>8} {:>14} {:>6} {:>8}",
        "scenario", "result", "read", "peeked", "dropped", "blocked ticks", "wakes", "ticks"
    );
    for outcome in &outcomes {
        println!(
            "{:<16} {:>6} {:>6} {:>7} {:>8} {:>14} {:>6} {:>8}",
            outcome.scenario.name(),
            if outcome.passed() { "PASS" } else { "FAIL" },
            outcome.messages_moved(),
            outcome.stats.peeked,
            outcome.drops(),
            outcome.blocked_ticks(),
            outcome.stats.total_wakes(),
            outcome.elapsed
        );
    }
    println!();
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    if let (Some((path, file)), Some(trace)) = (trace_file, trace) {
        if let Err(error) = trace.write_json(BufWriter::new(file)) {
            eprintln!("error: writing the trace to {}: {error}", path.display());
            return ExitCode::from(2);
        }
        println!(
            "trace: {} events written to {} (open it at ui.perfetto.dev; \
             1 us on its timeline is 1 scheduler tick)",
            trace.len(),
            path.display()
        );
    }
    if failed == 0 {
        println!("all scenarios passed");
        ExitCode::SUCCESS
    } else {
        println!("{failed} scenario(s) FAILED");
        ExitCode::FAILURE
    }
}

/// `check --seeds 1 --trace FILE`: one seed, with its timeline.
fn check_traced(args: &CheckArgs, path: &PathBuf) -> ExitCode {
    let ops = usize::try_from(args.ops).expect("bounded by the parser");
    if args.seeds != 1 {
        eprintln!("error: --trace records one seed: use it with --seeds 1");
        return ExitCode::from(2);
    }
    let file = match File::create(path) {
        Ok(file) => file,
        Err(error) => {
            eprintln!(
                "error: cannot write the trace to {}: {error}",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    let mut trace = Trace::new();
    let report = check_seed_traced(args.first_seed, ops, &mut trace);
    if let Err(error) = trace.write_json(BufWriter::new(file)) {
        eprintln!("error: writing the trace to {}: {error}", path.display());
        return ExitCode::from(2);
    }
    println!(
        "seed {}: {} IPC calls checked, {} steps; trace: {} events in {}",
        report.seed,
        report.calls,
        report.steps,
        trace.len(),
        path.display()
    );
    for violation in &report.violations {
        println!("  {violation}");
    }
    if report.passed() {
        println!("every invariant held");
        ExitCode::SUCCESS
    } else {
        println!("seed {} FAILED", report.seed);
        ExitCode::FAILURE
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    if let Some(path) = &args.trace {
        return check_traced(args, path);
    }
    let ops = usize::try_from(args.ops).expect("bounded by the parser");
    let jobs = usize::try_from(args.jobs).expect("bounded by the parser");
    let bar = if args.quiet || args.seeds < 20 {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(args.seeds);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds ({per_sec}, eta {eta}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    };
    let started = Instant::now();
    let summary = check_seeds(args.first_seed, args.seeds, ops, jobs, &|report| {
        if !report.passed() {
            bar.set_message(format!("seed {} FAILED", report.seed));
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    // Write errors (a closed pipe, e.g. `| head`) end the output, not the process.
    let mut out = std::io::stdout().lock();
    const SHOWN_FAILURES: usize = 20;
    for failure in summary.failures.iter().take(SHOWN_FAILURES) {
        let _ = writeln!(out, "seed {} FAILED:", failure.seed);
        let shown = if args.verbose {
            failure.violations.len()
        } else {
            1
        };
        for violation in failure.violations.iter().take(shown) {
            let _ = writeln!(out, "  {violation}");
        }
        let _ = writeln!(out, "  replay: {}", replay_command(failure.seed, ops));
    }
    if !summary.failures.is_empty() {
        let _ = writeln!(
            out,
            "(add --trace FILE.json to a replay to see its timeline in the Perfetto UI)"
        );
    }
    if summary.failures.len() > SHOWN_FAILURES {
        let _ = writeln!(
            out,
            "... and {} more failing seeds",
            summary.failures.len() - SHOWN_FAILURES
        );
    }
    let _ = writeln!(
        out,
        "checked {} seeds x {ops} ops in {:.1} s ({} ops done): {} IPC calls checked against the model",
        summary.seeds,
        elapsed.as_secs_f64(),
        summary.ops,
        summary.calls,
    );
    let injected: Vec<String> = INJECTED
        .iter()
        .zip(summary.injected)
        .map(|(what, count)| format!("{count} {what}"))
        .collect();
    let _ = writeln!(
        out,
        "faults injected: {}; {} all-blocked states resolved",
        injected.join(", "),
        summary.stuck,
    );
    let c = &summary.counts;
    let _ = writeln!(
        out,
        "calls by kind: {} writes, {} urgent writes, {} writes with a message priority, {} reads/peeks, {} numbered reads/peeks, {} peek_newer, {} peek_at, {} purges, {} closes, {} selects ({} blocked, {} timed out as a group), {} kernel writes/reads with wake feedback, {} cancels; {} calls on zero-depth pipes, {} on priority-message pipes",
        c.writes,
        c.urgent_writes,
        c.prio_writes,
        c.reads,
        c.seq_reads,
        c.peek_newer,
        c.peek_at,
        c.purges,
        c.closes,
        c.selects,
        c.selects_blocked,
        summary.select_timeouts,
        c.woke_calls,
        c.cancels,
        c.rendezvous,
        c.by_priority,
    );
    let wakes: Vec<String> = Status::ALL
        .iter()
        .zip(summary.wakes)
        .filter(|(_, count)| *count > 0)
        .map(|(status, count)| {
            format!(
                "{count} {}",
                status.c_name().trim_start_matches("IPCM_STATUS_")
            )
        })
        .collect();
    let _ = writeln!(out, "pending operations woken: {}", wakes.join(", "));
    if summary.failures.is_empty() {
        let _ = writeln!(out, "every invariant held");
        ExitCode::SUCCESS
    } else {
        let _ = writeln!(out, "{} seed(s) FAILED", summary.failures.len());
        ExitCode::FAILURE
    }
}
