//! The fast path (an operation that needs no waiting) does not allocate.
//! This test binary counts every allocation, per thread (the test harness
//! allocates on its own threads meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use ipcm_host::{Blackboard, Ipc, MessagePipe, OnFull, TokenSemaphore};

struct Counting;

std::thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // A const-initialized `Cell` needs no allocation and no destructor.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
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
    // The counter works: this allocates once.
    let before = allocations();
    drop(std::hint::black_box(Box::new(1)));
    assert_eq!(allocations() - before, 1);
    // Warm up: the thread's waiter record is made on its first call.
    pipe.write(b"warm").unwrap();
    pipe.read(&mut buf).unwrap();

    let before = allocations();
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
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "the fast path allocated");
}

/// Poll `future` to completion on this thread; it must not wait.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the future had to wait"),
    }
}

#[test]
fn futures_that_need_no_waiting_do_not_allocate() {
    let ipc = Ipc::new();
    let pipe = ipc.pipe(64, 4).create().unwrap();
    let typed: MessagePipe<[u32; 8]> = MessagePipe::create(&ipc, None, 2).unwrap();
    let board: Blackboard<[u64; 4]> = Blackboard::create(&ipc, None).unwrap();
    let mut buf = [0; 64];
    pipe.write(b"warm").unwrap();
    pipe.read(&mut buf).unwrap();
    board.publish(&[1; 4]).unwrap();

    let before = allocations();
    for round in 0..1000_u64 {
        let msg = round.to_ne_bytes();
        ready(pipe.write_async(&msg)).unwrap();
        ready(pipe.peek_async(&mut buf)).unwrap();
        ready(pipe.read_async(&mut buf)).unwrap();
        ready(typed.send_async(&[7; 8])).unwrap();
        assert_eq!(ready(typed.recv_async()), Ok([7; 8]));
        ready(board.wait_newer_async(0)).unwrap();
    }
    assert_eq!(
        allocations() - before,
        0,
        "a future that need not wait allocated"
    );
}
