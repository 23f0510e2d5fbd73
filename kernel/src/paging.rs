//! Address spaces: one 4-level page table per process.
//!
//! The upper half (PML4 entries 256..512) is the kernel half: entry 511 maps
//! the first GiB of RAM at [`KERNEL_BASE`](crate::boot::KERNEL_BASE) with 2 MiB pages, supervisor-only,
//! and every address space shares it (the same PDPT). The lower half is user
//! space ([`USER_START`]..[`USER_END`]): 4 KiB pages with the U bit at every
//! level and W / NX as each ELF segment asks. Page tables and user frames are
//! reached by the kernel through the kernel half ([`phys_to_virt`]).
//!
//! This module is also the only place that turns user addresses into
//! memory: [`UserSpace::copy_in`] / [`UserSpace::copy_out`] check P and U
//! (and W for writes) on every page a buffer spans *before* touching any
//! byte (through the page tables, or a cached translation of them), so a
//! bad user pointer is an error value, never a kernel page fault.

use crate::boot::phys_to_virt;
use crate::frames::{self, FRAME_SIZE, Frame};
use core::sync::atomic::{AtomicU64, Ordering};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Lowest user address: the first 64 KiB stay unmapped, so small
/// addresses (NULL plus an offset) always fault.
pub const USER_START: u64 = 0x1_0000;
/// One past the highest user address: the last page of the lower
/// canonical half (just below 2^47) is never mapped, so no user
/// instruction ends at 2^47 and a `syscall` can never leave a
/// non-canonical return address in rcx, on which `sysretq` would fault in
/// ring 0 (Intel) with the user's stack pointer loaded.
pub const USER_END: u64 = (1 << 47) - 4096;
// `cached_single_page` relies on it: a range within a page below it ends below it.
const _: () = assert!(USER_END.is_multiple_of(4096));

/// Rights of a user page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRights {
    /// Writable from ring 3.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// A user range could not be accessed as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAddress;

/// Out of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// One process's page tables.
#[derive(Debug)]
pub struct AddressSpace {
    pml4: Frame,
}

/// First PML4 entry of the kernel half.
const KERNEL_HALF: usize = 256;

/// The 512 entries of the table in `frame`.
fn table(frame: u64) -> &'static mut [u64; 512] {
    // SAFETY: `frame` is a page-table frame owned by an address space (or
    // the boot PML4), below 1 GiB, so mapped in the kernel half. The kernel
    // runs with interrupts off; a user table is only written while its
    // process is being built or under the scheduler's lock (new stacks),
    // and callers never hold two references to the same table at once.
    unsafe { &mut *(phys_to_virt(frame) as *mut [u64; 512]) }
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 0x1FF) as usize
}

impl AddressSpace {
    /// A fresh address space holding only the shared kernel half.
    pub fn new() -> Result<AddressSpace, OutOfMemory> {
        let pml4 = frames::alloc_zeroed().ok_or(OutOfMemory)?;
        let kernel = table(crate::boot::boot_pml4_addr());
        table(pml4.0)[KERNEL_HALF..].copy_from_slice(&kernel[KERNEL_HALF..]);
        Ok(AddressSpace { pml4 })
    }

    /// Physical address of the PML4, for CR3.
    pub fn root(&self) -> u64 {
        self.pml4.0
    }

