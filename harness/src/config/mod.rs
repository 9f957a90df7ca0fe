//! What a run is asked to do, checked before anything runs: profiles
//! (scenarios, microbenchmarks) and the server variants they name; the
//! claims with their rules; the metrics each scenario emits; and the
//! claims expanded against a profile into the comparisons that decide them;
//! and, for a run across machines, the hosts file.

pub mod catalogue;
pub mod claims;
pub mod expand;
pub mod hosts;
pub mod profile;
pub mod regions;
