//! `harness/claims.toml` read into typed rules. serde does the refusing:
//! every table denies unknown keys, and a rule's `kind` selects exactly the
//! keys that kind takes. What serde cannot check (regions that overlap, an
//! empty list, a duplicate name) is checked here; what needs the profile
//! (metric names, scenarios) is checked by `expand`.

use crate::config::regions::{Region, Union};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub const CLAIMS_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
#[error("{file}: {context}: {message}")]
pub struct ClaimsError {
    pub file: String,
    pub context: String,
    pub message: String,
}

/// The verdict words, in the order the report sorts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Refuted,
    Mixed,
    Inconclusive,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Refuted => "refuted",
            Verdict::Mixed => "mixed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// How a claim's counted checks combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Every check must agree ("tokio is more efficient": each measure).
    #[default]
    All,
    /// One supported check is enough ("crash OR slow").
    Any,
}

/// Ratio a/b (on the log scale) or difference a − b.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Ratio,
    Difference,
}

/// One region or a list of them (their union).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Region),
    Many(Vec<Region>),
}

impl OneOrMany {
    fn union(self) -> Result<Union, String> {
        Union::new(match self {
            OneOrMany::One(r) => vec![r],
            OneOrMany::Many(v) => v,
        })
    }
}

/// What makes a server's outcome a failure for an `outcome` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// The server process died during the load.
    Crashed,
    /// Requests failed: resets, closed connections, wrong answers.
    Errors,
    /// Requests went unanswered within the load generator's timeout.
    Timeouts,
    /// The server fell behind the offered rate (its backlog grew).
    Overloaded,
}

/// A rule as written: `[claim.check.rule]`, `kind` picks the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawRule {
    /// Two variants of one scenario, paired by round.
    Ratio {
        metric: String,
        numerator: Vec<String>,
        denominator: Vec<String>,
        #[serde(default)]
        mode: Mode,
        supported: OneOrMany,
        refuted: OneOrMany,
    },
    /// A variant against itself in another scenario, paired by round.
    Baseline {
        metric: String,
        #[serde(default)]
        variants: Vec<String>,
        baseline_scenario: String,
        /// variant -> the baseline scenario's variant to compare with,
        /// where the baseline scenario does not run the same one.
        #[serde(default)]
        baseline_variant: BTreeMap<String, String>,
        #[serde(default)]
        mode: Mode,
        supported: OneOrMany,
        refuted: OneOrMany,
    },
    /// Two metrics of the same trial, combined per trial before any
    /// statistics (light p99 / heavy p50, peak − baseline threads).
    WithinTrial {
        metric: String,
        of: String,
        #[serde(default)]
        variants: Vec<String>,
        #[serde(default)]
        mode: Mode,
        supported: OneOrMany,
        refuted: OneOrMany,
    },
    /// A metric's median against fixed values.
    Threshold {
        metric: String,
        #[serde(default)]
        variants: Vec<String>,
        supported: OneOrMany,
        refuted: OneOrMany,
    },
    /// The servers' outcomes (alive, answered): reads server outcomes, not
    /// metrics.
    Outcome {
        #[serde(default)]
        variants: Vec<String>,
        fails_on: Vec<Failure>,
        if_ok: Verdict,
        if_failed: Verdict,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    statement: String,
    /// Why the thresholds are where they are (required: see `why_required`).
    why: String,
    #[serde(default)]
    informational: bool,
    #[serde(default = "d_true")]
    required: bool,
    scenarios: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    min_rounds: Option<usize>,
    #[serde(default)]
    server_bound: bool,
    #[serde(default)]
    counts_overloaded: bool,
    #[serde(default)]
    timing_free: bool,
    rule: RawRule,
}

fn d_true() -> bool {
    true
}

/// The one figure the report leads a claim with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headline {
    /// The check whose condition supplies the figure.
    pub check: String,
    /// Which condition: a scenario id, with the metric when a pattern
    /// matches several (`"echo-open-64b server.step2.cpu_us_per_request"`).
    /// None: the check's first condition with a value.
    #[serde(default)]
    pub condition: Option<String>,
    /// The sentence; `{value}` becomes the figure with its interval.
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    id: String,
    title: String,
    statement: String,
    prediction: String,
    experiment: String,
    #[serde(default)]
    combine: Combine,
    headline: Headline,
    #[serde(default)]
    plots: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    facts: Vec<String>,
    #[serde(rename = "check")]
    checks: Vec<RawCheck>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema_version: u32,
    min_rounds: usize,
    level: f64,
    familywise_alpha: f64,
    #[serde(rename = "claim")]
    claims: Vec<RawClaim>,
}

