//! Request payloads and response verification (pure, no sockets).
//!
//! Every payload is derived from a per-request key (connection, sequence
//! number), so a stale, duplicated or misordered echo cannot pass. A
//! `Checker` consumes the bytes of one connection in arrival order and matches
//! them FIFO against the requests outstanding on it; split reads are fine.

use crate::mix::ClassSpec;
use crate::schedule::mix64;
use rtc_common::datafile;
use rtc_common::protocol::{self, IoKind, RequestHeader, ResponseHeader};
use std::sync::OnceLock;

/// Full body check for one request in this many when the body is a SHA-256
/// chain (the client pays for the hashing); plain bodies are always checked.
pub const SHA_SAMPLE_EVERY: u64 = 64;

/// The key of request `seq` on connection `conn_uid`.
pub fn request_key(conn_uid: u64, seq: u64) -> u64 {
    mix64(mix64(conn_uid.wrapping_add(0x5EED)) ^ seq)
}

/// Payload bytes that carry the request's key (the rest come from the
/// shared template).
pub const PAYLOAD_HEADER: usize = 8;
/// Template offsets are spread over this many bytes: requests with different
/// keys read different stretches of the template.
pub const TEMPLATE_SPREAD: usize = 4096;

/// Byte `i` of the shared payload template: byte `i % 8` of
/// `mix64(0x7E4D_1A7E ^ (i / 8) × φ)`. Random-looking, with no short period,
/// the same in every thread and run.
fn template_word(w: u64) -> [u8; 8] {
    mix64(0x7E4D_1A7E ^ w.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes()
}

thread_local! {
    /// This thread's copy of the template, grown on demand (payloads are
    /// copied and compared with memcpy/memcmp, not generated per byte).
    static TEMPLATE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with the template holding at least `len` bytes.
fn with_template<R>(len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
    TEMPLATE.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() < len {
            let from = t.len() / 8;
            let to = len.div_ceil(8);
            t.truncate(from * 8);
            for w in from..to {
                t.extend_from_slice(&template_word(w as u64));
            }
        }
        f(&t)
    })
}

/// Where request `key`'s payload starts in the template.
fn template_offset(key: u64) -> usize {
    (mix64(key ^ 0x0FF5E7) % TEMPLATE_SPREAD as u64) as usize
}

/// Writes payload bytes `[start, start + out.len())` of the request with
/// `key`: its first `PAYLOAD_HEADER` bytes are the key (little-endian), so a
/// stale, duplicated or misordered echo differs there; the rest is the
/// template from an offset the key picks, so bytes from another request
/// differ too.
pub fn fill_payload(key: u64, start: u64, out: &mut [u8]) {
    let start = start as usize;
    let hdr = key.to_le_bytes();
    let mut i = 0;
    while i < out.len() && start + i < PAYLOAD_HEADER {
        out[i] = hdr[start + i];
        i += 1;
    }
    if i < out.len() {
        let from = template_offset(key) + start + i;
        let n = out.len() - i;
        with_template(from + n, |t| out[i..].copy_from_slice(&t[from..from + n]));
    }
}

/// Index of the first byte of `chunk` that differs from payload bytes
/// `[start, start + chunk.len())` of the request with `key`, if any.
pub fn payload_diff(key: u64, start: u64, chunk: &[u8]) -> Option<usize> {
    let start = start as usize;
    let hdr = key.to_le_bytes();
    let mut i = 0;
    while i < chunk.len() && start + i < PAYLOAD_HEADER {
        if chunk[i] != hdr[start + i] {
            return Some(i);
        }
        i += 1;
    }
    if i == chunk.len() {
        return None;
    }
    let from = template_offset(key) + start + i;
    let n = chunk.len() - i;
    with_template(from + n, |t| first_diff(&chunk[i..], &t[from..from + n])).map(|d| d + i)
}

/// The data-file offset request `key` reads: fixed, or spread uniformly over
/// `[0, data_size - io_arg]`.
pub fn file_offset(spec: &ClassSpec, key: u64, data_size: u64) -> u32 {
    if spec.io != IoKind::File {
        return 0;
    }
    match spec.io_offset {
        Some(o) => o,
        None => {
            let span = data_size.saturating_sub(spec.io_arg as u64) + 1;
            (mix64(key ^ 0xF11E) % span) as u32
        }
    }
}

