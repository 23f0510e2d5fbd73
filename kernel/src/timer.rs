//! The preemption timer: the legacy PIT on IRQ 0 through the 8259 PIC,
//! remapped to vectors 32..48. One tick is [`TICK_MS`] milliseconds.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// Vector of IRQ 0 after remapping.
pub const TIMER_VECTOR: u64 = 32;
/// First vector of the master PIC after remapping.
const PIC1_OFFSET: u8 = 32;
/// First vector of the slave PIC after remapping.
const PIC2_OFFSET: u8 = 40;
/// Tick length in milliseconds (100 Hz).
pub const TICK_MS: u64 = 10;
const PIT_HZ: u64 = 1_193_182;

/// Ticks since boot. Written by the timer interrupt, which may also arrive
/// while the idle loop waits (hence an atomic rather than scheduler state).
static TICKS: AtomicU64 = AtomicU64::new(0);
/// The PIT runs (`init` done): before, [`now_us`] is 0.
static STARTED: AtomicBool = AtomicBool::new(false);
/// The largest time [`now_us`] returned (it is monotonic).
static LAST_US: AtomicU64 = AtomicU64::new(0);
/// PIT input clocks per tick.
const DIVISOR: u64 = PIT_HZ * TICK_MS / 1000;

fn inb(port: u16) -> u8 {
    // SAFETY: reading the PIT's channel-0 data port (after a latch
    // command) only returns the latched count.
    unsafe { Port::<u8>::new(port).read() }
}

fn outb(port: u16, value: u8) {
    // SAFETY: the PIC (0x20/0x21/0xA0/0xA1) and PIT (0x40/0x43) ports are
    // owned by this module; writes only program those devices.
    unsafe { Port::<u8>::new(port).write(value) };
}

/// Remaps the PICs, masks every IRQ but the timer, and starts the PIT.
pub fn init() {
    // ICW1: init + ICW4 needed; ICW2: offsets; ICW3: cascade; ICW4: 8086 mode.
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, PIC1_OFFSET);
    outb(0xA1, PIC2_OFFSET);
    outb(0x21, 4);
    outb(0xA1, 2);
    outb(0x21, 0x01);
    outb(0xA1, 0x01);
    // Mask everything except IRQ 0.
    outb(0x21, 0xFE);
    outb(0xA1, 0xFF);
    // PIT channel 0, lobyte/hibyte, mode 2 (rate generator).
    let divisor = DIVISOR as u16;
    outb(0x43, 0x34);
    outb(0x40, (divisor & 0xFF) as u8);
    outb(0x40, (divisor >> 8) as u8);
    STARTED.store(true, Ordering::Relaxed);
}

/// Acknowledges the timer interrupt and counts the tick.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    outb(0x20, 0x20);
}

/// Acknowledges a (spurious or unexpected) IRQ on the given vector.
pub fn acknowledge(vector: u64) {
    // IRQ 7 / 15 may be spurious: those must not get an EOI for the master
    // (7) — being masked, any other IRQ is unexpected; EOI it to be safe.
    if vector == 39 {
        return;
    }
    if vector >= u64::from(PIC2_OFFSET) {
        outb(0xA0, 0x20);
    }
    outb(0x20, 0x20);
}

/// Microseconds since the timer started (0 before), for log lines: whole
/// ticks plus the part of the current tick the PIT counter has run down.
/// Never goes back, even when a tick is due but not yet counted.
pub fn now_us() -> u64 {
    if !STARTED.load(Ordering::Relaxed) {
        return 0;
    }
    let count = pit_count().min(DIVISOR);
    let tick_us = TICK_MS * 1000;
    let us = now() * tick_us + (DIVISOR - count) * tick_us / DIVISOR;
    LAST_US.fetch_max(us, Ordering::Relaxed).max(us)
}

/// Ticks since boot.
pub fn now() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Serialises the PIT's latch-and-read sequence between CPUs (taken last:
/// under the serial line's lock when a log line reads the time).
static PIT: lock_api::Mutex<crate::sync::SpinLock, ()> =
    lock_api::Mutex::const_new(crate::sync::SpinLock::new(), ());

/// The PIT's channel-0 count (it runs down from [`DIVISOR`], then reloads).
fn pit_count() -> u64 {
    let _pit = PIT.lock();
    // Latch channel 0's count, then read it low byte first.
    outb(0x43, 0x00);
    let low = inb(0x40);
    let high = inb(0x40);
    u64::from(u16::from_le_bytes([low, high]))
}

/// Busy-waits `counts` PIT input clocks by polling its counter (works with
/// interrupts off, and on the emulated clock whatever the host's speed).
fn wait_pit_counts(counts: u64) {
    let mut previous = pit_count();
    let mut elapsed = 0;
    while elapsed < counts {
        let now = pit_count();
        elapsed += if now <= previous {
            previous - now
        } else {
            previous + DIVISOR - now
        };
        previous = now;
    }
}

/// Busy-waits `ticks` kernel ticks on the PIT (see [`wait_pit_counts`]).
pub fn wait_pit_ticks(ticks: u64) {
    wait_pit_counts(ticks * DIVISOR);
}

/// Busy-waits at least `us` microseconds on the PIT.
pub fn wait_us(us: u64) {
    wait_pit_counts((us * PIT_HZ).div_ceil(1_000_000));
}
