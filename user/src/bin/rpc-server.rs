//! Request–reply server: requests `{client, seq, a, b}` arrive on
//! "rpc-req"; the reply `{seq, a + b}` goes to `"rpc-reply-<client>"`.
#![no_std]
#![no_main]

use lukos_user::{LineBuf, Pipe, println, timeout};

lukos_user::entry!(main);

/// Requests served before exiting (2 clients x 10).
const REQUESTS: u64 = 20;

fn word(bytes: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
    u64::from_ne_bytes(w)
}

fn main(_arg: u64) {
    let requests = Pipe::create("rpc-req", 32, 4, 0).expect("create rpc-req");
    let mut buf = [0u8; 32];
    for _ in 0..REQUESTS {
        if let Err(status) = requests.read(&mut buf, timeout::FOREVER) {
            println!("SERVE failed: {status}");
            return;
        }
        let (client, seq, a, b) = (word(&buf, 0), word(&buf, 1), word(&buf, 2), word(&buf, 3));
        let mut name = LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("rpc-reply-{client}"));
        let Ok(name) = core::str::from_utf8(name.as_bytes()) else {
            return;
        };
        let reply = Pipe::wait_for(name);
        println!("SERVE c={client} seq={seq}");
        let status = reply.write(&lukos_user::pair_to_bytes(seq, a + b), timeout::FOREVER);
        if let Err(status) = status {
            println!("SERVE reply failed: {status}");
        }
    }
    println!("SERVER done served={REQUESTS}");
}
