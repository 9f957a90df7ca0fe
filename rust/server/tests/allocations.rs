//! Heap allocations per request once a connection is warm, counted by this
//! test binary's global allocator while the server runs in-process. The
//! inline paths allocate nothing per request; the offloading modes allocate
//! by construction (a task or job per call: see `strategies.rs` and
//! PROTOCOL.md), which the second test pins so the contrast stays true.
//!
//! The counter is process-wide, so every test holds `MEASURING` from server
//! start to stop, and the client allocates nothing inside the window.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc_common::protocol::RESPONSE_HEADER_LEN;
use support::*;

const NAME: &str = "allocations";
const WARMUP_REQUESTS: u64 = 50;
const MEASURED_REQUESTS: u64 = 200;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static MEASURING: Mutex<()> = Mutex::new(());

/// One request repeated on one connection.
struct Exchange {
    send: Vec<u8>,
    reply_bytes: usize,
}

fn work(io_kind: u8, cpu_rounds: u32, io_arg: u32, io_offset: u32, reply_body: usize) -> Exchange {
    let p = payload(64);
    Exchange {
        send: frame(&header(io_kind, 64, cpu_rounds, io_arg, io_offset, 7), &p),
        reply_bytes: RESPONSE_HEADER_LEN + reply_body,
    }
}

fn echo_64() -> Exchange {
    Exchange {
        send: payload(64),
        reply_bytes: 64,
    }
}

/// Allocations (process-wide) during `MEASURED_REQUESTS` exchanges after
/// `WARMUP_REQUESTS`, on one connection to a server started with `flags`.
fn allocations_after_warmup(flags: &[&str], ex: &Exchange) -> u64 {
    let srv = start_with_data(NAME, flags);
    every_worker_has_started(&srv);
    let mut s = connect(srv.addr);
    let mut reply = vec![0u8; ex.reply_bytes];
    let mut exchange = |s: &mut std::net::TcpStream| {
        s.write_all(&ex.send).unwrap();
        s.read_exact(&mut reply).unwrap();
    };
    for _ in 0..WARMUP_REQUESTS {
        exchange(&mut s);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..MEASURED_REQUESTS {
        exchange(&mut s);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    // A failed request would have shown up as a short read above; the last
    // reply is still checked, so a status path cannot pass for another.
    assert_eq!(reply.len(), ex.reply_bytes);
    after - before
}

/// Waits until each runtime worker has parked once. A thread allocates as
/// it starts (std copies its name), and on a busy machine a worker thread
/// may first run well after the runtime was built: that is not a request's
/// allocation.
fn every_worker_has_started(srv: &rtc_server::InProcessServer) {
    let m = srv.handle.metrics();
    let deadline = Instant::now() + IO_TIMEOUT;
    while (0..m.num_workers()).any(|w| m.worker_park_count(w) == 0) {
        assert!(Instant::now() < deadline, "runtime workers never parked");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// (label, flags, exchange) for every path that runs on the connection's
/// own task, on both runtimes.
fn inline_paths() -> Vec<(String, Vec<&'static str>, Exchange)> {
    let mut out = Vec::new();
    for rt in ["multi-thread", "current-thread"] {
        let base = |extra: &[&'static str]| {
            let mut v = vec!["--runtime", rt, "--workers", "2"];
            v.extend_from_slice(extra);
            v
        };
        let cases: Vec<(&str, Vec<&'static str>, Exchange)> = vec![
            ("echo 64 B", base(&["--workload", "echo"]), echo_64()),
            ("io none, cpu 0", base(&[]), work(0, 0, 0, 0, 64)),
            ("io none, cpu inline", base(&[]), work(0, 10, 0, 0, 32)),
            ("io sleep 100 us (timer)", base(&[]), work(1, 0, 100, 0, 64)),
            ("io block 50 us inline", base(&[]), work(2, 0, 50, 0, 64)),
            (
                "io file inline 4 KiB",
                base(&["--file-mode", "inline"]),
                work(3, 0, 4096, 1000, 64 + 4096),
            ),
            (
                "io file inline + cpu inline",
                base(&["--file-mode", "inline"]),
                work(3, 10, 4096, 1000, 32),
            ),
            (
                "coop off, cpu inline",
                base(&["--coop", "off"]),
                work(0, 10, 0, 0, 32),
            ),
            (
                "status 3 (payload discarded)",
                base(&[]),
                work(9, 0, 0, 0, 0),
            ),
            (
                "status 4 (file past the end)",
                base(&[]),
                work(3, 0, 10, u32::MAX - 5, 0),
            ),
        ];
        out.extend(
            cases
                .into_iter()
                .map(|(label, flags, ex)| (format!("{rt}: {label}"), flags, ex)),
        );
    }
    out
}

#[test]
fn inline_paths_allocate_nothing_per_request_after_warmup() {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = Vec::new();
    for (label, flags, ex) in inline_paths() {
        let n = allocations_after_warmup(&flags, &ex);
        eprintln!("{label}: {n} allocations in {MEASURED_REQUESTS} requests");
        if n != 0 {
            failures.push(format!("{label}: {n} allocations"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Each of these hands work to another thread through a heap object made
/// per call (counts measured here, per request): spawn_blocking's task,
/// which holds the closure (1); rayon's job plus the oneshot carrying the
/// reply (2); block_in_place's blocking task that takes over the worker's
/// core, spawned whenever the thread holds one (0.6 to 0.9); tokio::fs's
/// blocking-pool task for the seek and for the read (2).
#[test]
fn offloading_modes_allocate_per_request() {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let file = |m: &'static str| (vec!["--file-mode", m], work(3, 0, 4096, 1000, 64 + 4096));
    let cpu = |m: &'static str| (vec!["--cpu-mode", m], work(0, 10, 0, 0, 32));
    let block = |m: &'static str| (vec!["--block-mode", m], work(2, 0, 50, 0, 64));
    let cases = [
        cpu("spawn-blocking"),
        cpu("block-in-place"),
        cpu("rayon"),
        block("spawn-blocking"),
        block("block-in-place"),
        file("spawn-blocking"),
        file("tokio-fs"),
    ];
    for (flags, ex) in cases {
        let n = allocations_after_warmup(&flags, &ex);
        eprintln!(
            "{flags:?}: {:.2} allocations per request",
            n as f64 / MEASURED_REQUESTS as f64
        );
        assert!(
            n > 0,
            "{flags:?}: no allocation in {MEASURED_REQUESTS} requests"
        );
    }
}
