//! `odenet bench SPEC [--solvers bdf,tsit5,auto] [--reps N] [--fit]`: a table of the time per
//! loss-and-gradient evaluation (and per whole fit) for each solver.

use std::time::Instant;

use odenet_spec::SolverKind;

use super::{load_spec, load_tables, with_threads};
use crate::CliError;
use crate::args::BenchArgs;

pub fn run(a: BenchArgs) -> Result<u8, CliError> {
    // Flags are validated before any work, so that a bad flag prints no half table.
    if a.threads == Some(0) {
        return Err(CliError::input("error: --threads must be at least 1"));
    }
    let spec = load_spec(&a.spec)?;
    let tables = load_tables(&spec)?;
    if tables.is_empty() {
        return Err(CliError::input(format!(
            "error: {} has no [[data]] table to time a fit on",
            a.spec.display()
        )));
    }
    let mut kinds = Vec::new();
    for s in &a.solvers {
        kinds.push(match s.trim() {
            "bdf" => SolverKind::Bdf,
            "tsit5" => SolverKind::Tsit5,
            "auto" => SolverKind::Auto,
            other => {
                return Err(CliError::input(format!(
                    "error: --solvers: unknown solver {other:?}\n  = help: choose among bdf, tsit5, auto"
                )));
            }
        });
    }
    super::out(&format!(
        "{:<6} {:>8} {:>7} {:>14} {:>14} {:>10} {:>9} {:>9} {:>12}\n",
        "solver",
        "pieces",
        "params",
        "per gradient",
        "per GN",
        "steps",
        "failures",
        "bdf",
        "whole fit"
    ));
    for (name, kind) in a.solvers.iter().zip(kinds) {
        let timing = with_threads(a.threads, || {
            odenet_fit::time_gradient(&spec, &tables, kind, a.reps)
        })?
        .map_err(|e| CliError::input(format!("error: {e}")))?;
        let fit_time = if a.fit {
            let mut s = spec.clone();
            s.fit.solver = kind;
            let t = Instant::now();
            let r = with_threads(a.threads, || odenet_fit::fit(&s, &tables, &|_| {}))?;
            match r {
                Ok(_) => format!("{:.3} s", t.elapsed().as_secs_f64()),
                Err(e) => format!("failed: {e}"),
            }
        } else {
            "-".to_string()
        };
        super::out(&format!(
            "{:<6} {:>8} {:>7} {:>11.3} ms {:>11.3} ms {:>10} {:>9} {:>9} {:>12}\n",
            name.trim(),
            timing.pieces,
            timing.params,
            timing.seconds_per_eval * 1e3,
            timing.seconds_per_gauss_newton * 1e3,
            timing.steps,
            timing.failures,
            timing.bdf_pieces,
            fit_time
        ));
    }
    Ok(0)
}
