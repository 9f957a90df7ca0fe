//! Plots, drawn with `plotters` from the stored results alone, each as SVG
//! (inlined in report.html) and PNG (for slides and for report.md), under
//! `<run>/plots/`. One module per kind of plot behind the [`Chart`] trait;
//! paths, palette and fonts live here, in one place.
//!
//! - [`spectrum`]: latency percentile spectrum per scenario, every variant,
//!   band = spread over repeats (HdrHistogram's x axis).
//! - [`knee`]: latency vs achieved throughput over open-loop rate steps.
//! - [`timeline`]: per-second p99 and throughput, server CPU, RSS, threads.
//! - [`runtime`]: the runtimes' own telemetry (scheduling latency, GC,
//!   busy workers, queues, forced yields) under the per-second p99.
//! - [`bars`]: medians with interval whiskers (throughput, CPU, switches, memory, threads).
//! - [`dots`]: head-of-line (light-request p99 per variant with the heavy
//!   job's length drawn in) and the load generator's send lag.
//! - [`census`]: syscalls per request by name, stacked, beside CPU and
//!   context switches per request (the syscall census's own trials).
//!
//! PNGs need no system font: DejaVu Sans ships in `harness/assets/` and is
//! registered with plotters' `ab_glyph` text renderer.

pub mod bars;
pub mod census;
pub mod dots;
pub mod forest;
pub mod knee;
pub mod runtime;
pub mod spectrum;
pub mod timeline;

use crate::config::profile::Language;
use crate::present::report::data::RunData;
use crate::present::report::units::{self, Unit};
use anyhow::Result;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::DrawingErrorKind;

/// Pixel coordinates, as plotters' backends use them.
pub type BackendCoord = (i32, i32);
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The bundled font (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
pub const FONT_FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TrueType file checked in with the code;
            // a failure here would be a build problem, and plotters then
            // reports "font unavailable" per plot (caught, never a panic).
            let _ = plotters::style::register_font(FONT_FAMILY, style, FONT);
        }
    });
}

pub fn font(size: u32) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

// --------------------------------------------------------------- paths

/// Where plot files go: `<run>/plots/<name>.svg|png`, per-trial timelines
/// under `<run>/plots/trials/`.
#[derive(Debug, Clone)]
pub struct PlotPaths {
    pub run: PathBuf,
}

impl PlotPaths {
    pub fn new(run: &Path) -> PlotPaths {
        PlotPaths {
            run: run.to_path_buf(),
        }
    }
    pub fn dir(&self) -> PathBuf {
        self.run.join("plots")
    }
    pub fn trial_dir(&self) -> PathBuf {
        self.dir().join("trials")
    }
    /// Paths relative to the run directory (what report files link to).
    pub fn rel_svg(name: &str) -> String {
        format!("plots/{name}.svg")
    }
    pub fn rel_png(name: &str) -> String {
        format!("plots/{name}.png")
    }
    pub fn svg(&self, name: &str) -> PathBuf {
        self.run.join(Self::rel_svg(name))
    }
    pub fn png(&self, name: &str) -> PathBuf {
        self.run.join(Self::rel_png(name))
    }
}

/// A plot that was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem, e.g. `spectrum-echo-cap-64b` or `trials/timeline--x--go--r1`.
    pub name: String,
    pub title: String,
    /// What it shows and how to read it.
    pub caption: String,
    pub scenario: Option<String>,
    pub kind: &'static str,
}

// ------------------------------------------------------------- palette

/// Go: one blue-cyan hue (the Go gopher's #00ADD8); Rust variants: shades of
/// rust orange and brown (#CE422B), in the fixed order of variants.toml.
const GO_SHADES: &[(u8, u8, u8)] = &[
    (0x00, 0xAD, 0xD8),
    (0x00, 0x5F, 0x7A),
    (0x6F, 0xD0, 0xE8),
    (0x00, 0x3A, 0x4A),
];
const RUST_SHADES: &[(u8, u8, u8)] = &[
    (0xCE, 0x42, 0x2B),
    (0x7A, 0x2A, 0x10),
    (0xF0, 0x8C, 0x28),
    (0xB8, 0x86, 0x4B),
    (0xE0, 0x6C, 0x75),
    (0x4A, 0x25, 0x12),
    (0xF2, 0xB7, 0x7A),
    (0x9C, 0x50, 0x2C),
    (0xD9, 0x5F, 0x0E),
    (0x6B, 0x3E, 0x26),
    (0xA3, 0x1F, 0x11),
    (0xE8, 0xA0, 0x5A),
    (0x8C, 0x64, 0x4A),
];
const GO_ORDER: &[&str] = &["go", "go-oversubscribed", "go-pool"];
const RUST_ORDER: &[&str] = &[
    "rust",
    "rust-current-thread",
    "rust-spawn-blocking",
    "rust-rayon",
    "rust-block-in-place",
    "rust-coop-off",
    "rust-tokio-fs",
    "rust-file-inline",
    "rust-unstable",
    "rust-coop-off-unstable",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
}

