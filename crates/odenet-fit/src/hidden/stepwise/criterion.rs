//! The criterion the stepwise search scores supports by (`bic`), over the training labels less
//! the profiled initial values (`labels`), and the rule by which one support is preferred to
//! another (`prefer`).

use crate::fit::Fitter;
use crate::select::SELECT_MARGIN;

/// The labels a criterion counts: `n` label values, of which `starts` are spent on the
/// profiled initial values (one support or another, the same), and the price of one parameter
/// (`select::term_price`: ln N, or more on few labels among several candidates).
#[derive(Clone, Copy, Debug)]
pub(super) struct Labels {
    pub(super) n: f64,
    pub(super) starts: f64,
    pub(super) price: f64,
}

/// The criterion of a loss `loss` (mean squared scaled mismatch) with `k` parameters:
/// N·ln σ̂² + k·c (c the price per term, the BIC's ln N on many labels), where
/// σ̂² = N·L/(N − k − s) is the noise variance the residuals imply with their degrees of freedom
/// (the estimate the standard errors use). On few labels the plain N·ln L rewards every term
/// with the one degree of freedom it takes: an added null term then passes the ln N price about
/// one time in eight at N ≈ 22 (SIR with I observed), against one in thirty-seven at N ≈ 130,
/// and the price's error rate holds only with the variance counted this way.
pub(super) fn bic(loss: f64, k: usize, n: Labels) -> f64 {
    let dof = n.n - k as f64 - n.starts;
    if loss.is_finite() && loss > 0.0 && dof >= 1.0 {
        n.n * (loss * n.n / dof).ln() + k as f64 * n.price
    } else {
        f64::INFINITY
    }
}

/// Support (criterion `a.0`, `a.1` terms) is preferred to support `b` by the rule the path's
/// choice follows (the sparsest within [`SELECT_MARGIN`] of the best score L·N^(k/N), whose
/// logarithm is the criterion over N): a sparser support may score up to N·ln(1 + margin)
/// worse, a denser one must score that much better, one of the same size better at all.
pub(super) fn prefer(a: (f64, usize), b: (f64, usize), n: Labels) -> bool {
    let margin = n.n * SELECT_MARGIN.ln_1p();
    match a.1.cmp(&b.1) {
        std::cmp::Ordering::Less => a.0 <= b.0 + margin,
        std::cmp::Ordering::Greater => a.0 < b.0 - margin,
        std::cmp::Ordering::Equal => a.0 < b.0,
    }
}

/// The training labels and the profiled initial values among them.
pub(super) fn labels(fitter: &Fitter) -> Labels {
    let prob = fitter.prob;
    let ns = prob.nstates();
    let starts = fitter
        .train
        .iter()
        .map(|&pi| {
            prob.free_start[pi * ns..(pi + 1) * ns]
                .iter()
                .filter(|&&f| f)
                .count()
        })
        .sum::<usize>();
    let n = prob.label_count(&fitter.train).max(1) as f64;
    Labels {
        n,
        starts: starts as f64,
        price: fitter.price,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A term that lowers the residual sum of squares by only the share one degree of freedom
    /// takes (what a null term does on average) leaves σ̂² where it was and pays the full price
    /// ln N; with the plain N·ln L it would have gained N·ln(dof/(dof − 1)) ≈ 1.2 at N = 22.
    #[test]
    fn a_term_that_takes_only_its_degree_of_freedom_pays_ln_n() {
        let n = Labels {
            n: 22.0,
            starts: 2.0,
            price: 22f64.ln(),
        };
        let (k, l0) = (3usize, 4.0e-3);
        let dof = n.n - k as f64 - n.starts;
        let l1 = l0 * (dof - 1.0) / dof;
        let price = bic(l1, k + 1, n) - bic(l0, k, n);
        assert!((price - n.n.ln()).abs() < 1e-9, "{price}");
        let plain = n.n * (l1 / l0).ln() + n.n.ln();
        assert!(plain < n.n.ln() - 1.0, "{plain}");
        // No degrees of freedom left: no criterion.
        assert!(bic(l0, 20, n).is_infinite());
    }
}
