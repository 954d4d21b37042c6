//! The piece solver against independent references: closed forms, high-accuracy solves with the
//! other method, published values, and central finite differences of the solution.

use odenet_solve::test_models::{
    LinearDecay, Lorenz, LotkaVolterra, QuadraticLibrary3, Riccati, Robertson,
};
use odenet_solve::{
    Method, PieceSolver, Sens, SolveFailure, SolveOptions, SolveStats, StepControl,
};
use odenet_tape::OdeRhs;

/// A model, its parameters, its initial state and the output times.
type Case<'a> = (&'a dyn OdeRhs, Vec<f64>, Vec<f64>, Vec<f64>);

/// Exact equality, for values that must be copied, not computed.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits())
}

#[derive(Debug)]
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
) -> Result<Solution, SolveFailure> {
    let mut solver = PieceSolver::new(rhs.nstates(), rhs.nparams(), o);
    let nc = solver.sens_columns(sens);
    let n = rhs.nstates();
    let mut x = vec![f64::NAN; times.len() * n];
    let mut s = vec![f64::NAN; times.len() * n * nc];
    let stats = solver.solve(rhs, p, x0, times, sens, &mut x, &mut s)?;
    Ok(Solution { x, s, stats })
}

/// The largest |a − b| / (atol + rtol |b|) over all entries.
fn scaled_err(a: &[f64], b: &[f64], rtol: f64, atol: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(u, v)| (u - v).abs() / (atol + rtol * v.abs()))
        .fold(0.0, f64::max)
}

/// Central finite differences of the solution with respect to p and x0, each solve at a very
/// tight tolerance with the explicit method; layout as the solver's sensitivities.
fn fd_sensitivities(rhs: &dyn OdeRhs, p: &[f64], x0: &[f64], times: &[f64]) -> Vec<f64> {
    let n = rhs.nstates();
    let np = rhs.nparams();
    let nc = np + n;
    let m = times.len();
    let tight = opts(Method::Tsit5, 1e-13, 1e-14);
    let mut fd = vec![0.0; m * n * nc];
    for c in 0..nc {
        let mut pp = p.to_vec();
        let mut xx = x0.to_vec();
        let base = if c < np { p[c] } else { x0[c - np] };
        let h = 3e-5 * base.abs().max(1.0);
        let mut plus_minus = [Vec::new(), Vec::new()];
        for (slot, sign) in [1.0, -1.0].iter().enumerate() {
            if c < np {
                pp[c] = base + sign * h;
            } else {
                xx[c - np] = base + sign * h;
            }
            plus_minus[slot] = run(rhs, &pp, &xx, times, Sens::None, tight).unwrap().x;
        }
        for k in 0..m {
            for i in 0..n {
                fd[k * n * nc + c * n + i] =
                    (plus_minus[0][k * n + i] - plus_minus[1][k * n + i]) / (2.0 * h);
            }
        }
    }
    fd
}

/// Largest per-column relative error of sensitivities: |S − FD| over the column's largest |FD|.
fn sens_rel_err(s: &[f64], fd: &[f64], n: usize, nc: usize) -> f64 {
    let m = s.len() / (n * nc);
    let mut worst: f64 = 0.0;
    for c in 0..nc {
        let idx = |k: usize, i: usize| k * n * nc + c * n + i;
        let scale = (0..m)
            .flat_map(|k| (0..n).map(move |i| (k, i)))
            .map(|(k, i)| fd[idx(k, i)].abs())
            .fold(0.0, f64::max)
            .max(1e-12);
        for k in 0..m {
            for i in 0..n {
                worst = worst.max((s[idx(k, i)] - fd[idx(k, i)]).abs() / scale);
            }
        }
    }
    worst
}

fn linspace(a: f64, b: f64, m: usize) -> Vec<f64> {
    (0..m)
        .map(|k| a + (b - a) * k as f64 / (m - 1) as f64)
        .collect()
}

