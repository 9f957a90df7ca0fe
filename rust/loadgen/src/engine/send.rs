//! Writing requests: queue them on their connection and write at once if
//! the socket takes them (one write per batch); a flusher task writes the
//! rest as the socket drains.

use super::conn::{Conn, ConnState, InFlight, NOT_SENT, Sock, fail_conn};
use super::thread::Ctx;
use crate::check::{Pending, encode_request};
use crate::record::ErrorKind;
use crate::sys;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use tokio::task::spawn_local;

/// Queues one request on `conn` and writes it now if the socket takes it.
pub(super) fn send_request(
    ctx: &Rc<Ctx>,
    conn: &Rc<Conn>,
    intended: u64,
    eligible: u64,
) -> Result<(), ErrorKind> {
    send(ctx, conn, 1, intended, eligible)
}

/// Queues `n` requests on `conn`, all intended (and eligible) at `now`,
/// and writes them with one call (closed loop: the slots freed by one read).
pub(super) fn send_batch(
    ctx: &Rc<Ctx>,
    conn: &Rc<Conn>,
    n: usize,
    now: u64,
) -> Result<(), ErrorKind> {
    send(ctx, conn, n, now, now)
}

fn send(
    ctx: &Rc<Ctx>,
    conn: &Rc<Conn>,
    n: usize,
    intended: u64,
    eligible: u64,
) -> Result<(), ErrorKind> {
    let cfg = &ctx.cfg;
    let class = conn.plan.class;
    let spec = &cfg.classes[class];
    let mut st = conn.st.borrow_mut();
    let Some(stream) = st.stream.clone() else {
        return Ok(());
    };
    let t = ctx.times.get();
    let recorded = cfg.idle || (intended >= t.warmup_end && intended < t.end);
    let mut buf = ctx.scratch.borrow_mut();
    buf.clear();
    for _ in 0..n {
        let seq = st.seq;
        st.seq += 1;
        let nth = {
            let mut c = ctx.sent_per_class.borrow_mut();
            c[class] += 1;
            c[class] - 1
        };
        let p = Pending::new(spec, conn.plan.uid, seq, cfg.data_size, nth);
        let start_pos = st.queued_bytes + buf.len() as u64;
        encode_request(cfg.echo, spec, &p, &mut buf);
        st.inflight.push_back(InFlight {
            p,
            intended,
            eligible: eligible.max(intended),
            queued: 0,
            sent: NOT_SENT,
            start_pos,
            recorded,
        });
    }
    // The write time: taken just before the bytes go to the kernel.
    let now = ctx.now();
    let len = st.inflight.len();
    for f in st.inflight.range_mut(len - n..) {
        f.queued = now;
    }
    st.queued_bytes += buf.len() as u64;
    ctx.outstanding.borrow_mut()[class] += n as u64;
    if recorded {
        ctx.rec.borrow_mut()[class].requests_sent += n as u64;
    }
    if st.flushing {
        st.out.extend_from_slice(&buf);
        return Ok(());
    }
    match sys::send_nonblocking(stream.get_ref().as_raw_fd(), &buf) {
        Ok(k) => {
            st.written_bytes += k as u64;
            st.stamp(now, 0);
            if k < buf.len() {
                st.out.extend_from_slice(&buf[k..]);
                start_flusher(ctx, conn, &mut st, stream);
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            st.out.extend_from_slice(&buf);
            start_flusher(ctx, conn, &mut st, stream);
            Ok(())
        }
        Err(_) => Err(ErrorKind::Reset),
    }
}

fn start_flusher(ctx: &Rc<Ctx>, conn: &Rc<Conn>, st: &mut ConnState, stream: Rc<Sock>) {
    st.flushing = true;
    st.flusher = Some(spawn_local(flusher(
        Rc::clone(ctx),
        Rc::clone(conn),
        stream,
    )));
}

/// Writes a connection's queued bytes as the socket drains.
async fn flusher(ctx: Rc<Ctx>, conn: Rc<Conn>, stream: Rc<Sock>) {
    loop {
        let Ok(mut guard) = stream.writable().await else {
            fail_conn(&ctx, &conn, ErrorKind::Reset);
            return;
        };
        let writable_since = ctx.now();
        let broken = {
            let mut st = conn.st.borrow_mut();
            if !st.stream.as_ref().is_some_and(|s| Rc::ptr_eq(s, &stream)) {
                return;
            }
            let t = ctx.now();
            let pos = st.out_pos;
            match guard.try_io(|s| sys::send_nonblocking(s.get_ref().as_raw_fd(), &st.out[pos..])) {
                Ok(Ok(n)) => {
                    st.out_pos += n;
                    st.written_bytes += n as u64;
                    st.stamp(t, writable_since);
                    if st.out_pos == st.out.len() {
                        st.out.clear();
                        st.out_pos = 0;
                        st.flushing = false;
                        st.flusher = None;
                        return;
                    }
                    if st.out_pos >= 1 << 20 {
                        let p = st.out_pos;
                        st.out.drain(..p);
                        st.out_pos = 0;
                    }
                    false
                }
                Ok(Err(_)) => true,
                // WouldBlock: readiness cleared, wait again.
                Err(_) => false,
            }
        };
        if broken {
            fail_conn(&ctx, &conn, ErrorKind::Reset);
            return;
        }
    }
}
