//! The simulated kernel: faults are values, blocking calls really block,
//! timeouts and kills cancel through the IPC manager, priorities order the
//! CPU.

use std::cell::RefCell;
use std::rc::Rc;

use ipcm::{PipeFlags, PipeId, ProcessId, Status};
use lukos_sim::user::raw_flags;
use lukos_sim::{
    Access, BlockedOn, ExitReason, IpcCall, IpcValue, PAGE_SIZE, Perm, PipeOp, SchedConfig, Sim,
    Step, ThreadState, UserError, Wait,
};

const DATA: usize = 0x10000;
const BUF: usize = DATA + 0x200;
const LEN: usize = DATA + 0x300;

fn process(sim: &mut Sim, name: &str) -> ProcessId {
    let pid = sim.create_process(name);
    sim.map(pid, DATA, 2 * PAGE_SIZE, Perm::ReadWrite);
    pid
}

/// A kernel-owned pipe named `name`.
fn kernel_pipe(sim: &Sim, name: &str, msg_size: usize, max_msgs: usize) -> PipeId {
    sim.ipcm()
        .create(
            ipcm::Caller::Kernel,
            Some(name),
            msg_size,
            max_msgs,
            PipeFlags::empty(),
        )
        .expect("created")
}

fn returned(sim: &Sim) -> bool {
    sim.tids()
        .all(|tid| *sim.state(tid) == ThreadState::Exited(ExitReason::Returned))
}

type Log = Rc<RefCell<Vec<String>>>;

#[test]
fn touching_unmapped_or_read_only_memory_is_a_fault_not_a_crash() {
    let mut sim = Sim::new(1, SchedConfig::default());
    let pid = process(&mut sim, "p");
    sim.map(pid, 0x8000, PAGE_SIZE, Perm::ReadOnly);
    let bad = sim.spawn(pid, "bad", 1, |sys| async move {
        sys.load(0x8000, 4)?; // readable
        sys.store(0x8000, b"x")?; // read-only: faults
        Ok(())
    });
    let unmapped = sim.spawn(pid, "unmapped", 1, |sys| async move {
        sys.load(0x40_0000, 1)?;
        Ok(())
    });
    let good = sim.spawn(pid, "good", 1, |sys| async move {
        sys.yield_now().await;
        sys.store(DATA, b"fine")?;
        Ok(())
    });
    assert_eq!(sim.run(1000), Step::Finished);
    let fault = |tid| match sim.state(tid) {
        ThreadState::Exited(ExitReason::Failed(UserError::Fault(fault))) => *fault,
        other => panic!("expected a fault, got {other:?}"),
    };
    assert_eq!(
        (fault(bad).addr, fault(bad).access),
        (0x8000, Access::Write)
    );
    assert_eq!(
        (fault(unmapped).addr, fault(unmapped).access),
        (0x40_0000, Access::Read)
    );
    assert_eq!(*sim.state(good), ThreadState::Exited(ExitReason::Returned));
}

#[test]
fn a_blocking_read_parks_the_thread_until_a_write_hands_it_the_message() {
    let mut sim = Sim::new(2, SchedConfig::default());
    let pipe = kernel_pipe(&sim, "mailbox", 16, 2);
    let pid = process(&mut sim, "reader");
    let reader = sim.spawn(pid, "reader", 1, move |sys| async move {
        sys.pipe_read(pipe, BUF, LEN).await?;
        let len = sys.load_usize(LEN)?;
        if sys.load(BUF, len)? != b"ping" {
            return Err(UserError::Check("wrong message".into()));
        }
        Ok(())
    });
    assert_eq!(sim.run(100), Step::Stuck);
    assert!(matches!(
        *sim.state(reader),
        ThreadState::Blocked(BlockedOn::Pipe {
            id,
            op: PipeOp::Read,
            ticket,
        }) if id == pipe && ticket.pipe() == pipe
    ));
    assert!(sim.ipcm().is_pending(&reader));
    let writer_pid = process(&mut sim, "writer");
    sim.spawn(writer_pid, "writer", 1, move |sys| async move {
        sys.store(BUF, b"ping")?;
        sys.pipe_write(pipe, BUF, 4).await?;
        Ok(())
    });
    assert_eq!(sim.run(100), Step::Finished);
    assert!(returned(&sim), "{:?}", sim.state(reader));
    let info = sim.ipcm().info(pipe).expect("live");
    assert_eq!(
        (info.written, info.read, info.queued),
        (1, 1, 0),
        "handed off, never queued"
    );
    assert_eq!(sim.stats().wakes_with(Status::Ok), 1);
    assert!(sim.thread_stats(reader).blocked_ticks > 0);
}