#[test]
fn linear_decay_matches_closed_form_with_both_methods() {
    let model = LinearDecay;
    let (p, x0) = (LinearDecay::P, LinearDecay::X0);
    let times = [0.0, 0.1, 0.35, 0.8, 1.7, 3.0];
    for (method, tol_x, tol_s) in [(Method::Tsit5, 1e-8, 1e-7), (Method::Bdf, 1e-5, 1e-4)] {
        let sol = run(
            &model,
            &p,
            &x0,
            &times,
            Sens::ParamsAndInitial,
            opts(method, 1e-10, 1e-12),
        )
        .unwrap();
        let mut want_x = vec![0.0; times.len() * 2];
        let mut want_s = vec![0.0; times.len() * 8];
        for (k, &t) in times.iter().enumerate() {
            LinearDecay::exact(
                t,
                &p,
                &x0,
                &mut want_x[k * 2..k * 2 + 2],
                &mut want_s[k * 8..k * 8 + 8],
            );
        }
        let ex = scaled_err(&sol.x, &want_x, 1.0, 1e-3);
        let es = scaled_err(&sol.s, &want_s, 1.0, 1e-3);
        eprintln!(
            "{method:?}: state error {ex:.2e}, sensitivity error {es:.2e}, {:?}",
            sol.stats
        );
        assert!(ex < tol_x, "{method:?} state error {ex:e}");
        assert!(es < tol_s, "{method:?} sensitivity error {es:e}");
        assert_eq!(sol.stats.used_bdf, method == Method::Bdf);
    }
}

#[test]
fn start_time_is_not_zero_and_output_zero_is_the_initial_state() {
    // The system is autonomous, so a piece starting at t = 5 is the piece from 0 shifted.
    let model = LinearDecay;
    let (p, x0) = (LinearDecay::P, LinearDecay::X0);
    for method in [Method::Tsit5, Method::Bdf] {
        let o = opts(method, 1e-9, 1e-12);
        let a = run(&model, &p, &x0, &[0.0, 0.5, 1.0], Sens::ParamsAndInitial, o).unwrap();
        let b = run(&model, &p, &x0, &[5.0, 5.5, 6.0], Sens::ParamsAndInitial, o).unwrap();
        assert!(scaled_err(&a.x, &b.x, 1e-6, 1e-9) < 1.0);
        assert!(same_bits(&b.x[..2], &x0));
        assert!(same_bits(
            &b.s[..8],
            &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
        ));
    }
}

#[test]
fn lorenz_and_lotka_volterra_match_a_high_accuracy_reference() {
    let cases: [Case; 3] = [
        (
            &Lorenz,
            Lorenz::P.to_vec(),
            Lorenz::X0.to_vec(),
            linspace(0.0, 1.0, 11),
        ),
        (
            &LotkaVolterra,
            LotkaVolterra::OVERDAMPED.to_vec(),
            vec![2.0, 1.0],
            linspace(0.0, 5.0, 11),
        ),
        (
            &LotkaVolterra,
            LotkaVolterra::LIMIT_CYCLE.to_vec(),
            LotkaVolterra::X0.to_vec(),
            linspace(0.0, 10.0, 21),
        ),
    ];
    for (rhs, p, x0, times) in cases {
        let reference = run(
            rhs,
            &p,
            &x0,
            &times,
            Sens::None,
            opts(Method::Tsit5, 1e-12, 1e-12),
        )
        .unwrap();
        // The two methods agree at tight tolerance, so the reference is not the explicit
        // method checking itself.
        let bdf_ref = run(
            rhs,
            &p,
            &x0,
            &times,
            Sens::None,
            opts(Method::Bdf, 1e-11, 1e-11),
        )
        .unwrap();
        let cross = scaled_err(&bdf_ref.x, &reference.x, 1e-6, 1e-6);
        assert!(cross < 1.0, "tight BDF vs tight Tsit5: {cross:e}");
        for method in [Method::Tsit5, Method::Bdf, Method::Auto] {
            let sol = run(rhs, &p, &x0, &times, Sens::None, opts(method, 1e-6, 1e-8)).unwrap();
            // Global error grows past the local tolerance through the dynamics (Lorenz is
            // chaotic), so allow a factor on the per-step tolerance.
            let e = scaled_err(&sol.x, &reference.x, 1e-6, 1e-8);
            eprintln!("{method:?}: error {e:.2} x tol, {:?}", sol.stats);
            assert!(e < 200.0, "{method:?}: scaled error {e}");
            assert!(!sol.stats.switched);
        }
    }
}

