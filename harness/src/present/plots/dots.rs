//! Dot plots on a log axis, one row per variant: head-of-line blocking
//! (light-request p99 per server variant, each repeat and the median with
//! its interval, the no-heavy baseline and the heavy job's length drawn in)
//! and the load generator's send lag against its validity limit.

use super::{
    Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, log_range, log_ticks, render,
    say, titled,
};
use crate::analyse::stats::Estimate;
use crate::analyse::summary::ScenarioSummary;
use crate::present::report::data::RunData;
use crate::present::report::units;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

pub struct Row {
    pub label: String,
    pub variant: String,
    pub style: VariantStyle,
    /// None: no valid repeat (the row says so).
    pub est: Option<Estimate>,
    /// A second value drawn hollow on the same row (baseline, or max).
    pub other: Option<f64>,
    /// Values of trials left out of the statistics (invalid), drawn as crosses.
    pub excluded: Vec<f64>,
}

pub struct RefLine {
    pub at_us: f64,
    pub label: String,
}

pub struct Dots {
    pub title: String,
    pub subtitle: String,
    pub x_desc: String,
    pub other_label: String,
    pub rows: Vec<Row>,
    /// The legend's words for the median's interval line, with its real
    /// coverage ("75 % interval").
    pub interval_label: String,
    pub refs: Vec<RefLine>,
    /// Rows per group sharing one label (send lag: variants within a scenario).
    pub group_labels: Option<Vec<(usize, usize, String)>>,
}

impl Dots {
    /// Empty rows below the last one, enough for the legend.
    fn legend_rows(&self) -> usize {
        let mut entries = 1
            + self.rows.iter().any(|r| r.other.is_some()) as usize
            + self.rows.iter().any(|r| !r.excluded.is_empty()) as usize;
        if self.group_labels.is_some() {
            let mut seen: Vec<&str> = self.rows.iter().map(|r| r.variant.as_str()).collect();
            seen.sort();
            seen.dedup();
            entries += seen.len();
        }
        ((entries * 22 + 24) as f64 / 46.0).ceil() as usize
    }
}

