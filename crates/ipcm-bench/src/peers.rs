//! The channels a user would pick instead of an IPCM pipe, behind one
//! interface: bounded, fixed-size messages, blocking send and receive.

use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

/// A bounded channel of `N`-byte messages, as a benchmark sees it.
pub trait Channel<const N: usize> {
    /// Sending end.
    type Tx: Send + 'static;
    /// Receiving end.
    type Rx: Send + 'static;
    /// Name in reports.
    const NAME: &'static str;
    /// A channel holding at most `depth` messages.
    ///
    /// # Errors
    /// When the operating system refuses (POSIX mq limits, pipe limits).
    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)>;
    /// Another sender on the same channel, if the channel has several.
    fn clone_tx(tx: &Self::Tx) -> Option<Self::Tx>;
    /// Another receiver on the same channel, if the channel has several.
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx>;
    /// Send one message, blocking while full.
    fn send(tx: &mut Self::Tx, msg: &[u8; N]);
    /// Receive one message, blocking while empty.
    fn recv(rx: &mut Self::Rx, buf: &mut [u8; N]);
}

/// `crossbeam_channel::bounded`.
pub struct Crossbeam;

impl<const N: usize> Channel<N> for Crossbeam {
    type Tx = crossbeam_channel::Sender<[u8; N]>;
    type Rx = crossbeam_channel::Receiver<[u8; N]>;
    const NAME: &'static str = "crossbeam-channel";

    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)> {
        Ok(crossbeam_channel::bounded(depth))
    }
    fn clone_tx(tx: &Self::Tx) -> Option<Self::Tx> {
        Some(tx.clone())
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    fn send(tx: &mut Self::Tx, msg: &[u8; N]) {
        tx.send(*msg).expect("receiver alive");
    }
    fn recv(rx: &mut Self::Rx, buf: &mut [u8; N]) {
        *buf = rx.recv().expect("sender alive");
    }
}

/// `flume::bounded`.
pub struct Flume;

impl<const N: usize> Channel<N> for Flume {
    type Tx = flume::Sender<[u8; N]>;
    type Rx = flume::Receiver<[u8; N]>;
    const NAME: &'static str = "flume";

    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)> {
        Ok(flume::bounded(depth))
    }
    fn clone_tx(tx: &Self::Tx) -> Option<Self::Tx> {
        Some(tx.clone())
    }
    fn clone_rx(rx: &Self::Rx) -> Option<Self::Rx> {
        Some(rx.clone())
    }
    fn send(tx: &mut Self::Tx, msg: &[u8; N]) {
        tx.send(*msg).expect("receiver alive");
    }
    fn recv(rx: &mut Self::Rx, buf: &mut [u8; N]) {
        *buf = rx.recv().expect("sender alive");
    }
}

/// `std::sync::mpsc::sync_channel` (single consumer: no 2×2 figure).
pub struct StdSync;

impl<const N: usize> Channel<N> for StdSync {
    type Tx = std::sync::mpsc::SyncSender<[u8; N]>;
    type Rx = std::sync::mpsc::Receiver<[u8; N]>;
    const NAME: &'static str = "std sync_channel";

    fn open(depth: usize) -> io::Result<(Self::Tx, Self::Rx)> {
        Ok(std::sync::mpsc::sync_channel(depth))
    }
    fn clone_tx(tx: &Self::Tx) -> Option<Self::Tx> {
        Some(tx.clone())
    }
    fn clone_rx(_: &Self::Rx) -> Option<Self::Rx> {
        None
    }
    fn send(tx: &mut Self::Tx, msg: &[u8; N]) {
        tx.send(*msg).expect("receiver alive");
    }
    fn recv(rx: &mut Self::Rx, buf: &mut [u8; N]) {
        *buf = rx.recv().expect("sender alive");
    }
}

pub use os::{PacketPipe, PosixMq};

/// The operating system's channels: the only module here with `unsafe`.
#[allow(unsafe_code)]
mod os {
    use super::*;

    /// A Linux POSIX message queue (`mq_open`/`mq_send`/`mq_receive`),
    /// unlinked at once so nothing is left behind.
    pub struct PosixMq;

    /// One end of a message queue; closed on drop of the last clone.
    pub struct MqEnd(std::sync::Arc<MqFd>);

    pub struct MqFd(libc::mqd_t);

    impl Drop for MqFd {
        fn drop(&mut self) {
            // SAFETY: the descriptor came from mq_open and is closed once,
            // here, when the last clone of its end goes away.
            unsafe { libc::mq_close(self.0) };
        }
    }

    static NEXT_QUEUE: AtomicU32 = AtomicU32::new(0);

    impl<const N: usize> Channel<N> for PosixMq {
        type Tx = MqEnd;
        type Rx = MqEnd;
        const NAME: &'static str = "POSIX mq";