#[test]
fn tsit5_sensitivities_match_finite_differences() {
    let cases: [Case; 3] = [
        (
            &Lorenz,
            Lorenz::P.to_vec(),
            Lorenz::X0.to_vec(),
            linspace(0.0, 1.0, 10),
        ),
        (
            &LotkaVolterra,
            LotkaVolterra::OVERDAMPED.to_vec(),
            vec![2.0, 1.0],
            linspace(0.0, 2.0, 10),
        ),
        (
            &QuadraticLibrary3,
            QuadraticLibrary3::lorenz_coefficients().to_vec(),
            Lorenz::X0.to_vec(),
            linspace(0.0, 0.09, 10),
        ),
    ];
    for (rhs, p, x0, times) in cases {
        let fd = fd_sensitivities(rhs, &p, &x0, &times);
        let n = rhs.nstates();
        let nc = rhs.nparams() + n;
        for (rtol, bound) in [(1e-8, 1e-5), (1e-10, 1e-6)] {
            for control in [StepControl::Pi, StepControl::Standard] {
                let o = opts(Method::Tsit5, rtol, rtol * 1e-2);
                let mut solver = PieceSolver::new(n, rhs.nparams(), o).with_step_control(control);
                let mut x = vec![0.0; times.len() * n];
                let mut s = vec![0.0; times.len() * n * nc];
                solver
                    .solve(rhs, &p, &x0, &times, Sens::ParamsAndInitial, &mut x, &mut s)
                    .unwrap();
                let e = sens_rel_err(&s, &fd, n, nc);
                eprintln!("Tsit5 {control:?} rtol {rtol:e}: relative error vs FD {e:.2e}");
                assert!(e < bound, "rtol {rtol:e}, {control:?}: {e:e}");
            }
        }
    }
}

#[test]
fn bdf_sensitivities_match_finite_differences() {
    let cases: [Case; 2] = [
        (
            &Lorenz,
            Lorenz::P.to_vec(),
            Lorenz::X0.to_vec(),
            linspace(0.0, 1.0, 10),
        ),
        (
            &LotkaVolterra,
            LotkaVolterra::OVERDAMPED.to_vec(),
            vec![2.0, 1.0],
            linspace(0.0, 2.0, 10),
        ),
    ];
    for (rhs, p, x0, times) in cases {
        let fd = fd_sensitivities(rhs, &p, &x0, &times);
        let n = rhs.nstates();
        let nc = rhs.nparams() + n;
        for (rtol, bound) in [(1e-8, 1e-4), (1e-10, 1e-5)] {
            let sol = run(
                rhs,
                &p,
                &x0,
                &times,
                Sens::ParamsAndInitial,
                opts(Method::Bdf, rtol, rtol * 1e-2),
            )
            .unwrap();
            let e = sens_rel_err(&sol.s, &fd, n, nc);
            eprintln!(
                "BDF rtol {rtol:e}: relative error vs FD {e:.2e}, {:?}",
                sol.stats
            );
            assert!(e < bound, "rtol {rtol:e}: {e:e}");
        }
    }
}

