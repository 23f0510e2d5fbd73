//! DESIGN §6: every bad input gets its status and changes nothing (checked
//! through `info` and by reading the pipe back), and access control (§3).

mod common;
use common::*;

/// A pipe holding two known messages, and a way to check it is untouched.
struct Subject {
    fx: Fixture,
    pipe: PipeId,
    info: PipeInfo,
}

impl Subject {
    fn new(flags: PipeFlags) -> Subject {
        let fx = Fixture::new();
        let pipe = fx.pipe(8, 3, flags);
        fx.ipcm.kernel_write(pipe, b"one").unwrap();
        fx.ipcm.kernel_write(pipe, b"two").unwrap();
        let info = fx.info(pipe);
        Subject { fx, pipe, info }
    }

    fn assert_unchanged(self) {
        assert_eq!(self.fx.info(self.pipe), self.info, "info changed");
        assert!(self.fx.wakes().is_empty(), "someone was woken");
        assert_eq!(self.fx.drain(self.pipe), [b"one".to_vec(), b"two".to_vec()]);
    }
}

#[test]
fn unknown_ids_are_not_found() {
    let s = Subject::new(PipeFlags::empty());
    let actor = s.fx.actor();
    for raw in [0, 1, 12345, usize::MAX, s.pipe.to_raw() + 1] {
        let id = PipeId::from_raw(raw);
        assert_eq!(s.fx.try_write(actor, id, b"x"), Err(Status::NotFound));
        assert_eq!(s.fx.write(actor, id, b"x"), Err(Status::NotFound));
        assert_eq!(s.fx.read(actor, id), Err(Status::NotFound));
        assert_eq!(s.fx.peek(actor, id), Err(Status::NotFound));
        assert_eq!(s.fx.ipcm.info(id), Err(Status::NotFound));
        assert_eq!(s.fx.ipcm.open(id).err(), Some(Status::NotFound));
        assert_eq!(s.fx.ipcm.destroy(Caller::Kernel, id), Err(Status::NotFound));
        assert_eq!(s.fx.ipcm.kernel_write(id, b"x"), Err(Status::NotFound));
    }
    s.assert_unchanged();
}

#[test]
fn the_null_id_is_not_found_where_a_header_is_vacant() {
    // A vacant pipe header's id word has generation 0, as have the raw
    // ids 0, 1, 2..: a lookup by id must not take the one for the other
    // (lukos-sim check found calls on id 0 answered DESTROYED after the
    // only pipe of slot 0 was destroyed). Slots 0 and 1 held a pipe, slot
    // 2 never did (its header was made with its chunk).
    let fx = Fixture::new();
    let actor = fx.actor();
    let pipe = fx.pipe(8, 1, PipeFlags::empty());
    let second = fx.pipe(8, 1, PipeFlags::empty());
    fx.ipcm.destroy(Caller::Kernel, pipe).unwrap();
    fx.ipcm.destroy(Caller::Kernel, second).unwrap();
    for raw in 1..4 {
        let vacant = PipeId::from_raw(raw);
        assert_eq!(fx.try_write(actor, vacant, b"x"), Err(Status::NotFound));
        assert_eq!(fx.read(actor, vacant), Err(Status::NotFound));
        assert_eq!(fx.ipcm.open(vacant).err(), Some(Status::NotFound));
    }
    let null = PipeId::from_raw(0);
    assert_eq!(fx.try_write(actor, null, b"x"), Err(Status::NotFound));
    assert_eq!(fx.write(actor, null, b"x"), Err(Status::NotFound));
    assert_eq!(fx.read(actor, null), Err(Status::NotFound));
    assert_eq!(fx.peek(actor, null), Err(Status::NotFound));
    assert_eq!(fx.ipcm.info(null), Err(Status::NotFound));
    assert_eq!(fx.ipcm.open(null).err(), Some(Status::NotFound));
    assert_eq!(fx.ipcm.kernel_write(null, b"x"), Err(Status::NotFound));
    assert_eq!(
        fx.ipcm.kernel_read(null, &mut [0; 8]),
        Err(Status::NotFound)
    );
    assert_eq!(
        fx.ipcm.kernel_peek_at(null, 0, &mut [0; 8]).err(),
        Some(Status::NotFound)
    );
    assert_eq!(fx.ipcm.destroy(Caller::Kernel, null), Err(Status::NotFound));
}

