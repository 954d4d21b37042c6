//! Informed starts: the hidden states' trajectories solved from the observed ones, then the
//! parameters regressed on the full trajectories — the paper's route for the actin model (a
//! guess of P(t) from dM/dt ≈ a9·m·P, then a regression for P's equation), generalised.
//!
//! 1. Every observed state is smoothed by a local weighted quadratic through its nearest samples,
//!    which gives its value and its derivative on a grid (the data times and the midpoints).
//! 2. Linear conservation laws of the template (c·f(x; θ) ≡ 0 for every θ, found numerically)
//!    tie unobserved states to observed ones (m = m_tot − M for the actin model).
//! 3. At every grid time, the unobserved states solve, in the least-squares sense, the observed
//!    equations dx_o/dt = f_o(x_o, h; θ) and the conservation laws (Gauss–Newton on h: one step
//!    when h enters linearly), starting from the previous grid time's values; the experiment's
//!    start keeps its known initial values.
//! 4. The parameters are regressed on the integral form over windows of the grid,
//!    x(τ_b) − x(τ_a) ≈ ∫ f(x; θ) dt (trapezoid), all equations stacked (tied parameters are
//!    one unknown), by Levenberg–Marquardt (one step for a model affine in its parameters),
//!    within the bounds.
//!
//! Steps 3 and 4 alternate a few times. The result is a start for multiple shooting: the
//! parameters and the hidden states at the data rows.

use nalgebra::{DMatrix, DVector};
use odenet_tape::OdeRhs;

use crate::linalg::solve_small;
use crate::problem::Problem;
use crate::rng::Rng;

/// Samples in each local fit of the smoother.
const SMOOTH_POINTS: usize = 6;
/// Alternations of the hidden-state solve and the regression.
const ALTERNATIONS: usize = 4;
/// Gauss–Newton iterations of the hidden-state solve at one grid time.
const HIDDEN_ITERS: usize = 8;
/// Weight of a conservation law against an observed equation in the hidden-state solve.
const LAW_WEIGHT: f64 = 10.0;
/// Damping of the hidden-state solve toward the previous grid time's values (relative to the
/// largest diagonal of its normal matrix): keeps a state the equations leave free where it was.
const HIDDEN_DAMPING: f64 = 1e-6;
/// Levenberg–Marquardt iterations of the regression.
const REGRESS_ITERS: usize = 30;
/// Grid intervals per regression window.
const WINDOW: usize = 2;

/// An informed start: parameters (normalised) and, per experiment, the full state (scaled) at
/// every data row.
#[derive(Clone, Debug)]
pub(crate) struct Informed {
    pub q: Vec<f64>,
    pub states: Vec<Vec<f64>>,
    /// The regression's mean squared residual per window and equation.
    pub residual: f64,
}

/// The value and derivative at `tau` of a weighted quadratic (linear with fewer than four
/// samples) through the SMOOTH_POINTS samples `(t, y)` nearest to it (tricube weights).
fn local_fit(t: &[f64], y: &[f64], tau: f64) -> (f64, f64) {
    let m = t.len();
    if m == 0 {
        return (f64::NAN, f64::NAN);
    }
    if m == 1 {
        return (y[0], 0.0);
    }
    let k = SMOOTH_POINTS.min(m);
    // The k nearest samples: a window of consecutive ones (times are sorted).
    let mut lo = t.partition_point(|&v| v < tau).saturating_sub(k / 2);
    lo = lo.min(m - k);
    let (mut a, mut b) = (lo, lo + k);
    while a > 0 && (tau - t[a - 1]) < (t[b - 1] - tau) {
        a -= 1;
        b -= 1;
    }
    while b < m && (t[b] - tau) < (tau - t[a]) {
        a += 1;
        b += 1;
    }
    let h = t[a..b].iter().map(|v| (v - tau).abs()).fold(0.0, f64::max) * 1.0001 + 1e-12;
    let deg = if k >= 4 { 2 } else { 1 };
    let nb = deg + 1;
    let mut ata = vec![0.0; nb * nb];
    let mut atb = vec![0.0; nb];
    for i in a..b {
        let d = t[i] - tau;
        let u = (d / h).abs();
        let w = (1.0 - u * u * u).powi(3).max(1e-3);
        let basis = [1.0, d, d * d];
        for r in 0..nb {
            atb[r] += w * basis[r] * y[i];
            for c in 0..nb {
                ata[r * nb + c] += w * basis[r] * basis[c];
            }
        }
    }
    if !solve_small(&mut ata, &mut atb, nb) {
        return (y[a], 0.0);
    }
    (atb[0], atb[1])
}