impl Chart for Dots {
    fn size(&self) -> (u32, u32) {
        (
            1100,
            (190 + 46 * (self.rows.len() + self.legend_rows()) as u32).max(460),
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = titled(root, &self.title, &self.subtitle)?;
        let vals = self
            .rows
            .iter()
            .flat_map(|r| {
                r.est
                    .iter()
                    .flat_map(|e| e.values.iter().copied().chain([e.lo, e.hi]))
                    .chain(r.other)
                    .chain(r.excluded.iter().copied())
                    .collect::<Vec<_>>()
            })
            .chain(self.refs.iter().map(|r| r.at_us))
            .map(|v| v.max(1.0));
        let Some((x0, x1)) = log_range(vals) else {
            return say(&area, "no valid repeats");
        };
        let n = self.rows.len();
        let bottom = -0.6 - self.legend_rows() as f64;
        let xk: Vec<f64> = log_ticks(10f64.powf(x0), 10f64.powf(x1))
            .iter()
            .map(|v| v.log10())
            .collect();
        let yk: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let labels: Vec<String> = match &self.group_labels {
            None => self.rows.iter().map(|r| r.label.clone()).collect(),
            Some(_) => vec![String::new(); n],
        };
        let longest = self
            .rows
            .iter()
            .map(|r| r.label.len())
            .chain(self.group_labels.iter().flatten().map(|g| g.2.len()))
            .max()
            .unwrap_or(8);
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .margin_right(34)
            .x_label_area_size(56)
            .y_label_area_size((longest as u32 * 9 + 24).clamp(120, 380))
            // One empty row below the last for the legend.
            .build_cartesian_2d(Axis::new(x0, x1, xk), Axis::new(bottom, n as f64 - 0.4, yk))
            .map_err(e)?;
        // Row i is drawn at y = n-1-i so the first row is on top.
        let y_of = |i: usize| (n - 1 - i) as f64;
        chart
            .configure_mesh()
            .x_desc(self.x_desc.as_str())
            .x_label_formatter(&|x| units::time_us(10f64.powf(*x)))
            .y_label_formatter(&|y| {
                let i = y.round() as i64;
                if i < 0 || i as usize >= n {
                    String::new()
                } else {
                    labels[n - 1 - i as usize].clone()
                }
            })
            .label_style(font(15))
            .axis_desc_style(font(17))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(RGBColor(0xE0, 0xE0, 0xE0))
            .draw()
            .map_err(e)?;
        if let Some(groups) = &self.group_labels {
            for (gi, (first, last, label)) in groups.iter().enumerate() {
                let y = (y_of(*first) + y_of(*last)) / 2.0;
                let (px, py) = chart.backend_coord(&(x0, y));
                if gi % 2 == 1 {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, y_of(*last) - 0.5), (x1, y_of(*first) + 0.5)],
                            RGBColor(0xF4, 0xF4, 0xF4).filled(),
                        )))
                        .map_err(e)?;
                }
                // Group labels sit left of the axis, in the area's own pixels.
                let base = area.get_base_pixel();
                area.draw(&Text::new(
                    label.clone(),
                    (px - base.0 - 8, py - base.1),
                    font(15).pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(e)?;
            }
        }
        for r in &self.refs {
            let x = r.at_us.log10();
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, bottom), (x, n as f64 - 0.4)],
                    8,
                    6,
                    RGBColor(0x55, 0x55, 0x55).stroke_width(2),
                ))
                .map_err(e)?;
            // The label goes on the side of the line with more room.
            let right_half = x > (x0 + x1) / 2.0;
            let (label, hpos) = if right_half {
                (format!("{} ", r.label.trim()), HPos::Right)
            } else {
                (format!(" {}", r.label.trim()), HPos::Left)
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (x, n as f64 - 0.45),
                    font(15)
                        .color(&RGBColor(0x33, 0x33, 0x33))
                        .pos(Pos::new(hpos, VPos::Top)),
                )))
                .map_err(e)?;
        }
        // Colours name the variants when rows are grouped by scenario.
        if self.group_labels.is_some() {
            let mut seen: Vec<&str> = Vec::new();
            for r in &self.rows {
                if seen.contains(&r.variant.as_str()) {
                    continue;
                }
                seen.push(&r.variant);
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .map_err(e)?
                    .label(r.variant.clone())
                    .legend(super::legend_entry(r.style));
            }
        }
        let mut first = true;
        let mut excluded_legend = false;
        for (i, r) in self.rows.iter().enumerate() {
            let y = y_of(i);
            let c = r.style.color;
            let lg = |v: f64| v.max(1.0).log10();
            if !r.excluded.is_empty() {
                let s = chart
                    .draw_series(r.excluded.iter().map(|v| {
                        super::marker(
                            (lg(*v), y + 0.22),
                            super::Marker::Cross,
                            RGBColor(0xB0, 0x00, 0x20),
                            4,
                            true,
                        )
                    }))
                    .map_err(e)?;
                if !excluded_legend {
                    excluded_legend = true;
                    s.label("invalid trial (not in the statistics)")
                        .legend(|(x, y)| {
                            super::marker(
                                (x + 11, y),
                                super::Marker::Cross,
                                RGBColor(0xB0, 0x00, 0x20),
                                4,
                                true,
                            )
                        });
                }
            }
            let Some(est) = &r.est else {
                chart
                    .draw_series(std::iter::once(Text::new(
                        // Grouped rows have no axis label: name the variant here.
                        if self.group_labels.is_some() {
                            format!("{}: no valid repeat", r.variant)
                        } else {
                            "no valid repeat".to_string()
                        },
                        (x0 + (x1 - x0) * 0.01, y),
                        font(15)
                            .color(&if self.group_labels.is_some() {
                                c
                            } else {
                                RGBColor(0x88, 0x88, 0x88)
                            })
                            .pos(Pos::new(HPos::Left, VPos::Center)),
                    )))
                    .map_err(e)?;
                continue;
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(lg(est.lo), y), (lg(est.hi), y)],
                    c.stroke_width(3),
                )))
                .map_err(e)?;
            chart
                .draw_series(
                    est.values
                        .iter()
                        .map(|v| Circle::new((lg(*v), y + 0.22), 4, c.stroke_width(2))),
                )
                .map_err(e)?;
            if let Some(o) = r.other {
                let s = chart
                    .draw_series(std::iter::once(super::marker(
                        (lg(o), y - 0.22),
                        super::Marker::Diamond,
                        RGBColor(0x66, 0x66, 0x66),
                        6,
                        false,
                    )))
                    .map_err(e)?;
                if first {
                    let label = self.other_label.clone();
                    s.label(label).legend(|(x, y)| {
                        super::marker(
                            (x + 11, y),
                            super::Marker::Diamond,
                            RGBColor(0x66, 0x66, 0x66),
                            6,
                            false,
                        )
                    });
                }
            }
            let s = chart
                .draw_series(std::iter::once(super::marker(
                    (lg(est.median), y),
                    r.style.marker,
                    c,
                    7,
                    true,
                )))
                .map_err(e)?;
            if first {
                s.label(format!(
                    "median, {} (line), each repeat (rings)",
                    self.interval_label
                ))
                .legend(|(x, y)| {
                    super::marker(
                        (x + 11, y),
                        super::Marker::Circle,
                        RGBColor(0x33, 0x33, 0x33),
                        6,
                        true,
                    )
                });
                first = false;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.92))
            .border_style(RGBColor(0xAA, 0xAA, 0xAA))
            .label_font(font(15))
            .draw()
            .map_err(e)?;
        Ok(())
    }
}

