//! The scenarios `cargo xtask qemu-test` boots, and what each serial log
//! must show. The user programs print evidence lines (`RECV x=.. y=..`,
//! `ACQUIRE w=..`, ...); the checks here re-derive each property from that
//! evidence rather than trusting a program's own verdict.

use std::collections::BTreeMap;

/// A scenario: the kernel command line names it (`scenario=NAME`).
pub struct Scenario {
    /// Name passed to the kernel.
    pub name: &'static str,
    /// Whether QEMU must exit with the failure status (kernel panic tests).
    pub expect_failure_exit: bool,
    /// Returns the problems found in the log (empty: pass).
    pub check: fn(&Log) -> Vec<String>,
}

/// The scenario `cargo xtask qemu` boots without an argument.
pub const DEFAULT_SCENARIO: &str = "ipc";

/// Every scenario, in the order `qemu-test` runs them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "boot",
        expect_failure_exit: false,
        check: check_boot,
    },
    Scenario {
        name: "sched",
        expect_failure_exit: false,
        check: check_sched,
    },
    Scenario {
        name: "ipc",
        expect_failure_exit: false,
        check: check_ipc,
    },
    Scenario {
        name: "blackboard",
        expect_failure_exit: false,
        check: check_blackboard,
    },
    Scenario {
        name: "semaphore",
        expect_failure_exit: false,
        check: check_semaphore,
    },
    Scenario {
        name: "rpc",
        expect_failure_exit: false,
        check: check_rpc,
    },
    Scenario {
        name: "badaddr",
        expect_failure_exit: false,
        check: check_badaddr,
    },
    Scenario {
        name: "fault",
        expect_failure_exit: false,
        check: check_fault,
    },
    Scenario {
        name: "timeout",
        expect_failure_exit: false,
        check: check_timeout,
    },
    Scenario {
        name: "timer-order",
        expect_failure_exit: false,
        check: check_timer_order,
    },
    Scenario {
        name: "bench-cross",
        expect_failure_exit: false,
        check: check_bench_cross,
    },
    Scenario {
        name: "smp-stress",
        expect_failure_exit: false,
        check: check_smp_stress,
    },
    Scenario {
        name: "destroy",
        expect_failure_exit: false,
        check: check_destroy,
    },
    Scenario {
        name: "select-server",
        expect_failure_exit: false,
        check: check_select_server,
    },
    Scenario {
        name: "queue-ops",
        expect_failure_exit: false,
        check: check_queue_ops,
    },
    Scenario {
        name: "pipeline-close",
        expect_failure_exit: false,
        check: check_pipeline_close,
    },
    Scenario {
        name: "bench",
        expect_failure_exit: false,
        check: check_bench,
    },
    Scenario {
        name: "bench-select",
        expect_failure_exit: false,
        check: check_bench_select,
    },
    Scenario {
        name: "hostile-flags",
        expect_failure_exit: false,
        check: check_hostile_flags,
    },
    Scenario {
        name: "hostile-forge",
        expect_failure_exit: false,
        check: check_hostile_forge,
    },
    Scenario {
        name: "hostile-priority",
        expect_failure_exit: false,
        check: check_hostile_priority,
    },
    Scenario {
        name: "hostile-flood",
        expect_failure_exit: false,
        check: check_hostile_flood,
    },
    Scenario {
        name: "hostile-quota",
        expect_failure_exit: false,
        check: check_hostile_quota,
    },
    Scenario {
        name: "hostile-toppage",
        expect_failure_exit: false,
        check: check_hostile_toppage,
    },
    Scenario {
        name: "hostile-privileged",
        expect_failure_exit: false,
        check: check_hostile_privileged,
    },
    Scenario {
        name: "hostile-stack",
        expect_failure_exit: false,
        check: check_hostile_stack,
    },
    Scenario {
        name: "iret-fault",
        expect_failure_exit: false,
        check: check_iret_fault,
    },
    Scenario {
        name: "hostile-spin",
        expect_failure_exit: false,
        check: check_hostile_spin,
    },
    Scenario {
        name: "hostile-select",
        expect_failure_exit: false,
        check: check_hostile_select,
    },
    Scenario {
        name: "kernel-write-text",
        expect_failure_exit: true,
        check: check_kernel_write_text,
    },
    Scenario {
        name: "kernel-exec-data",
        expect_failure_exit: true,
        check: check_kernel_exec_data,
    },
    Scenario {
        name: "kernel-stack-overflow",
        expect_failure_exit: true,
        check: check_kernel_stack_overflow,
    },
    Scenario {
        name: "kernel-fault",
        expect_failure_exit: true,
        check: check_kernel_fault,
    },
    Scenario {
        name: "panic",
        expect_failure_exit: true,
        check: check_panic,
    },
];

/// A serial log, split by source. Every line the kernel writes is
/// `[seconds.micros] source: text`, where the source is `kernel` for the
/// kernel's own lines and `program#pid.tid` for a process's `debug_print`
/// (whose text the kernel escapes, so it holds no line break): a process
/// cannot produce a line whose source is `kernel`.
pub struct Log {
    /// Every line.
    pub lines: Vec<String>,
    /// The text of the kernel's own lines.
    pub kernel: Vec<String>,
    /// Lines printed by user programs: (program name, text).
    pub user: Vec<(String, String)>,
}

/// `[time] source: text` split into (source, text).
fn split_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (time, rest) = rest.split_once("] ")?;
    if !time
        .trim_start()
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    rest.split_once(": ")
}

impl Log {
    /// Splits the raw log by source.
    pub fn new(lines: Vec<String>) -> Log {
        let mut kernel = Vec::new();
        let mut user = Vec::new();
        for line in &lines {
            match split_line(line) {
                Some(("kernel", text)) => kernel.push(text.to_string()),
                Some((who, text)) if who.contains('#') => {
                    let program = who.split('#').next().unwrap_or_default();
                    user.push((program.to_string(), text.to_string()));
                }
                _ => {}
            }
        }
        Log {
            lines,
            kernel,
            user,
        }
    }

    fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|line| line.contains(needle))
    }

    /// The kernel's own lines containing `needle`.
    fn kernel_lines<'a>(&'a self, needle: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.kernel
            .iter()
            .filter(move |text| text.contains(needle))
            .map(String::as_str)
    }

    /// Whether one of the kernel's own lines contains `needle`.
    fn kernel_says(&self, needle: &str) -> bool {
        self.kernel_lines(needle).next().is_some()
    }

    /// User lines whose text starts with `tag ` (e.g. "RECV").
    fn tagged<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.user.iter().filter_map(move |(_, text)| {
            text.strip_prefix(tag)
                .filter(|rest| rest.starts_with(' '))
                .map(str::trim)
        })
    }
}

/// `key=value` fields of a line.
fn fields(text: &str) -> BTreeMap<&str, &str> {
    text.split_whitespace()
        .filter_map(|word| word.split_once('='))
        .collect()
}

fn number(fields: &BTreeMap<&str, &str>, key: &str) -> Option<u64> {
    fields.get(key)?.parse().ok()
}

fn require(log: &Log, needle: &str, problems: &mut Vec<String>) {
    if !log.contains(needle) {
        problems.push(format!("log lacks {needle:?}"));
    }
}

/// Like [`require`], for a line only the kernel can write.
fn require_kernel(log: &Log, needle: &str, problems: &mut Vec<String>) {
    if !log.kernel_says(needle) {
        problems.push(format!("no kernel line says {needle:?}"));
    }
}

/// What every scenario that should end normally must show.
fn clean_finish(log: &Log, problems: &mut Vec<String>) {
    require_kernel(log, "all processes finished", problems);
    no_frame_leak(log, problems);
    for bad in [
        "KERNEL PANIC",
        "DEADLOCK",
        "PANIC:",
        "must not happen",
        "failed:",
    ] {
        if log.contains(bad) {
            problems.push(format!("log contains {bad:?}"));
        }
    }
}

