//! [`TokenSemaphore`]: a pipe pre-filled with tokens; read to acquire,
//! write back to release.

use std::time::{Duration, Instant};

use crate::{Error, Ipc, OnFull, Pipe};

/// The byte a token is made of.
const TOKEN: [u8; 1] = [1];

/// The token-semaphore pattern: a pipe of depth N holding N one-byte tokens.
/// [`acquire`](TokenSemaphore::acquire) reads a token (waiting while none is
/// left) and returns a [`Permit`] that writes it back when dropped, so at
/// most N permits exist at once.
///
/// ```
/// use std::time::Duration;
/// use ipcm_host::{Error, Ipc, TokenSemaphore};
///
/// let ipc = Ipc::new();
/// let radios = TokenSemaphore::create(&ipc, Some("radios"), 2)?;
/// let first = radios.acquire()?;
/// let second = radios.try_acquire()?;
/// assert_eq!(radios.try_acquire().err(), Some(Error::Empty));
/// assert_eq!(radios.acquire_timeout(Duration::from_millis(1)).err(), Some(Error::TimedOut));
/// drop(first); // releases its token
/// let _third = radios.acquire()?;
/// second.release()?;
/// assert_eq!(radios.available()?, 1);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenSemaphore {
    pipe: Pipe,
}

/// A token held: dropping it (or [`release`](Permit::release)) writes the
/// token back. It borrows its semaphore; [`OwnedPermit`] does not.
#[derive(Debug)]
#[must_use = "the token is released as soon as the permit is dropped"]
pub struct Permit<'a> {
    semaphore: &'a TokenSemaphore,
    held: bool,
}

/// A token held, with a handle to its semaphore of its own (as tokio's
/// `OwnedSemaphorePermit`): it can be moved into a spawned thread or
/// stored anywhere. Dropping it (or [`release`](OwnedPermit::release))
/// writes the token back.
///
/// ```
/// use std::thread;
/// use ipcm_host::{Error, Ipc, TokenSemaphore};
///
/// let ipc = Ipc::new();
/// let workers = TokenSemaphore::create(&ipc, None, 2)?;
/// let handles: Vec<_> = (0..4)
///     .map(|job| {
///         let permit = workers.acquire_owned()?; // waits while 2 run
///         Ok(thread::spawn(move || {
///             let _permit = permit; // released when the job ends
///             job * 10
///         }))
///     })
///     .collect::<Result<_, Error>>()?;
/// let results: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(results, [0, 10, 20, 30]);
/// # while workers.available()? < 2 { thread::yield_now(); }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[must_use = "the token is released as soon as the permit is dropped"]
pub struct OwnedPermit {
    semaphore: TokenSemaphore,
    held: bool,
}

impl TokenSemaphore {
    /// Create a semaphore of `permits` tokens (a new pipe, pre-filled).
    ///
    /// # Errors
    /// As [`PipeBuilder::create`](crate::PipeBuilder::create)
    /// (`permits == 0` is [`Error::BadParam`]).
    pub fn create(ipc: &Ipc, name: Option<&str>, permits: usize) -> Result<Self, Error> {
        // A depth-0 pipe is a rendezvous pipe, not a semaphore of no token.
        if permits == 0 {
            return Err(Error::bad_param(
                "a token semaphore needs at least one permit",
            ));
        }
        let mut builder = ipc.pipe(TOKEN.len(), permits).on_full(OnFull::Block);
        if let Some(name) = name {
            builder = builder.name(name);
        }
        let pipe = builder.create()?;
        for _ in 0..permits {
            if let Err(error) = pipe.try_write(&TOKEN) {
                let _ = pipe.destroy();
                return Err(error);
            }
        }
        Ok(TokenSemaphore { pipe })
    }

    /// Open the semaphore called `name`.
    ///
    /// # Errors
    /// As [`Ipc::open`], and [`Error::BadParam`] if that pipe is not a
    /// token semaphore.
    pub fn open(ipc: &Ipc, name: &str) -> Result<Self, Error> {
        let pipe = ipc.open(name)?;
        if pipe.msg_size() != TOKEN.len() || pipe.on_full() != OnFull::Block {
            return Err(Error::bad_param(format!(
                "{} is not a token semaphore: its msg_size is {} bytes and it is {:?}; \
                 a token semaphore has {}-byte tokens and is OnFull::Block",
                pipe.describe(),
                pipe.msg_size(),
                pipe.on_full(),
                TOKEN.len(),
            )));
        }
        Ok(TokenSemaphore { pipe })
    }

