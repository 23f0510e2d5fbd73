//! Boot: the PVH entry QEMU jumps to, the switch from 32-bit protected mode
//! to long mode, and the hand-off to [`crate::kernel_entry`].
//!
//! QEMU's multiboot loader refuses ELF64 images, but it boots an ELF64 that
//! carries a Xen PVH note (`XEN_ELFNOTE_PHYS32_ENTRY`): it enters `pvh_start`
//! in 32-bit protected mode, paging off, with `ebx` pointing at an
//! `hvm_start_info` block. We identity-map the first GiB with 2 MiB pages
//! (supervisor only: this is the kernel region every address space shares),
//! enable PAE, long mode, `syscall`, NX, write protection and SSE, and jump to
//! 64-bit code.

use alloc::string::String;
use alloc::vec::Vec;

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

    .section .text.boot, "ax", @progbits
    .code32
    .globl pvh_start
pvh_start:
    cli
    cld
    /* The upper halves of the registers are undefined after the mode
       switch: keep the start-info pointer in memory. */
    movl %ebx, boot_start_info
    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB (present, writable, huge). */
    movl $boot_pdpt, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt
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
    movq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    call kernel_entry
2:
    hlt
    jmp 2b

    .section .rodata.boot, "a", @progbits
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

    .section .bss.boot, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096
    .balign 16
boot_stack:
    .skip 65536
boot_stack_top:
    .balign 8
boot_start_info:
    .skip 8
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    /// Physical address of the `hvm_start_info` block, stored by `pvh_start`.
    static boot_start_info: u64;
    /// The boot PML4: its entry 0 is the kernel region shared by all address spaces.
    static boot_pml4: u8;
    static __kernel_start: u8;
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
}

/// Physical address range occupied by the kernel image (text, data, bss,
/// boot page tables and stacks).
pub fn kernel_image() -> (u64, u64) {
    (
        &raw const __kernel_start as u64,
        &raw const __kernel_end as u64,
    )
}

/// Physical address of the boot PML4, whose entry 0 maps the kernel region.
pub fn boot_pml4_addr() -> u64 {
    &raw const boot_pml4 as u64
}

/// Reads the PVH start-info block.
///
/// Must run before the frame allocator exists (the block lives in RAM that
/// is otherwise free); everything is copied out.
pub fn read_boot_info() -> BootInfo {
    // SAFETY: `boot_start_info` was written once by `pvh_start` before any
    // Rust code ran and is never written again.
    let info_addr = unsafe { core::ptr::read_volatile(&raw const boot_start_info) };
    let mut boot = BootInfo {
        cmdline: String::new(),
        ram: Vec::new(),
    };
    if info_addr == 0 {
        return boot;
    }
    // SAFETY: the loader put a valid `hvm_start_info` at this physical
    // address; the first GiB is identity-mapped, and the block is not
    // reused before we are done (the frame allocator does not exist yet).
    let info = unsafe { &*(info_addr as *const HvmStartInfo) };
    if info.magic != XEN_HVM_START_MAGIC {
        return boot;
    }
    if info.cmdline_paddr != 0 {
        let mut addr = info.cmdline_paddr;
        // Bounded: a command line longer than 4 KiB is cut.
        while boot.cmdline.len() < 4096 {
            // SAFETY: the loader's NUL-terminated command line, identity-mapped.
            let byte = unsafe { *(addr as *const u8) };
            if byte == 0 {
                break;
            }
            boot.cmdline.push(byte as char);
            addr += 1;
        }
    }
    if info.version >= 1 && info.memmap_paddr != 0 {
        for i in 0..info.memmap_entries as u64 {
            let entry_addr = info.memmap_paddr + i * core::mem::size_of::<HvmMemmapEntry>() as u64;
            // SAFETY: `memmap_entries` entries follow `memmap_paddr`, identity-mapped.
            let entry = unsafe { &*(entry_addr as *const HvmMemmapEntry) };
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