#[test]
fn stale_id_after_destroy_is_not_found() {
    let s = Subject::new(PipeFlags::empty());
    let actor = s.fx.actor();
    let doomed = s.fx.pipe(8, 1, PipeFlags::empty());
    s.fx.ipcm.destroy(Caller::Kernel, doomed).unwrap();
    let replacement = s.fx.pipe(8, 1, PipeFlags::empty());
    assert_ne!(replacement, doomed);
    assert_eq!(s.fx.try_write(actor, doomed, b"x"), Err(Status::NotFound));
    assert_eq!(s.fx.ipcm.info(replacement).unwrap().written, 0);
    s.assert_unchanged();
}

#[test]
fn a_message_longer_than_msg_size_is_too_large() {
    let s = Subject::new(PipeFlags::empty());
    let actor = s.fx.actor();
    assert_eq!(
        s.fx.try_write(actor, s.pipe, b"nine byte"),
        Err(Status::TooLarge)
    );
    assert_eq!(
        s.fx.write(actor, s.pipe, b"nine byte"),
        Err(Status::TooLarge)
    );
    assert_eq!(
        s.fx.ipcm.kernel_write(s.pipe, b"nine byte"),
        Err(Status::TooLarge)
    );
    assert_eq!(
        s.fx.ipcm
            .try_write(&actor.tid, s.pipe, UserAddr(SRC), usize::MAX),
        Err(Status::TooLarge)
    );
    s.assert_unchanged();
}

#[test]
fn too_large_wins_over_blocking_on_a_full_pipe() {
    let s = Subject::new(PipeFlags::empty());
    s.fx.ipcm.kernel_write(s.pipe, b"three").unwrap();
    let actor = s.fx.actor();
    assert_eq!(
        s.fx.write(actor, s.pipe, b"nine byte"),
        Err(Status::TooLarge)
    );
    assert_eq!(s.fx.info(s.pipe).pending_writers, 0);
}

#[test]
fn null_unmapped_and_read_only_buffers_are_bad_addresses() {
    let s = Subject::new(PipeFlags::empty());
    let actor = s.fx.actor();
    let ipcm = &s.fx.ipcm;
    let unmapped = UserAddr(0x7000_0000);
    let read_only = UserAddr(0x5000_0000);
    s.fx.kernel()
        .map(actor.pid, read_only.0, PAGE_SIZE, Perm::ReadOnly);
    for src in [UserAddr::NULL, unmapped] {
        assert_eq!(
            ipcm.try_write(&actor.tid, s.pipe, src, 3),
            Err(Status::BadAddress)
        );
        assert_eq!(
            ipcm.write(&actor.tid, s.pipe, src, 3),
            Err(Status::BadAddress)
        );
    }
    for (dst, len_out) in [
        (UserAddr::NULL, UserAddr(LEN)),
        (unmapped, UserAddr(LEN)),
        (read_only, UserAddr(LEN)),
        (UserAddr(DST), UserAddr::NULL),
        (UserAddr(DST), unmapped),
        (UserAddr(DST), read_only),
        // The length word straddles the end of the mapping.
        (UserAddr(DST), UserAddr(LEN + SPAN - 4)),
    ] {
        assert_eq!(
            ipcm.try_read(&actor.tid, s.pipe, dst, len_out),
            Err(Status::BadAddress)
        );
        assert_eq!(
            ipcm.read(&actor.tid, s.pipe, dst, len_out),
            Err(Status::BadAddress)
        );
        assert_eq!(
            ipcm.peek(&actor.tid, s.pipe, dst, len_out),
            Err(Status::BadAddress)
        );
        assert_eq!(
            ipcm.try_peek(&actor.tid, s.pipe, dst, len_out),
            Err(Status::BadAddress)
        );
    }
    // A read-only source is fine: writing only reads it.
    s.fx.kernel().poke(actor.pid, read_only.0, b"ro");
    let pipe = s.fx.pipe(8, 1, PipeFlags::empty());
    ipcm.try_write(&actor.tid, pipe, read_only, 2).unwrap();
    s.assert_unchanged();
}

