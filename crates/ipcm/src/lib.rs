//! The LuKOS Inter-Process Communication Manager: system-wide message pipes
//! for a microkernel, `#![no_std]` + `alloc`.
//!
//! A kernel implements [`Kernel`] (copy to and from a thread's address
//! space, wake a thread with a status, a thread's process) and picks a lock
//! (`lock_api::RawMutex`). A call that cannot complete records a pending
//! operation and returns [`Progress::Blocked`]; the kernel parks the thread,
//! and the call that clears the condition completes the operation by direct
//! hand-off and calls [`Kernel::wake`] once.
//!
//! ```
//! use std::sync::Mutex;
//! use ipcm::{Fault, Ipcm, Kernel, PipeFlags, ProcessId, Progress, Status, UserAddr, Caller};
//!
//! /// A toy kernel: thread `t` owns 32 bytes of memory at addresses 0..32.
//! #[derive(Default)]
//! struct Toy {
//!     memory: Mutex<[[u8; 32]; 2]>,
//!     woken: Mutex<Vec<(usize, Status)>>,
//! }
//!
//! impl Kernel for Toy {
//!     type Thread = usize;
//!     fn copy_from_user(&self, t: &usize, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
//!         let memory = self.memory.lock().unwrap();
//!         let bytes = memory[*t].get(src.0..src.0 + dst.len()).ok_or(Fault)?;
//!         dst.copy_from_slice(bytes);
//!         Ok(())
//!     }
//!     fn copy_to_user(&self, t: &usize, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
//!         let mut memory = self.memory.lock().unwrap();
//!         let bytes = memory[*t].get_mut(dst.0..dst.0 + src.len()).ok_or(Fault)?;
//!         bytes.copy_from_slice(src);
//!         Ok(())
//!     }
//!     fn wake(&self, t: usize, status: Status) {
//!         self.woken.lock().unwrap().push((t, status));
//!     }
//!     fn process_of(&self, t: &usize) -> ProcessId {
//!         ProcessId(*t as u64 + 1)
//!     }
//! }
//!
//! let ipcm: Ipcm<spin::Mutex<()>, Toy> = Ipcm::new(Toy::default());
//! let pipe = ipcm.create(Caller::Kernel, Some("greetings"), 16, 4, PipeFlags::empty())?;
//! let (reader, writer) = (0, 1);
//!
//! // The pipe is empty: the reader's operation becomes pending.
//! let read = ipcm.read(&reader, pipe, UserAddr(0), UserAddr(16))?;
//! assert!(matches!(read, Progress::Blocked(_)));
//!
//! // The writer's message goes straight into the reader's buffer.
//! ipcm.kernel().memory.lock().unwrap()[writer][..5].copy_from_slice(b"hello");
//! let written = ipcm.write(&writer, ipcm.lookup_by_name("greetings")?, UserAddr(0), 5)?;
//! assert!(matches!(written, Progress::Done(w) if w.handed_off));
//! assert_eq!(*ipcm.kernel().woken.lock().unwrap(), [(reader, Status::Ok)]);
//! let memory = ipcm.kernel().memory.lock().unwrap();
//! assert_eq!(&memory[reader][..5], b"hello");
//! assert_eq!(memory[reader][16..24], 5usize.to_ne_bytes());
//! # Ok::<(), Status>(())
//! ```
//!
//! The contract the crate is built to is the [`design`] module (the file
//! `docs/design.md` of the repository); the C ABI of the seed (`ipcm_init`,
//! `ipcm_pipe_create`, ...) is the `ipcm-ffi` crate.

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod flags;
mod handle;
mod id;
mod kernel;
mod manager;
mod pending;
mod pipe;
mod prio;
mod registry;
#[allow(unsafe_code)] // the one module with unsafe code: see its invariants
mod ring;
mod select;
mod slots;
mod status;
mod store;
mod wait;

#[cfg(feature = "testing")]
pub mod testing;

// The design document, packaged with the crate (`design.md` is a link to
// the repository's `docs/design.md`; `cargo package` copies the file).
#[doc = include_str!("../design.md")]
pub mod design {}

pub use flags::PipeFlags;
pub use handle::PipeHandle;
pub use id::PipeId;
pub use kernel::{Caller, Fault, Kernel, Priority, ProcessId, UserAddr};
pub use manager::{CancelReason, Ipcm, PipeRef, Progress, Target, Woke};
pub use pipe::{Outlook, PipeInfo, Received, Written};
pub use registry::{MAX_NAME_LEN, validate_name};
pub use ring::shared::Shared;
pub use select::{LocalSelectOp, LocalSelected, SELECT_MAX, SelectGroup, SelectOp, Selected};
pub use slots::MAX_PIPES;
pub use status::Status;
pub use wait::Ticket;