    /// Maps the user page at `va` to `frame` (or widens the rights of an
    /// existing mapping, when two segments share a page: the frame passed in
    /// is then returned to the allocator). Returns the frame mapped.
    ///
    /// On a live space (a new thread's stack, while other CPUs run its
    /// process) this needs no shootdown: it only turns non-present entries
    /// present (x86 caches no non-present translation), each new table is
    /// zeroed before the entry linking it is stored (TSO keeps that order
    /// for other CPUs' walks), and the new thread touches its stack only
    /// once made ready under the scheduler's lock. Widening a present leaf
    /// (a stale narrower TLB entry would fault) happens only in the loader,
    /// before the process runs.
    pub fn map_user(
        &self,
        va: u64,
        frame: Frame,
        rights: PageRights,
    ) -> Result<Frame, OutOfMemory> {
        assert!(
            (USER_START..USER_END).contains(&va) && va.is_multiple_of(FRAME_SIZE),
            "bad user page 0x{va:x}"
        );
        let mut current = self.pml4.0;
        for level in (1..=3).rev() {
            let entry = &mut table(current)[index(va, level)];
            if *entry & PRESENT == 0 {
                let next = frames::alloc_zeroed().ok_or(OutOfMemory)?;
                // Intermediate levels are permissive; the leaf decides.
                *entry = next.0 | PRESENT | WRITABLE | USER;
            }
            current = *entry & ADDR_MASK;
        }
        let leaf = &mut table(current)[index(va, 0)];
        let mut flags = PRESENT | USER;
        if rights.write {
            flags |= WRITABLE;
        }
        if !rights.execute {
            flags |= NO_EXECUTE;
        }
        if *leaf & PRESENT != 0 {
            let existing = *leaf;
            let merged_nx = existing & flags & NO_EXECUTE;
            *leaf = (existing & !NO_EXECUTE) | (flags & WRITABLE) | merged_nx;
            frames::free(frame);
            return Ok(Frame(existing & ADDR_MASK));
        }
        *leaf = frame.0 | flags;
        Ok(frame)
    }

    /// Writes into a user page through its frame, ignoring its rights (for
    /// the ELF loader filling a read-only segment).
    pub fn fill_frame(frame: Frame, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= FRAME_SIZE as usize);
        // SAFETY: the frame belongs to an address space being built; the
        // range stays inside it (checked above); mapped in the kernel half.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (phys_to_virt(frame.0) as *mut u8).add(offset),
                bytes.len(),
            )
        };
    }
}

impl Drop for AddressSpace {
    /// Frees every user frame and page table (never the shared kernel half).
    fn drop(&mut self) {
        flush_translations();
        fn free_level(table_frame: u64, level: u32) {
            for &entry in table(table_frame).iter() {
                if entry & PRESENT == 0 {
                    continue;
                }
                let next = entry & ADDR_MASK;
                if level > 0 {
                    free_level(next, level - 1);
                }
                frames::free(Frame(next));
            }
        }
        let pml4 = table(self.pml4.0);
        for &entry in &pml4[..KERNEL_HALF] {
            if entry & PRESENT != 0 {
                free_level(entry & ADDR_MASK, 2);
                frames::free(Frame(entry & ADDR_MASK));
            }
        }
        frames::free(self.pml4);
    }
}

unsafe extern "C" {
    /// Start of `.text` (kernel half; see linker.ld).
    static __text_start: u8;
    /// Start of `.rodata`, page-aligned: the end of the text.
    static __rodata_start: u8;
    /// Start of `.data`, page-aligned: the end of the read-only data.
    static __data_start: u8;
    /// End of the image (kernel half).
    static __kernel_end: u8;
    /// The guard page under the boot stack (a physical address: `.boot.bss`).
    static boot_stack_guard: u8;
}

const HUGE_PAGE: u64 = 2 << 20;

