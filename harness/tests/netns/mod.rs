//! Network namespaces as test hosts: a server namespace and one or more
//! generator namespaces, each joined to the server's by a veth pair.
//! Addresses come from 198.18.0.0/15 (reserved for benchmarking) and exist
//! only inside the namespaces made here; no namespace has a route out. The
//! guard removes every namespace it made when dropped — also when the test
//! fails — after ending any process still inside.
//!
//! ```text
//!   server ns: lo 198.18.0.1/32 (the server's address)
//!              s<k> 198.18.<k>.1/30  <-- veth -->  g<k> 198.18.<k>.2/30 : generator ns k
//!   generator ns k: route 198.18.0.1/32 via 198.18.<k>.1
//! ```

#![allow(dead_code)]

use std::process::Command;

pub const SERVER_ADDRESS: &str = "198.18.0.1";

pub struct Namespaces {
    pub server: String,
    pub generators: Vec<String>,
    /// The server side of each link (where a netem delay goes).
    pub server_links: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut v = vec!["netns", "exec", ns];
    v.extend(args);
    ip(&v)
}

/// Why these tests cannot run here, if they cannot: not root, or no ip(8)
/// with namespace support.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns` does not work here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no ip(8) (Debian: iproute2): {e}")),
    }
}

impl Namespaces {
    /// A server namespace and `generators` generator namespaces, names
    /// starting with `tag` (short: interface names are at most 15 bytes).
    pub fn create(tag: &str, generators: usize) -> Result<Namespaces, String> {
        let mut me = Namespaces {
            server: format!("{tag}s"),
            generators: Vec::new(),
            server_links: Vec::new(),
        };
        // From here on a failure drops `me`, which removes what was made.
        ip(&["netns", "add", &me.server])?;
        in_ns(&me.server, &["ip", "link", "set", "lo", "up"])?;
        in_ns(
            &me.server,
            &[
                "ip",
                "addr",
                "add",
                &format!("{SERVER_ADDRESS}/32"),
                "dev",
                "lo",
            ],
        )?;
        for k in 1..=generators {
            let g = format!("{tag}g{k}");
            ip(&["netns", "add", &g])?;
            me.generators.push(g.clone());
            let (s_if, g_if) = (format!("{tag}s{k}"), format!("{tag}g{k}"));
            ip(&[
                "link", "add", &s_if, "netns", &me.server, "type", "veth", "peer", "name", &g_if,
                "netns", &g,
            ])?;
            me.server_links.push(s_if.clone());
            let (s_addr, g_addr) = (format!("198.18.{k}.1"), format!("198.18.{k}.2"));
            in_ns(
                &me.server,
                &["ip", "addr", "add", &format!("{s_addr}/30"), "dev", &s_if],
            )?;
            in_ns(&me.server, &["ip", "link", "set", &s_if, "up"])?;
            in_ns(&g, &["ip", "link", "set", "lo", "up"])?;
            in_ns(
                &g,
                &["ip", "addr", "add", &format!("{g_addr}/30"), "dev", &g_if],
            )?;
            in_ns(&g, &["ip", "link", "set", &g_if, "up"])?;
            in_ns(
                &g,
                &[
                    "ip",
                    "route",
                    "add",
                    &format!("{SERVER_ADDRESS}/32"),
                    "via",
                    &s_addr,
                ],
            )?;
        }
        Ok(me)
    }

    pub fn all(&self) -> Vec<&String> {
        std::iter::once(&self.server)
            .chain(&self.generators)
            .collect()
    }

    /// Adds a `delay` (e.g. "1ms") netem qdisc on the server's side of
    /// every link; Err with the kernel's answer where there is no netem.
    pub fn netem(&self, delay: &str) -> Result<(), String> {
        for l in &self.server_links {
            in_ns(
                &self.server,
                &[
                    "tc", "qdisc", "add", "dev", l, "root", "netem", "delay", delay,
                ],
            )?;
        }
        Ok(())
    }

    /// Processes inside a namespace.
    pub fn pids(ns: &str) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn exists(ns: &str) -> bool {
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(ns))
            })
            .unwrap_or(false)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.all().into_iter().cloned().collect::<Vec<_>>() {
            for pid in Namespaces::pids(&ns) {
                // SAFETY: a process inside a namespace this guard made.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}