#[test]
fn a_timeout_cancels_the_wait_with_timed_out_after_its_ticks() {
    let mut sim = Sim::new(3, SchedConfig::default());
    let pipe = kernel_pipe(&sim, "quiet", 8, 1);
    let pid = process(&mut sim, "p");
    let log: Log = Rc::default();
    let seen = log.clone();
    sim.spawn(pid, "waiter", 1, move |sys| async move {
        let start = sys.now();
        let result = sys
            .pipe_read_with(pipe, BUF, LEN, true, Wait::Ticks(50))
            .await;
        seen.borrow_mut()
            .push(format!("{result:?} after {}", sys.now() - start >= 50));
        // A zero timeout that would block fails at once ...
        let result = sys
            .pipe_read_with(pipe, BUF, LEN, true, Wait::Ticks(0))
            .await;
        seen.borrow_mut().push(format!("{result:?}"));
        // ... but one that can complete completes.
        sys.store(BUF, b"x")?;
        sys.pipe_write_with(pipe, BUF, 1, Wait::Ticks(0)).await?;
        let result = sys
            .pipe_read_with(pipe, BUF, LEN, true, Wait::Ticks(0))
            .await;
        seen.borrow_mut().push(format!("{result:?}"));
        Ok(())
    });
    assert_eq!(sim.run(1000), Step::Finished);
    assert!(returned(&sim));
    assert_eq!(
        *log.borrow(),
        ["Err(TimedOut) after true", "Err(TimedOut)", "Ok(())"]
    );
    assert_eq!(sim.stats().timeouts, 2);
    assert_eq!(sim.ipcm().info(pipe).expect("live").pending_readers, 0);
}

#[test]
fn killing_a_blocked_thread_cancels_its_operation_so_it_never_happens() {
    let mut sim = Sim::new(4, SchedConfig::default());
    let pipe = kernel_pipe(&sim, "jobs", 8, 1);
    let pid = process(&mut sim, "p");
    let victim = sim.spawn(pid, "victim", 1, move |sys| async move {
        sys.pipe_read(pipe, BUF, LEN).await?;
        Err(UserError::Check("must never run again".into()))
    });
    assert_eq!(sim.run(100), Step::Stuck);
    assert!(sim.kill(victim));
    assert!(!sim.kill(victim), "already dead");
    assert_eq!(*sim.state(victim), ThreadState::Exited(ExitReason::Killed));
    assert!(!sim.ipcm().is_pending(&victim));
    assert_eq!(sim.stats().wakes_with(Status::Cancelled), 1);
    // The cancelled read took nothing: a later message stays queued.
    let _ = sim.ipcm().kernel_write(pipe, b"job").expect("room");
    assert_eq!(sim.ipcm().info(pipe).expect("live").queued, 1);
    assert!(sim.anomalies().is_empty());
}

