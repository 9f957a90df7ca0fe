//! The syscall census of a scenario (`census-<scenario>`): per variant a
//! stacked bar of syscalls per request by name, and beside it server CPU
//! and context switches per request in the census's own windows — bars
//! without perf, a ring with perf (the gap is what counting costs).

use super::{Axis, Chart, Figure, Palette, PlotPaths, VariantStyle, e, font, render, say, titled};
use crate::present::report::data::RunData;
use crate::present::report::units;
use crate::run::census::perf::{self, Family};
use crate::run::census::record::{CensusRecord, PerMode, Status};
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn plot_name(scenario: &str) -> String {
    format!("census-{scenario}")
}

/// Names below this many calls per request in every variant are summed
/// into "other" (with what the census does not name)...
pub const MIN_PER_REQUEST: f64 = 0.1;
/// ...and so are all but the largest this many (one colour each).
pub const MAX_NAMED: usize = 10;

/// What the stacked bars draw: segment names (bottom to top) and per
/// variant one value per name.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub names: Vec<String>,
    pub bars: Vec<StackBar>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackBar {
    pub variant: String,
    pub values: Vec<f64>,
    pub total: f64,
}

/// The stack of `records` (one per variant, in the given order): the
/// largest [`MAX_NAMED`] names of at least `min` per request in some
/// variant, by family (read, write, poll, wait, ...) then by size; the
/// rest, and "other", last.
pub fn stack(records: &[&CensusRecord], min: f64) -> Stack {
    let mut names: Vec<(Family, f64, String)> = Vec::new();
    for r in records {
        for (n, v) in &r.syscalls_per_request {
            if n == "other" || *v < min {
                continue;
            }
            match names.iter_mut().find(|x| &x.2 == n) {
                Some(x) => x.1 = x.1.max(*v),
                None => names.push((perf::family(n), *v, n.clone())),
            }
        }
    }
    names.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    names.truncate(MAX_NAMED);
    names.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut names: Vec<String> = names.into_iter().map(|x| x.2).collect();
    let bars: Vec<StackBar> = records
        .iter()
        .map(|r| {
            let mut values: Vec<f64> = names
                .iter()
                .map(|n| r.syscalls_per_request.get(n).copied().unwrap_or(0.0))
                .collect();
            let rest: f64 = r
                .syscalls_per_request
                .iter()
                .filter(|(n, _)| !names.contains(n))
                .map(|(_, v)| v)
                .sum();
            values.push(rest);
            StackBar {
                variant: r.variant.clone(),
                total: values.iter().sum(),
                values,
            }
        })
        .collect();
    names.push("other".into());
    // "other" stays only where some variant has some.
    let mut out = Stack { names, bars };
    if out
        .bars
        .iter()
        .all(|b| b.values.last().copied().unwrap_or(0.0) == 0.0)
    {
        out.names.pop();
        for b in &mut out.bars {
            b.values.pop();
        }
    }
    out
}

/// Colour-blind-safe segment colours (Paul Tol's bright and muted sets),
/// by position in the stack; "other" is grey.
const SEGMENT: &[(u8, u8, u8)] = &[
    (0x44, 0x77, 0xAA),
    (0x66, 0xCC, 0xEE),
    (0x22, 0x88, 0x33),
    (0xCC, 0xBB, 0x44),
    (0xEE, 0x66, 0x77),
    (0xAA, 0x33, 0x77),
    (0x33, 0x22, 0x88),
    (0x44, 0xAA, 0x99),
    (0x99, 0x99, 0x33),
    (0x88, 0x22, 0x55),
    (0x88, 0xCC, 0xEE),
    (0xDD, 0xCC, 0x77),
];

fn segment_color(stack: &Stack, i: usize) -> RGBColor {
    if stack.names[i] == "other" {
        return RGBColor(0xBB, 0xBB, 0xBB);
    }
    let (r, g, b) = SEGMENT[i % SEGMENT.len()];
    RGBColor(r, g, b)
}

