//! The rate limit on `debug_print`: each process may print a burst of
//! [`BURST`] lines, then [`PER_SECOND`] lines a second. A line over the
//! limit is dropped and counted, as Linux's printk rate limit does; the
//! count is reported by a kernel line before the process's next line, or
//! when it ends. Without it one process could fill the serial log
//! (and hold its line lock) as fast as it can make system calls, drowning
//! every other process's lines.

#![forbid(unsafe_code)]

/// Lines a process may print at once.
pub const BURST: u32 = 256;
/// Lines a process may print a second, once its burst is spent.
pub const PER_SECOND: u64 = 128;

/// One process's allowance: a token bucket refilled with time.
#[derive(Debug)]
pub struct LogBudget {
    /// Lines it may print now.
    tokens: u32,
    /// Time (µs since boot) the tokens were last counted up to.
    counted_to_us: u64,
    /// Lines dropped since the last one printed.
    suppressed: u64,
}

impl LogBudget {
    /// A full budget.
    pub const fn new() -> LogBudget {
        LogBudget {
            tokens: BURST,
            counted_to_us: 0,
            suppressed: 0,
        }
    }

    /// Takes a line's token at `now_us`: `Some(n)` when the line may be
    /// printed, `n` being the lines dropped before it (to be reported);
    /// `None` when it is dropped.
    pub fn take(&mut self, now_us: u64) -> Option<u64> {
        let earned = now_us.saturating_sub(self.counted_to_us) * PER_SECOND / 1_000_000;
        if earned > 0 {
            self.tokens = u64::from(self.tokens)
                .saturating_add(earned)
                .min(u64::from(BURST)) as u32;
            // Whole tokens only: the fraction of one carries over.
            self.counted_to_us += earned * 1_000_000 / PER_SECOND;
        }
        if self.tokens == 0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1;
        Some(core::mem::take(&mut self.suppressed))
    }

    /// Lines dropped and not yet reported.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}
