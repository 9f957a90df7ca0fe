//! Small OS helpers: CPU time of this thread / process / another process,
//! the open-files limit, an RFC 3339 timestamp, the kernel's receive
//! timestamps (`SO_TIMESTAMPING`, read with `recvmsg`), and a precise
//! one-shot timer (`timerfd`) for the pacer.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{SystemTime, UNIX_EPOCH};

/// `SO_TIMESTAMPING` with a 64-bit `time_t` (asm-generic/socket.h:
/// SO_TIMESTAMPING_OLD, which is SO_TIMESTAMPING on 64-bit targets); its
/// control message type has the same number.
const SO_TIMESTAMPING: libc::c_int = 37;

fn clock_ns(clock: libc::clockid_t) -> u64 {
    // SAFETY: clock_gettime fills the struct we own.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(clock, &mut ts);
        ts
    };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_REALTIME in ns since the Unix epoch (the kernel's receive stamps).
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// CLOCK_MONOTONIC in ns (the clock of `Instant` and of the timerfd).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Asks the kernel to stamp every segment this socket receives with its
/// software receive time. Err: the kernel refused (no receive lag then).
pub fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    let flags: libc::c_uint = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
    // SAFETY: setsockopt reads `flags`, which outlives the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_TIMESTAMPING,
            (&flags as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One non-blocking `recvmsg` into `buf`: the bytes read, and the kernel's
/// software receive timestamp (ns since the Unix epoch) of the last segment
/// read, when the kernel attached one. TCP reports the stamp of the last
/// segment it copied, so a read that completes several responses carries
/// the arrival of the last.
pub fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one scm_timestamping (3 timespecs) and its header, aligned.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; zero is a valid initial state.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // The raw system call: libc's wrapper is a thread-cancellation point
    // and pays for that on every read.
    // SAFETY: every pointer in `msg` points into buffers that outlive the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvmsg,
            fd,
            &mut msg as *mut libc::msghdr,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* walk stays inside `control`, as the kernel filled
    // it (msg_controllen was updated to the length used).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPING {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if ts.tv_sec > 0 {
                    stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

/// One non-blocking `send` of `buf` (the raw system call, like
/// `recv_stamped`): the bytes the socket took.
pub fn send_nonblocking(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads `buf.len()` bytes from `buf`, which outlives the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sets the calling thread's timer slack to 1 ns, so the kernel does not
/// defer its timed wake-ups to batch them with others (default 50 µs).
pub fn minimal_timer_slack() {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// A one-shot CLOCK_MONOTONIC timerfd: armed for an absolute instant, it
/// becomes readable then (an hrtimer, not tokio's 1 ms wheel).
pub struct TimerFd(OwnedFd);

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create returns a new descriptor or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(TimerFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Fires once at `monotonic_ns` (CLOCK_MONOTONIC); replaces any earlier
    /// setting. An instant in the past fires at once.
    pub fn arm_at(&self, monotonic_ns: u64) -> io::Result<()> {
        let ns = monotonic_ns.max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: timerfd_settime reads `spec`; the old value is not wanted.
        let r = unsafe {
            libc::timerfd_settime(
                self.0.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Consumes an expiry (WouldBlock when none is pending).
    pub fn consume(&self) -> io::Result<()> {
        let mut n = 0u64;
        // SAFETY: read of 8 bytes into `n`.
        let r = unsafe { libc::read(self.0.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
        if r == 8 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

fn rusage_us(who: libc::c_int) -> u64 {
    // SAFETY: getrusage fills the struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut ru) != 0 {
            return 0;
        }
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User + system CPU of the calling thread, µs.
pub fn thread_cpu_us() -> u64 {
    rusage_us(libc::RUSAGE_THREAD)
}

/// User + system CPU of this process (all threads), µs.
pub fn process_cpu_us() -> u64 {
    rusage_us(libc::RUSAGE_SELF)
}

/// User + system CPU of process `pid` from /proc (clock-tick resolution), µs.
pub fn pid_cpu_us(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some((utime + stime) * 1_000_000 / hz)
}

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur as u64;
            }
        }
        rl.rlim_cur as u64
    }
}

/// `t` as RFC 3339 UTC with milliseconds, e.g. "2025-01-02T03:04:05.678Z".
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, sod) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T12:34:56.789Z (a leap day).
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn kernel_receive_timestamps_come_with_the_bytes() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        if enable_rx_timestamps(c.as_raw_fd()).is_err() {
            eprintln!("kernel_receive_timestamps: SO_TIMESTAMPING refused here; skipped");
            return;
        }
        // The kernel turns stamping on from a work queue: give it a moment.
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(b"hello").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let mut buf = [0u8; 16];
        let (n, stamp) = recv_stamped(c.as_raw_fd(), &mut buf).unwrap();
        let now = realtime_ns();
        assert_eq!(&buf[..n], b"hello");
        let stamp = stamp.expect("a software receive timestamp");
        // Stamped on arrival, read ≥ 30 ms later.
        let lag = now - stamp;
        assert!((25_000_000..5_000_000_000).contains(&lag), "{lag}");
        // Nothing more to read: WouldBlock, not a hang.
        let e = recv_stamped(c.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn the_timerfd_fires_at_its_instant() {
        let t = TimerFd::new().unwrap();
        assert_eq!(t.consume().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let at = monotonic_ns() + 2_000_000;
        t.arm_at(at).unwrap();
        let mut p = libc::pollfd {
            fd: t.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one pollfd we own.
        let r = unsafe { libc::poll(&mut p, 1, 1000) };
        assert_eq!(r, 1);
        assert!(monotonic_ns() >= at);
        t.consume().unwrap();
    }

    #[test]
    fn cpu_clocks_move() {
        let a = thread_cpu_us();
        let mut x = 0u64;
        // black_box each step: an optimised build would fold the sum.
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        std::hint::black_box(x);
        assert!(thread_cpu_us() > a);
        assert!(process_cpu_us() >= thread_cpu_us());
        assert!(pid_cpu_us(std::process::id()).is_some());
        assert!(pid_cpu_us(u32::MAX).is_none());
    }
}