const MARKERS: &[Marker] = &[
    Marker::Circle,
    Marker::Triangle,
    Marker::Square,
    Marker::Diamond,
    Marker::Cross,
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariantStyle {
    pub color: RGBColor,
    pub marker: Marker,
    pub language: Language,
}

#[derive(Debug, Clone)]
pub struct Palette {
    styles: BTreeMap<String, VariantStyle>,
}

impl Palette {
    /// Known variants get their fixed place; others follow in `order`.
    pub fn new(variants: &[(String, Language)]) -> Palette {
        let mut styles = BTreeMap::new();
        let mut next = [GO_ORDER.len(), RUST_ORDER.len()];
        for (v, lang) in variants {
            let (order, shades, slot) = match lang {
                Language::Go => (GO_ORDER, GO_SHADES, 0),
                Language::Rust => (RUST_ORDER, RUST_SHADES, 1),
            };
            let i = order.iter().position(|x| x == v).unwrap_or_else(|| {
                next[slot] += 1;
                next[slot] - 1
            });
            let (r, g, b) = shades[i % shades.len()];
            styles.insert(
                v.clone(),
                VariantStyle {
                    color: RGBColor(r, g, b),
                    marker: MARKERS[i % MARKERS.len()],
                    language: *lang,
                },
            );
        }
        Palette { styles }
    }

    pub fn of_run(run: &RunData) -> Palette {
        let vs: Vec<(String, Language)> = run
            .variants()
            .into_iter()
            .map(|v| {
                let l = run.language(&v);
                (v, l)
            })
            .collect();
        Palette::new(&vs)
    }

    pub fn style(&self, variant: &str) -> VariantStyle {
        self.styles.get(variant).copied().unwrap_or(VariantStyle {
            color: RGBColor(0x60, 0x60, 0x60),
            marker: Marker::Circle,
            language: Language::Rust,
        })
    }
}

/// A marker (and, for legends, a short line through it) as one element:
/// plotters' composed elements carry the backend type, which legends and
/// mixed marker kinds cannot hold, so it is drawn with backend primitives.
#[derive(Debug, Clone)]
pub struct MarkerElem<C> {
    pub at: C,
    pub kind: Marker,
    pub color: RGBColor,
    pub size: i32,
    pub filled: bool,
    pub with_line: bool,
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a MarkerElem<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for MarkerElem<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = pos.next() else {
            return Ok(());
        };
        let style = ShapeStyle {
            color: self.color.to_rgba(),
            filled: self.filled,
            stroke_width: 2,
        };
        let s = self.size;
        if self.with_line {
            backend.draw_line(
                (x - 11, y),
                (x + 11, y),
                &ShapeStyle {
                    color: self.color.to_rgba(),
                    filled: false,
                    stroke_width: 3,
                },
            )?;
        }
        let poly = |pts: Vec<BackendCoord>,
                    backend: &mut DB|
         -> Result<(), DrawingErrorKind<DB::ErrorType>> {
            if self.filled {
                backend.fill_polygon(pts, &style)
            } else {
                let mut closed = pts.clone();
                closed.push(pts[0]);
                backend.draw_path(closed, &style)
            }
        };
        match self.kind {
            Marker::Circle => backend.draw_circle((x, y), s.max(1) as u32, &style, self.filled),
            Marker::Square => backend.draw_rect(
                (x - s + 1, y - s + 1),
                (x + s - 1, y + s - 1),
                &style,
                self.filled,
            ),
            Marker::Triangle => poly(
                vec![(x, y - s - 1), (x + s + 1, y + s), (x - s - 1, y + s)],
                backend,
            ),
            Marker::Diamond => poly(
                vec![
                    (x, y - s - 1),
                    (x + s + 1, y),
                    (x, y + s + 1),
                    (x - s - 1, y),
                ],
                backend,
            ),
            Marker::Cross => {
                let thick = ShapeStyle {
                    stroke_width: 3,
                    ..style
                };
                backend.draw_line((x - s, y - s), (x + s, y + s), &thick)?;
                backend.draw_line((x - s, y + s), (x + s, y - s), &thick)
            }
        }
    }
}

