//! One behaviour suite for every layer of the LuKOS IPC manager.
//!
//! Each behaviour of the design (DESIGN §9, and the §1–7 ones worth it) is
//! written once, in [`behaviours`], against the small [`Substrate`] trait.
//! Each layer implements the trait in one test file of this crate and
//! instantiates the suite with [`conformance_tests!`], one `#[test]` per
//! behaviour, named for it:
//!
//! - `tests/core.rs`: the core's test kernel (`ipcm` with `testing`);
//! - `tests/host.rs`: the hosted runtime (`ipcm-host`, OS threads);
//! - `tests/ffi.rs`: the C ABI (`ipcm-ffi`'s `extern "C"` functions, with
//!   its `hosted` runtime to block);
//! - `tests/sim.rs`: the simulator (`lukos-sim`, its system calls).
//!
//! So the layers cannot drift apart: a behaviour one layer loses fails
//! that layer's test of the same name. A behaviour a layer cannot express
//! needs a trait beyond [`Substrate`] ([`WakeFeedback`], [`Processes`],
//! [`Cancel`], [`SameThread`]), and the layer's file says why it does not
//! implement it.
//!
//! # The substrate model
//! A test acts from its own thread ([`Substrate::run`]: calls that do not
//! wait) and starts operations that may wait on helper threads
//! ([`Substrate::spawn`], which returns once the operation is pending in
//! the layer or finished). It checks that one is still pending
//! ([`Substrate::is_pending`]), acts, and then takes its outcome
//! ([`Substrate::join`]). Timeouts are named, not timed ([`Wait::Briefly`]):
//! a layer picks a deadline that passes while nothing else happens, so no
//! test asserts a timing.

#![forbid(unsafe_code)]

pub mod behaviours;

use core::fmt::Debug;

pub use ipcm::Status;

/// How long an operation may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Never: `Full`/`Empty` instead of waiting (the `try_` forms).
    Never,
    /// Until it completes (or the pipe is destroyed or closed).
    Forever,
    /// With a deadline that has passed already (timeout 0): an operation
    /// that can complete at once completes, one that would wait fails
    /// `TimedOut` at once.
    Zero,
    /// With a deadline that passes while nothing else happens (the layer
    /// picks it: a few milliseconds of real time, a few ticks, or "when
    /// the test joins it" for a layer with no clock). Tests only join such
    /// an operation without acting on its pipe first.
    Briefly,
}

/// One member of a select.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member<P> {
    /// Take the oldest message of the pipe.
    Read(P),
    /// Copy the oldest message of the pipe without taking it.
    Peek(P),
    /// Write this message to the pipe.
    Write(P, Vec<u8>),
}

impl<P> Member<P> {
    /// The member's pipe.
    pub fn pipe(&self) -> &P {
        match self {
            Member::Read(pipe) | Member::Peek(pipe) | Member::Write(pipe, _) => pipe,
        }
    }
}

/// An operation a thread performs; `P` is the layer's pipe handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<P> {
    /// Write `msg`; `urgent` puts it at the head of the queue (DESIGN §9).
    Write {
        /// The pipe.
        pipe: P,
        /// The message.
        msg: Vec<u8>,
        /// An urgent write.
        urgent: bool,
        /// How long it may wait for room.
        wait: Wait,
    },
    /// Take the oldest message.
    Read {
        /// The pipe.
        pipe: P,
        /// How long it may wait for a message.
        wait: Wait,
    },
    /// Copy the oldest message without taking it.
    Peek {
        /// The pipe.
        pipe: P,
        /// How long it may wait for a message.
        wait: Wait,
    },
    /// Write `msg` at message priority `prio` (DESIGN §9, a
    /// `PRIORITY_MESSAGES` pipe: higher read first, FIFO within one).
    WritePrio {
        /// The pipe.
        pipe: P,
        /// The message.
        msg: Vec<u8>,
        /// Its message priority.
        prio: u8,
        /// How long it may wait for room.
        wait: Wait,
    },
    /// Copy the oldest queued message numbered above `after`, waiting for a
    /// write to bring one (DESIGN §9).
    PeekNewer {
        /// The pipe.
        pipe: P,
        /// The last number the caller has seen.
        after: u64,
        /// How long it may wait.
        wait: Wait,
    },
    /// Copy the message `index` places from the front; never waits.
    PeekAt {
        /// The pipe.
        pipe: P,
        /// 0: the message read next.
        index: usize,
    },
    /// Complete exactly one of `members` (DESIGN §9).
    Select {
        /// The operations, at most `ipcm::SELECT_MAX` for a valid select.
        members: Vec<Member<P>>,
        /// How long the group may wait.
        wait: Wait,
    },
}

