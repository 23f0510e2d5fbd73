//! The user side of LuKOS: the runtime every program links (entry point,
//! panic handler, C memory functions) and the system-call wrappers.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use lukos_user::{println, Pipe, timeout};
//!
//! lukos_user::entry!(main);
//! fn main(_arg: u64) {
//!     let pipe = Pipe::create("greetings", 16, 4, 0).unwrap();
//!     pipe.write(b"hello", timeout::FOREVER).unwrap();
//!     println!("wrote to {}", pipe.id());
//! }
//! ```

#![no_std]

mod rt;
pub mod sys;

use core::fmt;
pub use lukos_abi::{
    PipeInfo, Received, SELECT_MAX, SelectMember, flags, nr, select_op, status, timeout,
};

/// A non-OK status from the kernel (the IPCM's codes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u64);

impl Status {
    /// The code's name, e.g. `BAD_ADDRESS`.
    pub fn name(self) -> &'static str {
        status::name(self.0)
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Result of a system call.
pub type Result<T> = core::result::Result<T, Status>;

fn check(code: u64) -> Result<()> {
    if code == status::OK {
        Ok(())
    } else {
        Err(Status(code))
    }
}

/// Defines the program's entry point: `_start(arg)` calls `main(arg)` and
/// exits the process with code 0 when it returns.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program's entry point (the kernel passes `arg` in rdi).
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text._start")]
        pub extern "C" fn _start(arg: u64) -> ! {
            $main(arg);
            $crate::exit(0)
        }
    };
}

/// A fixed buffer that formats one log line.
pub struct LineBuf {
    buf: [u8; lukos_abi::MAX_PRINT],
    len: usize,
}

impl LineBuf {
    /// Empty.
    pub const fn new() -> Self {
        LineBuf {
            buf: [0; lukos_abi::MAX_PRINT],
            len: 0,
        }
    }

    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints one line to the kernel log (prefixed there with who we are).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut line = $crate::LineBuf::new();
        let _ = write!(line, $($arg)*);
        $crate::print_bytes(line.as_bytes());
    }};
}

/// Prints raw bytes as one log line.
pub fn print_bytes(bytes: &[u8]) {
    // A failed print has nowhere to be reported.
    let _ = sys::debug_print(bytes.as_ptr() as u64, bytes.len() as u64);
}

/// Ends the process.
pub fn exit(code: u64) -> ! {
    sys::exit(code)
}

/// Ends the calling thread (the process ends with its last thread).
pub fn thread_exit() -> ! {
    sys::thread_exit()
}

/// Lets other ready threads of the same priority run.
pub fn yield_now() {
    let _ = sys::syscall0(lukos_abi::nr::YIELD);
}

/// Sleeps for `ticks` timer ticks (10 ms each).
pub fn sleep(ticks: u64) {
    let _ = sys::syscall1(lukos_abi::nr::SLEEP, ticks);
}

/// Timer ticks since boot.
pub fn ticks() -> u64 {
    sys::syscall1(lukos_abi::nr::TICKS, 0).1
}

extern "C" fn thread_trampoline(function: u64, arg: u64) -> ! {
    // SAFETY: `spawn` passed a `fn(u64)` as `function`; function pointers
    // and u64 have the same size on x86_64.
    let function: fn(u64) = unsafe { core::mem::transmute::<u64, fn(u64)>(function) };
    function(arg);
    thread_exit()
}

/// Starts `function(arg)` in a new thread of this process at `priority`;
/// returns its thread id.
pub fn spawn(function: fn(u64), arg: u64, priority: u8) -> Result<u64> {
    let (code, tid) = sys::syscall4(
        lukos_abi::nr::THREAD_SPAWN,
        thread_trampoline as *const () as u64,
        function as *const () as u64,
        arg,
        u64::from(priority),
    );
    check(code).map(|()| tid)
}

/// A pipe of the IPCM, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipe {
    id: u64,
}

