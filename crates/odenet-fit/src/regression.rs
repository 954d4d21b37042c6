//! The integral-form regression (SINDy on the integral form): the initial guess and the cheap
//! screen of candidate supports.
//!
//! Over windows of `w` data intervals, x(t_{k+w}) − x(t_k) ≈ ∫ f(x; q) dt by the trapezoid rule
//! on the data. For a model affine in its parameters, f = f(x; 0) + J_q(x)·q, so this is a
//! linear least-squares problem in q (all equations stacked, so tied parameters are one
//! unknown). Its normal equations are built once per window ([`Design`]); any subset of the
//! parameters is then solved from them. Ridge-stabilised, sequentially thresholded by relative
//! contribution ([`Moments`] gives the contributions without evaluating the model again).

use nalgebra::{DMatrix, DVector};
use odenet_spec::InitKind;
use odenet_tape::OdeRhs;

use crate::problem::Problem;

/// Is the scaled model affine in the active parameters? Checked numerically at a few states.
pub fn is_affine(prob: &Problem, base: &[f64], active: &[usize]) -> bool {
    let rows = &prob.rows;
    let n = prob.nstates();
    let na = active.len();
    let mut checked = 0;
    for (e, er) in rows.iter().enumerate() {
        let rhs = prob.rhs(e, base, active);
        let mut scratch = vec![0.0; rhs.scratch_len()];
        let (mut f0, mut f1) = (vec![0.0; n], vec![0.0; n]);
        let (mut jx, mut jq) = (vec![0.0; n * n], vec![0.0; n * na]);
        let zero = vec![0.0; na];
        let q1: Vec<f64> = (0..na).map(|k| 0.3 + 0.1 * (k % 7) as f64).collect();
        for x in er.iter().flatten().step_by(er.len().max(8) / 8) {
            rhs.rhs_jac(x, &zero, &mut scratch, &mut f0, &mut jx, &mut jq);
            rhs.rhs(x, &q1, &mut scratch, &mut f1);
            for i in 0..n {
                let lin: f64 = f0[i] + (0..na).map(|k| jq[i * na + k] * q1[k]).sum::<f64>();
                let scale = 1.0 + f1[i].abs() + lin.abs();
                let d = (f1[i] - lin).abs();
                if d.is_nan() || d > 1e-8 * scale {
                    return false;
                }
            }
            checked += 1;
            if checked > 24 {
                return true;
            }
        }
    }
    checked > 0
}

/// f(x; 0) and J_q(x) at every usable row of every experiment (None where a row is unusable).
type Linear = Vec<Vec<Option<(Vec<f64>, Vec<f64>)>>>;

fn linearise(prob: &Problem, base: &[f64], active: &[usize]) -> Linear {
    let n = prob.nstates();
    let na = active.len();
    let zero = vec![0.0; na];
    prob.rows
        .iter()
        .enumerate()
        .map(|(e, er)| {
            let rhs = prob.rhs(e, base, active);
            let mut scratch = vec![0.0; rhs.scratch_len()];
            let mut jx = vec![0.0; n * n];
            er.iter()
                .map(|r| {
                    r.as_ref().map(|x| {
                        let mut f0 = vec![0.0; n];
                        let mut jq = vec![0.0; n * na];
                        rhs.rhs_jac(x, &zero, &mut scratch, &mut f0, &mut jx, &mut jq);
                        (f0, jq)
                    })
                })
                .collect()
        })
        .collect()
}

/// The normal equations of the integral-form regression over windows of `w` intervals, for
/// every active parameter.
pub struct Design {
    g: DMatrix<f64>,
    h: DVector<f64>,
}

impl Design {
    /// The design of `prob`'s usable rows; None when no window can be formed.
    pub fn new(prob: &Problem, base: &[f64], active: &[usize], w: usize) -> Option<Design> {
        Self::from_linear(prob, &linearise(prob, base, active), active.len(), w)
    }

