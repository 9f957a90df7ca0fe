//! One-line usage errors: every program answers a bad flag with a single
//! line on stderr and exit code 2 (clap's own error is several lines).

use clap::Parser;

/// Parses `args` (first item the program name); help and version are printed
/// and exit 0; any other error is one line, exit 2.
pub fn parse_or_exit<T: Parser, I, S>(program: &str, args: I) -> T
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    match T::try_parse_from(args) {
        Ok(v) => v,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => usage_exit(program, &first_line(&e.to_string())),
        },
    }
}

/// Prints `program: message` on stderr and exits 2.
pub fn usage_exit(program: &str, message: &str) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(2)
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    line.trim_start_matches("error: ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Opts {
        #[arg(long, default_value_t = 1)]
        n: u32,
    }

    #[test]
    fn first_line_drops_the_usage_block() {
        let e = Opts::try_parse_from(["x", "--n", "abc"]).unwrap_err();
        let line = first_line(&e.to_string());
        assert!(line.contains("--n"), "{line}");
        assert!(!line.contains('\n'));
        assert!(!line.starts_with("error:"));
    }
}
