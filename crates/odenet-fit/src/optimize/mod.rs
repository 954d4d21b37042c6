//! The optimisers of a fit: argmin's L-BFGS on the normalised loss with an L1 term on sparse
//! coordinates, smoothed (`lbfgs`, also argmin's OWL-QN) or by proximal steps (`prox`),
//! Levenberg–Marquardt on the Gauss–Newton matrix for least-squares refits (`lm`), and the
//! change of variables that keeps bounds (`bounds`). Each returns an [`OptResult`] with a typed
//! [`StopReason`].

mod bounds;
mod lbfgs;
mod lm;
mod prox;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

pub use lbfgs::lbfgs_smooth;
pub use lm::levenberg_marquardt;

use crate::evaluate::Evaluator;

/// How the L1 term of an L1 round is minimised (measured in benches/README.md, "L1: proximal
/// step against the smoothed penalty").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L1Step {
    /// argmin's L-BFGS on a pseudo-Huber smoothing of |q| on the sparse coordinates; pruning
    /// makes the zeros exact.
    #[default]
    Smoothed,
    /// argmin's OWL-QN (`with_l1_regularization`): exact, but one λ for every coordinate, so
    /// only used when every coordinate is sparse and unbounded (the smoothed term otherwise).
    OwlQn,
    /// Proximal-gradient steps (soft-thresholding, exact zeros, per-coordinate weights and
    /// bounds) alternated with argmin's L-BFGS on the nonzero coordinates.
    Proximal,
}

/// How a fit's L1 rounds are run: the L1 step, whether models affine in their parameters take
/// the L1 path too (instead of discovery by regression screens), and where the work of the L1
/// rounds is counted. The defaults are what `odenet fit` does; the rest serves the benchmark of
/// the L1 step (`examples/l1_compare.rs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct L1Options<'a> {
    pub step: L1Step,
    pub force_path: bool,
    pub counter: Option<&'a L1Counter>,
}

/// The work of the L1 rounds (optimisations with μ > 0) of one or more fits.
#[derive(Debug, Default)]
pub struct L1Counter {
    /// Loss-and-gradient evaluations.
    pub evaluations: AtomicU64,
    /// Optimiser iterations (L-BFGS iterations, plus proximal steps).
    pub iterations: AtomicU64,
    /// Optimisations.
    pub runs: AtomicU64,
    /// Wall time, nanoseconds.
    pub nanos: AtomicU64,
}

/// Minimises loss/loss_ref + μ‖q_sparse‖₁ from `q0` within the bounds, by the L1 step of
/// `terms`, for at most `max_iters` iterations.
pub fn minimize(ev: &Evaluator, terms: &Terms, q0: Vec<f64>, max_iters: u64) -> OptResult {
    let t = Instant::now();
    let evals = ev.evals.load(Ordering::Relaxed);
    let r = match terms.l1.step {
        L1Step::Proximal => prox::minimize_prox(ev, terms, q0, max_iters),
        l1 => lbfgs::minimize_with(ev, terms, q0, max_iters, l1, lbfgs::BoundMethod::Transform),
    };
    if let Some(c) = terms.l1.counter
        && terms.mu > 0.0
    {
        let n = ev.evals.load(Ordering::Relaxed).saturating_sub(evals);
        c.evaluations.fetch_add(n as u64, Ordering::Relaxed);
        c.iterations.fetch_add(r.iters, Ordering::Relaxed);
        c.runs.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        c.nanos.fetch_add(ns, Ordering::Relaxed);
    }
    r
}

use crate::evaluate::Eval;

/// Levenberg–Marquardt's default relative tolerance: far below what model selection or the
/// coefficients' statistical error can see.
const LM_REL_TOL: f64 = 1e-7;
use crate::problem::Problem;

/// The L1 term, the bounds and the stop flag of an optimisation.
pub struct Terms<'c> {
    /// L1 weight μ (applied to the normalised loss).
    pub mu: f64,
    /// Per active coordinate: subject to L1.
    pub sparse: Vec<bool>,
    /// Per active coordinate: bounds in normalised units.
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    /// The normalised loss is loss / loss_ref.
    pub loss_ref: f64,
    /// Stop at the next evaluation when set.
    pub cancel: Option<&'c AtomicBool>,
    /// Levenberg–Marquardt stops when an accepted step lowers the loss by less than this
    /// fraction.
    pub rel_tol: f64,
    /// Levenberg–Marquardt gives up when an iteration ends with the loss above this (a start in
    /// a hopeless basin).
    pub abandon_above: f64,
    /// How an L1 round minimises the L1 term (and where its work is counted).
    pub l1: L1Options<'c>,
}

