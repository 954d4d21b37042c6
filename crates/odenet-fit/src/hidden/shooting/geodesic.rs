//! Levenberg–Marquardt with geodesic acceleration on a [`Shooting`] problem's objective, the
//! parameters and node unknowns together.

use super::Shooting;
use crate::linalg::solve_small;

/// What a multiple-shooting fit reached.
#[derive(Clone, Debug)]
pub(crate) struct ShootResult {
    pub q: Vec<f64>,
    pub s: Vec<f64>,
    pub data: f64,
    pub gap: f64,
    pub iters: usize,
    pub failures: usize,
    /// The data loss stayed above the level at which the start was judged hopeless.
    pub abandoned: bool,
}

/// The normal matrix JᵀJ (row-major nt × nt) and Jᵀv of a row-major Jacobian.
pub(crate) fn normal(j: &[f64], v: &[f64], nt: usize, jtj: &mut [f64], jtv: &mut [f64]) {
    jtj.iter_mut().for_each(|x| *x = 0.0);
    jtv.iter_mut().for_each(|x| *x = 0.0);
    for (row, &vr) in j.chunks(nt).zip(v) {
        for a in 0..nt {
            let ja = row[a];
            if ja == 0.0 {
                continue;
            }
            jtv[a] += ja * vr;
            for b in a..nt {
                jtj[a * nt + b] += ja * row[b];
            }
        }
    }
    for a in 0..nt {
        for b in 0..a {
            jtj[a * nt + b] = jtj[b * nt + a];
        }
    }
}

/// Jᵀv alone.
fn jt_times(j: &[f64], v: &[f64], nt: usize, out: &mut [f64]) {
    out.iter_mut().for_each(|x| *x = 0.0);
    for (row, &vr) in j.chunks(nt).zip(v) {
        if vr != 0.0 {
            for (o, &ja) in out.iter_mut().zip(row) {
                *o += ja * vr;
            }
        }
    }
}

/// The first damping (relative to the normal matrix's diagonal).
const INITIAL_LAMBDA: f64 = 1e-3;
/// Finite-difference step (along the velocity) of the geodesic acceleration.
const GEODESIC_H: f64 = 0.1;
/// A step is refused when its acceleration is this large against its velocity (2‖a‖/‖v‖).
const GEODESIC_ALPHA: f64 = 0.75;
/// Damped steps tried per iteration (λ grows fourfold each time: twelve decades).
const MAX_TRIES: usize = 20;

/// Levenberg–Marquardt with geodesic acceleration (Transtrum and Sethna) on the objective at
/// continuity weight `w` from (`q`, `s`), the parameters kept inside [`lo`, `hi`] by projection.
/// The acceleration — a second-order correction along the step from one extra residual
/// evaluation — lets steps follow the curved valleys of sloppy models (a near-symmetry such as
/// the scale of an unobserved state) instead of crawling across them. Stops after `max_iters`
/// iterations, when a step lowers the objective by less than `rel_tol` of it, when no step
/// lowers it, when the data loss stays above `abandon`, or on `cancelled`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn minimize(
    sh: &Shooting,
    q: Vec<f64>,
    s: Vec<f64>,
    w: f64,
    bounds: (&[f64], &[f64]),
    max_iters: usize,
    rel_tol: f64,
    abandon: f64,
    cancelled: &dyn Fn() -> bool,
) -> ShootResult {
    minimize_from(
        sh,
        (q, s),
        (w, INITIAL_LAMBDA, true),
        bounds,
        (max_iters, rel_tol, abandon),
        cancelled,
    )
}

