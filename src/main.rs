//! `odenet`: reveal the hidden dynamics in time-series data as explicit differential equations.
//!
//! A thin binary over the library crates: it parses flags into a validated configuration,
//! reads and writes files, prints, and maps outcomes to exit codes (0 success, 1 a fit that did
//! not converge, with the best model written, 2 bad input).

mod args;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

/// An error that ends the command: printed to stderr, exit status 2 (bad input) unless stated.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn input(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 2,
        }
    }
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{}", e.message.trim_end());
            ExitCode::from(e.code)
        }
    }
}
