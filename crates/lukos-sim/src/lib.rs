//! A simulated LuKOS kernel that hosts the IPC manager (`ipcm`) through its
//! hooks: processes with paged address spaces, threads with priorities, a
//! scheduler that is deterministic for a seed, and the `pipe_*` system calls.
//!
//! User programs are ordinary sequential Rust (`async` blocks: every system
//! call is an `.await` point where the scheduler may switch threads) that
//! reach memory only through their own address space.
//!
//! ```
//! use lukos_sim::{Perm, SchedConfig, Sim, Step, ThreadState, ExitReason};
//!
//! let mut sim = Sim::new(7, SchedConfig::default());
//! let (a, b) = (sim.create_process("a"), sim.create_process("b"));
//! const DATA: usize = 0x10000;
//! sim.map(a, DATA, 0x1000, Perm::ReadWrite);
//! sim.map(b, DATA, 0x1000, Perm::ReadWrite);
//!
//! // The reader blocks on the empty pipe until the writer's message arrives.
//! sim.spawn(b, "reader", 1, |sys| async move {
//!     let id = sys.wait_for_pipe("greetings", DATA, 10).await?;
//!     sys.pipe_read(id, DATA + 0x200, DATA + 0x300).await?;
//!     let len = sys.load_usize(DATA + 0x300)?;
//!     assert_eq!(sys.load(DATA + 0x200, len)?, b"hello");
//!     Ok(())
//! });
//! sim.spawn(a, "writer", 1, |sys| async move {
//!     let name = sys.cstr(DATA, "greetings")?;
//!     let id = sys.pipe_create(name, 16, 4, 0).await?;
//!     sys.sleep(50).await;
//!     sys.store(DATA + 0x100, b"hello")?;
//!     sys.pipe_write(id, DATA + 0x100, 5).await?;
//!     Ok(())
//! });
//! assert_eq!(sim.run(10_000), Step::Finished);
//! for tid in sim.tids() {
//!     assert_eq!(*sim.state(tid), ThreadState::Exited(ExitReason::Returned));
//! }
//! assert!(sim.anomalies().is_empty());
//! ```
//!
//! # Why `async` programs
//!
//! A program must read as sequential code, yet only one may run at a time
//! and the order must follow the seed. Each program is a future polled by
//! the scheduler on one OS thread: a system call posts a request in the
//! thread's mailbox and returns `Pending`, which hands the CPU back to the
//! kernel; the kernel answers (or parks the thread until the IPC manager's
//! wake hook answers) and polls it again later. No OS threads, no baton
//! passing (a park/unpark hand-off costs 3–50 µs on these VMs), no
//! `unsafe`; a seed's run is exactly repeatable, and `check` runs well over a
//! million model-checked IPC calls a second.
//!
//! # Layout
//! - [`mem`]: paged address spaces; faults are values.
//! - [`machine`]: what programs, the kernel and the IPC manager's hooks
//!   share; [`machine::Hooks`] implements `ipcm::Kernel`.
//! - [`kernel`]: processes, threads, the scheduler, timers, system calls.
//! - [`user`]: the program side ([`Sys`]).
//! - [`scenarios`], [`check`], [`trace`]: what the binary runs and writes.
//!
//! The binary `lukos-sim` runs the scenarios ([`scenarios`]) and the
//! deterministic simulation tests ([`check`]).

#![forbid(unsafe_code)]

pub mod check;
pub mod kernel;
pub mod machine;
pub mod mem;
pub mod scenarios;
pub mod syscall;
pub mod trace;
pub mod user;

pub use kernel::{
    BlockedOn, ExitReason, IpcCall, IpcOutcome, IpcValue, Observer, PipeOp, SchedConfig, Sim,
    SimStats, Step, ThreadState, ThreadStats,
};
pub use machine::{Machine, Ticks, Tid};
pub use mem::{Access, AddressSpace, PAGE_SIZE, PageFault, Perm};
pub use syscall::{NO_MEMBER, Reply, Request, SelectEntry, Syscall, Wait};
pub use trace::Trace;
pub use user::{Sys, UserError, UserResult};
