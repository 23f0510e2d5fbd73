//! The IPCM hosted in this kernel: the `Kernel` hooks (user copies through
//! the page tables, wake into the saved registers) and the one manager.

#![forbid(unsafe_code)]

use crate::sched::{self, Tid};
use crate::sync::{KernelRawLock, Once};
use ipcm::{CancelReason, Fault, Ipcm, Kernel, Priority, ProcessId, Status, Ticket, UserAddr};
use lukos_abi::status as abi;

/// The kernel's side of the IPCM contract.
pub struct Hooks;

impl Kernel for Hooks {
    type Thread = Tid;

    /// Walks the thread's page tables and checks P and U on every page of
    /// the range before copying; a thread that is gone faults. The address
    /// space stays alive until the copy is done, even if the thread's
    /// process ends on another CPU meanwhile (see `sched::space_of`).
    #[inline(always)]
    fn copy_from_user(&self, thread: &Tid, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        let space = sched::space_of(*thread).ok_or(Fault)?;
        space.copy_in(src.0 as u64, dst).map_err(|_| Fault)
    }

    /// As `copy_from_user`, checking W as well.
    #[inline(always)]
    fn copy_to_user(&self, thread: &Tid, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let space = sched::space_of(*thread).ok_or(Fault)?;
        space.copy_out(dst.0 as u64, src).map_err(|_| Fault)
    }

    fn wake(&self, thread: Tid, status: Status) {
        sched::wake(thread, status.code() as u64);
    }

    fn process_of(&self, thread: &Tid) -> ProcessId {
        // A vanished thread maps to a process id no pipe can be owned by.
        sched::process_of(*thread).map_or(ProcessId(u64::MAX), |pid| ProcessId(pid.0))
    }

    fn priority_of(&self, thread: &Tid) -> Priority {
        Priority(sched::priority_of(*thread))
    }
}

/// The IPCM type of this kernel.
pub type KernelIpcm = Ipcm<KernelRawLock, Hooks>;

static IPCM: Once<KernelIpcm> = Once::new();

/// Creates the manager (at boot).
pub fn init() {
    IPCM.set(Ipcm::new(Hooks));
}

/// The manager.
pub fn ipcm() -> &'static KernelIpcm {
    IPCM.get()
}

/// Cancels `tid`'s pending operation named by `ticket`; true if it was
/// still pending (the IPCM has then woken the thread with TIMED_OUT /
/// CANCELLED). A stale ticket changes nothing (DESIGN §8).
pub fn cancel_op(tid: Tid, ticket: Ticket, reason: CancelReason) -> bool {
    ipcm().cancel_op(&tid, ticket, reason).is_ok()
}

/// The syscall ABI's status codes must be the IPCM's: checked at compile
/// time so the two cannot drift apart.
const _: () = {
    let pairs = [
        (Status::Ok, abi::OK),
        (Status::Blocked, abi::BLOCKED),
        (Status::NotFound, abi::NOT_FOUND),
        (Status::TooLarge, abi::TOO_LARGE),
        (Status::BadAddress, abi::BAD_ADDRESS),
        (Status::Empty, abi::EMPTY),
        (Status::Full, abi::FULL),
        (Status::TimedOut, abi::TIMED_OUT),
        (Status::Cancelled, abi::CANCELLED),
        (Status::Destroyed, abi::DESTROYED),
        (Status::Denied, abi::DENIED),
        (Status::NameTaken, abi::NAME_TAKEN),
        (Status::BadParam, abi::BAD_PARAM),
        (Status::AlreadyPending, abi::ALREADY_PENDING),
        (Status::NoMemory, abi::NO_MEMORY),
        (Status::Closed, abi::CLOSED),
    ];
    assert!(pairs.len() == Status::ALL.len());
    let mut i = 0;
    while i < pairs.len() {
        assert!(pairs[i].0.code() as u64 == pairs[i].1);
        i += 1;
    }
    use ipcm::PipeFlags;
    use lukos_abi::flags;
    assert!(PipeFlags::DISCARD_OLDEST.bits() as u64 == flags::DISCARD_OLDEST);
    assert!(PipeFlags::OWNER_READ.bits() as u64 == flags::OWNER_READ);
    assert!(PipeFlags::OWNER_WRITE.bits() as u64 == flags::OWNER_WRITE);
    assert!(PipeFlags::PRIORITY_WAITERS.bits() as u64 == flags::PRIORITY_WAITERS);
    assert!(PipeFlags::PRIORITY_MESSAGES.bits() as u64 == flags::PRIORITY_MESSAGES);
};
