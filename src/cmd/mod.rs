//! One module per subcommand; shared loading helpers.

mod bench;
mod check;
mod export;
mod fit;
mod simplify;
mod simulate;

use std::path::Path;

use odenet_spec::{Diagnostic, Spec, Table};

use crate::CliError;
use crate::args::{Cli, Command};

pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Fit(a) => fit::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Simplify(a) => simplify::run(a),
        Command::Check(a) => check::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Export(a) => export::run(a),
    }
}

pub fn render(diags: &[Diagnostic]) -> String {
    let mut s = String::new();
    for d in diags {
        s.push_str(&d.to_string());
        if !s.ends_with('\n') {
            s.push('\n');
        }
        s.push('\n');
    }
    let n = diags.len();
    s.push_str(&format!(
        "error: {n} problem{} found",
        if n == 1 { "" } else { "s" }
    ));
    s
}

pub fn load_spec(path: &Path) -> Result<Spec, CliError> {
    Spec::load(path).map_err(|d| CliError::input(render(&d)))
}

pub fn load_tables(spec: &Spec) -> Result<Vec<Table>, CliError> {
    odenet_spec::load_tables(spec).map_err(|d| CliError::input(render(&d)))
}

/// Runs `f` on a rayon pool with `threads` workers (all cores when None).
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> Result<T, CliError> {
    match threads {
        None => Ok(f()),
        Some(0) => Err(CliError::input("error: --threads must be at least 1")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| CliError {
                    message: format!("error: cannot start {n} threads: {e}"),
                    code: 2,
                })?;
            Ok(pool.install(f))
        }
    }
}
