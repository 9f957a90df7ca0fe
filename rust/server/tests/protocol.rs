//! The work and echo workloads over real TCP against the in-process server,
//! checked with rtc_common's codec (independent of the shared vectors).

mod support;

use std::io::Write;
use std::net::Shutdown;
use std::sync::Arc;

use rtc_common::datafile::bytes_at;
use rtc_common::protocol::{
    MAX_CPU_ROUNDS, MAX_FILE_BYTES, MAX_PAYLOAD_BYTES, MAX_WAIT_US, RESPONSE_HEADER_LEN,
    RequestHeader, ResponseHeader, expected_body,
};
use support::*;

const NAME: &str = "protocol";
const RUNTIMES: [&str; 2] = ["multi-thread", "current-thread"];

fn ok(h: &ResponseHeader, id: u32, body: &[u8], want: &[u8]) {
    assert_eq!(
        (h.version, h.status, h.reserved, h.id),
        (1, 0, 0, id),
        "{h:?}"
    );
    assert_eq!(h.body_len as usize, body.len());
    assert!(body == want, "body of request {id} differs");
}

fn status_only(h: &ResponseHeader, body: &[u8], status: u8, id: u32) {
    assert_eq!(
        (h.version, h.status, h.reserved, h.body_len, h.id),
        (1, status, 0, 0, id),
        "{h:?}"
    );
    assert!(body.is_empty());
}

#[test]
fn sha_rounds_in_every_cpu_mode() {
    for rt in RUNTIMES {
        for mode in ["inline", "spawn-blocking", "block-in-place", "rayon"] {
            if rt == "current-thread" && mode == "block-in-place" {
                continue;
            }
            let srv = start_with_data(
                NAME,
                &["--runtime", rt, "--workers", "2", "--cpu-mode", mode],
            );
            let mut s = connect(srv.addr);
            let (h, b) = call(&mut s, &header(0, 3, 1, 0, 0, 1), b"abc");
            ok(&h, 1, &b, &expected_body(b"abc", b"", 1));
            // The FIPS 180-2 example, fixed bytes.
            assert_eq!(b[..4], [0xba, 0x78, 0x16, 0xbf], "{rt} {mode}");
            let p = payload(5000);
            let (h, b) = call(&mut s, &header(0, 5000, 7, 0, 0, 2), &p);
            ok(&h, 2, &b, &expected_body(&p, b"", 7));
            let (h, b) = call(&mut s, &header(0, 0, 2, 0, 0, 3), b"");
            ok(&h, 3, &b, &expected_body(b"", b"", 2));
            // SHA over payload ‖ file bytes.
            let (h, b) = call(&mut s, &header(3, 64, 3, 4096, 777, 4), &p[..64]);
            ok(&h, 4, &b, &expected_body(&p[..64], &bytes_at(777, 4096), 3));
            // cpu 0: the body is the payload, nothing hashed.
            let (h, b) = call(&mut s, &header(0, 5000, 0, 0, 0, 5), &p);
            ok(&h, 5, &b, &p);
        }
    }
}

