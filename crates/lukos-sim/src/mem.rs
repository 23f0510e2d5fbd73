//! Paged virtual address spaces: 4 KiB pages, read-only or read-write.
//!
//! Every byte a user program or the IPC manager touches goes through a page
//! table walk here. Touching an unmapped page, or writing a read-only one,
//! is a [`PageFault`]: a value, never a crash. A copy that faults part way
//! has already copied the pages before the faulting one, as a real kernel's
//! copy would; nobody may rely on a failed copy leaving memory untouched.

use std::collections::BTreeMap;
use std::fmt;

/// Size of a page, in bytes.
pub const PAGE_SIZE: usize = 4096;

/// Access rights of a mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Readable only: writing faults.
    ReadOnly,
    /// Readable and writable.
    ReadWrite,
}

/// What an access wanted to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read bytes.
    Read,
    /// Write bytes.
    Write,
}

/// An access reached a page that is not mapped with the needed permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    /// The first address that could not be accessed.
    pub addr: usize,
    /// What the access wanted.
    pub access: Access,
}

impl fmt::Display for PageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.access {
            Access::Read => "read",
            Access::Write => "write",
        };
        write!(f, "page fault: {what} at {:#x}", self.addr)
    }
}

struct Page {
    bytes: Box<[u8; PAGE_SIZE]>,
    perm: Perm,
}

/// One process's address space: a page table from page number to page.
#[derive(Default)]
pub struct AddressSpace {
    pages: BTreeMap<usize, Page>,
}

/// The page numbers covering `[va, va + len)`, or `None` when the range
/// wraps around the top of the address space.
fn page_range(va: usize, len: usize) -> Option<std::ops::Range<usize>> {
    if len == 0 {
        return Some(0..0);
    }
    let last = va.checked_add(len - 1)?;
    Some(va / PAGE_SIZE..last / PAGE_SIZE + 1)
}

impl AddressSpace {
    /// An empty address space: every access faults.
    pub fn new() -> Self {
        AddressSpace::default()
    }

    /// Map zeroed pages covering `[va, va + len)` with `perm`. Pages already
    /// mapped keep their bytes and get `perm`. A wrapping range maps nothing.
    pub fn map(&mut self, va: usize, len: usize, perm: Perm) {
        for page in page_range(va, len).unwrap_or(0..0) {
            self.pages
                .entry(page)
                .or_insert_with(|| Page {
                    bytes: Box::new([0; PAGE_SIZE]),
                    perm,
                })
                .perm = perm;
        }
    }

    /// Unmap the pages covering `[va, va + len)`; returns how many were
    /// mapped.
    pub fn unmap(&mut self, va: usize, len: usize) -> usize {
        page_range(va, len)
            .unwrap_or(0..0)
            .filter(|page| self.pages.remove(page).is_some())
            .count()
    }

    /// Whether every byte of `[va, va + len)` may be accessed as `access`.
    /// An empty range always may.
    #[must_use]
    pub fn accessible(&self, va: usize, len: usize, access: Access) -> bool {
        match page_range(va, len) {
            None => false,
            Some(mut pages) => pages.all(|page| match self.pages.get(&page) {
                None => false,
                Some(p) => access == Access::Read || p.perm == Perm::ReadWrite,
            }),
        }
    }

    /// How many pages are mapped.
    #[must_use]
    pub fn mapped_pages(&self) -> usize {
        self.pages.len()
    }

    /// Visit each page-sized piece of `[va, va + len)` in order:
    /// `(page, offset in page, offset in buffer, length)`. Stops with a fault
    /// at the first page that is missing or lacks the permission.
    fn pieces(
        &mut self,
        va: usize,
        len: usize,
        access: Access,
        mut visit: impl FnMut(&mut Page, usize, usize, usize),
    ) -> Result<(), PageFault> {
        if page_range(va, len).is_none() {
            return Err(PageFault { addr: va, access });
        }
        let mut done = 0;
        while done < len {
            let addr = va + done;
            let offset = addr % PAGE_SIZE;
            let piece = (PAGE_SIZE - offset).min(len - done);
            let fault = PageFault { addr, access };
            let page = self.pages.get_mut(&(addr / PAGE_SIZE)).ok_or(fault)?;
            if access == Access::Write && page.perm != Perm::ReadWrite {
                return Err(fault);
            }
            visit(page, offset, done, piece);
            done += piece;
        }
        Ok(())
    }

