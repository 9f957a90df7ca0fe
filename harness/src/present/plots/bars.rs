//! Bars: each variant's median over repeats with its interval as a whisker
//! (and the coverage in the caption), grouped by scenario — maximum
//! throughput, CPU-µs and context switches per request, RSS per connection
//! and per task, OS threads, timer overshoot, and every microbenchmark.

use super::{
    Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, render, say, tick, titled,
};
use crate::analyse::stats::{self, Estimate};
use crate::analyse::summary::{CONFIDENCE, ScenarioSummary};
use crate::analyse::verdict::{fill_metric, match_metric};
use crate::present::report::data::RunData;
use crate::present::report::units::{self, Unit};
use crate::run::trial::Status;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct Bar {
    pub variant: String,
    pub style: VariantStyle,
    pub est: Estimate,
}

pub struct Group {
    pub label: String,
    /// The metric the bars show (its name gives the unit).
    pub metric: String,
    pub bars: Vec<Bar>,
}

pub struct Panel {
    pub desc: String,
    pub unit: Unit,
    pub groups: Vec<Group>,
}

pub struct Bars {
    pub title: String,
    pub subtitle: String,
    pub panels: Vec<Panel>,
}

impl Bars {
    /// Many panels of one or two groups each read better side by side.
    fn columns(&self) -> usize {
        if self.panels.len() > 2 && self.groups() <= 2 {
            2
        } else {
            1
        }
    }
    fn groups(&self) -> usize {
        self.panels
            .iter()
            .map(|p| p.groups.len())
            .max()
            .unwrap_or(0)
    }
}

impl Chart for Bars {
    fn size(&self) -> (u32, u32) {
        let cols = self.columns() as u32;
        let rows = self.panels.len().max(1).div_ceil(self.columns()) as u32;
        let w = if cols > 1 {
            1400
        } else {
            (200 * self.groups() as u32 + 200).clamp(900, 1800)
        };
        (w, 120 + 420 * rows)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = titled(root, &self.title, &self.subtitle)?;
        if self.panels.is_empty() {
            return say(&area, "nothing measured");
        }
        let cols = self.columns();
        let areas = area.split_evenly((self.panels.len().div_ceil(cols), cols));
        for (p, a) in self.panels.iter().zip(areas.iter()) {
            draw_panel(p, a)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(p: &Panel, a: &DrawingArea<DB, Shift>) -> Result<(), String> {
    let n = p.groups.len().max(1);
    let (y0, y1) = super::lin_range(p.groups.iter().flat_map(|g| {
        g.bars
            .iter()
            .flat_map(|b| [b.est.lo, b.est.hi, b.est.median])
    }));
    // Headroom above the tallest whisker for the value labels and the legend.
    let y1 = y1 + (y1 - y0) * 0.25;
    let labels: Vec<String> = p.groups.iter().map(|g| g.label.clone()).collect();
    let keys: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(a)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(100)
        .build_cartesian_2d(Axis::new(0f64, n as f64, keys), y0..y1.max(1e-9))
        .map_err(e)?;
    let unit = p.unit;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .y_desc(p.desc.as_str())
        .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
        .y_label_formatter(&|y| tick(unit, *y))
        .y_labels(6)
        .label_style(font(15))
        .axis_desc_style(font(17))
        .draw()
        .map_err(e)?;
    let mut legend_done: Vec<String> = Vec::new();
    for (gi, g) in p.groups.iter().enumerate() {
        let k = g.bars.len().max(1) as f64;
        let width = 0.8 / k;
        for (bi, b) in g.bars.iter().enumerate() {
            let x0 = gi as f64 + 0.1 + bi as f64 * width;
            let x1 = x0 + width * 0.9;
            let xm = (x0 + x1) / 2.0;
            let c = b.style.color;
            let s = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0f64.max(y0)), (x1, b.est.median)],
                    c.filled(),
                )))
                .map_err(e)?;
            if !legend_done.contains(&b.variant) {
                legend_done.push(b.variant.clone());
                let st = b.style;
                s.label(b.variant.clone()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 18, y + 6)], st.color.filled())
                });
            }
            let cap = width * 0.2;
            let whisker = RGBColor(0x22, 0x22, 0x22).stroke_width(2);
            chart
                .draw_series([
                    PathElement::new(vec![(xm, b.est.lo), (xm, b.est.hi)], whisker),
                    PathElement::new(vec![(xm - cap, b.est.lo), (xm + cap, b.est.lo)], whisker),
                    PathElement::new(vec![(xm - cap, b.est.hi), (xm + cap, b.est.hi)], whisker),
                ])
                .map_err(e)?;
            let label = short_value(unit, b.est.median);
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (xm, b.est.hi.max(b.est.median) + (y1 - y0) * 0.015),
                    font(13).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    )),
                )))
                .map_err(e)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xAA, 0xAA, 0xAA))
        .label_font(font(15))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A bar's value label: the number only, the unit is on the axis.
