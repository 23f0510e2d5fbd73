//! The trace file as a viewer reads it: flows that pair up and bind inside
//! slices, slices that nest, args on every slice, runs laid end to end, and
//! the time unit stated.

use std::collections::{BTreeMap, BTreeSet};

use lukos_sim::Trace;
use lukos_sim::check::check_seed_traced;
use lukos_sim::scenarios::Scenario;
use serde_json::Value;

/// Every scenario, then one check seed (which destroys pipes under
/// waiters and faults their buffers), in one file.
fn document() -> Value {
    let mut trace = Trace::new();
    for scenario in Scenario::ALL {
        assert!(scenario.run(1, Some(&mut trace)).passed());
    }
    let report = check_seed_traced(3, 1000, &mut trace);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    let mut json = Vec::new();
    trace.write_json(&mut json).expect("in memory");
    serde_json::from_slice(&json).expect("valid JSON")
}

fn events(document: &Value) -> &[Value] {
    document["traceEvents"].as_array().expect("events")
}

type TrackId = (u64, u64);

fn track(event: &Value) -> TrackId {
    (
        event["pid"].as_u64().expect("pid"),
        event["tid"].as_u64().expect("tid"),
    )
}

fn ts(event: &Value) -> f64 {
    event["ts"].as_f64().expect("ts")
}

fn end(event: &Value) -> f64 {
    ts(event) + event["dur"].as_f64().expect("dur")
}

fn slices_by_track(events: &[Value]) -> BTreeMap<TrackId, Vec<&Value>> {
    let mut tracks: BTreeMap<TrackId, Vec<&Value>> = BTreeMap::new();
    for event in events.iter().filter(|e| e["ph"] == "X") {
        tracks.entry(track(event)).or_default().push(event);
    }
    tracks
}

#[test]
fn every_flow_start_has_its_end_and_both_bind_inside_a_slice() {
    let document = document();
    let events = events(&document);
    let tracks = slices_by_track(events);
    let mut flows: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for event in events.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        flows
            .entry(event["id"].as_u64().expect("flow id"))
            .or_default()
            .push(event);
    }
    let mut kinds = BTreeSet::new();
    for (id, ends) in &flows {
        let phases: Vec<&str> = ends.iter().map(|e| e["ph"].as_str().unwrap()).collect();
        assert_eq!(phases, ["s", "f"], "flow {id}: one start, then one end");
        let (start, finish) = (ends[0], ends[1]);
        assert_eq!(start["name"], finish["name"], "flow {id}");
        assert_eq!(start["cat"], finish["cat"], "flow {id}");
        assert_eq!(finish["bp"], "e", "flow {id} binds to its enclosing slice");
        assert_ne!(
            track(start),
            track(finish),
            "flow {id} goes to another thread"
        );
        for point in [start, finish] {
            let inside = tracks[&track(point)]
                .iter()
                .filter(|s| ts(s) < ts(point) && ts(point) < end(s))
                .min_by(|a, b| (end(a) - ts(a)).total_cmp(&(end(b) - ts(b))))
                .unwrap_or_else(|| panic!("flow {id}: {point} is in no slice"));
            if point["ph"] == "f" {
                assert_eq!(inside["name"], "woken", "flow {id} ends on the woken slice");
            } else {
                assert_eq!(
                    inside["name"], start["name"],
                    "flow {id} starts on its call"
                );
            }
        }
        kinds.insert(start["name"].as_str().unwrap().to_owned());
    }
    for kind in ["hand-off", "admission", "peek copy", "cancel", "destroy"] {
        assert!(kinds.contains(kind), "no {kind} flow in {kinds:?}");
    }
}

#[test]
fn slices_nest_properly_on_every_track() {
    let document = document();
    for (id, mut slices) in slices_by_track(events(&document)) {
        slices.sort_by(|a, b| ts(a).total_cmp(&ts(b)).then(end(b).total_cmp(&end(a))));
        let mut open: Vec<&Value> = Vec::new();
        for slice in slices {
            while open.last().is_some_and(|top| end(top) <= ts(slice)) {
                open.pop();
            }
            if let Some(parent) = open.last() {
                assert!(
                    end(slice) <= end(parent),
                    "track {id:?}: {slice} overlaps {parent} without nesting"
                );
            }
            open.push(slice);
        }
    }
}

