//! The little of ACPI the kernel needs: the CPUs (local APIC ids) and the
//! local APIC's address, from the MADT, found through the RSDP the PVH
//! start info gives.

use crate::boot::{mapped, phys_to_virt};
use alloc::vec::Vec;

/// What the MADT says.
#[derive(Debug)]
pub struct Madt {
    /// Physical address of the local APIC registers.
    pub lapic_addr: u64,
    /// Local APIC ids of the usable CPUs, the boot CPU's among them.
    pub apic_ids: Vec<u8>,
}

/// Reads `len` bytes of physical memory below 1 GiB (`None` if not mapped).
fn bytes(phys: u64, len: usize) -> Option<&'static [u8]> {
    if phys == 0 || !mapped(phys, len as u64) {
        return None;
    }
    // SAFETY: the range lies in the first GiB, which the kernel half maps
    // read-write; ACPI tables sit in memory the frame allocator never
    // hands out (the memory map marks it reserved/ACPI, not RAM), and
    // nothing writes them.
    Some(unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, len) })
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |sum, &x| sum.wrapping_add(x)) == 0
}

/// A whole system description table (header checked) at `phys`.
fn table(phys: u64) -> Option<&'static [u8]> {
    let header = bytes(phys, 36)?;
    let len = u32_at(header, 4)? as usize;
    let table = bytes(phys, len.max(36))?;
    checksum_ok(table).then_some(table)
}

/// Finds and parses the MADT (`None`: no RSDP, or no valid MADT).
pub fn madt(rsdp: u64) -> Option<Madt> {
    let rsdp_bytes = bytes(rsdp, 20)?;
    if &rsdp_bytes[..8] != b"RSD PTR " || !checksum_ok(rsdp_bytes) {
        return None;
    }
    // Revision 2+: the XSDT (64-bit entries); else the RSDT (32-bit).
    let (root, entry_size) = match rsdp_bytes[15] {
        0 | 1 => (u64::from(u32_at(rsdp_bytes, 16)?), 4),
        _ => (u64_at(bytes(rsdp, 36)?, 24)?, 8),
    };
    let root = table(root)?;
    let madt = root[36..]
        .chunks_exact(entry_size)
        .filter_map(|e| match entry_size {
            4 => u32_at(e, 0).map(u64::from),
            _ => u64_at(e, 0),
        })
        .filter_map(table)
        .find(|t| &t[..4] == b"APIC")?;
    let mut lapic_addr = u64::from(u32_at(madt, 36)?);
    let mut apic_ids = Vec::new();
    let mut at = 44;
    while at + 2 <= madt.len() {
        let (kind, len) = (madt[at], usize::from(madt[at + 1]));
        if len < 2 || at + len > madt.len() {
            break;
        }
        let entry = &madt[at..at + len];
        match kind {
            // Processor local APIC: flags bit 0 enabled, bit 1 online-capable.
            0 if len >= 8 && u32_at(entry, 4)? & 3 != 0 => apic_ids.push(entry[3]),
            // Local APIC address override.
            5 if len >= 12 => lapic_addr = u64_at(entry, 4)?,
            _ => {}
        }
        at += len;
    }
    Some(Madt {
        lapic_addr,
        apic_ids,
    })
}
