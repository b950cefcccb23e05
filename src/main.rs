//! The `classgen` command: the dashboard without a subcommand; subcommands run one job headless.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::console::{self, note};

fn main() -> ExitCode {
    classgen::runtime::tune_allocator();
    let result = match cli::Cli::try_parse() {
        Ok(args) => cli::run(args),
        Err(e) => return usage(&e),
    };
    let interrupted = console::interrupted();
    let failure = console::write_failure();
    match result {
        Ok(()) if failure.is_none() => ExitCode::from(interrupted.unwrap_or(0)),
        // The reader of our output is gone: nothing to say, and no one to say it to.
        Err(_) if interrupted == Some(console::EXIT_PIPE) && failure.is_none() => {
            ExitCode::from(console::EXIT_PIPE)
        }
        ended => {
            // A write error (a full disk) is the cause to name: on stdout it cancelled the
            // command; on stderr the job went on, but its progress was lost.
            match (failure, ended) {
                // Tried even when stderr failed before: the disk may have room again.
                (Some(f), _) => console::write_text(true, &format!("error: {f}\n")),
                (None, Err(e)) => note!("error: {e:#}"),
                (None, Ok(())) => {}
            }
            let signal = interrupted.filter(|&c| c != console::EXIT_PIPE);
            ExitCode::from(signal.unwrap_or(1))
        }
    }
}

/// Help and version (exit 0) on stdout, usage errors (exit 2) on stderr, as clap prints them,
/// but a stream that cannot be written is an error (exit 1, or 141 for a closed pipe).
fn usage(e: &clap::Error) -> ExitCode {
    use std::io::IsTerminal;
    let to_stderr = e.use_stderr();
    let terminal = if to_stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let rendered = e.render();
    let text = if terminal {
        rendered.ansi().to_string()
    } else {
        rendered.to_string()
    };
    console::write_text(to_stderr, &text);
    if let Some(failure) = console::write_failure() {
        console::write_text(true, &format!("error: {failure}\n"));
        return ExitCode::from(1);
    }
    if console::interrupted() == Some(console::EXIT_PIPE) {
        return ExitCode::from(console::EXIT_PIPE);
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
