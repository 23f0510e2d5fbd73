//! The one module with unsafe code: the IPC manager's copies to and from the
//! buffers a thread lent for the duration of one IPC call.
//!
//! A thread that enters a call lends its buffer(s) through a [`Lease`]: the
//! addresses and lengths are recorded in the thread's waiter record, and the
//! [`LeaseGuard`] that holds the borrow clears the record when dropped.
//! [`UserAddr`]s are allegations: a copy hook dereferences an address only
//! if the whole range lies inside what the thread lent for the current call,
//! so even a core bug could not make these copies touch other memory.
//!
//! Why the lent memory is alive when the IPC manager copies: the manager
//! copies for a thread only during that thread's own call (fast path) or
//! while the thread's operation is pending; a thread with a pending
//! operation waits for its wake before it returns (and drops the guard),
//! and the manager performs no copy for an operation after waking it.

use std::marker::PhantomData;
use std::mem::size_of;

use ipcm::{Fault, UserAddr};

use crate::sync::{AtomicUsize, Ordering};

/// What a thread lent for its current call. `len_out == 0` means a source
/// (a message to write, readable); otherwise a sink (a receive buffer and a
/// `usize` for the length, writable). Both 0 means nothing is lent.
pub(crate) struct Lease {
    /// The lent buffer's first byte.
    buf: AtomicUsize,
    /// One past the lent buffer's last byte.
    buf_end: AtomicUsize,
    len_out: AtomicUsize,
    /// A lent `u64` for a sequence number (0: none), with a sink.
    seq_out: AtomicUsize,
    /// A select's regions (a `*const Region` array on the selecting
    /// thread's stack; 0: none) and how many.
    regions: AtomicUsize,
    regions_len: AtomicUsize,
}

/// One buffer a select lends: `len` bytes at `addr`, writable (a receive
/// buffer or length word) or readable (a message to write).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Region {
    pub(crate) addr: usize,
    pub(crate) len: usize,
    pub(crate) writable: bool,
}

impl Region {
    /// A region for `bytes`, to be read by the IPC manager.
    pub(crate) fn source(bytes: &[u8]) -> Region {
        Region {
            addr: bytes.as_ptr() as usize,
            len: bytes.len(),
            writable: false,
        }
    }

    /// A region for `bytes`, to be written by the IPC manager.
    pub(crate) fn sink(bytes: &mut [u8]) -> Region {
        Region {
            addr: bytes.as_mut_ptr() as usize,
            len: bytes.len(),
            writable: true,
        }
    }

    fn covers(&self, addr: usize, len: usize) -> bool {
        self.addr != 0
            && addr >= self.addr
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.addr + self.len)
    }
}

/// Keeps a lent buffer borrowed; clears the lease when dropped.
pub(crate) struct LeaseGuard<'a> {
    lease: &'a Lease,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl Drop for LeaseGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Every word: `copy_to` accepts the length and sequence words by
        // address alone, so one left behind would stay writable after the
        // borrow ended.
        self.lease.buf.store(0, Ordering::Relaxed);
        self.lease.len_out.store(0, Ordering::Relaxed);
        self.lease.seq_out.store(0, Ordering::Relaxed);
        self.lease.regions.store(0, Ordering::Relaxed);
    }
}

impl Lease {
    pub(crate) fn new() -> Lease {
        Lease {
            buf: AtomicUsize::new(0),
            buf_end: AtomicUsize::new(0),
            len_out: AtomicUsize::new(0),
            seq_out: AtomicUsize::new(0),
            regions: AtomicUsize::new(0),
            regions_len: AtomicUsize::new(0),
        }
    }

