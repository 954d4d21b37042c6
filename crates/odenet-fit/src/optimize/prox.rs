//! The proximal L1 step: argmin's L-BFGS on the smooth loss over the nonzero coordinates,
//! alternated with proximal-gradient steps (soft-thresholding) on every coordinate.
//!
//! The objective is F(q) = f(q) + μ Σ_{k sparse} |q_k| over the box lo ≤ q ≤ hi, with f the
//! normalised data loss. Each cycle
//!
//! 1. runs argmin's L-BFGS over the coordinates that are nonzero and strictly inside their
//!    bounds (the others held), each kept in its orthant, where F is smooth: the L1 term is
//!    μ·sign(q_k)·q_k, and a change of variables (as in `lbfgs`) keeps the bounds and the signs;
//! 2. takes proximal-gradient steps q ← clamp(S_{tμ}(q − t∇f(q)), lo, hi) (S the
//!    soft-thresholding of the sparse coordinates), t from a Barzilai–Borwein guess and a
//!    backtracking line search on f (the usual sufficient decrease f(z) ≤ f(q) + ∇f·(z − q) +
//!    ‖z − q‖²/2t). These steps set small coefficients exactly to zero, bring back a zero whose
//!    gradient exceeds μ, and release a coordinate held at a bound or heading for zero.
//!
//! The zeros are exact and the L1 weight is per coordinate (non-sparse parameters are not
//! penalised), unlike argmin's OWL-QN; the smoothing width of the pseudo-Huber term does not
//! enter. Measured against both in benches/README.md ("L1: proximal step against the smoothed
//! penalty").

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::bounds::to_bounded;
use super::{OptResult, StopReason, Terms};
use crate::evaluate::{Eval, Evaluator};

/// L-BFGS memory.
const MEMORY: usize = 10;
/// Proximal-gradient steps per cycle (fewer when the support and signs settle).
const POLISH_STEPS: usize = 3;
/// L-BFGS iterations per cycle. On the lasso tests 5 or 10 restart L-BFGS too often on
/// correlated columns (600 evaluations), and one phase run until L-BFGS stops lets it crawl
/// towards zeros the proximal step would set at once (1.5–2× the evaluations of 20).
const PHASE_ITERS: u64 = 20;
/// Shortenings of the step in one proximal-gradient line search: each costs an evaluation, and
/// more than a few means the decrease is below the loss's noise (measured: 10 instead of 5
/// spent 40% more evaluations on the actin data-driven fits for the same result).
const MAX_BACKTRACKS: usize = 5;
/// Stationarity: the proximal-gradient step moves no coordinate by more than this (relative to
/// max(1, ‖q‖∞)).
const STEP_TOL: f64 = 1e-9;
/// A proximal step at most this many times the last accepted one (a Barzilai–Borwein step along
/// a flat direction can be huge, and each halving costs an evaluation).
const MAX_STEP_GROWTH: f64 = 4.0;

/// When a proximal run stops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tolerances {
    /// L-BFGS: the norm of the gradient.
    pub grad: f64,
    /// L-BFGS: the decrease of F in one iteration, relative to F at the phase's start (argmin's
    /// cost tolerance is absolute).
    pub cost: f64,
    /// A cycle that lowers F by less than this fraction, the support unchanged, ends the run.
    pub cycle: f64,
}

/// In a fit: L-BFGS's tolerances of the smoothed L1 (`lbfgs`, on F of order one), and cycles
/// that lower F by less than 1e-4 end the run, far below what model selection resolves (the
/// L1 rounds only shape the path). Tighter tolerances let argmin's line search spend dozens of
/// evaluations per iteration on decreases within the loss's own noise (the integrator's
/// tolerance and the profiled starts).
const FIT_TOLERANCES: Tolerances = Tolerances {
    grad: 1e-7,
    cost: 1e-9,
    cycle: 1e-4,
};

/// The smooth part f of the objective: q ↦ (f(q), ∇f(q)), or None to stop (a cancelled fit).
pub(crate) type SmoothPart<'a> = dyn Fn(&[f64]) -> Option<(f64, Vec<f64>)> + 'a;

/// What a proximal run found.
pub(crate) struct ProxRun {
    pub q: Vec<f64>,
    /// f(q) (the smooth part).
    pub f: f64,
    /// F(q) = f(q) + μ‖q_sparse‖₁.
    pub value: f64,
    /// L-BFGS iterations plus proximal-gradient steps.
    pub iters: u64,
    pub reason: StopReason,
}