impl Pipe {
    /// Creates a pipe (`pipe_create`).
    pub fn create(name: &str, msg_size: usize, max_msgs: usize, flags: u64) -> Result<Pipe> {
        sys::pipe_create(
            name.as_ptr() as u64,
            name.len() as u64,
            msg_size as u64,
            max_msgs as u64,
            flags,
        )
        .map(|id| Pipe { id })
    }

    /// Looks a pipe up by name (`pipe_id_get`).
    pub fn lookup(name: &str) -> Result<Pipe> {
        sys::pipe_id_get(name.as_ptr() as u64, name.len() as u64).map(|id| Pipe { id })
    }

    /// Looks a pipe up by name, sleeping a tick between tries until it exists.
    pub fn wait_for(name: &str) -> Pipe {
        loop {
            match Pipe::lookup(name) {
                Ok(pipe) => return pipe,
                Err(_) => sleep(1),
            }
        }
    }

    /// A pipe from a raw id.
    pub const fn from_id(id: u64) -> Pipe {
        Pipe { id }
    }

    /// The id.
    pub fn id(self) -> u64 {
        self.id
    }

    /// Writes one message, waiting while the pipe is full for at most
    /// `timeout` ticks ([`timeout::FOREVER`]: no limit; TIMED_OUT after it).
    pub fn write(self, msg: &[u8], timeout: u64) -> Result<()> {
        sys::pipe_write(self.id, msg.as_ptr() as u64, msg.len() as u64, timeout)
    }

    /// Writes one message if there is room now (FULL otherwise).
    pub fn try_write(self, msg: &[u8]) -> Result<()> {
        sys::pipe_try_write(self.id, msg.as_ptr() as u64, msg.len() as u64)
    }

    /// Reads one message into `buf` (at least `msg_size` bytes), waiting at
    /// most `timeout` ticks while the pipe is empty; returns its length.
    pub fn read(self, buf: &mut [u8], timeout: u64) -> Result<usize> {
        let mut len = 0usize;
        sys::pipe_read(
            self.id,
            buf.as_mut_ptr() as u64,
            &raw mut len as u64,
            timeout,
        )
        .map(|()| len)
    }

    /// Reads one message if there is one now (EMPTY otherwise).
    pub fn try_read(self, buf: &mut [u8]) -> Result<usize> {
        let mut len = 0usize;
        sys::pipe_try_read(self.id, buf.as_mut_ptr() as u64, &raw mut len as u64).map(|()| len)
    }

    /// Copies the oldest message without taking it, waiting like `read`.
    pub fn peek(self, buf: &mut [u8], timeout: u64) -> Result<usize> {
        let mut len = 0usize;
        sys::pipe_peek(
            self.id,
            buf.as_mut_ptr() as u64,
            &raw mut len as u64,
            timeout,
        )
        .map(|()| len)
    }

    /// Copies the oldest message if there is one now (EMPTY otherwise).
    pub fn try_peek(self, buf: &mut [u8]) -> Result<usize> {
        let mut len = 0usize;
        sys::pipe_try_peek(self.id, buf.as_mut_ptr() as u64, &raw mut len as u64).map(|()| len)
    }

    /// Sizes, contents, waiters and counters.
    pub fn info(self) -> Result<PipeInfo> {
        let mut info = PipeInfo::default();
        sys::pipe_info_get(self.id, &raw mut info as u64).map(|()| info)
    }

    /// Destroys the pipe (owner only).
    pub fn destroy(self) -> Result<()> {
        sys::pipe_destroy(self.id)
    }

    /// Writes one message to the head of the queue (read next), waiting
    /// like [`write`](Self::write).
    pub fn write_urgent(self, msg: &[u8], timeout: u64) -> Result<()> {
        sys::pipe_write_urgent(self.id, msg.as_ptr() as u64, msg.len() as u64, timeout)
    }

