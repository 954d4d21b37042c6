//! The proximal L1 step against an independent reference: on linear least squares with an L1
//! term (the lasso), with and without bounds and unpenalised coordinates, its minimiser must be
//! the one cyclic coordinate descent finds (each coordinate's exact one-dimensional minimiser,
//! soft-thresholded and clamped, swept to convergence).

use super::*;
use crate::rng::Rng;
use crate::test_support::{ExactLotkaVolterra, whole_evaluator};

/// Tolerances near working precision (the fit's stop far earlier).
const TIGHT: Tolerances = Tolerances {
    grad: 1e-10,
    cost: 1e-13,
    cycle: 1e-12,
};

/// A least-squares problem ‖Aq − b‖²/2m with m rows and n columns (row-major A).
struct Lasso {
    a: Vec<f64>,
    b: Vec<f64>,
    m: usize,
    n: usize,
}

impl Lasso {
    /// Gaussian columns (pairs of columns correlated by `corr`), b from `truth` plus noise.
    fn new(m: usize, n: usize, truth: &[(usize, f64)], corr: f64, seed: u64) -> Lasso {
        let mut rng = Rng::new(seed);
        let mut a = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                a[i * n + j] = rng.normal();
                if j % 2 == 1 {
                    a[i * n + j] =
                        corr * a[i * n + j - 1] + (1.0 - corr * corr).sqrt() * a[i * n + j];
                }
            }
        }
        let b = (0..m)
            .map(|i| truth.iter().map(|&(j, v)| a[i * n + j] * v).sum::<f64>() + 0.1 * rng.normal())
            .collect();
        Lasso { a, b, m, n }
    }

    /// (f(q), ∇f(q)).
    fn eval(&self, q: &[f64]) -> (f64, Vec<f64>) {
        let m = self.m as f64;
        let mut f = 0.0;
        let mut g = vec![0.0; self.n];
        for (row, b) in self.a.chunks(self.n).zip(&self.b) {
            let r: f64 = row.iter().zip(q).map(|(a, v)| a * v).sum::<f64>() - b;
            f += r * r;
            for (gj, a) in g.iter_mut().zip(row) {
                *gj += a * r / m;
            }
        }
        (f / (2.0 * m), g)
    }

    /// The minimiser by cyclic coordinate descent.
    fn coordinate_descent(&self, terms: &Terms) -> Vec<f64> {
        let (m, n) = (self.m as f64, self.n);
        let mut q = vec![0.0; n];
        terms.project(&mut q);
        // The residual b − Aq, kept up to date.
        let mut r: Vec<f64> = self
            .a
            .chunks(n)
            .zip(&self.b)
            .map(|(row, b)| b - row.iter().zip(&q).map(|(a, v)| a * v).sum::<f64>())
            .collect();
        for _ in 0..100_000 {
            let mut change = 0.0_f64;
            for j in 0..n {
                let (mut z, mut aa) = (0.0, 0.0);
                for (row, ri) in self.a.chunks(n).zip(&r) {
                    z += row[j] * (ri + row[j] * q[j]);
                    aa += row[j] * row[j];
                }
                let (z, aa) = (z / m, aa / m);
                let mu = if terms.sparse[j] { terms.mu } else { 0.0 };
                let v = (z.signum() * (z.abs() - mu).max(0.0) / aa).clamp(terms.lo[j], terms.hi[j]);
                let d = v - q[j];
                if d != 0.0 {
                    for (row, ri) in self.a.chunks(n).zip(r.iter_mut()) {
                        *ri -= row[j] * d;
                    }
                    q[j] = v;
                }
                change = change.max(d.abs());
            }
            if change < 1e-15 {
                break;
            }
        }
        q
    }
}

fn terms(n: usize, mu: f64) -> Terms<'static> {
    Terms {
        mu,
        sparse: vec![true; n],
        lo: vec![f64::NEG_INFINITY; n],
        hi: vec![f64::INFINITY; n],
        loss_ref: 1.0,
        cancel: None,
        rel_tol: 1e-7,
        abandon_above: f64::INFINITY,
        l1: super::super::L1Options::default(),
    }
}

/// Runs the proximal L1 step from zero and compares it with coordinate descent: the same
/// support (exact zeros), coefficients within 1e-6 and the same objective. Returns the run.
fn check(p: &Lasso, t: &Terms) -> ProxRun {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let f = |q: &[f64]| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(p.eval(q))
    };
    let run = proximal(&f, t, vec![0.0; p.n], 500, TIGHT);
    let cd = p.coordinate_descent(t);
    let obj = |q: &[f64]| p.eval(q).0 + l1(t, q);
    eprintln!(
        "prox {:?} after {} iterations, {} evaluations ({}), F = {:.12e}",
        run.q,
        run.iters,
        calls.load(std::sync::atomic::Ordering::Relaxed),
        run.reason,
        obj(&run.q)
    );
    eprintln!("cd   {cd:?}, F = {:.12e}", obj(&cd));
    for (k, &cdk) in cd.iter().enumerate() {
        assert_eq!(
            run.q[k] == 0.0,
            cdk == 0.0,
            "coordinate {k}: prox {} cd {cdk}",
            run.q[k]
        );
        assert!(
            (run.q[k] - cdk).abs() < 1e-6,
            "coordinate {k}: prox {} cd {cdk}",
            run.q[k]
        );
        assert!(run.q[k] >= t.lo[k] && run.q[k] <= t.hi[k]);
    }
    assert!(
        (obj(&run.q) - obj(&cd)).abs() <= 1e-10 * obj(&cd),
        "objective: prox {} cd {}",
        obj(&run.q),
        obj(&cd)
    );
    assert!(
        matches!(
            run.reason,
            StopReason::Converged | StopReason::NoFurtherDecrease | StopReason::SmallDecrease(_)
        ),
        "{}",
        run.reason
    );
    run
}

