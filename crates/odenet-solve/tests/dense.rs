//! Dense output of our Tsitouras 5(4): the states and sensitivities at output times inside a
//! step, from the method's continuous extension, against independent references — closed forms,
//! tight solves that land a step on every output time (so no interpolation is involved), BDF,
//! and central finite differences — at several tolerances.

use odenet_solve::test_models::{LinearDecay, Lorenz, LotkaVolterra, QuadraticLibrary3};
use odenet_solve::{Method, Sens, SolveOptions};
use odenet_tape::OdeRhs;

mod common;

use common::{
    LAND, Setup, Solution, fd_sensitivities, landing, linear_decay_exact, linspace, run, same_bits,
    scaled_err, sens_rel_err,
};

/// Every piece of these tests is well posed.
const WELL_POSED: &str = "the test problems are well posed";

/// Options with a step budget that the long pieces of these tests do not exhaust.
fn opts(method: Method, rtol: f64, atol: f64) -> SolveOptions {
    SolveOptions {
        max_steps: 1_000_000,
        ..common::opts(method, rtol, atol)
    }
}

/// The interpolation-free reference: a tight solve (rtol 1e-12) landing on every output, with
/// the sensitivities to p and x0.
fn landing_reference(rhs: &dyn OdeRhs, p: &[f64], x0: &[f64], times: &[f64]) -> Solution {
    let tight = opts(Method::Tsit5, 1e-12, 1e-12);
    run(rhs, p, x0, times, Sens::ParamsAndInitial, landing(tight)).expect(WELL_POSED)
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
            let sol = run(rhs, p, x0, times, Sens::ParamsAndInitial, o).expect(WELL_POSED);
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
    let (want_x, want_s) = linear_decay_exact(&times, &p, &x0);
    let sw = sweep(&LinearDecay, &p, &x0, &times, &want_x, &want_s);
    check(&sw, 10.0, times.len());
}

#[test]
fn lotka_volterra_dense_outputs_match_a_tight_landing_solve_and_finite_differences() {
    let (p, x0) = (LotkaVolterra::LIMIT_CYCLE, LotkaVolterra::X0);
    let times = linspace(0.0, 20.0, 2001);
    let tight = landing_reference(&LotkaVolterra, &p, &x0, &times);
    // The landing reference is confirmed by BDF (another method) and by central differences.
    let bdf = run(
        &LotkaVolterra,
        &p,
        &x0,
        &times,
        Sens::None,
        opts(Method::Bdf, 1e-11, 1e-11),
    )
    .expect(WELL_POSED);
    let cross = scaled_err(&bdf.x, &tight.x, 1e-7, 1e-7);
    assert!(cross < 1.0, "BDF vs the landing reference: {cross:e}");
    // Steps of 1e-6: the truncation error of the differences (quadratic in the step) is
    // 7e-5 at 3e-5 over this long horizon, 7e-7 at 3e-6.
    let fd = fd_sensitivities(&LotkaVolterra, &p, &x0, &times, 1e-6, LAND);
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
    )
    .expect(WELL_POSED);
    let e = sens_rel_err(&sol.s, &fd, 2, 8);
    eprintln!("dense rtol 1e-8 vs finite differences: {e:.2e}");
    assert!(e < 1e-6, "{e:e}");
}

#[test]
fn lorenz_library_dense_outputs_with_33_columns_match_the_references() {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let x0 = Lorenz::X0;
    let times = linspace(0.0, 1.0, 1001);
    let tight = landing_reference(&QuadraticLibrary3, &p, &x0, &times);
    let fd = fd_sensitivities(&QuadraticLibrary3, &p, &x0, &times, 3e-5, LAND);
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
    let lorenz = |times: &[f64], setup: Setup| {
        run(&Lorenz, &p, &x0, times, Sens::ParamsAndInitial, setup).expect(WELL_POSED)
    };
    let few = lorenz(&[0.0, 2.0], o.into());
    let many = lorenz(&linspace(0.0, 2.0, 2001), o.into());
    assert_eq!(few.stats, many.stats);
    assert!(same_bits(&few.x[3..], &many.x[2000 * 3..]));
    assert!(same_bits(&few.s[18..], &many.s[2000 * 18..]));
    let landed = lorenz(&linspace(0.0, 2.0, 2001), landing(o));
    eprintln!(
        "Lorenz over [0, 2], 2000 outputs: {} steps dense, {} landing",
        many.stats.steps, landed.stats.steps
    );
    assert!(landed.stats.steps >= 2000 && many.stats.steps * 4 < landed.stats.steps);
}
