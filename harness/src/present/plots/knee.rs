//! Latency against achieved throughput over an open-loop scenario's rate
//! steps: p50, p99 and p99.9 per variant, medians over repeats with their
//! intervals, and each variant's closed-loop capacity as a vertical line —
//! the knee where a runtime saturates.

use super::{
    Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, log_range, log_ticks, render,
    say, titled,
};
use crate::analyse::stats::Estimate;
use crate::present::report::data::RunData;
use crate::present::report::units;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

pub const PERCENTILES: &[(&str, &str, super::Marker)] = &[
    ("p50", "p50", super::Marker::Circle),
    ("p99", "p99", super::Marker::Triangle),
    ("p999", "p99.9", super::Marker::Square),
];

pub struct Curve {
    pub variant: String,
    pub style: VariantStyle,
    /// Per percentile (index into PERCENTILES): (achieved req/s, latency
    /// estimate in µs, trusted). A percentile the load generator does not
    /// vouch for (its own lag could have made it) is drawn hollow.
    pub points: Vec<Vec<(f64, Estimate, bool)>>,
    /// Achieved req/s of the steps where the server was overloaded (its
    /// backlog grew): marked, at the rate it achieved.
    pub overloaded_at: Vec<f64>,
    pub capacity_rps: Option<f64>,
}

pub struct Knee {
    pub title: String,
    pub subtitle: String,
    pub curves: Vec<Curve>,
    /// The capacity runs were limited by the load generator, not the server.
    pub client_bound: bool,
}

impl Chart for Knee {
    fn size(&self) -> (u32, u32) {
        (1240, 680)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = titled(root, &self.title, &self.subtitle)?;
        let (area, side) = super::with_legend_column(&area);
        let mut items: Vec<super::LegendItem> = self
            .curves
            .iter()
            .map(|c| super::LegendItem::variant(c.variant.clone(), c.style))
            .collect();
        items.extend(
            PERCENTILES
                .iter()
                .map(|(_, label, m)| super::LegendItem::glyph(*label, *m, true)),
        );
        super::draw_legend(&side, &items, 40)?;
        let lat = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().flatten().flat_map(|(_, e, _)| [e.lo, e.hi]));
        let Some((y0, y1)) = log_range(lat) else {
            return say(&area, "no rate step with valid repeats");
        };
        let x_hi = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().flatten().map(|p| p.0).chain(c.capacity_rps))
            .fold(0.0, f64::max)
            * 1.08;
        let yk: Vec<f64> = log_ticks(10f64.powf(y0), 10f64.powf(y1))
            .iter()
            .map(|v| v.log10())
            .collect();
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(86)
            .build_cartesian_2d(0f64..x_hi.max(1.0), Axis::new(y0, y1, yk))
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("achieved throughput (req/s)")
            .y_desc("corrected latency (log scale)")
            .x_label_formatter(&|x| units::si(*x))
            .y_label_formatter(&|y| units::time_us(10f64.powf(*y)))
            .label_style(font(16))
            .axis_desc_style(font(18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .draw()
            .map_err(e)?;
        for (idx, c) in self.curves.iter().enumerate() {
            let st = c.style;
            if let Some(cap) = c.capacity_rps {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(cap, y0), (cap, y1)],
                        8,
                        6,
                        st.color.stroke_width(2),
                    ))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!(
                            "{} capacity{}",
                            c.variant,
                            if self.client_bound {
                                " (client-bound)"
                            } else {
                                ""
                            }
                        ),
                        // One row per variant: lines close together must not
                        // print their labels over each other.
                        (cap, y1 - (y1 - y0) * (0.03 + 0.06 * idx as f64)),
                        font(14)
                            .color(&st.color)
                            .pos(plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Right,
                                plotters::style::text_anchor::VPos::Top,
                            )),
                    )))
                    .map_err(e)?;
            }
            for (i, pts) in c.points.iter().enumerate() {
                let line: Vec<(f64, f64)> = pts
                    .iter()
                    .map(|(x, est, _)| (*x, est.median.max(0.001).log10()))
                    .collect();
                let s = chart
                    .draw_series(LineSeries::new(
                        line.clone(),
                        st.color.stroke_width(if i == 0 { 3 } else { 2 }),
                    ))
                    .map_err(e)?;
                if i == 0 {
                    s.label(c.variant.clone()).legend(super::legend_entry(st));
                }
                for (x, est, _) in pts {
                    let (lo, hi) = (est.lo.max(0.001).log10(), est.hi.max(0.001).log10());
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(*x, lo), (*x, hi)],
                            st.color.stroke_width(2),
                        )))
                        .map_err(e)?;
                }
                chart
                    .draw_series(line.into_iter().zip(pts).map(|(p, (_, _, trusted))| {
                        super::marker(p, PERCENTILES[i].2, st.color, 6, *trusted)
                    }))
                    .map_err(e)?;
            }
            for x in &c.overloaded_at {
                chart
                    .draw_series(std::iter::once(Text::new(
                        "overloaded",
                        (*x, y0 + (y1 - y0) * 0.04),
                        font(13)
                            .color(&st.color)
                            .pos(plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Center,
                                plotters::style::text_anchor::VPos::Bottom,
                            )),
                    )))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(super::marker(
                        (*x, y0 + (y1 - y0) * 0.02),
                        super::Marker::Cross,
                        st.color,
                        6,
                        true,
                    )))
                    .map_err(e)?;
            }
        }
        Ok(())
    }
}

pub fn plot_name(scenario: &str) -> String {
    format!("knee-{scenario}")
}