/// Rebuilds the kernel half with W^X and stack guards: the image with 4 KiB
/// pages (text read+execute, rodata read-only, data/bss/heap read-write,
/// none of them both writable and executable; the page under every kernel
/// stack not mapped at all), the rest of the first GiB of RAM with 2 MiB
/// read-write no-execute pages. The boot tables mapped all of it
/// read-write-execute. Every address space made afterwards copies the new
/// kernel half from the boot PML4. Call once, before any process exists.
pub fn protect_kernel() -> Result<(), OutOfMemory> {
    let to_phys = |virt: u64| virt - crate::boot::KERNEL_BASE;
    let text = to_phys(&raw const __text_start as u64);
    let rodata = to_phys(&raw const __rodata_start as u64);
    let data = to_phys(&raw const __data_start as u64);
    let end = to_phys(&raw const __kernel_end as u64);
    let mut guards: alloc::vec::Vec<u64> = crate::entry::stack_guards().map(to_phys).collect();
    guards.push(&raw const boot_stack_guard as u64);
    let leaf = |phys: u64| -> u64 {
        if guards.contains(&phys) {
            0
        } else if (text..rodata).contains(&phys) {
            phys | PRESENT
        } else if (rodata..data).contains(&phys) {
            phys | PRESENT | NO_EXECUTE
        } else {
            phys | PRESENT | WRITABLE | NO_EXECUTE
        }
    };
    let pdpt = frames::alloc_zeroed().ok_or(OutOfMemory)?;
    let pd = frames::alloc_zeroed().ok_or(OutOfMemory)?;
    for (i, entry) in table(pd.0).iter_mut().enumerate() {
        let base = i as u64 * HUGE_PAGE;
        *entry = if base < end {
            let pt = frames::alloc_zeroed().ok_or(OutOfMemory)?;
            for (j, page) in table(pt.0).iter_mut().enumerate() {
                *page = leaf(base + j as u64 * FRAME_SIZE);
            }
            pt.0 | PRESENT | WRITABLE
        } else {
            base | PRESENT | WRITABLE | HUGE | NO_EXECUTE
        };
    }
    // KERNEL_BASE is PML4 entry 511, PDPT entry 510.
    table(pdpt.0)[510] = pd.0 | PRESENT | WRITABLE;
    let boot_pml4 = table(crate::boot::boot_pml4_addr());
    boot_pml4[511] = pdpt.0 | PRESENT | WRITABLE;
    // SAFETY: the new kernel half maps everything the kernel uses at the
    // same addresses (only with narrower rights, and without the guard
    // pages nothing may touch); reloading CR3 drops the old translations.
    unsafe {
        core::arch::asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags));
    }
    Ok(())
}

/// Where [`map_device`] maps device registers: the GiB above the RAM the
/// kernel half maps (kernel-half PDPT entry 511).
const DEVICE_BASE: u64 = 0xFFFF_FFFF_C000_0000;
/// Cache disabled, write-through: device registers, never cached.
const UNCACHED: u64 = (1 << 4) | (1 << 3);

/// Maps the 2 MiB around device registers at `phys` into the kernel half
/// (every address space shares it), uncached, no-execute, in `slot`
/// (0..512, one per device); returns the kernel address of `phys`.
pub fn map_device(slot: usize, phys: u64) -> Result<u64, OutOfMemory> {
    let boot_pml4 = table(crate::boot::boot_pml4_addr());
    let pdpt = table(boot_pml4[511] & ADDR_MASK);
    if pdpt[511] & PRESENT == 0 {
        let pd = frames::alloc_zeroed().ok_or(OutOfMemory)?;
        pdpt[511] = pd.0 | PRESENT | WRITABLE;
    }
    let pd = table(pdpt[511] & ADDR_MASK);
    pd[slot] = (phys & !(HUGE_PAGE - 1)) | PRESENT | WRITABLE | HUGE | UNCACHED | NO_EXECUTE;
    let virt = DEVICE_BASE + slot as u64 * HUGE_PAGE;
    // SAFETY: invalidates one kernel-half translation that was not
    // present before (or is being replaced): no effect on anything else.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) virt, options(nostack, preserves_flags)) };
    Ok(virt + (phys & (HUGE_PAGE - 1)))
}

