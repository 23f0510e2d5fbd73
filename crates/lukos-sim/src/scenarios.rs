//! The scenarios the default run shows: the three pipe patterns of the LuKOS
//! seed (blackboard, token semaphore, message passing), a multi-stage
//! pipeline and a select server (one thread serving several clients'
//! request pipes with one `pipe_select`, DESIGN §9), each as user
//! processes on the simulated kernel.
//!
//! Every scenario checks its own outcome (the freshest value, at most N token
//! holders, every reply right and in order, every item through every stage)
//! and returns an [`Outcome`] with what it saw, the kernel's counters and the
//! list of failed checks (empty when it passed).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use ipcm::{PipeFlags, PipeId, ProcessId, Status};

use crate::kernel::{
    ExitReason, PipeRecord, SchedConfig, Sim, SimStats, Step, ThreadState, ThreadStats,
};
use crate::machine::Ticks;
use crate::mem::{PAGE_SIZE, Perm};
use crate::trace::Trace;
use crate::user::{Sys, UserError, raw_flags};
use crate::{SelectEntry, Tid, Wait};

/// Where every scenario process's data segment starts.
pub const DATA: usize = 0x10_000;
/// Pages in a data segment: one per thread of the process, plus one.
const DATA_PAGES: usize = 8;
/// Scheduling steps after which a scenario counts as hung.
const MAX_STEPS: u64 = 1_000_000;

/// Thread `k`'s private page in its process's data segment (the name
/// scratch at +0, a message buffer at +0x200, a length at +0x300).
const fn region(k: usize) -> usize {
    DATA + PAGE_SIZE * (k + 1)
}
const BUF: usize = 0x200;
const LEN: usize = 0x300;

/// A scenario that can be run by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A sensor publishes on a depth-1 discard-oldest pipe; three displays
    /// peek the freshest value.
    Blackboard,
    /// N tokens, M workers: never more than N holders.
    TokenSemaphore,
    /// A terminal server and two clients with request, reply, stdin and
    /// stdout pipes across address spaces.
    MessagePassing,
    /// producer → scale → offset → consumer, with back-pressure.
    Pipeline,
    /// One server thread selects over every client's request pipe and
    /// replies on each client's reply pipe.
    SelectServer,
}

impl Scenario {
    /// Every scenario, in the order the default run shows them.
    pub const ALL: [Scenario; 5] = [
        Scenario::Blackboard,
        Scenario::TokenSemaphore,
        Scenario::MessagePassing,
        Scenario::Pipeline,
        Scenario::SelectServer,
    ];

    /// The scenario's command-line name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::Blackboard => "blackboard",
            Scenario::TokenSemaphore => "token-semaphore",
            Scenario::MessagePassing => "message-passing",
            Scenario::Pipeline => "pipeline",
            Scenario::SelectServer => "select-server",
        }
    }

    /// Run the scenario with `seed`, recording into `trace` if given.
    pub fn run(self, seed: u64, trace: Option<&mut Trace>) -> Outcome {
        match self {
            Scenario::Blackboard => blackboard(seed, trace).outcome,
            Scenario::TokenSemaphore => token_semaphore(seed, trace).outcome,
            Scenario::MessagePassing => message_passing(seed, trace).outcome,
            Scenario::Pipeline => pipeline(seed, trace).outcome,
            Scenario::SelectServer => select_server(seed, trace).outcome,
        }
    }
}

/// One thread's end state and times.
#[derive(Clone, Debug)]
pub struct ThreadSummary {
    /// `process/thread`.
    pub name: String,
    /// How it ended.
    pub state: ThreadState,
    /// Its times and counts.
    pub stats: ThreadStats,
}

/// What a scenario run showed.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed it ran with.
    pub seed: u64,
    /// How the run ended (`Finished` unless something hung).
    pub end: Step,
    /// Simulated time at the end.
    pub elapsed: Ticks,
    /// Kernel totals.
    pub stats: SimStats,
    /// Every pipe with its final counters.
    pub pipes: Vec<PipeRecord>,
    /// Every thread.
    pub threads: Vec<ThreadSummary>,
    /// What the scenario observed, one line each.
    pub findings: Vec<String>,
    /// Checks that failed; empty when the scenario passed.
    pub failures: Vec<String>,
}

impl Outcome {
    /// Whether every check passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Messages taken by readers, over all pipes.
    #[must_use]
    pub fn messages_moved(&self) -> u64 {
        self.pipes.iter().map(|p| p.info.read).sum()
    }

    /// Messages dropped by discard-oldest writes, over all pipes.
    #[must_use]
    pub fn drops(&self) -> u64 {
        self.pipes.iter().map(|p| p.info.dropped).sum()
    }

    /// Ticks threads spent blocked on pipes, summed.
    #[must_use]
    pub fn blocked_ticks(&self) -> Ticks {
        self.threads.iter().map(|t| t.stats.blocked_ticks).sum()
    }

