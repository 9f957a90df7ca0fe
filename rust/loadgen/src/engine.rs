//! Threads, connections and pacing.
//!
//! `--threads` OS threads, each pinned to one CPU and running its own tokio
//! current-thread runtime with a `LocalSet`. A thread owns a slice of every
//! class's connections and its own recorders; per-connection state is shared
//! between that thread's tasks through `Rc<RefCell<…>>` — no locks or atomics
//! on the per-request path. Recorders are merged after each step.
//!
//! Open loop: one pacer task per thread owns the schedule (a heap of due
//! times) and writes requests with `try_write` the moment they are due.
//! tokio's timer has 1 ms granularity, so the pacer sleeps with it only while
//! the next due time is more than `SLEEP_IF_AHEAD_NS` away, and otherwise spins
//! with `yield_now()`, which lets the runtime poll I/O and run the reader tasks
//! between checks. Bytes that do not fit in the socket stay queued for that
//! connection and a flusher task writes them when it becomes writable.
//! Per-connection reader tasks match responses FIFO against the in-flight
//! queue. Closed loop: no pacer; each response's reader sends the next request.

use crate::check::{Checker, Pending, ShaCheck, Verdict, encode_request, verify_sha};
use crate::opts::Config;
use crate::record::{ErrorKind, Recorder};
use crate::schedule::{Arrival, Schedule, mix64};
use crate::sys;
use anyhow::{Context, bail};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, LocalSet, spawn_local};

/// The pacer sleeps on tokio's timer only when the next request is due
/// further away than this; closer than that it spins.
const SLEEP_IF_AHEAD_NS: u64 = 3_000_000;
/// How early, before the due time, a timer sleep ends (covers tokio's
/// round-up to the next millisecond plus epoll's own millisecond).
const SPIN_MARGIN_NS: u64 = 2_500_000;
/// Sends in one pacer turn before it lets the readers run (bounds the burst
/// after a stall).
const SENDS_PER_TURN: usize = 256;
/// Connection attempts in progress per thread at start.
const CONNECT_CONCURRENCY: usize = 256;
/// Lead time between the step command and its start instant.
const STEP_LEAD: Duration = Duration::from_millis(20);
/// SHA bodies waiting for the verifier thread; when full, checks are skipped
/// and counted (the run is then invalid).
const VERIFY_QUEUE: usize = 16_384;
const READ_BUF_BYTES: usize = 64 * 1024;
const NOT_SENT: u64 = u64::MAX;

/// One connection's place in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnPlan {
    /// Unique over the run (payload keys derive from it).
    pub uid: u64,
    pub class: usize,
    /// Index among its class's connections (its phase in the schedule).
    pub index: usize,
}

/// Deals the connections of every class round-robin over the threads.
pub(crate) fn assign(cfg: &Config) -> Vec<Vec<ConnPlan>> {
    let mut per: Vec<Vec<ConnPlan>> = vec![Vec::new(); cfg.threads];
    let mut uid = 0u64;
    for class in 0..cfg.classes.len() {
        for index in 0..cfg.class_conns(class) {
            per[uid as usize % cfg.threads].push(ConnPlan { uid, class, index });
            uid += 1;
        }
    }
    per
}

/// Everything measured in one step (one rate), merged over threads.
#[derive(Debug, Clone)]
pub struct StepData {
    pub index: usize,
    /// Offered rate (None in closed loop).
    pub rate: Option<f64>,
    /// One merged recorder per class.
    pub classes: Vec<Recorder>,
    /// Each generator thread's CPU time over the window / the window.
    pub thread_cpu_shares: Vec<f64>,
    /// This process's CPU over the measured window, µs.
    pub client_cpu_us: u64,
    pub server_cpu_us: Option<u64>,
    /// Start of the measured window, ns after the run's epoch.
    pub window_start_ns: u64,
    pub duration_s: f64,
    /// Problems beyond the counters (e.g. nothing could connect).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RunData {
    pub cfg: Arc<Config>,
    pub started_at: SystemTime,
    /// Wall-clock time of the epoch all `*_ns` times count from.
    pub epoch_wall: SystemTime,
    pub steps: Vec<StepData>,
}

enum Cmd {
    Step(StepCmd),
    Shutdown,
}

