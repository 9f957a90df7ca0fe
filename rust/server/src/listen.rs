//! Binding the listening socket the way Go's `net.Listen` does.
//!
//! `tokio::net::TcpListener::bind` goes through mio, which calls
//! `listen(fd, 128)` (the standard library's constant; mio
//! `src/net/tcp/listener.rs`). Go's `net.Listen` instead passes
//! `maxListenerBacklog()` (`net/sock_linux.go`): the value of
//! `/proc/sys/net/core/somaxconn`, 4096 by default since Linux 5.4. With 128
//! the tokio server's accept queue would overflow under a connection burst
//! (SYNs dropped, clients retrying after 1 s) where Go's would not — a
//! difference of the binding code, not of the runtimes — so the Rust server
//! binds through `tokio::net::TcpSocket` with the same backlog and the same
//! socket options as Go's listener (SO_REUSEADDR on, `setDefaultListenerSockopts`
//! in `net/sockopt_linux.go`).

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// `syscall.SOMAXCONN` on Linux: Go's fallback when somaxconn is unreadable.
pub const FALLBACK_BACKLOG: u32 = 128;

/// Binds `addr` with SO_REUSEADDR and listens with [`max_listener_backlog`].
/// Must be called inside a tokio runtime (the listener registers with its
/// reactor).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(max_listener_backlog())
}

/// Go's `maxListenerBacklog()` on Linux, step for step.
pub fn max_listener_backlog() -> u32 {
    let somaxconn = std::fs::read("/proc/sys/net/core/somaxconn").ok();
    backlog_from(somaxconn.as_deref(), kernel_version_ge(4, 1))
}

