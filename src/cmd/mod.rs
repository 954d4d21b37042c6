//! One module per subcommand; shared loading helpers.

pub mod bench;
mod check;
mod collect;
mod export;
pub mod fit;
mod simplify;
mod simulate;
mod sweep;

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
        Command::Sweep(a) => sweep::run(a),
        Command::SweepTask(a) => sweep::run_task(a),
        Command::Collect(a) => collect::run(a),
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

/// Set on every MPI process but rank 0: nothing is printed but errors.
static SILENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences `out` and the printed warnings (the MPI processes other than rank 0).
#[allow(dead_code)] // Used only with the `mpi` feature.
pub fn set_silent(silent: bool) {
    SILENT.store(silent, std::sync::atomic::Ordering::Relaxed);
}

fn silent() -> bool {
    SILENT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes `text` to stdout. A closed stdout (`odenet fit … | head -1`) is not an error of the
/// command: what could not be shown is dropped instead of panicking as `print!` does.
pub fn out(text: &str) {
    use std::io::Write;
    if silent() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Prints warnings (legal but suspicious input) to stderr, each with its location.
pub fn print_warnings(warnings: &[Diagnostic]) {
    if silent() {
        return;
    }
    for w in warnings {
        eprintln!("{w}\n");
    }
}

/// Loads a spec; its warnings are printed, its errors returned.
pub fn load_spec(path: &Path) -> Result<Spec, CliError> {
    let spec = Spec::load(path).map_err(|d| CliError::input(render(&d)))?;
    print_warnings(&spec.warnings);
    Ok(spec)
}

/// Loads and checks a spec's data tables; warnings are printed, errors returned.
pub fn load_tables(spec: &Spec) -> Result<Vec<Table>, CliError> {
    let loaded = odenet_spec::load_tables_checked(spec).map_err(|d| CliError::input(render(&d)))?;
    print_warnings(&loaded.warnings);
    Ok(loaded.tables)
}

/// More worker threads than this many per core only add contention (measured: `--threads 1000`
/// made a 0.6 s fit take 69 s).
const THREADS_PER_CORE: usize = 4;

/// The thread count to use for `--threads N`: N, capped at [`THREADS_PER_CORE`] per available
/// core with a message.
pub fn thread_count(threads: Option<usize>) -> Result<Option<usize>, CliError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cap = cores.saturating_mul(THREADS_PER_CORE);
    match threads {
        None => Ok(None),
        Some(0) => Err(CliError::input("error: --threads must be at least 1")),
        Some(n) if n > cap => {
            eprintln!(
                "warning: --threads {n} is more than {THREADS_PER_CORE} per core on this machine ({cores} cores); using {cap}"
            );
            Ok(Some(cap))
        }
        Some(n) => Ok(Some(n)),
    }
}

/// Stack of each worker thread: the symbolic and tape stages recurse over expression trees
/// (at most `odenet_spec::MAX_TREE_DEPTH` deep), and a fit compiles its model on a worker.
pub(crate) const WORKER_STACK: usize = 16 << 20;

/// Runs `f` on a rayon pool with `threads` workers (all cores when None).
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> Result<T, CliError> {
    match thread_count(threads)? {
        None => Ok(f()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .stack_size(WORKER_STACK)
                .build()
                .map_err(|e| CliError {
                    message: format!("error: cannot start {n} threads: {e}"),
                    code: 2,
                })?;
            Ok(pool.install(f))
        }
    }
}
