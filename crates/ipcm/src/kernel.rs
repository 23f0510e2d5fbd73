//! The hooks a host kernel implements for the IPC manager.
//!
//! The IPC manager never dereferences a thread's address: it asks the kernel
//! to copy, and it never schedules: it asks the kernel to wake. Everything it
//! needs from the kernel is in [`Kernel`].

use core::fmt;
use core::hash::Hash;

use crate::Status;

/// A virtual address in a thread's address space, as the thread alleged it.
///
/// It is data until the kernel's copy hook accepted it: the IPC manager never
/// turns it into a pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserAddr(pub usize);

impl UserAddr {
    /// The null address; kernels normally keep page 0 unmapped, so copies
    /// through it fault.
    pub const NULL: UserAddr = UserAddr(0);
}

impl fmt::Display for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A copy hook could not complete: some byte of the range is not mapped with
/// the needed permission. The IPC manager reports it as
/// [`Status::BadAddress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// The process a thread belongs to; access control compares these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(pub u64);

impl ProcessId {
    /// The kernel itself: the owner of pipes the kernel creates. Kernel calls
    /// pass every access check.
    pub const KERNEL: ProcessId = ProcessId(0);
}

/// Scheduling priority of a thread: a larger number is more urgent.
///
/// Only pipes created with [`PipeFlags::PRIORITY_WAITERS`](crate::PipeFlags)
/// look at it: their pending operations are served by priority, FIFO within
/// one priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(pub u8);

/// Who is calling: the kernel itself (no thread, direct kernel buffers,
/// never blocks) or a thread of some process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller<'a, T> {
    /// The kernel itself. Passes every access check.
    Kernel,
    /// A thread; its process is asked from [`Kernel::process_of`].
    Thread(&'a T),
}

/// Services the IPC manager needs from the kernel that hosts it.
///
/// # Contract
/// - Copy hooks never sleep and never page in: a range that is not mapped
///   with the needed permission is a [`Fault`] at once. They may fault after
///   writing part of the range; the IPC manager never relies on a failed copy
///   having left memory untouched. They are called with a pipe lock held,
///   for at most `msg_size` bytes (plus one `usize` for a length).
/// - [`wake`](Kernel::wake) is called exactly once per pending operation,
///   with no IPC manager lock held. It must not block; it may call back into
///   the IPC manager.
/// - A thread has at most one pending operation at a time; the IPC manager
///   enforces it ([`Status::AlreadyPending`]).
pub trait Kernel {
    /// A handle naming a thread. Cloned when an operation becomes pending.
    type Thread: Clone + Eq + Hash;

    /// Copy `dst.len()` bytes from `src` in `thread`'s address space.
    ///
    /// # Errors
    /// [`Fault`] if any byte of the range is not readable by `thread`.
    fn copy_from_user(
        &self,
        thread: &Self::Thread,
        src: UserAddr,
        dst: &mut [u8],
    ) -> Result<(), Fault>;

    /// Copy `src` to `dst` in `thread`'s address space.
    ///
    /// # Errors
    /// [`Fault`] if any byte of the range is not writable by `thread`.
    fn copy_to_user(&self, thread: &Self::Thread, dst: UserAddr, src: &[u8]) -> Result<(), Fault>;

    /// Make a thread whose operation was pending runnable, with the final
    /// status of that operation ([`Status::Ok`] when it completed).
    fn wake(&self, thread: Self::Thread, status: Status);

    /// The process `thread` belongs to, for access control.
    fn process_of(&self, thread: &Self::Thread) -> ProcessId;

    /// The scheduling priority of `thread`; only consulted by pipes that
    /// serve waiters by priority.
    fn priority_of(&self, _thread: &Self::Thread) -> Priority {
        Priority::default()
    }
}

impl<K: Kernel + ?Sized> Kernel for &K {
    type Thread = K::Thread;

    fn copy_from_user(
        &self,
        thread: &Self::Thread,
        src: UserAddr,
        dst: &mut [u8],
    ) -> Result<(), Fault> {
        (**self).copy_from_user(thread, src, dst)
    }

    fn copy_to_user(&self, thread: &Self::Thread, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        (**self).copy_to_user(thread, dst, src)
    }

    fn wake(&self, thread: Self::Thread, status: Status) {
        (**self).wake(thread, status);
    }

    fn process_of(&self, thread: &Self::Thread) -> ProcessId {
        (**self).process_of(thread)
    }

    fn priority_of(&self, thread: &Self::Thread) -> Priority {
        (**self).priority_of(thread)
    }
}
