//! One module per subcommand.

pub mod burst;
pub mod channels;
pub mod lifo;
pub mod pingpong;
pub mod spawn;
pub mod starve;

/// Half of MemAvailable: the most a run may expect to take.
pub(crate) fn memory_budget_bytes() -> u64 {
    crate::procinfo::mem_available_bytes() / 2
}

pub(crate) fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1024.0 * 1024.0))
}
