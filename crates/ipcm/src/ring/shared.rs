//! [`Shared`]: a reference-counted box whose allocation can fail, for what
//! a caller shares with the core (a select's group record): stable Rust's
//! `Arc::new` aborts when memory runs out, and DESIGN §2 says never.

use alloc::alloc::{Layout, alloc, dealloc};
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use crate::Status;

/// The allocation: the count of `Shared`s, then the value.
struct Inner<T> {
    count: AtomicUsize,
    value: T,
}

/// A shared, immutable `T` like `Arc<T>`, made by [`try_new`](Self::try_new)
/// (which fails instead of aborting). Clones share one value, dropped with
/// the last clone.
pub struct Shared<T> {
    inner: NonNull<Inner<T>>,
}

// SAFETY: as for `Arc<T>`: clones on several threads share `&T` and the
// last one drops `T` wherever it is, so `T` must be `Sync` and `Send`.
unsafe impl<T: Send + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

/// More clones than this is a leak of clones: abort as `Arc` does rather
/// than let the count wrap.
const MAX_COUNT: usize = isize::MAX as usize;

impl<T> Shared<T> {
    /// `value`, shared.
    ///
    /// # Errors
    /// [`Status::NoMemory`] when the allocator refuses (`value` is dropped).
    pub fn try_new(value: T) -> Result<Shared<T>, Status> {
        let layout = Layout::new::<Inner<T>>();
        let inner = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            // SAFETY: the layout has a non-zero size.
            NonNull::new(unsafe { alloc(layout) }.cast::<Inner<T>>()).ok_or(Status::NoMemory)?
        };
        // SAFETY: `inner` is valid for a write of `Inner<T>` (freshly
        // allocated with its layout, or dangling for a zero-sized one).
        unsafe {
            inner.as_ptr().write(Inner {
                count: AtomicUsize::new(1),
                value,
            });
        }
        Ok(Shared { inner })
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation lives while any `Shared` of it does (the
        // count is at least this one).
        unsafe { self.inner.as_ref() }
    }

    /// The clone as an opaque pointer (e.g. a C handle), not dropped:
    /// [`from_raw`](Self::from_raw) takes it back.
    #[must_use]
    pub fn into_raw(this: Shared<T>) -> *const () {
        let raw = this.inner.as_ptr().cast_const().cast::<()>();
        core::mem::forget(this);
        raw
    }

    /// The clone [`into_raw`](Self::into_raw) gave out.
    ///
    /// # Safety
    /// `raw` came from `into_raw` of a `Shared<T>` (this `T`), and each
    /// such pointer is taken back at most once (the clone it stands for
    /// is dropped once); wrap it in `ManuallyDrop` to use it without
    /// taking it back.
    pub unsafe fn from_raw(raw: *const ()) -> Shared<T> {
        Shared {
            // SAFETY: `into_raw` gave a non-null pointer (the contract).
            inner: unsafe { NonNull::new_unchecked(raw.cast::<Inner<T>>().cast_mut()) },
        }
    }

    /// Whether two `Shared`s are clones of one value.
    pub fn ptr_eq(this: &Shared<T>, other: &Shared<T>) -> bool {
        this.inner == other.inner
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        // Relaxed: a new clone is made from an existing one, which keeps
        // the value alive meanwhile (as `Arc::clone`).
        if self.inner().count.fetch_add(1, Ordering::Relaxed) >= MAX_COUNT {
            panic!("too many clones of a Shared value");
        }
        Shared { inner: self.inner }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Release then Acquire (as `Arc`): every use of the value by other
        // clones happens before the last one drops it.
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: this was the last clone, so nobody else can reach the
        // allocation; it holds an initialised `Inner<T>`, dropped once, and
        // was allocated with this layout (unless zero-sized).
        unsafe {
            core::ptr::drop_in_place(self.inner.as_ptr());
            if layout.size() != 0 {
                dealloc(self.inner.as_ptr().cast(), layout);
            }
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicUsize as Counter;

    struct Counted<'a>(&'a Counter);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_last_clone_drops_the_value_once() {
        let drops = Counter::new(0);
        let first = Shared::try_new(Counted(&drops)).unwrap();
        let second = first.clone();
        assert!(Shared::ptr_eq(&first, &second));
        drop(first);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        drop(second);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let unit = Shared::try_new(()).unwrap();
        drop(unit.clone());
        assert_eq!(*unit, ());
        let raw = Shared::into_raw(Shared::try_new(Counted(&drops)).unwrap());
        // SAFETY: from `into_raw`, taken back once.
        drop(unsafe { Shared::<Counted<'_>>::from_raw(raw) });
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    }
}