#[test]
fn a_bad_source_on_a_full_discarding_pipe_drops_nothing() {
    let fx = Fixture::new();
    let actor = fx.actor();
    let pipe = fx.pipe(8, 2, PipeFlags::DISCARD_OLDEST);
    fx.ipcm.kernel_write(pipe, b"old").unwrap();
    fx.ipcm.kernel_write(pipe, b"new").unwrap();
    let before = fx.info(pipe);
    assert_eq!(
        fx.ipcm.try_write(&actor.tid, pipe, UserAddr::NULL, 4),
        Err(Status::BadAddress)
    );
    assert_eq!(fx.info(pipe), before);
    assert_eq!(fx.drain(pipe), [b"old".to_vec(), b"new".to_vec()]);
}

#[test]
fn a_kernel_buffer_shorter_than_msg_size_is_bad_param_before_anything_is_consumed() {
    let s = Subject::new(PipeFlags::empty());
    let mut short = [0u8; 7];
    assert_eq!(
        s.fx.ipcm.kernel_read(s.pipe, &mut short),
        Err(Status::BadParam)
    );
    assert_eq!(
        s.fx.ipcm.kernel_peek(s.pipe, &mut short),
        Err(Status::BadParam)
    );
    s.assert_unchanged();
}

#[test]
fn bad_names_are_bad_param_and_duplicates_name_taken() {
    let fx = Fixture::new();
    fx.ipcm
        .create(Caller::Kernel, Some("taken"), 8, 1, PipeFlags::empty())
        .unwrap();
    let long = "x".repeat(ipcm::MAX_NAME_LEN + 1);
    for name in ["", "nul\0inside", long.as_str()] {
        assert_eq!(
            fx.ipcm
                .create(Caller::Kernel, Some(name), 8, 1, PipeFlags::empty()),
            Err(Status::BadParam)
        );
        assert_eq!(fx.ipcm.lookup_by_name(name), Err(Status::BadParam));
    }
    assert_eq!(
        fx.ipcm
            .create(Caller::Kernel, Some("taken"), 8, 1, PipeFlags::empty()),
        Err(Status::NameTaken)
    );
    let longest = "y".repeat(ipcm::MAX_NAME_LEN);
    fx.ipcm
        .create(Caller::Kernel, Some(&longest), 8, 1, PipeFlags::empty())
        .unwrap();
    assert_eq!(fx.ipcm.pipe_count(), 2);
}

#[test]
fn zero_and_overflowing_sizes_are_bad_param() {
    // `max_msgs` 0 is a rendezvous pipe since DESIGN §9 (see ops.rs), so
    // only a zero message size is refused, and 0 depth with discard.
    let fx = Fixture::new();
    assert_eq!(
        fx.ipcm
            .create(Caller::Kernel, None, 1, 0, PipeFlags::DISCARD_OLDEST),
        Err(Status::BadParam),
        "rendezvous with discard-oldest"
    );
    for (msg_size, max_msgs) in [
        (0, 1),
        (0, 0),
        (usize::MAX, 2),
        (2, usize::MAX),
        (1 << 40, 1 << 40),
    ] {
        assert_eq!(
            fx.ipcm.create(
                Caller::Kernel,
                Some("sizes"),
                msg_size,
                max_msgs,
                PipeFlags::empty()
            ),
            Err(Status::BadParam),
            "{msg_size} x {max_msgs}"
        );
    }
    // The name was not taken by the failed attempts.
    fx.ipcm
        .create(Caller::Kernel, Some("sizes"), 1, 1, PipeFlags::empty())
        .unwrap();
    assert_eq!(fx.ipcm.pipe_count(), 1);
}

#[test]
fn a_store_the_allocator_refuses_is_no_memory_not_an_abort() {
    let fx = Fixture::new();
    // Fits in isize but no machine has it.
    // (The store is `max_msgs + 2` slots of `msg_size` + a length word.)
    let huge = (isize::MAX as usize) / 128;
    assert_eq!(
        fx.ipcm
            .create(Caller::Kernel, None, huge, 2, PipeFlags::empty()),
        Err(Status::NoMemory)
    );
    assert_eq!(fx.ipcm.pipe_count(), 0);
}