#[test]
fn params_only_sensitivities_are_the_leading_columns() {
    let (p, x0) = (Lorenz::P, Lorenz::X0);
    let times = linspace(0.0, 0.5, 6);
    for method in [Method::Tsit5, Method::Bdf] {
        let o = opts(method, 1e-8, 1e-10);
        let full = run(&Lorenz, &p, &x0, &times, Sens::ParamsAndInitial, o).unwrap();
        let part = run(&Lorenz, &p, &x0, &times, Sens::Params, o).unwrap();
        let plain = run(&Lorenz, &p, &x0, &times, Sens::None, o).unwrap();
        assert!(part.s.len() == times.len() * 9 && plain.s.is_empty());
        for k in 0..times.len() {
            let a = &full.s[k * 18..k * 18 + 9];
            let b = &part.s[k * 9..k * 9 + 9];
            assert!(scaled_err(b, a, 1e-5, 1e-6) < 1.0, "{method:?} output {k}");
        }
        assert!(scaled_err(&plain.x, &full.x, 1e-6, 1e-8) < 1.0);
    }
}

#[test]
fn robertson_auto_switches_to_bdf_and_matches_a_tight_reference() {
    let times = [0.0, 0.4, 4.0, 40.0];
    let reference = run(
        &Robertson,
        &Robertson::P,
        &Robertson::X0,
        &times,
        Sens::None,
        SolveOptions {
            method: Method::Bdf,
            rtol: 1e-10,
            atol: 1e-14,
            max_steps: 100_000,
            blowup: 1e6,
        },
    )
    .unwrap();
    // The published (rtol 1e-4) values bound the reference loosely; a second tight solve
    // confirms it to many more digits.
    for (k, (t, want)) in Robertson::KNOWN.iter().enumerate() {
        assert!((times[k + 1] - t).abs() < 1e-12);
        let got = &reference.x[(k + 1) * 3..(k + 2) * 3];
        assert!(
            scaled_err(got, want, 1e-3, 1e-12) < 1.0,
            "t = {t}: {got:?} vs {want:?}"
        );
    }
    let check = run(
        &Robertson,
        &Robertson::P,
        &Robertson::X0,
        &times,
        Sens::None,
        SolveOptions {
            method: Method::Bdf,
            rtol: 1e-8,
            atol: 1e-13,
            max_steps: 100_000,
            blowup: 1e6,
        },
    )
    .unwrap();
    let e = scaled_err(&check.x, &reference.x, 1e-6, 1e-12);
    assert!(e < 1.0, "rtol 1e-8 vs rtol 1e-10: {e}");
    let o = SolveOptions {
        rtol: 1e-6,
        atol: 1e-10,
        ..SolveOptions::default()
    };
    let sol = run(
        &Robertson,
        &Robertson::P,
        &Robertson::X0,
        &times,
        Sens::ParamsAndInitial,
        o,
    )
    .unwrap();
    eprintln!("Robertson auto: {:?}", sol.stats);
    assert!(sol.stats.switched && sol.stats.used_bdf);
    let e = scaled_err(&sol.x, &reference.x, 1e-4, 1e-9);
    assert!(e < 1.0, "auto vs reference: {e}");
    for k in 0..times.len() {
        let mass: f64 = sol.x[k * 3..k * 3 + 3].iter().sum();
        assert!((mass - 1.0).abs() < 1e-6, "mass {mass} at output {k}");
    }
    // Forcing the explicit method reports stiffness instead of grinding through the budget.
    let forced = run(
        &Robertson,
        &Robertson::P,
        &Robertson::X0,
        &times,
        Sens::None,
        SolveOptions {
            method: Method::Tsit5,
            ..o
        },
    );
    assert!(
        matches!(forced, Err(SolveFailure::Stiff { t }) if t > 0.0 && t < 40.0),
        "{forced:?}"
    );
}

