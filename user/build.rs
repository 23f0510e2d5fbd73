//! Links every user program at the user base address with `user.ld`
//! (`toppage`, the hostile program that puts code in the last user page,
//! with `toppage.ld`).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed={dir}/user.ld");
    println!("cargo:rerun-if-changed={dir}/toppage.ld");
    println!("cargo:rerun-if-changed={dir}/src/bin");
    let bins = std::fs::read_dir(format!("{dir}/src/bin")).expect("src/bin exists");
    for entry in bins {
        let name = entry.expect("readable src/bin").file_name();
        let Some(bin) = name.to_str().and_then(|n| n.strip_suffix(".rs")) else {
            continue;
        };
        let script = if bin == "toppage" {
            "toppage.ld"
        } else {
            "user.ld"
        };
        println!("cargo:rustc-link-arg-bin={bin}=-T{dir}/{script}");
    }
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=0x1000",
        "-Wl,-z,norelro",
        "-Wl,--no-dynamic-linker",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
