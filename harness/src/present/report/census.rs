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
    let mut notes: Vec<Line> = recs
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| {
            text(format!(
                "{} {}: not counted: {}",
                r.scenario,
                r.variant,
                r.reason.clone().unwrap_or_default()
            ))
        })
        .collect();
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
