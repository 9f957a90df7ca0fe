//! The `work` workload: the framing loop of one connection (PROTOCOL.md §2).

use std::io;
use std::time::Duration;

use rtc_common::protocol::{
    Disposition, IoKind, REQUEST_HEADER_LEN, RequestHeader, ResponseHeader, Status,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::io::{BufReader, BufWriter};

use crate::config::Config;
use crate::strategies::{self, Input};

/// Per-connection state reused across requests: the input buffers (grown
/// only to lengths already checked against the protocol's limits) and, for
/// `--file-mode tokio-fs`, the connection's own tokio::fs::File.
#[derive(Default)]
struct Conn {
    input: Input,
    tokio_file: Option<tokio::fs::File>,
}

/// Serves one connection until the client closes it, sends a header that
/// closes it (status 1 or 2), or an I/O error. Returns Ok on every orderly end.
///
/// Where this differs from the Go server's natural shape: Go wraps the one
/// net.Conn in a bufio.Reader and a bufio.Writer and asks `Buffered()`;
/// here the socket is split into borrowed read/write halves (no lock) and
/// the check is `BufReader::buffer().is_empty()`. Both buffered types go to
/// the socket directly for reads/writes at least their capacity, so big
/// payloads and bodies cost the same syscalls on both sides. The close after
/// status 1/2 or client EOF is `shutdown(Write)` then drop (a FIN), as
/// Go's `Close`.
pub async fn serve_work<R, W>(rd: R, wr: W, cfg: &Config) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let buf_size = cfg.settings.buf_size;
    let mut reader = BufReader::with_capacity(buf_size, rd);
    let mut writer = BufWriter::with_capacity(buf_size, wr);
    let mut conn = Conn::default();

    loop {
        let mut hb = [0u8; REQUEST_HEADER_LEN];
        match read_full(&mut reader, &mut writer, &mut hb).await? {
            // EOF at a frame boundary: everything answered is flushed; close.
            0 => return writer.shutdown().await,
            REQUEST_HEADER_LEN => {}
            // EOF mid-header: close without a response.
            _ => return Ok(()),
        }
        let h = RequestHeader::decode(&hb);
        match h.disposition() {
            Disposition::Close(status) => {
                // Status 1 and 2: the payload stays unread.
                write_response(&mut writer, status, h.id, &[]).await?;
                return writer.shutdown().await;
            }
            Disposition::Skip(status) => {
                if !discard(&mut reader, &mut writer, h.payload_len as usize).await? {
                    return Ok(());
                }
                write_response(&mut writer, status, h.id, &[]).await?;
            }
            Disposition::Process(kind) => {
                // disposition() has checked payload_len <= MAX_PAYLOAD_BYTES.
                let len = h.payload_len as usize;
                let input = &mut conn.input;
                grow(&mut input.payload, len);
                input.payload_len = len;
                input.file_len = 0;
                if read_full(&mut reader, &mut writer, &mut input.payload[..len]).await? < len {
                    return Ok(()); // EOF mid-payload
                }
                if !io_step(&mut conn, kind, &h, cfg).await? {
                    write_response(&mut writer, Status::FileImpossible, h.id, &[]).await?;
                    continue;
                }
                if h.cpu_rounds == 0 {
                    let i = &conn.input;
                    write_response(&mut writer, Status::Ok, h.id, &[i.payload(), i.file()]).await?;
                } else {
                    let input = std::mem::take(&mut conn.input);
                    let (input, digest) = strategies::hash(
                        cfg.settings.cpu_mode,
                        cfg.rayon.as_ref(),
                        input,
                        h.cpu_rounds,
                    )
                    .await?;
                    conn.input = input;
                    write_response(&mut writer, Status::Ok, h.id, &[&digest]).await?;
                }
            }
        }
    }
}

