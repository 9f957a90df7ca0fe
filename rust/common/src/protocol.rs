//! The `work` workload's framing (PROTOCOL.md §2): header codecs, limits and
//! the order in which a server judges a request header.

use sha2::{Digest, Sha256};

pub const VERSION: u8 = 1;
pub const REQUEST_HEADER_LEN: usize = 24;
pub const RESPONSE_HEADER_LEN: usize = 12;
pub const MAX_PAYLOAD_BYTES: u32 = 1_048_576;
pub const MAX_CPU_ROUNDS: u32 = 1_000_000;
/// Limit of `io_arg` for sleep and block, in microseconds.
pub const MAX_WAIT_US: u32 = 10_000_000;
/// Limit of `io_arg` for a file read, in bytes.
pub const MAX_FILE_BYTES: u32 = 1_048_576;
/// Read buffer size both servers use unless `--buf-size` says otherwise.
pub const DEFAULT_BUF_SIZE: usize = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    /// version ≠ 1 or reserved ≠ 0: respond, close.
    BadHeader = 1,
    /// payload_len, cpu_rounds or io_arg over its limit: respond, close, payload unread.
    OverLimit = 2,
    /// Unknown io_kind: consume the payload, respond, continue.
    UnknownIoKind = 3,
    /// No data file, or the range is past its end: respond, continue.
    FileImpossible = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    None,
    Sleep,
    Block,
    File,
}

impl IoKind {
    pub fn from_u8(v: u8) -> Option<IoKind> {
        match v {
            0 => Some(IoKind::None),
            1 => Some(IoKind::Sleep),
            2 => Some(IoKind::Block),
            3 => Some(IoKind::File),
            _ => None,
        }
    }
    pub fn as_u8(self) -> u8 {
        match self {
            IoKind::None => 0,
            IoKind::Sleep => 1,
            IoKind::Block => 2,
            IoKind::File => 3,
        }
    }
}

/// A request header exactly as it sits on the wire (fields unchecked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestHeader {
    pub version: u8,
    pub io_kind: u8,
    pub reserved: u16,
    pub payload_len: u32,
    pub cpu_rounds: u32,
    pub io_arg: u32,
    pub io_offset: u32,
    pub id: u32,
}

/// What a server does with a header, decided before it reads the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Read `payload_len` bytes, then run the I/O and compute steps.
    Process(IoKind),
    /// Read and discard the payload, answer with this status, keep the connection.
    Skip(Status),
    /// Answer with this status without reading the payload, then close.
    Close(Status),
}

impl RequestHeader {
    pub fn encode(&self) -> [u8; REQUEST_HEADER_LEN] {
        let mut b = [0u8; REQUEST_HEADER_LEN];
        b[0] = self.version;
        b[1] = self.io_kind;
        b[2..4].copy_from_slice(&self.reserved.to_be_bytes());
        b[4..8].copy_from_slice(&self.payload_len.to_be_bytes());
        b[8..12].copy_from_slice(&self.cpu_rounds.to_be_bytes());
        b[12..16].copy_from_slice(&self.io_arg.to_be_bytes());
        b[16..20].copy_from_slice(&self.io_offset.to_be_bytes());
        b[20..24].copy_from_slice(&self.id.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8; REQUEST_HEADER_LEN]) -> RequestHeader {
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        RequestHeader {
            version: b[0],
            io_kind: b[1],
            reserved: u16::from_be_bytes([b[2], b[3]]),
            payload_len: u32_at(4),
            cpu_rounds: u32_at(8),
            io_arg: u32_at(12),
            io_offset: u32_at(16),
            id: u32_at(20),
        }
    }

    /// The protocol's order of checks: header fields (status 1), then limits
    /// (status 2), then the I/O kind (status 3). Status 4 depends on the data
    /// file and is decided by the server during the I/O step. `io_arg` has a
    /// limit only for the kinds that use it; an unknown kind's `io_arg` is
    /// ignored, so status 3 wins over an out-of-range `io_arg` there.
    pub fn disposition(&self) -> Disposition {
        if self.version != VERSION || self.reserved != 0 {
            return Disposition::Close(Status::BadHeader);
        }
        if self.payload_len > MAX_PAYLOAD_BYTES || self.cpu_rounds > MAX_CPU_ROUNDS {
            return Disposition::Close(Status::OverLimit);
        }
        match IoKind::from_u8(self.io_kind) {
            None => Disposition::Skip(Status::UnknownIoKind),
            Some(IoKind::Sleep | IoKind::Block) if self.io_arg > MAX_WAIT_US => {
                Disposition::Close(Status::OverLimit)
            }
            Some(IoKind::File) if self.io_arg > MAX_FILE_BYTES => {
                Disposition::Close(Status::OverLimit)
            }
            Some(kind) => Disposition::Process(kind),
        }
    }
}

/// A response header as it sits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    pub version: u8,
    pub status: u8,
    pub reserved: u16,
    pub body_len: u32,
    pub id: u32,
}

impl ResponseHeader {
    pub fn new(status: Status, body_len: u32, id: u32) -> ResponseHeader {
        ResponseHeader {
            version: VERSION,
            status: status as u8,
            reserved: 0,
            body_len,
            id,
        }
    }