impl<P> Op<P> {
    /// A blocking write.
    pub fn write(pipe: P, msg: &[u8]) -> Self {
        Op::Write {
            pipe,
            msg: msg.to_vec(),
            urgent: false,
            wait: Wait::Forever,
        }
    }

    /// A write that never waits.
    pub fn try_write(pipe: P, msg: &[u8]) -> Self {
        Op::Write {
            pipe,
            msg: msg.to_vec(),
            urgent: false,
            wait: Wait::Never,
        }
    }

    /// A blocking urgent write.
    pub fn urgent(pipe: P, msg: &[u8]) -> Self {
        Op::Write {
            pipe,
            msg: msg.to_vec(),
            urgent: true,
            wait: Wait::Forever,
        }
    }

    /// A blocking write at message priority `prio`.
    pub fn write_prio(pipe: P, msg: &[u8], prio: u8) -> Self {
        Op::WritePrio {
            pipe,
            msg: msg.to_vec(),
            prio,
            wait: Wait::Forever,
        }
    }

    /// A write at message priority `prio` that never waits.
    pub fn try_write_prio(pipe: P, msg: &[u8], prio: u8) -> Self {
        Op::WritePrio {
            pipe,
            msg: msg.to_vec(),
            prio,
            wait: Wait::Never,
        }
    }

    /// A blocking read.
    pub fn read(pipe: P) -> Self {
        Op::Read {
            pipe,
            wait: Wait::Forever,
        }
    }

    /// A read that never waits.
    pub fn try_read(pipe: P) -> Self {
        Op::Read {
            pipe,
            wait: Wait::Never,
        }
    }

    /// A blocking peek.
    pub fn peek(pipe: P) -> Self {
        Op::Peek {
            pipe,
            wait: Wait::Forever,
        }
    }

    /// A blocking peek-newer.
    pub fn peek_newer(pipe: P, after: u64) -> Self {
        Op::PeekNewer {
            pipe,
            after,
            wait: Wait::Forever,
        }
    }

