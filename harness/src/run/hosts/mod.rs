//! Runs across machines (`harness run --hosts hosts.toml`): one server host
//! and one or more load-generator hosts, reached through a `transport`
//! (`ssh DEST`, `ip netns exec NAME` for the tests' namespaces, or this
//! machine). The hosts are `check`ed first (reachable, Linux, the same
//! binaries as here, their `host_info`: topology, placement, provenance,
//! clock); each command runs under `harness sample` (`guard`) and speaks
//! `events` to its controller-side `session`; a client's connections and
//! rate are `split` over the generator hosts and their documents `merge`d
//! back into one; the correctness `probe` runs from a generator host;
//! `setup` is what the run decides and records about its hosts.

pub mod check;
pub mod events;
pub mod guard;
pub mod host_info;
pub mod merge;
pub mod probe;
pub mod session;
pub mod setup;
pub mod split;
pub mod transport;

/// Whether this process runs as root (the namespace tests need it).
pub fn is_superuser() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
