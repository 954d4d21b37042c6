//! Stepwise search: one Gauss–Newton pass predicts the gain of adding each absent term, the
//! cost of removing each present one and the gain of swapping one for another; the move the
//! criterion favours is refitted.

use crate::evaluate::GaussNewton;
use crate::fit::Control;
use crate::support::Support;

use super::pool::Pool;
use super::scorer::Scorer;

/// A swap is refitted only when its predicted gain exceeds this fraction of one term's price.
const SWAP_MIN_GAIN: f64 = 0.1;

/// Favoured moves refitted per step at most (the next is tried when a refit does not confirm
/// the prediction).
const MOVES_TRIED: usize = 3;

/// Stepwise search from the best candidate: one Gauss–Newton pass over every free parameter
/// (the inactive ones at zero) predicts what adding each absent term would gain (its score
/// statistic, g²/2 over the Schur complement) and what removing each present one would cost
/// (its Wald statistic), and what swapping a present term for an absent one would gain; the best
/// move that the criterion's price per term favours is refitted and kept when it lowers the
/// score, until no move does.
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
        let (inside, q_all, gn) = pass_over_free(scorer, &s);
        let price = term_price(scorer, pool);
        let Some((add, remove, remove_pair)) =
            best_moves(&gn, &q_all, &inside, |k| model.params[free[k]].sparse)
        else {
            return;
        };
        let swap = best_swap(&gn, &q_all, &inside, |k| model.params[free[k]].sparse);
        // The move that the criterion favours most: an addition gains (gain − price), a
        // removal (price − cost), a swap its gain (the number of terms is unchanged; a swap
        // predicted to gain less than SWAP_MIN_GAIN of the price is not worth a refit).
        let by_add = add.as_ref().map_or(f64::NEG_INFINITY, |p| p.delta - price);
        let by_remove = remove
            .as_ref()
            .map_or(f64::NEG_INFINITY, |p| price - p.delta);
        let by_swap = swap
            .as_ref()
            .map_or(f64::NEG_INFINITY, |p| p.delta - SWAP_MIN_GAIN * price);
        let by_pair = remove_pair
            .as_ref()
            .map_or(f64::NEG_INFINITY, |p| 2.0 * price - p.delta);
        // Every move the criterion favours, most favoured first; the next one is tried when a
        // refit does not confirm its prediction (a strongly nonlinear move).
        let mut moves: Vec<(f64, Proposal)> = [
            (by_add, add),
            (by_remove, remove),
            (by_swap, swap),
            (by_pair, remove_pair),
        ]
        .into_iter()
        .filter_map(|(by, p)| p.filter(|_| by > 0.0).map(|p| (by, p)))
        .collect();
        moves.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut moved = None;
        for (_, mv) in moves.into_iter().take(MOVES_TRIED) {
            let (next, sc) = refit_move(scorer, pool, free, &inside, &mv, control);
            tracing::debug!(terms = next.len(), score = sc, from = score, "stepwise");
            if sc < score {
                moved = Some((next, sc));
                break;
            }
        }
        let Some((next, sc)) = moved else { return };
        (s, score) = (next, sc);
    }
}

/// A swap that only adds terms is not refitted unless its predicted gain comes within this many
/// prices of one term of the price of the terms it adds (the quadratic model of a fitted
/// support predicts additions well; the slack covers its error).
const SUPERSET_SLACK: f64 = 0.5;

/// The quadratic model of the loss at a fitted support over every free parameter (one
/// Gauss–Newton pass, the absent ones at zero): it predicts what adding a set of absent terms
/// gains, the others re-optimised, so that supersets predicted to gain less than their price
/// are not refitted.
pub(super) struct Additions {
    active: Vec<usize>,
    /// Present free indices.
    inside: Vec<usize>,
    gn: GaussNewton,
    /// The loss the quadratic model gains by re-optimising the present terms alone (about
    /// zero at a converged fit).
    base_gain: f64,
    price: f64,
}

