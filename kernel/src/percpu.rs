//! Per-CPU data, reached through GS.
//!
//! Each CPU has one [`PerCpu`] block; while the kernel runs, GS_BASE holds
//! its address (and KERNEL_GS_BASE the user's GS base, always 0: ring 3
//! cannot set it, CR4.FSGSBASE is off). Every entry from ring 3 begins
//! with `swapgs` and every exit to ring 3 ends with one (see
//! [`crate::entry`]); a trap taken in ring 0 checks GS_BASE itself, since
//! an NMI, #DB or #MC may land between `syscall` and its `swapgs`.
//!
//! The entry stubs address the fields as `gs:[OFFSET]`; Rust reaches this
//! CPU's fields through the accessors below (one `mov` each, like the
//! globals they replace).

use crate::entry::FxState;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{GsBase, KernelGsBase};

/// The most CPUs the kernel runs on (upstream LuKOS was aware of 8).
pub const MAX_CPUS: usize = 8;

/// One CPU's own state. Every field is an atomic (or, for the SSE scratch
/// area, written only by this CPU's stubs), so blocks can be shared.
#[repr(C, align(64))]
pub struct PerCpu {
    /// The user rsp across the `syscall` entry (it has no other place).
    syscall_user_rsp: AtomicU64,
    /// The running thread's register area (`*mut TrapFrame`).
    trap_frame: AtomicU64,
    /// Its end: the `syscall` entry builds its frame below it.
    trap_frame_top: AtomicU64,
    /// Where the stubs `fxsave`/`fxrstor`: the SSE state's owner (the
    /// running thread's area, or [`PerCpu::fx_scratch`]).
    trap_fx_area: AtomicU64,
    /// Non-zero: leave by `sysretq`.
    exit_via_sysret: AtomicU64,
    /// This CPU's kernel (trap) stack top.
    trap_stack_top: AtomicU64,
    /// The running thread's id (0: none).
    current: AtomicU64,
    /// The running thread's page-table root, pid and priority (valid while
    /// `current` is non-zero): the IPCM's hooks need no lock for them.
    running_root: AtomicU64,
    running_pid: AtomicU64,
    running_priority: AtomicU64,
    /// This CPU's TSS (`*mut TaskStateSegment`), for RSP0.
    tss: AtomicU64,
    /// This CPU's index (0 = the boot CPU).
    index: AtomicU64,
    /// This CPU's cache of user translations (see `paging`), by address:
    /// one load on the copy path.
    translations: AtomicU64,
    /// The SSE area the stubs use while no thread owns the CPU's SSE state.
    fx_scratch: UnsafeCell<FxState>,
}

// SAFETY: every field but `fx_scratch` is atomic; `fx_scratch` is only
// touched by its own CPU's entry/exit stubs (through `trap_fx_area`).
unsafe impl Sync for PerCpu {}

impl PerCpu {
    const fn new() -> PerCpu {
        PerCpu {
            syscall_user_rsp: AtomicU64::new(0),
            trap_frame: AtomicU64::new(0),
            trap_frame_top: AtomicU64::new(0),
            trap_fx_area: AtomicU64::new(0),
            exit_via_sysret: AtomicU64::new(0),
            trap_stack_top: AtomicU64::new(0),
            current: AtomicU64::new(0),
            running_root: AtomicU64::new(0),
            running_pid: AtomicU64::new(0),
            running_priority: AtomicU64::new(0),
            tss: AtomicU64::new(0),
            index: AtomicU64::new(0),
            translations: AtomicU64::new(0),
            fx_scratch: UnsafeCell::new(FxState([0; 512])),
        }
    }
}

static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// Offsets the entry stubs use (`gs:[OFFSET]`).
pub const SYSCALL_USER_RSP: usize = offset_of!(PerCpu, syscall_user_rsp);
/// See [`PerCpu::trap_frame`].
pub const TRAP_FRAME: usize = offset_of!(PerCpu, trap_frame);
/// See [`PerCpu::trap_frame_top`].
pub const TRAP_FRAME_TOP: usize = offset_of!(PerCpu, trap_frame_top);
/// See [`PerCpu::trap_fx_area`].
pub const TRAP_FX_AREA: usize = offset_of!(PerCpu, trap_fx_area);
/// See [`PerCpu::exit_via_sysret`].
pub const EXIT_VIA_SYSRET: usize = offset_of!(PerCpu, exit_via_sysret);
/// See [`PerCpu::trap_stack_top`].
pub const TRAP_STACK_TOP: usize = offset_of!(PerCpu, trap_stack_top);
const CURRENT: usize = offset_of!(PerCpu, current);
const RUNNING_ROOT: usize = offset_of!(PerCpu, running_root);
const RUNNING_PID: usize = offset_of!(PerCpu, running_pid);
const RUNNING_PRIORITY: usize = offset_of!(PerCpu, running_priority);
const TSS: usize = offset_of!(PerCpu, tss);
const INDEX: usize = offset_of!(PerCpu, index);
const TRANSLATIONS: usize = offset_of!(PerCpu, translations);

