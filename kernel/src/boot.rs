//! Boot: the PVH entry QEMU jumps to, the switch from 32-bit protected mode
//! to long mode, the jump to the higher half, and the hand-off to
//! [`crate::kernel_entry`].
//!
//! QEMU's multiboot loader refuses ELF64 images, but it boots an ELF64 that
//! carries a Xen PVH note (`XEN_ELFNOTE_PHYS32_ENTRY`): it loads the
//! segments at their physical addresses and enters `pvh_start` in 32-bit
//! protected mode, paging off, with `ebx` pointing at an `hvm_start_info`
//! block. The kernel is linked at [`KERNEL_BASE`] + physical address (the
//! top 2 GiB, PML4 entry 511); only this file's `.boot.*` sections live at
//! their physical addresses. The stub maps the first GiB of RAM twice with
//! 2 MiB pages — identity (to survive enabling paging) and at `KERNEL_BASE`
//! (the kernel half, supervisor-only, that every address space shares) —
//! enables PAE, long mode, `syscall`, NX, write protection and SSE, and
//! jumps to the higher half. [`drop_identity_map`] removes the identity map
//! once the kernel runs up there, so the whole lower half is user space.

use alloc::string::String;
use alloc::vec::Vec;

/// Where physical address 0 appears in the kernel half. Also in linker.ld.
pub const KERNEL_BASE: u64 = 0xFFFF_FFFF_8000_0000;

/// The kernel-half address of a physical address below 1 GiB.
pub const fn phys_to_virt(phys: u64) -> u64 {
    phys + KERNEL_BASE
}

/// The boot page tables map this much RAM in the kernel half.
pub const MAPPED_RAM: u64 = 1 << 30;

/// Whether `[addr, addr + len)` lies in the RAM the kernel half maps.
pub fn mapped(addr: u64, len: u64) -> bool {
    addr.checked_add(len).is_some_and(|end| end <= MAPPED_RAM)
}

core::arch::global_asm!(
    r#"
    .section .note.pvh, "a", @note
    .balign 4
    .long 4                 /* name size: "Xen\0" */
    .long 8                 /* descriptor size: QEMU reads a 64-bit value */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_start
    .balign 4

    .section .boot.text, "ax", @progbits
    .code32
    .globl pvh_start
pvh_start:
    cli
    cld
    /* The upper halves of the registers are undefined after the mode
       switch: keep the start-info pointer in memory. */
    movl %ebx, boot_start_info
    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT_lo[0] -> PD and PML4[511] -> PDPT_hi[510] -> PD:
       the same 1 GiB (PD[i] = i * 2 MiB, present | writable | huge) at 0
       and at KERNEL_BASE. */
    movl $boot_pdpt_lo, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl $boot_pdpt_hi, %eax
    orl $3, %eax
    movl %eax, boot_pml4 + 511 * 8
    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt_lo
    movl %eax, boot_pdpt_hi + 510 * 8
    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(,%ecx,8)
    movl $0, boot_pd+4(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    /* CR4: PAE | OSFXSR | OSXMMEXCPT (the precompiled core uses SSE). */
    movl %cr4, %eax
    orl $0x620, %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    /* EFER: SCE (syscall) | LME (long mode) | NXE (no-execute bit). */
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x901, %eax
    wrmsr
    /* CR0: clear EM; set PG | WP | MP | PE. */
    movl %cr0, %eax
    andl $0xFFFFFFFB, %eax
    orl $0x80010003, %eax
    movl %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    /* Continue in the higher half: stack and code through KERNEL_BASE. */
    movabsq ${kernel_base}, %rax
    movabsq $boot_stack_top, %rsp
    addq %rax, %rsp
    xorl %ebp, %ebp
    movabsq $kernel_entry, %rax
    call *%rax
2:
    hlt
    jmp 2b

    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF    /* 64-bit kernel code */
    .quad 0x00CF92000000FFFF    /* kernel data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
    .long 0

    .section .boot.bss, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt_lo:
    .skip 4096
boot_pdpt_hi:
    .skip 4096
boot_pd:
    .skip 4096
    /* Never mapped once the kernel half is rebuilt: an overflow of the
       boot stack faults instead of overwriting the page tables. */
    .globl boot_stack_guard
boot_stack_guard:
    .skip 4096
boot_stack:
    .skip 65536
boot_stack_top:
    .balign 8
    .globl boot_start_info
boot_start_info:
    .skip 8
    "#,
    kernel_base = const KERNEL_BASE,
    options(att_syntax)
);

unsafe extern "C" {
    /// Physical address of the `hvm_start_info` block, stored by `pvh_start`
    /// (this symbol is a physical address: `.boot.bss` is not in the
    /// higher half).
    static boot_start_info: u64;
    /// The boot PML4 (a physical address, like `boot_start_info`).
    static boot_pml4: u8;
    /// Start of the image (physical: the first section is `.note.pvh`).
    static __kernel_start: u8;
    /// End of the image (a kernel-half address).
    static __kernel_end: u8;
}

/// Magic value of `hvm_start_info.magic`.
const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;

/// `struct hvm_start_info` (Xen public header `arch-x86/hvm/start_info.h`).
#[repr(C)]
struct HvmStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
struct HvmMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// E820 type of usable RAM.
const MEMMAP_RAM: u32 = 1;

/// A range of usable physical RAM from the boot memory map.
#[derive(Clone, Copy, Debug)]
pub struct RamRegion {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// What the boot loader told us, copied out of low memory before the frame
/// allocator may hand that memory out.
#[derive(Debug)]
pub struct BootInfo {
    /// The kernel command line (`-append` in QEMU).
    pub cmdline: String,
    /// Usable RAM.
    pub ram: Vec<RamRegion>,
    /// Physical address of the ACPI RSDP (0: none given).
    pub rsdp: u64,
}

/// Physical address range occupied by the kernel image (boot stub and
/// tables, text, data, bss, stacks, heap).
pub fn kernel_image() -> (u64, u64) {
    (
        &raw const __kernel_start as u64,
        &raw const __kernel_end as u64 - KERNEL_BASE,
    )
}

/// Physical address of the boot PML4, whose entry 511 maps the kernel half.
pub fn boot_pml4_addr() -> u64 {
    &raw const boot_pml4 as u64
}

/// Removes the boot identity map of the first GiB (PML4 entry 0): once the
/// kernel runs in the higher half nothing uses it, and without it a stray
/// use of a physical address as a pointer faults instead of working by luck.
pub fn drop_identity_map() {
    let pml4 = phys_to_virt(boot_pml4_addr()) as *mut u64;
    // SAFETY: the boot PML4 is ours (in `.boot.bss`) and reachable through
    // the kernel half; entry 0 is the identity map, used only before the
    // jump to the higher half. Reloading CR3 flushes its TLB entries.
    unsafe {
        pml4.write_volatile(0);
        core::arch::asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags));
    }
}