/// [`minimize`] with the first damping `lambda0` given — a start already near the minimum (the
/// chained refit from the piecewise fit) takes nearly Gauss–Newton steps from the first — and
/// the geodesic acceleration only when `accelerate` (it costs one residual evaluation a try).
pub(crate) fn minimize_from(
    sh: &Shooting,
    (q, s): (Vec<f64>, Vec<f64>),
    (w, lambda0, accelerate): (f64, f64, bool),
    (lo, hi): (&[f64], &[f64]),
    (max_iters, rel_tol, abandon): (usize, f64, f64),
    cancelled: &dyn Fn() -> bool,
) -> ShootResult {
    let na = q.len();
    let nt = na + s.len();
    let mut z: Vec<f64> = q.into_iter().chain(s).collect();
    let project = |z: &mut [f64]| {
        for (k, v) in z[..na].iter_mut().enumerate() {
            *v = v.clamp(lo[k], hi[k]);
        }
        sh.project_nodes(&mut z[na..]);
    };
    project(&mut z);
    let res_at = |z: &[f64], jac: bool| sh.residuals(&z[..na], &z[na..], w, jac);
    let mut cur = res_at(&z, true);
    let mut obj = cur.objective();
    let mut lambda = lambda0;
    let mut iters = 0;
    let mut abandoned = false;
    let (mut jtj, mut jtr) = (vec![0.0; nt * nt], vec![0.0; nt]);
    let (mut a, mut v, mut acc) = (vec![0.0; nt * nt], vec![0.0; nt], vec![0.0; nt]);
    let mut jv = vec![0.0; cur.r.len()];
    let mut rvv = vec![0.0; cur.r.len()];
    let mut zt = vec![0.0; nt];
    while iters < max_iters && !cancelled() {
        iters += 1;
        normal(&cur.j, &cur.r, nt, &mut jtj, &mut jtr);
        let dmax = (0..nt)
            .map(|i| jtj[i * nt + i])
            .fold(0.0, f64::max)
            .max(1e-300);
        let damp = |jtj: &[f64], a: &mut [f64], lambda: f64| {
            a.copy_from_slice(jtj);
            for i in 0..nt {
                a[i * nt + i] += lambda * jtj[i * nt + i].max(1e-9 * dmax);
            }
        };
        let mut improved = false;
        let mut small = false;
        for _ in 0..MAX_TRIES {
            damp(&jtj, &mut a, lambda);
            v.iter_mut().zip(&jtr).for_each(|(x, g)| *x = -g);
            if !solve_small(&mut a, &mut v, nt) {
                lambda *= 10.0;
                continue;
            }
            // The second directional derivative of the residuals along v, by finite
            // differences: r_vv ≈ (2/h)·((r(z + h·v) − r(z))/h − J·v).
            for (zz, (x, d)) in zt.iter_mut().zip(z.iter().zip(&v)) {
                *zz = x + GEODESIC_H * d;
            }
            let rh = accelerate.then(|| res_at(&zt, false));
            let mut use_acc = false;
            if let Some(rh) = rh.as_ref().filter(|rh| rh.failures <= cur.failures) {
                for (row, o) in cur.j.chunks(nt).zip(jv.iter_mut()) {
                    *o = row.iter().zip(&v).map(|(a, b)| a * b).sum();
                }
                for k in 0..rvv.len() {
                    rvv[k] = 2.0 / GEODESIC_H * ((rh.r[k] - cur.r[k]) / GEODESIC_H - jv[k]);
                }
                jt_times(&cur.j, &rvv, nt, &mut acc);
                damp(&jtj, &mut a, lambda);
                acc.iter_mut().for_each(|x| *x = -*x);
                use_acc = solve_small(&mut a, &mut acc, nt);
            }
            let dnorm = |x: &[f64]| {
                (0..nt)
                    .map(|i| x[i] * x[i] * jtj[i * nt + i].max(1e-9 * dmax))
                    .sum::<f64>()
                    .sqrt()
            };
            if use_acc && 2.0 * dnorm(&acc) > GEODESIC_ALPHA * dnorm(&v) {
                // The step bends too much for its length: shorten it.
                lambda = (lambda * 4.0).max(1e-3);
                continue;
            }
            for k in 0..nt {
                zt[k] = z[k] + v[k] + if use_acc { 0.5 * acc[k] } else { 0.0 };
            }
            project(&mut zt);
            let rt = res_at(&zt, false);
            let ot = rt.objective();
            if ot.is_finite() && ot < obj && rt.failures <= cur.failures {
                small = (obj - ot) < rel_tol * obj;
                z.copy_from_slice(&zt);
                lambda = (lambda / 3.0).max(1e-9);
                improved = true;
                break;
            }
            lambda = (lambda * 4.0).max(1e-3);
        }
        if !improved || small {
            if improved {
                cur = res_at(&z, false);
            }
            break;
        }
        cur = res_at(&z, true);
        obj = cur.objective();
        if cur.data > abandon {
            abandoned = true;
            break;
        }
    }
    let q = z[..na].to_vec();
    let s = z[na..].to_vec();
    ShootResult {
        q,
        s,
        data: cur.data,
        gap: cur.gap,
        iters,
        failures: cur.failures,
        abandoned,
    }
}
