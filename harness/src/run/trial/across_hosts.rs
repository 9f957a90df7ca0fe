//! One trial across hosts: the server started on its host under `harness
//! sample` (pinned to the server CPUs there, sampled there, its samples
//! streamed back), the correctness probe sent from the first generator
//! host, each client's connections and rate split over the generator hosts
//! (`hosts::split`), one load generator per host and client started
//! through its session at an agreed wall-clock instant, their documents
//! merged into one client (`hosts::merge`), and everything judged and
//! recorded as on one machine. Every session is ended on every path
//! (`Session` ends its command when dropped).

use super::collect::{self, ClientFiles};
use super::{ClientRecord, Context, Status, TrialRecord, clients, fail, judge, probe, server};
use crate::config::profile::{ClientSpec, Defaults, ScenarioSpec};
use crate::run::hosts::check::{Ready, ReadyHost};
use crate::run::hosts::host_info::unix_ms;
use crate::run::hosts::session::{self, Session, State};
use crate::run::hosts::{merge, split};
use crate::run::plan::{self, ClientRun, PlannedTrial};
use crate::run::sampler::ProcSample;
use crate::run::signals::{self, Interrupted};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a trial across hosts needs beside its `Context` (whose
/// `server_cpus` and `client_cpus` are the server host's placement, and
/// `data_file` the server host's path).
pub struct AcrossHosts<'a> {
    pub ready: &'a Ready,
    /// The server listens here; the generators connect here.
    pub address: IpAddr,
    pub start_lead_s: f64,
    /// The run's own folder name under each generator host's work_dir.
    pub scratch_name: String,
    /// Set in the environment of every process the run starts on a host.
    pub marker: String,
}

impl AcrossHosts<'_> {
    /// Points the server's `--listen` at the hosts file's address, with
    /// the opt-in a non-loopback address needs (PROTOCOL.md §3).
    pub fn listen_on_host(&self, args: &mut Vec<String>) {
        let listen = SocketAddr::new(self.address, 0).to_string();
        match args.iter().position(|a| a == "--listen") {
            Some(i) if i + 1 < args.len() => args[i + 1] = listen,
            _ => args.extend(["--listen".into(), listen]),
        }
        if !self.address.is_loopback() {
            args.push("--allow-non-loopback".into());
        }
    }

    fn remote_dir(&self, g: &ReadyHost) -> PathBuf {
        g.host.work_dir.join(&self.scratch_name)
    }
}

/// A sample's time on the host's clock moved to the trial's time base.
pub fn to_trial_time(
    samples: &[ProcSample],
    host_origin_unix_ms: f64,
    clock_offset_ms: f64,
    trial_origin_unix_ms: f64,
) -> Vec<ProcSample> {
    let shift = host_origin_unix_ms - clock_offset_ms - trial_origin_unix_ms;
    samples
        .iter()
        .map(|s| ProcSample {
            t_ms: s.t_ms + shift,
            ..*s
        })
        .collect()
}

fn ms_since(origin: Instant) -> f64 {
    origin.elapsed().as_secs_f64() * 1e3
}

/// Longest a command may run on a host before `harness sample` ends it on
/// its own: the trial's whole length and a margin, so nothing outlives a
/// controller that lost its link.
fn host_limit(scenario: &ScenarioSpec, d: &Defaults, lead_s: f64) -> Duration {
    let load = scenario
        .clients
        .iter()
        .map(|c| clients::deadline_s(c, scenario, d))
        .fold(0.0, f64::max);
    Duration::from_secs_f64(load + lead_s + scenario.observe_after_s + 120.0)
}

