//! The physical frame allocator: a bitmap of the 4 KiB frames of usable
//! RAM from the boot memory map, below the 1 GiB the kernel half maps.

use crate::boot::RamRegion;
use crate::sync::Global;
use alloc::vec;
use alloc::vec::Vec;

/// Size of a frame / page.
pub const FRAME_SIZE: u64 = 4096;
/// Frames above this are not mapped in the kernel half, so not handed out.
const MAPPED_LIMIT: u64 = crate::boot::MAPPED_RAM;

/// A physical frame (its address, 4 KiB aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame(pub u64);

struct FrameAllocator {
    /// Bit set = frame free.
    free: Vec<u64>,
    /// Where the next search starts.
    hint: usize,
    free_count: usize,
}

static FRAMES: Global<FrameAllocator> = Global::new();

/// Builds the allocator from the RAM regions, keeping out the first MiB
/// (firmware, boot data) and `[reserved_start, reserved_end)` (the image).
pub fn init(ram: &[RamRegion], reserved_start: u64, reserved_end: u64) {
    let frames = (MAPPED_LIMIT / FRAME_SIZE) as usize;
    let mut allocator = FrameAllocator {
        free: vec![0; frames / 64],
        hint: 0,
        free_count: 0,
    };
    for region in ram {
        let start = region.start.max(1 << 20).div_ceil(FRAME_SIZE);
        let end = region.end.min(MAPPED_LIMIT) / FRAME_SIZE;
        for frame in start..end {
            let addr = frame * FRAME_SIZE;
            if addr + FRAME_SIZE > reserved_start && addr < reserved_end {
                continue;
            }
            allocator.free[frame as usize / 64] |= 1 << (frame % 64);
            allocator.free_count += 1;
        }
    }
    FRAMES.init(allocator);
}

/// A zeroed frame, or `None` when memory is exhausted.
pub fn alloc_zeroed() -> Option<Frame> {
    let mut allocator = FRAMES.lock();
    let words = allocator.free.len();
    for step in 0..words {
        let index = (allocator.hint + step) % words;
        let word = allocator.free[index];
        if word != 0 {
            let bit = word.trailing_zeros() as usize;
            allocator.free[index] &= !(1 << bit);
            allocator.hint = index;
            allocator.free_count -= 1;
            let frame = Frame(((index * 64 + bit) as u64) * FRAME_SIZE);
            drop(allocator);
            zero(frame);
            return Some(frame);
        }
    }
    None
}

/// Returns a frame to the allocator.
pub fn free(frame: Frame) {
    let mut allocator = FRAMES.lock();
    let index = (frame.0 / FRAME_SIZE) as usize;
    let mask = 1u64 << (index % 64);
    assert!(
        allocator.free[index / 64] & mask == 0,
        "frame 0x{:x} freed twice",
        frame.0
    );
    allocator.free[index / 64] |= mask;
    allocator.free_count += 1;
}

/// Free frames left.
pub fn free_count() -> usize {
    FRAMES.lock().free_count
}

fn zero(frame: Frame) {
    let virt = crate::boot::phys_to_virt(frame.0) as *mut u8;
    // SAFETY: the frame was just taken from the free set, so nothing else
    // refers to it, and it lies in the RAM the kernel half maps.
    unsafe { core::ptr::write_bytes(virt, 0, FRAME_SIZE as usize) };
}
