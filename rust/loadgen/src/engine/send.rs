//! Writing requests: queue one on its connection and write it at once if
//! the socket takes it; a flusher task writes the rest as the socket drains.

use super::conn::{Conn, ConnState, InFlight, NOT_SENT, fail_conn};
use super::thread::Ctx;
use crate::check::{Pending, encode_request};
use crate::record::ErrorKind;
use std::io;
use std::rc::Rc;
use tokio::net::TcpStream;
use tokio::task::spawn_local;

/// Queues one request on `conn` and writes it now if the socket takes it.
pub(super) fn send_request(
    ctx: &Rc<Ctx>,
    conn: &Rc<Conn>,
    intended: u64,
    eligible: u64,
) -> Result<(), ErrorKind> {
    let cfg = &ctx.cfg;
    let spec = &cfg.classes[conn.plan.class];
    let mut st = conn.st.borrow_mut();
    let Some(stream) = st.stream.clone() else {
        return Ok(());
    };
    let seq = st.seq;
    st.seq += 1;
    let nth = {
        let mut n = ctx.sent_per_class.borrow_mut();
        n[conn.plan.class] += 1;
        n[conn.plan.class] - 1
    };
    let p = Pending::new(spec, conn.plan.uid, seq, cfg.data_size, nth);
    let t = ctx.times.get();
    let recorded = intended >= t.warmup_end && intended < t.end;
    let mut buf = ctx.scratch.borrow_mut();
    buf.clear();
    encode_request(cfg.echo, spec, &p, &mut buf);
    // The write time: taken just before the bytes go to the kernel.
    let now = ctx.now();
    let start_pos = st.queued_bytes;
    st.inflight.push_back(InFlight {
        p,
        intended,
        eligible: eligible.max(intended),
        queued: now,
        sent: NOT_SENT,
        start_pos,
        recorded,
    });
    st.queued_bytes += buf.len() as u64;
    if recorded {
        ctx.rec.borrow_mut()[conn.plan.class].requests_sent += 1;
    }
    if st.flushing {
        st.out.extend_from_slice(&buf);
        return Ok(());
    }
    match stream.try_write(&buf) {
        Ok(n) => {
            st.written_bytes += n as u64;
            st.stamp(now, 0);
            if n < buf.len() {
                st.out.extend_from_slice(&buf[n..]);
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

fn start_flusher(ctx: &Rc<Ctx>, conn: &Rc<Conn>, st: &mut ConnState, stream: Rc<TcpStream>) {
    st.flushing = true;
    st.flusher = Some(spawn_local(flusher(
        Rc::clone(ctx),
        Rc::clone(conn),
        stream,
    )));
}

/// Writes a connection's queued bytes as the socket drains.
async fn flusher(ctx: Rc<Ctx>, conn: Rc<Conn>, stream: Rc<TcpStream>) {
    loop {
        if stream.writable().await.is_err() {
            fail_conn(&ctx, &conn, ErrorKind::Reset);
            return;
        }
        let writable_since = ctx.now();
        let broken = {
            let mut st = conn.st.borrow_mut();
            if !st.stream.as_ref().is_some_and(|s| Rc::ptr_eq(s, &stream)) {
                return;
            }
            let t = ctx.now();
            let pos = st.out_pos;
            match stream.try_write(&st.out[pos..]) {
                Ok(n) => {
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
                Err(e) => e.kind() != io::ErrorKind::WouldBlock,
            }
        };
        if broken {
            fail_conn(&ctx, &conn, ErrorKind::Reset);
            return;
        }
    }
}