fn short_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Micros => units::time_us(v),
        Unit::Millis => units::time_us(v * 1e3),
        Unit::Nanos => units::time_us(v / 1e3),
        Unit::Bytes | Unit::BytesPerConn => units::bytes(v),
        _ => units::si(v),
    }
}

/// Where a group's values come from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A metric name pattern ('*' = one segment) read from the summary.
    Metric(&'a str),
    /// Per valid trial: metric `a` minus metric `b` (b's '*' filled from a's).
    Minus(&'a str, &'a str),
}

/// Groups for every scenario accepted by `keep` and every metric the source matches.
pub fn groups(
    run: &RunData,
    palette: &Palette,
    keep: &dyn Fn(&ScenarioSummary) -> bool,
    src: Source,
    label_metric: bool,
) -> Vec<Group> {
    let mut out = Vec::new();
    for sc in run.summary.scenarios.iter().filter(|s| keep(s)) {
        let pattern = match src {
            Source::Metric(p) | Source::Minus(p, _) => p,
        };
        let mut names: Vec<(String, Vec<String>)> = sc
            .metrics
            .keys()
            .filter_map(|m| match_metric(pattern, m).map(|c| (m.clone(), c)))
            .collect();
        names.sort_by(|(a, _), (b, _)| {
            step_order(a)
                .0
                .cmp(&step_order(b).0)
                .then(duration_in_name(a).total_cmp(&duration_in_name(b)))
                .then(a.cmp(b))
        });
        for (m, caps) in names {
            let mut bars = Vec::new();
            for v in &sc.variants {
                let est = match src {
                    Source::Metric(_) => sc.metrics.get(&m).and_then(|x| x.get(v)).cloned(),
                    Source::Minus(_, b) => {
                        let bm = fill_metric(b, &caps);
                        let vals: Vec<f64> = run
                            .trials_of(&sc.id, v)
                            .filter(|t| t.status == Status::Ok)
                            .filter_map(|t| Some(trial_value(t, &m)? - trial_value(t, &bm)?))
                            .collect();
                        stats::estimate(&vals, CONFIDENCE)
                    }
                };
                if let Some(est) = est {
                    bars.push(Bar {
                        variant: v.clone(),
                        style: palette.style(v),
                        est,
                    });
                }
            }
            if bars.is_empty() {
                continue;
            }
            let what = if label_metric {
                metric_label(&m)
            } else {
                caps.join(" ")
            };
            // Microbenchmark figures are one scenario each: the case names suffice.
            let label = if what.is_empty() {
                sc.id.clone()
            } else if sc.workload == "micro" {
                what
            } else {
                format!("{} {what}", sc.id)
            };
            out.push(Group {
                label,
                metric: m.clone(),
                bars,
            });
        }
    }
    out
}

/// Whether a valid trial of `scenario` had a load generator that said its
/// own CPU, not the server, limited the throughput.
pub(super) fn client_bound(run: &RunData, scenario: &str) -> bool {
    run.trials
        .iter()
        .any(|t| t.scenario == scenario && t.status == Status::Ok && t.client_bound())
}