/// A rule, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Ratio {
        metric: String,
        numerator: Vec<String>,
        denominator: Vec<String>,
        mode: Mode,
        decide: Decide,
    },
    Baseline {
        metric: String,
        variants: Vec<String>,
        baseline_scenario: String,
        baseline_variant: BTreeMap<String, String>,
        mode: Mode,
        decide: Decide,
    },
    WithinTrial {
        metric: String,
        of: String,
        variants: Vec<String>,
        mode: Mode,
        decide: Decide,
    },
    Threshold {
        metric: String,
        variants: Vec<String>,
        decide: Decide,
    },
    Outcome {
        variants: Vec<String>,
        fails_on: Vec<Failure>,
        if_ok: Verdict,
        if_failed: Verdict,
    },
}

impl Rule {
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::Ratio { .. } => "ratio",
            Rule::Baseline { .. } => "baseline",
            Rule::WithinTrial { .. } => "within_trial",
            Rule::Threshold { .. } => "threshold",
            Rule::Outcome { .. } => "outcome",
        }
    }
    pub fn decide(&self) -> Option<&Decide> {
        match self {
            Rule::Ratio { decide, .. }
            | Rule::Baseline { decide, .. }
            | Rule::WithinTrial { decide, .. }
            | Rule::Threshold { decide, .. } => Some(decide),
            Rule::Outcome { .. } => None,
        }
    }
    pub fn mode(&self) -> Option<Mode> {
        match self {
            Rule::Ratio { mode, .. }
            | Rule::Baseline { mode, .. }
            | Rule::WithinTrial { mode, .. } => Some(*mode),
            _ => None,
        }
    }
    /// The metric patterns the rule reads.
    pub fn metrics(&self) -> Vec<&str> {
        match self {
            Rule::Ratio { metric, .. }
            | Rule::Baseline { metric, .. }
            | Rule::Threshold { metric, .. } => vec![metric],
            Rule::WithinTrial { metric, of, .. } => vec![metric, of],
            Rule::Outcome { .. } => vec![],
        }
    }
}

/// The supported and refuted regions of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Decide {
    pub supported: Union,
    pub refuted: Union,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub statement: String,
    pub why: String,
    /// Shown with its verdict but not counted in the claim's.
    pub informational: bool,
    /// When false, a run with none of the check's scenarios skips it.
    pub required: bool,
    pub scenarios: Vec<String>,
    /// Metric patterns a `*` in the rule's metric must not match.
    pub exclude: Vec<String>,
    pub min_rounds: Option<usize>,
    /// The metric is a server maximum: a client-bound trial decides nothing.
    pub server_bound: bool,
    /// A trial whose only server failure is overload still counts: the
    /// overload is the effect the check measures (a starved probe), and
    /// every request of such a trial was answered and is in its latency.
    pub counts_overloaded: bool,
    /// The metric is a count the server keeps (threads, memory), which a
    /// late send does not change: a trial invalid only because its load
    /// generator sent late still counts (its load was delivered: an
    /// overload or shortfall still leaves it out).
    pub timing_free: bool,
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: String,
    pub title: String,
    pub statement: String,
    pub prediction: String,
    pub experiment: String,
    pub combine: Combine,
    pub headline: Headline,
    pub plots: Vec<String>,
    pub notes: Option<String>,
    pub facts: Vec<String>,
    pub checks: Vec<Check>,
}

/// What `facts = [...]` may name: `thread-limits` (Go's SetMaxThreads and
/// tokio's blocking-pool limits as each program recorded them),
/// `compile-test` (the C12 compile probes), `parameters` (the
/// microbenchmarks' arguments as run).
pub const KNOWN_FACTS: &[&str] = &["thread-limits", "compile-test", "parameters"];

#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Fewer valid rounds than this for a side makes its condition inconclusive.
    pub min_rounds: usize,
    /// The coverage every interval aims at.
    pub level: f64,
    /// Family-wise error rate of Holm's adjustment before "mixed".
    pub familywise_alpha: f64,
    pub claims: Vec<Claim>,
}

fn decide(sup: OneOrMany, refu: OneOrMany) -> Result<Decide, String> {
    let supported = sup.union().map_err(|e| format!("key 'supported': {e}"))?;
    let refuted = refu.union().map_err(|e| format!("key 'refuted': {e}"))?;
    if supported.overlaps(&refuted) {
        return Err("'supported' and 'refuted' regions overlap".into());
    }
    Ok(Decide { supported, refuted })
}

