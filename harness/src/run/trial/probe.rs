//! The correctness probe before any load, as TechEmpower verifies before it
//! measures: a few requests of each kind the scenario sends, bytes checked.

use super::{TrialRecord, fail};
use crate::config::profile::ScenarioSpec;
use std::net::SocketAddr;
use std::time::Duration;

/// The probe vectors that apply to `scenario`.
pub fn vectors_for<'a>(
    all: &'a [rtc_conformance::Vector],
    scenario: &'a ScenarioSpec,
) -> impl Iterator<Item = &'a rtc_conformance::Vector> {
    all.iter().filter(|v| {
        v.workload == scenario.workload.as_str()
            && (v.workload == "echo" || v.data_file == scenario.data_file)
    })
}

/// Runs the probe against `addr`; on a wrong answer the trial fails and
/// false is returned.
pub(super) fn passes(
    probe: &[rtc_conformance::Vector],
    scenario: &ScenarioSpec,
    addr: SocketAddr,
    rec: &mut TrialRecord,
) -> bool {
    for v in vectors_for(probe, scenario) {
        if let Err(e) = rtc_conformance::run_vector(addr, v, Duration::from_secs(5)) {
            fail(rec, format!("correctness probe {} failed: {e}", v.name));
            return false;
        }
    }
    true
}