/// The trial proper across hosts; `rec` is filled in as far as it gets.
pub(super) fn drive(
    ctx: &Context,
    h: &AcrossHosts,
    planned: &PlannedTrial,
    rec: &mut TrialRecord,
    server_bin: &Path,
    server_args: &[String],
    origin: Instant,
) -> Result<(), Interrupted> {
    let scenario = &ctx.profile.scenarios[planned.scenario];
    let d = &ctx.profile.defaults;
    let host = &h.ready.server;
    let whose = format!("server host {}: ", host.host.name);
    let Some(plans) = super::plans_for(ctx, scenario, rec, host.info.thread_room, &whose) else {
        return Ok(());
    };
    for p in &plans {
        if let Err(e) = split::check_mix(&p.spec.name, p.mix.as_deref(), h.ready.generators.len()) {
            fail(rec, e);
            return Ok(());
        }
    }
    let limit = host_limit(scenario, d, h.start_lead_s);
    let mut program = vec![server_bin.to_string_lossy().into_owned()];
    program.extend(server_args.iter().cloned());
    let argv = session::sample_argv(
        &host.harness(),
        &h.marker,
        Some(ctx.server_cpus),
        Some(ctx.client_cpus),
        0,
        None,
        limit,
        &program,
    );
    let srv = match Session::start(&host.transport, &argv) {
        Ok(s) => s,
        Err(e) => {
            fail(rec, format!("server did not start: {e}"));
            return Ok(());
        }
    };
    let addr = match srv.wait_listening(Duration::from_secs(10)) {
        Ok(a) => a,
        Err(e) => {
            let st = srv.finish(Duration::from_secs(5));
            rec.server.stderr_tail = st.stderr_tail(20);
            fail(
                rec,
                format!("server did not start on host {}: {e}", host.host.name),
            );
            return Ok(());
        }
    };
    let st = srv.state();
    rec.server.pid = st.pid;
    rec.server.cpus_allowed_list = st.cpus_allowed_list.clone();
    rec.server.config = srv.wait_for(Duration::from_secs(1), |s| server::config_line(&s.stderr));
    // The first sample taken after the LISTENING line, as on one machine.
    let listening_at = st.samples.len();
    rec.server.threads_at_start = srv.wait_for(Duration::from_millis(500), |s| {
        s.samples.get(listening_at).map(|x| x.threads)
    });

    let mut baseline_ms = None;
    let result = with_server(
        ctx,
        h,
        rec,
        &srv,
        addr,
        &plans,
        origin,
        scenario,
        d,
        &mut baseline_ms,
    );

    // Always end the server, and record how it ended.
    let alive = !srv.exited();
    if rec.server.alive_after_load.is_none() {
        rec.server.alive_after_load = Some(alive);
    }
    let st = srv.finish(Duration::from_secs(10));
    match st.exit {
        Some(x) => {
            rec.server.exit_code = x.code;
            rec.server.exit_signal = x.signal;
            rec.server.needed_sigkill = x.needed_sigkill;
        }
        None => rec.problems.push(format!(
            "the server's session on host {} ended without saying how the server ended",
            host.host.name
        )),
    }
    if result.is_ok() {
        // From the idle baseline on, as on one machine.
        let from = baseline_ms.unwrap_or(f64::NEG_INFINITY);
        rec.server_samples = host_samples(&st, host, rec.origin_unix_ms)
            .into_iter()
            .filter(|s| s.t_ms >= from)
            .collect();
    }
    rec.server.stderr_tail = st.stderr_tail(20);
    server::note_end(rec, result.is_ok(), &st.stderr_tail(3).join(" | "));
    if rec.status != Status::Failed {
        judge::judge(rec);
    }
    if result.is_ok() && signals::interrupted() {
        return Err(Interrupted);
    }
    result
}

fn host_samples(st: &State, host: &ReadyHost, trial_origin_unix_ms: f64) -> Vec<ProcSample> {
    match st.origin_unix_ms {
        Some(o) => to_trial_time(&st.samples, o, host.clock.offset_ms, trial_origin_unix_ms),
        None => Vec::new(),
    }
}

/// A load generator started on a host for one client.
struct Part {
    client: usize,
    gen_host: usize,
    rec: ClientRecord,
    session: Session,
    files: ClientFiles,
}

