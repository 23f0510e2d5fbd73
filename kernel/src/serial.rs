//! The COM1 serial port: the kernel log, which QEMU streams to stdout.

use core::fmt;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3F8;

/// Programs COM1 for 115200 8N1 with FIFOs on.
pub fn init() {
    for (offset, value) in [
        (1, 0x00),
        (3, 0x80),
        (0, 0x01),
        (1, 0x00),
        (3, 0x03),
        (2, 0xC7),
        (4, 0x0B),
    ] {
        // SAFETY: COM1's registers are owned by this module; writing them
        // only configures the UART.
        unsafe { Port::<u8>::new(COM1 + offset).write(value) };
    }
}

fn write_byte(byte: u8) {
    // SAFETY: reading the line status register has no side effect.
    while unsafe { Port::<u8>::new(COM1 + 5).read() } & 0x20 == 0 {
        core::hint::spin_loop();
    }
    // SAFETY: the transmit holding register is empty (checked above).
    unsafe { Port::<u8>::new(COM1).write(byte) };
}

/// Writes raw bytes (user log lines are bytes, not necessarily UTF-8).
pub fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        write_byte(b);
    }
}

/// A `fmt::Write` sink for the serial port. The kernel runs with interrupts
/// off on one CPU, so no lock is needed around a line.
pub struct SerialWriter;

impl fmt::Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints to the serial log.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::serial::SerialWriter, $($arg)*);
    }};
}

/// Prints a line to the serial log.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::serial::SerialWriter, $($arg)*);
    }};
}
