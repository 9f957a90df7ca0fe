//! The report's Environment section: the machine, toolchains and limits a
//! run recorded in meta.json, the CPU placement and the host's provenance,
//! and the servers' own configuration lines; and the warnings about the
//! machine that the report's header repeats.

use super::data::RunData;
use super::doc::{Block, Inline, Line, text};
use super::facts::thread_limits;
use crate::run::placement::Placement;
use crate::run::provenance::Provenance;

/// meta.json's `placement` and `provenance`; None in runs made before
/// they were recorded.
fn recorded(run: &RunData) -> (Option<Placement>, Option<Provenance>) {
    let get = |k: &str| run.meta.as_ref().and_then(|m| m.get(k)).cloned();
    (
        get("placement").and_then(|v| serde_json::from_value(v).ok()),
        get("provenance").and_then(|v| serde_json::from_value(v).ok()),
    )
}

/// What weakens this run's results because of the machine: the
/// placement's warnings (SMT shared, client-bound capacity) and the
/// provenance's (governor, steal, uncommitted changes).
pub fn header_warnings(run: &RunData) -> Vec<String> {
    let (placement, prov) = recorded(run);
    let mut w: Vec<String> = placement.map(|p| p.warnings).unwrap_or_default();
    match prov {
        Some(p) => w.extend(p.warnings),
        None if run.meta_str("git_dirty").as_deref() == Some("true") => w.push(
            "the git tree had uncommitted changes to tracked files: the recorded commit does not identify the code that ran".into(),
        ),
        None => {}
    }
    w
}

/// The header's list of those warnings, if any.
pub fn header(run: &RunData, b: &mut Vec<Block>) {
    let w = header_warnings(run);
    if w.is_empty() {
        return;
    }
    b.push(Block::Para(vec![
        Inline::Strong("Machine and run warnings".into()),
        Inline::Text(" (details under Environment):".into()),
    ]));
    b.push(Block::Bullets(w.into_iter().map(text).collect()));
}

/// Rows for the placement and the host's provenance.
fn host_rows(run: &RunData) -> Vec<Vec<Line>> {
    let (placement, prov) = recorded(run);
    let mut rows = Vec::new();
    if let Some(p) = placement {
        rows.push(vec![text("placement"), text(p.summary())]);
        if !p.notes.is_empty() {
            rows.push(vec![text("why this placement"), text(p.notes.join("; "))]);
        }
    }
    if let Some(p) = prov {
        for (label, value) in p.describe().into_iter().chain(p.describe_run()) {
            rows.push(vec![text(label), text(value)]);
        }
        if !p.notes.is_empty() {
            rows.push(vec![text("machine notes"), text(p.notes.join("; "))]);
        }
    }
    rows
}

