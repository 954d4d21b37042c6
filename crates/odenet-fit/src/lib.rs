//! The fit stage: discovers θ by integrating the candidate model through pieces of the data
//! (DESIGN.md "Algorithm"): scaling, the integral-form regression guess, L-BFGS with L1 over
//! rounds of decreasing μ and increasing γ, scale-free pruning, held-out model selection and a
//! debiased final refit. Also simulation of a compiled model.
//!
//! This crate reads no files and prints nothing: progress goes through a callback.

mod driver;
pub mod model;
mod optimize;
mod problem;
mod regression;
pub mod rng;
mod scaled;

pub use driver::{GradientTiming, SELECT_MARGIN, time_gradient, with_loss_gradient};
pub use model::{CompiledModel, ModelKind, library_param_name};
pub use problem::FAILED_PIECE_PENALTY;

use odenet_solve::{PieceSolver, Sens, SolveFailure, SolveOptions};
use odenet_spec::{Spec, Table};

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("the spec has no [[data]] table to fit; add one")]
    NoData,
    #[error(
        "no piece of the data can be integrated: every piece lacks a start value or a label; check missing values and `segment`"
    )]
    NoPieces,
    #[error("the model could not be compiled: {0}")]
    Model(String),
}

/// Progress of a running fit.
#[derive(Clone, Debug)]
pub enum Progress {
    Stage(String),
    Round {
        round: usize,
        rounds: usize,
        loss: f64,
        active: usize,
    },
    Eliminate {
        active: usize,
    },
}

/// One support on the path from dense to sparse.
#[derive(Clone, Debug, PartialEq)]
pub struct PathEntry {
    pub mu: f64,
    pub gamma: f64,
    /// Free parameters in the support.
    pub active_terms: usize,
    /// Of which subject to sparsity.
    pub sparse_terms: usize,
    /// Loss on the training pieces after the debiased refit.
    pub train_loss: f64,
    /// Loss on the held-out pieces (training pieces when there are too few to hold any out).
    pub holdout_loss: f64,
    pub selected: bool,
    /// Every parameter's value (user units) after this support's debiased refit.
    pub params: Vec<f64>,
}

/// What a fit found.
#[derive(Clone, Debug)]
pub struct FitResult {
    pub name: String,
    pub states: Vec<String>,
    pub hidden: Vec<bool>,
    /// Every parameter's name (library mode: `d<state>/dt[<term>]`).
    pub param_names: Vec<String>,
    /// Every parameter's value in the user's units; pruned ones are exactly zero.
    pub params: Vec<f64>,
    pub library: bool,
    /// Library mode: per state, the non-zero terms (canonical monomial name, coefficient).
    pub terms: Option<Vec<Vec<(String, f64)>>>,
    /// The discovered equations, simplified, with the fitted numbers.
    pub equations: Vec<String>,
    /// Mean squared scaled mismatch over every label of every piece.
    pub loss: f64,
    pub active_terms: usize,
    pub free_params: usize,
    pub path: Vec<PathEntry>,
    pub seconds: f64,
    pub converged: bool,
    /// Pieces that failed to integrate with the final model.
    pub failures: usize,
    /// Piece failures met (and penalised) while fitting.
    pub failures_during_fit: usize,
    pub pieces: usize,
    pub holdout_pieces: usize,
    pub bdf_pieces: usize,
    pub time_scale: f64,
    pub state_scales: Vec<f64>,
    /// Per experiment: the fitted model integrated from the experiment's start through its
    /// sample times (hidden states included), for reports and plots.
    pub trajectories: Vec<Trajectory>,
    /// With `learn_noise`: the learned noise e per state (user units).
    pub noise: Option<LearnedNoise>,
    /// Per experiment: the fitted initial values of the states whose `initial` is `"fit"`
    /// (state name, value in user units).
    pub fitted_initial: Vec<Vec<(String, f64)>>,
    /// Per parameter (in the order of `param_names`), the standard error of the final estimate
    /// (user units) from the linearised covariance, for independent noise on each observed
    /// value: NaN for fixed and pruned parameters, +∞ where the data leave a direction of the
    /// active parameters undetermined.
    pub std_errors: Vec<f64>,
    /// The combination of parameters the data determine least, when they leave it free.
    pub weak_direction: Option<WeakDirection>,
}

impl FitResult {
    /// Library mode: the index in `param_names` of the coefficient of `term` in `state`'s
    /// equation.
    pub fn term_param(&self, state: &str, term: &str) -> Option<usize> {
        let name = library_param_name(state, term);
        self.param_names.iter().position(|p| *p == name)
    }
}

/// A combination of relative changes the data barely constrain: multiplying each listed
/// parameter p_k by c^{e_k} changes the fit by less than the noise for ln c up to about `log_se`
/// (one standard error).
#[derive(Clone, Debug, PartialEq)]
pub struct WeakDirection {
    /// (parameter index, exponent e_k); the largest |e_k| is 1.
    pub exponents: Vec<(usize, f64)>,
    /// The standard error of ln c.
    pub log_se: f64,
}

/// The noise learned with the final model (`learn_noise = true`).
#[derive(Clone, Debug, PartialEq)]
pub struct LearnedNoise {
    /// Standard deviation per state.
    pub sd: Vec<f64>,
    /// Per state, the learned e of every observed value (experiments in order).
    pub values: Vec<Vec<f64>>,
}

/// A model trajectory at an experiment's sample times, in the user's units.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    pub times: Vec<f64>,
    /// Row-major times × states; NaN after a failure.
    pub states: Vec<f64>,
    /// Why the integration stopped early, if it did.
    pub failure: Option<String>,
}

/// Fits the spec's model to its data tables.
pub fn fit(
    spec: &Spec,
    tables: &[Table],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<FitResult, FitError> {
    driver::run_fit(spec, tables, progress)
}

/// Integrates a compiled model with parameters `p` (user units) and constants `consts` from
/// `x0` at `times[0]`, returning the states at every time (row-major times × n).
pub fn simulate(
    model: &CompiledModel,
    p: &[f64],
    consts: &[f64],
    x0: &[f64],
    times: &[f64],
    opts: SolveOptions,
) -> Result<Vec<f64>, SolveFailure> {
    let n = model.nstates();
    let rhs = model.rhs(consts);
    let mut solver = PieceSolver::new(n, p.len(), opts);
    let mut out = vec![0.0; times.len() * n];
    solver.solve(&rhs, p, x0, times, Sens::None, &mut out, &mut [])?;
    Ok(out)
}