pub struct Census {
    pub title: String,
    pub subtitle: String,
    pub stack: Stack,
    /// Per variant (stack order): style, CPU µs and context switches per request.
    pub sides: Vec<(VariantStyle, PerMode, PerMode)>,
}

impl Chart for Census {
    fn size(&self) -> (u32, u32) {
        let n = self.stack.bars.len() as u32;
        (1500, (170 + 64 * n).max(440))
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = titled(root, &self.title, &self.subtitle)?;
        if self.stack.bars.is_empty() {
            return say(&area, "no census counted");
        }
        let (w, _) = area.dim_in_pixel();
        let (plots, legend) = area.split_horizontally(w.saturating_sub(170));
        let (pw, _) = plots.dim_in_pixel();
        let (left, right) = plots.split_horizontally(pw * 56 / 100);
        let (mid, last) = right.split_horizontally(pw * 22 / 100);
        self.draw_stack(&left)?;
        let cpu: Vec<PerMode> = self.sides.iter().map(|s| s.1).collect();
        let ctx: Vec<PerMode> = self.sides.iter().map(|s| s.2).collect();
        self.draw_side(&mid, "server CPU per request", &cpu, true)?;
        self.draw_side(&last, "context switches per request", &ctx, false)?;
        // Segment legend in its own column, in stack order.
        for (i, n) in self.stack.names.iter().enumerate() {
            let y = 30 + i as i32 * 24;
            legend
                .draw(&Rectangle::new(
                    [(8, y - 7), (26, y + 7)],
                    segment_color(&self.stack, i).filled(),
                ))
                .map_err(e)?;
            legend
                .draw(&Text::new(
                    n.clone(),
                    (34, y),
                    font(15).pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(e)?;
        }
        Ok(())
    }
}

impl Census {
    /// Rows top-down in variant order: row i sits at y = n - 1 - i.
    fn row_axis(&self) -> Axis {
        let n = self.stack.bars.len();
        Axis::new(0.0, n as f64, (0..n).map(|i| i as f64 + 0.5).collect())
    }

    fn row_label(&self, y: f64) -> String {
        let n = self.stack.bars.len();
        let i = n.saturating_sub(1 + y.floor().max(0.0) as usize);
        self.stack
            .bars
            .get(i)
            .map(|b| b.variant.clone())
            .unwrap_or_default()
    }

    fn row_y(&self, i: usize) -> f64 {
        (self.stack.bars.len() - 1 - i) as f64
    }

    fn draw_stack<DB: DrawingBackend>(&self, a: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let right = self
            .stack
            .bars
            .iter()
            .map(|b| b.total)
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.12;
        let mut chart = ChartBuilder::on(a)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..right, self.row_axis())
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_desc("syscalls per request")
            .y_label_formatter(&|y| self.row_label(*y))
            .x_label_formatter(&|x| units::sig(*x))
            .label_style(font(15))
            .axis_desc_style(font(16))
            .draw()
            .map_err(e)?;
        for (bi, b) in self.stack.bars.iter().enumerate() {
            let y = self.row_y(bi);
            let (y0, y1) = (y + 0.2, y + 0.8);
            let mut x = 0.0;
            for (si, v) in b.values.iter().enumerate() {
                if *v <= 0.0 {
                    continue;
                }
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y0), (x + v, y1)],
                        segment_color(&self.stack, si).filled(),
                    )))
                    .map_err(e)?;
                x += v;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    units::sig(b.total),
                    (b.total + right * 0.01, y + 0.5),
                    font(14).pos(Pos::new(HPos::Left, VPos::Center)),
                )))
                .map_err(e)?;
        }
        Ok(())
    }

    fn draw_side<DB: DrawingBackend>(
        &self,
        a: &DrawingArea<DB, Shift>,
        desc: &str,
        values: &[PerMode],
        time: bool,
    ) -> Result<(), String> {
        let (_, right) = super::lin_range(
            values
                .iter()
                .flat_map(|m| [m.without_perf, m.with_perf])
                .flatten(),
        );
        let right = right * 1.15;
        let mut chart = ChartBuilder::on(a)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(8)
            .build_cartesian_2d(0.0..right, self.row_axis())
            .map_err(e)?;
        let fmt = move |x: &f64| {
            if time {
                units::time_us(*x)
            } else {
                units::sig(*x)
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_desc(desc)
            .y_label_formatter(&|_| String::new())
            .x_label_formatter(&fmt)
            .x_labels(4)
            .label_style(font(13))
            .axis_desc_style(font(15))
            .draw()
            .map_err(e)?;
        for (i, (m, side)) in values.iter().zip(&self.sides).enumerate() {
            let y = self.row_y(i);
            if let Some(v) = m.without_perf {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y + 0.25), (v, y + 0.75)],
                        side.0.color.filled(),
                    )))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        fmt(&v),
                        (v.max(m.with_perf.unwrap_or(0.0)) + right * 0.04, y + 0.5),
                        font(13).pos(Pos::new(HPos::Left, VPos::Center)),
                    )))
                    .map_err(e)?;
            }
            if let Some(v) = m.with_perf {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (v, y + 0.5),
                        6,
                        RGBColor(0x22, 0x22, 0x22).stroke_width(2),
                    )))
                    .map_err(e)?;
            }
        }
        Ok(())
    }
}

