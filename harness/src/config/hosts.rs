//! `hosts.toml`: where a run across machines puts the server and the load
//! generators, and how the harness reaches each host. Parsed and validated
//! in full before anything is contacted; every problem is one line naming
//! the file, the host and the key.
//!
//! ```toml
//! [defaults]                 # optional
//! bin_dir = "/opt/rtc/bin"   # the binaries on every host (default: the controller's bin dir)
//! work_dir = "/tmp"          # scratch on every host (load-generator files, the data file)
//! start_lead_s = 2.0         # generators start together this long after they are launched
//! ssh_options = ["ControlMaster=auto"]   # `-o` options added to every ssh and scp
//!
//! [server]
//! ssh = "bench-server"       # an ssh destination (user@host or a ~/.ssh/config alias) ...
//! address = "10.0.0.2"       # the server listens here; the generators connect here
//! cpus = "0-15"              # optional: the CPUs the harness may use on this host
//!
//! [[generator]]
//! ssh = "bench-client-1"
//! weight = 1.0               # optional: share of the connections (and of the rate)
//! ```
//!
//! A host is reached by exactly one of `ssh = "DEST"` (the system's OpenSSH
//! client, the user's keys and config, BatchMode), `netns = "NAME"` (a
//! network namespace on this machine: the tests' hosts) or `local = true`.

use crate::config::profile::one_line;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{file}: {context}: {message}")]
pub struct HostsError {
    pub file: String,
    pub context: String,
    pub message: String,
}

/// How the harness reaches a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// `ssh DEST ...`
    Ssh(String),
    /// `ip netns exec NAME ...`
    Netns(String),
    /// This machine, as it is.
    Local,
}

