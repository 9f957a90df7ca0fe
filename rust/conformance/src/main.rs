//! `conformance --vectors FILE --bin-dir DIR [--only go|rust] [--quick]`:
//! replays the shared protocol vectors against every server variant and
//! checks the process contract. Exit 0 all passed, 1 any failure, 2 usage.

use rtc_conformance::suite::{self, Opts};

fn main() {
    let opts: Opts = rtc_common::cli::parse_or_exit("conformance", std::env::args_os());
    let vectors = match rtc_conformance::load(&opts.vectors) {
        Ok(v) => v,
        Err(e) => rtc_common::cli::usage_exit("conformance", &format!("{e:#}")),
    };
    if !opts.bin_dir.is_dir() {
        rtc_common::cli::usage_exit(
            "conformance",
            &format!("--bin-dir {} is not a directory", opts.bin_dir.display()),
        );
    }
    let report = suite::run(&opts, &vectors);
    println!(
        "conformance: {} passed, {} failed",
        report.passed, report.failed
    );
    if report.failed > 0 {
        std::process::exit(1);
    }
}
