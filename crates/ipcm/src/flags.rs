//! How a pipe behaves when full, who may use it, and how its waiters queue.

bitflags::bitflags! {
    /// Configuration of a pipe, fixed at creation. The bit values are the C
    /// ABI's `IPCM_FLAG_*` macros.
    #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct PipeFlags: u32 {
        /// A write to a full pipe drops the oldest queued message (counted in
        /// `dropped`) instead of blocking. At any depth; depth 1 makes a
        /// blackboard.
        const DISCARD_OLDEST = 1 << 0;
        /// Only threads of the owner process (and the kernel) may read or
        /// peek.
        const OWNER_READ = 1 << 1;
        /// Only threads of the owner process (and the kernel) may write.
        const OWNER_WRITE = 1 << 2;
        /// Pending operations are served by thread priority (FIFO within a
        /// priority) instead of plain FIFO.
        const PRIORITY_WAITERS = 1 << 3;
        /// Messages are read by message priority (higher first, FIFO
        /// within a priority; see `Ipcm::write_prio`) instead of in
        /// arrival order. Not on a rendezvous pipe (`max_msgs` 0).
        const PRIORITY_MESSAGES = 1 << 4;
    }
}

impl PipeFlags {
    /// Flags from a raw value as a caller passed it.
    ///
    /// # Errors
    /// [`Status::BadParam`](crate::Status::BadParam) when an unknown bit is
    /// set.
    pub fn from_raw(raw: usize) -> Result<PipeFlags, crate::Status> {
        u32::try_from(raw)
            .ok()
            .and_then(PipeFlags::from_bits)
            .ok_or(crate::Status::BadParam)
    }
}

/// The set flags' names joined by ` | ` (`DISCARD_OLDEST | OWNER_READ`,
/// the `bitflags` text format, with any unknown bits as hex), or `(none)`.
impl core::fmt::Display for PipeFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.is_empty() {
            f.write_str("(none)")
        } else {
            bitflags::parser::to_writer(self, f)
        }
    }
}

/// The same text as `Display`.
impl core::fmt::Debug for PipeFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::PipeFlags;

    #[test]
    fn debug_shows_what_display_shows() {
        let flags = PipeFlags::DISCARD_OLDEST | PipeFlags::OWNER_READ;
        assert_eq!(format!("{flags}"), "DISCARD_OLDEST | OWNER_READ");
        assert_eq!(format!("{flags:?}"), "DISCARD_OLDEST | OWNER_READ");
        assert_eq!(format!("{:?}", PipeFlags::empty()), "(none)");
        assert_eq!(format!("{}", PipeFlags::from_bits_retain(1 << 9)), "0x200");
    }
}
