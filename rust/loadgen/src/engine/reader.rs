//! A connection's reader: reads responses with their kernel receive
//! timestamp, checks them FIFO against the requests in flight and records
//! each one (closed loop: sends the next; idle mode: the next primed one).

use super::conn::{Conn, NOT_SENT, Sock, fail_conn};
use super::send::{send_batch, send_request};
use super::thread::Ctx;
use super::verifier::ShaJob;
use crate::check::Verdict;
use crate::record::{Drained, ErrorKind, Stamps};
use crate::sys;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

/// SHA bodies kept per thread for checking after the run; beyond this the
/// checks are skipped and counted (the run is then invalid).
pub(super) const MAX_SHA_JOBS_PER_THREAD: usize = 1 << 18;

/// Reads responses and matches them FIFO against the requests in flight.
pub(super) async fn reader(ctx: Rc<Ctx>, conn: Rc<Conn>, stream: Rc<Sock>) {
    let fd = stream.get_ref().as_raw_fd();
    loop {
        let Ok(mut guard) = stream.readable().await else {
            fail_conn(&ctx, &conn, ErrorKind::Reset);
            return;
        };
        // Read until a short read: the socket had no more then, and any
        // byte arriving later is a new edge for the reactor, so readiness
        // can be cleared without one more read to see EAGAIN.
        loop {
            let failure = {
                let mut buf = ctx.read_buf.borrow_mut();
                let cap = buf.len();
                match sys::recv_stamped(fd, &mut buf[..]) {
                    Ok((0, _)) => Some(ErrorKind::Closed),
                    Ok((n, stamp)) => {
                        // Complete when the kernel received the last
                        // segment: how late this reader ran (the receive
                        // lag, recorded apart) is the generator's delay,
                        // not the server's.
                        let now = ctx.now();
                        let lag = stamp.map(|k| sys::realtime_ns().saturating_sub(k));
                        let done = now.saturating_sub(lag.unwrap_or(0));
                        let f = on_data(&ctx, &conn, &buf[..n], done, lag);
                        if f.is_none() && n < cap {
                            guard.clear_ready();
                            break;
                        }
                        f
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                    Err(_) => Some(ErrorKind::Reset),
                }
            };
            if let Some(k) = failure {
                fail_conn(&ctx, &conn, k);
                return;
            }
        }
    }
}

/// Handles received bytes; returns an error kind if the connection must go.
fn on_data(
    ctx: &Rc<Ctx>,
    conn: &Rc<Conn>,
    data: &[u8],
    done: u64,
    receive_lag: Option<u64>,
) -> Option<ErrorKind> {
    let cfg = &ctx.cfg;
    let t = ctx.times.get();
    let w = ctx.window();
    let class = conn.plan.class;
    let spec = &cfg.classes[class];
    let mut verdicts = ctx.verdicts.borrow_mut();
    verdicts.clear();
    let (completed, unexpected, wake, prime) = {
        let mut guard = conn.st.borrow_mut();
        let st = &mut *guard;
        let inflight = &st.inflight;
        let r = st
            .checker
            .feed(data, |i| inflight.get(i).map(|f| f.p), &mut verdicts);
        let mut recs = ctx.rec.borrow_mut();
        let rec = &mut recs[class];
        let mut vs = verdicts.iter().peekable();
        ctx.outstanding.borrow_mut()[class] -= r.completed as u64;
        for i in 0..r.completed {
            let f = st
                .inflight
                .pop_front()
                .expect("checker completed an outstanding request");
            st.popped += 1;
            let verdict = vs.next_if(|v| v.0 == i).map(|v| &v.1);
            if !f.recorded {
                // Warm-up traffic answered in the window is throughput.
                if !matches!(verdict, Some(Verdict::Mismatch(_))) && t.counting {
                    rec.completion(done, w);
                }
                continue;
            }
            let sent = if f.sent == NOT_SENT { done } else { f.sent };
            let stamps = Stamps {
                intended: f.intended,
                eligible: f.eligible.min(sent),
                sent,
                // Two clocks: never before the send it answers.
                done: done.max(sent),
                receive_lag,
            };
            match verdict {
                None => {
                    rec.record(&stamps, w);
                    if f.p.check_body {
                        rec.body_checks += 1;
                    }
                }
                Some(Verdict::Mismatch(m)) => {
                    rec.mismatch(format!("class {} conn {}: {m}", spec.name, conn.plan.uid));
                    rec.resolved(done, w, Drained::Failed);
                }
                Some(Verdict::Sha(c)) => {
                    // Recorded now; a digest found wrong after the run adds
                    // a mismatch.
                    rec.record(&stamps, w);
                    let mut jobs = ctx.sha_jobs.borrow_mut();
                    if jobs.len() < MAX_SHA_JOBS_PER_THREAD {
                        jobs.push(ShaJob {
                            step: t.step,
                            class,
                            conn_uid: conn.plan.uid,
                            check: *c,
                        });
                    } else {
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
        let prime = r.completed > 0 && st.prime_left > 0;
        if prime {
            st.prime_left -= 1;
        }
        (r.completed, r.unexpected.is_some(), wake, prime)
    };
    drop(verdicts);
    if unexpected {
        return Some(ErrorKind::Mismatch);
    }
    if wake {
        ctx.wake.borrow_mut().push((conn.idx, done));
        ctx.notify.notify_one();
    }
    if cfg.closed_loop() && t.sending && done < t.end && completed > 0 {
        if let Err(k) = send_batch(ctx, conn, completed, done) {
            return Some(k);
        }
    } else if prime && let Err(k) = send_request(ctx, conn, done, done) {
        return Some(k);
    }
    None
}
