// Shared by rust/server/build.rs and rust/micro/build.rs (included, not a
// crate: a build script cannot depend on its own workspace cheaply). Records
// the tokio version the workspace lock pins (RTC_TOKIO_VERSION) and the
// compiler building the crate (RTC_RUSTC_VERSION).

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let lock = Path::new(&manifest_dir).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-env-changed=RUSTC");

    let tokio = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| locked_version(&text, "tokio"))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RTC_TOKIO_VERSION={tokio}");

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RTC_RUSTC_VERSION={version}");
}

/// The `version` of the `[[package]]` named `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let want = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == want {
            let next = lines.next()?.trim();
            return Some(
                next.strip_prefix("version = \"")?
                    .strip_suffix('"')?
                    .to_string(),
            );
        }
    }
    None
}
