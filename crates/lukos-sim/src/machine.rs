//! The state a user program, the kernel and the IPC manager's hooks share:
//! address spaces, thread identities, the clock, and each thread's syscall
//! mailbox.
//!
//! Everything runs on one OS thread (the simulator is a single-CPU machine),
//! so interior mutability is `RefCell`/`Cell`; no borrow is ever held across
//! a call into the IPC manager or a poll of a user program.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ipcm::{Fault, Kernel, Priority, ProcessId, Status, UserAddr};

use crate::mem::{Access, AddressSpace, PageFault};
use crate::syscall::{Reply, Request};

/// A simulated thread's id (an index into the kernel's thread table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(pub u32);

impl std::fmt::Display for Tid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// Simulated time, in ticks; the trace shows one tick as one microsecond.
pub type Ticks = u64;

/// What an access to user memory costs the running thread.
pub(crate) fn access_cost(len: usize) -> Ticks {
    1 + (len as Ticks) / 256
}

struct Identity {
    process: ProcessId,
    priority: Priority,
}

/// A thread's syscall mailbox: the user side posts a request and waits for
/// the reply; the kernel takes the request and posts the reply.
#[derive(Default)]
struct Mailbox {
    request: Option<Request>,
    reply: Option<Reply>,
}

/// The machine: memory, thread identities, the clock and the mailboxes.
#[derive(Default)]
pub struct Machine {
    /// Address spaces, indexed by process id.
    spaces: RefCell<Vec<AddressSpace>>,
    /// Thread identities, indexed by thread id.
    identities: RefCell<Vec<Identity>>,
    mailboxes: RefCell<Vec<Mailbox>>,
    /// Wakes the IPC manager asked for, not yet applied by the kernel.
    wakes: RefCell<Vec<(Tid, Status)>>,
    clock: Cell<Ticks>,
    /// Ticks the running thread used since it was dispatched.
    charged: Cell<Ticks>,
}

impl Machine {
    /// The current simulated time.
    #[must_use]
    pub fn now(&self) -> Ticks {
        self.clock.get()
    }

    /// Let time pass on the running thread's account.
    pub(crate) fn charge(&self, ticks: Ticks) {
        self.clock.set(self.clock.get() + ticks);
        self.charged.set(self.charged.get() + ticks);
    }

    pub(crate) fn charged(&self) -> Ticks {
        self.charged.get()
    }

    pub(crate) fn reset_charged(&self) {
        self.charged.set(0);
    }

    /// Jump the clock forward to `to` (the CPU was idle).
    pub(crate) fn idle_until(&self, to: Ticks) {
        if to > self.clock.get() {
            self.clock.set(to);
        }
    }

    pub(crate) fn add_process(&self) -> ProcessId {
        let mut spaces = self.spaces.borrow_mut();
        spaces.push(AddressSpace::new());
        ProcessId(spaces.len() as u64 - 1)
    }

    pub(crate) fn add_thread(&self, process: ProcessId, priority: Priority) -> Tid {
        let mut identities = self.identities.borrow_mut();
        identities.push(Identity { process, priority });
        self.mailboxes.borrow_mut().push(Mailbox::default());
        Tid(identities.len() as u32 - 1)
    }

    /// The process `thread` belongs to.
    #[must_use]
    pub fn process_of(&self, thread: Tid) -> ProcessId {
        self.identities.borrow()[thread.0 as usize].process
    }

    /// The scheduling priority of `thread`.
    #[must_use]
    pub fn priority_of(&self, thread: Tid) -> Priority {
        self.identities.borrow()[thread.0 as usize].priority
    }

    /// Run `f` on `process`'s address space.
    pub fn with_space<T>(&self, process: ProcessId, f: impl FnOnce(&mut AddressSpace) -> T) -> T {
        f(&mut self.spaces.borrow_mut()[process.0 as usize])
    }

    /// Whether `thread` may access `[va, va + len)` as `access`.
    #[must_use]
    pub fn accessible(&self, thread: Tid, va: usize, len: usize, access: Access) -> bool {
        let process = self.process_of(thread);
        self.with_space(process, |space| space.accessible(va, len, access))
    }

    /// Read `len` bytes of `thread`'s memory with kernel rights.
    ///
    /// # Errors
    /// A [`PageFault`] when the range is not mapped.
    pub fn read_user(&self, thread: Tid, va: usize, len: usize) -> Result<Vec<u8>, PageFault> {
        let mut bytes = vec![0; len];
        self.with_space(self.process_of(thread), |space| space.read(va, &mut bytes))?;
        Ok(bytes)
    }

    /// Write `bytes` to `thread`'s memory, honouring page permissions.
    ///
    /// # Errors
    /// A [`PageFault`] when the range is not mapped writable.
    pub fn write_user(&self, thread: Tid, va: usize, bytes: &[u8]) -> Result<(), PageFault> {
        self.with_space(self.process_of(thread), |space| space.write(va, bytes))
    }

    pub(crate) fn post_request(&self, thread: Tid, request: Request) {
        self.mailboxes.borrow_mut()[thread.0 as usize].request = Some(request);
    }

    pub(crate) fn take_request(&self, thread: Tid) -> Option<Request> {
        self.mailboxes.borrow_mut()[thread.0 as usize]
            .request
            .take()
    }

    pub(crate) fn post_reply(&self, thread: Tid, reply: Reply) {
        self.mailboxes.borrow_mut()[thread.0 as usize].reply = Some(reply);
    }

    pub(crate) fn take_reply(&self, thread: Tid) -> Option<Reply> {
        self.mailboxes.borrow_mut()[thread.0 as usize].reply.take()
    }

    pub(crate) fn clear_mailbox(&self, thread: Tid) {
        self.mailboxes.borrow_mut()[thread.0 as usize] = Mailbox::default();
    }

    pub(crate) fn take_wakes(&self) -> Vec<(Tid, Status)> {
        std::mem::take(&mut *self.wakes.borrow_mut())
    }
}

/// The IPC manager's view of the simulated kernel: page-table-walking copies,
/// and a wake that the kernel applies after the IPC manager call returns.
pub struct Hooks(pub(crate) Rc<Machine>);

impl Kernel for Hooks {
    type Thread = Tid;

    fn copy_from_user(&self, thread: &Tid, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        let process = self.0.process_of(*thread);
        self.0
            .with_space(process, |space| space.read(src.0, dst))
            .map_err(|_| Fault)
    }

    fn copy_to_user(&self, thread: &Tid, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let process = self.0.process_of(*thread);
        self.0
            .with_space(process, |space| space.write(dst.0, src))
            .map_err(|_| Fault)
    }

    fn wake(&self, thread: Tid, status: Status) {
        self.0.wakes.borrow_mut().push((thread, status));
    }

    fn process_of(&self, thread: &Tid) -> ProcessId {
        self.0.process_of(*thread)
    }

    fn priority_of(&self, thread: &Tid) -> Priority {
        self.0.identities.borrow()[thread.0 as usize].priority
    }
}
