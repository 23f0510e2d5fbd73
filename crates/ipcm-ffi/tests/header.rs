//! `include/ipcm.h` is what cbindgen generates from the sources now, and its
//! constants are the core's status codes and flag bits.

use std::path::Path;

use ipcm::{PipeFlags, Status};

fn generate() -> String {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    let header = String::from_utf8(out).expect("the header is UTF-8");
    // cbindgen copies a negative literal as is; a macro must parenthesise
    // it (`x-IPCM_STATUS_INTERNAL` would otherwise read `x--1`).
    header.replace(
        "#define IPCM_STATUS_INTERNAL -1\n",
        "#define IPCM_STATUS_INTERNAL (-1)\n",
    )
}

fn committed() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ipcm.h");
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn committed_header_matches_a_fresh_generation() {
    let fresh = generate();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ipcm.h");
    if std::env::var_os("IPCM_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/ipcm.h");
        return;
    }
    assert!(
        committed() == fresh,
        "{} is stale: the C ABI changed. Regenerate it with\n    \
         IPCM_UPDATE_HEADER=1 cargo test -p ipcm-ffi --test header\n\
         and commit the result.",
        path.display()
    );
}

/// The value of `#define NAME value` in the header.
fn define(header: &str, name: &str) -> Option<i64> {
    header.lines().find_map(|line| {
        let rest = line.strip_prefix("#define ")?.strip_prefix(name)?;
        let value = rest.trim().trim_start_matches('(').trim_end_matches(')');
        if !rest.starts_with(' ') {
            return None;
        }
        value.parse().ok()
    })
}

#[test]
fn header_status_codes_equal_the_core_enum() {
    let header = committed();
    for status in Status::ALL {
        assert_eq!(
            define(&header, status.c_name()),
            Some(i64::from(status.code())),
            "{} in include/ipcm.h",
            status.c_name()
        );
    }
    assert_eq!(define(&header, "IPCM_STATUS_INTERNAL"), Some(-1));
}

#[test]
fn header_flag_macros_equal_the_core_flags() {
    let header = committed();
    let mut covered = PipeFlags::empty();
    for (name, flag) in PipeFlags::all().iter_names() {
        let macro_name = format!("IPCM_FLAG_{name}");
        assert_eq!(
            define(&header, &macro_name),
            Some(i64::from(flag.bits())),
            "{macro_name} in include/ipcm.h"
        );
        covered |= flag;
    }
    assert_eq!(covered, PipeFlags::all());
}

#[test]
fn header_declares_the_seed_interface_exactly() {
    let header = committed();
    for prototype in [
        "void ipcm_init(void);",
        "ipc_pipe_t *ipcm_pipe_create(char *name, size_t msg_size, size_t max_msgs, size_t flags);",
        "ipc_pipe_t *ipcm_pipe_lookup_by_id(size_t id);",
        "ipc_pipe_t *ipcm_pipe_lookup_by_name(char *name);",
        "int ipcm_pipe_write(thread_t *from, size_t id, void *vamsg, size_t len);",
        "int ipcm_pipe_read(thread_t *to, size_t id, void *vamsg, size_t *valen);",
    ] {
        assert!(header.contains(prototype), "missing: {prototype}");
    }
}

#[test]
fn header_declares_the_ticket_forms_beside_the_seed_calls() {
    let header = committed();
    for declaration in [
        "typedef struct ipcm_ticket_t {",
        "int ipcm_pipe_write_ticket(thread_t *from,",
        "int ipcm_pipe_read_ticket(thread_t *to,",
        "int ipcm_pipe_peek_ticket(thread_t *to,",
        "int ipcm_thread_cancel_op(thread_t *thread, const struct ipcm_ticket_t *ticket, int reason);",
        // The seed-era forms stay, unchanged.
        "int ipcm_thread_cancel(thread_t *thread, int reason);",
        "int ipcm_pipe_peek(thread_t *to, size_t id, void *vamsg, size_t *valen);",
    ] {
        assert!(header.contains(declaration), "missing: {declaration}");
    }
}
