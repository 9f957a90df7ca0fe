//! Runtime panels: what each runtime says it was doing, under the latency
//! it explains, on one time axis (seconds since the load began). Top row:
//! the load generator's corrected p99 per second (of the light class where
//! a mix has one). Below it, from each server's `--telemetry` samples on
//! the same clock: scheduling latency p99 per sampling interval (dots) and
//! over each second of the load generator (bars spanning the same seconds
//! as the row above), Go's GC pauses (marks where a cycle ended), tokio's
//! worker busy fraction, run-queue depth, tokio's blocking-pool queue and
//! forced yields. Go in the left column, tokio in the right; a row a
//! runtime or build does not sample says so. One figure per network
//! scenario (`runtime-<scenario>`, one repeat of each variant) and one per
//! trial (`trials/runtime--<trial>`).

use super::{
    Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, lin_range, log_range,
    log_ticks, render, say,
};
use crate::analyse::runtime::{Figures, align, t_ms};
use crate::config::profile::Language;
use crate::present::report::data::RunData;
use crate::present::report::units;
use crate::run::telemetry::{self, sample::Sample, sample::keys};
use crate::run::trial::TrialRecord;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Points of one series: (seconds since the load began, value).
type Series = Vec<(f64, f64)>;

/// One trial's runtime series.
pub struct Track {
    pub label: String,
    pub style: VariantStyle,
    pub language: Language,
    pub latency_p99_us: Series,
    pub sched_p99_us: Series,
    /// (from, to, p99 µs) over each second of the load generator.
    pub sched_second_p99_us: Vec<(f64, f64, f64)>,
    /// GC pause total of each interval in which a GC cycle ended.
    pub gc_pause_us: Series,
    pub busy_fraction: Series,
    pub run_queue: Series,
    pub blocking_queue: Series,
    pub forced_yields_per_s: Series,
    /// The measured window(s), first start to last end.
    pub window: Option<(f64, f64)>,
}

fn mid(f: &Figures) -> f64 {
    (f.start_ms + f.end_ms) / 2.0
}

/// Tokio's run queue: the global queue, plus the workers' local queues
/// where the build samples them; Go's runnable goroutines.
fn run_queue(s: &Sample) -> Option<f64> {
    s.number(keys::GO_RUNNABLE).or_else(|| {
        let global = s.number(keys::TOKIO_GLOBAL_QUEUE)?;
        Some(global + s.worker_sum(keys::TOKIO_LOCAL_QUEUES).unwrap_or(0.0))
    })
}

/// A trial's series from its record and its telemetry samples.
pub fn track(t: &TrialRecord, samples: &[Sample], style: VariantStyle, label: String) -> Track {
    let start = t.load_start_ms.unwrap_or(0.0);
    let x = |ms: f64| (ms - start) / 1e3;
    let origin = t.origin_unix_ms;
    let class = t
        .clients
        .first()
        .and_then(|c| c.document.as_ref())
        .and_then(align::focus_class);
    let seconds = align::trial_seconds(t, class.as_deref());
    let ivs = align::intervals(samples, origin);
    let per_iv = |f: &dyn Fn(&Figures) -> Option<f64>| -> Series {
        ivs.iter()
            .filter_map(|v| Some((x(mid(v)), f(v)?)))
            .collect()
    };
    let gauge = |f: &dyn Fn(&Sample) -> Option<f64>| -> Series {
        samples
            .iter()
            .filter_map(|s| Some((x(t_ms(s, origin)), f(s)?)))
            .collect()
    };
    Track {
        label,
        style,
        language: t.language,
        latency_p99_us: seconds
            .iter()
            .filter(|s| s.p99_us > 0.0)
            .map(|s| (x((s.start_ms + s.end_ms) / 2.0), s.p99_us))
            .collect(),
        sched_p99_us: per_iv(&|f| f.sched_latency_p99_us),
        sched_second_p99_us: align::align(samples, origin, &seconds)
            .iter()
            .filter_map(|a| {
                let p = a.runtime.as_ref()?.sched_latency_p99_us?;
                Some((x(a.second.start_ms), x(a.second.end_ms), p))
            })
            .collect(),
        gc_pause_us: ivs
            .iter()
            .filter(|f| f.gc_cycles.unwrap_or(0.0) > 0.0)
            .filter_map(|f| Some((x(f.end_ms), f.gc_pause_total_ms? * 1e3)))
            .collect(),
        busy_fraction: per_iv(&|f| f.worker_busy_fraction),
        run_queue: gauge(&run_queue),
        blocking_queue: gauge(&|s| s.number(keys::TOKIO_BLOCKING_QUEUE)),
        forced_yields_per_s: per_iv(&|f| {
            let span_s = f.span_ms() / 1e3;
            (span_s > 0.0).then_some(f.forced_yields? / span_s)
        }),
        window: match (seconds.first(), seconds.last()) {
            (Some(a), Some(b)) => Some((x(a.start_ms), x(b.end_ms))),
            _ => None,
        },
    }
}

