//! What a finished trial's load generators and server say, sorted into the
//! two lists the claims need apart: the measurement's own faults (the
//! generator fell behind, a rate step it could not keep, a percentile its
//! own lag could have made) and the server's outcome (it crashed, requests
//! failed or timed out, it fell behind the offered rate). Pure: documents
//! in, verdict-ready facts out.

use crate::run::trial::{Dropped, Measurement, ServerOutcome};
use serde_json::Value;

/// Top-level metrics of a client that merge its rate steps: left out when
/// one of the steps is dropped.
const MERGED: &[&str] = &[
    "achieved_rps",
    "requests",
    "latency_us",
    "send_lag_us",
    "receive_lag_us",
    "classes",
    "server_cpu_us_per_request",
    "client_cpu_us_per_request",
    "client_cpu_utilization",
];

const PERCENTILES: &[&str] = &["p50", "p99", "p999"];

fn reasons(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn valid(v: &Value) -> bool {
    v.get("valid").and_then(Value::as_bool).unwrap_or(false)
}

/// Corrected latency percentiles the generator does not vouch for in one
/// result object (`latency_trusted`), by metric name under `prefix`. They
/// stay in the trial: the verdicts bracket each corrected percentile by its
/// uncorrected one, which the generator's lateness is not in.
fn untrusted(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let Some(t) = v.get("latency_trusted") else {
        return;
    };
    for p in PERCENTILES {
        if t.get(*p).and_then(Value::as_bool) == Some(false) {
            out.push(format!("{prefix}.latency_us.corrected.{p}"));
        }
    }
    if let Some(classes) = v.get("classes").and_then(Value::as_object) {
        for (name, c) in classes {
            untrusted(c, &format!("{prefix}.classes.{name}"), out);
        }
    }
}

/// The server-outcome facts of one result object (a whole run or a step).
fn outcome_of(v: &Value, what: &str, o: &mut ServerOutcome) {
    let n = |path: &str| v.pointer(path).and_then(Value::as_u64).unwrap_or(0);
    let errors = n("/errors/total").saturating_sub(n("/errors/timeout"));
    // Timed-out or lost requests: the generator's count of them, or its
    // censored count where that is larger (lost with their connection).
    let timeouts = n("/errors/timeout").max(n("/censored"));
    o.errors += errors;
    o.timeouts += timeouts;
    let overloaded = v
        .get("overloaded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || v.pointer("/server_outcome/overloaded")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if overloaded {
        o.overloaded = true;
        let why = v
            .get("overload_reason")
            .and_then(Value::as_str)
            .unwrap_or("the backlog grew through the window");
        o.reasons.push(format!("{what}: overloaded ({why})"));
    }
    if let Some(so) = v.get("server_outcome") {
        for r in reasons(so, "reasons") {
            if !o.reasons.iter().any(|x| x.ends_with(&r)) {
                o.reasons.push(format!("{what}: {r}"));
            }
        }
    } else if errors + timeouts > 0 {
        o.reasons.push(format!(
            "{what}: {errors} failed and {timeouts} timed-out requests"
        ));
    }
}

/// Judges a trial from its clients' documents (name, document) and
/// whether the server was alive after the load.
pub fn judge(
    clients: &[(&str, &Value)],
    server_alive: Option<bool>,
) -> (Measurement, ServerOutcome) {
    let mut m = Measurement {
        valid: true,
        reasons: Vec::new(),
        dropped: Vec::new(),
        untrusted: Vec::new(),
        late_only: false,
    };
    // Every invalid client invalid only for lateness.
    let mut late_only = true;
    let late = |d: &Value| {
        d.get("invalid_late_only")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let mut o = ServerOutcome::default();
    // Documents written before the generator told the two apart: any
    // fault made the run invalid.
    let new_format = |d: &Value| d.get("server_outcome").is_some();
    for (name, doc) in clients {
        let steps = doc
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if steps.is_empty() {
            if !valid(doc) {
                m.valid = false;
                late_only &= late(doc);
                m.reasons.extend(
                    reasons(doc, "invalid_reasons")
                        .into_iter()
                        .map(|r| format!("load generator {name}: {r}")),
                );
            }
            untrusted(doc, name, &mut m.untrusted);
            outcome_of(doc, &format!("client {name}"), &mut o);
        } else {
            let mut bad = 0;
            for (i, s) in steps.iter().enumerate() {
                let label = format!("step{}", i + 1);
                let rate = s
                    .get("rate_rps")
                    .and_then(Value::as_f64)
                    .map(|r| format!(" ({r:.0} req/s)"))
                    .unwrap_or_default();
                if !valid(s) {
                    bad += 1;
                    let why = reasons(s, "invalid_reasons").join("; ");
                    for prefix in [format!("{name}.{label}"), format!("server.{label}")] {
                        m.dropped.push(Dropped {
                            prefix,
                            reason: format!("{label}{rate} dropped: {why}"),
                        });
                    }
                } else {
                    untrusted(s, &format!("{name}.{label}"), &mut m.untrusted);
                }
                outcome_of(s, &format!("client {name} {label}{rate}"), &mut o);
            }
            if bad == steps.len() {
                m.valid = false;
                late_only &= steps.iter().all(late);
                m.reasons.push(format!(
                    "load generator {name}: every rate step invalid ({})",
                    reasons(doc, "invalid_reasons").join("; ")
                ));
            } else if bad > 0 {
                for k in MERGED {
                    m.dropped.push(Dropped {
                        prefix: format!("{name}.{k}"),
                        reason: format!(
                            "{bad} of {} rate steps dropped: the merged figure mixes them",
                            steps.len()
                        ),
                    });
                }
            }
        }
        if !new_format(doc) && !valid(doc) {
            // The old document cannot tell a server's errors from the
            // generator's faults: both stay a measurement fault.
            m.valid = false;
            late_only = false;
        }
    }
    m.late_only = !m.valid && late_only;
    if server_alive == Some(false) {
        o.crashed = true;
        o.reasons
            .push("the server process died during the load".into());
    }
    o.ok = !(o.crashed || o.errors > 0 || o.timeouts > 0 || o.overloaded);
    (m, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok_result() -> Value {
        json!({"valid": true, "invalid_reasons": [], "errors": {"total": 0, "timeout": 0},
               "server_outcome": {"ok": true, "reasons": []}, "overloaded": false})
    }

    #[test]
    fn late_only_when_every_invalid_client_was_only_late() {
        let mut late = ok_result();
        late["valid"] = json!(false);
        late["invalid_reasons"] = json!(["send lag p99 3660 µs exceeds 1000 µs"]);
        late["invalid_late_only"] = json!(true);
        let ok = ok_result();
        let (m, _) = judge(&[("main", &late), ("probe", &ok)], Some(true));
        assert!(!m.valid && m.late_only);
        let mut other = ok_result();
        other["valid"] = json!(false);
        other["invalid_reasons"] = json!(["3 body checks skipped"]);
        let (m, _) = judge(&[("main", &late), ("probe", &other)], Some(true));
        assert!(!m.valid && !m.late_only);
        // A document without the key (older generator): not late-only.
        late.as_object_mut().unwrap().remove("invalid_late_only");
        let (m, _) = judge(&[("main", &late)], Some(true));
        assert!(!m.late_only);
        let (m, _) = judge(&[("main", &ok)], Some(true));
        assert!(m.valid && !m.late_only);
    }

    #[test]
    fn a_bad_step_drops_only_itself_and_the_merged_figures() {
        let mut bad = ok_result();
        bad["valid"] = json!(false);
        bad["invalid_reasons"] = json!(["send lag p99 4000 µs exceeds 1000 µs"]);
        let mut doc = ok_result();
        doc["valid"] = json!(false);
        doc["steps"] = json!([ok_result(), ok_result(), bad]);
        doc["steps"][2]["rate_rps"] = json!(112800.0);
        let (m, o) = judge(&[("main", &doc)], Some(true));
        assert!(m.valid, "{m:?}");
        assert!(o.ok);
        let prefixes: Vec<&str> = m.dropped.iter().map(|d| d.prefix.as_str()).collect();
        assert!(prefixes.contains(&"main.step3") && prefixes.contains(&"server.step3"));
        assert!(
            !prefixes
                .iter()
                .any(|p| p.contains("step1") || p.contains("step2"))
        );
        assert!(prefixes.contains(&"main.latency_us"));
        assert!(
            m.dropped[0].reason.contains("112800 req/s")
                && m.dropped[0].reason.contains("send lag")
        );
        // Every step bad: the measurement is invalid.
        let mut all_bad = doc.clone();
        all_bad["steps"] = json!([bad, bad]);
        let (m, _) = judge(&[("main", &all_bad)], Some(true));
        assert!(!m.valid && m.reasons[0].contains("every rate step"));
    }

    #[test]
    fn server_failures_are_outcomes_not_invalid_measurements() {
        let mut doc = ok_result();
        doc["errors"] = json!({"total": 12, "timeout": 10});
        doc["server_outcome"] = json!({"ok": false, "reasons": ["10 requests timed out"]});
        let (m, o) = judge(&[("main", &doc)], Some(false));
        assert!(m.valid);
        assert!(
            !o.ok && o.crashed && o.timeouts == 10 && o.errors == 2,
            "{o:?}"
        );
        assert!(o.reasons.iter().any(|r| r.contains("timed out")));
        assert!(o.reasons.iter().any(|r| r.contains("died")));
        let mut over = ok_result();
        over["overloaded"] = json!(true);
        over["overload_reason"] = json!("backlog grew from 0 to 900");
        let (_, o) = judge(&[("main", &over)], Some(true));
        assert!(o.overloaded && !o.ok && o.reasons[0].contains("backlog"));
    }

    #[test]
    fn untrusted_percentiles_are_named_and_kept() {
        let mut doc = ok_result();
        doc["latency_trusted"] = json!({"p50": true, "p99": true, "p999": false});
        doc["classes"] =
            json!({"light": {"latency_trusted": {"p50": true, "p99": false, "p999": false}}});
        let (m, _) = judge(&[("probe", &doc)], Some(true));
        let names: Vec<&str> = m.untrusted.iter().map(String::as_str).collect();
        assert!(names.contains(&"probe.latency_us.corrected.p999"));
        assert!(names.contains(&"probe.classes.light.latency_us.corrected.p99"));
        assert!(!names.contains(&"probe.latency_us.corrected.p99"));
        assert!(m.dropped.is_empty(), "nothing is left out for trust");
        assert!(m.valid);
    }

    #[test]
    fn old_documents_stay_invalid_on_any_fault() {
        let doc = json!({"valid": false, "invalid_reasons": ["2 errors"], "errors": {"total": 2, "timeout": 0}});
        let (m, _) = judge(&[("main", &doc)], Some(true));
        assert!(!m.valid && m.reasons[0].contains("2 errors"));
    }
}
