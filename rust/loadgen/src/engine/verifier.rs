//! The SHA verifier thread: recomputes sampled SHA-256 bodies off the
//! generator threads.

use crate::check::{ShaCheck, verify_sha};
use crate::opts::Config;
use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;

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

/// Recomputes SHA-256 bodies off the generator threads, so a 20 ms hash never
/// delays a send.
pub(super) fn verifier_main(
    cfg: &Config,
    rx: Receiver<ShaJob>,
) -> BTreeMap<(usize, usize), Verified> {
    if let Some(cpus) = &cfg.cpus {
        let _ = rtc_common::affinity::pin_current_thread(cpus);
    }
    // Bookkeeping must never delay a send: on a shared pinned CPU the
    // pacing threads win every contest with this one (per-thread nice 19).
    // SAFETY: setpriority on this thread's own tid.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
    }
    let mut out: BTreeMap<(usize, usize), Verified> = BTreeMap::new();
    for job in rx {
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