impl Reach {
    pub fn kind(&self) -> &'static str {
        match self {
            Reach::Ssh(_) => "ssh",
            Reach::Netns(_) => "netns",
            Reach::Local => "local",
        }
    }
    /// The ssh destination or namespace name ("local" for this machine).
    pub fn destination(&self) -> &str {
        match self {
            Reach::Ssh(d) | Reach::Netns(d) => d,
            Reach::Local => "local",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// A label for messages and records: `name`, else the destination.
    pub name: String,
    pub reach: Reach,
    /// Where the binaries are on this host.
    pub bin_dir: PathBuf,
    /// Scratch folder on this host.
    pub work_dir: PathBuf,
    /// The CPUs the harness may use there (None: all it is allowed).
    pub cpus: Option<Vec<usize>>,
    /// Generators: the relative share of connections and rate.
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hosts {
    pub path: PathBuf,
    pub server: Host,
    /// The address the server listens on and the generators connect to.
    pub address: IpAddr,
    pub generators: Vec<Host>,
    pub start_lead_s: f64,
    /// `-o` options (Key=value) for every ssh and scp.
    pub ssh_options: Vec<String>,
}

impl Hosts {
    /// Every host, the server first.
    pub fn all(&self) -> impl Iterator<Item = &Host> {
        std::iter::once(&self.server).chain(&self.generators)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawDefaults,
    server: toml::Value,
    #[serde(rename = "generator", default)]
    generators: Vec<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    bin_dir: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    start_lead_s: Option<f64>,
    #[serde(default)]
    ssh_options: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Option<String>,
    ssh: Option<String>,
    netns: Option<String>,
    local: Option<bool>,
    bin_dir: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    cpus: Option<String>,
    /// Server only.
    address: Option<String>,
    /// Generators only.
    weight: Option<f64>,
}

/// The longest lead a generator accepts (`loadgen --start-at` refuses more
/// than 60 s ahead).
pub const MAX_START_LEAD_S: f64 = 50.0;

pub fn load(path: &Path, controller_bin_dir: &Path) -> Result<Hosts, HostsError> {
    let text = std::fs::read_to_string(path).map_err(|e| HostsError {
        file: path.display().to_string(),
        context: "hosts file".into(),
        message: format!("cannot read it: {e}"),
    })?;
    parse(path, &text, controller_bin_dir)
}

pub fn parse(path: &Path, text: &str, controller_bin_dir: &Path) -> Result<Hosts, HostsError> {
    let err = |context: &str, message: String| HostsError {
        file: path.display().to_string(),
        context: context.into(),
        message: one_line(&message),
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| err("hosts file", e.to_string()))?;
    let d = raw.defaults;
    let start_lead_s = d.start_lead_s.unwrap_or(2.0);
    if !(start_lead_s > 0.0 && start_lead_s <= MAX_START_LEAD_S) {
        return Err(err(
            "[defaults]",
            format!("key 'start_lead_s': {start_lead_s} is not in (0, {MAX_START_LEAD_S}] seconds"),
        ));
    }
    for (key, dir) in [("bin_dir", &d.bin_dir), ("work_dir", &d.work_dir)] {
        if let Some(p) = dir {
            absolute(p).map_err(|m| err("[defaults]", format!("key '{key}': {m}")))?;
        }
    }
    let bin_dir = d
        .bin_dir
        .clone()
        .unwrap_or_else(|| controller_bin_dir.to_path_buf());
    let work_dir = d.work_dir.clone().unwrap_or_else(|| PathBuf::from("/tmp"));
    let host = |context: &str,
                v: toml::Value,
                server: bool|
     -> Result<(Host, Option<IpAddr>), HostsError> {
        if !v.is_table() {
            return Err(err(
                context,
                "must be a table of keys (ssh = ..., address = ...)".into(),
            ));
        }
        let r: RawHost = v
            .try_into()
            .map_err(|e: toml::de::Error| err(context, e.to_string()))?;
        host_of(r, server, &bin_dir, &work_dir).map_err(|m| err(context, m))
    };
    let (server, address) = host("[server]", raw.server, true)?;
    let address = address.expect("host_of requires the server's address");
    if raw.generators.is_empty() {
        return Err(err(
            "hosts file",
            "no [[generator]]: name at least one load-generator host".into(),
        ));
    }
    let mut generators: Vec<Host> = Vec::new();
    for (i, v) in raw.generators.into_iter().enumerate() {
        let context = format!("[[generator]] #{}", i + 1);
        let (g, _) = host(&context, v, false)?;
        if g.reach == server.reach {
            return Err(err(
                &context,
                format!(
                    "{} {:?} is the server's host: a generator needs a machine of its own (for one machine, run without --hosts)",
                    g.reach.kind(),
                    g.reach.destination()
                ),
            ));
        }
        if let Some(other) = generators
            .iter()
            .find(|o| o.reach == g.reach || o.name == g.name)
        {
            return Err(err(
                &context,
                format!("the same host as generator {:?}", other.name),
            ));
        }
        generators.push(g);
    }
    for o in &d.ssh_options {
        let ok = o
            .split_once('=')
            .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
            && !o.contains('\n');
        if !ok {
            return Err(err(
                "[defaults]",
                format!("key 'ssh_options': {o:?} is not an ssh `-o` option (Key=value)"),
            ));
        }
    }
    Ok(Hosts {
        path: path.to_path_buf(),
        server,
        address,
        generators,
        start_lead_s,
        ssh_options: d.ssh_options,
    })
}

fn absolute(p: &Path) -> Result<(), String> {
    if p.is_absolute() {
        Ok(())
    } else {
        Err(format!("{} is not an absolute path", p.display()))
    }
}

fn host_of(
    r: RawHost,
    server: bool,
    bin_dir: &Path,
    work_dir: &Path,
) -> Result<(Host, Option<IpAddr>), String> {
    let reach = match (r.ssh, r.netns, r.local) {
        (Some(d), None, None | Some(false)) => {
            // A destination that starts with '-' would be read as an option.
            if d.is_empty() || d.starts_with('-') || d.chars().any(char::is_whitespace) {
                return Err(format!("key 'ssh': {d:?} is not an ssh destination"));
            }
            Reach::Ssh(d)
        }
        (None, Some(n), None | Some(false)) => {
            let ok = !n.is_empty()
                && n.len() <= 64
                && !n.starts_with('.')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(format!(
                    "key 'netns': {n:?} is not a namespace name (letters, digits, - _ .)"
                ));
            }
            Reach::Netns(n)
        }
        (None, None, Some(true)) => Reach::Local,
        _ => {
            return Err(
                "give exactly one of ssh = \"DEST\", netns = \"NAME\" or local = true".into(),
            );
        }
    };
    let name = match r.name {
        Some(n) => {
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(format!(
                    "key 'name': {n:?} must be letters, digits, - _ . (it names files)"
                ));
            }
            n
        }
        // '@' and ':' of a destination are kept out of file names.
        None => reach
            .destination()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    };
    for (key, dir) in [("bin_dir", &r.bin_dir), ("work_dir", &r.work_dir)] {
        if let Some(p) = dir {
            absolute(p).map_err(|m| format!("key '{key}': {m}"))?;
        }
    }
    let cpus = match &r.cpus {
        Some(s) => Some(
            rtc_common::affinity::parse_cpu_list(s)
                .map_err(|e| format!("key 'cpus': {s:?}: {e}"))?,
        ),
        None => None,
    };
    let address = match (server, &r.address) {
        (true, Some(a)) => {
            let ip: IpAddr = a
                .parse()
                .map_err(|_| format!("key 'address': {a:?} is not an IP address"))?;
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(format!(
                    "key 'address': {a}: the generators must be able to connect to it (a unicast address of the server host)"
                ));
            }
            Some(ip)
        }
        (true, None) => {
            return Err(
                "key 'address' is missing: the server host's IP address the generators connect to"
                    .into(),
            );
        }
        (false, Some(_)) => {
            return Err("key 'address' belongs to [server]".into());
        }
        (false, None) => None,
    };
    let weight = match (server, r.weight) {
        (true, Some(_)) => return Err("key 'weight' belongs to a [[generator]]".into()),
        (_, Some(w)) if !(w.is_finite() && w > 0.0) => {
            return Err(format!("key 'weight': {w} is not a positive number"));
        }
        (_, w) => w.unwrap_or(1.0),
    };
    Ok((
        Host {
            name,
            reach,
            bin_dir: r.bin_dir.unwrap_or_else(|| bin_dir.to_path_buf()),
            work_dir: r.work_dir.unwrap_or_else(|| work_dir.to_path_buf()),
            cpus,
            weight,
        },
        address,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Hosts, String> {
        parse(Path::new("h.toml"), text, Path::new("/repo/bin")).map_err(|e| e.to_string())
    }

    const TWO: &str = r#"
[defaults]
work_dir = "/var/tmp"
ssh_options = ["ControlMaster=auto"]

[server]
ssh = "me@bench-server"
address = "10.0.0.2"
cpus = "0-7"

[[generator]]
ssh = "bench-client-1"
bin_dir = "/opt/rtc/bin"

[[generator]]
name = "gen2"
netns = "rtc-gen2"
weight = 3
"#;

    #[test]
    fn a_worked_file_reads_back_with_its_defaults() {
        let h = parse_str(TWO).unwrap();
        assert_eq!(h.server.reach, Reach::Ssh("me@bench-server".into()));
        assert_eq!(h.server.name, "me_bench-server");
        assert_eq!(h.address, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(h.server.cpus, Some((0..8).collect()));
        assert_eq!(h.server.bin_dir, Path::new("/repo/bin"));
        assert_eq!(h.server.work_dir, Path::new("/var/tmp"));
        assert_eq!(h.generators.len(), 2);
        assert_eq!(h.generators[0].bin_dir, Path::new("/opt/rtc/bin"));
        assert_eq!(h.generators[0].weight, 1.0);
        assert_eq!(h.generators[1].reach, Reach::Netns("rtc-gen2".into()));
        assert_eq!(h.generators[1].name, "gen2");
        assert_eq!(h.generators[1].weight, 3.0);
        assert_eq!(h.start_lead_s, 2.0);
        assert_eq!(h.ssh_options, ["ControlMaster=auto"]);
        assert_eq!(
            h.all().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["me_bench-server", "bench-client-1", "gen2"]
        );
    }

    #[test]
    fn every_mistake_is_one_line_naming_host_and_key() {
        let server = "[server]\nssh = \"s\"\naddress = \"10.0.0.2\"\n";
        let cases: &[(&str, &str)] = &[
            (
                "[server]\nssh = \"s\"\n[[generator]]\nssh = \"g\"\n",
                "key 'address' is missing",
            ),
            (server, "no [[generator]]"),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\nnetns = \"n\"\n"),
                "exactly one of",
            ),
            (
                &format!("{server}[[generator]]\nweight = 1\n"),
                "exactly one of",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"-oProxyCommand=x\"\n"),
                "not an ssh destination",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"a b\"\n"),
                "not an ssh destination",
            ),
            (
                &format!("{server}[[generator]]\nnetns = \"../x\"\n"),
                "not a namespace name",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"s\"\n"),
                "is the server's host",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\n[[generator]]\nssh = \"g\"\n"),
                "[[generator]] #2: the same host",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\nweight = 0\n"),
                "not a positive number",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\naddress = \"10.0.0.3\"\n"),
                "belongs to [server]",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\ncpus = \"x\"\n"),
                "key 'cpus'",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\nport = 1\n"),
                "unknown field `port`",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\nbin_dir = \"bin\"\n"),
                "not an absolute path",
            ),
            (
                &format!("{server}[[generator]]\nssh = \"g\"\nname = \"a/b\"\n"),
                "key 'name'",
            ),
            (
                "[server]\nssh = \"s\"\naddress = \"0.0.0.0\"\n[[generator]]\nssh = \"g\"\n",
                "must be able to connect",
            ),
            (
                "[server]\nssh = \"s\"\naddress = \"bench\"\n[[generator]]\nssh = \"g\"\n",
                "not an IP address",
            ),
            (
                &format!("[defaults]\nstart_lead_s = 90\n{server}[[generator]]\nssh = \"g\"\n"),
                "start_lead_s",
            ),
            (
                &format!("[defaults]\nbin_dir = \"x\"\n{server}[[generator]]\nssh = \"g\"\n"),
                "[defaults]: key 'bin_dir'",
            ),
            ("server = 3\n", "[server]: must be a table"),
            (
                &format!(
                    "[defaults]\nssh_options = [\"-p\", \"22\"]\n{server}[[generator]]\nssh = \"g\"\n"
                ),
                "not an ssh `-o` option",
            ),
            (
                "[server]\nssh = \"s\"\naddress = \"10.0.0.2\"\ngenerator = 1\n",
                "[server]: unknown field `generator`",
            ),
        ];
        for (text, want) in cases {
            let e = parse_str(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e:?} does not say {want:?}");
            assert!(e.starts_with("h.toml: "), "{e}");
            assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn local_hosts_and_namespaces_are_hosts_too() {
        let h = parse_str(
            "[server]\nlocal = true\naddress = \"127.0.0.1\"\n[[generator]]\nnetns = \"g1\"\n",
        )
        .unwrap();
        assert_eq!(h.server.reach, Reach::Local);
        assert_eq!(h.server.name, "local");
        assert_eq!(h.generators[0].name, "g1");
        assert!(
            parse_str(
                "[server]\nlocal = true\naddress = \"127.0.0.1\"\n[[generator]]\nlocal = true\n"
            )
            .unwrap_err()
            .contains("is the server's host")
        );
    }
}