    /// A readable multi-line summary.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(
            out,
            "== {} (seed {}) — {verdict} ==",
            self.scenario.name(),
            self.seed
        );
        for line in &self.findings {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(
            out,
            "  moved {} messages (+{} peeked), dropped {}, {} ticks blocked on pipes, {} wakes ({} ok, {} timed out), {} syscalls, {} context switches, {} ticks",
            self.messages_moved(),
            self.stats.peeked,
            self.drops(),
            self.blocked_ticks(),
            self.stats.total_wakes(),
            self.stats.wakes_with(Status::Ok),
            self.stats.wakes_with(Status::TimedOut),
            self.stats.syscalls,
            self.stats.switches,
            self.elapsed,
        );
        let _ = writeln!(
            out,
            "  {:<34} {:>8} {:>8} {:>7} {:>8}",
            "pipe", "written", "read", "dropped", "queued"
        );
        for pipe in &self.pipes {
            let _ = writeln!(
                out,
                "  {:<34} {:>8} {:>8} {:>7} {:>8}{}",
                pipe.name,
                pipe.info.written,
                pipe.info.read,
                pipe.info.dropped,
                pipe.info.queued,
                if pipe.destroyed { " (destroyed)" } else { "" }
            );
        }
        let _ = writeln!(
            out,
            "  {:<34} {:>8} {:>8} {:>7} {:>8}",
            "thread", "run", "blocked", "blocks", "syscalls"
        );
        for thread in &self.threads {
            let end = match &thread.state {
                ThreadState::Exited(ExitReason::Returned) => String::new(),
                other => format!(" ({other:?})"),
            };
            let _ = writeln!(
                out,
                "  {:<34} {:>8} {:>8} {:>7} {:>8}{end}",
                thread.name,
                thread.stats.run_ticks,
                thread.stats.blocked_ticks,
                thread.stats.blocks,
                thread.stats.syscalls
            );
        }
        for failure in &self.failures {
            let _ = writeln!(out, "  FAILED: {failure}");
        }
        out
    }
}

/// A debug port: programs report observations to the harness through it
/// (like writing to a serial line), never to each other.
type Probe<T> = Rc<RefCell<Vec<T>>>;

fn probe<T>() -> Probe<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// Build a sim, run `setup`, run to the end, and collect the outcome.
fn run_scenario(
    scenario: Scenario,
    seed: u64,
    trace: Option<&mut Trace>,
    setup: impl FnOnce(&mut Sim),
) -> (Outcome, Sim) {
    let mut sim = Sim::new(seed, SchedConfig::default());
    let mut trace = trace;
    if let Some(target) = &mut trace {
        sim.enable_trace(target.sub_run(scenario.name()));
    }
    setup(&mut sim);
    let end = sim.run(MAX_STEPS);
    if let (Some(target), Some(recorded)) = (trace, sim.take_trace()) {
        target.append(recorded);
    }
    let mut failures: Vec<String> = sim
        .anomalies()
        .iter()
        .map(|a| format!("kernel anomaly: {a}"))
        .collect();
    if end != Step::Finished {
        failures.push(format!("run did not finish: {end:?}"));
    }
    let threads: Vec<ThreadSummary> = sim
        .tids()
        .map(|tid| {
            let state = sim.state(tid).clone();
            if let ThreadState::Exited(ExitReason::Failed(error)) = &state {
                failures.push(format!("{} failed: {error}", sim.thread_name(tid)));
            }
            ThreadSummary {
                name: format!(
                    "{}/{}",
                    sim.process_name(sim.thread_process(tid)),
                    sim.thread_name(tid)
                ),
                state,
                stats: sim.thread_stats(tid).clone(),
            }
        })
        .collect();
    let outcome = Outcome {
        scenario,
        seed,
        end,
        elapsed: sim.machine().now(),
        stats: sim.stats().clone(),
        pipes: sim.pipes().values().cloned().collect(),
        threads,
        findings: Vec::new(),
        failures,
    };
    (outcome, sim)
}

fn process(sim: &mut Sim, name: &str) -> ProcessId {
    let pid = sim.create_process(name);
    sim.map(pid, DATA, DATA_PAGES * PAGE_SIZE, Perm::ReadWrite);
    pid
}

fn pipe_info(outcome: &Outcome, name: &str) -> Option<PipeRecord> {
    outcome.pipes.iter().find(|p| p.name == name).cloned()
}

fn check(outcome: &mut Outcome, ok: bool, what: impl Into<String>) {
    if !ok {
        outcome.failures.push(what.into());
    }
}

fn load_u64(sys: &Sys, va: usize) -> Result<u64, UserError> {
    let bytes = sys.load(va, 8)?;
    Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
}

// ---------------------------------------------------------------- blackboard

