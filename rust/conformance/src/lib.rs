//! The shared protocol test vectors (`testdata/protocol/vectors.json`,
//! written by `tools/gen_vectors.py`) and a replayer that checks one vector
//! against a live server over real TCP. The `conformance` binary (see
//! [`suite`]) starts every server variant and replays them all.
//!
//! Replay rule (PROTOCOL.md, "Test vectors"): connect, write every `send`
//! byte, shut down the write side if `half_close`, read until EOF, and
//! compare the whole received stream with the concatenated `expect` bytes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

pub mod suite;

/// The vector file's format version this crate reads.
pub const SCHEMA_VERSION: u32 = 1;
/// The data file pattern: byte `i` is `i mod 251` (PROTOCOL.md, "Data file").
const DATA_MODULUS: u64 = 251;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    pub schema_version: u32,
    pub protocol_version: u32,
    /// Size of the data file a server is started with for `data_file: true` vectors.
    pub data_file_bytes: u64,
    pub vectors: Vec<Vector>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    pub name: String,
    pub description: String,
    /// `"echo"` or `"work"`: the `--workload` the server runs.
    pub workload: String,
    /// Start the server with `--data-file` (true) or without (false).
    pub data_file: bool,
    pub send: Vec<Segment>,
    /// Shut down the client's write side after sending.
    pub half_close: bool,
    /// The exact byte stream the server must send, followed by EOF.
    pub expect: Vec<Segment>,
}

/// A run of bytes, written compactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Segment {
    /// Literal bytes as lowercase or uppercase hex: `{"hex": "0a0b"}`.
    Hex(String),
    /// `count` copies of `byte`: `{"repeat": {"byte": 97, "count": 3}}`.
    Repeat { byte: u8, count: u64 },
    /// Bytes `(offset + i) mod 251` for `i` in `0..len`, the data file's pattern.
    Data { offset: u64, len: u64 },
}

impl Segment {
    pub fn len_bytes(&self) -> u64 {
        match self {
            Segment::Hex(h) => (h.len() / 2) as u64,
            Segment::Repeat { count, .. } => *count,
            Segment::Data { len, .. } => *len,
        }
    }

    fn append_to(&self, out: &mut Vec<u8>) {
        match self {
            Segment::Hex(h) => out.extend(decode_hex(h).expect("hex validated by load()")),
            Segment::Repeat { byte, count } => {
                out.resize(out.len() + *count as usize, *byte);
            }
            Segment::Data { offset, len } => {
                out.extend((0..*len).map(|i| ((offset + i) % DATA_MODULUS) as u8));
            }
        }
    }
}

/// `<workspace root>/testdata/protocol/vectors.json`.
pub fn default_vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("testdata/protocol/vectors.json")
}

/// Reads and checks a vector file: known schema version, valid hex, a known
/// workload, unique names.
pub fn load(path: &Path) -> anyhow::Result<VectorFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: VectorFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid vector file", path.display()))?;
    if file.schema_version != SCHEMA_VERSION {
        bail!(
            "{}: schema_version {} (this build reads {SCHEMA_VERSION})",
            path.display(),
            file.schema_version
        );
    }
    let mut names = std::collections::HashSet::new();
    for v in &file.vectors {
        if !names.insert(v.name.as_str()) {
            bail!("{}: duplicate vector name {:?}", path.display(), v.name);
        }
        if v.workload != "echo" && v.workload != "work" {
            bail!(
                "{}: vector {:?} has unknown workload {:?}",
                path.display(),
                v.name,
                v.workload
            );
        }
        for s in v.send.iter().chain(&v.expect) {
            if let Segment::Hex(h) = s {
                decode_hex(h)
                    .map_err(|e| anyhow::anyhow!("{}: vector {:?}: {e}", path.display(), v.name))?;
            }
        }
    }
    Ok(file)
}

/// The bytes the segments stand for, concatenated.
///
/// # Panics
/// On a `Hex` segment that is not valid hex; [`load`] rejects such files.
pub fn bytes_of(segments: &[Segment]) -> Vec<u8> {
    let total: u64 = segments.iter().map(Segment::len_bytes).sum();
    let mut out = Vec::with_capacity(total as usize);
    for s in segments {
        s.append_to(&mut out);
    }
    out
}

