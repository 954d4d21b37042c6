//! Forward sensitivities against central finite differences of the solution, for both methods,
//! with and without the initial-state columns.

use odenet_solve::test_models::{FixedDecay, Lorenz, LotkaVolterra, QuadraticLibrary3, Robertson};
use odenet_solve::{Method, PieceSolver, Sens, SolveOptions, StepControl};

use crate::Case;
use crate::common::{DENSE, fd_sensitivities, linspace, opts, run, scaled_err, sens_rel_err};

/// Lorenz and the over-damped Lotka–Volterra case, ten outputs each: the pieces on which both
/// methods' sensitivities are checked.
fn lorenz_and_lotka_volterra() -> [Case<'static>; 2] {
    [
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
    ]
}

#[test]
fn tsit5_sensitivities_match_finite_differences() {
    let library: Case = (
        &QuadraticLibrary3,
        QuadraticLibrary3::lorenz_coefficients().to_vec(),
        Lorenz::X0.to_vec(),
        linspace(0.0, 0.09, 10),
    );
    for (rhs, p, x0, times) in lorenz_and_lotka_volterra().into_iter().chain([library]) {
        let fd = fd_sensitivities(rhs, &p, &x0, &times, 3e-5, DENSE);
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
    for (rhs, p, x0, times) in lorenz_and_lotka_volterra() {
        let fd = fd_sensitivities(rhs, &p, &x0, &times, 3e-5, DENSE);
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
            let fd = fd_sensitivities(&LotkaVolterra, &p, &x0, &times, 3e-5, DENSE);
            let sol = run(&LotkaVolterra, &p, &x0, &times, Sens::ParamsAndInitial, opts(Method::Tsit5, 1e-9, 1e-11))
                .unwrap();
            let e = sens_rel_err(&sol.s, &fd, 2, 8);
            prop_assert!(e < 1e-5, "relative error {e:e}");
        }
    }
}
