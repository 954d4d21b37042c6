//! Models with hidden states known only at experiment starts, and templates that are not affine
//! in their parameters: where no regression guess exists, a global stage finds where the
//! exploration of the sparsity path starts.
//!
//! `multistart` draws starting points over the box of parameters, `shooting` is multiple
//! shooting (interior node states as unknowns, a continuity penalty that tightens over rounds).
//! Here: every start goes through multiple shooting, then the single-shooting fit; starts run in
//! parallel in fixed batches (so the result does not depend on the thread count), and a start is
//! abandoned as soon as it is clearly worse than the best of the batches before it. The number
//! of starts that reached the best loss (within one χ² unit) is the fit's confidence figure.

pub(crate) mod informed;
pub(crate) mod multistart;
pub(crate) mod shooting;
pub(crate) mod stepwise;
pub(crate) mod symmetry;

use rayon::prelude::*;

use crate::fit::Fitter;
use crate::optimize::Terms;
use crate::rng::Rng;
use crate::support::Support;
use informed::informed_start;
use multistart::{latin_hypercube, start_from};
use shooting::{Shooting, minimize};

/// Starts run together (a fixed number, whatever the thread count, so that abandonment — which
/// compares with the batches before — gives the same result on any machine).
const BATCH: usize = 4;
/// Starts per free parameter, and the bounds on their number.
const STARTS_PER_PARAM: usize = 2;
const MIN_STARTS: usize = 8;
const MAX_STARTS: usize = 32;
/// Continuity weights of the multiple-shooting rounds (per label, scaled units).
const WEIGHTS: [f64; 5] = [1.0, 10.0, 1e2, 1e3, 1e4];
/// Levenberg–Marquardt iterations per multiple-shooting round.
const SHOOT_ITERS: usize = 15;
/// A multiple-shooting round stops when a step lowers its objective by less than this fraction.
const SHOOT_REL_TOL: f64 = 1e-4;
/// Iterations and relative tolerance of the single-shooting fit that ends a start.
const SINGLE_ITERS: usize = 100;
const SINGLE_REL_TOL: f64 = 1e-7;
/// A start is abandoned when its loss stays above this factor times the best final loss of the
/// batches before it.
const ABANDON: f64 = 10.0;
/// Two minima are the same when every parameter agrees to this relative tolerance.
const SAME_MINIMUM: f64 = 1e-2;

/// One starting point: parameters (normalised) and, from an informed start, the full states at
/// the data rows that start multiple shooting.
#[derive(Clone, Debug)]
struct Point {
    q: Vec<f64>,
    states: Option<Vec<Vec<f64>>>,
}

/// What one start reached.
#[derive(Clone, Debug)]
struct Outcome {
    q: Vec<f64>,
    /// Node unknowns of the final single-shooting fit (the fitted initial values).
    s: Vec<f64>,
    loss: f64,
    abandoned: bool,
    /// Pieces that failed to integrate at the end of the first multiple-shooting round.
    first_failures: usize,
}

/// The result of the global stage.
#[derive(Clone, Debug)]
pub(crate) struct Global {
    /// Distinct minima of the starting support (values refitted by single shooting), best first.
    pub minima: Vec<(Support, f64)>,
    /// Starts tried, and how many of them reached the best loss within one χ² unit.
    pub starts: usize,
    pub at_best: usize,
    /// Per experiment, the best start's states at the data rows (scaled, NaN but at the
    /// experiment's start): where the fitted initial values are.
    pub start_states: Option<Vec<Vec<f64>>>,
}

/// Runs one start: multiple shooting over the weights, then single shooting (the same
/// Levenberg–Marquardt on whole experiments); abandoned when its loss stays above `abandon`.
fn run_start(fitter: &Fitter, start: &Support, point: &Point, abandon: f64) -> Outcome {
    let prob = fitter.prob;
    let terms = Terms::new(prob, &start.active, 0.0, 1.0);
    let bounds = (&terms.lo[..], &terms.hi[..]);
    let cancelled = || fitter.control.cancelled();
    let single = Shooting::new(prob, start.active.clone(), fitter.base.clone(), 1);
    let multi = Shooting::new(prob, start.active.clone(), fitter.base.clone(), usize::MAX);
    let mut q = point.q.clone();
    let mut states = point.states.clone();
    let mut first_failures = 0;
    if multi.intervals() > single.intervals() {
        let mut s = match &states {
            Some(st) => multi.nodes_from_states(st),
            None => multi.initial_nodes(&q),
        };
        for (r, &w) in WEIGHTS.iter().enumerate() {
            // The first round judges the start: its data loss (the continuity barely held)
            // must come near the best start's.
            let give_up = if r == 0 { abandon } else { f64::INFINITY };
            let res = minimize(
                &multi,
                q,
                s,
                w,
                bounds,
                SHOOT_ITERS,
                SHOOT_REL_TOL,
                give_up,
                &cancelled,
            );
            tracing::trace!(
                w,
                data = res.data,
                gap = res.gap,
                iters = res.iters,
                failures = res.failures,
                "shooting round"
            );
            q = res.q;
            s = res.s;
            if r == 0 {
                first_failures = res.failures;
            }
            if res.abandoned {
                return Outcome {
                    q,
                    s: Vec::new(),
                    loss: res.data,
                    abandoned: true,
                    first_failures,
                };
            }
        }
        states = Some(multi.node_states(&s));
    }
    let s = match &states {
        Some(st) => single.nodes_from_states(st),
        None => single.initial_nodes(&q),
    };
    let r = minimize(
        &single,
        q,
        s,
        0.0,
        bounds,
        SINGLE_ITERS,
        SINGLE_REL_TOL,
        abandon,
        &cancelled,
    );
    tracing::trace!(loss = r.data, iters = r.iters, "single shooting");
    Outcome {
        abandoned: r.abandoned,
        loss: if r.failures > 0 {
            f64::INFINITY
        } else {
            r.data
        },
        q: r.q,
        s: r.s,
        first_failures,
    }
}

