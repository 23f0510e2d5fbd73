//! Which threads have a pending operation, and its ticket: a table sharded
//! by thread hash, so that threads blocking, waking and being cancelled on
//! different CPUs do not meet on one lock (DESIGN §8).
//!
//! Each shard is a small map under its own lock, on its own cache line:
//! its first thread in an inline slot, the others in a hash table. The
//! data path (every read and write must refuse a thread that already
//! waits: `AlreadyPending`) does not hash at all while no shard
//! holds anything: it reads one word, a bitmask of the shards that are not
//! empty. That word is written only when a shard goes from empty to not
//! empty or back, under that shard's lock, so it is read-mostly; a thread
//! always sees its own registration (it set the bit itself, or the bit was
//! already set and can only be cleared once the shard, and so the thread's
//! entry, is gone).
//!
//! Why this is enough: the table is touched only by calls that block, wake
//! or cancel, which also park or unpark a thread (microseconds); two such
//! calls contend only when their threads hash to the same of
//! [`SHARDS`] shards.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::{BuildHasher, Hash};
#[cfg(not(loom))]
use core::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use hashbrown::{DefaultHashBuilder, HashTable};
use lock_api::{Mutex, RawMutex};

use crate::Status;
use crate::wait::Ticket;

/// Number of shards (one bit each in the summary word).
pub(crate) const SHARDS: usize = 64;

/// A shard under its lock.
type Shard<R, T> = CachePadded<Mutex<R, ShardMap<T>>>;

/// The threads of one shard and their tickets, keyed by the thread's hash
/// (each call computes it once; it also picks the shard). A shard mostly
/// holds one thread or none (threads spread over [`SHARDS`] shards), so
/// the first one sits in `solo`, found by one compare, and only further
/// ones go to the hash table. A thread is in one of the two, never both.
struct ShardMap<T> {
    solo: Option<(u64, T, Ticket)>,
    table: HashTable<(T, Ticket)>,
}

impl<T: Eq> ShardMap<T> {
    fn new() -> Self {
        ShardMap {
            solo: None,
            table: HashTable::new(),
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.solo.is_none() && self.table.is_empty()
    }

    #[inline]
    fn get(&self, hash: u64, thread: &T) -> Option<Ticket> {
        match &self.solo {
            Some((h, t, ticket)) if *h == hash && t == thread => Some(*ticket),
            _ if self.table.is_empty() => None,
            _ => self
                .table
                .find(hash, |(t, _)| t == thread)
                .map(|&(_, ticket)| ticket),
        }
    }

    /// Make room for one more thread (in the table if `solo` is taken).
    #[inline]
    fn reserve_one(&mut self, rehash: impl Fn(&(T, Ticket)) -> u64) -> Result<(), Status> {
        if self.solo.is_none() {
            return Ok(());
        }
        self.table
            .try_reserve(1, rehash)
            .map_err(|_| Status::NoMemory)
    }

    /// Add `thread` (absent; room reserved by [`reserve_one`](Self::reserve_one)).
    #[inline]
    fn insert(
        &mut self,
        hash: u64,
        thread: T,
        ticket: Ticket,
        rehash: impl Fn(&(T, Ticket)) -> u64,
    ) {
        if self.solo.is_none() {
            self.solo = Some((hash, thread, ticket));
        } else {
            self.table.insert_unique(hash, (thread, ticket), rehash);
        }
    }

    /// Remove `thread` if its ticket is `ticket`.
    #[inline]
    fn remove(&mut self, hash: u64, thread: &T, ticket: Ticket) {
        match &self.solo {
            Some((h, t, own)) if *h == hash && t == thread => {
                if *own == ticket {
                    self.solo = None;
                }
            }
            _ if self.table.is_empty() => {}
            _ => {
                if let Ok(entry) = self.table.find_entry(hash, |(t, _)| t == thread)
                    && entry.get().1 == ticket
                {
                    drop(entry.remove());
                }
            }
        }
    }
}

/// The pending operation of each thread that has one.
pub(crate) struct PendingThreads<R: RawMutex, T> {
    /// Bit `i` is set while shard `i` is not empty.
    nonempty: AtomicU64,
    /// `SHARDS` shards, on the heap: a manager is often built on a small
    /// kernel stack before it moves into a static.
    shards: Box<[Shard<R, T>]>,
    hasher: ShardHasher,
}

/// Chooses a thread's shard (randomly seeded).
type ShardHasher = DefaultHashBuilder;

impl<R: RawMutex, T: Eq + Hash> PendingThreads<R, T> {
    pub(crate) fn new() -> Self {
        // Built in place (no array on the stack); the one allocation of a
        // manager's construction, at boot, not one a caller can cause.
        let mut shards = Vec::with_capacity(SHARDS);
        shards.resize_with(SHARDS, || CachePadded::new(Mutex::new(ShardMap::new())));
        PendingThreads {
            shards: shards.into_boxed_slice(),
            nonempty: AtomicU64::new(0),
            hasher: ShardHasher::default(),
        }
    }