fn rule_of(r: RawRule) -> Result<Rule, String> {
    let nonempty = |m: &str, key: &str| {
        if m.trim().is_empty() {
            Err(format!("key '{key}' is empty"))
        } else {
            Ok(())
        }
    };
    Ok(match r {
        RawRule::Ratio {
            metric,
            numerator,
            denominator,
            mode,
            supported,
            refuted,
        } => {
            nonempty(&metric, "metric")?;
            if numerator.is_empty() || denominator.is_empty() {
                return Err("kind \"ratio\" needs 'numerator' and 'denominator' variants".into());
            }
            Rule::Ratio {
                metric,
                numerator,
                denominator,
                mode,
                decide: decide(supported, refuted)?,
            }
        }
        RawRule::Baseline {
            metric,
            variants,
            baseline_scenario,
            baseline_variant,
            mode,
            supported,
            refuted,
        } => {
            nonempty(&metric, "metric")?;
            Rule::Baseline {
                metric,
                variants,
                baseline_scenario,
                baseline_variant,
                mode,
                decide: decide(supported, refuted)?,
            }
        }
        RawRule::WithinTrial {
            metric,
            of,
            variants,
            mode,
            supported,
            refuted,
        } => {
            nonempty(&metric, "metric")?;
            nonempty(&of, "of")?;
            if of.matches('*').count() > metric.matches('*').count() {
                return Err("key 'of': more '*' than 'metric' has".into());
            }
            Rule::WithinTrial {
                metric,
                of,
                variants,
                mode,
                decide: decide(supported, refuted)?,
            }
        }
        RawRule::Threshold {
            metric,
            variants,
            supported,
            refuted,
        } => {
            nonempty(&metric, "metric")?;
            Rule::Threshold {
                metric,
                variants,
                decide: decide(supported, refuted)?,
            }
        }
        RawRule::Outcome {
            variants,
            fails_on,
            if_ok,
            if_failed,
        } => {
            if fails_on.is_empty() {
                return Err("key 'fails_on': name at least one failure".into());
            }
            let words = [if_ok, if_failed];
            if words
                .iter()
                .any(|v| !matches!(v, Verdict::Supported | Verdict::Refuted))
                || if_ok == if_failed
            {
                return Err(
                    "'if_ok' and 'if_failed' must be \"supported\" and \"refuted\", one each"
                        .into(),
                );
            }
            Rule::Outcome {
                variants,
                fails_on,
                if_ok,
                if_failed,
            }
        }
    })
}

fn check_of(r: RawCheck) -> Result<Check, String> {
    if r.scenarios.is_empty() {
        return Err("key 'scenarios': name at least one scenario".into());
    }
    if r.why.trim().is_empty() {
        return Err("key 'why': say why the thresholds are where they are".into());
    }
    if r.min_rounds == Some(0) {
        return Err("key 'min_rounds': at least 1".into());
    }
    let rule = rule_of(r.rule)?;
    if r.timing_free && rule.metrics().is_empty() {
        return Err("key 'timing_free': an outcome rule reads no metric".into());
    }
    if let Some(m) = rule
        .metrics()
        .into_iter()
        .find(|m| r.timing_free && !is_timing_free(m))
    {
        return Err(format!(
            "key 'timing_free': {m:?} is not a count the server keeps ({})",
            TIMING_FREE.join(", ")
        ));
    }
    Ok(Check {
        name: r.name,
        statement: r.statement,
        why: r.why,
        informational: r.informational,
        required: r.required,
        scenarios: r.scenarios,
        exclude: r.exclude,
        min_rounds: r.min_rounds,
        server_bound: r.server_bound,
        counts_overloaded: r.counts_overloaded,
        timing_free: r.timing_free,
        rule,
    })
}

/// Metrics a late send does not change: what the server keeps under the
/// load it was sent.
const TIMING_FREE: &[&str] = &["server.threads_", "server.rss_"];

/// Whether `metric` is one of `TIMING_FREE` (a trial invalid only because
/// its generator sent late still has it).
pub fn is_timing_free(metric: &str) -> bool {
    // Counts only: `server.threads_settle_s` is a time.
    TIMING_FREE.iter().any(|p| metric.starts_with(p)) && !metric.ends_with("_s")
}

