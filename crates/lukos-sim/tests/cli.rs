//! The `lukos-sim` binary: default run, check, trace file, and clear errors.

use std::process::{Command, Output};

fn lukos_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lukos-sim"))
        .args(args)
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_default_run_shows_every_scenario_and_passes() {
    let output = lukos_sim(&[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    for name in [
        "blackboard",
        "token-semaphore",
        "message-passing",
        "pipeline",
        "select-server",
    ] {
        assert!(
            stdout.contains(&format!("== {name} (seed 1) — PASS ==")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("at most 3 holders at once (limit 3)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("one select over 3 request pipes: client-0 8 served/8 verified"),
        "{stdout}"
    );
    assert!(stdout.contains("all scenarios passed"));
}

#[test]
fn one_scenario_with_a_trace_file() {
    let dir = std::env::temp_dir().join(format!("lukos-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("trace.json");
    let output = lukos_sim(&[
        "--seed",
        "9",
        "--scenario",
        "pipeline",
        "--trace",
        path.to_str().expect("utf-8"),
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("== pipeline (seed 9)") && !stdout.contains("blackboard"),
        "{stdout}"
    );
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("JSON");
    assert!(
        trace["traceEvents"]
            .as_array()
            .is_some_and(|events| events.len() > 100)
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn check_runs_seeds_and_reports_every_invariant_held() {
    let output = lukos_sim(&["check", "--seeds", "5", "--ops", "200", "--quiet"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("checked 5 seeds x 200 ops"), "{stdout}");
    assert!(stdout.contains("every invariant held"), "{stdout}");
}

#[test]
fn check_traces_one_seed() {
    let path = std::env::temp_dir().join(format!("lukos-sim-check-{}.json", std::process::id()));
    let output = lukos_sim(&[
        "check",
        "--first-seed",
        "7",
        "--seeds",
        "1",
        "--ops",
        "200",
        "--trace",
        path.to_str().expect("utf-8"),
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("seed 7:") && stdout.contains("every invariant held"),
        "{stdout}"
    );
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("written")).expect("JSON");
    let events = trace["traceEvents"].as_array().expect("events");
    assert!(events.iter().any(|e| {
        e["ph"] == "M"
            && e["args"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("check seed 7"))
    }));
    std::fs::remove_file(&path).expect("cleanup");
}

#[test]
fn bad_arguments_get_clear_errors_and_exit_code_2() {
    for (args, expected) in [
        (&["check", "--seeds", "0"][..], "--seeds"),
        (&["check", "--ops", "many"][..], "--ops"),
        (&["--scenario", "nope"][..], "possible values"),
        (&["--seed", "abc"][..], "invalid value 'abc' for '--seed"),
        (
            &["--trace", "/no/such/dir/trace.json"][..],
            "cannot write the trace",
        ),
        (&["check", "--scenario", "pipeline"][..], "--scenario"),
        (
            &["check", "--seeds", "3", "--trace", "t.json"][..],
            "use it with --seeds 1",
        ),
    ] {
        let output = lukos_sim(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
