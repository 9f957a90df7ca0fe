//! The JSON Schemas of `schemas/` checked against files a run writes: a
//! small validator for the keywords those schemas use (type, required,
//! properties, additionalProperties, items, $ref, anyOf, allOf, enum,
//! const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength,
//! minItems; not `pattern`). Used by the report's tests and the end-to-end
//! tests.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Checks `v` against `schema` (a part of `root`, which holds `$defs`),
/// pushing one line per violation, each starting with `path`.
pub fn check(schema: &Value, v: &Value, root: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        match root.get("$defs").and_then(|d| d.get(name)) {
            Some(s) => check(s, v, root, path, errs),
            None => errs.push(format!("{path}: unresolved $ref {r:?}")),
        }
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(s) => type_ok(s, v),
            Value::Array(a) => a.iter().filter_map(Value::as_str).any(|s| type_ok(s, v)),
            _ => true,
        };
        if !ok {
            errs.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errs.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(Value::Array(e)) = schema.get("enum")
        && !e.contains(v)
    {
        errs.push(format!("{path}: {v} not in {e:?}"));
    }
    if let Some(x) = v.as_f64() {
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        for (k, ok) in [
            ("minimum", bound("minimum").is_none_or(|b| x >= b)),
            ("maximum", bound("maximum").is_none_or(|b| x <= b)),
            (
                "exclusiveMinimum",
                bound("exclusiveMinimum").is_none_or(|b| x > b),
            ),
            (
                "exclusiveMaximum",
                bound("exclusiveMaximum").is_none_or(|b| x < b),
            ),
        ] {
            if !ok {
                errs.push(format!("{path}: {v} violates {k} {}", schema[k]));
            }
        }
    }
    if let (Some(t), Some(min)) = (v.as_str(), schema.get("minLength").and_then(Value::as_u64))
        && (t.chars().count() as u64) < min
    {
        errs.push(format!("{path}: {v} is shorter than {min}"));
    }
    if let (Some(a), Some(min)) = (v.as_array(), schema.get("minItems").and_then(Value::as_u64))
        && (a.len() as u64) < min
    {
        errs.push(format!("{path}: {} items, fewer than {min}", a.len()));
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for s in all {
            check(s, v, root, path, errs);
        }
    }
    if let Some(Value::Array(any)) = schema.get("anyOf") {
        let ok = any.iter().any(|s| {
            let mut e = Vec::new();
            check(s, v, root, path, &mut e);
            e.is_empty()
        });
        if !ok {
            errs.push(format!("{path}: matches none of anyOf"));
        }
    }
    if let Value::Object(obj) = v {
        for k in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !obj.contains_key(k) {
                errs.push(format!("{path}: required key {k:?} missing"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, x, root, &format!("{path}.{k}"), errs),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{path}: key {k:?} is not in the schema"))
                    }
                    Some(ap @ Value::Object(_)) => check(ap, x, root, &format!("{path}.{k}"), errs),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(a), Some(items)) = (v, schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            check(items, x, root, &format!("{path}[{i}]"), errs);
        }
    }
}

/// `schemas/` of the repository this crate was built from.
pub fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("schemas")
}

fn read_json(p: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", p.display()))
}

/// A schema file of `schemas/` by name, e.g. `meta.schema.json`.
pub fn schema(name: &str) -> Result<Value, String> {
    read_json(&schemas_dir().join(name))
}

/// Checks one file against one schema of `schemas/`; the errors name the file.
pub fn check_file(file: &Path, schema_name: &str) -> Vec<String> {
    let label = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    match (schema(schema_name), read_json(file)) {
        (Ok(s), Ok(v)) => {
            let mut errs = Vec::new();
            check(&s, &v, &s, &label, &mut errs);
            errs
        }
        (Err(e), _) | (_, Err(e)) => vec![e],
    }
}

/// Checks a run directory's meta.json, summary.json, every trial file and
/// every census file and the telemetry each trial refers to.
pub fn check_run(dir: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    for (file, sch) in [
        ("meta.json", "meta.schema.json"),
        ("summary.json", "summary.schema.json"),
    ] {
        errs.extend(check_file(&dir.join(file), sch));
    }
    let trials = dir.join("trials");
    match std::fs::read_dir(&trials) {
        Ok(entries) => {
            let mut paths: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            paths.sort();
            if paths.is_empty() {
                errs.push(format!("{}: no trial files", trials.display()));
            }
            for p in paths {
                errs.extend(check_file(&p, "trial.schema.json"));
                errs.extend(check_telemetry(dir, &p));
            }
        }
        Err(e) => errs.push(format!("{}: {e}", trials.display())),
    }
    // Census files, where the profile asked for a census.
    for p in crate::run::results::json_files(&dir.join(crate::run::census::record::DIR)) {
        errs.extend(check_file(&p, "census.schema.json"));
    }
    errs
}

/// The telemetry file a trial refers to (`telemetry.file`): it exists,
/// and every line follows schemas/telemetry.schema.json.
fn check_telemetry(dir: &Path, trial: &Path) -> Vec<String> {
    let Ok(v) = read_json(trial) else {
        return Vec::new(); // check_file reported it
    };
    let Some(file) = v.pointer("/telemetry/file").and_then(Value::as_str) else {
        return Vec::new();
    };
    let path = dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: {e}", path.display())],
    };
    let s = match schema("telemetry.schema.json") {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut errs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", i + 1);
        match serde_json::from_str::<Value>(line) {
            Ok(l) => check(&s, &l, &s, &at, &mut errs),
            Err(e) => errs.push(format!("{at}: not JSON: {e}")),
        }
    }
    errs
}

/// The documents the trial files of a real run carry verbatim: each load
/// generator's (`schemas/loadgen.schema.json`) and a microbenchmark
/// program's (`schemas/micro.schema.json`; the harness's own C12 document
/// has none). Not for synthetic fixtures, whose documents hold only what
/// the report reads.
pub fn check_documents(dir: &Path) -> Vec<String> {
    crate::run::results::json_files(&dir.join("trials"))
        .iter()
        .flat_map(|p| check_embedded(p))
        .collect()
}

fn check_embedded(trial: &Path) -> Vec<String> {
    let Ok(v) = read_json(trial) else {
        return Vec::new(); // check_file reported it
    };
    let name = trial
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut errs = Vec::new();
    let mut against = |schema_name: &str, doc: &Value, path: String| match schema(schema_name) {
        Ok(s) => check(&s, doc, &s, &path, &mut errs),
        Err(e) => errs.push(e),
    };
    for (i, c) in v
        .get("clients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(doc) = c.get("document").filter(|d| !d.is_null()) {
            against(
                "loadgen.schema.json",
                doc,
                format!("{name}.clients[{i}].document"),
            );
        }
    }
    if let Some(doc) = v.get("micro_document")
        && doc.get("bench").and_then(Value::as_str) != Some("c12")
    {
        against("micro.schema.json", doc, format!("{name}.micro_document"));
    }
    errs
}