/// The kernel's count of CPUs that came online must be the `cpus` QEMU
/// was given (`smp: N of M CPUs online`, N = M = cpus).
pub fn cpus_online(log: &Log, cpus: usize) -> Vec<String> {
    let wanted = format!("smp: {cpus} of {cpus} CPUs online");
    if log.kernel_says(&wanted) {
        Vec::new()
    } else {
        let said: Vec<&str> = log.kernel_lines("CPUs online").collect();
        vec![format!("kernel never said {wanted:?} (it said {said:?})")]
    }
}

/// smp-stress: every message of every writer arrived exactly once
/// (per writer, the readers' counts, sums and sums of squares of its
/// sequence numbers add up to 0..25,000's), no reader saw a writer go
/// backwards, the board never went backwards and balances, the victim was
/// killed at its CPU budget before the writers were done with its pending
/// operations cancelled, and nothing is pending at the end.
fn check_smp_stress(log: &Log) -> Vec<String> {
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 25_000;
    const READERS: usize = 3;
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    let kills: Vec<&str> = log.kernel_lines("KILLED").collect();
    match kills.as_slice() {
        [line]
            if line.contains("KILLED: used its CPU budget of 50 ticks")
                && line.contains("; 2 pending operation(s) cancelled") =>
        {
            let at = |needle: &str| log.lines.iter().position(|l| l.contains(needle));
            if at(line) > at("STRESS hub stopping readers") {
                problems.push("the victim was not killed mid-run".into());
            }
        }
        other => problems.push(format!(
            "expected one kill at the CPU budget with pending operations cancelled, got {other:?}"
        )),
    }
    let sent = log
        .tagged("STRESS")
        .filter(|t| t.starts_with("writer") && t.contains(&format!("sent={PER_WRITER} ")))
        .count();
    if sent != WRITERS as usize {
        problems.push(format!("{sent} writers finished, expected {WRITERS}"));
    }
    let (want_sum, want_squares) = (0..PER_WRITER).fold((0u64, 0u64), |(s, q), k| {
        (s.wrapping_add(k), q.wrapping_add(k.wrapping_mul(k)))
    });
    for w in 0..WRITERS {
        let (mut count, mut sum, mut squares, mut readers) = (0u64, 0u64, 0u64, 0);
        for text in log.tagged("STRESS").filter(|t| t.starts_with("got ")) {
            let f = fields(text);
            if number(&f, "w") != Some(w) {
                continue;
            }
            readers += 1;
            count += number(&f, "count").unwrap_or(0);
            sum = sum.wrapping_add(number(&f, "sum").unwrap_or(0));
            squares = squares.wrapping_add(number(&f, "squares").unwrap_or(0));
        }
        if readers != READERS || count != PER_WRITER || sum != want_sum || squares != want_squares {
            problems.push(format!(
                "writer {w}: {readers} readers got {count} messages (sum {sum}, squares {squares}); expected each of 0..{PER_WRITER} once"
            ));
        }
    }
    let readers_ok = log
        .tagged("STRESS")
        .filter(|t| t.starts_with("reader ") && t.contains(" backwards=0 "))
        .count();
    if readers_ok != READERS {
        problems.push(format!(
            "{readers_ok} of {READERS} readers saw every writer in order"
        ));
    }
    require(log, "STRESS board-reader got=", &mut problems);
    if !log
        .tagged("STRESS")
        .any(|t| t.starts_with("board-reader") && t.contains("backwards=0 newest=2000"))
    {
        problems.push("the board reader saw a value go back or missed the last".into());
    }
    let pipes: Vec<BTreeMap<&str, &str>> = log
        .tagged("STRESS")
        .filter(|t| t.starts_with("pipe "))
        .map(fields)
        .collect();
    if pipes.len() != 6 {
        problems.push(format!("{} pipe lines, expected 6", pipes.len()));
    }
    for f in &pipes {
        let n = |k: &str| number(f, k).unwrap_or(u64::MAX);
        let name = f.get("name").copied().unwrap_or("?");
        if n("pending_readers") + n("pending_peekers") + n("pending_writers") != 0 {
            problems.push(format!("operations left pending on {name}: {f:?}"));
        }
        if n("read") + n("dropped") + n("queued") != n("written") {
            problems.push(format!("{name} does not balance: {f:?}"));
        }
        match name {
            "stress-a" if n("written") != WRITERS * PER_WRITER + READERS as u64 => {
                problems.push(format!("stress-a written {}", n("written")));
            }
            "stress-board" if n("written") != 2000 => {
                problems.push(format!("stress-board written {}", n("written")));
            }
            _ => {}
        }
    }
    require(log, "STRESS done", &mut problems);
    problems
}

