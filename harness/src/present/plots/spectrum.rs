//! Latency percentile spectrum, HdrHistogram style: x is log10(1/(1−p)),
//! so 90 %, 99 %, 99.9 %... are evenly spaced and the tail gets the room it
//! deserves; y is corrected latency on a log axis. Each variant is its
//! median over repeats (line) with the range over repeats (band), read from
//! the serialized histograms of every valid trial.

use super::{
    Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, log_range, log_ticks, render,
    say, titled,
};
use crate::present::report::data::{self, Part, RunData};
use crate::present::report::units;
use crate::run::trial::Status;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// x positions sampled per unit of log10(1/(1−p)).
const SAMPLES_PER_DECADE: usize = 40;

pub struct Series {
    pub variant: String,
    pub style: VariantStyle,
    pub repeats: usize,
    /// (x, median, low, high) in (log10(1/(1−p)), µs).
    pub points: Vec<(f64, f64, f64, f64)>,
}

pub struct Spectrum {
    pub title: String,
    pub subtitle: String,
    pub x_max: f64,
    pub series: Vec<Series>,
}

pub fn quantile_of_x(x: f64) -> f64 {
    1.0 - 10f64.powf(-x)
}

fn x_label(x: f64) -> String {
    let p = quantile_of_x(x) * 100.0;
    if p < 0.5 {
        "0 %".into()
    } else {
        // 50, 90, 99, 99.9, 99.99 ... without float noise.
        let digits = (x.round() as i32 - 2).max(0) as usize;
        format!("{p:.digits$} %")
    }
}

/// The series of one variant from its trials' histograms (µs).
pub fn series_of(hists: &[hdrhistogram::Histogram<u64>], x_max: f64) -> Vec<(f64, f64, f64, f64)> {
    let n = (x_max * SAMPLES_PER_DECADE as f64).ceil() as usize;
    (0..=n)
        .map(|i| {
            let x = (i as f64 / SAMPLES_PER_DECADE as f64).min(x_max);
            let q = quantile_of_x(x);
            let mut v: Vec<f64> = hists
                .iter()
                .map(|h| h.value_at_quantile(q) as f64 / 1e3)
                .collect();
            v.sort_by(f64::total_cmp);
            let med = crate::analyse::stats::median(&v);
            (
                x,
                med.max(0.001),
                v[0].max(0.001),
                v[v.len() - 1].max(0.001),
            )
        })
        .collect()
}

impl Chart for Spectrum {
    fn size(&self) -> (u32, u32) {
        (1240, 680)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = titled(root, &self.title, &self.subtitle)?;
        let (area, side) = super::with_legend_column(&area);
        let items: Vec<super::LegendItem> = self
            .series
            .iter()
            .map(|s| {
                super::LegendItem::variant(format!("{} ({} rep.)", s.variant, s.repeats), s.style)
            })
            .collect();
        super::draw_legend(&side, &items, 40)?;
        let Some((y0, y1)) = log_range(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().flat_map(|p| [p.2, p.3])),
        ) else {
            return say(&area, "no histogram in any valid trial");
        };
        let mut xk = vec![0.0, 2f64.log10()];
        xk.extend((1..=self.x_max.floor() as i32).map(f64::from));
        let yk: Vec<f64> = log_ticks(10f64.powf(y0), 10f64.powf(y1))
            .iter()
            .map(|v| v.log10())
            .collect();
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(86)
            .build_cartesian_2d(Axis::new(0f64, self.x_max, xk), Axis::new(y0, y1, yk))
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1−p))")
            .y_desc("corrected latency (log scale)")
            .x_label_formatter(&|x| x_label(*x))
            .y_label_formatter(&|y| units::time_us(10f64.powf(*y)))
            .label_style(font(16))
            .axis_desc_style(font(18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .draw()
            .map_err(e)?;
        for s in &self.series {
            let band: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|p| (p.0, p.3.log10()))
                .chain(s.points.iter().rev().map(|p| (p.0, p.2.log10())))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    s.style.color.mix(0.18).filled(),
                )))
                .map_err(e)?;
            // Thin edges keep each band readable where bands overlap.
            for edge in [2usize, 3] {
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .map(|p| (p.0, if edge == 2 { p.2 } else { p.3 }.log10()))
                    .collect();
                chart
                    .draw_series(LineSeries::new(
                        pts,
                        s.style.color.mix(0.55).stroke_width(1),
                    ))
                    .map_err(e)?;
            }
        }
        for s in &self.series {
            let st = s.style;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().map(|p| (p.0, p.1.log10())),
                    st.color.stroke_width(3),
                ))
                .map_err(e)?
                .label(format!(
                    "{} ({} repeat{})",
                    s.variant,
                    s.repeats,
                    if s.repeats == 1 { "" } else { "s" }
                ))
                .legend(super::legend_entry(st));
            // Markers at 50 / 90 / 99 / 99.9 % tell variants apart in grey print.
            let at: Vec<(f64, f64)> = [2f64.log10(), 1.0, 2.0, 3.0]
                .iter()
                .filter(|x| **x <= self.x_max)
                .filter_map(|x| {
                    s.points
                        .iter()
                        .min_by(|a, b| (a.0 - x).abs().total_cmp(&(b.0 - x).abs()))
                        .map(|p| (p.0, p.1.log10()))
                })
                .collect();
            chart
                .draw_series(
                    at.into_iter()
                        .map(|c| super::marker(c, st.marker, st.color, 5, true)),
                )
                .map_err(e)?;
        }
        Ok(())
    }
}

