//! `--mix` request classes for the `work` workload, e.g.
//! `light:weight=99,size=64;heavy:weight=1,size=64,cpu=20000`.
//!
//! Each class gets its own connections and histograms, so a light request
//! never waits behind a heavy one *on the client side*: any interference the
//! histograms show happened in the server.

use rtc_common::protocol::{self, IoKind};

/// Keys a class may set, in the order the error message lists them.
pub const KEYS: &str = "weight,size,cpu,io,io_arg,io_offset,conns";

#[derive(Debug, Clone, PartialEq)]
pub struct ClassSpec {
    pub name: String,
    /// Share of the offered rate (relative to the other classes' weights).
    pub weight: f64,
    /// Payload bytes per request (echo: the bytes echoed).
    pub size: u32,
    /// SHA-256 rounds (0: the body is payload ‖ file bytes).
    pub cpu: u32,
    pub io: IoKind,
    /// sleep/block: microseconds; file: bytes read.
    pub io_arg: u32,
    /// file: a fixed offset; `None` spreads offsets over `--data-size`.
    pub io_offset: Option<u32>,
    /// Connections for this class (default: `--conns`).
    pub conns: Option<usize>,
}

impl ClassSpec {
    /// The single class of the echo workload.
    pub fn echo(size: u32) -> ClassSpec {
        ClassSpec {
            name: "echo".into(),
            weight: 1.0,
            size,
            cpu: 0,
            io: IoKind::None,
            io_arg: 0,
            io_offset: None,
            conns: None,
        }
    }

    /// Body length a correct server returns (status 0).
    pub fn expected_body_len(&self) -> u32 {
        if self.cpu > 0 {
            32
        } else {
            self.size + self.file_len()
        }
    }

    /// Bytes read from the data file per request (0 unless io=file).
    pub fn file_len(&self) -> u32 {
        if self.io == IoKind::File {
            self.io_arg
        } else {
            0
        }
    }
}

pub fn io_name(io: IoKind) -> &'static str {
    match io {
        IoKind::None => "none",
        IoKind::Sleep => "sleep",
        IoKind::Block => "block",
        IoKind::File => "file",
    }
}

/// Parses a mix; errors name the class and the bad part.
pub fn parse_mix(spec: &str) -> Result<Vec<ClassSpec>, String> {
    let mut classes: Vec<ClassSpec> = Vec::new();
    for (i, part) in spec
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let class = parse_class(part).map_err(|e| format!("class {} {part:?}: {e}", i + 1))?;
        if classes.iter().any(|c| c.name == class.name) {
            return Err(format!("class name {:?} appears twice", class.name));
        }
        classes.push(class);
    }
    if classes.is_empty() {
        return Err("empty mix: give at least one class, e.g. light:weight=1,size=64".into());
    }
    // Each weight is finite and positive, but their sum can still overflow,
    // and every class's share (weight / sum) would then be 0 or NaN.
    let sum: f64 = classes.iter().map(|c| c.weight).sum();
    if !sum.is_finite() {
        return Err(format!(
            "class weights sum to infinity ({sum}); weights are relative, use smaller ones"
        ));
    }
    Ok(classes)
}

fn parse_class(part: &str) -> Result<ClassSpec, String> {
    let (name, kvs) = part.split_once(':').unwrap_or((part, ""));
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "bad class name {name:?} (letters, digits, '_' and '-' only)"
        ));
    }
    let mut c = ClassSpec {
        name: name.to_string(),
        weight: 1.0,
        size: 64,
        cpu: 0,
        io: IoKind::None,
        io_arg: 0,
        io_offset: None,
        conns: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut io_arg_set = false;
    for kv in kvs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(format!("{kv:?} is not key=value (keys: {KEYS})"));
        };
        let (k, v) = (k.trim(), v.trim());
        if seen.contains(&k) {
            return Err(format!("key {k:?} given twice"));
        }
        seen.push(k);
        let num = |max: u64| -> Result<u64, String> {
            let n: u64 = v
                .parse()
                .map_err(|_| format!("{k}={v:?} is not a whole number"))?;
            if n > max {
                return Err(format!("{k}={n} is over its limit {max}"));
            }
            Ok(n)
        };
        match k {
            "weight" => {
                let w: f64 = v
                    .parse()
                    .map_err(|_| format!("weight={v:?} is not a number"))?;
                if !(w.is_finite() && w > 0.0) {
                    return Err(format!("weight={v} must be a positive number"));
                }
                c.weight = w;
            }
            "size" => c.size = num(protocol::MAX_PAYLOAD_BYTES as u64)? as u32,
            "cpu" => c.cpu = num(protocol::MAX_CPU_ROUNDS as u64)? as u32,
            "io" => {
                c.io = match v {
                    "none" => IoKind::None,
                    "sleep" => IoKind::Sleep,
                    "block" => IoKind::Block,
                    "file" => IoKind::File,
                    _ => return Err(format!("io={v:?} is not one of none, sleep, block, file")),
                }
            }
            "io_arg" => {
                c.io_arg = num(u32::MAX as u64)? as u32;
                io_arg_set = true;
            }
            "io_offset" => {
                c.io_offset = match v {
                    "spread" => None,
                    _ => Some(num(u32::MAX as u64)? as u32),
                }
            }
            "conns" => {
                let n = num(1_000_000)? as usize;
                if n == 0 {
                    return Err("conns=0: a class needs at least one connection".into());
                }
                c.conns = Some(n);
            }
            _ => return Err(format!("unknown key {k:?} (keys: {KEYS})")),
        }
    }
    match c.io {
        IoKind::None if io_arg_set => {
            return Err("io_arg needs io=sleep, block or file".into());
        }
        IoKind::Sleep | IoKind::Block if c.io_arg > protocol::MAX_WAIT_US => {
            return Err(format!(
                "io_arg={} µs is over the protocol limit {}",
                c.io_arg,
                protocol::MAX_WAIT_US
            ));
        }
        IoKind::File if c.io_arg > protocol::MAX_FILE_BYTES => {
            return Err(format!(
                "io_arg={} bytes is over the protocol limit {}",
                c.io_arg,
                protocol::MAX_FILE_BYTES
            ));
        }
        _ => {}
    }
    if c.io_offset.is_some() && c.io != IoKind::File {
        return Err("io_offset needs io=file".into());
    }
    Ok(c)
}

