//! Every way into and out of the kernel: interrupt/exception stubs, the
//! `syscall` entry, and the two exit paths (`iretq`, `sysretq`).
//!
//! The kernel has one trap stack per CPU and no per-thread kernel stacks (seL4 /
//! Hubris style): an entry pushes the full user register state as a
//! [`TrapFrame`] at the top of that stack and saves the SSE state with
//! `fxsave` *before any Rust code runs* (the precompiled `core` uses SSE).
//! Rust then copies the state into the current thread, handles the event,
//! picks the next thread and writes *its* state into the same frame and SSE
//! area; the stub restores from them and returns to ring 3. The kernel thus
//! never blocks and never switches stacks, and it always runs with
//! interrupts off; interrupts arrive from ring 3 or from the idle loop.

use crate::gdt::{IstStack, Selectors, USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::percpu::{self, MAX_CPUS};
use alloc::boxed::Box;
use core::sync::atomic::{AtomicPtr, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::idt::InterruptDescriptorTable;

/// The RFLAGS bits `syscall` clears (SFMASK), as Linux and seL4 do: with
/// NT left set the kernel's next `iretq` faults, with AC set SMAP is off,
/// with DF set copies run backwards, TF/RF would single-step or skip a
/// breakpoint in ring 0, IF would let interrupts in, and IOPL/ID are none
/// of ring 3's business in ring 0. Interrupt entries load a known RFLAGS
/// (only bit 1 set) instead.
pub const ENTRY_CLEARED_FLAGS: RFlags = RFlags::NESTED_TASK
    .union(RFlags::IOPL_HIGH)
    .union(RFlags::IOPL_LOW)
    .union(RFlags::RESUME_FLAG)
    .union(RFlags::ID)
    .union(RFlags::ALIGNMENT_CHECK)
    .union(RFlags::DIRECTION_FLAG)
    .union(RFlags::TRAP_FLAG)
    .union(RFlags::INTERRUPT_FLAG);

/// The `vector` value of a frame built by the `syscall` entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The register state of a thread as the entry stubs push it (lowest
/// address first). Also the layout a thread's saved context is kept in.
/// 16-byte aligned and a multiple of 16 long: TSS.RSP0 points at its end,
/// and the CPU aligns RSP0 down to 16 before pushing.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs, reason = "register names")]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Interrupt vector, or [`SYSCALL_VECTOR`].
    pub vector: u64,
    /// CPU error code (0 where the CPU pushes none).
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Whether the trap came from ring 3.
    pub fn is_from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// The 512-byte `fxsave` image (x87/MMX/SSE state).
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct FxState(pub [u8; 512]);

impl FxState {
    /// The state a fresh thread starts with: default FPU control word
    /// (0x037F) and MXCSR (0x1F80, all exceptions masked).
    pub fn initial() -> Self {
        let mut area = [0u8; 512];
        area[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        area[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        FxState(area)
    }
}

core::arch::global_asm!(
    r#"
    /* An interrupt or exception leaves AC, DF and ID as ring 3 had them
       (the CPU clears only IF, TF, NT and RF): load a known RFLAGS (IF
       off, everything else clear) before anything else runs, so SMAP is
       never off in the kernel and string copies run forwards. */
    .macro TRAP_NOERR num
trap_stub_\num:
    push 2
    popfq
    push 0
    push \num
    jmp trap_common
    .endm

    .macro TRAP_ERR num
trap_stub_\num:
    push 2
    popfq
    push \num
    jmp trap_common
    .endm

    .section .text
    .irp num, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
    TRAP_NOERR \num
    .endr
    .irp num, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    TRAP_NOERR \num
    .endr
    .irp num, 48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
    TRAP_NOERR \num
    .endr
    .irp num, 8,10,11,12,13,14,17,21,29,30
    TRAP_ERR \num
    .endr

    .macro PUSH_REGS
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    .endm

    /* Straight into the running thread's own SSE area: no copies when
       the kernel switches threads (it only repoints trap_fx_area). */
    .macro FXSAVE_AREA
    mov rax, gs:[{fx_area}]
    fxsave [rax]
    .endm

    .macro SAVE_REGS
    PUSH_REGS
    FXSAVE_AREA
    mov rdi, rsp
    .endm

    .macro FXRSTOR_AREA
    mov rax, gs:[{fx_area}]
    fxrstor [rax]
    .endm

    .macro POP_REGS
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    .endm

    /* syscall: rcx = user rip, r11 = user rflags; SFMASK cleared every
       RFLAGS bit the kernel must not inherit (see `init`). The frame is
       built where an interrupt from ring 3 builds it: in the running
       thread's own register area (trap_frame_top, also TSS.RSP0), as seL4
       does, so nothing is copied on a thread switch. Then onto the
       kernel stack for the Rust code. */
    .globl syscall_entry
syscall_entry:
    swapgs
    mov gs:[{user_rsp}], rsp
    mov rsp, gs:[{frame_top}]
    push {user_ss}
    push qword ptr gs:[{user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {syscall_vector}
    SAVE_REGS
    mov rsp, gs:[{stack_top}]
    call syscall_dispatch
    /* Falls through to trap_exit_user. */

    /* Returns to ring 3: to the thread whose register area trap_frame
       points at. */
    .globl trap_exit_user
trap_exit_user:
    mov rsp, gs:[{frame}]
    /* The dispatcher said whether sysretq may be used. */
    cmp qword ptr gs:[{sysret}], 0
    jne 4f
    /* iretq from the kernel stack: if the CPU refuses the frame, its
       fault is pushed there, not over the thread's area. */
    mov rax, gs:[{stack_top}]
    sub rax, 40
    mov rcx, [rsp + 136]
    mov [rax], rcx
    mov rcx, [rsp + 144]
    mov [rax + 8], rcx
    mov rcx, [rsp + 152]
    mov [rax + 16], rcx
    mov rcx, [rsp + 160]
    mov [rax + 24], rcx
    mov rcx, [rsp + 168]
    mov [rax + 32], rcx
    FXRSTOR_AREA
    POP_REGS
    mov rsp, gs:[{stack_top}]
    sub rsp, 40
    swapgs
    .globl trap_iretq
trap_iretq:
    iretq
4:
    FXRSTOR_AREA
    POP_REGS
    /* Thread entered through syscall: rcx and r11 are dead in its ABI.
       Stack: rip, cs, rflags, rsp, ss. */
    mov rcx, [rsp]
    mov r11, [rsp + 16]
    mov rsp, [rsp + 24]
    swapgs
    sysretq

    /* [rsp]: vector, error code, rip, cs, rflags, rsp, ss. From ring 3
       the CPU pushed this in the thread's register area (TSS.RSP0) or,
       for the IST vectors, on their own stack; from ring 0 (the idle
       loop's tick, or a kernel fault) on the current kernel stack. */
trap_common:
    test byte ptr [rsp + 24], 3
    jz 1f
    swapgs
    SAVE_REGS
    mov rsp, gs:[{stack_top}]
    call trap_dispatch
    jmp trap_exit_user
1:
    /* From ring 0, GS may still be the user's: an NMI, #DB or #MC can
       land between syscall and its swapgs or between the exit's swapgs
       and sysretq/iretq, and a refused iretq faults after the swapgs.
       GS_BASE decides (the user's is never a kernel-half address); ebx
       (callee-saved, already pushed) remembers whether to swap back. */
    PUSH_REGS
    mov ecx, 0xC0000101
    rdmsr
    xor ebx, ebx
    test edx, edx
    js 2f
    swapgs
    mov ebx, 1
2:
    FXSAVE_AREA
    mov rdi, rsp
    call trap_dispatch
    /* Non-zero: the trap killed the thread being returned to (a faulting
       iretq) and another thread is to run. */
    test rax, rax
    jnz trap_exit_user
    FXRSTOR_AREA
    test ebx, ebx
    jz 3f
    swapgs
3:
    POP_REGS
    iretq

    .section .bss
    /* Every kernel stack sits on top of a guard page that
       `paging::protect_kernel` leaves unmapped: an overflow faults (and
       the fault runs on an IST stack, so it is reported) instead of
       silently overwriting what lies below. */
    .balign 4096
    .irp cpu, 0,1,2,3,4,5,6,7
trap_stack_guard_\cpu:
    .skip 4096
    .skip 65536
trap_stack_top_\cpu:
double_fault_stack_guard_\cpu:
    .skip 4096
    .skip 16384
double_fault_stack_top_\cpu:
nmi_stack_guard_\cpu:
    .skip 4096
    .skip 16384
nmi_stack_top_\cpu:
machine_check_stack_guard_\cpu:
    .skip 4096
    .skip 16384
machine_check_stack_top_\cpu:
debug_stack_guard_\cpu:
    .skip 4096
    .skip 16384
debug_stack_top_\cpu:
    .endr

    .section .rodata
    .balign 8
    /* Per CPU: the trap stack, then the IST stacks in IstStack order. */
    .globl kernel_stack_tops
kernel_stack_tops:
    .irp cpu, 0,1,2,3,4,5,6,7
    .quad trap_stack_top_\cpu, double_fault_stack_top_\cpu, nmi_stack_top_\cpu
    .quad machine_check_stack_top_\cpu, debug_stack_top_\cpu
    .endr
    .globl kernel_stack_guards
kernel_stack_guards:
    .irp cpu, 0,1,2,3,4,5,6,7
    .quad trap_stack_guard_\cpu, double_fault_stack_guard_\cpu, nmi_stack_guard_\cpu
    .quad machine_check_stack_guard_\cpu, debug_stack_guard_\cpu
    .endr
trap_stub_table:
    .irp num, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad trap_stub_\num
    .endr
    .irp num, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad trap_stub_\num
    .endr
    .irp num, 48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
    .quad trap_stub_\num
    .endr
    "#,
    user_ss = const USER_DATA_SELECTOR,
    user_cs = const USER_CODE_SELECTOR,
    syscall_vector = const SYSCALL_VECTOR,
    fx_area = const percpu::TRAP_FX_AREA,
    user_rsp = const percpu::SYSCALL_USER_RSP,
    frame = const percpu::TRAP_FRAME,
    frame_top = const percpu::TRAP_FRAME_TOP,
    sysret = const percpu::EXIT_VIA_SYSRET,
    stack_top = const percpu::TRAP_STACK_TOP,
);

unsafe extern "C" {
    static trap_stub_table: [u64; VECTORS];
    static kernel_stack_tops: [[u64; 5]; MAX_CPUS];
    static kernel_stack_guards: [[u64; 5]; MAX_CPUS];
    fn syscall_entry();
    fn trap_exit_user() -> !;
    /// The `iretq` that returns to ring 3 (see [`is_user_return`]).
    static trap_iretq: u8;
}

/// Whether a ring-0 fault at `rip` is the return to ring 3 failing (e.g.
/// a non-canonical or otherwise bad return frame): the fault then belongs
/// to the thread being returned to, not to the kernel.
pub fn is_user_return(rip: u64) -> bool {
    rip == &raw const trap_iretq as u64
}

/// Vectors with an entry stub: the exceptions, the PIC's 16 IRQs
/// (32..48) and the local APIC's (48..64, see [`crate::lapic`]).
const VECTORS: usize = 64;

// The stacks above are laid out for exactly this many CPUs.
const _: () = assert!(MAX_CPUS == 8);

/// Top of CPU `cpu`'s trap stack (TSS RSP0, and the `syscall` entry's
/// stack).
pub fn trap_stack_top_addr(cpu: usize) -> u64 {
    // SAFETY: an immutable table of addresses defined above.
    unsafe { kernel_stack_tops[cpu][0] }
}

/// The tops of CPU `cpu`'s IST stacks, by [`IstStack`] slot.
pub fn ist_stack_tops(cpu: usize) -> [u64; 4] {
    // SAFETY: an immutable table of addresses defined above.
    let tops = unsafe { kernel_stack_tops[cpu] };
    [tops[1], tops[2], tops[3], tops[4]]
}

/// The guard page under each kernel stack of this module, every CPU's
/// (kernel-half addresses), to be left unmapped.
pub fn stack_guards() -> impl Iterator<Item = u64> {
    // SAFETY: an immutable table of addresses defined above.
    let guards: &[[u64; 5]; MAX_CPUS] = unsafe { &kernel_stack_guards };
    guards.iter().flatten().copied()
}

/// Makes `frame` the register area of the running thread: the `syscall`
/// entry builds its frame there, TSS.RSP0 points at its end (so an
/// interrupt from ring 3 pushes its frame there too), and the exit to
/// ring 3 restores from it. It must stay allocated while it is in use
/// (the scheduler points it at the thread it loads).
pub fn set_current_frame(frame: &mut TrapFrame) {
    let base: *mut TrapFrame = frame;
    let top = base as u64 + core::mem::size_of::<TrapFrame>() as u64;
    // Read only by this CPU's stubs; the kernel runs with interrupts off.
    percpu::set_trap_frame(base as u64);
    percpu::set_trap_frame_top(top);
    crate::gdt::set_rsp0(top);
}

/// Makes `area` the SSE save area of the entry and exit stubs: the next
/// exit restores the SSE state from it and every entry saves into it until
/// it is changed. It must stay allocated while it is in use: the
/// scheduler points it at the running thread's own area, and at the
/// CPU's scratch area (see [`use_scratch_fx`]) before that thread can
/// go away or while the CPU idles.
pub fn set_fx_area(area: &mut FxState) {
    percpu::set_trap_fx_area(area as *mut FxState as u64);
}

/// Points the stubs at this CPU's own scratch area (no thread's).
pub fn use_scratch_fx() {
    percpu::set_trap_fx_area(percpu::fx_scratch() as u64);
}

/// Chooses the exit instruction for the frame being returned to: `sysretq`
/// is only used for a thread whose last entry was `syscall` (its rcx/r11 are
/// dead) and whose rip is canonical user space.
#[inline(always)]
pub fn set_exit_via_sysret(sysret: bool) {
    percpu::set_exit_via_sysret(u64::from(sysret));
}

/// Builds and installs the IDT and programs the `syscall` MSRs (the boot
/// CPU; the others call [`init_cpu`]).
pub fn init(selectors: &Selectors) {
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY: reading an immutable asm-defined table of stub addresses.
    let stubs: &[u64; VECTORS] = unsafe { &trap_stub_table };
    let addr = |v: usize| VirtAddr::new(stubs[v]);
    // SAFETY: each address is an entry stub from the table above; the
    // stubs save the full state, call the dispatcher and return with
    // iretq/sysretq, as a handler must.
    unsafe {
        idt.divide_error.set_handler_addr(addr(0));
        // #DB, NMI, #MC and #DF can arrive when the stack pointer cannot
        // be trusted (NMI/#MC at any instruction, #DB on the first one of
        // an entry, #DF after a stack overflow): each gets a stack of its
        // own from the TSS (IST), like Linux and seL4.
        idt.debug
            .set_handler_addr(addr(1))
            .set_stack_index(IstStack::Debug as u16);
        idt.non_maskable_interrupt
            .set_handler_addr(addr(2))
            .set_stack_index(IstStack::Nmi as u16);
        idt.breakpoint.set_handler_addr(addr(3));
        idt.overflow.set_handler_addr(addr(4));
        idt.bound_range_exceeded.set_handler_addr(addr(5));
        idt.invalid_opcode.set_handler_addr(addr(6));
        idt.device_not_available.set_handler_addr(addr(7));
        idt.double_fault
            .set_handler_addr(addr(8))
            .set_stack_index(IstStack::DoubleFault as u16);
        idt.invalid_tss.set_handler_addr(addr(10));
        idt.segment_not_present.set_handler_addr(addr(11));
        idt.stack_segment_fault.set_handler_addr(addr(12));
        idt.general_protection_fault.set_handler_addr(addr(13));
        idt.page_fault.set_handler_addr(addr(14));
        idt.x87_floating_point.set_handler_addr(addr(16));
        idt.alignment_check.set_handler_addr(addr(17));
        idt.machine_check
            .set_handler_addr(addr(18))
            .set_stack_index(IstStack::MachineCheck as u16);
        idt.simd_floating_point.set_handler_addr(addr(19));
        idt.virtualization.set_handler_addr(addr(20));
        idt.cp_protection_exception.set_handler_addr(addr(21));
        idt.hv_injection_exception.set_handler_addr(addr(28));
        idt.vmm_communication_exception.set_handler_addr(addr(29));
        idt.security_exception.set_handler_addr(addr(30));
        for vector in 32..VECTORS as u8 {
            idt[vector].set_handler_addr(addr(usize::from(vector)));
        }
    }
    let idt: &'static InterruptDescriptorTable = Box::leak(Box::new(idt));
    IDT.store(core::ptr::from_ref(idt).cast_mut(), Ordering::Release);
    init_cpu(selectors);
}

/// The IDT all CPUs share (built once by [`init`]).
static IDT: AtomicPtr<InterruptDescriptorTable> = AtomicPtr::new(core::ptr::null_mut());

/// Loads the shared IDT and programs this CPU's `syscall` MSRs (each CPU
/// has its own). [`init`] must have run (on the boot CPU).
pub fn init_cpu(selectors: &Selectors) {
    // SAFETY: set once by `init` from a leaked table, never freed or
    // written again.
    let idt: &'static InterruptDescriptorTable = unsafe { &*IDT.load(Ordering::Acquire) };
    idt.load();
    Star::write(
        selectors.user_code,
        selectors.user_data,
        selectors.kernel_code,
        selectors.kernel_data,
    )
    .expect("GDT order fits syscall/sysret");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    SFMask::write(ENTRY_CLEARED_FLAGS);
}

/// Leaves the kernel for the first time, to the thread the scheduler
/// loaded (see [`set_current_frame`]).
pub fn enter_first() -> ! {
    // SAFETY: the scheduler has set the running thread's register area,
    // SSE area and exit mode, exactly as a trap would before returning;
    // the exit path switches to that area itself.
    unsafe { core::arch::asm!("jmp {0}", sym trap_exit_user, options(noreturn)) }
}
