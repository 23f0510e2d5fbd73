//! Running every channel through every measurement, interleaved and
//! repeated, and reporting medians and ratios as markdown and SVG.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::measure::{median, mpmc_throughput, ping_pong, spsc_throughput};
use crate::peers::Channel;

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
}

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
    /// Why some figure is missing, if one is.
    pub note: Option<String>,
    /// Every sample, in repeat order: SPSC 64 B, SPSC 4 KiB, p50, p99, 2×2.
    pub samples: [Vec<f64>; 5],
}

/// Run every measurement `effort.repeats` times, each repeat going through
/// all runners in turn, so drift in the machine hits all of them alike.
pub fn run_all(runners: &[Runner], effort: Effort, mut progress: impl FnMut(&str)) -> Vec<Figures> {
    let mut samples: Vec<[Vec<f64>; 5]> = runners.iter().map(|_| Default::default()).collect();
    let mut notes: Vec<Option<String>> = runners.iter().map(|_| None).collect();
    for repeat in 0..effort.repeats {
        for (i, r) in runners.iter().enumerate() {
            progress(&format!(
                "repeat {}/{}: {}",
                repeat + 1,
                effort.repeats,
                r.name
            ));
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
        }
    }
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

/// Render the report: absolute figures and each peer's ratio to the first
/// runner (the subject).
pub fn markdown(figures: &[Figures], core: &CoreFigures, effort: Effort) -> String {
    let mut out = String::new();
    let subject = &figures[0];
    let _ = writeln!(
        out,
        "# {} vs peers\n\nMedians of {} interleaved repeats in one process run; {} messages per \
         throughput run, {} round trips per latency run. Ratios are the median of the per-repeat ratios {} ÷ peer \
         for throughput (> 1 is better for {0}) and peer ÷ {0} for latency (> 1 is better for {0}).\n",
        subject.name, effort.repeats, effort.messages, effort.rounds, subject.name
    );
    let _ = writeln!(
        out,
        "| channel | SPSC 64 B msg/s | ratio | SPSC 4 KiB msg/s | ratio | ping-pong p50 | ratio | p99 | 2×2 64 B msg/s | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for f in figures {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.name,
            rate(f.spsc_small),
            ratio(&subject.samples[0], &f.samples[0]),
            rate(f.spsc_large),
            ratio(&subject.samples[1], &f.samples[1]),
            time(f.p50),
            ratio(&f.samples[2], &subject.samples[2]),
            time(f.p99),
            rate(f.mpmc),
            ratio(&subject.samples[4], &f.samples[4]),
        );
    }
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

/// Draw SPSC 64 B throughput and ping-pong p50 per channel as bar charts.
///
/// # Errors
/// When the file cannot be written.
pub fn svg(figures: &[Figures], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    type Pick = fn(&Figures) -> Option<f64>;
    let charts: [(&str, &str, Pick); 2] = [
        ("SPSC 64 B, depth 64", "million messages / s", |f| {
            f.spsc_small.map(|v| v / 1e6)
        }),
        (
            "ping-pong p50",
            "µs per round trip (lower is better)",
            |f| f.p50.map(|v| v / 1e3),
        ),
    ];
    for (area, (title, unit, value)) in [left, right].into_iter().zip(charts) {
        let values: Vec<f64> = figures.iter().map(|f| value(f).unwrap_or(0.0)).collect();
        let top = values.iter().copied().fold(0.0, f64::max) * 1.15 + 1e-9;
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(90)
            .y_label_area_size(50)
            .build_cartesian_2d((0..figures.len()).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(unit)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => figures
                    .get(*i)
                    .map_or(String::new(), |f| f.name.to_string()),
                _ => String::new(),
            })
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, v)| {
            let color = if i == 0 { RED.mix(0.8) } else { BLUE.mix(0.6) };
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                color.filled(),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}
