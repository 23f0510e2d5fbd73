//! Kernel pointers: the only place that turns a C pointer into a Rust
//! reference. Kernel buffers (caller `NULL`), names and out-parameters are
//! direct pointers the kernel vouches for; thread buffers never come here
//! (they go to the copy hooks as addresses).

#![allow(unsafe_code)]

use core::ffi::{c_char, c_void};

use ipcm::{MAX_NAME_LEN, Status};

/// The kernel buffer `ptr` of `len` bytes, for reading.
///
/// # Safety
/// `ptr`, if not NULL, must be valid for reads of `len` bytes for `'a`, and
/// `len` must not exceed `isize::MAX` (callers bound it by a pipe's
/// `msg_size`, whose store was allocated).
pub(crate) unsafe fn kernel_bytes<'a>(ptr: *const c_void, len: usize) -> Result<&'a [u8], Status> {
    if ptr.is_null() {
        return Err(Status::BadParam);
    }
    // SAFETY: non-NULL (checked), valid for `len` bytes and `len` bounded
    // (the caller's contract); u8 has no alignment requirement.
    Ok(unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The kernel buffer `ptr` of `len` bytes, for writing.
///
/// # Safety
/// As [`kernel_bytes`], for writes, and not aliased during `'a`.
pub(crate) unsafe fn kernel_bytes_mut<'a>(
    ptr: *mut c_void,
    len: usize,
) -> Result<&'a mut [u8], Status> {
    if ptr.is_null() {
        return Err(Status::BadParam);
    }
    // SAFETY: as in kernel_bytes, plus exclusive access (the caller's
    // contract).
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
}

/// Store `value` through an out-parameter (NULL is ignored: the caller
/// checked it where it is required).
///
/// # Safety
/// `ptr`, if not NULL, must be valid for a write of a `T` (any alignment).
pub(crate) unsafe fn store<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL and valid for writes (the caller's contract);
        // write_unaligned makes no alignment assumption.
        unsafe { ptr.write_unaligned(value) }
    }
}

/// The pipe name at `ptr`: UTF-8, NUL-terminated within `MAX_NAME_LEN + 1`
/// bytes. Reads at most that many bytes, stopping at the first NUL, so an
/// unterminated or huge string cannot make us read far.
///
/// # Errors
/// `BadParam` for NULL, no NUL in time (too long), or non-UTF-8.
///
/// # Safety
/// `ptr`, if not NULL, must be valid for reads up to its first NUL byte or
/// `MAX_NAME_LEN + 1` bytes, whichever comes first.
pub(crate) unsafe fn name<'a>(ptr: *const c_char) -> Result<&'a str, Status> {
    if ptr.is_null() {
        return Err(Status::BadParam);
    }
    let bytes = ptr.cast::<u8>();
    let mut len = 0;
    loop {
        if len > MAX_NAME_LEN {
            return Err(Status::BadParam);
        }
        // SAFETY: bytes before `len` were non-NUL and `len <= MAX_NAME_LEN`,
        // so this byte is within the range the caller vouches for.
        if unsafe { bytes.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes just read are valid (see above).
    let raw = unsafe { core::slice::from_raw_parts(bytes, len) };
    core::str::from_utf8(raw).map_err(|_| Status::BadParam)
}