/// The blackboard's result.
pub struct Blackboard {
    /// The common outcome.
    pub outcome: Outcome,
    /// Readings the sensor published, in order.
    pub published: Vec<u64>,
    /// The distinct readings each display saw, in the order it saw them.
    pub seen: Vec<Vec<u64>>,
}

/// Readings the sensor publishes.
pub const READINGS: u64 = 40;

/// A sensor publishes `READINGS` values on `sensor/temperature` (depth 1,
/// discard-oldest, only the sensor may write); three displays with
/// different refresh periods peek it. Checks: every display sees values in
/// publication order and ends on the last one; every overwritten value was
/// counted as dropped; the board still holds the freshest value.
pub fn blackboard(seed: u64, trace: Option<&mut Trace>) -> Blackboard {
    let published: Probe<u64> = probe();
    let seen: Vec<Probe<u64>> = (0..3).map(|_| probe()).collect();
    let (mut outcome, _sim) = run_scenario(Scenario::Blackboard, seed, trace, |sim| {
        let sensor = process(sim, "sensor");
        let log = published.clone();
        sim.spawn(sensor, "sensor", 2, move |sys| async move {
            let base = region(0);
            let name = sys.cstr(base, "sensor/temperature")?;
            let flags = PipeFlags::DISCARD_OLDEST | PipeFlags::OWNER_WRITE;
            let board = sys.pipe_create(name, 8, 1, raw_flags(flags)).await?;
            // Give the displays time to start waiting on the empty board.
            sys.sleep(300).await;
            for reading in 0..READINGS {
                sys.store(base + BUF, &reading.to_le_bytes())?;
                sys.pipe_write(board, base + BUF, 8).await?;
                log.borrow_mut().push(reading);
                sys.compute(3).await;
                sys.sleep(20).await;
            }
            Ok(())
        });
        for (k, log) in seen.iter().enumerate() {
            let display = process(sim, &format!("display-{k}"));
            let log = log.clone();
            let period = [7, 23, 61][k];
            sim.spawn(display, "display", 1, move |sys| async move {
                let base = region(0);
                let board = sys.wait_for_pipe("sensor/temperature", base, 10).await?;
                let mut last = None;
                loop {
                    sys.pipe_peek(board, base + BUF, base + LEN).await?;
                    let reading = load_u64(&sys, base + BUF)?;
                    if last.is_some_and(|last| reading < last) {
                        return Err(UserError::Check(format!("saw {reading} after {last:?}")));
                    }
                    if last != Some(reading) {
                        log.borrow_mut().push(reading);
                        last = Some(reading);
                    }
                    if reading == READINGS - 1 {
                        return Ok(());
                    }
                    sys.compute(2).await;
                    sys.sleep(period).await;
                }
            });
        }
    });
    let published = published.borrow().clone();
    let seen: Vec<Vec<u64>> = seen.iter().map(|s| s.borrow().clone()).collect();
    let board = pipe_info(&outcome, "sensor/temperature");
    check(
        &mut outcome,
        published.len() as u64 == READINGS,
        "the sensor published every reading",
    );
    for (k, values) in seen.iter().enumerate() {
        check(
            &mut outcome,
            values.windows(2).all(|w| w[0] < w[1]),
            format!("display-{k} saw readings out of order"),
        );
        check(
            &mut outcome,
            values.last() == Some(&(READINGS - 1)),
            format!("display-{k} did not end on the freshest reading"),
        );
        outcome.findings.push(format!(
            "display-{k} saw {} of {} readings (in order), the last one it saw: {}",
            values.len(),
            published.len(),
            values
                .last()
                .map_or_else(|| "none".to_owned(), u64::to_string)
        ));
    }
    match board {
        Some(board) => {
            check(
                &mut outcome,
                board.info.dropped == READINGS - 1,
                format!(
                    "expected {} drops, got {}",
                    READINGS - 1,
                    board.info.dropped
                ),
            );
            check(
                &mut outcome,
                board.info.queued == 1,
                "the board keeps the freshest reading",
            );
            outcome.findings.push(format!(
                "sensor published {} readings; {} were overwritten (dropped), the board holds the last",
                published.len(),
                board.info.dropped
            ));
        }
        None => outcome.failures.push("no sensor/temperature pipe".into()),
    }
    Blackboard {
        outcome,
        published,
        seen,
    }
}

// ----------------------------------------------------------- token semaphore

/// The token semaphore's result.
pub struct TokenSemaphore {
    /// The common outcome.
    pub outcome: Outcome,
    /// Tokens in the pool.
    pub tokens: usize,
    /// Most workers holding a token at once, as the workers counted it.
    pub max_holders: usize,
    /// Successful acquisitions.
    pub acquisitions: usize,
}

/// Tokens in the pool.
pub const TOKENS: usize = 3;
/// Worker threads.
pub const WORKERS: usize = 6;
/// Acquisitions per worker.
pub const ROUNDS: usize = 4;

