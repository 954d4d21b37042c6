//! The optimisers of a fit: argmin's L-BFGS on the normalised loss with an L1 term on sparse
//! coordinates (`lbfgs`), Levenberg–Marquardt on the Gauss–Newton matrix for least-squares
//! refits (`lm`), and the change of variables that keeps bounds (`bounds`). Each returns an
//! [`OptResult`] with a typed [`StopReason`].

mod bounds;
mod lbfgs;
mod lm;

use std::sync::atomic::{AtomicBool, Ordering};

pub use lbfgs::{lbfgs_smooth, minimize};
pub use lm::levenberg_marquardt;

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
        }
    }

    /// The same terms with Levenberg–Marquardt's relative tolerance `rel_tol` and giving up
    /// above `abandon_above`.
    pub fn with_stop(mut self, rel_tol: f64, abandon_above: f64) -> Terms<'c> {
        self.rel_tol = rel_tol;
        self.abandon_above = abandon_above;
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
}

impl OptResult {
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
        }
    }
}
