//! How many [`Pipe`](crate::Pipe) handles each pipe has, so that the last
//! one to go can free the pipe (and its name) if nobody destroyed it.
//!
//! The rule: a pipe lives while a handle to it exists or until it is
//! destroyed, whichever ends first. Every handle of every process of one
//! [`Ipc`](crate::Ipc) counts. Counting and the last drop's destroy happen
//! under one lock, and so do opening and counting: an open either finds
//! the pipe before the last handle went (and keeps it alive) or finds no
//! pipe, never a handle to a pipe that is about to be freed under it.
//!
//! The core keeps destroy explicit (a kernel frees a pipe only when told);
//! this is the hosted runtime's policy on top of it.

use std::collections::HashMap;

use ipcm::{PipeId, PipeRef, Status};

use crate::kernel::HostKernel;
use crate::sync::Lock;

/// Live handle counts by pipe. The lock is the manager's own kind (a
/// loom-visible one under loom), since the last drop calls into the
/// manager while holding it.
pub(crate) struct Handles {
    counts: lock_api::Mutex<Lock, HashMap<PipeId, usize>>,
}

impl Default for Handles {
    fn default() -> Self {
        Handles {
            counts: lock_api::Mutex::new(HashMap::new()),
        }
    }
}

impl Handles {
    /// Make a handle with `open` and count it. `open` runs under the
    /// count lock, so no last drop can free its pipe in between.
    pub(crate) fn open(
        &self,
        open: impl FnOnce() -> Result<PipeRef<Lock, HostKernel>, Status>,
    ) -> Result<PipeRef<Lock, HostKernel>, Status> {
        let mut counts = self.counts.lock();
        let pipe = open()?;
        *counts.entry(pipe.id()).or_insert(0) += 1;
        Ok(pipe)
    }

    /// Use the lock once in the thread that made it (see sync.rs).
    #[cfg(loom)]
    pub(crate) fn touch(&self) {
        drop(self.counts.lock());
    }

    /// Count one more handle of `id` (a clone of a live one).
    pub(crate) fn add(&self, id: PipeId) {
        *self.counts.lock().entry(id).or_insert(0) += 1;
    }

    /// Count one handle of `id` less; when it was the last, run `free`
    /// (still under the lock, so no open can slip in before it).
    pub(crate) fn release(&self, id: PipeId, free: impl FnOnce()) {
        let mut counts = self.counts.lock();
        let Some(count) = counts.get_mut(&id) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            counts.remove(&id);
            free();
        }
    }
}