/// "75 % interval" (or "interval" when nothing was measured).
fn interval_label(cov: &super::Coverage) -> String {
    if cov.is_empty() {
        "interval".into()
    } else {
        format!("{} interval", cov.short())
    }
}

pub fn hol_plot_name(scenario: &str) -> String {
    format!("hol-{scenario}")
}

const LIGHT_P99: &str = "main.classes.light.latency_us.corrected.p99";
const PROBE_P99: &str = "probe.latency_us.corrected.p99";

/// A scenario whose only class is `light`: the no-heavy baseline.
fn is_light_only(s: &ScenarioSummary) -> bool {
    s.metrics.contains_key(LIGHT_P99)
        && !s
            .metrics
            .keys()
            .any(|m| m.starts_with("main.classes.") && !m.starts_with("main.classes.light."))
}

/// The heavy classes of a mix and the time each asks the server to spend.
pub fn heavy_jobs(doc: &Value, sha_rounds_per_ms: Option<f64>) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (name, c) in doc
        .get("classes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let spec = c.get("spec");
        let g = |k: &str| spec.and_then(|s| s.get(k));
        let rounds = g("cpu_rounds").and_then(Value::as_f64).unwrap_or(0.0);
        let io = g("io").and_then(Value::as_str).unwrap_or("none");
        let io_arg = g("io_arg").and_then(Value::as_f64).unwrap_or(0.0);
        let mut us = 0.0;
        if rounds > 0.0
            && let Some(r) = sha_rounds_per_ms.filter(|r| *r > 0.0)
        {
            us += rounds / r * 1e3;
        }
        if io == "block" || io == "sleep" {
            us += io_arg;
        }
        if us > 0.0 {
            out.push((name.clone(), us));
        }
    }
    out
}

/// The baseline variant for `v`: itself, else its language's plain variant.
fn baseline_variant(base: &ScenarioSummary, v: &str) -> Option<String> {
    if base.variants.iter().any(|x| x == v) {
        return Some(v.to_string());
    }
    let plain = if v.starts_with("go") { "go" } else { "rust" };
    base.variants
        .iter()
        .any(|x| x == plain)
        .then(|| plain.to_string())
}