    pub fn encode(&self) -> [u8; RESPONSE_HEADER_LEN] {
        let mut b = [0u8; RESPONSE_HEADER_LEN];
        b[0] = self.version;
        b[1] = self.status;
        b[2..4].copy_from_slice(&self.reserved.to_be_bytes());
        b[4..8].copy_from_slice(&self.body_len.to_be_bytes());
        b[8..12].copy_from_slice(&self.id.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8; RESPONSE_HEADER_LEN]) -> ResponseHeader {
        ResponseHeader {
            version: b[0],
            status: b[1],
            reserved: u16::from_be_bytes([b[2], b[3]]),
            body_len: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            id: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// The compute step with `rounds > 0`: D₁ = SHA-256(parts concatenated),
/// Dᵢ = SHA-256(Dᵢ₋₁). Parts are fed to the hasher in turn so the payload and
/// the file bytes are never copied into one buffer.
pub fn sha_chain(parts: &[&[u8]], rounds: u32) -> [u8; 32] {
    assert!(rounds > 0, "sha_chain needs at least one round");
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut d: [u8; 32] = h.finalize().into();
    for _ in 1..rounds {
        d = Sha256::digest(d).into();
    }
    d
}

/// The body a correct server returns for a processed request (status 0).
pub fn expected_body(payload: &[u8], file_bytes: &[u8], cpu_rounds: u32) -> Vec<u8> {
    if cpu_rounds == 0 {
        let mut v = Vec::with_capacity(payload.len() + file_bytes.len());
        v.extend_from_slice(payload);
        v.extend_from_slice(file_bytes);
        v
    } else {
        sha_chain(&[payload, file_bytes], cpu_rounds).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> RequestHeader {
        RequestHeader {
            version: 1,
            ..Default::default()
        }
    }

    #[test]
    fn request_header_round_trips_big_endian() {
        let h = RequestHeader {
            version: 1,
            io_kind: 3,
            reserved: 0,
            payload_len: 0x0102_0304,
            cpu_rounds: 5,
            io_arg: 6,
            io_offset: 7,
            id: 0xdead_beef,
        };
        let b = h.encode();
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(&b[20..24], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(RequestHeader::decode(&b), h);
    }

    #[test]
    fn response_header_round_trips() {
        let r = ResponseHeader::new(Status::FileImpossible, 9, 42);
        let b = r.encode();
        assert_eq!(b, [1, 4, 0, 0, 0, 0, 0, 9, 0, 0, 0, 42]);
        assert_eq!(ResponseHeader::decode(&b), r);
    }

    #[test]
    fn disposition_follows_the_protocol_order() {
        assert_eq!(hdr().disposition(), Disposition::Process(IoKind::None));
        let bad_version = RequestHeader {
            version: 2,
            payload_len: u32::MAX,
            ..hdr()
        };
        assert_eq!(
            bad_version.disposition(),
            Disposition::Close(Status::BadHeader)
        );
        let reserved = RequestHeader {
            reserved: 1,
            ..hdr()
        };
        assert_eq!(
            reserved.disposition(),
            Disposition::Close(Status::BadHeader)
        );
        let big = RequestHeader {
            payload_len: MAX_PAYLOAD_BYTES + 1,
            io_kind: 9,
            ..hdr()
        };
        assert_eq!(big.disposition(), Disposition::Close(Status::OverLimit));
        let at_limit = RequestHeader {
            payload_len: MAX_PAYLOAD_BYTES,
            ..hdr()
        };
        assert_eq!(at_limit.disposition(), Disposition::Process(IoKind::None));
        let rounds = RequestHeader {
            cpu_rounds: MAX_CPU_ROUNDS + 1,
            ..hdr()
        };
        assert_eq!(rounds.disposition(), Disposition::Close(Status::OverLimit));
        let sleep = RequestHeader {
            io_kind: 1,
            io_arg: MAX_WAIT_US + 1,
            ..hdr()
        };
        assert_eq!(sleep.disposition(), Disposition::Close(Status::OverLimit));
        let block = RequestHeader {
            io_kind: 2,
            io_arg: MAX_WAIT_US,
            ..hdr()
        };
        assert_eq!(block.disposition(), Disposition::Process(IoKind::Block));
        let file = RequestHeader {
            io_kind: 3,
            io_arg: MAX_FILE_BYTES + 1,
            ..hdr()
        };
        assert_eq!(file.disposition(), Disposition::Close(Status::OverLimit));
        let unknown = RequestHeader {
            io_kind: 4,
            io_arg: u32::MAX,
            ..hdr()
        };
        assert_eq!(
            unknown.disposition(),
            Disposition::Skip(Status::UnknownIoKind)
        );
        let none_big_arg = RequestHeader {
            io_arg: u32::MAX,
            ..hdr()
        };
        assert_eq!(
            none_big_arg.disposition(),
            Disposition::Process(IoKind::None)
        );
    }

    #[test]
    fn sha_chain_matches_known_digests() {
        // SHA-256("abc"), the FIPS 180-2 example.
        let d1 = sha_chain(&[b"ab", b"c"], 1);
        assert_eq!(
            hex(&d1),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Two rounds: SHA-256 of the 32 digest bytes.
        let d2 = sha_chain(&[b"abc"], 2);
        assert_eq!(d2, <[u8; 32]>::from(Sha256::digest(d1)));
        assert_eq!(expected_body(b"ab", b"c", 0), b"abc");
        assert_eq!(expected_body(b"ab", b"c", 1), d1.to_vec());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
