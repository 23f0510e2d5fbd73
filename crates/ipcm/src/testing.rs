//! A test kernel: processes with paged fake address spaces, threads with
//! priorities, and a record of every wake (feature `testing`).
//!
//! Faults are real: copying through an unmapped page, or writing a
//! read-only one, fails — after copying the pages before it, as a real
//! kernel's copy would, so the IPC manager cannot rely on a failed copy
//! having left memory untouched.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::kernel::{Fault, Kernel, Priority, ProcessId, UserAddr};
use crate::{Ipcm, Status};

/// Page size of the fake address spaces.
pub const PAGE_SIZE: usize = 4096;

/// A spinning raw lock for tests and examples.
pub type SpinLock = spin::Mutex<()>;

/// The manager type the test kernel plugs into.
pub type TestIpcm = Ipcm<SpinLock, TestKernel>;

/// A thread of the test kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub u32);

/// Access rights of a mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Readable only: writing faults.
    ReadOnly,
    /// Readable and writable.
    ReadWrite,
}

struct Page {
    bytes: Box<[u8; PAGE_SIZE]>,
    perm: Perm,
}

#[derive(Default)]
struct AddressSpace {
    pages: BTreeMap<usize, Page>,
}

impl AddressSpace {
    /// Visit each page-sized piece of `[va, va + len)`: `(page, offset in
    /// page, offset in buffer, length)`. Fails at the first missing page or
    /// on an address range that wraps.
    fn for_each_piece(
        &mut self,
        va: usize,
        len: usize,
        mut visit: impl FnMut(&mut Page, usize, usize, usize) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        va.checked_add(len - 1).ok_or(Fault)?;
        let mut done = 0;
        while done < len {
            let addr = va + done;
            let offset = addr % PAGE_SIZE;
            let piece = (PAGE_SIZE - offset).min(len - done);
            let page = self.pages.get_mut(&(addr / PAGE_SIZE)).ok_or(Fault)?;
            visit(page, offset, done, piece)?;
            done += piece;
        }
        Ok(())
    }
}

struct ThreadInfo {
    process: ProcessId,
    priority: Priority,
}

#[derive(Default)]
struct World {
    spaces: BTreeMap<ProcessId, AddressSpace>,
    threads: BTreeMap<ThreadId, ThreadInfo>,
    next_thread: u32,
    wakes: Vec<(ThreadId, Status)>,
}

impl World {
    fn space_of(&mut self, thread: ThreadId) -> Result<&mut AddressSpace, Fault> {
        let process = self.threads.get(&thread).ok_or(Fault)?.process;
        self.spaces.get_mut(&process).ok_or(Fault)
    }
}

/// The test kernel. Cheap to share by reference: `Ipcm<_, &TestKernel>`
/// works, as does owning it in the manager.
#[derive(Default)]
pub struct TestKernel {
    world: spin::Mutex<World>,
}

impl TestKernel {
    /// A kernel with no processes.
    pub fn new() -> Self {
        TestKernel::default()
    }

    /// A new thread in `process` (whose address space is created empty on
    /// first use).
    pub fn spawn(&self, process: ProcessId, priority: Priority) -> ThreadId {
        let mut world = self.world.lock();
        world.next_thread += 1;
        let thread = ThreadId(world.next_thread);
        world.spaces.entry(process).or_default();
        world
            .threads
            .insert(thread, ThreadInfo { process, priority });
        thread
    }

    /// Map zeroed pages covering `[va, va + len)` in `process` with `perm`
    /// (pages already mapped keep their bytes and get `perm`).
    pub fn map(&self, process: ProcessId, va: usize, len: usize, perm: Perm) {
        let mut world = self.world.lock();
        let space = world.spaces.entry(process).or_default();
        for page in va / PAGE_SIZE..(va + len).div_ceil(PAGE_SIZE) {
            space
                .pages
                .entry(page)
                .or_insert_with(|| Page {
                    bytes: Box::new([0; PAGE_SIZE]),
                    perm,
                })
                .perm = perm;
        }
    }

    /// Unmap the pages covering `[va, va + len)` in `process`.
    pub fn unmap(&self, process: ProcessId, va: usize, len: usize) {
        let mut world = self.world.lock();
        if let Some(space) = world.spaces.get_mut(&process) {
            for page in va / PAGE_SIZE..(va + len).div_ceil(PAGE_SIZE) {
                space.pages.remove(&page);
            }
        }
    }

    /// Write `bytes` at `va` in `process`, ignoring write protection (as a
    /// loader would). Panics on an unmapped page: a test setup error.
    pub fn poke(&self, process: ProcessId, va: usize, bytes: &[u8]) {
        let mut world = self.world.lock();
        let space = world.spaces.get_mut(&process).expect("no such process");
        space
            .for_each_piece(va, bytes.len(), |page, at, from, len| {
                page.bytes[at..at + len].copy_from_slice(&bytes[from..from + len]);
                Ok(())
            })
            .expect("poke into unmapped memory");
    }

    /// Read `len` bytes at `va` in `process`. Panics on an unmapped page.
    pub fn peek_memory(&self, process: ProcessId, va: usize, len: usize) -> Vec<u8> {
        let mut world = self.world.lock();
        let space = world.spaces.get_mut(&process).expect("no such process");
        let mut out = alloc::vec![0; len];
        space
            .for_each_piece(va, len, |page, at, to, len| {
                out[to..to + len].copy_from_slice(&page.bytes[at..at + len]);
                Ok(())
            })
            .expect("peek at unmapped memory");
        out
    }

    /// Read a native `usize` (a length written by the IPC manager).
    pub fn peek_usize(&self, process: ProcessId, va: usize) -> usize {
        let bytes = self.peek_memory(process, va, size_of::<usize>());
        usize::from_ne_bytes(bytes.try_into().expect("usize-sized"))
    }

    /// Every wake so far, in order.
    pub fn wakes(&self) -> Vec<(ThreadId, Status)> {
        self.world.lock().wakes.clone()
    }

    /// Every wake since the last call, in order.
    pub fn take_wakes(&self) -> Vec<(ThreadId, Status)> {
        core::mem::take(&mut self.world.lock().wakes)
    }
}

impl Kernel for TestKernel {
    type Thread = ThreadId;

    fn copy_from_user(
        &self,
        thread: &ThreadId,
        src: UserAddr,
        dst: &mut [u8],
    ) -> Result<(), Fault> {
        let mut world = self.world.lock();
        world
            .space_of(*thread)?
            .for_each_piece(src.0, dst.len(), |page, at, to, len| {
                dst[to..to + len].copy_from_slice(&page.bytes[at..at + len]);
                Ok(())
            })
    }

    fn copy_to_user(&self, thread: &ThreadId, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let mut world = self.world.lock();
        world
            .space_of(*thread)?
            .for_each_piece(dst.0, src.len(), |page, at, from, len| {
                if page.perm != Perm::ReadWrite {
                    return Err(Fault);
                }
                page.bytes[at..at + len].copy_from_slice(&src[from..from + len]);
                Ok(())
            })
    }

    fn wake(&self, thread: ThreadId, status: Status) {
        self.world.lock().wakes.push((thread, status));
    }

    fn process_of(&self, thread: &ThreadId) -> ProcessId {
        self.world
            .lock()
            .threads
            .get(thread)
            .map_or(ProcessId(u64::MAX), |info| info.process)
    }

    fn priority_of(&self, thread: &ThreadId) -> Priority {
        self.world
            .lock()
            .threads
            .get(thread)
            .map_or(Priority::default(), |info| info.priority)
    }
}
