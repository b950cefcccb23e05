//! The `classgen` command: the dashboard without a subcommand; subcommands run one job headless.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::console::{self, note};

fn main() -> ExitCode {
    classgen::runtime::tune_allocator();
    let args = cli::Cli::parse();
    let result = cli::run(args);
    let interrupted = console::interrupted();
    match result {
        Ok(()) => ExitCode::from(interrupted.unwrap_or(0)),
        // The reader of our output is gone: nothing to say, and no one to say it to.
        Err(_) if interrupted == Some(console::EXIT_PIPE) => ExitCode::from(console::EXIT_PIPE),
        Err(e) => {
            note!("error: {e:#}");
            ExitCode::from(interrupted.unwrap_or(1))
        }
    }
}
