//! The tokio server: the echo and work workloads of PROTOCOL.md, with every
//! offloading strategy of the brief selectable by flag.
//!
//! `run` is the whole program after flag parsing; `serve` is the accept loop,
//! usable in-process with any listener (tests use `runtime::InProcessServer`).
//!
//! Modules: `config` (flags, validation, config line), `runtime` (building the
//! runtime), `listen` (binding with Go's listen backlog), `tasks` (the future
//! spawned per connection, one type per workload), `echo` and `work` (one
//! connection each), `strategies` (the cpu / block / file modes side by
//! side), `telemetry` (the `--telemetry` sampler).

pub mod config;
pub mod echo;
pub mod listen;
pub mod runtime;
pub mod strategies;
pub mod tasks;
pub mod telemetry;
pub mod work;

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::runtime::RuntimeFlavor;

pub use config::{Config, ConfigLine, Opts, Settings, UsageError};
pub use runtime::InProcessServer;

/// Pause after a failed accept (e.g. EMFILE) before trying again.
pub const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Everything after flag parsing, in the brief's start-up order: open the
/// data file, raise RLIMIT_NOFILE, start the telemetry sampler if asked,
/// bind, config line on stderr, LISTENING on stdout, serve until
/// SIGINT/SIGTERM (then the final telemetry sample and exit 0 at once).
pub fn run(opts: Opts) -> anyhow::Result<()> {
    let settings = Settings::from_opts(&opts, config::default_workers()).map_err(UsageError)?;
    let sampler = Arc::new(OnceLock::new());
    // Before any other thread exists, so every thread inherits the mask.
    exit_on_signal(Arc::clone(&sampler)).context("cannot install the signal handler")?;
    let cfg = Arc::new(Config::open(settings)?);
    let nofile = raise_nofile_limit();
    let rt = runtime::build(&cfg.settings).context("cannot build the tokio runtime")?;
    if let Some(s) = telemetry::start_if_asked(&cfg.settings, rt.handle()).map_err(UsageError)? {
        let _ = sampler.set(s);
    }
    rt.block_on(async {
        let listen = cfg.settings.listen;
        // Not TcpListener::bind: its backlog is 128, Go's is somaxconn.
        let listener =
            listen::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "{}",
            ConfigLine::new(&cfg, addr, std::process::id()).to_json()
        );
        if let Err(e) = nofile {
            eprintln!("rust-server: warning: cannot raise RLIMIT_NOFILE: {e}");
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING {addr}")?;
        out.flush()?;
        drop(out);
        serve(listener, cfg).await
    })
}

/// The accept loop: one task per connection, TCP_NODELAY on each, accept
/// errors logged at most once per second and retried. Runs until the
/// surrounding future is dropped. In `run` it is the future given to
/// `block_on` (the `#[tokio::main]` shape), so on multi-thread the accept
/// loop has the main thread to itself; Go's accept loop is a goroutine.
pub async fn serve(listener: TcpListener, cfg: Arc<Config>) -> anyhow::Result<()> {
    if cfg.settings.uses_block_in_place()
        && tokio::runtime::Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread
    {
        // block_in_place would panic on the first request.
        anyhow::bail!("block-in-place modes need a multi-thread runtime");
    }
    let mut accept_log = RateLimit::new(Duration::from_secs(1));
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                // Fails only if the peer is already gone; the connection's
                // first read or write will then end it.
                let _ = stream.set_nodelay(true);
                tasks::spawn_connection(stream, &cfg);
            }
            Err(e) => {
                match accept_log.allow(Instant::now()) {
                    Some(0) => eprintln!("rust-server: accept: {e} (retrying)"),
                    Some(n) => eprintln!(
                        "rust-server: accept: {e} (retrying; {n} more accept errors since the last report)"
                    ),
                    None => {}
                }
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
            }
        }
    }
}

/// Lets one event through per `every`; reports how many were held back since.
#[derive(Debug)]
pub struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Some(number suppressed since the last allowed event) if this one may be logged.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (Go's runtime does the
/// same by itself since Go 1.19). Returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<libc::rlim_t> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(lim.rlim_cur)
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread started
/// later) and waits for them on a dedicated thread that writes the final
/// telemetry sample (if `sampler` has been set) and exits 0. Not
/// tokio::signal: its delivery needs a runtime thread to poll the driver, and
/// the blocking modes under test may hold every worker (a current-thread
/// runtime blocked in `std::thread::sleep` for 10 s), while the contract is
/// exit within 1 s. std::process::exit, not a return from main, because
/// dropping the runtime waits for running blocking tasks.
fn exit_on_signal(sampler: Arc<OnceLock<telemetry::Sampler>>) -> std::io::Result<()> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls
    // only touch the set we own and this thread's mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        set
    };
    std::thread::Builder::new()
        .name("rtc-signals".into())
        .spawn(move || {
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: sigwait reads the set and writes the signal number.
                let rc = unsafe { libc::sigwait(&set, &mut sig) };
                if rc == 0 && (sig == libc::SIGINT || sig == libc::SIGTERM) {
                    if let Some(s) = sampler.get() {
                        s.finish();
                    }
                    std::process::exit(0);
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_one_event_per_period_and_counts_the_rest() {
        let mut r = RateLimit::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0 + Duration::from_millis(10)), None);
        assert_eq!(r.allow(t0 + Duration::from_millis(999)), None);
        assert_eq!(r.allow(t0 + Duration::from_millis(1000)), Some(2));
        assert_eq!(r.allow(t0 + Duration::from_millis(1500)), None);
        assert_eq!(r.allow(t0 + Duration::from_millis(2500)), Some(1));
    }

    #[test]
    fn nofile_limit_is_raised_to_the_hard_limit() {
        let soft = raise_nofile_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
        assert_eq!(soft, lim.rlim_cur);
    }
}