#[derive(Debug, Clone, Copy)]
struct StepCmd {
    index: usize,
    t0_ns: u64,
    rate: Option<f64>,
}

enum Msg {
    Connected {
        connected: usize,
        failed: Vec<u64>,
        first_error: Option<String>,
    },
    StepDone {
        recorders: Vec<Recorder>,
        cpu_share: f64,
    },
    Failed(String),
}

struct ShaJob {
    step: usize,
    class: usize,
    conn_uid: u64,
    check: ShaCheck,
}

#[derive(Default)]
struct Verified {
    checks: u64,
    mismatches: u64,
    notes: Vec<String>,
}

/// Runs every step and returns the merged measurements.
pub(crate) fn execute(cfg: Arc<Config>) -> anyhow::Result<RunData> {
    let started_at = SystemTime::now();
    let limit = sys::raise_nofile_limit();
    let need = cfg.total_conns() as u64 + 64;
    if need > limit {
        bail!(
            "{} connections need about {need} open files but the limit is {limit} (raise `ulimit -n`)",
            cfg.total_conns()
        );
    }
    let epoch = Instant::now();
    let epoch_wall = SystemTime::now();
    let plans = assign(&cfg);
    let classes = cfg.classes.len();

    let (vtx, vrx) = mpsc::sync_channel::<ShaJob>(VERIFY_QUEUE);
    let verifier = {
        let cfg = Arc::clone(&cfg);
        std::thread::Builder::new()
            .name("loadgen-verify".into())
            .spawn(move || verifier_main(&cfg, vrx))
            .context("cannot start the verifier thread")?
    };

    let (mtx, mrx) = mpsc::channel::<(usize, Msg)>();
    let mut cmd_txs = Vec::new();
    let mut joins = Vec::new();
    for (t, conns) in plans.into_iter().enumerate() {
        let (ctx_tx, ctx_rx) = tokio::sync::mpsc::unbounded_channel();
        cmd_txs.push(ctx_tx);
        let setup = ThreadSetup {
            cfg: Arc::clone(&cfg),
            epoch,
            thread: t,
            cpu: cfg.cpus.as_ref().map(|c| c[t % c.len()]),
            conns,
            cmds: ctx_rx,
            out: mtx.clone(),
            verifier: vtx.clone(),
        };
        joins.push(
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || thread_main(setup))
                .context("cannot start a generator thread")?,
        );
    }
    drop(mtx);
    drop(vtx);
    if let Some(cpus) = &cfg.cpus {
        // The main thread only sleeps and samples; keep it off the server's CPUs.
        let _ = rtc_common::affinity::pin_current_thread(cpus);
    }

    let shutdown = |cmd_txs: &[tokio::sync::mpsc::UnboundedSender<Cmd>]| {
        for tx in cmd_txs {
            let _ = tx.send(Cmd::Shutdown);
        }
    };
    let fail = |cmd_txs: &[tokio::sync::mpsc::UnboundedSender<Cmd>], e: String| {
        shutdown(cmd_txs);
        anyhow::anyhow!(e)
    };

    // Wait until every thread has tried all its connections.
    let mut connected = 0usize;
    let mut failed = vec![0u64; classes];
    let mut first_error: Option<String> = None;
    for _ in 0..cfg.threads {
        match mrx.recv() {
            Ok((
                _,
                Msg::Connected {
                    connected: c,
                    failed: f,
                    first_error: e,
                },
            )) => {
                connected += c;
                for (a, b) in failed.iter_mut().zip(f) {
                    *a += b;
                }
                first_error = first_error.or(e);
            }
            Ok((t, Msg::Failed(e))) => return Err(fail(&cmd_txs, format!("thread {t}: {e}"))),
            Ok(_) => return Err(fail(&cmd_txs, "unexpected message".into())),
            Err(_) => return Err(fail(&cmd_txs, "a generator thread died".into())),
        }
    }

    let step_rates: Vec<Option<f64>> = if cfg.open_loop {
        cfg.rates.iter().map(|&r| Some(r)).collect()
    } else {
        vec![None]
    };
    let warmup_ns = cfg.warmup.as_nanos() as u64;
    let duration_ns = cfg.duration.as_nanos() as u64;
    let mut steps = Vec::new();

    if connected == 0 {
        // Nothing to measure: report the refusals instead of waiting out the run.
        shutdown(&cmd_txs);
        for (index, rate) in step_rates.iter().enumerate() {
            let mut recs: Vec<Recorder> = (0..classes).map(|_| Recorder::new()).collect();
            if index == 0 {
                for (r, f) in recs.iter_mut().zip(&failed) {
                    r.error(ErrorKind::Connect, *f);
                }
            }
            steps.push(StepData {
                index,
                rate: *rate,
                classes: recs,
                thread_cpu_shares: vec![0.0; cfg.threads],
                client_cpu_us: 0,
                server_cpu_us: None,
                window_start_ns: 0,
                duration_s: cfg.duration.as_secs_f64(),
                notes: vec![format!(
                    "no connection to {} could be established: {}",
                    cfg.addr,
                    first_error
                        .clone()
                        .unwrap_or_else(|| "unknown error".into())
                )],
            });
        }
    } else {
        for (index, rate) in step_rates.iter().enumerate() {
            let t0_ns = (epoch.elapsed() + STEP_LEAD).as_nanos() as u64;
            for tx in &cmd_txs {
                let _ = tx.send(Cmd::Step(StepCmd {
                    index,
                    t0_ns,
                    rate: *rate,
                }));
            }
            let window_start_ns = t0_ns + warmup_ns;
            sleep_until(epoch, window_start_ns);
            let (cpu_a, srv_a) = (
                sys::process_cpu_us(),
                cfg.server_pid.and_then(sys::pid_cpu_us),
            );
            sleep_until(epoch, window_start_ns + duration_ns);
            let (cpu_b, srv_b) = (
                sys::process_cpu_us(),
                cfg.server_pid.and_then(sys::pid_cpu_us),
            );
            let mut merged: Vec<Recorder> = (0..classes).map(|_| Recorder::new()).collect();
            let mut shares = vec![0.0; cfg.threads];
            for _ in 0..cfg.threads {
                match mrx.recv() {
                    Ok((
                        t,
                        Msg::StepDone {
                            recorders,
                            cpu_share,
                        },
                    )) => {
                        for (m, r) in merged.iter_mut().zip(&recorders) {
                            m.merge(r);
                        }
                        shares[t] = cpu_share;
                    }
                    Ok((t, Msg::Failed(e))) => {
                        return Err(fail(&cmd_txs, format!("thread {t}: {e}")));
                    }
                    Ok(_) => return Err(fail(&cmd_txs, "unexpected message".into())),
                    Err(_) => return Err(fail(&cmd_txs, "a generator thread died".into())),
                }
            }
            if index == 0 {
                // Refused connections at start count against the first step.
                for (r, f) in merged.iter_mut().zip(&failed) {
                    r.error(ErrorKind::Connect, *f);
                }
            }
            steps.push(StepData {
                index,
                rate: *rate,
                classes: merged,
                thread_cpu_shares: shares,
                client_cpu_us: cpu_b.saturating_sub(cpu_a),
                server_cpu_us: srv_a.zip(srv_b).map(|(a, b)| b.saturating_sub(a)),
                window_start_ns,
                duration_s: cfg.duration.as_secs_f64(),
                notes: Vec::new(),
            });
            if index + 1 < step_rates.len() {
                std::thread::sleep(cfg.settle);
            }
        }
        shutdown(&cmd_txs);
    }
    for j in joins {
        if j.join().is_err() {
            bail!("a generator thread panicked");
        }
    }
    // All senders are gone: the verifier finishes its queue and returns.
    let verified = verifier
        .join()
        .map_err(|_| anyhow::anyhow!("the verifier thread panicked"))?;
    for ((step, class), v) in verified {
        if let Some(rec) = steps.get_mut(step).and_then(|s| s.classes.get_mut(class)) {
            rec.body_checks += v.checks;
            rec.errors.add_kind(ErrorKind::Mismatch, v.mismatches);
            for n in v.notes {
                if rec.first_mismatches.len() < crate::record::MAX_MISMATCH_NOTES {
                    rec.first_mismatches.push(n);
                }
            }
        }
    }
    Ok(RunData {
        cfg,
        started_at,
        epoch_wall,
        steps,
    })
}