    /// Writes one message at message priority `prio` to a
    /// `PRIORITY_MESSAGES` pipe (higher read first, FIFO within a
    /// priority), waiting like [`write`](Self::write).
    pub fn write_prio(self, msg: &[u8], prio: u64, timeout: u64) -> Result<()> {
        sys::pipe_write_prio(
            self.id,
            msg.as_ptr() as u64,
            msg.len() as u64,
            prio,
            timeout,
        )
    }

    /// Drops every queued message (owner only); returns how many.
    pub fn purge(self) -> Result<u64> {
        sys::pipe_purge(self.id)
    }

    /// Closes the pipe (owner only): writes fail CLOSED from now on,
    /// readers drain what is queued and then get CLOSED.
    pub fn close(self) -> Result<()> {
        sys::pipe_close(self.id)
    }

    /// Reads one message like [`read`](Self::read); returns its length and
    /// sequence number.
    pub fn read_seq(self, buf: &mut [u8], timeout: u64) -> Result<Received> {
        let mut out = Received::default();
        sys::pipe_read_seq(
            self.id,
            buf.as_mut_ptr() as u64,
            &raw mut out as u64,
            timeout,
        )
        .map(|()| out)
    }

    /// Copies the oldest queued message numbered above `after`, waiting at
    /// most `timeout` ticks for a write to bring one.
    pub fn peek_newer(self, after: u64, buf: &mut [u8], timeout: u64) -> Result<Received> {
        let mut out = Received::default();
        let (buf, out_ptr) = (buf.as_mut_ptr() as u64, &raw mut out as u64);
        sys::pipe_peek_newer(self.id, after, buf, out_ptr, timeout).map(|()| out)
    }

    /// Copies the message `index` places from the front (0: read next)
    /// without taking it; EMPTY past the end.
    pub fn peek_at(self, index: u64, buf: &mut [u8]) -> Result<Received> {
        let mut out = Received::default();
        sys::pipe_peek_at(self.id, index, buf.as_mut_ptr() as u64, &raw mut out as u64)
            .map(|()| out)
    }
}

/// A read member of a [`select`]: the message goes to `buf`, its length
/// to `len`.
pub fn select_read(pipe: Pipe, buf: &mut [u8], len: &mut usize) -> SelectMember {
    SelectMember {
        op: select_op::READ,
        pipe: pipe.id,
        buf: buf.as_mut_ptr() as u64,
        arg: len as *mut usize as u64,
    }
}

/// A write member of a [`select`].
pub fn select_write(pipe: Pipe, msg: &[u8]) -> SelectMember {
    SelectMember {
        op: select_op::WRITE,
        pipe: pipe.id,
        buf: msg.as_ptr() as u64,
        arg: msg.len() as u64,
    }
}

/// What a [`select`] did: which member completed (`None`: none did, the
/// call was refused or the group timed out) and with what status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The completed member's index in the list.
    pub index: Option<usize>,
    /// Its status (or the call's).
    pub status: Result<()>,
}

/// Waits at most `timeout` ticks on every member at once and completes
/// exactly one (`pipe_select`); the others never happen.
pub fn select(members: &[SelectMember], timeout: u64) -> Selected {
    let (code, index) = sys::pipe_select(members.as_ptr() as u64, members.len() as u64, timeout);
    Selected {
        index: (index != u64::MAX).then_some(index as usize),
        status: check(code),
    }
}

/// Two machine words as a message, like upstream LuKOS's `{size_t x; size_t y;}`.
pub fn pair_to_bytes(x: u64, y: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&x.to_ne_bytes());
    bytes[8..].copy_from_slice(&y.to_ne_bytes());
    bytes
}

/// The inverse of [`pair_to_bytes`].
pub fn pair_from_bytes(bytes: &[u8]) -> (u64, u64) {
    let mut x = [0u8; 8];
    let mut y = [0u8; 8];
    x.copy_from_slice(&bytes[..8]);
    y.copy_from_slice(&bytes[8..16]);
    (u64::from_ne_bytes(x), u64::from_ne_bytes(y))
}
