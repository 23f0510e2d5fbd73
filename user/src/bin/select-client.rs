//! A client of `select-server`: client `<arg>` (1..=3) sends `4 * arg`
//! requests on "sel-req-<arg>" and checks each reply on its own
//! "sel-reply-<arg>".
#![no_std]
#![no_main]

use lukos_user::{LineBuf, Pipe, pair_from_bytes, println, timeout};

lukos_user::entry!(main);

fn main(client: u64) {
    let name = |prefix: &str| {
        let mut name = LineBuf::new();
        let _ = core::fmt::Write::write_fmt(&mut name, format_args!("{prefix}{client}"));
        name
    };
    let reply_name = name("sel-reply-");
    let reply_name = core::str::from_utf8(reply_name.as_bytes()).unwrap_or("sel-bad");
    let replies = Pipe::create(reply_name, 16, 1, 0).expect("create reply pipe");
    let request_name = name("sel-req-");
    let requests = Pipe::wait_for(core::str::from_utf8(request_name.as_bytes()).unwrap_or("x"));
    let count = 4 * client;
    let mut good = 0;
    let mut reply = [0u8; 16];
    for seq in 0..count {
        let (a, b) = (seq * 7 + client, 100 * client);
        let mut msg = [0u8; 32];
        for (i, w) in [client, seq, a, b].iter().enumerate() {
            msg[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        requests.write(&msg, timeout::FOREVER).expect("request");
        match replies.read(&mut reply, timeout::FOREVER) {
            Ok(16) => {
                let (rseq, sum) = pair_from_bytes(&reply);
                let ok = rseq == seq && sum == a + b;
                good += u64::from(ok);
                println!(
                    "SELREPLY c={client} seq={rseq} sum={sum} want-seq={seq} want-sum={}",
                    a + b
                );
            }
            Ok(len) => println!("SELREPLY c={client} bad length {len}"),
            Err(status) => println!("SELREPLY c={client} failed: {status}"),
        }
    }
    println!("SELCLIENT c={client} done sent={count} good={good}");
}