#[test]
fn robertson_bdf_sensitivities_match_finite_differences_of_bdf() {
    // The explicit method cannot produce the finite-difference reference for a stiff problem,
    // so here the differences are of tight BDF solves.
    let times = [0.0, 0.4, 4.0];
    let (p, x0) = (Robertson::P, Robertson::X0);
    let tight = SolveOptions {
        method: Method::Bdf,
        rtol: 1e-11,
        atol: 1e-16,
        max_steps: 100_000,
        blowup: 1e6,
    };
    let sol = run(
        &Robertson,
        &p,
        &x0,
        &times,
        Sens::Params,
        SolveOptions {
            rtol: 1e-9,
            atol: 1e-14,
            ..tight
        },
    )
    .unwrap();
    let mut fd = vec![0.0; times.len() * 9];
    for c in 0..3 {
        let h = 1e-4 * p[c];
        let mut pp = p;
        pp[c] = p[c] + h;
        let plus = run(&Robertson, &pp, &x0, &times, Sens::None, tight)
            .unwrap()
            .x;
        pp[c] = p[c] - h;
        let minus = run(&Robertson, &pp, &x0, &times, Sens::None, tight)
            .unwrap()
            .x;
        for k in 0..times.len() {
            for i in 0..3 {
                // Scale by the parameter so all columns are relative derivatives.
                fd[k * 9 + c * 3 + i] = (plus[k * 3 + i] - minus[k * 3 + i]) / (2.0 * h);
            }
        }
    }
    let e = sens_rel_err(&sol.s, &fd, 3, 3);
    eprintln!("Robertson BDF sensitivities vs FD: {e:.2e}");
    assert!(e < 1e-3, "{e:e}");
}

#[test]
fn blow_up_is_reported_not_panicked_or_hung() {
    // x' = x², x(0) = 1 has the solution 1 / (1 − t), which leaves every bound before t = 1.
    let times = [0.0, 0.5, 1.5];
    for method in [Method::Tsit5, Method::Bdf, Method::Auto] {
        for blowup in [1e6, f64::INFINITY] {
            for sens in [Sens::None, Sens::ParamsAndInitial] {
                let o = SolveOptions {
                    method,
                    blowup,
                    ..SolveOptions::default()
                };
                let mut solver = PieceSolver::new(1, 1, o);
                let nc = solver.sens_columns(sens);
                let mut x = vec![0.0; 3];
                let mut s = vec![0.0; 3 * nc];
                let r = solver.solve(&Riccati, &[1.0], &[1.0], &times, sens, &mut x, &mut s);
                eprintln!("{method:?} bound {blowup:e} {sens:?}: {r:?}");
                match r {
                    Err(SolveFailure::BlowUp { t }) => {
                        assert!(blowup.is_finite() && (0.99..=1.001).contains(&t), "t = {t}")
                    }
                    Err(
                        SolveFailure::NonFinite { t }
                        | SolveFailure::StepSizeTooSmall { t }
                        | SolveFailure::BdfFailed { t }
                        | SolveFailure::TooManySteps { t },
                    ) => assert!((0.9..=1.001).contains(&t), "t = {t}"),
                    other => panic!("{method:?}: expected a failure, got {other:?}"),
                }
                // The output before the singularity is right.
                assert!(
                    (x[1] - Riccati::exact(0.5, 1.0, 1.0)).abs() < 1e-4,
                    "x(0.5) = {}",
                    x[1]
                );
            }
        }
    }
}

#[test]
fn reusing_a_solver_is_bit_identical_to_a_fresh_one() {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let times = linspace(0.0, 0.09, 10);
    let starts = [[-8.0, 7.0, 27.0], [1.0, 1.0, 1.0], [5.0, -3.0, 20.0]];
    for method in [Method::Tsit5, Method::Bdf] {
        let o = opts(method, 1e-6, 1e-9);
        let mut reused = PieceSolver::new(3, 30, o);
        let mut x = vec![0.0; 30];
        let mut s = vec![0.0; 10 * 3 * 33];
        for round in 0..2 {
            for x0 in &starts {
                reused
                    .solve(
                        &QuadraticLibrary3,
                        &p,
                        x0,
                        &times,
                        Sens::ParamsAndInitial,
                        &mut x,
                        &mut s,
                    )
                    .unwrap();
                let fresh = run(
                    &QuadraticLibrary3,
                    &p,
                    x0,
                    &times,
                    Sens::ParamsAndInitial,
                    o,
                )
                .unwrap();
                assert!(
                    same_bits(&x, &fresh.x) && same_bits(&s, &fresh.s),
                    "{method:?} round {round}"
                );
            }
        }
    }
}