/// How many CPUs the kernel says came online (1 if it does not say).
fn cpus_in(log: &Log) -> u64 {
    log.kernel_lines("CPUs online")
        .find_map(|line| line.split("smp: ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or(1)
}

/// The number in the `"; "`-separated part of `line` that ends with
/// `unit` (e.g. "30233 free frames").
fn figure(line: &str, unit: &str) -> Option<u64> {
    line.split("; ")
        .find_map(|part| part.strip_suffix(unit))
        .and_then(|n| n.trim().parse().ok())
}

/// The free-frame count and the free pool bytes at the end equal those at
/// boot: every page table, user page and byte of kernel memory charged to
/// an ended process was returned.
fn no_frame_leak(log: &Log, problems: &mut Vec<String>) {
    let at = |prefix: &str, unit: &str| {
        log.kernel
            .iter()
            .filter(|l| l.starts_with(prefix))
            .find_map(|l| figure(l, unit))
    };
    for unit in [" free frames", " pool bytes free"] {
        let at_boot = at("boot ok", unit);
        let at_end = at("all processes finished", unit);
        if at_boot.is_none() || at_boot != at_end {
            problems.push(format!(
                "{} at boot {at_boot:?}, at the end {at_end:?}: leaked",
                unit.trim()
            ));
        }
    }
}

fn no_kills(log: &Log, problems: &mut Vec<String>) {
    if log.kernel_says("KILLED") {
        problems.push("a process was killed".into());
    }
}

fn check_boot(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    // The kernel runs with SMEP/SMAP: touching user memory other than
    // through the checked page-table walk would fault.
    require_kernel(log, "SMEP on, SMAP on", &mut problems);
    require(log, "HELLO from user space", &mut problems);
    require(log, "HELLO from thread arg=42", &mut problems);
    require(log, "HELLO done x=12", &mut problems);
    problems
}

/// Two CPU-bound spinners at one priority must take turns (timer
/// preemption, round-robin), keep their SSE results, and a higher-priority
/// sleeper must get the CPU back while they spin.
fn check_sched(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let rounds: Vec<u64> = log
        .tagged("SPIN")
        .filter(|text| !text.contains("done"))
        .filter_map(|text| number(&fields(text), "id"))
        .collect();
    let switches = rounds.windows(2).filter(|w| w[0] != w[1]).count();
    if rounds.len() != 12 || switches < 3 {
        problems.push(format!(
            "spinner rounds {rounds:?}: expected 12 rounds interleaved (>= 3 switches)"
        ));
    }
    let sse_ok = log
        .tagged("SPIN")
        .filter(|text| text.contains("done") && text.ends_with("sse=ok"))
        .count();
    if sse_ok != 2 {
        problems.push(format!(
            "{sse_ok} spinners report intact SSE state, expected 2"
        ));
    }
    require(log, "PRIO pending_readers=3", &mut problems);
    let served: Vec<(u64, u64)> = log
        .tagged("PRIO")
        .filter_map(|text| {
            let f = fields(text);
            Some((number(&f, "priority")?, number(&f, "got")?))
        })
        .collect();
    let mut by_priority = served.clone();
    by_priority.sort();
    if by_priority != [(1, 3), (2, 2), (3, 1)] {
        problems.push(format!(
            "priority waiters served {served:?}; expected message 1 to priority 3, 2 to 2, 3 to 1"
        ));
    }
    let first_done = log
        .user
        .iter()
        .position(|(_, t)| t.starts_with("SPIN") && t.contains("done"));
    let hello_done = log
        .user
        .iter()
        .position(|(_, t)| t.starts_with("HELLO done"));
    match (hello_done, first_done) {
        (Some(h), Some(s)) if h < s => {}
        _ => problems.push("the priority-3 sleeper did not finish while the spinners ran".into()),
    }
    problems
}

/// Upstream LuKOS's IPC app: every message received once and in order.
fn check_ipc(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let received: Vec<(u64, u64)> = log
        .tagged("RECV")
        .filter_map(|text| {
            let f = fields(text);
            Some((number(&f, "x")?, number(&f, "y")?))
        })
        .collect();
    let expected: Vec<(u64, u64)> = (0..120).map(|x| (x, x * x)).collect();
    if received != expected {
        let first_bad = received.iter().zip(&expected).position(|(a, b)| a != b);
        problems.push(format!(
            "received {} messages, expected 120 in order (first difference at index {first_bad:?})",
            received.len()
        ));
    }
    require(log, "PRODUCER sent=120", &mut problems);
    require(
        log,
        "CONSUMER done received=120 queued=0 written=120 read=120",
        &mut problems,
    );
    problems
}

/// Blackboard: each display's values never go back, every value seen had
/// been published, it was fresh (at least the last value written before
/// its peek began, `before`: by state, since on several CPUs the host can
/// delay the print by several publishes), and every display saw the final
/// value; peeking consumed nothing.
fn check_blackboard(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let mut latest = 0;
    let mut seen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (_, text) in &log.user {
        let f = fields(text);
        if text.starts_with("PUBLISH") {
            let v = number(&f, "v").unwrap_or(0);
            if v != latest + 1 {
                problems.push(format!("published {v} after {latest}"));
            }
            latest = v;
        } else if text.starts_with("SEE") {
            let (Some(d), Some(v)) = (number(&f, "d"), number(&f, "v")) else {
                continue;
            };
            if v > latest {
                problems.push(format!("display {d} saw {v} before it was published"));
            }
            match number(&f, "before") {
                Some(before) if v < before => problems.push(format!(
                    "display {d} saw stale {v} when {before} was on the board before its peek"
                )),
                Some(_) => {}
                None => problems.push(format!("display {d}: SEE without before=")),
            }
            let values = seen.entry(d).or_default();
            if values.last().is_some_and(|&last| v < last) {
                problems.push(format!(
                    "display {d} went back from {:?} to {v}",
                    values.last()
                ));
            }
            values.push(v);
        }
    }
    if latest != 20 {
        problems.push(format!("sensor published up to {latest}, expected 20"));
    }
    for d in 0..3 {
        match seen.get(&d) {
            Some(values) if values.last() == Some(&20) && values.len() >= 3 => {}
            other => problems.push(format!(
                "display {d} saw {other:?}; expected several values ending at 20"
            )),
        }
    }
    require(
        log,
        "SENSOR done queued=1 written=20 read=0 dropped=19",
        &mut problems,
    );
    problems
}

/// Token semaphore: replaying ACQUIRE/RELEASE in log order, never more
/// than N holders (and N reached, so the limit was exercised).
fn check_semaphore(log: &Log) -> Vec<String> {
    const TOKENS: i64 = 2;
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    require(log, "TOKENS n=2 extra_release=FULL", &mut problems);
    let (mut holders, mut max, mut acquires, mut releases) = (0i64, 0i64, 0, 0);
    let mut holding: BTreeMap<u64, bool> = BTreeMap::new();
    for (_, text) in &log.user {
        let f = fields(text);
        let Some(w) = number(&f, "w") else { continue };
        if text.starts_with("ACQUIRE") {
            if holding.insert(w, true) == Some(true) {
                problems.push(format!("worker {w} acquired twice"));
            }
            holders += 1;
            acquires += 1;
            max = max.max(holders);
        } else if text.starts_with("RELEASE") {
            if holding.insert(w, false) != Some(true) {
                problems.push(format!("worker {w} released without holding"));
            }
            holders -= 1;
            releases += 1;
        }
    }
    if max > TOKENS {
        problems.push(format!(
            "{max} concurrent holders, more than the {TOKENS} tokens"
        ));
    }
    if max < TOKENS {
        problems.push(format!(
            "at most {max} concurrent holders: the limit of {TOKENS} was never reached"
        ));
    }
    if acquires != 18 || releases != 18 {
        problems.push(format!(
            "{acquires} acquires / {releases} releases, expected 18 each (6 workers x 3)"
        ));
    }
    if holding.len() != 6 {
        problems.push(format!(
            "{} workers seen, expected 6 in 3 processes",
            holding.len()
        ));
    }
    problems
}

/// Client/server: every request answered once, by the reply to it, in order.
fn check_rpc(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let mut outstanding: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut answered: BTreeMap<u64, u64> = BTreeMap::new();
    for (_, text) in &log.user {
        let f = fields(text);
        if text.starts_with("REQ") {
            let (Some(c), Some(seq), Some(a), Some(b)) = (
                number(&f, "c"),
                number(&f, "seq"),
                number(&f, "a"),
                number(&f, "b"),
            ) else {
                continue;
            };
            if let Some(previous) = outstanding.insert(c, (seq, a + b)) {
                problems.push(format!(
                    "client {c} sent seq {seq} while {previous:?} was unanswered"
                ));
            }
        } else if text.starts_with("REPLY") {
            let (Some(c), Some(seq), Some(sum)) =
                (number(&f, "c"), number(&f, "seq"), number(&f, "sum"))
            else {
                continue;
            };
            match outstanding.remove(&c) {
                Some((want_seq, want_sum)) if want_seq == seq && want_sum == sum => {
                    *answered.entry(c).or_default() += 1;
                }
                other => problems.push(format!(
                    "client {c} got reply seq={seq} sum={sum}, expected {other:?}"
                )),
            }
        }
    }
    if !outstanding.is_empty() {
        problems.push(format!("unanswered requests: {outstanding:?}"));
    }
    for c in [1, 2] {
        if answered.get(&c) != Some(&10) {
            problems.push(format!(
                "client {c} got {:?} matched replies, expected 10",
                answered.get(&c)
            ));
        }
    }
    require(log, "SERVER done served=20", &mut problems);
    problems
}

/// Bad pointers: every one BAD_ADDRESS, nothing changed, kernel alive.
fn check_badaddr(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let checks: Vec<&str> = log
        .tagged("CHECK")
        .filter(|t| t.contains("expected="))
        .collect();
    let bad_address = checks
        .iter()
        .filter(|t| t.contains("status=BAD_ADDRESS expected=BAD_ADDRESS ok"))
        .count();
    if bad_address < 17 {
        problems.push(format!(
            "{bad_address} calls got BAD_ADDRESS as expected, want 17"
        ));
    }
    for check in checks.iter().filter(|t| !t.ends_with(" ok")) {
        problems.push(format!("wrong status: {check}"));
    }
    for kind in [
        "kernel-addr",
        "unmapped",
        "read-only",
        "crossing-into-unmapped",
    ] {
        if !checks
            .iter()
            .any(|t| t.contains(kind) && t.contains("status=BAD_ADDRESS"))
        {
            problems.push(format!("no BAD_ADDRESS check for a {kind} buffer"));
        }
    }
    for line in [
        "CHECK nothing-written queued=0 written=0",
        "CHECK nothing-consumed queued=1 read=0",
        "CHECK create-many-until-quota status=NO_MEMORY",
        "CHECK create-after-destroy status=OK",
        "CHECK survived read=Ok(16) intact=true",
        "BADADDR done",
    ] {
        require(log, line, &mut problems);
    }
    problems
}

/// Faults kill only the faulting process; a process killed while blocked
/// leaves no pending operation behind.
fn check_fault(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    require_kernel(log, "all processes finished", &mut problems);
    no_frame_leak(log, &mut problems);
    for bad in ["KERNEL PANIC", "DEADLOCK", "must not happen"] {
        if log.contains(bad) {
            problems.push(format!("log contains {bad:?}"));
        }
    }
    let killed = |who: &str, what: &str| {
        log.kernel.iter().find(|l| {
            l.contains(&format!("process {who}#")) && l.contains(&format!("KILLED: {what}"))
        })
    };
    match killed("victim", "page fault") {
        Some(line) if line.contains("1 pending operation(s) cancelled") => {}
        Some(line) => problems.push(format!(
            "victim killed without cancelling its pending read: {line}"
        )),
        None => problems.push("victim was not killed by its page fault".into()),
    }
    if killed("gpfault", "general protection fault").is_none() {
        problems.push("gpfault was not killed by its #GP".into());
    }
    require(log, "VICTIM reader blocking on victim-pipe", &mut problems);
    require(
        log,
        "OBSERVE pending_readers=0 pending_peekers=0 pending_writers=0 queued=0",
        &mut problems,
    );
    require(
        log,
        "OBSERVE after-write queued=1 read-back=Ok(7)",
        &mut problems,
    );
    require(log, "OBSERVER done", &mut problems);
    if log.kernel_lines("KILLED").count() != 2 {
        problems.push("expected exactly two processes killed".into());
    }
    problems
}

/// Timeouts: TIMED_OUT after the timeout, and the operation did not happen.
fn check_timeout(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    for (tag, min_wait) in [("read-timeout", 5), ("write-timeout", 3)] {
        match log.tagged("CHECK").find(|t| t.starts_with(tag)) {
            Some(t)
                if t.contains("result=Err(TIMED_OUT)")
                    && number(&fields(t), "waited").is_some_and(|w| w >= min_wait) => {}
            other => problems.push(format!(
                "{tag}: {other:?}, expected TIMED_OUT after >= {min_wait} ticks"
            )),
        }
    }
    require(
        log,
        "CHECK after-read-timeout pending_readers=0 queued=0 read=0",
        &mut problems,
    );
    require(
        log,
        "CHECK after-write-timeout pending_writers=0 queued=1 written=1",
        &mut problems,
    );
    require(log, "CHECK read-after-timeouts value=Ok(11)", &mut problems);
    require(log, "CHECK try-read-empty result=Err(EMPTY)", &mut problems);
    require(log, "CHECK try-write-full result=Err(FULL)", &mut problems);
    require(log, "CHECK read-within-timeout value=Ok(33)", &mut problems);
    require(
        log,
        "CHECK zero-timeout result=Err(TIMED_OUT) waited=0",
        &mut problems,
    );
    require(
        log,
        "CHECK zero-timeout-completes value=Ok(44)",
        &mut problems,
    );
    require(log, "TIMEOUTS done", &mut problems);
    problems
}

/// Two timeouts with one deadline: the one armed first expires first.
fn check_timer_order(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let expired: Vec<(String, u64)> = log
        .tagged("TIMERORDER")
        .filter(|t| t.starts_with("expired") && t.ends_with("result=Err(TIMED_OUT)"))
        .filter_map(|t| {
            let f = fields(t);
            Some((f.get("who")?.to_string(), number(&f, "deadline")?))
        })
        .collect();
    let same_deadline = expired.len() == 2 && expired[0].1 == expired[1].1;
    let order: Vec<&str> = expired.iter().map(|(who, _)| who.as_str()).collect();
    if cpus_in(log) > 1 {
        // On several CPUs the two threads arm and print in parallel: which
        // arms first and which line comes first are races, not the
        // kernel's order. The outcome still holds (the order is checked
        // on one CPU, where it is deterministic).
        let mut both = order.clone();
        both.sort_unstable();
        if both != ["armed-first", "armed-second"] {
            problems.push(format!(
                "timeouts expired as {expired:?}; expected both to time out"
            ));
        }
    } else if !same_deadline || order != ["armed-first", "armed-second"] {
        problems.push(format!(
            "timeouts expired as {expired:?}; expected one deadline, armed-first first"
        ));
    }
    require(log, "TIMERORDER done", &mut problems);
    problems
}

/// Destroy wakes every pending operation with DESTROYED; stale ids are
/// NOT_FOUND; names are reusable; only the owner destroys or writes.
fn check_destroy(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    for line in [
        "CHECK before-destroy pending_readers=1 pending_peekers=1",
        "CHECK destroy result=Ok(())",
        "CHECK reader-woken result=Err(DESTROYED)",
        "CHECK peeker-woken result=Err(DESTROYED)",
        "CHECK stale-id-read result=Err(NOT_FOUND)",
        "CHECK stale-id-info result=Err(NOT_FOUND)",
        "CHECK name-reused new-id-differs=true",
        "CHECK intruder-write result=Err(DENIED)",
        "CHECK intruder-destroy result=Err(DENIED)",
        "CHECK intruder-peek value=Ok(5)",
        "CHECK guarded-after-intruder queued=1 written=1",
        "DESTROYER done",
    ] {
        require(log, line, &mut problems);
    }
    problems
}

/// One server serves three clients' request pipes with one select: every
/// request served exactly once, by the member of its own client's pipe, in
/// each client's order; every reply is the right one; the server's
/// per-client counts are the clients' request counts (4, 8, 12).
fn check_select_server(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let mut served: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for text in log.tagged("SELSERVE") {
        let f = fields(text);
        match (number(&f, "index"), number(&f, "c"), number(&f, "seq")) {
            (Some(index), Some(client), Some(seq)) if index + 1 == client => {
                served.entry(client).or_default().push(seq);
            }
            _ => problems.push(format!("bad served line {text:?}")),
        }
    }
    let counts = log
        .tagged("SELSERVER")
        .find(|t| t.starts_with("done"))
        .map(|t| {
            let f = fields(t);
            [number(&f, "c1"), number(&f, "c2"), number(&f, "c3")]
        });
    for client in 1..=3u64 {
        let expected: Vec<u64> = (0..4 * client).collect();
        if served.get(&client) != Some(&expected) {
            problems.push(format!(
                "client {client}'s requests served {:?}, expected {expected:?} once each in order",
                served.get(&client)
            ));
        }
        let replies: Vec<(u64, u64)> = log
            .tagged("SELREPLY")
            .map(fields)
            .filter(|f| number(f, "c") == Some(client))
            .filter_map(|f| {
                let right = number(&f, "seq")? == number(&f, "want-seq")?
                    && number(&f, "sum")? == number(&f, "want-sum")?;
                Some((number(&f, "seq")?, u64::from(right)))
            })
            .collect();
        let good: Vec<(u64, u64)> = (0..4 * client).map(|seq| (seq, 1)).collect();
        if replies != good {
            problems.push(format!(
                "client {client}'s replies {replies:?}: expected every one right, in order"
            ));
        }
        let per_client = counts.map(|c| c[client as usize - 1]);
        if per_client != Some(Some(4 * client)) {
            problems.push(format!(
                "server reports {per_client:?} requests of client {client}, expected {}",
                4 * client
            ));
        }
        require(
            log,
            &format!(
                "SELCLIENT c={client} done sent={} good={}",
                4 * client,
                4 * client
            ),
            &mut problems,
        );
    }
    problems
}

/// The §9 operations through the system calls, one line each.
fn check_queue_ops(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    for line in [
        "QOPS urgent order=[9, 1, 2] seqs=[3, 1, 2]",
        "QOPS peek-at values=[10, 11, 12] past-end=Err(EMPTY) queued=3",
        "QOPS purge dropped=Ok(2) queued-after=1 purged=2 pending-writers=0",
        "QOPS purge-writer result=Ok(())",
        "QOPS purge then-read=Ok(3)",
        "QOPS newer before-write waiting=1 try-now=Err(TIMED_OUT)",
        "QOPS newer woken v=2 seq=2",
        "QOPS newer after-write acked=Ok(3)",
        "QOPS rendezvous no-reader=Err(FULL) handoff=Ok(()) queued=0",
        "QOPS rendezvous reader-got=Ok(8) v=42",
        "QOPS select-both-ready index=Some(0) status=Ok(()) got=100 y-queued=1 y-buf-untouched=true",
        "QOPS select-write reader-got=Ok(8) v=76",
        "QOPS select-write index=Some(0) status=Ok(()) z-then-holds=Ok(77)",
        "QOPS select-closed closer=Ok(())",
        "QOPS select-closed index=Some(1) status=Err(CLOSED) empty-pending=0",
        "QOPS prio order=[2, 4, 1, 3] plain-pipe=Err(BAD_PARAM) prio-256=Err(BAD_PARAM) zero-depth=Err(BAD_PARAM)",
        "QOPS prio-blocked-writer order=[1, 7, 2]",
        "QOPS prio-writer result=Ok(())",
        "QOPS done",
    ] {
        require(log, line, &mut problems);
    }
    // Woken by the next write, not before.
    let at = |needle: &str| log.user.iter().position(|(_, t)| t.starts_with(needle));
    match (
        at("QOPS newer before-write"),
        at("QOPS newer woken"),
        at("QOPS newer after-write"),
    ) {
        (Some(before), Some(woken), Some(after)) if before < woken && woken < after => {}
        other => problems.push(format!(
            "peek-newer waiter lines at {other:?}: expected woken between the write's before and after"
        )),
    }
    problems
}

/// Close at shutdown: the producer closes with messages queued; the
/// consumer drains all 50 in order, then sees CLOSED (and again); a write
/// after the close fails CLOSED; the producer gets the acknowledgement.
fn check_pipeline_close(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    let drained: Vec<(u64, u64)> = log
        .tagged("DRAINED")
        .filter_map(|text| {
            let f = fields(text);
            Some((number(&f, "x")?, number(&f, "seq")?))
        })
        .collect();
    let expected: Vec<(u64, u64)> = (0..50).map(|x| (x, x + 1)).collect();
    if drained != expected {
        problems.push(format!(
            "drained {} messages, expected x=0..50 in order with seq=x+1",
            drained.len()
        ));
    }
    match log.tagged("DRAINP").find(|t| t.starts_with("sent=")) {
        Some(t) => {
            let f = fields(t);
            if number(&f, "queued-at-close").is_none_or(|q| q == 0) {
                problems.push(format!("nothing was queued at the close: {t:?}"));
            }
            for (key, want) in [
                ("close", "Ok(())"),
                ("write-after-close", "Err(CLOSED)"),
                ("close-again", "Err(CLOSED)"),
            ] {
                if f.get(key) != Some(&want) {
                    problems.push(format!("producer {key}={:?}, expected {want}", f.get(key)));
                }
            }
        }
        None => problems.push("no producer close line".into()),
    }
    require(
        log,
        "DRAINC end=CLOSED received=50 again=Err(CLOSED) closed=1",
        &mut problems,
    );
    require(log, "DRAINP ack received=50", &mut problems);
    problems
}

/// Hostile inputs to the §9 calls are refused (with a kernel line where
/// the kernel refuses the call itself), change nothing, and a thread
/// killed while in a select leaves no member behind.
fn check_hostile_select(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 1);
    for line in [
        "SELATTACK count-0 status=BAD_PARAM index=0xffffffffffffffff",
        "SELATTACK count-17 status=BAD_PARAM index=0xffffffffffffffff",
        "SELATTACK count-huge status=BAD_PARAM index=0xffffffffffffffff",
        "SELATTACK list-null status=BAD_ADDRESS index=0xffffffffffffffff",
        "SELATTACK list-kernel status=BAD_ADDRESS index=0xffffffffffffffff",
        "SELATTACK member-bad-op index=None status=Err(BAD_PARAM)",
        "SELATTACK member-no-pipe index=None status=Err(NOT_FOUND)",
        "SELATTACK member-too-long index=None status=Err(TOO_LARGE)",
        "SELATTACK member-bad-buffer-ready index=Some(1) status=Err(BAD_ADDRESS)",
        "SELATTACK member-bad-len-ready index=Some(1) status=Err(BAD_ADDRESS)",
        "SELATTACK after-bad-buffer mine-queued=1 other-queued=0 other-pending=0",
        "SELATTACK read-after result=Ok(5)",
        "SELATTACK timeout index=None status=Err(TIMED_OUT)",
        "SELATTACK member-bad-buffer-woken index=Some(1) status=Err(BAD_ADDRESS)",
        "SELATTACK after-bad-buffer-woken mine-queued=1 other-pending=0",
        "SELATTACK read-seq-wrap result=Err(BAD_ADDRESS) peek-newer-kernel result=Err(BAD_ADDRESS) peek-at-kernel result=Err(BAD_ADDRESS)",
        "SELATTACK read-after-woken result=Ok(6)",
        "SELATTACK foreign close=Err(DENIED) purge=Err(DENIED)",
        "SELATTACK quota-full pipes=some index=None status=Err(NO_MEMORY)",
        "SELOWNER owned queued=2 closed=0 purged=0",
        "SELOWNER before-kill select-members-waiting=2",
        "SELOWNER after-kill a-queued=1 b-queued=1 a-read=0 b-read=0 pending=0",
        "SELOWNER done",
    ] {
        require(log, line, &mut problems);
    }
    for line in [
        "pipe_select refused: BAD_PARAM (17 members, 1 to 16 allowed)",
        "pipe_select refused: BAD_PARAM (0 members",
        "pipe_select refused: BAD_ADDRESS (member list at 0x0",
        "pipe_select refused: BAD_ADDRESS (member list at 0xffffffff80100000",
        "pipe_close refused: DENIED",
        "pipe_purge refused: DENIED",
        "pipe_select refused: NO_MEMORY (16 wait records do not fit",
    ] {
        require_kernel(log, line, &mut problems);
    }
    match log.kernel_lines("process sel-attacker#").next() {
        Some(line)
            if line.contains("KILLED: page fault")
                && line.contains("; 1 pending operation(s) cancelled") => {}
        other => problems.push(format!(
            "attacker's end: {other:?}, expected killed by its page fault with its select cancelled"
        )),
    }
    if log.contains("must not happen") {
        problems.push("the dead select completed, or the fault did not kill".into());
    }
    // Random arguments: every call answered with a known status, some
    // completed.
    match log.tagged("SELFUZZ").next() {
        Some(t)
            if t.starts_with("calls=3000 ")
                && t.ends_with(" other=0")
                && number(&fields(t), "OK").is_some_and(|n| n > 0) => {}
        other => problems.push(format!(
            "random calls: {other:?}, expected 3000 answered with known statuses"
        )),
    }
    problems
}

/// Measurements (rdtsc under TCG is emulated: the numbers are QEMU's).
/// The cross-CPU ping-pong runs and reports (pinned to CPUs 1 and 2; on
/// one CPU the pins are void and it is the same-CPU one).
fn check_bench_cross(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    require(log, "BENCH pipe-ping-pong cross-CPU", &mut problems);
    problems
}

fn check_bench(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    require(log, "BENCH syscall", &mut problems);
    require(log, "BENCH pipe-ping-pong same-CPU", &mut problems);
    problems
}

/// Select ping-pong measurements over 1, 2 and 16 members.
fn check_bench_select(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    no_kills(log, &mut problems);
    for members in [1, 2, 16] {
        require(
            log,
            &format!("BENCH select-ping-pong members={members} rdtsc="),
            &mut problems,
        );
    }
    problems
}

/// What every hostile scenario must show: the kernel survived to the end
/// of the run with nothing leaked, the bystanders `ids` finished, and
/// exactly `kills` processes were killed.
fn survived(log: &Log, bystanders: &[u64], kills: usize) -> Vec<String> {
    let mut problems = Vec::new();
    clean_finish(log, &mut problems);
    for id in bystanders {
        require(
            log,
            &format!("BYSTANDER done id={id} rounds=20 sum=190"),
            &mut problems,
        );
    }
    let killed = log.kernel_lines("KILLED").count();
    if killed != kills {
        problems.push(format!("{killed} processes killed, expected {kills}"));
    }
    problems
}

/// Flags ring 3 sets (NT, AC, DF, ID) never reach the kernel; TF kills
/// only the process that set it (its #DB frame arrives on an IST stack).
fn check_hostile_flags(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 1);
    if !log
        .kernel_lines("KILLED: debug (vector 1")
        .any(|l| l.contains("process flags#"))
    {
        problems.push("the TF-setting process was not killed by its #DB".into());
    }
    require(log, "FLAGS setting TF", &mut problems);
    if log.contains("must not happen") {
        problems.push("TF did not trap".into());
    }
    for line in [
        "FLAGS fresh thread ran",
        "FLAGS nt-then-yield survived",
        "FLAGS ac-through-timer survived",
        "FLAGS df-copy write=OK read=Ok(16) intact=true",
        "FLAGS done",
    ] {
        require(log, line, &mut problems);
    }
    problems
}