    #[inline]
    fn hash(&self, thread: &T) -> u64 {
        self.hasher.hash_one(thread)
    }

    /// The shard of a thread whose hash is `hash`.
    #[inline]
    fn shard_of(hash: u64) -> usize {
        // Under loom, one shard: loom replays executions and rejects one
        // whose lock sequence changed, and a thread's hash (a seed, or an
        // address in the hosted runtime) changes between executions.
        if cfg!(loom) {
            return 0;
        }
        // Remixed by a Fibonacci multiply before taking the top bits: for
        // some seeds the hasher's own top bits spread small keys over too
        // few shards (the spread test failed about 1 run in 10).
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SHARDS
    }

    /// Lock every shard once. Under loom a hosted lock is made on first
    /// use, and loom does not see that as synchronization, so the thread
    /// that builds the manager must use each lock before sharing it.
    #[cfg(loom)]
    pub(crate) fn touch(&self) {
        for shard in &self.shards {
            drop(shard.lock());
        }
    }

    /// Whether `thread` has a pending operation. Cheap while no thread
    /// waits anywhere (one load), and while none waits in its shard (a
    /// hash and a bit test, inline: a ping-pong asks this with its peer
    /// waiting on every call).
    #[inline(always)]
    pub(crate) fn contains(&self, thread: &T) -> bool {
        let nonempty = self.nonempty.load(Ordering::Relaxed);
        if nonempty == 0 {
            return false;
        }
        let hash = self.hash(thread);
        let shard = Self::shard_of(hash);
        if nonempty & (1 << shard) == 0 {
            return false;
        }
        self.contains_slow(hash, shard, thread)
    }

    /// [`contains`](Self::contains) for a thread whose shard holds some.
    #[cold]
    fn contains_slow(&self, hash: u64, shard: usize, thread: &T) -> bool {
        self.shards[shard].lock().get(hash, thread).is_some()
    }

    /// The ticket of `thread`'s pending operation.
    pub(crate) fn ticket(&self, thread: &T) -> Option<Ticket> {
        let hash = self.hash(thread);
        self.shards[Self::shard_of(hash)].lock().get(hash, thread)
    }

    /// Record `thread`'s pending operation: `add` (run under the shard's
    /// lock, after room was reserved) makes it and returns its ticket.
    ///
    /// # Errors
    /// `AlreadyPending` (the thread has one), `NoMemory`, or `add`'s error;
    /// nothing changed then.
    pub(crate) fn insert_with(
        &self,
        thread: &T,
        add: impl FnOnce() -> Result<Ticket, Status>,
    ) -> Result<Ticket, Status>
    where
        T: Clone,
    {
        let hash = self.hash(thread);
        let shard = Self::shard_of(hash);
        let rehash = |(t, _): &(T, Ticket)| self.hash(t);
        let mut map = self.shards[shard].lock();
        if map.get(hash, thread).is_some() {
            return Err(Status::AlreadyPending);
        }
        map.reserve_one(rehash)?;
        let ticket = add()?;
        if map.is_empty() {
            self.nonempty.fetch_or(1 << shard, Ordering::Relaxed);
        }
        map.insert(hash, thread.clone(), ticket, rehash);
        Ok(ticket)
    }

