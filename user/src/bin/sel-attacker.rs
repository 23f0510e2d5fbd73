//! `hostile-select`: hostile inputs to the §9 system calls, each answered
//! with a status and a kernel log line, nothing changed; then a thread
//! blocked in a select when its process is killed by a fault.
#![no_std]
#![no_main]

use lukos_user::{
    Pipe, SELECT_MAX, SelectMember, Selected, println, select, select_read, select_write, sleep,
    spawn, sys, timeout,
};

lukos_user::entry!(main);

/// A kernel address: mapped, but supervisor-only.
const KERNEL_ADDR: u64 = 0xffff_ffff_8010_0000;

fn show(what: &str, got: Selected) {
    println!(
        "SELATTACK {what} index={:?} status={:?}",
        got.index, got.status
    );
}

/// The attacker's second thread: selects on the owner's two kill pipes,
/// forever; it is still waiting when the process dies.
fn waiter(_arg: u64) {
    let (a, b) = (Pipe::wait_for("hs-kill-a"), Pipe::wait_for("hs-kill-b"));
    let (mut ba, mut bb) = ([0u8; 8], [0u8; 8]);
    let (mut la, mut lb) = (0, 0);
    let members = [
        select_read(a, &mut ba, &mut la),
        select_read(b, &mut bb, &mut lb),
    ];
    let got = select(&members, timeout::FOREVER);
    show("waiter woke (must not happen)", got);
}

/// Writes 6 to pipe `id` a tick from now.
fn write_later(id: u64) {
    sleep(1);
    let _ = Pipe::from_id(id).write(&6u64.to_ne_bytes(), timeout::FOREVER);
}

fn main(_arg: u64) {
    let mine = Pipe::create("hs-att", 8, 4, 0).expect("create hs-att");
    let other = Pipe::create("", 8, 4, 0).expect("create");
    let (mut buf, mut len) = ([0u8; 8], 0usize);
    let good = select_read(other, &mut buf, &mut len);
    let list = [good; SELECT_MAX + 1];

    // The member count: 0, one over SELECT_MAX, absurd.
    for (what, count) in [("count-0", 0), ("count-17", 17), ("count-huge", u64::MAX)] {
        let (code, index) = sys::pipe_select(list.as_ptr() as u64, count, 0);
        println!(
            "SELATTACK {what} status={} index={index:#x}",
            lukos_user::status::name(code)
        );
    }
    // The member list itself: unmapped, kernel, running off the stack top.
    for (what, ptr) in [("list-null", 0u64), ("list-kernel", KERNEL_ADDR)] {
        let (code, index) = sys::pipe_select(ptr, 2, 0);
        println!(
            "SELATTACK {what} status={} index={index:#x}",
            lukos_user::status::name(code)
        );
    }
    // Bad members: unknown op, unknown pipe, a write too long.
    let bad_op = SelectMember { op: 9, ..good };
    show("member-bad-op", select(&[good, bad_op], 0));
    let no_pipe = SelectMember {
        pipe: 0xdead_0000,
        ..good
    };
    show("member-no-pipe", select(&[good, no_pipe], 0));
    let long = select_write(mine, &[0u8; 9]);
    show("member-too-long", select(&[good, long], 0));

    // A bad buffer on one member whose pipe has a message: that member
    // completes with BAD_ADDRESS, the message stays, the other member
    // (an empty pipe) is withdrawn.
    mine.write(&5u64.to_ne_bytes(), timeout::FOREVER)
        .expect("write");
    let bad_buf = SelectMember {
        buf: KERNEL_ADDR,
        ..select_read(mine, &mut buf, &mut len)
    };
    show("member-bad-buffer-ready", select(&[good, bad_buf], 0));
    let bad_len = SelectMember {
        arg: KERNEL_ADDR,
        ..select_read(mine, &mut buf, &mut len)
    };
    show("member-bad-len-ready", select(&[good, bad_len], 0));
    let (qm, qo) = (
        mine.info().map_or(99, |i| i.queued),
        other.info().map_or(99, |i| i.queued),
    );
    let pending = other.info().map_or(99, |i| i.pending_readers);
    println!(
        "SELATTACK after-bad-buffer mine-queued={qm} other-queued={qo} other-pending={pending}"
    );
    // Then the message is still there for a good read.
    let read = mine.read(&mut buf, 0).map(|_| u64::from_ne_bytes(buf));
    println!("SELATTACK read-after result={read:?}");
    // A select that times out: nothing ready, timeout 1 tick.
    show(
        "timeout",
        select(&[good, select_read(mine, &mut buf, &mut len)], 1),
    );

    // A bad buffer on a member that waits: a write (by a second thread)
    // completes it with BAD_ADDRESS, and the written message is not lost.
    spawn(write_later, mine.id(), 2).expect("spawn");
    let bad_buf = SelectMember {
        buf: KERNEL_ADDR,
        ..select_read(mine, &mut buf, &mut len)
    };
    show(
        "member-bad-buffer-woken",
        select(&[good, bad_buf], timeout::FOREVER),
    );
    let (qm, pending) = (
        mine.info().map_or(99, |i| i.queued),
        other.info().map_or(99, |i| i.pending_readers),
    );
    println!("SELATTACK after-bad-buffer-woken mine-queued={qm} other-pending={pending}");

    // The out records of the sequence calls (a message queued, so each
    // gets as far as storing): wrapping, kernel.
    let wrap = u64::MAX - 3;
    println!(
        "SELATTACK read-seq-wrap result={:?} peek-newer-kernel result={:?} peek-at-kernel result={:?}",
        sys::pipe_read_seq(mine.id(), buf.as_mut_ptr() as u64, wrap, 0),
        sys::pipe_peek_newer(mine.id(), 0, buf.as_mut_ptr() as u64, KERNEL_ADDR, 0),
        sys::pipe_peek_at(mine.id(), 0, buf.as_mut_ptr() as u64, KERNEL_ADDR),
    );

    let read = mine.read(&mut buf, 0).map(|_| u64::from_ne_bytes(buf));
    println!("SELATTACK read-after-woken result={read:?}");

    // Someone else's pipe: close and purge are the owner's.
    let owned = Pipe::wait_for("hs-owned");
    println!(
        "SELATTACK foreign close={:?} purge={:?}",
        owned.close(),
        owned.purge()
    );

    // A thread blocked in a select when the process is killed.
    spawn(waiter, 0, 2).expect("spawn");
    let a = Pipe::wait_for("hs-kill-a");
    while a.info().map_or(0, |i| i.pending_readers) == 0 {
        sleep(1);
    }
    // A select's members each may hold a wait record: with the quota
    // taken by tiny pipes, a 16-member select is refused NO_MEMORY (the
    // thread was charged for 2 members only so far).
    let mut filled = 0u64;
    while Pipe::create("", 1, 1, 0).is_ok() {
        filled += 1;
    }
    let many = [good; SELECT_MAX];
    let got = select(&many, 0);
    println!(
        "SELATTACK quota-full pipes={} index={:?} status={:?}",
        if filled > 0 { "some" } else { "none" },
        got.index,
        got.status
    );
    let go = Pipe::wait_for("hs-go");
    let counted = Pipe::wait_for("hs-counted");
    let _ = go.write(&[0u8; 8], timeout::FOREVER);
    // Fault only once the owner has counted the select's waiting members.
    let _ = counted.read(&mut [0u8; 8], timeout::FOREVER);
    println!("SELATTACK faulting with a select pending");
    // SAFETY: none: the write to address 16 (never mapped) is the fault under test.
    unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>().wrapping_add(2), 1) };
    println!("SELATTACK survived the fault (must not happen)");
}