    /// Copy `dst.len()` bytes at `va` into `dst`.
    ///
    /// # Errors
    /// A [`PageFault`] at the first unmapped byte.
    pub fn read(&mut self, va: usize, dst: &mut [u8]) -> Result<(), PageFault> {
        self.pieces(va, dst.len(), Access::Read, |page, at, to, len| {
            dst[to..to + len].copy_from_slice(&page.bytes[at..at + len]);
        })
    }

    /// Copy `src` to `va`.
    ///
    /// # Errors
    /// A [`PageFault`] at the first byte that is unmapped or read-only; the
    /// pages before it were written.
    pub fn write(&mut self, va: usize, src: &[u8]) -> Result<(), PageFault> {
        self.pieces(va, src.len(), Access::Write, |page, at, from, len| {
            page.bytes[at..at + len].copy_from_slice(&src[from..from + len]);
        })
    }

    /// Copy `src` to `va` ignoring write protection, as a loader does.
    ///
    /// # Errors
    /// A [`PageFault`] at the first unmapped byte.
    pub fn load(&mut self, va: usize, src: &[u8]) -> Result<(), PageFault> {
        self.pieces(va, src.len(), Access::Read, |page, at, from, len| {
            page.bytes[at..at + len].copy_from_slice(&src[from..from + len]);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_and_read_only_pages_fault() {
        let mut space = AddressSpace::new();
        let mut buf = [0u8; 4];
        assert_eq!(
            space.read(0x1000, &mut buf),
            Err(PageFault {
                addr: 0x1000,
                access: Access::Read
            })
        );
        space.map(0x1000, 1, Perm::ReadOnly);
        assert_eq!(space.read(0x1000, &mut buf), Ok(()));
        assert_eq!(
            space.write(0x1000, b"abcd").unwrap_err().access,
            Access::Write
        );
        space.map(0x1000, 1, Perm::ReadWrite);
        space.write(0x1ffe, b"ab").unwrap();
        space.read(0x1ffe, &mut buf[..2]).unwrap();
        assert_eq!(&buf[..2], b"ab");
    }

    #[test]
    fn a_copy_across_pages_faults_at_the_first_missing_page_after_copying_before_it() {
        let mut space = AddressSpace::new();
        space.map(0x1000, PAGE_SIZE, Perm::ReadWrite);
        let fault = space.write(0x1ffe, b"abcd").unwrap_err();
        assert_eq!(fault.addr, 0x2000);
        let mut head = [0u8; 2];
        space.read(0x1ffe, &mut head).unwrap();
        assert_eq!(&head, b"ab");
        assert!(!space.accessible(0x1ffe, 4, Access::Read));
        assert!(space.accessible(0x1ffe, 2, Access::Write));
    }

    #[test]
    fn wrapping_ranges_fault_and_empty_ranges_do_not() {
        let mut space = AddressSpace::new();
        space.map(usize::MAX - 10, 5, Perm::ReadWrite);
        let mut buf = [0u8; 32];
        assert!(space.read(usize::MAX - 10, &mut buf).is_err());
        assert!(!space.accessible(usize::MAX - 10, 32, Access::Read));
        assert_eq!(space.read(0, &mut []), Ok(()));
        assert!(space.accessible(0, 0, Access::Write));
    }

    #[test]
    fn unmap_counts_pages_and_remap_is_zeroed() {
        let mut space = AddressSpace::new();
        space.map(0x4000, 2 * PAGE_SIZE, Perm::ReadWrite);
        space.write(0x4000, b"x").unwrap();
        assert_eq!(space.unmap(0x4000, 3 * PAGE_SIZE), 2);
        space.map(0x4000, 1, Perm::ReadWrite);
        let mut byte = [9u8];
        space.read(0x4000, &mut byte).unwrap();
        assert_eq!(byte, [0]);
        assert_eq!(space.mapped_pages(), 1);
    }
}
