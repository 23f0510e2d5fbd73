//! The waiting strategy: whether, and how long, a thread whose operation is
//! pending spins before it parks, measured on the machine it runs on.
//!
//! Spinning pays off only when the wake comes sooner than a park/unpark
//! hand-off would take, and both depend on the machine: a hand-off costs
//! 3–50 µs on 2-vCPU VMs (DESIGN §5), and the wake comes within a
//! microsecond when the completing thread runs on another CPU, but only
//! after the waiter gives up its CPU when the two share one (a loaded
//! machine). No fixed spin budget suits all of these, so:
//!
//! - [`park_cost`] is measured once per process, by the first
//!   [`Ipc::new`](crate::Ipc::new) (in some milliseconds, at most about
//!   50): two threads hand a turn back and forth by park/unpark, the waker
//!   keeping its own CPU busy until the woken thread ran, so that it is
//!   woken on an idle other CPU (the wake a pausing spinner saves), in up
//!   to 8 bursts with a fresh helper thread each; the dearest burst's
//!   median time from an unpark until the parked thread runs is the cost
//!   (see `measure_park_cost` for why). A waiter spins for at most
//!   twice that long: if the wake comes in time it saved the hand-off, if
//!   not it lost no more than two hand-offs' worth.
//! - A waiter first pauses between polls (for a completer on another CPU),
//!   for up to the park cost, then yields the CPU between polls (for a
//!   completer that shares this CPU, on a loaded machine), for up to the
//!   park cost again: see [`SpinRecord::plan`] for why twice.
//! - [`SpinRecord`]: each thread remembers whether its recent pauses and
//!   spins paid off. After one that ended without the wake, that way of
//!   waiting is skipped for the next 1, 3, 7, … up to [`MAX_SKIPPED`]
//!   waits, and one that pays off restores it at once. So where pausing
//!   fails (the completer shares the CPU) a waiter goes straight to
//!   yielding, and where spinning fails (long waits) it parks at once, and
//!   at most one wait in 64 spends a park's worth on finding out again.
//! - When the threads that use IPC (and are not parked in it) outnumber the
//!   CPUs, nobody pauses: a spinner would take the CPU a completer needs.
//!
//! - A blocking read or write spends its spin *before* it registers as a
//!   waiter: it polls the pipe's outlook ([`ipcm::Ipcm::outlook`], two
//!   plain loads) and retries its non-blocking attempt when the pipe looks
//!   ready, and only when the plan runs out registers and parks at once.
//!   A registered waiter parks the ring's ends (every later call on the
//!   pipe takes its lock, so that the waiter is served first), so a thread
//!   that registered first and spun afterwards turned its partner's next
//!   lock-free call into a locked hand-off and a wake: every message of a
//!   ping-pong. While threads outnumber CPUs a poller would take the CPU
//!   a completer needs, so it yields and looks [`OUTNUMBERED_POLLS`] times
//!   (crossbeam-channel's backoff yields 4 times before it parks), then
//!   registers and parks at once: a spin after registering only takes the
//!   CPU from the completers (2026-12-02, `ab.sh`, medians of 31–61
//!   interleaved rounds, M msg/s, this ÷ yield once then register and
//!   spin ÷ crossbeam-channel: 4×4 on 2 CPUs 11.3 ÷ 7.0 ÷ 5.0 at load 4–5,
//!   13.5 ÷ 12.9 ÷ 14.6 and 13.5 ÷ 12.5 ÷ 12.9 at load 0.6–0.8; 2×2
//!   9.8 ÷ 8.3 ÷ 4.0 at load 3–4, 11.4 ÷ 11.1 ÷ 14.5 and 11.1 ÷ 11.1 ÷
//!   11.5 at load 0.6–0.7; ping-pong and SPSC, where threads do not
//!   outnumber CPUs, unchanged). Rendezvous and priority pipes, whose outlook
//!   polling cannot tell, and selects register first and spin on their
//!   own record.
//!
//! Tried and dropped: learning the park cost from the waits themselves
//! (the waker's stamp to the parked thread running again). On a loaded
//! machine that includes the waker's own spin when the two share a CPU, so
//! the measurement grew to the budget and the budget to the measurement
//! (ping-pong p50 from 1.6 µs to 200 µs within two runs).
//!
//! Also tried and dropped (2026-12-02, `throughput` example, same-run
//! A/B, load average 3–7 from other builds): counting a wake seen only
//! after the budget (a yield that gave the CPU away for a time slice) as a
//! failure, so that a loaded machine parks instead of yielding: 2×2 fell
//! from 7.7 to 2.0 M msg/s on a quiet machine (the long yields ran the
//! process's own threads), and ping-pong p50 rose 6.2 → 8.4 µs under load.
//! Dropping the yielding part for a pause of twice the park cost: 2×2
//! 3.5 → 1.9 M msg/s under load. Counting as failed only a wake seen over
//! 1 ms (a time slice) after the spin began: no better at load average
//! 15–25 (mean round trip 50–110 µs before, 165–590 µs with it; flume's
//! 18–23 µs: it parks at once, and a woken sleeper runs sooner than a
//! thread that yielded to a busy process).
//!
//! Also tried and dropped (2026-12-02, `ab.sh`, same runs as above): while
//! outnumbered, 2, 4, 8 or 16 yield-then-look polls followed by the
//! registered spin as planned (4 polls: 2×2 7.4, 4×4 7.1 M msg/s under
//! load, no better than one poll); 2 polls then park at once (4×4 12.7 at
//! load 5 but 11.5 vs 13.5 quiet, 2×2 10.5 vs 11.1 quiet); 8 or 16 then
//! park at once (within noise of 4: 2×2 11.6 and 10.9, 4×4 13.5 and 14.8
//! quiet). Waking a parked thread on the same CPU it was measured from
//! (the old park-cost measurement, see `measure_park_cost`).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Neither the pausing nor the yielding part of a spin lasts longer than
/// this, whatever the measurement says: a bound on the time one wait may
/// poll (twice the dearest hand-off DESIGN §5 reports), for machines where
/// a "park" is really a scheduling delay.
const MAX_SPIN: Duration = Duration::from_micros(100);

