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

/// Held while a line is written, so lines from different CPUs never mix
/// (last in the lock order: taken with any other lock held, and none is
/// taken under it). The PIT read of the line's time is under it too.
static LINE: lock_api::Mutex<crate::sync::SpinLock, ()> =
    lock_api::Mutex::const_new(crate::sync::SpinLock::new(), ());

/// Holds the serial line for one log line (see [`LINE`]).
pub fn lock_line() -> lock_api::MutexGuard<'static, crate::sync::SpinLock, ()> {
    LINE.lock()
}

/// A `fmt::Write` sink for the serial port; callers hold [`lock_line`]
/// for a whole line (the panic handler writes without it).
pub struct SerialWriter;

impl fmt::Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Starts a log line: `[seconds.micros] source: `. Every line of the log
/// starts this way, and only the kernel's own lines have the source
/// `kernel` (a process's source is `program#pid.tid`, and the text after it
/// can hold no line break: see [`write_escaped`]), so no process can forge
/// a kernel line.
pub fn start_line(source: fmt::Arguments<'_>) {
    use fmt::Write as _;
    let us = crate::timer::now_us();
    let _ = write!(
        SerialWriter,
        "[{:>4}.{:06}] {source}: ",
        us / 1_000_000,
        us % 1_000_000
    );
}

/// Writes untrusted bytes as printable ASCII: control bytes, DEL, bytes
/// above 0x7e and the backslash itself become `\xNN` / `\\`, so a
/// process's text can neither end the line nor drive a terminal.
pub fn write_escaped(bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        match b {
            b'\\' => write_bytes(b"\\\\"),
            0x20..=0x7e => write_byte(b),
            _ => write_bytes(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
        }
    }
}

/// Prints a kernel line to the serial log: `[time] kernel: ...`.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        // The arguments are evaluated first (they may take locks), then
        // the line is written under the line lock.
        match format_args!($($arg)*) {
            args => {
                let _line = $crate::serial::lock_line();
                $crate::serial::start_line(format_args!("kernel"));
                let _ = writeln!($crate::serial::SerialWriter, "{args}");
            }
        }
    }};
}