fn sleep_until(epoch: Instant, ns: u64) {
    let at = epoch + Duration::from_nanos(ns);
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Recomputes SHA-256 bodies off the generator threads, so a 20 ms hash never
/// delays a send.
fn verifier_main(cfg: &Config, rx: Receiver<ShaJob>) -> BTreeMap<(usize, usize), Verified> {
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

struct ThreadSetup {
    cfg: Arc<Config>,
    epoch: Instant,
    thread: usize,
    cpu: Option<usize>,
    conns: Vec<ConnPlan>,
    cmds: tokio::sync::mpsc::UnboundedReceiver<Cmd>,
    out: Sender<(usize, Msg)>,
    verifier: SyncSender<ShaJob>,
}

fn thread_main(setup: ThreadSetup) {
    let thread = setup.thread;
    let out = setup.out.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), String> {
        if let Some(cpu) = setup.cpu {
            rtc_common::affinity::pin_current_thread(&[cpu])
                .map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
        let local = LocalSet::new();
        local.block_on(&rt, thread_async(setup));
        Ok(())
    }));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = out.send((thread, Msg::Failed(e)));
        }
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            let _ = out.send((thread, Msg::Failed(format!("panicked: {what}"))));
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct StepTimes {
    step: usize,
    t0: u64,
    warmup_end: u64,
    end: u64,
    /// New requests may be sent (t0 ≤ now < end).
    sending: bool,
    /// Errors are counted (from the warm-up's end until the step is collected).
    counting: bool,
}