/// Linear conservation laws c·x = const of the scaled template: the null space of f(x; q)
/// sampled at random states and parameters (rows), each law normalised to unit length.
fn conservation_laws(prob: &Problem, base: &[f64], active: &[usize]) -> Vec<Vec<f64>> {
    let n = prob.nstates();
    let na = active.len();
    if prob.exps.is_empty() {
        return vec![];
    }
    let rhs = prob.rhs(0, base, active);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut rng = Rng::new(0x6c61_7773);
    let rows = 4 * n + 8;
    let mut f = DMatrix::<f64>::zeros(rows, n);
    let mut x = vec![0.0; n];
    let mut q = vec![0.0; na];
    let mut fi = vec![0.0; n];
    for r in 0..rows {
        for v in x.iter_mut() {
            *v = 0.2 + 1.3 * rng.uniform();
        }
        for v in q.iter_mut() {
            *v = rng.normal();
        }
        rhs.rhs(&x, &q, &mut scratch, &mut fi);
        if fi.iter().any(|v| !v.is_finite()) {
            return vec![];
        }
        for i in 0..n {
            f[(r, i)] = fi[i];
        }
    }
    let svd = f.svd(false, true);
    let Some(vt) = svd.v_t else {
        return vec![];
    };
    let smax = svd.singular_values.iter().fold(0.0f64, |m, v| m.max(*v));
    (0..svd.singular_values.len())
        .filter(|&k| svd.singular_values[k] <= 1e-10 * smax)
        .map(|k| (0..n).map(|i| vt[(k, i)]).collect())
        .collect()
}

/// One experiment's grid: times (scaled), the full state (observed components smoothed,
/// unobserved ones solved) and the observed derivatives.
struct Grid {
    t: Vec<f64>,
    x: Vec<f64>,
    dx: Vec<f64>,
    /// Per grid time: its data row, when it is one.
    row: Vec<Option<usize>>,
}

