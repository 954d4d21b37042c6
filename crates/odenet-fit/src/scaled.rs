//! The model as the optimiser sees it: states and time scaled to unit size, parameters
//! normalised so that a unit change of any parameter moves the scaled right-hand side by about
//! one, and only the active (free, not pruned) parameters exposed.
//!
//! Scaling makes μ and γ mean the same on any data and keeps L-BFGS well conditioned; the
//! reduction to active parameters makes the sensitivity equations as small as the model.

use odenet_tape::OdeRhs;

use crate::model::ModelRhs;

/// Fixed scales of one fit.
#[derive(Clone, Debug)]
pub struct Scales {
    /// Per state: x = sx · x_scaled.
    pub sx: Vec<f64>,
    /// t = st · t_scaled.
    pub st: f64,
    /// Per parameter: p_user = pscale · p_normalised.
    pub pscale: Vec<f64>,
}

/// dx_s/dt_s = (st / sx) ⊙ f(sx ⊙ x_s; p_user), with p_user[active[k]] = pscale · q[k] and every
/// other entry taken from `base` (user units).
pub struct ScaledRhs<'a> {
    pub inner: ModelRhs<'a>,
    pub scales: &'a Scales,
    pub base: &'a [f64],
    pub active: &'a [usize],
}

impl ScaledRhs<'_> {
    fn split<'s>(
        &self,
        scratch: &'s mut [f64],
    ) -> (&'s mut [f64], &'s mut [f64], &'s mut [f64], &'s mut [f64]) {
        let n = self.scales.sx.len();
        let npf = self.base.len();
        let (inner, rest) = scratch.split_at_mut(self.inner.scratch_len());
        let (xu, rest) = rest.split_at_mut(n);
        let (pu, rest) = rest.split_at_mut(npf);
        let (jpf, _) = rest.split_at_mut(n * npf);
        (inner, xu, pu, jpf)
    }

    fn user_point(&self, x: &[f64], q: &[f64], xu: &mut [f64], pu: &mut [f64]) {
        for ((u, &xs), &s) in xu.iter_mut().zip(x).zip(&self.scales.sx) {
            *u = xs * s;
        }
        pu.copy_from_slice(self.base);
        for (&k, &v) in self.active.iter().zip(q) {
            pu[k] = v * self.scales.pscale[k];
        }
    }
}

impl OdeRhs for ScaledRhs<'_> {
    fn nstates(&self) -> usize {
        self.scales.sx.len()
    }

    fn nparams(&self) -> usize {
        self.active.len()
    }

    fn scratch_len(&self) -> usize {
        let n = self.scales.sx.len();
        let npf = self.base.len();
        self.inner.scratch_len() + n + npf + n * npf
    }

    fn rhs(&self, x: &[f64], q: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        let (inner, xu, pu, _) = self.split(scratch);
        self.user_point(x, q, xu, pu);
        self.inner.rhs(xu, pu, inner, f);
        for (fi, &s) in f.iter_mut().zip(&self.scales.sx) {
            *fi *= self.scales.st / s;
        }
    }

    fn rhs_jac(
        &self,
        x: &[f64],
        q: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        let n = self.scales.sx.len();
        let npf = self.base.len();
        let na = self.active.len();
        let (inner, xu, pu, jpf) = self.split(scratch);
        self.user_point(x, q, xu, pu);
        self.inner.rhs_jac(xu, pu, inner, f, jx, jpf);
        let sx = &self.scales.sx;
        for i in 0..n {
            let r = self.scales.st / sx[i];
            f[i] *= r;
            for j in 0..n {
                jx[i * n + j] *= r * sx[j];
            }
            for (k, &a) in self.active.iter().enumerate() {
                jp[i * na + k] = jpf[i * npf + a] * r * self.scales.pscale[a];
            }
        }
    }
}
