//! `check` itself: it passes on the real core, it replays exactly, it
//! exercises every kind of injected fault, and its model notices wrong
//! answers.

use ipcm::Status;
use lukos_sim::check::{INJECTED, Model, check_seed, check_seeds, replay_command};
use lukos_sim::{IpcCall, IpcValue, Machine, Observer, Tid};

#[test]
fn every_invariant_holds_on_a_range_of_seeds() {
    let summary = check_seeds(0, 40, 400, 2, &|_| {});
    let failures: Vec<_> = summary
        .failures
        .iter()
        .map(|f| (f.seed, f.violations.clone()))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(summary.seeds, 40);
    assert_eq!(summary.ops, 40 * 400, "every seed ran its whole budget");
    assert!(
        summary.calls > 40 * 100,
        "too few IPC calls checked: {}",
        summary.calls
    );
}

#[test]
fn the_workload_wakes_pending_operations_with_every_kind_of_outcome() {
    let summary = check_seeds(100, 100, 400, 1, &|_| {});
    assert!(summary.failures.is_empty());
    for status in [
        Status::Ok,
        Status::BadAddress,
        Status::TimedOut,
        Status::Cancelled,
        Status::Destroyed,
    ] {
        assert!(
            summary.wakes[status.code() as usize] > 0,
            "no wake with {status:?}"
        );
    }
    for (what, count) in INJECTED.iter().zip(summary.injected) {
        assert!(count > 0, "never injected: {what}");
    }
    assert!(summary.stuck > 0, "the all-blocked path was never taken");
}

#[test]
fn the_workload_uses_every_queue_operation_and_ends_selects_every_way() {
    let summary = check_seeds(200, 40, 400, 1, &|_| {});
    assert!(summary.failures.is_empty());
    let c = &summary.counts;
    for (what, count) in [
        ("urgent writes", c.urgent_writes),
        ("writes with a message priority", c.prio_writes),
        ("calls on priority-message pipes", c.by_priority),
        ("numbered reads", c.seq_reads),
        ("peek_newer", c.peek_newer),
        ("peek_at", c.peek_at),
        ("purges", c.purges),
        ("closes", c.closes),
        ("selects", c.selects),
        ("blocked selects", c.selects_blocked),
        ("wake feedback", c.woke_calls),
        ("zero-depth calls", c.rendezvous),
        ("select timeouts", summary.select_timeouts),
    ] {
        assert!(count > 0, "never: {what}");
    }
    assert!(summary.wakes[Status::Closed.code() as usize] > 0);
}

#[test]
fn a_seed_replays_exactly() {
    let fingerprint = |seed| {
        let report = check_seed(seed, 500);
        (
            report.calls,
            report.steps,
            report.injected,
            report.stuck,
            report.wakes,
            report.ops,
        )
    };
    assert_eq!(fingerprint(17), fingerprint(17));
    assert_ne!(fingerprint(17), fingerprint(18));
    // Running seeds in parallel does not change any seed's run.
    let alone = check_seeds(5, 4, 300, 1, &|_| {});
    let parallel = check_seeds(5, 4, 300, 3, &|_| {});
    assert_eq!(
        (alone.calls, alone.wakes, alone.stuck),
        (parallel.calls, parallel.wakes, parallel.stuck)
    );
}

#[test]
fn the_replay_command_names_the_seed_and_the_budget() {
    let command = replay_command(4242, 1000);
    assert!(
        command.contains("check --first-seed 4242 --seeds 1 --ops 1000"),
        "{command}"
    );
}

/// Feed the model a call and an outcome as if the IPC manager had returned
/// it; return its violations.
fn judge(
    call: IpcCall<'_>,
    outcome: Result<IpcValue, Status>,
    wakes: &[(Tid, Status)],
    model: &mut Model,
) -> usize {
    let machine = Machine::default();
    model.before(&call, &machine);
    model.after(&call, &outcome, wakes, &machine);
    model.violations.len()
}