/// Latency source names: `spectrum-<scenario>[-<client>][-<class>|-stepN]`.
pub fn plot_name(scenario: &str, client: &str, part: &Part) -> String {
    let c = if client == "main" {
        String::new()
    } else {
        format!("-{client}")
    };
    format!("spectrum-{scenario}{c}{}", part.suffix())
}

pub fn render_all(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for sc in run
        .summary
        .scenarios
        .iter()
        .filter(|s| s.workload != "micro")
    {
        // Clients and parts from the first trial that has documents.
        let Some(first) = run
            .trials
            .iter()
            .find(|t| t.scenario == sc.id && t.clients.iter().any(|c| c.document.is_some()))
        else {
            continue;
        };
        for client in first.clients.iter().filter(|c| c.document.is_some()) {
            let doc = client.document.as_ref().expect("filtered");
            for part in data::parts(doc) {
                let mut series = Vec::new();
                let mut missing = Vec::new();
                let mut min_count = u64::MAX;
                let mut hists_by_variant = Vec::new();
                for v in &sc.variants {
                    let hists: Vec<_> = run
                        .trials_of(&sc.id, v)
                        .filter(|t| t.status == Status::Ok)
                        .filter_map(|t| {
                            data::client_doc(t, &client.name)
                                .and_then(|d| data::corrected_hist(d, &part).ok())
                        })
                        .filter(|h| !h.is_empty())
                        .collect();
                    if hists.is_empty() {
                        missing.push(v.clone());
                        continue;
                    }
                    min_count = min_count.min(hists.iter().map(|h| h.len()).min().unwrap_or(1));
                    hists_by_variant.push((v.clone(), hists));
                }
                // Beyond 1 − 1/count every percentile is the maximum: stop there.
                let x_max = ((min_count.max(10) as f64).log10()).clamp(2.0, 5.0);
                for (v, hists) in &hists_by_variant {
                    series.push(Series {
                        variant: v.clone(),
                        style: palette.style(v),
                        repeats: hists.len(),
                        points: series_of(hists, x_max),
                    });
                }
                let name = plot_name(&sc.id, &client.name, &part);
                let what = [
                    if client.name == "main" {
                        String::new()
                    } else {
                        format!("client {}", client.name)
                    },
                    part.label(),
                ]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
                let title = if what.is_empty() {
                    format!("Latency spectrum — {}", sc.id)
                } else {
                    format!("Latency spectrum — {} ({what})", sc.id)
                };
                let mut caption = format!(
                    "{}. Corrected latency (measured from each request's intended send time, so a stall counts for every request it delayed){}. Line: median over the valid repeats at each percentile; band: the lowest to the highest repeat (the spread of the repeats, not a confidence interval; for a single median, min..max of 3 repeats covers it with 75 %). The x axis is HdrHistogram's: each tick is ten times rarer than the one before.",
                    sc.title,
                    if what.is_empty() {
                        String::new()
                    } else {
                        format!(", {what}")
                    }
                );
                if !missing.is_empty() {
                    caption.push_str(&format!(
                        " No valid trial with a histogram for: {}.",
                        missing.join(", ")
                    ));
                }
                let subtitle = if missing.is_empty() {
                    sc.title.clone()
                } else {
                    format!("{} — no valid repeat: {}", sc.title, missing.join(", "))
                };
                let chart = Spectrum {
                    title,
                    subtitle,
                    x_max,
                    series,
                };
                render(&chart, paths, &name)?;
                out.push(Figure {
                    name,
                    title: chart.title.clone(),
                    caption,
                    scenario: Some(sc.id.clone()),
                    kind: "spectrum",
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_axis_is_hdrhistograms() {
        assert!((quantile_of_x(2.0) - 0.99).abs() < 1e-12);
        assert_eq!(x_label(0.0), "0 %");
        assert_eq!(x_label(2f64.log10()), "50 %");
        assert_eq!(x_label(1.0), "90 %");
        assert_eq!(x_label(2.0), "99 %");
        assert_eq!(x_label(3.0), "99.9 %");
        assert_eq!(x_label(4.0), "99.99 %");
    }

    #[test]
    fn series_spans_repeats() {
        let mut a = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        let mut b = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for i in 1..=1000u64 {
            a.record(i * 1000).unwrap();
            b.record(i * 2000).unwrap();
        }
        let s = series_of(&[a, b], 3.0);
        let (x, med, lo, hi) = s[0];
        assert_eq!(x, 0.0);
        assert!(lo <= med && med <= hi);
        let last = s.last().unwrap();
        assert_eq!(last.0, 3.0);
        assert!(last.3 > last.2, "the band has width at the tail: {last:?}");
    }
}