/// A process's text stays on its own line, escaped; no kernel line is
/// forged, every line of the log has a source, and a flood of lines is
/// rate-limited with every dropped line counted.
fn check_hostile_forge(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 0);
    if log.kernel_says("forged") {
        problems.push("a forged kernel line got through".into());
    }
    for line in log.lines.iter().filter(|l| split_line(l).is_none()) {
        problems.push(format!("line without a source: {line:?}"));
    }
    for needle in [
        "FORGE one\\x0a[   0.000001] kernel: process bystander#3 KILLED: forged\\x0akernel: all processes finished",
        "FORGE two \\x1b[2J\\x1b[H\\x0d[   0.000002] kernel: SMEP forged\\x7f\\\\x41",
        "FORGER done flood=5000",
    ] {
        if !log
            .user
            .iter()
            .any(|(p, t)| p == "forger" && t.contains(needle))
        {
            problems.push(format!("no forger line with {needle:?}"));
        }
    }
    check_log_flood(log, &mut problems);
    problems
}

/// The forger's flood of 5,000 lines: the rest of the burst (256, less
/// the two forged lines before it) is printed, most of the rest dropped, and every dropped line counted by a kernel line,
/// so printed + suppressed is the whole flood.
fn check_log_flood(log: &Log, problems: &mut Vec<String>) {
    const FLOOD: u64 = 5_000;
    // The kernel's burst, less the forger's two lines before the flood.
    const BURST: u64 = 256 - 2;
    let printed = log
        .user
        .iter()
        .filter(|(p, t)| p == "forger" && t.starts_with("FLOOD "))
        .count() as u64;
    let suppressed: u64 = log
        .kernel_lines("log line(s) suppressed (rate limit)")
        .filter(|l| l.starts_with("forger#") || l.starts_with("process forger#"))
        .filter_map(|l| {
            let (_, rest) = l.split_once(": ")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    if printed < BURST {
        problems.push(format!(
            "only {printed} flood lines printed, the burst is {BURST}"
        ));
    }
    if printed > FLOOD / 4 {
        problems.push(format!(
            "{printed} of {FLOOD} flood lines printed: no rate limit"
        ));
    }
    if printed + suppressed != FLOOD {
        problems.push(format!(
            "{printed} flood lines printed + {suppressed} reported suppressed != {FLOOD}"
        ));
    }
}

/// No thread gets a priority above its creator's.
fn check_hostile_priority(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 0);
    for line in [
        "CLIMBER spawn-priority-7 result=Err(BAD_PARAM)",
        "CLIMBER spawn-priority-1 result=Ok(())",
        "CLIMBER peer ran",
        "CLIMBER done",
    ] {
        require(log, line, &mut problems);
    }
    require_kernel(
        log,
        "thread_spawn refused: priority above the caller's own",
        &mut problems,
    );
    if log.contains("CLIMBER hog spun") {
        problems.push("the priority-7 thread ran".into());
    }
    problems
}

/// Floods of tiny pipes and of threads end in refusals, not a panic.
fn check_hostile_flood(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 0);
    match log.tagged("FLOOD").find(|t| t.starts_with("pipes")) {
        Some(t) if t.ends_with("status=NO_MEMORY") => {}
        other => problems.push(format!("pipe flood: {other:?}, expected NO_MEMORY")),
    }
    match log.tagged("FLOOD").find(|t| t.starts_with("threads")) {
        // NO_MEMORY once the pipes took its quota, BAD_PARAM at the
        // thread-slot limit.
        Some(t) if t.ends_with("refused=NO_MEMORY") || t.ends_with("refused=BAD_PARAM") => {}
        other => problems.push(format!("thread flood: {other:?}, expected a refusal")),
    }
    require(log, "FLOOD done", &mut problems);
    if !log
        .kernel_lines("pipe_create refused: NO_MEMORY")
        .any(|l| l.starts_with("flood#"))
    {
        problems.push("no kernel line refusing the flood's pipe".into());
    }
    problems
}

