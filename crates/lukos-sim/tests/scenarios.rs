//! Each scenario, run on several seeds, must show the behaviour it is about.

use ipcm::Status;
use lukos_sim::Trace;
use lukos_sim::scenarios::{
    CLIENTS, ITEMS, READINGS, ROUNDS, SELECT_CLIENTS, Scenario, TOKENS, WORKERS, blackboard,
    message_passing, pipeline, pipeline_result, select_requests, select_server, token_semaphore,
};

const SEEDS: std::ops::Range<u64> = 0..6;

#[test]
fn blackboard_displays_see_only_fresher_values_and_end_on_the_last() {
    for seed in SEEDS {
        let run = blackboard(seed, None);
        assert!(
            run.outcome.passed(),
            "seed {seed}: {:?}",
            run.outcome.failures
        );
        assert_eq!(run.published, (0..READINGS).collect::<Vec<_>>());
        for seen in &run.seen {
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "seed {seed}: {seen:?}"
            );
            assert_eq!(seen.last(), Some(&(READINGS - 1)));
        }
        // The slowest display misses readings: the board only holds the freshest.
        assert!(run.seen[2].len() < READINGS as usize, "seed {seed}");
        let board = &run.outcome.pipes[0];
        assert_eq!(board.name, "sensor/temperature");
        assert_eq!(
            (board.info.written, board.info.dropped, board.info.queued),
            (READINGS, READINGS - 1, 1)
        );
        // Each display waited on the empty board once and the first write
        // woke all three peekers with a copy.
        assert_eq!(run.outcome.stats.wakes_with(Status::Ok), 3);
    }
}

#[test]
fn token_semaphore_never_has_more_holders_than_tokens() {
    for seed in SEEDS {
        let run = token_semaphore(seed, None);
        assert!(
            run.outcome.passed(),
            "seed {seed}: {:?}",
            run.outcome.failures
        );
        assert!(run.max_holders <= TOKENS);
        // Work is longer than a time slice, so all tokens get taken at once
        // and the other workers really wait.
        assert_eq!(run.max_holders, TOKENS, "seed {seed}");
        assert!(
            run.outcome.stats.wakes_with(Status::Ok) > 0,
            "seed {seed}: nobody waited"
        );
        assert_eq!(run.acquisitions, WORKERS * ROUNDS);
        let pool = run
            .outcome
            .pipes
            .iter()
            .find(|p| p.name == "tokens")
            .expect("tokens pipe");
        assert_eq!(pool.info.queued, TOKENS);
        assert_eq!(pool.info.read, (WORKERS * ROUNDS) as u64);
    }
}

#[test]
fn message_passing_clients_get_their_own_replies_in_order_and_cannot_snoop() {
    for seed in SEEDS {
        let run = message_passing(seed, None);
        assert!(
            run.outcome.passed(),
            "seed {seed}: {:?}",
            run.outcome.failures
        );
        for ((_, lines), got) in CLIENTS.iter().zip(&run.exchanges) {
            let expected: Vec<(String, String)> = lines
                .iter()
                .map(|l| ((*l).to_owned(), l.to_uppercase()))
                .collect();
            assert_eq!(*got, expected, "seed {seed}");
        }
        assert_eq!(run.snoop, Some(Status::Denied));
        // The server stops after an idle timeout; everyone destroys what it owns.
        assert!(run.outcome.stats.timeouts >= 1);
        let mut destroyed: Vec<&str> = run
            .outcome
            .pipes
            .iter()
            .filter(|p| p.destroyed)
            .map(|p| p.name.as_str())
            .collect();
        destroyed.sort_unstable();
        assert_eq!(
            destroyed,
            [
                "terminal-server/editor/reply",
                "terminal-server/request",
                "terminal-server/shell/reply",
            ],
            "seed {seed}"
        );
        let stdin = run
            .outcome
            .pipes
            .iter()
            .find(|p| p.name == "terminal-server/shell/stdin")
            .expect("stdin");
        assert_eq!(
            stdin.info.read,
            CLIENTS[0].1.len() as u64 + 1,
            "every line and the exit"
        );
    }
}

