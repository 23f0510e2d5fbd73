//! The three pipe patterns of the LuKOS seed, run on the test kernel with
//! processes in separate fake address spaces:
//!
//! - blackboard: a sensor publishes, three displays peek the freshest value;
//! - token semaphore: three tokens, five workers, never more than three
//!   holders;
//! - message passing: a client and a server in different address spaces,
//!   with a request and a reply pipe.
//!
//! Run with `cargo run --release --example patterns -p ipcm --features testing`.

use ipcm::testing::{PAGE_SIZE, Perm, TestIpcm, TestKernel, ThreadId};
use ipcm::{Caller, PipeFlags, Priority, ProcessId, Progress, Status, UserAddr};

const BUF: usize = 0x1000;
const LEN: usize = 0x2000;

fn main() -> Result<(), Status> {
    blackboard()?;
    token_semaphore()?;
    message_passing()?;
    println!("all three patterns ran as specified");
    Ok(())
}

/// A process with one thread and two mapped pages (a buffer and a length).
fn process(ipcm: &TestIpcm, pid: u64) -> (ProcessId, ThreadId) {
    let process = ProcessId(pid);
    let thread = ipcm.kernel().spawn(process, Priority::default());
    ipcm.kernel()
        .map(process, BUF, 2 * PAGE_SIZE, Perm::ReadWrite);
    (process, thread)
}

fn blackboard() -> Result<(), Status> {
    let ipcm = TestIpcm::new(TestKernel::new());
    let (sensor_pid, sensor) = process(&ipcm, 1);
    let board = ipcm.create(
        Caller::Thread(&sensor),
        Some("temperature"),
        8,
        1,
        PipeFlags::DISCARD_OLDEST | PipeFlags::OWNER_WRITE,
    )?;
    let displays: Vec<_> = (2..5).map(|pid| process(&ipcm, pid)).collect();
    for reading in [20_i64, 21, 23, 22] {
        ipcm.kernel().poke(sensor_pid, BUF, &reading.to_le_bytes());
        let written = ipcm.try_write(&sensor, board, UserAddr(BUF), 8)?;
        for (pid, display) in &displays {
            let len = ipcm.try_peek(display, board, UserAddr(BUF), UserAddr(LEN))?;
            let seen = ipcm.kernel().peek_memory(*pid, BUF, len);
            let seen = i64::from_le_bytes(seen.try_into().expect("8 bytes"));
            assert_eq!(seen, reading, "a display must see the freshest value");
        }
        println!(
            "blackboard: sensor published {reading:>3} (dropped the previous: {}), 3 displays saw {reading}",
            written.dropped_oldest
        );
    }
    let info = ipcm.info(board)?;
    println!(
        "blackboard: written {}, dropped {}, still queued {}",
        info.written, info.dropped, info.queued
    );
    Ok(())
}

fn token_semaphore() -> Result<(), Status> {
    const TOKENS: usize = 3;
    let ipcm = TestIpcm::new(TestKernel::new());
    let tokens = ipcm.create(
        Caller::Kernel,
        Some("tokens"),
        1,
        TOKENS,
        PipeFlags::empty(),
    )?;
    for _ in 0..TOKENS {
        let _ = ipcm.kernel_write(tokens, b"T")?;
    }
    let workers: Vec<_> = (1..=5).map(|pid| process(&ipcm, pid)).collect();
    let mut holders = Vec::new();
    let mut waiting = Vec::new();
    for (_, worker) in &workers {
        match ipcm.read(worker, tokens, UserAddr(BUF), UserAddr(LEN))? {
            Progress::Done(_) => holders.push(*worker),
            Progress::Blocked(_) => waiting.push(*worker),
        }
    }
    println!(
        "token semaphore: {} holders, {} blocked (tokens: {TOKENS})",
        holders.len(),
        waiting.len()
    );
    assert_eq!(holders.len(), TOKENS);
    // Each release hands the token straight to the oldest waiter.
    while let Some(done) = holders.first().copied() {
        holders.remove(0);
        let (pid, _) = workers.iter().find(|(_, t)| *t == done).expect("worker");
        ipcm.kernel().poke(*pid, BUF, b"T");
        let released = ipcm.try_write(&done, tokens, UserAddr(BUF), 1)?;
        for (thread, status) in ipcm.kernel().take_wakes() {
            assert_eq!(status, Status::Ok);
            holders.push(thread);
            waiting.retain(|t| *t != thread);
        }
        assert!(holders.len() <= TOKENS, "never more holders than tokens");
        println!(
            "token semaphore: {done:?} released (handed off: {}), holders now {}",
            released.handed_off,
            holders.len()
        );
    }
    assert_eq!(ipcm.info(tokens)?.queued, TOKENS);
    Ok(())
}

fn message_passing() -> Result<(), Status> {
    let ipcm = TestIpcm::new(TestKernel::new());
    let (server_pid, server) = process(&ipcm, 1);
    let (client_pid, client) = process(&ipcm, 2);
    let requests = ipcm.create(
        Caller::Thread(&server),
        Some("srv.req"),
        32,
        4,
        PipeFlags::OWNER_READ,
    )?;
    let replies = ipcm.create(
        Caller::Thread(&server),
        Some("srv.rep"),
        32,
        4,
        PipeFlags::OWNER_WRITE,
    )?;
    // The server waits for a request before the client has sent one.
    assert!(matches!(
        ipcm.read(&server, requests, UserAddr(BUF), UserAddr(LEN))?,
        Progress::Blocked(_)
    ));
    for word in ["ping", "lukos", "pipes"] {
        ipcm.kernel().poke(client_pid, BUF, word.as_bytes());
        let _ = ipcm.try_write(
            &client,
            ipcm.lookup_by_name("srv.req")?,
            UserAddr(BUF),
            word.len(),
        )?;
        assert_eq!(ipcm.kernel().take_wakes(), [(server, Status::Ok)]);
        // The request is already in the server's address space.
        let len = ipcm.kernel().peek_usize(server_pid, LEN);
        let request = ipcm.kernel().peek_memory(server_pid, BUF, len);
        let reply = String::from_utf8_lossy(&request).to_uppercase();
        ipcm.kernel().poke(server_pid, BUF, reply.as_bytes());
        let _ = ipcm.try_write(&server, replies, UserAddr(BUF), reply.len())?;
        let len = ipcm.try_read(&client, replies, UserAddr(BUF), UserAddr(LEN))?;
        let got = ipcm.kernel().peek_memory(client_pid, BUF, len);
        println!(
            "message passing: client sent {word:?}, server replied {:?}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(got, word.to_uppercase().as_bytes());
        // The server waits for the next request.
        let _ = ipcm.read(&server, requests, UserAddr(BUF), UserAddr(LEN))?;
    }
    // Only the server's process may read requests.
    assert_eq!(
        ipcm.try_read(&client, requests, UserAddr(BUF), UserAddr(LEN)),
        Err(Status::Denied)
    );
    Ok(())
}