#[test]
fn the_model_flags_a_wrong_result_and_a_spurious_wake() {
    let mut model = Model::new();
    let id = ipcm::PipeId::from_raw(1 << 32);
    let create = IpcCall::Create {
        caller: None,
        name: Some("a"),
        msg_size: 8,
        max_msgs: 1,
        flags: ipcm::PipeFlags::empty(),
    };
    assert_eq!(judge(create, Ok(IpcValue::Id(id)), &[], &mut model), 0);
    // Reading an empty pipe from the kernel must be Empty.
    assert_eq!(
        judge(
            IpcCall::KernelRead { id, consume: true },
            Err(Status::Empty),
            &[],
            &mut model
        ),
        0
    );
    assert_eq!(
        judge(
            IpcCall::KernelRead { id, consume: true },
            Ok(IpcValue::Message(vec![1])),
            &[],
            &mut model
        ),
        1
    );
    // A write with nobody waiting wakes nobody.
    let write = IpcCall::KernelWrite { id, msg: b"x" };
    let written = Ok(IpcValue::Written(ipcm::Written {
        dropped_oldest: false,
        handed_off: false,
    }));
    assert_eq!(
        judge(write, written, &[(Tid(3), Status::Ok)], &mut model),
        2
    );
    // The same id handed out again is a violation.
    let again = IpcCall::Create {
        caller: None,
        name: Some("b"),
        msg_size: 8,
        max_msgs: 1,
        flags: ipcm::PipeFlags::empty(),
    };
    assert_eq!(judge(again, Ok(IpcValue::Id(id)), &[], &mut model), 3);
}

#[test]
fn the_model_flags_a_message_the_pipe_lost_and_accepts_one_a_destroy_released() {
    let mut model = Model::new();
    let id = ipcm::PipeId::from_raw(1 << 32);
    let create = IpcCall::Create {
        caller: None,
        name: None,
        msg_size: 8,
        max_msgs: 2,
        flags: ipcm::PipeFlags::empty(),
    };
    judge(create, Ok(IpcValue::Id(id)), &[], &mut model);
    let tagged = [7, 0, 0, 0, 1, 0, 0, 0];
    let written = Ok(IpcValue::Written(ipcm::Written {
        dropped_oldest: false,
        handed_off: false,
    }));
    judge(
        IpcCall::KernelWrite { id, msg: &tagged },
        written,
        &[],
        &mut model,
    );
    assert!(model.violations.is_empty());
    // A drain that finds the pipe empty: the message was lost.
    assert_eq!(
        judge(
            IpcCall::KernelRead { id, consume: false },
            Err(Status::Empty),
            &[],
            &mut model
        ),
        1
    );
    // Destroying the pipe releases its message: not lost.
    judge(
        IpcCall::Destroy { caller: None, id },
        Ok(IpcValue::Done),
        &[],
        &mut model,
    );
    assert!(model.lost_messages().is_empty());
    assert_eq!(model.violations.len(), 1);
}

#[test]
fn the_model_flags_a_withdrawn_select_member_that_happens_anyway() {
    // A thread known to the machine (never run): the model asks its
    // priority and finds its (unmapped) buffers.
    let mut sim = lukos_sim::Sim::new(1, lukos_sim::SchedConfig::default());
    let pid = sim.create_process("p");
    let tid = sim.spawn(pid, "t", 1, |_| async { Ok(()) });
    let machine = sim.machine();
    let mut model = Model::new();
    let feed = |call: IpcCall<'_>, outcome, wakes: &[(Tid, Status)], model: &mut Model| {
        model.before(&call, machine);
        model.after(&call, &outcome, wakes, machine);
        model.violations.len()
    };
    let (a, b) = (
        ipcm::PipeId::from_raw(1 << 32),
        ipcm::PipeId::from_raw(2 << 32),
    );
    for id in [a, b] {
        let create = IpcCall::Create {
            caller: None,
            name: None,
            msg_size: 8,
            max_msgs: 2,
            flags: ipcm::PipeFlags::empty(),
        };
        assert_eq!(feed(create, Ok(IpcValue::Id(id)), &[], &mut model), 0);
    }
    let member = |pipe| ipcm::SelectOp::Read {
        pipe,
        buf: ipcm::UserAddr(0x9000),
        len_out: ipcm::UserAddr(0x9100),
    };
    let ops = [member(a), member(b)];
    let ticket = ipcm::Ticket::from_raw(a.to_raw(), 0, 1);
    let select = IpcCall::Select {
        thread: tid,
        ops: &ops,
    };
    assert_eq!(
        feed(select, Ok(IpcValue::Blocked(ticket)), &[], &mut model),
        0
    );
    let written = || {
        Ok(IpcValue::Written(ipcm::Written {
            dropped_oldest: false,
            handed_off: false,
        }))
    };
    // The write to `a` completes the select (the buffer faults: unmapped).
    let to_a = IpcCall::KernelWrite {
        id: a,
        msg: b"to a",
    };
    let woken = [(tid, Status::BadAddress)];
    assert_eq!(feed(to_a, written(), &woken, &mut model), 0);
    // The member on `b` was withdrawn: a wake for it is a violation.
    let to_b = IpcCall::KernelWrite {
        id: b,
        msg: b"to b",
    };
    assert_eq!(feed(to_b, written(), &woken, &mut model), 1);
}