/// Appends the wire bytes of one request to `out`.
pub fn encode_request(echo: bool, spec: &ClassSpec, p: &Pending, out: &mut Vec<u8>) {
    if !echo {
        let h = RequestHeader {
            version: protocol::VERSION,
            io_kind: spec.io.as_u8(),
            reserved: 0,
            payload_len: spec.size,
            cpu_rounds: spec.cpu,
            io_arg: spec.io_arg,
            io_offset: p.file_offset,
            id: p.id(),
        };
        out.extend_from_slice(&h.encode());
    }
    let at = out.len();
    out.resize(at + spec.size as usize, 0);
    fill_payload(p.key, 0, &mut out[at..]);
}

/// What the checker needs to know about one outstanding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub key: u64,
    pub seq: u64,
    pub file_offset: u32,
    /// Check the body content (always for plain bodies; sampled for SHA).
    pub check_body: bool,
}

impl Pending {
    /// `nth` counts this class's requests on the sending thread; every
    /// `SHA_SAMPLE_EVERY`-th (from the first) gets its SHA body verified, so
    /// any 64 consecutive requests include a checked one.
    pub fn new(spec: &ClassSpec, conn_uid: u64, seq: u64, data_size: u64, nth: u64) -> Pending {
        let key = request_key(conn_uid, seq);
        Pending {
            key,
            seq,
            file_offset: file_offset(spec, key, data_size),
            check_body: spec.cpu == 0
                || spec.io == IoKind::File
                || nth.is_multiple_of(SHA_SAMPLE_EVERY),
        }
    }
    pub fn id(&self) -> u32 {
        self.seq as u32
    }
}

/// A SHA-256 body to verify off the hot path (see `verify_sha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShaCheck {
    pub key: u64,
    pub seq: u64,
    pub file_offset: u32,
    pub got: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The response is wrong; the text says how (first difference only).
    Mismatch(String),
    /// Framing, id and status are right; the digest still needs checking.
    Sha(ShaCheck),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeedResult {
    /// Responses completed by this feed: the first `completed` outstanding.
    pub completed: usize,
    /// Bytes arrived with no request outstanding (the stream is out of step).
    pub unexpected: Option<String>,
}

pub struct Checker {
    echo: bool,
    spec: ClassSpec,
    expected_body_len: u32,
    hdr: [u8; protocol::RESPONSE_HEADER_LEN],
    hdr_len: usize,
    /// Body bytes of the current response (echo: the request size).
    body_len: u64,
    /// Body bytes of the current response consumed so far.
    pos: u64,
    bad: Option<String>,
    digest: [u8; 32],
}

const CHUNK: usize = 4096;

fn file_pattern() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| datafile::bytes_at(0, datafile::MODULUS as usize + CHUNK))
}

/// Index of the first differing byte, if any.
fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        None
    } else {
        a.iter().zip(b).position(|(x, y)| x != y)
    }
}

impl Checker {
    pub fn new(echo: bool, spec: &ClassSpec) -> Checker {
        let mut c = Checker {
            echo,
            spec: spec.clone(),
            expected_body_len: spec.expected_body_len(),
            hdr: [0; protocol::RESPONSE_HEADER_LEN],
            hdr_len: 0,
            body_len: 0,
            pos: 0,
            bad: None,
            digest: [0; 32],
        };
        c.reset();
        c
    }

    /// Forgets a partial response (the connection was replaced).
    pub fn reset(&mut self) {
        self.hdr_len = 0;
        self.pos = 0;
        self.bad = None;
        self.body_len = if self.echo { self.spec.size as u64 } else { 0 };
    }

