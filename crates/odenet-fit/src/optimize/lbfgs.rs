//! argmin's L-BFGS on the normalised loss with an L1 term on the sparse coordinates.
//!
//! The default L1 term is a smooth pseudo-Huber |q| ≈ sqrt(q² + ε²) − ε on the sparse
//! coordinates only (nuisance coordinates and non-sparse parameters, which OWL-QN's single scalar
//! λ would also touch, stay free); pruning makes the zeros exact. Bounds are kept by a change of
//! variables q = T(u) (the alternative evaluates the loss at the projection onto the box plus a
//! quadratic penalty on the distance to it). Both choices are measured in benches/README.md.

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::bounds::{from_bounded, to_bounded};
use super::{L1Step, OptResult, StopReason, Terms};
use crate::evaluate::{Eval, Evaluator};

/// Width of the pseudo-Huber smoothing of |q| (normalised units).
const HUBER_EPS: f64 = 1e-4;
/// Weight of the squared distance to the box of bounds (projection).
const BOUND_PENALTY: f64 = 1e4;
/// L-BFGS memory.
const MEMORY: usize = 10;

/// How bounds are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundMethod {
    /// q = T(u) (softplus / logistic): the default, ~3× fewer evaluations with an active bound.
    Transform,
    /// The loss at the projection onto the box plus a quadratic pull back from outside it.
    #[cfg_attr(not(test), expect(dead_code, reason = "the measured alternative"))]
    Projection,
}

/// The last point evaluated: (u, cost, gradient). argmin asks for the cost and the gradient at
/// the same point separately; one sensitivity sweep serves both.
type CacheEntry = (Vec<f64>, f64, Vec<f64>);

/// A point L-BFGS evaluated (projected): (q, loss, failures, BDF pieces).
type Seen = (Vec<f64>, f64, usize, usize);

/// A stop requested through [`Terms::cancel`], raised from the cost function to end argmin's run.
#[derive(Debug, thiserror::Error)]
#[error("stopped on request")]
struct Cancelled;

struct Objective<'a, 'p, 'm> {
    ev: &'a Evaluator<'p, 'm>,
    terms: &'a Terms<'a>,
    l1: L1Step,
    /// The optimiser's variables are u with q = T(u) (`to_bounded`), not q itself.
    transform: bool,
    cache: Mutex<Option<CacheEntry>>,
    /// Every point evaluated (projected) with its loss, failures and BDF pieces, in order:
    /// the first is the start, and the result is among them.
    seen: Mutex<Vec<Seen>>,
    /// The lowest loss evaluated so far and a buffer for the profiled starts
    /// ([`Evaluator::eval_guarded`]).
    guard: Mutex<(f64, Vec<f64>)>,
}

