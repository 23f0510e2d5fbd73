//! C programs compiled by the system C compiler against `include/ipcm.h`,
//! linked with the staticlib, and run as child processes (each has its own
//! global manager). Each must exit 0 and print its final `ok` line.
//!
//! The compiler is `$CC` or `cc`; the programs are built with
//! `-Wall -Wextra -Werror -pedantic` and AddressSanitizer + UBSan (set
//! `IPCM_C_NO_SANITIZE=1` to build without). ASan checks the C code and the
//! library's `memcpy` calls (the Rust code itself is not instrumented), so
//! the bad-input program also puts buffers before guard pages.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put the libraries it built for this test run:
/// target/<profile>/deps, beside the test executable. (`cargo test` does not
/// copy them up to target/<profile>/; only `cargo build` does, so the copies
/// there can be stale.)
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// The newest modification time of the Rust sources under `dir`.
fn newest_source(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir)
        .expect("read a source folder")
        .flatten()
    {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry.metadata().and_then(|m| m.modified()).expect("mtime")
        } else {
            continue;
        };
        newest = newest.max(time);
    }
    newest
}

/// The library `file` cargo built for this run, checked to be newer than
/// the sources of this crate and the core, so a C test can never run
/// against a stale build.
fn library(file: &str) -> PathBuf {
    let lib = deps_dir().join(file);
    let built = std::fs::metadata(&lib)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} not found: cargo builds it with the tests",
                lib.display()
            )
        });
    for sources in [crate_dir().join("src"), crate_dir().join("../ipcm/src")] {
        assert!(
            newest_source(&sources) <= built,
            "{} is older than {}: stale build",
            lib.display(),
            sources.display()
        );
    }
    lib
}

/// The staticlib cargo built alongside this test.
fn staticlib() -> PathBuf {
    library("libipcm_ffi.a")
}

fn compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

fn sanitize() -> bool {
    std::env::var_os("IPCM_C_NO_SANITIZE").is_none()
}

/// How a C program links the library.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// `libipcm_ffi.a`, with sanitizers (unless disabled).
    Static,
    /// `libipcm_ffi.so`, found through the executable's rpath.
    Dynamic,
}

/// Compile `tests/c/<name>.c` into an executable; its path.
fn build(name: &str, link: Link) -> PathBuf {
    build_source(
        &crate_dir().join("tests/c").join(format!("{name}.c")),
        name,
        link,
    )
}

