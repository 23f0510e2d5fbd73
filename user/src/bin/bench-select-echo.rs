//! The other side of `bench-select`: owns 16 request pipes "bsel-0" ..
//! "bsel-15" and echoes each ping to "bsel-pong", waiting in one select
//! over the first 1, 2, then 16 of them.
#![no_std]
#![no_main]

use lukos_user::{LineBuf, Pipe, SelectMember, println, select, select_read, timeout};

lukos_user::entry!(main);

const ROUND_TRIPS: u64 = 1_000;
const MEMBERS: [usize; 3] = [1, 2, 16];

fn main(_arg: u64) {
    let requests: [Pipe; 16] = core::array::from_fn(|i| {
        let mut name = LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("bsel-{i}"));
        let name = core::str::from_utf8(name.as_bytes()).unwrap_or("bsel-x");
        Pipe::create(name, 8, 1, 0).expect("create request pipe")
    });
    let pong = Pipe::wait_for("bsel-pong");
    let mut bufs = [[0u8; 8]; 16];
    let mut lens = [0usize; 16];
    for members in MEMBERS {
        let mut list = [SelectMember::default(); 16];
        for (i, (buf, len)) in bufs.iter_mut().zip(lens.iter_mut()).enumerate() {
            list[i] = select_read(requests[i], buf, len);
        }
        for _ in 0..=ROUND_TRIPS {
            let got = select(&list[..members], timeout::FOREVER);
            let Some(index) = got.index.filter(|_| got.status.is_ok()) else {
                println!("BENCHSEL select failed: {got:?}");
                return;
            };
            if pong.write(&bufs[index], timeout::FOREVER).is_err() {
                return;
            }
        }
    }
}
