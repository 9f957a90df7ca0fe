//! A `--telemetry` file checked line by line: each line against
//! schemas/telemetry.schema.json (with `crate::schema_check`), then against
//! the lines before it — one runtime throughout (the one the trial ran),
//! `seq` counting up by one, time never going back, a histogram's bounds
//! the same on every line, counters never decreasing. A line that breaks a
//! rule is left out with the reason; the rest are kept, so one bad line
//! (say, a final sample cut short) costs one sample, not the trial's
//! telemetry.

use super::sample::{self, Sample, Value, keys};
use serde_json::Value as Json;
use std::sync::OnceLock;

static SCHEMA_TEXT: &str = include_str!("../../../../schemas/telemetry.schema.json");

fn schema() -> &'static Json {
    static S: OnceLock<Json> = OnceLock::new();
    S.get_or_init(|| serde_json::from_str(SCHEMA_TEXT).expect("the telemetry schema is JSON"))
}

/// At most this many problems are kept per file, then a count of the rest.
const MAX_PROBLEMS: usize = 10;

/// What a telemetry file held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    /// "go" or "tokio", from the first kept line.
    pub runtime: Option<String>,
    pub samples: Vec<Sample>,
    /// Why lines were left out, or what is odd about the file.
    pub problems: Vec<String>,
}

impl Read {
    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    fn cap_problems(&mut self) {
        if self.problems.len() > MAX_PROBLEMS {
            let more = self.problems.len() - MAX_PROBLEMS;
            self.problems.truncate(MAX_PROBLEMS);
            self.problems.push(format!("and {more} more"));
        }
    }
}

/// The rules a line breaks against the last kept line, if any.
fn against_previous(prev: &Sample, s: &Sample) -> Option<String> {
    if s.t_unix_ms < prev.t_unix_ms {
        return Some(format!(
            "time goes back ({} ms before the line before it)",
            prev.t_unix_ms - s.t_unix_ms
        ));
    }
    for (k, v) in &s.metrics {
        let Some(p) = prev.metrics.get(k) else {
            continue;
        };
        match (p, v) {
            (Value::Histogram(a), Value::Histogram(b)) => {
                if a.bounds_us != b.bounds_us {
                    return Some(format!("{k}: the bucket bounds changed"));
                }
                if a.counts.len() != b.counts.len()
                    || a.counts.iter().zip(&b.counts).any(|(x, y)| y < x)
                {
                    return Some(format!("{k}: a bucket count decreased"));
                }
            }
            (Value::Number(a), Value::Number(b)) if keys::is_counter(k) && b < a => {
                return Some(format!("{k}: counter decreased from {a} to {b}"));
            }
            (Value::PerWorker(a), Value::PerWorker(b))
                if keys::is_counter(k)
                    && (a.len() != b.len() || a.iter().zip(b).any(|(x, y)| y < x)) =>
            {
                return Some(format!("{k}: a worker's counter decreased"));
            }
            _ => {}
        }
    }
    None
}

/// Histograms whose bounds and counts do not fit together.
fn shape_problem(s: &Sample) -> Option<String> {
    s.metrics.iter().find_map(|(k, v)| match v {
        Value::Histogram(h) if h.bounds_us.len() != h.counts.len() + 1 => Some(format!(
            "{k}: {} bounds for {} buckets",
            h.bounds_us.len(),
            h.counts.len()
        )),
        _ => None,
    })
}