/// A point with its smooth value and gradient.
#[derive(Clone)]
struct Point {
    q: Vec<f64>,
    f: f64,
    g: Vec<f64>,
}

/// The L1 term μ Σ_{k sparse} |q_k|.
fn l1(terms: &Terms, q: &[f64]) -> f64 {
    terms.mu
        * q.iter()
            .zip(&terms.sparse)
            .filter(|(_, s)| **s)
            .map(|(v, _)| v.abs())
            .sum::<f64>()
}

/// The proximal map of t·μ|·| (sparse coordinates) plus the box, applied to q − t·g, into `z`.
fn prox_step(terms: &Terms, p: &Point, t: f64, z: &mut [f64]) {
    for (k, zk) in z.iter_mut().enumerate() {
        let v = p.q[k] - t * p.g[k];
        let v = if terms.sparse[k] {
            v.signum() * (v.abs() - t * terms.mu).max(0.0)
        } else {
            v
        };
        *zk = v.clamp(terms.lo[k], terms.hi[k]);
    }
}

/// The support and signs of q: −1, 0 or +1 per coordinate.
fn signs(q: &[f64]) -> Vec<i8> {
    q.iter()
        .map(|&v| {
            if v > 0.0 {
                1
            } else if v < 0.0 {
                -1
            } else {
                0
            }
        })
        .collect()
}

/// How a proximal-gradient step ended.
enum Step {
    /// The new point and the accepted step.
    Moved(Point, f64),
    /// The step does not move q: q is a stationary point of F.
    Stationary,
    /// No step lowers f enough (the backtracking gave up).
    Failed,
    /// The smooth part asked to stop.
    Stopped,
}

/// One proximal-gradient step from `p` with the initial step `t`, shortened until the
/// sufficient decrease holds (to the curvature the failed step measured, at least halved).
fn proximal_gradient(f: &SmoothPart, terms: &Terms, p: &Point, mut t: f64) -> Step {
    let n = p.q.len();
    let mut z = vec![0.0; n];
    for _ in 0..MAX_BACKTRACKS {
        prox_step(terms, p, t, &mut z);
        let mut lin = 0.0;
        let mut sq = 0.0;
        let mut moved = 0.0_f64;
        for ((zk, qk), gk) in z.iter().zip(&p.q).zip(&p.g) {
            let d = zk - qk;
            lin += gk * d;
            sq += d * d;
            moved = moved.max(d.abs());
        }
        if moved == 0.0 {
            return Step::Stationary;
        }
        let Some((fz, gz)) = f(&z) else {
            return Step::Stopped;
        };
        if fz.is_finite() && fz <= p.f + lin + sq / (2.0 * t) {
            return Step::Moved(Point { q: z, f: fz, g: gz }, t);
        }
        // The curvature of f along the step: the condition holds for t ≤ 1/c on a quadratic.
        let c = 2.0 * (fz - p.f - lin) / sq;
        t = if c.is_finite() && c > 0.0 {
            (0.9 / c).clamp(1e-3 * t, 0.5 * t)
        } else {
            0.5 * t
        };
    }
    Step::Failed
}

/// The (short) Barzilai–Borwein step s·y / y·y between two points (None without positive
/// curvature): the inverse of the largest curvature along s, so few step halvings follow.
fn bb_step(a: &Point, b: &Point) -> Option<f64> {
    let (mut sy, mut yy) = (0.0, 0.0);
    for k in 0..a.q.len() {
        let y = b.g[k] - a.g[k];
        sy += (b.q[k] - a.q[k]) * y;
        yy += y * y;
    }
    (sy > 0.0 && yy > 0.0)
        .then(|| sy / yy)
        .filter(|t| t.is_finite())
}

/// A stop requested through the smooth part, raised from the cost function to end argmin's run.
#[derive(Debug, thiserror::Error)]
#[error("stopped on request")]
struct Stopped;

/// The last point argmin evaluated: (u, cost, gradient).
type CacheEntry = (Vec<f64>, f64, Vec<f64>);

