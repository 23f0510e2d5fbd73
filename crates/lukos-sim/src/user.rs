//! The user side: what a simulated program can do.
//!
//! A program is ordinary sequential Rust, an `async` block that gets a
//! [`Sys`]. It reaches memory only through its own address space
//! ([`Sys::store`], [`Sys::load`]: a page fault is an error value) and the
//! kernel only through system calls, each an `.await` point. Awaiting a
//! system call hands the CPU to the kernel: the scheduler decides who runs
//! next, and a blocking call really parks the thread until the IPC manager
//! wakes it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use ipcm::{PipeFlags, PipeId, ProcessId, Status};

use crate::machine::{Machine, Ticks, Tid, access_cost};
use crate::mem::PageFault;
use crate::syscall::{NO_MEMBER, Reply, Request, SelectEntry, Syscall, Wait};

/// Why a program stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserError {
    /// A system call failed and the program gave up.
    Syscall(Status),
    /// The program touched memory it has no right to.
    Fault(PageFault),
    /// The program found something wrong (its own check failed).
    Check(String),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::Syscall(status) => {
                write!(f, "system call failed: {} ({status})", status.c_name())
            }
            UserError::Fault(fault) => fault.fmt(f),
            UserError::Check(what) => write!(f, "check failed: {what}"),
        }
    }
}

impl std::error::Error for UserError {}

impl From<Status> for UserError {
    fn from(status: Status) -> Self {
        UserError::Syscall(status)
    }
}

impl From<PageFault> for UserError {
    fn from(fault: PageFault) -> Self {
        UserError::Fault(fault)
    }
}

/// What a program returns.
pub type UserResult = Result<(), UserError>;

/// A program's body, as the scheduler holds it.
pub(crate) type Program = Pin<Box<dyn Future<Output = UserResult>>>;

/// A running thread's handle on its process and the kernel.
#[derive(Clone)]
pub struct Sys {
    machine: Rc<Machine>,
    tid: Tid,
    pid: ProcessId,
}

/// A system call in flight: posts its request on first poll, then waits for
/// the kernel's reply.
struct KernelCall {
    machine: Rc<Machine>,
    tid: Tid,
    request: Option<Request>,
}

impl Future for KernelCall {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Reply> {
        if let Some(request) = self.request.take() {
            self.machine.post_request(self.tid, request);
            return Poll::Pending;
        }
        match self.machine.take_reply(self.tid) {
            Some(reply) => Poll::Ready(reply),
            None => Poll::Pending,
        }
    }
}

impl Sys {
    pub(crate) fn new(machine: Rc<Machine>, tid: Tid, pid: ProcessId) -> Sys {
        Sys { machine, tid, pid }
    }

    /// This thread's id.
    #[must_use]
    pub fn tid(&self) -> Tid {
        self.tid
    }

    /// This thread's process.
    #[must_use]
    pub fn pid(&self) -> ProcessId {
        self.pid
    }

    /// The current simulated time.
    #[must_use]
    pub fn now(&self) -> Ticks {
        self.machine.now()
    }

    // ---- memory: the process's own address space only ----

    /// Store `bytes` at `va`.
    ///
    /// # Errors
    /// A [`PageFault`] when the range is not mapped writable.
    pub fn store(&self, va: usize, bytes: &[u8]) -> Result<(), PageFault> {
        self.machine.charge(access_cost(bytes.len()));
        self.machine
            .with_space(self.pid, |space| space.write(va, bytes))
    }

    /// Load `len` bytes from `va`.
    ///
    /// # Errors
    /// A [`PageFault`] when the range is not mapped.
    pub fn load(&self, va: usize, len: usize) -> Result<Vec<u8>, PageFault> {
        self.machine.charge(access_cost(len));
        let mut bytes = vec![0; len];
        self.machine
            .with_space(self.pid, |space| space.read(va, &mut bytes))?;
        Ok(bytes)
    }

    /// Store a native `usize` at `va`.
    ///
    /// # Errors
    /// As [`store`](Self::store).
    pub fn store_usize(&self, va: usize, value: usize) -> Result<(), PageFault> {
        self.store(va, &value.to_ne_bytes())
    }

