//! The hosted C runtime under contention, driven from Rust threads through
//! its C functions: writes and reads with timeouts short enough to expire
//! while the other side completes them. Each operation has exactly one
//! outcome: every write that returned OK is read exactly once, and no
//! write that returned TIMED_OUT is ever read.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use ipcm_ffi::*;

const WRITERS: u64 = 4;
const READERS: usize = 2;
const PER_WRITER: u64 = 3000;

/// Destroys the pipe when dropped, also while a panic unwinds, so the
/// readers always end and a failure is reported instead of hanging.
struct DestroyOnDrop(usize);

impl Drop for DestroyOnDrop {
    fn drop(&mut self) {
        let _ = ipcm_pipe_destroy(core::ptr::null_mut(), self.0);
    }
}

fn info(id: usize) -> ipcm_pipe_info_t {
    let mut info = ipcm_pipe_info_t::default();
    // SAFETY: a valid out-parameter.
    assert_eq!(unsafe { ipcm_pipe_info(id, &mut info) }, IPCM_STATUS_OK);
    info
}

#[test]
fn timeouts_racing_completions_give_each_operation_one_outcome() {
    assert_eq!(ipcm_host_init(), IPCM_STATUS_OK);
    // SAFETY: NULL name (anonymous pipe).
    let pipe = unsafe { ipcm_pipe_create(core::ptr::null_mut(), 16, 1, 0) };
    let id = ipcm_pipe_id(pipe);
    assert_ne!(id, 0);

    let received = Mutex::new(Vec::new());
    let readers_left = AtomicUsize::new(READERS);
    let (written, timed_out) = thread::scope(|scope| {
        let destroy = DestroyOnDrop(id);
        for _ in 0..READERS {
            scope.spawn(|| {
                /// Counts this reader out however it ends.
                struct Leave<'a>(&'a AtomicUsize);
                impl Drop for Leave<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let _leave = Leave(&readers_left);
                let mut mine = Vec::new();
                loop {
                    let mut buf = [0u8; 16];
                    let mut len = 0;
                    // SAFETY: 16 writable bytes and a size_t, alive for the call.
                    let status =
                        unsafe { ipcm_host_read(id, buf.as_mut_ptr().cast(), 16, &mut len, 5_000) };
                    match status {
                        IPCM_STATUS_OK => {
                            assert_eq!(len, 16);
                            mine.push(u128::from_ne_bytes(buf));
                            // Dawdle, so writers queue up on the full pipe and
                            // their deadlines pass while reads admit them.
                            for _ in 0..2_000 {
                                std::hint::spin_loop();
                            }
                        }
                        IPCM_STATUS_TIMED_OUT => {}
                        IPCM_STATUS_DESTROYED | IPCM_STATUS_NOT_FOUND => break,
                        other => panic!("read: {other}"),
                    }
                }
                received.lock().unwrap().extend(mine);
            });
        }
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                scope.spawn(move || {
                    let (mut ok, mut timed_out) = (Vec::new(), Vec::new());
                    for seq in 0..PER_WRITER {
                        let msg = (u128::from(writer) << 64 | u128::from(seq)).to_ne_bytes();
                        let timeout = if seq % 3 == 0 { 0 } else { 10_000 };
                        // SAFETY: 16 readable bytes, alive for the call.
                        match unsafe { ipcm_host_write(id, msg.as_ptr().cast(), 16, timeout) } {
                            IPCM_STATUS_OK => ok.push(u128::from_ne_bytes(msg)),
                            IPCM_STATUS_TIMED_OUT => timed_out.push(u128::from_ne_bytes(msg)),
                            other => panic!("write: {other}"),
                        }
                    }
                    (ok, timed_out)
                })
            })
            .collect();
        let (mut written, mut timed_out) = (Vec::new(), Vec::new());
        for writer in writers {
            let (ok, lost) = writer.join().unwrap();
            written.extend(ok);
            timed_out.extend(lost);
        }
        // No writer is left, so once the queue is empty every accepted
        // message has been taken by some read (counted or, if a read lost
        // one, missing from `received`): destroy ends the readers.
        while info(id).queued != 0 && readers_left.load(Ordering::SeqCst) == READERS {
            thread::yield_now();
        }
        assert_eq!(
            readers_left.load(Ordering::SeqCst),
            READERS,
            "a reader failed"
        );
        assert_eq!(info(id).written, written.len() as u64);
        drop(destroy);
        (written, timed_out)
    });

    let received = received.into_inner().unwrap();
    let unique: HashSet<_> = received.iter().copied().collect();
    assert_eq!(unique.len(), received.len(), "a message was read twice");
    let written: HashSet<_> = written.into_iter().collect();
    let lost: Vec<_> = written.difference(&unique).take(5).collect();
    assert!(lost.is_empty(), "accepted but never read, e.g. {lost:x?}");
    let ghosts: Vec<_> = timed_out
        .iter()
        .filter(|m| unique.contains(m))
        .take(5)
        .collect();
    assert!(ghosts.is_empty(), "timed out but read, e.g. {ghosts:x?}");
    assert!(unique.is_subset(&written), "read but never written");
    assert_eq!(
        written.len() + timed_out.len(),
        (WRITERS * PER_WRITER) as usize
    );
    println!("{} written, {} timed out", written.len(), timed_out.len());
}
