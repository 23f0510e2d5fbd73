//! Loading a user program from its ELF image into a fresh address space.
//! Every `PT_LOAD` segment is mapped page by page with the rights its
//! flags ask for (always U; W if `PF_W`; NX unless `PF_X`); the file bytes
//! are copied and the rest (`.bss`) stays zero.

#![forbid(unsafe_code)]

use crate::frames::{self, FRAME_SIZE};
use crate::paging::{AddressSpace, PageRights, USER_END, USER_START};
use elf::ElfBytes;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;

/// Why a program could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Not a well-formed little-endian ELF64.
    Malformed(#[allow(dead_code, reason = "read through Debug in the log")] &'static str),
    /// A segment outside user space or with inconsistent sizes.
    BadSegment,
    /// Out of frames.
    OutOfMemory,
}

/// Maps `image`'s loadable segments into `space`; returns the entry point.
pub fn load(image: &[u8], space: &mut AddressSpace) -> Result<u64, LoadError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(image)
        .map_err(|_| LoadError::Malformed("header"))?;
    let segments = file
        .segments()
        .ok_or(LoadError::Malformed("no program headers"))?;
    for segment in segments.iter().filter(|s| s.p_type == PT_LOAD) {
        let start = segment.p_vaddr;
        let end = start
            .checked_add(segment.p_memsz)
            .ok_or(LoadError::BadSegment)?;
        let file_end = segment
            .p_offset
            .checked_add(segment.p_filesz)
            .ok_or(LoadError::BadSegment)?;
        if start < USER_START
            || end > USER_END
            || segment.p_filesz > segment.p_memsz
            || file_end > image.len() as u64
        {
            return Err(LoadError::BadSegment);
        }
        let rights = PageRights {
            write: segment.p_flags & PF_W != 0,
            execute: segment.p_flags & PF_X != 0,
        };
        let data = &image[segment.p_offset as usize..file_end as usize];
        let mut page = start & !(FRAME_SIZE - 1);
        while page < end {
            let frame = frames::alloc_zeroed().ok_or(LoadError::OutOfMemory)?;
            let frame = space
                .map_user(page, frame, rights)
                .map_err(|_| LoadError::OutOfMemory)?;
            // The part of the file data that falls in this page.
            let copy_start = page.max(start);
            let copy_end = (page + FRAME_SIZE).min(start + segment.p_filesz);
            if copy_start < copy_end {
                let from = (copy_start - start) as usize;
                let to = (copy_end - start) as usize;
                AddressSpace::fill_frame(frame, (copy_start - page) as usize, &data[from..to]);
            }
            page += FRAME_SIZE;
        }
    }
    let entry = file.ehdr.e_entry;
    if !(USER_START..USER_END).contains(&entry) {
        return Err(LoadError::Malformed("entry point outside user space"));
    }
    Ok(entry)
}
