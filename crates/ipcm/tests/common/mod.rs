//! A fixture over the test kernel: actors (one thread each, in its own
//! process unless asked otherwise) with a source buffer, a destination
//! buffer and a length word mapped in their address space.

#![allow(dead_code, unused_imports, unreachable_pub)] // each test file uses part of it

pub use ipcm::testing::{PAGE_SIZE, Perm, TestIpcm, TestKernel, ThreadId};
pub use ipcm::{
    Caller, CancelReason, PipeFlags, PipeId, PipeInfo, Priority, ProcessId, Progress, Status,
    Ticket, UserAddr, Written,
};

/// Where an actor's outgoing message is staged.
pub const SRC: usize = 0x10_000;
/// Where an actor receives messages.
pub const DST: usize = 0x20_000;
/// Where the IPC manager stores a received length.
pub const LEN: usize = 0x30_000;
/// Buffers span this many bytes (two pages, so messages may cross pages).
pub const SPAN: usize = 2 * PAGE_SIZE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub pid: ProcessId,
    pub tid: ThreadId,
}

pub struct Fixture {
    pub ipcm: TestIpcm,
    next_pid: std::cell::Cell<u64>,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            ipcm: TestIpcm::new(TestKernel::new()),
            next_pid: std::cell::Cell::new(1),
        }
    }

    pub fn kernel(&self) -> &TestKernel {
        self.ipcm.kernel()
    }

    /// A thread in a new process.
    pub fn actor(&self) -> Actor {
        let pid = ProcessId(self.next_pid.get());
        self.next_pid.set(pid.0 + 1);
        self.actor_in(pid, Priority::default())
    }

    /// A thread in `pid` with `priority`, buffers mapped read-write.
    pub fn actor_in(&self, pid: ProcessId, priority: Priority) -> Actor {
        let tid = self.kernel().spawn(pid, priority);
        for base in [SRC, DST, LEN] {
            self.kernel().map(pid, base, SPAN, Perm::ReadWrite);
        }
        Actor { pid, tid }
    }

    pub fn pipe(&self, msg_size: usize, max_msgs: usize, flags: PipeFlags) -> PipeId {
        self.ipcm
            .create(Caller::Kernel, None, msg_size, max_msgs, flags)
            .expect("create")
    }

    pub fn write(
        &self,
        actor: Actor,
        pipe: PipeId,
        msg: &[u8],
    ) -> Result<Progress<Written>, Status> {
        self.kernel().poke(actor.pid, SRC, msg);
        self.ipcm.write(&actor.tid, pipe, UserAddr(SRC), msg.len())
    }

    pub fn try_write(&self, actor: Actor, pipe: PipeId, msg: &[u8]) -> Result<Written, Status> {
        self.kernel().poke(actor.pid, SRC, msg);
        self.ipcm
            .try_write(&actor.tid, pipe, UserAddr(SRC), msg.len())
    }

    pub fn read(&self, actor: Actor, pipe: PipeId) -> Result<Progress<usize>, Status> {
        self.ipcm
            .read(&actor.tid, pipe, UserAddr(DST), UserAddr(LEN))
    }

    pub fn peek(&self, actor: Actor, pipe: PipeId) -> Result<Progress<usize>, Status> {
        self.ipcm
            .peek(&actor.tid, pipe, UserAddr(DST), UserAddr(LEN))
    }

    /// Read without blocking and return the message bytes.
    pub fn try_read(&self, actor: Actor, pipe: PipeId) -> Result<Vec<u8>, Status> {
        let len = self
            .ipcm
            .try_read(&actor.tid, pipe, UserAddr(DST), UserAddr(LEN))?;
        assert_eq!(len, self.kernel().peek_usize(actor.pid, LEN), "length word");
        Ok(self.kernel().peek_memory(actor.pid, DST, len))
    }

    /// The message a (woken) reader received: its length word and buffer.
    pub fn received(&self, actor: Actor) -> Vec<u8> {
        let len = self.kernel().peek_usize(actor.pid, LEN);
        self.kernel().peek_memory(actor.pid, DST, len)
    }

    /// Reset an actor's length word, so a later check proves it was written.
    pub fn clear_received(&self, actor: Actor) {
        self.kernel()
            .poke(actor.pid, LEN, &usize::MAX.to_ne_bytes());
    }

    /// Take every queued message with the kernel caller.
    pub fn drain(&self, pipe: PipeId) -> Vec<Vec<u8>> {
        let msg_size = self.ipcm.info(pipe).expect("info").msg_size;
        let mut buf = vec![0; msg_size];
        let mut out = Vec::new();
        while let Ok(len) = self.ipcm.kernel_read(pipe, &mut buf) {
            out.push(buf[..len].to_vec());
        }
        out
    }

    pub fn info(&self, pipe: PipeId) -> PipeInfo {
        self.ipcm.info(pipe).expect("info")
    }

    pub fn wakes(&self) -> Vec<(ThreadId, Status)> {
        self.kernel().take_wakes()
    }
}

/// `Done(x)` or panic.
pub fn done<T: std::fmt::Debug>(progress: Result<Progress<T>, Status>) -> T {
    match progress {
        Ok(Progress::Done(value)) => value,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// Assert the call blocked; its ticket.
pub fn blocked<T: std::fmt::Debug>(progress: Result<Progress<T>, Status>) -> Ticket {
    match progress {
        Ok(Progress::Blocked(ticket)) => ticket,
        other => panic!("expected Blocked, got {other:?}"),
    }
}