/// The informed start from parameters `q0` (normalised), or None when no state is observed, an
/// experiment has no start, or a step fails.
pub(crate) fn informed_start(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    q0: &[f64],
    (lo, hi): (&[f64], &[f64]),
) -> Option<Informed> {
    let n = prob.nstates();
    let observed: Vec<bool> = (0..n)
        .map(|i| {
            !prob.model.hidden[i]
                && prob
                    .exps
                    .iter()
                    .any(|ex| (0..ex.rows).any(|r| ex.y[r * n + i].is_finite()))
        })
        .collect();
    let hidden: Vec<usize> = (0..n).filter(|&i| !observed[i]).collect();
    if hidden.is_empty() || hidden.len() == n {
        return None;
    }
    let laws = conservation_laws(prob, base, active);
    // Grids with the observed states smoothed.
    let mut grids = Vec::with_capacity(prob.exps.len());
    let mut starts = Vec::with_capacity(prob.exps.len());
    for (e, ex) in prob.exps.iter().enumerate() {
        let pi = prob.first_piece(e)?;
        starts.push(pi);
        let mut t = Vec::with_capacity(2 * ex.rows);
        let mut row = Vec::with_capacity(2 * ex.rows);
        for r in 0..ex.rows {
            if r > 0 {
                t.push(0.5 * (ex.t[r - 1] + ex.t[r]));
                row.push(None);
            }
            t.push(ex.t[r]);
            row.push(Some(r));
        }
        let g = t.len();
        let mut x = vec![0.0; g * n];
        let mut dx = vec![0.0; g * n];
        for &i in (0..n).filter(|&i| observed[i]).collect::<Vec<_>>().iter() {
            let (ts, ys): (Vec<f64>, Vec<f64>) = (0..ex.rows)
                .filter(|&r| ex.y[r * n + i].is_finite())
                .map(|r| (ex.t[r], ex.y[r * n + i]))
                .unzip();
            if ts.is_empty() {
                return None;
            }
            for (k, &tau) in t.iter().enumerate() {
                let (v, d) = local_fit(&ts, &ys, tau);
                // A state the model needs non-negative stays so where the smoothing dips below.
                x[k * n + i] = if prob.nonnegative[i] { v.max(0.0) } else { v };
                dx[k * n + i] = d;
            }
        }
        // Unobserved states start at the experiment's start values.
        for k in 0..g {
            for &h in &hidden {
                x[k * n + h] = prob.x0[pi * n + h];
            }
        }
        grids.push(Grid { t, x, dx, row });
    }
    let mut q = q0.to_vec();
    let mut residual = f64::NAN;
    for _ in 0..ALTERNATIONS {
        for (e, g) in grids.iter_mut().enumerate() {
            solve_hidden(prob, base, active, &q, e, starts[e], g, &hidden, &laws);
        }
        let (qn, res) = regress(prob, base, active, &q, &grids, (lo, hi))?;
        q = qn;
        residual = res;
    }
    for (e, g) in grids.iter_mut().enumerate() {
        solve_hidden(prob, base, active, &q, e, starts[e], g, &hidden, &laws);
    }
    let states = grids
        .iter()
        .enumerate()
        .map(|(e, g)| {
            let mut s = vec![f64::NAN; prob.exps[e].rows * n];
            for (k, r) in g.row.iter().enumerate() {
                if let Some(r) = r {
                    s[r * n..(r + 1) * n].copy_from_slice(&g.x[k * n..(k + 1) * n]);
                }
            }
            s
        })
        .collect();
    Some(Informed {
        q,
        states,
        residual,
    })
}