/// The inverse of `to_bounded` for a q strictly inside its bounds (no margin: a coordinate very
/// near a bound or zero barely moves in L-BFGS; the proximal steps move it).
fn unbounded(q: f64, lo: f64, hi: f64) -> f64 {
    let inv_softplus = |d: f64| {
        let d = d.max(f64::MIN_POSITIVE);
        if d > 30.0 { d } else { d.exp_m1().ln() }
    };
    match (lo.is_finite(), hi.is_finite()) {
        (false, false) => q,
        (true, false) => inv_softplus(q - lo),
        (false, true) => inv_softplus(hi - q),
        (true, true) => {
            let f = ((q - lo) / (hi - lo)).clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
            (f / (1.0 - f)).ln()
        }
    }
}

/// F over the free coordinates of `base` (the others held) within their orthants (a sparse
/// coordinate keeps its sign, so the L1 term is linear and F smooth), in the variables u of the
/// change of variables that keeps the bounds and orthants.
struct Phase<'a, 'f> {
    f: &'a SmoothPart<'f>,
    terms: &'a Terms<'a>,
    base: &'a [f64],
    free: Vec<usize>,
    /// Per free coordinate: its sign at the start (the L1 term's slope).
    sign: Vec<f64>,
    /// Per free coordinate: the bounds intersected with its orthant (sparse coordinates).
    lo: Vec<f64>,
    hi: Vec<f64>,
    cache: Mutex<Option<CacheEntry>>,
    /// The lowest F evaluated, with its point.
    best: Mutex<Option<(f64, Point)>>,
    /// The smooth part asked to stop (argmin may wrap the error it was given).
    stopped: AtomicBool,
}

impl Phase<'_, '_> {
    fn full(&self, u: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut q = self.base.to_vec();
        let mut dq = vec![0.0; u.len()];
        for (j, &k) in self.free.iter().enumerate() {
            let (v, d) = to_bounded(u[j], self.lo[j], self.hi[j]);
            q[k] = v;
            dq[j] = d;
        }
        (q, dq)
    }

    fn variables(&self, q: &[f64]) -> Vec<f64> {
        self.free
            .iter()
            .enumerate()
            .map(|(j, &k)| unbounded(q[k], self.lo[j], self.hi[j]))
            .collect()
    }

    fn cost_grad(&self, u: &[f64]) -> Result<(f64, Vec<f64>), Stopped> {
        if let Ok(c) = self.cache.lock()
            && let Some((cu, cost, g)) = c.as_ref()
            && cu.as_slice() == u
        {
            return Ok((*cost, g.clone()));
        }
        let (q, dq) = self.full(u);
        let Some((fv, g)) = (self.f)(&q) else {
            self.stopped.store(true, Ordering::Relaxed);
            return Err(Stopped);
        };
        let mu = self.terms.mu;
        let mut cost = fv + l1(self.terms, &q);
        let mut gu = vec![0.0; u.len()];
        for (j, &k) in self.free.iter().enumerate() {
            let mut gk = g[k];
            if self.terms.sparse[k] {
                // The change of variables keeps q_k in its orthant: the slope is its sign there.
                gk += mu * self.sign[j];
            }
            gu[j] = gk * dq[j];
        }
        if cost.is_finite() {
            if let Ok(mut b) = self.best.lock()
                && b.as_ref().is_none_or(|(v, _)| cost < *v)
            {
                *b = Some((cost, Point { q, f: fv, g }));
            }
        } else {
            cost = f64::MAX / 4.0;
            gu.iter_mut().for_each(|v| *v = 0.0);
        }
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((u.to_vec(), cost, gu.clone()));
        }
        Ok((cost, gu))
    }
}

impl CostFunction for &Phase<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.cost_grad(u)?.0)
    }
}

impl Gradient for &Phase<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, u: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.cost_grad(u)?.1)
    }
}

/// The outcome of one L-BFGS phase.
enum PhaseEnd {
    /// The best point and the iterations used.
    Done(Point, u64),
    Stopped,
}

