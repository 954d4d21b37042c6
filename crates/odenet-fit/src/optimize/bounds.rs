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

/// The inverse of `to_bounded`. A value on, outside or very near a bound maps a little inside it
/// (0.01 in normalised units, where parameters are of order one): at the bound itself dq/du
/// vanishes and the coordinate could never move.
pub(super) fn from_bounded(q: f64, lo: f64, hi: f64) -> f64 {
    let tiny = 1e-2;
    match (lo.is_finite(), hi.is_finite()) {
        (false, false) => q,
        (true, false) => {
            let d = (q - lo).max(tiny);
            if d > 30.0 { d } else { d.exp_m1().ln() }
        }
        (false, true) => {
            let d = (hi - q).max(tiny);
            if d > 30.0 { d } else { d.exp_m1().ln() }
        }
        (true, true) => {
            let f = ((q - lo) / (hi - lo)).clamp(tiny, 1.0 - tiny);
            (f / (1.0 - f)).ln()
        }
    }
}

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
}