/// A trial's metric, or for `<client>.<dotted path>` names the metrics
/// leave out (a class's `spec`), the number at that path in the client's
/// document.
fn trial_value(t: &crate::run::trial::TrialRecord, metric: &str) -> Option<f64> {
    if let Some(v) = t.metrics.get(metric) {
        return Some(*v);
    }
    let (client, path) = metric.split_once('.')?;
    let mut v = crate::present::report::data::client_doc(t, client)?;
    for seg in path.split('.') {
        v = v.get(seg)?;
    }
    v.as_f64()
}

/// A duration written in a name ("sleep100us", "hol-cpu-10ms"), in µs, so
/// 100us < 1ms < 10ms; 0 when there is none.
fn duration_in_name(m: &str) -> f64 {
    for seg in m.split(['.', '-', '_']) {
        let digits: String = seg
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if digits.is_empty() {
            continue;
        }
        let rest = &seg[seg.find(&digits).unwrap_or(0) + digits.len()..];
        let scale = match rest {
            "us" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            _ => continue,
        };
        return digits.parse::<f64>().unwrap_or(0.0) * scale;
    }
    0.0
}

/// `server.step2.x` sorts after `server.x` and `server.step1.x`.
fn step_order(m: &str) -> (usize, String) {
    let step = m
        .split('.')
        .find_map(|s| s.strip_prefix("step").and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(0);
    (step, m.to_string())
}

fn metric_label(m: &str) -> String {
    let last = m.rsplit('.').next().unwrap_or(m);
    last.strip_prefix("threads_")
        .unwrap_or(last)
        .replace('_', " ")
}

fn has_claim(ids: &'static [&'static str]) -> impl Fn(&ScenarioSummary) -> bool {
    move |s| s.workload != "micro" && s.claims.iter().any(|c| ids.contains(&c.as_str()))
}

/// (axis description, groups) per panel.
type Panels = Vec<(String, Vec<Group>)>;

/// The fixed-name bar figures (`render_all` draws those with data); the
/// microbenchmarks' are [`micro_plot_name`].
pub const NAMES: &[&str] = &[
    "bars-max-throughput",
    "bars-cpu-per-request",
    "bars-ctx-switches-per-request",
    "bars-threads",
    "bars-rss-per-conn",
    "bars-cpu-per-request-hol",
    "bars-threads-burst",
    "bars-file-threads",
    "bars-timer-overshoot",
];

/// The C12 compile check (metrics `c12.*`, 0 or 1): facts, not a quantity
/// for bars; the report states them in words.
fn is_compile_check(s: &ScenarioSummary) -> bool {
    !s.metrics.is_empty() && s.metrics.keys().all(|m| m.starts_with("c12."))
}

pub fn micro_plot_name(micro: &str) -> String {
    format!("bars-{micro}")
}

struct Spec {
    name: &'static str,
    title: &'static str,
    caption: &'static str,
    panels: Panels,
}