#[test]
fn unequal_output_spacing_works() {
    let times = [0.0, 1e-3, 0.013, 0.05, 0.0505, 0.3, 0.31, 1.0];
    let (p, x0) = (Lorenz::P, Lorenz::X0);
    let reference = run(
        &Lorenz,
        &p,
        &x0,
        &times,
        Sens::None,
        opts(Method::Tsit5, 1e-12, 1e-12),
    )
    .unwrap();
    let fd = fd_sensitivities(&Lorenz, &p, &x0, &times);
    for method in [Method::Tsit5, Method::Bdf] {
        let sol = run(
            &Lorenz,
            &p,
            &x0,
            &times,
            Sens::ParamsAndInitial,
            opts(method, 1e-8, 1e-10),
        )
        .unwrap();
        let e = scaled_err(&sol.x, &reference.x, 1e-8, 1e-10);
        let es = sens_rel_err(&sol.s, &fd, 3, 6);
        eprintln!("{method:?}: state {e:.2} x tol, sensitivities {es:.2e}");
        assert!(e < 100.0, "{method:?}: {e}");
        assert!(es < 1e-4, "{method:?}: {es:e}");
    }
}

#[test]
fn long_simulation_with_thousands_of_outputs_conserves_the_invariant() {
    let p = LotkaVolterra::LIMIT_CYCLE;
    let x0 = LotkaVolterra::X0;
    let times = linspace(0.0, 100.0, 10_001);
    let h0 = LotkaVolterra::invariant(&p, &x0);
    for method in [Method::Tsit5, Method::Bdf] {
        let o = SolveOptions {
            method,
            rtol: 1e-8,
            atol: 1e-10,
            max_steps: 1_000_000,
            blowup: 1e6,
        };
        let sol = run(&LotkaVolterra, &p, &x0, &times, Sens::None, o).unwrap();
        let drift = sol
            .x
            .chunks_exact(2)
            .map(|x| (LotkaVolterra::invariant(&p, x) - h0).abs() / h0.abs())
            .fold(0.0, f64::max);
        eprintln!("{method:?}: invariant drift {drift:.2e}, {:?}", sol.stats);
        assert!(drift < 1e-5, "{method:?}: {drift:e}");
    }
}

#[test]
fn the_step_budget_is_enforced() {
    let o = SolveOptions {
        method: Method::Tsit5,
        max_steps: 5,
        ..SolveOptions::default()
    };
    let r = run(
        &Lorenz,
        &Lorenz::P,
        &Lorenz::X0,
        &[0.0, 10.0],
        Sens::None,
        o,
    );
    assert!(
        matches!(r, Err(SolveFailure::TooManySteps { t }) if t > 0.0 && t < 10.0),
        "{r:?}"
    );
    let r = run(
        &Lorenz,
        &Lorenz::P,
        &Lorenz::X0,
        &[0.0, 10.0],
        Sens::None,
        SolveOptions {
            method: Method::Bdf,
            ..o
        },
    );
    assert!(matches!(r, Err(SolveFailure::TooManySteps { .. })), "{r:?}");
}

