//! The trial's load generators: what each sends (rates resolved from
//! capacities, the mix's CPU milliseconds in rounds), each started pinned to
//! the client CPUs with a `/proc` sampler of its own, and the bounded wait
//! for all of them.

use super::collect::ClientFiles;
use super::{ClientRecord, Context, RUN_MARKER_ENV, TrialRecord, fail, server};
use crate::config::profile::{ClientSpec, Defaults, ScenarioSpec};
use crate::run::plan::{self, ClientRun};
use crate::run::sampler::Sampler;
use crate::run::signals;
use rtc_common::child::ListeningChild;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one client of the scenario sends in this trial.
pub struct ClientPlan<'a> {
    pub spec: &'a ClientSpec,
    /// Open-loop rates (one per step; empty in closed loop and idle).
    pub rates: Vec<f64>,
    /// The mix with `cpu_ms` turned into rounds.
    pub mix: Option<String>,
}

/// Resolves every client before anything starts; None (the trial failed,
/// saying why) when a rate or a mix cannot be resolved.
pub fn resolve<'a>(
    ctx: &Context,
    scenario: &'a ScenarioSpec,
    rec: &mut TrialRecord,
) -> Option<Vec<ClientPlan<'a>>> {
    let mut plans = Vec::new();
    for c in &scenario.clients {
        let rates = match (&c.rate, &c.rate_steps, &c.rate_fractions) {
            (Some(r), _, _) => vec![*r],
            (_, Some(steps), _) => steps.clone(),
            (_, _, Some(fr)) => {
                let cap_id = c.of_capacity.as_deref().unwrap_or_default();
                let caps = ctx.capacities.get(cap_id).cloned().unwrap_or_default();
                let originals: Vec<String> = scenario
                    .variants
                    .iter()
                    .filter(|v| crate::config::expand::aa_original(v).is_none())
                    .cloned()
                    .collect();
                match plan::rates_from_capacity(fr, &caps, &originals) {
                    Ok(r) => r,
                    Err(e) => {
                        fail(
                            rec,
                            format!("client {}: rates from scenario {cap_id}: {e}", c.name),
                        );
                        return None;
                    }
                }
            }
            _ => Vec::new(),
        };
        let mix = match &c.mix {
            Some(m) => match plan::resolve_mix(
                m,
                ctx.rounds_per_ms
                    .get(&rec.language)
                    .copied()
                    .unwrap_or(1000.0),
            ) {
                Ok(m) => Some(m),
                Err(e) => {
                    fail(rec, format!("client {}: {e}", c.name));
                    return None;
                }
            },
            None => None,
        };
        plans.push(ClientPlan {
            spec: c,
            rates,
            mix,
        });
    }
    Some(plans)
}

/// A started load generator.
pub(super) struct Running {
    pub rec: ClientRecord,
    pub child: Child,
    pub sampler: Sampler,
    pub files: ClientFiles,
}

/// Seconds a client may run before it is killed: its load, its timeout
/// and ten seconds of slack.
pub fn deadline_s(c: &ClientSpec, scenario: &ScenarioSpec, d: &Defaults) -> f64 {
    plan::client_seconds(c, scenario, d) + c.timeout_s.unwrap_or(5.0) + 10.0
}

/// Starts every client; returns them with the deadline of the longest. A
/// client that cannot start fails the trial and starts no more.
pub(super) fn launch(
    ctx: &Context,
    rec: &mut TrialRecord,
    server: &ListeningChild,
    plans: &[ClientPlan],
    origin: Instant,
    scenario: &ScenarioSpec,
    d: &Defaults,
) -> (Vec<Running>, f64) {
    let scratch = ctx.run.scratch();
    let _ = std::fs::create_dir_all(&scratch);
    let client_cpus = rtc_common::affinity::format_cpu_list(ctx.client_cpus);
    let mut running = Vec::new();
    let mut deadline: f64 = 0.0;
    rec.load_start_ms = Some(origin.elapsed().as_secs_f64() * 1e3);
    for p in plans {
        let c = p.spec;
        let files = ClientFiles::in_dir(&scratch, &format!("{}--{}", rec.trial_id, c.name));
        let (js, hl, hg) = files.arg_strings();
        let run = ClientRun {
            addr: server.addr,
            client_cpus: &client_cpus,
            threads: ctx.client_cpus.len(),
            rates: p.rates.clone(),
            mix: p.mix.clone(),
            data_file_bytes: d.data_file_bytes,
            json: &js,
            hlog: &hl,
            hgrm: &hg,
            server_pid: Some(server.pid()),
        };
        let args = plan::loadgen_args(c, scenario, d, &run);
        deadline = deadline.max(deadline_s(c, scenario, d));
        let launched_ms = origin.elapsed().as_secs_f64() * 1e3;
        match spawn_client(
            &ctx.bin_dir.join("loadgen"),
            &args,
            ctx.client_cpus,
            c.priority(),
            &ctx.run.root,
            &files.stderr,
        ) {
            Ok(child) => {
                let pid = child.id();
                let crec = ClientRecord {
                    pid: Some(pid),
                    cpus_allowed_list: server::cpus_allowed_list(pid),
                    ..ClientRecord::new(c.name.clone(), args, launched_ms)
                };
                let sampler = Sampler::start(pid, origin, super::SAMPLE_PERIOD);
                running.push(Running {
                    rec: crec,
                    child,
                    sampler,
                    files,
                });
            }
            Err(e) => {
                fail(rec, format!("cannot start the load generator: {e}"));
                break;
            }
        }
    }
    (running, deadline)
}

