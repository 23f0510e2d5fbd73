//! [`Blackboard`]: the freshest value of a `T`, for any number of readers.

use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::asynk::WakerSet;
use crate::{Error, Ipc, OnFull, Pipe};

const STAMP: usize = size_of::<u64>();

/// Publication count of a blackboard, so that readers can wait for a value
/// newer than one they saw. Publishing holds `published` while it writes,
/// so stamps follow the order of the writes.
#[derive(Default)]
pub(crate) struct Watch {
    /// The stamp of the last value published (0: none yet).
    pub(crate) published: parking_lot::Mutex<u64>,
    changed: parking_lot::Condvar,
    gone: AtomicBool,
    /// Futures waiting for a publication ([`crate::asynk`]).
    pub(crate) tasks: WakerSet,
}

impl Watch {
    pub(crate) fn destroyed(&self) {
        let _published = self.published.lock();
        self.gone.store(true, Ordering::Relaxed);
        self.changed.notify_all();
        self.tasks.wake_all();
    }
}

/// One value read from a [`Blackboard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot<T> {
    /// Which publication this is: 1 for the first, growing by one with each
    /// [`publish`](Blackboard::publish). Pass it to
    /// [`wait_newer`](Blackboard::wait_newer).
    pub version: u64,
    /// The value published.
    pub value: T,
}

