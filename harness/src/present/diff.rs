//! `harness diff DIR_A DIR_B`: the same metrics of two runs side by side —
//! median ± spread of each, the ratio B/A (two runs are independent, so
//! unpaired: the two-sample Hodges–Lehmann estimate with the exact Moses
//! interval) and the exact Mann-Whitney p-value, "~" when the difference is
//! not significant — what benchstat does for Go benchmarks, for "did my
//! change help".

#[cfg(test)]
use crate::analyse::stats;
use crate::analyse::stats::{Comparison, Estimate, rank_sum};
use crate::analyse::summary::{self, ScenarioSummary, Summary};
use crate::present::report::units::{self, Unit};
use anyhow::{Context, Result};
use std::path::Path;

fn load(dir: &Path) -> Result<Summary> {
    let p = dir.join("summary.json");
    let bytes = std::fs::read(&p).with_context(|| {
        format!(
            "{}: no summary.json (not a results directory?)",
            dir.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: unreadable summary.json", p.display()))
}

/// "1.23 ms ±4 %": the median and the larger distance to an interval end.
fn cell(unit: Unit, e: &Estimate) -> String {
    let spread = if e.median != 0.0 {
        (e.hi - e.median).abs().max((e.median - e.lo).abs()) / e.median.abs() * 100.0
    } else {
        0.0
    };
    format!("{} ±{}%", unit.fmt(e.median), units::sig(spread))
}

/// One compared metric of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    pub variant: String,
    pub a: Estimate,
    pub b: Estimate,
    /// B / A.
    pub ratio: Option<Comparison>,
    pub significant: bool,
}

/// Rows for every headline metric (and every microbenchmark metric) both
/// runs measured for the same scenario and variant.
pub fn compare(a: &ScenarioSummary, b: &ScenarioSummary, level: f64) -> Vec<Row> {
    let mut out = Vec::new();
    // A mix of one class repeats the client's figures under classes.<name>.
    let mut classes: Vec<&str> = a
        .metrics
        .keys()
        .filter_map(|m| m.split(".classes.").nth(1)?.split('.').next())
        .collect();
    classes.dedup();
    classes.sort();
    classes.dedup();
    for (m, per_a) in &a.metrics {
        if !(summary::is_headline(m) || a.workload == "micro")
            || (classes.len() == 1 && m.contains(".classes."))
        {
            continue;
        }
        let Some(per_b) = b.metrics.get(m) else {
            continue;
        };
        for v in a.variants.iter().filter(|v| b.variants.contains(v)) {
            let (Some(ea), Some(eb)) = (per_a.get(v), per_b.get(v)) else {
                continue;
            };
            let ratio = rank_sum::two_sample_ratio(&eb.values, &ea.values, level);
            let significant = ratio
                .as_ref()
                .is_some_and(|r| r.p_value <= 1.0 - level && (r.lo > 1.0 || r.hi < 1.0));
            out.push(Row {
                metric: m.clone(),
                variant: v.clone(),
                a: ea.clone(),
                b: eb.clone(),
                ratio,
                significant,
            });
        }
    }
    out
}

/// The whole comparison as text.
pub fn render(a_dir: &Path, b_dir: &Path, a: &Summary, b: &Summary) -> String {
    let level = a.confidence_level;
    let mut out = format!(
        "A: {} (profile {}, {})\nB: {} (profile {}, {})\nB/A = two-sample Hodges–Lehmann ratio with the exact Moses interval (aiming at {:.0} %; the real coverage with few rounds is lower and shown by n); p = exact Mann-Whitney U; \"~\" = no significant difference (p > {:.2} or the interval includes 1).\n",
        a_dir.display(),
        a.profile,
        a.generated_at,
        b_dir.display(),
        b.profile,
        b.generated_at,
        level * 100.0,
        1.0 - level
    );
    let mut small_samples = false;
    for sa in &a.scenarios {
        let Some(sb) = b.scenarios.iter().find(|s| s.id == sa.id) else {
            continue;
        };
        let rows = compare(sa, sb, level);
        if rows.is_empty() {
            continue;
        }
        let mut table: Vec<[String; 6]> = vec![[
            "metric".into(),
            "variant".into(),
            "A".into(),
            "B".into(),
            "B/A".into(),
            "p".into(),
        ]];
        for r in &rows {
            let u = units::unit_of(&r.metric);
            let (change, p) = match &r.ratio {
                Some(x) => {
                    let reach = x.min_p <= 0.05;
                    if !reach {
                        small_samples = true;
                    }
                    let change = if r.significant {
                        format!(
                            "{} [{}, {}]",
                            units::pct_change(x.point),
                            units::pct_change(x.lo),
                            units::pct_change(x.hi)
                        )
                    } else {
                        "~".to_string()
                    };
                    (
                        change,
                        format!("{:.3}{}", x.p_value, if reach { "" } else { "*" }),
                    )
                }
                None => ("n/a".into(), "n/a".into()),
            };
            table.push([
                r.metric.clone(),
                r.variant.clone(),
                format!("{} n={}", cell(u, &r.a), r.a.n),
                format!("{} n={}", cell(u, &r.b), r.b.n),
                change,
                p,
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                table
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        out.push_str(&format!("\n{} — {}\n", sa.id, sa.title));
        for r in &table {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
    }
    let only = |x: &Summary, y: &Summary| {
        x.scenarios
            .iter()
            .filter(|s| !y.scenarios.iter().any(|t| t.id == s.id))
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()
    };
    let (oa, ob) = (only(a, b), only(b, a));
    if !oa.is_empty() {
        out.push_str(&format!("\nonly in A: {}\n", oa.join(", ")));
    }
    if !ob.is_empty() {
        out.push_str(&format!("\nonly in B: {}\n", ob.join(", ")));
    }
    if small_samples {
        out.push_str("\n* too few repeats for any p-value to reach 0.05 (3 vs 3: p >= 0.1): run more repeats (the full profile) before calling a difference real.\n");
    }
    out
}

pub fn run(a: &Path, b: &Path) -> Result<String> {
    let (sa, sb) = (load(a)?, load(b)?);
    Ok(render(a, b, &sa, &sb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::summary::Counts;
    use std::collections::BTreeMap;

    fn sc(values: &[(&str, &str, &[f64])]) -> ScenarioSummary {
        let mut metrics: BTreeMap<String, BTreeMap<String, Estimate>> = BTreeMap::new();
        for (m, v, xs) in values {
            metrics
                .entry(m.to_string())
                .or_default()
                .insert(v.to_string(), stats::estimate(xs, 0.95).unwrap());
        }
        ScenarioSummary {
            id: "s".into(),
            title: "t".into(),
            claims: vec![],
            workload: "echo".into(),
            variants: vec!["go".into(), "rust".into()],
            counts: BTreeMap::from([(
                "go".into(),
                Counts {
                    ok: 6,
                    invalid: 0,
                    failed: 0,
                },
            )]),
            problems: vec![],
            metrics,
            ratios: BTreeMap::new(),
            capacity_rps: None,
        }
    }

    fn summary(s: ScenarioSummary) -> Summary {
        Summary {
            schema_version: 1,
            profile: "p".into(),
            generated_at: "now".into(),
            complete: true,
            interrupted: false,
            confidence_level: 0.95,
            trials: Counts::default(),
            scenarios: vec![s],
        }
    }

    #[test]
    fn significant_changes_get_a_ratio_and_noise_gets_a_tilde() {
        let rps = "main.achieved_rps";
        let p99 = "main.latency_us.corrected.p99";
        let a = sc(&[
            (rps, "go", &[100.0, 101.0, 99.0, 100.5, 99.5, 100.2]),
            (p99, "go", &[50.0, 52.0, 48.0, 51.0, 49.0, 50.0]),
            ("main.errors.total", "go", &[0.0; 6]),
        ]);
        let b = sc(&[
            (rps, "go", &[120.0, 121.0, 119.0, 120.5, 119.5, 120.2]),
            (p99, "go", &[49.0, 53.0, 50.0, 48.0, 51.5, 50.5]),
            ("main.errors.total", "go", &[0.0; 6]),
        ]);
        let rows = compare(&a, &b, 0.95);
        assert_eq!(rows.len(), 2, "only headline metrics: {rows:?}");
        let r = rows.iter().find(|r| r.metric == rps).unwrap();
        assert!(r.significant);
        assert!((r.ratio.as_ref().unwrap().point - 120.1 / 100.1).abs() < 0.01);
        assert!(!rows.iter().find(|r| r.metric == p99).unwrap().significant);
        let text = render(Path::new("A"), Path::new("B"), &summary(a), &summary(b));
        assert!(text.contains("+20 %"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with(p99) && l.contains(" ~ ")),
            "{text}"
        );
    }

    #[test]
    fn three_repeats_never_claim_significance() {
        let rps = "main.achieved_rps";
        let a = sc(&[(rps, "go", &[100.0, 101.0, 99.0])]);
        let b = sc(&[(rps, "go", &[200.0, 201.0, 199.0])]);
        let rows = compare(&a, &b, 0.95);
        assert!(!rows[0].significant, "3 vs 3 cannot reach p < 0.05");
        let text = render(Path::new("A"), Path::new("B"), &summary(a), &summary(b));
        assert!(text.contains("too few repeats"), "{text}");
    }

    #[test]
    fn missing_directory_is_one_clear_error() {
        let e = run(Path::new("/nonexistent/a"), Path::new("/nonexistent/b"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no summary.json"), "{e}");
    }
}