/// The decision of `maxListenerBacklog()` from the file's bytes (None: it
/// could not be opened) and whether the kernel is at least 4.1.
pub fn backlog_from(somaxconn: Option<&[u8]>, kernel_ge_4_1: bool) -> u32 {
    let Some(data) = somaxconn else {
        return FALLBACK_BACKLOG;
    };
    // fd.readLine(): the bytes before the first '\n' (or all of them at EOF);
    // nothing at all is a failure.
    if data.is_empty() {
        return FALLBACK_BACKLOG;
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    // getFields(l)[0]: the first field split at " \r\t\n". (Go would index out
    // of range on a blank line; the kernel never writes one.)
    let Some(field) = line
        .split(|b| b" \r\t\n".contains(b))
        .find(|f| !f.is_empty())
    else {
        return FALLBACK_BACKLOG;
    };
    // dtoi: leading decimal digits; none, or a value reaching 0xFFFFFF, fails.
    const BIG: u64 = 0xFF_FFFF;
    let mut n: u64 = 0;
    let mut digits = 0;
    for &c in field.iter().take_while(|c| c.is_ascii_digit()) {
        n = n * 10 + u64::from(c - b'0');
        digits += 1;
        if n >= BIG {
            return FALLBACK_BACKLOG;
        }
    }
    if digits == 0 || n == 0 {
        return FALLBACK_BACKLOG;
    }
    // maxAckBacklog: the kernel stores the backlog in a u16 before 4.1 and a
    // u32 since; Go truncates to avoid wrapping.
    if n > (1 << 16) - 1 {
        let max: u64 = if kernel_ge_4_1 {
            (1 << 32) - 1
        } else {
            (1 << 16) - 1
        };
        n = n.min(max);
    }
    // n < 0xFFFFFF here, so it fits.
    n as u32
}

/// Go's `unix.KernelVersionGE` from `uname -r` ("6.18.0-…" → (6, 18)).
fn kernel_version_ge(major: u64, minor: u64) -> bool {
    // SAFETY: uname writes the struct we own; release is NUL-terminated.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return false;
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    let (x, y) = kernel_version(&release);
    x > major || (x == major && y >= minor)
}

/// Go's `unix.KernelVersion` parse: the first two runs of digits, each ended
/// by any non-digit. Go walks the whole NUL-padded `utsname.release` array,
/// so the NUL after the string ends the last run ("5.4" → (5, 4)).
fn kernel_version(release: &str) -> (u64, u64) {
    let mut values = [0u64; 2];
    let (mut value, mut vi) = (0u64, 0);
    for c in release.bytes().chain(std::iter::once(0)) {
        if c.is_ascii_digit() {
            value = value.saturating_mul(10).saturating_add(u64::from(c - b'0'));
        } else {
            values[vi] = value;
            vi += 1;
            if vi >= values.len() {
                break;
            }
            value = 0;
        }
    }
    (values[0], values[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backlog_follows_go_max_listener_backlog() {
        let b = |s: &str| backlog_from(Some(s.as_bytes()), true);
        assert_eq!(backlog_from(None, true), 128);
        assert_eq!(b(""), 128);
        assert_eq!(b("4096\n"), 4096);
        assert_eq!(b("4096"), 4096);
        assert_eq!(b("  511 \n"), 511);
        assert_eq!(b("0\n"), 128);
        assert_eq!(b("-1\n"), 128);
        assert_eq!(b("abc\n"), 128);
        assert_eq!(b("\n"), 128);
        assert_eq!(b("4096x\n"), 4096); // dtoi stops at the first non-digit
        assert_eq!(b("65535\n"), 65535);
        assert_eq!(b("100000\n"), 100_000);
        assert_eq!(b("16777214\n"), 16_777_214);
        assert_eq!(b("16777215\n"), 128); // dtoi's "big": fails
        assert_eq!(b("99999999999999999999\n"), 128);
        // Before Linux 4.1 the kernel keeps a u16.
        assert_eq!(backlog_from(Some(b"100000\n"), false), 65535);
        assert_eq!(backlog_from(Some(b"4096\n"), false), 4096);
    }

    #[test]
    fn kernel_version_parses_like_go() {
        assert_eq!(kernel_version("6.18.0-rc1"), (6, 18));
        assert_eq!(kernel_version("4.1.12"), (4, 1));
        assert_eq!(kernel_version("3.10"), (3, 10));
        assert_eq!(kernel_version("5"), (5, 0));
        assert_eq!(kernel_version("5.4-x"), (5, 4));
        assert!(kernel_version_ge(2, 6));
    }

    #[test]
    fn this_machine_backlog_is_read_from_somaxconn() {
        let want = match std::fs::read_to_string("/proc/sys/net/core/somaxconn") {
            Ok(s) => s.trim().parse::<u32>().unwrap_or(128),
            Err(_) => 128,
        };
        if (1..0xFF_FFFF).contains(&want) {
            assert_eq!(max_listener_backlog(), want);
        }
    }

    /// Connections completed within 800 ms out of `n` made at once to a
    /// listener nobody accepts from. A full accept queue drops the SYN, and
    /// the client's retransmission comes only after 1 s.
    async fn burst(l: &TcpListener, n: usize) -> usize {
        let addr = l.local_addr().unwrap();
        let tries: Vec<_> = (0..n)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_millis(800),
                    tokio::net::TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut done = 0;
        let mut keep = Vec::new();
        for t in tries {
            if let Ok(Ok(Ok(s))) = t.await {
                done += 1;
                keep.push(s);
            }
        }
        done
    }

    #[test]
    fn the_backlog_holds_a_burst_that_tokio_bind_would_drop() {
        const N: usize = 300;
        if (max_listener_backlog() as usize) < N + 10 {
            return; // somaxconn too small here to tell the two apart
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ours = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            assert_eq!(burst(&ours, N).await, N);
            // tokio's own bind listens with 128: the rest wait for a retry.
            let theirs = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let n = burst(&theirs, N).await;
            assert!(n < N, "{n} of {N} connected with tokio's backlog");
        });
    }

    #[test]
    fn bound_listener_has_reuseaddr_and_accepts() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = l.local_addr().unwrap();
            use std::os::fd::AsRawFd;
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes an int into v.
            let rc = unsafe {
                libc::getsockopt(
                    l.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0);
            assert_eq!(v, 1);
            let c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (s, peer) = l.accept().await.unwrap();
            assert_eq!(peer, c.local_addr().unwrap());
            drop(s);
        });
    }
}
