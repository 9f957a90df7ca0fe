//! Replays every committed vector against a tiny reference server written
//! here from protocol.md alone (std::net, a thread per connection), so the
//! vectors and `run_vector` are checked without either real server. Also
//! checks that `run_vector` reports differences, missing bytes and a server
//! that never closes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use rtc_conformance::{Segment, Vector, bytes_of, default_vectors_path, load, run_vector};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy)]
struct Config {
    echo: bool,
    /// Length of the (virtual) data file; None = started without one.
    data_file_bytes: Option<u64>,
}

fn start(cfg: Config) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                if cfg.echo {
                    echo(conn)
                } else {
                    work(conn, cfg.data_file_bytes)
                }
            });
        }
    });
    addr
}

fn echo(mut c: TcpStream) {
    let mut buf = vec![0u8; 16384];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if c.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads exactly `buf.len()` bytes. Ok(false) on EOF before the first byte
/// (a frame boundary when reading a header), Err on EOF part-way.
fn read_full(c: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match c.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn respond(c: &mut TcpStream, status: u8, body: &[u8], id: u32) -> std::io::Result<()> {
    let mut out = vec![1, status, 0, 0];
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(id.to_be_bytes());
    out.extend(body);
    c.write_all(&out)
}

fn work(mut c: TcpStream, data_file_bytes: Option<u64>) {
    let mut hdr = [0u8; 24];
    loop {
        match read_full(&mut c, &mut hdr) {
            Ok(true) => {}
            // EOF at a frame boundary, mid-header, or an error: just close.
            _ => return,
        }
        let be = |i: usize| u32::from_be_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let (version, io_kind, reserved) = (hdr[0], hdr[1], u16::from_be_bytes([hdr[2], hdr[3]]));
        let (payload_len, rounds, io_arg, io_offset, id) = (be(4), be(8), be(12), be(16), be(20));
        if version != 1 || reserved != 0 {
            let _ = respond(&mut c, 1, &[], id);
            return;
        }
        let over = payload_len > 1_048_576
            || rounds > 1_000_000
            || (matches!(io_kind, 1 | 2) && io_arg > 10_000_000)
            || (io_kind == 3 && io_arg > 1_048_576);
        if over {
            let _ = respond(&mut c, 2, &[], id);
            return;
        }
        let mut payload = vec![0u8; payload_len as usize];
        if payload_len > 0 && !matches!(read_full(&mut c, &mut payload), Ok(true)) {
            return;
        }
        let mut file = Vec::new();
        let status = match io_kind {
            0 => 0,
            1 | 2 => {
                std::thread::sleep(Duration::from_micros(io_arg as u64));
                0
            }
            3 => match data_file_bytes {
                Some(len) if io_offset as u64 + io_arg as u64 <= len => {
                    file = (0..io_arg as u64)
                        .map(|i| ((io_offset as u64 + i) % 251) as u8)
                        .collect();
                    0
                }
                _ => 4,
            },
            _ => 3,
        };
        let r = if status != 0 {
            respond(&mut c, status, &[], id)
        } else if rounds == 0 {
            payload.extend(&file);
            respond(&mut c, 0, &payload, id)
        } else {
            let mut h = Sha256::new();
            h.update(&payload);
            h.update(&file);
            let mut d: [u8; 32] = h.finalize().into();
            for _ in 1..rounds {
                d = Sha256::digest(d).into();
            }
            respond(&mut c, 0, &d, id)
        };
        if r.is_err() {
            return;
        }
    }
}

#[test]
fn every_vector_passes_against_the_reference_server() {
    let f = load(&default_vectors_path()).unwrap();
    let echo = start(Config {
        echo: true,
        data_file_bytes: Some(f.data_file_bytes),
    });
    let with_file = start(Config {
        echo: false,
        data_file_bytes: Some(f.data_file_bytes),
    });
    let without_file = start(Config {
        echo: false,
        data_file_bytes: None,
    });
    let mut failures = Vec::new();
    for v in &f.vectors {
        let addr = match (v.workload.as_str(), v.data_file) {
            ("echo", _) => echo,
            (_, true) => with_file,
            (_, false) => without_file,
        };
        if let Err(e) = run_vector(addr, v, Duration::from_secs(20)) {
            failures.push(format!("{}: {e}", v.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn one_request_vector() -> Vector {
    // version 1, io none, payload "hi", id 7.
    let mut hdr = vec![
        1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
    ];
    hdr.extend(b"hi");
    Vector {
        name: "t".into(),
        description: "t".into(),
        workload: "work".into(),
        data_file: true,
        send: vec![Segment::Hex(hex(&hdr))],
        half_close: true,
        expect: vec![Segment::Hex(hex(&[
            1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 7, b'h', b'i',
        ]))],
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn run_vector_reports_differences() {
    let addr = start(Config {
        echo: false,
        data_file_bytes: None,
    });
    let good = one_request_vector();
    run_vector(addr, &good, Duration::from_secs(10)).unwrap();

    let mut wrong = good.clone();
    let mut e = bytes_of(&wrong.expect);
    e[13] = b'X';
    wrong.expect = vec![Segment::Hex(hex(&e))];
    let err = run_vector(addr, &wrong, Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("offset 13"), "{err}");
    assert!(err.contains("response 1, body byte 1"), "{err}");

    let mut longer = good.clone();
    longer.expect.push(Segment::Repeat { byte: 0, count: 3 });
    let err = run_vector(addr, &longer, Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("closed after 14 of 17"), "{err}");

    let mut shorter = good.clone();
    shorter.expect = vec![Segment::Hex(hex(&e[..12]))];
    let err = run_vector(addr, &shorter, Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("extra bytes"), "{err}");

    // Without the half-close the server waits for the next header: timeout.
    let mut open = good.clone();
    open.half_close = false;
    let err = run_vector(addr, &open, Duration::from_millis(300)).unwrap_err();
    assert!(err.contains("did not close"), "{err}");
}

#[test]
fn run_vector_reports_a_refused_connection() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = run_vector(addr, &one_request_vector(), Duration::from_secs(2)).unwrap_err();
    assert!(err.contains("connect"), "{err}");
}
