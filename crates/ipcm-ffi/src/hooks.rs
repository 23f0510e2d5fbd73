//! The kernel's C hooks behind the core's [`Kernel`] trait.
//!
//! The hooks are C function pointers; calling them is the only unsafe code
//! here. Their contract (thread-safe, copies bounded and non-sleeping, wake
//! exactly once) is the header's; this module adds none of its own.

#![allow(unsafe_code)]

use core::ffi::c_void;
use core::hash::{Hash, Hasher};
use core::ptr::NonNull;

use ipcm::{Fault, Kernel, Priority, ProcessId, Status, UserAddr};
use parking_lot::RwLock;

use crate::abi::{
    ipcm_copy_from_user_fn, ipcm_copy_to_user_fn, ipcm_hooks_t, ipcm_priority_of_fn,
    ipcm_process_of_fn, ipcm_wake_fn, thread_t,
};

/// The function a (non-NULL) nullable hook pointer type points to.
type Present<F> = <F as Nullable>::Fn;

/// Maps `Option<fn>` (a nullable C function pointer) to `fn`.
trait Nullable {
    type Fn: Copy;
}

impl<F: Copy> Nullable for Option<F> {
    type Fn = F;
}

/// A thread as the kernel names it: a non-NULL `thread_t *`, compared and
/// hashed by address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ThreadRef(NonNull<thread_t>);

impl ThreadRef {
    /// The thread `ptr` names, or `None` for NULL (the kernel itself).
    pub(crate) fn new(ptr: *mut thread_t) -> Option<ThreadRef> {
        NonNull::new(ptr).map(ThreadRef)
    }

    fn as_ptr(self) -> *mut thread_t {
        self.0.as_ptr()
    }
}

impl Hash for ThreadRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_ptr().addr().hash(state);
    }
}

// SAFETY: a ThreadRef is only an address: Rust never dereferences it, it is
// only compared and handed back to the kernel's hooks, which are
// thread-safe by contract. Sharing or sending the address is harmless.
unsafe impl Send for ThreadRef {}
// SAFETY: as for Send.
unsafe impl Sync for ThreadRef {}

/// A complete set of hooks (every required function present).
#[derive(Clone, Copy)]
struct Hooks {
    ctx: *mut c_void,
    copy_from_user: Present<ipcm_copy_from_user_fn>,
    copy_to_user: Present<ipcm_copy_to_user_fn>,
    wake: Present<ipcm_wake_fn>,
    process_of: Present<ipcm_process_of_fn>,
    priority_of: ipcm_priority_of_fn,
}

// SAFETY: the hooks and their `ctx` are called from any thread that calls
// the IPC manager; the header makes thread-safety part of the hook
// contract, and Rust never touches `ctx` itself.
unsafe impl Send for Hooks {}
// SAFETY: as for Send.
unsafe impl Sync for Hooks {}

impl Hooks {
    fn from_c(hooks: &ipcm_hooks_t) -> Option<Hooks> {
        Some(Hooks {
            ctx: hooks.ctx,
            copy_from_user: hooks.copy_from_user?,
            copy_to_user: hooks.copy_to_user?,
            wake: hooks.wake?,
            process_of: hooks.process_of?,
            priority_of: hooks.priority_of,
        })
    }
}

/// The kernel as the core sees it: whatever hooks are installed.
///
/// Hooks can be installed or replaced at any time but never removed, so a
/// thread that could block (hooks were there) is always woken through some
/// hooks. Each call copies the hooks out of the lock first, so a hook may
/// call [`FfiKernel::install`] without deadlocking.
///
/// The hosted runtime's hooks are sealed: once installed they are never
/// replaced (their wake knows only the runtime's own threads), and they are
/// only installed where no kernel installed hooks of its own.
pub(crate) struct FfiKernel {
    hooks: RwLock<Installed>,
}

/// The installed hooks, and whether they are the hosted runtime's.
struct Installed {
    hooks: Option<Hooks>,
    sealed: bool,
}

impl FfiKernel {
    pub(crate) const fn new() -> Self {
        FfiKernel {
            hooks: RwLock::new(Installed {
                hooks: None,
                sealed: false,
            }),
        }
    }

