//! Dense output of our Tsitouras 5(4): the states and sensitivities at output times inside a
//! step, from the method's continuous extension, against independent references — closed forms,
//! tight solves that land a step on every output time (so no interpolation is involved), BDF,
//! and central finite differences — at several tolerances.

use odenet_solve::test_models::{LinearDecay, Lorenz, LotkaVolterra, QuadraticLibrary3};
use odenet_solve::{Method, PieceSolver, Sens, SolveOptions, SolveStats};
use odenet_tape::OdeRhs;

/// Dense output, or every step landing on an output time (the interpolation-free reference).
const DENSE: bool = false;
const LAND: bool = true;

struct Solution {
    x: Vec<f64>,
    s: Vec<f64>,
    stats: SolveStats,
}

fn opts(method: Method, rtol: f64, atol: f64) -> SolveOptions {
    SolveOptions {
        method,
        rtol,
        atol,
        max_steps: 1_000_000,
        ..SolveOptions::default()
    }
}

fn run(
    rhs: &dyn OdeRhs,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    sens: Sens,
    o: SolveOptions,
    land: bool,
) -> Solution {
    let mut solver = PieceSolver::new(rhs.nstates(), rhs.nparams(), o).with_landing(land);
    let nc = solver.sens_columns(sens);
    let n = rhs.nstates();
    let mut x = vec![f64::NAN; times.len() * n];
    let mut s = vec![f64::NAN; times.len() * n * nc];
    let stats = solver
        .solve(rhs, p, x0, times, sens, &mut x, &mut s)
        .expect("the test problems are well posed");
    Solution { x, s, stats }
}

fn linspace(a: f64, b: f64, m: usize) -> Vec<f64> {
    (0..m)
        .map(|k| a + (b - a) * k as f64 / (m - 1) as f64)
        .collect()
}

/// The largest |a − b| / (atol + rtol |b|).
fn scaled_err(a: &[f64], b: &[f64], rtol: f64, atol: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(u, v)| (u - v).abs() / (atol + rtol * v.abs()))
        .fold(0.0, f64::max)
}