fn decode_hex(h: &str) -> Result<Vec<u8>, String> {
    if !h.len().is_multiple_of(2) {
        return Err(format!("hex string of odd length {}", h.len()));
    }
    let nibble = |c: u8| -> Result<u8, String> {
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("bad hex digit {:?}", c as char))
    };
    h.as_bytes()
        .chunks(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Runs one vector against a server at addr; Err describes the first
/// difference (offset, expected vs got, or timeout).
///
/// The client writes from a second thread while this one reads, so a vector
/// whose responses outgrow the socket buffers before the client has finished
/// writing (pipelining, big payloads) cannot deadlock. `timeout` bounds the
/// whole exchange, connect included.
pub fn run_vector(addr: SocketAddr, v: &Vector, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let send = bytes_of(&v.send);
    let expect = bytes_of(&v.expect);
    let stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut writer_stream = stream
        .try_clone()
        .map_err(|e| format!("cannot clone socket: {e}"))?;
    let _ = writer_stream.set_write_timeout(Some(timeout));
    let half_close = v.half_close;
    let writer = std::thread::spawn(move || -> Result<(), String> {
        writer_stream
            .write_all(&send)
            .map_err(|e| format!("write of {} bytes failed: {e}", send.len()))?;
        if half_close {
            writer_stream
                .shutdown(Shutdown::Write)
                .map_err(|e| format!("shutdown(write) failed: {e}"))?;
        }
        Ok(())
    });

    let read_result = read_and_compare(&stream, &expect, deadline);
    // Unblocks a writer stuck on a server that stopped reading.
    if read_result.is_err() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    let write_result = writer
        .join()
        .unwrap_or_else(|_| Err("writer thread panicked".into()));
    read_result?;
    write_result
}

fn read_and_compare(stream: &TcpStream, expect: &[u8], deadline: Instant) -> Result<(), String> {
    let mut stream = stream;
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout_message(got, expect.len()));
        }
        let _ = stream.set_read_timeout(Some(left));
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timeout_message(got, expect.len()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "read error after {got} of {} expected bytes: {e}",
                    expect.len()
                ));
            }
        };
        if n == 0 {
            if got < expect.len() {
                return Err(format!(
                    "server closed after {got} of {} expected bytes; missing from offset {got}: {}",
                    expect.len(),
                    window(expect, got)
                ));
            }
            return Ok(());
        }
        let chunk = &buf[..n];
        let want = &expect[got.min(expect.len())..(got + n).min(expect.len())];
        if let Some(i) = chunk.iter().zip(want).position(|(a, b)| a != b) {
            let at = got + i;
            return Err(format!(
                "bytes differ at offset {at}{}: expected {} got {}",
                locate(expect, at),
                window(expect, at),
                hex_window(&chunk[i..])
            ));
        }
        if got + n > expect.len() {
            let extra_at = expect.len() - got;
            return Err(format!(
                "extra bytes after the {} expected: got {}",
                expect.len(),
                hex_window(&chunk[extra_at..])
            ));
        }
        got += n;
    }
}

fn timeout_message(got: usize, want: usize) -> String {
    if got < want {
        format!("timeout after {got} of {want} expected bytes")
    } else {
        format!("timeout: got all {want} expected bytes but the server did not close")
    }
}

/// Up to 16 bytes of `b` from `at`, as hex.
fn window(b: &[u8], at: usize) -> String {
    hex_window(b.get(at..).unwrap_or(&[]))
}

fn hex_window(b: &[u8]) -> String {
    let shown: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    if shown.is_empty() {
        "<nothing>".into()
    } else if b.len() > 16 {
        format!("{shown}..")
    } else {
        shown
    }
}