#[test]
fn file_reads_in_every_file_mode() {
    let len = DATA_FILE_BYTES as u32;
    for rt in RUNTIMES {
        for mode in ["tokio-fs", "spawn-blocking", "inline"] {
            let srv = start_with_data(NAME, &["--runtime", rt, "--file-mode", mode]);
            let mut s = connect(srv.addr);
            let p = payload(10);
            let (h, b) = call(&mut s, &header(3, 10, 0, 100, 0, 1), &p);
            ok(&h, 1, &b, &[p.clone(), bytes_at(0, 100)].concat());
            // Several reads on one connection, backwards: tokio-fs must seek.
            let (h, b) = call(&mut s, &header(3, 0, 0, 100, len - 100, 2), b"");
            ok(&h, 2, &b, &bytes_at(u64::from(len) - 100, 100));
            let (h, b) = call(&mut s, &header(3, 0, 0, 300, 1, 3), b"");
            ok(&h, 3, &b, &bytes_at(1, 300));
            let (h, b) = call(&mut s, &header(3, 0, 0, MAX_FILE_BYTES, 1_000_000, 4), b"");
            ok(&h, 4, &b, &bytes_at(1_000_000, MAX_FILE_BYTES as usize));
            // Zero bytes is a no-op, even exactly at the end.
            let (h, b) = call(&mut s, &header(3, 10, 0, 0, len, 5), &p);
            ok(&h, 5, &b, &p);
            // Past the end, and a range that would wrap in 32 bits: status 4.
            let (h, b) = call(&mut s, &header(3, 10, 0, 101, len - 100, 6), &p);
            status_only(&h, &b, 4, 6);
            let (h, b) = call(&mut s, &header(3, 0, 0, 2, u32::MAX, 7), b"");
            status_only(&h, &b, 4, 7);
            let (h, b) = call(&mut s, &header(3, 0, 0, 0, len + 1, 8), b"");
            status_only(&h, &b, 4, 8);
            // The connection still serves.
            let (h, b) = call(&mut s, &header(3, 0, 0, 5, 250, 9), b"");
            ok(&h, 9, &b, &[250, 0, 1, 2, 3]);
        }
    }
}