/// One entry of a legend drawn beside a chart.
#[derive(Debug, Clone)]
pub struct LegendItem {
    pub label: String,
    pub color: RGBColor,
    pub marker: Marker,
    pub filled: bool,
    pub line: bool,
}

impl LegendItem {
    pub fn variant(label: impl Into<String>, st: VariantStyle) -> LegendItem {
        LegendItem {
            label: label.into(),
            color: st.color,
            marker: st.marker,
            filled: true,
            line: true,
        }
    }
    pub fn glyph(label: impl Into<String>, marker: Marker, filled: bool) -> LegendItem {
        LegendItem {
            label: label.into(),
            color: RGBColor(0x55, 0x55, 0x55),
            marker,
            filled,
            line: false,
        }
    }
}

/// Width of the legend column beside a chart.
pub const LEGEND_W: u32 = 240;

/// Splits off a legend column on the right of `area`; returns (chart, legend).
pub fn with_legend_column<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let (w, _) = area.dim_in_pixel();
    area.split_horizontally(w.saturating_sub(LEGEND_W))
}

/// Draws a legend top-down in its own column, so it never covers data.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    top: i32,
) -> Result<(), String> {
    for (i, it) in items.iter().enumerate() {
        let y = top + 12 + i as i32 * 24;
        area.draw(&MarkerElem {
            at: (18, y),
            kind: it.marker,
            color: it.color,
            size: 5,
            filled: it.filled,
            with_line: it.line,
        })
        .map_err(e)?;
        area.draw(&Text::new(
            it.label.clone(),
            (36, y),
            font(15).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )),
        ))
        .map_err(e)?;
    }
    Ok(())
}

/// The title, the subtitle and a legend column of the variants drawn
/// (label, style): the area left for the chart.
pub fn framed<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    variants: impl IntoIterator<Item = (String, VariantStyle)>,
) -> Result<DrawingArea<DB, Shift>, String> {
    let area = titled(root, title, subtitle)?;
    let (area, side) = with_legend_column(&area);
    let items: Vec<LegendItem> = variants
        .into_iter()
        .map(|(label, st)| LegendItem::variant(label, st))
        .collect();
    draw_legend(&side, &items, 20)?;
    Ok(area)
}

/// A trial's status as a per-trial plot's subtitle says it.
pub fn status_word(s: crate::run::trial::Status) -> &'static str {
    match s {
        crate::run::trial::Status::Ok => "ok",
        crate::run::trial::Status::Invalid => "INVALID",
        crate::run::trial::Status::Failed => "FAILED",
    }
}

/// A marker at a data coordinate.
pub fn marker<C>(at: C, kind: Marker, color: RGBColor, size: i32, filled: bool) -> MarkerElem<C> {
    MarkerElem {
        at,
        kind,
        color,
        size,
        filled,
        with_line: false,
    }
}

/// A legend entry: a short line with the variant's marker on it.
pub fn legend_entry(st: VariantStyle) -> impl Fn(BackendCoord) -> MarkerElem<BackendCoord> {
    move |(x, y)| MarkerElem {
        at: (x + 11, y),
        kind: st.marker,
        color: st.color,
        size: 5,
        filled: true,
        with_line: true,
    }
}

// ---------------------------------------------------------------- axes

/// A linear f64 axis whose ticks are exactly `keys` — for log axes (drawn
/// over log10 values with 1-2-5 ticks), percentile axes and categories.
/// (plotters' `with_key_points` on f64 loses its label formatter.)
#[derive(Debug, Clone)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub keys: Vec<f64>,
}