        fn open(depth: usize) -> io::Result<(MqEnd, MqEnd)> {
            let name = format!(
                "/ipcm-bench-{}-{}",
                std::process::id(),
                NEXT_QUEUE.fetch_add(1, Ordering::Relaxed)
            );
            let name = CString::new(name).expect("no NUL");
            // SAFETY: an all-zero mq_attr is a valid value of this plain C struct.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = depth as libc::c_long;
            attr.mq_msgsize = N as libc::c_long;
            // SAFETY: `name` is a NUL-terminated string and `attr` a valid
            // attribute struct, both alive for the call.
            let fd = unsafe {
                libc::mq_open(
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                    0o600 as libc::mode_t,
                    &mut attr as *mut libc::mq_attr,
                )
            };
            if fd == -1 {
                let err = io::Error::last_os_error();
                let limit =
                    std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max").unwrap_or_default();
                return Err(match limit.trim().parse::<usize>() {
                    Ok(max) if depth > max && err.raw_os_error() == Some(libc::EINVAL) => {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "POSIX mq depth {depth} exceeds /proc/sys/fs/mqueue/msg_max ({max}); \
                             as root: echo {depth} > /proc/sys/fs/mqueue/msg_max"
                            ),
                        )
                    }
                    _ => err,
                });
            }
            // SAFETY: `name` is a valid C string; the open descriptor keeps
            // the queue alive after the unlink.
            unsafe { libc::mq_unlink(name.as_ptr()) };
            let end = std::sync::Arc::new(MqFd(fd));
            Ok((MqEnd(end.clone()), MqEnd(end)))
        }
        fn clone_tx(tx: &MqEnd) -> Option<MqEnd> {
            Some(MqEnd(tx.0.clone()))
        }
        fn clone_rx(rx: &MqEnd) -> Option<MqEnd> {
            Some(MqEnd(rx.0.clone()))
        }
        fn send(tx: &mut MqEnd, msg: &[u8; N]) {
            loop {
                // SAFETY: `msg` is valid for N bytes for the call.
                let rc = unsafe { libc::mq_send(tx.0.0, msg.as_ptr().cast(), N, 0) };
                if rc == 0 {
                    return;
                }
                let err = io::Error::last_os_error();
                assert_eq!(err.kind(), io::ErrorKind::Interrupted, "mq_send: {err}");
            }
        }
        fn recv(rx: &mut MqEnd, buf: &mut [u8; N]) {
            loop {
                // SAFETY: `buf` is valid and writable for N bytes, which is
                // the queue's message size.
                let rc = unsafe {
                    libc::mq_receive(rx.0.0, buf.as_mut_ptr().cast(), N, std::ptr::null_mut())
                };
                if rc >= 0 {
                    return;
                }
                let err = io::Error::last_os_error();
                assert_eq!(err.kind(), io::ErrorKind::Interrupted, "mq_receive: {err}");
            }
        }
    }

    /// A Linux pipe in packet mode (`pipe2(O_DIRECT)`): each write of at
    /// most `PIPE_BUF` bytes is one packet, each read takes one packet.
    pub struct PacketPipe;

    /// One end of a packet pipe.
    pub struct PipeEnd(std::sync::Arc<std::os::fd::OwnedFd>);

    impl<const N: usize> Channel<N> for PacketPipe {
        type Tx = PipeEnd;
        type Rx = PipeEnd;
        const NAME: &'static str = "Linux pipe (O_DIRECT)";

        fn open(depth: usize) -> io::Result<(PipeEnd, PipeEnd)> {
            use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_DIRECT | libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
            let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // Packet mode spends a page per packet: make room for `depth`.
            let bytes = (depth * 4096).max(4096) as libc::c_int;
            // SAFETY: F_SETPIPE_SZ takes an int size; failure leaves the
            // default (16 pages), which only changes the depth.
            unsafe { libc::fcntl(tx.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
            Ok((
                PipeEnd(std::sync::Arc::new(tx)),
                PipeEnd(std::sync::Arc::new(rx)),
            ))
        }
        fn clone_tx(tx: &PipeEnd) -> Option<PipeEnd> {
            Some(PipeEnd(tx.0.clone()))
        }
        fn clone_rx(rx: &PipeEnd) -> Option<PipeEnd> {
            Some(PipeEnd(rx.0.clone()))
        }
        fn send(tx: &mut PipeEnd, msg: &[u8; N]) {
            use std::os::fd::AsRawFd;
            loop {
                // SAFETY: `msg` is valid for N bytes for the call.
                let rc = unsafe { libc::write(tx.0.as_raw_fd(), msg.as_ptr().cast(), N) };
                if rc == N as isize {
                    return;
                }
                let err = io::Error::last_os_error();
                assert_eq!(err.kind(), io::ErrorKind::Interrupted, "write: {err}");
            }
        }
        fn recv(rx: &mut PipeEnd, buf: &mut [u8; N]) {
            use std::os::fd::AsRawFd;
            loop {
                // SAFETY: `buf` is valid and writable for N bytes.
                let rc = unsafe { libc::read(rx.0.as_raw_fd(), buf.as_mut_ptr().cast(), N) };
                if rc == N as isize {
                    return;
                }
                let err = io::Error::last_os_error();
                assert_eq!(
                    err.kind(),
                    io::ErrorKind::Interrupted,
                    "read: {err} ({rc} bytes)"
                );
            }
        }
    }
}
