//! `harness report DIR`: placeholder until the report issue lands — prints
//! each scenario's headline medians so a run can be read at all.

use crate::results::RunDir;
use crate::summary::Summary;
use anyhow::{Context, Result};
use std::path::Path;

pub fn run(_root: &Path, dir: &Path) -> Result<()> {
    let run = RunDir::open(dir);
    let bytes = std::fs::read(run.summary()).with_context(|| format!("{}: no summary.json (not a results directory?)", dir.display()))?;
    let s: Summary = serde_json::from_slice(&bytes).with_context(|| format!("{}: unreadable summary.json", dir.display()))?;
    println!("profile {} ({} ok, {} invalid, {} failed trials)", s.profile, s.trials.ok, s.trials.invalid, s.trials.failed);
    for sc in &s.scenarios {
        println!("\n{} — {}", sc.id, sc.title);
        for (m, per) in &sc.metrics {
            if !crate::summary::is_headline(m) {
                continue;
            }
            let cells: Vec<String> = sc.variants.iter().filter_map(|v| per.get(v).map(|e| format!("{v} {:.1} [{:.1}, {:.1}]", e.median, e.lo, e.hi))).collect();
            println!("  {m}: {}", cells.join("  "));
        }
    }
    Ok(())
}