struct Ctx {
    cfg: Arc<Config>,
    epoch: Instant,
    conns: Vec<Rc<Conn>>,
    rec: RefCell<Vec<Recorder>>,
    times: Cell<StepTimes>,
    /// Parked connections that can send again, and since when (pacer drains it).
    wake: RefCell<Vec<(usize, u64)>>,
    notify: Notify,
    scratch: RefCell<Vec<u8>>,
    /// Requests sent per class by this thread (picks the SHA bodies to check).
    sent_per_class: RefCell<Vec<u64>>,
    read_buf: RefCell<Vec<u8>>,
    verdicts: RefCell<Vec<(usize, Verdict)>>,
    verifier: SyncSender<ShaJob>,
    shutdown: Cell<bool>,
}

impl Ctx {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    fn counting_at(&self, now: u64) -> bool {
        let t = self.times.get();
        t.counting && now >= t.warmup_end
    }
    fn instant(&self, ns: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_nanos(ns))
    }
}

struct Conn {
    plan: ConnPlan,
    /// Index in `Ctx::conns`.
    idx: usize,
    st: RefCell<ConnState>,
}

struct InFlight {
    p: Pending,
    intended: u64,
    /// When it could first be written: its intended time, or later if it
    /// waited for the in-flight cap, a reconnect or a full socket. Send lag
    /// counts from here, so it measures only the generator's own delay.
    eligible: u64,
    /// When the request was handed to the connection (timeouts count from here).
    queued: u64,
    /// When its first byte was written to the socket.
    sent: u64,
    /// Its first byte's position in the connection's output stream.
    start_pos: u64,
    /// Intended time inside the measured window.
    recorded: bool,
}

struct ConnState {
    stream: Option<Rc<TcpStream>>,
    reader: Option<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
    flushing: bool,
    inflight: VecDeque<InFlight>,
    out: Vec<u8>,
    out_pos: usize,
    queued_bytes: u64,
    written_bytes: u64,
    /// Requests whose first byte was written / responses consumed, since connect.
    stamped: u64,
    popped: u64,
    checker: Checker,
    seq: u64,
    /// The pacer is holding a due request for this connection.
    parked: bool,
}