pub fn render_all(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for sc in run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload != "micro")
    {
        let Some(first) = run.trials.iter().find(|t| {
            t.scenario == sc.id && t.clients.first().is_some_and(|c| c.document.is_some())
        }) else {
            continue;
        };
        let client = &first.clients[0];
        let steps = client
            .document
            .as_ref()
            .and_then(|d| d.get("steps"))
            .and_then(|s| s.as_array())
            .map(|a| a.len())
            .unwrap_or(0);
        if steps == 0 {
            continue;
        }
        // The closed-loop scenario the steps' rates came from.
        let cap_scenario = run.profile_scenario(&sc.id).and_then(|p| {
            p.get("client")?
                .as_array()?
                .first()?
                .get("of_capacity")?
                .as_str()
                .map(String::from)
        });
        let caps = cap_scenario
            .as_deref()
            .and_then(|id| run.scenario(id))
            .and_then(|s| s.capacity_rps.clone())
            .unwrap_or_default();
        let mut curves = Vec::new();
        for v in &sc.variants {
            let trials: Vec<&crate::run::trial::TrialRecord> = run
                .trials
                .iter()
                .filter(|t| {
                    t.scenario == sc.id
                        && &t.variant == v
                        && t.status == crate::run::trial::Status::Ok
                })
                .collect();
            let mut points = vec![Vec::new(); PERCENTILES.len()];
            let mut overloaded_at = Vec::new();
            for k in 1..=steps {
                let step = format!("{}.step{k}", client.name);
                // Per trial, from its own metrics: a dropped step leaves
                // no point; an untrusted percentile a hollow one.
                let kept = |t: &&&crate::run::trial::TrialRecord, m: &str| {
                    !t.measurement
                        .dropped
                        .iter()
                        .any(|d| d.prefix.trim_end_matches('.') == step)
                        && !t.measurement.untrusted.iter().any(|u| u == m)
                };
                let xs: Vec<f64> = trials
                    .iter()
                    .filter(|t| kept(t, ""))
                    .filter_map(|t| t.metrics.get(&format!("{step}.achieved_rps")).copied())
                    .collect();
                if xs.is_empty() {
                    continue;
                }
                let x = crate::analyse::stats::median(&xs);
                let over = trials
                    .iter()
                    .filter(|t| kept(t, ""))
                    .filter(|t| {
                        t.clients[0]
                            .document
                            .as_ref()
                            .and_then(|d| d.pointer(&format!("/steps/{}/overloaded", k - 1)))
                            .and_then(|o| o.as_bool())
                            .unwrap_or(false)
                    })
                    .count();
                if 2 * over > xs.len() {
                    overloaded_at.push(x);
                }
                for (i, (p, _, _)) in PERCENTILES.iter().enumerate() {
                    let m = format!("{step}.latency_us.corrected.{p}");
                    let vals: Vec<(f64, bool)> = trials
                        .iter()
                        .filter(|t| {
                            !t.measurement
                                .dropped
                                .iter()
                                .any(|d| d.prefix.trim_end_matches('.') == step)
                        })
                        .filter_map(|t| t.metrics.get(&m).map(|v| (*v, kept(&t, &m))))
                        .collect();
                    if vals.is_empty() {
                        continue;
                    }
                    let trusted = vals.iter().filter(|x| x.1).count() * 2 >= vals.len();
                    let raw: Vec<f64> = vals.iter().map(|x| x.0).collect();
                    if let Some(est) = crate::analyse::stats::estimate(&raw, 0.95) {
                        points[i].push((x, est, trusted));
                    }
                }
            }
            if points.iter().all(|p| p.is_empty()) {
                continue;
            }
            curves.push(Curve {
                variant: v.clone(),
                style: palette.style(v),
                points,
                overloaded_at,
                capacity_rps: caps.get(v).copied(),
            });
        }
        let name = plot_name(&sc.id);
        let title = format!("Latency vs throughput — {}", sc.id);
        let cov = super::Coverage::of(
            curves
                .iter()
                .flat_map(|c| c.points.iter().flatten().map(|(_, e, _)| e)),
        );
        let client_bound = cap_scenario
            .as_deref()
            .is_some_and(|id| super::bars::client_bound(run, id));
        let caption = format!(
            "{}. Each point is one open-loop rate step: achieved throughput (median over repeats) against corrected latency at p50 (circle), p99 (triangle) and p99.9 (square), with the interval of the median as a whisker. Dashed vertical lines: each variant's closed-loop capacity{}. Latency that turns upward before the capacity line is the knee. Hollow markers: a percentile the load generator does not vouch for (its own send lag at that percentile is over a tenth of it); a cross marked 'overloaded': a step where the server fell behind the offered rate, drawn at the rate it achieved. A step the generator could not keep is left out.{}{}",
            sc.title,
            cap_scenario
                .as_ref()
                .map(|c| format!(" measured in {c}"))
                .unwrap_or_default(),
            if client_bound {
                " Those capacity runs were client-bound (the load generator's CPU was the limit), so the servers' knee may lie beyond the lines."
            } else {
                ""
            },
            cov.sentence("Whiskers")
        );
        let chart = Knee {
            title: title.clone(),
            subtitle: if cov.is_empty() {
                sc.title.clone()
            } else {
                format!(
                    "{} — whiskers: {} interval of the median",
                    sc.title,
                    cov.short()
                )
            },
            curves,
            client_bound,
        };
        render(&chart, paths, &name)?;
        out.push(Figure {
            name,
            title,
            caption,
            scenario: Some(sc.id.clone()),
            kind: "knee",
        });
    }
    Ok(out)
}
