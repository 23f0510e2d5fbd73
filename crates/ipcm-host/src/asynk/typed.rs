//! Async forms of the typed patterns: [`MessagePipe`] values and a
//! [`Blackboard`]'s next publication.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytemuck::Pod;

use crate::{Blackboard, Error, MessagePipe, Snapshot};

impl<T: Pod> MessagePipe<T> {
    /// [`send`](MessagePipe::send) as a future (see
    /// [`Pipe::write_async`](crate::Pipe::write_async): dropping it either
    /// sent the value once or not at all).
    ///
    /// # Errors
    /// As [`send`](MessagePipe::send).
    pub async fn send_async(&self, value: &T) -> Result<(), Error> {
        self.pipe()
            .write_async(bytemuck::bytes_of(value))
            .await
            .map(|_| ())
    }

    /// [`recv`](MessagePipe::recv) as a future (see
    /// [`Pipe::read_async`](crate::Pipe::read_async): dropping it received
    /// nothing).
    ///
    /// ```
    /// use ipcm_host::{Error, Ipc, MessagePipe};
    ///
    /// let ipc = Ipc::new();
    /// let pipe: MessagePipe<u32> = MessagePipe::create(&ipc, None, 4)?;
    /// futures::executor::block_on(async {
    ///     pipe.send_async(&7).await?;
    ///     assert_eq!(pipe.recv_async().await?, 7);
    ///     Ok::<(), Error>(())
    /// })?;
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`recv`](MessagePipe::recv).
    pub async fn recv_async(&self) -> Result<T, Error> {
        let mut value = T::zeroed();
        let len = self
            .pipe()
            .read_async(bytemuck::bytes_of_mut(&mut value))
            .await?;
        crate::message::whole_value(value, len)
    }
}

impl<T: Pod> Blackboard<T> {
    /// [`wait_newer`](Blackboard::wait_newer) as a future: the freshest
    /// value once its version is newer than `seen`. Woken by
    /// [`publish`](Blackboard::publish) and by destroying the pipe; a value
    /// taken from the pipe behind the blackboard's back makes it wait for
    /// the next publication, never spin. Dropping it changes nothing.
    ///
    /// ```
    /// use ipcm_host::{Blackboard, Error, Ipc};
    ///
    /// let ipc = Ipc::new();
    /// let board: Blackboard<u64> = Blackboard::create(&ipc, None)?;
    /// let publisher = board.clone();
    /// let thread = std::thread::spawn(move || publisher.publish(&42));
    /// let seen = futures::executor::block_on(board.wait_newer_async(0))?;
    /// assert_eq!(seen.value, 42);
    /// thread.join().unwrap()?;
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`wait_newer`](Blackboard::wait_newer).
    pub fn wait_newer_async(&self, seen: u64) -> NewerFuture<'_, T> {
        NewerFuture {
            board: self,
            seen,
            key: None,
        }
    }
}

/// The future of [`Blackboard::wait_newer_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct NewerFuture<'a, T> {
    board: &'a Blackboard<T>,
    seen: u64,
    /// Our entry in the blackboard's waker set, once registered.
    key: Option<u64>,
}

impl<T: Pod> Future for NewerFuture<'_, T> {
    type Output = Result<Snapshot<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let newer = |this: &Self| match this.board.latest() {
            Ok(Some(snapshot)) if snapshot.version > this.seen => Some(Ok(snapshot)),
            Ok(_) => None,
            Err(error) => Some(Err(error)),
        };
        // The fast path: a newer value is there already; no registration.
        if this.key.is_none()
            && let Some(result) = newer(this)
        {
            return Poll::Ready(result);
        }
        let watch = &this.board.watch;
        {
            // Registered under the publication lock: a publication either
            // finished before (and the look below sees its value) or wakes
            // us after it wrote.
            let _published = watch.published.lock();
            watch.tasks.register(&mut this.key, cx.waker());
        }
        let Some(result) = newer(this) else {
            return Poll::Pending;
        };
        watch.tasks.remove(&mut this.key);
        Poll::Ready(result)
    }
}

impl<T> Drop for NewerFuture<'_, T> {
    fn drop(&mut self) {
        self.board.watch.tasks.remove(&mut self.key);
    }
}
