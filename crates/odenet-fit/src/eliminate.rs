//! One step of backward elimination, as a pure function of the Gauss–Newton matrix: drop the
//! sparse term whose removal costs the least (the Wald statistic q_k² / [H⁻¹]_kk, which accounts
//! for correlated terms that cancel) together with every term whose joint removal is predicted to
//! cost almost nothing, and predict the refit of the others.

use nalgebra::{DMatrix, DVector};

/// Terms are removed together while their joint removal is predicted to raise the training loss
/// by less than this fraction: far below anything the held-out comparison could resolve.
pub const BATCH_TOL: f64 = 1e-3;

/// What one elimination step removes.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Positions (in the support) of the terms to drop.
    pub drop: Vec<usize>,
    /// The second-order refit of every coordinate with the dropped ones forced to zero (the
    /// dropped ones' entries are meaningless).
    pub q: Vec<f64>,
}

/// The step for a support with values `q`, the Gauss–Newton matrix `h` (row-major, of the loss
/// `loss`) and `sparse` marking the coordinates that may be removed; terms are removed together
/// while their joint removal is predicted to raise the loss by less than BATCH_TOL of it. None
/// when no coordinate is sparse or `h` cannot be inverted.
pub fn step(h: &[f64], loss: f64, q: &[f64], sparse: &[bool]) -> Option<Step> {
    step_within(h, q, sparse, |_| BATCH_TOL * loss)
}

/// [`step`] with the batch rule given: a set of m terms is removed together while its predicted
/// loss increase is at most `budget(m)` (the cheapest term always goes).
pub fn step_within(
    h: &[f64],
    q: &[f64],
    sparse: &[bool],
    budget: impl Fn(usize) -> f64,
) -> Option<Step> {
    let na = q.len();
    let candidates: Vec<usize> = (0..na).filter(|&j| sparse[j]).collect();
    if candidates.is_empty() {
        return None;
    }
    let hm = DMatrix::from_row_slice(na, na, h);
    let ridge = (0..na).map(|i| hm[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let hinv = (hm + DMatrix::identity(na, na) * ridge).try_inverse()?;
    let mut order: Vec<(usize, f64)> = candidates
        .iter()
        .map(|&j| (j, 0.5 * q[j] * q[j] / hinv[(j, j)].max(f64::MIN_POSITIVE)))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    // The predicted loss increase of removing `set` together, and the multipliers w = H_SS⁻¹ q_S.
    let joint = |set: &[usize]| -> Option<(f64, DVector<f64>)> {
        let m = set.len();
        let hs = DMatrix::from_fn(m, m, |a, b| hinv[(set[a], set[b])]);
        let qs = DVector::from_fn(m, |a, _| q[set[a]]);
        let w = hs.lu().solve(&qs)?;
        Some((0.5 * qs.dot(&w), w))
    };
    let mut drop: Vec<usize> = vec![order[0].0];
    for &(j, _) in order.iter().skip(1) {
        let mut trial = drop.clone();
        trial.push(j);
        match joint(&trial) {
            Some((inc, _)) if inc.is_finite() && inc <= budget(trial.len()) => drop = trial,
            _ => break,
        }
    }
    // Second-order refit of the others with q_S forced to zero.
    let mut qn = q.to_vec();
    if let Some((_, w)) = joint(&drop) {
        for (i, v) in qn.iter_mut().enumerate() {
            *v -= drop
                .iter()
                .enumerate()
                .map(|(a, &k)| hinv[(i, k)] * w[a])
                .sum::<f64>();
        }
    }
    if qn.iter().any(|v| !v.is_finite()) {
        qn = q.to_vec();
    }
    Some(Step { drop, q: qn })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent terms (diagonal H): the one with the smallest q_k² H_kk goes first, alone when
    /// the others cost more than the batch tolerance; the rest stay put.
    #[test]
    fn drops_the_cheapest_independent_term() {
        let h = [2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0];
        let s = step(&h, 1.0, &[1.0, 0.1, -2.0], &[true, true, true]).expect("step");
        assert_eq!(s.drop, vec![1]);
        assert!((s.q[0] - 1.0).abs() < 1e-12 && (s.q[2] + 2.0).abs() < 1e-12);
    }

    /// Two tiny terms whose joint removal costs less than BATCH_TOL of the loss go together; a
    /// non-sparse coordinate is never dropped.
    #[test]
    fn batches_negligible_terms_and_spares_non_sparse() {
        let h = [2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0];
        let s = step(&h, 1.0, &[1e-3, -1e-3, 1e-4], &[true, true, false]).expect("step");
        let mut d = s.drop.clone();
        d.sort_unstable();
        assert_eq!(d, vec![0, 1]);
        assert!(step(&h, 1.0, &[1.0, 1.0, 1.0], &[false; 3]).is_none());
    }

    /// Correlated terms: the refit of the survivor is the exact least-squares solution with the
    /// dropped coordinate at zero, for the quadratic model loss = ½(q − q*)ᵀH(q − q*).
    #[test]
    fn refit_is_exact_for_a_quadratic_loss() {
        // Columns nearly collinear: H = AᵀA.
        let h = [2.0, 1.9, 1.9, 2.0];
        let q = [0.6, 0.5];
        let s = step(&h, 10.0, &q, &[true, true]).expect("step");
        assert_eq!(s.drop.len(), 1);
        let (d, k) = (s.drop[0], 1 - s.drop[0]);
        // Minimising over q_k with q_d = 0: q_k = q*_k + H_kd q*_d / H_kk.
        let exact = q[k] + h[k * 2 + d] * q[d] / h[k * 2 + k];
        assert!((s.q[k] - exact).abs() < 1e-9, "{} vs {exact}", s.q[k]);
    }
}