/// `TOKENS` tokens in a pipe of depth `TOKENS`; `WORKERS` threads acquire
/// (read), work longer than a time slice, and release (write). Workers count
/// holders in their process's shared memory. Checks: never more than
/// `TOKENS` holders, every acquisition released, the pool full at the end.
pub fn token_semaphore(seed: u64, trace: Option<&mut Trace>) -> TokenSemaphore {
    const HOLDERS: usize = DATA;
    const MAX: usize = DATA + 8;
    const COUNT: usize = DATA + 16;
    let mut workers_pid = None;
    let (mut outcome, sim) = run_scenario(Scenario::TokenSemaphore, seed, trace, |sim| {
        let pool = process(sim, "pool");
        sim.spawn(pool, "init", 3, |sys| async move {
            let base = region(0);
            let name = sys.cstr(base, "tokens")?;
            let tokens = sys.pipe_create(name, 1, TOKENS, 0).await?;
            sys.store(base + BUF, b"T")?;
            for _ in 0..TOKENS {
                sys.pipe_try_write(tokens, base + BUF, 1).await?;
            }
            Ok(())
        });
        let workers = process(sim, "workers");
        workers_pid = Some(workers);
        for k in 0..WORKERS {
            sim.spawn(workers, &format!("worker-{k}"), 1, move |sys| async move {
                let base = region(k);
                let tokens = sys.wait_for_pipe("tokens", base, 5).await?;
                for _ in 0..ROUNDS {
                    sys.pipe_read(tokens, base + BUF, base + LEN).await?; // acquire
                    let holders = sys.load_usize(HOLDERS)? + 1;
                    sys.store_usize(HOLDERS, holders)?;
                    let max = sys.load_usize(MAX)?.max(holders);
                    sys.store_usize(MAX, max)?;
                    sys.store_usize(COUNT, sys.load_usize(COUNT)? + 1)?;
                    sys.compute(60).await; // longer than any time slice
                    sys.store_usize(HOLDERS, sys.load_usize(HOLDERS)? - 1)?;
                    // Release: a full pool would mean a release without an acquire.
                    sys.pipe_try_write(tokens, base + BUF, 1).await?;
                    sys.compute(5).await;
                }
                Ok(())
            });
        }
    });
    let workers = workers_pid.expect("set up");
    let read = |va: usize| {
        let mut bytes = [0u8; 8];
        sim.machine()
            .with_space(workers, |space| space.read(va, &mut bytes))
            .expect("mapped");
        usize::from_ne_bytes(bytes)
    };
    let (max_holders, acquisitions, holders_left) = (read(MAX), read(COUNT), read(HOLDERS));
    check(
        &mut outcome,
        max_holders <= TOKENS,
        format!("{max_holders} holders at once, only {TOKENS} tokens"),
    );
    check(
        &mut outcome,
        acquisitions == WORKERS * ROUNDS,
        format!("{acquisitions} acquisitions, expected {}", WORKERS * ROUNDS),
    );
    check(&mut outcome, holders_left == 0, "every token was released");
    match pipe_info(&outcome, "tokens") {
        Some(pool) => check(
            &mut outcome,
            pool.info.queued == TOKENS,
            "the pool holds every token at the end",
        ),
        None => outcome.failures.push("no tokens pipe".into()),
    }
    let waits = outcome.stats.wakes_with(Status::Ok);
    outcome.findings.push(format!(
        "{WORKERS} workers, {TOKENS} tokens: {acquisitions} acquisitions, at most {max_holders} holders at once (limit {TOKENS}), {waits} waits for a token"
    ));
    TokenSemaphore {
        outcome,
        tokens: TOKENS,
        max_holders,
        acquisitions,
    }
}

// ----------------------------------------------------------- message passing

/// The message-passing result.
pub struct MessagePassing {
    /// The common outcome.
    pub outcome: Outcome,
    /// For each client: the (line sent, reply received) pairs, in order.
    pub exchanges: Vec<Vec<(String, String)>>,
    /// What a client got when it tried to read another client's reply pipe.
    pub snoop: Option<Status>,
}

/// How long the terminal server waits for a request before it checks
/// whether it is done.
pub const SERVER_IDLE: Ticks = 150;