impl Additions {
    /// The quadratic model at support `s` (None when its Gauss–Newton pass fails).
    pub(super) fn at(scorer: &Scorer, pool: &Pool, s: &Support) -> Option<Self> {
        let (inside, _, gn) = pass_over_free(scorer, s);
        if gn.failures > 0 || !gn.loss.is_finite() {
            return None;
        }
        let base_gain = quadratic_gain(&gn, &inside)?;
        let price = term_price(scorer, pool);
        Some(Self {
            active: s.active.clone(),
            inside,
            gn,
            base_gain,
            price,
        })
    }

    /// The support the model was built at.
    pub(super) fn active(&self) -> &[usize] {
        &self.active
    }

    /// Whether `trial` only adds terms to the support and is predicted to gain less than the
    /// price of what it adds, less SUPERSET_SLACK prices (not worth a refit).
    pub(super) fn hopeless(&self, free: &[usize], trial: &Support) -> bool {
        if !only_adds(&self.active, trial) {
            return false;
        }
        let mut union = self.inside.clone();
        for (f, k) in free.iter().enumerate() {
            if trial.active.contains(k) && !union.contains(&f) {
                union.push(f);
            }
        }
        let added = (union.len() - self.inside.len()) as f64;
        if added == 0.0 || union.len() != trial.active.len() {
            return false;
        }
        quadratic_gain(&self.gn, &union)
            .is_some_and(|g| g - self.base_gain < (added - SUPERSET_SLACK) * self.price)
    }
}

/// Whether `trial` keeps every parameter of `active` (it only adds terms to that support).
pub(super) fn only_adds(active: &[usize], trial: &Support) -> bool {
    active.iter().all(|k| trial.active.contains(k))
}

/// One Gauss–Newton pass at support `s` over every free parameter (the absent ones at zero),
/// on every piece (`evaluate::pass_over_free`).
fn pass_over_free(scorer: &Scorer, s: &Support) -> (Vec<usize>, Vec<f64>, GaussNewton) {
    crate::evaluate::pass_over_free(
        &scorer.prob,
        &scorer.free,
        &scorer.base,
        scorer.prob.all_pieces(),
        s,
        None,
    )
}

/// The criterion's price of one term in loss units (the per-term penalty in the noise the pool
/// implies).
fn term_price(scorer: &Scorer, pool: &Pool) -> f64 {
    scorer.penalty() * scorer.mean_variance(&pool.var) / scorer.total_obs().max(1.0)
}

/// What the quadratic model L(δ) ≈ L + gᵀδ + ½ δᵀHδ gains by optimising over the free indices
/// `set` (½ g_Sᵀ H_SS⁻¹ g_S); None when H_SS is not positive definite.
fn quadratic_gain(gn: &GaussNewton, set: &[usize]) -> Option<f64> {
    use nalgebra::{DMatrix, DVector};
    if set.is_empty() {
        return Some(0.0);
    }
    let nf = gn.grad.len();
    let m = set.len();
    let hss = DMatrix::from_fn(m, m, |a, b| gn.h[set[a] * nf + set[b]]);
    let ridge = (0..m).map(|i| hss[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let chol = (hss + DMatrix::identity(m, m) * ridge).cholesky()?;
    let g = DVector::from_fn(m, |a, _| gn.grad[set[a]]);
    let gain = 0.5 * g.dot(&chol.solve(&g));
    gain.is_finite().then_some(gain)
}

/// The support a move leads to, refitted (or found in the pool) and scored.
fn refit_move(
    scorer: &Scorer,
    pool: &mut Pool,
    free: &[usize],
    inside: &[usize],
    mv: &Proposal,
    control: &Control,
) -> (Support, f64) {
    // The new support with the values the quadratic model predicts.
    let mut members: Vec<usize> = inside.to_vec();
    if let Some(out) = mv.out {
        members.retain(|&k| k != out);
    }
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
    match pool
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
    }
}

/// A move of the stepwise search: the free parameter it adds or removes, its predicted effect
/// on the loss (a gain for an addition, a cost for a removal), and the values of every free
/// parameter the quadratic model predicts after it (zero outside the new support).
pub(super) struct Proposal {
    k: usize,
    /// For a swap: the present parameter that leaves as `k` enters.
    out: Option<usize>,
    delta: f64,
    values: Vec<f64>,
}

/// The most promising addition and removals at a Gauss–Newton pass over every free parameter
/// (values `q_all`, zero for the absent ones): the absent parameter whose addition is
/// predicted to lower the loss most, the present removable one whose removal is predicted to
/// raise it least, and the pair of them whose joint removal is, each with the values the others
/// take (collinear terms compensate).
pub(super) fn best_moves(
    gn: &GaussNewton,
    q_all: &[f64],
    inside: &[usize],
    removable: impl Fn(usize) -> bool,
) -> Option<(Option<Proposal>, Option<Proposal>, Option<Proposal>)> {
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
                out: None,
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
                out: None,
                delta: cost,
                values,
            });
        }
    }
    Some((
        add,
        remove,
        best_pair_removal(&hinv, q_all, inside, &removable),
    ))
}