/// The I/O step. Returns false when the file step is impossible (status 4):
/// no data file, a range past the length recorded at start, or a failed or
/// short read. File bytes land in `conn.input.file[..file_len]`.
async fn io_step(
    conn: &mut Conn,
    kind: IoKind,
    h: &RequestHeader,
    cfg: &Config,
) -> io::Result<bool> {
    let us = |v: u32| Duration::from_micros(u64::from(v));
    match kind {
        IoKind::None => {}
        IoKind::Sleep => {
            // Go's time.Sleep(0) returns at once; skip tokio's timer for 0 too.
            // tokio's timer wheel has 1 ms granularity ("Sleep operates at
            // millisecond granularity", tokio::time::sleep docs): a deadline
            // is rounded up to the next 1 ms tick (runtime/time/source.rs),
            // so a sleep lasts up to 1 ms longer than asked, busy or idle.
            // Go keeps deadlines in nanoseconds and runs due timers whenever
            // a P passes through the scheduler (`findRunnable` in
            // runtime/proc.go), so it is finer while other events keep the
            // scheduler busy. An idle Go server instead waits in the
            // netpoller, whose epoll_wait takes whole milliseconds
            // (runtime/netpoll_epoll.go: a delay under 1 ms waits 1 ms, a
            // longer one is truncated and its remainder waits 1 ms more), so
            // there a 100 µs sleep takes about 1 ms too. Each runtime's
            // natural behaviour: kept, not compensated.
            if h.io_arg > 0 {
                tokio::time::sleep(us(h.io_arg)).await;
            }
        }
        IoKind::Block => strategies::block(cfg.settings.block_mode, us(h.io_arg)).await?,
        IoKind::File => {
            let Some(data) = &cfg.data else {
                return Ok(false);
            };
            // disposition() has checked io_arg <= MAX_FILE_BYTES.
            let (offset, len) = (u64::from(h.io_offset), h.io_arg as usize);
            if offset + len as u64 > data.len_bytes {
                return Ok(false);
            }
            if len == 0 {
                return Ok(true);
            }
            let mut buf = std::mem::take(&mut conn.input.file);
            grow(&mut buf, len);
            let (buf, r) = strategies::read_file(
                cfg.settings.file_mode,
                data,
                &mut conn.tokio_file,
                buf,
                offset,
                len,
            )
            .await;
            conn.input.file = buf;
            if r.is_err() {
                return Ok(false);
            }
            conn.input.file_len = len;
        }
    }
    Ok(true)
}

/// Reads until `dst` is full or EOF; returns the bytes read. Before every
/// read that may block (the reader has no buffered bytes left) the writer is
/// flushed: pipelined responses are batched, a lone request is answered at
/// once, and a client waiting for an answer before finishing its next frame
/// never stalls. tokio's BufReader, like Go's bufio.Reader, goes to the
/// socket only when its buffer is empty, and reads straight into `dst` when
/// `dst` is at least its capacity, so the check is exact.
async fn read_full<R, W>(
    reader: &mut BufReader<R>,
    writer: &mut BufWriter<W>,
    dst: &mut [u8],
) -> io::Result<usize>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut n = 0;
    while n < dst.len() {
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
        match reader.read(&mut dst[n..]).await? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads and drops `len` bytes through the reader's own buffer (bounded by
/// `--buf-size`). Returns false on EOF before the end.
async fn discard<R, W>(
    reader: &mut BufReader<R>,
    writer: &mut BufWriter<W>,
    mut len: usize,
) -> io::Result<bool>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while len > 0 {
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
        let avail = reader.fill_buf().await?;
        if avail.is_empty() {
            return Ok(false);
        }
        let k = avail.len().min(len);
        reader.consume(k);
        len -= k;
    }
    Ok(true)
}

/// Writes a response header and its body parts into the buffered writer.
async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut BufWriter<W>,
    status: Status,
    id: u32,
    body: &[&[u8]],
) -> io::Result<()> {
    let body_len: usize = body.iter().map(|p| p.len()).sum();
    // Bodies are at most payload (1 MiB) + file bytes (1 MiB) or a digest.
    let body_len = u32::try_from(body_len).map_err(io::Error::other)?;
    writer
        .write_all(&ResponseHeader::new(status, body_len, id).encode())
        .await?;
    for part in body {
        writer.write_all(part).await?;
    }
    Ok(())
}

/// Makes `buf` at least `len` bytes, like Go's `grow` (a fresh `make` when
/// too small). A fresh `vec![0; len]` comes zeroed from the allocator
/// (calloc: glibc maps large ones as untouched pages from the kernel), so
/// mostly only the pages a read fills count in RSS — as with Go's `make`.
/// Not always: once such a buffer has been freed, glibc's mmap threshold
/// rises to its size and later ones come from its heap, partly zero-filled
/// (PROTOCOL.md, "When the buffers become resident"). `resize` would write
/// every zero and charge the whole buffer to RSS at once, doubling the
/// memory of a stalled 1 MiB frame compared with Go.
fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        *buf = vec![0u8; len];
    }
}
