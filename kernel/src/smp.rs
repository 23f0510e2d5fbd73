//! Starting the application processors (APs).
//!
//! The boot CPU finds the CPUs in the ACPI MADT, maps the local APIC,
//! measures its timer against the PIT, copies a trampoline to
//! [`TRAMPOLINE`] (below 1 MiB, where a STARTUP IPI can point a CPU) and
//! starts the APs one at a time with INIT-SIPI-SIPI. Each AP climbs from
//! real mode to long mode in the trampoline (on page tables that map the
//! trampoline page at its physical address and the kernel half), then
//! runs [`ap_entry`] on its own kernel stack: its per-CPU block (GS), GDT,
//! TSS and IST stacks, the shared IDT, its `syscall` MSRs, SMEP/SMAP/UMIP,
//! its local APIC and timer.

use crate::{acpi, cpu, entry, frames, gdt, kprintln, lapic, paging, percpu};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Physical address of the trampoline page (free low memory: the frame
/// allocator never hands out the first MiB).
const TRAMPOLINE: u64 = 0x8000;
/// Offset of the parameters the boot CPU leaves for the starting AP.
const PARAMS: u64 = 0xF00;

core::arch::global_asm!(
    r#"
    .section .text
    .code16
    .globl ap_trampoline
ap_trampoline:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl {tramp} + (ap_gdt_ptr - ap_trampoline)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, ${tramp} + (ap_32 - ap_trampoline)

    .code32
ap_32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    /* CR4: PAE | OSFXSR | OSXMMEXCPT, as the boot CPU's. */
    movl %cr4, %eax
    orl $0x620, %eax
    movl %eax, %cr4
    movl {tramp} + {params}, %eax
    movl %eax, %cr3
    /* EFER: SCE | LME | NXE. */
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x901, %eax
    wrmsr
    /* CR0: clear EM; set PG | WP | MP | PE. */
    movl %cr0, %eax
    andl $0xFFFFFFFB, %eax
    orl $0x80010003, %eax
    movl %eax, %cr0
    ljmpl $0x18, ${tramp} + (ap_64 - ap_trampoline)

    .code64
ap_64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movq {tramp} + {params} + 8, %rsp
    movq {tramp} + {params} + 24, %rdi
    movq {tramp} + {params} + 16, %rax
    xorl %ebp, %ebp
    /* As if called: the ABI wants rsp + 8 16-byte aligned at entry. */
    pushq $0
    jmpq *%rax

    .balign 8
ap_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF    /* 32-bit code */
    .quad 0x00CF92000000FFFF    /* data */
    .quad 0x00AF9A000000FFFF    /* 64-bit code */
ap_gdt_ptr:
    .word 31
    .long {tramp} + (ap_gdt - ap_trampoline)
    .globl ap_trampoline_end
ap_trampoline_end:
    "#,
    tramp = const TRAMPOLINE,
    params = const PARAMS,
    options(att_syntax)
);

unsafe extern "C" {
    static ap_trampoline: u8;
    static ap_trampoline_end: u8;
}

/// CPUs running the kernel (the boot CPU counts).
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// Set by the starting AP once it no longer needs the trampoline.
static AP_UP: AtomicBool = AtomicBool::new(false);
/// Local APIC id of each online CPU, by CPU index.
static APIC_IDS: [core::sync::atomic::AtomicU8; percpu::MAX_CPUS] =
    [const { core::sync::atomic::AtomicU8::new(0) }; percpu::MAX_CPUS];

/// How many CPUs run the kernel.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The local APIC id of CPU `index`.
pub fn apic_id(index: usize) -> u8 {
    APIC_IDS[index].load(Ordering::Relaxed)
}

fn write_param(offset: u64, value: u64) {
    let at = crate::boot::phys_to_virt(TRAMPOLINE + PARAMS + offset) as *mut u64;
    // SAFETY: the trampoline page is low memory the kernel owns (never
    // handed out by the frame allocator), mapped in the kernel half; no AP
    // reads the parameters while they are written (one starts at a time).
    unsafe { at.write_volatile(value) };
}

/// Page tables for the trampoline: the kernel half, plus the first 2 MiB
/// at their physical address (the trampoline runs there after enabling
/// paging). Returns the PML4 and the two tables to free afterwards.
fn trampoline_tables() -> Option<[frames::Frame; 3]> {
    let pml4 = frames::alloc_zeroed()?;
    let pdpt = frames::alloc_zeroed()?;
    let pd = frames::alloc_zeroed()?;
    let table = |frame: frames::Frame| crate::boot::phys_to_virt(frame.0) as *mut u64;
    let boot = crate::boot::phys_to_virt(crate::boot::boot_pml4_addr()) as *const u64;
    // SAFETY: three fresh zeroed frames, mapped in the kernel half and
    // referenced by nothing else; the boot PML4 is read only.
    unsafe {
        table(pml4).add(511).write(boot.add(511).read());
        table(pml4).write(pdpt.0 | 3);
        table(pdpt).write(pd.0 | 3);
        table(pd).write(0x83); // 2 MiB at 0: present, writable, huge
    }
    Some([pml4, pdpt, pd])
}

/// Starts every CPU the MADT lists (at most [`percpu::MAX_CPUS`]); logs
/// how many came online. With one CPU nothing changes: no local APIC.
pub fn start(rsdp: u64) {
    let Some(madt) = acpi::madt(rsdp) else {
        kprintln!("smp: no ACPI MADT; 1 CPU online");
        return;
    };
    let listed = madt.apic_ids.len();
    if listed <= 1 {
        kprintln!("smp: 1 of 1 CPUs online");
        return;
    }
    if lapic::map(madt.lapic_addr).is_err() {
        kprintln!("smp: no frame to map the local APIC; 1 CPU online");
        return;
    }
    lapic::enable();
    let own = lapic::id();
    APIC_IDS[0].store(own, Ordering::Relaxed);
    lapic::calibrate();
    let Some(tables) = trampoline_tables() else {
        kprintln!("smp: no frames for the trampoline; 1 CPU online");
        return;
    };
    let code_start = &raw const ap_trampoline as usize;
    let code_len = &raw const ap_trampoline_end as usize - code_start;
    assert!(
        code_len as u64 <= PARAMS,
        "trampoline overlaps its parameters"
    );
    // SAFETY: copies the trampoline's code (kernel text) to the low page
    // reserved for it, mapped in the kernel half, which nothing else uses.
    unsafe {
        core::ptr::copy_nonoverlapping(
            code_start as *const u8,
            crate::boot::phys_to_virt(TRAMPOLINE) as *mut u8,
            code_len,
        );
    }
    write_param(0, tables[0].0);
    write_param(16, ap_entry as *const () as u64);
    for &apic_id in madt.apic_ids.iter().filter(|&&id| id != own) {
        let index = online();
        if index == percpu::MAX_CPUS {
            break;
        }
        APIC_IDS[index].store(apic_id, Ordering::Relaxed);
        write_param(8, entry::trap_stack_top_addr(index));
        write_param(24, index as u64);
        AP_UP.store(false, Ordering::Release);
        lapic::start_cpu(apic_id, (TRAMPOLINE >> 12) as u8);
        // Up to 5 s of emulated time: a vCPU thread of a loaded host may
        // be slow to run.
        let mut waited = 0;
        while !AP_UP.load(Ordering::Acquire) && waited < 50_000 {
            crate::timer::wait_us(100);
            waited += 1;
        }
        if !AP_UP.load(Ordering::Acquire) {
            kprintln!("smp: CPU with local APIC id {apic_id} did not start");
            break;
        }
    }
    for frame in tables {
        frames::free(frame);
    }
    kprintln!(
        "smp: {} of {listed} CPUs online; local APIC timer {} counts per tick",
        online(),
        lapic::counts_per_tick()
    );
}

/// An AP's first Rust code, on its own kernel stack (from the trampoline).
extern "C" fn ap_entry(index: u64) -> ! {
    let index = index as usize;
    // Off the trampoline's tables (which the boot CPU frees) onto the
    // kernel's own.
    paging::activate_kernel_only();
    percpu::init_this_cpu(index, entry::trap_stack_top_addr(index));
    let selectors = gdt::init(
        entry::trap_stack_top_addr(index),
        entry::ist_stack_tops(index),
    );
    entry::init_cpu(&selectors);
    cpu::harden();
    lapic::enable();
    ONLINE.fetch_add(1, Ordering::AcqRel);
    AP_UP.store(true, Ordering::Release);
    kprintln!("smp: CPU {index} online (local APIC id {})", lapic::id());
    lapic::start_timer();
    crate::sched::run_ap()
}