/// Hand-offs each way in one burst of the park-cost measurement.
#[cfg(not(loom))]
const PARK_ROUNDS: u64 = 8;
/// Bursts of the park-cost measurement, each with a fresh helper thread:
/// at most this many, and no more after [`MEASURE_LIMIT`].
#[cfg(not(loom))]
const BURSTS: usize = 8;
/// No burst of the park-cost measurement starts after this long (a burst
/// takes about 2 ms on a 2-vCPU VM).
#[cfg(not(loom))]
const MEASURE_LIMIT: Duration = Duration::from_millis(40);
/// When measuring the park cost: how long a thread that said it parks is
/// given to fall asleep (and its CPU to go idle) before it is woken.
#[cfg(not(loom))]
const SETTLE: Duration = Duration::from_micros(50);
/// When measuring the park cost: the longest a waker keeps its CPU busy for
/// the woken thread to run (ten times the dearest hand-off DESIGN §5
/// reports), and the longest it waits for the other thread to say it parks.
/// With [`SETTLE`], it bounds each of the [`PARK_ROUNDS`] hand-offs.
#[cfg(not(loom))]
const BUSY_LIMIT: Duration = Duration::from_micros(500);
/// A gap this long between two looks of a busy wait means the waiting
/// thread lost its CPU meanwhile (a look takes some tens of ns).
#[cfg(not(loom))]
const PREEMPTED: Duration = Duration::from_micros(1);

