//! DESIGN §8: never abort on memory. A global allocator that fails the
//! k-th allocation of one call, for every k the call makes, shows that each
//! allocation of `create`, a blocking write, read and peek is fallible: the
//! call returns `NoMemory` and nothing changed. A destroy frees the message
//! store at once, even while a handle is held (counted in bytes).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use ipcm::{
    Caller, Fault, Ipcm, Kernel, PipeFlags, PipeId, ProcessId, Progress, SelectGroup, SelectOp,
    Shared, Status, UserAddr,
};

/// Fails the allocation numbered `FAIL_AT` (0-based) of the current
/// thread's armed section; counts allocations and live bytes.
struct FailingAlloc;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static SEEN: Cell<usize> = const { Cell::new(0) };
    static FAIL_AT: Cell<Option<usize>> = const { Cell::new(None) };
}

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (tests run on
    /// several threads at once; each measures its own).
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

fn count_bytes(delta: isize) {
    LIVE_BYTES.with(|b| b.set(b.get() + delta));
}

/// Whether this allocation is the one to fail.
fn should_fail() -> bool {
    if !ARMED.with(Cell::get) {
        return false;
    }
    let seen = SEEN.with(|s| {
        let seen = s.get();
        s.set(seen + 1);
        seen
    });
    FAIL_AT.with(Cell::get) == Some(seen)
}

// SAFETY: forwards to the system allocator, or returns null (a legal
// allocation failure); only counts otherwise.
unsafe impl GlobalAlloc for FailingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count_bytes(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_bytes(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count_bytes(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: FailingAlloc = FailingAlloc;

/// Run `f` with the allocator armed to fail allocation `fail_at` (or none);
/// returns its result and how many allocations it made.
fn armed<T>(fail_at: Option<usize>, f: impl FnOnce() -> T) -> (T, usize) {
    SEEN.with(|s| s.set(0));
    FAIL_AT.with(|c| c.set(fail_at));
    ARMED.with(|a| a.set(true));
    let result = f();
    ARMED.with(|a| a.set(false));
    (result, SEEN.with(Cell::get))
}

/// Threads 0..4 with 256 bytes each; hooks never allocate.
struct Flat {
    memory: [spin::Mutex<[u8; 256]>; 4],
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

    fn wake(&self, _: usize, _: Status) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
    }

    fn process_of(&self, t: &usize) -> ProcessId {
        ProcessId(*t as u64 + 1)
    }
}

type FlatIpcm = Ipcm<spin::Mutex<()>, Flat>;

fn manager() -> FlatIpcm {
    Ipcm::new(Flat {
        memory: std::array::from_fn(|_| spin::Mutex::new([0; 256])),
        wakes: AtomicUsize::new(0),
    })
}

/// Fail each allocation of `call` in turn on a fresh manager prepared by
/// `setup`; every failure must be `NoMemory` and pass `unchanged`.
/// Returns how many allocations the successful call made.
fn fail_each_allocation<S, T: std::fmt::Debug>(
    setup: impl Fn() -> (FlatIpcm, S),
    call: impl Fn(&FlatIpcm, &S) -> Result<T, Status>,
    unchanged: impl Fn(&FlatIpcm, &S),
) -> usize {
    let (ipcm, state) = setup();
    let (result, total) = armed(None, || call(&ipcm, &state));
    assert!(result.is_ok(), "without failures: {result:?}");
    for k in 0..total {
        let (ipcm, state) = setup();
        let (result, _) = armed(Some(k), || call(&ipcm, &state));
        assert_eq!(
            result.err(),
            Some(Status::NoMemory),
            "allocation {k} of {total}"
        );
        unchanged(&ipcm, &state);
        // And the same call succeeds once memory is back.
        assert!(call(&ipcm, &state).is_ok(), "after failing allocation {k}");
    }
    total
}

#[test]
fn create_fails_cleanly_at_every_allocation() {
    let fresh = || (manager(), ());
    let create = |ipcm: &FlatIpcm, _: &()| {
        ipcm.create(Caller::Thread(&1), Some("name"), 64, 4, PipeFlags::empty())
    };
    let nothing_created = |ipcm: &FlatIpcm, _: &()| {
        assert_eq!(ipcm.pipe_count(), 0);
        assert_eq!(ipcm.lookup_by_name("name"), Err(Status::NotFound));
    };
    let total = fail_each_allocation(fresh, create, nothing_created);
    // Store (each slot holds its length), the index's name copy, name
    // index, slot list, free list, the by-id table's middle block and
    // chunk (the pipe's header is in the chunk: no allocation of its own).
    assert!(total >= 7, "{total} allocations");
    // A create into a slot freed by a destroy, and with another name there.
    let reuse = || {
        let ipcm = manager();
        let old = ipcm
            .create(Caller::Kernel, Some("a"), 8, 1, PipeFlags::empty())
            .unwrap();
        ipcm.destroy(Caller::Kernel, old).unwrap();
        ipcm.create(Caller::Kernel, Some("z"), 8, 1, PipeFlags::empty())
            .unwrap();
        (ipcm, ())
    };
    let only_z = |ipcm: &FlatIpcm, _: &()| {
        assert_eq!(ipcm.pipe_count(), 1);
        assert_eq!(ipcm.lookup_by_name("name"), Err(Status::NotFound));
        assert!(ipcm.lookup_by_name("z").is_ok());
    };
    fail_each_allocation(reuse, create, only_z);
}

fn pipe_with(queued: usize) -> (FlatIpcm, PipeId) {
    let ipcm = manager();
    let pipe = ipcm
        .create(Caller::Kernel, None, 16, 2, PipeFlags::empty())
        .unwrap();
    for _ in 0..queued {
        ipcm.kernel_write(pipe, b"queued").unwrap();
    }
    (ipcm, pipe)
}

fn blocked<T: std::fmt::Debug>(progress: Result<Progress<T>, Status>) -> Result<(), Status> {
    match progress? {
        Progress::Blocked(_) => Ok(()),
        Progress::Done(done) => panic!("expected to block, done: {done:?}"),
    }
}

fn no_waiter(ipcm: &FlatIpcm, pipe: &PipeId, queued: usize) {
    assert!(!ipcm.is_pending(&0));
    let info = ipcm.info(*pipe).unwrap();
    assert_eq!(
        (
            info.queued,
            info.pending_readers,
            info.pending_peekers,
            info.pending_writers
        ),
        (queued, 0, 0, 0)
    );
    assert_eq!(ipcm.kernel().wakes.load(Ordering::Relaxed), 0);
}

#[test]
fn blocking_read_peek_and_write_fail_cleanly_at_every_allocation() {
    let (buf, len) = (UserAddr(0), UserAddr(128));
    let reads = fail_each_allocation(
        || pipe_with(0),
        |ipcm, pipe| blocked(ipcm.read(&0, *pipe, buf, len)),
        |ipcm, pipe| no_waiter(ipcm, pipe, 0),
    );
    let peeks = fail_each_allocation(
        || pipe_with(0),
        |ipcm, pipe| blocked(ipcm.peek(&0, *pipe, buf, len)),
        |ipcm, pipe| no_waiter(ipcm, pipe, 0),
    );
    let writes = fail_each_allocation(
        || pipe_with(2),
        |ipcm, pipe| blocked(ipcm.write(&0, *pipe, buf, 8)),
        |ipcm, pipe| no_waiter(ipcm, pipe, 2),
    );
    // The first block on a pipe grows its wait records (the pending table
    // keeps the first thread of each of its shards without allocating).
    assert!(
        reads >= 1 && peeks >= 1 && writes >= 1,
        "{reads} {peeks} {writes}"
    );
}

/// With 300 threads blocked, the pending table's 64 shards hold about
/// five threads each, so a further block often grows a shard's hash table
/// besides the pipe's wait records (a second allocation point). Each
/// manager seeds its hash anew, so whether it does varies: fail each of
/// the first two allocations on many fresh managers; every failure is
/// `NoMemory` with nothing changed, and the table's own failure is met.
#[test]
fn a_block_into_a_crowded_pending_table_fails_cleanly_at_every_allocation() {
    let (buf, len) = (UserAddr(0), UserAddr(128));
    let crowded = || {
        let (ipcm, pipe) = pipe_with(0);
        let other = ipcm
            .create(Caller::Kernel, None, 16, 2, PipeFlags::empty())
            .unwrap();
        for thread in 1000..1300 {
            blocked(ipcm.read(&thread, other, buf, len)).unwrap();
        }
        (ipcm, pipe)
    };
    let mut table_failures = 0;
    for _ in 0..60 {
        for k in 0..2 {
            let (ipcm, pipe) = crowded();
            let (result, _) = armed(Some(k), || blocked(ipcm.read(&0, pipe, buf, len)));
            match result {
                Ok(()) => continue,
                Err(status) => assert_eq!(status, Status::NoMemory),
            }
            table_failures += usize::from(k == 1);
            assert!(!ipcm.is_pending(&0));
            assert_eq!(ipcm.info(pipe).unwrap().pending_readers, 0);
            assert!(ipcm.is_pending(&1000) && ipcm.is_pending(&1299));
            assert!(
                blocked(ipcm.read(&0, pipe, buf, len)).is_ok(),
                "after failing {k}"
            );
        }
    }
    assert!(table_failures > 0, "no block grew the pending table");
}

#[test]
fn completing_calls_never_allocate() {
    let (ipcm, pipe) = pipe_with(1);
    let (buf, len) = (UserAddr(0), UserAddr(128));
    let ((), count) = armed(Some(0), || {
        assert!(matches!(
            ipcm.write(&0, pipe, buf, 8),
            Ok(Progress::Done(_))
        ));
        assert!(matches!(
            ipcm.peek(&1, pipe, buf, len),
            Ok(Progress::Done(6))
        ));
        assert!(matches!(
            ipcm.read(&1, pipe, buf, len),
            Ok(Progress::Done(6))
        ));
        assert_eq!(ipcm.try_read(&1, pipe, buf, len), Ok(8));
        assert_eq!(ipcm.try_read(&1, pipe, buf, len), Err(Status::Empty));
    });
    assert_eq!(count, 0);
}

#[test]
fn destroy_frees_the_store_while_a_handle_is_held() {
    let ipcm = manager();
    // A first pipe allocates the by-id table's first chunk, which stays.
    let warm_up = ipcm
        .create(Caller::Kernel, None, 8, 1, PipeFlags::empty())
        .unwrap();
    ipcm.destroy(Caller::Kernel, warm_up).unwrap();
    let before = live_bytes();
    let pipe = ipcm
        .create(Caller::Kernel, None, 4096, 256, PipeFlags::empty())
        .unwrap();
    let handle = ipcm.open(pipe).unwrap();
    ipcm.kernel_write(&handle, b"queued").unwrap();
    let with_store = live_bytes() - before;
    assert!(with_store > 4096 * 256, "{with_store} bytes");
    ipcm.destroy(Caller::Kernel, pipe).unwrap();
    let after = live_bytes() - before;
    // What is left: the registry's tables, a few bytes, not the 1 MiB
    // store (the header stays in the by-id table, allocated before).
    assert!(after < 4096, "{after} bytes still allocated after destroy");
    assert_eq!(ipcm.kernel_write(&handle, b"late"), Err(Status::Destroyed));
}

#[test]
fn a_blocking_select_fails_cleanly_at_every_allocation() {
    let (buf, len) = (UserAddr(0), UserAddr(128));
    let two_pipes = || {
        let (ipcm, first) = pipe_with(0);
        let second = ipcm
            .create(Caller::Kernel, None, 16, 2, PipeFlags::empty())
            .unwrap();
        let group = SelectGroup::shared().unwrap();
        (ipcm, (first, second, group))
    };
    let select = |ipcm: &FlatIpcm,
                  (first, second, group): &(PipeId, PipeId, Shared<SelectGroup>)| {
        let ops = [
            SelectOp::Read {
                pipe: *first,
                buf,
                len_out: len,
            },
            SelectOp::Read {
                pipe: *second,
                buf,
                len_out: len,
            },
        ];
        match ipcm.select(&0, group, &ops)? {
            Progress::Blocked(_) => Ok(()),
            Progress::Done(done) => panic!("expected to block, done: {done:?}"),
        }
    };
    let nothing_waits =
        |ipcm: &FlatIpcm, (first, second, _): &(PipeId, PipeId, Shared<SelectGroup>)| {
            no_waiter(ipcm, first, 0);
            no_waiter(ipcm, second, 0);
        };
    let total = fail_each_allocation(two_pipes, select, nothing_waits);
    // Each member's pipe grows its wait records (a thread alone in its
    // pending shard takes the shard's inline slot: no allocation there).
    assert!(total >= 2, "{total} allocations");
}

#[test]
fn a_select_group_record_is_allocated_fallibly() {
    let (group, _) = armed(Some(0), SelectGroup::shared);
    assert_eq!(group.err(), Some(Status::NoMemory));
    assert!(SelectGroup::shared().is_ok());
}
