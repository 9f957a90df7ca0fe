//! CPU sets: parsing `Cpus_allowed_list`-style strings ("0-1,4") and pinning
//! the current thread or a child process, so the server and the load
//! generator run on disjoint CPUs.

use std::io;

/// Parses "0-3,6,8-9" into a sorted, de-duplicated list of CPU ids. Every
/// id is checked against CPU_SETSIZE before a range is expanded, so a range
/// like "0-100000000000" is refused at once instead of allocating.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    const LIMIT: usize = libc::CPU_SETSIZE as usize;
    let mut present = [false; LIMIT];
    let mut any = false;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |x: &str| {
            let cpu = x
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU number {x:?} in CPU list {s:?}"))?;
            if cpu >= LIMIT {
                return Err(format!(
                    "CPU {cpu} in CPU list {s:?} is beyond what the kernel interface allows (at most {})",
                    LIMIT - 1
                ));
            }
            Ok(cpu)
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse(a)?, parse(b)?);
                if a > b {
                    return Err(format!("bad CPU range {part:?} in CPU list {s:?}"));
                }
                (a, b)
            }
            None => {
                let a = parse(part)?;
                (a, a)
            }
        };
        present[a..=b].iter_mut().for_each(|p| *p = true);
        any = true;
    }
    if !any {
        return Err(format!("empty CPU list {s:?}"));
    }
    Ok((0..LIMIT).filter(|&c| present[c]).collect())
}

/// Formats a CPU list compactly ("0-3,6").
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

fn to_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it,
    // and parse_cpu_list bounds every id below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    }
}

/// Pins the calling thread (pid 0 = this thread) to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    let set = to_set(cpus);
    // SAFETY: a valid cpu_set_t of the size we pass.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: sched_getaffinity fills the set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5, 7").unwrap(), vec![0, 1, 2, 5, 7]);
        assert_eq!(parse_cpu_list("3,1,1").unwrap(), vec![1, 3]);
        assert!(parse_cpu_list("2-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("99999").is_err());
        assert_eq!(parse_cpu_list("1023").unwrap(), vec![1023]);
        assert_eq!(parse_cpu_list("1020-1023").unwrap().len(), 4);
        // Checked before expanding: no allocation of a hundred billion ids.
        for huge in ["0-100000000000", "0-18446744073709551615", "1024", "5-1024"] {
            let e = parse_cpu_list(huge).unwrap_err();
            assert!(e.contains("beyond what the kernel interface allows"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(
            parse_cpu_list("0-18446744073709551616")
                .unwrap_err()
                .contains("bad CPU number")
        );
        assert_eq!(format_cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_cpu_list(&[4]), "4");
    }

    #[test]
    fn allowed_cpus_is_not_empty_and_pinning_to_it_works() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        // Pin a scratch thread so the test runner's threads are untouched.
        std::thread::spawn(move || {
            pin_current_thread(&cpus[..1]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![cpus[0]]);
        })
        .join()
        .unwrap();
    }
}
