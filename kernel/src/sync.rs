//! Kernel-global state without `static mut`, and the kernel's one lock.
//!
//! Every lock is a [`SpinLock`] (test-and-test-and-set; see there why not
//! FIFO). It is
//! interrupt-safe by the kernel's discipline rather than by saving RFLAGS:
//! the kernel runs with interrupts off (SFMASK clears IF on `syscall`, and
//! the interrupt gates clear it), and the only place it turns them on is
//! the idle `hlt`, which holds no lock. So an interrupt handler can never
//! spin on a lock its own CPU holds. (Debug builds check IF on every lock.)
//!
//! ## Lock order
//! A CPU holding a lock only takes locks further down this list:
//! 1. a pipe's lock and the IPCM's own (registry, pending shards), which
//!    call no kernel hook but the bounded user copies (DESIGN §8);
//! 2. the scheduler ([`crate::sched`]: processes, threads, ready queue);
//! 3. the kernel's accounting ([`crate::account`]);
//! 4. address spaces: the frame allocator ([`crate::frames`]), taken when
//!    page tables are built or freed;
//! 5. the serial line (log output), from anywhere;
//! 6. the PIT's counter (read for a log line's time), last.
//!
//! The copies under a pipe lock read the target thread's page-table root
//! (the scheduler's lock, briefly, for a thread not running here) and
//! walk its tables through the kernel half; no lock is held across a
//! return to ring 3, and none across the idle loop.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A test-and-test-and-set spinlock. Implements `lock_api::RawMutex`, so
/// the IPCM's pipes use it too.
///
/// Not a ticket lock, on purpose: under a hypervisor (here MTTCG, 4 vCPU
/// threads on 2 loaded host cores) a FIFO lock hands the lock to the next
/// waiter even while the host has that vCPU descheduled, and every other
/// CPU then spins behind it (waiter preemption: with a ticket lock a
/// trivial `boot` scenario took 141 s at 4 CPUs, blackboard burned 61 s of
/// host CPU in 6 minutes without finishing). Here whichever CPU runs when
/// the lock is free takes it; a CPU only waits on a holder, never on a
/// waiter. (Linux makes the same choice as a guest without paravirtual
/// spinlocks: `virt_spin_lock`.) Not fair in theory; every critical
/// section is short and bounded, and waiting spins only read.
pub struct SpinLock {
    /// Some CPU holds it.
    held: AtomicBool,
}

/// Spins after which a debug build declares the lock lost: a second
/// `lock` of a lock its own CPU holds is a re-entrance bug that would hang
/// for ever. Seconds of spinning under TCG, far beyond any holder's time.
/// Release builds spin without counting (a hang then ends in xtask's
/// timeout).
#[cfg(debug_assertions)]
const SPIN_LIMIT: u32 = u32::MAX;

#[cfg(debug_assertions)]
#[cold]
#[inline(never)]
fn lock_lost() -> ! {
    panic!("lock never released (re-entered, or its holder died)");
}

impl SpinLock {
    /// Unlocked.
    pub const fn new() -> Self {
        SpinLock {
            held: AtomicBool::new(false),
        }
    }

    #[inline(always)]
    fn acquire(&self) {
        #[cfg(debug_assertions)]
        assert!(
            !x86_64::instructions::interrupts::are_enabled(),
            "lock taken with interrupts on"
        );
        if self.try_acquire() {
            return;
        }
        self.acquire_slow();
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) {
        #[cfg(debug_assertions)]
        let mut spins = 0u32;
        loop {
            // Spin on a read (the line stays shared) until it looks free.
            while self.held.load(Ordering::Relaxed) {
                core::hint::spin_loop();
                #[cfg(debug_assertions)]
                {
                    spins = spins.wrapping_add(1);
                    if spins == SPIN_LIMIT {
                        lock_lost();
                    }
                }
            }
            if self.try_acquire() {
                return;
            }
        }
    }

    #[inline(always)]
    fn try_acquire(&self) -> bool {
        self.held
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline(always)]
    fn release(&self) {
        self.held.store(false, Ordering::Release);
    }

    /// Whether some CPU holds it (a snapshot).
    fn is_locked(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }
}

