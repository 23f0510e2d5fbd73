//! Kernel-global state without `static mut`.
//!
//! The kernel runs on one CPU with interrupts off (the only interrupt taken
//! in ring 0 is the idle loop's timer tick, which touches atomics only), so
//! a lock is never contended: a second `lock` while a guard is alive is a
//! re-entrance bug, and we panic rather than deadlock or alias.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A value reached only through [`Global::lock`].
pub struct Global<T> {
    locked: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: access to `value` is serialised by `locked` (a guard exists for at
// most one holder at a time), so sharing the cell is sound for `T: Send`.
unsafe impl<T: Send> Sync for Global<T> {}

impl<T> Global<T> {
    /// An uninitialised global; [`Global::init`] must run before `lock`.
    pub const fn new() -> Self {
        Global {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Sets the value (at boot).
    pub fn init(&self, value: T) {
        let mut guard = self.lock_inner();
        *guard = Some(value);
    }

    fn lock_inner(&self) -> RawGuard<'_, T> {
        if self.locked.swap(true, Ordering::Acquire) {
            panic!("kernel global re-entered");
        }
        RawGuard { global: self }
    }

    /// Exclusive access. Panics if re-entered or not initialised.
    pub fn lock(&self) -> GlobalGuard<'_, T> {
        let raw = self.lock_inner();
        // SAFETY: we hold the flag, so no other reference to the value exists.
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
        // SAFETY: the guard holds the flag: it is the only accessor.
        unsafe { &*self.global.value.get() }
    }
}

impl<T> DerefMut for RawGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut Option<T> {
        // SAFETY: the guard holds the flag: it is the only accessor.
        unsafe { &mut *self.global.value.get() }
    }
}

impl<T> Drop for RawGuard<'_, T> {
    fn drop(&mut self) {
        self.global.locked.store(false, Ordering::Release);
    }
}

/// Exclusive access to an initialised [`Global`].
pub struct GlobalGuard<'a, T> {
    raw: RawGuard<'a, T>,
}

impl<T> Deref for GlobalGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.raw.as_ref().expect("checked in lock")
    }
}

impl<T> DerefMut for GlobalGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.raw.as_mut().expect("checked in lock")
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
        // SAFETY: not yet published, so no reader exists; single CPU at boot.
        unsafe { *self.value.get() = Some(value) };
        self.set.store(true, Ordering::Release);
    }

    /// The value; panics if not set yet.
    pub fn get(&self) -> &T {
        assert!(self.set.load(Ordering::Acquire), "Once read before set");
        // SAFETY: published and never written again.
        unsafe { (*self.value.get()).as_ref().expect("published") }
    }
}

/// The lock the IPCM's pipes use. Never contended on one CPU with
/// interrupts off; contention would be a re-entrance bug, so it panics.
pub struct KernelRawLock(AtomicBool);

// SAFETY: a real mutual-exclusion lock: `lock` succeeds only when the flag
// was clear, `unlock` clears it; acquire/release order the protected data.
unsafe impl lock_api::RawMutex for KernelRawLock {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "lock_api's required initializer"
    )]
    const INIT: Self = KernelRawLock(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        if !self.try_lock() {
            panic!("IPCM lock re-entered");
        }
    }

    fn try_lock(&self) -> bool {
        !self.0.swap(true, Ordering::Acquire)
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}
