//! TLB shootdown when an address space dies: before its page tables are
//! freed, every CPU that may still have it in CR3 (one that ran its
//! threads and has not loaded another since: idle, or between threads)
//! switches to the kernel-only tables, which also drops its TLB entries.
//! Freed tables may be reused at once, and a CPU walking them (for a
//! kernel address, or speculatively) would read garbage.
//!
//! User mappings are never removed from a live address space (a finished
//! thread's stack stays until the process ends), so death is the only
//! change that needs other CPUs' TLBs flushed.
//!
//! The initiator holds no lock while it waits for the others' answers; a
//! CPU that spins for another reason (waiting for this lock, or for a
//! killed process's threads to stop) answers requests itself, so two
//! initiators never wait for each other.

use crate::percpu::MAX_CPUS;
use crate::{lapic, paging, percpu, smp};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One shootdown at a time.
static LOCK: lock_api::Mutex<crate::sync::SpinLock, ()> =
    lock_api::Mutex::const_new(crate::sync::SpinLock::new(), ());
/// The root being shot down (valid while a request is pending).
static ROOT: AtomicU64 = AtomicU64::new(0);
/// Per CPU: a request it has not answered yet.
static PENDING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Answers this CPU's pending request, if any (the IPI handler, and every
/// spin that could otherwise wait on an initiator).
pub fn service() {
    let me = percpu::index() as usize;
    if PENDING[me].load(Ordering::Acquire) {
        if paging::active_root() == ROOT.load(Ordering::Acquire) {
            paging::activate_kernel_only();
        }
        paging::flush_translations();
        PENDING[me].store(false, Ordering::Release);
    }
}

/// Makes sure no CPU has `root` loaded; returns once all have answered.
/// Call with no lock held.
pub fn shoot_down(root: u64) {
    if paging::active_root() == root {
        paging::activate_kernel_only();
    }
    // And the cached translations of every CPU (see `paging`).
    paging::flush_translations();
    let cpus = smp::online();
    if cpus == 1 {
        return;
    }
    let _one = loop {
        if let Some(guard) = LOCK.try_lock() {
            break guard;
        }
        service();
        core::hint::spin_loop();
    };
    let me = percpu::index() as usize;
    ROOT.store(root, Ordering::Release);
    for cpu in (0..cpus).filter(|&c| c != me) {
        PENDING[cpu].store(true, Ordering::Release);
        lapic::send_ipi(smp::apic_id(cpu), lapic::TLB_VECTOR);
    }
    while (0..cpus).any(|c| PENDING[c].load(Ordering::Acquire)) {
        core::hint::spin_loop();
    }
}
