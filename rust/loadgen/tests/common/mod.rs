//! Helpers shared by the integration tests: the built servers, in-process
//! runs, a lock so load tests do not overlap on a small machine, and a small
//! structural JSON Schema checker for schemas/loadgen.schema.json.
#![allow(dead_code)]

use rtc_common::child::{ListeningChild, SpawnOptions, spawn_listening};
use rtc_loadgen::{RunOutcome, parse_args};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bin_dir() -> PathBuf {
    std::env::var_os("RTC_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("bin"))
}

/// The built server `name` ("rust-server" or "go-server"); a missing binary
/// fails the test (never a silent pass).
pub fn server_bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `make build` first (or set RTC_BIN_DIR)",
        p.display()
    );
    p
}

pub fn start_server(name: &str, args: &[&str]) -> ListeningChild {
    let mut cmd = Command::new(server_bin(name));
    cmd.args(args);
    spawn_listening(
        cmd,
        &SpawnOptions {
            die_with_parent: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name} did not start: {e}"))
}

/// Load tests take turns: the machine is small and shared, and two spinning
/// pacers at once would only measure each other.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the generator in-process with a command line like the binary's.
pub fn run(args: &str) -> RunOutcome {
    let argv = std::iter::once("loadgen")
        .chain(args.split_whitespace())
        .chain(["--quiet"]);
    let opts = parse_args(argv).unwrap_or_else(|e| panic!("bad test args {args}: {e}"));
    rtc_loadgen::run(opts).unwrap_or_else(|e| panic!("run failed: {e:#}"))
}

pub fn schema() -> Value {
    let p = workspace_root().join("schemas/loadgen.schema.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Checks `doc` against the schema: types, required keys, enums, consts,
/// minimums, anyOf, and — stricter than JSON Schema's default — that every key
/// the document has is declared, so the schema cannot fall behind the code.
pub fn check_schema(doc: &Value) -> Vec<String> {
    let s = schema();
    let mut errs = Vec::new();
    check(&s, &s, doc, "$", true, &mut errs);
    errs
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local $ref");
            resolve(root, &root["$defs"][name])
        }
        None => schema,
    }
}

fn declared(root: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    let schema = resolve(root, schema);
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        out.extend(p.keys().cloned());
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        declared(root, sub, out);
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        other => panic!("schema type {other} not handled by the test checker"),
    }
}

fn check(
    root: &Value,
    schema: &Value,
    v: &Value,
    path: &str,
    strict: bool,
    errs: &mut Vec<String>,
) {
    let schema = resolve(root, schema);
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let fits = any.iter().any(|sub| {
            let mut e = Vec::new();
            check(root, sub, v, path, strict, &mut e);
            e.is_empty()
        });
        if !fits {
            errs.push(format!("{path}: {v} matches none of anyOf"));
        }
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(root, sub, v, path, false, errs);
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("bad type keyword"),
        };
        if !ok {
            errs.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{path}: {v} not in {e:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errs.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(x) = v.as_f64() {
        if let Some(m) = schema.get("minimum").and_then(Value::as_f64)
            && x < m
        {
            errs.push(format!("{path}: {x} < minimum {m}"));
        }
        if let Some(m) = schema.get("exclusiveMinimum").and_then(Value::as_f64)
            && x <= m
        {
            errs.push(format!("{path}: {x} <= exclusiveMinimum {m}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{path}: missing required key {r}"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            if let Some(ps) = props.and_then(|p| p.get(k)) {
                check(root, ps, val, &format!("{path}.{k}"), true, errs);
            } else if let Some(ap) = schema.get("additionalProperties") {
                check(root, ap, val, &format!("{path}.{k}"), true, errs);
            }
        }
        if strict && schema.get("additionalProperties").is_none() && props.is_some() {
            let mut known = BTreeSet::new();
            declared(root, schema, &mut known);
            for k in obj.keys().filter(|k| !known.contains(*k)) {
                errs.push(format!("{path}: key {k} is not declared in the schema"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(root, items, x, &format!("{path}[{i}]"), true, errs);
        }
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Stops `pid` with SIGSTOP after `after`, resumes it `for_` later.
pub fn stall_later(pid: u32, after: Duration, for_: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        signal(pid, libc::SIGSTOP);
        std::thread::sleep(for_);
        signal(pid, libc::SIGCONT);
    })
}

/// Share of a decoded histogram's values above `ns`.
pub fn fraction_above(h: &hdrhistogram::Histogram<u64>, ns: u64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.count_between(ns, h.max().max(ns)) as f64 / h.len() as f64
}
