//! Timelines on one shared time axis (seconds since the load began): the
//! load generator's per-second p99 and throughput, then the server's CPU,
//! resident memory and OS threads from the 100 ms `/proc` samples. GC
//! pauses, a stalled worker, blocking-pool growth and its shrink after the
//! keep-alive all show here. One figure per scenario (one repeat of every
//! variant overlaid) and one per trial under `plots/trials/`.

use super::{
    Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, log_range, log_ticks, render,
    say,
};
use crate::analyse::metrics;
use crate::present::report::data::RunData;
use crate::present::report::units;
use crate::run::trial::TrialRecord;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

/// One trial's series, times in seconds since its load began.
pub struct Track {
    pub label: String,
    pub style: VariantStyle,
    pub p99_us: Vec<(f64, f64)>,
    pub rps: Vec<(f64, f64)>,
    pub cpu_pct: Vec<(f64, f64)>,
    pub rss_mib: Vec<(f64, f64)>,
    pub threads: Vec<(f64, f64)>,
    /// Seconds after the load began when it ended.
    pub load_end_s: Option<f64>,
}

/// A trial's tracks: the first client's intervals, the server's samples.
pub fn track(t: &TrialRecord, style: VariantStyle, label: String) -> Track {
    let start = t.load_start_ms.unwrap_or(0.0);
    let mut p99 = Vec::new();
    let mut rps = Vec::new();
    if let Some(c) = t.clients.first()
        && let Some(doc) = &c.document
    {
        for (w, part) in metrics::document_windows(doc, c.launched_ms, t.origin_unix_ms) {
            for iv in part
                .get("intervals")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ts = iv.get("t_s").and_then(Value::as_f64).unwrap_or(0.0);
                // Centre of the second, on the trial's time axis.
                let x = (w.start_ms + (ts + 0.5) * 1e3 - start) / 1e3;
                if let Some(r) = iv.get("achieved_rps").and_then(Value::as_f64) {
                    rps.push((x, r));
                }
                if let Some(p) = iv
                    .get("p99_us")
                    .and_then(Value::as_f64)
                    .filter(|p| *p > 0.0)
                {
                    p99.push((x, p));
                }
            }
        }
    }
    let all = &t.server_samples;
    let x = |ms: f64| (ms - start) / 1e3;
    // CPU over ±2 samples (~400 ms) that read every thread (where the
    // sampler thinned its per-thread passes, the span is wider).
    let s = crate::run::sampler::full_only(all);
    let cpu_pct = (0..s.len())
        .filter_map(|i| {
            let (a, b) = (&s[i.saturating_sub(2)], &s[(i + 2).min(s.len() - 1)]);
            let dt = b.t_ms - a.t_ms;
            (dt > 0.0).then(|| {
                (
                    x(s[i].t_ms),
                    (b.cpu_us().saturating_sub(a.cpu_us())) as f64 / (dt * 1e3) * 100.0,
                )
            })
        })
        .collect();
    Track {
        label,
        style,
        p99_us: p99,
        rps,
        cpu_pct,
        rss_mib: all
            .iter()
            .map(|p| (x(p.t_ms), p.rss_bytes as f64 / (1u64 << 20) as f64))
            .collect(),
        threads: all.iter().map(|p| (x(p.t_ms), p.threads as f64)).collect(),
        load_end_s: t.load_end_ms.map(x),
    }
}

pub struct Timeline {
    pub title: String,
    pub subtitle: String,
    pub client: String,
    /// "server", or "process" for a microbenchmark.
    pub subject: String,
    pub tracks: Vec<Track>,
}

type Getter = fn(&Track) -> &Vec<(f64, f64)>;

impl Timeline {
    /// (description, series, log axis, mark points) of every panel some track has data for.
    fn panels(&self) -> Vec<(String, Getter, bool, bool)> {
        let all: Vec<(String, Getter, bool, bool)> = vec![
            (
                format!("p99 per second ({})", self.client),
                |t| &t.p99_us,
                true,
                true,
            ),
            (
                format!("throughput ({}), req/s", self.client),
                |t| &t.rps,
                false,
                true,
            ),
            (
                format!("{} CPU, % of one CPU", self.subject),
                |t| &t.cpu_pct,
                false,
                false,
            ),
            (
                format!("{} RSS, MiB", self.subject),
                |t| &t.rss_mib,
                false,
                false,
            ),
            (
                format!("{} OS threads", self.subject),
                |t| &t.threads,
                false,
                false,
            ),
        ];
        all.into_iter()
            .filter(|p| self.tracks.iter().any(|t| !(p.1)(t).is_empty()))
            .collect()
    }
}

