//! `cargo xtask`: builds the LuKOS user programs and kernel and boots them
//! under QEMU.
//!
//! ```text
//! cargo xtask build                  # user programs + kernel image
//! cargo xtask qemu [SCENARIO]        # boot one scenario, stream the serial log
//! cargo xtask qemu-test [SCENARIO..] # boot each scenario and check its log
//! ```
//!
//! `qemu-test` boots every scenario twice: on 1 CPU (deterministic:
//! `-icount shift=0`) and on [`SMP_CPUS`] CPUs under multi-threaded TCG
//! (each vCPU a host thread: real races, host timing). `LUKOS_CPUS=N`
//! boots only on N CPUs (both commands; `qemu` defaults to 1);
//! `LUKOS_REPEAT=N` boots each scenario N times (e.g. the SMP stress).

mod checks;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// QEMU's exit status when the kernel wrote 0x10 to the debug-exit port.
const QEMU_SUCCESS: i32 = 33;
/// QEMU's exit status when the kernel wrote 0x11 (panic, kernel fault, deadlock).
const QEMU_FAILURE: i32 = 35;
/// Wall-clock limit for one boot on one CPU.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Wall-clock limit for one boot on several CPUs: generous, for a loaded
/// 2-core host, where 4 vCPU threads share 2 cores with other work (the
/// smp-stress scenario took ~100 s there at a load average of 8; 6 s on
/// one CPU).
const SMP_BOOT_TIMEOUT: Duration = Duration::from_secs(600);
/// The CPU count of `qemu-test`'s second boot of each scenario.
const SMP_CPUS: usize = 4;

/// The CPU counts to boot on: `LUKOS_CPUS` if set, else `default`.
fn cpu_counts(default: &[usize]) -> Result<Vec<usize>, String> {
    match std::env::var("LUKOS_CPUS") {
        Ok(n) => match n.trim().parse::<usize>() {
            Ok(n @ 1..=8) => Ok(vec![n]),
            _ => Err(format!("LUKOS_CPUS={n:?}: expected 1 to 8")),
        },
        Err(_) => Ok(default.to_vec()),
    }
}
const INSTALL_HINT: &str = "apt-get update && apt-get install -y qemu-system-x86";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build().map(|_| ExitCode::SUCCESS),
        Some("qemu") => qemu(
            args.get(1)
                .map(String::as_str)
                .unwrap_or(checks::DEFAULT_SCENARIO),
        ),
        Some("qemu-test") => qemu_test(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask build | qemu [SCENARIO] | qemu-test [SCENARIO...]\nscenarios: {}",
                known_scenarios()
            );
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repo root")
        .to_path_buf()
}

/// Runs `cargo build --release` in `dir`, so that its `.cargo/config.toml`
/// (bare-metal target and flags) applies.
fn cargo_build(dir: &Path, envs: &[(&str, &Path)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--quiet"]);
    // Flags meant for the host build of xtask must not leak into bare metal.
    command
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    for (key, value) in envs {
        command.env(key, value);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo in {}: {e}", dir.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build failed in {}", dir.display()))
    }
}

/// Builds the user programs, then the kernel that embeds them. Returns the
/// kernel image (an ELF64 with a PVH note: QEMU boots it as it is).
fn build() -> Result<PathBuf, String> {
    let root = repo_root();
    let user_bins = root.join("user/target/x86_64-unknown-linux-gnu/release");
    cargo_build(&root.join("user"), &[])?;
    cargo_build(&root.join("kernel"), &[("LUKOS_USER_BIN_DIR", &user_bins)])?;
    Ok(root.join("kernel/target/x86_64-unknown-linux-gnu/release/lukos-kernel"))
}

fn find_qemu() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("qemu-system-x86_64"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!("qemu-system-x86_64 not found in PATH; install it with:\n    {INSTALL_HINT}")
        })
}

/// One finished boot.
struct Run {
    /// QEMU's exit status (None: killed after the timeout).
    status: Option<i32>,
    /// The serial log, line by line.
    log: Vec<String>,
    /// Boot-to-exit wall time.
    elapsed: Duration,
}