#[test]
fn unknown_flag_bits_are_bad_param() {
    assert_eq!(PipeFlags::from_raw(1 << 5), Err(Status::BadParam));
    assert_eq!(PipeFlags::from_raw(usize::MAX), Err(Status::BadParam));
    assert_eq!(PipeFlags::from_raw(0b1_1111), Ok(PipeFlags::all()));
}

// ---- access control ----

struct Owned {
    fx: Fixture,
    owner: Actor,
    sibling: Actor,
    stranger: Actor,
}

fn owned() -> Owned {
    let fx = Fixture::new();
    let owner = fx.actor();
    let sibling = fx.actor_in(owner.pid, Priority::default());
    let stranger = fx.actor();
    Owned {
        fx,
        owner,
        sibling,
        stranger,
    }
}

#[test]
fn owner_read_pipes_deny_reads_and_peeks_from_other_processes() {
    let o = owned();
    let pipe =
        o.fx.ipcm
            .create(
                Caller::Thread(&o.owner.tid),
                None,
                8,
                2,
                PipeFlags::OWNER_READ,
            )
            .unwrap();
    o.fx.try_write(o.stranger, pipe, b"in").unwrap();
    let before = o.fx.info(pipe);
    assert_eq!(o.fx.read(o.stranger, pipe), Err(Status::Denied));
    assert_eq!(o.fx.peek(o.stranger, pipe), Err(Status::Denied));
    assert_eq!(o.fx.try_read(o.stranger, pipe), Err(Status::Denied));
    assert_eq!(o.fx.info(pipe), before);
    assert_eq!(o.fx.try_read(o.sibling, pipe).unwrap(), b"in");
    // The kernel passes every check.
    o.fx.ipcm.kernel_write(pipe, b"k").unwrap();
    assert_eq!(o.fx.drain(pipe), [b"k".to_vec()]);
}

#[test]
fn owner_write_pipes_deny_writes_from_other_processes() {
    let o = owned();
    let pipe =
        o.fx.ipcm
            .create(
                Caller::Thread(&o.owner.tid),
                None,
                8,
                1,
                PipeFlags::OWNER_WRITE,
            )
            .unwrap();
    assert_eq!(o.fx.try_write(o.stranger, pipe, b"no"), Err(Status::Denied));
    assert_eq!(o.fx.write(o.stranger, pipe, b"no"), Err(Status::Denied));
    assert_eq!(o.fx.info(pipe).written, 0);
    o.fx.try_write(o.sibling, pipe, b"yes").unwrap();
    // A full pipe still answers Denied, not Blocked, to a stranger.
    assert_eq!(o.fx.write(o.stranger, pipe, b"no"), Err(Status::Denied));
    assert_eq!(o.fx.info(pipe).pending_writers, 0);
    assert_eq!(o.fx.try_read(o.stranger, pipe).unwrap(), b"yes");
}

#[test]
fn only_the_owner_process_or_the_kernel_may_destroy() {
    let o = owned();
    let pipe =
        o.fx.ipcm
            .create(
                Caller::Thread(&o.owner.tid),
                Some("mine"),
                8,
                1,
                PipeFlags::empty(),
            )
            .unwrap();
    blocked(o.fx.read(o.stranger, pipe));
    assert_eq!(
        o.fx.ipcm.destroy(Caller::Thread(&o.stranger.tid), pipe),
        Err(Status::Denied)
    );
    assert_eq!(o.fx.ipcm.lookup_by_name("mine"), Ok(pipe));
    assert_eq!(o.fx.info(pipe).pending_readers, 1);
    assert!(o.fx.wakes().is_empty());
    o.fx.ipcm
        .destroy(Caller::Thread(&o.sibling.tid), pipe)
        .unwrap();
    assert_eq!(o.fx.wakes(), [(o.stranger.tid, Status::Destroyed)]);
    let kernel_owned = o.fx.pipe(8, 1, PipeFlags::empty());
    assert_eq!(
        o.fx.ipcm
            .destroy(Caller::Thread(&o.owner.tid), kernel_owned),
        Err(Status::Denied)
    );
    o.fx.ipcm.destroy(Caller::Kernel, kernel_owned).unwrap();
}
