//! The deterministic data file (PROTOCOL.md, "Data file"): byte `i` is `i mod 251`,
//! so a client can check a file response without having the file.

use std::io::{self, Write};
use std::path::Path;

pub const MODULUS: u64 = 251;

pub fn byte_at(offset: u64) -> u8 {
    (offset % MODULUS) as u8
}

/// The `len` bytes starting at `offset`.
pub fn bytes_at(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| byte_at(offset + i)).collect()
}

/// Writes a data file of `len_bytes` bytes atomically (temp file + rename).
pub fn create(path: &Path, len_bytes: u64) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = io::BufWriter::new(std::fs::File::create(&tmp)?);
        // One period of the pattern, written repeatedly.
        let period: Vec<u8> = (0..MODULUS).map(byte_at).collect();
        let mut left = len_bytes;
        while left > 0 {
            let n = left.min(MODULUS) as usize;
            f.write_all(&period[..n])?;
            left -= n as u64;
        }
        f.flush()?;
        f.get_ref().sync_all()?;
    }
    std::fs::rename(tmp, path)
}

/// True if `path` exists, has at least `len_bytes` bytes, and starts with the pattern.
pub fn is_valid(path: &Path, len_bytes: u64) -> bool {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.len() < len_bytes {
        return false;
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = vec![0u8; (len_bytes.min(4096)) as usize];
    f.read_exact(&mut head).is_ok() && head == bytes_at(0, head.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_wraps_at_251() {
        assert_eq!(byte_at(0), 0);
        assert_eq!(byte_at(250), 250);
        assert_eq!(byte_at(251), 0);
        assert_eq!(bytes_at(249, 4), vec![249, 250, 0, 1]);
    }

    #[test]
    fn create_writes_the_pattern() {
        let dir = std::env::temp_dir().join(format!("rtc-datafile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("data.bin");
        create(&p, 1000).unwrap();
        let got = std::fs::read(&p).unwrap();
        assert_eq!(got, bytes_at(0, 1000));
        assert!(is_valid(&p, 1000));
        assert!(!is_valid(&p, 1001));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
