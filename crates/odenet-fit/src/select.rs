//! The parsimonious choice among scored supports: the sparsest one that is not significantly
//! worse than the best. Pure functions of the scores.

/// A support is acceptable when its score exceeds the best one's by at most this fraction (a
/// model with a few spurious small terms fits noisy data slightly better than the true one) …
pub const SELECT_MARGIN: f64 = 0.01;
/// … or when its excess is within this many standard errors of the paired per-piece
/// differences.
pub const SELECT_SE: f64 = 2.0;

/// The family-wise rate at which a template's null candidate terms may enter the chosen model
/// (see [`term_price`]).
pub const FAMILY_ALPHA: f64 = 0.05;

/// What one parameter costs in χ² units (deviance) when supports are scored on `labels` label
/// values without held-out pieces, among `candidates` sparse candidate terms: the BIC's ln N,
/// but at least the Bonferroni threshold of a likelihood-ratio test of one term at family-wise
/// rate [`FAMILY_ALPHA`] (the χ²₁ quantile at 1 − α/p). ln N is a large-sample price: on a
/// template with p candidates fitted to some tens of values each null term passes it often (at
/// N = 22 about one time in twelve, so one of three null terms enters about one fit in four),
/// while the threshold keeps the chance that any of them enters near α whatever N; on many
/// values ln N is the larger and the price is the BIC's.
pub fn term_price(labels: f64, candidates: usize) -> f64 {
    let bic = labels.max(2.0).ln();
    if candidates == 0 {
        return bic;
    }
    bic.max(chi2_1_upper(FAMILY_ALPHA / candidates as f64))
}

/// The upper tail 2·Q(z) of the standard normal beyond |z| (Q by Simpson's rule on the density;
/// absolute error below 1e-12 for |z| ≤ 8).
fn two_sided_tail(z: f64) -> f64 {
    let z = z.abs().min(8.0);
    let n = 2000;
    let h = z / n as f64;
    let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut sum = phi(0.0) + phi(z);
    for i in 1..n {
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * phi(i as f64 * h);
    }
    (1.0 - 2.0 * sum * h / 3.0).max(0.0)
}

/// The χ² quantile with one degree of freedom whose upper tail is `a` (z² with 2·Q(z) = a, by
/// bisection).
fn chi2_1_upper(a: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 8.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if two_sided_tail(mid) > a {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let z = 0.5 * (lo + hi);
    z * z
}

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

    /// The χ²₁ quantiles against tabulated values (3.841 at 5%, 6.635 at 1%, 10.828 at 0.1%),
    /// and the price: the Bonferroni threshold on few labels, ln N on many.
    #[test]
    fn term_price_is_the_larger_of_ln_n_and_the_family_wise_threshold() {
        for (a, want) in [(0.05, 3.841), (0.01, 6.635), (0.001, 10.828)] {
            let got = chi2_1_upper(a);
            assert!((got - want).abs() < 1e-3, "{a}: {got}");
        }
        // SIR with I observed: 22 values, 3 candidates: the 5%/3 threshold, 5.73.
        assert!((term_price(22.0, 3) - 5.73).abs() < 0.01);
        // Eleven candidates: 8.05 on 126 values; ln N on 10⁵ values.
        assert!((term_price(126.0, 11) - 8.05).abs() < 0.01);
        assert!((term_price(1e5, 11) - 1e5f64.ln()).abs() < 1e-12);
        assert!((term_price(50.0, 0) - 50f64.ln()).abs() < 1e-12);
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
