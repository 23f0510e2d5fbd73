//! Links the kernel at 1 MiB with our linker script and locates the user
//! programs (built beforehand by `cargo xtask`) that the kernel embeds.

use std::path::PathBuf;

fn main() {
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let script = dir.join("linker.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    for arg in [
        format!("-T{}", script.display()),
        "-nostartfiles".into(),
        "-nostdlib".into(),
        "-static".into(),
        "-no-pie".into(),
        "-Wl,--build-id=none".into(),
        "-Wl,-z,max-page-size=0x1000".into(),
        "-Wl,--no-dynamic-linker".into(),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }

    // The user programs are separate binaries; xtask builds them first and
    // tells us where they are. Default: the user workspace's release output.
    println!("cargo:rerun-if-env-changed=LUKOS_USER_BIN_DIR");
    let user_dir = std::env::var("LUKOS_USER_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("../user/target/x86_64-unknown-linux-gnu/release"));
    let user_dir = user_dir.canonicalize().unwrap_or(user_dir);
    for program in lukos_programs() {
        let path = user_dir.join(program);
        if !path.exists() {
            panic!(
                "user program {} not found: build the user programs first (`cargo xtask build`)",
                path.display()
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rustc-env=LUKOS_USER_BIN_DIR={}", user_dir.display());
}

/// The user programs `src/programs.rs` embeds; keep the two lists in step.
fn lukos_programs() -> &'static [&'static str] {
    &[
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
    ]
}