/// The blackboard pattern: a pipe of depth 1 that discards the oldest
/// message, so a publisher never waits and readers always see the freshest
/// value, with a non-consuming peek so any number of readers see it.
///
/// ```
/// use ipcm_host::{Blackboard, Error, Ipc};
///
/// let ipc = Ipc::new();
/// let altitude: Blackboard<f32> = Blackboard::create(&ipc, Some("altitude"))?;
/// assert_eq!(altitude.latest()?, None);
/// altitude.publish(&118.5)?;
/// altitude.publish(&120.0)?; // replaces 118.5
///
/// let reader: Blackboard<f32> = Blackboard::open(&ipc, "altitude")?;
/// let seen = reader.latest()?.expect("published");
/// assert_eq!((seen.version, seen.value), (2, 120.0));
/// assert_eq!(reader.latest()?, Some(seen)); // reading does not consume
/// # Ok::<(), Error>(())
/// ```
pub struct Blackboard<T> {
    pipe: Pipe,
    pub(crate) watch: Arc<Watch>,
    _value: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Blackboard<T> {
    fn clone(&self) -> Self {
        Blackboard {
            pipe: self.pipe.clone(),
            watch: Arc::clone(&self.watch),
            _value: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Blackboard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blackboard")
            .field("pipe", &self.pipe)
            .finish()
    }
}

impl<T: Pod> Blackboard<T> {
    /// Create an empty blackboard (a new pipe), optionally named.
    ///
    /// # Errors
    /// As [`PipeBuilder::create`](crate::PipeBuilder::create).
    pub fn create(ipc: &Ipc, name: Option<&str>) -> Result<Self, Error> {
        let mut builder = ipc
            .pipe(size_of::<T>() + STAMP, 1)
            .on_full(OnFull::DiscardOldest);
        if let Some(name) = name {
            builder = builder.name(name);
        }
        Self::from_pipe(builder.create()?)
    }

    /// Open the blackboard called `name`.
    ///
    /// # Errors
    /// As [`Ipc::open`], and [`Error::BadParam`] if that pipe is not a
    /// blackboard of `T`.
    pub fn open(ipc: &Ipc, name: &str) -> Result<Self, Error> {
        Self::from_pipe(ipc.open(name)?)
    }

    /// Use `pipe` as a blackboard of `T`.
    ///
    /// # Errors
    /// [`Error::BadParam`] unless the pipe has depth 1, discards the
    /// oldest, and holds a `T` and its version.
    pub fn from_pipe(pipe: Pipe) -> Result<Self, Error> {
        if pipe.depth() != 1
            || pipe.on_full() != OnFull::DiscardOldest
            || pipe.msg_size() != size_of::<T>() + STAMP
        {
            return Err(Error::bad_param(format!(
                "{} is not a blackboard of {}: it has depth {}, {:?}, msg_size {} bytes; \
                 a blackboard has depth 1, OnFull::DiscardOldest, msg_size {} bytes",
                pipe.describe(),
                std::any::type_name::<T>(),
                pipe.depth(),
                pipe.on_full(),
                pipe.msg_size(),
                size_of::<T>() + STAMP,
            )));
        }
        let watch = pipe.ipc().shared.watch(pipe.id());
        Ok(Blackboard {
            pipe,
            watch,
            _value: PhantomData,
        })
    }

    /// The underlying pipe.
    #[must_use]
    pub fn pipe(&self) -> &Pipe {
        &self.pipe
    }

    /// Publish `value`, replacing the previous one; never waits for
    /// readers. Returns the new value's version.
    ///
    /// # Errors
    /// [`Error::Denied`] (owner-only writes), [`Error::Destroyed`].
    pub fn publish(&self, value: &T) -> Result<u64, Error> {
        let mut published = self.watch.published.lock();
        let version = *published + 1;
        with_buffer::<T, _>(|buf| {
            let (bytes, stamp) = buf.split_at_mut(size_of::<T>());
            bytes.copy_from_slice(bytemuck::bytes_of(value));
            stamp[..STAMP].copy_from_slice(&version.to_ne_bytes());
            self.pipe.write(&buf[..size_of::<T>() + STAMP])
        })?;
        *published = version;
        drop(published);
        self.watch.changed.notify_all();
        self.watch.tasks.wake_all();
        Ok(version)
    }

    /// The freshest value, or `None` before the first publication. Never
    /// waits.
    ///
    /// # Errors
    /// [`Error::Denied`] (owner-only reads), [`Error::Destroyed`],
    /// [`Error::BadParam`] if someone wrote a message of the wrong size
    /// through the raw pipe.
    pub fn latest(&self) -> Result<Option<Snapshot<T>>, Error> {
        with_buffer::<T, _>(|buf| match self.pipe.try_peek(buf) {
            Ok(len) => decode(&buf[..len]).map(Some),
            Err(Error::Empty) => Ok(None),
            Err(error) => Err(error),
        })
    }

    /// The freshest value once its version is newer than `seen`, waiting
    /// for a publication if needed. `wait_newer(0)` waits for the first.
    ///
    /// Waiting readers are woken by [`publish`](Blackboard::publish) through
    /// any blackboard handle of this manager (the core's peek only waits on
    /// an empty pipe, so the wake-up is kept here, beside the pipe), and by
    /// destroying the pipe. A raw [`Pipe::write`] to the pipe is seen by
    /// [`latest`](Blackboard::latest) but wakes nobody.
    ///
    /// # Errors
    /// As [`latest`](Blackboard::latest).
    pub fn wait_newer(&self, seen: u64) -> Result<Snapshot<T>, Error> {
        self.wait_newer_until(seen, None)
    }

    /// [`wait_newer`](Blackboard::wait_newer), waiting at most `timeout`.
    ///
    /// # Errors
    /// As `wait_newer`, plus [`Error::TimedOut`].
    pub fn wait_newer_timeout(&self, seen: u64, timeout: Duration) -> Result<Snapshot<T>, Error> {
        self.wait_newer_until(seen, Instant::now().checked_add(timeout))
    }

    fn wait_newer_until(&self, seen: u64, deadline: Option<Instant>) -> Result<Snapshot<T>, Error> {
        // Held while peeking, so no publication is half done (`publish`
        // holds it while it writes) and none slips in between the peek and
        // the wait.
        let mut published = self.watch.published.lock();
        loop {
            if self.watch.gone.load(Ordering::Relaxed) {
                return Err(Error::Destroyed);
            }
            if let Some(snapshot) = self.latest()?
                && snapshot.version > seen
            {
                return Ok(snapshot);
            }
            // Nothing newer than `seen` in the pipe, so wait for the next
            // publication. Not for `published > seen`: the counter can be
            // ahead of the pipe (its value taken through the raw pipe), and
            // then that condition holds with nothing to read.
            let current = *published;
            while *published == current && !self.watch.gone.load(Ordering::Relaxed) {
                match deadline {
                    None => self.watch.changed.wait(&mut published),
                    Some(deadline) => {
                        if self
                            .watch
                            .changed
                            .wait_until(&mut published, deadline)
                            .timed_out()
                            && *published == current
                            && !self.watch.gone.load(Ordering::Relaxed)
                        {
                            return Err(Error::TimedOut);
                        }
                    }
                }
            }
        }
    }

    /// Destroy the blackboard's pipe; waiting readers get
    /// [`Error::Destroyed`].
    ///
    /// # Errors
    /// As [`Pipe::destroy`].
    pub fn destroy(&self) -> Result<(), Error> {
        self.pipe.destroy()
    }
}

/// Run `f` with a stack buffer of at least `size_of::<T>() + 8` bytes.
fn with_buffer<T: Pod, R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    if size_of::<T>() >= STAMP {
        let mut buf = [T::zeroed(); 2];
        f(bytemuck::bytes_of_mut(&mut buf))
    } else {
        let mut buf = [0_u64; 2];
        f(bytemuck::bytes_of_mut(&mut buf))
    }
}

fn decode<T: Pod>(msg: &[u8]) -> Result<Snapshot<T>, Error> {
    if msg.len() != size_of::<T>() + STAMP {
        return Err(Error::bad_param(format!(
            "the blackboard holds a message of {} bytes, not the {} bytes of a {} and its version \
             (written through the raw pipe?)",
            msg.len(),
            size_of::<T>() + STAMP,
            std::any::type_name::<T>(),
        )));
    }
    let (value, stamp) = msg.split_at(size_of::<T>());
    let mut version = [0; STAMP];
    version.copy_from_slice(stamp);
    Ok(Snapshot {
        version: u64::from_ne_bytes(version),
        value: bytemuck::pod_read_unaligned(value),
    })
}