/// Reads a telemetry file's text. `expect_runtime` is the runtime the trial
/// ran ("go", "tokio"); a line of another is left out.
pub fn read(text: &str, expect_runtime: Option<&str>) -> Read {
    let mut out = Read::default();
    let mut last_seq: Option<u64> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let json: Json = match serde_json::from_str(line) {
            Ok(j) => j,
            Err(e) => {
                out.problem(format!("line {n}: not JSON ({e}), left out"));
                continue;
            }
        };
        let mut errs = Vec::new();
        crate::schema_check::check(schema(), &json, schema(), &format!("line {n}"), &mut errs);
        if !errs.is_empty() {
            errs.truncate(3);
            out.problem(format!("{} (schema), left out", errs.join("; ")));
            continue;
        }
        let Some(s) = sample::from_json(&json) else {
            out.problem(format!("line {n}: a value has no reading, left out"));
            continue;
        };
        let runtime = json.get("runtime").and_then(Json::as_str).unwrap_or("");
        let want = out.runtime.as_deref().or(expect_runtime);
        if let Some(w) = want.filter(|w| *w != runtime) {
            out.problem(format!(
                "line {n}: runtime {runtime:?}, not {w:?}, left out"
            ));
            continue;
        }
        if let Some(why) =
            shape_problem(&s).or_else(|| out.samples.last().and_then(|p| against_previous(p, &s)))
        {
            out.problem(format!("line {n}: {why}, left out"));
            continue;
        }
        let want_seq = last_seq.map_or(0, |q| q + 1);
        if s.seq != want_seq {
            out.problem(format!("line {n}: seq {} where {want_seq} was due", s.seq));
        }
        last_seq = Some(s.seq);
        out.runtime.get_or_insert_with(|| runtime.to_string());
        out.samples.push(s);
    }
    out.cap_problems();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn go_line(seq: u64, t: f64, cycles: u64, lat: [u64; 3]) -> String {
        json!({"schema_version": 1, "runtime": "go", "seq": seq, "t_unix_ms": t, "metrics": {
            "/sched/latencies:seconds": {"unit": "s", "bounds": [null, 0.0, 0.001, null], "counts": lat},
            "/sched/pauses/total/gc:seconds": {"unit": "s", "bounds": [null, 0.0, null], "counts": [0, cycles]},
            "/gc/cycles/total:gc-cycles": cycles,
            "/sched/goroutines:goroutines": 5,
            "/sched/gomaxprocs:threads": 1
        }})
        .to_string()
    }

    #[test]
    fn a_good_file_is_kept_whole() {
        let text = [
            go_line(0, 1000.0, 0, [0, 1, 0]),
            go_line(1, 1100.0, 1, [0, 5, 1]),
            go_line(2, 1200.0, 1, [0, 9, 1]),
        ]
        .join("\n");
        let r = read(&text, Some("go"));
        assert_eq!(r.problems, Vec::<String>::new());
        assert_eq!(r.runtime.as_deref(), Some("go"));
        assert_eq!(r.samples.len(), 3);
        assert_eq!(r.samples[2].number(keys::GO_GC_CYCLES), Some(1.0));
    }

    #[test]
    fn bad_lines_are_left_out_with_the_reason() {
        let mut bad_bounds = go_line(3, 1300.0, 2, [0, 9, 2]);
        bad_bounds = bad_bounds.replace("[null,0.0,0.001,null]", "[null,0.0,0.002,null]");
        let text = [
            go_line(0, 1000.0, 0, [0, 1, 0]),
            go_line(1, 1100.0, 2, [0, 5, 1]),
            // the counter goes back
            go_line(2, 1200.0, 1, [0, 9, 1]),
            bad_bounds,
            // the schema: no seq
            r#"{"schema_version":1,"runtime":"go","t_unix_ms":1,"metrics":{}}"#.into(),
            // another runtime
            json!({"schema_version": 1, "runtime": "tokio", "seq": 2, "t_unix_ms": 1400.0, "metrics": {
                "num_workers": 1, "num_alive_tasks": 0, "global_queue_depth": 0,
                "worker_total_busy_duration_ns": [0], "worker_park_count": [0], "worker_park_unpark_count": [0]}})
            .to_string(),
            // time goes back
            go_line(2, 900.0, 2, [0, 9, 1]),
            go_line(2, 1500.0, 3, [0, 12, 1]),
            // cut short by a kill
            r#"{"schema_version":1,"runtime":"go","se"#.into(),
        ]
        .join("\n");
        let r = read(&text, Some("go"));
        let seqs: Vec<u64> = r.samples.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        let p = r.problems.join(" | ");
        for want in [
            "line 3: /gc/cycles/total:gc-cycles: counter decreased from 2 to 1",
            "line 4: /sched/latencies:seconds: the bucket bounds changed",
            "required key \"seq\" missing",
            "line 6: runtime \"tokio\", not \"go\"",
            "line 7: time goes back",
            "line 9: not JSON",
        ] {
            assert!(p.contains(want), "{want} in {p}");
        }
        assert_eq!(r.problems.len(), 6, "{p}");
    }

    #[test]
    fn a_runtime_other_than_the_trials_and_gaps_in_seq_are_named() {
        let text = [
            go_line(1, 1000.0, 0, [0, 1, 0]),
            go_line(3, 1100.0, 0, [0, 1, 0]),
        ]
        .join("\n");
        let r = read(&text, Some("go"));
        assert_eq!(r.samples.len(), 2, "a gap keeps its lines");
        assert_eq!(
            r.problems,
            vec![
                "line 1: seq 1 where 0 was due".to_string(),
                "line 2: seq 3 where 2 was due".to_string()
            ]
        );
        let r = read(&go_line(0, 1.0, 0, [0, 0, 0]), Some("tokio"));
        assert!(r.samples.is_empty());
        assert!(
            r.problems[0].contains("runtime \"go\", not \"tokio\""),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn problems_are_capped() {
        let text = "x\n".repeat(25);
        let r = read(&text, None);
        assert_eq!(r.problems.len(), MAX_PROBLEMS + 1);
        assert_eq!(r.problems.last().unwrap(), "and 15 more");
    }
}
