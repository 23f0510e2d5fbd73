//! The report's plots, as PNG: horizontal bars, one row per channel (its
//! name on the axis, never over a bar), one colour per channel in every
//! plot, the value and the ratio written beside each bar, latency on a log
//! scale, and the machine and date in the title.

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar: a channel's figure and what is written beside it.
#[derive(Clone, Debug)]
pub struct Bar {
    /// The channel (row label; picks the colour).
    pub channel: &'static str,
    /// The figure, in the panel's unit.
    pub value: f64,
    /// Written beside the bar: the figure and its ratio to the subject.
    pub label: String,
}

/// One chart of a figure.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Above the chart.
    pub title: String,
    /// Under the value axis.
    pub unit: String,
    /// A log value axis (latencies).
    pub log: bool,
    /// Top to bottom.
    pub bars: Vec<Bar>,
}

/// The colour of a channel, the same in every plot (a channel's async form
/// shares its colour).
#[must_use]
pub fn colour(channel: &str) -> RGBColor {
    const PALETTE: [(&str, RGBColor); 7] = [
        ("ipcm-host", RGBColor(214, 39, 40)),
        ("crossbeam-channel", RGBColor(31, 119, 180)),
        ("flume", RGBColor(255, 127, 14)),
        ("std sync_channel", RGBColor(44, 160, 44)),
        ("POSIX mq", RGBColor(148, 103, 189)),
        ("Linux pipe", RGBColor(140, 86, 75)),
        ("tokio mpsc", RGBColor(23, 190, 207)),
    ];
    PALETTE
        .iter()
        .find(|(name, _)| channel.starts_with(name))
        .map_or(RGBColor(127, 127, 127), |(_, c)| *c)
}

/// Fonts a machine is likely to have; `IPCM_BENCH_FONT` names another.
const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Register a TrueType font as "sans-serif" (plotters draws text with
/// `ab_glyph` from font bytes: no system font library needed).
fn register_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let candidates = std::env::var("IPCM_BENCH_FONT")
            .into_iter()
            .chain(FONTS.iter().map(|s| (*s).to_owned()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                    .map_err(|_| format!("{path}: not a usable TrueType font"));
            }
        }
        Err(format!(
            "no font found (tried {FONTS:?}); install fonts-dejavu-core or set IPCM_BENCH_FONT"
        ))
    })
    .clone()
}

/// Draw `panels` in a grid of `columns`, under `title`, into a PNG at
/// `path`.
///
/// # Errors
/// No font, or the file cannot be written.
pub fn png(
    path: &Path,
    title: &str,
    panels: &[Panel],
    columns: usize,
) -> Result<(), Box<dyn Error>> {
    register_font()?;
    let (panel_w, panel_h, title_h) = (600_u32, 340_u32, 56_u32);
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns);
    let size = (panel_w * columns as u32, title_h + panel_h * rows as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(title_h);
    head.draw(&Text::new(
        title.to_owned(),
        (12, 14),
        ("sans-serif", 21).into_font().color(&BLACK),
    ))?;
    let areas = body.split_evenly((rows, columns));
    for (area, panel) in areas.iter().zip(panels) {
        let top = panel.bars.iter().map(|b| b.value).fold(0.0, f64::max);
        let bottom = panel
            .bars
            .iter()
            .map(|b| b.value)
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        if panel.log && top > 0.0 {
            // Decades around the figures, and room on the right for labels.
            let lo = 10_f64.powf(bottom.log10().floor());
            let hi = 10_f64.powf((top.log10() + 1.0).ceil());
            // Widened a hair: a decade computed as 0.1000…01 would lose its
            // axis label at either end.
            let (lo, hi) = (lo * 0.999, hi * 1.001);
            draw_panel(area, panel, (lo..hi).log_scale(), lo, |v| v * 1.12)?;
        } else {
            let hi = (top * 1.6).max(1e-9);
            draw_panel(area, panel, 0.0..hi, 0.0, |v| v + hi * 0.015)?;
        }
    }
    root.present()?;
    Ok(())
}

/// An axis figure without trailing zeros: 0.1, 1, 2.5, 10, 1000.
fn compact(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

fn draw_panel<X>(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel,
    x: X,
    origin: f64,
    beside: impl Fn(f64) -> f64,
) -> Result<(), Box<dyn Error>>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let n = panel.bars.len();
    // Row 0 is at the bottom: the first bar goes on the top row.
    let row = |i: usize| n - 1 - i;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        // The last axis label is centred on the axis' end: room for its
        // right half.
        .margin_right(32)
        .x_label_area_size(42)
        .y_label_area_size(150)
        .build_cartesian_2d(x, (0..n.saturating_sub(1)).into_segmented())?;
    let names: Vec<&str> = panel.bars.iter().map(|b| b.channel).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_max_light_lines(1)
        .x_label_formatter(&|v| compact(*v))
        .x_desc(panel.unit.as_str())
        .y_labels(n)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(r) if *r < n => names[n - 1 - *r].to_owned(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, bar)| {
        let mut rect = Rectangle::new(
            [
                (origin, SegmentValue::Exact(row(i))),
                (bar.value.max(origin), SegmentValue::Exact(row(i) + 1)),
            ],
            colour(bar.channel).filled(),
        );
        rect.set_margin(5, 5, 0, 0);
        rect
    }))?;
    let style = ("sans-serif", 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, bar)| {
        Text::new(
            bar.label.clone(),
            (
                beside(bar.value.max(origin)),
                SegmentValue::CenterOf(row(i)),
            ),
            style.clone(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_renders_to_a_png_file() {
        let bars = |scale: f64| {
            ["ipcm-host", "tokio mpsc"]
                .into_iter()
                .enumerate()
                .map(|(i, channel)| Bar {
                    channel,
                    value: scale * (i + 1) as f64,
                    label: format!("{i}"),
                })
                .collect()
        };
        let panels = [
            Panel {
                title: "linear".into(),
                unit: "M/s".into(),
                log: false,
                bars: bars(1.0),
            },
            Panel {
                title: "log".into(),
                unit: "µs".into(),
                log: true,
                bars: bars(40.0),
            },
        ];
        let path = std::env::temp_dir().join(format!("ipcm-plot-{}.png", std::process::id()));
        png(&path, "test", &panels, 2).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn axis_figures_lose_trailing_zeros() {
        assert_eq!(compact(0.1), "0.1");
        assert_eq!(compact(10.0), "10");
        assert_eq!(compact(2.5), "2.5");
        assert_eq!(compact(0.0), "0");
    }

    #[test]
    fn a_channel_and_its_async_form_share_a_colour_and_others_differ() {
        assert_eq!(colour("flume"), colour("flume async"));
        assert_eq!(colour("ipcm-host"), colour("ipcm-host async"));
        assert_ne!(colour("tokio mpsc"), colour("flume async"));
    }
}
