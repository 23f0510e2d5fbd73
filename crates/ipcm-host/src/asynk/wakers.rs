//! [`WakerSet`]: the tasks waiting for a change that is not a pipe
//! operation (a blackboard's next publication).

use std::collections::HashMap;
use std::task::Waker;

/// Wakers by key; each waiting future holds one key and removes it when it
/// resolves or is dropped, so the set never outgrows its live waiters.
#[derive(Default)]
pub(crate) struct WakerSet {
    inner: parking_lot::Mutex<Wakers>,
}

#[derive(Default)]
struct Wakers {
    next_key: u64,
    by_key: HashMap<u64, Waker>,
}

impl WakerSet {
    /// Make `waker` the one woken for `key` (given a key on first use).
    pub(crate) fn register(&self, key: &mut Option<u64>, waker: &Waker) {
        let mut wakers = self.inner.lock();
        let key = *key.get_or_insert_with(|| {
            wakers.next_key += 1;
            wakers.next_key
        });
        match wakers.by_key.get(&key) {
            Some(old) if old.will_wake(waker) => {}
            _ => {
                wakers.by_key.insert(key, waker.clone());
            }
        }
    }

    /// Forget `key`'s waker.
    pub(crate) fn remove(&self, key: &mut Option<u64>) {
        if let Some(key) = key.take() {
            self.inner.lock().by_key.remove(&key);
        }
    }

    /// Wake every registered task (each stays registered until its future
    /// resolves or is dropped). The wakers run with no lock held.
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> = {
            let wakers = self.inner.lock();
            if wakers.by_key.is_empty() {
                return;
            }
            wakers.by_key.values().cloned().collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }
}
