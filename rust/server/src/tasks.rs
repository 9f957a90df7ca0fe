//! The future each connection's task runs: one per workload, spawned as its
//! own type. One async fn matching on the workload would size every task,
//! echo ones included, for the work path's largest state (buffered reader
//! and writer, a tokio::fs::File, a Sleep, JoinHandles, a oneshot): memory
//! per idle connection that Go's echo goroutine does not pay.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::net::TcpStream;

use crate::config::{Config, Coop, Workload};
use crate::{echo, work};

/// An echo connection until the client closes it.
pub async fn echo_connection(mut stream: TcpStream, buf_size: usize) {
    // Errors here are a client going away or misbehaving: they end this
    // connection only and are not worth a log line each.
    let _ = echo::serve_echo(&mut stream, buf_size).await;
}

/// A work connection until the client closes it (errors as for echo).
pub async fn work_connection(mut stream: TcpStream, cfg: Arc<Config>) {
    let (rd, wr) = stream.split();
    let _ = work::serve_work(rd, wr, &cfg).await;
}

/// Spawns the task for one accepted connection.
pub fn spawn_connection(stream: TcpStream, cfg: &Arc<Config>) {
    let s = &cfg.settings;
    match s.workload {
        Workload::Echo => spawn(echo_connection(stream, s.buf_size), s.coop),
        Workload::Work => spawn(work_connection(stream, Arc::clone(cfg)), s.coop),
    }
}

fn spawn<F>(conn: F, coop: Coop)
where
    F: Future<Output = ()> + Send + 'static,
{
    match coop {
        Coop::On => drop(tokio::spawn(conn)),
        // Without tokio's cooperative budget a busy connection never yields
        // on its own (Go preempts instead). `Unconstrained` adds no bytes.
        Coop::Off => drop(tokio::spawn(tokio::task::unconstrained(conn))),
    }
}

/// Bytes of each connection future, as `std::mem::size_of_val` gives them
/// for a spawned value: the size of its type, known before any connection.
/// A task's allocation is this plus tokio's task header and trailer.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutureSizes {
    pub echo_future_bytes: usize,
    pub work_future_bytes: usize,
}

pub fn future_sizes() -> FutureSizes {
    FutureSizes {
        echo_future_bytes: size_of_output(echo_connection),
        work_future_bytes: size_of_output(work_connection),
    }
}

/// The size of what `f` returns, without calling it.
fn size_of_output<A, B, F>(_f: impl FnOnce(A, B) -> F) -> usize {
    std::mem::size_of::<F>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_of_output_is_the_size_of_the_returned_value() {
        let make = |a: u8, b: [u64; 3]| async move { (a, b) };
        let value = make(1, [2; 3]);
        assert_eq!(size_of_output(make), std::mem::size_of_val(&value));
    }

    /// The echo future holds the TcpStream (a reactor registration and an fd:
    /// 4 words on 64-bit), the buffer size, and inside serve_echo the
    /// buffer's Vec (3 words), a stream reference and one read, write_all or
    /// shutdown future in flight (a reference and a slice: 3 words), plus
    /// state discriminants: about 15 words. 32 words (256 bytes on 64-bit)
    /// leaves room for tokio and rustc to grow these by half again on any
    /// target, and is far below what the work path's state needs.
    #[test]
    fn the_echo_future_is_small_and_carries_no_work_state() {
        let s = future_sizes();
        assert!(
            s.echo_future_bytes <= 32 * std::mem::size_of::<usize>(),
            "{s:?}"
        );
        // A Sleep alone is part of the work path's state, never of echo's.
        assert!(
            s.echo_future_bytes < s.work_future_bytes - std::mem::size_of::<tokio::time::Sleep>(),
            "{s:?}"
        );
    }
}