pub fn render_all(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let g = |keep: &dyn Fn(&ScenarioSummary) -> bool, src: Source, label_metric: bool| {
        groups(run, palette, keep, src, label_metric)
    };
    let both = |keep: &dyn Fn(&ScenarioSummary) -> bool, a: &str, b: &str| {
        let mut v = g(keep, Source::Metric(a), false);
        v.extend(g(keep, Source::Metric(b), false));
        v
    };
    let c1 = has_claim(&["C1"]);
    let closed = |s: &ScenarioSummary| s.capacity_rps.is_some();
    let mut specs = vec![
        Spec {
            name: "bars-max-throughput",
            title: "Maximum throughput (closed loop)",
            caption: "Achieved requests per second at saturation (closed loop), median over repeats. A scenario marked (client-bound) was limited by the load generator's CPU in at least one valid trial: its bars are the client's maximum, not the servers', and the verdicts do not use them.",
            panels: vec![(
                "max throughput, req/s".into(),
                g(&closed, Source::Metric("main.achieved_rps"), false)
                    .into_iter()
                    .map(|mut gr| {
                        if client_bound(run, &gr.label) {
                            gr.label.push_str(" (client-bound)");
                        }
                        gr
                    })
                    .collect(),
            )],
        },
        Spec {
            name: "bars-cpu-per-request",
            title: "Server CPU per request (echo)",
            caption: "Server CPU time (user + system, from /proc) per completed request over the measured window; open-loop steps at the same offered rate for both servers.",
            panels: vec![(
                "server CPU per request, µs".into(),
                both(
                    &c1,
                    "server.cpu_us_per_request",
                    "server.*.cpu_us_per_request",
                ),
            )],
        },
        Spec {
            name: "bars-ctx-switches-per-request",
            title: "Context switches per request (echo)",
            caption: "Voluntary + involuntary context switches of the server's threads per completed request.",
            panels: vec![(
                "context switches per request".into(),
                both(
                    &c1,
                    "server.ctx_switches_per_request",
                    "server.*.ctx_switches_per_request",
                ),
            )],
        },
        Spec {
            name: "bars-threads",
            title: "Server OS threads under load (echo)",
            caption: "The most OS threads the server had during the measured window.",
            panels: vec![(
                "OS threads (peak in window)".into(),
                both(
                    &c1,
                    "server.threads_in_window_max",
                    "server.*.threads_in_window_max",
                ),
            )],
        },
        Spec {
            name: "bars-rss-per-conn",
            title: "Resident memory per connection",
            caption: "Median RSS during the window minus RSS before the load, divided by the connections; both servers use the same 16 KiB read buffer per connection.",
            panels: vec![(
                "RSS growth per connection, bytes".into(),
                g(
                    &has_claim(&["C2"]),
                    Source::Metric("server.rss_bytes_per_conn"),
                    false,
                ),
            )],
        },
        Spec {
            name: "bars-cpu-per-request-hol",
            title: "Server CPU per request (light + heavy mixes)",
            caption: "Server CPU per completed request in the head-of-line scenarios, per variant: compare each offloading strategy's bar with the inline variant's to read what offloading costs in CPU here.",
            panels: vec![(
                "server CPU per request, µs".into(),
                g(
                    &has_claim(&["C3", "C4", "C5", "C6"]),
                    Source::Metric("server.cpu_us_per_request"),
                    false,
                ),
            )],
        },
        Spec {
            name: "bars-threads-burst",
            title: "OS threads around a burst of blocking calls",
            caption: "OS threads of the server before the load (baseline), at the peak, and at the end of the observation after the load (the idle period the profile sets, observe_after_s). A runtime that gave threads back shows an end bar near its baseline; one that kept them, an end bar near its peak. C7's checks decide which happened.",
            panels: vec![(
                "OS threads".into(),
                [
                    "server.threads_baseline",
                    "server.threads_peak",
                    "server.threads_end",
                ]
                .iter()
                .flat_map(|m| g(&has_claim(&["C7"]), Source::Metric(m), true))
                .collect(),
            )],
        },
        Spec {
            name: "bars-file-threads",
            title: "File reads: threads, latency, CPU",
            caption: "64 KiB reads from the page cache: the most OS threads during the window, corrected p99 latency and server CPU per request.",
            panels: vec![
                (
                    "OS threads (peak in window)".into(),
                    g(
                        &has_claim(&["C10"]),
                        Source::Metric("server.threads_in_window_max"),
                        false,
                    ),
                ),
                (
                    "corrected p99 latency".into(),
                    g(
                        &has_claim(&["C10"]),
                        Source::Metric("main.latency_us.corrected.p99"),
                        false,
                    ),
                ),
                (
                    "server CPU per request, µs".into(),
                    g(
                        &has_claim(&["C10"]),
                        Source::Metric("server.cpu_us_per_request"),
                        false,
                    ),
                ),
            ],
        },
        Spec {
            name: "bars-timer-overshoot",
            title: "Timer overshoot: response time minus requested sleep",
            caption: "Per sleep class: the uncorrected response time minus the requested sleep, median (top) and p99 (bottom) per trial, then the median over repeats. It includes a loopback round trip (tens of µs).",
            panels: vec![
                (
                    "p50 overshoot".into(),
                    g(
                        &has_claim(&["C13"]),
                        Source::Minus(
                            "main.classes.*.latency_us.uncorrected.p50",
                            "main.classes.*.spec.io_arg",
                        ),
                        false,
                    ),
                ),
                (
                    "p99 overshoot".into(),
                    g(
                        &has_claim(&["C13"]),
                        Source::Minus(
                            "main.classes.*.latency_us.uncorrected.p99",
                            "main.classes.*.spec.io_arg",
                        ),
                        false,
                    ),
                ),
            ],
        },
    ];
    // One figure per microbenchmark, one panel per kind of metric.
    let micro: Vec<&ScenarioSummary> = run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload == "micro" && !is_compile_check(s))
        .collect();
    let mut micro_specs: Vec<(String, String, Panels)> = Vec::new();
    for sc in micro {
        let mut kinds: Vec<String> = sc
            .metrics
            .keys()
            .filter_map(|m| m.rsplit('.').next().map(String::from))
            .collect();
        // The headline figures first (time and rate per operation), then the rest.
        kinds.sort_by_key(|k| {
            let rank = ["ns_per", "per_sec", "p50", "p99", "delay", "peak"]
                .iter()
                .position(|x| k.contains(x))
                .unwrap_or(9);
            (rank, k.clone())
        });
        kinds.dedup();
        let panels = kinds
            .iter()
            .map(|k| {
                let id = sc.id.clone();
                let pattern = format!("*.*.{k}");
                let groups = g(
                    &move |s: &ScenarioSummary| s.id == id,
                    Source::Metric(&pattern),
                    false,
                );
                // The ticks carry the unit; the description names the quantity.
                let desc = k.replace('_', " ");
                let desc = desc
                    .strip_suffix(" us")
                    .or_else(|| desc.strip_suffix(" ms"))
                    .unwrap_or(&desc)
                    .to_string();
                (desc, groups)
            })
            .collect();
        micro_specs.push((micro_plot_name(&sc.id), sc.title.clone(), panels));
    }
    let mut out = Vec::new();
    let all_specs = specs
        .drain(..)
        .map(|s| {
            (
                s.name.to_string(),
                s.title.to_string(),
                s.caption.to_string(),
                s.panels,
            )
        })
        .chain(micro_specs.into_iter().map(|(n, t, p)| {
            (
                n,
                t.clone(),
                format!("{t}: every case, median over processes."),
                p,
            )
        }));
    for (name, title, caption, panels) in all_specs {
        let panels: Vec<Panel> = panels
            .into_iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(desc, groups)| {
                let unit = groups
                    .first()
                    .map(|g| units::unit_of(&g.metric))
                    .unwrap_or(Unit::Plain);
                Panel { desc, unit, groups }
            })
            .collect();
        if panels.is_empty() {
            continue;
        }
        // What the whiskers of this figure are, from its own estimates.
        let cov = super::Coverage::of(
            panels
                .iter()
                .flat_map(|p| p.groups.iter().flat_map(|g| g.bars.iter().map(|b| &b.est))),
        );
        let whiskers = cov.sentence("Whiskers");
        let chart = Bars {
            title: title.clone(),
            subtitle: if cov.is_empty() {
                String::new()
            } else {
                format!(
                    "bar: median over repeats; whisker: interval of the median ({})",
                    cov.words()
                )
            },
            panels,
        };
        render(&chart, paths, &name)?;
        out.push(Figure {
            name,
            title,
            caption: format!("{caption}{whiskers}"),
            scenario: None,
            kind: "bars",
        });
    }
    Ok(out)
}
