//! The core on its own: a kernel whose hooks do nothing but the copies, for
//! measuring what the IPC manager itself costs.

use core::hint::black_box;
use std::time::{Duration, Instant};

use ipcm::{
    Caller, Fault, Ipcm, Kernel, PipeFlags, PipeId, PipeRef, ProcessId, Progress, Status, UserAddr,
};

/// The message every write copies in (as from a user buffer).
static SOURCE: [u8; 4096] = [0xA5; 4096];

/// Hooks that copy from a static buffer, discard what they would copy out
/// (through `black_box`, so the work is not optimised away) and count wakes.
#[derive(Default)]
pub struct NoopKernel;

impl Kernel for NoopKernel {
    type Thread = u32;

    fn copy_from_user(&self, _: &u32, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        let src = SOURCE.get(src.0..src.0 + dst.len()).ok_or(Fault)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn copy_to_user(&self, _: &u32, _: UserAddr, src: &[u8]) -> Result<(), Fault> {
        black_box(src);
        Ok(())
    }

    fn wake(&self, thread: u32, status: Status) {
        let _ = black_box((thread, status));
    }

    fn process_of(&self, thread: &u32) -> ProcessId {
        ProcessId(u64::from(*thread))
    }
}

/// The core with a spinlock, as a kernel would build it.
pub type CoreIpcm = Ipcm<spin::Mutex<()>, NoopKernel>;

/// A manager with one 64 B × 64 pipe, its id and a handle.
pub fn core_fixture(msg_size: usize) -> (CoreIpcm, PipeId, PipeRef<spin::Mutex<()>, NoopKernel>) {
    let ipcm = CoreIpcm::new(NoopKernel);
    let id = ipcm
        .create(Caller::Kernel, None, msg_size, 64, PipeFlags::empty())
        .expect("create");
    let handle = ipcm.open(id).expect("open");
    (ipcm, id, handle)
}

/// One uncontended write + read of `len` bytes through a handle. As the
/// crossbeam-channel harness (`callgrind_crossbeam`) does: each result is
/// checked (a failure panics, out of line) and the length read goes
/// through `black_box`.
#[inline]
pub fn write_read(ipcm: &CoreIpcm, pipe: &PipeRef<spin::Mutex<()>, NoopKernel>, len: usize) {
    expect_ok(ipcm.try_write(&1, pipe, UserAddr(0), len).is_ok());
    let read = ipcm.try_read(&2, pipe, UserAddr(0), UserAddr(0));
    expect_ok(read == Ok(len));
    let _ = black_box(read);
}

/// Panic (out of line) unless `ok`: a harness's check of a result.
#[inline(always)]
fn expect_ok(ok: bool) {
    #[cold]
    #[inline(never)]
    fn failed() -> ! {
        panic!("an uncontended write or read failed");
    }
    if !ok {
        failed();
    }
}

/// The kernel hook calls of one write + read of `slot.len()` bytes, and
/// nothing else: the message copied in from the writer, then out to the
/// reader with its length. What the core costs is a write + read minus
/// this.
#[inline]
pub fn copies_of_write_read(kernel: &NoopKernel, slot: &mut [u8]) {
    let copied_in = kernel.copy_from_user(&1, UserAddr(0), black_box(&mut *slot));
    let copied_out = kernel.copy_to_user(&2, UserAddr(0), black_box(&*slot));
    let len_out = kernel.copy_to_user(&2, UserAddr(0), &slot.len().to_ne_bytes());
    let _ = black_box((copied_in, copied_out, len_out));
}

/// The kernel's blocking round: thread 2 reads the empty pipe and blocks,
/// then thread 1's write hands its `len` bytes straight to it and wakes it
/// (the no-op kernel's wake only counts). A block, a hand-off and a wake.
#[inline]
pub fn block_wake(ipcm: &CoreIpcm, id: PipeId, len: usize) {
    let blocked = ipcm.read(&2, id, UserAddr(0), UserAddr(0));
    debug_assert!(matches!(blocked, Ok(Progress::Blocked(_))));
    let written = ipcm.write(&1, id, UserAddr(0), len);
    debug_assert!(matches!(written, Ok(Progress::Done(w)) if w.handed_off));
    let _ = black_box((blocked, written));
}

/// One uncontended write + read of `len` bytes by id (registry lookup).
#[inline]
pub fn write_read_by_id(ipcm: &CoreIpcm, id: PipeId, len: usize) {
    expect_ok(ipcm.try_write(&1, id, UserAddr(0), len).is_ok());
    let read = ipcm.try_read(&2, id, UserAddr(0), UserAddr(0));
    expect_ok(read == Ok(len));
    let _ = black_box(read);
}

/// Nanoseconds per call of `op`, timed over `iterations` calls.
pub fn ns_per_op(iterations: u64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    nanos(start.elapsed()) / iterations as f64
}

fn nanos(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e9
}

/// Cost of a by-id write + read of 64 B while `pipes` pipes exist:
/// `(one hot pipe, calls spread over all pipes)`. The first shows the
/// algorithm (O(1) lookup); the second adds the cache misses of touching
/// a different pipe's memory each call.
pub fn cost_with_pipes(pipes: usize, iterations: u64) -> (f64, f64) {
    let ipcm = CoreIpcm::new(NoopKernel);
    let ids: Vec<PipeId> = (0..pipes)
        .map(|_| {
            ipcm.create(Caller::Kernel, None, 64, 4, PipeFlags::empty())
                .expect("create")
        })
        .collect();
    let hot = ids[ids.len() / 2];
    let hot_cost = ns_per_op(iterations, || write_read_by_id(&ipcm, hot, 64));
    let mut next = 0;
    let spread_cost = ns_per_op(iterations, || {
        write_read_by_id(&ipcm, ids[next], 64);
        next = (next + 7919) % ids.len();
    });
    (hot_cost, spread_cost)
}

/// Cost of a write + read of 64 B while `waiters` threads are blocked
/// reading other pipes (one pipe per 100 waiters).
pub fn cost_with_waiters(waiters: u32, iterations: u64) -> f64 {
    let (ipcm, _, pipe) = core_fixture(64);
    let others: Vec<PipeId> = (0..waiters.div_ceil(100))
        .map(|_| {
            ipcm.create(Caller::Kernel, None, 64, 4, PipeFlags::empty())
                .expect("create")
        })
        .collect();
    for thread in 0..waiters {
        let other = others[(thread / 100) as usize];
        let blocked = ipcm.read(&(1000 + thread), other, UserAddr(0), UserAddr(0));
        assert!(matches!(blocked, Ok(Progress::Blocked(_))));
    }
    ns_per_op(iterations, || write_read(&ipcm, &pipe, 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_noop_fixture_moves_messages() {
        let (ipcm, id, pipe) = core_fixture(64);
        write_read(&ipcm, &pipe, 64);
        write_read_by_id(&ipcm, id, 64);
        assert_eq!(ipcm.info(id).unwrap().read, 2);
        block_wake(&ipcm, id, 64);
        let info = ipcm.info(id).unwrap();
        assert_eq!((info.written, info.pending_readers), (3, 0), "handed off");
        assert!(cost_with_pipes(10, 10).0 > 0.0);
        assert!(cost_with_waiters(150, 10) > 0.0);
        let mut slot = [0u8; 64];
        copies_of_write_read(ipcm.kernel(), &mut slot);
        assert_eq!(slot, [0xA5; 64], "the message was copied in");
    }
}