#[test]
fn a_file_shorter_than_at_start_gives_status_4_in_every_file_mode() {
    for mode in ["tokio-fs", "spawn-blocking", "inline"] {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rtc-server-shrinking-{mode}.bin"));
        rtc_common::datafile::create(&path, 10_000).unwrap();
        let srv = start(&["--data-file", path.to_str().unwrap(), "--file-mode", mode]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(1000)
            .unwrap();
        let mut s = connect(srv.addr);
        // Inside the length recorded at start, but the read comes up short.
        let (h, b) = call(&mut s, &header(3, 0, 0, 1000, 500, 1), b"");
        status_only(&h, &b, 4, 1);
        let (h, b) = call(&mut s, &header(3, 0, 0, 100, 0, 2), b"");
        ok(&h, 2, &b, &bytes_at(0, 100));
        drop(srv);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn block_and_sleep_in_every_block_mode() {
    for rt in RUNTIMES {
        for mode in ["inline", "spawn-blocking", "block-in-place"] {
            if rt == "current-thread" && mode == "block-in-place" {
                continue;
            }
            let srv = start(&["--runtime", rt, "--block-mode", mode]);
            let mut s = connect(srv.addr);
            let p = payload(33);
            for (i, (kind, arg)) in [(2, 1000), (2, 0), (1, 1000), (1, 0)]
                .into_iter()
                .enumerate()
            {
                let id = i as u32;
                let (h, b) = call(&mut s, &header(kind, 33, 0, arg, 0, id), &p);
                ok(&h, id, &b, &p);
            }
            let (h, b) = call(&mut s, &header(2, 33, 1, 500, 0, 9), &p);
            ok(&h, 9, &b, &expected_body(&p, b"", 1));
        }
    }
}

#[test]
fn every_status_code() {
    let srv = start(&[]);
    let closes = |h: RequestHeader, status: u8| {
        let mut s = connect(srv.addr);
        s.write_all(&h.encode()).unwrap();
        let got = read_to_eof(&mut s);
        assert_eq!(got.len(), RESPONSE_HEADER_LEN, "{h:?}");
        let r = ResponseHeader::decode(got[..].try_into().unwrap());
        assert_eq!((r.status, r.body_len, r.id), (status, 0, h.id), "{h:?}");
    };
    // 1: bad version or reserved, checked before anything else.
    closes(
        RequestHeader {
            version: 0,
            payload_len: u32::MAX,
            ..header(0, 0, 0, 0, 0, 11)
        },
        1,
    );
    closes(
        RequestHeader {
            version: 2,
            ..header(0, 0, 0, 0, 0, 12)
        },
        1,
    );
    closes(
        RequestHeader {
            reserved: 1,
            cpu_rounds: u32::MAX,
            ..header(0, 0, 0, 0, 0, 13)
        },
        1,
    );
    // 2: over a limit, payload unread (none sent, so the close is clean).
    closes(header(0, MAX_PAYLOAD_BYTES + 1, 0, 0, 0, 21), 2);
    closes(header(0, u32::MAX, 0, 0, 0, 22), 2);
    closes(header(0, 0, MAX_CPU_ROUNDS + 1, 0, 0, 23), 2);
    closes(header(1, 0, 0, MAX_WAIT_US + 1, 0, 24), 2);
    closes(header(2, 0, 0, MAX_WAIT_US + 1, 0, 25), 2);
    closes(header(3, 0, 0, MAX_FILE_BYTES + 1, 0, 26), 2);
    closes(header(9, MAX_PAYLOAD_BYTES + 1, 0, 0, 0, 27), 2);

    let mut s = connect(srv.addr);
    // 0.
    let (h, b) = call(&mut s, &header(0, 4, 0, u32::MAX, 5, 1), b"abcd");
    ok(&h, 1, &b, b"abcd");
    // 3: unknown kind (its io_arg has no limit), payload consumed.
    let (h, b) = call(&mut s, &header(4, 4, 0, u32::MAX, 0, 2), b"wxyz");
    status_only(&h, &b, 3, 2);
    let (h, b) = call(&mut s, &header(255, 0, 0, 0, 0, 3), b"");
    status_only(&h, &b, 3, 3);
    // 4: no data file, even for zero bytes.
    let (h, b) = call(&mut s, &header(3, 4, 0, 0, 0, 4), b"abcd");
    status_only(&h, &b, 4, 4);
    let (h, b) = call(&mut s, &header(3, 0, 1, 10, 0, 5), b"");
    status_only(&h, &b, 4, 5);
    // Still served; then a clean close at a frame boundary.
    let (h, b) = call(&mut s, &header(0, 1, 1, 0, 0, 6), b"z");
    ok(&h, 6, &b, &expected_body(b"z", b"", 1));
    s.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_eof(&mut s).is_empty());
}

#[test]
fn status_3_with_a_big_payload_then_a_good_request_on_one_connection() {
    for buf in ["16384", "7"] {
        let srv = start(&["--buf-size", buf]);
        let mut s = connect(srv.addr);
        let big = payload(MAX_PAYLOAD_BYTES as usize);
        let mut bytes = frame(&header(200, MAX_PAYLOAD_BYTES, 0, u32::MAX, 0, 1), &big);
        bytes.extend(frame(&header(0, 3, 2, 0, 0, 2), b"abc"));
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || w.write_all(&bytes).unwrap());
        let (h, b) = read_response(&mut s);
        status_only(&h, &b, 3, 1);
        let (h, b) = read_response(&mut s);
        ok(&h, 2, &b, &expected_body(b"abc", b"", 2));
        writer.join().unwrap();
    }
}

#[test]
fn pipelined_100_requests_are_answered_in_order() {
    for rt in RUNTIMES {
        let srv = start(&["--runtime", rt, "--cpu-mode", "spawn-blocking"]);
        let mut s = connect(srv.addr);
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        for id in 0..100u32 {
            let p = payload(id as usize % 50);
            let rounds = id % 3;
            bytes.extend(frame(
                &header(0, p.len() as u32, rounds, 0, 0, id + 1000),
                &p,
            ));
            want.push(expected_body(&p, b"", rounds));
        }
        s.write_all(&bytes).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        for (i, body) in want.iter().enumerate() {
            let (h, b) = read_response(&mut s);
            ok(&h, i as u32 + 1000, &b, body);
        }
        assert!(
            read_to_eof(&mut s).is_empty(),
            "nothing after the last response"
        );
    }
}

#[test]
fn a_response_is_not_held_back_by_a_partly_sent_next_frame() {
    // Request 1 complete, request 2's header and half its payload: the
    // server must answer 1 before it waits for the rest of 2.
    let srv = start(&[]);
    let mut s = connect(srv.addr);
    let p = payload(1000);
    let mut bytes = frame(&header(0, 5, 0, 0, 0, 1), b"hello");
    bytes.extend(frame(&header(0, 1000, 0, 0, 0, 2), &p[..500]));
    s.write_all(&bytes).unwrap();
    let (h, b) = read_response(&mut s);
    ok(&h, 1, &b, b"hello");
    s.write_all(&p[500..]).unwrap();
    let (h, b) = read_response(&mut s);
    ok(&h, 2, &b, &p);
}

#[test]
fn eof_mid_frame_closes_without_a_response() {
    let srv = start(&[]);
    let full = frame(&header(0, 10, 0, 0, 0, 1), &payload(10));
    let unknown = frame(&header(7, 10, 0, 0, 0, 1), &payload(10));
    for cut in [&full[..10], &full[..24], &full[..30], &unknown[..30]] {
        let mut s = connect(srv.addr);
        // A complete request first: its answer comes, the cut one gets none.
        s.write_all(&frame(&header(0, 2, 0, 0, 0, 9), b"ok"))
            .unwrap();
        s.write_all(cut).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = read_to_eof(&mut s);
        let mut want = ResponseHeader::new(rtc_common::protocol::Status::Ok, 2, 9)
            .encode()
            .to_vec();
        want.extend_from_slice(b"ok");
        assert_eq!(got, want, "cut after {} bytes", cut.len());
    }
    // Immediate EOF: clean close, nothing sent.
    let mut s = connect(srv.addr);
    s.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_eof(&mut s).is_empty());
}