/// Recent user translations: (root, page) -> frame | writable, direct-mapped. A copy to or from a buffer the same thread used last
/// time (every message of a ping-pong) needs no page-table walk. User
/// page tables only change in `map_user` (mappings added or widened) and
/// when an address space is freed (its root may be reused): both flush
/// the whole cache.
///
/// One cache per CPU (a CPU only reads and writes its own, so its three
/// words never tear). Only copies for the thread running on this CPU add
/// entries (its address space cannot die meanwhile); copies into another
/// thread's space (held alive by the copy) only look. An address space's
/// death is shot down on every CPU (`tlb`), which flushes every cache, so
/// after it no entry for its root is left anywhere and none is added.
/// User mappings are only ever added or widened, so an entry is never
/// wrong while its space lives (a too-narrow one just sends the copy to
/// the walk).
struct TranslationCache {
    entries: [[AtomicU64; 3]; 16],
}

static TRANSLATIONS: [TranslationCache; crate::percpu::MAX_CPUS] = [const {
    TranslationCache {
        entries: [const { [const { AtomicU64::new(0) }; 3] }; 16],
    }
}; crate::percpu::MAX_CPUS];

/// CPU `index`'s cache, by address (for its per-CPU block).
pub fn translation_cache_addr(index: usize) -> u64 {
    core::ptr::from_ref(&TRANSLATIONS[index]) as u64
}

/// This CPU's cache (its address is in the per-CPU block: one load).
#[inline(always)]
fn translations() -> &'static TranslationCache {
    let addr = crate::percpu::translations() as *const TranslationCache;
    // SAFETY: `init_this_cpu` set the field to `&TRANSLATIONS[index]`, a
    // static that lives for ever and is only read through shared references.
    unsafe { &*addr }
}

/// Forgets this CPU's cached translations (an address space is dying).
pub fn flush_translations() {
    translations().flush();
}

impl TranslationCache {
    /// Indexed by page number and root together: two processes' buffers
    /// at the same address (their stacks) must not evict each other.
    fn slot(&self, root: u64, key: u64) -> &[AtomicU64; 3] {
        &self.entries[(((key ^ root) >> 12) & 15) as usize]
    }

    fn get(&self, root: u64, key: u64) -> Option<u64> {
        let slot = self.slot(root, key);
        (slot[0].load(Ordering::Relaxed) == root && slot[1].load(Ordering::Relaxed) == key)
            .then(|| slot[2].load(Ordering::Relaxed))
    }

    fn put(&self, root: u64, key: u64, frame: u64) {
        let slot = self.slot(root, key);
        slot[0].store(root, Ordering::Relaxed);
        slot[1].store(key, Ordering::Relaxed);
        slot[2].store(frame, Ordering::Relaxed);
    }

    /// Forgets everything (root 0 is never an address space's).
    fn flush(&self) {
        for slot in &self.entries {
            slot[0].store(0, Ordering::Relaxed);
        }
    }
}

/// The user half of an address space, by its page-table root: what the
/// copies walk. The root must belong to a live address space while the
/// copy runs: the running thread's (its process cannot end while it
/// runs), or one the copier holds an `Arc` of (see `sched::space_of`).
#[derive(Clone, Copy, Debug)]
pub struct UserSpace {
    root: u64,
    /// Whether look-ups may add to the cache (the running thread's space).
    cache_new: bool,
}

impl UserSpace {
    /// The user half of the address space whose PML4 is at `root`.
    pub fn new(root: u64) -> UserSpace {
        UserSpace {
            root,
            cache_new: true,
        }
    }

    /// Another thread's address space (alive while the copy holds it):
    /// its translations are looked up in the cache but never added.
    pub fn held(root: u64) -> UserSpace {
        UserSpace {
            root,
            cache_new: false,
        }
    }