/// While threads outnumber CPUs, a blocking read or write yields and looks
/// at the pipe this many times before it registers, and then parks at once:
/// like crossbeam-channel's backoff, whose last steps yield (4 of them)
/// before it parks. Registering parks the ring's ends, so every later call
/// on the pipe takes its lock, and the waiter's wake is a futex wake of a
/// thread that needs a CPU others are using (a profile of 4×4 on 2 CPUs:
/// some 30% of the time in `try_to_wake_up`); a spin after registering
/// only takes CPU time from the threads that would complete the wait.
const OUTNUMBERED_POLLS: u32 = 4;

/// Threads with an IPC thread record (made on first use, dropped at thread
/// exit): the threads that use IPC.
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Threads parked in an IPC wait right now: they need no CPU.
static PARKED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// How a waiter spins before it parks: first pausing between polls, then
/// yielding the CPU between polls (either may be zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// How long to poll with a pause between polls: for a completer that
    /// runs on another CPU.
    pub(crate) pause: Duration,
    /// How long to poll after that, yielding between polls: for a completer
    /// that waits for this CPU.
    pub(crate) yielding: Duration,
    /// While threads outnumber CPUs: how many times a blocking read or
    /// write yields and then looks at the pipe before it registers, and
    /// then parks at once ([`OUTNUMBERED_POLLS`]); zero otherwise.
    pub(crate) polls: u32,
}

impl Plan {
    pub(crate) const PARK_AT_ONCE: Plan = Plan {
        pause: Duration::ZERO,
        yielding: Duration::ZERO,
        polls: 0,
    };
}

/// How a spin ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The wake came while pausing.
    WokenPausing,
    /// The wake came while yielding.
    WokenYielding,
    /// No wake in time: the thread parks.
    NotInTime,
}

/// Whether one way of waiting paid off recently: after a failure it is
/// skipped for the next 1, 3, 7, … up to [`MAX_SKIPPED`] waits, and one
/// success restores it. Only its own thread touches it (atomics only so
/// that the thread record can be shared).
struct Payoff {
    /// Failures in a row, at most [`MAX_FAILURES`].
    failures: AtomicU32,
    /// Waits left that skip this way of waiting.
    skip: AtomicU32,
}

/// After this many failures in a row, a way of waiting is tried once every
/// [`MAX_SKIPPED`] + 1 waits.
const MAX_FAILURES: u32 = 6;
/// The most waits skipped between two tries: 63.
const MAX_SKIPPED: u32 = (1 << MAX_FAILURES) - 1;

impl Payoff {
    fn new() -> Payoff {
        Payoff {
            failures: AtomicU32::new(0),
            skip: AtomicU32::new(0),
        }
    }

