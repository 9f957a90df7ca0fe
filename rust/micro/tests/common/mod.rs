//! Helpers for rust-micro's integration tests: a JSON Schema validator for
//! exactly the draft 2020-12 keywords schemas/micro.schema.json uses (an
//! unknown keyword fails the test, so the schema cannot outgrow the check),
//! and document checks shared by the tests.

#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/micro.schema.json")
}

pub fn load_schema() -> Value {
    let text = std::fs::read_to_string(schema_path()).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// Every violation of `schema` by `doc`, as "path: problem" lines.
pub fn validate(schema: &Value, doc: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    check(schema, schema, doc, "$", &mut errs);
    errs
}

/// Violations of the schema's `$defs/name` (refs resolve against the whole schema).
pub fn validate_def(schema: &Value, name: &str, doc: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    check(schema, &schema["$defs"][name], doc, "$", &mut errs);
    errs
}

fn resolve<'a>(root: &'a Value, r: &str) -> &'a Value {
    let name = r
        .strip_prefix("#/$defs/")
        .unwrap_or_else(|| panic!("unsupported $ref {r}"));
    &root["$defs"][name]
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}

fn check(root: &Value, s: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(b) = s.as_bool() {
        if !b {
            errs.push(format!("{path}: not allowed"));
        }
        return;
    }
    let s = s.as_object().expect("schema is an object");
    for (k, kv) in s {
        match k.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" | "then" | "else" => {}
            "$ref" => check(root, resolve(root, kv.as_str().unwrap()), v, path, errs),
            "type" => {
                let ok = match kv {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
                    _ => panic!("bad type keyword"),
                };
                if !ok {
                    errs.push(format!("{path}: {v} is not of type {kv}"));
                }
            }
            "const" => {
                if v != kv {
                    errs.push(format!("{path}: {v} is not {kv}"));
                }
            }
            "enum" => {
                if !kv.as_array().unwrap().contains(v) {
                    errs.push(format!("{path}: {v} not in {kv}"));
                }
            }
            "minimum" => {
                if let Some(x) = v.as_f64()
                    && x < kv.as_f64().unwrap()
                {
                    errs.push(format!("{path}: {x} < {kv}"));
                }
            }
            "minLength" => {
                if let Some(x) = v.as_str()
                    && (x.chars().count() as u64) < kv.as_u64().unwrap()
                {
                    errs.push(format!("{path}: string shorter than {kv}"));
                }
            }
            "minItems" => {
                if let Some(a) = v.as_array()
                    && (a.len() as u64) < kv.as_u64().unwrap()
                {
                    errs.push(format!("{path}: fewer than {kv} items"));
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        check(root, kv, x, &format!("{path}[{i}]"), errs);
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for r in kv.as_array().unwrap() {
                        if !o.contains_key(r.as_str().unwrap()) {
                            errs.push(format!("{path}: missing {r}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (pk, ps) in kv.as_object().unwrap() {
                        if let Some(x) = o.get(pk) {
                            check(root, ps, x, &format!("{path}.{pk}"), errs);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let known = s.get("properties").and_then(Value::as_object);
                    for (pk, x) in o {
                        if !known.is_some_and(|p| p.contains_key(pk)) {
                            check(root, kv, x, &format!("{path}.{pk}"), errs);
                        }
                    }
                }
            }
            "propertyNames" => {
                if let Some(o) = v.as_object() {
                    for pk in o.keys() {
                        check(
                            root,
                            kv,
                            &Value::String(pk.clone()),
                            &format!("{path}.{pk} (name)"),
                            errs,
                        );
                    }
                }
            }
            "allOf" => {
                for sub in kv.as_array().unwrap() {
                    check(root, sub, v, path, errs);
                }
            }
            "if" => {
                let mut probe = Vec::new();
                check(root, kv, v, path, &mut probe);
                let branch = if probe.is_empty() {
                    s.get("then")
                } else {
                    s.get("else")
                };
                if let Some(b) = branch {
                    check(root, b, v, path, errs);
                }
            }
            other => panic!("schema keyword {other:?} is not supported by this validator"),
        }
    }
}

/// The structural checks every document gets beyond the schema: the right
/// bench, every non-skipped metric with exactly `repeats` finite values.
pub fn check_doc(doc: &Value, bench: &str, repeats: usize) {
    let errs = validate(&load_schema(), doc);
    assert!(errs.is_empty(), "schema violations: {errs:#?}\n{doc:#}");
    assert_eq!(doc["bench"], bench);
    assert_eq!(doc["tool"], "rust-micro");
    assert_eq!(doc["params"]["repeats"], repeats as u64);
    for c in doc["cases"].as_array().unwrap() {
        let metrics = c["metrics"].as_object().unwrap();
        if c.get("skipped").is_some() {
            assert!(metrics.is_empty());
            continue;
        }
        assert!(!metrics.is_empty(), "case without metrics: {c}");
        for (k, vals) in metrics {
            let vals = vals.as_array().unwrap();
            assert_eq!(vals.len(), repeats, "{k} of {}", c["case"]);
            for x in vals {
                let x = x.as_f64().unwrap();
                assert!(x.is_finite() && x >= 0.0, "{k} = {x}");
            }
        }
    }
}

/// The values of metric `name` in case `case`/`variant`.
pub fn metric(doc: &Value, case: &str, variant: &str, name: &str) -> Vec<f64> {
    let c = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == case && c["variant"] == variant)
        .unwrap_or_else(|| panic!("no case {case}/{variant}"));
    c["metrics"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no metric {name} in {case}/{variant}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
