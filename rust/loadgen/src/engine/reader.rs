//! A connection's reader: reads responses, checks them FIFO against the
//! requests in flight and records each one (closed loop: sends the next).

use super::conn::{Conn, NOT_SENT, fail_conn};
use super::send::send_request;
use super::thread::Ctx;
use super::verifier::ShaJob;
use crate::check::Verdict;
use crate::record::ErrorKind;
use std::io;
use std::rc::Rc;
use std::sync::mpsc::TrySendError;
use tokio::net::TcpStream;

/// Reads responses and matches them FIFO against the requests in flight.
pub(super) async fn reader(ctx: Rc<Ctx>, conn: Rc<Conn>, stream: Rc<TcpStream>) {
    loop {
        if stream.readable().await.is_err() {
            fail_conn(&ctx, &conn, ErrorKind::Reset);
            return;
        }
        let failure = {
            let mut buf = ctx.read_buf.borrow_mut();
            match stream.try_read(&mut buf[..]) {
                Ok(0) => Some(ErrorKind::Closed),
                Ok(n) => {
                    let done = ctx.now();
                    on_data(&ctx, &conn, &buf[..n], done)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(_) => Some(ErrorKind::Reset),
            }
        };
        if let Some(k) = failure {
            fail_conn(&ctx, &conn, k);
            return;
        }
    }
}

/// Handles received bytes; returns an error kind if the connection must go.
fn on_data(ctx: &Rc<Ctx>, conn: &Rc<Conn>, data: &[u8], done: u64) -> Option<ErrorKind> {
    let cfg = &ctx.cfg;
    let t = ctx.times.get();
    let spec = &cfg.classes[conn.plan.class];
    let mut verdicts = ctx.verdicts.borrow_mut();
    verdicts.clear();
    let (completed, unexpected, wake) = {
        let mut guard = conn.st.borrow_mut();
        let st = &mut *guard;
        let inflight = &st.inflight;
        let r = st
            .checker
            .feed(data, |i| inflight.get(i).map(|f| f.p), &mut verdicts);
        let mut recs = ctx.rec.borrow_mut();
        let rec = &mut recs[conn.plan.class];
        let mut vs = verdicts.iter().peekable();
        for i in 0..r.completed {
            let f = st
                .inflight
                .pop_front()
                .expect("checker completed an outstanding request");
            st.popped += 1;
            let verdict = vs.next_if(|v| v.0 == i).map(|v| &v.1);
            if !f.recorded {
                continue;
            }
            let sent = if f.sent == NOT_SENT { done } else { f.sent };
            match verdict {
                None => {
                    rec.record(f.intended, f.eligible.min(sent), sent, done, t.warmup_end);
                    if f.p.check_body {
                        rec.body_checks += 1;
                    }
                }
                Some(Verdict::Mismatch(m)) => {
                    rec.mismatch(format!("class {} conn {}: {m}", spec.name, conn.plan.uid));
                }
                Some(Verdict::Sha(c)) => {
                    // Recorded now; a digest found wrong later adds a mismatch
                    // (and the run is invalid either way).
                    rec.record(f.intended, f.eligible.min(sent), sent, done, t.warmup_end);
                    let job = ShaJob {
                        step: t.step,
                        class: conn.plan.class,
                        conn_uid: conn.plan.uid,
                        check: *c,
                    };
                    if let Err(TrySendError::Full(_)) = ctx.verifier.try_send(job) {
                        rec.body_checks_skipped += 1;
                    }
                }
            }
        }
        if let Some(u) = &r.unexpected
            && ctx.counting_at(done)
        {
            rec.mismatch(format!("class {} conn {}: {u}", spec.name, conn.plan.uid));
        }
        let wake = st.parked && st.inflight.len() < cfg.max_in_flight;
        if wake {
            st.parked = false;
        }
        (r.completed, r.unexpected.is_some(), wake)
    };
    drop(verdicts);
    if unexpected {
        return Some(ErrorKind::Mismatch);
    }
    if wake {
        ctx.wake.borrow_mut().push((conn.idx, done));
        ctx.notify.notify_one();
    }
    if !cfg.open_loop && t.sending && done < t.end {
        for _ in 0..completed {
            if let Err(k) = send_request(ctx, conn, done, done) {
                return Some(k);
            }
        }
    }
    None
}