/// serde's message on one line, without the source excerpt it draws.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().all(|c| c.is_ascii_digit() || "| ^".contains(c))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn parse(file: &Path, text: &str) -> Result<Claims, ClaimsError> {
    let e = |context: String, message: String| ClaimsError {
        file: file.display().to_string(),
        context,
        message,
    };
    let raw: RawFile =
        toml::from_str(text).map_err(|x| e("claims".into(), one_line(&x.to_string())))?;
    if raw.schema_version != CLAIMS_SCHEMA_VERSION {
        return Err(e(
            "claims".into(),
            format!(
                "schema_version {} is not {CLAIMS_SCHEMA_VERSION}",
                raw.schema_version
            ),
        ));
    }
    if raw.min_rounds == 0 {
        return Err(e("claims".into(), "min_rounds must be at least 1".into()));
    }
    if !(raw.level > 0.5 && raw.level < 1.0) {
        return Err(e("claims".into(), "level must be in (0.5, 1)".into()));
    }
    if !(raw.familywise_alpha > 0.0 && raw.familywise_alpha < 0.5) {
        return Err(e(
            "claims".into(),
            "familywise_alpha must be in (0, 0.5)".into(),
        ));
    }
    let mut claims: Vec<Claim> = Vec::new();
    for c in raw.claims {
        let ctx = format!("claim '{}'", c.id);
        if claims.iter().any(|x| x.id == c.id) {
            return Err(e(ctx, "id used twice".into()));
        }
        if c.checks.is_empty() {
            return Err(e(ctx, "at least one [[claim.check]]".into()));
        }
        if let Some(f) = c.facts.iter().find(|f| !KNOWN_FACTS.contains(&f.as_str())) {
            return Err(e(
                ctx,
                format!(
                    "key 'facts': unknown fact {f:?} (known: {})",
                    KNOWN_FACTS.join(", ")
                ),
            ));
        }
        let mut checks: Vec<Check> = Vec::new();
        for rc in c.checks {
            let cctx = format!("claim '{}', check '{}'", c.id, rc.name);
            if checks.iter().any(|x| x.name == rc.name) {
                return Err(e(cctx, "check name used twice".into()));
            }
            checks.push(check_of(rc).map_err(|m| e(cctx, m))?);
        }
        if checks.iter().all(|c| c.informational) {
            return Err(e(
                ctx,
                "every check is informational: nothing decides the verdict".into(),
            ));
        }
        if !checks.iter().any(|k| k.name == c.headline.check) {
            return Err(e(
                ctx,
                format!("key 'headline': no check named {:?}", c.headline.check),
            ));
        }
        if !c.headline.text.contains("{value}") {
            return Err(e(ctx, "key 'headline': its text needs {value}".into()));
        }
        claims.push(Claim {
            id: c.id,
            title: c.title,
            statement: c.statement,
            prediction: c.prediction,
            experiment: c.experiment,
            combine: c.combine,
            headline: c.headline,
            plots: c.plots,
            notes: c.notes,
            facts: c.facts,
            checks,
        });
    }
    Ok(Claims {
        min_rounds: raw.min_rounds,
        level: raw.level,
        familywise_alpha: raw.familywise_alpha,
        claims,
    })
}

