//! Links every user program at the user base address with `user.ld`.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed={dir}/user.ld");
    for arg in [
        format!("-T{dir}/user.ld"),
        "-nostartfiles".into(),
        "-nostdlib".into(),
        "-static".into(),
        "-no-pie".into(),
        "-Wl,--build-id=none".into(),
        "-Wl,-z,max-page-size=0x1000".into(),
        "-Wl,-z,norelro".into(),
        "-Wl,--no-dynamic-linker".into(),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