#[test]
fn destroying_a_pipe_wakes_its_waiters_with_destroyed() {
    let mut sim = Sim::new(5, SchedConfig::default());
    let pid = process(&mut sim, "owner");
    let log: Log = Rc::default();
    let seen = log.clone();
    sim.spawn(pid, "owner", 1, move |sys| async move {
        let name = sys.cstr(DATA, "doomed")?;
        let pipe = sys.pipe_create(name, 8, 1, 0).await?;
        sys.sleep(100).await;
        sys.pipe_destroy(pipe).await?;
        let again = sys.pipe_destroy(pipe).await;
        seen.borrow_mut().push(format!("{again:?}"));
        Ok(())
    });
    for k in 0..2 {
        let pid = process(&mut sim, "waiter");
        let seen = log.clone();
        sim.spawn(pid, &format!("waiter-{k}"), 1, move |sys| async move {
            let pipe = sys.wait_for_pipe("doomed", DATA, 5).await?;
            let result = sys.pipe_read(pipe, BUF, LEN).await;
            seen.borrow_mut().push(format!("{result:?}"));
            Ok(())
        });
    }
    assert_eq!(sim.run(1000), Step::Finished);
    assert!(returned(&sim));
    let mut outcomes = log.borrow().clone();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["Err(Destroyed)", "Err(Destroyed)", "Err(NotFound)"]
    );
}

#[test]
fn a_page_unmapped_under_a_blocked_reader_faults_its_read_and_loses_no_message() {
    let mut sim = Sim::new(6, SchedConfig::default());
    let pipe = kernel_pipe(&sim, "p", 8, 2);
    let pid = process(&mut sim, "p");
    let log: Log = Rc::default();
    let seen = log.clone();
    let reader = sim.spawn(pid, "reader", 1, move |sys| async move {
        let result = sys.pipe_read(pipe, BUF, LEN).await;
        seen.borrow_mut().push(format!("{result:?}"));
        sys.vm_map(DATA, PAGE_SIZE, true).await?;
        sys.pipe_read(pipe, BUF, LEN).await?;
        seen.borrow_mut()
            .push(String::from_utf8_lossy(&sys.load(BUF, sys.load_usize(LEN)?)?).into_owned());
        Ok(())
    });
    assert_eq!(sim.run(100), Step::Stuck);
    assert_eq!(sim.unmap(pid, DATA, PAGE_SIZE), 1);
    // The write finds the reader's buffer gone: the reader alone fails, and
    // the message is queued instead of lost.
    let written = sim.ipc(IpcCall::KernelWrite {
        id: pipe,
        msg: b"precious",
    });
    assert!(matches!(written, Ok(IpcValue::Written(w)) if !w.handed_off));
    assert_eq!(sim.ipcm().info(pipe).expect("live").queued, 1);
    assert_eq!(sim.run(100), Step::Finished);
    assert!(returned(&sim), "{:?}", sim.state(reader));
    assert_eq!(*log.borrow(), ["Err(BadAddress)", "precious"]);
    assert_eq!(sim.ipcm().info(pipe).expect("live").queued, 0);
}

