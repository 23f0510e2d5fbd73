//! [`Blackboard`]: the freshest value of a `T`, for any number of readers.

use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::asynk::WakerSet;
use crate::{Error, Ipc, OnFull, Pipe};

const STAMP: usize = size_of::<u64>();

/// Publication count of a blackboard. Publishing holds `published` while
/// it writes, so stamps follow the order of the writes. Readers take no
/// lock: they wait in the core's peek-newer (DESIGN §9).
#[derive(Default)]
pub(crate) struct Watch {
    /// The stamp of the last value published (0: none yet).
    pub(crate) published: parking_lot::Mutex<u64>,
    /// Futures waiting for a publication ([`crate::asynk`]).
    pub(crate) tasks: WakerSet,
}

impl Watch {
    /// The pipe is gone: its waiting readers were woken with `Destroyed`
    /// by the core; waiting futures are woken to find it gone.
    pub(crate) fn destroyed(&self) {
        let _published = self.published.lock();
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
    /// A waiting reader waits in the core's peek-newer for the message
    /// after the one it last looked at: it is woken by the next write to
    /// the pipe (a publication, or a raw [`Pipe::write`], whose stamp it
    /// then checks), and by destroying the pipe. No lock or condition
    /// variable besides the pipe's.
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
        // The core numbers every message: wait for one numbered after the
        // last one looked at, until its stamp is newer than `seen`.
        let mut after = 0;
        loop {
            let (numbered, snapshot) = with_buffer::<T, _>(|buf| {
                let numbered = self.pipe.peek_newer_until(after, buf, deadline)?;
                decode(&buf[..numbered.len]).map(|snapshot| (numbered, snapshot))
            })
            .map_err(|error| match error {
                Error::Closed => Error::Destroyed,
                other => other,
            })?;
            if snapshot.version > seen {
                return Ok(snapshot);
            }
            after = numbered.seq;
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