impl<'c> Terms<'c> {
    /// The terms of an optimisation over `active`: L1 on the sparse parameters, and each
    /// parameter's bounds in normalised units.
    pub fn new(prob: &Problem, active: &[usize], mu: f64, loss_ref: f64) -> Terms<'c> {
        let params = &prob.model.params;
        let ps = &prob.scales.pscale;
        Terms {
            mu,
            sparse: active.iter().map(|&k| params[k].sparse).collect(),
            lo: active
                .iter()
                .map(|&k| params[k].min.map_or(f64::NEG_INFINITY, |v| v / ps[k]))
                .collect(),
            hi: active
                .iter()
                .map(|&k| params[k].max.map_or(f64::INFINITY, |v| v / ps[k]))
                .collect(),
            loss_ref,
            cancel: None,
            rel_tol: LM_REL_TOL,
            abandon_above: f64::INFINITY,
            l1: L1Options::default(),
        }
    }

    /// The same terms with Levenberg–Marquardt's relative tolerance `rel_tol` and giving up
    /// above `abandon_above`.
    pub fn with_stop(mut self, rel_tol: f64, abandon_above: f64) -> Terms<'c> {
        self.rel_tol = rel_tol;
        self.abandon_above = abandon_above;
        self
    }

    /// The same terms with the L1 options `l1`.
    pub fn with_l1(mut self, l1: L1Options<'c>) -> Terms<'c> {
        self.l1 = l1;
        self
    }

    /// The same terms, stopped by `cancel`.
    pub fn with_cancel(mut self, cancel: &'c AtomicBool) -> Terms<'c> {
        self.cancel = Some(cancel);
        self
    }

    /// A stop was requested.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Whether any coordinate has a finite bound.
    pub fn bounded(&self) -> bool {
        self.lo.iter().any(|v| v.is_finite()) || self.hi.iter().any(|v| v.is_finite())
    }

    /// `q` moved into the box of bounds.
    pub fn project(&self, q: &mut [f64]) {
        for (k, v) in q.iter_mut().enumerate() {
            *v = v.clamp(self.lo[k], self.hi[k]);
        }
    }
}

/// Why an optimiser stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    /// The gradient or the change of cost fell below the tolerance.
    Converged,
    /// An accepted step lowered the loss by less than this fraction.
    SmallDecrease(f64),
    /// No step lowers the loss any more (a minimum to working precision).
    NoFurtherDecrease,
    /// The line search could not find a lower point (argmin's message).
    LineSearch(String),
    MaxIters,
    NoFreeParameters,
    Cancelled,
    /// The loss stayed above the level at which the start was judged hopeless.
    Abandoned,
    /// The optimiser failed (its message).
    Failed(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Converged => write!(f, "converged"),
            StopReason::SmallDecrease(tol) => write!(f, "relative decrease below {tol:e}"),
            StopReason::NoFurtherDecrease => write!(f, "no further decrease"),
            StopReason::LineSearch(m) => write!(f, "the line search gave up ({m})"),
            StopReason::MaxIters => write!(f, "iteration limit"),
            StopReason::NoFreeParameters => write!(f, "no free parameters"),
            StopReason::Cancelled => write!(f, "stopped on request"),
            StopReason::Abandoned => write!(f, "abandoned (far worse than another candidate)"),
            StopReason::Failed(m) => write!(f, "the optimiser failed: {m}"),
        }
    }
}

/// What an optimisation found.
#[derive(Debug)]
pub struct OptResult {
    pub q: Vec<f64>,
    /// Data loss (not normalised) at q.
    pub loss: f64,
    pub iters: u64,
    pub converged: bool,
    pub reason: StopReason,
    pub failures: usize,
    /// Pieces that needed BDF at q.
    pub bdf_pieces: usize,
    /// Data loss at the starting point.
    pub start_loss: f64,
    /// Piece failures met at every point evaluated (penalised trial points included).
    pub failures_met: usize,
    /// Per state, the squared scaled mismatch at q over the pieces that integrated (empty when
    /// the last evaluation did not compute it).
    pub rss: Vec<f64>,
}

impl OptResult {
    /// The result at `q0` when there is nothing to optimise (no free parameters) or the fit was
    /// cancelled; None when the optimiser should run.
    fn unmoved(ev: &Evaluator, terms: &Terms, q0: &[f64]) -> Option<OptResult> {
        let reason = if q0.is_empty() {
            StopReason::NoFreeParameters
        } else if terms.cancelled() {
            StopReason::Cancelled
        } else {
            return None;
        };
        Some(OptResult::at(q0.to_vec(), ev.eval(q0, false), reason))
    }

    /// The result of an optimisation with nothing to move: the evaluation at `q`.
    fn at(q: Vec<f64>, e: Eval, reason: StopReason) -> OptResult {
        let start_loss = e.loss;
        let converged = reason != StopReason::Cancelled;
        OptResult::new(q, e, (0, converged, reason), start_loss)
    }

    /// The result at `q` with its evaluation `fin`, after (iterations, converged, reason).
    fn new(q: Vec<f64>, fin: Eval, stop: (u64, bool, StopReason), start_loss: f64) -> OptResult {
        let (iters, converged, reason) = stop;
        OptResult {
            q,
            loss: fin.loss,
            iters,
            converged,
            reason,
            failures: fin.failures,
            bdf_pieces: fin.bdf_pieces,
            start_loss,
            failures_met: fin.failures,
            rss: fin.rss,
        }
    }
}
