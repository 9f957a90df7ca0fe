//! SHA-256 bodies, verified after the run: the generator threads only keep
//! the sampled digests, so hashing never shares a time slice with pacing.

use crate::check::{ShaCheck, verify_sha};
use crate::opts::Config;
use std::collections::BTreeMap;

pub(super) struct ShaJob {
    pub(super) step: usize,
    pub(super) class: usize,
    pub(super) conn_uid: u64,
    pub(super) check: ShaCheck,
}

#[derive(Default)]
pub(super) struct Verified {
    pub(super) checks: u64,
    pub(super) mismatches: u64,
    pub(super) notes: Vec<String>,
}

/// Recomputes every kept SHA-256 body; results per (step, class).
pub(super) fn verify_all(cfg: &Config, jobs: &[ShaJob]) -> BTreeMap<(usize, usize), Verified> {
    let mut out: BTreeMap<(usize, usize), Verified> = BTreeMap::new();
    for job in jobs {
        let v = out.entry((job.step, job.class)).or_default();
        v.checks += 1;
        let spec = &cfg.classes[job.class];
        if let Some(m) = verify_sha(spec, &job.check) {
            v.mismatches += 1;
            if v.notes.len() < crate::record::MAX_MISMATCH_NOTES {
                v.notes
                    .push(format!("class {} conn {}: {m}", spec.name, job.conn_uid));
            }
        }
    }
    out
}