/// argmin's L-BFGS over the nonzero coordinates of `p` that are strictly inside their bounds.
fn lbfgs_phase(
    f: &SmoothPart,
    terms: &Terms,
    p: &Point,
    max_iters: u64,
    tol: Tolerances,
) -> PhaseEnd {
    let free: Vec<usize> = (0..p.q.len())
        .filter(|&k| {
            (p.q[k] != 0.0 || !terms.sparse[k]) && p.q[k] > terms.lo[k] && p.q[k] < terms.hi[k]
        })
        .collect();
    if free.is_empty() || max_iters == 0 {
        return PhaseEnd::Done(p.clone(), 0);
    }
    let sign: Vec<f64> = free.iter().map(|&k| p.q[k].signum()).collect();
    let orthant = |k: usize, s: f64| terms.sparse[k].then_some(s);
    let phase = Phase {
        f,
        terms,
        base: &p.q,
        lo: free
            .iter()
            .zip(&sign)
            .map(|(&k, &s)| match orthant(k, s) {
                Some(s) if s > 0.0 => terms.lo[k].max(0.0),
                _ => terms.lo[k],
            })
            .collect(),
        hi: free
            .iter()
            .zip(&sign)
            .map(|(&k, &s)| match orthant(k, s) {
                Some(s) if s < 0.0 => terms.hi[k].min(0.0),
                _ => terms.hi[k],
            })
            .collect(),
        sign,
        free,
        cache: Mutex::new(None),
        best: Mutex::new(None),
        stopped: AtomicBool::new(false),
    };
    let u0 = phase.variables(&p.q);
    let start = p.f + l1(terms, &p.q);
    // argmin starts by evaluating u0: the cost and gradient at p are known.
    if start.is_finite() {
        let (_, dq) = phase.full(&u0);
        let gu = phase
            .free
            .iter()
            .zip(&phase.sign)
            .zip(&dq)
            .map(|((&k, &s), &d)| (p.g[k] + if terms.sparse[k] { terms.mu * s } else { 0.0 }) * d)
            .collect();
        if let Ok(mut c) = phase.cache.lock() {
            *c = Some((u0.clone(), start, gu));
        }
    }
    let run = || -> Result<u64, argmin::core::Error> {
        // argmin's cost tolerance is absolute: relative to F at the start.
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY)
            .with_tolerance_grad(tol.grad)?
            .with_tolerance_cost(tol.cost * start.abs())?;
        let res = Executor::new(&phase, solver)
            .configure(|s| s.param(u0.clone()).max_iters(max_iters))
            .ctrlc(false)
            .run()?;
        Ok(res.state().get_iter())
    };
    let iters = match run() {
        _ if phase.stopped.load(Ordering::Relaxed) => return PhaseEnd::Stopped,
        Ok(it) => it,
        // argmin's other errors (a line search on a non-finite cost): keep the best point seen.
        Err(_) => max_iters,
    };
    let best = phase.best.into_inner().ok().flatten();
    let Some((value, best)) = best else {
        return PhaseEnd::Done(p.clone(), iters);
    };
    if value >= start {
        return PhaseEnd::Done(p.clone(), iters);
    }

    PhaseEnd::Done(best, iters)
}