    /// The physical address behind user address `va` if it is mapped
    /// present and user-accessible at every level (and writable at every
    /// level when `write` is asked).
    pub fn translate(&self, va: u64, write: bool) -> Option<u64> {
        if !(USER_START..USER_END).contains(&va) {
            return None;
        }
        let offset = va & (FRAME_SIZE - 1);
        let page = va - offset;
        let cache = translations();
        if let Some(entry) = cache.get(self.root, page)
            && (!write || entry & 1 != 0)
        {
            return Some((entry & !1) + offset);
        }
        // Walk for the rights asked; remember whether the page is writable.
        let frame = self.walk(va, write)?;
        let writable = write || self.walk(va, true).is_some();
        if self.cache_new {
            cache.put(self.root, page, frame | u64::from(writable));
        }
        Some(frame + offset)
    }

    /// The four-level walk behind [`UserSpace::translate`]: the frame
    /// behind `va`'s page.
    fn walk(&self, va: u64, write: bool) -> Option<u64> {
        let mut current = self.root;
        for level in (0..=3).rev() {
            let entry = table(current)[index(va, level)];
            if entry & PRESENT == 0 || entry & USER == 0 || (write && entry & WRITABLE == 0) {
                return None;
            }
            if level > 0 && entry & HUGE != 0 {
                // User mappings are never huge; refuse rather than guess.
                return None;
            }
            current = entry & ADDR_MASK;
        }
        Some(current)
    }

    /// Checks a whole user range and calls `each(phys, offset, len)` for
    /// its pieces (one per page), only once every page passed.
    fn walk_range(
        &self,
        va: u64,
        len: usize,
        write: bool,
        mut each: impl FnMut(u64, usize, usize),
    ) -> Result<(), BadAddress> {
        if len == 0 {
            return Ok(());
        }
        let end = va.checked_add(len as u64).ok_or(BadAddress)?;
        if va < USER_START || end > USER_END {
            return Err(BadAddress);
        }
        let first = va & !(FRAME_SIZE - 1);
        if end - first <= 2 * FRAME_SIZE {
            // The common case (small messages): one walk per page, the
            // second page's walk only if the range reaches it.
            let split = (first + FRAME_SIZE).min(end);
            let low = self.translate(va, write).ok_or(BadAddress)?;
            let high = if split < end {
                Some(self.translate(split, write).ok_or(BadAddress)?)
            } else {
                None
            };
            each(low, 0, (split - va) as usize);
            if let Some(high) = high {
                each(high, (split - va) as usize, (end - split) as usize);
            }
            return Ok(());
        }
        let mut page = first;
        while page < end {
            self.translate(page, write).ok_or(BadAddress)?;
            page += FRAME_SIZE;
        }
        let mut cursor = va;
        while cursor < end {
            let in_page = (FRAME_SIZE - (cursor & (FRAME_SIZE - 1))).min(end - cursor) as usize;
            let phys = self.translate(cursor, write).ok_or(BadAddress)?;
            each(phys, (cursor - va) as usize, in_page);
            cursor += in_page as u64;
        }
        Ok(())
    }

    /// Where a range lying in one page sits, if that page's translation
    /// is cached with the rights asked: the IPC common case, with no walk
    /// and no per-page loop. `None` sends the caller to the full check.
    #[inline(always)]
    fn cached_single_page(&self, va: u64, len: u64, write: bool) -> Option<u64> {
        // 1 to (the rest of the page) bytes: `len - 1` wraps for 0, and
        // the range then ends within `va`'s page. No test that `va` is a
        // user address: only user pages (`translate` checked the range)
        // are ever cached, so the look-up of any other page misses.
        let offset = va & (FRAME_SIZE - 1);
        if len.wrapping_sub(1) >= FRAME_SIZE - offset {
            return None;
        }
        let entry = translations().get(self.root, va - offset)?;
        (!write || entry & 1 != 0).then_some((entry & !1) + offset)
    }