/// The global stage from the starting support `start` (its values: the spec's): the spec's
/// start and Latin-hypercube starts over the box, each through multiple shooting and single
/// shooting, in batches.
pub(crate) fn search(fitter: &Fitter, start: &Support) -> Option<Global> {
    let t0 = std::time::Instant::now();
    let prob = fitter.prob;
    let na = start.len();
    if na == 0 {
        return None;
    }
    let terms = Terms::new(prob, &start.active, 0.0, 1.0);
    let nstarts = (STARTS_PER_PARAM * na).clamp(MIN_STARTS, MAX_STARTS);
    let mut rng = Rng::new(fitter.spec.fit.seed ^ 0x676c_6f62);
    let mut points = Vec::with_capacity(nstarts + 1);
    let bounds = (&terms.lo[..], &terms.hi[..]);
    if let Some(inf) = informed_start(prob, &fitter.base, &start.active, &start.q, bounds) {
        tracing::debug!(
            residual = inf.residual,
            params = ?prob.scales.user(&fitter.base, &start.active, &inf.q),
            "informed start"
        );
        points.push(Point {
            q: inf.q,
            states: Some(inf.states),
        });
    }
    points.push(Point {
        q: start.q.clone(),
        states: None,
    });
    for u in latin_hypercube(nstarts - 1, 2 * na, &mut rng) {
        points.push(Point {
            q: start_from(&u, &start.q, &terms.lo, &terms.hi),
            states: None,
        });
    }
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(points.len());
    let mut best = f64::INFINITY;
    for (b, batch) in points.chunks(BATCH).enumerate() {
        if fitter.control.cancelled() && !outcomes.is_empty() {
            break;
        }
        (fitter.control.progress)(crate::result::Progress::Stage(format!(
            "global search: starts {}-{} of {}",
            b * BATCH + 1,
            b * BATCH + batch.len(),
            points.len()
        )));
        let abandon = ABANDON * best;
        let res: Vec<Outcome> = batch
            .par_iter()
            .map(|p| run_start(fitter, start, p, abandon))
            .collect();
        for o in &res {
            tracing::debug!(loss = o.loss, abandoned = o.abandoned, "start");
            if !o.abandoned && o.loss.is_finite() {
                best = best.min(o.loss);
            }
        }
        outcomes.extend(res);
    }
    let nl = prob.label_count(&prob.all_pieces()) as f64;
    let chi2_unit = best / (nl - na as f64).max(1.0);
    let at_best = outcomes
        .iter()
        .filter(|o| !o.abandoned && o.loss <= best + chi2_unit)
        .count();
    let mut order: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].loss.is_finite() && !outcomes[i].abandoned)
        .collect();
    order.sort_by(|&a, &b| outcomes[a].loss.total_cmp(&outcomes[b].loss));
    let start_states = order.first().map(|&i| {
        Shooting::new(prob, start.active.clone(), fitter.base.clone(), 1)
            .node_states(&outcomes[i].s)
    });
    let mut minima: Vec<(Support, f64)> = Vec::new();
    for i in order {
        let o = &outcomes[i];
        let p = prob.scales.user(&fitter.base, &start.active, &o.q);
        let same = minima.iter().any(|(s, _)| {
            let pm = prob.scales.user(&fitter.base, &s.active, &s.q);
            p.iter()
                .zip(&pm)
                .all(|(a, b)| (a - b).abs() <= SAME_MINIMUM * (a.abs() + b.abs()) + 1e-300)
        });
        if !same {
            minima.push((start.with_values(o.q.clone()), o.loss));
        }
    }
    tracing::info!(
        starts = outcomes.len(),
        at_best,
        best,
        distinct = minima.len(),
        seconds = t0.elapsed().as_secs_f64(),
        "global search"
    );
    Some(Global {
        minima,
        starts: outcomes.len(),
        at_best,
        start_states,
    })
}