/// The most promising removal of two present terms at once (their joint Wald statistic,
/// ½ q_Pᵀ (H⁻¹_PP)⁻¹ q_P, from the inverse of the present terms' Gauss–Newton matrix): two wrong
/// terms that compensate each other (collinear over the data) each cost much alone, little
/// together.
fn best_pair_removal(
    hinv: &nalgebra::DMatrix<f64>,
    q_all: &[f64],
    inside: &[usize],
    removable: impl Fn(usize) -> bool,
) -> Option<Proposal> {
    let m = inside.len();
    let mut best: Option<Proposal> = None;
    for a in (0..m).filter(|&a| removable(inside[a])) {
        for b in (a + 1..m).filter(|&b| removable(inside[b])) {
            let (ka, kb) = (inside[a], inside[b]);
            let (p, q, r) = (hinv[(a, a)], hinv[(a, b)], hinv[(b, b)]);
            let det = p * r - q * q;
            if det <= 0.0 || !det.is_finite() {
                continue;
            }
            let (xa, xb) = (q_all[ka], q_all[kb]);
            let (ya, yb) = ((r * xa - q * xb) / det, (p * xb - q * xa) / det);
            let cost = 0.5 * (xa * ya + xb * yb);
            if cost.is_finite() && best.as_ref().is_none_or(|pr| cost < pr.delta) {
                let mut values = q_all.to_vec();
                for (c, &i) in inside.iter().enumerate() {
                    values[i] -= hinv[(c, a)] * ya + hinv[(c, b)] * yb;
                }
                values[ka] = 0.0;
                values[kb] = 0.0;
                best = Some(Proposal {
                    k: ka,
                    out: Some(kb),
                    delta: cost,
                    values,
                });
            }
        }
    }
    best
}