    /// Install (or replace) the hooks; `false` if a required one is NULL or
    /// the hosted runtime's hooks are installed.
    pub(crate) fn install(&self, hooks: &ipcm_hooks_t) -> bool {
        let mut installed = self.hooks.write();
        match Hooks::from_c(hooks) {
            Some(hooks) if !installed.sealed => {
                installed.hooks = Some(hooks);
                true
            }
            _ => false,
        }
    }

    /// Install the hosted runtime's hooks for good. `true` when they are
    /// installed now or were already; `false` (nothing changed) when a
    /// kernel's own hooks are installed, or a required hook is NULL.
    #[cfg_attr(not(feature = "hosted"), allow(dead_code))]
    pub(crate) fn install_sealed(&self, hooks: &ipcm_hooks_t) -> bool {
        let mut installed = self.hooks.write();
        if installed.sealed {
            return true;
        }
        match Hooks::from_c(hooks) {
            Some(hooks) if installed.hooks.is_none() => {
                *installed = Installed {
                    hooks: Some(hooks),
                    sealed: true,
                };
                true
            }
            _ => false,
        }
    }

    /// Whether the hosted runtime's hooks are installed.
    #[cfg_attr(not(feature = "hosted"), allow(dead_code))]
    pub(crate) fn is_sealed(&self) -> bool {
        self.hooks.read().sealed
    }

    /// Whether threads can be served (hooks are installed).
    pub(crate) fn has_hooks(&self) -> bool {
        self.hooks.read().hooks.is_some()
    }

    fn hooks(&self) -> Option<Hooks> {
        self.hooks.read().hooks
    }
}

/// A user address as the pointer-sized value C passed; the hooks get the
/// same value back.
fn va(addr: UserAddr) -> *mut c_void {
    core::ptr::with_exposed_provenance_mut(addr.0)
}

impl Kernel for FfiKernel {
    type Thread = ThreadRef;

    fn copy_from_user(
        &self,
        thread: &ThreadRef,
        src: UserAddr,
        dst: &mut [u8],
    ) -> Result<(), Fault> {
        let hooks = self.hooks().ok_or(Fault)?;
        // SAFETY: the hook was installed by the kernel as a function of this
        // signature; `dst` is valid for writes of `dst.len()` bytes for the
        // whole call, and the hook writes at most that many.
        let rc = unsafe {
            (hooks.copy_from_user)(
                hooks.ctx,
                thread.as_ptr(),
                va(src),
                dst.as_mut_ptr().cast(),
                dst.len(),
            )
        };
        if rc == 0 { Ok(()) } else { Err(Fault) }
    }

    fn copy_to_user(&self, thread: &ThreadRef, dst: UserAddr, src: &[u8]) -> Result<(), Fault> {
        let hooks = self.hooks().ok_or(Fault)?;
        // SAFETY: as in copy_from_user; `src` is valid for reads of
        // `src.len()` bytes for the whole call.
        let rc = unsafe {
            (hooks.copy_to_user)(
                hooks.ctx,
                thread.as_ptr(),
                va(dst),
                src.as_ptr().cast(),
                src.len(),
            )
        };
        if rc == 0 { Ok(()) } else { Err(Fault) }
    }

    fn wake(&self, thread: ThreadRef, status: Status) {
        // Threads only block after the entry check found hooks, and hooks
        // are never removed, so they are here.
        if let Some(hooks) = self.hooks() {
            // SAFETY: a hook of this signature, installed by the kernel;
            // the thread pointer is the one the kernel gave us.
            unsafe { (hooks.wake)(hooks.ctx, thread.as_ptr(), status.code()) }
        }
    }

    fn process_of(&self, thread: &ThreadRef) -> ProcessId {
        match self.hooks() {
            // SAFETY: a hook of this signature, installed by the kernel.
            Some(hooks) => ProcessId(unsafe { (hooks.process_of)(hooks.ctx, thread.as_ptr()) }),
            // Unreachable after the entry check; a process that owns nothing.
            None => ProcessId(u64::MAX),
        }
    }

    fn priority_of(&self, thread: &ThreadRef) -> Priority {
        match self
            .hooks()
            .and_then(|hooks| Some((hooks.ctx, hooks.priority_of?)))
        {
            // SAFETY: a hook of this signature, installed by the kernel.
            Some((ctx, priority_of)) => Priority(unsafe { priority_of(ctx, thread.as_ptr()) }),
            None => Priority::default(),
        }
    }
}
