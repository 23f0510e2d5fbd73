//! One server, three clients, one select (DESIGN §9): the server owns a
//! request pipe per client ("sel-req-<c>") and waits on all three with one
//! `pipe_select` of three read members; each request `{client, seq, a, b}`
//! gets the reply `{seq, a + b}` on that client's "sel-reply-<c>".
#![no_std]
#![no_main]

use lukos_user::{LineBuf, Pipe, pair_to_bytes, println, select, select_read, timeout};

lukos_user::entry!(main);

/// Clients, numbered 1..=CLIENTS.
const CLIENTS: usize = 3;

/// Requests client `c` sends (4, 8 and 12: unequal, so the per-client
/// counts show who was served).
const fn requests_of(client: u64) -> u64 {
    4 * client
}

fn word(bytes: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
    u64::from_ne_bytes(w)
}

/// The pipe named `prefix` + `client`.
fn named(prefix: &str, client: usize, create: bool) -> Pipe {
    let mut name = LineBuf::new();
    let _ = core::fmt::Write::write_fmt(&mut name, format_args!("{prefix}{client}"));
    let name = core::str::from_utf8(name.as_bytes()).unwrap_or("sel-bad");
    if create {
        Pipe::create(name, 32, 2, 0).expect("create request pipe")
    } else {
        Pipe::wait_for(name)
    }
}

fn main(_arg: u64) {
    let requests: [Pipe; CLIENTS] = core::array::from_fn(|i| named("sel-req-", i + 1, true));
    let total: u64 = (1..=CLIENTS as u64).map(requests_of).sum();
    let mut replies: [Option<Pipe>; CLIENTS] = [None; CLIENTS];
    let mut served = [0u64; CLIENTS];
    let mut bufs = [[0u8; 32]; CLIENTS];
    let mut lens = [0usize; CLIENTS];
    for _ in 0..total {
        let [b0, b1, b2] = &mut bufs;
        let [l0, l1, l2] = &mut lens;
        let members = [
            select_read(requests[0], b0, l0),
            select_read(requests[1], b1, l1),
            select_read(requests[2], b2, l2),
        ];
        let outcome = select(&members, timeout::FOREVER);
        let Some(index) = outcome.index.filter(|_| outcome.status.is_ok()) else {
            println!("SELSERVE select failed: {:?}", outcome);
            return;
        };
        let buf = &bufs[index];
        let (client, seq, a, b) = (word(buf, 0), word(buf, 1), word(buf, 2), word(buf, 3));
        // Every other member was withdrawn: its buffer is untouched, its
        // pipe still holds its message.
        println!(
            "SELSERVE index={index} c={client} seq={seq} len={}",
            lens[index]
        );
        served[index] += 1;
        let reply = *replies[index].get_or_insert_with(|| named("sel-reply-", index + 1, false));
        if let Err(status) = reply.write(&pair_to_bytes(seq, a + b), timeout::FOREVER) {
            println!("SELSERVE reply failed: {status}");
        }
    }
    println!(
        "SELSERVER done served={total} c1={} c2={} c3={}",
        served[0], served[1], served[2]
    );
}
