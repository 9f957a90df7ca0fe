//! From trial records to answers: flat named `metrics` per trial, `stats`
//! (intervals, tests), the `summary` per scenario, the claims' `verdict`s.

pub mod metrics;
pub mod stats;
pub mod summary;
pub mod verdict;