    /// [`lend_sink`](Self::lend_sink) plus a `u64` for the message's
    /// sequence number; returns its address too.
    pub(crate) fn lend_sink_seq<'a>(
        &'a self,
        buf: &'a mut [u8],
        len_out: &'a mut usize,
        seq_out: &'a mut u64,
    ) -> (LeaseGuard<'a>, UserAddr, UserAddr, UserAddr) {
        let seq_addr = std::ptr::from_mut(seq_out) as usize;
        self.seq_out.store(seq_addr, Ordering::Relaxed);
        let (guard, buf, len) = self.lend_sink(buf, len_out);
        (guard, buf, len, UserAddr(seq_addr))
    }

    /// Lend a select's `regions` (each borrowed by the caller for `'a`).
    pub(crate) fn lend_regions<'a>(&'a self, regions: &'a [Region]) -> LeaseGuard<'a> {
        self.regions_len.store(regions.len(), Ordering::Relaxed);
        self.regions
            .store(regions.as_ptr() as usize, Ordering::Relaxed);
        self.guard()
    }

    /// Whether a lent select region covers `[addr, addr + len)` with the
    /// needed permission.
    fn region_covers(&self, addr: usize, len: usize, write: bool) -> bool {
        let table = self.regions.load(Ordering::Relaxed);
        if table == 0 {
            return false;
        }
        let count = self.regions_len.load(Ordering::Relaxed);
        // SAFETY: `lend_regions` stored a slice of `count` regions that its
        // guard keeps borrowed until the lending thread's call returns,
        // after every copy for that call (module docs), or
        // `lend_regions_unguarded` one its caller keeps (see its contract);
        // nobody writes it meanwhile.
        let regions = unsafe { std::slice::from_raw_parts(table as *const Region, count) };
        regions
            .iter()
            .any(|region| region.writable == write && region.covers(addr, len))
    }

    /// Lend `msg` to be read by the IPC manager; returns its address.
    ///
    /// The stores are relaxed: another thread reads them only after taking
    /// the pipe lock that this thread's call takes after lending.
    #[inline]
    pub(crate) fn lend_source<'a>(&'a self, msg: &'a [u8]) -> (LeaseGuard<'a>, UserAddr) {
        let addr = msg.as_ptr() as usize;
        // A slice never wraps around the address space.
        self.buf_end.store(addr + msg.len(), Ordering::Relaxed);
        self.len_out.store(0, Ordering::Relaxed);
        self.buf.store(addr, Ordering::Relaxed);
        (self.guard(), UserAddr(addr))
    }

    /// Lend `buf` and `len_out` to be written by the IPC manager; returns
    /// their addresses.
    #[inline]
    pub(crate) fn lend_sink<'a>(
        &'a self,
        buf: &'a mut [u8],
        len_out: &'a mut usize,
    ) -> (LeaseGuard<'a>, UserAddr, UserAddr) {
        let addr = buf.as_mut_ptr() as usize;
        let len_addr = std::ptr::from_mut(len_out) as usize;
        self.buf_end.store(addr + buf.len(), Ordering::Relaxed);
        self.len_out.store(len_addr, Ordering::Relaxed);
        self.buf.store(addr, Ordering::Relaxed);
        (self.guard(), UserAddr(addr), UserAddr(len_addr))
    }

    #[inline]
    fn guard(&self) -> LeaseGuard<'_> {
        LeaseGuard {
            lease: self,
            _borrow: PhantomData,
        }
    }

    /// Whether `[addr, addr + len)` lies inside the lent buffer.
    #[inline]
    fn covers(&self, addr: usize, len: usize) -> bool {
        let buf = self.buf.load(Ordering::Relaxed);
        let end = self.buf_end.load(Ordering::Relaxed);
        // `buf <= addr <= end`, so `end - addr` cannot underflow, and
        // comparing `len` with it cannot overflow.
        buf != 0 && addr >= buf && addr <= end && len <= end - addr
    }

    /// Copy from the lent source at `src` into `dst`.
    #[inline]
    pub(crate) fn copy_from(&self, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        if self.len_out.load(Ordering::Relaxed) != 0 || !self.covers(src.0, dst.len()) {
            return self.copy_from_region(src, dst);
        }
        // SAFETY: `covers` checked that the range lies inside a slice lent
        // by `lend_source`, whose guard keeps it borrowed (shared, so
        // nobody writes it) until the lending thread's call returns, which
        // is after every copy the IPC manager makes for that call (module
        // docs). `dst` is the manager's own memory, so they do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.0 as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copy `src` into the lent sink at `dst` (the buffer or the length).
    #[inline]
    pub(crate) fn copy_to(&self, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let len_out = self.len_out.load(Ordering::Relaxed);
        if len_out == 0 {
            return self.copy_to_region(dst, src);
        }
        let is_len = dst.0 == len_out && src.len() == size_of::<usize>();
        let seq_out = self.seq_out.load(Ordering::Relaxed);
        if seq_out != 0 && dst.0 == seq_out && src.len() == size_of::<u64>() {
            // SAFETY: `seq_out` is the `u64` lent by `lend_sink_seq` (or by
            // `lend_unguarded_seq`, see its contract), kept
            // borrowed by its guard as the buffer is (see below).
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.0 as *mut u8, src.len()) };
            return Ok(());
        }
        if !is_len && !self.covers(dst.0, src.len()) {
            return self.copy_to_region(dst, src);
        }
        // Why the copies below are sound: the range is the lent `usize` or
        // lies inside the lent buffer; both come from `&mut` borrows held by
        // the guard until the lending thread's call returns, after every
        // copy for that call (module docs), and that thread does not touch
        // them meanwhile. At most one copy runs at a time: copies for a call
        // happen under the lock of the one pipe it waits on. `src` is the
        // manager's memory.
        if is_len {
            // SAFETY: see above; `is_len` checked that `src` is exactly one
            // `usize` long. A constant length makes this a move, not a call.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), dst.0 as *mut u8, size_of::<usize>());
            };
        } else {
            // SAFETY: see above.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.0 as *mut u8, src.len()) };
        }
        Ok(())
    }

    /// [`copy_from`](Self::copy_from) through a select's readable region.
    #[cold]
    fn copy_from_region(&self, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        if !self.region_covers(src.0, dst.len(), false) {
            return Err(Fault);
        }
        // SAFETY: the range lies inside a region lent by `lend_regions`
        // from a shared borrow its guard holds until the lending thread's
        // call returns, after every copy for it; `dst` is the manager's.
        unsafe { std::ptr::copy_nonoverlapping(src.0 as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// [`copy_to`](Self::copy_to) through a select's writable region.
    #[cold]
    fn copy_to_region(&self, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        if !self.region_covers(dst.0, src.len(), true) {
            return Err(Fault);
        }
        // SAFETY: the range lies inside a region lent by `lend_regions`
        // from a `&mut` borrow its guard holds until the lending thread's
        // call returns, after every copy for it (only one member of a
        // select is ever copied to, under one pipe lock); `src` is the
        // manager's.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.0 as *mut u8, src.len()) };
        Ok(())
    }
}

/// Leases of memory no borrow guards: what a future of [`crate::asynk`]
/// lends for an operation that stays pending across polls.
impl Lease {
    /// Lend `buf_len` bytes at `buf`: readable by the IPC manager when
    /// `len_out` is `None` (a source), writable with a `usize` length at
    /// `len_out` otherwise (a sink). Returns the buffer's (and the length's)
    /// address.
    ///
    /// # Safety
    /// The memory stays allocated and is neither read nor written by anyone
    /// else from now until the IPC manager can no longer copy for the call:
    /// the call returned without blocking, or its operation's wake came.
    /// [`crate::asynk`]'s records own the memory they lend, so it lives as
    /// long as the IPC manager can name the record.
    pub(crate) unsafe fn lend_unguarded(
        &self,
        buf: *mut u8,
        buf_len: usize,
        len_out: Option<*mut u8>,
    ) -> (UserAddr, UserAddr) {
        let addr = buf as usize;
        let len_addr = len_out.map_or(0, |p| p as usize);
        // A lent allocation never wraps around the address space.
        self.buf_end.store(addr + buf_len, Ordering::Relaxed);
        self.len_out.store(len_addr, Ordering::Relaxed);
        self.seq_out.store(0, Ordering::Relaxed);
        // A record that served a select before lends no regions now.
        self.regions.store(0, Ordering::Relaxed);
        self.buf.store(addr, Ordering::Relaxed);
        (UserAddr(addr), UserAddr(len_addr))
    }

    /// Lend the `count` regions at `regions` (a select's, see
    /// [`lend_regions`](Self::lend_regions)) and nothing else.
    ///
    /// # Safety
    /// As [`lend_unguarded`](Self::lend_unguarded), for the region table
    /// and every region in it.
    pub(crate) unsafe fn lend_regions_unguarded(&self, regions: *const Region, count: usize) {
        self.buf.store(0, Ordering::Relaxed);
        self.len_out.store(0, Ordering::Relaxed);
        self.seq_out.store(0, Ordering::Relaxed);
        self.regions_len.store(count, Ordering::Relaxed);
        self.regions.store(regions as usize, Ordering::Relaxed);
    }

    /// Also lend the `u64` at `seq_out` (writable), after
    /// [`lend_unguarded`](Self::lend_unguarded) lent a sink; returns its
    /// address.
    ///
    /// # Safety
    /// As `lend_unguarded`, for the 8 bytes at `seq_out`.
    pub(crate) unsafe fn lend_unguarded_seq(&self, seq_out: *mut u8) -> UserAddr {
        let addr = seq_out as usize;
        self.seq_out.store(addr, Ordering::Relaxed);
        UserAddr(addr)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn nothing_lent_stays_writable_or_readable_after_the_guard_drops() {
        let lease = Lease::new();
        let mut buf = [0_u8; 8];
        let mut len = 0_usize;
        let (guard, dst, len_out) = lease.lend_sink(&mut buf, &mut len);
        assert_eq!(lease.copy_to(len_out, &3_usize.to_ne_bytes()), Ok(()));
        assert_eq!(lease.copy_to(dst, &[1, 2, 3]), Ok(()));
        drop(guard);
        assert_eq!(lease.copy_to(len_out, &5_usize.to_ne_bytes()), Err(Fault));
        assert_eq!(lease.copy_to(dst, &[9]), Err(Fault));
        assert_eq!((len, &buf[..3]), (3, &[1, 2, 3][..]));

        let msg = [7_u8; 4];
        let (guard, src) = lease.lend_source(&msg);
        let mut copy = [0_u8; 4];
        assert_eq!(lease.copy_from(src, &mut copy), Ok(()));
        drop(guard);
        assert_eq!(lease.copy_from(src, &mut copy), Err(Fault));
        assert_eq!(lease.copy_to(len_out, &5_usize.to_ne_bytes()), Err(Fault));
    }

    #[test]
    fn only_ranges_inside_the_lent_buffer_are_copied() {
        let lease = Lease::new();
        let msg = [1_u8, 2, 3, 4];
        let (_guard, src) = lease.lend_source(&msg);
        let mut two = [0_u8; 2];
        assert_eq!(lease.copy_from(UserAddr(src.0 + 2), &mut two), Ok(()));
        assert_eq!(two, [3, 4]);
        assert_eq!(lease.copy_from(UserAddr(src.0 + 3), &mut two), Err(Fault));
        assert_eq!(lease.copy_from(UserAddr(src.0 - 1), &mut two), Err(Fault));
        assert_eq!(lease.copy_from(UserAddr(src.0 + 4), &mut []), Ok(()));
        assert_eq!(lease.copy_from(UserAddr(src.0 + 5), &mut []), Err(Fault));
        assert_eq!(lease.copy_from(UserAddr(usize::MAX), &mut two), Err(Fault));
        // A source is never written.
        assert_eq!(lease.copy_to(src, &[9]), Err(Fault));
    }
}