    /// A select that waits until a member completes.
    pub fn select(members: Vec<Member<P>>) -> Self {
        Op::Select {
            members,
            wait: Wait::Forever,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok`, or why it failed (for a select: the completed member's
    /// status, or the group's `TimedOut`).
    pub status: Status,
    /// For a read or peek that succeeded (also as a select member): the
    /// message's bytes.
    pub msg: Option<Vec<u8>>,
    /// The message's sequence number, where the layer's call reports it
    /// (`None`: this form of the call does not).
    pub seq: Option<u64>,
    /// For a select: the index of the member that completed (`None`: the
    /// whole group timed out, or the select failed before anything
    /// happened).
    pub index: Option<usize>,
}

impl Outcome {
    /// An outcome with only a status.
    pub fn status(status: Status) -> Outcome {
        Outcome {
            status,
            msg: None,
            seq: None,
            index: None,
        }
    }

    /// A successful outcome with no message (a write).
    pub fn ok() -> Outcome {
        Outcome::status(Status::Ok)
    }

    /// A successful receive of `msg`.
    pub fn received(msg: Vec<u8>, seq: Option<u64>) -> Outcome {
        Outcome {
            status: Status::Ok,
            msg: Some(msg),
            seq,
            index: None,
        }
    }

    /// The message, panicking with the outcome if there is none.
    #[track_caller]
    pub fn message(&self) -> &[u8] {
        match (&self.status, &self.msg) {
            (Status::Ok, Some(msg)) => msg,
            _ => panic!("expected a message, got {self:?}"),
        }
    }
}

/// What a pipe holds and counts (the fields of the core's `PipeInfo` that
/// every layer reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages queued now.
    pub queued: usize,
    /// Threads waiting to read (select members included).
    pub pending_readers: usize,
    /// Threads waiting to peek (peek-newer included).
    pub pending_peekers: usize,
    /// Threads waiting to write.
    pub pending_writers: usize,
    /// Messages accepted.
    pub written: u64,
    /// Messages taken by readers.
    pub read: u64,
    /// Messages dropped by discard-oldest writes.
    pub dropped: u64,
    /// Messages dropped by purges.
    pub purged: u64,
    /// The pipe was closed.
    pub closed: bool,
}

impl Counts {
    /// Pending operations of every kind.
    pub fn pending(&self) -> usize {
        self.pending_readers + self.pending_peekers + self.pending_writers
    }
}

impl From<&ipcm::PipeInfo> for Counts {
    fn from(info: &ipcm::PipeInfo) -> Self {
        Counts {
            queued: info.queued,
            pending_readers: info.pending_readers,
            pending_peekers: info.pending_peekers,
            pending_writers: info.pending_writers,
            written: info.written,
            read: info.read,
            dropped: info.dropped,
            purged: info.purged,
            closed: info.closed,
        }
    }
}

/// A pipe to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Largest message, bytes.
    pub msg_size: usize,
    /// Capacity in messages (0: a rendezvous pipe).
    pub depth: usize,
    /// A write to the full pipe drops the oldest message.
    pub discard_oldest: bool,
    /// Messages are read by message priority (`PRIORITY_MESSAGES`).
    pub by_priority: bool,
}

impl Spec {
    /// A pipe that blocks writers when full.
    pub fn new(msg_size: usize, depth: usize) -> Spec {
        Spec {
            msg_size,
            depth,
            discard_oldest: false,
            by_priority: false,
        }
    }

    /// A pipe that drops its oldest message when written full.
    pub fn discarding(msg_size: usize, depth: usize) -> Spec {
        Spec {
            msg_size,
            depth,
            discard_oldest: true,
            by_priority: false,
        }
    }

    /// This pipe, reading by message priority (`PRIORITY_MESSAGES`).
    #[must_use]
    pub fn by_priority(self) -> Spec {
        Spec {
            by_priority: true,
            ..self
        }
    }
}

/// One layer of the IPC manager, as the suite drives it.
///
/// Every pipe is created and administered (purge, close, destroy) by its
/// owner or the kernel; operations run as ordinary (non-kernel) threads,
/// each [`spawn`](Self::spawn) on a thread of its own.
pub trait Substrate {
    /// The layer's name of a pipe (an id or a handle).
    type Pipe: Clone + Debug;
    /// An operation started by [`spawn`](Self::spawn).
    type Pending;

    /// Create a pipe owned by the test (the kernel or the test's process).
    ///
    /// # Errors
    /// The layer's status: `BadParam` for zero `msg_size`, `msg_size *
    /// depth` overflowing, or discard-oldest at depth 0.
    fn create(&mut self, spec: Spec) -> Result<Self::Pipe, Status>;

    /// Perform `op` on the test's own thread and return its outcome. The
    /// test only passes operations that do not wait (they complete at
    /// once, fail, or use [`Wait::Never`]/[`Wait::Zero`]).
    fn run(&mut self, op: Op<Self::Pipe>) -> Outcome;

    /// Start `op` on a helper thread of its own (an OS thread, a simulated
    /// thread, or a fresh thread id), and return once it is pending in the
    /// layer or has finished.
    fn spawn(&mut self, op: Op<Self::Pipe>) -> Self::Pending;

    /// Whether the started operation is still pending: not completed,
    /// failed, timed out or woken. (A threaded layer may give a woken
    /// thread a moment to finish before it answers.)
    fn is_pending(&mut self, pending: &Self::Pending) -> bool;

    /// Wait for the started operation to end and return its outcome.
    /// (For [`Wait::Briefly`] a layer with no clock lets its deadline pass
    /// now.)
    fn join(&mut self, pending: Self::Pending) -> Outcome;

    /// Drop every queued message, then admit pending writers (DESIGN §9);
    /// returns how many messages it dropped.
    ///
    /// # Errors
    /// The layer's status.
    fn purge(&mut self, pipe: &Self::Pipe) -> Result<usize, Status>;

    /// Close the pipe (DESIGN §9).
    ///
    /// # Errors
    /// The layer's status (`Closed` if closed already).
    fn close(&mut self, pipe: &Self::Pipe) -> Result<(), Status>;

    /// Destroy the pipe.
    ///
    /// # Errors
    /// The layer's status.
    fn destroy(&mut self, pipe: &Self::Pipe) -> Result<(), Status>;

    /// The pipe's contents, waiters and counters.
    ///
    /// # Errors
    /// `NotFound`/`Destroyed`.
    fn counts(&mut self, pipe: &Self::Pipe) -> Result<Counts, Status>;
}

/// A layer with thread priorities and the kernel's wake feedback
/// (DESIGN §9): the behaviours of [`behaviours::wake_feedback`].
pub trait WakeFeedback: Substrate {
    /// [`spawn`](Substrate::spawn) on a thread of scheduling priority
    /// `priority` (larger is more urgent).
    fn spawn_at(&mut self, op: Op<Self::Pipe>, priority: u8) -> Self::Pending;

    /// A kernel write of `msg` (from an interrupt handler) that reports
    /// whether it woke a thread of priority above `than`.
    ///
    /// # Errors
    /// As a kernel write: `Full`, `TooLarge`, `NotFound`, `Closed`.
    fn kernel_write_woke(
        &mut self,
        pipe: &Self::Pipe,
        msg: &[u8],
        than: u8,
    ) -> Result<bool, Status>;
}

/// An administrative call of [`Processes::admin_as_user`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    /// Purge.
    Purge,
    /// Close.
    Close,
    /// Destroy.
    Destroy,
}

/// A layer with more than one process (DESIGN §6: only the owner or the
/// kernel purges, closes or destroys a pipe): the behaviours of
/// [`behaviours::stranger_may_not_purge_close_or_destroy`].
pub trait Processes: Substrate {
    /// Create a pipe owned by a process other than the one the suite's
    /// operations ([`run`](Substrate::run), [`spawn`](Substrate::spawn))
    /// act for (another process, or the kernel).
    ///
    /// # Errors
    /// As [`create`](Substrate::create).
    fn create_foreign(&mut self, spec: Spec) -> Result<Self::Pipe, Status>;

