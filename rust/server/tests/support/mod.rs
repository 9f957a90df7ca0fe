//! Shared by the integration tests: the data file, starting an in-process
//! server from flags, the mode matrix, and a small blocking client.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rtc_common::protocol::{RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader};
use rtc_server::{Config, InProcessServer};

/// Size of the data file the vectors assume.
pub const DATA_FILE_BYTES: u64 = 2_097_152;
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A data file of `DATA_FILE_BYTES` (byte i = i mod 251) under cargo's
/// per-target temp dir, one per test binary (`name`), created once.
pub fn data_file(name: &str) -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rtc-server-{name}.bin"));
        let exact = std::fs::metadata(&p).is_ok_and(|m| m.len() == DATA_FILE_BYTES);
        if !(exact && rtc_common::datafile::is_valid(&p, DATA_FILE_BYTES)) {
            rtc_common::datafile::create(&p, DATA_FILE_BYTES).unwrap();
        }
        p
    })
    .clone()
}

/// Starts a server configured by `flags` (as on the command line).
pub fn start(flags: &[&str]) -> InProcessServer {
    let mut args = vec!["rust-server".to_string()];
    args.extend(flags.iter().map(|s| s.to_string()));
    let cfg = Config::from_args(&args).unwrap_or_else(|e| panic!("{flags:?}: {e:#}"));
    InProcessServer::start(Arc::new(cfg)).unwrap()
}

/// Starts a work server with the data file plus `flags`.
pub fn start_with_data(name: &str, flags: &[&str]) -> InProcessServer {
    let path = data_file(name);
    let mut all = vec!["--data-file", path.to_str().unwrap()];
    all.extend_from_slice(flags);
    start(&all)
}

/// The mode combinations that matter: the defaults, then one axis varied at
/// a time, on both runtimes (block-in-place only on multi-thread).
pub fn mode_matrix() -> Vec<Vec<&'static str>> {
    let mut out = Vec::new();
    for rt in ["multi-thread", "current-thread"] {
        let base = vec!["--runtime", rt, "--workers", "2"];
        let with = |extra: &[&'static str]| {
            let mut v = base.clone();
            v.extend_from_slice(extra);
            v
        };
        out.push(base.clone());
        for m in ["spawn-blocking", "block-in-place", "rayon"] {
            if !(rt == "current-thread" && m == "block-in-place") {
                out.push(with(&["--cpu-mode", m]));
            }
        }
        for m in ["spawn-blocking", "block-in-place"] {
            if !(rt == "current-thread" && m == "block-in-place") {
                out.push(with(&["--block-mode", m]));
            }
        }
        for m in ["spawn-blocking", "inline"] {
            out.push(with(&["--file-mode", m]));
        }
        out.push(with(&["--coop", "off"]));
        // A tiny buffer splits headers and payloads across reads.
        out.push(with(&["--buf-size", "7"]));
    }
    out
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

pub fn header(
    io_kind: u8,
    payload_len: u32,
    cpu_rounds: u32,
    io_arg: u32,
    io_offset: u32,
    id: u32,
) -> RequestHeader {
    RequestHeader {
        version: 1,
        io_kind,
        reserved: 0,
        payload_len,
        cpu_rounds,
        io_arg,
        io_offset,
        id,
    }
}

/// A request's bytes: header then payload.
pub fn frame(h: &RequestHeader, payload: &[u8]) -> Vec<u8> {
    let mut v = h.encode().to_vec();
    v.extend_from_slice(payload);
    v
}

pub fn read_response(s: &mut TcpStream) -> (ResponseHeader, Vec<u8>) {
    let mut hb = [0u8; RESPONSE_HEADER_LEN];
    s.read_exact(&mut hb).expect("response header");
    let h = ResponseHeader::decode(&hb);
    let mut body = vec![0u8; h.body_len as usize];
    s.read_exact(&mut body).expect("response body");
    (h, body)
}

/// One request, one response.
pub fn call(s: &mut TcpStream, h: &RequestHeader, payload: &[u8]) -> (ResponseHeader, Vec<u8>) {
    s.write_all(&frame(h, payload)).unwrap();
    read_response(s)
}

/// Reads until EOF (the server closed); panics on timeout.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).expect("server closes the connection");
    v
}

/// A payload that is not all one byte.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}