/// Makes `CPUS[index]` this CPU's block (GS_BASE; the user's GS base, 0,
/// in KERNEL_GS_BASE for the first exit's `swapgs`) and gives it its
/// kernel stack. Runs first on every CPU, before anything touches GS.
pub fn init_this_cpu(index: usize, trap_stack_top: u64) {
    let block = &CPUS[index];
    block.index.store(index as u64, Ordering::Relaxed);
    block
        .trap_stack_top
        .store(trap_stack_top, Ordering::Relaxed);
    block.translations.store(
        crate::paging::translation_cache_addr(index),
        Ordering::Relaxed,
    );
    block
        .trap_fx_area
        .store(block.fx_scratch.get() as u64, Ordering::Relaxed);
    GsBase::write(VirtAddr::from_ptr(block));
    KernelGsBase::write(VirtAddr::zero());
}

macro_rules! gs_get {
    ($(#[$doc:meta])* $get:ident, $offset:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $get() -> u64 {
            let value: u64;
            // SAFETY: GS_BASE is this CPU's `PerCpu` block whenever Rust
            // runs (see `init_this_cpu` and the entry stubs), and the
            // offset is that of an aligned `AtomicU64` field in it.
            unsafe {
                core::arch::asm!(
                    "mov {value}, gs:[{offset}]",
                    value = out(reg) value,
                    offset = const $offset,
                    options(nostack, preserves_flags, readonly)
                )
            };
            value
        }
    };
}

macro_rules! gs_set {
    ($(#[$doc:meta])* $set:ident, $offset:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $set(value: u64) {
            // SAFETY: as for the reads: an aligned atomic field of this
            // CPU's block; a plain `mov` is an atomic store on x86.
            unsafe {
                core::arch::asm!(
                    "mov gs:[{offset}], {value}",
                    value = in(reg) value,
                    offset = const $offset,
                    options(nostack, preserves_flags)
                )
            };
        }
    };
}

gs_set!(
    /// Sets the running thread's register area (`*mut TrapFrame`).
    set_trap_frame, TRAP_FRAME
);
gs_get!(
    /// The running thread's register area (`*mut TrapFrame` as u64).
    trap_frame, TRAP_FRAME
);
gs_set!(
    /// Sets the end of the running thread's register area.
    set_trap_frame_top, TRAP_FRAME_TOP
);
gs_set!(
    /// Sets the SSE area the stubs save into and restore from.
    set_trap_fx_area, TRAP_FX_AREA
);
gs_set!(
    /// Non-zero: the next exit is by `sysretq`.
    set_exit_via_sysret, EXIT_VIA_SYSRET
);
gs_get!(
    /// The running thread's id (0: none).
    current, CURRENT
);
gs_set!(
    /// Sets the running thread's id (0: none).
    set_current, CURRENT
);
gs_get!(
    /// The running thread's page-table root.
    running_root, RUNNING_ROOT
);
gs_set!(
    /// Sets the running thread's page-table root.
    set_running_root, RUNNING_ROOT
);
gs_get!(
    /// The running thread's process id.
    running_pid, RUNNING_PID
);
gs_set!(
    /// Sets the running thread's process id.
    set_running_pid, RUNNING_PID
);
gs_get!(
    /// The running thread's priority.
    running_priority, RUNNING_PRIORITY
);
gs_set!(
    /// Sets the running thread's priority.
    set_running_priority, RUNNING_PRIORITY
);
gs_get!(
    /// This CPU's TSS (`*mut TaskStateSegment` as u64).
    tss, TSS
);
gs_set!(
    /// Sets this CPU's TSS.
    set_tss, TSS
);
gs_get!(
    /// This CPU's index (0 = the boot CPU).
    index, INDEX
);
gs_get!(
    /// The address of this CPU's translation cache.
    translations, TRANSLATIONS
);

/// This CPU's SSE scratch area (no thread's).
pub fn fx_scratch() -> *mut FxState {
    CPUS[index() as usize].fx_scratch.get()
}
