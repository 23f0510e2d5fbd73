//! The local APIC (xAPIC, memory-mapped): each CPU's timer, end of
//! interrupt, and the inter-processor interrupts (INIT/SIPI to start a
//! CPU, fixed vectors to reschedule one).
//!
//! Only used when more than one CPU runs: on one CPU the PIT alone drives
//! the tick, exactly as before.

use crate::timer;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The local APIC timer's vector (an application processor's tick).
pub const TIMER_VECTOR: u64 = 48;
/// An IPI that makes a CPU look at the ready queue (it idles otherwise).
pub const RESCHEDULE_VECTOR: u64 = 49;
/// An IPI that makes a CPU drop an address space that is going away
/// (see [`crate::tlb`]).
pub const TLB_VECTOR: u64 = 50;
/// The spurious-interrupt vector (no EOI).
pub const SPURIOUS_VECTOR: u64 = 63;

const ID: usize = 0x20;
const TPR: usize = 0x80;
const EOI: usize = 0xB0;
const SVR: usize = 0xF0;
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
const LVT_TIMER: usize = 0x320;
const TIMER_INITIAL: usize = 0x380;
const TIMER_CURRENT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3E0;

/// Kernel address of the registers (0: not mapped, one CPU).
static BASE: AtomicU64 = AtomicU64::new(0);
/// Timer counts (divide by 16) per kernel tick, measured on the PIT.
static COUNTS_PER_TICK: AtomicU32 = AtomicU32::new(0);

fn read(reg: usize) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    debug_assert!(base != 0);
    // SAFETY: `base` maps the local APIC's 4 KiB register page uncached
    // (`map`); `reg` is one of its 16-byte-aligned 32-bit registers.
    unsafe { core::ptr::read_volatile((base as usize + reg) as *const u32) }
}

fn write(reg: usize, value: u32) {
    let base = BASE.load(Ordering::Relaxed);
    debug_assert!(base != 0);
    // SAFETY: as for `read`; writing a register only programs this CPU's
    // local APIC (or, for the ICR, sends the IPI the caller asked for).
    unsafe { core::ptr::write_volatile((base as usize + reg) as *mut u32, value) };
}

/// Maps the registers at `phys` (from the MADT) for every CPU.
pub fn map(phys: u64) -> Result<(), crate::paging::OutOfMemory> {
    let virt = crate::paging::map_device(0, phys)?;
    BASE.store(virt, Ordering::Relaxed);
    Ok(())
}

/// This CPU's local APIC id.
pub fn id() -> u8 {
    (read(ID) >> 24) as u8
}

/// Software-enables this CPU's local APIC, accepting every priority.
pub fn enable() {
    write(TPR, 0);
    write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
}

/// Ends the interrupt being handled (not for the spurious vector).
pub fn eoi() {
    write(EOI, 0);
}

/// Measures this CPU's timer against the PIT over one tick (boot CPU, the
/// PIT running, interrupts off).
pub fn calibrate() {
    write(TIMER_DIVIDE, 0x3);
    write(LVT_TIMER, 1 << 16); // masked, one-shot
    write(TIMER_INITIAL, u32::MAX);
    timer::wait_pit_ticks(1);
    let counted = u32::MAX - read(TIMER_CURRENT);
    write(TIMER_INITIAL, 0);
    COUNTS_PER_TICK.store(counted.max(1), Ordering::Relaxed);
}

/// Timer counts per tick found by [`calibrate`].
pub fn counts_per_tick() -> u32 {
    COUNTS_PER_TICK.load(Ordering::Relaxed)
}

/// Starts this CPU's periodic tick ([`TIMER_VECTOR`], one per kernel tick).
pub fn start_timer() {
    write(TIMER_DIVIDE, 0x3);
    write(LVT_TIMER, (1 << 17) | TIMER_VECTOR as u32);
    write(TIMER_INITIAL, counts_per_tick());
}

fn send(apic_id: u8, command: u32) {
    write(ICR_HIGH, u32::from(apic_id) << 24);
    write(ICR_LOW, command);
    // Delivery status (bit 12) clears once the IPI is sent.
    while read(ICR_LOW) & (1 << 12) != 0 {
        core::hint::spin_loop();
    }
}

/// INIT, then two STARTUPs at `page` (the trampoline's physical page
/// number, below 1 MiB), with the waits the MP specification asks.
pub fn start_cpu(apic_id: u8, page: u8) {
    send(apic_id, 0x4500); // INIT, assert, level
    timer::wait_us(10_000);
    for _ in 0..2 {
        send(apic_id, 0x4600 | u32::from(page)); // STARTUP
        timer::wait_us(200);
    }
}

/// Sends `vector` to the CPU with local APIC id `apic_id`.
pub fn send_ipi(apic_id: u8, vector: u64) {
    send(apic_id, 0x4000 | vector as u32);
}
