//! A run directory read back: `meta.json`, `summary.json`, the trial files,
//! the census files and the profile copy — everything the verdicts, plots and report use.
//! Reading is tolerant: a missing or unreadable file is a problem listed in
//! the report, never a panic.

use crate::analyse::summary::{ScenarioSummary, Summary};
use crate::config::profile::Language;
use crate::run::results::RunDir;
use crate::run::trial::{Status, TrialRecord};
use anyhow::{Context, Result};
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct RunData {
    pub dir: PathBuf,
    pub meta: Option<Value>,
    pub summary: Summary,
    pub trials: Vec<TrialRecord>,
    /// The run's copy of its profile, as TOML.
    pub profile: Option<toml::Value>,
    /// The syscall census files (`census/`), where the profile asked for them.
    pub census: Vec<crate::run::census::record::CensusRecord>,
    /// Files that could not be read, in words.
    pub problems: Vec<String>,
}

impl RunData {
    pub fn load(dir: &Path) -> Result<RunData> {
        let run = RunDir::open(dir);
        let bytes = std::fs::read(run.summary()).with_context(|| {
            format!(
                "{}: no summary.json (not a results directory?)",
                dir.display()
            )
        })?;
        let summary: Summary = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: unreadable summary.json", dir.display()))?;
        let mut problems = Vec::new();
        let meta = match std::fs::read(run.meta()) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(format!("meta.json is not JSON: {e}"));
                    None
                }
            },
            Err(e) => {
                problems.push(format!("meta.json: {e}"));
                None
            }
        };
        let profile = std::fs::read_to_string(dir.join("profile.toml"))
            .ok()
            .and_then(|t| toml::from_str(&t).ok());
        let (mut trials, trial_problems) =
            crate::run::results::read_json_files::<TrialRecord>(&dir.join("trials"));
        problems.extend(trial_problems);
        trials.sort_by(|a, b| {
            (&a.scenario, &a.variant, a.repeat).cmp(&(&b.scenario, &b.variant, b.repeat))
        });
        let (census, census_problems) = crate::run::census::record::load_dir(dir);
        problems.extend(census_problems);
        Ok(RunData {
            dir: dir.to_path_buf(),
            meta,
            summary,
            trials,
            profile,
            census,
            problems,
        })
    }

    /// The network scenarios (not the microbenchmarks), in profile order.
    pub fn network_scenarios(&self) -> impl Iterator<Item = &ScenarioSummary> {
        self.summary
            .scenarios
            .iter()
            .filter(|s| s.workload != "micro")
    }

    pub fn scenario(&self, id: &str) -> Option<&ScenarioSummary> {
        self.summary.scenarios.iter().find(|s| s.id == id)
    }

    /// The scenario's trials of one variant, by repeat.
    pub fn trials_of<'a>(
        &'a self,
        scenario: &'a str,
        variant: &'a str,
    ) -> impl Iterator<Item = &'a TrialRecord> + 'a {
        self.trials
            .iter()
            .filter(move |t| t.scenario == scenario && t.variant == variant)
    }

    /// The first trial of a variant that is ok, else any that has samples.
    pub fn representative<'a>(
        &'a self,
        scenario: &'a str,
        variant: &'a str,
    ) -> Option<&'a TrialRecord> {
        self.trials_of(scenario, variant)
            .find(|t| t.status == Status::Ok)
            .or_else(|| {
                self.trials_of(scenario, variant)
                    .find(|t| !t.server_samples.is_empty())
            })
    }

    pub fn language(&self, variant: &str) -> Language {
        match self.trials.iter().find(|t| t.variant == variant) {
            Some(t) => t.language,
            None if variant.starts_with("go") => Language::Go,
            None => Language::Rust,
        }
    }

    /// Every variant in order of first appearance over the scenarios.
    pub fn variants(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.summary.scenarios {
            for v in &s.variants {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    pub fn meta_str(&self, key: &str) -> Option<String> {
        let v = self.meta.as_ref()?.get(key)?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn meta_f64(&self, key: &str) -> Option<f64> {
        self.meta.as_ref()?.get(key)?.as_f64()
    }

    /// The profile's scenario table of `id`.
    pub fn profile_scenario(&self, id: &str) -> Option<&toml::Value> {
        self.profile
            .as_ref()?
            .get("scenario")?
            .as_array()?
            .iter()
            .find(|s| s.get("id").and_then(|v| v.as_str()) == Some(id))
    }
}

/// A load generator's document in a trial.
pub fn client_doc<'a>(t: &'a TrialRecord, client: &str) -> Option<&'a Value> {
    t.clients
        .iter()
        .find(|c| c.name == client)?
        .document
        .as_ref()
}

/// Decodes a V2+deflate, base64 histogram as the load generator writes it.
pub fn decode_hist(b64: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// Where in a load generator document a latency distribution lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Whole,
    Class(String),
    /// 1-based step number.
    Step(usize),
}

impl Part {
    pub fn of<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        match self {
            Part::Whole => Some(doc),
            Part::Class(c) => doc.get("classes")?.get(c),
            Part::Step(k) => doc.get("steps")?.as_array()?.get(k.checked_sub(1)?),
        }
    }
    pub fn suffix(&self) -> String {
        match self {
            Part::Whole => String::new(),
            Part::Class(c) => format!("-{c}"),
            Part::Step(k) => format!("-step{k}"),
        }
    }
    pub fn label(&self) -> String {
        match self {
            Part::Whole => String::new(),
            Part::Class(c) => format!("class {c}"),
            Part::Step(k) => format!("step {k}"),
        }
    }
    /// The metric-name infix (`classes.light.`, `step2.`).
    pub fn metric_infix(&self) -> String {
        match self {
            Part::Whole => String::new(),
            Part::Class(c) => format!("classes.{c}."),
            Part::Step(k) => format!("step{k}."),
        }
    }
}

