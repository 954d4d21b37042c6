//! The initial guess: integral-form least squares (SINDy on the integral form).
//!
//! Over windows of `w` data intervals, x(t_{k+w}) − x(t_k) ≈ ∫ f(x; q) dt by the trapezoid rule
//! on the data. For a model affine in its parameters, f = f(x; 0) + J_q(x)·q, so this is a
//! linear least-squares problem in q (all equations stacked, so tied parameters are one
//! unknown). Ridge-stabilised, then sequentially thresholded by relative contribution.

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

/// Integral-form least squares over windows of `w` intervals. Returns q (active coordinates),
/// or None when there is nothing to regress on.
pub fn integral_least_squares(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    w: usize,
    keep: &[bool],
) -> Option<Vec<f64>> {
    let rows = &prob.rows;
    let n = prob.nstates();
    let na = active.len();
    let idx: Vec<usize> = (0..na).filter(|&k| keep[k]).collect();
    let m = idx.len();
    if m == 0 {
        return Some(vec![0.0; na]);
    }
    let mut g = DMatrix::<f64>::zeros(m, m);
    let mut h = DVector::<f64>::zeros(m);
    let mut nwin = 0usize;
    let zero = vec![0.0; na];
    for (e, er) in rows.iter().enumerate() {
        let ex = &prob.exps[e];
        let rhs = prob.rhs(e, base, active);
        let mut scratch = vec![0.0; rhs.scratch_len()];
        let mut jx = vec![0.0; n * n];
        // f0 and J_q at every usable row.
        let lin: Vec<Option<(Vec<f64>, Vec<f64>)>> = er
            .iter()
            .map(|r| {
                r.as_ref().map(|x| {
                    let mut f0 = vec![0.0; n];
                    let mut jq = vec![0.0; n * na];
                    rhs.rhs_jac(x, &zero, &mut scratch, &mut f0, &mut jx, &mut jq);
                    (f0, jq)
                })
            })
            .collect();
        let rows_n = er.len();
        if rows_n <= w {
            continue;
        }
        let mut a = vec![0.0; n * m];
        let mut b = vec![0.0; n];
        for k in 0..rows_n - w {
            if (k..=k + w).any(|j| lin[j].is_none()) {
                continue;
            }
            a.iter_mut().for_each(|v| *v = 0.0);
            let (Some(xa), Some(xb)) = (&er[k], &er[k + w]) else {
                continue;
            };
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
                    for (c, &kk) in idx.iter().enumerate() {
                        a[i * m + c] += 0.5 * dt * (jqa[i * na + kk] + jqb[i * na + kk]);
                    }
                }
            }
            for i in 0..n {
                let ai = &a[i * m..(i + 1) * m];
                if !b[i].is_finite() || ai.iter().any(|v| !v.is_finite()) {
                    continue;
                }
                for r in 0..m {
                    h[r] += ai[r] * b[i];
                    for c in 0..m {
                        g[(r, c)] += ai[r] * ai[c];
                    }
                }
            }
            nwin += 1;
        }
    }
    if nwin == 0 {
        return None;
    }
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

/// The initial guess over every free parameter (no thresholding), in normalised units: the
/// integral-form regression when `init` asks for it and the model is affine in its parameters,
/// else the spec's starting values.
pub fn initial_guess(prob: &Problem, init: InitKind) -> Vec<f64> {
    let q_spec = prob.scales.normalised(&prob.init, &prob.free);
    if init != InitKind::Regression || !is_affine(prob, &prob.init, &prob.free) {
        return q_spec;
    }
    let keep = vec![true; prob.free.len()];
    let w = prob.layout.regression_window();
    integral_least_squares(prob, &prob.init, &prob.free, w, &keep).unwrap_or(q_spec)
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
    let w = prob.layout.regression_window();
    let mut keep = vec![true; active.len()];
    let mut best = None;
    for _ in 0..rounds {
        let Some(q) = integral_least_squares(prob, base, active, w, &keep) else {
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
