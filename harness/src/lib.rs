//! The experiment orchestrator. Data flows through one module per step:
//! `profile` (TOML, validated) → `plan` (trial order, command lines) →
//! `trial` (pinned server + probe + load generators + `sampler`) →
//! `metrics` (flat named numbers per trial) → `results` (files on disk) →
//! `stats`/`summary` (medians, intervals, ratios) → `report`.

pub mod cli;
pub mod diff;
pub mod metrics;
pub mod micro;
pub mod plan;
pub mod plots;
pub mod preflight;
pub mod profile;
pub mod report;
pub mod results;
pub mod runner;
pub mod sampler;
pub mod schema_check;
pub mod signals;
pub mod stats;
pub mod summary;
pub mod trial;
pub mod verdict;