impl Axis {
    pub fn new(lo: f64, hi: f64, keys: Vec<f64>) -> Axis {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        Axis { lo, hi, keys }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = ((v - self.lo) / (self.hi - self.lo)).clamp(-10.0, 10.0);
        let r = if r.is_finite() { r } else { 0.0 };
        limit.0 + (r * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.keys
            .iter()
            .copied()
            .filter(|k| *k >= self.lo - 1e-9 && *k <= self.hi + 1e-9)
            .collect()
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format(v: &f64) -> String {
        units::sig(*v)
    }
}

// ------------------------------------------------------------- drawing

/// One plot, drawable on any plotters backend.
pub trait Chart {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Turns any plotters error into our one-line error.
pub fn e<T: std::fmt::Debug>(x: T) -> String {
    format!("{x:?}")
}

/// Writes `chart` as `<name>.svg` and `<name>.png` (each whole, via a
/// temporary file and a rename).
pub fn render(chart: &impl Chart, paths: &PlotPaths, name: &str) -> Result<()> {
    register_font();
    let (svg, png) = (paths.svg(name), paths.png(name));
    if let Some(d) = svg.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, chart.size()).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|x| anyhow::anyhow!("{name}: {}", e(x)))?;
        chart
            .draw(&root)
            .map_err(|x| anyhow::anyhow!("{name}: {x}"))?;
        root.present()
            .map_err(|x| anyhow::anyhow!("{name}: {}", e(x)))?;
    }
    crate::run::results::write_atomic(&svg, text.as_bytes())?;
    // The image encoder picks the format from the extension: keep `.png` last.
    let tmp = png.with_file_name(format!(
        ".{}.tmp-{}.png",
        png.file_stem().and_then(|s| s.to_str()).unwrap_or("plot"),
        std::process::id()
    ));
    let res = (|| -> Result<()> {
        let root = BitMapBackend::new(&tmp, chart.size()).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|x| anyhow::anyhow!("{name}: {}", e(x)))?;
        chart
            .draw(&root)
            .map_err(|x| anyhow::anyhow!("{name}: {x}"))?;
        root.present()
            .map_err(|x| anyhow::anyhow!("{name}: {}", e(x)))?;
        drop(root);
        std::fs::rename(&tmp, &png)?;
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// A ratio as an axis label: "0.5×", "1×", "20×".
pub fn units_ratio(x: f64) -> String {
    format!("{}×", units::sig(x))
}

/// Ticks for a log axis between lo and hi (values, not logs): 1-2-5 per
/// decade when the range is narrow, powers of ten when it is wide.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = (lo.max(1e-12), hi.max(lo * 1.0001));
    let d0 = lo.log10().floor() as i32;
    let d1 = hi.log10().ceil() as i32;
    let span = (hi / lo).log10();
    let steps: &[f64] = if span <= 1.6 {
        &[1.0, 2.0, 5.0]
    } else if span <= 3.6 {
        &[1.0, 3.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    for d in d0..=d1 {
        for s in steps {
            let v = s * 10f64.powi(d);
            if v >= lo * 0.999 && v <= hi * 1.001 {
                out.push(v);
            }
        }
    }
    out
}

/// A log10 axis range that holds every value, widened to the nearest
/// ticks outside the data (so both ends are labelled) and to at least one
/// decade.
pub fn log_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = values
        .into_iter()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if v.is_empty() {
        return None;
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    let (mut l, mut h) = (lo.log10(), hi.log10());
    if h - l < 1.0 {
        let mid = (h + l) / 2.0;
        l = mid - 0.5;
        h = mid + 0.5;
    }
    // Candidate ticks around the range, as log_ticks would place them.
    let cands = log_ticks(10f64.powf(l.floor() - 1.0), 10f64.powf(h.ceil() + 1.0));
    let span = h - l;
    let snap_lo = cands
        .iter()
        .rev()
        .map(|t| t.log10())
        .find(|t| *t <= l - 0.02)
        .filter(|t| l - t < span * 0.35)
        .unwrap_or(l - 0.05);
    let snap_hi = cands
        .iter()
        .map(|t| t.log10())
        .find(|t| *t >= h + 0.02)
        .filter(|t| t - h < span * 0.35)
        .unwrap_or(h + 0.05);
    Some((snap_lo, snap_hi))
}

/// A linear axis range from zero (or below, for negative values) with headroom.
pub fn lin_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    let hi = v.iter().copied().fold(0.0, f64::max);
    let lo = v.iter().copied().fold(0.0, f64::min);
    // All zero (e.g. a counter that never moved): the axis reads 0..1
    // rather than a range of 1e-9.
    if hi <= lo {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    (
        if lo < 0.0 { lo - span * 0.08 } else { 0.0 },
        hi + span * 0.12,
    )
}

/// Tick label for a value in a unit, short enough for an axis.
pub fn tick(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Micros => units::time_us(v),
        Unit::Millis => units::time_us(v * 1e3),
        Unit::Nanos => units::time_us(v / 1e3),
        // Byte axes tick at decimal steps: label them as plain numbers
        // (the axis says "bytes") rather than as odd KiB fractions.
        Unit::Bytes | Unit::BytesPerConn | Unit::Rps | Unit::Plain => units::si(v),
        _ => units::sig(v),
    }
}

/// Every chart is drawn with a caption and this much margin.
pub fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    let area = root
        .titled(title, (FONT_FAMILY, 26, FontStyle::Bold).into_font())
        .map_err(e)?;
    if subtitle.is_empty() {
        return Ok(area);
    }
    let (w, _) = area.dim_in_pixel();
    area.draw(&Text::new(
        subtitle.to_string(),
        ((w as i32) / 2, 0),
        font(16)
            .color(&RGBColor(0x44, 0x44, 0x44))
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            )),
    ))
    .map_err(e)?;
    Ok(area.margin(26, 0, 0, 0))
}