/// Solves the unobserved states of grid `g` (experiment `e`, first piece `pi`) at parameters `q`.
#[allow(clippy::too_many_arguments)]
fn solve_hidden(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    q: &[f64],
    e: usize,
    pi: usize,
    g: &mut Grid,
    hidden: &[usize],
    laws: &[Vec<f64>],
) {
    let n = prob.nstates();
    let nh = hidden.len();
    let na = active.len();
    let rhs = prob.rhs(e, base, active);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let (mut f, mut jx, mut jq) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * na]);
    let x0 = &prob.x0[pi * n..(pi + 1) * n];
    let free = &prob.free_start[pi * n..(pi + 1) * n];
    let law_const: Vec<f64> = laws
        .iter()
        .map(|c| c.iter().zip(x0).map(|(a, b)| a * b).sum())
        .collect();
    let observed: Vec<usize> = (0..n).filter(|i| !hidden.contains(i)).collect();
    let mut a = vec![0.0; nh * nh];
    let mut b = vec![0.0; nh];
    let gl = g.t.len();
    for k in 0..gl {
        let (prev, cur) = g.x.split_at_mut(k * n);
        let xk = &mut cur[..n];
        if k == 0 {
            // The known start values stay; fitted ones are solved like any other point.
            for &h in hidden {
                xk[h] = x0[h];
            }
            if hidden.iter().all(|&h| !free[h]) {
                continue;
            }
        } else {
            for &h in hidden {
                xk[h] = prev[(k - 1) * n + h];
            }
        }
        for _ in 0..HIDDEN_ITERS {
            rhs.rhs_jac(xk, q, &mut scratch, &mut f, &mut jx, &mut jq);
            if f.iter().chain(&jx).any(|v| !v.is_finite()) {
                break;
            }
            a.iter_mut().for_each(|v| *v = 0.0);
            b.iter_mut().for_each(|v| *v = 0.0);
            for &i in &observed {
                let r = f[i] - g.dx[k * n + i];
                for (u, &hu) in hidden.iter().enumerate() {
                    let ju = jx[i * n + hu];
                    b[u] -= ju * r;
                    for (v, &hv) in hidden.iter().enumerate() {
                        a[u * nh + v] += ju * jx[i * n + hv];
                    }
                }
            }
            for (c, &cst) in laws.iter().zip(&law_const) {
                let r =
                    LAW_WEIGHT * (c.iter().zip(xk.iter()).map(|(a, b)| a * b).sum::<f64>() - cst);
                for (u, &hu) in hidden.iter().enumerate() {
                    let ju = LAW_WEIGHT * c[hu];
                    b[u] -= ju * r;
                    for (v, &hv) in hidden.iter().enumerate() {
                        a[u * nh + v] += ju * LAW_WEIGHT * c[hv];
                    }
                }
            }
            let dmax = (0..nh).map(|u| a[u * nh + u]).fold(0.0, f64::max);
            if dmax <= 0.0 {
                break;
            }
            for u in 0..nh {
                a[u * nh + u] += HIDDEN_DAMPING * dmax;
            }
            if !solve_small(&mut a, &mut b, nh) {
                break;
            }
            let mut step = 0.0f64;
            for (u, &h) in hidden.iter().enumerate() {
                if k == 0 && !free[h] {
                    continue;
                }
                xk[h] += b[u];
                step = step.max(b[u].abs() / (1.0 + xk[h].abs()));
            }
            if step < 1e-10 {
                break;
            }
        }
    }
}

