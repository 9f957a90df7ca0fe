//! Ctrl-C / SIGTERM: the handler only sets a flag; every wait in the harness
//! polls it, ends its children and unwinds, so what finished is kept and
//! summarized and the process exits 130.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn install() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Sleeps up to `d` in small steps; returns false if interrupted meanwhile.
pub fn sleep(d: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if interrupted() {
            return false;
        }
        std::thread::sleep(
            (end - std::time::Instant::now()).min(std::time::Duration::from_millis(20)),
        );
    }
    !interrupted()
}

#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;