/// The clients and the lines each sends.
pub const CLIENTS: [(&str, &[&str]); 2] = [
    ("shell", &["ls", "cat motd", "echo hi", "uptime", "whoami"]),
    (
        "editor",
        &["open notes", "insert line", "save", "quit editor"],
    ),
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Like upstream's terminal server: the server creates
/// `terminal-server/request`; each client creates its own
/// `terminal-server/<name>/reply` (only its process may read it), sends its
/// name, and gets back the ids of a per-client `stdin` and `stdout` pipe
/// pair the server created; an echo thread of the server answers each line
/// in upper case. Checks: every client gets every reply, right and in
/// order; reading another client's reply pipe is `DENIED`.
pub fn message_passing(seed: u64, trace: Option<&mut Trace>) -> MessagePassing {
    let exchanges: Vec<Probe<(String, String)>> = CLIENTS.iter().map(|_| probe()).collect();
    let snoop: Probe<Status> = probe();
    let (mut outcome, _sim) = run_scenario(Scenario::MessagePassing, seed, trace, |sim| {
        let server = process(sim, "terminal-server");
        sim.spawn(server, "listen", 2, |sys| async move {
            let base = region(0);
            let name = sys.cstr(base, "terminal-server/request")?;
            let requests = sys.pipe_create(name, 64, 8, 0).await?;
            let name = sys.cstr(base, "terminal-server/slots")?;
            let private = PipeFlags::OWNER_READ | PipeFlags::OWNER_WRITE;
            let slots = sys
                .pipe_create(name, 16, CLIENTS.len(), raw_flags(private))
                .await?;
            let mut served = 0;
            loop {
                // Wait for a request, but not forever: once every client is
                // served, an idle spell ends the server.
                match sys
                    .pipe_read_with(
                        requests,
                        base + BUF,
                        base + LEN,
                        true,
                        Wait::Ticks(SERVER_IDLE),
                    )
                    .await
                {
                    Ok(()) => served += 1,
                    Err(Status::TimedOut) if served == CLIENTS.len() => break,
                    Err(Status::TimedOut) => continue,
                    Err(status) => return Err(status.into()),
                }
                let client = text(&sys.load(base + BUF, sys.load_usize(base + LEN)?)?);
                let mut pair = Vec::new();
                for stream in ["stdin", "stdout"] {
                    let name = sys.cstr(base, &format!("terminal-server/{client}/{stream}"))?;
                    pair.push(sys.pipe_create(name, 64, 4, 0).await?.to_raw());
                }
                let reply = sys
                    .lookup(&format!("terminal-server/{client}/reply"), base)
                    .await?;
                let bytes: Vec<u8> = pair.iter().flat_map(|id| id.to_ne_bytes()).collect();
                sys.store(base + BUF, &bytes)?;
                sys.pipe_write(reply, base + BUF, 16).await?;
                sys.pipe_write(slots, base + BUF, 16).await?;
            }
            sys.pipe_destroy(requests).await?;
            Ok(())
        });
        for k in 0..CLIENTS.len() {
            sim.spawn(server, &format!("echo-{k}"), 2, move |sys| async move {
                let base = region(k + 1);
                let slots = sys.wait_for_pipe("terminal-server/slots", base, 5).await?;
                sys.pipe_read(slots, base + BUF, base + LEN).await?;
                let stdin = PipeId::from_raw(sys.load_usize(base + BUF)?);
                let stdout = PipeId::from_raw(sys.load_usize(base + BUF + 8)?);
                loop {
                    sys.pipe_read(stdin, base + BUF, base + LEN).await?;
                    let line = text(&sys.load(base + BUF, sys.load_usize(base + LEN)?)?);
                    if line == "exit" {
                        return Ok(());
                    }
                    sys.compute(10).await;
                    let answer = line.to_uppercase();
                    sys.store(base + BUF, answer.as_bytes())?;
                    sys.pipe_write(stdout, base + BUF, answer.len()).await?;
                }
            });
        }
        for (k, (client, lines)) in CLIENTS.iter().enumerate() {
            let pid = process(sim, client);
            let log = exchanges[k].clone();
            let snoop = snoop.clone();
            sim.spawn(pid, "main", 1, move |sys| async move {
                let base = region(0);
                let name = sys.cstr(base, &format!("terminal-server/{client}/reply"))?;
                let reply = sys
                    .pipe_create(name, 16, 1, raw_flags(PipeFlags::OWNER_READ))
                    .await?;
                if k == 1 {
                    // Try to read the other client's replies: access control says no.
                    let other = sys
                        .wait_for_pipe(&format!("terminal-server/{}/reply", CLIENTS[0].0), base, 5)
                        .await?;
                    let attempt = sys
                        .pipe_read_with(other, base + BUF, base + LEN, true, Wait::Never)
                        .await;
                    snoop.borrow_mut().push(attempt.err().unwrap_or(Status::Ok));
                }
                let requests = sys
                    .wait_for_pipe("terminal-server/request", base, 5)
                    .await?;
                sys.store(base + BUF, client.as_bytes())?;
                sys.pipe_write(requests, base + BUF, client.len()).await?;
                sys.pipe_read(reply, base + BUF, base + LEN).await?;
                let stdin = PipeId::from_raw(sys.load_usize(base + BUF)?);
                let stdout = PipeId::from_raw(sys.load_usize(base + BUF + 8)?);
                for line in lines.iter().copied().chain(["exit"]) {
                    sys.store(base + BUF, line.as_bytes())?;
                    sys.pipe_write(stdin, base + BUF, line.len()).await?;
                    if line == "exit" {
                        break;
                    }
                    sys.pipe_read(stdout, base + BUF, base + LEN).await?;
                    let answer = text(&sys.load(base + BUF, sys.load_usize(base + LEN)?)?);
                    log.borrow_mut().push((line.to_owned(), answer));
                    sys.sleep(15).await;
                }
                sys.pipe_destroy(reply).await?;
                Ok(())
            });
        }
    });
    let exchanges: Vec<Vec<(String, String)>> =
        exchanges.iter().map(|e| e.borrow().clone()).collect();
    let snoop = snoop.borrow().first().copied();
    for ((client, lines), got) in CLIENTS.iter().zip(&exchanges) {
        let expected: Vec<(String, String)> = lines
            .iter()
            .map(|l| ((*l).to_owned(), l.to_uppercase()))
            .collect();
        check(
            &mut outcome,
            *got == expected,
            format!("{client} got {got:?}"),
        );
        outcome.findings.push(format!(
            "{client}: {} lines sent, {} correct replies in order",
            lines.len(),
            got.iter().filter(|(l, r)| l.to_uppercase() == *r).count()
        ));
    }
    let destroyed: Vec<String> = outcome
        .pipes
        .iter()
        .filter(|p| p.destroyed)
        .map(|p| p.name.clone())
        .collect();
    check(
        &mut outcome,
        destroyed.len() == 1 + CLIENTS.len(),
        format!(
            "the request pipe and every reply pipe are destroyed at the end, not {destroyed:?}"
        ),
    );
    let idle = outcome.stats.timeouts;
    check(
        &mut outcome,
        idle >= 1,
        "the server ends on an idle timeout",
    );
    outcome.findings.push(format!(
        "the server idled out ({idle} request wait(s) timed out) and destroyed its request pipe; each client destroyed its reply pipe"
    ));
    check(
        &mut outcome,
        snoop == Some(Status::Denied),
        format!("snooping another client's reply pipe gave {snoop:?}"),
    );
    outcome.findings.push(format!(
        "editor reading shell's reply pipe: {}",
        snoop.map_or("not tried", |s| s.c_name())
    ));
    MessagePassing {
        outcome,
        exchanges,
        snoop,
    }
}

// ------------------------------------------------------------------ pipeline

/// The pipeline's result.
pub struct Pipeline {
    /// The common outcome.
    pub outcome: Outcome,
    /// What the consumer received, in order.
    pub received: Vec<u64>,
    /// Times the producer blocked on a full pipe (back-pressure).
    pub producer_blocks: u64,
    /// Times the consumer's read timed out waiting for the pipeline.
    pub stalls: u64,
}

/// How long the consumer waits for an item before counting a stall.
pub const CONSUMER_PATIENCE: Ticks = 30;

/// Items the producer sends.
pub const ITEMS: u64 = 60;

/// What the pipeline makes of item `x`.
#[must_use]
pub const fn pipeline_result(x: u64) -> u64 {
    x * 3 + 1
}

/// A pipeline stage: name, input pipe, output pipe, work per item, transform.
type Stage = (
    &'static str,
    &'static str,
    &'static str,
    Ticks,
    fn(u64) -> u64,
);

/// producer → `pipeline/raw` → scale (×3) → `pipeline/scaled` → offset (+1)
/// → `pipeline/out` → consumer, each stage its own process and each pipe
/// two deep. The producer is faster than the stages, so it blocks
/// (back-pressure). Checks: the consumer gets every item, transformed, in
/// order; the producer blocked.
pub fn pipeline(seed: u64, trace: Option<&mut Trace>) -> Pipeline {
    let received: Probe<u64> = probe();
    let stall_count = Rc::new(std::cell::Cell::new(0u64));
    let mut producer_tid: Option<Tid> = None;
    let (mut outcome, sim) = run_scenario(Scenario::Pipeline, seed, trace, |sim| {
        let producer = process(sim, "producer");
        producer_tid = Some(sim.spawn(producer, "main", 1, |sys| async move {
            let base = region(0);
            let name = sys.cstr(base, "pipeline/raw")?;
            let raw = sys.pipe_create(name, 8, 2, 0).await?;
            for x in (1..=ITEMS).chain([0]) {
                sys.compute(3).await;
                sys.store(base + BUF, &x.to_le_bytes())?;
                sys.pipe_write(raw, base + BUF, 8).await?;
            }
            Ok(())
        }));
        let stages: [Stage; 2] = [
            ("scale", "pipeline/raw", "pipeline/scaled", 20, |x| x * 3),
            ("offset", "pipeline/scaled", "pipeline/out", 15, |x| x + 1),
        ];
        for (stage, input, output, cost, transform) in stages {
            let pid = process(sim, stage);
            sim.spawn(pid, "main", 1, move |sys| async move {
                let base = region(0);
                let name = sys.cstr(base, output)?;
                let output = sys.pipe_create(name, 8, 2, 0).await?;
                let input = sys.wait_for_pipe(input, base, 5).await?;
                loop {
                    sys.pipe_read(input, base + BUF, base + LEN).await?;
                    let x = load_u64(&sys, base + BUF)?;
                    let y = if x == 0 { 0 } else { transform(x) };
                    sys.compute(cost).await;
                    sys.store(base + BUF, &y.to_le_bytes())?;
                    sys.pipe_write(output, base + BUF, 8).await?;
                    if x == 0 {
                        return Ok(());
                    }
                }
            });
        }
        let consumer = process(sim, "consumer");
        let log = received.clone();
        let stalls = stall_count.clone();
        sim.spawn(consumer, "main", 1, move |sys| async move {
            let base = region(0);
            let out = sys.wait_for_pipe("pipeline/out", base, 5).await?;
            loop {
                // A read that times out is a stall: count it and wait again.
                match sys
                    .pipe_read_with(
                        out,
                        base + BUF,
                        base + LEN,
                        true,
                        Wait::Ticks(CONSUMER_PATIENCE),
                    )
                    .await
                {
                    Err(Status::TimedOut) => {
                        stalls.set(stalls.get() + 1);
                        continue;
                    }
                    other => other?,
                }
                match load_u64(&sys, base + BUF)? {
                    0 => return Ok(()),
                    y => log.borrow_mut().push(y),
                }
            }
        });
    });
    let received = received.borrow().clone();
    let expected: Vec<u64> = (1..=ITEMS).map(pipeline_result).collect();
    check(
        &mut outcome,
        received == expected,
        format!(
            "consumer got {} items, not 3x+1 for 1..={ITEMS} in order",
            received.len()
        ),
    );
    let producer_blocks = sim.thread_stats(producer_tid.expect("spawned")).blocks;
    check(
        &mut outcome,
        producer_blocks > 0,
        "the producer never felt back-pressure",
    );
    let stalls = stall_count.get();
    let timeouts = outcome.stats.timeouts;
    check(
        &mut outcome,
        timeouts == stalls,
        format!("{timeouts} timeouts but {stalls} stalls"),
    );
    outcome.findings.push(format!(
        "{} of {ITEMS} items arrived transformed and in order; the producer blocked {producer_blocks} times on a full pipe; the consumer's read timed out {stalls} times",
        received.len()
    ));
    Pipeline {
        outcome,
        received,
        producer_blocks,
        stalls,
    }
}

// ------------------------------------------------------------- select server

/// The select server's result.
pub struct SelectServer {
    /// The common outcome.
    pub outcome: Outcome,
    /// Requests the server served, per client.
    pub served: Vec<u64>,
    /// Replies each client received and found right, in order.
    pub verified: Vec<u64>,
    /// The server's selects, and how many of them blocked.
    pub selects: u64,
    /// Selects that blocked (nothing was ready when the server asked).
    pub selects_blocked: u64,
}

/// Requests client `k` sends.
#[must_use]
pub const fn select_requests(k: usize) -> u64 {
    8 + 4 * k as u64
}

/// Clients of the select server.
pub const SELECT_CLIENTS: usize = 3;

/// The reply to request `n` of client `k`.
#[must_use]
pub const fn select_reply(k: usize, n: u64) -> u64 {
    n * 1000 + k as u64
}

/// One server thread serves `SELECT_CLIENTS` clients: each client creates
/// its request pipe `select-server/request-k` (depth 2) and reply pipe
/// `select-server/reply-k` (depth 1), and sends numbered requests at its own
/// pace, each waiting for its reply. The server selects over the request
/// pipes of the clients not yet finished (one read member each), serves the
/// one member that completed and replies on that client's reply pipe; a
/// request numbered 0 ends a client. Checks: every request served exactly
/// once, every reply right and in order, the select's index always names a
/// live client, and every request pipe ends empty (a withdrawn member read
/// nothing).
pub fn select_server(seed: u64, trace: Option<&mut Trace>) -> SelectServer {
    let served: Probe<usize> = probe();
    let verified: Vec<Probe<u64>> = (0..SELECT_CLIENTS).map(|_| probe()).collect();
    let selects = Rc::new(std::cell::Cell::new(0u64));
    let mut server_tid: Option<Tid> = None;
    let (mut outcome, sim) = run_scenario(Scenario::SelectServer, seed, trace, |sim| {
        for (k, log) in verified.iter().enumerate() {
            let pid = process(sim, &format!("client-{k}"));
            let log = log.clone();
            sim.spawn(pid, "main", 1, move |sys| async move {
                let base = region(0);
                let request_name = sys.cstr(base, &format!("select-server/request-{k}"))?;
                let requests = sys.pipe_create(request_name, 16, 2, 0).await?;
                let reply_name = sys.cstr(base, &format!("select-server/reply-{k}"))?;
                let replies = sys.pipe_create(reply_name, 8, 1, 0).await?;
                for n in (1..=select_requests(k)).chain([0]) {
                    sys.compute(5 + 7 * k as Ticks).await;
                    let mut request = (k as u64).to_le_bytes().to_vec();
                    request.extend(n.to_le_bytes());
                    sys.store(base + BUF, &request)?;
                    sys.pipe_write(requests, base + BUF, 16).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    sys.pipe_read(replies, base + BUF, base + LEN).await?;
                    let reply = load_u64(&sys, base + BUF)?;
                    if reply != select_reply(k, n) {
                        return Err(UserError::Check(format!(
                            "client {k} request {n}: reply {reply}"
                        )));
                    }
                    log.borrow_mut().push(n);
                }
                Ok(())
            });
        }
        let server = process(sim, "server");
        let log = served.clone();
        let counts = selects.clone();
        server_tid = Some(sim.spawn(server, "main", 2, move |sys| async move {
            let base = region(0);
            let mut requests = Vec::new();
            let mut replies = Vec::new();
            for k in 0..SELECT_CLIENTS {
                let scratch = base + 0x400;
                requests.push(
                    sys.wait_for_pipe(&format!("select-server/request-{k}"), scratch, 5)
                        .await?,
                );
                replies.push(
                    sys.wait_for_pipe(&format!("select-server/reply-{k}"), scratch, 5)
                        .await?,
                );
            }
            // The clients still sending, by index into the member list.
            let mut active: Vec<usize> = (0..SELECT_CLIENTS).collect();
            let list = base + 0x800;
            while !active.is_empty() {
                let members: Vec<SelectEntry> = active
                    .iter()
                    .enumerate()
                    .map(|(slot, &k)| SelectEntry::Read {
                        id: requests[k].to_raw(),
                        dst: base + 0x100 + 0x20 * slot,
                        len_out: base + 0x300 + 8 * slot,
                    })
                    .collect();
                let (index, status) = sys.pipe_select(list, &members, Wait::Forever).await?;
                counts.set(counts.get() + 1);
                let slot = match (index, status) {
                    (Some(slot), Status::Ok) if slot < active.len() => slot,
                    other => {
                        return Err(UserError::Check(format!("select answered {other:?}")));
                    }
                };
                let request = sys.load(base + 0x100 + 0x20 * slot, 16)?;
                let k = u64::from_le_bytes(request[..8].try_into().expect("8 bytes")) as usize;
                let n = u64::from_le_bytes(request[8..].try_into().expect("8 bytes"));
                if k != active[slot] {
                    return Err(UserError::Check(format!(
                        "member {slot} (client {}) delivered client {k}'s request",
                        active[slot]
                    )));
                }
                if n == 0 {
                    active.remove(slot);
                    continue;
                }
                log.borrow_mut().push(k);
                sys.compute(4).await;
                sys.store(base + BUF, &select_reply(k, n).to_le_bytes())?;
                sys.pipe_write(replies[k], base + BUF, 8).await?;
            }
            Ok(())
        }));
    });
    let served: Vec<u64> = (0..SELECT_CLIENTS)
        .map(|k| served.borrow().iter().filter(|&&c| c == k).count() as u64)
        .collect();
    let verified: Vec<u64> = verified
        .iter()
        .map(|log| log.borrow().len() as u64)
        .collect();
    for k in 0..SELECT_CLIENTS {
        let expected = select_requests(k);
        check(
            &mut outcome,
            served[k] == expected && verified[k] == expected,
            format!(
                "client {k}: {} served, {} replies verified, of {expected}",
                served[k], verified[k]
            ),
        );
        if let Some(pipe) = pipe_info(&outcome, &format!("select-server/request-{k}")) {
            check(
                &mut outcome,
                pipe.info.queued == 0 && pipe.info.read == expected + 1,
                format!(
                    "request-{k}: {} read, {} left queued",
                    pipe.info.read, pipe.info.queued
                ),
            );
        }
    }
    let selects = selects.get();
    // The server blocks only in its select: a reply pipe always has room
    // (each client reads its reply before its next request).
    let selects_blocked = sim.thread_stats(server_tid.expect("spawned")).blocks;
    let total: u64 = served.iter().sum();
    check(
        &mut outcome,
        selects == total + SELECT_CLIENTS as u64,
        format!("{selects} selects for {total} requests and {SELECT_CLIENTS} ends"),
    );
    check(
        &mut outcome,
        selects_blocked > 0,
        "the server never waited in its select",
    );
    let per_client: Vec<String> = served
        .iter()
        .zip(&verified)
        .enumerate()
        .map(|(k, (s, v))| format!("client-{k} {s} served/{v} verified"))
        .collect();
    outcome.findings.push(format!(
        "one server thread, one select over {SELECT_CLIENTS} request pipes: {}; {selects} selects ({selects_blocked} blocked), each completing exactly one read",
        per_client.join(", ")
    ));
    SelectServer {
        outcome,
        served,
        verified,
        selects,
        selects_blocked,
    }
}
