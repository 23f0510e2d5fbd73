//! The GDT and the TSS.
//!
//! The order of the descriptors is what `syscall`/`sysretq` need: null,
//! kernel code, kernel data, user data, user code, then the TSS (user data
//! sits directly before user code because `sysretq` loads SS = STAR+8 and
//! CS = STAR+16).

use alloc::boxed::Box;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// User code selector (GDT index 4, RPL 3); the entry stubs hard-code it.
pub const USER_CODE_SELECTOR: u16 = 0x23;
/// User data/stack selector (GDT index 3, RPL 3); the entry stubs hard-code it.
pub const USER_DATA_SELECTOR: u16 = 0x1b;

/// The IST slots (0-based, as the `x86_64` crate counts).
#[derive(Clone, Copy, Debug)]
pub enum IstStack {
    /// Double fault.
    DoubleFault = 0,
    /// Non-maskable interrupt.
    Nmi = 1,
    /// Machine check.
    MachineCheck = 2,
    /// Debug exception.
    Debug = 3,
}

/// Sets TSS.RSP0, where the CPU puts the frame of an interrupt from ring 3
/// (the running thread's register area).
#[inline(always)]
pub fn set_rsp0(top: u64) {
    let tss = crate::percpu::tss() as *mut TaskStateSegment;
    // SAFETY: this CPU's TSS, leaked in `init` and living forever; the CPU
    // reads RSP0 only on a ring change, never while the kernel runs
    // (interrupts off), and no other CPU writes this TSS, so this plain
    // write cannot race it.
    unsafe { (*tss).privilege_stack_table[0] = VirtAddr::new_truncate(top) };
}

/// The selectors the rest of the kernel needs.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// Ring 0 code.
    pub kernel_code: SegmentSelector,
    /// Ring 0 data/stack.
    pub kernel_data: SegmentSelector,
    /// Ring 3 data/stack (RPL 3).
    pub user_data: SegmentSelector,
    /// Ring 3 code (RPL 3).
    pub user_code: SegmentSelector,
}

/// Loads this CPU's own GDT and TSS (every CPU has both). `trap_stack_top` becomes RSP0 (the stack every
/// interrupt from ring 3 lands on), `ist_tops` the IST stacks (by
/// [`IstStack`] slot).
pub fn init(trap_stack_top: u64, ist_tops: [u64; 4]) -> Selectors {
    let mut tss = TaskStateSegment::new();
    tss.privilege_stack_table[0] = VirtAddr::new(trap_stack_top);
    for (slot, top) in ist_tops.into_iter().enumerate() {
        tss.interrupt_stack_table[slot] = VirtAddr::new(top);
    }
    // Both tables live for the rest of the run: leak them.
    let tss: &'static mut TaskStateSegment = Box::leak(Box::new(tss));
    crate::percpu::set_tss(tss as *mut TaskStateSegment as u64);
    let tss: &'static TaskStateSegment = tss;

    let mut gdt = GlobalDescriptorTable::new();
    let kernel_code = gdt.append(Descriptor::kernel_code_segment());
    let kernel_data = gdt.append(Descriptor::kernel_data_segment());
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    let tss_selector = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable = Box::leak(Box::new(gdt));
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, with
    // the kernel code/data layout the running code already uses.
    unsafe {
        CS::set_reg(kernel_code);
        DS::set_reg(kernel_data);
        ES::set_reg(kernel_data);
        SS::set_reg(kernel_data);
        load_tss(tss_selector);
    }
    assert_eq!(user_code.0, USER_CODE_SELECTOR);
    assert_eq!(user_data.0, USER_DATA_SELECTOR);
    Selectors {
        kernel_code,
        kernel_data,
        user_data,
        user_code,
    }
}
