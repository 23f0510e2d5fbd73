//! The few concurrency primitives the host kernel uses, swapped for loom's
//! model-checked ones under `--cfg loom`.
//!
//! Under loom, time does not exist: a timed park is a yield followed by "the
//! deadline passed", so the model explores every interleaving of a timeout
//! with the completion it races against.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current as current_thread};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current as current_thread};

use std::time::Instant;

/// The lock of every IPC manager table and pipe: parking_lot's (spins
/// briefly, then parks), or a loom-visible spinlock under loom.
#[cfg(not(loom))]
pub(crate) type Lock = parking_lot::RawMutex;
#[cfg(loom)]
pub(crate) type Lock = loom_lock::SpinLock;

/// Park the current thread until it is unparked, or (when `deadline` is
/// set) until the deadline. Returns whether the deadline has passed. May
/// return early (spurious wake-ups): callers re-check their condition.
#[cfg(not(loom))]
pub(crate) fn park_until(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            let parked_at = Instant::now();
            std::thread::park();
            emulated_park_cost(parked_at);
            false
        }
        Some(deadline) => {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::park_timeout(deadline - now);
            emulated_park_cost(now);
            Instant::now() >= deadline
        }
    }
}

/// With the `emulate-park-cost` feature: after a park that slept (lasted
/// over a microsecond: one that returned at once on a pending unpark takes
/// a fraction of that), wait as long as [`emulated_cost`] says, as a VM
/// that halts an idle vCPU takes that long to run the woken thread again.
/// The wait yields, so that other threads can use the CPU meanwhile, as
/// they would a vCPU that was not idle. Peers' parks do not pay it.
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
fn emulated_park_cost(parked_at: Instant) {
    let cost = emulated_cost();
    if cost > std::time::Duration::ZERO && parked_at.elapsed() > std::time::Duration::from_micros(1)
    {
        let start = Instant::now();
        while start.elapsed() < cost {
            std::thread::yield_now();
        }
    }
}

/// The emulated extra cost of a park, in ns; `u64::MAX` until first read
/// from `IPCM_HOST_EMULATED_PARK_COST_US` or set.
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
static EMULATED_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

/// What every park of a waiting thread costs on top of the real one: set by
/// [`set_emulated_cost`], else `IPCM_HOST_EMULATED_PARK_COST_US` (zero when
/// unset).
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
pub(crate) fn emulated_cost() -> std::time::Duration {
    let ns = EMULATED_NS.load(Ordering::Relaxed);
    if ns != u64::MAX {
        return std::time::Duration::from_nanos(ns);
    }
    let cost = std::env::var("IPCM_HOST_EMULATED_PARK_COST_US")
        .ok()
        .and_then(|us| us.parse().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_micros);
    set_emulated_cost(cost);
    cost
}

/// Make every later park cost `cost` more (see [`emulated_park_cost`]).
#[cfg(all(not(loom), feature = "emulate-park-cost"))]
pub(crate) fn set_emulated_cost(cost: std::time::Duration) {
    let ns = u64::try_from(cost.as_nanos()).unwrap_or(u64::MAX - 1);
    EMULATED_NS.store(ns, Ordering::Relaxed);
}

#[cfg(all(not(loom), not(feature = "emulate-park-cost")))]
#[inline(always)]
fn emulated_park_cost(_parked_at: Instant) {}

#[cfg(loom)]
pub(crate) fn park_until(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            loom::thread::park();
            false
        }
        Some(_) => {
            loom::thread::yield_now();
            true
        }
    }
}

/// Whether a blocked thread may spin before parking. Under loom, no:
/// spinning only multiplies the states.
#[cfg(not(loom))]
pub(crate) const SPIN: bool = true;
#[cfg(loom)]
pub(crate) const SPIN: bool = false;

#[cfg(loom)]
mod loom_lock {
    use std::sync::OnceLock;

    use loom::sync::atomic::{AtomicBool, Ordering};

    /// A test-and-set lock loom can see; yields while contended. loom's
    /// atomics cannot be built in a `const`, so the flag is made on first
    /// use. loom does not see the `OnceLock` as synchronization, so every
    /// lock must be used once by the thread that made it, before it is
    /// shared: `Ipc::new` and `PipeBuilder::create` do that under loom.
    pub(crate) struct SpinLock(OnceLock<AtomicBool>);

    impl SpinLock {
        fn flag(&self) -> &AtomicBool {
            self.0.get_or_init(|| AtomicBool::new(false))
        }
    }

    // SAFETY: the lock is held from a successful compare_exchange false ->
    // true until the store of false in unlock, so at most one holder.
    #[allow(unsafe_code)]
    unsafe impl lock_api::RawMutex for SpinLock {
        #[allow(clippy::declare_interior_mutable_const)]
        const INIT: Self = SpinLock(OnceLock::new());
        type GuardMarker = lock_api::GuardSend;

        fn lock(&self) {
            while !self.try_lock() {
                loom::thread::yield_now();
            }
        }

        fn try_lock(&self) -> bool {
            self.flag()
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }

        #[allow(unsafe_code)]
        unsafe fn unlock(&self) {
            self.flag().store(false, Ordering::Release);
        }
    }
}