/// How a row is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Log axis, points joined by a line.
    Log,
    /// Linear axis, a line.
    Line,
    /// Linear axis, a mark on a stem at each point.
    Marks,
}

struct Row {
    title: &'static str,
    get: fn(&Track) -> &Series,
    kind: Kind,
    /// Also the bars over the load generator's seconds (scheduling latency).
    seconds: bool,
    /// What an empty cell says, per runtime.
    absent_go: &'static str,
    absent_tokio: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        title: "request p99 / s",
        get: |t| &t.latency_p99_us,
        kind: Kind::Log,
        seconds: false,
        absent_go: "no per-second latency",
        absent_tokio: "no per-second latency",
    },
    Row {
        title: "sched. latency p99",
        get: |t| &t.sched_p99_us,
        kind: Kind::Log,
        seconds: true,
        absent_go: "no waits sampled",
        absent_tokio: "stable build: not sampled",
    },
    Row {
        title: "GC pause, µs",
        get: |t| &t.gc_pause_us,
        kind: Kind::Marks,
        seconds: false,
        absent_go: "no GC cycle ended",
        absent_tokio: "no garbage collector",
    },
    Row {
        title: "workers busy",
        get: |t| &t.busy_fraction,
        kind: Kind::Line,
        seconds: false,
        absent_go: "no per-P busy time in runtime/metrics",
        absent_tokio: "not sampled",
    },
    Row {
        title: "run queue",
        get: |t| &t.run_queue,
        kind: Kind::Line,
        seconds: false,
        absent_go: "not sampled",
        absent_tokio: "not sampled",
    },
    Row {
        title: "blocking queue",
        get: |t| &t.blocking_queue,
        kind: Kind::Line,
        seconds: false,
        absent_go: "no counterpart (a blocked goroutine holds a thread)",
        absent_tokio: "stable build: not sampled",
    },
    Row {
        title: "forced yields / s",
        get: |t| &t.forced_yields_per_s,
        kind: Kind::Line,
        seconds: false,
        absent_go: "no budget (Go preempts)",
        absent_tokio: "stable build: not sampled",
    },
];

pub struct RuntimePanels {
    pub title: String,
    pub subtitle: String,
    pub tracks: Vec<Track>,
}

impl RuntimePanels {
    /// The languages present, Go first: the columns.
    fn columns(&self) -> Vec<Language> {
        [Language::Go, Language::Rust]
            .into_iter()
            .filter(|l| self.tracks.iter().any(|t| t.language == *l))
            .collect()
    }

    /// Rows some track has data for.
    fn rows(&self) -> Vec<&'static Row> {
        ROWS.iter()
            .filter(|r| self.tracks.iter().any(|t| !(r.get)(t).is_empty()))
            .collect()
    }

    /// Every x of every series: the shared time axis.
    fn x_range(&self) -> Option<(f64, f64)> {
        let xs: Vec<f64> = self
            .tracks
            .iter()
            .flat_map(|t| {
                ROWS.iter()
                    .flat_map(move |r| (r.get)(t).iter().map(|p| p.0))
            })
            .collect();
        let lo = xs.iter().copied().reduce(f64::min)?.min(0.0);
        let hi = xs.iter().copied().reduce(f64::max)?.max(lo + 1.0);
        Some((lo, hi))
    }
}

