//! rust-server: parse flags, run, print one error line.
//! Exit 2 for a bad flag or an unusable data file, 1 for other start-up failures.

fn main() {
    let opts: rtc_server::Opts = rtc_common::cli::parse_or_exit("rust-server", std::env::args_os());
    if let Err(e) = rtc_server::run(opts) {
        let code = if e.is::<rtc_server::UsageError>() {
            2
        } else {
            1
        };
        eprintln!("rust-server: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(code);
    }
}
