//! The message-passing pattern: a server process owns a request pipe only
//! it may read; each client process owns a reply pipe only it may read.
//! Requests carry the id of the pipe to answer on.
//!
//! `cargo run -p ipcm-host --example message_passing`

use std::thread;

use bytemuck::{Pod, Zeroable};
use ipcm_host::{Access, Error, Ipc, MessagePipe, PipeId};

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct Request {
    reply_to: usize,
    a: u64,
    b: u64,
}

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct Reply {
    sum: u64,
}

/// Requests with this `reply_to` stop the server.
const SHUTDOWN: usize = 0;

fn main() -> Result<(), Error> {
    let kernel = Ipc::new();

    let server_process = kernel.new_process();
    let requests = server_process
        .pipe(size_of::<Request>(), 8)
        .name("adder")
        .access(Access::OwnerReads)
        .create()?;
    let requests: MessagePipe<Request> = MessagePipe::from_pipe(requests)?;
    let server = thread::spawn(move || -> Result<u32, Error> {
        let mut served = 0;
        loop {
            let request = requests.recv()?;
            if request.reply_to == SHUTDOWN {
                return Ok(served);
            }
            let reply_pipe = server_process.open_id(PipeId::from_raw(request.reply_to))?;
            let reply: MessagePipe<Reply> = MessagePipe::from_pipe(reply_pipe)?;
            reply.send(&Reply {
                sum: request.a + request.b,
            })?;
            served += 1;
        }
    });

    let clients: Vec<_> = (0..3_u64)
        .map(|client| {
            let process = kernel.new_process();
            thread::spawn(move || -> Result<(), Error> {
                let adder: MessagePipe<Request> = MessagePipe::open(&process, "adder")?;
                let replies = process
                    .pipe(size_of::<Reply>(), 1)
                    .access(Access::OwnerReads)
                    .create()?;
                let reply_to = replies.id().to_raw();
                let replies: MessagePipe<Reply> = MessagePipe::from_pipe(replies)?;
                for i in 0..4 {
                    let (a, b) = (client * 100, i);
                    adder.send(&Request { reply_to, a, b })?;
                    let reply = replies.recv()?;
                    assert_eq!(reply.sum, a + b);
                    println!("client {client}: {a} + {b} = {}", reply.sum);
                }
                // Nobody else may read our replies, nor the server's requests.
                assert_eq!(adder.try_recv().err(), Some(Error::Denied));
                replies.pipe().destroy()
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread")?;
    }
    let adder: MessagePipe<Request> = MessagePipe::open(&kernel, "adder")?;
    adder.send(&Request {
        reply_to: SHUTDOWN,
        a: 0,
        b: 0,
    })?;
    println!(
        "server answered {} requests",
        server.join().expect("server thread")?
    );
    Ok(())
}
