//! The moves from a support (additions, removals, swaps) ranked by the criterion one Gauss–Newton
//! pass over every free parameter predicts for them (`moves`), and the ones refitted in a step
//! (`trials`).

use super::criterion::{Labels, bic};
use crate::evaluate::pass_over_free;
use crate::fit::Fitter;
use crate::support::Support;

/// One proposed move: the support it leads to and its predicted criterion.
pub(super) struct Move {
    pub(super) support: Support,
    pub(super) predicted: f64,
}

/// The moves from support `s` (loss `loss`) ordered by their predicted criterion, best first;
/// with hidden states the pass profiles the pieces' starts from `warm` (where `s`'s refit left
/// them): profiled afresh from the problem's start, a fitted initial value can fall into another
/// minimum, and the prediction then describes another trajectory than the one refitted.
pub(super) fn moves(
    fitter: &Fitter,
    s: &Support,
    loss: f64,
    n: Labels,
    warm: Option<&[f64]>,
) -> Vec<Move> {
    use nalgebra::{DMatrix, DVector};
    let prob = fitter.prob;
    let free = &prob.free;
    let nf = free.len();
    let (inside, q_all, gn) =
        pass_over_free(prob, free, &fitter.base, fitter.train.clone(), s, warm);
    if gn.failures > 0 {
        return Vec::new();
    }
    let m = inside.len();
    let h = |a: usize, b: usize| gn.h[a * nf + b];
    let hss = DMatrix::from_fn(m, m, |a, b| h(inside[a], inside[b]));
    let ridge = (0..m).map(|i| hss[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let Some(hinv) = (hss + DMatrix::identity(m, m) * ridge).try_inverse() else {
        return Vec::new();
    };
    // Gain of adding each absent sparse term (others re-optimised): g²/2 over the Schur
    // complement; cost of removing each present sparse one: its Wald statistic.
    let mut gains: Vec<(usize, f64)> = Vec::new();
    for k in (0..nf).filter(|&k| !inside.contains(&k) && prob.model.params[free[k]].sparse) {
        let hks = DVector::from_fn(m, |a, _| h(k, inside[a]));
        let schur = h(k, k) - hks.dot(&(&hinv * &hks));
        let gain = 0.5 * gn.grad[k] * gn.grad[k] / schur;
        if schur > 0.0 && gain.is_finite() {
            gains.push((k, gain.min(loss)));
        }
    }
    let mut costs: Vec<(usize, f64)> = Vec::new();
    for (a, &k) in inside.iter().enumerate() {
        if prob.model.params[free[k]].sparse {
            let cost = 0.5 * q_all[k] * q_all[k] / hinv[(a, a)].max(f64::MIN_POSITIVE);
            if cost.is_finite() {
                costs.push((k, cost));
            }
        }
    }
    let k0 = s.len();
    let predicted =
        |dl: f64, dk: isize| bic((loss + dl).max(1e-300), (k0 as isize + dk) as usize, n);
    let with = |add: Option<usize>, remove: Option<usize>| -> Support {
        let mut t = s.clone();
        if let Some(r) = remove {
            let j = t
                .active
                .iter()
                .position(|&a| a == free[r])
                .expect("present");
            t.active.remove(j);
            t.q.remove(j);
        }
        if let Some(k) = add {
            let at = t.active.partition_point(|&a| a < free[k]);
            t.active.insert(at, free[k]);
            t.q.insert(at, 0.0);
        }
        t
    };
    let mut out: Vec<Move> = Vec::new();
    for &(k, g) in &gains {
        out.push(Move {
            support: with(Some(k), None),
            predicted: predicted(-g, 1),
        });
    }
    for &(r, c) in &costs {
        out.push(Move {
            support: with(None, Some(r)),
            predicted: predicted(c, -1),
        });
        for &(k, g) in &gains {
            out.push(Move {
                support: with(Some(k), Some(r)),
                predicted: predicted(c - g, 0),
            });
        }
    }
    out.sort_by(|a, b| a.predicted.total_cmp(&b.predicted));
    out
}

/// The moves refitted in one step, from `candidates` (best predicted first), in two batches:
/// the first `per_step`, and with `every_removal` every other removal of a term of `cur`
/// (refitted only when no move of the first batch is preferred to `cur`).
pub(super) fn trials<'a>(
    candidates: &'a [Move],
    cur: &Support,
    per_step: usize,
    every_removal: bool,
) -> [Vec<&'a Move>; 2] {
    let removal = |m: &Move| {
        m.support.len() < cur.len() && m.support.active.iter().all(|k| cur.active.contains(k))
    };
    let first = candidates.iter().take(per_step).collect();
    let rest = candidates
        .iter()
        .skip(per_step)
        .filter(|m| every_removal && removal(m))
        .collect();
    [first, rest]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(active: &[usize], predicted: f64) -> Move {
        Move {
            support: Support::new(active.to_vec(), vec![0.0; active.len()]),
            predicted,
        }
    }

    /// A removal the prediction ranks below the moves refitted per step is in the second batch
    /// when every removal is asked for, and only then; additions and swaps below the cut are
    /// in neither.
    #[test]
    fn every_removal_is_tried_however_it_ranks() {
        let cur = Support::new(vec![1, 3, 7, 9], vec![0.0; 4]);
        let candidates = vec![
            mv(&[1, 3, 7, 9, 10], -5.0),
            mv(&[3, 7, 9], -4.0),
            mv(&[1, 3, 9, 10], -3.0),
            mv(&[1, 3, 7], -2.0),
            mv(&[1, 3, 7, 9, 2], -1.0),
        ];
        let picked = |every| -> [Vec<Vec<usize>>; 2] {
            trials(&candidates, &cur, 2, every).map(|b| {
                b.iter()
                    .map(|m| m.support.active.clone())
                    .collect::<Vec<_>>()
            })
        };
        let first = vec![vec![1, 3, 7, 9, 10], vec![3, 7, 9]];
        assert_eq!(picked(false), [first.clone(), vec![]]);
        assert_eq!(picked(true), [first, vec![vec![1, 3, 7]]]);
    }
}