#[test]
fn bad_input_is_a_typed_error() {
    let o = SolveOptions::default();
    let (p, x0) = (Lorenz::P, Lorenz::X0);
    let r = run(&Lorenz, &p, &x0, &[0.0, 0.5, 0.5], Sens::None, o);
    assert!(
        matches!(r, Err(SolveFailure::InvalidTimes { index: 2, .. })),
        "{r:?}"
    );
    let r = run(&Lorenz, &p, &x0, &[0.0, f64::NAN], Sens::None, o);
    assert!(
        matches!(r, Err(SolveFailure::InvalidTimes { index: 1, .. })),
        "{r:?}"
    );
    let r = run(&Lorenz, &p, &x0, &[], Sens::None, o);
    assert!(
        matches!(r, Err(SolveFailure::ShapeMismatch { .. })),
        "{r:?}"
    );
    let r = run(
        &Lorenz,
        &[1.0, f64::NAN, 2.0],
        &x0,
        &[0.0, 1.0],
        Sens::None,
        o,
    );
    assert!(matches!(r, Err(SolveFailure::NonFinite { .. })), "{r:?}");
    let r = run(
        &Lorenz,
        &p,
        &x0,
        &[0.0, 1.0],
        Sens::None,
        SolveOptions { atol: 0.0, ..o },
    );
    assert!(
        matches!(r, Err(SolveFailure::InvalidOption { what: "atol", .. })),
        "{r:?}"
    );

    let mut solver = PieceSolver::new(3, 3, o);
    let mut x = vec![0.0; 5];
    let r = solver.solve(&Lorenz, &p, &x0, &[0.0, 1.0], Sens::None, &mut x, &mut []);
    assert!(matches!(
        r,
        Err(SolveFailure::ShapeMismatch {
            what: "out_x",
            expected: 6,
            got: 5
        })
    ));
    let r = solver.solve(
        &Lorenz,
        &p[..2],
        &x0,
        &[0.0, 1.0],
        Sens::None,
        &mut [0.0; 6],
        &mut [],
    );
    assert!(matches!(
        r,
        Err(SolveFailure::ShapeMismatch { what: "p", .. })
    ));
    let r = solver.solve(
        &LotkaVolterra,
        &[0.0; 6],
        &[1.0, 1.0],
        &[0.0],
        Sens::None,
        &mut [0.0; 2],
        &mut [],
    );
    assert!(matches!(r, Err(SolveFailure::ShapeMismatch { .. })));
    // The messages carry the facts and the fix.
    let msg = SolveFailure::InvalidTimes {
        index: 2,
        value: 0.5,
    }
    .to_string();
    assert!(
        msg.contains("times[2] = 0.5") && msg.contains("sort"),
        "{msg}"
    );
}

#[test]
fn a_single_output_time_returns_the_initial_state() {
    let mut solver = PieceSolver::new(3, 3, SolveOptions::default());
    let mut x = [0.0; 3];
    let mut s = [9.0; 18];
    let stats = solver
        .solve(
            &Lorenz,
            &Lorenz::P,
            &Lorenz::X0,
            &[2.0],
            Sens::ParamsAndInitial,
            &mut x,
            &mut s,
        )
        .unwrap();
    assert!(same_bits(&x, &Lorenz::X0));
    assert_eq!(stats.steps, 0);
    let mut want = [0.0; 18];
    for i in 0..3 {
        want[(3 + i) * 3 + i] = 1.0;
    }
    assert!(same_bits(&s, &want));
}

/// x' = −0.7 x with no parameters at all: the sensitivity to x0 is exp(−0.7 t). Pins the case
/// np = 0, where only initial-state columns exist.
struct FixedDecay;

impl OdeRhs for FixedDecay {
    fn nstates(&self) -> usize {
        1
    }
    fn nparams(&self) -> usize {
        0
    }
    fn scratch_len(&self) -> usize {
        0
    }
    fn rhs(&self, x: &[f64], _p: &[f64], _scratch: &mut [f64], f: &mut [f64]) {
        f[0] = -0.7 * x[0];
    }
    fn rhs_jac(
        &self,
        x: &[f64],
        p: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        _jp: &mut [f64],
    ) {
        self.rhs(x, p, scratch, f);
        jx[0] = -0.7;
    }
}