    /// Load a native `usize` from `va`.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_usize(&self, va: usize) -> Result<usize, PageFault> {
        let bytes = self.load(va, size_of::<usize>())?;
        Ok(usize::from_ne_bytes(bytes.try_into().expect("usize-sized")))
    }

    /// Store `text` NUL-terminated at `va` (as a C string literal would sit
    /// in the data segment); returns `va`.
    ///
    /// # Errors
    /// As [`store`](Self::store).
    pub fn cstr(&self, va: usize, text: &str) -> Result<usize, PageFault> {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(0);
        self.store(va, &bytes)?;
        Ok(va)
    }

    // ---- the kernel ----

    async fn call(&self, syscall: Syscall) -> Reply {
        self.request(Request::Syscall(syscall)).await
    }

    fn request(&self, request: Request) -> KernelCall {
        KernelCall {
            machine: self.machine.clone(),
            tid: self.tid,
            request: Some(request),
        }
    }

    /// Burn `ticks` of CPU; the scheduler may preempt part way.
    pub async fn compute(&self, ticks: Ticks) {
        let _ = self.request(Request::Compute(ticks)).await;
    }

    /// Sleep for `ticks`.
    pub async fn sleep(&self, ticks: Ticks) {
        let _ = self.call(Syscall::Sleep { ticks }).await;
    }

    /// Give up the CPU.
    pub async fn yield_now(&self) {
        let _ = self.call(Syscall::Yield).await;
    }

    /// Map pages covering `[va, va + len)`.
    ///
    /// # Errors
    /// `BadParam` for a range that wraps.
    pub async fn vm_map(&self, va: usize, len: usize, writable: bool) -> Result<(), Status> {
        let reply = self.call(Syscall::VmMap { va, len, writable }).await;
        reply.into_result().map(drop)
    }

    /// Unmap pages covering `[va, va + len)`.
    ///
    /// # Errors
    /// `BadParam` for a range that wraps.
    pub async fn vm_unmap(&self, va: usize, len: usize) -> Result<(), Status> {
        reply_unit(self.call(Syscall::VmUnmap { va, len }).await)
    }

    /// `pipe_create(name, msg_size, max_msgs, flags)`: `name` is the address
    /// of a NUL-terminated string (see [`cstr`](Self::cstr)) or 0.
    ///
    /// # Errors
    /// `BadAddress`, `BadParam`, `NameTaken`, `NoMemory`.
    pub async fn pipe_create(
        &self,
        name: usize,
        msg_size: usize,
        max_msgs: usize,
        flags: usize,
    ) -> Result<PipeId, Status> {
        let reply = self
            .call(Syscall::PipeCreate {
                name,
                msg_size,
                max_msgs,
                flags,
            })
            .await;
        reply.into_result().map(PipeId::from_raw)
    }

    /// `pipe_id_get(name, &id)`: stores the id at `id_out`.
    ///
    /// # Errors
    /// `NotFound`, `BadAddress`, `BadParam`.
    pub async fn pipe_id_get(&self, name: usize, id_out: usize) -> Result<(), Status> {
        reply_unit(self.call(Syscall::PipeIdGet { name, id_out }).await)
    }

    /// `pipe_info_get(id, &msg_size, &max_msgs, &flags)`.
    ///
    /// # Errors
    /// `NotFound`, `BadAddress`.
    pub async fn pipe_info_get(
        &self,
        id: PipeId,
        msg_size_out: usize,
        max_msgs_out: usize,
        flags_out: usize,
    ) -> Result<(), Status> {
        let call = Syscall::PipeInfoGet {
            id: id.to_raw(),
            msg_size_out,
            max_msgs_out,
            flags_out,
        };
        reply_unit(self.call(call).await)
    }

    /// `pipe_write(id, va, len)` with a choice of waiting.
    ///
    /// # Errors
    /// `NotFound`, `Destroyed`, `TooLarge`, `BadAddress`, `Denied`, `Full`
    /// (`Wait::Never`), `TimedOut`, `Cancelled`.
    pub async fn pipe_write_with(
        &self,
        id: PipeId,
        src: usize,
        len: usize,
        wait: Wait,
    ) -> Result<(), Status> {
        let call = Syscall::PipeWrite {
            id: id.to_raw(),
            src,
            len,
            wait,
        };
        reply_unit(self.call(call).await)
    }

    /// `pipe_read(id, va, &len)` (or a peek) with a choice of waiting.
    ///
    /// # Errors
    /// `NotFound`, `Destroyed`, `BadAddress`, `Denied`, `Empty`
    /// (`Wait::Never`), `TimedOut`, `Cancelled`.
    pub async fn pipe_read_with(
        &self,
        id: PipeId,
        dst: usize,
        len_out: usize,
        consume: bool,
        wait: Wait,
    ) -> Result<(), Status> {
        let call = Syscall::PipeRead {
            id: id.to_raw(),
            dst,
            len_out,
            consume,
            wait,
        };
        reply_unit(self.call(call).await)
    }

    /// `pipe_write(id, va, len)`: blocks while the pipe is full.
    ///
    /// # Errors
    /// As [`pipe_write_with`](Self::pipe_write_with).
    pub async fn pipe_write(&self, id: PipeId, src: usize, len: usize) -> Result<(), Status> {
        self.pipe_write_with(id, src, len, Wait::Forever).await
    }

    /// Write that never blocks.
    ///
    /// # Errors
    /// As [`pipe_write_with`](Self::pipe_write_with).
    pub async fn pipe_try_write(&self, id: PipeId, src: usize, len: usize) -> Result<(), Status> {
        self.pipe_write_with(id, src, len, Wait::Never).await
    }

    /// `pipe_read(id, va, &len)`: blocks while the pipe is empty.
    ///
    /// # Errors
    /// As [`pipe_read_with`](Self::pipe_read_with).
    pub async fn pipe_read(&self, id: PipeId, dst: usize, len_out: usize) -> Result<(), Status> {
        self.pipe_read_with(id, dst, len_out, true, Wait::Forever)
            .await
    }

    /// Peek at the oldest message: blocks while the pipe is empty.
    ///
    /// # Errors
    /// As [`pipe_read_with`](Self::pipe_read_with).
    pub async fn pipe_peek(&self, id: PipeId, dst: usize, len_out: usize) -> Result<(), Status> {
        self.pipe_read_with(id, dst, len_out, false, Wait::Forever)
            .await
    }

    /// `pipe_write_urgent(id, va, len)`: the message goes to the head of
    /// the queue.
    ///
    /// # Errors
    /// As [`pipe_write_with`](Self::pipe_write_with), plus `Closed`.
    pub async fn pipe_write_urgent(
        &self,
        id: PipeId,
        src: usize,
        len: usize,
        wait: Wait,
    ) -> Result<(), Status> {
        let call = Syscall::PipeWriteUrgent {
            id: id.to_raw(),
            src,
            len,
            wait,
        };
        reply_unit(self.call(call).await)
    }

    /// `pipe_write_prio(id, va, len, prio)`: a write at message priority
    /// `prio` to a `PRIORITY_MESSAGES` pipe (higher read first, FIFO
    /// within a priority).
    ///
    /// # Errors
    /// As [`pipe_write_with`](Self::pipe_write_with), plus `Closed`;
    /// `BadParam` for a `prio` above 255, or other than 0 on a pipe
    /// without `PRIORITY_MESSAGES`.
    pub async fn pipe_write_prio(
        &self,
        id: PipeId,
        src: usize,
        len: usize,
        prio: usize,
        wait: Wait,
    ) -> Result<(), Status> {
        let call = Syscall::PipeWritePrio {
            id: id.to_raw(),
            src,
            len,
            prio,
            wait,
        };
        reply_unit(self.call(call).await)
    }

    /// A read (`consume`) or peek that also stores the message's sequence
    /// number (a `u64`) at `seq_out`.
    ///
    /// # Errors
    /// As [`pipe_read_with`](Self::pipe_read_with), plus `Closed`;
    /// `BadParam` for `Wait::Never`.
    pub async fn pipe_read_seq(
        &self,
        id: PipeId,
        dst: usize,
        len_out: usize,
        seq_out: usize,
        consume: bool,
        wait: Wait,
    ) -> Result<(), Status> {
        let call = Syscall::PipeReadSeq {
            id: id.to_raw(),
            dst,
            len_out,
            seq_out,
            consume,
            wait,
        };
        reply_unit(self.call(call).await)
    }

    /// Peek at the oldest queued message numbered above `after`, waiting
    /// (as `wait` says) for a write to bring one.
    ///
    /// # Errors
    /// As [`pipe_read_seq`](Self::pipe_read_seq); `Empty` for
    /// `Wait::Never` when none is newer.
    pub async fn pipe_peek_newer(
        &self,
        id: PipeId,
        after: u64,
        dst: usize,
        len_out: usize,
        seq_out: usize,
        wait: Wait,
    ) -> Result<(), Status> {
        let call = Syscall::PipePeekNewer {
            id: id.to_raw(),
            after,
            dst,
            len_out,
            seq_out,
            wait,
        };
        reply_unit(self.call(call).await)
    }

    /// Peek at the message `index` places from the front; never blocks.
    ///
    /// # Errors
    /// `Empty` past the end (`Closed` when closed and empty), `NotFound`,
    /// `Denied`, `BadAddress`.
    pub async fn pipe_peek_at(
        &self,
        id: PipeId,
        index: usize,
        dst: usize,
        len_out: usize,
        seq_out: usize,
    ) -> Result<(), Status> {
        let call = Syscall::PipePeekAt {
            id: id.to_raw(),
            index,
            dst,
            len_out,
            seq_out,
        };
        reply_unit(self.call(call).await)
    }

    /// Drop every queued message; returns how many.
    ///
    /// # Errors
    /// `NotFound`, `Denied`.
    pub async fn pipe_purge(&self, id: PipeId) -> Result<usize, Status> {
        let reply = self.call(Syscall::PipePurge { id: id.to_raw() }).await;
        reply.into_result()
    }

    /// Close a pipe the caller's process owns.
    ///
    /// # Errors
    /// `NotFound`, `Denied`, `Closed` (closed already).
    pub async fn pipe_close(&self, id: PipeId) -> Result<(), Status> {
        reply_unit(self.call(Syscall::PipeClose { id: id.to_raw() }).await)
    }

    /// `pipe_select(entries, count)` over records already in memory: the
    /// index of the member that completed and its status (`Ok`, or why it
    /// failed); `None` as the index when the whole call failed (a bad
    /// list, a timeout, a cancel).
    pub async fn pipe_select_raw(
        &self,
        entries: usize,
        count: usize,
        wait: Wait,
    ) -> (Option<usize>, Status) {
        let reply = self
            .call(Syscall::PipeSelect {
                entries,
                count,
                wait,
            })
            .await;
        (
            (reply.value != NO_MEMBER).then_some(reply.value),
            reply.status,
        )
    }

    /// Store `members` as select records at `va`, then select over them.
    ///
    /// # Errors
    /// A fault storing the records (the select was not made); otherwise
    /// as [`pipe_select_raw`](Self::pipe_select_raw).
    pub async fn pipe_select(
        &self,
        va: usize,
        members: &[SelectEntry],
        wait: Wait,
    ) -> Result<(Option<usize>, Status), PageFault> {
        self.store_select(va, members)?;
        Ok(self.pipe_select_raw(va, members.len(), wait).await)
    }

    /// Write `members` as select records at `va`.
    ///
    /// # Errors
    /// A [`PageFault`] when the range is not mapped writable.
    pub fn store_select(&self, va: usize, members: &[SelectEntry]) -> Result<(), PageFault> {
        let bytes: Vec<u8> = members
            .iter()
            .flat_map(|m| m.encode())
            .flat_map(usize::to_ne_bytes)
            .collect();
        self.store(va, &bytes)
    }

    /// Destroy a pipe the caller's process owns.
    ///
    /// # Errors
    /// `NotFound`, `Denied`.
    pub async fn pipe_destroy(&self, id: PipeId) -> Result<(), Status> {
        reply_unit(self.call(Syscall::PipeDestroy { id: id.to_raw() }).await)
    }

    // ---- a little user library on top of the calls ----

    /// Look a pipe up by name: `cstr` the name at `scratch`, `pipe_id_get`
    /// into `scratch + 128`, load the id.
    ///
    /// # Errors
    /// As [`pipe_id_get`](Self::pipe_id_get); a fault on `scratch` is
    /// `BadAddress`.
    pub async fn lookup(&self, name: &str, scratch: usize) -> Result<PipeId, Status> {
        let name_va = self.cstr(scratch, name).map_err(|_| Status::BadAddress)?;
        let id_out = scratch + 128;
        self.pipe_id_get(name_va, id_out).await?;
        let raw = self.load_usize(id_out).map_err(|_| Status::BadAddress)?;
        Ok(PipeId::from_raw(raw))
    }

    /// Like [`lookup`](Self::lookup), retrying every `every` ticks while the
    /// pipe does not exist yet (as upstream's terminal server does).
    ///
    /// # Errors
    /// Any status but `NotFound`.
    pub async fn wait_for_pipe(
        &self,
        name: &str,
        scratch: usize,
        every: Ticks,
    ) -> Result<PipeId, Status> {
        loop {
            match self.lookup(name, scratch).await {
                Err(Status::NotFound) => self.sleep(every).await,
                other => return other,
            }
        }
    }
}

/// Flags as the raw `size_t` of the syscall ABI.
#[must_use]
pub fn raw_flags(flags: PipeFlags) -> usize {
    flags.bits() as usize
}

fn reply_unit(reply: Reply) -> Result<(), Status> {
    reply.into_result().map(drop)
}