#[test]
fn names_and_out_pointers_are_checked_against_the_callers_memory() {
    let mut sim = Sim::new(7, SchedConfig::default());
    let pid = process(&mut sim, "p");
    let log: Log = Rc::default();
    let seen = log.clone();
    sim.spawn(pid, "main", 1, move |sys| async move {
        let note = |what: &str, result: Result<(), Status>| {
            seen.borrow_mut().push(format!("{what}: {result:?}"))
        };
        note(
            "unmapped name",
            sys.pipe_create(0x70_0000, 8, 1, 0).await.map(drop),
        );
        sys.store(DATA, &[b'n'; 100])?;
        note(
            "no NUL in 65 bytes",
            sys.pipe_create(DATA, 8, 1, 0).await.map(drop),
        );
        note(
            "unknown flag bit",
            sys.pipe_create(sys.cstr(DATA, "x")?, 8, 1, 1 << 20)
                .await
                .map(drop),
        );
        let flags = raw_flags(PipeFlags::DISCARD_OLDEST);
        let id = sys
            .pipe_create(sys.cstr(DATA, "info")?, 24, 3, flags)
            .await?;
        note(
            "info to unmapped",
            sys.pipe_info_get(id, 0x70_0000, DATA, DATA).await,
        );
        sys.pipe_info_get(id, DATA, DATA + 8, DATA + 16).await?;
        let values = [
            sys.load_usize(DATA)?,
            sys.load_usize(DATA + 8)?,
            sys.load_usize(DATA + 16)?,
        ];
        seen.borrow_mut().push(format!("{values:?}"));
        note(
            "id_get to unmapped",
            sys.pipe_id_get(sys.cstr(DATA, "info")?, 0x70_0000).await,
        );
        note(
            "id_get unknown",
            sys.pipe_id_get(sys.cstr(DATA, "nope")?, DATA + 128).await,
        );
        Ok(())
    });
    assert_eq!(sim.run(1000), Step::Finished);
    assert!(returned(&sim));
    assert_eq!(
        *log.borrow(),
        [
            "unmapped name: Err(BadAddress)",
            "no NUL in 65 bytes: Err(BadParam)",
            "unknown flag bit: Err(BadParam)",
            "info to unmapped: Err(BadAddress)",
            "[24, 3, 1]",
            "id_get to unmapped: Err(BadAddress)",
            "id_get unknown: Err(NotFound)",
        ]
    );
}

#[test]
fn a_higher_priority_thread_runs_first_and_preempts_at_a_wake() {
    let mut sim = Sim::new(
        8,
        SchedConfig {
            switch_at_syscall: 0.0,
            ..SchedConfig::default()
        },
    );
    let pipe = kernel_pipe(&sim, "p", 8, 1);
    let log: Log = Rc::default();
    let pid = process(&mut sim, "p");
    let (low, high) = (log.clone(), log.clone());
    sim.spawn(pid, "low", 1, move |sys| async move {
        low.borrow_mut().push("low starts".into());
        sys.store(BUF, b"go")?;
        sys.pipe_write(pipe, BUF, 2).await?; // wakes high, which preempts
        low.borrow_mut().push("low after write".into());
        Ok(())
    });
    sim.spawn(pid, "high", 5, move |sys| async move {
        high.borrow_mut().push("high waits".into());
        sys.pipe_read(pipe, DATA + 0x1000, DATA + 0x1100).await?;
        high.borrow_mut().push("high woke".into());
        Ok(())
    });
    assert_eq!(sim.run(1000), Step::Finished);
    assert_eq!(
        *log.borrow(),
        ["high waits", "low starts", "high woke", "low after write"]
    );
}

#[test]
fn time_slices_interleave_long_computations() {
    let mut sim = Sim::new(
        9,
        SchedConfig {
            slice_min: 5,
            slice_max: 10,
            switch_at_syscall: 0.0,
        },
    );
    let pid = process(&mut sim, "p");
    let log: Log = Rc::default();
    for name in ["a", "b"] {
        let log = log.clone();
        sim.spawn(pid, name, 1, move |sys| async move {
            for _ in 0..3 {
                sys.compute(40).await;
                log.borrow_mut().push(name.into());
            }
            Ok(())
        });
    }
    assert_eq!(sim.run(1000), Step::Finished);
    let order = log.borrow().concat();
    assert_ne!(
        order, "aaabbb",
        "a computation longer than a slice is preempted"
    );
    assert_ne!(order, "bbbaaa");
    assert!(sim.stats().switches > 6);
}

#[test]
fn a_run_that_never_ends_is_reported_as_out_of_steps() {
    let mut sim = Sim::new(10, SchedConfig::default());
    let pid = process(&mut sim, "p");
    sim.spawn(pid, "spinner", 1, |sys| async move {
        loop {
            sys.yield_now().await;
        }
    });
    assert_eq!(sim.run(500), Step::OutOfSteps);
    assert_eq!(sim.step(), Step::Ran(lukos_sim::Tid(0)));
}