/// What a process took comes back when it exits: its pipes destroyed
/// (their waiters woken with DESTROYED), its bytes free for others.
fn check_hostile_quota(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 0);
    let created = |tag: &str, key: &str| {
        log.tagged(tag)
            .find(|t| t.contains(key))
            .filter(|t| t.ends_with("status=NO_MEMORY"))
            .and_then(|t| number(&fields(t), key))
    };
    let hog = created("HOG", "created");
    let after = created("HOGWAIT", "created-after");
    match (hog, after) {
        (Some(h), Some(a)) if h > 0 && a >= h => {}
        other => problems.push(format!(
            "hog / waiter created {other:?} pipes before NO_MEMORY; expected the waiter to get at least the hog's share back"
        )),
    }
    require(log, "HOGWAIT read result=Err(DESTROYED)", &mut problems);
    match log.kernel_lines("process hog#").next() {
        Some(line) if line.contains("pipe(s) destroyed") => {}
        other => problems.push(format!(
            "hog's end: {other:?}, expected its pipes destroyed"
        )),
    }
    problems
}

/// A program with code in the top user page is never started.
fn check_hostile_toppage(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 0);
    require_kernel(log, "REFUSED to start toppage", &mut problems);
    if log.contains("TOPPAGE running") {
        problems.push("the top-page program ran".into());
    }
    problems
}

