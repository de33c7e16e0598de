//! The `klo-spec` binary: parse the command line, dispatch, print the
//! error, exit with its code (see `error.rs`).

use clap::Parser;

fn main() {
    // Behave like a Unix filter: `klo-spec plan x | head` ends quietly.
    // SAFETY: setting a signal disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = klo_spec::cli::Cli::parse();
    let code = match klo_spec::commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            match err.downcast_ref::<klo_spec::error::InputError>() {
                Some(input) => {
                    // The first problems, then a count: a file that is wrong
                    // everywhere must not bury the first one.
                    let shown = klo_spec::error::DIAGNOSTICS_SHOWN;
                    for d in input.diagnostics.iter().take(shown) {
                        eprintln!("error: {d}");
                    }
                    if input.diagnostics.len() > shown {
                        eprintln!(
                            "error: ... and {} more problems like these",
                            input.diagnostics.len() - shown
                        );
                    }
                    if input.diagnostics.len() > 1 {
                        eprintln!(
                            "{} problems found; nothing was run or written",
                            input.diagnostics.len()
                        );
                    } else {
                        eprintln!("nothing was run or written");
                    }
                }
                // Values from files and boards are in the message: a
                // terminal is shown their escape sequences, never fed them,
                // and a long line (a long value quoted) is shortened.
                None => {
                    let text = format!("{err:#}");
                    let lines: Vec<String> = text
                        .lines()
                        .map(|l| {
                            if l.chars().count() > klo_spec::error::MESSAGE_MAX {
                                klo_spec::text::shorten(l, klo_spec::error::MESSAGE_MAX)
                            } else {
                                klo_spec::text::printable(l).into_owned()
                            }
                        })
                        .collect();
                    eprintln!("error: {}", lines.join("\n"));
                }
            }
            klo_spec::error::exit_code(&err)
        }
    };
    std::process::exit(code);
}
