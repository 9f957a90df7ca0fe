//! Running a profile: the trial order (`plan`), the host's CPU `topology`
//! and the `placement` of server and load generator on it, the machine's
//! `provenance`, checks before start (`preflight`), one trial (`trial`, `micro`) with its `/proc` `sampler`,
//! the syscall `census` after a scenario's rounds,
//! the whole run (`runner`), files on disk (`results`), Ctrl-C (`signals`),
//! the servers' runtime `telemetry`; runs across machines (`hosts`).

pub mod census;
pub mod hosts;
pub mod micro;
pub mod outcome;
pub mod placement;
pub mod plan;
pub mod preflight;
pub mod provenance;
pub mod results;
pub mod runner;
pub mod sampler;
pub mod signals;
pub mod telemetry;
pub mod topology;
pub mod trial;