/// Each privileged instruction kills its process with #GP (sgdt too:
/// UMIP is on).
fn check_hostile_privileged(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 7);
    require_kernel(log, "UMIP on", &mut problems);
    let gp = log
        .kernel_lines("KILLED: general protection fault")
        .filter(|l| l.contains("process privileged#"))
        .count();
    if gp != 7 {
        problems.push(format!(
            "{gp} privileged processes killed by #GP, expected 7"
        ));
    }
    if log.contains("must not happen") {
        problems.push("a privileged instruction ran in ring 3".into());
    }
    problems
}

/// A bogus user stack pointer never bothers the kernel; a stack overflow
/// hits the guard page and kills only its process.
fn check_hostile_stack(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 1);
    for line in [
        "SMASH rsp=kernel survived",
        "SMASH rsp=null survived",
        "SMASH rsp=odd survived",
        "SMASHER done",
        "SMASH recursing",
    ] {
        require(log, line, &mut problems);
    }
    if !log
        .kernel_lines("KILLED: page fault")
        .any(|l| l.contains("process smasher#"))
    {
        problems.push("the recursing smasher was not killed by a page fault".into());
    }
    problems
}

/// A return to ring 3 that faults on the `iretq` kills the thread's
/// process, not the kernel.
fn check_iret_fault(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1], 1);
    if !log
        .kernel_lines("KILLED: return to ring 3 faulted: general protection fault")
        .any(|l| l.contains("process bystander#1 "))
    {
        problems.push("the process whose return faulted was not killed".into());
    }
    problems
}

