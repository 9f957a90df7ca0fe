//! Every offloading strategy side by side: where the SHA-256 chain runs
//! (`--cpu-mode`), where the blocking call runs (`--block-mode`) and how the
//! data file is read (`--file-mode`). Each arm is the real thing, written the
//! way tokio's documentation shows it.
//!
//! Heap allocations per request (tests/allocations.rs): none in the inline
//! arms. Handing work to another thread needs a heap object per call:
//! spawn_blocking a task holding the closure (1), rayon a job and the
//! oneshot (2), block_in_place a blocking task to take over the worker's
//! core whenever its thread holds one (up to 1), tokio::fs a blocking-pool
//! task for the seek and one for the read (2).

use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use rtc_common::protocol::sha_chain;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::config::{BlockMode, CpuMode, DataFile, FileMode};

/// One request's input bytes. Owned (not borrowed) so spawn_blocking and
/// rayon can take them to another thread and hand them back for reuse; the
/// vectors keep their capacity across requests.
#[derive(Debug, Default)]
pub struct Input {
    pub payload: Vec<u8>,
    pub payload_len: usize,
    pub file: Vec<u8>,
    pub file_len: usize,
}

impl Input {
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.payload_len]
    }

    pub fn file(&self) -> &[u8] {
        &self.file[..self.file_len]
    }

    fn digest(&self, rounds: u32) -> [u8; 32] {
        sha_chain(&[self.payload(), self.file()], rounds)
    }
}

/// The compute step for `rounds > 0`.
pub async fn hash(
    mode: CpuMode,
    pool: Option<&rayon::ThreadPool>,
    input: Input,
    rounds: u32,
) -> io::Result<(Input, [u8; 32])> {
    match mode {
        CpuMode::Inline => {
            let d = input.digest(rounds);
            Ok((input, d))
        }
        CpuMode::SpawnBlocking => tokio::task::spawn_blocking(move || {
            let d = input.digest(rounds);
            (input, d)
        })
        .await
        .map_err(io::Error::other),
        CpuMode::BlockInPlace => {
            let d = tokio::task::block_in_place(|| input.digest(rounds));
            Ok((input, d))
        }
        // Go's pool is GOMAXPROCS goroutines reading one job channel, each
        // job carrying its reply channel; rayon's natural shape is a
        // work-stealing pool, the reply coming back over a oneshot.
        CpuMode::Rayon => {
            let pool = pool.ok_or_else(|| io::Error::other("cpu mode rayon without a pool"))?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            pool.spawn(move || {
                let d = input.digest(rounds);
                let _ = tx.send((input, d));
            });
            rx.await.map_err(io::Error::other)
        }
    }
}

/// io_kind 2: a blocking OS call holding its thread for `dur`. Inline it
/// holds a runtime worker; Go needs no mode, as its runtime hands the P of a
/// thread blocked in a syscall to another thread by itself.
pub async fn block(mode: BlockMode, dur: Duration) -> io::Result<()> {
    match mode {
        BlockMode::Inline => std::thread::sleep(dur),
        BlockMode::SpawnBlocking => tokio::task::spawn_blocking(move || std::thread::sleep(dur))
            .await
            .map_err(io::Error::other)?,
        BlockMode::BlockInPlace => tokio::task::block_in_place(|| std::thread::sleep(dur)),
    }
    Ok(())
}

/// io_kind 3: fills `buf[..len]` with the file's bytes at `offset` (the
/// caller has checked the range against the length recorded at start).
/// Returns the buffer for reuse whatever happens (empty if it was lost).
pub async fn read_file(
    mode: FileMode,
    data: &DataFile,
    conn_file: &mut Option<tokio::fs::File>,
    mut buf: Vec<u8>,
    offset: u64,
    len: usize,
) -> (Vec<u8>, io::Result<()>) {
    match mode {
        FileMode::Inline => {
            let r = data.file.read_exact_at(&mut buf[..len], offset);
            (buf, r)
        }
        FileMode::SpawnBlocking => {
            let file = data.file.clone();
            tokio::task::spawn_blocking(move || {
                let r = file.read_exact_at(&mut buf[..len], offset);
                (buf, r)
            })
            .await
            .unwrap_or_else(|e| (Vec::new(), Err(io::Error::other(e))))
        }
        FileMode::TokioFs => {
            // The natural tokio::fs way: a File per connection (opened on
            // first use), then seek + read_exact. tokio::fs runs each call on
            // the blocking pool, so a read costs two blocking-pool hops (seek,
            // read; one read suffices as tokio reads up to 2 MiB at a time)
            // and a copy out of tokio's own buffer. That cost is what this
            // mode measures; Go's ReadAt is one pread on the calling thread.
            let r = async {
                if conn_file.is_none() {
                    *conn_file = Some(tokio::fs::File::open(&data.path).await?);
                }
                let f = conn_file
                    .as_mut()
                    .ok_or_else(|| io::Error::other("file not open"))?;
                f.seek(io::SeekFrom::Start(offset)).await?;
                f.read_exact(&mut buf[..len]).await.map(|_| ())
            }
            .await;
            (buf, r)
        }
    }
}
