//! Best-subset regression on the integral form: for one equation and one number of terms, the
//! subset of its candidate columns that explains the most of the data's change (exhaustively,
//! from the normal equations). Thresholded regression walks one path through the supports;
//! under near-collinear columns (data close to an equilibrium or a slow manifold) that path can
//! miss the true support, which the exhaustive search of small supports still finds.

use super::Design;

/// The largest subset searched (the normal equations of a subset live on the stack).
pub const MAX_SUBSET: usize = 6;

impl Design {
    /// Among the subsets of `size` coordinates of `pool` (with every coordinate of `forced`
    /// added), the one whose least-squares fit explains the most (hᵀ G⁻¹ h over the subset);
    /// None when there are more than `max_subsets` subsets or none is solvable.
    pub fn best_subset(
        &self,
        pool: &[usize],
        forced: &[usize],
        size: usize,
        max_subsets: usize,
    ) -> Option<Vec<usize>> {
        let m = size + forced.len();
        if size == 0 || size > pool.len() || m > MAX_SUBSET || count(pool.len(), size) > max_subsets
        {
            return None;
        }
        let mut cols = [0usize; MAX_SUBSET];
        let mut best: Option<(f64, Vec<usize>)> = None;
        for_each_subset(pool.len(), size, &mut |idx| {
            for (c, &i) in idx.iter().enumerate() {
                cols[c] = pool[i];
            }
            cols[size..m].copy_from_slice(forced);
            if let Some(e) = self.explained(&cols[..m])
                && best.as_ref().is_none_or(|b| e > b.0)
            {
                best = Some((e, cols[..m].to_vec()));
            }
            true
        });
        best.map(|(_, mut c)| {
            c.sort_unstable();
            c
        })
    }

    /// hᵀ G⁻¹ h over the coordinates `cols` (Cholesky on the stack); None when G is not
    /// positive definite there.
    fn explained(&self, cols: &[usize]) -> Option<f64> {
        let m = cols.len();
        let mut l = [0.0f64; MAX_SUBSET * MAX_SUBSET];
        let mut y = [0.0f64; MAX_SUBSET];
        for r in 0..m {
            for c in 0..=r {
                let mut s = self.g[(cols[r], cols[c])];
                for k in 0..c {
                    s -= l[r * MAX_SUBSET + k] * l[c * MAX_SUBSET + k];
                }
                if r == c {
                    // Relative pivot floor: a column (nearly) in the span of the others adds
                    // nothing and must not be credited with round-off.
                    if s <= 1e-12 * self.g[(cols[r], cols[r])] || s <= 0.0 {
                        return None;
                    }
                    l[r * MAX_SUBSET + r] = s.sqrt();
                } else {
                    l[r * MAX_SUBSET + c] = s / l[c * MAX_SUBSET + c];
                }
            }
            // Forward substitution: L y = h.
            let mut s = self.h[cols[r]];
            for k in 0..r {
                s -= l[r * MAX_SUBSET + k] * y[k];
            }
            y[r] = s / l[r * MAX_SUBSET + r];
        }
        Some(y[..m].iter().map(|v| v * v).sum())
    }
}

/// Every subset of `0..m` with `s` elements, in lexicographic order, while `visit` returns true.
pub fn for_each_subset(m: usize, s: usize, visit: &mut impl FnMut(&[usize]) -> bool) {
    if s == 0 || s > m {
        return;
    }
    let mut idx: Vec<usize> = (0..s).collect();
    loop {
        if !visit(&idx) {
            return;
        }
        let Some(i) = (0..s).rev().find(|&i| idx[i] < m - s + i) else {
            return;
        };
        idx[i] += 1;
        for j in i + 1..s {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// n choose k (saturating).
pub fn count(n: usize, k: usize) -> usize {
    (0..k.min(n)).fold(1usize, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

#[cfg(test)]
mod tests {
    use nalgebra::{DMatrix, DVector};

    use super::*;
    use crate::rng::Rng;

    /// A design from rows x (m × n) and y = x·β + noise.
    fn design(m: usize, n: usize, beta: &[(usize, f64)], corr: f64, seed: u64) -> Design {
        let mut rng = Rng::new(seed);
        let mut x = DMatrix::<f64>::zeros(m, n);
        for i in 0..m {
            let common = rng.normal();
            for j in 0..n {
                x[(i, j)] = corr * common + (1.0 - corr * corr).sqrt() * rng.normal();
            }
        }
        let y = DVector::from_fn(m, |i, _| {
            beta.iter().map(|&(j, b)| x[(i, j)] * b).sum::<f64>() + 1e-3 * rng.normal()
        });
        Design {
            g: x.transpose() * &x,
            h: x.transpose() * y,
        }
    }

    /// Exhaustive search checked against a direct least-squares fit of every subset.
    #[test]
    fn best_subset_is_the_subset_with_least_residual() {
        for seed in 0..5 {
            let d = design(60, 8, &[(1, 1.0), (4, -0.5), (6, 0.25)], 0.95, seed);
            let pool: Vec<usize> = (0..8).collect();
            let got = d.best_subset(&pool, &[], 3, 1000).expect("subset");
            assert_eq!(got, vec![1, 4, 6], "seed {seed}");
            // The reference: the explained sum of squares from an independent solve.
            let mut best = (f64::NEG_INFINITY, vec![]);
            for a in 0..8 {
                for b in a + 1..8 {
                    for c in b + 1..8 {
                        let cols = [a, b, c];
                        let g = DMatrix::from_fn(3, 3, |r, s| d.g[(cols[r], cols[s])]);
                        let h = DVector::from_fn(3, |r, _| d.h[cols[r]]);
                        let sol = g.lu().solve(&h).expect("solvable");
                        let e = h.dot(&sol);
                        if e > best.0 {
                            best = (e, cols.to_vec());
                        }
                    }
                }
            }
            assert_eq!(got, best.1, "seed {seed}");
        }
    }

    #[test]
    fn every_combination_is_visited_once() {
        let mut seen = Vec::new();
        for_each_subset(5, 3, &mut |s| {
            seen.push(s.to_vec());
            true
        });
        assert_eq!(seen.len(), count(5, 3));
        assert_eq!(seen.len(), 10);
        seen.dedup();
        assert_eq!(seen.len(), 10);
        assert_eq!(seen[0], vec![0, 1, 2]);
        assert_eq!(seen[9], vec![2, 3, 4]);
    }

    #[test]
    fn forced_coordinates_are_always_in() {
        let d = design(60, 6, &[(0, 1.0), (3, 2.0)], 0.5, 7);
        let got = d
            .best_subset(&[1, 2, 3, 4, 5], &[0], 1, 100)
            .expect("subset");
        assert_eq!(got, vec![0, 3]);
        assert!(
            d.best_subset(&[1, 2, 3, 4, 5], &[0], 3, 5).is_none(),
            "over the budget"
        );
        assert_eq!(count(5, 3), 10);
    }
}
