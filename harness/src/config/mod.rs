//! What a run is asked to do, checked before anything runs: profiles
//! (scenarios, microbenchmarks) and the server variants they name; the
//! claims with their rules; the metrics each scenario emits; and the
//! claims expanded against a profile into the comparisons that decide them.

pub mod catalogue;
pub mod claims;
pub mod expand;
pub mod profile;
pub mod regions;