/// The parts worth a latency plot of one client: each step of a rate-step
/// run, each class of a mix with several classes, else the whole.
pub fn parts(doc: &Value) -> Vec<Part> {
    if let Some(steps) = doc.get("steps").and_then(Value::as_array)
        && !steps.is_empty()
    {
        return (1..=steps.len()).map(Part::Step).collect();
    }
    match doc.get("classes").and_then(Value::as_object) {
        Some(c) if c.len() > 1 => c.keys().map(|k| Part::Class(k.clone())).collect(),
        _ => vec![Part::Whole],
    }
}

/// The corrected latency histogram of a part, or why there is none.
pub fn corrected_hist(doc: &Value, part: &Part) -> Result<Histogram<u64>, String> {
    let p = part
        .of(doc)
        .ok_or_else(|| format!("no {} in the document", part.label()))?;
    let b64 = p
        .pointer("/histograms/latency_corrected_ns")
        .and_then(Value::as_str)
        .ok_or("no histograms.latency_corrected_ns in the document")?;
    decode_hist(b64).ok_or_else(|| "histogram does not decode".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parts_follow_steps_then_classes() {
        assert_eq!(
            parts(&json!({"steps": [{}, {}]})),
            vec![Part::Step(1), Part::Step(2)]
        );
        assert_eq!(
            parts(&json!({"steps": [], "classes": {"a": {}, "b": {}}})),
            vec![Part::Class("a".into()), Part::Class("b".into())]
        );
        assert_eq!(parts(&json!({"classes": {"a": {}}})), vec![Part::Whole]);
        assert_eq!(Part::Step(2).of(&json!({"steps": [1, 2]})), Some(&json!(2)));
        assert!(
            corrected_hist(&json!({}), &Part::Whole)
                .unwrap_err()
                .contains("no histograms")
        );
    }

    #[test]
    fn histograms_round_trip() {
        use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let mut buf = Vec::new();
        V2DeflateSerializer::new().serialize(&h, &mut buf).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(buf);
        let back = decode_hist(&b64).unwrap();
        assert_eq!(back.len(), 1000);
        assert!(decode_hist("not base64!").is_none());
    }
}
