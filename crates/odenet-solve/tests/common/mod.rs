//! Shared helpers of the solver's integration tests: one piece solved into fresh buffers, the
//! error measures, and the finite-difference reference of the sensitivities.

#![allow(dead_code)] // Each test binary uses its own subset of the helpers.

use odenet_solve::test_models::LinearDecay;
use odenet_solve::{Method, PieceSolver, Sens, SolveFailure, SolveOptions, SolveStats};
use odenet_tape::OdeRhs;

/// The outputs of one piece: states, sensitivities (the solver's layout) and counts.
#[derive(Debug)]
pub struct Solution {
    pub x: Vec<f64>,
    pub s: Vec<f64>,
    pub stats: SolveStats,
}

/// The default options with this method and these tolerances.
pub fn opts(method: Method, rtol: f64, atol: f64) -> SolveOptions {
    SolveOptions {
        method,
        rtol,
        atol,
        ..SolveOptions::default()
    }
}

/// Dense output, or every step landing on an output time (the interpolation-free reference).
pub const DENSE: bool = false;
pub const LAND: bool = true;

/// The options of a test's solver, and whether it lands a step on every output time.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub opts: SolveOptions,
    pub land: bool,
}

impl From<SolveOptions> for Setup {
    fn from(opts: SolveOptions) -> Self {
        Setup { opts, land: DENSE }
    }
}

/// These options with every step landing on an output time.
pub fn landing(opts: SolveOptions) -> Setup {
    Setup { opts, land: LAND }
}

/// One piece with a fresh solver, its outputs pre-filled with NaN (so an output the solver
/// does not write shows).
pub fn run(
    rhs: &dyn OdeRhs,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    sens: Sens,
    setup: impl Into<Setup>,
) -> Result<Solution, SolveFailure> {
    let Setup { opts, land } = setup.into();
    let mut solver = PieceSolver::new(rhs.nstates(), rhs.nparams(), opts).with_landing(land);
    let nc = solver.sens_columns(sens);
    let n = rhs.nstates();
    let mut x = vec![f64::NAN; times.len() * n];
    let mut s = vec![f64::NAN; times.len() * n * nc];
    let stats = solver.solve(rhs, p, x0, times, sens, &mut x, &mut s)?;
    Ok(Solution { x, s, stats })
}

/// `m` equally spaced points from `a` to `b`, both included.
pub fn linspace(a: f64, b: f64, m: usize) -> Vec<f64> {
    (0..m)
        .map(|k| a + (b - a) * k as f64 / (m - 1) as f64)
        .collect()
}

/// Exact equality, for values that must be copied, not computed.
pub fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits())
}

/// The largest |a − b| / (atol + rtol |b|) over all entries.
pub fn scaled_err(a: &[f64], b: &[f64], rtol: f64, atol: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(u, v)| (u - v).abs() / (atol + rtol * v.abs()))
        .fold(0.0, f64::max)
}

/// The largest |a − b| over the largest |b|, per sensitivity column (columns differ in scale by
/// orders of magnitude); layout `s[k * n * nc + c * n + i]`.
pub fn sens_rel_err(a: &[f64], b: &[f64], n: usize, nc: usize) -> f64 {
    let m = a.len() / (n * nc);
    let idx = |k: usize, c: usize, i: usize| k * n * nc + c * n + i;
    let mut worst: f64 = 0.0;
    for c in 0..nc {
        let cells = || (0..m).flat_map(move |k| (0..n).map(move |i| idx(k, c, i)));
        let scale = cells().map(|j| b[j].abs()).fold(1e-12, f64::max);
        for j in cells() {
            worst = worst.max((a[j] - b[j]).abs() / scale);
        }
    }
    worst
}

/// Central differences of the outputs with respect to p and x0, each solve with the explicit
/// method at a very tight tolerance and with dense output or landing on every output time
/// (`land`, so that the reference involves no interpolation), with steps
/// `rel_step` · max(|value|, 1); layout as the solver's sensitivities.
pub fn fd_sensitivities(
    rhs: &dyn OdeRhs,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    rel_step: f64,
    land: bool,
) -> Vec<f64> {
    let n = rhs.nstates();
    let np = rhs.nparams();
    let nc = np + n;
    let m = times.len();
    let tight = SolveOptions {
        max_steps: 1_000_000,
        ..opts(Method::Tsit5, 1e-13, 1e-14)
    };
    let mut fd = vec![0.0; m * n * nc];
    for c in 0..nc {
        let base = if c < np { p[c] } else { x0[c - np] };
        let h = rel_step * base.abs().max(1.0);
        let side = |sign: f64| {
            let (mut pp, mut xx) = (p.to_vec(), x0.to_vec());
            if c < np {
                pp[c] = base + sign * h;
            } else {
                xx[c - np] = base + sign * h;
            }
            run(
                rhs,
                &pp,
                &xx,
                times,
                Sens::None,
                Setup { opts: tight, land },
            )
            .expect("the finite-difference solves are well posed")
            .x
        };
        let (plus, minus) = (side(1.0), side(-1.0));
        for k in 0..m {
            for i in 0..n {
                fd[k * n * nc + c * n + i] = (plus[k * n + i] - minus[k * n + i]) / (2.0 * h);
            }
        }
    }
    fd
}

/// The exact states and sensitivities of [`LinearDecay`] at `times` (from 0), in the solver's
/// layouts.
pub fn linear_decay_exact(times: &[f64], p: &[f64], x0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut want_x = vec![0.0; times.len() * 2];
    let mut want_s = vec![0.0; times.len() * 8];
    for (k, &t) in times.iter().enumerate() {
        LinearDecay::exact(
            t,
            p,
            x0,
            &mut want_x[k * 2..k * 2 + 2],
            &mut want_s[k * 8..k * 8 + 8],
        );
    }
    (want_x, want_s)
}
