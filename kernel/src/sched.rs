//! Placeholder until threads exist.
use crate::entry::TrapFrame;

/// A trap from ring 3.
pub fn user_trap(_frame: &mut TrapFrame) {
    panic!("no user threads yet");
}