impl Chart for RuntimePanels {
    fn size(&self) -> (u32, u32) {
        let cols = self.columns().len().max(1) as u32;
        (
            super::LEGEND_W + 620 * cols,
            110 + 170 * self.rows().len().max(1) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let variants = self.tracks.iter().map(|t| (t.label.clone(), t.style));
        let area = super::framed(root, &self.title, &self.subtitle, variants)?;
        let Some((x0, x1)) = self.x_range() else {
            return say(&area, "no telemetry samples in these trials");
        };
        let cols = self.columns();
        let rows = self.rows();
        for (lang, col) in cols.iter().zip(area.split_evenly((1, cols.len())).iter()) {
            let (head, body) = col.split_vertically(24);
            head.draw(&Text::new(
                match lang {
                    Language::Go => "Go",
                    Language::Rust => "tokio",
                },
                (head.dim_in_pixel().0 as i32 / 2, 4),
                font(18).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                )),
            ))
            .map_err(e)?;
            let tracks: Vec<&Track> = self.tracks.iter().filter(|t| t.language == *lang).collect();
            let cells = body.split_evenly((rows.len(), 1));
            for (i, (row, cell)) in rows.iter().zip(cells.iter()).enumerate() {
                let last = i + 1 == rows.len();
                // The y range is shared by both columns, so they compare.
                let all: Vec<f64> = self
                    .tracks
                    .iter()
                    .flat_map(|t| (row.get)(t).iter().map(|p| p.1))
                    .chain(
                        row.seconds
                            .then(|| {
                                self.tracks
                                    .iter()
                                    .flat_map(|t| t.sched_second_p99_us.iter().map(|s| s.2))
                            })
                            .into_iter()
                            .flatten(),
                    )
                    .collect();
                if tracks.iter().all(|t| (row.get)(t).is_empty()) {
                    let why = match lang {
                        Language::Go => row.absent_go,
                        Language::Rust => row.absent_tokio,
                    };
                    say(cell, &format!("{}: {why}", row.title))?;
                    continue;
                }
                draw_cell(cell, row, &tracks, &all, (x0, x1), last)?;
            }
        }
        Ok(())
    }
}

/// One row of one column.
fn draw_cell<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    row: &Row,
    tracks: &[&Track],
    all: &[f64],
    (x0, x1): (f64, f64),
    last: bool,
) -> Result<(), String> {
    let mut b = ChartBuilder::on(cell);
    b.margin_left(12)
        .margin_right(16)
        .margin_top(6)
        .margin_bottom(4)
        .x_label_area_size(if last { 44 } else { 22 })
        .y_label_area_size(84);
    let x_fmt = |x: &f64| format!("{} s", units::sig(*x));
    let x_desc = if last {
        "seconds since the load began (grey: the measured window)"
    } else {
        ""
    };
    let (log, y0, y1) = if row.kind == Kind::Log {
        let Some((y0, y1)) = log_range(all.iter().copied()) else {
            return say(cell, row.title);
        };
        (true, y0, y1)
    } else {
        let (y0, y1) = lin_range(all.iter().copied());
        (false, y0, y1.max(1.0))
    };
    let ty = |v: f64| if log { v.max(1e-3).log10() } else { v };
    let keys: Vec<f64> = if log {
        log_ticks(10f64.powf(y0), 10f64.powf(y1))
            .iter()
            .map(|v| v.log10())
            .collect()
    } else {
        lin_ticks(y0, y1)
    };
    let mut chart = b
        .build_cartesian_2d(x0..x1, Axis::new(y0, y1, keys))
        .map_err(e)?;
    chart
        .configure_mesh()
        .y_desc(row.title)
        .x_desc(x_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| {
            if log {
                units::time_us(10f64.powf(*y))
            } else {
                units::si(*y)
            }
        })
        .label_style(font(13))
        .axis_desc_style(font(14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    if let Some((w0, w1)) = tracks.iter().find_map(|t| t.window) {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(w0, y0), (w1, y1)],
                RGBColor(0x80, 0x80, 0x80).mix(0.12).filled(),
            )))
            .map_err(e)?;
    }
    for t in tracks {
        let pts = (row.get)(t);
        let color = t.style.color;
        match row.kind {
            Kind::Marks => {
                chart
                    .draw_series(pts.iter().map(|p| {
                        PathElement::new(vec![(p.0, y0), (p.0, ty(p.1))], color.stroke_width(1))
                    }))
                    .map_err(e)?;
                chart
                    .draw_series(pts.iter().map(|p| {
                        super::marker((p.0, ty(p.1)), super::Marker::Triangle, color, 5, true)
                    }))
                    .map_err(e)?;
            }
            Kind::Log | Kind::Line => {
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (p.0, ty(p.1))),
                        color.stroke_width(2),
                    ))
                    .map_err(e)?;
                if row.kind == Kind::Log {
                    chart
                        .draw_series(
                            pts.iter().map(|p| {
                                super::marker((p.0, ty(p.1)), t.style.marker, color, 3, true)
                            }),
                        )
                        .map_err(e)?;
                }
            }
        }
        if row.seconds {
            // The runtime's p99 over each second of the load generator:
            // the same seconds as the request p99 above.
            chart
                .draw_series(t.sched_second_p99_us.iter().map(|(a, b, p)| {
                    PathElement::new(vec![(*a, ty(*p)), (*b, ty(*p))], color.stroke_width(5))
                }))
                .map_err(e)?;
        }
    }
    Ok(())
}

