//! The parsimonious choice among scored supports: the sparsest one that is not significantly
//! worse than the best. Pure functions of the scores.

/// A support is acceptable when its score exceeds the best one's by at most this fraction (a
/// model with a few spurious small terms fits noisy data slightly better than the true one) …
pub const SELECT_MARGIN: f64 = 0.01;
/// … or when its excess is within this many standard errors of the paired per-piece
/// differences.
pub const SELECT_SE: f64 = 2.0;

/// One scored support.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// Free parameters in the support.
    pub size: usize,
    /// Held-out loss (or the BIC-weighted training loss when nothing is held out).
    pub score: f64,
    /// Each scoring piece's squared-error sum (empty when there are no held-out pieces).
    pub per_piece: Vec<f64>,
}

/// The index of the best (lowest) finite score.
pub fn best(cands: &[Scored]) -> Option<usize> {
    let b = cands.iter().map(|c| c.score).fold(f64::INFINITY, f64::min);
    cands.iter().position(|c| c.score.total_cmp(&b).is_eq())
}

/// The excess of `a` over `b` in standard errors of their paired per-piece differences, over
/// `labels` label values (NaN when they cannot be formed: fewer than five pairs).
pub fn paired_z(a: &[f64], b: &[f64], labels: usize) -> f64 {
    let m = a.len();
    if m < 5 || b.len() != m {
        return f64::NAN;
    }
    let nl = labels.max(1) as f64;
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) / nl * m as f64)
        .collect();
    let mean = d.iter().sum::<f64>() / m as f64;
    let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1) as f64;
    let se = (var / m as f64).sqrt();
    if se > 0.0 {
        mean / se
    } else if mean > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// The z of every candidate against the best (NaN without paired scores).
pub fn paired_zs(cands: &[Scored], labels: usize) -> Vec<f64> {
    let ib = best(cands);
    cands
        .iter()
        .map(|c| match ib {
            Some(ib) if !c.per_piece.is_empty() => {
                paired_z(&c.per_piece, &cands[ib].per_piece, labels)
            }
            _ => f64::NAN,
        })
        .collect()
}

/// The sparsest candidate whose score is within [`SELECT_MARGIN`] of the best or whose paired
/// excess is within [`SELECT_SE`] standard errors (ties: the lower score); `labels` is the
/// number of label values the per-piece sums are over.
pub fn choose(cands: &[Scored], labels: usize) -> Option<usize> {
    let b = cands.iter().map(|c| c.score).fold(f64::INFINITY, f64::min);
    let z = paired_zs(cands, labels);
    let acceptable = |i: usize| {
        let c = &cands[i];
        c.score.is_finite() && (c.score - b <= SELECT_MARGIN * b || z[i] <= SELECT_SE)
    };
    (0..cands.len())
        .filter(|&i| acceptable(i))
        .min_by(|&a, &b| {
            cands[a]
                .size
                .cmp(&cands[b].size)
                .then(cands[a].score.total_cmp(&cands[b].score))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(size: usize, score: f64, per_piece: Vec<f64>) -> Scored {
        Scored {
            size,
            score,
            per_piece,
        }
    }

    /// Within the margin the sparsest wins; outside it, a clearly worse sparse model loses.
    #[test]
    fn margin_prefers_the_sparsest_close_score() {
        let c = vec![
            scored(6, 1.000, vec![]),
            scored(4, 1.005, vec![]),
            scored(2, 1.5, vec![]),
        ];
        assert_eq!(choose(&c, 100), Some(1));
    }

    /// A worse score that the paired differences cannot resolve (z small) is acceptable; one
    /// they resolve (every piece worse by the same amount) is not.
    #[test]
    fn paired_test_decides_beyond_the_margin() {
        let base: Vec<f64> = (0..20).map(|i| 1.0 + 0.1 * ((i * 7) % 5) as f64).collect();
        let noisy: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 0.3 } else { -0.25 })
            .collect();
        let shifted: Vec<f64> = base.iter().map(|v| v + 0.05).collect();
        let sum = |v: &[f64]| v.iter().sum::<f64>() / 20.0;
        let c = vec![
            scored(5, sum(&base), base.clone()),
            scored(3, sum(&noisy), noisy.clone()),
        ];
        assert!(paired_zs(&c, 20)[1] < SELECT_SE);
        assert_eq!(choose(&c, 20), Some(1));
        let d = vec![
            scored(5, sum(&base), base.clone()),
            scored(3, sum(&shifted), shifted),
        ];
        assert!(paired_zs(&d, 20)[1] > 100.0);
        assert_eq!(choose(&d, 20), Some(0));
    }

    /// Non-finite scores are never chosen; none at all gives None.
    #[test]
    fn non_finite_scores_are_not_chosen() {
        let c = vec![scored(1, f64::NAN, vec![]), scored(3, 2.0, vec![])];
        assert_eq!(choose(&c, 10), Some(1));
        assert_eq!(choose(&[scored(1, f64::INFINITY, vec![])], 10), None);
        assert!(paired_z(&[1.0; 3], &[1.0; 3], 3).is_nan());
    }
}