#[test]
fn stuck_and_garbage_connections_do_not_stop_others() {
    for rt in RUNTIMES {
        let srv = start(&["--runtime", rt]);
        // A frame that never finishes, and one whose payload never comes.
        let mut stuck = connect(srv.addr);
        stuck
            .write_all(&header(0, 100, 0, 0, 0, 1).encode()[..13])
            .unwrap();
        let mut starved = connect(srv.addr);
        starved
            .write_all(&frame(&header(0, 1000, 0, 0, 0, 1), &payload(10)))
            .unwrap();
        // Garbage: 'G' is not version 1, so status 1 and a close.
        let mut garbage = connect(srv.addr);
        garbage
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let got = read_to_eof(&mut garbage);
        assert_eq!(got.len(), RESPONSE_HEADER_LEN, "{rt}");
        assert_eq!(got[1], 1, "status 1 for garbage");

        let mut good = connect(srv.addr);
        for id in 0..20 {
            let p = payload(id as usize);
            let (h, b) = call(&mut good, &header(0, id, 1, 0, 0, id), &p);
            ok(&h, id, &b, &expected_body(&p, b"", 1));
        }
        drop(stuck);
        drop(starved);
        let (h, b) = call(&mut good, &header(0, 1, 0, 0, 0, 99), b"x");
        ok(&h, 99, &b, b"x");
    }
}

#[test]
fn echo_returns_every_byte() {
    for rt in RUNTIMES {
        for buf in ["16384", "3"] {
            let srv = start(&["--workload", "echo", "--runtime", rt, "--buf-size", buf]);
            let mut s = connect(srv.addr);
            let data = payload(200_000);
            let mut w = s.try_clone().unwrap();
            let sent = data.clone();
            let writer = std::thread::spawn(move || {
                w.write_all(&sent).unwrap();
                w.shutdown(Shutdown::Write).unwrap();
            });
            assert!(read_to_eof(&mut s) == data, "{rt} buf {buf}");
            writer.join().unwrap();
        }
    }
}

#[test]
fn serve_refuses_block_in_place_on_a_current_thread_runtime() {
    // The flags refuse this combination; serve() checks the runtime it is
    // given too, so an embedding cannot make block_in_place panic.
    let mut cfg =
        rtc_server::Config::from_args(["rust-server", "--block-mode", "block-in-place"]).unwrap();
    cfg.settings.runtime = rtc_server::config::RuntimeKind::CurrentThread;
    let rt = rtc_server::runtime::build(&cfg.settings).unwrap();
    let err = rt
        .block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            rtc_server::serve(l, Arc::new(cfg)).await
        })
        .unwrap_err();
    assert!(err.to_string().contains("multi-thread"), "{err}");
}
