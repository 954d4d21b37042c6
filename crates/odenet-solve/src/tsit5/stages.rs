//! One trial step of the states: the stage evaluations, the stage sums, the embedded error
//! estimate, Hairer's stiffness estimate and the starting step.

use odenet_tape::OdeRhs;

use super::Tsit5;
use super::all_finite;
use super::tableau::{A, BTILDE};
use crate::{SolveOptions, SolveStats};

impl Tsit5 {
    /// Evaluate stage `i` at the state in `self.xs` (or `self.x` for stage 0, `self.xnew` for
    /// stage 6), with the Jacobians when sensitivities are wanted.
    pub(super) fn eval_stage(&mut self, rhs: &dyn OdeRhs, p: &[f64], i: usize, sens: bool) {
        let n = self.n;
        let np = self.np;
        let at = match i {
            0 => &self.x,
            6 => &self.xnew,
            _ => &self.xs,
        };
        let k = &mut self.k[i * n..(i + 1) * n];
        if sens {
            rhs.rhs_jac(
                at,
                p,
                &mut self.scratch,
                k,
                &mut self.jx[i * n * n..(i + 1) * n * n],
                &mut self.jp[i * n * np..(i + 1) * n * np],
            );
        } else {
            rhs.rhs(at, p, &mut self.scratch, k);
        }
    }

    /// Stages 2..7 of one trial step of size h; leaves the candidate state in `xnew`.
    pub(super) fn stages(&mut self, rhs: &dyn OdeRhs, p: &[f64], h: f64, sens: bool) {
        let n = self.n;
        for i in 1..7 {
            let dst = if i == 6 { &mut self.xnew } else { &mut self.xs };
            combine(dst, &self.x, h, &A[i][..i], &self.k, n);
            if i == 5 {
                self.x6.copy_from_slice(&self.xs);
            }
            self.eval_stage(rhs, p, i, sens);
        }
    }

    /// The RMS error norm of the embedded estimate; NaN or infinite when any value is not
    /// finite.
    pub(super) fn error_norm(&self, h: f64, opts: &SolveOptions) -> f64 {
        let n = self.n;
        let mut sum = 0.0;
        for i in 0..n {
            let mut e = 0.0;
            for (j, b) in BTILDE.iter().enumerate() {
                e += b * self.k[j * n + i];
            }
            e *= h;
            let sc = opts.atol + opts.rtol * self.x[i].abs().max(self.xnew[i].abs());
            let r = e / sc;
            sum += r * r;
        }
        if !all_finite(&self.xnew) || !all_finite(&self.k[6 * n..]) {
            return f64::NAN;
        }
        (sum / n as f64).sqrt()
    }

    /// Hairer's estimate of |h λ| from the last two stages, both at t + h.
    pub(super) fn stiffness_estimate(&self, h: f64) -> f64 {
        let n = self.n;
        let mut num = 0.0;
        let mut den = 0.0;
        for i in 0..n {
            let dk = self.k[6 * n + i] - self.k[5 * n + i];
            let dx = self.xnew[i] - self.x6[i];
            num += dk * dk;
            den += dx * dx;
        }
        if den > 0.0 {
            h.abs() * (num / den).sqrt()
        } else {
            0.0
        }
    }

    /// Hairer's starting step (Hairer, Nørsett & Wanner, Solving ODE I, II.4), for order 5,
    /// clamped to the piece's span.
    pub(super) fn initial_step(
        &mut self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        opts: &SolveOptions,
        span: f64,
        stats: &mut SolveStats,
    ) -> f64 {
        let n = self.n;
        let sc = |v: f64| opts.atol + opts.rtol * v.abs();
        let rms = |it: &mut dyn Iterator<Item = f64>| -> f64 {
            let s: f64 = it.map(|v| v * v).sum();
            (s / n as f64).sqrt()
        };
        let x = &self.x;
        let f0 = &self.k[..n];
        let d0 = rms(&mut x.iter().map(|&v| v / sc(v)));
        let d1 = rms(&mut f0.iter().zip(x.iter()).map(|(&f, &v)| f / sc(v)));
        let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        h0 = h0.min(span);
        for i in 0..n {
            self.xs[i] = self.x[i] + h0 * self.k[i];
        }
        // xnew serves as a temporary for f(x0 + h0 f0).
        rhs.rhs(&self.xs, p, &mut self.scratch, &mut self.xnew);
        stats.rhs_evals += 1;
        let d2 = rms(&mut (0..n).map(|i| (self.xnew[i] - self.k[i]) / sc(self.x[i]))) / h0;
        let dmax = d1.max(d2);
        let h1 = if !dmax.is_finite() {
            h0
        } else if dmax <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / dmax).powf(1.0 / 5.0)
        };
        (100.0 * h0).min(h1).min(span)
    }
}

/// out = base + h Σ_j a_j k_j over the first `len` entries, with k_j = `k[j*len..(j+1)*len]`.
/// One fused pass per stage (the number of terms is fixed per stage), which keeps the stage
/// sums of the 3 × 33 sensitivity matrices in registers instead of re-reading `out`.
pub(super) fn combine(out: &mut [f64], base: &[f64], h: f64, a: &[f64], k: &[f64], len: usize) {
    let out = &mut out[..len];
    let base = &base[..len];
    let kj = |j: usize| &k[j * len..(j + 1) * len];
    match *a {
        [a0] => {
            let (c0, k0) = (h * a0, kj(0));
            for i in 0..len {
                out[i] = base[i] + c0 * k0[i];
            }
        }
        [a0, a1] => {
            let (c0, c1) = (h * a0, h * a1);
            let (k0, k1) = (kj(0), kj(1));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i]);
            }
        }
        [a0, a1, a2] => {
            let (c0, c1, c2) = (h * a0, h * a1, h * a2);
            let (k0, k1, k2) = (kj(0), kj(1), kj(2));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i] + c2 * k2[i]);
            }
        }
        [a0, a1, a2, a3] => {
            let (c0, c1, c2, c3) = (h * a0, h * a1, h * a2, h * a3);
            let (k0, k1, k2, k3) = (kj(0), kj(1), kj(2), kj(3));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i] + c2 * k2[i] + c3 * k3[i]);
            }
        }
        [a0, a1, a2, a3, a4] => {
            let (c0, c1, c2, c3, c4) = (h * a0, h * a1, h * a2, h * a3, h * a4);
            let (k0, k1, k2, k3, k4) = (kj(0), kj(1), kj(2), kj(3), kj(4));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i] + c2 * k2[i] + c3 * k3[i] + c4 * k4[i]);
            }
        }
        _ => {
            out.copy_from_slice(base);
            for (j, &aj) in a.iter().enumerate() {
                let c = h * aj;
                for (o, kv) in out.iter_mut().zip(kj(j)) {
                    *o += c * kv;
                }
            }
        }
    }
}