/// Refits support `to` by multiple shooting whose nodes start on the trajectory of support
/// `from` (its values, the pieces' initial values at `starts`, pieces × n scaled), then single
/// shooting: a move between nearby models of an oscillation or a switch, which a refit over the
/// whole experiment can lose to a shifted phase (a flat or wrong minimum), stays on the
/// trajectory the data pinned. Never abandoned: a move that pays can pass through losses far
/// above the current one on its way (abandoning above four times the current loss cost actin
/// MgCl₂ r1 its true support; benches/README.md, "Eleventh session"). Returns the parameters
/// and the fitted initial values reached (pieces × n, like `Problem::x0`), or None when the
/// refit failed.
pub(crate) fn shooting_refit(
    fitter: &Fitter,
    from: &Support,
    starts: &[f64],
    to: &Support,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let prob = fitter.prob;
    let along = Shooting::new(prob, from.active.clone(), fitter.base.clone(), usize::MAX);
    let states = along.node_states(&along.initial_nodes_from(&from.q, starts));
    let point = Point {
        q: to.q.clone(),
        states: Some(states),
    };
    let o = run_start(fitter, to, &point, f64::INFINITY);
    tracing::debug!(
        first_failures = o.first_failures,
        loss = o.loss,
        "shooting along the current trajectory"
    );
    if o.abandoned || !o.loss.is_finite() {
        return None;
    }
    let single = Shooting::new(prob, to.active.clone(), fitter.base.clone(), 1);
    let n = prob.nstates();
    let mut out = starts.to_vec();
    for (e, st) in single.node_states(&o.s).iter().enumerate() {
        if let Some(pi) = prob.first_piece(e) {
            for (i, &v) in st.iter().enumerate().take(n) {
                let k = pi * n + i;
                if fitted_value(prob, k) && v.is_finite() {
                    out[k] = v;
                }
            }
        }
    }
    Some((o.q, out))
}

/// Moves the placeholders of fitted initial values (`"fit"`: free starts with no observation)
/// to where the global stage's best start put them, so that every later fit profiles them from
/// there rather than from the placeholder (whose basin may hold another, worse profile).
pub(crate) fn seed_fitted_starts(prob: &mut crate::problem::Problem, states: &[Vec<f64>]) {
    let n = prob.nstates();
    for (e, st) in states.iter().enumerate() {
        let Some(pi) = prob.first_piece(e) else {
            continue;
        };
        for i in 0..n {
            if let Some(&v) = st.get(i) {
                seed_fitted(prob, pi * n + i, v);
            }
        }
    }
}

/// Moves start `k` (piece × n + state) of `prob` to `v` when it is a fitted initial value (free,
/// with no observation) and `v` is finite.
fn seed_fitted(prob: &mut crate::problem::Problem, k: usize, v: f64) {
    if fitted_value(prob, k) && v.is_finite() {
        prob.x0[k] = v;
    }
}

/// Start `k` (piece × n + state) of `prob` is a fitted initial value: free, with no observation.
fn fitted_value(prob: &crate::problem::Problem, k: usize) -> bool {
    prob.free_start[k] && !prob.start_label[k]
}

/// Moves the fitted initial values (free, with no observation) of every piece to `starts`
/// (pieces × n, scaled, like `Problem::x0`).
pub(crate) fn seed_piece_starts(prob: &mut crate::problem::Problem, starts: &[f64]) {
    for (k, &v) in starts.iter().enumerate().take(prob.x0.len()) {
        seed_fitted(prob, k, v);
    }
}

/// Distinct minima of the global stage whose sparsity paths are explored (best first).
const EXPLORED_MINIMA: usize = 2;
/// A further minimum is explored only when its loss is within this factor of the best.
const EXPLORED_WITHIN: f64 = 1.5;

/// Explores the sparsity path from the best minima of the global stage and keeps the
/// parsimonious choice among them (`explore::parsimonious`).
pub(crate) fn explore_minima(
    fitter: &mut Fitter,
    g: &Global,
) -> Option<crate::explore::Exploration> {
    use crate::explore::Start;
    let best_loss = g.minima.first()?.1;
    let mut routes: Vec<crate::explore::Exploration> = Vec::new();
    for (i, (s, loss)) in g.minima.iter().take(EXPLORED_MINIMA).enumerate() {
        if i > 0 && (fitter.control.cancelled() || *loss > EXPLORED_WITHIN * best_loss) {
            break;
        }
        let how = Start {
            regressed: false,
            abort_above: f64::INFINITY,
            start_loss: None,
        };
        let _span = tracing::info_span!("minimum", index = i + 1, loss).entered();
        routes.push(explore_route(fitter, s.clone(), how, true));
    }
    crate::explore::parsimonious(routes)
}

/// Explores the sparsity path from `s` and, when `refined`, improves its choice by the stepwise
/// and floating moves (`stepwise::refine`); the seconds of each are logged.
pub(crate) fn explore_route(
    fitter: &mut Fitter,
    s: Support,
    how: crate::explore::Start,
    refined: bool,
) -> crate::explore::Exploration {
    let t0 = std::time::Instant::now();
    let ex = crate::explore::explore(fitter, s, how);
    let path_seconds = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let ex = if refined {
        stepwise::refine(fitter, ex)
    } else {
        ex
    };
    tracing::info!(
        path_seconds,
        stepwise_seconds = t1.elapsed().as_secs_f64(),
        "route"
    );
    ex
}

#[cfg(test)]
mod tests;
