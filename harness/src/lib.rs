//! The experiment orchestrator. The folders follow the data flow:
//! `config` (profiles, variants: TOML, validated) → `run` (plan the trial
//! order, preflight, each trial: pinned server + probe + load generators +
//! `/proc` sampler, results on disk) → `analyse` (flat metrics per trial,
//! statistics, summary, verdicts) → `present` (plots, report, diff).

pub mod analyse;
pub mod cli;
pub mod config;
pub mod present;
pub mod run;
pub mod schema_check;
