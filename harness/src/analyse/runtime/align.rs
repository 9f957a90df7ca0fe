//! The runtime's figures on the timeline: per sampling interval (each two
//! consecutive samples) and per second of the load generator — each of its
//! per-second `intervals` placed on the trial's axis by its window
//! (`window_start_unix_ms` + `t_s`, the same wall clock as the samples),
//! with the runtime's figures over the samples bracketing that second.

use super::{Figures, between, over_window};
use crate::analyse::metrics::{Window, document_windows};
use crate::run::telemetry::sample::Sample;
use crate::run::trial::TrialRecord;
use serde_json::Value as Json;

/// The figures of every sampling interval, in order.
pub fn intervals(samples: &[Sample], origin_unix_ms: f64) -> Vec<Figures> {
    (1..samples.len())
        .map(|i| between(samples, origin_unix_ms, i - 1, i))
        .collect()
}

/// One second of a load generator's measured window (trial time).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSecond {
    pub start_ms: f64,
    pub end_ms: f64,
    /// Corrected p99 of the responses completed in it.
    pub p99_us: f64,
    pub requests: f64,
}

/// The per-second `intervals` of one part of a document (the whole, a
/// class or a step) measured over window `w`; the last second ends with
/// the window.
pub fn load_seconds(part: &Json, w: &Window) -> Vec<LoadSecond> {
    part.get("intervals")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|iv| {
            let t_s = iv.get("t_s")?.as_f64()?;
            let start_ms = w.start_ms + t_s * 1e3;
            let end_ms = (start_ms + 1e3).min(w.end_ms);
            Some(LoadSecond {
                start_ms,
                end_ms: if end_ms > start_ms {
                    end_ms
                } else {
                    start_ms + 1e3
                },
                p99_us: iv.get("p99_us")?.as_f64()?,
                requests: iv.get("requests").and_then(Json::as_f64).unwrap_or(0.0),
            })
        })
        .collect()
}

/// The class a head-of-line scenario is about: "light" where the mix has
/// it beside other classes; None (the whole) otherwise.
pub fn focus_class(doc: &Json) -> Option<String> {
    let classes = doc.get("classes")?.as_object()?;
    (classes.len() > 1 && classes.contains_key("light")).then(|| "light".to_string())
}

/// The first client's seconds over all its windows (each rate step's in
/// turn), of `class` where given.
pub fn trial_seconds(t: &TrialRecord, class: Option<&str>) -> Vec<LoadSecond> {
    let Some(c) = t.clients.first() else {
        return Vec::new();
    };
    let Some(doc) = &c.document else {
        return Vec::new();
    };
    document_windows(doc, c.launched_ms, t.origin_unix_ms)
        .into_iter()
        .flat_map(|(w, part)| {
            let part = class
                .and_then(|k| part.get("classes")?.get(k))
                .unwrap_or(part);
            load_seconds(part, &w)
        })
        .collect()
}

/// A second of the load generator beside the runtime's figures over the
/// same second.
#[derive(Debug, Clone, PartialEq)]
pub struct Aligned {
    pub second: LoadSecond,
    pub runtime: Option<Figures>,
}

pub fn align(samples: &[Sample], origin_unix_ms: f64, seconds: &[LoadSecond]) -> Vec<Aligned> {
    seconds
        .iter()
        .map(|s| Aligned {
            second: s.clone(),
            runtime: over_window(samples, origin_unix_ms, s.start_ms, s.end_ms),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ORIGIN, go_sample, trial};
    use super::*;
    use crate::analyse::metrics::client_windows;
    use serde_json::json;

    #[test]
    fn intervals_are_consecutive_samples() {
        let s: Vec<Sample> = (0..=6).map(go_sample).collect();
        let iv = intervals(&s, ORIGIN);
        assert_eq!(iv.len(), 6);
        assert_eq!((iv[0].start_ms, iv[0].end_ms), (0.0, 100.0));
        // Interval 4 → 5 holds the first slow event.
        assert_eq!(iv[3].sched_latency_p99_us, Some(10.0));
        assert_eq!(iv[4].sched_latency_p99_us, Some(1000.0));
        assert_eq!(iv[4].sched_latency_events, Some(11.0));
        // GC cycles end at samples 3 and 6.
        let gc: Vec<f64> = iv.iter().filter_map(|f| f.gc_cycles).collect();
        assert_eq!(gc, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        assert!(intervals(&s[..1], ORIGIN).is_empty());
    }

    /// A load generator whose window starts 150 ms after the origin and
    /// lasts 2.5 s: seconds at 150, 1150 and 2150 ms, the last cut at 2650.
    fn doc() -> Json {
        let iv = |t: f64, p99: f64| json!({"t_s": t, "requests": 100, "achieved_rps": 100.0, "p99_us": p99});
        json!({
            "warmup_s": 0.1, "duration_s": 2.5,
            "window_start_unix_ms": ORIGIN + 150.0, "window_end_unix_ms": ORIGIN + 2650.0,
            "intervals": [iv(0.0, 500.0), iv(1.0, 800.0), iv(2.0, 900.0)],
            "classes": {
                "light": {"intervals": [iv(0.0, 50.0), iv(1.0, 80.0), iv(2.0, 90.0)]},
                "heavy": {"intervals": []}
            }
        })
    }

    #[test]
    fn load_seconds_sit_on_the_trials_axis() {
        let d = doc();
        let ws = client_windows(&d, 0.0, ORIGIN, 0.1, 2.5);
        let s = load_seconds(&d, &ws[0]);
        let spans: Vec<(f64, f64, f64)> =
            s.iter().map(|x| (x.start_ms, x.end_ms, x.p99_us)).collect();
        assert_eq!(
            spans,
            vec![
                (150.0, 1150.0, 500.0),
                (1150.0, 2150.0, 800.0),
                (2150.0, 2650.0, 900.0)
            ]
        );
        assert_eq!(focus_class(&d).as_deref(), Some("light"));
        assert_eq!(focus_class(&json!({"classes": {"light": {}}})), None);
    }

    #[test]
    fn each_second_gets_the_runtime_figures_of_the_same_second() {
        let t = trial("go", (0.0, 2700.0), doc());
        let light = trial_seconds(&t, Some("light"));
        assert_eq!(
            light.iter().map(|s| s.p99_us).collect::<Vec<_>>(),
            vec![50.0, 80.0, 90.0]
        );
        let whole = trial_seconds(&t, None);
        assert_eq!(whole[0].p99_us, 500.0);
        // Samples every 100 ms from the origin to 3 s.
        let samples: Vec<Sample> = (0..=30).map(go_sample).collect();
        let a = align(&samples, ORIGIN, &light);
        // Second 1 (150..1150 ms): samples 1 and 12; slow events at samples 5..=12.
        let f = a[0].runtime.as_ref().unwrap();
        assert_eq!((f.start_ms, f.end_ms), (100.0, 1200.0));
        assert_eq!(f.sched_latency_events, Some(110.0 + 8.0));
        assert_eq!(f.sched_latency_p99_us, Some(1000.0));
        // GC cycles: 0 at sample 1, 4 at sample 12.
        assert_eq!(f.gc_cycles, Some(4.0));
        // The last, short second: samples 21 and 27.
        let f = a[2].runtime.as_ref().unwrap();
        assert_eq!((f.start_ms, f.end_ms), (2100.0, 2700.0));
        assert_eq!(a[2].second.p99_us, 90.0);
        // No samples reach that second: it stands alone.
        let a = align(&samples[..2], ORIGIN, &light[2..]);
        assert_eq!(a[0].runtime, None);
    }
}
