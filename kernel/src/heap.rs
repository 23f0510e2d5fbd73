//! The kernel heap: a fixed area in `.bss` managed by `linked_list_allocator`.
//! Process and thread tables, page-table bookkeeping and the IPCM's pipes
//! live here; user memory comes from the frame allocator instead.

use core::cell::UnsafeCell;
use linked_list_allocator::LockedHeap;

const HEAP_SIZE: usize = 8 * 1024 * 1024;

#[repr(C, align(4096))]
struct HeapArea(UnsafeCell<[u8; HEAP_SIZE]>);

// SAFETY: the area is handed to the allocator once (in `init`) and only
// ever touched through it afterwards.
unsafe impl Sync for HeapArea {}

static HEAP_AREA: HeapArea = HeapArea(UnsafeCell::new([0; HEAP_SIZE]));

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Hands the heap area to the allocator. Call once, first thing at boot.
pub fn init() {
    // SAFETY: called once at boot before any allocation; the area is static,
    // unused by anything else, and large enough for HEAP_SIZE bytes.
    unsafe {
        ALLOCATOR
            .lock()
            .init(HEAP_AREA.0.get().cast::<u8>(), HEAP_SIZE)
    };
}

/// Heap bytes allocated now (what the allocator handed out, with its
/// rounding), for the accounting in [`crate::account`].
pub fn used() -> usize {
    ALLOCATOR.lock().used()
}