/// Reads the PVH start-info block.
///
/// Must run before the frame allocator exists (the block lives in RAM that
/// is otherwise free); everything is copied out.
pub fn read_boot_info() -> BootInfo {
    // SAFETY: `boot_start_info` was written once by `pvh_start` before any
    // Rust code ran and is never written again.
    let info_addr = unsafe {
        core::ptr::read_volatile(phys_to_virt(&raw const boot_start_info as u64) as *const u64)
    };
    let mut boot = BootInfo {
        cmdline: String::new(),
        ram: Vec::new(),
        rsdp: 0,
    };
    if info_addr == 0 || !mapped(info_addr, core::mem::size_of::<HvmStartInfo>() as u64) {
        return boot;
    }
    // SAFETY: the loader put a valid `hvm_start_info` at this physical
    // address (checked below 1 GiB, so mapped in the kernel half), and the block is not
    // reused before we are done (the frame allocator does not exist yet).
    let info = unsafe { &*(phys_to_virt(info_addr) as *const HvmStartInfo) };
    if info.magic != XEN_HVM_START_MAGIC {
        return boot;
    }
    boot.rsdp = info.rsdp_paddr;
    if info.cmdline_paddr != 0 {
        let mut addr = info.cmdline_paddr;
        // Bounded: a command line longer than 4 KiB is cut.
        while boot.cmdline.len() < 4096 && mapped(addr, 1) {
            // SAFETY: the loader's NUL-terminated command line, mapped in the kernel half (checked below 1 GiB).
            let byte = unsafe { *(phys_to_virt(addr) as *const u8) };
            if byte == 0 {
                break;
            }
            boot.cmdline.push(byte as char);
            addr += 1;
        }
    }
    if info.version >= 1 && info.memmap_paddr != 0 {
        for i in 0..info.memmap_entries as u64 {
            let size = core::mem::size_of::<HvmMemmapEntry>() as u64;
            let entry_addr = info.memmap_paddr.saturating_add(i.saturating_mul(size));
            if !mapped(entry_addr, size) {
                break;
            }
            // SAFETY: `memmap_entries` entries follow `memmap_paddr`, mapped in the kernel half (checked below 1 GiB).
            let entry = unsafe { &*(phys_to_virt(entry_addr) as *const HvmMemmapEntry) };
            if entry.kind == MEMMAP_RAM {
                boot.ram.push(RamRegion {
                    start: entry.addr,
                    end: entry.addr.saturating_add(entry.size),
                });
            }
        }
    }
    boot
}
