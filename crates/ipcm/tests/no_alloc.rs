//! DESIGN §5: no heap allocation on read/write/peek once a pipe exists (wait
//! queues grow only to their high-water mark). A counting global allocator
//! watches 10,000 steady-state calls, blocking hand-offs included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use ipcm::{Caller, Fault, Ipcm, Kernel, PipeFlags, ProcessId, Progress, Status, UserAddr};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Each thread owns 256 bytes at addresses 0..256; wakes are counted, not
/// stored, so the hooks themselves never allocate.
struct Flat {
    memory: [spin::Mutex<[u8; 256]>; 2],
    wakes: AtomicUsize,
}

impl Kernel for Flat {
    type Thread = usize;

    fn copy_from_user(&self, t: &usize, src: UserAddr, dst: &mut [u8]) -> Result<(), Fault> {
        let memory = self.memory[*t].lock();
        dst.copy_from_slice(memory.get(src.0..src.0 + dst.len()).ok_or(Fault)?);
        Ok(())
    }

    fn copy_to_user(&self, t: &usize, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let mut memory = self.memory[*t].lock();
        memory
            .get_mut(dst.0..dst.0 + src.len())
            .ok_or(Fault)?
            .copy_from_slice(src);
        Ok(())
    }

    fn wake(&self, _: usize, status: Status) {
        assert_eq!(status, Status::Ok);
        self.wakes.fetch_add(1, Ordering::Relaxed);
    }

    fn process_of(&self, t: &usize) -> ProcessId {
        ProcessId(*t as u64 + 1)
    }
}

#[test]
fn steady_state_write_read_peek_never_allocate() {
    steady_state(PipeFlags::empty());
}

#[test]
fn steady_state_on_a_priority_pipe_never_allocates() {
    steady_state(PipeFlags::PRIORITY_MESSAGES);
}

fn steady_state(flags: PipeFlags) {
    let by_prio = flags.contains(PipeFlags::PRIORITY_MESSAGES);
    let kernel = Flat {
        memory: [spin::Mutex::new([0; 256]), spin::Mutex::new([0; 256])],
        wakes: AtomicUsize::new(0),
    };
    let ipcm: Ipcm<spin::Mutex<()>, Flat> = Ipcm::new(kernel);
    let pipe = ipcm
        .create(Caller::Kernel, Some("steady"), 64, 4, flags)
        .unwrap();
    let handle = ipcm.open(pipe).unwrap();
    let (writer, reader) = (0, 1);
    let (buf, len_out) = (UserAddr(0), UserAddr(128));

    let round = |count: &mut usize| {
        // Queue, peek and read through the id (registry lookup included)...
        assert!(matches!(
            ipcm.write(&writer, pipe, buf, 64),
            Ok(Progress::Done(_))
        ));
        assert_eq!(
            ipcm.peek(&reader, pipe, buf, len_out),
            Ok(Progress::Done(64))
        );
        assert_eq!(
            ipcm.read(&reader, pipe, buf, len_out),
            Ok(Progress::Done(64))
        );
        // ...and a blocking hand-off through a handle, in both directions.
        assert!(matches!(
            ipcm.read(&reader, &handle, buf, len_out),
            Ok(Progress::Blocked(_))
        ));
        assert!(matches!(ipcm.try_write(&writer, &handle, buf, 10), Ok(w) if w.handed_off));
        for prio in 0..4 {
            let prio = if by_prio { prio * 60 } else { 0 };
            let _ = ipcm.kernel_write_prio(&handle, b"fill", prio).unwrap();
        }
        assert!(matches!(
            ipcm.write(&writer, &handle, buf, 64),
            Ok(Progress::Blocked(_))
        ));
        assert_eq!(ipcm.try_read(&reader, &handle, buf, len_out), Ok(4));
        let mut sink = [0; 64];
        while ipcm.kernel_read(&handle, &mut sink).is_ok() {}
        *count += 6;
    };

    // Warm up: wait records and the pending table reach their
    // high-water marks.
    let mut calls = 0;
    round(&mut calls);
    COUNTING.with(|c| c.set(true));
    let mut calls = 0;
    while calls < 10_000 {
        round(&mut calls);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations in {calls} calls"
    );
    assert_eq!(
        ipcm.kernel().wakes.load(Ordering::Relaxed),
        2 * (calls / 6 + 1)
    );
}
