//! Pieces every Rust program of the project shares: the wire protocol
//! (`protocol`), the deterministic data file (`datafile`), one-line CLI
//! errors (`cli`), CPU pinning (`affinity`) and starting a listening child
//! process (`child`).

pub mod affinity;
pub mod child;
pub mod cli;
pub mod datafile;
pub mod protocol;