/// A process that spins forever is time-sliced, then killed at its budget.
fn check_hostile_spin(log: &Log) -> Vec<String> {
    let mut problems = survived(log, &[1, 2], 1);
    if !log
        .kernel_lines("KILLED: used its CPU budget of 20 ticks")
        .any(|l| l.contains("process spin-forever#"))
    {
        problems.push("the spinner was not killed at its CPU budget".into());
    }
    problems
}

/// The kernel's text is read-only: writing it is a page fault (error 0x3:
/// present, write).
fn check_kernel_write_text(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    require_kernel(
        log,
        "KERNEL PANIC: kernel page fault (vector 14, error 0x3)",
        &mut problems,
    );
    problems
}

/// The kernel's data is no-execute: running it is a page fault (error
/// 0x11: present, instruction fetch).
fn check_kernel_exec_data(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    require_kernel(
        log,
        "KERNEL PANIC: kernel page fault (vector 14, error 0x11)",
        &mut problems,
    );
    problems
}

/// A kernel stack overflow hits the guard page; the page fault cannot be
/// delivered on that stack, and the double fault runs on its IST stack.
fn check_kernel_stack_overflow(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    require_kernel(log, "KERNEL PANIC: kernel double fault", &mut problems);
    problems
}

fn check_kernel_fault(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    require_kernel(log, "KERNEL PANIC", &mut problems);
    require_kernel(log, "invalid opcode", &mut problems);
    problems
}

fn check_panic(log: &Log) -> Vec<String> {
    let mut problems = Vec::new();
    require_kernel(log, "KERNEL PANIC", &mut problems);
    require_kernel(log, "deliberate kernel panic", &mut problems);
    problems
}

#[cfg(test)]
mod tests {
    //! The checks must reject logs that show the failures they look for.
    use super::*;

    fn log(lines: &[&str]) -> Log {
        Log::new(lines.iter().map(|l| l.to_string()).collect())
    }

    fn user(program: &str, text: &str) -> String {
        format!("[   0.000100] {program}#1.2: {text}")
    }

    fn finished() -> Vec<String> {
        vec![
            "[   0.000000] kernel: boot ok; 100 free frames; 4096 pool bytes free".into(),
            "[   0.100000] kernel: all processes finished; 100 free frames; 4096 pool bytes free"
                .into(),
        ]
    }

    /// A select-server log that passes; `served(client, seq)` gives the
    /// server lines (empty to drop one, two to serve it twice).
    fn select_server_log(served: impl Fn(u64, u64) -> Vec<String>, sum_offset: u64) -> Log {
        let mut lines = finished();
        for client in 1..=3u64 {
            for seq in 0..4 * client {
                lines.extend(served(client, seq));
                let want = seq * 7 + client + 100 * client;
                lines.push(user(
                    "select-client",
                    &format!(
                        "SELREPLY c={client} seq={seq} sum={} want-seq={seq} want-sum={want}",
                        want + sum_offset
                    ),
                ));
            }
            let n = 4 * client;
            lines.push(user(
                "select-client",
                &format!("SELCLIENT c={client} done sent={n} good={n}"),
            ));
        }
        lines.push(user(
            "select-server",
            "SELSERVER done served=24 c1=4 c2=8 c3=12",
        ));
        Log::new(lines)
    }

    fn served_once(client: u64, seq: u64) -> Vec<String> {
        vec![user(
            "select-server",
            &format!("SELSERVE index={} c={client} seq={seq} len=32", client - 1),
        )]
    }

    #[test]
    fn select_server_passes_and_a_request_served_twice_fails() {
        assert_eq!(
            check_select_server(&select_server_log(served_once, 0)),
            Vec::<String>::new()
        );
        let twice = |client, seq| {
            let mut lines = served_once(client, seq);
            if (client, seq) == (2, 3) {
                lines.extend(served_once(client, seq));
            }
            lines
        };
        assert!(!check_select_server(&select_server_log(twice, 0)).is_empty());
        let lost = |client, seq| {
            if (client, seq) == (3, 0) {
                vec![]
            } else {
                served_once(client, seq)
            }
        };
        assert!(!check_select_server(&select_server_log(lost, 0)).is_empty());
    }

    #[test]
    fn select_server_with_a_wrong_member_or_reply_fails() {
        let wrong_index = |client, seq| {
            vec![user(
                "select-server",
                &format!("SELSERVE index=0 c={client} seq={seq} len=32"),
            )]
        };
        assert!(!check_select_server(&select_server_log(wrong_index, 0)).is_empty());
        assert!(!check_select_server(&select_server_log(served_once, 1)).is_empty());
    }

    fn pipeline_close_log(queued_at_close: u64, drained: u64) -> Log {
        let mut lines = finished();
        for x in 0..drained {
            lines.push(user(
                "drain-consumer",
                &format!("DRAINED x={x} seq={} len=8", x + 1),
            ));
        }
        lines.push(user(
            "drain-producer",
            &format!(
                "DRAINP sent=50 close=Ok(()) queued-at-close={queued_at_close} write-after-close=Err(CLOSED) close-again=Err(CLOSED)"
            ),
        ));
        lines.push(user(
            "drain-consumer",
            "DRAINC end=CLOSED received=50 again=Err(CLOSED) closed=1",
        ));
        lines.push(user("drain-producer", "DRAINP ack received=50"));
        Log::new(lines)
    }

    #[test]
    fn pipeline_close_without_a_drain_fails() {
        assert_eq!(
            check_pipeline_close(&pipeline_close_log(8, 50)),
            Vec::<String>::new()
        );
        assert!(!check_pipeline_close(&pipeline_close_log(0, 50)).is_empty());
        assert!(!check_pipeline_close(&pipeline_close_log(8, 49)).is_empty());
    }

