//! `odenet sweep MANIFEST [-o DIR] [--jobs N] [--threads T] [--emit slurm]` and
//! `odenet sweep-task DIR INDEX`: many independent fits (spec × data × options).
//!
//! A sweep is prepared once: the manifest (TOML or CSV) is expanded into tasks, and each task
//! gets a folder `DIR/tasks/NNNN-name/` holding its own spec (`spec.toml`: the task's spec with
//! its data files and `[fit]` options applied, every path absolute) and, after it ran, its model
//! file (`model.json`), printed summary (`summary.txt`) and outcome (`status.json`). The list of
//! tasks is `DIR/sweep.json`. Every task is run by `odenet sweep-task DIR INDEX`, locally (in
//! parallel, `--jobs`) or as one task of a Slurm job array (`--emit slurm` writes the script);
//! `odenet collect DIR` gathers the results. No home-made scheduler: a cluster's own runs the
//! array.
//!
//! This module checks the flags and runs a sweep; `manifest` expands the manifest into tasks,
//! `prepare` writes their folders and the task list, `slurm` the job-array script, `local` runs
//! the tasks on this machine, and `task` is one task's fit (`odenet sweep-task`).

mod local;
mod manifest;
mod prepare;
mod slurm;
mod task;

use std::path::{Path, PathBuf};

use crate::CliError;
use crate::args::SweepArgs;
use prepare::prepare;
pub use task::{read_index, run_task};

/// The most tasks one manifest may expand to (a grid multiplies quickly).
pub const MAX_TASKS: usize = 100_000;
/// Format tag of `sweep.json` and `status.json`.
pub const SWEEP_FORMAT: &str = "odenet-sweep/1";

/// One fit of a sweep.
#[derive(Clone, Debug)]
struct Task {
    name: String,
    /// The spec it starts from (absolute).
    spec: PathBuf,
    /// Data files replacing the spec's (absolute); empty: the spec's own.
    data: Vec<PathBuf>,
    /// `[fit]` keys set on top of the spec's.
    fit: toml::Table,
    /// Where in the manifest it comes from, for messages.
    origin: String,
}

fn bad(manifest: &Path, msg: impl std::fmt::Display) -> CliError {
    CliError::input(format!("error: {}: {msg}", manifest.display()))
}

pub fn run(a: SweepArgs) -> Result<u8, CliError> {
    if let Some(e) = &a.emit
        && e != "slurm"
    {
        return Err(CliError::input(format!(
            "error: --emit {e}: unknown scheduler\n  = help: --emit slurm writes a Slurm job-array script"
        )));
    }
    if a.jobs == Some(0) {
        return Err(CliError::input("error: --jobs must be at least 1"));
    }
    let (out, folders, threads) = prepare(&a)?;
    let n = folders.len();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .ok_or_else(|| CliError::input("error: cannot find the odenet executable"))?;
    if a.emit.is_some() {
        return slurm::emit(&a, &out, n, threads, &exe);
    }
    Ok(local::run_all(&a, &out, &folders, threads, &exe))
}
