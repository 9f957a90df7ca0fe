//! The run's orchestration: start the generator threads, wait for their
//! connections, command each step at one start instant, sample this
//! process's and the server's CPU over each window, merge the threads'
//! recorders, and finally verify the kept SHA bodies.

use super::step::StepDone;
use super::thread::{ThreadSetup, thread_main};
use super::verifier::{ShaJob, verify_all};
use super::{RunData, StepData, assign};
use crate::opts::Config;
use crate::record::{ErrorKind, Recorder};
use crate::sys;
use anyhow::{Context, bail};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// Lead time between the step command and its start instant.
const STEP_LEAD: Duration = Duration::from_millis(20);
/// `--start-at`: a warm-up that begins later than this after the asked
/// instant is a measurement fault (the hosts did not start together).
const START_AT_TOLERANCE_MS: f64 = 10.0;

pub(super) enum Cmd {
    Step(StepCmd),
    Shutdown,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct StepCmd {
    pub(super) index: usize,
    pub(super) t0_ns: u64,
    pub(super) rate: Option<f64>,
}

pub(super) enum Msg {
    Connected {
        connected: usize,
        failed: Vec<u64>,
        first_error: Option<String>,
    },
    StepDone(StepDone),
    Failed(String),
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
        };
        joins.push(
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || thread_main(setup))
                .context("cannot start a generator thread")?,
        );
    }
    drop(mtx);
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
    let mut sha_jobs: Vec<ShaJob> = Vec::new();

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
                measurement_notes: if cfg.idle {
                    vec![format!(
                        "{total} of {total} connections were not open at the end of the idle hold",
                        total = cfg.total_conns()
                    )]
                } else {
                    Vec::new()
                },
                conns_open_at_end: cfg.idle.then_some(0),
            });
        }
    } else {
        for (index, rate) in step_rates.iter().enumerate() {
            let soonest = (epoch.elapsed() + STEP_LEAD).as_nanos() as u64;
            let mut measurement_notes = Vec::new();
            let t0_ns = match cfg.start_at_unix_ms.filter(|_| index == 0) {
                Some(at_ms) => {
                    let epoch_ms = epoch_wall
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64() * 1e3)
                        .unwrap_or(0.0);
                    let asked = ((at_ms - epoch_ms) * 1e6).max(0.0) as u64;
                    let late_ms = soonest.saturating_sub(asked) as f64 / 1e6;
                    if late_ms > START_AT_TOLERANCE_MS {
                        measurement_notes.push(format!(
                            "the warm-up began {late_ms:.0} ms after --start-at (connecting took \
                             longer): not in step with other generators"
                        ));
                    }
                    asked.max(soonest)
                }
                None => soonest,
            };
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
            let (mut open, mut not_primed) = (0u64, 0u64);
            for _ in 0..cfg.threads {
                match mrx.recv() {
                    Ok((t, Msg::StepDone(d))) => {
                        for (m, r) in merged.iter_mut().zip(&d.recorders) {
                            m.merge(r);
                        }
                        shares[t] = d.cpu_share;
                        sha_jobs.extend(d.sha_jobs);
                        open += d.conns_open;
                        not_primed += d.not_primed;
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
                measurement_notes,
                conns_open_at_end: cfg.idle.then_some(open),
            });
            if cfg.idle {
                let total = cfg.total_conns() as u64;
                let notes = &mut steps[index].measurement_notes;
                if open < total {
                    notes.push(format!(
                        "{} of {total} connections were not open at the end of the idle hold",
                        total - open
                    ));
                }
                if not_primed > 0 {
                    notes.push(format!(
                        "{not_primed} of {total} connections were not open with all {} primed \
                         requests answered when the hold began (raise --warmup)",
                        cfg.prime
                    ));
                }
            }
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
    // After the run: hashing never competes with pacing.
    for ((step, class), v) in verify_all(&cfg, &sha_jobs) {
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