    #[test]
    fn peek_newer_woken_before_the_write_fails() {
        let mut lines = finished();
        lines.push(user("queue-ops", "QOPS newer woken v=2 seq=2"));
        lines.push(user(
            "queue-ops",
            "QOPS newer before-write waiting=1 try-now=Err(TIMED_OUT)",
        ));
        lines.push(user("queue-ops", "QOPS newer after-write"));
        let problems = check_queue_ops(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("peek-newer waiter")),
            "{problems:?}"
        );
    }

    #[test]
    fn hostile_select_without_the_cancel_fails() {
        let killed = "[   0.030000] kernel: process sel-attacker#2 KILLED: page fault (vector 14, error 0x6) at rip 0x4018d8, address 0x10; 0 pending operation(s) cancelled; 2 pipe(s) destroyed";
        let mut lines = finished();
        lines.push(killed.into());
        let problems = check_hostile_select(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("attacker's end")),
            "{problems:?}"
        );
    }

    #[test]
    fn fewer_cpus_online_than_asked_fails() {
        let four = log(&[
            "[   0.000000] kernel: smp: 4 of 4 CPUs online; local APIC timer 9 counts per tick",
        ]);
        assert!(cpus_online(&four, 4).is_empty());
        let three = log(&[
            "[   0.000000] kernel: smp: 3 of 4 CPUs online; local APIC timer 9 counts per tick",
        ]);
        assert!(!cpus_online(&three, 4).is_empty());
        assert!(!cpus_online(&four, 1).is_empty());
        let forged = log(&[&user("liar", "kernel: smp: 4 of 4 CPUs online")]);
        assert!(!cpus_online(&forged, 4).is_empty());
        assert_eq!(cpus_in(&four), 4);
        assert_eq!(cpus_in(&forged), 1);
    }

    #[test]
    fn user_lines_are_split_from_kernel_lines() {
        let log = log(&[
            "[   0.000000] kernel: boot ok",
            "[   0.120000] consumer#3.4: RECV x=1 y=1",
        ]);
        assert_eq!(
            log.user,
            vec![("consumer".to_string(), "RECV x=1 y=1".to_string())]
        );
        assert_eq!(log.kernel, vec!["boot ok".to_string()]);
    }

    #[test]
    fn a_process_cannot_forge_kernel_lines() {
        // What a forger's escaped text looks like, and an unprefixed line.
        let log = log(&[
            "[   0.000000] kernel: boot ok; 100 free frames; 4096 pool bytes free",
            "[   0.000100] forger#1.2: \\x0a[   0.000200] kernel: all processes finished; 100 free frames",
            "kernel: all processes finished; 100 free frames",
        ]);
        let mut problems = Vec::new();
        clean_finish(&log, &mut problems);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("all processes finished")),
            "{problems:?}"
        );
        assert_eq!(log.kernel.len(), 1);
    }

    /// A forger log whose flood printed `printed` lines and whose kernel
    /// reported `reported` suppressed.
    fn flood_log(printed: u64, reported: u64) -> Log {
        let mut lines = finished();
        lines.extend((0..printed).map(|i| user("forger", &format!("FLOOD {i}"))));
        if reported > 0 {
            lines.push(format!(
                "[   0.000200] kernel: forger#1.2: {reported} log line(s) suppressed (rate limit)"
            ));
        }
        Log::new(lines)
    }

    #[test]
    fn a_rate_limited_flood_with_every_drop_counted_passes() {
        let mut problems = Vec::new();
        check_log_flood(&flood_log(300, 4_700), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn an_unlimited_flood_fails() {
        let mut problems = Vec::new();
        check_log_flood(&flood_log(5_000, 0), &mut problems);
        assert!(
            problems.iter().any(|p| p.contains("no rate limit")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_flood_whose_drops_are_not_all_counted_fails() {
        let mut problems = Vec::new();
        check_log_flood(&flood_log(300, 4_000), &mut problems);
        assert!(
            problems.iter().any(|p| p.contains("!= 5000")),
            "{problems:?}"
        );
    }

    #[test]
    fn semaphore_with_three_holders_fails() {
        let mut lines = finished();
        lines.push(user("sem-init", "TOKENS n=2 extra_release=FULL"));
        for w in 0..3 {
            lines.push(user("sem-worker", &format!("ACQUIRE w={w} round=0")));
        }
        let problems = check_semaphore(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("3 concurrent holders")),
            "{problems:?}"
        );
    }

    #[test]
    fn ipc_with_a_lost_message_fails() {
        let mut lines = finished();
        lines.extend(
            (0..120)
                .filter(|&x| x != 7)
                .map(|x| user("consumer", &format!("RECV x={x} y={}", x * x))),
        );
        let problems = check_ipc(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("received 119 messages")),
            "{problems:?}"
        );
    }

    #[test]
    fn ipc_with_reordered_messages_fails() {
        let mut lines = finished();
        let mut xs: Vec<u64> = (0..120).collect();
        xs.swap(3, 4);
        lines.extend(
            xs.iter()
                .map(|x| user("consumer", &format!("RECV x={x} y={}", x * x))),
        );
        let problems = check_ipc(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("index Some(3)")),
            "{problems:?}"
        );
    }

    #[test]
    fn blackboard_display_going_back_fails() {
        let mut lines = finished();
        lines.push(user("sensor", "PUBLISH v=1"));
        lines.push(user("sensor", "PUBLISH v=2"));
        lines.push(user("display", "SEE d=0 v=2 before=2"));
        lines.push(user("display", "SEE d=0 v=1 before=1"));
        let problems = check_blackboard(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("went back")),
            "{problems:?}"
        );
    }

    #[test]
    fn blackboard_stale_peek_fails() {
        let mut lines = finished();
        lines.push(user("sensor", "PUBLISH v=1"));
        lines.push(user("sensor", "PUBLISH v=2"));
        lines.push(user("display", "SEE d=0 v=1 before=2"));
        let problems = check_blackboard(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("saw stale 1")),
            "{problems:?}"
        );
    }

    #[test]
    fn blackboard_value_seen_before_published_fails() {
        let mut lines = finished();
        lines.push(user("display", "SEE d=1 v=1 before=0"));
        let problems = check_blackboard(&Log::new(lines));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("before it was published")),
            "{problems:?}"
        );
    }

    #[test]
    fn rpc_reply_to_the_wrong_request_fails() {
        let mut lines = finished();
        lines.push(user("rpc-client", "REQ c=1 seq=0 a=1 b=100"));
        lines.push(user("rpc-client", "REPLY c=1 seq=0 sum=102"));
        let problems = check_rpc(&Log::new(lines));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("got reply seq=0 sum=102")),
            "{problems:?}"
        );
    }

    #[test]
    fn fault_without_cancelling_the_pending_read_fails() {
        let mut lines = finished();
        lines.push("[   0.000200] kernel: process victim#1 KILLED: page fault (vector 14); 0 pending operation(s) cancelled".into());
        let problems = check_fault(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.contains("without cancelling")),
            "{problems:?}"
        );
    }

    #[test]
    fn leaked_frames_fail() {
        let lines = vec![
            "[   0.000000] kernel: boot ok; 100 free frames; 4096 pool bytes free".to_string(),
            "[   0.100000] kernel: all processes finished; 98 free frames; 4096 pool bytes free"
                .to_string(),
        ];
        let mut problems = Vec::new();
        clean_finish(&Log::new(lines), &mut problems);
        assert!(
            problems.iter().any(|p| p.contains("free frames at boot")),
            "{problems:?}"
        );
    }

    #[test]
    fn leaked_pool_bytes_fail() {
        let lines = vec![
            "[   0.000000] kernel: boot ok; 100 free frames; 4096 pool bytes free".to_string(),
            "[   0.100000] kernel: all processes finished; 100 free frames; 2048 pool bytes free"
                .to_string(),
        ];
        let mut problems = Vec::new();
        clean_finish(&Log::new(lines), &mut problems);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("pool bytes free at boot")),
            "{problems:?}"
        );
    }

    #[test]
    fn timeout_that_returned_early_fails() {
        let mut lines = finished();
        lines.push(user(
            "timeouts",
            "CHECK read-timeout result=Err(TIMED_OUT) waited=2",
        ));
        let problems = check_timeout(&Log::new(lines));
        assert!(
            problems.iter().any(|p| p.starts_with("read-timeout")),
            "{problems:?}"
        );
    }
}