/// `<root>/harness/claims.toml`.
pub fn load(root: &Path) -> Result<Claims, ClaimsError> {
    let path = root.join("harness/claims.toml");
    let text = std::fs::read_to_string(&path).map_err(|x| ClaimsError {
        file: path.display().to_string(),
        context: "claims".into(),
        message: format!("cannot read: {x}"),
    })?;
    parse(&path, &text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const HEAD: &str =
        "schema_version = 2\nmin_rounds = 5\nlevel = 0.95\nfamilywise_alpha = 0.05\n";

    /// A claim with one check around `rule` (TOML lines of the rule table).
    pub fn one_check(rule: &str) -> String {
        format!(
            r#"{HEAD}
[[claim]]
id = "X"
title = "t"
statement = "s"
prediction = "p"
experiment = "e"
headline = {{ check = "k", text = "it is {{value}}" }}
[[claim.check]]
name = "k"
statement = "s"
why = "w"
scenarios = ["a"]
[claim.check.rule]
{rule}
"#
        )
    }

    fn err(text: &str) -> String {
        parse(Path::new("c.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn every_kind_parses() {
        for rule in [
            "kind = \"ratio\"\nmetric = \"m\"\nnumerator = [\"a\"]\ndenominator = [\"b\"]\nsupported = { below = 0.9 }\nrefuted = [{ above = 1.1 }, { within = [0.9, 1.1] }]",
            "kind = \"baseline\"\nmetric = \"m\"\nbaseline_scenario = \"b\"\nmode = \"difference\"\nsupported = { below = 3.0 }\nrefuted = { above = 10.0 }",
            "kind = \"within_trial\"\nmetric = \"m.*\"\nof = \"n.*\"\nsupported = { above = 0.5 }\nrefuted = { below = 0.2 }",
            "kind = \"threshold\"\nmetric = \"m\"\nsupported = { below = 1.0 }\nrefuted = { above = 2.0 }",
            "kind = \"outcome\"\nfails_on = [\"crashed\", \"errors\"]\nif_ok = \"refuted\"\nif_failed = \"supported\"",
        ] {
            let c = parse(Path::new("c.toml"), &one_check(rule))
                .unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(c.claims[0].checks.len(), 1);
        }
    }

    #[test]
    fn serde_refuses_keys_a_kind_does_not_take() {
        let e = err(&one_check(
            "kind = \"threshold\"\nmetric = \"m\"\nnumerator = [\"a\"]\nsupported = { below = 1.0 }\nrefuted = { above = 2.0 }",
        ));
        assert!(e.contains("numerator"), "{e}");
        let e = err(&one_check("kind = \"ratios\"\nmetric = \"m\""));
        assert!(e.contains("ratios"), "{e}");
        let e = err(&one_check(
            "kind = \"threshold\"\nmetric = \"m\"\nsupported = { below = 1.0, above = 3.0 }\nrefuted = { above = 2.0 }",
        ));
        assert!(e.contains("claims"), "{e}");
        let e = err(&one_check(
            "kind = \"threshold\"\nmetric = \"m\"\nsupported = { under = 1.0 }\nrefuted = { above = 2.0 }",
        ));
        assert!(e.contains("claims"), "{e}");
    }

    #[test]
    fn rules_that_contradict_themselves_are_refused() {
        let e = err(&one_check(
            "kind = \"threshold\"\nmetric = \"m\"\nsupported = { below = 2.0 }\nrefuted = { above = 1.0 }",
        ));
        assert!(e.contains("overlap"), "{e}");
        let e = err(&one_check(
            "kind = \"outcome\"\nfails_on = []\nif_ok = \"refuted\"\nif_failed = \"supported\"",
        ));
        assert!(e.contains("fails_on"), "{e}");
        let e = err(&one_check(
            "kind = \"outcome\"\nfails_on = [\"crashed\"]\nif_ok = \"refuted\"\nif_failed = \"refuted\"",
        ));
        assert!(e.contains("one each"), "{e}");
        let e = err(&one_check(
            "kind = \"within_trial\"\nmetric = \"m\"\nof = \"n.*\"\nsupported = { above = 0.5 }\nrefuted = { below = 0.2 }",
        ));
        assert!(e.contains("more '*'"), "{e}");
        let e = err(&one_check("kind = \"threshold\"\nmetric = \"m\"\nsupported = { below = 1.0 }\nrefuted = { above = 2.0 }").replace("why = \"w\"", "why = \" \""));
        assert!(e.contains("why"), "{e}");
        let e = err(&one_check("kind = \"threshold\"\nmetric = \"m\"\nsupported = { below = 1.0 }\nrefuted = { above = 2.0 }").replace("check = \"k\"", "check = \"nope\""));
        assert!(e.contains("headline"), "{e}");
    }

    #[test]
    fn only_a_count_the_server_keeps_may_be_timing_free() {
        let rule = |m: &str| {
            one_check(&format!(
                "kind = \"threshold\"\nmetric = \"{m}\"\nsupported = {{ below = 1.0 }}\nrefuted = {{ above = 2.0 }}"
            ))
            .replace("scenarios = [\"a\"]", "scenarios = [\"a\"]\ntiming_free = true")
        };
        let c = parse(Path::new("c.toml"), &rule("server.threads_in_window_max")).unwrap();
        assert!(c.claims[0].checks[0].timing_free);
        let e = err(&rule("main.latency_us.corrected.p99"));
        assert!(
            e.contains("timing_free") && e.contains("main.latency_us"),
            "{e}"
        );
        assert!(err(&rule("server.threads_settle_s")).contains("timing_free"));
    }

    #[test]
    fn the_shipped_claims_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let c = load(root).unwrap();
        assert!(c.claims.len() >= 14);
        assert!(
            c.claims
                .iter()
                .all(|c| c.checks.iter().all(|k| !k.why.is_empty()))
        );
    }
}