impl Chart for Timeline {
    fn size(&self) -> (u32, u32) {
        (1240, 150 + 200 * self.panels().len().max(1) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let variants = self.tracks.iter().map(|t| (t.label.clone(), t.style));
        let area = super::framed(root, &self.title, &self.subtitle, variants)?;
        let all = |f: Getter| {
            self.tracks
                .iter()
                .flat_map(move |t| f(t).iter().copied())
                .collect::<Vec<_>>()
        };
        let xs: Vec<f64> = [all(|t| &t.rps), all(|t| &t.threads), all(|t| &t.cpu_pct)]
            .iter()
            .flatten()
            .map(|p| p.0)
            .collect();
        if xs.is_empty() {
            return say(
                &area,
                "no samples and no per-second intervals in these trials",
            );
        }
        let x0 = xs.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
        let x1 = xs
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
            .max(x0 + 1.0);
        let panels = self.panels();
        let n = panels.len();
        let areas = area.split_evenly((n, 1));
        for (i, ((desc, get, log, marks), a)) in panels.into_iter().zip(areas.iter()).enumerate() {
            let last = i + 1 == n;
            let pts = all(get);
            let mut b = ChartBuilder::on(a);
            b.margin_left(16)
                .margin_right(24)
                .margin_top(6)
                .margin_bottom(4)
                .x_label_area_size(if last { 50 } else { 18 })
                .y_label_area_size(96);
            if log {
                let Some((y0, y1)) = log_range(pts.iter().map(|p| p.1)) else {
                    say(a, "no per-second latency in these trials")?;
                    continue;
                };
                let yk: Vec<f64> = log_ticks(10f64.powf(y0), 10f64.powf(y1))
                    .iter()
                    .map(|v| v.log10())
                    .collect();
                let mut chart = b
                    .build_cartesian_2d(x0..x1, Axis::new(y0, y1, yk))
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .y_desc(desc)
                    .x_label_formatter(&|x| {
                        if last {
                            format!("{} s", units::sig(*x))
                        } else {
                            String::new()
                        }
                    })
                    .y_label_formatter(&|y| units::time_us(10f64.powf(*y)))
                    .label_style(font(14))
                    .axis_desc_style(font(15))
                    .light_line_style(WHITE.mix(0.0))
                    .draw()
                    .map_err(e)?;
                for t in &self.tracks {
                    let s = chart
                        .draw_series(LineSeries::new(
                            get(t).iter().map(|p| (p.0, p.1.log10())),
                            t.style.color.stroke_width(2),
                        ))
                        .map_err(e)?;
                    s.label(t.label.clone())
                        .legend(super::legend_entry(t.style));
                    chart
                        .draw_series(get(t).iter().map(|p| {
                            super::marker(
                                (p.0, p.1.log10()),
                                t.style.marker,
                                t.style.color,
                                4,
                                true,
                            )
                        }))
                        .map_err(e)?;
                }
                end_line(&mut chart, &self.tracks, y0, y1)?;
            } else {
                let (y0, y1) = super::lin_range(pts.iter().map(|p| p.1));
                let mut chart = b.build_cartesian_2d(x0..x1, y0..y1.max(1.0)).map_err(e)?;
                chart
                    .configure_mesh()
                    .y_desc(desc)
                    .x_desc(if !last {
                        ""
                    } else if self.tracks.iter().any(|t| t.load_end_s.is_some()) {
                        "seconds since the load began (dashed: load ends)"
                    } else {
                        "seconds since the start"
                    })
                    .x_label_formatter(&|x| {
                        if last {
                            format!("{} s", units::sig(*x))
                        } else {
                            String::new()
                        }
                    })
                    .y_label_formatter(&|y| units::si(*y))
                    .y_labels(5)
                    .label_style(font(14))
                    .axis_desc_style(font(15))
                    .light_line_style(WHITE.mix(0.0))
                    .draw()
                    .map_err(e)?;
                for t in &self.tracks {
                    chart
                        .draw_series(LineSeries::new(
                            get(t).iter().copied(),
                            t.style.color.stroke_width(2),
                        ))
                        .map_err(e)?;
                    // Per-second points (throughput) are few: mark each one.
                    if marks {
                        chart
                            .draw_series(
                                get(t).iter().map(|p| {
                                    super::marker(*p, t.style.marker, t.style.color, 4, true)
                                }),
                            )
                            .map_err(e)?;
                    }
                }
                end_line(&mut chart, &self.tracks, y0, y1.max(1.0))?;
            }
        }
        Ok(())
    }
}

fn end_line<
    DB: DrawingBackend,
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
>(
    chart: &mut ChartContext<DB, Cartesian2d<X, Y>>,
    tracks: &[Track],
    y0: f64,
    y1: f64,
) -> Result<(), String> {
    if let Some(end) = tracks.iter().filter_map(|t| t.load_end_s).reduce(f64::max) {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(end, y0), (end, y1)],
                6,
                5,
                RGBColor(0x77, 0x77, 0x77).stroke_width(1),
            ))
            .map_err(e)?;
    }
    Ok(())
}

pub fn scenario_plot_name(scenario: &str) -> String {
    format!("timeline-{scenario}")
}

pub fn trial_plot_name(trial_id: &str) -> String {
    format!("trials/timeline--{trial_id}")
}