    /// Consumes `data`; `expect(i)` is the i-th outstanding request (0 = the
    /// oldest). Problems go to `verdicts` as (index, verdict); responses
    /// without an entry are correct.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        expect: impl Fn(usize) -> Option<Pending>,
        verdicts: &mut Vec<(usize, Verdict)>,
    ) -> FeedResult {
        let mut idx = 0usize;
        while !data.is_empty() {
            let Some(p) = expect(idx) else {
                return FeedResult {
                    completed: idx,
                    unexpected: Some(format!(
                        "{} bytes arrived with no request outstanding",
                        data.len()
                    )),
                };
            };
            if !self.echo && self.hdr_len < self.hdr.len() {
                let n = (self.hdr.len() - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
                self.hdr_len += n;
                data = &data[n..];
                if self.hdr_len < self.hdr.len() {
                    break;
                }
                self.on_header(&p);
            } else {
                let n = ((self.body_len - self.pos) as usize).min(data.len());
                self.on_body(&p, &data[..n]);
                self.pos += n as u64;
                data = &data[n..];
            }
            if (self.echo || self.hdr_len == self.hdr.len()) && self.pos == self.body_len {
                if let Some(v) = self.finish(&p) {
                    verdicts.push((idx, v));
                }
                idx += 1;
            }
        }
        FeedResult {
            completed: idx,
            unexpected: None,
        }
    }

    fn on_header(&mut self, p: &Pending) {
        let h = ResponseHeader::decode(&self.hdr);
        self.body_len = h.body_len as u64;
        self.pos = 0;
        let id = p.id();
        self.bad = if h.version != protocol::VERSION || h.reserved != 0 {
            Some(format!(
                "request id {id}: response header version {} reserved {}",
                h.version, h.reserved
            ))
        } else if h.id != id {
            Some(format!("request id {id}: response carries id {}", h.id))
        } else if h.status != 0 {
            Some(format!(
                "request id {id}: status {} (body {} bytes)",
                h.status, h.body_len
            ))
        } else if h.body_len != self.expected_body_len {
            Some(format!(
                "request id {id}: body_len {}, expected {}",
                h.body_len, self.expected_body_len
            ))
        } else {
            None
        };
    }

    fn on_body(&mut self, p: &Pending, chunk: &[u8]) {
        if self.bad.is_some() || !p.check_body {
            return;
        }
        if !self.echo && self.spec.cpu > 0 {
            // Keep the digest for the verifier.
            let at = self.pos as usize;
            self.digest[at..at + chunk.len()].copy_from_slice(chunk);
            return;
        }
        // Plain body: payload bytes, then (work, io=file) the file bytes.
        let size = self.spec.size as u64;
        let mut done = 0usize;
        while done < chunk.len() {
            let pos = self.pos + done as u64;
            let (n, diff, what) = if pos < size {
                let n = ((size - pos) as usize).min(chunk.len() - done);
                (
                    n,
                    payload_diff(p.key, pos, &chunk[done..done + n]),
                    "payload",
                )
            } else {
                let n = (chunk.len() - done).min(CHUNK);
                let off = p.file_offset as u64 + (pos - size);
                let start = (off % datafile::MODULUS) as usize;
                (
                    n,
                    first_diff(&chunk[done..done + n], &file_pattern()[start..start + n]),
                    "file",
                )
            };
            if let Some(i) = diff {
                let at = pos + i as u64;
                let exp = if at < size {
                    let mut b = [0u8];
                    fill_payload(p.key, at, &mut b);
                    b[0]
                } else {
                    datafile::byte_at(p.file_offset as u64 + (at - size))
                };
                self.bad = Some(if self.echo {
                    format!(
                        "request {}: echoed byte {at} is 0x{:02x}, sent 0x{exp:02x}",
                        p.seq,
                        chunk[done + i]
                    )
                } else {
                    format!(
                        "request id {}: body byte {at} ({what}) is 0x{:02x}, expected 0x{exp:02x}",
                        p.id(),
                        chunk[done + i]
                    )
                });
                return;
            }
            done += n;
        }
    }

    fn finish(&mut self, p: &Pending) -> Option<Verdict> {
        let v = match self.bad.take() {
            Some(m) => Some(Verdict::Mismatch(m)),
            None if !self.echo && self.spec.cpu > 0 && p.check_body => {
                Some(Verdict::Sha(ShaCheck {
                    key: p.key,
                    seq: p.seq,
                    file_offset: p.file_offset,
                    got: self.digest,
                }))
            }
            None => None,
        };
        self.hdr_len = 0;
        self.pos = 0;
        if !self.echo {
            self.body_len = 0;
        }
        v
    }
}

