//! The forest plot at the top of the report: every claim's headline ratio
//! with its interval on one log axis, coloured by the claim's verdict,
//! and under them the A/A control's ratios with their margins — so a
//! reader sees at a glance how far each measured difference sits from
//! "no difference" and how far this machine's noise alone goes.

use crate::analyse::verdict::{ValueKind, Verdicts};
use crate::config::claims::{Claims, Verdict};
use crate::present::plots::{self, Axis, Chart, Figure, PlotPaths, e, font, log_range, log_ticks};
use crate::present::report::words;
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One row: a label, a ratio with its interval, a colour, and (A/A) a band.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub point: f64,
    pub lo: f64,
    pub hi: f64,
    pub color: RGBColor,
    /// The A/A margin band [1/m, m], drawn behind the row.
    pub band: Option<f64>,
}

pub fn verdict_color(v: Verdict) -> RGBColor {
    match v {
        Verdict::Supported => RGBColor(0x1a, 0x7f, 0x37),
        Verdict::Refuted => RGBColor(0xb3, 0x26, 0x1e),
        Verdict::Mixed => RGBColor(0x9a, 0x67, 0x00),
        Verdict::Inconclusive => RGBColor(0x6e, 0x6e, 0x6e),
    }
}

/// The rows: headline ratios (claims whose headline is not a ratio are
/// left out and named in the caption), then the A/A ratios.
pub fn rows(claims: &Claims, v: &Verdicts) -> (Vec<Row>, Vec<String>) {
    let mut out = Vec::new();
    let mut not_ratio = Vec::new();
    for c in &v.claims {
        match c.headline_value() {
            Some(val) if val.kind == ValueKind::Ratio && val.lo > 0.0 => {
                let claim = &claims.claims[c.claim];
                let check = &claim.checks[c.checks[c.headline.expect("value").0].check];
                let cond = &c.checks[c.headline.expect("value").0].conditions
                    [c.headline.expect("value").1];
                out.push(Row {
                    label: format!("{} {}", c.id, words::label(check, &cond.sides)),
                    point: val.point,
                    lo: val.lo,
                    hi: val.hi,
                    color: verdict_color(c.verdict),
                    band: None,
                })
            }
            _ => not_ratio.push(c.id.clone()),
        }
    }
    for a in &v.aa {
        if let Some(val) = &a.value
            && val.kind == ValueKind::Ratio
            && val.lo > 0.0
        {
            let what = match &a.comparison.sides {
                crate::config::expand::Sides::Paired { a: x, .. } => {
                    format!("{} {} ({})", x.scenario, x.variant, words::short(&x.metric))
                }
                crate::config::expand::Sides::WithinTrial { side, .. } => {
                    format!(
                        "{} {} ({})",
                        side.scenario,
                        side.variant,
                        words::short(&side.metric)
                    )
                }
                _ => String::new(),
            };
            out.push(Row {
                label: format!("A/A {what}"),
                point: val.point,
                lo: val.lo,
                hi: val.hi,
                color: if a.false_difference {
                    RGBColor(0xb3, 0x26, 0x1e)
                } else {
                    RGBColor(0x40, 0x40, 0x40)
                },
                band: Some(a.comparison.margin),
            });
        }
    }
    (out, not_ratio)
}

pub struct Forest {
    pub rows: Vec<Row>,
}

const LABEL_W: u32 = 430;
const ROW_H: u32 = 22;

impl Chart for Forest {
    fn size(&self) -> (u32, u32) {
        (1100, 90 + ROW_H * self.rows.len().max(1) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let vals = self.rows.iter().flat_map(|r| {
            let b = r.band.unwrap_or(1.0);
            [r.lo, r.hi, 1.0, b, 1.0 / b]
        });
        let (lo, hi) = log_range(vals).unwrap_or((-1.0, 1.0));
        let keys: Vec<f64> = log_ticks(10f64.powf(lo), 10f64.powf(hi))
            .into_iter()
            .map(f64::log10)
            .collect();
        let n = self.rows.len().max(1) as f64;
        let (labels, chart_area) = root.split_horizontally(LABEL_W);
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(10)
            .x_label_area_size(40)
            .build_cartesian_2d(Axis::new(lo, hi, keys), Axis::new(-0.5, n - 0.5, vec![]))
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_label_formatter(&|x| plots::units_ratio(10f64.powf(*x)))
            .x_desc("ratio (log scale); 1 = no difference")
            .label_style(font(14))
            .axis_desc_style(font(15))
            .draw()
            .map_err(e)?;
        let y = |i: usize| n - 1.0 - i as f64;
        // No difference.
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.5), (0.0, n - 0.5)],
                ShapeStyle {
                    color: BLACK.mix(0.6),
                    filled: false,
                    stroke_width: 1,
                },
            )))
            .map_err(e)?;
        for (i, r) in self.rows.iter().enumerate() {
            let yi = y(i);
            if let Some(m) = r.band {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(-(m.log10()), yi - 0.35), (m.log10(), yi + 0.35)],
                        RGBColor(0xdd, 0xdd, 0xdd).filled(),
                    )))
                    .map_err(e)?;
            }
            let style = ShapeStyle {
                color: r.color.to_rgba(),
                filled: true,
                stroke_width: 3,
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(r.lo.log10(), yi), (r.hi.log10(), yi)],
                    style,
                )))
                .map_err(e)?;
            chart
                .draw_series(std::iter::once(Circle::new(
                    (r.point.log10(), yi),
                    5,
                    r.color.filled(),
                )))
                .map_err(e)?;
        }
        // Row labels, aligned with the rows (same plotting height).
        let (_, h) = chart_area.dim_in_pixel();
        let plot_top = 10.0;
        let plot_h = h as f64 - 10.0 - 10.0 - 40.0;
        for (i, r) in self.rows.iter().enumerate() {
            let frac = (i as f64 + 0.5) / n;
            let py = (plot_top + frac * plot_h) as i32;
            let mut text = r.label.clone();
            if text.chars().count() > 58 {
                text = format!("{}…", text.chars().take(57).collect::<String>());
            }
            labels
                .draw(&Text::new(
                    text,
                    (8, py),
                    font(13)
                        .color(&r.color)
                        .pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Left,
                            plotters::style::text_anchor::VPos::Center,
                        )),
                ))
                .map_err(e)?;
        }
        Ok(())
    }
}

/// Draws `plots/forest.svg|png`; None when no row is a ratio.
pub fn render(claims: &Claims, v: &Verdicts, paths: &PlotPaths) -> Result<Option<Figure>> {
    let (rows, not_ratio) = rows(claims, v);
    if rows.is_empty() {
        return Ok(None);
    }
    plots::render(&Forest { rows }, paths, "forest")?;
    let missing = if not_ratio.is_empty() {
        String::new()
    } else {
        format!(
            " Claims whose headline is not a ratio (a difference, a median or an outcome) are in the table instead: {}.",
            not_ratio.join(", ")
        )
    };
    Ok(Some(Figure {
        name: "forest".into(),
        title: "Every claim's headline ratio, and the A/A control".into(),
        caption: format!(
            "Each claim's headline ratio (dot) with its interval (bar) on one log axis, coloured by the claim's verdict (green supported, red refuted, amber mixed, grey inconclusive); 1 is no difference. Below them, the A/A control: a variant against an identical copy of itself, with the margin of the check it stands in for as a grey band — a bar wholly outside its band would be a false difference (drawn red).{missing}"
        ),
        scenario: None,
        kind: "forest",
    }))
}
