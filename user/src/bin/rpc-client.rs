//! Request–reply client `<arg>`: sends ten requests and waits for each reply
//! on its own reply pipe.
#![no_std]
#![no_main]

use lukos_user::{LineBuf, Pipe, pair_from_bytes, println, timeout};

lukos_user::entry!(main);

fn main(client: u64) {
    let mut name = LineBuf::new();
    let _ = core::fmt::Write::write_fmt(&mut name, format_args!("rpc-reply-{client}"));
    let name = core::str::from_utf8(name.as_bytes()).unwrap_or("rpc-reply-x");
    let replies = Pipe::create(name, 16, 1, 0).expect("create reply pipe");
    let requests = Pipe::wait_for("rpc-req");
    let mut reply = [0u8; 16];
    for seq in 0..10u64 {
        let (a, b) = (seq * 7 + client, 100 * client);
        let mut msg = [0u8; 32];
        for (i, w) in [client, seq, a, b].iter().enumerate() {
            msg[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        println!("REQ c={client} seq={seq} a={a} b={b}");
        requests.write(&msg, timeout::FOREVER).expect("request");
        match replies.read(&mut reply, timeout::FOREVER) {
            Ok(_) => {
                let (rseq, sum) = pair_from_bytes(&reply);
                println!("REPLY c={client} seq={rseq} sum={sum}");
            }
            Err(status) => println!("REPLY c={client} failed: {status}"),
        }
    }
    println!("CLIENT c={client} done");
}