/// Boots `kernel` with `scenario`, streaming the serial log to stdout when
/// `echo` is set.
/// `cpus` > 1 runs multi-threaded TCG (no `-icount`: the two exclude
/// each other).
fn boot(
    qemu: &Path,
    kernel: &Path,
    scenario: &str,
    cpus: usize,
    echo: bool,
) -> Result<Run, String> {
    let start = Instant::now();
    let mut command = Command::new(qemu);
    if cpus > 1 {
        command
            .args(["-accel", "tcg,thread=multi", "-cpu", "max"])
            .args(["-smp", &cpus.to_string()]);
    } else {
        command.args(["-accel", "tcg", "-cpu", "max"]).args(
            if std::env::var_os("LUKOS_QEMU_REALTIME").is_some() {
                &[][..]
            } else {
                &["-icount", "shift=0"][..]
            },
        );
    }
    let mut child = command
        // -icount shift=0: the virtual clock (timer ticks, rdtsc) advances
        // one nanosecond per guest instruction, so runs are deterministic
        // whatever the host's load and rdtsc counts guest instructions.
        // LUKOS_QEMU_REALTIME=1 runs on the host clock instead, to shake
        // out timing-dependent behaviour.
        // -cpu max: TCG's full feature set, including SMEP/SMAP.
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", &format!("scenario={scenario}")])
        .args(["-serial", "stdio", "-display", "none", "-monitor", "none"])
        .args([
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-no-reboot",
            "-m",
            "128M",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if echo {
                println!("{line}");
                let _ = std::io::stdout().flush();
            }
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status.code();
        }
        let limit = if cpus > 1 {
            SMP_BOOT_TIMEOUT
        } else {
            BOOT_TIMEOUT
        };
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let _ = reader.join();
    Ok(Run {
        status,
        log: lines_rx.try_iter().collect(),
        elapsed,
    })
}

/// The known scenario names, comma-separated.
fn known_scenarios() -> String {
    checks::SCENARIOS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses a scenario name the kernel does not know, before anything is
/// built or booted.
fn check_scenario(name: &str) -> Result<(), String> {
    if checks::SCENARIOS.iter().any(|s| s.name == name) {
        Ok(())
    } else {
        Err(format!(
            "unknown scenario {name:?}; known scenarios: {}",
            known_scenarios()
        ))
    }
}

fn qemu(scenario: &str) -> Result<ExitCode, String> {
    check_scenario(scenario)?;
    let qemu = find_qemu()?;
    let kernel = build()?;
    let cpus = cpu_counts(&[1])?[0];
    let run = boot(&qemu, &kernel, scenario, cpus, true)?;
    let secs = run.elapsed.as_secs_f64();
    match run.status {
        Some(QEMU_SUCCESS) => {
            println!("xtask: QEMU exited with success (33) after {secs:.2} s");
            Ok(ExitCode::SUCCESS)
        }
        Some(QEMU_FAILURE) => {
            println!("xtask: QEMU exited with failure (35) after {secs:.2} s");
            Ok(ExitCode::FAILURE)
        }
        Some(code) => Err(format!(
            "QEMU exited with unexpected status {code} after {secs:.2} s"
        )),
        None => Err(format!("QEMU killed after {:.0} s", secs)),
    }
}

fn qemu_test(selected: &[String]) -> Result<ExitCode, String> {
    for name in selected {
        check_scenario(name)?;
    }
    let qemu = find_qemu()?;
    let kernel = build()?;
    let (mut passed, mut failed) = (0, 0);
    let counts = cpu_counts(&[1, SMP_CPUS])?;
    let repeat = match std::env::var("LUKOS_REPEAT") {
        Ok(n) => n
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("LUKOS_REPEAT={n:?}: expected a count"))?,
        Err(_) => 1,
    };
    let boots = counts.iter().flat_map(|&cpus| {
        checks::SCENARIOS
            .iter()
            .filter(|s| selected.is_empty() || selected.iter().any(|n| n == s.name))
            .flat_map(move |s| std::iter::repeat_n((cpus, s), repeat))
    });
    for (cpus, scenario) in boots {
        let run = boot(&qemu, &kernel, scenario.name, cpus, false)?;
        let mut problems = Vec::new();
        let expected = if scenario.expect_failure_exit {
            QEMU_FAILURE
        } else {
            QEMU_SUCCESS
        };
        if run.status != Some(expected) {
            problems.push(format!(
                "QEMU exit status {:?}, expected {expected}",
                run.status
            ));
        }
        let log = checks::Log::new(run.log);
        problems.extend((scenario.check)(&log));
        problems.extend(checks::cpus_online(&log, cpus));
        let run_log = log.lines;
        let secs = run.elapsed.as_secs_f64();
        if problems.is_empty() {
            passed += 1;
            println!(
                "test qemu::{}@{cpus}cpu ... ok ({secs:.2} s, {} log lines)",
                scenario.name,
                run_log.len()
            );
        } else {
            failed += 1;
            println!(
                "test qemu::{}@{cpus}cpu ... FAILED ({secs:.2} s)",
                scenario.name
            );
            for problem in &problems {
                println!("    {problem}");
            }
            println!("    --- serial log ---");
            for line in &run_log {
                println!("    | {line}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_scenario_is_refused_with_the_known_ones() {
        let error = check_scenario("nosuch").unwrap_err();
        assert!(error.contains("unknown scenario \"nosuch\""), "{error}");
        assert!(error.contains("ipc, blackboard"), "{error}");
        assert!(check_scenario("ipc").is_ok());
    }

    /// xtask's list and the kernel's (kernel/src/scenarios.rs, plus the
    /// failure scenarios main.rs handles itself) name the same set.
    #[test]
    fn xtask_knows_exactly_the_kernel_scenarios() {
        let source = std::fs::read_to_string(repo_root().join("kernel/src/scenarios.rs"))
            .expect("read kernel/src/scenarios.rs");
        let table = source
            .split("const SCENARIOS")
            .nth(1)
            .expect("the kernel's scenario table");
        // Entries read `("name", &[launch(..), ..])` once spaces are gone.
        let table: String = table.split_whitespace().collect();
        let mut kernel: Vec<&str> = table
            .split("(\"")
            .filter_map(|entry| entry.split_once("\",&["))
            .map(|(name, _)| name)
            .chain([
                "kernel-fault",
                "panic",
                "kernel-write-text",
                "kernel-exec-data",
                "kernel-stack-overflow",
            ])
            .collect();
        kernel.sort();
        let mut ours: Vec<&str> = checks::SCENARIOS.iter().map(|s| s.name).collect();
        ours.sort();
        assert_eq!(kernel, ours);
    }
}
