//! Failures are typed and located: blow-up, the step budget, bad input, and right-hand sides
//! that produce NaN.

use crate::common::{opts, run};
use odenet_solve::test_models::{Lorenz, LotkaVolterra, Riccati, SqrtDrain};
use odenet_solve::{Method, PieceSolver, Sens, SolveFailure, SolveOptions};

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
fn the_step_budget_is_enforced() {
    let five_steps = |method| {
        let o = SolveOptions {
            method,
            max_steps: 5,
            ..SolveOptions::default()
        };
        run(
            &Lorenz,
            &Lorenz::P,
            &Lorenz::X0,
            &[0.0, 10.0],
            Sens::None,
            o,
        )
    };
    let r = five_steps(Method::Tsit5);
    assert!(
        matches!(r, Err(SolveFailure::TooManySteps { t }) if t > 0.0 && t < 10.0),
        "{r:?}"
    );
    let r = five_steps(Method::Bdf);
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