/// A message in the middle of an area (an empty plot says why).
pub fn say<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, msg: &str) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        msg.to_string(),
        ((w as i32) / 2, (h as i32) / 2),
        font(18)
            .color(&RGBColor(0x80, 0x80, 0x80))
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            )),
    ))
    .map_err(e)
}

// ------------------------------------------------------------ coverage

/// The real coverage of the median intervals a plot draws (whiskers,
/// interval lines), from their estimates: what each interval is and how
/// often such an interval holds the median — 75 % for min..max of 3
/// repeats, never rounded up to the 95 % the intervals aim at.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// (repeats, real coverage, the interval is min..max), by repeats.
    pub by_n: Vec<(usize, f64, bool)>,
}

impl Coverage {
    pub fn of<'a>(ests: impl IntoIterator<Item = &'a crate::analyse::stats::Estimate>) -> Coverage {
        let mut by_n: Vec<(usize, f64, bool)> = Vec::new();
        for e in ests {
            if by_n.iter().any(|(n, _, _)| *n == e.n) {
                continue;
            }
            let min_max = e.values.iter().copied().fold(f64::INFINITY, f64::min) == e.lo
                && e.values.iter().copied().fold(f64::NEG_INFINITY, f64::max) == e.hi;
            by_n.push((e.n, e.confidence, min_max));
        }
        by_n.sort_by_key(|x| x.0);
        Coverage { by_n }
    }

    pub fn is_empty(&self) -> bool {
        self.by_n.is_empty()
    }

    /// "75 %" or "75–96.9 %": for a legend.
    pub fn short(&self) -> String {
        let pcts: Vec<f64> = self.by_n.iter().map(|x| x.1).collect();
        let lo = pcts.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = pcts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if pcts.is_empty() {
            String::new()
        } else if (hi - lo).abs() < 1e-9 {
            pct(lo)
        } else {
            format!("{}–{}", pct(lo).trim_end_matches(" %"), pct(hi))
        }
    }

    /// "3 repeats: min..max, real coverage 75 %".
    pub fn words(&self) -> String {
        self.by_n
            .iter()
            .map(|(n, c, min_max)| {
                if *n < 2 {
                    format!("{n} repeat: no interval")
                } else {
                    format!(
                        "{n} repeats: {}, real coverage {}",
                        if *min_max {
                            "min..max"
                        } else {
                            "an inner pair of order statistics"
                        },
                        pct(*c)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A caption sentence: "Whiskers: the order-statistic interval of the
    /// median (3 repeats: min..max, real coverage 75 %, not 95 %)."
    pub fn sentence(&self, what: &str) -> String {
        if self.is_empty() {
            return String::new();
        }
        let short_of_95 = self
            .by_n
            .iter()
            .any(|(_, c, _)| *c < crate::analyse::summary::CONFIDENCE - 1e-9);
        format!(
            " {what}: the order-statistic interval of the median ({}{}).",
            self.words(),
            if short_of_95 {
                format!(
                    "; not a {} interval",
                    pct(crate::analyse::summary::CONFIDENCE)
                )
            } else {
                String::new()
            }
        )
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0).replace(".0 %", " %")
}

// ---------------------------------------------------------- plot names

/// Every plot name `render_all` can write for runs of profile `p` (except
/// the per-trial timelines under `trials/`): what `plots = [...]` in
/// claims.toml may name. Each module's own name function is used, so a
/// renamed plot shows up here; the report's fixture test checks that every
/// plot drawn is in this list.
pub fn possible_names(p: &crate::config::profile::Profile) -> Vec<String> {
    use crate::present::report::data::Part;
    let mut out: Vec<String> = vec!["send-lag".into(), "forest".into()];
    out.extend(bars::NAMES.iter().map(|n| n.to_string()));
    for s in &p.scenarios {
        out.push(timeline::scenario_plot_name(&s.id));
        if p.defaults.telemetry_interval_ms > 0 {
            out.push(runtime::scenario_plot_name(&s.id));
        }
        let classes = |mix: &Option<String>| -> Vec<String> {
            mix.as_deref()
                .unwrap_or("")
                .split(';')
                .filter_map(|c| c.split(':').next())
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        let mut hol = false;
        for (ci, c) in s.clients.iter().enumerate() {
            let steps = c
                .rate_steps
                .as_ref()
                .map(|v| v.len())
                .or(c.rate_fractions.as_ref().map(|v| v.len()))
                .unwrap_or(0);
            let cl = classes(&c.mix);
            let parts: Vec<Part> = if steps > 0 {
                (1..=steps).map(Part::Step).collect()
            } else if cl.len() > 1 {
                cl.iter().map(|k| Part::Class(k.clone())).collect()
            } else {
                vec![Part::Whole]
            };
            for part in &parts {
                out.push(spectrum::plot_name(&s.id, &c.name, part));
            }
            if steps > 0 && ci == 0 {
                out.push(knee::plot_name(&s.id));
            }
            hol |= (c.name == "main" && cl.len() > 1 && cl.iter().any(|k| k == "light"))
                || c.name == "probe";
        }
        if hol {
            out.push(dots::hol_plot_name(&s.id));
        }
        if s.census {
            out.push(census::plot_name(&s.id));
        }
    }
    for m in p.micro.iter().filter(|m| m.bench != "c12") {
        out.push(bars::micro_plot_name(&m.id));
        out.push(timeline::scenario_plot_name(&m.id));
    }
    out.sort();
    out.dedup();
    out
}

/// Draws every plot of a run; returns what was written and what could not be.
pub fn render_all(run: &RunData, paths: &PlotPaths) -> (Vec<Figure>, Vec<String>) {
    let palette = Palette::of_run(run);
    let mut figs = Vec::new();
    let mut problems = Vec::new();
    let mut push = |r: Result<Vec<Figure>>, what: &str| match r {
        Ok(f) => figs.extend(f),
        Err(x) => problems.push(format!("{what}: {x:#}")),
    };
    push(spectrum::render_all(run, &palette, paths), "spectrum plots");
    push(
        knee::render_all(run, &palette, paths),
        "latency-throughput plots",
    );
    push(dots::render_hol(run, &palette, paths), "head-of-line plots");
    push(bars::render_all(run, &palette, paths), "bar plots");
    push(census::render_all(run, &palette, paths), "census plots");
    push(timeline::render_all(run, &palette, paths), "timelines");
    push(
        runtime::render_all(run, &palette, paths),
        "runtime telemetry panels",
    );
    push(dots::render_send_lag(run, &palette, paths), "send-lag plot");
    (figs, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_is_fixed_per_language_and_variant() {
        let p = Palette::new(&[
            ("rust-rayon".into(), Language::Rust),
            ("go".into(), Language::Go),
            ("rust".into(), Language::Rust),
            ("mine".into(), Language::Rust),
        ]);
        assert_eq!(p.style("go").color, RGBColor(0x00, 0xAD, 0xD8));
        assert_eq!(p.style("rust").color, RGBColor(0xCE, 0x42, 0x2B));
        assert_eq!(
            p.style("rust-rayon").color,
            RGBColor(RUST_SHADES[3].0, RUST_SHADES[3].1, RUST_SHADES[3].2)
        );
        assert_ne!(p.style("mine").color, p.style("rust").color);
        assert_eq!(p.style("go").language, Language::Go);
    }

    #[test]
    fn log_ticks_and_ranges() {
        assert_eq!(log_ticks(80.0, 1200.0), vec![100.0, 200.0, 500.0, 1000.0]);
        assert_eq!(
            log_ticks(1.0, 1e6),
            vec![1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, 1e6]
        );
        let (l, h) = log_range([100.0, 120.0]).unwrap();
        assert!(h - l >= 1.0 && l < 2.0 && h > 2.08);
        assert!(log_range([0.0, f64::NAN]).is_none());
        assert_eq!(lin_range([0.0, 10.0]).0, 0.0);
        // All zero: a readable 0..1 axis, not 1e-9.
        assert_eq!(lin_range([0.0, 0.0]), (0.0, 1.0));
        assert_eq!(tick(Unit::Plain, 3e7), "30M");
    }
}
