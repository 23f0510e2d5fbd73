//! The user programs embedded in the kernel image. They are separate
//! `no_std` binaries (the `user/` workspace), linked at a user address and
//! loaded from their ELF images into fresh address spaces.

macro_rules! programs {
    ($($name:literal),* $(,)?) => {
        /// Every embedded program: (name, ELF image).
        pub const PROGRAMS: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!(env!("LUKOS_USER_BIN_DIR"), "/", $name)))),*
        ];
    };
}

// Keep in step with `lukos_programs()` in build.rs.
programs!(
    "hello",
    "spinner",
    "producer",
    "consumer",
    "sensor",
    "display",
    "sem-init",
    "sem-worker",
    "rpc-server",
    "rpc-client",
    "badaddr",
    "victim",
    "gpfault",
    "observer",
    "timeouts",
    "bench",
    "bench-echo",
);

/// The ELF image of a program.
pub fn image(name: &str) -> Option<&'static [u8]> {
    PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, image)| *image)
}
