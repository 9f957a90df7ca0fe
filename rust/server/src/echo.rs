//! The `echo` workload (PROTOCOL.md §1): read up to `--buf-size` bytes,
//! write them all back, until the client closes its side.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub async fn serve_echo<S>(stream: &mut S, buf_size: usize) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The same size as Go's buffer. `vec![0; n]` is calloc: glibc zero-fills
    // much of a 16 KiB buffer at once, where Go's `make` leaves fresh pages
    // untouched until the first read (PROTOCOL.md, "When the buffers become
    // resident"). The idiom of each side: kept, and stated.
    let mut buf = vec![0u8; buf_size];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            // Client EOF: everything read has been written back; close.
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}
