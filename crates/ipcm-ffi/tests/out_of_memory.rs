//! DESIGN §2 through the C ABI: `ipcm_select_group_new` returns NULL when
//! the allocator refuses, instead of aborting (it used `Arc::new`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ipcm_ffi::{ipcm_select_group_free, ipcm_select_group_new};

/// Fails every allocation of the current thread while armed.
struct RefusingAlloc;

thread_local! {
    static REFUSE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator, or returns null (a legal
// allocation failure).
unsafe impl GlobalAlloc for RefusingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if REFUSE.with(Cell::get) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: RefusingAlloc = RefusingAlloc;

#[test]
fn a_select_group_without_memory_is_null() {
    REFUSE.with(|r| r.set(true));
    let group = ipcm_select_group_new();
    REFUSE.with(|r| r.set(false));
    assert!(group.is_null(), "NULL when the allocator refuses");
    let group = ipcm_select_group_new();
    assert!(!group.is_null());
    // SAFETY: from `ipcm_select_group_new`, freed once.
    unsafe { ipcm_select_group_free(group) };
}
