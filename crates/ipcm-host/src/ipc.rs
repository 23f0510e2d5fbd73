//! The [`Ipc`] value: one IPC manager, seen from one process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use ipcm::{Caller, PipeFlags, PipeId, ProcessId, Status};

use crate::blackboard::Watch;
use crate::handles::Handles;
use crate::kernel::{HostKernel, Manager, current};
use crate::{Error, Pipe};

/// What a write to a full pipe does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnFull {
    /// Wait for room (or fail with [`Error::Full`] / [`Error::TimedOut`]
    /// in the `try_` and timed variants).
    #[default]
    Block,
    /// Drop the oldest queued message and write the new one; never waits.
    DiscardOldest,
}

/// Which processes may use a pipe. Only the owner (the process that
/// created it) may ever destroy it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// Any process may read, peek and write.
    #[default]
    Anyone,
    /// Only the owner may read and peek; anyone may write (a server's
    /// request pipe).
    OwnerReads,
    /// Only the owner may write; anyone may read and peek (a published
    /// value).
    OwnerWrites,
    /// Only the owner may read, peek or write.
    OwnerOnly,
}

impl Access {
    fn flags(self) -> PipeFlags {
        match self {
            Access::Anyone => PipeFlags::empty(),
            Access::OwnerReads => PipeFlags::OWNER_READ,
            Access::OwnerWrites => PipeFlags::OWNER_WRITE,
            Access::OwnerOnly => PipeFlags::OWNER_READ | PipeFlags::OWNER_WRITE,
        }
    }
}

/// State shared by every [`Ipc`] and [`Pipe`] of one manager.
pub(crate) struct Shared {
    pub(crate) ipcm: Manager,
    next_process: AtomicU64,
    /// Blackboards' change notifications, by pipe.
    watches: parking_lot::Mutex<HashMap<PipeId, Weak<Watch>>>,
    /// Live [`Pipe`] handles by pipe; the last one frees its pipe.
    pub(crate) handles: Handles,
}

impl Shared {
    /// The watch of blackboard pipe `id`, made on first use.
    pub(crate) fn watch(&self, id: PipeId) -> Arc<Watch> {
        let mut watches = self.watches.lock();
        if let Some(watch) = watches.get(&id).and_then(Weak::upgrade) {
            return watch;
        }
        watches.retain(|_, watch| watch.strong_count() > 0);
        let watch = Arc::new(Watch::default());
        watches.insert(id, Arc::downgrade(&watch));
        watch
    }

    /// Tell a blackboard's waiters that pipe `id` is gone.
    pub(crate) fn pipe_destroyed(&self, id: PipeId) {
        let watch = self.watches.lock().remove(&id).and_then(|w| w.upgrade());
        if let Some(watch) = watch {
            watch.destroyed();
        }
    }
}

/// An IPC manager, as seen by one process: create and open pipes here.
///
/// `Ipc::new()` makes a manager with no pipes (there is no global one);
/// [`new_process`](Ipc::new_process) gives another process's view of the
/// same manager, for pipes whose [`Access`] is restricted to their owner.
/// Cloning is cheap and keeps the process.
///
/// ```
/// use ipcm_host::{Access, Error, Ipc};
///
/// let server = Ipc::new();
/// let requests = server.pipe(64, 8).name("requests").access(Access::OwnerReads).create()?;
///
/// let client = server.new_process();
/// let to_server = client.open("requests")?;
/// to_server.write(b"ping")?;
/// assert_eq!(to_server.try_read(&mut [0; 64]), Err(Error::Denied));
///
/// let mut buf = [0; 64];
/// let len = requests.read(&mut buf)?;
/// assert_eq!(&buf[..len], b"ping");
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct Ipc {
    pub(crate) shared: Arc<Shared>,
    pub(crate) process: ProcessId,
}

impl Default for Ipc {
    fn default() -> Self {
        Ipc::new()
    }
}

impl std::fmt::Debug for Ipc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipc")
            .field("process", &self.process)
            .field("pipes", &self.shared.ipcm.pipe_count())
            .finish()
    }
}