/// Compile the C file `source` into the executable `name`; its path.
fn build_source(source: &Path, name: &str, link: Link) -> PathBuf {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ipcm-ffi-c");
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let exe = out_dir.join(match link {
        Link::Static => name.to_owned(),
        Link::Dynamic => format!("{name}-dynamic"),
    });
    let mut cc = Command::new(compiler());
    cc.args(["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-g", "-O1"])
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"));
    if sanitize() && link == Link::Static {
        cc.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]);
    }
    cc.arg(source);
    match link {
        Link::Static => {
            cc.arg(staticlib());
        }
        Link::Dynamic => {
            let dir = deps_dir();
            library("libipcm_ffi.so");
            cc.arg("-L")
                .arg(&dir)
                .arg("-lipcm_ffi")
                .arg(format!("-Wl,-rpath,{}", dir.display()));
        }
    }
    cc.args(["-lpthread", "-ldl", "-lm"]).arg("-o").arg(&exe);
    let output = cc.output().expect("run the C compiler");
    assert!(
        output.status.success(),
        "compiling {name}.c failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Build and run `tests/c/<name>.c` linked with the staticlib; its
/// standard output.
fn run(name: &str) -> String {
    run_linked(name, Link::Static)
}

fn run_linked(name: &str, link: Link) -> String {
    let stdout = run_exe(name, &build(name, link));
    assert!(
        stdout.lines().last() == Some(&format!("{name}: ok")),
        "{name} did not finish:\n{stdout}"
    );
    stdout
}

/// Run a built C program, which must exit 0; its standard output.
fn run_exe(name: &str, exe: &Path) -> String {
    let output = Command::new(exe)
        // The bad-input test asks for absurd pipe sizes: the allocator must
        // say no (NO_MEMORY), not abort the process.
        .env(
            "ASAN_OPTIONS",
            "allocator_may_return_null=1:detect_leaks=0:abort_on_error=0",
        )
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .output()
        .expect("run the C test program");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn c_three_patterns_blackboard_token_semaphore_message_passing() {
    let out = run("patterns");
    for pattern in ["blackboard", "token semaphore", "message passing"] {
        assert!(out.contains(&format!("{pattern}: ok")), "{out}");
    }
}

/// DESIGN §8: after a cancel returns OK the kernel may free the thread,
/// even while another CPU's call is stalled in a wake hook (fails on the
/// code before wake-before-return: the cancelled thread was woken later,
/// from the stalled call, after it was freed).
#[test]
fn c_cancel_then_free_with_a_stalled_wake_on_another_thread() {
    run("cancel_free");
}

#[test]
fn c_program_runs_against_the_cdylib_too() {
    run_linked("patterns", Link::Dynamic);
}

#[test]
fn c_blocked_operations_complete_by_hand_off() {
    run("blocking");
}

#[test]
fn c_every_bad_input_gets_a_status_or_null() {
    run("bad_input");
}

#[test]
fn c_pthreads_conserve_messages_and_per_writer_order() {
    let out = run("threads");
    assert!(out.contains("conserved"), "{out}");
}

#[test]
fn c_upstream_lukos_dummy_pipe_producer_consumer() {
    run("lukos_dummy_pipe");
}

/// The hosted C runtime: plain pthreads, no hooks written by the program.
#[cfg(feature = "hosted")]
#[test]
fn c_hosted_runtime_blocks_times_out_and_conserves_messages() {
    let out = run("hosted");
    for section in [
        "before init",
        "init",
        "bad input",
        "timeouts",
        "hand-off",
        "thread exit",
    ] {
        assert!(out.contains(&format!("{section}: ")), "{out}");
    }
    assert!(out.contains("conserved"), "{out}");
}

#[cfg(feature = "hosted")]
#[test]
fn c_hosted_runtime_refuses_a_kernel_with_its_own_hooks() {
    run("hosted_conflict");
}

/// The READMEs' example "from an ordinary C program" (the crate's and the
/// repository's) is `examples/hosted.c`, word for word, and it builds (with
/// the sanitizers) and prints what the README says.
#[cfg(feature = "hosted")]
#[test]
fn c_readme_example_from_an_ordinary_c_program_runs() {
    let example = crate_dir().join("examples/hosted.c");
    let source = std::fs::read_to_string(&example).expect("read examples/hosted.c");
    for readme in ["README.md", "../../README.md"] {
        let text = std::fs::read_to_string(crate_dir().join(readme)).expect("read the README");
        let section = text
            .split("## From an ordinary C program")
            .nth(1)
            .unwrap_or_else(|| panic!("{readme} has the section"));
        let block = section
            .split("```c\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or_else(|| panic!("{readme}'s section has a C block"));
        assert_eq!(block, source, "{readme} and examples/hosted.c differ");
    }
    let exe = build_source(&example, "hosted-example", Link::Static);
    assert_eq!(
        run_exe("hosted-example", &exe),
        "hello 1\nhello 2\nhello 3\nIPCM_STATUS_TIMED_OUT\n",
        "the example's output"
    );
}

/// The header's constants, compiled by the C compiler against the core's
/// enum: a C-side compile-time check that the ABI cannot drift.
#[test]
fn c_header_constants_equal_the_core_at_compile_time() {
    let mut source = String::from(
        "#include \"ipcm.h\"\n\
         #ifdef __cplusplus\n#define STATIC_ASSERT static_assert\n\
         #else\n#define STATIC_ASSERT _Static_assert\n#endif\n",
    );
    for status in ipcm::Status::ALL {
        source += &format!(
            "STATIC_ASSERT({name} == {code}, \"{name}\");\n",
            name = status.c_name(),
            code = status.code()
        );
    }
    for (name, flag) in ipcm::PipeFlags::all().iter_names() {
        source += &format!(
            "STATIC_ASSERT(IPCM_FLAG_{name} == {bits}u, \"IPCM_FLAG_{name}\");\n",
            bits = flag.bits()
        );
    }
    // The seed's signatures, exactly (a mismatch is a conflicting-types error).
    source += "void ipcm_init(void);\n\
        ipc_pipe_t *ipcm_pipe_create(char *name, size_t msg_size, size_t max_msgs, size_t flags);\n\
        ipc_pipe_t *ipcm_pipe_lookup_by_id(size_t id);\n\
        ipc_pipe_t *ipcm_pipe_lookup_by_name(char *name);\n\
        int ipcm_pipe_write(thread_t *from, size_t id, void *vamsg, size_t len);\n\
        int ipcm_pipe_read(thread_t *to, size_t id, void *vamsg, size_t *valen);\n";
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ipcm-ffi-c");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    let file = dir.join("constants.c");
    std::fs::write(&file, source).expect("write constants.c");
    for lang in ["c", "c++"] {
        let std = if lang == "c" {
            "-std=c11"
        } else {
            "-std=c++17"
        };
        let output = Command::new(compiler())
            .args([
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Werror",
                std,
                "-x",
                lang,
            ])
            .arg("-I")
            .arg(crate_dir().join("include"))
            .arg(&file)
            .output()
            .expect("run the C compiler");
        assert!(
            output.status.success(),
            "constants.c ({lang}) failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// DESIGN §9 through the C ABI (fails without any of the `ipcm_*` §9
/// functions: it does not link).
#[test]
fn c_queue_operations_and_select() {
    let out = run("queue_ops");
    for part in [
        "close, purge, urgent, numbers",
        "peek newer, rendezvous",
        "select",
        "priority messages",
    ] {
        assert!(out.contains(&format!("{part}: ok")), "{out}");
    }
}