    /// Copies `dst.len()` bytes from user address `src`.
    #[inline(always)]
    pub fn copy_in(&self, src: u64, dst: &mut [u8]) -> Result<(), BadAddress> {
        if let Some(phys) = self.cached_single_page(src, dst.len() as u64, false) {
            let at = phys_to_virt(phys) as *const u8;
            if let Ok(word) = <&mut [u8; 8]>::try_from(&mut *dst) {
                // A length or a word-sized message (most IPC copies): one
                // load, no call of memcpy.
                // SAFETY: the 8 bytes at `at` lie in one user frame of this
                // address space whose translation (present, user) is
                // cached; mapped in the kernel half, in no Rust object.
                *word = unsafe { at.cast::<[u8; 8]>().read_unaligned() };
                return Ok(());
            }
            // SAFETY: `phys..phys+len` lies in one user frame of this
            // address space whose translation (present, user) is cached;
            // mapped in the kernel half and not part of any Rust object.
            let bytes = unsafe { core::slice::from_raw_parts(at, dst.len()) };
            dst.copy_from_slice(bytes);
            return Ok(());
        }
        self.copy_in_checked(src, dst)
    }

    /// Copies `src` to user address `dst`.
    #[inline(always)]
    pub fn copy_out(&self, dst: u64, src: &[u8]) -> Result<(), BadAddress> {
        if let Some(phys) = self.cached_single_page(dst, src.len() as u64, true) {
            let at = phys_to_virt(phys) as *mut u8;
            if let Ok(word) = <[u8; 8]>::try_from(src) {
                // SAFETY: the 8 bytes at `at` lie in one user frame of this
                // address space whose translation (present, user, writable)
                // is cached; mapped in the kernel half, in no Rust object.
                unsafe { at.cast::<[u8; 8]>().write_unaligned(word) };
                return Ok(());
            }
            // SAFETY: `phys..phys+len` lies in one user frame of this
            // address space whose translation (present, user, writable) is
            // cached; mapped in the kernel half, not part of any Rust object.
            let bytes = unsafe { core::slice::from_raw_parts_mut(at, src.len()) };
            bytes.copy_from_slice(src);
            return Ok(());
        }
        self.copy_out_checked(dst, src)
    }

    /// [`UserSpace::copy_in`] for any range: every page checked first.
    #[inline(never)]
    fn copy_in_checked(&self, src: u64, dst: &mut [u8]) -> Result<(), BadAddress> {
        let len = dst.len();
        self.walk_range(src, len, false, |phys, offset, n| {
            // SAFETY: `phys..phys+n` lies in one user frame of this address
            // space that `walk_range` checked present and user-readable; the
            // frame is mapped in the kernel half and not part of any Rust object.
            let bytes = unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, n) };
            dst[offset..offset + n].copy_from_slice(bytes);
        })
    }

    /// [`UserSpace::copy_out`] for any range: every page checked first.
    #[inline(never)]
    fn copy_out_checked(&self, dst: u64, src: &[u8]) -> Result<(), BadAddress> {
        self.walk_range(dst, src.len(), true, |phys, offset, n| {
            // SAFETY: `phys..phys+n` lies in one user frame of this address
            // space that `walk_range` checked present, user and writable;
            // mapped in the kernel half and not part of any Rust object.
            let bytes =
                unsafe { core::slice::from_raw_parts_mut(phys_to_virt(phys) as *mut u8, n) };
            bytes.copy_from_slice(&src[offset..offset + n]);
        })
    }
}

/// Makes the address space whose PML4 is at `root` the current one.
pub fn activate(root: u64) {
    // SAFETY: `root` is a live address space's PML4 (the caller's thread
    // belongs to it), which maps the kernel half exactly as every other
    // one does, so the running kernel stays mapped across the switch.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) };
}

/// Switches to the boot page tables (kernel half only), e.g. before the
/// current process's address space is freed.
pub fn activate_kernel_only() {
    let root = crate::boot::boot_pml4_addr();
    // SAFETY: the boot PML4 maps the kernel half that all code runs in.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) };
}

/// The current CR3 root.
pub fn active_root() -> u64 {
    let root: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) root, options(nostack, preserves_flags, nomem))
    };
    root & ADDR_MASK
}