/// For a work-workload stream, names the response an offset falls in
/// (" (response 2, header byte 1)"); empty if the stream does not parse as
/// responses.
fn locate(expect: &[u8], at: usize) -> String {
    const HDR: usize = 12;
    let mut pos = 0usize;
    let mut index = 1usize;
    while pos + HDR <= expect.len() && expect[pos] == 1 {
        let body = u32::from_be_bytes([
            expect[pos + 4],
            expect[pos + 5],
            expect[pos + 6],
            expect[pos + 7],
        ]) as usize;
        let end = pos + HDR + body;
        if end > expect.len() {
            break;
        }
        if at < end {
            return if at < pos + HDR {
                format!(" (response {index}, header byte {})", at - pos)
            } else {
                format!(" (response {index}, body byte {})", at - pos - HDR)
            };
        }
        pos = end;
        index += 1;
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_expand() {
        let segs = vec![
            Segment::Hex("0aFF".into()),
            Segment::Repeat { byte: 7, count: 3 },
            Segment::Data {
                offset: 249,
                len: 4,
            },
        ];
        assert_eq!(bytes_of(&segs), vec![0x0a, 0xff, 7, 7, 7, 249, 250, 0, 1]);
        assert_eq!(segs.iter().map(Segment::len_bytes).sum::<u64>(), 9);
        assert!(bytes_of(&[]).is_empty());
    }

    #[test]
    fn segments_use_the_brief_json_shapes() {
        let j = r#"[{"hex":"00"},{"repeat":{"byte":97,"count":2}},{"data":{"offset":5,"len":1}}]"#;
        let segs: Vec<Segment> = serde_json::from_str(j).unwrap();
        assert_eq!(bytes_of(&segs), vec![0, 97, 97, 5]);
        assert_eq!(serde_json::to_string(&segs).unwrap(), j);
        assert!(serde_json::from_str::<Segment>(r#"{"repeat":{"byte":300,"count":1}}"#).is_err());
        assert!(serde_json::from_str::<Segment>(r#"{"blob":"00"}"#).is_err());
    }

    #[test]
    fn hex_is_checked() {
        assert_eq!(decode_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert!(decode_hex("0").is_err());
        assert!(decode_hex("zz").is_err());
    }

    #[test]
    fn locate_names_the_response() {
        // Two responses: header + 2-byte body, header + empty body.
        let mut s = vec![1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9, 0xaa, 0xbb];
        s.extend([1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]);
        assert_eq!(locate(&s, 1), " (response 1, header byte 1)");
        assert_eq!(locate(&s, 13), " (response 1, body byte 1)");
        assert_eq!(locate(&s, 15), " (response 2, header byte 1)");
        assert_eq!(locate(b"hello", 1), "");
    }

    #[test]
    fn load_rejects_bad_files() {
        let dir = std::env::temp_dir().join(format!("rtc-conformance-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, body: &str| {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            p
        };
        let vec = |name: &str, hex: &str| {
            format!(
                r#"{{"name":"{name}","description":"d","workload":"work","data_file":true,"send":[{{"hex":"{hex}"}}],"half_close":true,"expect":[]}}"#
            )
        };
        let file = |vs: &[String], schema: u32| {
            format!(
                r#"{{"schema_version":{schema},"protocol_version":1,"data_file_bytes":10,"vectors":[{}]}}"#,
                vs.join(",")
            )
        };
        let ok = write("ok.json", &file(&[vec("a", "00"), vec("b", "01")], 1));
        assert_eq!(load(&ok).unwrap().vectors.len(), 2);
        let dup = write("dup.json", &file(&[vec("a", "00"), vec("a", "01")], 1));
        assert!(format!("{:#}", load(&dup).unwrap_err()).contains("duplicate"));
        let badhex = write("hex.json", &file(&[vec("a", "0g")], 1));
        assert!(format!("{:#}", load(&badhex).unwrap_err()).contains("hex"));
        let schema = write("schema.json", &file(&[vec("a", "00")], 2));
        assert!(format!("{:#}", load(&schema).unwrap_err()).contains("schema_version"));
        assert!(load(&dir.join("missing.json")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn committed_vectors_load_with_unique_names() {
        let f = load(&default_vectors_path()).unwrap();
        assert_eq!(f.schema_version, SCHEMA_VERSION);
        assert_eq!(f.protocol_version, 1);
        let mut names: Vec<&str> = f.vectors.iter().map(|v| v.name.as_str()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "vector names must be unique");
        assert!(n >= 50, "only {n} vectors");
        for v in &f.vectors {
            // Status 1/2 vectors rely on the server closing by itself.
            if !v.half_close {
                assert_eq!(v.workload, "work", "{}", v.name);
            }
        }
    }

    /// The committed file is exactly what the generator writes today.
    #[test]
    fn committed_vectors_match_the_generator() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let have_python = std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_python {
            // Straight to the stderr handle, not eprintln!: the test harness
            // captures the print macros, and a skip must not look like a pass.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "committed_vectors_match_the_generator: skipped: python3 not found \
                 (vectors.json was not compared with tools/gen_vectors.py)"
            );
            return;
        }
        let out = std::env::temp_dir().join(format!(
            "rtc-conformance-vectors-{}.json",
            std::process::id()
        ));
        let status = std::process::Command::new("python3")
            .arg(root.join("tools/gen_vectors.py"))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run python3");
        assert!(
            status.status.success(),
            "gen_vectors.py failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let fresh = std::fs::read(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        let committed = std::fs::read(default_vectors_path()).unwrap();
        assert!(
            fresh == committed,
            "testdata/protocol/vectors.json is stale: run `python3 tools/gen_vectors.py`"
        );
    }
}
