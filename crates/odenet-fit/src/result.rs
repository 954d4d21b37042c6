//! What a fit returns: the chosen model with its standard errors, the path that led to it, and
//! the errors and progress events a fit can report.

use crate::model::library_param_name;
pub use crate::noise_level::Outlier;

/// Why a fit could not start.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("the spec has no [[data]] table to fit; add one")]
    NoData,
    #[error(
        "no piece of the data can be integrated: every piece lacks a start value or a label; check missing values and `segment`"
    )]
    NoPieces,
    #[error("the model could not be compiled: {0}")]
    Symbolic(#[from] odenet_symbolic::SymbolicError),
    #[error("the model could not be compiled: {0}")]
    Tape(#[from] odenet_tape::TapeError),
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        threads: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
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
    /// Loss on the held-out pieces (NaN when nothing was held out).
    pub holdout_loss: f64,
    /// The score the choice was made on (lower is better): see [`FitResult::selection`].
    pub score: f64,
    pub selected: bool,
    /// Every parameter's value (user units) after this support's debiased refit.
    pub params: Vec<f64>,
}

/// What a fit found.
#[derive(Clone, Debug, Default)]
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
    /// Why the final refit stopped.
    pub stop_reason: String,
    /// The fit was stopped on request before it finished: the model is the best found so far.
    pub cancelled: bool,
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
    /// Reasons to doubt the answer, in words (printed and written to the model file).
    pub warnings: Vec<String>,
    /// Values left out of the fit as outliers.
    pub outliers: Vec<Outlier>,
    /// Linear relations among the states that hold on the data (e.g. `S + I + R = 1`); the
    /// library was reduced by one state per relation.
    pub relations: Vec<String>,
    /// Per parameter, the evidence that its term belongs in the model (discovery only; empty
    /// otherwise): the BIC weights of the scored candidates containing it, NaN where the
    /// parameter was no candidate term.
    pub inclusion: Vec<f64>,
    /// How the candidates on the path were scored and the choice made.
    pub selection: String,
    /// Points per piece of the final fit (the horizon; the longest piece when they differ).
    pub horizon: usize,
    /// Per observed state, the noise standard deviation the fit implies (user units): the
    /// residual spread of the final model, NaN for unobserved states.
    pub noise_sd: Vec<f64>,
    /// R² of the final model's reconstruction of the data over the pieces it was fitted on
    /// (each from its fitted start): 1 − Σ residual² / Σ (y − mean)², pooled over the observed
    /// states with each state's own variance.
    pub reconstruction_r2: f64,
    /// Hidden states known only at experiment starts: the global stage's starts and how many of
    /// them reached the best loss (a confidence figure); `None` when there was no global stage.
    pub global: Option<GlobalSearch>,
    /// Discovery: the final coefficients and their standard errors come from the pieces chained
    /// into whole trajectories, which the data accepted; `None` when the piecewise values stand.
    pub chained: Option<Chaining>,
}

impl FitResult {
    /// Library mode: the index in `param_names` of the coefficient of `term` in `state`'s
    /// equation.
    pub fn term_param(&self, state: &str, term: &str) -> Option<usize> {
        let name = library_param_name(state, term);
        self.param_names.iter().position(|p| *p == name)
    }
}

/// The global stage of a fit (multi-start over the parameter box): how many starts were run and
/// how many of them ended within one χ² unit of the best loss. Many starts at the best say the
/// optimum is easy to reach from anywhere in the box; one alone says it was found by luck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalSearch {
    pub starts: usize,
    pub at_best: usize,
}

/// The chosen model's pieces tied into whole trajectories (multiple shooting, continuity held to
/// far below the noise): `ties` values were given up (n per tied piece start), for which the
/// data misfit rose by `excess` noise-variance units; a right model pays about χ² with `ties`
/// degrees of freedom, and at most `allowed` (its mean plus three standard deviations) is
/// accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chaining {
    pub intervals: usize,
    pub ties: usize,
    pub excess: f64,
    pub allowed: f64,
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
