//! Running every channel through every measurement, interleaved and
//! repeated, and reporting medians and ratios as markdown and SVG.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::asynk::AsyncFigures;
use crate::machine::Machine;
use crate::measure::{median, mpmc_n_throughput, mpmc_throughput, ping_pong, spsc_throughput};
use crate::peers::Channel;
use crate::plot::{Bar, Panel};

/// How much work each measurement does.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Messages per throughput run.
    pub messages: u64,
    /// Round trips per latency run.
    pub rounds: usize,
    /// Times every measurement is repeated (interleaved across channels).
    pub repeats: usize,
}

/// The measurements of one channel, as function pointers so channels of
/// different types fit in one list.
pub struct Runner {
    /// Name in the report.
    pub name: &'static str,
    spsc_small: fn(u64) -> io::Result<f64>,
    spsc_large: fn(u64) -> io::Result<f64>,
    latency: fn(usize) -> io::Result<crate::measure::Latency>,
    mpmc: fn(u64) -> io::Result<Option<f64>>,
    mpmc4: fn(u64) -> io::Result<Option<f64>>,
    /// What ipcm-host's parks cost extra while this runner measures.
    park_cost: Duration,
}

impl Runner {
    /// This runner, named `name`, with every park of ipcm-host made `extra`
    /// dearer while it measures (`ipcm_host::emulate_park_cost`; other
    /// channels' parks are not slowed).
    #[must_use]
    pub fn with_park_cost(self, name: &'static str, extra: Duration) -> Runner {
        Runner {
            name,
            park_cost: extra,
            ..self
        }
    }
}

/// The CPUs the 4×4 run is confined to: 8 threads on 2 CPUs, threads
/// outnumbering CPUs on any machine.
pub const OVERSUBSCRIBED_CPUS: [usize; 2] = [0, 1];

/// Messages of 64 bytes.
pub const SMALL: usize = 64;
/// Messages of 4 KiB.
pub const LARGE: usize = 4096;
/// Channel depth for throughput runs.
pub const DEPTH: usize = 64;

/// The runner of channel `C`.
pub fn runner<C: Channel<SMALL> + Channel<LARGE>>() -> Runner {
    Runner {
        name: <C as Channel<SMALL>>::NAME,
        spsc_small: |n| spsc_throughput::<C, SMALL>(DEPTH, n),
        spsc_large: |n| spsc_throughput::<C, LARGE>(DEPTH, n),
        latency: |n| ping_pong::<C, SMALL>(n),
        mpmc: |n| mpmc_throughput::<C, SMALL>(DEPTH, n),
        mpmc4: |n| mpmc_n_throughput::<C, SMALL>(DEPTH, n, 4, Some(&OVERSUBSCRIBED_CPUS)),
        park_cost: Duration::ZERO,
    }
}

/// Medians of one channel over all repeats (`None`: not available).
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Name of the channel.
    pub name: &'static str,
    /// SPSC 64 B messages per second.
    pub spsc_small: Option<f64>,
    /// SPSC 4 KiB messages per second.
    pub spsc_large: Option<f64>,
    /// Ping-pong round trip p50, ns.
    pub p50: Option<f64>,
    /// Ping-pong round trip p99, ns.
    pub p99: Option<f64>,
    /// 2×2 messages per second.
    pub mpmc: Option<f64>,
    /// 4×4 messages per second, all 8 threads on 2 CPUs.
    pub mpmc4: Option<f64>,
    /// Why some figure is missing, if one is.
    pub note: Option<String>,
    /// Every sample, in repeat order: SPSC 64 B, SPSC 4 KiB, p50, p99, 2×2,
    /// 4×4.
    pub samples: [Vec<f64>; 6],
}

