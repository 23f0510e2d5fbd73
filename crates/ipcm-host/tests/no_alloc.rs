//! The fast path (an operation that needs no waiting) does not allocate.
//! This test binary counts every allocation of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ipcm_host::{Blackboard, Ipc, MessagePipe, OnFull, TokenSemaphore};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn operations_that_need_no_waiting_do_not_allocate() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(64, 4).create().unwrap();
    let discard = ipc
        .pipe(64, 1)
        .on_full(OnFull::DiscardOldest)
        .create()
        .unwrap();
    let board: Blackboard<[u64; 4]> = Blackboard::create(&ipc, None).unwrap();
    let semaphore = TokenSemaphore::create(&ipc, None, 2).unwrap();
    let typed: MessagePipe<[u32; 8]> = MessagePipe::create(&ipc, None, 2).unwrap();
    let mut buf = [0; 64];
    // Warm up: the thread's waiter record is made on its first call.
    pipe.write(b"warm").unwrap();
    pipe.read(&mut buf).unwrap();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for round in 0..1000_u64 {
        let msg = round.to_ne_bytes();
        pipe.write(&msg).unwrap();
        pipe.try_write(&msg).unwrap();
        pipe.write_timeout(&msg, Duration::from_secs(1)).unwrap();
        pipe.peek(&mut buf).unwrap();
        pipe.try_peek(&mut buf).unwrap();
        pipe.read(&mut buf).unwrap();
        pipe.try_read(&mut buf).unwrap();
        pipe.read_timeout(&mut buf, Duration::from_secs(1)).unwrap();
        pipe.try_read(&mut buf).unwrap_err(); // Empty: errors do not allocate either
        discard.write(&msg).unwrap();
        board.publish(&[round; 4]).unwrap();
        board.latest().unwrap();
        drop(semaphore.acquire().unwrap());
        typed.send(&[7; 8]).unwrap();
        typed.recv().unwrap();
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocations, 0, "the fast path allocated");
}
