//! Accept errors are retried, never fatal: with the file-descriptor limit
//! exhausted (EMFILE) the server keeps running and serves the waiting
//! connections once descriptors are free again. Its own test binary, because
//! it lowers this process's RLIMIT_NOFILE.

mod support;

use support::*;

fn set_soft_nofile(n: u64) -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim;
        lim.rlim_cur = n.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

#[test]
fn emfile_on_accept_is_retried_and_never_fatal() {
    let srv = start(&[]);
    let open_fds = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let old = set_soft_nofile(open_fds + 16);

    // Connect until this process runs out of descriptors. The server shares
    // the limit, so connections the kernel has queued meet EMFILE on accept.
    let mut clients = Vec::new();
    let mut connect_failed = false;
    for _ in 0..64 {
        match std::net::TcpStream::connect(srv.addr) {
            Ok(s) => clients.push(s),
            Err(_) => {
                connect_failed = true;
                break;
            }
        }
    }
    assert!(connect_failed, "the lowered limit was never reached");
    let last = clients.pop().expect("at least one connection");
    // Free descriptors: the server's next accept retry succeeds.
    clients.truncate(clients.len() / 2);
    set_soft_nofile(old.rlim_cur);

    let mut last = last;
    last.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (h, b) = call(&mut last, &header(0, 2, 0, 0, 0, 5), b"hi");
    assert_eq!((h.status, h.id, b.as_slice()), (0, 5, &b"hi"[..]));
    let mut fresh = connect(srv.addr);
    let (h, b) = call(&mut fresh, &header(0, 1, 0, 0, 0, 6), b"x");
    assert_eq!((h.status, h.id, b.as_slice()), (0, 6, &b"x"[..]));
}
