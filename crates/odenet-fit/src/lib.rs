//! The fit stage: discovers θ by integrating the candidate model through pieces of the data
//! (DESIGN.md "Algorithm"): scaling, the integral-form regression guess, L-BFGS with L1 over
//! rounds of decreasing μ and increasing γ, scale-free pruning, held-out model selection and a
//! debiased final refit. Also simulation of a compiled model.
//!
//! The stages, one file each: `problem` (data, scales, pieces), `evaluate` (loss, gradient,
//! profiled starts, Gauss–Newton), `regression` (the initial guess), `optimize` (L-BFGS,
//! Levenberg–Marquardt), `path` (schedule and pruning), `eliminate` and `select` (pure
//! functions of the scores), `explore` (one start's path), `fit` (orchestration), `noise`
//! (learned noise), `uncertainty` (standard errors), `bench` (timing hooks).
//!
//! This crate reads no files and prints nothing: progress goes through a callback, diagnostics
//! through `tracing`.

mod bench;
mod chain;
mod degeneracy;
mod diagnose;
mod discover;
mod eliminate;
mod evaluate;
mod explore;
mod fit;
mod hidden;
mod linalg;
pub mod model;
mod noise;
mod noise_level;
mod optimize;
pub mod partition;
mod path;
mod problem;
mod regression;
mod result;
pub mod rng;
mod routes;
mod scaled;
mod select;
mod support;
#[cfg(test)]
mod test_support;
mod uncertainty;

use std::sync::atomic::AtomicBool;

pub use bench::{GradientTiming, time_gradient, with_loss_gradient};
pub use evaluate::FAILED_PIECE_PENALTY;
pub use model::{CompiledModel, ModelKind, library_param_name};
pub use optimize::{L1Counter, L1Options, L1Step};
pub use partition::{Local, Partition, distribute};
pub use result::{
    Chaining, FitError, FitResult, GlobalSearch, LearnedNoise, Outlier, PathEntry, Progress,
    Trajectory, WeakDirection,
};
pub use select::SELECT_MARGIN;

use odenet_solve::{Method, PieceSolver, Sens, SolveFailure, SolveOptions};
use odenet_spec::{SolverKind, Spec, Table};

/// Fits the spec's model to its data tables.
pub fn fit(
    spec: &Spec,
    tables: &[Table],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<FitResult, FitError> {
    fit_with(spec, tables, progress, &AtomicBool::new(false))
}

/// [`fit`] that stops when `cancel` becomes true: at its next evaluation the fit ends and
/// returns the best model found so far, with `cancelled` set (and no standard errors).
pub fn fit_with(
    spec: &Spec,
    tables: &[Table],
    progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<FitResult, FitError> {
    fit_with_l1(spec, tables, progress, cancel, L1Options::default())
}

/// [`fit_with`] with the L1 rounds run as `l1` says (the benchmark of the L1 step).
pub fn fit_with_l1(
    spec: &Spec,
    tables: &[Table],
    progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
    l1: L1Options,
) -> Result<FitResult, FitError> {
    fit::run(
        spec,
        tables,
        &fit::Control {
            progress,
            cancel,
            l1,
        },
    )
}

/// The solver options a spec asks for.
pub fn solve_options(spec: &Spec) -> SolveOptions {
    SolveOptions {
        method: match spec.fit.solver {
            SolverKind::Auto => Method::Auto,
            SolverKind::Bdf => Method::Bdf,
            SolverKind::Tsit5 => Method::Tsit5,
            SolverKind::Tsit45 => Method::Tsit45,
            SolverKind::Esdirk34 => Method::Esdirk34,
            SolverKind::TrBdf2 => Method::TrBdf2,
        },
        rtol: spec.fit.rtol,
        atol: spec.fit.atol,
        // A trial θ that needs more steps than this for one piece is far from any model the
        // data support: failing it fast (a counted penalty) keeps bad trials cheap.
        max_steps: 2_000,
        ..SolveOptions::default()
    }
}

/// Integrates a compiled model with parameters `p` (user units) and constants `consts` from
/// `x0` at `times[0]`, returning the states at every time (row-major times × n).
///
/// As in the fit, a state the model needs non-negative (under a fractional power, a square root
/// or a logarithm) is read as max(x, 0) by the right-hand side: the model a fit returns is
/// simulated exactly as it was fitted.
pub fn simulate(
    model: &CompiledModel,
    p: &[f64],
    consts: &[f64],
    x0: &[f64],
    times: &[f64],
    opts: SolveOptions,
) -> Result<Vec<f64>, SolveFailure> {
    let n = model.nstates();
    let unit = scaled::Scales {
        sx: vec![1.0; n],
        st: 1.0,
        pscale: vec![1.0; p.len()],
    };
    let nonneg = model.nonnegative_states();
    let rhs = scaled::ScaledRhs {
        inner: model.rhs(consts),
        scales: &unit,
        base: p,
        active: &[],
        nonneg: &nonneg,
    };
    let mut solver = PieceSolver::new(n, 0, opts);
    let mut out = vec![0.0; times.len() * n];
    solver.solve(&rhs, &[], x0, times, Sens::None, &mut out, &mut [])?;
    Ok(out)
}
