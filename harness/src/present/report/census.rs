//! The report's syscall-census section, from `census/*.json` alone: one
//! line where perf could not count here; else syscalls per request by
//! name per variant, CPU and context switches per request beside them,
//! what counting cost, and the census plots not already shown with a claim.

use crate::present::plots::Figure;
use crate::present::report::data::RunData;
use crate::present::report::doc::{Block, Line, rich, text};
use crate::present::report::units;
use crate::run::census::record::{CensusRecord, Mode, Status};

/// Per-request names shown in the table (smaller ones are in the files).
const SHOWN_PER_REQUEST: f64 = 0.05;

pub fn blocks(run: &RunData, figures: &[Figure], shown: &mut Vec<String>) -> Vec<Block> {
    let recs = &run.census;
    if recs.is_empty() {
        return Vec::new();
    }
    let mut b = vec![Block::Heading {
        level: 2,
        text: "Syscall census".into(),
        id: "census".into(),
    }];
    if recs.iter().all(|r| r.status == Status::Unavailable) {
        let mut why: Vec<&str> = recs.iter().filter_map(|r| r.reason.as_deref()).collect();
        why.dedup();
        b.push(Block::Para(text(format!(
            "Not measured in this run: {}.",
            why.join("; ")
        ))));
        return b;
    }
    let ok: Vec<&CensusRecord> = recs.iter().filter(|r| r.status == Status::Ok).collect();
    // One line per reason: a perf that fails the same way everywhere is one line.
    let mut by_reason: Vec<(String, Vec<String>)> = Vec::new();
    for r in recs.iter().filter(|r| r.status != Status::Ok) {
        let why = r.reason.clone().unwrap_or_default();
        let who = format!("{} {}", r.scenario, r.variant);
        match by_reason.iter_mut().find(|(w, _)| *w == why) {
            Some((_, v)) => v.push(who),
            None => by_reason.push((why, vec![who])),
        }
    }
    let not_counted: Vec<Line> = by_reason
        .into_iter()
        .map(|(why, who)| text(format!("{}: not counted: {why}", who.join(", "))))
        .collect();
    if ok.is_empty() {
        b.push(Block::Bullets(not_counted));
        return b;
    }
    let perf = ok
        .iter()
        .find_map(|r| r.perf.as_ref())
        .map(|p| format!(" ({}, {} events)", p.version, p.events))
        .unwrap_or_default();
    let window = ok
        .iter()
        .find_map(|r| r.load.as_ref())
        .map(|l| units::sig(l.window_s))
        .unwrap_or_else(|| units::sig(crate::run::census::WINDOW_S));
    b.push(Block::Para(rich(&format!(
        "What each server asked the kernel per request: a separate short trial per variant after the scenario's timed rounds, on a fresh server under the scenario's first client (the middle rate of stepped clients), its syscalls counted by name with `perf stat --pid` on the kernel's syscall tracepoints{perf} over two {window} s windows, divided by the requests of those windows. \"other\" is every syscall the census does not name (the total comes from raw_syscalls:sys_enter). Counting is not free; its cost, measured on the same server and load in windows without perf interleaved with those with it (without, with, with, without), is shown per variant."
    ))));
    let overheads: Vec<f64> = ok.iter().filter_map(|r| r.overhead_ratio).collect();
    if !overheads.is_empty() {
        let mut sorted = overheads.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        b.push(Block::Para(text(format!(
            "The census's own overhead: server CPU per request with perf attached / without, median {}× over {} variants (range {}–{}×; two windows each, on a shared machine).",
            units::sig(median),
            overheads.len(),
            units::sig(sorted[0]),
            units::sig(sorted[sorted.len() - 1])
        ))));
    }
    let rows: Vec<Vec<Line>> = ok.iter().map(|r| row(r)).collect();
    b.push(Block::Table {
        head: [
            "scenario",
            "variant",
            "syscalls per request",
            "by name (≥ 0.05 per request)",
            "server CPU per request: without → with perf",
            "context switches per request (without perf)",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        rows,
    });
    let mut notes = not_counted;
    let counted = |r: &&CensusRecord| {
        r.windows
            .iter()
            .filter(|w| w.mode != Mode::Warmup)
            .map(|w| (!w.valid) as usize)
            .sum::<usize>()
    };
    let invalid: Vec<String> = ok
        .iter()
        .filter(|r| counted(r) > 0)
        .map(|r| format!("{} {} ×{}", r.scenario, r.variant, counted(r)))
        .collect();
    if !invalid.is_empty() {
        notes.push(text(format!(
            "Windows the load generator marked invalid (it fell behind its schedule, so requests arrived bunched, which can merge reads and wake-ups): {}.",
            invalid.join(", ")
        )));
    }
    if !notes.is_empty() {
        b.push(Block::Bullets(notes));
    }
    for f in figures.iter().filter(|f| f.kind == "census") {
        if !shown.contains(&f.name) {
            b.push(Block::Figure {
                name: f.name.clone(),
                title: f.title.clone(),
                caption: f.caption.clone(),
            });
            shown.push(f.name.clone());
        }
    }
    b
}

fn row(r: &CensusRecord) -> Vec<Line> {
    let mut names: Vec<(&String, &f64)> = r
        .syscalls_per_request
        .iter()
        .filter(|(_, v)| **v >= SHOWN_PER_REQUEST)
        .collect();
    names.sort_by(|a, b| b.1.total_cmp(a.1));
    let by_name = names
        .iter()
        .map(|(n, v)| format!("{n} {}", units::sig(**v)))
        .collect::<Vec<_>>()
        .join(", ");
    let opt = |x: Option<f64>, f: fn(f64) -> String| x.map(f).unwrap_or_else(|| "n/a".into());
    let cpu = &r.cpu_us_per_request;
    vec![
        text(r.scenario.clone()),
        text(r.variant.clone()),
        text(opt(r.total_per_request, units::sig)),
        text(by_name),
        text(format!(
            "{} → {}{}",
            opt(cpu.without_perf, units::time_us),
            opt(cpu.with_perf, units::time_us),
            r.overhead_ratio
                .map(|x| format!(" ({}×)", units::sig(x)))
                .unwrap_or_default()
        )),
        text(opt(r.ctx_switches_per_request.without_perf, units::sig)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::summary::{Counts, Summary};
    use crate::config::profile::Language;
    use crate::run::census::record::tests::window;

    fn run(census: Vec<CensusRecord>) -> RunData {
        RunData {
            dir: std::path::PathBuf::from("r"),
            meta: None,
            summary: Summary {
                schema_version: 2,
                profile: "t".into(),
                generated_at: "t".into(),
                complete: true,
                interrupted: false,
                confidence_level: 0.95,
                trials: Counts::default(),
                scenarios: Vec::new(),
            },
            trials: Vec::new(),
            profile: None,
            census,
            problems: Vec::new(),
        }
    }

    fn counted(variant: &str, read: u64) -> CensusRecord {
        let mut r = CensusRecord::new("echo", variant, Language::Go, "t".into());
        r.windows = vec![
            window(Mode::WithoutPerf, 100, 1000.0),
            window(Mode::WithPerf, 100, 1500.0),
        ];
        r.syscalls = [("read".to_string(), read), ("futex".to_string(), 1)].into();
        r.syscalls_total = Some(read + 1);
        r.derive();
        r
    }

    #[test]
    fn unusable_perf_is_one_line() {
        let mut a = CensusRecord::new("echo", "go", Language::Go, "t".into());
        a.status = Status::Unavailable;
        a.reason = Some("perf is not installed (no perf on PATH)".into());
        let mut b = a.clone();
        b.variant = "rust".into();
        let blocks = blocks(&run(vec![a, b]), &[], &mut Vec::new());
        assert_eq!(blocks.len(), 2, "{blocks:?}");
        assert_eq!(
            blocks[1],
            Block::Para(text(
                "Not measured in this run: perf is not installed (no perf on PATH)."
            ))
        );
        assert!(super::blocks(&run(Vec::new()), &[], &mut Vec::new()).is_empty());
    }

    #[test]
    fn counted_variants_are_rows_and_failures_are_named() {
        let mut failed = CensusRecord::new("echo", "rust", Language::Rust, "t".into());
        failed.fail("perf: perf exited before it acknowledged 'enable'");
        let mut also = failed.clone();
        also.variant = "rust-current-thread".into();
        let b = blocks(
            &run(vec![counted("go", 200), failed, also]),
            &[],
            &mut Vec::new(),
        );
        let Some(Block::Table { rows, .. }) = b.iter().find(|x| matches!(x, Block::Table { .. }))
        else {
            panic!("no table: {b:?}")
        };
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][2], text("2.01"));
        assert_eq!(
            rows[0][3],
            text("read 2"),
            "futex 0.01 is under the shown limit"
        );
        assert_eq!(rows[0][4], text("10 µs → 15 µs (1.5×)"));
        let overhead = b
            .iter()
            .find_map(|x| match x {
                Block::Para(l) if format!("{l:?}").contains("own overhead") => {
                    Some(format!("{l:?}"))
                }
                _ => None,
            })
            .expect("an overhead line");
        assert!(overhead.contains("median 1.5×"), "{overhead}");
        let Some(Block::Bullets(notes)) = b.iter().find(|x| matches!(x, Block::Bullets(_))) else {
            panic!("no notes: {b:?}")
        };
        assert_eq!(notes.len(), 1, "one line for one reason: {notes:?}");
        assert!(
            format!("{notes:?}")
                .contains("echo rust, echo rust-current-thread: not counted: perf: perf exited"),
            "{notes:?}"
        );
    }
}
