//! Kernel memory accounting: the kernel heap a process's requests take.
//!
//! Every pipe a process creates and every thread it spawns is charged to
//! it with the heap bytes the request really took (measured across the
//! call: ring, lengths, header, name, registry entry, allocator rounding;
//! for a thread also its wait record, reserved at spawn because a thread
//! has at most one pending operation, and its select group record; a
//! select charges one more wait record per member beyond the first, for
//! the thread's life). A request is admitted only if an
//! upper bound of its cost fits both the process's quota and the shared
//! user pool, so the heap never runs dry on a process's behalf: a refused
//! request is NO_MEMORY, never a failed allocation. Charges come back when
//! the pipe is destroyed or the thread ends, and a process's exit destroys
//! every pipe it still owns.

#![forbid(unsafe_code)]

use crate::heap;
use crate::sched::Pid;
use crate::sync::Global;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use ipcm::{PipeId, Status};

/// Heap bytes all processes together may hold (the heap is 8 MiB: the
/// rest is the kernel's own).
pub const POOL_BYTES: u64 = 4 * 1024 * 1024;
/// Heap bytes one process may hold: a quarter of the pool, so no single
/// process can take it all from the others.
pub const PROCESS_QUOTA: u64 = 1024 * 1024;

struct Accounts {
    /// Pool bytes not charged to anyone.
    pool_free: u64,
    /// Bytes charged to each process that holds any.
    charged: BTreeMap<Pid, u64>,
    /// Each live user pipe: its owner and what it was charged.
    pipes: BTreeMap<usize, (Pid, u64)>,
}

static ACCOUNTS: Global<Accounts> = Global::new();

/// Sets up the accounts (at boot).
pub fn init() {
    ACCOUNTS.init(Accounts {
        pool_free: POOL_BYTES,
        charged: BTreeMap::new(),
        pipes: BTreeMap::new(),
    });
}

/// Pool bytes nobody holds.
pub fn pool_free() -> u64 {
    ACCOUNTS.lock().pool_free
}

/// Charges `bytes` to `pid` if they fit its quota and the pool (NO_MEMORY
/// otherwise, nothing charged); [`release`] gives them back.
pub fn reserve(pid: Pid, bytes: u64) -> Result<(), Status> {
    let mut accounts = ACCOUNTS.lock();
    let held = accounts.charged.get(&pid).copied().unwrap_or(0);
    if bytes > accounts.pool_free || held.saturating_add(bytes) > PROCESS_QUOTA {
        return Err(Status::NoMemory);
    }
    accounts.pool_free -= bytes;
    *accounts.charged.entry(pid).or_insert(0) += bytes;
    Ok(())
}

/// Gives `bytes` charged to `pid` back to the pool.
pub fn release(pid: Pid, bytes: u64) {
    let mut accounts = ACCOUNTS.lock();
    let Some(held) = accounts.charged.get_mut(&pid) else {
        return;
    };
    let bytes = bytes.min(*held);
    *held -= bytes;
    if *held == 0 {
        accounts.charged.remove(&pid);
    }
    accounts.pool_free += bytes;
}

/// Runs `request` on `pid`'s behalf if `bound` bytes (an upper bound of
/// what it allocates, plus `later`) fit its quota and the pool; charges
/// what it really took plus `later` (bytes it may allocate afterwards, such
/// as a thread's wait record). Returns its result and the charge.
pub fn charged<T>(
    pid: Pid,
    bound: u64,
    later: u64,
    request: impl FnOnce() -> Result<T, Status>,
) -> Result<(T, u64), Status> {
    let bound = bound + later;
    reserve(pid, bound)?;
    let before = heap::used();
    let result = request();
    let taken = heap::used().saturating_sub(before) as u64 + later;
    match result {
        Ok(value) => {
            if taken <= bound {
                release(pid, bound - taken);
            } else {
                // The bound was short (a table grew): charge it anyway, so
                // the books match the heap.
                let mut accounts = ACCOUNTS.lock();
                let extra = (taken - bound).min(accounts.pool_free);
                accounts.pool_free -= extra;
                *accounts.charged.entry(pid).or_insert(0) += extra;
            }
            Ok((value, taken))
        }
        Err(e) => {
            release(pid, bound);
            Err(e)
        }
    }
}

/// Records a new user pipe and its charge.
pub fn record_pipe(id: PipeId, owner: Pid, bytes: u64) {
    ACCOUNTS.lock().pipes.insert(id.to_raw(), (owner, bytes));
}

/// A user pipe was destroyed: its charge goes back to its owner's account.
pub fn pipe_destroyed(id: PipeId) {
    let entry = ACCOUNTS.lock().pipes.remove(&id.to_raw());
    if let Some((owner, bytes)) = entry {
        release(owner, bytes);
    }
}

/// The live pipes `pid` owns.
pub fn pipes_of(pid: Pid) -> Vec<PipeId> {
    ACCOUNTS
        .lock()
        .pipes
        .iter()
        .filter(|(_, (owner, _))| *owner == pid)
        .map(|(&raw, _)| PipeId::from_raw(raw))
        .collect()
}

/// Bytes still charged to `pid` (0 once everything it held came back).
pub fn held_by(pid: Pid) -> u64 {
    ACCOUNTS.lock().charged.get(&pid).copied().unwrap_or(0)
}
