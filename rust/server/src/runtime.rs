//! Building the tokio runtime the flags describe, and running a server on
//! its own runtime in this process (tests, embedding).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::runtime::{Builder, Runtime};

use crate::config::{Config, RuntimeKind, Settings, UsageError};
use crate::telemetry::{self, Sampler};

pub fn build(s: &Settings) -> std::io::Result<Runtime> {
    let mut b = match s.runtime {
        RuntimeKind::MultiThread => {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(s.workers);
            b
        }
        RuntimeKind::CurrentThread => Builder::new_current_thread(),
    };
    b.max_blocking_threads(s.max_blocking_threads)
        .thread_name("rtc-server")
        .enable_all();
    #[cfg(tokio_unstable)]
    if s.telemetry.is_some() {
        // Two clock reads per task schedule: only when someone samples it.
        // tokio's default log histogram: 100 ns to 60 s within 25 %.
        use tokio::runtime::{HistogramConfiguration, LogHistogram};
        b.enable_metrics_schedule_latency_histogram()
            .metrics_schedule_latency_histogram_configuration(HistogramConfiguration::log(
                LogHistogram::default(),
            ));
    }
    b.build()
}

/// A server on its own runtime and thread; stopped when dropped (after the
/// final telemetry sample, if `--telemetry` was given).
pub struct InProcessServer {
    pub addr: SocketAddr,
    /// The server's runtime (for its metrics).
    pub handle: tokio::runtime::Handle,
    telemetry: Option<Sampler>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcessServer {
    /// Builds the runtime `cfg` describes, binds `cfg.settings.listen` and
    /// serves on a background thread.
    pub fn start(cfg: Arc<Config>) -> anyhow::Result<InProcessServer> {
        let rt = build(&cfg.settings)?;
        // Inside the runtime: the listener registers with its reactor.
        let listener = rt.block_on(async { crate::listen::bind(cfg.settings.listen) })?;
        let addr = listener.local_addr()?;
        let handle = rt.handle().clone();
        let telemetry = telemetry::start_if_asked(&cfg.settings, &handle).map_err(UsageError)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rtc-in-process-server".into())
            .spawn(move || {
                rt.block_on(async {
                    tokio::select! {
                        _ = stopped => {}
                        r = crate::serve(listener, cfg) => {
                            if let Err(e) = r {
                                eprintln!("rust-server: {e:#}");
                            }
                        }
                    }
                });
                // Dropping a runtime waits for blocking tasks; do not.
                rt.shutdown_background();
            })?;
        Ok(InProcessServer {
            addr,
            handle,
            telemetry,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        drop(self.telemetry.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