/// Minimises f(q) + μ‖q_sparse‖₁ over the box of `terms` from `q0` (moved into the box):
/// proximal-gradient steps alternated with L-BFGS on the nonzero coordinates, for at most
/// `max_iters` L-BFGS iterations plus proximal steps.
pub(crate) fn proximal(
    f: &SmoothPart,
    terms: &Terms,
    mut q0: Vec<f64>,
    max_iters: u64,
    tol: Tolerances,
) -> ProxRun {
    terms.project(&mut q0);
    let stopped = |p: Point, iters| ProxRun {
        value: p.f + l1(terms, &p.q),
        q: p.q,
        f: p.f,
        iters,
        reason: StopReason::Cancelled,
    };
    let Some((f0, g0)) = f(&q0) else {
        return stopped(
            Point {
                q: q0,
                f: f64::NAN,
                g: Vec::new(),
            },
            0,
        );
    };
    let mut p = Point {
        q: q0,
        f: f0,
        g: g0,
    };
    // The first step moves a coordinate by at most a tenth of max(1, ‖q‖∞), by the gradient or
    // by the threshold (near a minimum of f the gradient alone would allow any step).
    let gmax = p.g.iter().fold(terms.mu, |m, v| m.max(v.abs()));
    let qmax = p.q.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let mut t = if gmax > 0.0 { 0.1 * qmax / gmax } else { 1.0 };
    // The last accepted proximal step (the first guess until one is).
    let mut t_ok = t;
    let mut iters = 0u64;
    let reason = loop {
        let cycle_start = p.f + l1(terms, &p.q);
        let support = signs(&p.q);
        // 1. L-BFGS on the nonzero coordinates, leaving a proximal step for the end.
        let left = max_iters - iters;
        let budget = (left - 1).min(PHASE_ITERS);
        if budget > 0 {
            match lbfgs_phase(f, terms, &p, budget, tol) {
                PhaseEnd::Stopped => return stopped(p, iters),
                PhaseEnd::Done(z, it) => {
                    iters += it.max(1);
                    if let Some(tb) = bb_step(&p, &z) {
                        t = tb.min(MAX_STEP_GROWTH * t_ok);
                    }
                    p = z;
                }
            }
        }
        let progressed = p.f + l1(terms, &p.q) < cycle_start;
        // 2. Proximal-gradient steps (until the signs settle).
        let mut end = None;
        for _ in 0..POLISH_STEPS {
            if iters >= max_iters {
                break;
            }
            let before = signs(&p.q);
            match proximal_gradient(f, terms, &p, t) {
                Step::Stopped => return stopped(p, iters),
                Step::Stationary => {
                    end = Some(StopReason::Converged);
                    break;
                }
                Step::Failed => {
                    // Nothing lowers F along the proximal-gradient path: done, unless L-BFGS
                    // still made progress (then it gets another phase).
                    if !progressed {
                        end = Some(StopReason::NoFurtherDecrease);
                    }
                    iters += 1;
                    break;
                }
                Step::Moved(z, ta) => {
                    iters += 1;
                    let qmax = p.q.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
                    let moved =
                        z.q.iter()
                            .zip(&p.q)
                            .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
                    t_ok = ta;
                    t = bb_step(&p, &z).map_or(2.0 * ta, |tb| tb.min(MAX_STEP_GROWTH * ta));
                    p = z;
                    if moved <= STEP_TOL * qmax {
                        end = Some(StopReason::Converged);
                        break;
                    }
                    if signs(&p.q) == before {
                        break;
                    }
                }
            }
        }
        if let Some(reason) = end {
            break reason;
        }
        if iters >= max_iters {
            break StopReason::MaxIters;
        }
        let value = p.f + l1(terms, &p.q);
        if cycle_start - value <= tol.cycle * cycle_start.abs() && signs(&p.q) == support {
            break StopReason::SmallDecrease(tol.cycle);
        }
    };
    ProxRun {
        value: p.f + l1(terms, &p.q),
        q: p.q,
        f: p.f,
        iters,
        reason,
    }
}

/// A point the fit evaluated: (q, loss, failures, BDF pieces).
type Seen = (Vec<f64>, f64, usize, usize);

/// Minimises loss/loss_ref + μ‖q_sparse‖₁ from `q0` by the proximal L1 step ([`proximal`]).
pub fn minimize_prox(ev: &Evaluator, terms: &Terms, q0: Vec<f64>, max_iters: u64) -> OptResult {
    if let Some(r) = OptResult::unmoved(ev, terms, &q0) {
        return r;
    }
    let seen: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let guard = Mutex::new((f64::INFINITY, Vec::new()));
    let r = terms.loss_ref;
    let smooth = |q: &[f64]| -> Option<(f64, Vec<f64>)> {
        if terms.cancelled() {
            return None;
        }
        let e = match guard.lock() {
            Ok(mut g) => ev.eval_guarded(q, true, &mut g),
            Err(_) => ev.eval(q, true),
        };
        if let Ok(mut s) = seen.lock() {
            s.push((q.to_vec(), e.loss, e.failures, e.bdf_pieces));
        }
        let mut cost = e.loss / r;
        let mut g: Vec<f64> = e.grad.iter().map(|v| v / r).collect();
        if !cost.is_finite() {
            cost = f64::MAX / 4.0;
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        Some((cost, g))
    };
    let run = proximal(&smooth, terms, q0, max_iters, FIT_TOLERANCES);
    let seen = seen.into_inner().unwrap_or_default();
    let start_loss = seen.first().map_or(f64::NAN, |s| s.1);
    let met = seen.iter().map(|s| s.2).sum();
    let fin = match seen.iter().rev().find(|s| s.0 == run.q) {
        Some(&(_, loss, failures, bdf_pieces)) => Eval {
            loss,
            failures,
            bdf_pieces,
            ..Default::default()
        },
        None => ev.eval(&run.q, false),
    };
    tracing::trace!(value = run.value, f = run.f, iters = run.iters, reason = %run.reason, "proximal L1");
    let converged = match run.reason {
        StopReason::Converged | StopReason::NoFurtherDecrease | StopReason::SmallDecrease(_) => {
            fin.loss.is_finite()
        }
        _ => false,
    };
    let mut res = OptResult::new(run.q, fin, (run.iters, converged, run.reason), start_loss);
    res.failures_met = met;
    res
}

#[cfg(test)]
mod tests;