    /// Purge (returning how many it dropped), close or destroy as the
    /// process the suite's operations act for.
    ///
    /// # Errors
    /// The layer's status.
    fn admin_as_user(&mut self, admin: Admin, pipe: &Self::Pipe) -> Result<usize, Status>;
}

/// A layer whose kernel can cancel a thread's pending operation (a kill):
/// the behaviours of [`behaviours::cancel_ends_pending_op_cancelled_and_loses_nothing`].
pub trait Cancel: Substrate {
    /// Cancel the started operation's thread's pending operation with
    /// `Cancelled` (`NotFound` when it has none).
    ///
    /// # Errors
    /// The layer's status.
    fn cancel(&mut self, pending: &Self::Pending) -> Result<(), Status>;
}

/// A layer where a thread with a pending operation can be made to start
/// another (the kernel calls for a thread by naming it): the behaviours of
/// [`behaviours::second_operation_of_pending_thread_is_already_pending`].
pub trait SameThread: Substrate {
    /// Perform `op` (one that does not wait) as the started operation's
    /// thread, from the test's own thread.
    fn run_as(&mut self, pending: &Self::Pending, op: Op<Self::Pipe>) -> Outcome;
}

/// One `#[test]` per named behaviour of [`behaviours`], each running it on
/// a fresh substrate from `$make` (an expression, evaluated per test).
///
/// ```ignore
/// ipcm_conformance::conformance_tests!(CoreSubstrate::new(); fifo_order, urgent_goes_first);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr; $($behaviour:ident),+ $(,)?) => {
        $(
            #[test]
            fn $behaviour() {
                $crate::behaviours::$behaviour(&mut $make);
            }
        )+
    };
}