pub fn render_hol(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let base = run.summary.scenarios.iter().find(|s| is_light_only(s));
    let rounds = run.meta_f64("sha_rounds_per_ms");
    for sc in run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload != "micro")
    {
        let (metric, is_probe) = if sc.metrics.contains_key(LIGHT_P99) && !is_light_only(sc) {
            (LIGHT_P99, false)
        } else if sc.metrics.contains_key(PROBE_P99) {
            (PROBE_P99, true)
        } else {
            continue;
        };
        let per = &sc.metrics[metric];
        let rows: Vec<Row> = sc
            .variants
            .iter()
            .map(|v| {
                let est = per.get(v).cloned();
                let other = if is_probe {
                    None
                } else {
                    base.and_then(|b| b.metrics.get(LIGHT_P99)?.get(&baseline_variant(b, v)?))
                        .map(|e| e.median)
                };
                Row {
                    label: v.clone(),
                    variant: v.clone(),
                    style: palette.style(v),
                    est,
                    other,
                    excluded: Vec::new(),
                }
            })
            .collect();
        // The job's rounds were sized per server language (each hashes at
        // its own speed): read them with that language's rate.
        let first = run.trials.iter().find(|t| t.scenario == sc.id);
        let doc = first.and_then(|t| t.clients.first()?.document.as_ref());
        let rounds = first
            .and_then(|t| {
                let lang = match t.language {
                    crate::config::profile::Language::Go => "go",
                    crate::config::profile::Language::Rust => "rust",
                };
                run.meta
                    .as_ref()?
                    .pointer(&format!("/sha_rounds_per_ms_by_language/{lang}"))?
                    .as_f64()
            })
            .or(rounds);
        let refs: Vec<RefLine> = doc
            .map(|d| heavy_jobs(d, rounds))
            .unwrap_or_default()
            .into_iter()
            .map(|(name, us)| RefLine {
                at_us: us,
                label: format!(" {name} job ≈ {}", units::time_us(us)),
            })
            .collect();
        let name = hol_plot_name(&sc.id);
        let cov = super::Coverage::of(rows.iter().filter_map(|r| r.est.as_ref()));
        let (title, x_desc, caption) = if is_probe {
            (
                format!("Probe latency next to an always-ready stream — {}", sc.id),
                "probe p99, corrected (log scale)".to_string(),
                format!(
                    "{}. Each row is a server variant: corrected p99 of the 64 B probe requests, median over repeats (filled marker) with the interval of the median (line) and each repeat (rings); a repeat whose p99 the load generator does not vouch for (its own lag could have made it) is left out and named under Problems.{}",
                    sc.title,
                    cov.sentence("Line")
                ),
            )
        } else {
            (
                format!("Head-of-line blocking — {}", sc.id),
                "light-request p99, corrected (log scale)".to_string(),
                format!(
                    "{}. Each row is a server variant: corrected p99 of the light requests, median over repeats (filled marker), interval of the median (line), each repeat (rings){}; a repeat whose p99 the load generator does not vouch for is left out and named under Problems. Dashed: how long a heavy job asks the server to work (from the mix and the SHA-256 calibration); the heavy job's measured service time per variant is in the spectrum of its class.{}",
                    sc.title,
                    base.map(|b| format!(
                        "; hollow diamond: the same variant's light p99 in {} (no heavy jobs)",
                        b.id
                    ))
                    .unwrap_or_default(),
                    cov.sentence("Line")
                ),
            )
        };
        let chart = Dots {
            title: title.clone(),
            subtitle: sc.title.clone(),
            x_desc,
            other_label: base
                .map(|b| format!("baseline ({})", b.id))
                .unwrap_or_default(),
            interval_label: interval_label(&cov),
            rows,
            refs,
            group_labels: None,
        };
        render(&chart, paths, &name)?;
        out.push(Figure {
            name,
            title,
            caption,
            scenario: Some(sc.id.clone()),
            kind: "hol",
        });
    }
    Ok(out)
}

pub const SEND_LAG_LIMIT_US: f64 = 1000.0;

