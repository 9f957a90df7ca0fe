//! One generator thread: its pinned current-thread runtime, the state its
//! tasks share (`Ctx`), connecting at start and obeying the orchestrator's
//! step commands.

use super::ConnPlan;
use super::conn::{Conn, ConnState, connect, install, reconnect};
use super::drain::watchdog;
use super::run::{Cmd, Msg};
use super::step::{StepDone, run_step};
use super::verifier::ShaJob;
use crate::check::{Checker, Verdict};
use crate::opts::Config;
use crate::record::{Recorder, Window};
use crate::sys::{self, TimerFd};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::task::{LocalSet, spawn_local};

/// Connection attempts in progress per thread at start.
const CONNECT_CONCURRENCY: usize = 256;
const READ_BUF_BYTES: usize = 64 * 1024;

pub(super) struct ThreadSetup {
    pub(super) cfg: Arc<Config>,
    pub(super) epoch: Instant,
    pub(super) thread: usize,
    pub(super) cpu: Option<usize>,
    pub(super) conns: Vec<ConnPlan>,
    pub(super) cmds: tokio::sync::mpsc::UnboundedReceiver<Cmd>,
    pub(super) out: Sender<(usize, Msg)>,
}

pub(super) fn thread_main(setup: ThreadSetup) {
    let thread = setup.thread;
    let out = setup.out.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), String> {
        if let Some(cpu) = setup.cpu {
            rtc_common::affinity::pin_current_thread(&[cpu])
                .map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
        }
        sys::minimal_timer_slack();
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
pub(super) struct StepTimes {
    pub(super) step: usize,
    pub(super) t0: u64,
    pub(super) warmup_end: u64,
    pub(super) end: u64,
    /// New requests may be sent (t0 ≤ now < end).
    pub(super) sending: bool,
    /// Errors are counted (from the warm-up's end until the step is collected).
    pub(super) counting: bool,
}

pub(super) struct Ctx {
    pub(super) cfg: Arc<Config>,
    pub(super) epoch: Instant,
    pub(super) conns: Vec<Rc<Conn>>,
    pub(super) rec: RefCell<Vec<Recorder>>,
    pub(super) times: Cell<StepTimes>,
    /// Parked connections that can send again, and since when (pacer drains it).
    pub(super) wake: RefCell<Vec<(usize, u64)>>,
    pub(super) notify: Notify,
    pub(super) scratch: RefCell<Vec<u8>>,
    /// Requests sent per class by this thread (picks the SHA bodies to check).
    pub(super) sent_per_class: RefCell<Vec<u64>>,
    pub(super) read_buf: RefCell<Vec<u8>>,
    pub(super) verdicts: RefCell<Vec<(usize, Verdict)>>,
    /// SHA bodies to verify after the run (never on a pacing thread's time).
    pub(super) sha_jobs: RefCell<Vec<ShaJob>>,
    /// Per class: requests sent and not yet answered (any intended time).
    pub(super) outstanding: RefCell<Vec<u64>>,
    /// Per class: due requests the pacer holds back (cap or reconnect).
    pub(super) held: RefCell<Vec<u64>>,
    /// The pacer's precise timer.
    pub(super) timer: AsyncFd<TimerFd>,
    /// CLOCK_MONOTONIC − `now()`, to arm the timer for a `now()` instant.
    pub(super) monotonic_offset_ns: u64,
    pub(super) shutdown: Cell<bool>,
}

impl Ctx {
    pub(super) fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    pub(super) fn counting_at(&self, now: u64) -> bool {
        let t = self.times.get();
        t.counting && now >= t.warmup_end
    }
    pub(super) fn instant(&self, ns: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_nanos(ns))
    }
    /// The current step's measured window.
    pub(super) fn window(&self) -> Window {
        let t = self.times.get();
        Window {
            start_ns: t.warmup_end,
            end_ns: t.end,
        }
    }
    /// Requests due and unresolved per class (sent and unanswered, or held).
    pub(super) fn backlog(&self) -> Vec<u64> {
        let o = self.outstanding.borrow();
        let h = self.held.borrow();
        o.iter().zip(h.iter()).map(|(a, b)| a + b).collect()
    }
    /// Arms the timer for `now()`-instant `ns`.
    pub(super) fn arm_timer(&self, ns: u64) -> std::io::Result<()> {
        self.timer
            .get_ref()
            .arm_at(ns.saturating_add(self.monotonic_offset_ns))
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
        ..
    } = setup;
    let classes = cfg.classes.len();
    // SAFETY: the TimerFd owns its descriptor (an OwnedFd), keeps it open
    // until it is dropped with the AsyncFd, and always returns the same one.
    let timer = match TimerFd::new().and_then(|t| {
        unsafe { AsyncFd::register_with_interest(t, tokio::io::Interest::READABLE) }
            .map_err(std::io::Error::from)
    }) {
        Ok(t) => t,
        Err(e) => {
            let _ = out.send((thread, Msg::Failed(format!("cannot create a timerfd: {e}"))));
            return;
        }
    };
    let monotonic_offset_ns = {
        let since_epoch = epoch.elapsed().as_nanos() as u64;
        sys::monotonic_ns().saturating_sub(since_epoch)
    };
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
                        prime_left: 0,
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
        sha_jobs: RefCell::new(Vec::new()),
        outstanding: RefCell::new(vec![0; classes]),
        held: RefCell::new(vec![0; classes]),
        timer,
        monotonic_offset_ns,
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
        let outcome = match h.await {
            Ok(Ok(s)) => match install(&ctx, conn, s) {
                true => Ok(()),
                false => Err("cannot register a connection with the runtime".to_string()),
            },
            Ok(Err(e)) => Err(format!("connect to {}: {e}", ctx.cfg.addr)),
            Err(_) => Err("connect task failed".to_string()),
        };
        match outcome {
            Ok(()) => connected += 1,
            Err(e) => {
                failed[conn.plan.class] += 1;
                first_error.get_or_insert(e);
                // Idle mode holds only the connections made at start.
                if !ctx.cfg.idle {
                    spawn_local(reconnect(Rc::clone(&ctx), Rc::clone(conn)));
                }
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
                let done: StepDone = run_step(&ctx, c).await;
                let _ = out.send((thread, Msg::StepDone(done)));
            }
            Cmd::Shutdown => break,
        }
    }
    ctx.shutdown.set(true);
}
