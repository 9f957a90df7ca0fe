//! The report's Environment section: the machine, toolchains and limits a
//! run recorded in meta.json, and the servers' own configuration lines.

use super::data::RunData;
use super::doc::{Block, Line, text};
use super::thread_limits;

pub fn environment(run: &RunData, b: &mut Vec<Block>) {
    b.push(Block::Heading {
        level: 2,
        text: "Environment".into(),
        id: "environment".into(),
    });
    let keys = [
        ("profile", "profile"),
        ("started_at", "started"),
        ("ended_at", "ended"),
        ("git_commit", "commit"),
        ("git_dirty", "uncommitted changes"),
        ("harness_version", "harness version"),
        ("cpu_model", "CPU"),
        ("cpu_count_online", "CPUs online"),
        ("cpus_allowed", "CPUs allowed"),
        ("server_cpus", "server CPUs"),
        ("client_cpus", "load generator CPUs"),
        ("kernel", "kernel"),
        ("go_version", "Go"),
        ("rustc_version", "rustc"),
        ("nofile_soft", "open files (soft limit)"),
        ("data_file_bytes", "data file bytes"),
        ("sha_rounds_per_ms", "SHA-256 rounds per ms (calibration)"),
    ];
    let mut rows: Vec<Vec<Line>> = keys
        .iter()
        .map(|(k, label)| {
            vec![
                text(*label),
                text(run.meta_str(k).unwrap_or_else(|| "n/a".into())),
            ]
        })
        .collect();
    // The servers' own configuration lines.
    for lang in ["go", "rust"] {
        if let Some(cfg) = run
            .trials
            .iter()
            .filter_map(|t| t.server.config.as_ref())
            .find(|c| c.get("server").and_then(|v| v.as_str()) == Some(lang))
        {
            let fields: Vec<String> = [
                "server_version",
                "go_version",
                "tokio_version",
                "rustc_version",
                "workers",
                "gomaxprocs",
                "max_threads",
                "max_blocking_threads",
            ]
            .iter()
            .filter_map(|k| {
                cfg.get(*k).filter(|v| !v.is_null()).map(|v| {
                    format!(
                        "{k} {}",
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
            })
            .collect();
            rows.push(vec![
                text(format!("{lang} server")),
                text(fields.join(", ")),
            ]);
        }
    }
    // Issue 6: the runtimes' thread limits are reported with the results.
    for (label, value) in thread_limits(run) {
        rows.push(vec![text(label), text(value)]);
    }
    if let Some(w) = run
        .meta
        .as_ref()
        .and_then(|m| m.get("warnings"))
        .and_then(|w| w.as_array())
        .filter(|w| !w.is_empty())
    {
        rows.push(vec![
            text("preflight warnings"),
            text(
                w.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ]);
    }
    b.push(Block::Table {
        head: vec!["".into(), "".into()],
        rows,
    });
}