#[test]
fn a_model_without_parameters_has_initial_state_sensitivities() {
    let times = [0.0, 0.5, 2.0];
    for method in [Method::Tsit5, Method::Bdf] {
        let sol = run(
            &FixedDecay,
            &[],
            &[3.0],
            &times,
            Sens::ParamsAndInitial,
            opts(method, 1e-10, 1e-12),
        )
        .unwrap();
        let none = run(
            &FixedDecay,
            &[],
            &[3.0],
            &times,
            Sens::Params,
            opts(method, 1e-10, 1e-12),
        )
        .unwrap();
        assert!(none.s.is_empty());
        for (k, &t) in times.iter().enumerate() {
            let e = (-0.7 * t).exp();
            assert!((sol.x[k] - 3.0 * e).abs() < 1e-7, "{method:?} x at {t}");
            assert!(
                (sol.s[k] - e).abs() < 1e-6,
                "{method:?} s at {t}: {}",
                sol.s[k]
            );
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Around the paper's over-damped Lotka–Volterra case, the explicit method's
        /// sensitivities agree with central differences for any parameters and start.
        #[test]
        fn tsit5_sensitivities_match_finite_differences_anywhere(
            scale in proptest::collection::vec(0.8f64..1.2, 6),
            x0 in proptest::collection::vec(0.5f64..2.0, 2),
        ) {
            let p: Vec<f64> =
                LotkaVolterra::OVERDAMPED.iter().zip(&scale).map(|(a, b)| a * b).collect();
            let times = linspace(0.0, 1.0, 5);
            let fd = fd_sensitivities(&LotkaVolterra, &p, &x0, &times);
            let sol = run(&LotkaVolterra, &p, &x0, &times, Sens::ParamsAndInitial, opts(Method::Tsit5, 1e-9, 1e-11))
                .unwrap();
            let e = sens_rel_err(&sol.s, &fd, 2, 8);
            prop_assert!(e < 1e-5, "relative error {e:e}");
        }
    }
}

/// x' = −√x reaches x = 0 at t = 2 with an infinite slope of f, and √ of the overshoot is NaN.
struct SqrtDrain;

impl OdeRhs for SqrtDrain {
    fn nstates(&self) -> usize {
        1
    }
    fn nparams(&self) -> usize {
        1
    }
    fn scratch_len(&self) -> usize {
        0
    }
    fn rhs(&self, x: &[f64], p: &[f64], _scratch: &mut [f64], f: &mut [f64]) {
        f[0] = -p[0] * x[0].sqrt();
    }
    fn rhs_jac(
        &self,
        x: &[f64],
        p: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        self.rhs(x, p, scratch, f);
        jx[0] = -0.5 * p[0] / x[0].sqrt();
        jp[0] = -x[0].sqrt();
    }
}

#[test]
fn nan_producing_right_hand_sides_fail_cleanly() {
    let times = [0.0, 1.0, 3.0];
    for method in [Method::Tsit5, Method::Bdf, Method::Auto] {
        for sens in [Sens::None, Sens::ParamsAndInitial] {
            let r = run(
                &SqrtDrain,
                &[1.0],
                &[1.0],
                &times,
                sens,
                opts(method, 1e-6, 1e-9),
            );
            eprintln!(
                "{method:?} {sens:?}: {:?}",
                r.as_ref().map(|s| (s.x.clone(), s.stats))
            );
            match r {
                // Before the drain empties, the solution is (1 − t/2)².
                Ok(sol) => {
                    assert!((sol.x[1] - 0.25).abs() < 1e-4);
                    assert!(sol.x.iter().chain(&sol.s).all(|v| v.is_finite()));
                }
                Err(e) => assert!(
                    matches!(
                        e,
                        SolveFailure::NonFinite { t }
                        | SolveFailure::StepSizeTooSmall { t }
                        | SolveFailure::BdfFailed { t }
                        | SolveFailure::TooManySteps { t } if t > 1.9 && t <= 3.0
                    ),
                    "{e:?}"
                ),
            }
        }
    }
}

/// The fit gives each rayon worker its own solver, which needs `Send`.
#[test]
fn a_solver_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<PieceSolver>();
    let mut solver = PieceSolver::new(3, 3, SolveOptions::default());
    let handle = std::thread::spawn(move || {
        let mut x = [0.0; 6];
        solver
            .solve(
                &Lorenz,
                &Lorenz::P,
                &Lorenz::X0,
                &[0.0, 0.1],
                Sens::None,
                &mut x,
                &mut [],
            )
            .map(|_| x)
    });
    let x = handle
        .join()
        .expect("the solve thread does not panic")
        .unwrap();
    assert!(x[3..].iter().all(|v| v.is_finite()));
}
