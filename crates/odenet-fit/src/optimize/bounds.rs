//! Bounds kept by a change of variables q = T(u) in L-BFGS: softplus for one bound, a logistic
//! map for two (measured against projection in `lbfgs`'s tests and benches/README.md).

/// The change of variables q = T(u) that keeps q inside [lo, hi].
pub(super) fn to_bounded(u: f64, lo: f64, hi: f64) -> (f64, f64) {
    let softplus = |u: f64| -> (f64, f64) {
        // ln(1 + e^u) and its derivative, without overflow.
        let s = if u > 30.0 { u } else { u.exp().ln_1p() };
        (s, 1.0 / (1.0 + (-u).exp()))
    };
    match (lo.is_finite(), hi.is_finite()) {
        (false, false) => (u, 1.0),
        (true, false) => {
            let (s, d) = softplus(u);
            (lo + s, d)
        }
        (false, true) => {
            let (s, d) = softplus(u);
            (hi - s, -d)
        }
        (true, true) => {
            let sg = 1.0 / (1.0 + (-u).exp());
            (lo + (hi - lo) * sg, (hi - lo) * sg * (1.0 - sg))
        }
    }
}

/// The inverse of `to_bounded`. A value strictly inside its bounds maps exactly: an optimiser
/// starts where it is told (a hand-over from another fit starts on that fit's minimum), and
/// normalised values are not always of order one (a rate of 0.005 in normalised units is a value,
/// not a bound). A value on or outside a bound maps ON_BOUND inside it (at the bound itself dq/du
/// vanishes and the coordinate could never move), and one nearer than NEAR maps NEAR inside.
pub(super) fn from_bounded(q: f64, lo: f64, hi: f64) -> f64 {
    let inside = |d: f64| if d > 0.0 { d.max(NEAR) } else { ON_BOUND };
    let inv_softplus = |d: f64| if d > 30.0 { d } else { d.exp_m1().ln() };
    match (lo.is_finite(), hi.is_finite()) {
        (false, false) => q,
        (true, false) => inv_softplus(inside(q - lo)),
        (false, true) => inv_softplus(inside(hi - q)),
        (true, true) => {
            // As a fraction of the box: inside it from both ends.
            let f = inside((q - lo) / (hi - lo));
            let f = 1.0 - inside(1.0 - f);
            (f / (1.0 - f)).ln()
        }
    }
}

/// Where `from_bounded` puts a value on or outside a bound (normalised units), and the least
/// distance from a bound it keeps.
const ON_BOUND: f64 = 1e-2;
const NEAR: f64 = 1e-9;

#[cfg(test)]
mod tests {
    use super::*;

    /// The change of variables and its inverse agree, and its derivative matches finite
    /// differences, for one, the other and both bounds.
    #[test]
    fn bounded_map_inverts_and_differentiates() {
        let inf = f64::INFINITY;
        for (lo, hi) in [(-inf, inf), (0.5, inf), (-inf, -0.5), (-1.0, 2.0)] {
            for u in [-3.0, -0.2, 0.0, 0.7, 4.0] {
                let (q, d) = to_bounded(u, lo, hi);
                assert!(q >= lo && q <= hi);
                let back = from_bounded(q, lo, hi);
                assert!(
                    (back - u).abs() < 1e-9 * (1.0 + u.abs()),
                    "{lo} {hi} {u}: {back}"
                );
                let h = 1e-6;
                let fd = (to_bounded(u + h, lo, hi).0 - to_bounded(u - h, lo, hi).0) / (2.0 * h);
                assert!(
                    (fd - d).abs() < 1e-6 * (1.0 + d.abs()),
                    "{lo} {hi} {u}: {fd} vs {d}"
                );
            }
        }
    }

    /// A value strictly inside its bounds maps back exactly however near the bound (a start
    /// handed over from another fit), and one on or outside a bound maps a little inside it.
    #[test]
    fn inverse_is_exact_inside_and_lifts_off_the_bound() {
        let inf = f64::INFINITY;
        for (lo, hi) in [(0.0, inf), (-inf, 0.0), (0.0, 1.0)] {
            for q in [1e-3, 0.004, -1e-3, -0.004, 0.3, 0.999] {
                if q <= lo || q >= hi {
                    continue;
                }
                let back = to_bounded(from_bounded(q, lo, hi), lo, hi).0;
                assert!((back - q).abs() < 1e-12, "{lo} {hi} {q}: {back}");
            }
            for q in [lo, hi, lo - 1.0, hi + 1.0] {
                if !q.is_finite() {
                    continue;
                }
                let back = to_bounded(from_bounded(q, lo, hi), lo, hi).0;
                let gap = (back - lo).min(hi - back);
                assert!((gap - ON_BOUND).abs() < 1e-9, "{lo} {hi} {q}: {back}");
            }
        }
    }
}