/// The largest |a − b| over the largest |b|, per sensitivity column (columns differ in scale by
/// orders of magnitude); layout `s[k * n * nc + c * n + i]`.
fn sens_rel_err(a: &[f64], b: &[f64], n: usize, nc: usize) -> f64 {
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

/// Central differences of the outputs with respect to p and x0, each solve landing on every
/// output at a tight tolerance (so the reference involves no interpolation), with steps
/// `rel_step` · max(|value|, 1).
fn fd_sensitivities(
    rhs: &dyn OdeRhs,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    rel_step: f64,
) -> Vec<f64> {
    let n = rhs.nstates();
    let np = rhs.nparams();
    let nc = np + n;
    let m = times.len();
    let tight = opts(Method::Tsit5, 1e-13, 1e-14);
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
            run(rhs, &pp, &xx, times, Sens::None, tight, LAND).x
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

/// The error at the outputs, states and sensitivities, for each of three tolerances.
struct Sweep {
    rtol: f64,
    state: f64,
    sens: f64,
    steps: usize,
}

fn sweep(
    rhs: &dyn OdeRhs,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    want_x: &[f64],
    want_s: &[f64],
) -> Vec<Sweep> {
    let n = rhs.nstates();
    let nc = rhs.nparams() + n;
    [1e-5, 1e-7, 1e-9]
        .into_iter()
        .map(|rtol| {
            let o = opts(Method::Tsit5, rtol, rtol * 1e-2);
            let sol = run(rhs, p, x0, times, Sens::ParamsAndInitial, o, DENSE);
            let state = scaled_err(&sol.x, want_x, 1.0, 1.0);
            let sens = sens_rel_err(&sol.s, want_s, n, nc);
            eprintln!(
                "rtol {rtol:.0e}: state error {state:.2e}, sensitivity error {sens:.2e}, {} steps \
                 for {} outputs",
                sol.stats.steps,
                times.len()
            );
            Sweep {
                rtol,
                state,
                sens,
                steps: sol.stats.steps,
            }
        })
        .collect()
}

/// Asserts the errors are of the tolerance's order (below `factor` · rtol) and shrink by at
/// least 10× for every 100× tighter tolerance, and that the steps are far fewer than the outputs.
fn check(sw: &[Sweep], factor: f64, outputs: usize) {
    for w in sw {
        assert!(
            w.state < factor * w.rtol && w.sens < factor * w.rtol,
            "rtol {:e}: state {:e}, sensitivities {:e}",
            w.rtol,
            w.state,
            w.sens
        );
    }
    for pair in sw.windows(2) {
        assert!(
            pair[1].state < pair[0].state / 10.0 && pair[1].sens < pair[0].sens / 10.0,
            "errors do not shrink from rtol {:e} to {:e}",
            pair[0].rtol,
            pair[1].rtol
        );
    }
    assert!(
        sw[0].steps * 4 < outputs,
        "{} steps for {outputs} outputs at rtol {:e}",
        sw[0].steps,
        sw[0].rtol
    );
}

#[test]
fn linear_decay_dense_outputs_match_the_closed_form() {
    let (p, x0) = (LinearDecay::P, LinearDecay::X0);
    let times = linspace(0.0, 4.0, 401);
    let m = times.len();
    let mut want_x = vec![0.0; m * 2];
    let mut want_s = vec![0.0; m * 8];
    for (k, &t) in times.iter().enumerate() {
        LinearDecay::exact(
            t,
            &p,
            &x0,
            &mut want_x[k * 2..k * 2 + 2],
            &mut want_s[k * 8..k * 8 + 8],
        );
    }
    let sw = sweep(&LinearDecay, &p, &x0, &times, &want_x, &want_s);
    check(&sw, 10.0, m);
}

#[test]
fn lotka_volterra_dense_outputs_match_a_tight_landing_solve_and_finite_differences() {
    let (p, x0) = (LotkaVolterra::LIMIT_CYCLE, LotkaVolterra::X0);
    let times = linspace(0.0, 20.0, 2001);
    let tight = run(
        &LotkaVolterra,
        &p,
        &x0,
        &times,
        Sens::ParamsAndInitial,
        opts(Method::Tsit5, 1e-12, 1e-12),
        LAND,
    );
    // The landing reference is confirmed by BDF (another method) and by central differences.
    let bdf = run(
        &LotkaVolterra,
        &p,
        &x0,
        &times,
        Sens::None,
        opts(Method::Bdf, 1e-11, 1e-11),
        DENSE,
    );
    let cross = scaled_err(&bdf.x, &tight.x, 1e-7, 1e-7);
    assert!(cross < 1.0, "BDF vs the landing reference: {cross:e}");
    // Steps of 1e-6: the truncation error of the differences (quadratic in the step) is
    // 7e-5 at 3e-5 over this long horizon, 7e-7 at 3e-6.
    let fd = fd_sensitivities(&LotkaVolterra, &p, &x0, &times, 1e-6);
    let e = sens_rel_err(&tight.s, &fd, 2, 8);
    assert!(e < 1e-7, "landing reference vs finite differences: {e:e}");

    let sw = sweep(&LotkaVolterra, &p, &x0, &times, &tight.x, &tight.s);
    check(&sw, 100.0, times.len());
    // Against the finite differences directly, too.
    let sol = run(
        &LotkaVolterra,
        &p,
        &x0,
        &times,
        Sens::ParamsAndInitial,
        opts(Method::Tsit5, 1e-8, 1e-10),
        DENSE,
    );
    let e = sens_rel_err(&sol.s, &fd, 2, 8);
    eprintln!("dense rtol 1e-8 vs finite differences: {e:.2e}");
    assert!(e < 1e-6, "{e:e}");
}

#[test]
fn lorenz_library_dense_outputs_with_33_columns_match_the_references() {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let x0 = Lorenz::X0;
    let times = linspace(0.0, 1.0, 1001);
    let tight = run(
        &QuadraticLibrary3,
        &p,
        &x0,
        &times,
        Sens::ParamsAndInitial,
        opts(Method::Tsit5, 1e-12, 1e-12),
        LAND,
    );
    let fd = fd_sensitivities(&QuadraticLibrary3, &p, &x0, &times, 3e-5);
    let e = sens_rel_err(&tight.s, &fd, 3, 33);
    assert!(e < 1e-6, "landing reference vs finite differences: {e:e}");
    let sw = sweep(&QuadraticLibrary3, &p, &x0, &times, &tight.x, &tight.s);
    check(&sw, 100.0, times.len());
}

/// Without landing, the step sequence depends on the last output time only: more output times
/// change neither the steps nor the values at the end, bit for bit.
#[test]
fn output_times_do_not_change_the_steps() {
    let (p, x0) = (Lorenz::P, Lorenz::X0);
    let o = opts(Method::Tsit5, 1e-6, 1e-8);
    let few = run(
        &Lorenz,
        &p,
        &x0,
        &[0.0, 2.0],
        Sens::ParamsAndInitial,
        o,
        DENSE,
    );
    let many = run(
        &Lorenz,
        &p,
        &x0,
        &linspace(0.0, 2.0, 2001),
        Sens::ParamsAndInitial,
        o,
        DENSE,
    );
    assert_eq!(few.stats, many.stats);
    let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits());
    assert!(same(&few.x[3..], &many.x[2000 * 3..]));
    assert!(same(&few.s[18..], &many.s[2000 * 18..]));
    let landed = run(
        &Lorenz,
        &p,
        &x0,
        &linspace(0.0, 2.0, 2001),
        Sens::ParamsAndInitial,
        o,
        LAND,
    );
    eprintln!(
        "Lorenz over [0, 2], 2000 outputs: {} steps dense, {} landing",
        many.stats.steps, landed.stats.steps
    );
    assert!(landed.stats.steps >= 2000 && many.stats.steps * 4 < landed.stats.steps);
}
