//! `odenet`: reveal the hidden dynamics in time-series data as explicit differential equations.
//!
//! A thin binary over the library crates: it parses flags into a validated configuration,
//! reads and writes files, prints, and maps outcomes to exit codes (0 success, 1 a fit that did
//! not converge, with the best model written, 2 bad input).

mod args;
mod cmd;
#[cfg(feature = "mpi")]
mod distributed;
mod output;

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
    init_logging(cli.verbose);
    // Under `mpirun -n N` (built with `--features mpi`), `fit` is shared by the N processes.
    #[cfg(feature = "mpi")]
    let world = distributed::init();
    #[cfg(feature = "mpi")]
    let outcome = match (&world, cli.command) {
        (Some(w), args::Command::Fit(a)) if w.size() > 1 => distributed::fit(a, w),
        (Some(w), args::Command::Bench(a)) if w.size() > 1 => distributed::bench(a, w),
        (Some(w), c) if w.size() > 1 => Err(distributed::refuse(c.name())),
        (_, command) => cmd::run(args::Cli { command, ..cli }),
    };
    #[cfg(not(feature = "mpi"))]
    let outcome = cmd::run(cli);
    // Every MPI process ends with the error agreed on; rank 0 alone prints it.
    #[cfg(feature = "mpi")]
    let quiet = world.as_ref().is_some_and(|w| w.rank() > 0);
    #[cfg(not(feature = "mpi"))]
    let quiet = false;
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if !quiet {
                eprintln!("{}", e.message.trim_end());
            }
            ExitCode::from(e.code)
        }
    }
}

/// Diagnostics of the library crates (`tracing` events) on stderr: `-v` shows the fit's stages
/// and choices, `-vv` every optimisation and elimination step; `RUST_LOG` (e.g.
/// `RUST_LOG=odenet_fit=debug`) overrides both.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}