impl Objective<'_, '_, '_> {
    fn project(&self, q: &[f64]) -> Vec<f64> {
        let mut p = q.to_vec();
        self.terms.project(&mut p);
        p
    }

    /// Cost and gradient at the optimiser's variables u: the loss at the point q they stand for
    /// (q = T(u), with the chain rule through dq/du; or the projection of u onto the box, with a
    /// quadratic pull back from outside it), plus the smoothed L1 term.
    fn cost_grad(&self, u: &[f64]) -> Result<(f64, Vec<f64>), Cancelled> {
        if let Ok(c) = self.cache.lock()
            && let Some((cu, cost, g)) = c.as_ref()
            && cu.as_slice() == u
        {
            return Ok((*cost, g.clone()));
        }
        if self.terms.cancelled() {
            return Err(Cancelled);
        }
        let (q, dq): (Vec<f64>, Vec<f64>) = if self.transform {
            u.iter()
                .enumerate()
                .map(|(k, &v)| to_bounded(v, self.terms.lo[k], self.terms.hi[k]))
                .unzip()
        } else {
            (self.project(u), vec![1.0; u.len()])
        };
        let ev = match self.guard.lock() {
            Ok(mut g) => self.ev.eval_guarded(&q, true, &mut g),
            Err(_) => self.ev.eval(&q, true),
        };
        tracing::trace!(?q, ?u, loss = ev.loss, grad = ?ev.grad, "lbfgs eval");
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((q.clone(), ev.loss, ev.failures, ev.bdf_pieces));
        }
        let r = self.terms.loss_ref;
        let mut cost = ev.loss / r;
        let mut g: Vec<f64> = ev.grad.iter().map(|v| v / r).collect();
        let smoothed = self.l1 == L1Step::Smoothed && self.terms.mu > 0.0;
        for k in 0..u.len() {
            let d = u[k] - q[k];
            if !self.transform && d != 0.0 {
                // Outside the box: the projected loss is flat along k; pull back in.
                g[k] = 2.0 * BOUND_PENALTY * d;
                cost += BOUND_PENALTY * d * d;
            }
            if smoothed && self.terms.sparse[k] {
                // On the value the optimiser moves: q through T, or u itself under projection.
                let v = if self.transform { q[k] } else { u[k] };
                let s = (v * v + HUBER_EPS * HUBER_EPS).sqrt();
                cost += self.terms.mu * (s - HUBER_EPS);
                g[k] += self.terms.mu * v / s;
            }
            g[k] *= dq[k];
        }
        if !cost.is_finite() {
            cost = f64::MAX / 4.0;
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((u.to_vec(), cost, g.clone()));
        }
        Ok((cost, g))
    }

    /// The q of the optimiser's variables (the identity unless `transform`).
    fn params(&self, u: &[f64]) -> Vec<f64> {
        if !self.transform {
            return u.to_vec();
        }
        u.iter()
            .enumerate()
            .map(|(k, &v)| to_bounded(v, self.terms.lo[k], self.terms.hi[k]).0)
            .collect()
    }

    /// The optimiser's variables of a q (the identity unless `transform`).
    fn variables(&self, q: &[f64]) -> Vec<f64> {
        if !self.transform {
            return q.to_vec();
        }
        q.iter()
            .enumerate()
            .map(|(k, &v)| from_bounded(v, self.terms.lo[k], self.terms.hi[k]))
            .collect()
    }
}

/// Minimises loss/loss_ref + μ‖q_sparse‖₁ from `q0` with the L1 step (smoothed or OWL-QN, not
/// proximal) and the bound method chosen. OWL-QN falls back to the smoothed L1 where it does not
/// apply (a coordinate that is not sparse, or a bound).
pub fn minimize_with(
    ev: &Evaluator,
    terms: &Terms,
    q0: Vec<f64>,
    max_iters: u64,
    l1: L1Step,
    bounds: BoundMethod,
) -> OptResult {
    if let Some(r) = OptResult::unmoved(ev, terms, &q0) {
        return r;
    }
    let bounded = terms.bounded();
    let owlqn =
        l1 == L1Step::OwlQn && terms.mu > 0.0 && !bounded && terms.sparse.iter().all(|&s| s);
    let obj = Objective {
        ev,
        terms,
        l1: if owlqn {
            L1Step::OwlQn
        } else {
            L1Step::Smoothed
        },
        transform: bounds == BoundMethod::Transform && bounded,
        cache: Mutex::new(None),
        seen: Mutex::new(Vec::new()),
        guard: Mutex::new((f64::INFINITY, Vec::new())),
    };
    let q_start = obj.variables(&obj.project(&q0));
    let run = || -> Result<(Vec<f64>, u64, TerminationReason), argmin::core::Error> {
        let mut solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY)
            .with_tolerance_grad(1e-7)?
            .with_tolerance_cost(1e-9)?;
        if owlqn {
            solver = solver.with_l1_regularization(terms.mu)?;
        }
        let res = Executor::new(&obj, solver)
            .configure(|s| s.param(q_start.clone()).max_iters(max_iters))
            .ctrlc(false)
            .run()?;
        let st = res.state();
        let u = st
            .get_best_param()
            .cloned()
            .unwrap_or_else(|| q_start.clone());
        let reason = st
            .get_termination_reason()
            .cloned()
            .unwrap_or(TerminationReason::SolverConverged);
        Ok((u, st.get_iter(), reason))
    };
    let seen_best = |seen: &[Seen]| {
        seen.iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|s| s.0.clone())
    };
    let (q, iters, reason) = match run() {
        Ok((u, it, reason)) => (obj.project(&obj.params(&u)), it, stop_reason(reason)),
        Err(e) if e.is::<Cancelled>() || terms.cancelled() => {
            let seen = obj.seen.lock().map(|s| seen_best(&s)).ok().flatten();
            (seen.unwrap_or(q0), 0, StopReason::Cancelled)
        }
        Err(e) => (obj.project(&q0), 0, StopReason::Failed(e.to_string())),
    };
    // The result was evaluated on the way (argmin keeps the best point it evaluated).
    let seen = obj.seen.into_inner().unwrap_or_default();
    let start_loss = seen.first().map_or(f64::NAN, |s| s.1);
    let met = seen.iter().map(|s| s.2).sum();
    let fin = match seen.iter().rev().find(|s| s.0 == q) {
        Some(&(_, loss, failures, bdf_pieces)) => Eval {
            loss,
            failures,
            bdf_pieces,
            ..Default::default()
        },
        None => ev.eval(&q, false),
    };
    let converged = match &reason {
        StopReason::Converged => true,
        // A line search that cannot improve any more is the usual way L-BFGS ends on a noisy,
        // flat minimum; count it as converged when the loss is finite.
        StopReason::LineSearch(_) => fin.loss.is_finite(),
        _ => false,
    };
    let mut r = OptResult::new(q, fin, (iters, converged, reason), start_loss);
    r.failures_met = met;
    r
}

