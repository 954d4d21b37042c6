//! Small dense linear algebra for the per-piece systems (a few states), where nalgebra's
//! allocation would cost more than the solve.

/// Solves the small dense system a·x = b in place (b becomes x) by Gaussian elimination with
/// partial pivoting. Returns false for a singular or non-finite system.
pub(crate) fn solve_small(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    for col in 0..n {
        let mut piv = col;
        for r in col + 1..n {
            if a[r * n + col].abs() > a[piv * n + col].abs() {
                piv = r;
            }
        }
        let p = a[piv * n + col];
        if !p.is_finite() || p.abs() <= 1e-300 {
            return false;
        }
        if piv != col {
            for j in 0..n {
                a.swap(col * n + j, piv * n + j);
            }
            b.swap(col, piv);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            if f != 0.0 {
                for j in col..n {
                    a[r * n + j] -= f * a[col * n + j];
                }
                b[r] -= f * b[col];
            }
        }
    }
    for col in (0..n).rev() {
        let mut v = b[col];
        for j in col + 1..n {
            v -= a[col * n + j] * b[j];
        }
        b[col] = v / a[col * n + col];
        if !b[col].is_finite() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::solve_small;

    /// A pivoting case (zero leading entry) solved exactly; a singular one refused.
    #[test]
    fn solves_with_pivoting_and_refuses_singular() {
        let mut a = vec![0.0, 2.0, 1.0, 1.0];
        let mut b = vec![4.0, 3.0];
        assert!(solve_small(&mut a, &mut b, 2));
        assert!(
            (b[0] - 1.0).abs() < 1e-15 && (b[1] - 2.0).abs() < 1e-15,
            "{b:?}"
        );
        let mut s = vec![1.0, 2.0, 2.0, 4.0];
        let mut c = vec![1.0, 1.0];
        assert!(!solve_small(&mut s, &mut c, 2));
    }
}