pub fn render_send_lag(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    // From the trial files, not the summary: the invalid trials (where the
    // generator may have fallen behind) are the point of this plot.
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    // The generator's own error in a latency: how late it sent. (How late
    // it read a response is not in the latency: responses carry the
    // kernel's receive timestamp.)
    let lag = |t: &crate::run::trial::TrialRecord, c: &str, k: &str| {
        crate::present::report::data::client_doc(t, c)?
            .get("send_lag_us")?
            .get(k)?
            .as_f64()
    };
    for sc in run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload != "micro")
    {
        let mut clients: Vec<String> = Vec::new();
        for t in run.trials.iter().filter(|t| t.scenario == sc.id) {
            for c in t.clients.iter().filter(|c| c.document.is_some()) {
                if !clients.contains(&c.name) {
                    clients.push(c.name.clone());
                }
            }
        }
        for c in clients {
            let first = rows.len();
            for v in &sc.variants {
                let trials: Vec<&crate::run::trial::TrialRecord> =
                    run.trials_of(&sc.id, v).collect();
                let ok: Vec<f64> = trials
                    .iter()
                    .filter(|t| t.status == crate::run::trial::Status::Ok)
                    .filter_map(|t| lag(t, &c, "p99"))
                    .collect();
                let excluded: Vec<f64> = trials
                    .iter()
                    .filter(|t| t.status != crate::run::trial::Status::Ok)
                    .filter_map(|t| lag(t, &c, "p99"))
                    .collect();
                if ok.is_empty() && excluded.is_empty() {
                    continue;
                }
                let maxes: Vec<f64> = trials
                    .iter()
                    .filter(|t| t.status == crate::run::trial::Status::Ok)
                    .filter_map(|t| lag(t, &c, "max"))
                    .collect();
                rows.push(Row {
                    label: v.clone(),
                    variant: v.clone(),
                    style: palette.style(v),
                    est: crate::analyse::stats::estimate(&ok, crate::analyse::summary::CONFIDENCE),
                    other: (!maxes.is_empty()).then(|| crate::analyse::stats::median(&maxes)),
                    excluded,
                });
            }
            if rows.len() > first {
                let label = if c == "main" {
                    sc.id.clone()
                } else {
                    format!("{} ({c})", sc.id)
                };
                groups.push((first, rows.len() - 1, label));
            }
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let name = "send-lag".to_string();
    let title = "Load generator's own error: send lag (p99)".to_string();
    let cov = super::Coverage::of(rows.iter().filter_map(|r| r.est.as_ref()));
    let chart = Dots {
        title: title.clone(),
        subtitle:
            "how late the generator sent each request against its own schedule — the instrument's error"
                .into(),
        x_desc: "send lag p99 (log scale; values under 1 µs drawn at 1 µs)".into(),
        other_label: "send lag max (median over repeats)".into(),
        interval_label: interval_label(&cov),
        rows,
        refs: vec![RefLine {
            at_us: SEND_LAG_LIMIT_US,
            label: " validity limit (send lag p99 > 1 ms, or > one inter-send gap under 1,000 req/s = invalid run)".into(),
        }],
        group_labels: Some(groups),
    };
    render(&chart, paths, &name)?;
    Ok(vec![Figure {
        name,
        title,
        caption: format!(
            "Per scenario and load-generator client, each server variant's send lag p99 (how long after its intended time a request was written), median over valid repeats with its interval and each valid repeat (rings); red crosses: trials whose measurement was invalid (left out of every timing; a thread or RSS count of a trial invalid only because requests went out late still counts); hollow diamond: the median of the valid repeats' maxima. A run whose send lag p99 exceeds 1 ms (or one inter-send gap of its schedule, where that is longer: 2.5 ms at 400 req/s) is invalid: the generator held back more than the one request a shorter lag delays, so the server saw a burst the schedule did not ask for. A percentile at which the send lag exceeds a tenth of the latency (or 25 µs) is not vouched for: the checks use it as a bracket between the latency counted from the actual send and from the intended one. How late the generator read each response (receive lag) is recorded in every document but is not in any latency: a response is complete at the kernel's receive timestamp. Closed-loop clients send when a response frees a slot, so their lag is only the generator's own delay.{}",
            cov.sentence("Line")
        ),
        scenario: None,
        kind: "send-lag",
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn heavy_jobs_from_the_mix() {
        let doc = json!({"classes": {
            "light": {"spec": {"cpu_rounds": 0, "io": "none", "io_arg": 0}},
            "heavy": {"spec": {"cpu_rounds": 5000, "io": "none", "io_arg": 0}},
            "blocking": {"spec": {"cpu_rounds": 0, "io": "block", "io_arg": 10000}}
        }});
        let mut j = heavy_jobs(&doc, Some(500.0));
        j.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            j,
            vec![("blocking".into(), 10_000.0), ("heavy".into(), 10_000.0)]
        );
        assert_eq!(heavy_jobs(&doc, None).len(), 1);
    }
}
