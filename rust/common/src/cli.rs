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

/// clap's message on one line: its first line, plus the indented lines that
/// continue it (the list of missing arguments), up to the usage block.
fn first_line(s: &str) -> String {
    let mut lines = s.lines().skip_while(|l| l.trim().is_empty());
    let mut out = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .trim()
        .to_string();
    for l in lines.take_while(|l| l.starts_with(' ') && !l.trim().is_empty()) {
        out.push(' ');
        out.push_str(l.trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Opts {
        #[arg(long, default_value_t = 1)]
        n: u32,
    }

    #[derive(Parser, Debug)]
    struct Needs {
        #[arg(long)]
        address: String,
        #[arg(long)]
        rate: u32,
    }

    #[test]
    fn missing_arguments_are_named_on_the_line() {
        let e = Needs::try_parse_from(["x"]).unwrap_err();
        let line = first_line(&e.to_string());
        assert!(
            line.contains("--address") && line.contains("--rate"),
            "{line}"
        );
        assert!(!line.contains('\n') && !line.contains("Usage"), "{line}");
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