#[test]
fn every_slice_has_args_and_calls_say_pipe_status_and_bytes() {
    let document = document();
    for slice in events(&document).iter().filter(|e| e["ph"] == "X") {
        let args = slice["args"].as_object().expect("args");
        assert!(!args.is_empty(), "{slice}");
        let name = slice["name"].as_str().unwrap();
        if slice["cat"] == "ipc" && !name.starts_with("create") {
            for key in ["pipe", "status", "bytes"] {
                assert!(args.contains_key(key), "{key} missing: {slice}");
            }
        }
        if name.starts_with("blocked") {
            for key in ["pipe", "op", "status", "bytes"] {
                assert!(args.contains_key(key), "{key} missing: {slice}");
            }
        }
    }
}

#[test]
fn a_timed_out_read_carries_status_timed_out_and_a_cancel_flow() {
    let document = document();
    let events = events(&document);
    let timed_out: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["ph"] == "X"
                && e["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("blocked: read"))
                && e["args"]["status"] == "TIMED_OUT"
        })
        .collect();
    assert!(!timed_out.is_empty(), "no timed-out read in the trace");
    for read in timed_out.iter().filter(|r| end(r) > ts(r)) {
        assert_eq!(read["args"]["bytes"], 0, "{read}");
        let arrow = events.iter().any(|f| {
            f["ph"] == "f"
                && f["name"] == "cancel"
                && track(f) == track(read)
                && ts(read) < ts(f)
                && ts(f) < end(read)
        });
        assert!(arrow, "no cancel flow ends on {read}");
    }
    // And a read that succeeded says so, with its length.
    assert!(events.iter().any(|e| {
        e["ph"] == "X"
            && e["name"] == "read"
            && e["args"]["status"] == "OK"
            && e["args"]["bytes"].as_u64().is_some_and(|b| b > 0)
    }));
}

#[test]
fn runs_are_laid_one_after_another_on_the_timeline() {
    let document = document();
    // Each run's ids are its own thousand.
    let mut spans: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for event in events(&document).iter().filter(|e| e.get("ts").is_some()) {
        let run = event["pid"].as_u64().expect("pid") / 1000;
        let stop = event.get("dur").map_or(ts(event), |_| end(event));
        let span = spans
            .entry(run)
            .or_insert((f64::INFINITY, f64::NEG_INFINITY));
        span.0 = span.0.min(ts(event));
        span.1 = span.1.max(stop);
    }
    assert_eq!(
        spans.len(),
        lukos_sim::scenarios::Scenario::ALL.len() + 1,
        "every scenario and a check seed"
    );
    let spans: Vec<(f64, f64)> = spans.into_values().collect();
    assert_eq!(spans[0].0, 0.0);
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 < pair[1].0,
            "runs overlap on the timeline: {pair:?}"
        );
    }
}

#[test]
fn the_time_unit_is_stated_as_scheduler_ticks() {
    let document = document();
    assert!(
        document.get("displayTimeUnit").is_none(),
        "no claim of nanoseconds"
    );
    let unit = document["otherData"]["time_unit"].as_str().expect("unit");
    assert!(
        unit.contains("1 us") && unit.contains("scheduler tick"),
        "{unit}"
    );
}

#[test]
fn thread_ids_never_equal_process_ids() {
    // A viewer takes a thread whose id is a process's id for that process's
    // main thread, and would move its track there.
    let document = document();
    let events = events(&document);
    let pids: BTreeSet<u64> = events.iter().filter_map(|e| e["pid"].as_u64()).collect();
    let tids: BTreeSet<u64> = events.iter().filter_map(|e| e["tid"].as_u64()).collect();
    assert!(pids.is_disjoint(&tids), "{:?}", pids.intersection(&tids));
}