    fn from_linear(prob: &Problem, lin: &Linear, na: usize, w: usize) -> Option<Design> {
        let n = prob.nstates();
        let mut g = DMatrix::<f64>::zeros(na, na);
        let mut h = DVector::<f64>::zeros(na);
        let mut windows = 0usize;
        let mut a = vec![0.0; n * na];
        let mut b = vec![0.0; n];
        for (e, er) in prob.rows.iter().enumerate() {
            let ex = &prob.exps[e];
            let lin = &lin[e];
            let rows_n = er.len();
            if rows_n <= w {
                continue;
            }
            for k in 0..rows_n - w {
                if (k..=k + w).any(|j| lin[j].is_none()) {
                    continue;
                }
                let (Some(xa), Some(xb)) = (&er[k], &er[k + w]) else {
                    continue;
                };
                a.iter_mut().for_each(|v| *v = 0.0);
                for i in 0..n {
                    b[i] = xb[i] - xa[i];
                }
                for j in k..k + w {
                    let dt = ex.t[j + 1] - ex.t[j];
                    let (Some((f0a, jqa)), Some((f0b, jqb))) = (&lin[j], &lin[j + 1]) else {
                        continue;
                    };
                    for i in 0..n {
                        b[i] -= 0.5 * dt * (f0a[i] + f0b[i]);
                        for c in 0..na {
                            a[i * na + c] += 0.5 * dt * (jqa[i * na + c] + jqb[i * na + c]);
                        }
                    }
                }
                for i in 0..n {
                    let ai = &a[i * na..(i + 1) * na];
                    if !b[i].is_finite() || ai.iter().any(|v| !v.is_finite()) {
                        continue;
                    }
                    for r in (0..na).filter(|&r| ai[r] != 0.0) {
                        h[r] += ai[r] * b[i];
                        for c in (0..na).filter(|&c| ai[c] != 0.0) {
                            g[(r, c)] += ai[r] * ai[c];
                        }
                    }
                }
                windows += 1;
            }
        }
        (windows > 0).then_some(Design { g, h })
    }

    /// The least-squares q over the coordinates `keep` marks (the others zero).
    pub fn solve(&self, keep: &[bool]) -> Option<Vec<f64>> {
        let na = keep.len();
        let idx: Vec<usize> = (0..na).filter(|&k| keep[k]).collect();
        let m = idx.len();
        if m == 0 {
            return Some(vec![0.0; na]);
        }
        let mut g = DMatrix::from_fn(m, m, |r, c| self.g[(idx[r], idx[c])]);
        let h = DVector::from_fn(m, |r, _| self.h[idx[r]]);
        let tr = (0..m).map(|i| g[(i, i)]).sum::<f64>() / m as f64;
        let ridge = 1e-9 * tr.max(f64::MIN_POSITIVE);
        for i in 0..m {
            g[(i, i)] += ridge;
        }
        let sol = g
            .clone()
            .cholesky()
            .map(|c| c.solve(&h))
            .or_else(|| g.lu().solve(&h))?;
        let mut q = vec![0.0; na];
        for (c, &k) in idx.iter().enumerate() {
            q[k] = if sol[c].is_finite() { sol[c] } else { 0.0 };
        }
        Some(q)
    }
}

/// Per equation, the second moments of an affine model's parts over the usable rows: f_i = f0_i
/// + Σ_k J_ik q_k, so Σ f_i² and Σ (q_k J_ik)² follow for any q without evaluating the model.
pub struct Moments {
    n: usize,
    na: usize,
    f0f0: Vec<f64>,
    f0j: Vec<f64>,
    jj: Vec<f64>,
}

impl Moments {
    fn from_linear(lin: &Linear, n: usize, na: usize) -> Moments {
        let mut m = Moments {
            n,
            na,
            f0f0: vec![0.0; n],
            f0j: vec![0.0; n * na],
            jj: vec![0.0; n * na * na],
        };
        for (f0, jq) in lin.iter().flatten().flatten() {
            for i in 0..n {
                if !f0[i].is_finite() || jq[i * na..(i + 1) * na].iter().any(|v| !v.is_finite()) {
                    continue;
                }
                m.f0f0[i] += f0[i] * f0[i];
                let ji = &jq[i * na..(i + 1) * na];
                for k in (0..na).filter(|&k| ji[k] != 0.0) {
                    m.f0j[i * na + k] += f0[i] * ji[k];
                    for l in (0..na).filter(|&l| ji[l] != 0.0) {
                        m.jj[(i * na + k) * na + l] += ji[k] * ji[l];
                    }
                }
            }
        }
        m
    }