/// Recomputes a SHA-256 chain body; `Some(description)` when it differs.
pub fn verify_sha(spec: &ClassSpec, c: &ShaCheck) -> Option<String> {
    let mut payload = vec![0u8; spec.size as usize];
    fill_payload(c.key, 0, &mut payload);
    let file = datafile::bytes_at(c.file_offset as u64, spec.file_len() as usize);
    let want = protocol::sha_chain(&[&payload, &file], spec.cpu);
    (want != c.got).then(|| {
        format!(
            "request id {}: SHA-256 chain of {} rounds differs from the expected digest",
            c.seq as u32, spec.cpu
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::parse_mix;

    fn pendings(spec: &ClassSpec, n: u64) -> Vec<Pending> {
        (0..n)
            .map(|s| Pending::new(spec, 3, s, 10_000, s))
            .collect()
    }

    fn feed_split(
        c: &mut Checker,
        stream: &[u8],
        ps: &[Pending],
        cut: usize,
    ) -> (usize, Vec<(usize, Verdict)>) {
        let mut done = 0;
        let mut all = Vec::new();
        for piece in stream.chunks(cut.max(1)) {
            let mut v = Vec::new();
            let r = c.feed(piece, |i| ps.get(done + i).copied(), &mut v);
            assert_eq!(r.unexpected, None);
            all.extend(v.into_iter().map(|(i, x)| (i + done, x)));
            done += r.completed;
        }
        (done, all)
    }

    #[test]
    fn payloads_carry_their_key_then_a_template_stretch() {
        let key = request_key(7, 3);
        let mut p = vec![0u8; 100];
        fill_payload(key, 0, &mut p);
        assert_eq!(&p[..8], &key.to_le_bytes());
        assert_eq!(payload_diff(key, 0, &p), None);
        assert_eq!(payload_diff(key, 10, &p[10..40]), None);
        // A flipped byte is found where it is, in the header or the body.
        for at in [3usize, 8, 77] {
            let mut q = p.clone();
            q[at] ^= 1;
            assert_eq!(payload_diff(key, 0, &q), Some(at));
            assert_eq!(payload_diff(key, 2, &q[2..]), Some(at - 2));
        }
        // Another request's body differs beyond the header too.
        let mut o = vec![0u8; 100];
        fill_payload(request_key(8, 3), 0, &mut o);
        assert_ne!(&o[8..], &p[8..]);
        // Large payloads grow the template; tiny ones are all header.
        let mut big = vec![0u8; 1 << 20];
        fill_payload(key, 0, &mut big);
        assert_eq!(payload_diff(key, 0, &big), None);
        assert_eq!(&big[..100], &p[..]);
        let mut one = [0u8; 1];
        fill_payload(key, 0, &mut one);
        assert_eq!(one[0], key.to_le_bytes()[0]);
    }

    #[test]
    fn payloads_differ_per_request_and_position() {
        let mut a = vec![0u8; 64];
        let mut b = vec![0u8; 64];
        fill_payload(request_key(1, 1), 0, &mut a);
        fill_payload(request_key(1, 2), 0, &mut b);
        assert_ne!(a, b);
        fill_payload(request_key(2, 1), 0, &mut b);
        assert_ne!(a, b);
        // Any window equals the same bytes of the whole payload.
        let mut part = vec![0u8; 13];
        fill_payload(request_key(1, 1), 37, &mut part);
        assert_eq!(&a[37..50], &part[..]);
    }

    #[test]
    fn echo_passes_when_correct_at_any_split() {
        let spec = ClassSpec::echo(100);
        let ps = pendings(&spec, 5);
        let mut stream = Vec::new();
        for p in &ps {
            encode_request(true, &spec, p, &mut stream);
        }
        for cut in [1, 7, 100, 333, 1000] {
            let mut c = Checker::new(true, &spec);
            let (done, v) = feed_split(&mut c, &stream, &ps, cut);
            assert_eq!(done, 5, "cut {cut}");
            assert!(v.is_empty(), "{v:?}");
        }
    }

    #[test]
    fn echo_catches_stale_misordered_and_corrupt_bytes() {
        let spec = ClassSpec::echo(16);
        let ps = pendings(&spec, 3);
        let enc = |p: &Pending| {
            let mut v = Vec::new();
            encode_request(true, &spec, p, &mut v);
            v
        };
        // Misordered: second and third swapped.
        let stream = [enc(&ps[0]), enc(&ps[2]), enc(&ps[1])].concat();
        let mut c = Checker::new(true, &spec);
        let (done, v) = feed_split(&mut c, &stream, &ps, 5);
        assert_eq!(done, 3);
        assert_eq!(v.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2]);
        // Stale: the first echoed twice.
        let stream = [enc(&ps[0]), enc(&ps[0])].concat();
        let mut c = Checker::new(true, &spec);
        let (_, v) = feed_split(&mut c, &stream, &ps, 64);
        assert_eq!(v.len(), 1);
        // One flipped byte, and the description says where.
        let mut stream = [enc(&ps[0]), enc(&ps[1])].concat();
        stream[16 + 9] ^= 0xff;
        let mut c = Checker::new(true, &spec);
        let (_, v) = feed_split(&mut c, &stream, &ps, 64);
        match &v[..] {
            [(1, Verdict::Mismatch(m))] => assert!(m.contains("byte 9"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Extra bytes after the last outstanding request.
        let mut c = Checker::new(true, &spec);
        let mut v = Vec::new();
        let r = c.feed(
            &[enc(&ps[0]), vec![1]].concat(),
            |i| ps[..1].get(i).copied(),
            &mut v,
        );
        assert_eq!(r.completed, 1);
        assert!(r.unexpected.unwrap().contains("1 bytes"));
    }

    fn response(status: u8, id: u32, body: &[u8]) -> Vec<u8> {
        let mut h = ResponseHeader::new(protocol::Status::Ok, body.len() as u32, id);
        h.status = status;
        [h.encode().to_vec(), body.to_vec()].concat()
    }

    #[test]
    fn work_plain_and_file_bodies_are_checked() {
        let spec = parse_mix("f:size=10,io=file,io_arg=300").unwrap().remove(0);
        let ps = pendings(&spec, 3);
        let body = |p: &Pending| {
            let mut pl = vec![0u8; 10];
            fill_payload(p.key, 0, &mut pl);
            let file = datafile::bytes_at(p.file_offset as u64, 300);
            protocol::expected_body(&pl, &file, 0)
        };
        let stream: Vec<u8> = ps
            .iter()
            .flat_map(|p| response(0, p.id(), &body(p)))
            .collect();
        for cut in [1, 11, 500, 5000] {
            let mut c = Checker::new(false, &spec);
            let (done, v) = feed_split(&mut c, &stream, &ps, cut);
            assert_eq!(done, 3);
            assert!(v.is_empty(), "{v:?}");
        }
        // A wrong file byte.
        let mut bad = stream.clone();
        let at = 12 + 10 + 200;
        bad[at] = bad[at].wrapping_add(1);
        let mut c = Checker::new(false, &spec);
        let (_, v) = feed_split(&mut c, &bad, &ps, 64);
        match &v[..] {
            [(0, Verdict::Mismatch(m))] => assert!(m.contains("(file)"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn work_header_problems_are_described() {
        let spec = parse_mix("a:size=4").unwrap().remove(0);
        let ps = pendings(&spec, 4);
        let mut pl = vec![0u8; 4];
        fill_payload(ps[0].key, 0, &mut pl);
        let stream = [
            response(0, 99, &pl),                   // wrong id
            response(4, ps[1].id(), &[]),           // bad status
            response(0, ps[2].id(), &[1, 2, 3]),    // short body
            response(0, ps[3].id(), &[0, 0, 0, 0]), // wrong bytes
        ]
        .concat();
        let mut c = Checker::new(false, &spec);
        let (done, v) = feed_split(&mut c, &stream, &ps, 5);
        assert_eq!(done, 4);
        let texts: Vec<String> = v
            .into_iter()
            .map(|(_, x)| match x {
                Verdict::Mismatch(m) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(texts[0].contains("carries id 99"), "{texts:?}");
        assert!(texts[1].contains("status 4"), "{texts:?}");
        assert!(texts[2].contains("body_len 3, expected 4"), "{texts:?}");
        assert!(texts[3].contains("body byte 0 (payload)"), "{texts:?}");
    }

    #[test]
    fn sha_bodies_are_sampled_and_verified() {
        let spec = parse_mix("h:size=64,cpu=3").unwrap().remove(0);
        let ps = pendings(&spec, 65);
        assert!(ps[0].check_body && ps[64].check_body && !ps[1].check_body);
        let digest = |p: &Pending| {
            let mut pl = vec![0u8; 64];
            fill_payload(p.key, 0, &mut pl);
            protocol::sha_chain(&[&pl], 3)
        };
        let stream: Vec<u8> = ps
            .iter()
            .flat_map(|p| response(0, p.id(), &digest(p)))
            .collect();
        let mut c = Checker::new(false, &spec);
        let (done, v) = feed_split(&mut c, &stream, &ps, 7);
        assert_eq!(done, 65);
        assert_eq!(v.len(), 2);
        for (_, x) in &v {
            let Verdict::Sha(s) = x else { panic!() };
            assert_eq!(verify_sha(&spec, s), None);
            let mut wrong = *s;
            wrong.got[0] ^= 1;
            assert!(verify_sha(&spec, &wrong).unwrap().contains("3 rounds"));
        }
        // File reads inside a hash are always verified.
        let spec = parse_mix("hf:size=8,cpu=2,io=file,io_arg=50")
            .unwrap()
            .remove(0);
        assert!(pendings(&spec, 5).iter().all(|p| p.check_body));
    }

    #[test]
    fn spread_offsets_stay_in_the_file() {
        let spec = parse_mix("f:io=file,io_arg=100").unwrap().remove(0);
        let offs: Vec<u32> = (0..1000)
            .map(|s| file_offset(&spec, request_key(1, s), 1000))
            .collect();
        assert!(offs.iter().all(|&o| o <= 900));
        assert!(offs.iter().any(|&o| o > 800) && offs.iter().any(|&o| o < 100));
    }
}