    /// Whether to try it in the wait about to start.
    fn try_now(&self) -> bool {
        let skip = self.skip.load(Ordering::Relaxed);
        if skip > 0 {
            self.skip.store(skip - 1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn record(&self, paid_off: bool) {
        if paid_off {
            self.failures.store(0, Ordering::Relaxed);
        } else {
            let failures = (self.failures.load(Ordering::Relaxed) + 1).min(MAX_FAILURES);
            self.failures.store(failures, Ordering::Relaxed);
            self.skip
                .store(((1 << failures) - 1).min(MAX_SKIPPED), Ordering::Relaxed);
        }
    }
}

/// Whether one thread's recent spins paid off, pausing and at all.
pub(crate) struct SpinRecord {
    /// Did a wake come while pausing?
    pausing: Payoff,
    /// Did a wake come while spinning at all (pausing or yielding)?
    spinning: Payoff,
}

impl SpinRecord {
    pub(crate) fn new() -> SpinRecord {
        SpinRecord {
            pausing: Payoff::new(),
            spinning: Payoff::new(),
        }
    }

    /// How to spin in the wait about to start: pause for up to the park
    /// cost, then yield for up to the park cost. Twice in all, not once: a
    /// wait for a completer that was itself parked lasts one park and a
    /// little more, and with a budget of one park both sides of a
    /// ping-pong would park for ever after. No pausing while recent pauses
    /// failed (the completer shares this CPU), or while the threads that
    /// use IPC outnumber the CPUs; no spinning at all while recent spins
    /// failed, and under loom (where spinning only multiplies the states).
    pub(crate) fn plan(&self) -> Plan {
        if !crate::sync::SPIN || !self.spinning.try_now() {
            return Plan::PARK_AT_ONCE;
        }
        let cost = park_cost().min(MAX_SPIN);
        let outnumbered = threads_outnumber_cpus();
        let pause = !outnumbered && self.pausing.try_now();
        Plan {
            pause: if pause { cost } else { Duration::ZERO },
            yielding: cost,
            polls: if outnumbered { OUTNUMBERED_POLLS } else { 0 },
        }
    }

    /// Record how the spin of `plan` ended.
    pub(crate) fn record(&self, plan: Plan, outcome: Outcome) {
        if !plan.pause.is_zero() {
            self.pausing.record(outcome == Outcome::WokenPausing);
        }
        self.spinning.record(outcome != Outcome::NotInTime);
    }
}

/// What a park/unpark hand-off costs on this machine: measured once per
/// process (see the module docs), which takes some tens of hand-offs.
#[cfg(not(all(not(loom), feature = "emulate-park-cost")))]
pub(crate) fn park_cost() -> Duration {
    static COST: OnceLock<Duration> = OnceLock::new();
    *COST.get_or_init(measure_park_cost)
}

/// With the `emulate-park-cost` feature, the park cost is measured again
/// whenever the emulated cost changes (once per cost: switching back and
/// forth between two regimes in one benchmark run keeps each one's
/// figure), so the strategy sees the dearer parks as it would on such a
/// machine.
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
pub(crate) fn park_cost() -> Duration {
    let ns = emulation::PLANNED_NS.load(Ordering::Relaxed);
    if ns != u64::MAX {
        return Duration::from_nanos(ns);
    }
    emulation::measure_for(crate::sync::emulated_cost())
}

#[cfg(all(not(loom), feature = "emulate-park-cost"))]
mod emulation {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// The park cost the strategy plans with, ns; `u64::MAX` until measured.
    pub(super) static PLANNED_NS: AtomicU64 = AtomicU64::new(u64::MAX);

    /// The park cost measured under an emulated extra cost `extra`
    /// (measured the first time), now the one the strategy plans with.
    pub(super) fn measure_for(extra: Duration) -> Duration {
        static MEASURED: Mutex<Vec<(Duration, Duration)>> = Mutex::new(Vec::new());
        let mut measured = MEASURED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let cost = match measured.iter().find(|(e, _)| *e == extra) {
            Some(&(_, cost)) => cost,
            None => {
                let cost = super::measure_park_cost();
                measured.push((extra, cost));
                cost
            }
        };
        let ns = u64::try_from(cost.as_nanos()).unwrap_or(u64::MAX - 1);
        PLANNED_NS.store(ns, Ordering::Relaxed);
        cost
    }
}

/// For benchmarks only (feature `emulate-park-cost`): from now on, every
/// park of a thread waiting in this crate costs `extra` more (a yielding
/// busy wait after the wake-up), as on a VM whose idle vCPUs take that long
/// to run a woken thread; zero ends the emulation. The waiting strategy
/// measures the park cost again under it (once per distinct `extra`) and
/// plans with that; the returned figure is that park cost. Only this
/// crate's parks pay it: other channels in the same process are not slowed.
/// Overrides `IPCM_HOST_EMULATED_PARK_COST_US`.
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
pub fn emulate_park_cost(extra: Duration) -> Duration {
    crate::sync::set_emulated_cost(extra);
    emulation::measure_for(extra)
}

#[cfg(loom)]
fn measure_park_cost() -> Duration {
    Duration::ZERO
}

/// What waking a parked thread costs: what a pausing spinner saves, so a
/// thread that sleeps on an *idle other* CPU. Two threads take turns, each
/// parking until it is its turn, and each hand-over sets that wake up, each
/// step bounded: the thread handing the turn over first waits until the
/// other has said it parks and then [`SETTLE`] more (so that it sleeps and
/// its CPU idles), and after the unpark keeps its own CPU busy until the
/// woken thread has stamped (at most [`BUSY_LIMIT`]), so the woken thread
/// cannot run on the waker's CPU at a mere context switch's cost. That
/// happened when the waker parked right after its unpark: 2.0–2.6 µs in 8
/// of 15 fresh processes, 17.6–25.4 µs in the others (2026-12-02, quiet
/// 2-vCPU VM), while the peers' park-based ping-pong took 41–53 µs a round
/// trip.
///
/// Even so, one helper thread's wakes all cost either about 2.4 µs or about
/// 20 µs, which of the two changing from one helper to the next, so up to
/// [`BURSTS`] bursts (within [`MEASURE_LIMIT`]) each take a fresh helper,
/// and the dearest burst's figure ([`robust_cost`]) is the cost: a
/// figure too low makes both sides of a ping-pong park for good, one too
/// high costs a spin that fails, which [`SpinRecord`] soon skips. On one
/// CPU the waits yield instead, and the figure is the context switch,
/// which is all a wake costs there. Zero if no thread can be spawned (then
/// nobody spins, which is always correct).
#[cfg(not(loom))]
fn measure_park_cost() -> Duration {
    let start = Instant::now();
    let mut cost = 0;
    for _ in 0..BURSTS {
        let Some(wakes) = measure_wakes() else {
            return Duration::ZERO;
        };
        cost = cost.max(robust_cost(&wakes));
        if start.elapsed() >= MEASURE_LIMIT {
            break;
        }
    }
    Duration::from_nanos(cost)
}

/// One burst of the measurement of [`measure_park_cost`]: a fresh helper
/// thread and the main thread take turns; each parks until it is its turn.
/// The wake-ups each thread caused (ns from its stamp, taken just before
/// the unpark, until the woken thread ran) and whether it kept its CPU
/// meanwhile; `None` if no thread can be spawned.
#[cfg(not(loom))]
fn measure_wakes() -> Option<Vec<(u64, bool)>> {
    struct Court {
        /// Whose turn: even for the first thread, odd for the helper.
        turn: AtomicU64,
        /// The turn the thread about to park waits for.
        parking_for: AtomicU64,
        /// The last turn whose thread has run and stamped its wake-up.
        stamped: AtomicU64,
        /// When the last turn was handed over, since `epoch`, in ns.
        handed_at: AtomicU64,
        /// When the thread of the last turn ran, since `epoch`, in ns.
        woken_at: AtomicU64,
        epoch: Instant,
        /// Whether there is another CPU to busy-wait beside.
        many_cpus: bool,
    }
    fn nanos(court: &Court) -> u64 {
        u64::try_from(court.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    /// Wait until `done` (or `limit` passed); `busy`: without giving up
    /// the CPU (unless this is the only one). Returns whether this thread
    /// kept its CPU throughout: no gap of [`PREEMPTED`] between two looks.
    fn wait_until(court: &Court, limit: Duration, busy: bool, done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        let mut last = start;
        let mut kept = true;
        loop {
            // Look at the clock after `done` too: a waker that lost its
            // CPU to the woken thread finds it done when it runs again.
            let finished = done();
            let now = Instant::now();
            kept &= now - last < PREEMPTED;
            last = now;
            if finished || now - start >= limit {
                break;
            }
            if busy && court.many_cpus {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        kept && busy && court.many_cpus
    }
    /// Play the turns of parity `mine` against `other`; the wake-ups this
    /// thread caused, each with whether it kept its CPU meanwhile (then the
    /// woken thread ran on another one).
    fn play(court: &Court, mine: u64, other: &Thread) -> Vec<(u64, bool)> {
        let mut wakes = Vec::new();
        for turn in (mine..2 * PARK_ROUNDS).step_by(2) {
            court.parking_for.store(turn, Ordering::Release);
            while court.turn.load(Ordering::Acquire) != turn {
                crate::sync::park_until(None);
            }
            court.woken_at.store(nanos(court), Ordering::Relaxed);
            court.stamped.store(turn, Ordering::Release);
            if turn + 1 == 2 * PARK_ROUNDS {
                break;
            }
            // Hand over to a thread that sleeps: it said it parks, and had
            // time to (yielding: it may need this CPU for that).
            wait_until(court, BUSY_LIMIT, false, || {
                court.parking_for.load(Ordering::Acquire) == turn + 1
            });
            wait_until(court, SETTLE, false, || false);
            let handed_at = nanos(court);
            court.handed_at.store(handed_at, Ordering::Relaxed);
            court.turn.store(turn + 1, Ordering::Release);
            other.unpark();
            let mut kept = wait_until(court, BUSY_LIMIT, true, || {
                court.stamped.load(Ordering::Acquire) == turn + 1
            });
            // Not stamped in time: it took at least this long, but it
            // waited for this CPU, not for a wake elsewhere.
            let woken_at = if court.stamped.load(Ordering::Acquire) == turn + 1 {
                court.woken_at.load(Ordering::Relaxed)
            } else {
                kept = false;
                nanos(court)
            };
            wakes.push((woken_at.saturating_sub(handed_at), kept));
        }
        wakes
    }
    let court = Arc::new(Court {
        turn: AtomicU64::new(0),
        parking_for: AtomicU64::new(u64::MAX),
        stamped: AtomicU64::new(0),
        handed_at: AtomicU64::new(0),
        woken_at: AtomicU64::new(0),
        epoch: Instant::now(),
        many_cpus: cpus() > 1,
    });
    let first = std::thread::current();
    let helper = {
        let court = Arc::clone(&court);
        std::thread::Builder::new()
            .name("ipcm-park-cost".into())
            .spawn(move || play(&court, 1, &first))
    };
    let helper = helper.ok()?;
    let mut wakes = play(&court, 0, helper.thread());
    wakes.extend(helper.join().ok()?);
    Some(wakes)
}

/// The park cost from the measured wake-ups (ns, and whether the waker
/// kept its CPU meanwhile): the median of those where it did (the woken
/// thread ran on another CPU, the wake a pausing spinner saves), else
/// (one CPU, or the waker always lost its CPU) the median of all; zero
/// without any.
#[cfg(not(loom))]
fn robust_cost(wakes: &[(u64, bool)]) -> u64 {
    let median = |mut ns: Vec<u64>| {
        ns.sort_unstable();
        ns.get(ns.len() / 2).copied()
    };
    let elsewhere: Vec<u64> = wakes.iter().filter(|w| w.1).map(|w| w.0).collect();
    median(elsewhere)
        .or_else(|| median(wakes.iter().map(|w| w.0).collect()))
        .unwrap_or(0)
}

/// Counts a thread among those that use IPC while it lives (one per thread
/// record).
pub(crate) struct LiveThread(());

impl LiveThread {
    pub(crate) fn new() -> LiveThread {
        LIVE_THREADS.fetch_add(1, Ordering::Relaxed);
        LiveThread(())
    }
}

impl Drop for LiveThread {
    fn drop(&mut self) {
        LIVE_THREADS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Run `park` counted as a parked thread (one that needs no CPU).
pub(crate) fn parked<R>(park: impl FnOnce() -> R) -> R {
    PARKED_THREADS.fetch_add(1, Ordering::Relaxed);
    let result = park();
    PARKED_THREADS.fetch_sub(1, Ordering::Relaxed);
    result
}

/// Whether the threads that use IPC and are not parked in it outnumber the
/// CPUs this process may run on. Threads blocked elsewhere (in a join, on
/// a socket) count as running: the error is towards not spinning.
fn threads_outnumber_cpus() -> bool {
    let running = LIVE_THREADS
        .load(Ordering::Relaxed)
        .saturating_sub(PARKED_THREADS.load(Ordering::Relaxed));
    running > cpus()
}

/// The CPUs this process may run on, asked once (the answer reads cgroup
/// files on Linux).
fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_park_cost_is_the_median_of_wakes_on_another_cpu_if_any() {
        // Wakes where the waker lost its CPU (the woken thread ran on it)
        // do not count while any other was measured.
        let wakes = [
            (2_000, false),
            (20_000, true),
            (2_500, false),
            (25_000, true),
            (30_000, true),
        ];
        assert_eq!(robust_cost(&wakes), 25_000);
        // One CPU (or the waker always lost it): the median of all.
        let wakes = [(2_000, false), (3_000, false), (2_500, false)];
        assert_eq!(robust_cost(&wakes), 2_500);
        assert_eq!(robust_cost(&[]), 0);
    }

    #[test]
    fn the_park_cost_is_measured_once_and_bounds_the_spin() {
        let cost = park_cost();
        assert!(cost > Duration::ZERO, "a hand-off takes some time");
        assert_eq!(park_cost(), cost, "measured once");
        let plan = SpinRecord::new().plan();
        assert!(plan.pause <= cost.min(MAX_SPIN) && plan.yielding <= cost.min(MAX_SPIN));
    }

    /// Whether each of the next `n` waits tries `it`.
    fn next_tries(payoff: &Payoff, n: usize) -> Vec<bool> {
        (0..n).map(|_| payoff.try_now()).collect()
    }

    #[test]
    fn after_failures_a_way_of_waiting_is_skipped_for_more_and_more_waits() {
        let payoff = Payoff::new();
        payoff.record(false);
        assert_eq!(next_tries(&payoff, 2), [false, true]);
        payoff.record(false);
        assert_eq!(next_tries(&payoff, 4), [false, false, false, true]);
        for _ in 0..10 {
            payoff.record(false);
        }
        let tries = next_tries(&payoff, MAX_SKIPPED as usize + 1);
        assert_eq!(tries.iter().filter(|&&t| t).count(), 1);
        // One success: tried again at once after the next failure.
        payoff.record(true);
        payoff.record(false);
        assert_eq!(next_tries(&payoff, 2), [false, true]);
    }

    #[test]
    fn a_wake_that_came_while_yielding_stops_the_pausing_not_the_spinning() {
        let record = SpinRecord::new();
        let plan = Plan {
            pause: Duration::from_micros(1),
            yielding: Duration::from_micros(1),
            polls: 0,
        };
        record.record(plan, Outcome::WokenYielding);
        assert_eq!(next_tries(&record.pausing, 2), [false, true]);
        assert_eq!(next_tries(&record.spinning, 1), [true]);
        record.record(plan, Outcome::NotInTime);
        assert_eq!(next_tries(&record.spinning, 2), [false, true]);
    }

    #[test]
    fn nobody_pauses_while_threads_outnumber_cpus() {
        let many: Vec<LiveThread> = (0..=cpus()).map(|_| LiveThread::new()).collect();
        // Other tests' threads may be parked meanwhile, but never more
        // than the live ones, so at least cpus + 1 count as running.
        assert!(threads_outnumber_cpus());
        let plan = SpinRecord::new().plan();
        assert_eq!(plan.pause, Duration::ZERO);
        assert_eq!(plan.polls, OUTNUMBERED_POLLS, "it polls a few times first");
        drop(many);
    }

    #[test]
    fn a_parked_thread_is_not_counted_as_running() {
        let inside = parked(|| PARKED_THREADS.load(Ordering::Relaxed));
        assert!(inside >= 1);
    }
}