/// Checks file classes against the data file size the server was given.
pub fn check_data_size(classes: &[ClassSpec], data_size: u64) -> Result<(), String> {
    for c in classes.iter().filter(|c| c.io == IoKind::File) {
        let end = c.io_offset.unwrap_or(0) as u64 + c.io_arg as u64;
        if end > data_size {
            return Err(format!(
                "class {:?} reads up to byte {end}, past --data-size {data_size}",
                c.name
            ));
        }
        if c.io_offset.is_none() && data_size - c.io_arg as u64 > u32::MAX as u64 {
            return Err(format!(
                "--data-size {data_size} is too large for the protocol's 32-bit io_offset"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_example() {
        let m = parse_mix("light:weight=99,size=64;heavy:weight=1,size=64,cpu=20000").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "light");
        assert_eq!(m[0].weight, 99.0);
        assert_eq!(m[0].cpu, 0);
        assert_eq!(m[1].cpu, 20000);
        assert_eq!(m[1].expected_body_len(), 32);
        assert_eq!(m[0].expected_body_len(), 64);
    }

    #[test]
    fn parses_io_keys_and_defaults() {
        let m = parse_mix(
            " f:io=file,io_arg=4096,size=8 ; s:io=sleep,io_arg=100 ; z:io_offset=7,io=file,io_arg=1;d ;",
        )
        .unwrap();
        assert_eq!(m[0].io, IoKind::File);
        assert_eq!(m[0].io_offset, None);
        assert_eq!(m[0].expected_body_len(), 8 + 4096);
        assert_eq!(m[1].io, IoKind::Sleep);
        assert_eq!(m[1].expected_body_len(), 64);
        assert_eq!(m[2].io_offset, Some(7));
        assert_eq!(m[3].name, "d");
        assert_eq!(m[3].weight, 1.0);
        assert_eq!(m[3].size, 64);
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases = [
            ("light:weight=1;heavy:cpux=3", "unknown key \"cpux\""),
            ("a:weight=0", "weight=0"),
            ("a:weight=x", "weight=\"x\""),
            ("a:size=1048577", "size=1048577 is over"),
            ("a:cpu=-1", "cpu=\"-1\""),
            ("a:io=disk", "io=\"disk\""),
            ("a:io_arg=5", "io_arg needs io="),
            ("a:io=sleep,io_arg=10000001", "over the protocol limit"),
            ("a:io_offset=3", "io_offset needs io=file"),
            ("a:size", "not key=value"),
            ("a b:size=1", "bad class name"),
            ("a:size=1;a:size=2", "appears twice"),
            ("a:size=1,size=2", "given twice"),
            (";;", "empty mix"),
            ("a:weight=inf", "weight=inf must be a positive number"),
            ("a:weight=NaN", "weight=NaN must be a positive number"),
            ("a:weight=-1", "weight=-1 must be"),
            ("a:weight=1e309", "weight=1e309 must be"),
            (
                "a:weight=1.7e308;b:weight=1.7e308",
                "class weights sum to infinity",
            ),
        ];
        for (spec, want) in cases {
            let e = parse_mix(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
            assert!(!e.contains('\n'));
        }
        assert!(
            parse_mix("light:weight=1;heavy:cpux=3")
                .unwrap_err()
                .starts_with("class 2 \"heavy:cpux=3\"")
        );
    }

    #[test]
    fn data_size_bounds_file_classes() {
        let m = parse_mix("f:io=file,io_arg=100,io_offset=900").unwrap();
        assert!(check_data_size(&m, 1000).is_ok());
        assert!(
            check_data_size(&m, 999)
                .unwrap_err()
                .contains("past --data-size")
        );
        let m = parse_mix("f:io=file,io_arg=100").unwrap();
        assert!(check_data_size(&m, 50).is_err());
    }
}
