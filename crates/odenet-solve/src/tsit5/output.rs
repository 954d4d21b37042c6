//! Writing the outputs: an output time at a step's end is copied, one inside a step is filled
//! by the continuous extension (states and sensitivities), each transposed from the
//! state-major working layout to the public column blocks.

use super::Tsit5;
use super::all_finite;
use super::tableau::dense_weights;
use crate::SolveFailure;

impl Tsit5 {
    /// The state and the sensitivities at t + θh inside the step just accepted (its stages in
    /// `k` and `ks`, its start in `x` and `s`), written straight to one output's rows `ox` and
    /// `os` (the sensitivities transposed to the public column blocks on the way). Returns
    /// false when a value is not finite.
    pub(super) fn interpolate(
        &self,
        theta: f64,
        h: f64,
        nc: usize,
        ox: &mut [f64],
        os: &mut [f64],
    ) -> bool {
        let n = self.n;
        let ns = n * nc;
        let w = dense_weights(theta).map(|b| h * b);
        // Σ v·0 is NaN exactly when some v is not finite (one branch-free pass).
        let mut nan = 0.0;
        for (i, o) in ox.iter_mut().enumerate() {
            let k = |j: usize| self.k[j * n + i];
            let lo = w[0] * k(0) + w[1] * k(1) + w[2] * k(2) + w[3] * k(3);
            let hi = w[4] * k(4) + w[5] * k(5) + w[6] * k(6);
            *o = self.x[i] + (lo + hi);
            nan += *o * 0.0;
        }
        if nc > 0 {
            let ks = |j: usize| &self.ks[j * ns..(j + 1) * ns];
            let (k0, k1, k2, k3) = (ks(0), ks(1), ks(2), ks(3));
            let (k4, k5, k6) = (ks(4), ks(5), ks(6));
            for (i, srow) in self.s[..ns].chunks_exact(nc).enumerate() {
                for (c, &base) in srow.iter().enumerate() {
                    let q = i * nc + c;
                    let lo = w[0] * k0[q] + w[1] * k1[q] + w[2] * k2[q] + w[3] * k3[q];
                    let hi = w[4] * k4[q] + w[5] * k5[q] + w[6] * k6[q];
                    let v = base + (lo + hi);
                    os[c * n + i] = v;
                    nan += v * 0.0;
                }
            }
        }
        !nan.is_nan()
    }
}

/// Copy the state and the sensitivities (transposed from state-major to the public column
/// blocks) at output k; a non-finite value is a failure at time t.
pub(super) fn write_output(
    k: usize,
    x: &[f64],
    s: &[f64],
    nc: usize,
    out_x: &mut [f64],
    out_s: &mut [f64],
    t: f64,
) -> Result<(), SolveFailure> {
    if !all_finite(x) || !all_finite(s) {
        return Err(SolveFailure::NonFinite { t });
    }
    let n = x.len();
    out_x[k * n..(k + 1) * n].copy_from_slice(x);
    let ns = n * nc;
    let dst = &mut out_s[k * ns..(k + 1) * ns];
    for (i, row) in s.chunks_exact(nc.max(1)).enumerate().take(n) {
        for (c, &v) in row.iter().enumerate() {
            dst[c * n + i] = v;
        }
    }
    Ok(())
}