/// Levenberg–Marquardt on the integral-form residuals over windows of every grid, from `q0`,
/// within the bounds. Returns the parameters and the mean squared residual.
fn regress(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    q0: &[f64],
    grids: &[Grid],
    (lo, hi): (&[f64], &[f64]),
) -> Option<(Vec<f64>, f64)> {
    let n = prob.nstates();
    let na = active.len();
    // Residual weights: one over each state's typical size on the grids.
    let mut size = vec![0.0f64; n];
    for g in grids {
        for row in g.x.chunks(n) {
            for (sz, v) in size.iter_mut().zip(row) {
                *sz = sz.max(v.abs());
            }
        }
    }
    let wt: Vec<f64> = size.iter().map(|&s| 1.0 / s.max(1e-6)).collect();
    let eval = |q: &[f64], normal: bool| -> Option<(f64, usize, DMatrix<f64>, DVector<f64>)> {
        let mut ss = 0.0;
        let mut count = 0;
        let mut jtj = DMatrix::<f64>::zeros(na, na);
        let mut jtr = DVector::<f64>::zeros(na);
        let (mut f, mut jx, mut jq) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * na]);
        let mut integ = vec![0.0; n];
        let mut dint = vec![0.0; n * na];
        for (e, g) in grids.iter().enumerate() {
            let rhs = prob.rhs(e, base, active);
            let mut scratch = vec![0.0; rhs.scratch_len()];
            // f and ∂f/∂q at every grid time.
            let gl = g.t.len();
            let mut fs = vec![0.0; gl * n];
            let mut js = vec![0.0; if normal { gl * n * na } else { 0 }];
            for k in 0..gl {
                let xk = &g.x[k * n..(k + 1) * n];
                rhs.rhs_jac(xk, q, &mut scratch, &mut f, &mut jx, &mut jq);
                fs[k * n..(k + 1) * n].copy_from_slice(&f);
                if normal {
                    js[k * n * na..(k + 1) * n * na].copy_from_slice(&jq);
                }
            }
            if fs.iter().any(|v| !v.is_finite()) {
                return None;
            }
            let mut a = 0;
            while a + WINDOW < gl {
                let bnd = a + WINDOW;
                integ.iter_mut().for_each(|v| *v = 0.0);
                dint.iter_mut().for_each(|v| *v = 0.0);
                for k in a..bnd {
                    let h = 0.5 * (g.t[k + 1] - g.t[k]);
                    for i in 0..n {
                        integ[i] += h * (fs[k * n + i] + fs[(k + 1) * n + i]);
                        if normal {
                            for c in 0..na {
                                dint[i * na + c] += h
                                    * (js[k * n * na + i * na + c]
                                        + js[(k + 1) * n * na + i * na + c]);
                            }
                        }
                    }
                }
                for i in 0..n {
                    let r = wt[i] * (g.x[bnd * n + i] - g.x[a * n + i] - integ[i]);
                    ss += r * r;
                    count += 1;
                    if normal {
                        // ∂r/∂q_c = −w_i ∂∫f_i/∂q_c.
                        for c in 0..na {
                            let jc = -wt[i] * dint[i * na + c];
                            jtr[c] += jc * r;
                            for d in 0..na {
                                jtj[(c, d)] += jc * -wt[i] * dint[i * na + d];
                            }
                        }
                    }
                }
                a = bnd;
            }
        }
        Some((ss, count, jtj, jtr))
    };
    let project = |q: &mut [f64]| {
        for (k, v) in q.iter_mut().enumerate() {
            *v = v.clamp(lo[k], hi[k]);
        }
    };
    let mut q = q0.to_vec();
    project(&mut q);
    let (mut ss, count, mut jtj, mut jtr) = eval(&q, true)?;
    let mut lambda = 1e-6;
    for _ in 0..REGRESS_ITERS {
        let dmax = (0..na).map(|c| jtj[(c, c)]).fold(0.0, f64::max).max(1e-300);
        let mut improved = false;
        for _ in 0..12 {
            let mut a = jtj.clone();
            for c in 0..na {
                a[(c, c)] += lambda * jtj[(c, c)].max(1e-9 * dmax) + 1e-12 * dmax;
            }
            let Some(step) = a.cholesky().map(|ch| ch.solve(&(-&jtr))) else {
                lambda *= 10.0;
                continue;
            };
            let mut qt: Vec<f64> = q.iter().zip(step.iter()).map(|(a, b)| a + b).collect();
            project(&mut qt);
            match eval(&qt, false) {
                Some((st, _, _, _)) if st < ss => {
                    let rel = (ss - st) / ss.max(1e-300);
                    q = qt;
                    ss = st;
                    lambda = (lambda / 10.0).max(1e-12);
                    improved = rel > 1e-9;
                    break;
                }
                _ => lambda *= 10.0,
            }
        }
        if !improved {
            break;
        }
        let (s2, _, j2, r2) = eval(&q, true)?;
        ss = s2;
        jtj = j2;
        jtr = r2;
    }
    Some((q, ss / count.max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local quadratic reproduces a quadratic exactly, value and slope, inside and at the
    /// ends of irregular samples.
    #[test]
    fn local_fit_is_exact_on_quadratics() {
        let t = [0.0, 0.3, 0.35, 1.2, 2.0, 2.1, 3.7, 4.0];
        let y: Vec<f64> = t.iter().map(|v| 1.0 - 2.0 * v + 0.5 * v * v).collect();
        for tau in [0.0, 0.2, 1.9, 3.9, 4.0] {
            let (v, d) = local_fit(&t, &y, tau);
            assert!(
                (v - (1.0 - 2.0 * tau + 0.5 * tau * tau)).abs() < 1e-9,
                "{tau}: {v}"
            );
            assert!((d - (-2.0 + tau)).abs() < 1e-9, "{tau}: {d}");
        }
    }
}