impl ConnState {
    /// Sets the send time of requests whose first byte is now written;
    /// `writable_since` is when a full socket took bytes again.
    fn stamp(&mut self, t: u64, writable_since: u64) {
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

async fn thread_async(setup: ThreadSetup) {
    let ThreadSetup {
        cfg,
        epoch,
        thread,
        conns,
        mut cmds,
        out,
        verifier,
        ..
    } = setup;
    let classes = cfg.classes.len();
    let ctx = Rc::new(Ctx {
        conns: conns
            .iter()
            .enumerate()
            .map(|(idx, plan)| {
                Rc::new(Conn {
                    plan: *plan,
                    idx,
                    st: RefCell::new(ConnState {
                        stream: None,
                        reader: None,
                        flusher: None,
                        flushing: false,
                        inflight: VecDeque::new(),
                        out: Vec::new(),
                        out_pos: 0,
                        queued_bytes: 0,
                        written_bytes: 0,
                        stamped: 0,
                        popped: 0,
                        checker: Checker::new(cfg.echo, &cfg.classes[plan.class]),
                        seq: 0,
                        parked: false,
                    }),
                })
            })
            .collect(),
        rec: RefCell::new((0..classes).map(|_| Recorder::new()).collect()),
        times: Cell::new(StepTimes::default()),
        wake: RefCell::new(Vec::new()),
        notify: Notify::new(),
        scratch: RefCell::new(Vec::new()),
        sent_per_class: RefCell::new(vec![0; classes]),
        read_buf: RefCell::new(vec![0; READ_BUF_BYTES]),
        verdicts: RefCell::new(Vec::new()),
        verifier,
        shutdown: Cell::new(false),
        epoch,
        cfg,
    });

    // Connect everything, a bounded number at a time.
    let sem = Rc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let attempts: Vec<_> = ctx
        .conns
        .iter()
        .map(|_| {
            let (ctx, sem) = (Rc::clone(&ctx), Rc::clone(&sem));
            spawn_local(async move {
                let _permit = sem.acquire().await;
                connect(&ctx).await
            })
        })
        .collect();
    let mut failed = vec![0u64; classes];
    let mut connected = 0;
    let mut first_error = None;
    for (conn, h) in ctx.conns.iter().zip(attempts) {
        match h.await {
            Ok(Ok(s)) => {
                install(&ctx, conn, s);
                connected += 1;
            }
            other => {
                failed[conn.plan.class] += 1;
                if first_error.is_none() {
                    first_error = Some(match other {
                        Ok(Err(e)) => format!("connect to {}: {e}", ctx.cfg.addr),
                        _ => "connect task failed".into(),
                    });
                }
                spawn_local(reconnect(Rc::clone(&ctx), Rc::clone(conn)));
            }
        }
    }
    let _ = out.send((
        thread,
        Msg::Connected {
            connected,
            failed,
            first_error,
        },
    ));
    spawn_local(watchdog(Rc::clone(&ctx)));

    while let Some(cmd) = cmds.recv().await {
        match cmd {
            Cmd::Step(c) => {
                let (recorders, cpu_share) = run_step(&ctx, c).await;
                let _ = out.send((
                    thread,
                    Msg::StepDone {
                        recorders,
                        cpu_share,
                    },
                ));
            }
            Cmd::Shutdown => break,
        }
    }
    ctx.shutdown.set(true);
}

async fn connect(ctx: &Ctx) -> io::Result<TcpStream> {
    let s = tokio::time::timeout(ctx.cfg.timeout, TcpStream::connect(ctx.cfg.addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    s.set_nodelay(true)?;
    Ok(s)
}

fn install(ctx: &Rc<Ctx>, conn: &Rc<Conn>, s: TcpStream) {
    let s = Rc::new(s);
    let mut st = conn.st.borrow_mut();
    st.stream = Some(Rc::clone(&s));
    st.queued_bytes = 0;
    st.written_bytes = 0;
    st.stamped = 0;
    st.popped = 0;
    st.checker.reset();
    st.reader = Some(spawn_local(reader(Rc::clone(ctx), Rc::clone(conn), s)));
}

/// Closes a broken connection, counts what it cost, and starts replacing it.
fn fail_conn(ctx: &Rc<Ctx>, conn: &Rc<Conn>, kind: ErrorKind) {
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
        let outstanding = st.inflight.iter().filter(|f| f.recorded).count() as u64;
        let mut rec = ctx.rec.borrow_mut();
        let rec = &mut rec[conn.plan.class];
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
    spawn_local(reconnect(Rc::clone(ctx), Rc::clone(conn)));
}

/// Replaces a connection: retries with backoff until it connects or the run
/// ends; every failed attempt in the window counts as a `connect` error.
async fn reconnect(ctx: Rc<Ctx>, conn: Rc<Conn>) {
    let mut backoff = Duration::from_millis(10);
    loop {
        if ctx.shutdown.get() {
            return;
        }
        match connect(&ctx).await {
            Ok(s) => {
                if ctx.shutdown.get() {
                    return;
                }
                install(&ctx, &conn, s);
                let wake = {
                    let mut st = conn.st.borrow_mut();
                    std::mem::take(&mut st.parked)
                };
                if wake {
                    ctx.wake.borrow_mut().push((conn.idx, ctx.now()));
                    ctx.notify.notify_one();
                }
                let t = ctx.times.get();
                if !ctx.cfg.open_loop && t.sending {
                    for _ in 0..ctx.cfg.depth {
                        let now = ctx.now();
                        if now >= t.end {
                            break;
                        }
                        if let Err(k) = send_request(&ctx, &conn, now, now) {
                            fail_conn(&ctx, &conn, k);
                            break;
                        }
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

/// Queues one request on `conn` and writes it now if the socket takes it.
fn send_request(
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

/// Reads responses and matches them FIFO against the requests in flight.
async fn reader(ctx: Rc<Ctx>, conn: Rc<Conn>, stream: Rc<TcpStream>) {
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

/// Times out requests unanswered for `--timeout`: all of the connection's
/// outstanding requests count, and the connection is replaced. Connections
/// are checked a slice at a time, so a sweep over 10,000 of them never holds
/// the thread (and the pacer) for long; each is checked every timeout / 10.
async fn watchdog(ctx: Rc<Ctx>) {
    const SLICE: usize = 512;
    let limit = ctx.cfg.timeout.as_nanos() as u64;
    let slices = ctx.conns.len().div_ceil(SLICE).max(1) as u32;
    let tick = (ctx.cfg.timeout / (10 * slices))
        .clamp(Duration::from_millis(1), Duration::from_millis(50));
    let mut iv = tokio::time::interval(tick);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor = 0usize;
    loop {
        iv.tick().await;
        if ctx.shutdown.get() {
            return;
        }
        let now = ctx.now();
        for _ in 0..SLICE.min(ctx.conns.len()) {
            let conn = &ctx.conns[cursor];
            cursor = (cursor + 1) % ctx.conns.len();
            let expired = {
                let st = conn.st.borrow();
                st.stream.is_some()
                    && st
                        .inflight
                        .front()
                        .is_some_and(|f| now.saturating_sub(f.queued) >= limit)
            };
            if expired {
                fail_conn(&ctx, conn, ErrorKind::Timeout);
            }
        }
    }
}

/// Runs one step on this thread; returns its recorders and CPU share.
async fn run_step(ctx: &Rc<Ctx>, cmd: StepCmd) -> (Vec<Recorder>, f64) {
    let cfg = Arc::clone(&ctx.cfg);
    let warmup_end = cmd.t0_ns + cfg.warmup.as_nanos() as u64;
    let end = warmup_end + cfg.duration.as_nanos() as u64;
    let fresh = || -> Vec<Recorder> { (0..cfg.classes.len()).map(|_| Recorder::new()).collect() };
    *ctx.rec.borrow_mut() = fresh();
    ctx.wake.borrow_mut().clear();
    for c in &ctx.conns {
        c.st.borrow_mut().parked = false;
    }
    ctx.times.set(StepTimes {
        step: cmd.index,
        t0: cmd.t0_ns,
        warmup_end,
        end,
        sending: true,
        counting: true,
    });

    // This thread's CPU over the measured window (the sampler runs here).
    let cpu = Rc::new(Cell::new(0u64));
    let sampler = {
        let (ctx, cpu) = (Rc::clone(ctx), Rc::clone(&cpu));
        spawn_local(async move {
            tokio::time::sleep_until(ctx.instant(warmup_end)).await;
            let a = sys::thread_cpu_us();
            tokio::time::sleep_until(ctx.instant(end)).await;
            cpu.set(sys::thread_cpu_us().saturating_sub(a));
        })
    };

    match cmd.rate {
        Some(rate) => pacer(ctx, rate, cmd.index).await,
        None => {
            tokio::time::sleep_until(ctx.instant(cmd.t0_ns)).await;
            for conn in &ctx.conns {
                for _ in 0..cfg.depth {
                    let now = ctx.now();
                    if let Err(k) = send_request(ctx, conn, now, now) {
                        fail_conn(ctx, conn, k);
                        break;
                    }
                }
            }
            tokio::time::sleep_until(ctx.instant(end)).await;
        }
    }
    let mut t = ctx.times.get();
    t.sending = false;
    ctx.times.set(t);

    // Drain: wait for what is in flight; the watchdog times out the rest.
    let deadline = end + cfg.timeout.as_nanos() as u64 + 200_000_000;
    loop {
        let busy = ctx.conns.iter().any(|c| !c.st.borrow().inflight.is_empty());
        if !busy {
            break;
        }
        if ctx.now() >= deadline {
            for conn in &ctx.conns {
                if !conn.st.borrow().inflight.is_empty() {
                    fail_conn(ctx, conn, ErrorKind::Timeout);
                }
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = sampler.await;
    let mut t = ctx.times.get();
    t.counting = false;
    ctx.times.set(t);
    let recs = std::mem::replace(&mut *ctx.rec.borrow_mut(), fresh());
    let window_us = cfg.duration.as_micros().max(1) as f64;
    (recs, cpu.get() as f64 / window_us)
}

/// Sends every request of this thread's connections on schedule. Due times
/// are absolute (`t0` + computed offset); a late request keeps its intended
/// time and goes out as soon as possible, never skipped. No intended time is
/// at or after the window's end, but a request intended before it and still
/// unsent there (overdue, or held back by `--max-in-flight` or a reconnect)
/// is still sent, until `end + --timeout`; whatever is unsent then counts as
/// a `timeout` error, so every scheduled request is recorded or counted.
async fn pacer(ctx: &Rc<Ctx>, rate: f64, step: usize) {
    let cfg = Arc::clone(&ctx.cfg);
    let t = ctx.times.get();
    let deadline = t.end + cfg.timeout.as_nanos() as u64;
    let n = ctx.conns.len();
    let mut scheds: Vec<Schedule> = ctx
        .conns
        .iter()
        .map(|c| {
            let class_rate = cfg.class_rate(c.plan.class, rate);
            let conns = cfg.class_conns(c.plan.class);
            match cfg.arrival {
                // Classes are shifted by a fraction of the overall spacing so
                // that classes with commensurate rates do not fall due at the
                // same instants (which would show as send lag).
                Arrival::Uniform => Schedule::uniform(
                    c.plan.index,
                    conns,
                    class_rate,
                    c.plan.class as f64 * 1e9 / (cfg.classes.len() as f64 * rate),
                ),
                Arrival::Poisson => Schedule::poisson(
                    conns,
                    class_rate,
                    mix64(cfg.seed ^ mix64(c.plan.uid) ^ ((step as u64) << 48)),
                ),
            }
        })
        .collect();
    let mut parked: Vec<Option<u64>> = vec![None; n];
    let mut n_parked = 0usize;
    // Per connection: when it last became able to send after waiting for the
    // cap or a reconnect. A request due earlier waited until then.
    let mut sendable_since: Vec<u64> = vec![0; n];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::with_capacity(n);
    // Counts the requests the schedule puts in the window (for Poisson
    // arrivals this differs from rate × duration by chance).
    let schedule = |due: u64, class: usize| {
        if due >= t.warmup_end && due < t.end {
            ctx.rec.borrow_mut()[class].requests_scheduled += 1;
        }
    };
    for (i, s) in scheds.iter_mut().enumerate() {
        let due = t.t0.saturating_add(s.next_due_ns());
        if due < t.end {
            schedule(due, ctx.conns[i].plan.class);
            heap.push(Reverse((due, i)));
        }
    }
    loop {
        {
            let mut w = ctx.wake.borrow_mut();
            for (i, at) in w.drain(..) {
                if let Some(due) = parked[i].take() {
                    n_parked -= 1;
                    sendable_since[i] = sendable_since[i].max(at);
                    heap.push(Reverse((due, i)));
                }
            }
        }
        let mut now = ctx.now();
        // After the end only overdue requests are left (nothing due at or
        // after it was queued): send them, until all are out or the deadline.
        if now >= t.end && ((heap.is_empty() && n_parked == 0) || now >= deadline) {
            break;
        }
        let mut sends = 0;
        while let Some(&Reverse((due, i))) = heap.peek() {
            if due > now || sends == SENDS_PER_TURN {
                break;
            }
            heap.pop();
            let conn = &ctx.conns[i];
            let blocked = {
                let mut st = conn.st.borrow_mut();
                let blocked = st.stream.is_none() || st.inflight.len() >= cfg.max_in_flight;
                if blocked {
                    if st.stream.is_some() && due >= t.warmup_end {
                        ctx.rec.borrow_mut()[conn.plan.class].in_flight_cap_hits += 1;
                    }
                    st.parked = true;
                }
                blocked
            };
            if blocked {
                parked[i] = Some(due);
                n_parked += 1;
                continue;
            }
            if let Err(k) = send_request(ctx, conn, due, sendable_since[i]) {
                fail_conn(ctx, conn, k);
            }
            sends += 1;
            let next = t.t0.saturating_add(scheds[i].next_due_ns());
            if next < t.end {
                schedule(next, conn.plan.class);
                heap.push(Reverse((next, i)));
            }
            now = ctx.now();
        }
        let now = ctx.now();
        // The end may have passed during the sends above: with nothing left,
        // stop now rather than sleep toward the deadline.
        if now >= t.end && heap.is_empty() && n_parked == 0 {
            break;
        }
        let limit = if now < t.end { t.end } else { deadline };
        let next = heap.peek().map_or(limit, |r| r.0.0).min(limit);
        if next > now + SLEEP_IF_AHEAD_NS {
            tokio::select! {
                _ = tokio::time::sleep_until(ctx.instant(next - SPIN_MARGIN_NS)) => {}
                _ = ctx.notify.notified() => {}
            }
        } else {
            tokio::task::yield_now().await;
        }
    }
    // Only at the deadline can requests be left: due in the heap, held at a
    // parked connection, or not yet drawn from a schedule behind those. The
    // ones intended in the window were offered and never answered: each is
    // scheduled and a timeout error (so requests_scheduled − requests_sent
    // of them were never sent). Nothing vanishes from the counts.
    let mut unsent = vec![0u64; cfg.classes.len()];
    let mut count = |due: u64, class: usize| {
        if due >= t.warmup_end && due < t.end {
            unsent[class] += 1;
        }
    };
    for Reverse((due, i)) in heap.drain() {
        count(due, ctx.conns[i].plan.class);
    }
    for (i, due) in parked.iter().enumerate() {
        if let Some(due) = *due {
            count(due, ctx.conns[i].plan.class);
        }
    }
    for (i, s) in scheds.iter_mut().enumerate() {
        let class = ctx.conns[i].plan.class;
        loop {
            let due = t.t0.saturating_add(s.next_due_ns());
            if due >= t.end {
                break;
            }
            schedule(due, class);
            count(due, class);
        }
    }
    let mut recs = ctx.rec.borrow_mut();
    for (rec, n) in recs.iter_mut().zip(unsent) {
        if n > 0 {
            rec.error(ErrorKind::Timeout, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::parse_args;

    #[test]
    fn assign_deals_every_class_over_the_threads() {
        let o = parse_args([
            "loadgen",
            "--address",
            "127.0.0.1:9",
            "--rate",
            "1",
            "--workload",
            "work",
            "--mix",
            "a:conns=3;b:conns=2",
            "--threads",
            "2",
        ])
        .unwrap();
        let cfg = o.validate().unwrap();
        let per = assign(&cfg);
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].len() + per[1].len(), 5);
        assert_eq!(per[0].len(), 3);
        let mut uids: Vec<u64> = per.iter().flatten().map(|c| c.uid).collect();
        uids.sort_unstable();
        assert_eq!(uids, vec![0, 1, 2, 3, 4]);
        assert!(per.iter().all(|t| t.iter().any(|c| c.class == 0)));
        let b: Vec<usize> = per
            .iter()
            .flatten()
            .filter(|c| c.class == 1)
            .map(|c| c.index)
            .collect();
        assert_eq!(b.len(), 2);
    }
}