/// The ok census records of a scenario, in the order of its variants.
fn of_scenario<'a>(run: &'a RunData, scenario: &str) -> Vec<&'a CensusRecord> {
    let mut v: Vec<&CensusRecord> = run
        .census
        .iter()
        .filter(|r| r.scenario == scenario && r.status == Status::Ok)
        .collect();
    let order = run
        .scenario(scenario)
        .map(|s| s.variants.clone())
        .unwrap_or_default();
    v.sort_by_key(|r| {
        order
            .iter()
            .position(|x| *x == r.variant)
            .unwrap_or(usize::MAX)
    });
    v
}

pub fn render_all(run: &RunData, palette: &Palette, paths: &PlotPaths) -> Result<Vec<Figure>> {
    let mut scenarios: Vec<&str> = run.census.iter().map(|r| r.scenario.as_str()).collect();
    scenarios.dedup();
    let mut out = Vec::new();
    for sc in scenarios {
        let recs = of_scenario(run, sc);
        if recs.is_empty() {
            continue;
        }
        let load = recs.iter().find_map(|r| r.load.as_ref());
        let load_words = load
            .map(|l| {
                let rate = l
                    .rate_rps
                    .map(|r| {
                        format!(
                            "{} req/s{}",
                            units::si(r),
                            l.step
                                .map(|s| format!(" (step {s} of {})", l.steps))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| "closed loop".into());
                format!("{rate}, {} connections", l.conns)
            })
            .unwrap_or_default();
        let chart = Census {
            title: format!("Syscalls per request — {sc}"),
            subtitle: format!(
                "perf on the kernel's syscall tracepoints, {load_words}; CPU and switches: bar without perf, ring with"
            ),
            stack: stack(&recs, MIN_PER_REQUEST),
            sides: recs
                .iter()
                .map(|r| {
                    (
                        palette.style(&r.variant),
                        r.cpu_us_per_request,
                        r.ctx_switches_per_request,
                    )
                })
                .collect(),
        };
        let name = plot_name(sc);
        render(&chart, paths, &name)?;
        let window = load
            .map(|l| l.window_s)
            .unwrap_or(crate::run::census::WINDOW_S);
        out.push(Figure {
            name,
            title: format!("Syscall census of {sc}"),
            caption: format!(
                "Left: the server's syscalls per request by name, counted by perf stat on the kernel's syscall tracepoints (threads created later included) over two {} s windows of the scenario's first client ({load_words}) on a fresh server after the timed rounds, divided by the requests of those windows; names under {} per request in every variant (and all but the {MAX_NAMED} largest) are summed into other, with the syscalls the census does not name (their total comes from raw_syscalls:sys_enter). Right: server CPU and context switches per request in the census's own windows, without perf (bars, two windows) and with perf (rings): the ring above the bar is what counting costs. The timed trials' figures are in the CPU and context-switch bar plots.",
                units::sig(window),
                units::sig(MIN_PER_REQUEST)
            ),
            scenario: Some(sc.to_string()),
            kind: "census",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::Language;

    fn rec(variant: &str, counts: &[(&str, f64)]) -> CensusRecord {
        let mut r = CensusRecord::new("s", variant, Language::Go, "t".into());
        r.syscalls_per_request = counts.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        r
    }

    #[test]
    fn stack_orders_by_family_and_folds_small_names_into_other() {
        let go = rec(
            "go",
            &[
                ("futex", 1.8),
                ("read", 2.0),
                ("write", 1.0),
                ("epoll_pwait", 1.8),
                ("nanosleep", 0.9),
                ("accept4", 0.01),
                ("other", 0.02),
            ],
        );
        let rust = rec(
            "rust",
            &[
                ("recvfrom", 1.0),
                ("sendto", 1.0),
                ("epoll_wait", 0.97),
                ("close", 0.01),
            ],
        );
        let s = stack(&[&go, &rust], MIN_PER_REQUEST);
        assert_eq!(
            s.names,
            [
                "read",
                "recvfrom",
                "sendto",
                "write",
                "epoll_pwait",
                "epoll_wait",
                "futex",
                "nanosleep",
                "other"
            ]
        );
        assert_eq!(s.bars[0].variant, "go");
        assert_eq!(
            s.bars[0].values,
            [2.0, 0.0, 0.0, 1.0, 1.8, 0.0, 1.8, 0.9, 0.03]
        );
        assert!((s.bars[0].total - 7.53).abs() < 1e-9);
        assert_eq!(
            s.bars[1].values,
            [0.0, 1.0, 1.0, 0.0, 0.0, 0.97, 0.0, 0.0, 0.01]
        );
        // Every bar's total is the record's per-request total.
        for (b, r) in s.bars.iter().zip([&go, &rust]) {
            let t: f64 = r.syscalls_per_request.values().sum();
            assert!((b.total - t).abs() < 1e-9);
        }
    }

    #[test]
    fn no_other_segment_when_nothing_is_left_over() {
        let a = rec("go", &[("read", 2.0), ("write", 1.0)]);
        let s = stack(&[&a], MIN_PER_REQUEST);
        assert_eq!(s.names, ["read", "write"]);
        assert_eq!(s.bars[0].values, [2.0, 1.0]);
        assert_eq!(stack(&[], MIN_PER_REQUEST).bars, vec![]);
    }

    #[test]
    fn only_the_largest_names_get_a_colour() {
        let many: Vec<(String, f64)> = (0..MAX_NAMED + 3)
            .map(|i| (format!("call{i:02}"), 1.0 + i as f64))
            .collect();
        let refs: Vec<(&str, f64)> = many.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let r = rec("go", &refs);
        let s = stack(&[&r], MIN_PER_REQUEST);
        assert_eq!(s.names.len(), MAX_NAMED + 1);
        assert_eq!(
            s.names[0],
            format!("call{:02}", MAX_NAMED + 2),
            "largest first"
        );
        assert_eq!(s.names.last().unwrap(), "other");
        // The three smallest (1 + 2 + 3) are in "other"; nothing is lost.
        assert_eq!(*s.bars[0].values.last().unwrap(), 6.0);
        let all: f64 = refs.iter().map(|x| x.1).sum();
        assert_eq!(s.bars[0].total, all);
    }
}
