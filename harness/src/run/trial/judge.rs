//! Sorts a finished trial's faults: the load generators' measurement faults
//! make it invalid; the server's failures are its outcome.

use super::{Status, TrialRecord};

pub(super) fn judge(rec: &mut TrialRecord) {
    let docs: Vec<(&str, &serde_json::Value)> = rec
        .clients
        .iter()
        .filter_map(|c| c.document.as_ref().map(|d| (c.name.as_str(), d)))
        .collect();
    let (m, o) = crate::run::outcome::judge(&docs, rec.server.alive_after_load);
    if !m.valid {
        rec.status = Status::Invalid;
        rec.problems
            .push(format!("measurement invalid: {}", m.reasons.join("; ")));
    }
    for d in &m.dropped {
        if d.prefix.starts_with("server.") || !d.prefix.contains("latency_us") {
            // One line per dropped step (not per merged figure).
            if !rec.problems.iter().any(|p| p.ends_with(&d.reason)) {
                rec.problems.push(format!("{}: {}", d.prefix, d.reason));
            }
        }
    }
    if !o.ok {
        rec.problems
            .push(format!("server outcome: {}", o.reasons.join("; ")));
    }
    rec.measurement = m;
    rec.server_outcome = o;
}