#[allow(clippy::too_many_arguments)]
fn with_server(
    ctx: &Context,
    h: &AcrossHosts,
    rec: &mut TrialRecord,
    srv: &Session,
    addr: SocketAddr,
    plans: &[clients::ClientPlan],
    origin: Instant,
    scenario: &ScenarioSpec,
    d: &Defaults,
    baseline_ms: &mut Option<f64>,
) -> Result<(), Interrupted> {
    let prober = &h.ready.generators[0];
    let vectors: Vec<&rtc_conformance::Vector> = probe::vectors_for(ctx.probe, scenario).collect();
    if let Err(e) =
        crate::run::hosts::probe::remote(&prober.transport, &prober.harness(), addr, &vectors)
    {
        fail(rec, e);
        return Ok(());
    }
    if signals::interrupted() {
        return Err(Interrupted);
    }
    *baseline_ms = Some(ms_since(origin));
    // A few samples of the idle server: the RSS and thread baseline.
    if !signals::sleep(Duration::from_millis(120)) {
        return Err(Interrupted);
    }

    let (mut parts, deadline_s) = launch(ctx, h, rec, addr, plans, origin, scenario, d);
    if wait(rec, &mut parts, srv, origin, deadline_s) {
        return Err(Interrupted); // the sessions end as they drop
    }
    if scenario.observe_after_s > 0.0
        && !signals::sleep(Duration::from_secs_f64(scenario.observe_after_s))
    {
        return Err(Interrupted);
    }
    if rec.server.alive_after_load.is_none() {
        rec.server.alive_after_load = Some(!srv.exited());
    }
    let mut by_client: Vec<Vec<ClientRecord>> = vec![Vec::new(); plans.len()];
    for p in parts {
        let g = &h.ready.generators[p.gen_host];
        let c = p.client;
        by_client[c].push(finish_part(ctx, rec, g, p));
    }
    for (p, generators) in plans.iter().zip(by_client) {
        if let Some(merged) = merged_client(ctx, rec, &p.spec.name, h, generators) {
            rec.clients.push(merged);
        }
    }
    Ok(())
}

/// Starts one generator per client and host at a shared instant; returns
/// them with the deadline of the longest.
#[allow(clippy::too_many_arguments)]
fn launch(
    ctx: &Context,
    h: &AcrossHosts,
    rec: &mut TrialRecord,
    addr: SocketAddr,
    plans: &[clients::ClientPlan],
    origin: Instant,
    scenario: &ScenarioSpec,
    d: &Defaults,
) -> (Vec<Part>, f64) {
    let gens = &h.ready.generators;
    let weights: Vec<f64> = gens.iter().map(|g| g.host.weight).collect();
    let scratch = ctx.run.scratch();
    let _ = std::fs::create_dir_all(&scratch);
    let limit = host_limit(scenario, d, h.start_lead_s);
    // The agreed instant, on the controller's clock; each host gets it on
    // its own clock.
    let start_at_ms = unix_ms() + h.start_lead_s * 1e3;
    let mut parts = Vec::new();
    let mut deadline: f64 = 0.0;
    rec.load_start_ms = Some(ms_since(origin) + h.start_lead_s * 1e3);
    for (ci, p) in plans.iter().enumerate() {
        let c = p.spec;
        let uniform = !p.rates.is_empty() && c.arrival.as_deref() != Some("poisson");
        for share in split::split(c.conns, &p.rates, &weights, uniform) {
            let g = &gens[share.host];
            let name = format!("{}@{}", c.name, g.host.name);
            let base = format!("{}--{name}", rec.trial_id);
            let remote = ClientFiles::in_dir(&h.remote_dir(g), &base);
            let (js, hl, hg) = remote.arg_strings();
            let cpus = rtc_common::affinity::format_cpu_list(&g.info.placement.client_cpus);
            let run = ClientRun {
                addr,
                client_cpus: &cpus,
                threads: g.info.placement.client_cpus.len(),
                rates: share.rates.clone(),
                mix: p.mix.clone(),
                data_file_bytes: d.data_file_bytes,
                json: &js,
                hlog: &hl,
                hgrm: &hg,
                server_pid: None,
            };
            let spec = ClientSpec {
                conns: share.conns,
                ..c.clone()
            };
            let mut args = plan::loadgen_args(&spec, scenario, d, &run);
            args.extend(generator_flags(
                addr,
                start_at_ms + g.clock.offset_ms + share.start_offset_ms,
                share.host,
            ));
            let mut program = vec![
                g.host
                    .bin_dir
                    .join("loadgen")
                    .to_string_lossy()
                    .into_owned(),
            ];
            program.extend(args.iter().cloned());
            let argv = session::sample_argv(
                &g.harness(),
                &h.marker,
                Some(&g.info.placement.client_cpus),
                None,
                c.priority(),
                Some(&h.remote_dir(g).join(format!("{base}."))),
                limit,
                &program,
            );
            deadline = deadline.max(clients::deadline_s(c, scenario, d) + h.start_lead_s);
            let launched_ms = ms_since(origin);
            match Session::start(&g.transport, &argv) {
                Ok(session) => parts.push(Part {
                    client: ci,
                    gen_host: share.host,
                    rec: ClientRecord {
                        host: Some(g.host.name.clone()),
                        ..ClientRecord::new(name, args, launched_ms)
                    },
                    session,
                    files: ClientFiles::in_dir(&scratch, &base),
                }),
                Err(e) => {
                    fail(
                        rec,
                        format!(
                            "cannot start the load generator on host {}: {e}",
                            g.host.name
                        ),
                    );
                    return (parts, deadline);
                }
            }
        }
    }
    (parts, deadline)
}