/// Run every measurement `effort.repeats` times, each repeat going through
/// all runners in turn, so drift in the machine hits all of them alike.
pub fn run_all(runners: &[Runner], effort: Effort, mut progress: impl FnMut(&str)) -> Vec<Figures> {
    let mut samples: Vec<[Vec<f64>; 6]> = runners.iter().map(|_| Default::default()).collect();
    let mut notes: Vec<Option<String>> = runners.iter().map(|_| None).collect();
    for repeat in 0..effort.repeats {
        for (i, r) in runners.iter().enumerate() {
            progress(&format!(
                "repeat {}/{}: {}",
                repeat + 1,
                effort.repeats,
                r.name
            ));
            ipcm_host::emulate_park_cost(r.park_cost);
            let mut record = |slot: usize, value: io::Result<Option<f64>>| match value {
                Ok(Some(v)) => samples[i][slot].push(v),
                Ok(None) => {}
                Err(err) => notes[i] = Some(err.to_string()),
            };
            record(0, (r.spsc_small)(effort.messages).map(Some));
            record(1, (r.spsc_large)(effort.messages / 4).map(Some));
            match (r.latency)(effort.rounds) {
                Ok(l) => {
                    record(2, Ok(Some(nanos(l.p50))));
                    record(3, Ok(Some(nanos(l.p99))));
                }
                Err(err) => record(2, Err(err)),
            }
            record(4, (r.mpmc)(effort.messages));
            record(5, (r.mpmc4)(effort.messages));
        }
    }
    ipcm_host::emulate_park_cost(Duration::ZERO);
    runners
        .iter()
        .zip(samples)
        .zip(notes)
        .map(|((r, s), note)| {
            let med = |slot: usize| (!s[slot].is_empty()).then(|| median(&mut s[slot].clone()));
            Figures {
                name: r.name,
                spsc_small: med(0),
                spsc_large: med(1),
                p50: med(2),
                p99: med(3),
                mpmc: med(4),
                mpmc4: med(5),
                note,
                samples: s,
            }
        })
        .collect()
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// Core-only figures (no-op kernel, single thread).
#[derive(Clone, Debug, Default)]
pub struct CoreFigures {
    /// ns per uncontended 64 B write + read through a handle.
    pub write_read_ns: f64,
    /// crossbeam-channel's `try_send` + `try_recv` of 64 B, same run, ns.
    pub crossbeam_ns: f64,
    /// (pipes, ns per by-id write + read on one pipe, ns spread over all)
    pub by_pipes: Vec<(usize, (f64, f64))>,
    /// (blocked waiters elsewhere, ns per write + read)
    pub by_waiters: Vec<(u32, f64)>,
}

/// The dear-park regime: ipcm-host with every park made dearer, against
/// the same peers (their samples are those of the cheap regime: their
/// parks are not slowed).
#[derive(Clone, Debug)]
pub struct DearParks {
    /// What each of ipcm-host's parks cost extra.
    pub extra: Duration,
    /// The park cost ipcm-host's waiting strategy measured and planned
    /// with, without and with the extra cost.
    pub planned: (Duration, Duration),
    /// The subject (ipcm-host with dear parks) first, then the peers.
    pub figures: Vec<Figures>,
}

/// Split the figures of a run whose runners were the subject, the subject
/// with dear parks (when `extra` is set) and the peers into the cheap
/// regime's figures (subject and peers) and the dear one.
#[must_use]
pub fn split_regimes(
    mut figures: Vec<Figures>,
    extra: Option<Duration>,
) -> (Vec<Figures>, Option<DearParks>) {
    let Some(extra) = extra.filter(|_| figures.len() > 1) else {
        return (figures, None);
    };
    let dear_subject = figures.remove(1);
    let mut dear = vec![dear_subject];
    dear.extend(figures[1..].iter().cloned());
    let planned = (
        ipcm_host::emulate_park_cost(Duration::ZERO),
        ipcm_host::emulate_park_cost(extra),
    );
    ipcm_host::emulate_park_cost(Duration::ZERO);
    (
        figures,
        Some(DearParks {
            extra,
            planned,
            figures: dear,
        }),
    )
}

/// Render the report: absolute figures and each peer's ratio to the first
/// runner (the subject), in each park-cost regime.
pub fn markdown(
    figures: &[Figures],
    dear: Option<&DearParks>,
    asynk: &[AsyncFigures],
    core: &CoreFigures,
    effort: Effort,
    machine: &Machine,
) -> String {
    let mut out = String::new();
    let subject = &figures[0];
    let _ = writeln!(
        out,
        "# {} vs peers\n\nMeasured on {}. Medians of {} interleaved repeats in one process run; {} messages per \
         throughput run, {} round trips per latency run. Ratios are the median of the per-repeat ratios {} ÷ peer \
         for throughput (> 1 is better for {0}) and peer ÷ {0} for latency (> 1 is better for {0}). \
         The 4×4 run confines its 8 threads to CPUs {:?}, so threads outnumber CPUs.\n\n\
         Runs are kept short and the machine is shared with other jobs: read the ratios (same repeat, \
         same load), not the absolute figures.\n",
        subject.name,
        machine.describe(),
        effort.repeats,
        effort.messages,
        effort.rounds,
        subject.name,
        OVERSUBSCRIBED_CPUS
    );
    let _ = writeln!(out, "## Parks as cheap as this machine's\n");
    if let Some(dear) = dear {
        let _ = writeln!(
            out,
            "{}'s waiting strategy measured a park/unpark hand-off at {:.1} µs here.\n",
            subject.name,
            micros(dear.planned.0)
        );
    }
    let _ = writeln!(out, "![channels](channels.png)\n");
    channel_table(&mut out, figures);
    if let Some(dear) = dear {
        let _ = writeln!(
            out,
            "\n## Parks {:.0} µs dearer, for {} only\n\n\
             As on a VM whose idle vCPUs take long to run a woken thread: every park of {} that slept is \
             followed by a {:.0} µs busy wait that yields the CPU (`ipcm_host::emulate_park_cost`, interleaved \
             with the runs above in the same repeats); its waiting strategy measured a hand-off at {:.1} µs \
             under it and planned with that. The peers' parks are **not** slowed (their figures are the \
             ones above): on a real machine with dear parks theirs would pay too, so this table is \
             pessimistic for {}.\n\n![channels, dear parks](channels-dear-parks.png)\n",
            micros(dear.extra),
            subject.name,
            subject.name,
            micros(dear.extra),
            micros(dear.planned.1),
            subject.name,
        );
        channel_table(&mut out, &dear.figures);
    }
    out.push_str(&async_markdown(asynk));
    for f in figures.iter().filter(|f| f.note.is_some()) {
        let _ = writeln!(
            out,
            "\n{}: {}",
            f.name,
            f.note.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "\n## The core alone (no-op kernel, one thread)\n\n- uncontended 64 B write + read: {:.1} ns \
         (crossbeam-channel `try_send` + `try_recv` of 64 B in the same run: {:.1} ns, ratio {:.2})\n\
         - instruction counts: `crates/ipcm-bench/scripts/callgrind.sh`\n",
        core.write_read_ns,
        core.crossbeam_ns,
        core.write_read_ns / core.crossbeam_ns
    );
    let _ = writeln!(
        out,
        "| pipes | ns per by-id write + read, one pipe | spread over all pipes (cache misses included) |\n|---:|---:|---:|"
    );
    for (pipes, (hot, spread)) in &core.by_pipes {
        let _ = writeln!(out, "| {pipes} | {hot:.1} | {spread:.1} |");
    }
    let _ = writeln!(
        out,
        "\n| blocked waiters on other pipes | ns per write + read |\n|---:|---:|"
    );
    for (waiters, ns) in &core.by_waiters {
        let _ = writeln!(out, "| {waiters} | {ns:.1} |");
    }
    out
}

/// The table of every channel's figures and ratios to `figures[0]`.
fn channel_table(out: &mut String, figures: &[Figures]) {
    let subject = &figures[0];
    let _ = writeln!(
        out,
        "| channel | SPSC 64 B msg/s | ratio | SPSC 4 KiB msg/s | ratio | ping-pong p50 | ratio | p99 | ratio | 2×2 64 B msg/s | ratio | 4×4 on 2 CPUs msg/s | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for f in figures {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.name,
            rate(f.spsc_small),
            ratio(&subject.samples[0], &f.samples[0]),
            rate(f.spsc_large),
            ratio(&subject.samples[1], &f.samples[1]),
            time(f.p50),
            ratio(&f.samples[2], &subject.samples[2]),
            time(f.p99),
            ratio(&f.samples[3], &subject.samples[3]),
            rate(f.mpmc),
            ratio(&subject.samples[4], &f.samples[4]),
            rate(f.mpmc4),
            ratio(&subject.samples[5], &f.samples[5]),
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The async comparison's section of the report.
#[must_use]
pub fn async_markdown(asynk: &[AsyncFigures]) -> String {
    let mut out = String::new();
    if let Some(async_subject) = asynk.first() {
        let _ = writeln!(
            out,
            "\n## Async: {} vs async channels\n\nEvery channel on the same tokio multi-thread runtime \
             (2 workers), a producer task and a consumer task, 64 B messages, depth {}; ping-pong between two \
             tasks. Ratios as above, per repeat, same run. Exact instruction counts per async round trip: \
             `crates/ipcm-bench/scripts/callgrind.sh 64 async`.\n\n![async](async.png)\n\n\
             | channel | SPSC 64 B msg/s | ratio | ping-pong p50 | ratio | p99 | ratio |\n|---|---:|---:|---:|---:|---:|---:|",
            async_subject.name,
            crate::asynk::DEPTH
        );
        for f in asynk {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.name,
                rate(f.spsc),
                ratio(&async_subject.samples[0], &f.samples[0]),
                time(f.p50),
                ratio(&f.samples[1], &async_subject.samples[1]),
                time(f.p99),
                ratio(&f.samples[2], &async_subject.samples[2]),
            );
        }
        for f in asynk.iter().filter(|f| f.note.is_some()) {
            let _ = writeln!(
                out,
                "\n{}: {}",
                f.name,
                f.note.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".into(), |v| format!("{:.2} M", v / 1e6))
}

fn time(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".into(), |ns| format!("{:.2} µs", ns / 1e3))
}

/// The median of the per-repeat ratios `numerator[i] / denominator[i]`:
/// both were measured in the same repeat, so drift of the machine between
/// repeats cancels out.
fn ratio(numerator: &[f64], denominator: &[f64]) -> String {
    let mut ratios: Vec<f64> = numerator
        .iter()
        .zip(denominator)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect();
    if ratios.is_empty() || numerator.len() != denominator.len() {
        return "n/a".into();
    }
    format!("{:.2}×", median(&mut ratios))
}

/// One panel: `value` of each channel (skipping those without it), with
/// its ratio to the subject (`higher_is_better`: subject ÷ peer, else
/// peer ÷ subject, per repeat).
fn panel(
    title: &str,
    unit: &str,
    log: bool,
    rows: &[(&'static str, Option<f64>, &[f64])],
    higher_is_better: bool,
    show: fn(f64) -> String,
) -> Panel {
    let subject = rows.first().map_or(&[][..], |r| r.2);
    let bars = rows
        .iter()
        .enumerate()
        .filter_map(|(i, (channel, value, samples))| {
            let value = (*value)?;
            let ratio = if higher_is_better {
                ratio(subject, samples)
            } else {
                ratio(samples, subject)
            };
            let label = if i == 0 {
                format!("{}  (subject)", show(value))
            } else {
                format!("{}   {ratio}", show(value))
            };
            Some(Bar {
                channel,
                value,
                label,
            })
        })
        .collect();
    Panel {
        title: title.to_owned(),
        unit: unit.to_owned(),
        log,
        bars,
    }
}

/// The six panels of the channel comparison, ratios to `figures[0]`.
fn channel_panels(figures: &[Figures]) -> Vec<Panel> {
    // The channel's name, without what its regime adds ("ipcm-host +43 µs").
    let subject = figures
        .first()
        .and_then(|f| f.name.split(' ').next())
        .unwrap_or("ipcm-host");
    let mps_of = |v: Option<f64>| v.map(|v| v / 1e6);
    let us_of = |v: Option<f64>| v.map(|v| v / 1e3);
    type Pick = fn(&Figures) -> Option<f64>;
    let throughput: [(&str, Pick, usize); 4] = [
        ("SPSC 64 B", |f| f.spsc_small, 0),
        ("SPSC 4 KiB", |f| f.spsc_large, 1),
        ("2×2 64 B", |f| f.mpmc, 4),
        ("4×4 64 B, 8 threads on 2 CPUs", |f| f.mpmc4, 5),
    ];
    let faster = format!("million msg/s · ratio = {subject} ÷ peer, > 1: {subject} faster");
    let quicker =
        format!("µs per round trip (log) · ratio = peer ÷ {subject}, > 1: {subject} quicker");
    let mut panels: Vec<Panel> = throughput
        .iter()
        .map(|(title, pick, slot)| {
            let rows: Vec<_> = figures
                .iter()
                .map(|f| (f.name, mps_of(pick(f)), &f.samples[*slot][..]))
                .collect();
            panel(title, &faster, false, &rows, true, |v| {
                format!("{v:.2} M/s")
            })
        })
        .collect();
    for (title, slot, pick) in [
        ("ping-pong p50", 2, (|f: &Figures| f.p50) as Pick),
        ("ping-pong p99", 3, |f: &Figures| f.p99),
    ] {
        let rows: Vec<_> = figures
            .iter()
            .map(|f| (f.name, us_of(pick(f)), &f.samples[slot][..]))
            .collect();
        panels.push(panel(title, &quicker, true, &rows, false, |v| {
            if v >= 10.0 {
                format!("{v:.0} µs")
            } else {
                format!("{v:.2} µs")
            }
        }));
    }
    panels
}

/// Draw the figures as `channels.png` (every channel, every measurement),
/// `channels-dear-parks.png` for the dear-park regime when there is one
/// and, when there are async figures, `async.png`, in `dir`.
///
/// # Errors
/// No font, or a file cannot be written.
pub fn plots(
    figures: &[Figures],
    dear: Option<&DearParks>,
    asynk: &[AsyncFigures],
    effort: Effort,
    machine: &Machine,
    dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let subject = figures.first().map_or("ipcm-host", |f| f.name);
    let head = format!(
        "{subject} vs peers · {} · medians of {} interleaved repeats · machine shared with other jobs",
        machine.describe(),
        effort.repeats
    );
    crate::plot::png(
        &dir.join("channels.png"),
        &head,
        &channel_panels(figures),
        3,
    )?;
    if let Some(dear) = dear {
        let head = format!(
            "{subject} with parks {:.0} µs dearer (peers' parks not slowed) · {} · medians of {} repeats · shared machine",
            micros(dear.extra),
            machine.describe(),
            effort.repeats
        );
        crate::plot::png(
            &dir.join("channels-dear-parks.png"),
            &head,
            &channel_panels(&dear.figures),
            3,
        )?;
    }

    if let Some(async_subject) = asynk.first() {
        let name = async_subject.name;
        let faster = format!("million msg/s · ratio = {name} ÷ peer, > 1: {name} faster");
        let quicker = format!("µs per round trip (log) · ratio = peer ÷ {name}, > 1: quicker");
        let rows = |pick: fn(&AsyncFigures) -> Option<f64>, slot: usize, scale: f64| {
            asynk
                .iter()
                .map(|f| (f.name, pick(f).map(|v| v / scale), &f.samples[slot][..]))
                .collect::<Vec<_>>()
        };
        let panels = [
            panel(
                "async SPSC 64 B",
                &faster,
                false,
                &rows(|f| f.spsc, 0, 1e6),
                true,
                |v| format!("{v:.2} M/s"),
            ),
            panel(
                "async ping-pong p50",
                &quicker,
                true,
                &rows(|f| f.p50, 1, 1e3),
                false,
                |v| format!("{v:.2} µs"),
            ),
            panel(
                "async ping-pong p99",
                &quicker,
                true,
                &rows(|f| f.p99, 2, 1e3),
                false,
                |v| format!("{v:.2} µs"),
            ),
        ];
        let head = format!(
            "{name} vs async channels (tokio runtime, 2 workers) · {} · {} repeats · shared machine",
            machine.describe(),
            effort.repeats
        );
        crate::plot::png(&dir.join("async.png"), &head, &panels, 3)?;
    }
    Ok(())
}