impl Ipc {
    /// A new IPC manager with no pipes, seen from its first process. The
    /// first in a process also measures what a park/unpark hand-off costs
    /// on this machine (some tens of hand-offs between two threads), which
    /// tells waiting threads how long spinning pays.
    #[must_use]
    pub fn new() -> Ipc {
        let ipc = Ipc {
            shared: Arc::new(Shared {
                ipcm: Manager::new(HostKernel),
                next_process: AtomicU64::new(2),
                watches: parking_lot::Mutex::new(HashMap::new()),
                handles: Handles::default(),
            }),
            process: ProcessId(1),
        };
        // Measure the park cost now (once per process) rather than in the
        // first wait: the measurement spawns a thread, and reads, peeks
        // and writes never allocate.
        #[cfg(not(loom))]
        let _ = crate::waiting::park_cost();
        #[cfg(loom)]
        {
            // Make the manager's loom locks in this thread (see sync.rs).
            let _ = ipc.shared.ipcm.pipe_count();
            let _ = current(|me| ipc.shared.ipcm.is_pending(me));
            ipc.shared.ipcm.touch_locks();
            ipc.shared.handles.touch();
        }
        ipc
    }

    /// The same manager seen from a new process: pipes it creates are
    /// owned by that process, and owner-only pipes of other processes deny
    /// it.
    #[must_use]
    pub fn new_process(&self) -> Ipc {
        Ipc {
            shared: Arc::clone(&self.shared),
            process: ProcessId(self.shared.next_process.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// The process this view acts for.
    #[must_use]
    pub fn process(&self) -> ProcessId {
        self.process
    }

    /// Start creating a pipe of `depth` messages of at most `msg_size`
    /// bytes each; finish with [`PipeBuilder::create`].
    pub fn pipe(&self, msg_size: usize, depth: usize) -> PipeBuilder<'_> {
        PipeBuilder {
            ipc: self,
            name: None,
            msg_size,
            depth,
            on_full: OnFull::Block,
            access: Access::Anyone,
            by_message_priority: false,
        }
    }

    /// A handle to the live pipe called `name`.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::BadParam`] for a name no pipe can
    /// have (empty, over [`ipcm::MAX_NAME_LEN`] bytes, or with a NUL).
    pub fn open(&self, name: &str) -> Result<Pipe, Error> {
        let ipcm = &self.shared.ipcm;
        let pipe = self
            .shared
            .handles
            .open(|| ipcm.open(ipcm.lookup_by_name(name)?))
            .map_err(name_error(name))?;
        Ok(Pipe::new(self.clone(), pipe))
    }

    /// A handle to the live pipe with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id or one of a destroyed pipe.
    pub fn open_id(&self, id: PipeId) -> Result<Pipe, Error> {
        let ipcm = &self.shared.ipcm;
        let pipe = self
            .shared
            .handles
            .open(|| ipcm.open(id))
            .map_err(|status| match status {
                Status::NotFound => Error::no_pipe_with_id(id),
                other => Error::from_status(other),
            })?;
        Ok(Pipe::new(self.clone(), pipe))
    }

    /// How many pipes exist in this manager.
    #[must_use]
    pub fn pipe_count(&self) -> usize {
        self.shared.ipcm.pipe_count()
    }

    /// Destroy the pipe with this id (see [`Pipe::destroy`]).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Denied`] when this process is not the
    /// owner.
    pub fn destroy(&self, id: PipeId) -> Result<(), Error> {
        current(|me| {
            me.act_for(self.process);
            self.shared.ipcm.destroy(Caller::Thread(me), id)
        })
        .map_err(|status| match status {
            Status::NotFound => Error::no_pipe_with_id(id),
            other => Error::from_status(other),
        })?;
        self.shared.pipe_destroyed(id);
        Ok(())
    }
}

fn name_error(name: &str) -> impl FnOnce(Status) -> Error + '_ {
    move |status| match status {
        Status::BadParam => Error::bad_param(format!(
            "the name {name:?} is {} bytes{}; a pipe name is 1 to {} bytes with no NUL",
            name.len(),
            if name.contains('\0') {
                " with a NUL"
            } else {
                ""
            },
            ipcm::MAX_NAME_LEN,
        )),
        Status::NameTaken => Error::NameTaken {
            name: name.to_owned(),
        },
        Status::NotFound => Error::no_pipe_named(name),
        other => Error::from_status(other),
    }
}

/// The settings of a pipe to create; made by [`Ipc::pipe`].
#[derive(Debug)]
#[must_use = "call .create() to create the pipe"]
pub struct PipeBuilder<'a> {
    ipc: &'a Ipc,
    name: Option<&'a str>,
    msg_size: usize,
    depth: usize,
    on_full: OnFull,
    access: Access,
    by_message_priority: bool,
}