/// The most promising swap at a Gauss–Newton pass over every free parameter (values `q_all`,
/// zero for the absent ones): one present removable parameter `o` leaves and one absent `j`
/// enters, the others re-optimised in the quadratic model
/// L(δ) ≈ L + gᵀδ + ½ δᵀHδ with δ_o = −q_o: its predicted gain is
/// q_o g_o − ½ q_o² H_oo + ½ rᵀ H_TT⁻¹ r, r = g_T − H_To q_o over the new support T. A swap
/// changes a support the single additions and removals cannot improve one step at a time (two
/// collinear terms, one true and one not).
fn best_swap(
    gn: &GaussNewton,
    q_all: &[f64],
    inside: &[usize],
    removable: impl Fn(usize) -> bool,
) -> Option<Proposal> {
    use nalgebra::{DMatrix, DVector};
    let nf = q_all.len();
    let h = |a: usize, b: usize| gn.h[a * nf + b];
    let ridge = (0..nf).map(|i| h(i, i)).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let mut best: Option<Proposal> = None;
    for &o in inside.iter().filter(|&&o| removable(o)) {
        let mut t: Vec<usize> = inside.iter().copied().filter(|&k| k != o).collect();
        t.push(usize::MAX);
        let m = t.len();
        let last = m - 1;
        for j in (0..nf).filter(|k| !inside.contains(k)) {
            t[last] = j;
            let htt =
                DMatrix::from_fn(m, m, |a, b| h(t[a], t[b])) + DMatrix::identity(m, m) * ridge;
            let r = DVector::from_fn(m, |a, _| gn.grad[t[a]] - h(t[a], o) * q_all[o]);
            let Some(chol) = htt.cholesky() else {
                continue;
            };
            let d = chol.solve(&r);
            let gain =
                q_all[o] * gn.grad[o] - 0.5 * q_all[o] * q_all[o] * h(o, o) + 0.5 * r.dot(&d);
            if gain.is_finite() && best.as_ref().is_none_or(|p| gain > p.delta) {
                let mut values = q_all.to_vec();
                values[o] = 0.0;
                for (a, &k) in t.iter().enumerate() {
                    values[k] = q_all[k] - d[a];
                }
                best = Some(Proposal {
                    k: j,
                    out: Some(o),
                    delta: gain,
                    values,
                });
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};

    /// loss(θ) = ½‖Aθ − b‖² at θ, as a Gauss–Newton pass (exact for this quadratic).
    fn pass(a: &DMatrix<f64>, b: &DVector<f64>, theta: &[f64]) -> (GaussNewton, f64) {
        let th = DVector::from_column_slice(theta);
        let r = a * &th - b;
        let h = a.transpose() * a;
        let g = a.transpose() * &r;
        let loss = 0.5 * r.norm_squared();
        let gn = GaussNewton {
            loss,
            failures: 0,
            grad: g.iter().copied().collect(),
            h: (0..h.nrows())
                .flat_map(|i| (0..h.ncols()).map(move |j| (i, j)))
                .map(|(i, j)| h[(i, j)])
                .collect(),
        };
        (gn, loss)
    }

    /// The least-squares optimum of ½‖Aθ − b‖² over the support `s` (zero elsewhere).
    fn optimum(a: &DMatrix<f64>, b: &DVector<f64>, s: &[usize]) -> (Vec<f64>, f64) {
        let sub = DMatrix::from_fn(a.nrows(), s.len(), |i, j| a[(i, s[j])]);
        let x = (sub.transpose() * &sub)
            .cholesky()
            .unwrap()
            .solve(&(sub.transpose() * b));
        let mut theta = vec![0.0; a.ncols()];
        for (j, &k) in s.iter().enumerate() {
            theta[k] = x[j];
        }
        let r = a * DVector::from_column_slice(&theta) - b;
        (theta, 0.5 * r.norm_squared())
    }

    /// The move's predicted effect is `delta` (within `tol`) and its values are `exact` (1e-7).
    fn assert_is_exact_refit(mv: &Proposal, delta: f64, tol: f64, exact: &[f64]) {
        assert!(
            (mv.delta - delta).abs() <= tol,
            "predicted {} against {delta}",
            mv.delta
        );
        for (v, e) in mv.values.iter().zip(exact) {
            assert!((v - e).abs() <= 1e-7, "{:?} against {exact:?}", mv.values);
        }
    }

    /// On a quadratic loss the predicted swap is the best one and its predicted gain and values
    /// are those of the exact refit: from the fitted support {0, 1} of data made by terms 0 and
    /// 2 (term 1 collinear with 2), term 1 leaves and term 2 enters.
    #[test]
    fn the_swap_predicted_on_a_quadratic_is_the_exact_refit() {
        let rows = 12;
        let a = DMatrix::from_fn(rows, 4, |i, j| {
            let t = i as f64 / (rows - 1) as f64;
            match j {
                0 => 1.0,
                1 => t + 0.3 * t * t,
                2 => t * t,
                _ => (3.0 * t).sin(),
            }
        });
        let truth = DVector::from_column_slice(&[0.5, 0.0, 2.0, 0.0]);
        let b = &a * truth;
        let (theta, _) = optimum(&a, &b, &[0, 1]);
        let (gn, loss) = pass(&a, &b, &theta);
        let swap = best_swap(&gn, &theta, &[0, 1], |_| true).expect("a swap");
        assert_eq!((swap.out, swap.k), (Some(1), 2));
        let (exact, exact_loss) = optimum(&a, &b, &[0, 2]);
        assert_is_exact_refit(&swap, loss - exact_loss, 1e-9 * loss, &exact);
        // A parameter that may not leave is never swapped out.
        let kept = best_swap(&gn, &theta, &[0, 1], |k| k != 1);
        assert!(kept.is_none_or(|p| p.out != Some(1)));
    }

    /// On a quadratic loss the gain predicted for adding a set of terms to a fitted support is
    /// the exact refit's, whether the added terms are collinear with present ones or not.
    #[test]
    fn the_gain_of_added_terms_on_a_quadratic_is_the_exact_refit() {
        let rows = 20;
        let a = DMatrix::from_fn(rows, 5, |i, j| {
            let t = i as f64 / (rows - 1) as f64;
            match j {
                0 => 1.0,
                1 => t,
                2 => t * t + 0.1 * t,
                3 => (4.0 * t).cos(),
                _ => t * t * t,
            }
        });
        let b = DVector::from_fn(rows, |i, _| {
            let t = i as f64 / (rows - 1) as f64;
            1.0 + 2.0 * t - 0.5 * t * t + 0.2 * (4.0 * t).cos() + 0.01 * (9.0 * t).sin()
        });
        let (theta, loss) = optimum(&a, &b, &[0, 1]);
        let (gn, _) = pass(&a, &b, &theta);
        let base = quadratic_gain(&gn, &[0, 1]).expect("positive definite");
        assert!(
            base <= 1e-12 * loss,
            "a fitted support gains nothing: {base}"
        );
        for added in [vec![2], vec![3], vec![2, 3], vec![2, 3, 4]] {
            let set: Vec<usize> = [0, 1].into_iter().chain(added.iter().copied()).collect();
            let (_, exact) = optimum(&a, &b, &set);
            let gain = quadratic_gain(&gn, &set).expect("positive definite") - base;
            assert!(
                (gain - (loss - exact)).abs() <= 1e-8 * loss,
                "{added:?}: predicted {gain}, exact {}",
                loss - exact
            );
        }
    }

    /// On a quadratic loss the predicted removal of two compensating terms is the exact refit:
    /// data made by term 0 and a small wiggle, fitted on {0, 1, 2} where 1 and 2 nearly cancel
    /// and together carry the wiggle.
    #[test]
    fn the_pair_removal_predicted_on_a_quadratic_is_the_exact_refit() {
        let rows = 15;
        let a = DMatrix::from_fn(rows, 3, |i, j| {
            let t = i as f64 / (rows - 1) as f64;
            match j {
                0 => 1.0 + t,
                1 => t * t,
                _ => t * t + 0.05 * (5.0 * t).sin(),
            }
        });
        // Term 0 plus a small wiggle the pair (1, 2) can absorb: their fitted values are large
        // and of opposite sign.
        let b = DVector::from_fn(rows, |i, _| {
            let t = i as f64 / (rows - 1) as f64;
            2.0 * (1.0 + t) + 0.01 * (5.0 * t).sin()
        });
        let (theta, loss) = optimum(&a, &b, &[0, 1, 2]);
        let (gn, _) = pass(&a, &b, &theta);
        let (_, single, pair) = best_moves(&gn, &theta, &[0, 1, 2], |k| k != 0).expect("moves");
        let pair = pair.expect("a pair");
        assert_eq!((pair.k, pair.out), (1, Some(2)));
        let (exact, exact_loss) = optimum(&a, &b, &[0]);
        assert_is_exact_refit(&pair, exact_loss - loss, 1e-6 * exact_loss, &exact);
        // A pair costs at least what either of its terms costs alone, but saves two prices.
        assert!(single.expect("a removal").delta <= pair.delta * (1.0 + 1e-9));
    }
}
