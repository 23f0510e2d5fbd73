//! Blocks reading the hog's pipe; when the hog exits its pipe must be
//! destroyed and this read woken with DESTROYED. Then takes pipe store:
//! the hog's bytes must be free again.
#![no_std]
#![no_main]

use lukos_user::{Pipe, Status, println};

lukos_user::entry!(main);

fn main(_arg: u64) {
    let pipe = Pipe::wait_for("hog-pipe");
    let mut buf = [0u8; 8];
    // A timeout, so a kernel that never destroys the pipe fails this
    // check instead of deadlocking the run.
    let result = pipe.read(&mut buf, 300);
    println!("HOGWAIT read result={result:?}");
    let mut created = 0u64;
    let status = loop {
        match Pipe::create("", 1024, 255, 0) {
            Ok(_) => created += 1,
            Err(Status(code)) => break code,
        }
    };
    println!(
        "HOGWAIT created-after={created} status={}",
        lukos_user::status::name(status)
    );
}
