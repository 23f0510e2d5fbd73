//! `hostile-select`, random inputs: 3000 calls of the §9 system calls with
//! arguments drawn from a seeded generator (pipe ids of its own pipes or
//! anything; pointers null, kernel, unmapped, non-canonical, wrapping or
//! into a scratch area; member lists of random records in the scratch
//! area; counts around SELECT_MAX; timeout 0 so nothing waits long). The
//! kernel must answer every one with a status; the tally is printed.
#![no_std]
#![no_main]

use lukos_user::{Pipe, SELECT_MAX, SelectMember, nr, status, sys};

lukos_user::entry!(main);

/// Calls made.
const CALLS: u64 = 3000;
/// Bytes the kernel may write: every valid pointer points in here.
const SCRATCH: usize = 4096;

static mut SCRATCH_AREA: [u8; SCRATCH] = [0; SCRATCH];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn scratch() -> u64 {
    (&raw mut SCRATCH_AREA) as u64
}

/// A pointer that is bad in one of several ways, or inside the scratch
/// area (the last 64 bytes of it may run past its end: still mapped, the
/// program's own data).
fn pointer(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => 0xffff_ffff_8010_0000 + rng.below(0x1000),
        2 => 0x7fff_ffff_f000 + rng.below(0x1000),
        3 => 0x8000_0000_0000 + rng.below(0x1000),
        4 => u64::MAX - rng.below(16),
        _ => scratch() + rng.below((SCRATCH - 256) as u64),
    }
}

fn pipe_id(rng: &mut Rng, pipes: &[Pipe]) -> u64 {
    if rng.below(4) == 0 {
        rng.next()
    } else {
        pipes[rng.below(pipes.len() as u64) as usize].id()
    }
}

fn main(_arg: u64) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let pipes = [
        Pipe::create("", 8, 4, 0).expect("create"),
        Pipe::create("", 16, 1, 0).expect("create"),
        Pipe::create("", 8, 0, 0).expect("create rendezvous"),
        Pipe::create("", 32, 2, lukos_user::flags::DISCARD_OLDEST).expect("create"),
    ];
    let mut tally = [0u64; 16];
    let mut other = 0u64;
    for call in 0..CALLS {
        // Half of the calls are selects; close and purge only near the
        // end (a closed pipe answers CLOSED to everything after).
        let number = match rng.below(12) {
            0..6 => nr::PIPE_SELECT,
            6 => nr::PIPE_WRITE_URGENT,
            7 | 8 => nr::PIPE_READ_SEQ,
            9 => nr::PIPE_PEEK_NEWER,
            10 => nr::PIPE_PEEK_AT,
            _ if call > CALLS - 300 => nr::PIPE_CLOSE - rng.below(2),
            _ => nr::PIPE_WRITE_URGENT,
        };
        let code = match number {
            nr::PIPE_SELECT => {
                // A list of random members in the scratch area (or a bad
                // list pointer), a count from 0 to SELECT_MAX + 2.
                let at = scratch() + 2048;
                let count = rng.below(SELECT_MAX as u64 + 3);
                for i in 0..count.min(SELECT_MAX as u64) {
                    let member = SelectMember {
                        // Mostly valid ops on its own pipes, so that some
                        // selects get past the checks.
                        op: if rng.below(32) == 0 {
                            rng.next()
                        } else {
                            rng.below(3)
                        },
                        pipe: if rng.below(16) == 0 {
                            rng.next()
                        } else {
                            pipes[rng.below(pipes.len() as u64) as usize].id()
                        },
                        buf: pointer(&mut rng),
                        arg: if rng.below(2) == 0 {
                            rng.below(40)
                        } else {
                            pointer(&mut rng)
                        },
                    };
                    let words = [member.op, member.pipe, member.buf, member.arg];
                    for (j, w) in words.iter().enumerate() {
                        let offset = 2048 + (i as usize) * SelectMember::SIZE + j * 8;
                        // SAFETY: offset + 8 <= 2048 + 16 * 32 < SCRATCH;
                        // one thread, and the kernel writes the area only
                        // during a call.
                        unsafe {
                            (&raw mut SCRATCH_AREA)
                                .cast::<u8>()
                                .add(offset)
                                .cast::<u64>()
                                .write_unaligned(*w)
                        };
                    }
                }
                let list = if rng.below(8) == 0 {
                    pointer(&mut rng)
                } else {
                    at
                };
                sys::pipe_select(list, count, 0).0
            }
            _ => {
                let args = [
                    pipe_id(&mut rng, &pipes),
                    if rng.below(2) == 0 {
                        rng.below(40)
                    } else {
                        pointer(&mut rng)
                    },
                    pointer(&mut rng),
                    pointer(&mut rng),
                ];
                let (a, b, c, d) = (args[0], args[1], args[2], args[3]);
                // Timeouts 0: now or never.
                let (code, _) = match number {
                    nr::PIPE_WRITE_URGENT => sys::syscall5(number, a, c, b, 0, 0),
                    nr::PIPE_PURGE | nr::PIPE_CLOSE => sys::syscall5(number, a, 0, 0, 0, 0),
                    nr::PIPE_READ_SEQ => sys::syscall5(number, a, c, d, 0, 0),
                    nr::PIPE_PEEK_NEWER => sys::syscall5(number, a, b, c, d, 0),
                    _ => sys::syscall5(number, a, b, c, d, 0),
                };
                code
            }
        };
        match tally.get_mut(code as usize) {
            Some(n) => *n += 1,
            None => other += 1,
        }
    }
    let mut line = lukos_user::LineBuf::new();
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("SELFUZZ calls={CALLS}"));
    for (code, n) in tally.iter().enumerate() {
        if *n > 0 {
            let _ = core::fmt::Write::write_fmt(
                &mut line,
                format_args!(" {}={n}", status::name(code as u64)),
            );
        }
    }
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" other={other}"));
    lukos_user::print_bytes(line.as_bytes());
}