/// Ticks at a 1-2-5 step giving at most five intervals over `[y0, y1]`.
fn lin_ticks(y0: f64, y1: f64) -> Vec<f64> {
    let span = (y1 - y0).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|st| span / st <= 5.0)
        .unwrap_or(10.0 * mag);
    let first = (y0 / step).ceil() as i64;
    let last = (y1 / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

pub fn scenario_plot_name(scenario: &str) -> String {
    format!("runtime-{scenario}")
}

pub fn trial_plot_name(trial_id: &str) -> String {
    format!("trials/runtime--{trial_id}")
}

fn caption(title: &str, interval_ms: Option<u64>, class: bool) -> String {
    format!(
        "{title}. Rows on one time axis (seconds since the load began; grey: the measured window the runtime.* metrics cover, taken between the samples bracketing it). Request p99 / s: the load generator's corrected p99 per second{}. The rest is each server's own telemetry (--telemetry, sampled every {} on the same clock). Sched. latency p99: per sampling interval (dots) and over each second of the load generator (thick bars: the same seconds as the row above); Go: /sched/latencies, a 1-in-8 sample of runnable goroutines' waits; tokio: its schedule-latency histogram, which only the tokio_unstable build samples. Both start when the runtime learns a task or goroutine can run: a socket that is readable while the worker or P is busy waits for the I/O poller before that (tokio polls its driver only between tasks), and that wait is in neither. GC pause: Go's pauses in each interval in which a GC cycle ended (marks). Workers busy: tokio's busy time per worker (added when a worker parks, so one interval can read above 1). Run queue: Go's runnable goroutines; tokio's global queue, plus the workers' local queues in the unstable build. Blocking queue, forced yields / s: tokio's blocking-pool queue and the yields its budget forced (unstable build). Percentiles are bucket upper bounds (within 25 %). A row a runtime does not sample says why.",
        if class { " of the light requests" } else { "" },
        interval_ms
            .map(|ms| units::time_us(ms as f64 * 1e3))
            .unwrap_or_else(|| "interval".into()),
    )
}

fn interval_of(t: &TrialRecord) -> Option<u64> {
    t.telemetry.as_ref().map(|r| r.interval_ms)
}

fn has_class(t: &TrialRecord) -> bool {
    t.clients
        .first()
        .and_then(|c| c.document.as_ref())
        .and_then(align::focus_class)
        .is_some()
}

pub fn render_all(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for sc in run.network_scenarios() {
        let mut tracks = Vec::new();
        let mut first: Option<&TrialRecord> = None;
        // A/A copies would repeat their original's lines.
        for v in sc
            .variants
            .iter()
            .filter(|v| crate::config::expand::aa_original(v).is_none())
        {
            let Some(t) = run.representative(&sc.id, v) else {
                continue;
            };
            let samples = telemetry::load(&run.dir, t);
            if samples.is_empty() {
                continue;
            }
            first.get_or_insert(t);
            let label = format!("{} (r{})", t.variant, t.repeat);
            tracks.push(track(t, &samples, palette.style(&t.variant), label));
        }
        if let Some(t0) = first {
            let name = scenario_plot_name(&sc.id);
            let title = format!("Runtime telemetry — {}", sc.id);
            let chart = RuntimePanels {
                title: title.clone(),
                subtitle: sc.title.clone(),
                tracks,
            };
            render(&chart, paths, &name)?;
            out.push(Figure {
                name,
                title,
                caption: caption(
                    &format!(
                        "{}. One repeat of each variant (the first valid one; A/A copies left out)",
                        sc.title
                    ),
                    interval_of(t0),
                    has_class(t0),
                ),
                scenario: Some(sc.id.clone()),
                kind: "runtime",
            });
        }
        for t in run.trials.iter().filter(|t| t.scenario == sc.id) {
            let samples = telemetry::load(&run.dir, t);
            if samples.is_empty() {
                continue;
            }
            let name = trial_plot_name(&t.trial_id);
            let chart = RuntimePanels {
                title: format!("Runtime telemetry — {}", t.trial_id),
                subtitle: format!("{} — trial {}", sc.title, super::status_word(t.status)),
                tracks: vec![track(
                    t,
                    &samples,
                    palette.style(&t.variant),
                    t.variant.clone(),
                )],
            };
            render(&chart, paths, &name)?;
            out.push(Figure {
                name,
                title: chart.title.clone(),
                caption: String::new(),
                scenario: Some(sc.id.clone()),
                kind: "trial-runtime",
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::runtime::tests::{ORIGIN, go_sample, tokio_sample};

    fn trial(lang: &str) -> TrialRecord {
        crate::analyse::runtime::tests::trial(
            lang,
            (200.0, 900.0),
            serde_json::json!({"warmup_s": 0.1, "duration_s": 0.5,
                "window_start_unix_ms": ORIGIN + 300.0, "window_end_unix_ms": ORIGIN + 800.0,
                "intervals": [{"t_s": 0.0, "requests": 10, "achieved_rps": 20.0, "p99_us": 700.0}]}),
        )
    }

    fn style() -> VariantStyle {
        Palette::new(&[]).style("x")
    }

    #[test]
    fn linear_ticks_step_by_one_two_five() {
        let near = |got: Vec<f64>, want: &[f64]| {
            got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9)
        };
        assert!(near(lin_ticks(0.0, 2.24), &[0.0, 0.5, 1.0, 1.5, 2.0]));
        assert!(near(lin_ticks(0.0, 1.0), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        assert!(near(lin_ticks(0.0, 168.0), &[0.0, 50.0, 100.0, 150.0]));
        assert!(near(lin_ticks(-1.0, 1.0), &[-1.0, -0.5, 0.0, 0.5, 1.0]));
    }

    #[test]
    fn a_go_track_has_its_rows_on_the_loads_time_axis() {
        let s: Vec<Sample> = (0..=10).map(go_sample).collect();
        let t = track(&trial("go"), &s, style(), "go".into());
        // The second 300..800 ms, drawn from 0.1 to 0.6 s after the load began.
        assert_eq!(t.latency_p99_us, vec![(0.35, 700.0)]);
        assert_eq!(t.window, Some((0.1, 0.6)));
        // Samples 3 and 8 bracket it: the slow events of samples 5..=8.
        assert_eq!(t.sched_second_p99_us, vec![(0.1, 0.6, 1000.0)]);
        assert_eq!(t.sched_p99_us.len(), 10);
        // GC cycles end at samples 3, 6, 9: one 75 µs pause each.
        let xs: Vec<f64> = t.gc_pause_us.iter().map(|p| p.0).collect();
        assert_eq!(xs, vec![0.1, 0.4, 0.7]);
        assert!(t.gc_pause_us.iter().all(|p| (p.1 - 75.0).abs() < 1e-9));
        assert_eq!(t.run_queue.len(), 11);
        assert!(t.busy_fraction.is_empty() && t.forced_yields_per_s.is_empty());
    }

    #[test]
    fn a_tokio_track_reads_busy_time_queues_and_yields() {
        let s: Vec<Sample> = (0..=10).map(|i| tokio_sample(i, true)).collect();
        let t = track(&trial("rust"), &s, style(), "rust".into());
        assert!(t.busy_fraction.iter().all(|p| (p.1 - 0.5).abs() < 1e-9));
        assert!(
            t.forced_yields_per_s
                .iter()
                .all(|p| (p.1 - 70.0).abs() < 1e-9)
        );
        // Global queue i plus local queues 1 + 2.
        assert_eq!(t.run_queue[4], (0.2, 7.0));
        assert!(t.sched_p99_us.is_empty() && t.gc_pause_us.is_empty());
        // Drawn side by side: Go's column first, rows that some track fills.
        let g: Vec<Sample> = (0..=10).map(go_sample).collect();
        let panels = RuntimePanels {
            title: String::new(),
            subtitle: String::new(),
            tracks: vec![t, track(&trial("go"), &g, style(), "go".into())],
        };
        assert_eq!(panels.columns(), vec![Language::Go, Language::Rust]);
        let titles: Vec<&str> = panels.rows().iter().map(|r| r.title).collect();
        assert!(!titles.contains(&"blocking queue"), "{titles:?}");
        assert_eq!(titles.len(), ROWS.len() - 1);
    }
}