    /// The underlying pipe.
    #[must_use]
    pub fn pipe(&self) -> &Pipe {
        &self.pipe
    }

    /// How many permits exist in all (the pipe's depth).
    #[must_use]
    pub fn permits(&self) -> usize {
        self.pipe.depth()
    }

    /// How many tokens are free now (a snapshot).
    ///
    /// # Errors
    /// [`Error::Destroyed`].
    pub fn available(&self) -> Result<usize, Error> {
        Ok(self.pipe.info()?.queued)
    }

    /// Take a token, waiting while none is free.
    ///
    /// # Errors
    /// [`Error::Destroyed`], [`Error::Denied`].
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        self.take(|buf| self.pipe.read(buf))
    }

    /// Take a token if one is free now.
    ///
    /// # Errors
    /// As `acquire`, plus [`Error::Empty`].
    pub fn try_acquire(&self) -> Result<Permit<'_>, Error> {
        self.take(|buf| self.pipe.try_read(buf))
    }

    /// Take a token, waiting at most `timeout`.
    ///
    /// # Errors
    /// As `acquire`, plus [`Error::TimedOut`] (no token taken).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Permit<'_>, Error> {
        self.take(|buf| self.pipe.read_timeout(buf, timeout))
    }

    /// Take a token, waiting until `deadline` at the latest.
    ///
    /// # Errors
    /// As `acquire`, plus [`Error::TimedOut`] (no token taken).
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<Permit<'_>, Error> {
        self.take(|buf| self.pipe.read_deadline(buf, deadline))
    }

    /// [`acquire`](TokenSemaphore::acquire), with a permit that holds a
    /// handle of its own instead of borrowing `self`.
    ///
    /// # Errors
    /// As `acquire`.
    pub fn acquire_owned(&self) -> Result<OwnedPermit, Error> {
        self.take_owned(|buf| self.pipe.read(buf))
    }

    /// [`try_acquire`](TokenSemaphore::try_acquire), with an owned permit.
    ///
    /// # Errors
    /// As `try_acquire`.
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, Error> {
        self.take_owned(|buf| self.pipe.try_read(buf))
    }

    /// [`acquire_timeout`](TokenSemaphore::acquire_timeout), with an owned
    /// permit.
    ///
    /// # Errors
    /// As `acquire_timeout`.
    pub fn acquire_owned_timeout(&self, timeout: Duration) -> Result<OwnedPermit, Error> {
        self.take_owned(|buf| self.pipe.read_timeout(buf, timeout))
    }

    fn take(
        &self,
        read: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<Permit<'_>, Error> {
        let mut token = [0; TOKEN.len()];
        read(&mut token)?;
        Ok(Permit {
            semaphore: self,
            held: true,
        })
    }

    fn take_owned(
        &self,
        read: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Result<OwnedPermit, Error> {
        let mut token = [0; TOKEN.len()];
        read(&mut token)?;
        Ok(OwnedPermit {
            semaphore: self.clone(),
            held: true,
        })
    }

    fn give_back(&self) -> Result<(), Error> {
        self.pipe.try_write(&TOKEN).map(|_| ())
    }
}

impl Permit<'_> {
    /// Write the token back now.
    ///
    /// # Errors
    /// [`Error::Full`] if the pipe already holds every token (someone
    /// released a token they never acquired through the raw pipe);
    /// [`Error::Destroyed`]. The permit is gone either way.
    pub fn release(mut self) -> Result<(), Error> {
        self.held = false;
        self.semaphore.give_back()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.held {
            // A destroyed semaphore has nothing to give back to; a full one
            // means tokens were forged through the raw pipe: dropping ours
            // restores the count.
            let _ = self.semaphore.give_back();
        }
    }
}

impl OwnedPermit {
    /// The semaphore this permit's token belongs to.
    #[must_use]
    pub fn semaphore(&self) -> &TokenSemaphore {
        &self.semaphore
    }

    /// Write the token back now.
    ///
    /// # Errors
    /// As [`Permit::release`]. The permit is gone either way.
    pub fn release(mut self) -> Result<(), Error> {
        self.held = false;
        self.semaphore.give_back()
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if self.held {
            // As for `Permit`.
            let _ = self.semaphore.give_back();
        }
    }
}