// SAFETY: mutual exclusion: `lock` and `try_lock` return holding only
// after their compare-exchange turned `held` from false to true, which one
// CPU at a time can do; only the holder stores false (`unlock`). Acquire
// on the exchange and Release on the unlock order the protected data.
unsafe impl lock_api::RawMutex for SpinLock {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "lock_api's required initializer"
    )]
    const INIT: Self = SpinLock::new();
    type GuardMarker = lock_api::GuardSend;

    #[inline(always)]
    fn lock(&self) {
        self.acquire();
    }

    #[inline(always)]
    fn try_lock(&self) -> bool {
        self.try_acquire()
    }

    #[inline(always)]
    unsafe fn unlock(&self) {
        self.release();
    }

    fn is_locked(&self) -> bool {
        SpinLock::is_locked(self)
    }
}

/// The lock the IPCM's pipes use.
pub type KernelRawLock = SpinLock;

/// A value reached only through [`Global::lock`].
pub struct Global<T> {
    lock: SpinLock,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: access to `value` is serialised by `lock` (a guard exists for at
// most one holder at a time), so sharing the cell is sound for `T: Send`.
unsafe impl<T: Send> Sync for Global<T> {}

impl<T> Global<T> {
    /// An uninitialised global; [`Global::init`] must run before `lock`.
    pub const fn new() -> Self {
        Global {
            lock: SpinLock::new(),
            value: UnsafeCell::new(None),
        }
    }

    /// Sets the value (at boot).
    pub fn init(&self, value: T) {
        let mut guard = self.lock_inner();
        *guard = Some(value);
    }

    #[inline(always)]
    fn lock_inner(&self) -> RawGuard<'_, T> {
        self.lock.acquire();
        RawGuard { global: self }
    }

    /// Exclusive access, spinning while another CPU holds it. Panics if
    /// not initialised.
    pub fn lock(&self) -> GlobalGuard<'_, T> {
        let raw = self.lock_inner();
        // SAFETY: we hold the lock, so no other reference to the value exists.
        if unsafe { (*self.value.get()).is_none() } {
            panic!("kernel global used before init");
        }
        GlobalGuard { raw }
    }
}

struct RawGuard<'a, T> {
    global: &'a Global<T>,
}

impl<T> Deref for RawGuard<'_, T> {
    type Target = Option<T>;
    fn deref(&self) -> &Option<T> {
        // SAFETY: the guard holds the lock: it is the only accessor.
        unsafe { &*self.global.value.get() }
    }
}

impl<T> DerefMut for RawGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut Option<T> {
        // SAFETY: the guard holds the lock: it is the only accessor.
        unsafe { &mut *self.global.value.get() }
    }
}

impl<T> Drop for RawGuard<'_, T> {
    fn drop(&mut self) {
        self.global.lock.release();
    }
}

/// Exclusive access to an initialised [`Global`].
pub struct GlobalGuard<'a, T> {
    raw: RawGuard<'a, T>,
}

impl<T> Deref for GlobalGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: `Global::lock` made this guard only after it saw the
        // value set, and nothing ever unsets it (`init` only stores
        // `Some`): no test on every access of the scheduler's fields.
        unsafe { self.raw.as_ref().unwrap_unchecked() }
    }
}

impl<T> DerefMut for GlobalGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`: checked set in `lock`, never unset.
        unsafe { self.raw.as_mut().unwrap_unchecked() }
    }
}

/// A value set once at boot and then shared read-only (the IPCM, which
/// does its own locking).
pub struct Once<T> {
    set: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once, before `set` is published, and only
// read afterwards; `T: Sync` makes the shared reads sound.
unsafe impl<T: Send + Sync> Sync for Once<T> {}

impl<T> Once<T> {
    /// Empty.
    pub const fn new() -> Self {
        Once {
            set: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Sets the value; panics if set twice.
    pub fn set(&self, value: T) {
        assert!(!self.set.load(Ordering::Acquire), "Once set twice");
        // SAFETY: not yet published, so no reader exists; set at boot,
        // before the other CPUs start.
        unsafe { *self.value.get() = Some(value) };
        self.set.store(true, Ordering::Release);
    }

    /// The value; panics if not set yet.
    #[inline(always)]
    pub fn get(&self) -> &T {
        assert!(self.set.load(Ordering::Acquire), "Once read before set");
        // SAFETY: published (`set` stored `Some` before the flag) and never
        // written again.
        unsafe { (*self.value.get()).as_ref().unwrap_unchecked() }
    }
}