pub fn environment(run: &RunData, b: &mut Vec<Block>) {
    b.push(Block::Heading {
        level: 2,
        text: "Environment".into(),
        id: "environment".into(),
    });
    if let Some(h) = run.meta.as_ref().and_then(|m| m.get("hosts")) {
        b.extend(hosts_blocks(h));
    }
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
        (
            "sha_rounds_per_ms",
            "SHA-256 rounds per ms (the harness's sha2)",
        ),
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
    // Each server's own hashing speed: cpu_ms is sized with it.
    if let Some(by) = run
        .meta
        .as_ref()
        .and_then(|m| m.get("sha_rounds_per_ms_by_language"))
        .and_then(|v| v.as_object())
    {
        let g = |k: &str| by.get(k).and_then(|x| x.as_f64());
        let mut t = by
            .iter()
            .filter_map(|(k, v)| Some(format!("{k} {:.0}", v.as_f64()?)))
            .collect::<Vec<_>>()
            .join(", ");
        if let (Some(go), Some(rust)) = (g("go"), g("rust")) {
            t.push_str(&format!(
                " (Rust's sha2 hashes {:.2}× as fast as Go's crypto/sha256 here; a job of cpu_ms is sized per server, so both runtimes schedule jobs of the same length)",
                rust / go
            ));
        }
        rows.push(vec![text("SHA-256 rounds per ms of each server"), text(t)]);
    }
    rows.extend(host_rows(run));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_warnings_come_from_placement_and_provenance_or_the_dirty_flag() {
        let dir = std::env::temp_dir().join(format!("rtc-env-{}", std::process::id()));
        let mut run = RunData::load(&super::super::fixture::write_run(&dir, |_| {})).unwrap();
        let w = header_warnings(&run);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("client-bound"));
        // A run recorded before placement and provenance: only the dirty flag.
        let m = run.meta.as_mut().unwrap().as_object_mut().unwrap();
        m.remove("placement");
        m.remove("provenance");
        assert!(header_warnings(&run).is_empty());
        run.meta.as_mut().unwrap()["git_dirty"] = serde_json::json!(true);
        let w = header_warnings(&run);
        assert!(w.len() == 1 && w[0].contains("uncommitted"), "{w:?}");
        let mut b = Vec::new();
        header(&run, &mut b);
        assert_eq!(b.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A run across machines (`harness run --hosts`): one row per host, what it
/// did, where, and how its clock and provenance read.
fn hosts_blocks(h: &serde_json::Value) -> Vec<Block> {
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .unwrap_or_else(|| "n/a".into())
    };
    let mut rows = Vec::new();
    let hosts = std::iter::once(&h["server"]).chain(
        h.get("generators")
            .and_then(|g| g.as_array())
            .into_iter()
            .flatten(),
    );
    for host in hosts.filter(|x| x.is_object()) {
        let placement = host
            .pointer("/placement/server_cpus")
            .or_else(|| host.pointer("/placement/client_cpus"))
            .map(|c| c.to_string())
            .unwrap_or_else(|| "n/a".into());
        let warnings = host
            .pointer("/provenance/warnings")
            .and_then(|w| w.as_array())
            .map(|w| {
                w.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        rows.push(vec![
            text(s(host, "name")),
            text(s(host, "role")),
            text(format!(
                "{} {}",
                s(host, "transport"),
                s(host, "destination")
            )),
            text(format!("{} ({})", s(host, "hostname"), s(host, "kernel"))),
            text(placement),
            text(format!(
                "{} ± {} ms",
                s(host, "clock_offset_ms"),
                s(host, "clock_uncertainty_ms")
            )),
            text(if warnings.is_empty() {
                "—".into()
            } else {
                warnings
            }),
        ]);
    }
    vec![
        Block::Para(text(format!(
            "This run spanned several machines (hosts file {}): the server listened on {}; the load generators started together {} s after the controller's go.",
            s(h, "file"),
            s(h, "address"),
            s(h, "start_lead_s")
        ))),
        Block::Table {
            head: [
                "host",
                "role",
                "reached by",
                "hostname (kernel)",
                "CPUs used",
                "clock offset",
                "warnings",
            ]
            .iter()
            .map(|x| x.to_string())
            .collect(),
            rows,
        },
    ]
}

#[cfg(test)]
mod hosts_tests {
    use super::*;

    #[test]
    fn a_run_across_hosts_lists_every_host() {
        let h = serde_json::json!({
            "file": "hosts.toml", "address": "198.18.0.1", "start_lead_s": 2.0,
            "server": {"name": "srv", "role": "server", "transport": "ssh", "destination": "bench1",
                       "hostname": "bench1", "kernel": "6.1", "clock_offset_ms": 0.02, "clock_uncertainty_ms": 0.1,
                       "placement": {"server_cpus": [0, 1]}, "provenance": {"warnings": ["governor powersave"]}},
            "generators": [{"name": "gen1", "role": "generator", "transport": "ssh", "destination": "bench2",
                            "hostname": "bench2", "kernel": "6.1", "clock_offset_ms": -0.3, "clock_uncertainty_ms": 0.1,
                            "placement": {"client_cpus": [0, 1, 2]}, "provenance": {"warnings": []}}]
        });
        let b = hosts_blocks(&h);
        let Block::Table { rows, .. } = &b[1] else {
            panic!("{b:?}")
        };
        assert_eq!(rows.len(), 2);
        let flat = format!("{b:?}");
        for want in [
            "srv",
            "gen1",
            "bench2",
            "governor powersave",
            "198.18.0.1",
            "[0,1,2]",
        ] {
            assert!(flat.contains(want), "{want}: {flat}");
        }
    }
}
