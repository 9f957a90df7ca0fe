//! A connection's state and life: connect, install its reader, fail (count
//! and censor what it cost) and reconnect with backoff.

use super::ConnPlan;
use super::reader::reader;
use super::send::send_batch;
use super::thread::Ctx;
use crate::check::{Checker, Pending};
use crate::record::{Drained, ErrorKind};
use crate::sys;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, spawn_local};

pub(super) const NOT_SENT: u64 = u64::MAX;

/// A connected, non-blocking socket in the runtime's reactor. `AsyncFd`
/// rather than tokio's `TcpStream`: the reader reads with `recvmsg` (for the
/// kernel's timestamps) and clears readiness itself after a short read,
/// where `try_read` would need one more read returning EAGAIN.
pub(super) type Sock = AsyncFd<std::net::TcpStream>;

pub(super) struct Conn {
    pub(super) plan: ConnPlan,
    /// Index in `Ctx::conns`.
    pub(super) idx: usize,
    pub(super) st: RefCell<ConnState>,
}

pub(super) struct InFlight {
    pub(super) p: Pending,
    pub(super) intended: u64,
    /// When it could first be written: its intended time, or later if it
    /// waited for the in-flight cap, a reconnect or a full socket. Send lag
    /// counts from here, so it measures only the generator's own delay.
    pub(super) eligible: u64,
    /// When the request was handed to the connection (timeouts count from here).
    pub(super) queued: u64,
    /// When its first byte was written to the socket.
    pub(super) sent: u64,
    /// Its first byte's position in the connection's output stream.
    pub(super) start_pos: u64,
    /// Recorded: intended inside the measured window (idle mode: primed).
    pub(super) recorded: bool,
}

pub(super) struct ConnState {
    pub(super) stream: Option<Rc<Sock>>,
    pub(super) reader: Option<JoinHandle<()>>,
    pub(super) flusher: Option<JoinHandle<()>>,
    pub(super) flushing: bool,
    pub(super) inflight: VecDeque<InFlight>,
    pub(super) out: Vec<u8>,
    pub(super) out_pos: usize,
    pub(super) queued_bytes: u64,
    pub(super) written_bytes: u64,
    /// Requests whose first byte was written / responses consumed, since connect.
    pub(super) stamped: u64,
    pub(super) popped: u64,
    pub(super) checker: Checker,
    pub(super) seq: u64,
    /// The pacer is holding due requests for this connection.
    pub(super) parked: bool,
    /// Idle mode: primed requests still to send (one at a time).
    pub(super) prime_left: u32,
}

impl ConnState {
    /// Sets the send time of requests whose first byte is now written;
    /// `writable_since` is when a full socket took bytes again.
    pub(super) fn stamp(&mut self, t: u64, writable_since: u64) {
        loop {
            let i = (self.stamped - self.popped) as usize;
            match self.inflight.get_mut(i) {
                Some(r) if r.start_pos < self.written_bytes => {
                    r.sent = t;
                    r.eligible = r.eligible.max(writable_since).min(t);
                    self.stamped += 1;
                }
                _ => break,
            }
        }
    }
}

pub(super) async fn connect(ctx: &Ctx) -> io::Result<std::net::TcpStream> {
    let s = tokio::time::timeout(ctx.cfg.timeout, TcpStream::connect(ctx.cfg.addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    s.set_nodelay(true)?;
    // Non-blocking, out of tokio's reactor; `install` registers it again.
    let s = s.into_std()?;
    if ctx.cfg.receive_timestamps {
        // Refused: no receive lag for this connection ("unavailable").
        let _ = sys::enable_rx_timestamps(s.as_raw_fd());
    }
    Ok(s)
}

/// Registers a new connection and starts its reader; false if the reactor
/// refused it (the connection is then dropped and counts as failed).
pub(super) fn install(ctx: &Rc<Ctx>, conn: &Rc<Conn>, s: std::net::TcpStream) -> bool {
    // SAFETY: the TcpStream owns its descriptor, keeps it open until it is
    // dropped with the AsyncFd, and always returns the same one.
    let Ok(s) = (unsafe { AsyncFd::register(s) }) else {
        return false;
    };
    let s = Rc::new(s);
    let mut st = conn.st.borrow_mut();
    st.stream = Some(Rc::clone(&s));
    st.queued_bytes = 0;
    st.written_bytes = 0;
    st.stamped = 0;
    st.popped = 0;
    st.checker.reset();
    st.reader = Some(spawn_local(reader(Rc::clone(ctx), Rc::clone(conn), s)));
    true
}

/// Closes a broken connection, counts what it cost (each outstanding
/// measured request is censored at this instant), and starts replacing it —
/// except in idle mode, where a fresh connection would not be the primed one.
pub(super) fn fail_conn(ctx: &Rc<Ctx>, conn: &Rc<Conn>, kind: ErrorKind) {
    let now = ctx.now();
    {
        let mut st = conn.st.borrow_mut();
        if st.stream.take().is_none() {
            return;
        }
        if let Some(h) = st.reader.take() {
            h.abort();
        }
        if let Some(h) = st.flusher.take() {
            h.abort();
        }
        st.flushing = false;
        st.out.clear();
        st.out_pos = 0;
        st.prime_left = 0;
        let class = conn.plan.class;
        ctx.outstanding.borrow_mut()[class] -= st.inflight.len() as u64;
        let w = ctx.window();
        let mut rec = ctx.rec.borrow_mut();
        let rec = &mut rec[class];
        let how = if kind == ErrorKind::Timeout {
            Drained::TimedOut
        } else {
            Drained::Failed
        };
        let mut outstanding = 0u64;
        for f in st.inflight.iter().filter(|f| f.recorded) {
            rec.censor(f.intended, now, w, how);
            outstanding += 1;
        }
        match kind {
            ErrorKind::Timeout => rec.error(ErrorKind::Timeout, outstanding),
            ErrorKind::Reset | ErrorKind::Closed => {
                if ctx.counting_at(now) {
                    rec.error(kind, 1);
                }
                rec.requests_lost += outstanding;
            }
            // Bad bytes were counted where they were found.
            ErrorKind::Mismatch | ErrorKind::Connect => rec.requests_lost += outstanding,
        }
        st.inflight.clear();
        st.checker.reset();
    }
    if !ctx.cfg.idle {
        spawn_local(reconnect(Rc::clone(ctx), Rc::clone(conn)));
    }
}

/// Replaces a connection: retries with backoff until it connects or the run
/// ends; every failed attempt in the window counts as a `connect` error.
pub(super) async fn reconnect(ctx: Rc<Ctx>, conn: Rc<Conn>) {
    let mut backoff = Duration::from_millis(10);
    loop {
        if ctx.shutdown.get() {
            return;
        }
        match connect(&ctx).await {
            Ok(s) => {
                if ctx.shutdown.get() || !install(&ctx, &conn, s) {
                    return;
                }
                let wake = {
                    let mut st = conn.st.borrow_mut();
                    std::mem::take(&mut st.parked)
                };
                if wake {
                    ctx.wake.borrow_mut().push((conn.idx, ctx.now()));
                    ctx.notify.notify_one();
                }
                let t = ctx.times.get();
                if ctx.cfg.closed_loop() && t.sending {
                    let now = ctx.now();
                    if now < t.end
                        && let Err(k) = send_batch(&ctx, &conn, ctx.cfg.depth, now)
                    {
                        fail_conn(&ctx, &conn, k);
                    }
                }
                return;
            }
            Err(_) => {
                if ctx.counting_at(ctx.now()) {
                    ctx.rec.borrow_mut()[conn.plan.class].error(ErrorKind::Connect, 1);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
