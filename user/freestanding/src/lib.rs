//! What a freestanding LuKOS binary (the kernel or a user program) built
//! with the host target must supply itself: the C memory functions the
//! compiler calls and the unwinding personality the precompiled `core`
//! references although we abort on panic. Each binary links it with
//! `use lukos_freestanding as _;` and defines its own `_Unwind_Resume` and
//! panic handler (they end differently in the kernel and in a process).

#![no_std]
#![allow(clippy::missing_safety_doc, reason = "C ABI: the contracts are C's")]

/// `memcpy`; string instructions so LLVM cannot turn it back into a call
/// to itself: 8 bytes at a time (`rep movsq`), then the tail (`rep
/// movsb`). Each repetition is one guest instruction under QEMU's
/// `-icount`, so this copies a 176-byte frame in 22 rather than 176.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller passes valid, non-overlapping ranges of `n` bytes;
    // the two string instructions together copy exactly `n` of them.
    unsafe {
        core::arch::asm!(
            "rep movsq",
            "mov ecx, {tail:e}",
            "rep movsb",
            tail = in(reg) n & 7,
            inout("rcx") n >> 3 => _,
            inout("rdi") dest => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// `memmove`: copies backwards when the ranges overlap that way.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) || (dest as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: forward copy is correct when dest is before src or disjoint.
        unsafe { memcpy(dest, src, n) }
    } else {
        // SAFETY: valid ranges of `n` bytes; copying from the end with DF
        // set handles dest overlapping the tail of src; DF is cleared again.
        unsafe {
            core::arch::asm!("std", "rep movsb", "cld",
                inout("rcx") n => _, inout("rdi") dest.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
                options(nostack));
        }
        dest
    }
}

/// `memset` with `rep stosq` for the 8-byte words, `rep stosb` for the
/// tail (as `memcpy`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    let word = u64::from(value as u8) * 0x0101_0101_0101_0101;
    // SAFETY: the caller passes a valid range of `n` bytes; the two string
    // instructions together store exactly `n` of them.
    unsafe {
        core::arch::asm!(
            "rep stosq",
            "mov ecx, {tail:e}",
            "rep stosb",
            tail = in(reg) n & 7,
            inout("rcx") n >> 3 => _,
            inout("rdi") dest => _,
            in("rax") word,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// `memcmp`; volatile reads keep LLVM from recognising the loop as itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller passes valid ranges of `n` bytes.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// `bcmp`: equality only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// `strlen`, referenced by some `core` paths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller passes a NUL-terminated string.
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}

/// Referenced by the precompiled `core`; never called with `panic = "abort"`.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