#[test]
fn pipeline_moves_every_item_through_every_stage_in_order_with_back_pressure() {
    for seed in SEEDS {
        let run = pipeline(seed, None);
        assert!(
            run.outcome.passed(),
            "seed {seed}: {:?}",
            run.outcome.failures
        );
        assert_eq!(
            run.received,
            (1..=ITEMS).map(pipeline_result).collect::<Vec<_>>()
        );
        assert!(run.producer_blocks > 0);
        // The consumer's timed-out reads are exactly the kernel's timeouts.
        assert_eq!(run.stalls, run.outcome.stats.timeouts);
        for pipe in &run.outcome.pipes {
            assert_eq!(
                (pipe.info.written, pipe.info.read, pipe.info.queued),
                (ITEMS + 1, ITEMS + 1, 0),
                "{}",
                pipe.name
            );
        }
    }
}

#[test]
fn select_server_serves_every_client_with_one_select_and_every_reply_is_right() {
    for seed in SEEDS {
        let run = select_server(seed, None);
        assert!(
            run.outcome.passed(),
            "seed {seed}: {:?}",
            run.outcome.failures
        );
        let expected: Vec<u64> = (0..SELECT_CLIENTS).map(select_requests).collect();
        assert_eq!(run.served, expected, "seed {seed}");
        assert_eq!(run.verified, expected, "seed {seed}");
        // One select per request plus one per client's end message.
        let total: u64 = expected.iter().sum();
        assert_eq!(run.selects, total + SELECT_CLIENTS as u64);
        assert!(run.selects_blocked > 0 && run.selects_blocked <= run.selects);
        for pipe in run
            .outcome
            .pipes
            .iter()
            .filter(|p| p.name.contains("request"))
        {
            assert_eq!(pipe.info.queued, 0, "seed {seed}: {}", pipe.name);
            assert_eq!(pipe.info.written, pipe.info.read);
        }
    }
}

#[test]
fn a_seed_gives_the_same_run_and_seeds_give_different_interleavings() {
    let fingerprint = |seed| {
        let outcome = Scenario::MessagePassing.run(seed, None);
        (
            outcome.elapsed,
            outcome.stats.switches,
            outcome
                .threads
                .iter()
                .map(|t| t.stats.clone())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(fingerprint(3), fingerprint(3));
    let distinct: std::collections::BTreeSet<_> = (0..6).map(|seed| fingerprint(seed).0).collect();
    assert!(distinct.len() > 1, "the seed must change the schedule");
}

#[test]
fn the_trace_has_thread_states_and_pipe_depths() {
    let mut trace = Trace::new();
    for scenario in Scenario::ALL {
        assert!(scenario.run(1, Some(&mut trace)).passed());
    }
    let mut json = Vec::new();
    trace.write_json(&mut json).expect("in memory");
    let document: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    let events = document["traceEvents"].as_array().expect("events");
    let named = |ph: &str, prefix: &str| {
        events
            .iter()
            .any(|e| e["ph"] == ph && e["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
    };
    assert!(named("M", "thread_name"));
    assert!(named("X", "running"));
    assert!(named("X", "blocked: read pipeline/raw") || named("X", "blocked: read pipeline/out"));
    assert!(named("X", "blocked: write pipeline/"));
    assert!(named("X", "blocked: peek sensor/temperature"));
    assert!(named("C", "depth pipeline/raw"));
    assert!(named("X", "blocked: select"));
    assert!(named("X", "select"));
    // Depth counters never exceed the pipe's capacity (2 in the pipeline).
    for event in events
        .iter()
        .filter(|e| e["ph"] == "C" && e["name"] == "depth pipeline/raw")
    {
        assert!(event["args"]["messages"].as_u64().expect("count") <= 2);
    }
    // One run per scenario, each with its own process ids.
    let processes: std::collections::BTreeSet<u64> = events
        .iter()
        .filter_map(|e| e["pid"].as_u64())
        .map(|pid| pid / 1000)
        .collect();
    assert_eq!(processes.len(), Scenario::ALL.len());
}

#[test]
fn every_scenario_passes_on_many_seeds() {
    for seed in 100..140 {
        for scenario in Scenario::ALL {
            let outcome = scenario.run(seed, None);
            assert!(
                outcome.passed(),
                "{} seed {seed}: {:?}",
                scenario.name(),
                outcome.failures
            );
        }
    }
}
