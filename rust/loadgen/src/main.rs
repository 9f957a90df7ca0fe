//! `loadgen`: parse, run, print the summary or one error line.
//! Exit 0: a valid measurement and every request answered in time (server
//! ok); 1: an invalid measurement, a server outcome that is not ok, or a
//! failure; 2: bad usage.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use rtc_loadgen::{Opts, UsageError};

fn parse() -> Opts {
    match rtc_loadgen::parse_args(std::env::args_os()) {
        Ok(o) => o,
        // clap lists missing arguments on the lines after its first one,
        // which the one-line helper drops; name them here.
        Err(e) if e.kind() == ErrorKind::MissingRequiredArgument => {
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v.join(", "),
                _ => "see --help".into(),
            };
            rtc_common::cli::usage_exit("loadgen", &format!("missing required argument: {missing}"))
        }
        Err(_) => {
            // Help, version and every other error: the shared one-line handling.
            let mut o: Opts = rtc_common::cli::parse_or_exit("loadgen", std::env::args_os());
            o.argv = std::env::args().collect();
            o
        }
    }
}

fn main() {
    let opts = parse();
    let quiet = opts.quiet;
    match rtc_loadgen::run(opts) {
        Ok(out) => {
            if !quiet {
                print!("{}", rtc_loadgen::report::summary(&out.report));
            }
            std::process::exit(if out.valid && out.server_ok { 0 } else { 1 });
        }
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => rtc_common::cli::usage_exit("loadgen", &u.0),
            None => {
                eprintln!("loadgen: {e:#}");
                std::process::exit(1);
            }
        },
    }
}
