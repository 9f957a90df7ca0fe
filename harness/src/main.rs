fn main() {
    let cli: rtc_harness::cli::Cli = rtc_common::cli::parse_or_exit("harness", std::env::args_os());
    match rtc_harness::cli::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("harness: {e:#}");
            std::process::exit(
                match e.downcast_ref::<rtc_harness::config::profile::ProfileError>() {
                    Some(_) => 2,
                    None => 1,
                },
            );
        }
    }
}
