//! rust-micro: tokio microbenchmarks (see the library for what each does).

use rtc_common::cli;
use rtc_micro::{Opts, emit, run};

fn main() {
    let opts: Opts = cli::parse_or_exit("rust-micro", std::env::args_os());
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => cli::usage_exit("rust-micro", &format!("cannot find own executable: {e}")),
    };
    match run(&opts, &exe) {
        Ok(None) => {}
        Ok(Some(doc)) => {
            eprint!("{}", doc.summary());
            if let Err(e) = emit(&doc, &opts.cmd.common().json) {
                eprintln!("rust-micro: {e:#}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("rust-micro: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
