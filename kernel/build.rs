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
    // Every `user/src/bin/*.rs` is embedded, so the list has one source.
    println!("cargo:rerun-if-env-changed=LUKOS_USER_BIN_DIR");
    let user_dir = std::env::var("LUKOS_USER_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("../user/target/x86_64-unknown-linux-gnu/release"));
    let user_dir = user_dir.canonicalize().unwrap_or(user_dir);
    let sources = dir.join("../user/src/bin");
    println!("cargo:rerun-if-changed={}", sources.display());
    let mut programs: Vec<String> = std::fs::read_dir(&sources)
        .expect("user/src/bin exists")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    programs.sort();
    let mut table = String::from(
        "/// Every embedded program: (name, ELF image).\npub const PROGRAMS: &[(&str, &[u8])] = &[\n",
    );
    for program in &programs {
        let path = user_dir.join(program);
        if !path.exists() {
            panic!(
                "user program {} not found: build the user programs first (`cargo xtask build`)",
                path.display()
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
        table.push_str(&format!(
            "    ({program:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("programs.rs");
    std::fs::write(out, table).expect("write programs.rs");
}
