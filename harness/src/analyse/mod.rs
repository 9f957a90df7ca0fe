//! From trial records to answers: flat named `metrics` per trial (with the
//! servers' `runtime` telemetry over the same windows), `stats` (intervals,
//! tests), the `summary` per scenario, the claims' `verdict`s.

pub mod metrics;
pub mod runtime;
pub mod stats;
pub mod summary;
pub mod verdict;