impl<'a> PipeBuilder<'a> {
    /// Read messages by message priority (given by
    /// [`Pipe::write_prio`]): higher first, FIFO within a priority,
    /// instead of in arrival order (DESIGN §9). Not with depth 0.
    pub fn by_message_priority(mut self) -> Self {
        self.by_message_priority = true;
        self
    }

    /// Give the pipe a name others can [`open`](Ipc::open) it by.
    pub fn name(mut self, name: &'a str) -> Self {
        self.name = Some(name);
        self
    }

    /// What a write to the full pipe does (default [`OnFull::Block`]).
    pub fn on_full(mut self, on_full: OnFull) -> Self {
        self.on_full = on_full;
        self
    }

    /// Which processes may use the pipe (default [`Access::Anyone`]).
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Create the pipe, owned by the builder's process. Its whole message
    /// store is allocated now. It lives until it is destroyed or its last
    /// handle is dropped (see [`Pipe`]): keep the handle this returns.
    ///
    /// # Errors
    /// [`Error::BadParam`] (zero `msg_size`, `msg_size * depth`
    /// overflowing, a bad name, depth 0 with [`OnFull::DiscardOldest`]),
    /// [`Error::NameTaken`], [`Error::NoMemory`].
    ///
    /// Depth 0 makes a rendezvous pipe (DESIGN §9): a write completes only
    /// by handing its message to a waiting reader.
    pub fn create(self) -> Result<Pipe, Error> {
        if self.msg_size == 0 {
            return Err(Error::bad_param(format!(
                "msg_size is 0 and depth is {}: msg_size must be at least 1",
                self.depth
            )));
        }
        if self.depth == 0 && self.on_full == OnFull::DiscardOldest {
            return Err(Error::bad_param(
                "a rendezvous pipe (depth 0) has nothing to discard: use OnFull::Block",
            ));
        }
        if self.depth == 0 && self.by_message_priority {
            return Err(Error::bad_param(
                "a rendezvous pipe (depth 0) queues nothing to order by priority",
            ));
        }
        let mut flags = self.access.flags();
        if self.on_full == OnFull::DiscardOldest {
            flags |= PipeFlags::DISCARD_OLDEST;
        }
        if self.by_message_priority {
            flags |= PipeFlags::PRIORITY_MESSAGES;
        }
        let ipc = self.ipc;
        let ipcm = &ipc.shared.ipcm;
        // Created and counted under the handle lock: no open-and-drop by
        // another thread can free the new pipe before its first handle.
        let pipe = ipc
            .shared
            .handles
            .open(|| {
                let id = current(|me| {
                    me.act_for(ipc.process);
                    ipcm.create(
                        Caller::Thread(me),
                        self.name,
                        self.msg_size,
                        self.depth,
                        flags,
                    )
                })?;
                ipcm.open(id)
            })
            .map_err(|status| match (status, self.name) {
                (Status::BadParam, Some(name)) if ipcm::validate_name(name).is_err() => {
                    name_error(name)(status)
                }
                (Status::BadParam, _) => Error::bad_param(format!(
                    "msg_size {} * depth {} is too large for one allocation",
                    self.msg_size, self.depth
                )),
                (other, name) => name_error(name.unwrap_or_default())(other),
            })?;
        let pipe = Pipe::new(ipc.clone(), pipe);
        #[cfg(loom)]
        {
            // Make the pipe's loom lock in this thread (see sync.rs).
            let _ = pipe.info();
        }
        Ok(pipe)
    }
}