/// The lasso: 60 × 20, four true nonzeros; μ large enough that most coefficients are zero.
#[test]
fn prox_matches_coordinate_descent_lasso() {
    let p = Lasso::new(60, 20, &[(0, 2.0), (5, -1.5), (12, 0.7), (17, 0.3)], 0.0, 7);
    let t = terms(20, 0.05);
    let run = check(&p, &t);
    let zeros = run.q.iter().filter(|v| **v == 0.0).count();
    assert!(zeros >= 10, "{zeros} zeros");
}

/// Correlated pairs of columns (correlation 0.95): an ill-conditioned smooth part.
#[test]
fn prox_matches_coordinate_descent_correlated() {
    let p = Lasso::new(
        80,
        16,
        &[(0, 1.0), (1, 1.0), (6, -2.0), (11, 0.5)],
        0.95,
        11,
    );
    let t = terms(16, 0.02);
    check(&p, &t);
}

/// Bounds (one active at a nonzero value, one holding a coefficient at zero from the side the
/// data pull it away from) and two coefficients free of the L1 term.
#[test]
fn prox_matches_coordinate_descent_bounds_and_unpenalised() {
    let p = Lasso::new(60, 12, &[(0, 2.0), (3, -1.0), (7, 0.8), (9, 0.05)], 0.3, 3);
    let mut t = terms(12, 0.03);
    t.hi[0] = 1.2; // the truth 2.0 lies above
    t.lo[3] = 0.0; // the truth −1.0 lies below
    t.lo[7] = -0.5;
    t.hi[7] = 3.0; // inactive
    t.sparse[9] = false; // a small coefficient kept by being unpenalised
    t.sparse[10] = false; // zero in truth, unpenalised: nonzero
    let run = check(&p, &t);
    assert!((run.q[0] - 1.2).abs() < 1e-12, "{}", run.q[0]);
    assert!(run.q[3].abs() < 1e-12, "{}", run.q[3]);
    assert!(run.q[10] != 0.0);
}

/// A stop requested by the smooth part ends the run at once with its reason.
#[test]
fn prox_stops_when_asked() {
    let p = Lasso::new(30, 6, &[(0, 1.0)], 0.0, 5);
    let t = terms(6, 0.01);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let f = |q: &[f64]| {
        (calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3).then(|| p.eval(q))
    };
    let run = proximal(&f, &t, vec![0.0; 6], 500, TIGHT);
    assert_eq!(run.reason, StopReason::Cancelled);
    assert!(calls.load(std::sync::atomic::Ordering::Relaxed) <= 4);
}

/// Through the fit's evaluator: exact Lotka–Volterra data (a = 1, b = −0.05, c = −1, d = 0.03)
/// and the template a·x1 + b·x1·x2, c·x2 + d·x1·x2 + e·x1 with bounds (e, absent from the
/// truth, is the one sparse parameter), minimised by the proximal step with L1 weight `mu`.
/// Returns the fitted user-unit parameters (a, b, c, d, e) and the loss.
fn lv_fit(a_bound: &str, mu: f64) -> (Vec<f64>, f64) {
    let lv = ExactLotkaVolterra::new(a_bound, true);
    let prob = lv.problem();
    let q0 = prob.scales.normalised(&prob.init, &prob.free);
    let ev = whole_evaluator(&prob);
    let loss0 = ev.eval(&q0, false).loss;
    let terms = Terms::new(&prob, &prob.free, mu, loss0);
    let r = minimize_prox(&ev, &terms, q0, 300);
    eprintln!(
        "{a_bound}, μ = {mu}: {} after {} iterations",
        r.reason, r.iters
    );
    let p = prob.scales.user(&prob.init, &prob.free, &r.q);
    (p, r.loss)
}

/// Without L1 the proximal step is a bound-respecting L-BFGS: with the bound inactive it
/// recovers the truth, with it active (a ≥ 1.05, the truth 1) it ends exactly on the bound.
#[test]
fn prox_lotka_volterra_bounds() {
    let (p, loss) = lv_fit("init = 0.5, min = 0.0", 0.0);
    eprintln!("inactive: {p:?}, loss {loss:e}");
    for (v, t) in p.iter().zip([1.0, -0.05, -1.0, 0.03]) {
        assert!(((v - t) / t).abs() < 1e-4, "{p:?}");
    }
    assert!(p[4].abs() < 1e-5, "{p:?}");
    let (p, loss) = lv_fit("init = 1.3, min = 1.05", 0.0);
    eprintln!("active: {p:?}, loss {loss:e}");
    assert!(p[0] >= 1.05 && p[0] - 1.05 < 1e-6, "a = {}", p[0]);
    assert!(p[2] <= 0.0);
}

/// With a small L1 weight on the spurious term e (truth 0), the proximal step sets it exactly to
/// zero and the free coefficients to the truth.
#[test]
fn prox_lotka_volterra_l1_zeros() {
    let (p, _) = lv_fit("init = 0.5, min = 0.0", 1e-3);
    eprintln!("μ = 1e-3: {p:?}");
    // Exactly zero, as the proximal step leaves it (no tolerance).
    assert!(p[4] == 0.0, "{p:?}");
    for (v, t) in p.iter().zip([1.0, -0.05, -1.0, 0.03]) {
        assert!(((v - t) / t).abs() < 1e-4, "{p:?}");
    }
}
