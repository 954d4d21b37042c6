//! Stepwise search: one Gauss–Newton pass predicts the gain of adding each absent term and
//! the cost of removing each present one; the move the criterion favours is refitted.

use crate::evaluate::{Evaluator, GaussNewton};
use crate::fit::Control;
use crate::support::Support;

use super::pool::Pool;
use super::scorer::Scorer;

/// Stepwise search from the best candidate: one Gauss–Newton pass over every free parameter
/// (the inactive ones at zero) predicts what adding each absent term would gain (its score
/// statistic, g²/2 over the Schur complement) and what removing each present one would cost
/// (its Wald statistic); the best move that the criterion's price per term favours is refitted
/// and kept when it lowers the score, until no move does.
pub fn stepwise(scorer: &Scorer, pool: &mut Pool, control: &Control) {
    let Some(b) = pool.best() else { return };
    let (s, score) = (pool.cands[b].support.clone(), pool.scores[b]);
    stepwise_from(scorer, pool, s, score, control);
}

/// Forward selection: the stepwise search from the support with no sparse term (another path
/// than elimination from the densest, which collinear libraries can lead astray).
pub fn forward(scorer: &Scorer, pool: &mut Pool, control: &Control) {
    let model = scorer.prob.model;
    let keep: Vec<usize> = scorer
        .free
        .iter()
        .copied()
        .filter(|&k| !model.params[k].sparse)
        .collect();
    let start = Support::new(keep.clone(), vec![0.0; keep.len()]);
    let (s, score) = match pool
        .cands
        .iter()
        .position(|c| c.support.active == start.active)
    {
        Some(i) => (pool.cands[i].support.clone(), pool.scores[i]),
        None => {
            let c = scorer.refit(&start, f64::NAN, f64::INFINITY, control);
            let s = c.support.clone();
            let sc = pool.add(scorer, c);
            (s, sc)
        }
    };
    stepwise_from(scorer, pool, s, score, control);
}

/// The stepwise search from support `s` (scored `score`).
pub(super) fn stepwise_from(
    scorer: &Scorer,
    pool: &mut Pool,
    mut s: Support,
    mut score: f64,
    control: &Control,
) {
    let model = scorer.prob.model;
    let free = &scorer.free;
    for _ in 0..2 * free.len() {
        if control.cancelled() {
            return;
        }
        let inside: Vec<usize> = (0..free.len())
            .filter(|&k| s.active.contains(&free[k]))
            .collect();
        let mut q_all = vec![0.0; free.len()];
        for &k in &inside {
            if let Some(j) = s.active.iter().position(|&a| a == free[k]) {
                q_all[k] = s.q[j];
            }
        }
        let ev = Evaluator::new(
            &scorer.prob,
            free.clone(),
            scorer.base.clone(),
            scorer.prob.all_pieces(),
        );
        let gn = ev.gauss_newton(&q_all);
        let price =
            scorer.penalty() * scorer.mean_variance(&pool.var) / scorer.total_obs().max(1.0);
        let Some((add, remove)) =
            best_moves(&gn, &q_all, &inside, |k| model.params[free[k]].sparse)
        else {
            return;
        };
        // The move that the criterion favours most: an addition gains (gain − price), a
        // removal (price − cost).
        let by_add = add.as_ref().map_or(f64::NEG_INFINITY, |p| p.delta - price);
        let by_remove = remove
            .as_ref()
            .map_or(f64::NEG_INFINITY, |p| price - p.delta);
        let chosen = if by_add > 0.0 && by_add >= by_remove {
            add
        } else if by_remove > 0.0 {
            remove
        } else {
            None
        };
        let Some(mv) = chosen else { return };
        // The new support with the values the quadratic model predicts.
        let mut members: Vec<usize> = inside.clone();
        match members.iter().position(|&k| k == mv.k) {
            Some(i) => {
                members.remove(i);
            }
            None => members.push(mv.k),
        }
        members.sort_unstable_by_key(|&k| free[k]);
        let trial = Support::new(
            members.iter().map(|&k| free[k]).collect(),
            members.iter().map(|&k| mv.values[k]).collect(),
        );
        let (next, sc) = match pool
            .cands
            .iter()
            .position(|c| c.support.active == trial.active)
        {
            Some(i) => (pool.cands[i].support.clone(), pool.scores[i]),
            None => {
                let c = scorer.refit(&trial, f64::NAN, pool.abandon_level(), control);
                let next = c.support.clone();
                (next, pool.add(scorer, c))
            }
        };
        tracing::debug!(terms = next.len(), score = sc, from = score, "stepwise");
        if sc >= score {
            return;
        }
        (s, score) = (next, sc);
    }
}

/// A move of the stepwise search: the free parameter it adds or removes, its predicted effect
/// on the loss (a gain for an addition, a cost for a removal), and the values of every free
/// parameter the quadratic model predicts after it (zero outside the new support).
pub(super) struct Proposal {
    k: usize,
    delta: f64,
    values: Vec<f64>,
}

/// The most promising addition and removal at a Gauss–Newton pass over every free parameter
/// (values `q_all`, zero for the absent ones): the absent parameter whose addition is
/// predicted to lower the loss most, and the present removable one whose removal is predicted
/// to raise it least, each with the values the others take (collinear terms compensate).
pub(super) fn best_moves(
    gn: &GaussNewton,
    q_all: &[f64],
    inside: &[usize],
    removable: impl Fn(usize) -> bool,
) -> Option<(Option<Proposal>, Option<Proposal>)> {
    use nalgebra::{DMatrix, DVector};
    let nf = q_all.len();
    let m = inside.len();
    let h = |a: usize, b: usize| gn.h[a * nf + b];
    let hss = DMatrix::from_fn(m, m, |a, b| h(inside[a], inside[b]));
    let ridge = (0..m).map(|i| hss[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let hinv = (hss + DMatrix::identity(m, m) * ridge).try_inverse()?;
    let mut add: Option<Proposal> = None;
    for k in (0..nf).filter(|k| !inside.contains(k)) {
        let hks = DVector::from_fn(m, |a, _| h(k, inside[a]));
        let w = &hinv * &hks;
        let schur = h(k, k) - hks.dot(&w);
        // The present terms' gradient is about zero at a fitted support, so the gain of
        // adding k with the others re-optimised is g_k²/2 over the Schur complement.
        let gain = 0.5 * gn.grad[k] * gn.grad[k] / schur;
        if schur > 0.0 && gain.is_finite() && add.as_ref().is_none_or(|p| gain > p.delta) {
            let step = -gn.grad[k] / schur;
            let mut values = q_all.to_vec();
            values[k] = step;
            for (a, &i) in inside.iter().enumerate() {
                values[i] -= w[a] * step;
            }
            add = Some(Proposal {
                k,
                delta: gain,
                values,
            });
        }
    }
    let mut remove: Option<Proposal> = None;
    for (a, &k) in inside.iter().enumerate() {
        if !removable(k) {
            continue;
        }
        let cost = 0.5 * q_all[k] * q_all[k] / hinv[(a, a)].max(f64::MIN_POSITIVE);
        if cost.is_finite() && remove.as_ref().is_none_or(|p| cost < p.delta) {
            let ratio = q_all[k] / hinv[(a, a)];
            let mut values = q_all.to_vec();
            for (b, &i) in inside.iter().enumerate() {
                values[i] -= hinv[(b, a)] * ratio;
            }
            values[k] = 0.0;
            remove = Some(Proposal {
                k,
                delta: cost,
                values,
            });
        }
    }
    Some((add, remove))
}