/// [`conformance_tests!`] for the behaviours of DESIGN §1–7 (and
/// rendezvous pipes, which need only `create` with depth 0): plain reads,
/// peeks and writes, `try_` forms, timeouts and destroy.
#[macro_export]
macro_rules! queue_conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!($make;
            fifo_order,
            capacity_is_exactly_depth,
            boundaries_and_zero_length_messages,
            too_large_write_changes_nothing,
            blocking_read_is_handed_the_next_write,
            full_pipe_blocks_writer_until_read,
            discard_oldest_drops_oldest_and_never_blocks,
            write_hands_off_to_pending_reader,
            pending_peekers_all_get_a_copy_then_reader_takes_it,
            read_timeout_takes_nothing,
            write_timeout_writes_nothing,
            zero_timeout_completes_when_it_can,
            destroy_wakes_every_waiter_with_destroyed,
            destroyed_pipe_is_gone,
            bad_create_parameters,
            zero_depth_write_completes_only_by_hand_off,
            zero_depth_read_takes_pending_writer,
        );
    };
}

/// [`conformance_tests!`] for the DESIGN §9 operations every layer has
/// (select without a timeout, urgent writes, purge, close, sequence
/// numbers, peek-newer, peek-at).
#[macro_export]
macro_rules! operations_conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!($make;
            select_completes_first_ready_member,
            select_completes_exactly_one_and_withdraws_the_rest,
            select_write_member_admitted_by_read,
            write_hands_off_to_exactly_one_of_two_selects,
            select_same_pipe_twice_completes_one,
            select_member_closed_or_destroyed_completes_select,
            select_bad_parameters,
            urgent_write_is_read_first,
            urgent_write_on_full_discarding_pipe,
            urgent_write_hands_off,
            purge_drops_queue_and_admits_pending_writers,
            purge_leaves_pending_readers_pending,
            close_fails_writers_and_drains_readers,
            close_wakes_pending_readers_with_closed,
            sequence_numbers_count_accepted_messages,
            peek_newer_returns_first_newer_message,
            peek_newer_waiter_woken_only_by_newer_write,
            peek_newer_finds_urgent_message_at_the_front,
            peek_at_indexes_the_queue,
            priority_messages_read_highest_first_fifo_within,
            priority_discard_oldest_drops_the_lowest_number,
            write_prio_needs_a_priority_pipe,
            write_prio_hands_off_to_pending_reader,
            pending_prio_writer_is_placed_by_its_priority,
        );
    };
}

/// Both [`queue_conformance_tests!`] and
/// [`operations_conformance_tests!`]: every behaviour that needs only
/// [`Substrate`] (not [`WakeFeedback`]) and no select timeout.
#[macro_export]
macro_rules! common_conformance_tests {
    ($make:expr) => {
        $crate::queue_conformance_tests!($make);
        $crate::operations_conformance_tests!($make);
    };
}