/// The flags a generator on another host needs: the agreed start (its own
/// clock), its own seed (Poisson arrivals and file offsets must not repeat
/// across hosts; the first host keeps the default), and the opt-in for a
/// non-loopback server address.
pub fn generator_flags(addr: SocketAddr, start_at_unix_ms: f64, host_index: usize) -> Vec<String> {
    let mut v = vec![
        "--start-at".to_string(),
        format!("{start_at_unix_ms:.3}"),
        "--seed".to_string(),
        (host_index + 1).to_string(),
    ];
    if !addr.ip().is_loopback() {
        v.push("--allow-non-loopback".into());
    }
    v
}

/// Waits for every generator, bounded; true when interrupted.
fn wait(
    rec: &mut TrialRecord,
    parts: &mut [Part],
    srv: &Session,
    origin: Instant,
    deadline_s: f64,
) -> bool {
    let wait_start = Instant::now();
    loop {
        let mut all_done = true;
        for p in parts.iter_mut() {
            if p.rec.finished_ms == 0.0 {
                if p.session.exited() {
                    p.rec.finished_ms = ms_since(origin);
                } else {
                    all_done = false;
                }
            }
        }
        if all_done {
            break;
        }
        if signals::interrupted() {
            return true;
        }
        if wait_start.elapsed().as_secs_f64() > deadline_s {
            rec.problems.push(format!(
                "load generator still running after {deadline_s:.0} s: killed"
            ));
            for p in parts.iter_mut().filter(|p| p.rec.finished_ms == 0.0) {
                p.session.stop();
                p.rec.finished_ms = ms_since(origin);
                fail(
                    rec,
                    format!("load generator {} did not finish in time", p.rec.name),
                );
            }
            break;
        }
        if rec.server.alive_after_load.is_none() && srv.exited() {
            rec.server.alive_after_load = Some(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    rec.load_end_ms = Some(ms_since(origin));
    false
}

/// Ends a generator's session, puts the files it sent into scratch and
/// collects them as on one machine.
fn finish_part(ctx: &Context, rec: &mut TrialRecord, g: &ReadyHost, p: Part) -> ClientRecord {
    let st = p.session.finish(Duration::from_secs(30));
    let mut crec = p.rec;
    crec.pid = st.pid;
    crec.cpus_allowed_list = st.cpus_allowed_list.clone();
    crec.exit_code = st.exit.map(|x| x.code.unwrap_or(-1));
    crec.samples = host_samples(&st, g, rec.origin_unix_ms);
    if let Some(m) = &st.failed {
        fail(
            rec,
            format!(
                "cannot start the load generator on host {}: {m}",
                g.host.name
            ),
        );
    }
    let scratch = ctx.run.scratch();
    for (name, text) in &st.files {
        // Only plain names: a file name never leaves scratch.
        if !name.contains('/') && name != ".." {
            let _ = std::fs::write(scratch.join(name), text);
        }
    }
    let mut err = st.stderr.join("\n");
    if err.is_empty() {
        err = st.transport_stderr.join("\n");
    }
    let _ = std::fs::write(&p.files.stderr, err);
    collect::collect(ctx.run, rec, crec, &p.files)
}

/// One client's record from its generators: their documents merged (on
/// the controller's clock), the merged latency distribution as its
/// `.hgrm`, the parts kept beside it.
fn merged_client(
    ctx: &Context,
    rec: &mut TrialRecord,
    name: &str,
    h: &AcrossHosts,
    generators: Vec<ClientRecord>,
) -> Option<ClientRecord> {
    if generators.is_empty() {
        return None;
    }
    let clock = |host: &Option<String>| {
        h.ready
            .generators
            .iter()
            .find(|g| Some(&g.host.name) == host.as_ref())
            .map_or(0.0, |g| g.clock.offset_ms)
    };
    let shifted: Vec<(String, serde_json::Value)> = generators
        .iter()
        .filter_map(|g| {
            let mut d = g.document.clone()?;
            to_controller_clock(&mut d, clock(&g.host));
            Some((g.host.clone().unwrap_or_default(), d))
        })
        .collect();
    let document = if shifted.len() == generators.len() {
        let docs: Vec<(&str, &serde_json::Value)> =
            shifted.iter().map(|(n, d)| (n.as_str(), d)).collect();
        match merge::merge(&docs) {
            Ok(m) => Some(m),
            Err(e) => {
                fail(
                    rec,
                    format!("client {name}: the generators' documents do not merge: {e}"),
                );
                None
            }
        }
    } else {
        None // each missing document already failed the trial
    };
    let hgrm = document.as_ref().and_then(|m| {
        let b64 = m.pointer("/histograms/latency_corrected_ns")?.as_str()?;
        let hist = merge::added(&[b64]).ok()?;
        let to = ctx.run.hgrm(&rec.trial_id, name);
        crate::run::results::write_atomic(&to, rtc_loadgen::report::hgrm_text(&hist).as_bytes())
            .ok()?;
        Some(ctx.run.rel(&to))
    });
    let exit_code = generators
        .iter()
        .map(|g| g.exit_code)
        .find(|c| *c != Some(0))
        .unwrap_or(Some(0));
    let launched_ms = generators
        .iter()
        .map(|g| g.launched_ms)
        .fold(f64::INFINITY, f64::min);
    Some(ClientRecord {
        exit_code,
        finished_ms: generators.iter().map(|g| g.finished_ms).fold(0.0, f64::max),
        document,
        hgrm,
        generators,
        ..ClientRecord::new(name.to_string(), Vec::new(), launched_ms)
    })
}

/// A document's window times (its host's clock) on the controller's.
fn to_controller_clock(doc: &mut serde_json::Value, offset_ms: f64) {
    fn shift(v: &mut serde_json::Value, offset_ms: f64) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k.ends_with("_unix_ms") {
                        if let Some(t) = x.as_f64() {
                            *x = serde_json::json!(t - offset_ms);
                        }
                    } else {
                        shift(x, offset_ms);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift(x, offset_ms)),
            _ => {}
        }
    }
    if offset_ms != 0.0 {
        shift(doc, offset_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::hosts::check::{Ready, ReadyHost};

    #[test]
    fn host_samples_move_to_the_trial_clock() {
        let s = ProcSample {
            t_ms: 10.0,
            cpu_user_us: 0,
            cpu_sys_us: 0,
            cpu_runtime_ns: 0,
            rss_bytes: 0,
            rss_peak_bytes: 0,
            threads: 1,
            ctx_voluntary: 0,
            ctx_involuntary: 0,
            per_thread: true,
        };
        // The host began sampling 500 ms after the trial on its clock,
        // which runs 200 ms ahead: 300 ms after the trial's origin.
        let v = to_trial_time(&[s], 1_000_500.0, 200.0, 1_000_000.0);
        assert_eq!(v[0].t_ms, 310.0);
    }

    #[test]
    fn window_times_shift_by_the_hosts_clock_offset() {
        let mut d = serde_json::json!({
            "window_start_unix_ms": 1000.0, "requests": 5,
            "steps": [{"window_end_unix_ms": 2000.0}], "start_at_unix_ms": null
        });
        to_controller_clock(&mut d, 25.0);
        assert_eq!(d["window_start_unix_ms"], 975.0);
        assert_eq!(d["steps"][0]["window_end_unix_ms"], 1975.0);
        assert_eq!(d["requests"], 5);
    }

    #[test]
    fn the_server_listens_on_the_hosts_address_with_the_opt_in() {
        let ready = Ready {
            server: dummy_host(),
            generators: vec![],
        };
        let across = |ip: &str| AcrossHosts {
            ready: &ready,
            address: ip.parse().unwrap(),
            start_lead_s: 1.0,
            scratch_name: "x".into(),
            marker: "m".into(),
        };
        let mut a: Vec<String> = ["--listen", "127.0.0.1:0", "--workload", "echo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        across("198.18.0.1").listen_on_host(&mut a);
        assert_eq!(
            a,
            [
                "--listen",
                "198.18.0.1:0",
                "--workload",
                "echo",
                "--allow-non-loopback"
            ]
        );
        let mut a = vec!["--listen".to_string(), "127.0.0.1:0".to_string()];
        across("::1").listen_on_host(&mut a);
        assert_eq!(a, ["--listen", "[::1]:0"], "loopback needs no opt-in");

        let f = generator_flags("198.18.0.1:4000".parse().unwrap(), 1_767_225_600_000.25, 1);
        assert_eq!(
            f,
            [
                "--start-at",
                "1767225600000.250",
                "--seed",
                "2",
                "--allow-non-loopback"
            ]
        );
        assert_eq!(
            generator_flags("127.0.0.1:1".parse().unwrap(), 1.0, 0).len(),
            4
        );
    }

    fn dummy_host() -> ReadyHost {
        use crate::config::hosts::{Host, Reach};
        use crate::run::hosts::host_info::{ClockOffset, HostInfo, HostRole};
        let host = Host {
            name: "s".into(),
            reach: Reach::Local,
            bin_dir: "/b".into(),
            work_dir: "/tmp".into(),
            cpus: None,
            weight: 1.0,
        };
        ReadyHost {
            transport: crate::run::hosts::transport::Transport::for_host(&host, &[]),
            host,
            role: HostRole::Server,
            info: HostInfo {
                hostname: "s".into(),
                os: "Linux".into(),
                machine: "x86_64".into(),
                kernel: "6".into(),
                cpu_model: None,
                cpus_allowed: vec![0],
                topology: Default::default(),
                placement: Default::default(),
                provenance: Default::default(),
                proc_stat: None,
                sha_rounds_per_ms: None,
                sha_rounds_per_ms_by_language: Default::default(),
                warnings: vec![],
                data_file: None,
                thread_room: None,
                problems: vec![],
            },
            clock: ClockOffset {
                offset_ms: 0.0,
                uncertainty_ms: 0.0,
            },
            binaries: Default::default(),
            copied: vec![],
        }
    }
}