    /// Relative contribution of each parameter at q: max over equations of
    /// RMS(q_k ∂f_i/∂q_k) / RMS(f_i) over the rows.
    pub fn contributions(&self, q: &[f64]) -> Vec<f64> {
        let (n, na) = (self.n, self.na);
        let fsq: Vec<f64> = (0..n)
            .map(|i| {
                let mut s = self.f0f0[i];
                for k in (0..na).filter(|&k| q[k] != 0.0) {
                    s += 2.0 * q[k] * self.f0j[i * na + k];
                    for l in (0..na).filter(|&l| q[l] != 0.0) {
                        s += q[k] * q[l] * self.jj[(i * na + k) * na + l];
                    }
                }
                s
            })
            .collect();
        (0..na)
            .map(|k| {
                (0..n)
                    .filter(|&i| fsq[i] > 0.0)
                    .map(|i| (q[k] * q[k] * self.jj[(i * na + k) * na + k] / fsq[i]).sqrt())
                    .fold(0.0, f64::max)
            })
            .collect()
    }
}

/// The regression of an affine model at several windows, with its moments.
pub struct Regression {
    pub designs: Vec<(usize, Design)>,
    pub moments: Moments,
    /// Per active parameter: subject to pruning.
    pub sparse: Vec<bool>,
}

impl Regression {
    /// The regression over `active` at each window of `windows` that can be formed; None when
    /// the model is not affine in its parameters or no window can be formed.
    pub fn new(prob: &Problem, base: &[f64], active: &[usize], windows: &[usize]) -> Option<Self> {
        if !is_affine(prob, base, active) {
            return None;
        }
        let lin = linearise(prob, base, active);
        let na = active.len();
        let designs: Vec<(usize, Design)> = windows
            .iter()
            .filter_map(|&w| Design::from_linear(prob, &lin, na, w).map(|d| (w, d)))
            .collect();
        if designs.is_empty() {
            return None;
        }
        Some(Regression {
            designs,
            moments: Moments::from_linear(&lin, prob.nstates(), na),
            sparse: active
                .iter()
                .map(|&k| prob.model.params[k].sparse)
                .collect(),
        })
    }

    /// Sequentially thresholded least squares on design `d`: regress, drop the sparse
    /// coordinates whose relative contribution is below `gamma`, regress the rest again (at most
    /// `rounds` times). Dropped coordinates are exactly zero.
    pub fn stlsq(&self, d: &Design, gamma: f64, rounds: usize) -> Option<Vec<f64>> {
        let mut keep = vec![true; self.sparse.len()];
        let mut best = None;
        for _ in 0..rounds {
            let Some(q) = d.solve(&keep) else { break };
            let c = self.moments.contributions(&q);
            let mut changed = false;
            for k in 0..keep.len() {
                if keep[k] && self.sparse[k] && (c[k] < gamma || !c[k].is_finite()) {
                    keep[k] = false;
                    changed = true;
                }
            }
            best = Some(q);
            if !changed {
                break;
            }
        }
        best
    }
}

/// The initial guess over every free parameter (no thresholding), in normalised units: the
/// integral-form regression when `init` asks for it and the model is affine in its parameters,
/// else the spec's starting values.
pub fn initial_guess(prob: &Problem, init: InitKind) -> Vec<f64> {
    let q_spec = prob.scales.normalised(&prob.init, &prob.free);
    if init != InitKind::Regression || !is_affine(prob, &prob.init, &prob.free) {
        return q_spec;
    }
    let keep = vec![true; prob.free.len()];
    Design::new(
        prob,
        &prob.init,
        &prob.free,
        prob.layout.regression_window(),
    )
    .and_then(|d| d.solve(&keep))
    .unwrap_or(q_spec)
}

/// Sequentially thresholded regression: regress, drop the coordinates `prune` flags, regress
/// again on the rest (at most `rounds` times). None when the model is not affine in its
/// parameters or there is nothing to regress on. Dropped coordinates are exactly zero.
pub fn thresholded_guess(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    rounds: usize,
    prune: impl Fn(&[f64]) -> Vec<bool>,
) -> Option<Vec<f64>> {
    if !is_affine(prob, base, active) {
        return None;
    }
    let design = Design::new(prob, base, active, prob.layout.regression_window())?;
    let mut keep = vec![true; active.len()];
    let mut best = None;
    for _ in 0..rounds {
        let Some(q) = design.solve(&keep) else {
            break;
        };
        let drop = prune(&q);
        let changed = drop.iter().zip(&keep).any(|(&d, &k)| d && k);
        best = Some(q);
        if !changed {
            break;
        }
        for (kp, d) in keep.iter_mut().zip(&drop) {
            if *d {
                *kp = false;
            }
        }
    }
    best
}

mod subsets;
pub use subsets::{MAX_SUBSET, count as subset_count, for_each_subset};

#[cfg(test)]
mod tests;