pub fn render_all(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for sc in run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload != "micro")
    {
        let reps: Vec<&TrialRecord> = sc
            .variants
            .iter()
            .filter_map(|v| run.representative(&sc.id, v))
            .collect();
        if reps.is_empty() {
            continue;
        }
        let client = reps[0]
            .clients
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "main".into());
        let tracks = reps
            .iter()
            .map(|t| {
                track(
                    t,
                    palette.style(&t.variant),
                    format!("{} (r{})", t.variant, t.repeat),
                )
            })
            .collect();
        let name = scenario_plot_name(&sc.id);
        let title = format!("Timeline — {}", sc.id);
        let chart = Timeline {
            title: title.clone(),
            subtitle: sc.title.clone(),
            client: client.clone(),
            subject: "server".into(),
            tracks,
        };
        render(&chart, paths, &name)?;
        out.push(Figure {
            name,
            title,
            caption: format!(
                "{}. One repeat of each variant (the first valid one) on a shared time axis: the load generator's per-second corrected p99 and throughput (client {client}), the server's CPU (a ~400 ms moving window of /proc CPU time), resident memory and OS threads sampled every 100 ms. Every trial has its own timeline under plots/trials/.",
                sc.title
            ),
            scenario: Some(sc.id.clone()),
            kind: "timeline",
        });
        for t in run.trials.iter().filter(|t| t.scenario == sc.id) {
            let name = trial_plot_name(&t.trial_id);
            let client = t
                .clients
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| "main".into());
            let chart = Timeline {
                title: format!("Timeline — {}", t.trial_id),
                subtitle: format!("{} — trial {}", sc.title, super::status_word(t.status)),
                client,
                subject: "server".into(),
                tracks: vec![track(t, palette.style(&t.variant), t.variant.clone())],
            };
            render(&chart, paths, &name)?;
            out.push(Figure {
                name,
                title: chart.title.clone(),
                caption: String::new(),
                scenario: Some(sc.id.clone()),
                kind: "trial-timeline",
            });
        }
    }
    // Microbenchmarks that record their own timeline (blocking-burst: OS
    // threads and RSS of the child process that ran the burst).
    for sc in run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload == "micro")
    {
        let mut tracks = Vec::new();
        for v in &sc.variants {
            let Some(t) = run
                .trials_of(&sc.id, v)
                .find(|t| t.status == crate::run::trial::Status::Ok && micro_timeline(t).is_some())
            else {
                continue;
            };
            if let Some(tr) = micro_timeline(t) {
                tracks.push(Track {
                    label: format!("{v} (r{}, first burst)", t.repeat),
                    style: palette.style(v),
                    ..tr
                });
            }
        }
        if tracks.is_empty() {
            continue;
        }
        let name = scenario_plot_name(&sc.id);
        let title = format!("Timeline — {}", sc.id);
        let chart = Timeline {
            title: title.clone(),
            subtitle: sc.title.clone(),
            client: String::new(),
            subject: "process".into(),
            tracks,
        };
        render(&chart, paths, &name)?;
        out.push(Figure {
            name,
            title,
            caption: format!(
                "{}. The benchmark's own samples of the process that ran the burst (its first measured burst; the process of each repeat is fresh): OS threads and resident memory from the burst's start through the idle period, one line per language. Read the thread panel for how far each runtime's count rises during the burst and whether, and when, it falls back during the idle period{}; C7's checks turn these counts into its verdict.",
                sc.title,
                keep_alive_note(run, &sc.id)
            ),
            scenario: Some(sc.id.clone()),
            kind: "timeline",
        });
    }
    Ok(out)
}

/// tokio's configured keep-alive as the Rust program recorded it (a
/// setting, not a result): " (tokio's configured blocking keep-alive:
/// 10 s)".
fn keep_alive_note(run: &RunData, scenario: &str) -> String {
    run.trials
        .iter()
        .filter(|t| t.scenario == scenario && t.language == crate::config::profile::Language::Rust)
        .find_map(|t| {
            t.server
                .config
                .as_ref()?
                .get("blocking_keep_alive_ms")?
                .as_f64()
        })
        .map(|ms| {
            format!(
                " (tokio's configured blocking-thread keep-alive: {})",
                units::time_us(ms * 1e3)
            )
        })
        .unwrap_or_default()
}

/// The first measured burst's samples from a microbenchmark document's
/// `timeline` (t_ms from the burst's start).
fn micro_timeline(t: &TrialRecord) -> Option<Track> {
    let tl = t.micro_document.as_ref()?.get("timeline")?.as_array()?;
    let first: Vec<&Value> = tl
        .iter()
        .filter(|p| p.get("repeat").and_then(Value::as_u64).unwrap_or(0) == 0)
        .collect();
    if first.is_empty() {
        return None;
    }
    let pt = |p: &Value, k: &str| Some((p.get("t_ms")?.as_f64()? / 1e3, p.get(k)?.as_f64()?));
    Some(Track {
        label: String::new(),
        style: super::VariantStyle {
            color: BLACK,
            marker: super::Marker::Circle,
            language: t.language,
        },
        p99_us: Vec::new(),
        rps: Vec::new(),
        cpu_pct: Vec::new(),
        rss_mib: first
            .iter()
            .filter_map(|p| pt(p, "rss_bytes"))
            .map(|(x, y)| (x, y / (1u64 << 20) as f64))
            .collect(),
        threads: first.iter().filter_map(|p| pt(p, "os_threads")).collect(),
        load_end_s: None,
    })
}