/// argmin's termination reason for L-BFGS as a [`StopReason`] (its only solver exit is the line
/// search's).
fn stop_reason(r: TerminationReason) -> StopReason {
    match r {
        TerminationReason::SolverConverged | TerminationReason::TargetCostReached => {
            StopReason::Converged
        }
        TerminationReason::MaxItersReached => StopReason::MaxIters,
        TerminationReason::SolverExit(m) => StopReason::LineSearch(m),
        TerminationReason::Interrupt | TerminationReason::Timeout => StopReason::Cancelled,
    }
}

impl CostFunction for &Objective<'_, '_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.cost_grad(u)?.0)
    }
}

impl Gradient for &Objective<'_, '_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.cost_grad(u)?.1)
    }
}

/// A smooth function: z ↦ (cost, gradient).
pub type SmoothFn<'a> = dyn Fn(&[f64]) -> (f64, Vec<f64>) + Sync + 'a;

/// A smooth objective given as a closure returning (cost, gradient), for argmin's L-BFGS.
struct Smooth<'a> {
    f: &'a SmoothFn<'a>,
    cache: Mutex<Option<CacheEntry>>,
}

impl Smooth<'_> {
    fn cost_grad(&self, z: &[f64]) -> (f64, Vec<f64>) {
        if let Ok(c) = self.cache.lock()
            && let Some((cz, cost, g)) = c.as_ref()
            && cz.as_slice() == z
        {
            return (*cost, g.clone());
        }
        let (mut cost, mut g) = (self.f)(z);
        if !cost.is_finite() {
            cost = f64::MAX / 4.0;
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((z.to_vec(), cost, g.clone()));
        }
        (cost, g)
    }
}

impl CostFunction for &Smooth<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, z: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.cost_grad(z).0)
    }
}

impl Gradient for &Smooth<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, z: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.cost_grad(z).1)
    }
}

/// Minimises a smooth function with argmin's L-BFGS; returns the best point, its cost, the
/// iterations and whether it converged.
pub fn lbfgs_smooth(f: &SmoothFn<'_>, z0: Vec<f64>, max_iters: u64) -> (Vec<f64>, f64, u64, bool) {
    let obj = Smooth {
        f,
        cache: Mutex::new(None),
    };
    let run = || -> Result<(Vec<f64>, f64, u64, TerminationReason), argmin::core::Error> {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY)
            .with_tolerance_grad(1e-10)?
            .with_tolerance_cost(1e-12)?;
        let res = Executor::new(&obj, solver)
            .configure(|s| s.param(z0.clone()).max_iters(max_iters))
            .ctrlc(false)
            .run()?;
        let st = res.state();
        let z = st.get_best_param().cloned().unwrap_or_else(|| z0.clone());
        let reason = st
            .get_termination_reason()
            .cloned()
            .unwrap_or(TerminationReason::SolverConverged);
        Ok((z, st.get_best_cost(), st.get_iter(), reason))
    };
    match run() {
        Ok((z, c, it, reason)) => {
            let ok = !matches!(reason, TerminationReason::MaxItersReached);
            (z, c, it, ok)
        }
        Err(_) => {
            let c = obj.cost_grad(&z0).0;
            (z0, c, 0, false)
        }
    }
}

#[cfg(test)]
mod tests;