/// Waits for every client, bounded by `deadline_s`; the server dying ends
/// nothing early — the clients see it and stop on their own timeout.
/// Returns true when interrupted (the clients are killed either way).
pub(super) fn wait(
    rec: &mut TrialRecord,
    running: &mut [Running],
    server: &mut ListeningChild,
    origin: Instant,
    deadline_s: f64,
) -> bool {
    let wait_start = Instant::now();
    let mut interrupted = false;
    loop {
        let mut all_done = true;
        for r in running.iter_mut() {
            if r.rec.exit_code.is_none() && r.rec.finished_ms == 0.0 {
                match r.child.try_wait() {
                    Ok(Some(st)) => {
                        r.rec.exit_code = Some(st.code().unwrap_or(-1));
                        r.rec.finished_ms = origin.elapsed().as_secs_f64() * 1e3;
                    }
                    _ => all_done = false,
                }
            }
        }
        if all_done {
            break;
        }
        if signals::interrupted() {
            interrupted = true;
            break;
        }
        if wait_start.elapsed().as_secs_f64() > deadline_s {
            rec.problems.push(format!(
                "load generator still running after {deadline_s:.0} s: killed"
            ));
            break;
        }
        if rec.server.alive_after_load.is_none() && !matches!(server.child.try_wait(), Ok(None)) {
            rec.server.alive_after_load = Some(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    rec.load_end_ms = Some(origin.elapsed().as_secs_f64() * 1e3);
    for r in running.iter_mut() {
        if r.rec.exit_code.is_none() {
            let _ = r.child.kill();
            let _ = r.child.wait();
            r.rec.finished_ms = origin.elapsed().as_secs_f64() * 1e3;
            if !interrupted {
                fail(
                    rec,
                    format!("load generator {} did not finish in time", r.rec.name),
                );
            }
        }
    }
    interrupted
}

pub fn spawn_client(
    bin: &Path,
    args: &[String],
    cpus: &[usize],
    nice: i32,
    run_root: &Path,
    stderr_file: &Path,
) -> std::io::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env(RUN_MARKER_ENV, run_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_file)?);
    tie_and_pin(&mut cmd, Some(cpus.to_vec()), nice);
    cmd.spawn()
}

/// A `nice` value meaning "SCHED_IDLE": below nice 19, the process runs
/// only when nothing else on its CPUs wants to.
pub const SCHED_IDLE_PRIORITY: i32 = 20;

/// The child gets SIGKILL when its parent dies, runs at `nice` (or under
/// SCHED_IDLE for `SCHED_IDLE_PRIORITY`), and is pinned to `cpus`.
pub fn tie_and_pin(cmd: &mut Command, cpus: Option<Vec<usize>>, nice: i32) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if nice == SCHED_IDLE_PRIORITY {
                let p = libc::sched_param { sched_priority: 0 };
                if libc::sched_setscheduler(0, libc::SCHED_IDLE, &p) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if nice != 0 && libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            match &cpus {
                Some(c) => rtc_common::affinity::pin_current_thread(c),
                None => Ok(()),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client asked to run idle really runs under SCHED_IDLE (and a nice
    /// one at its niceness), as the kernel reports it.
    #[test]
    fn priorities_reach_the_kernel() {
        for (prio, want_policy) in [
            (SCHED_IDLE_PRIORITY, libc::SCHED_IDLE),
            (5, libc::SCHED_OTHER),
        ] {
            let mut cmd = Command::new("sleep");
            cmd.arg("5");
            tie_and_pin(&mut cmd, None, prio);
            let mut child = cmd.spawn().unwrap();
            // SAFETY: reads the scheduling policy of our own child.
            let policy = unsafe { libc::sched_getscheduler(child.id() as i32) };
            let _ = child.kill();
            let _ = child.wait();
            assert_eq!(policy, want_policy, "priority {prio}");
        }
    }
}