    /// Forget `thread`'s pending operation if it is `ticket` (it is about
    /// to be woken).
    #[inline(always)]
    pub(crate) fn remove(&self, thread: &T, ticket: Ticket) {
        let hash = self.hash(thread);
        let shard = Self::shard_of(hash);
        let mut map = self.shards[shard].lock();
        map.remove(hash, thread, ticket);
        if map.is_empty() {
            self.nonempty.fetch_and(!(1 << shard), Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::PipeId;

    type Table = PendingThreads<spin::Mutex<()>, u32>;

    fn ticket(n: u64) -> Ticket {
        Ticket::new(PipeId::new(0, 1), 0, n)
    }

    #[test]
    fn one_operation_per_thread_and_only_its_own_ticket_removes_it() {
        let table = Table::new();
        assert!(!table.contains(&7));
        assert_eq!(table.insert_with(&7, || Ok(ticket(1))), Ok(ticket(1)));
        assert!(table.contains(&7));
        assert_eq!(
            table.insert_with(&7, || Ok(ticket(2))),
            Err(Status::AlreadyPending)
        );
        table.remove(&7, ticket(2));
        assert!(table.contains(&7), "another operation's ticket");
        assert_eq!(table.ticket(&7), Some(ticket(1)));
        table.remove(&7, ticket(1));
        assert!(!table.contains(&7));
        assert_eq!(table.nonempty.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_failed_add_leaves_nothing() {
        let table = Table::new();
        assert_eq!(
            table.insert_with(&3, || Err(Status::NoMemory)),
            Err(Status::NoMemory)
        );
        assert!(!table.contains(&3));
        assert_eq!(table.nonempty.load(Ordering::Relaxed), 0);
    }

    /// 1000 threads over 64 shards: every shard has a `solo` thread and
    /// table ones. Removing some (a solo among them) and adding them back
    /// loses nobody, and a wrong ticket removes nothing in either place.
    #[test]
    fn solo_and_table_entries_come_and_go_independently() {
        let table = Table::new();
        for thread in 0..1000 {
            table
                .insert_with(&thread, || Ok(ticket(thread.into())))
                .unwrap();
        }
        for thread in 0..1000 {
            table.remove(&thread, ticket(u64::from(thread) + 1));
        }
        for thread in (0..1000).step_by(2) {
            table.remove(&thread, ticket(thread.into()));
        }
        for thread in 0..1000 {
            let expected = (thread % 2 == 1).then(|| ticket(thread.into()));
            assert_eq!(table.ticket(&thread), expected, "thread {thread}");
            assert_eq!(table.contains(&thread), thread % 2 == 1);
        }
        for thread in (0..1000).step_by(2) {
            assert_eq!(table.insert_with(&thread, || Ok(ticket(7))), Ok(ticket(7)));
        }
        for thread in 1..1000 {
            assert_eq!(
                table.insert_with(&thread, || Ok(ticket(8))),
                Err(Status::AlreadyPending),
                "thread {thread}"
            );
        }
        for thread in 0..1000 {
            let t = if thread % 2 == 0 {
                ticket(7)
            } else {
                ticket(thread.into())
            };
            table.remove(&thread, t);
        }
        assert_eq!(table.nonempty.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn many_threads_spread_over_shards_and_each_is_found() {
        let table = Table::new();
        for thread in 0..1000 {
            table
                .insert_with(&thread, || Ok(ticket(thread.into())))
                .unwrap();
        }
        assert!(table.nonempty.load(Ordering::Relaxed).count_ones() > SHARDS as u32 / 2);
        for thread in 0..1000 {
            assert_eq!(table.ticket(&thread), Some(ticket(thread.into())));
        }
        for thread in 0..1000 {
            table.remove(&thread, ticket(thread.into()));
        }
        assert_eq!(table.nonempty.load(Ordering::Relaxed), 0);
        assert!(!table.contains(&5));
    }
}
