fn main() {
    let cli: rtc_harness::cli::Cli = rtc_common::cli::parse_or_exit("harness", std::env::args_os());
    match rtc_harness::cli::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("harness: {e:#}");
            // A profile or claims file that does not hold up is bad input.
            let bad_input = e
                .downcast_ref::<rtc_harness::config::profile::ProfileError>()
                .is_some()
                || e.downcast_ref::<rtc_harness::config::claims::ClaimsError>()
                    .is_some()
                || e.downcast_ref::<rtc_harness::config::expand::ExpandError>()
                    .is_some();
            std::process::exit(if bad_input { 2 } else { 1 });
        }
    }
}
