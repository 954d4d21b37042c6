//! States against independent references: closed forms, tight solves with the other method,
//! published values and conserved quantities.

use odenet_solve::test_models::{LinearDecay, Lorenz, LotkaVolterra, Robertson};
use odenet_solve::{Method, Sens, SolveFailure, SolveOptions};

use odenet_tape::OdeRhs;

use crate::Case;
use crate::common::{
    DENSE, Solution, fd_sensitivities, linear_decay_exact, linspace, opts, run, same_bits,
    scaled_err, sens_rel_err,
};

/// The states of a tight (rtol 1e-12) explicit solve: the reference of the non-stiff cases.
fn tight_tsit5(rhs: &dyn OdeRhs, p: &[f64], x0: &[f64], times: &[f64]) -> Solution {
    run(
        rhs,
        p,
        x0,
        times,
        Sens::None,
        opts(Method::Tsit5, 1e-12, 1e-12),
    )
    .expect("the reference solve succeeds")
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
        let (want_x, want_s) = linear_decay_exact(&times, &p, &x0);
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
        let reference = tight_tsit5(rhs, &p, &x0, &times);
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
fn robertson_auto_switches_to_bdf_and_matches_a_tight_reference() {
    let times = [0.0, 0.4, 4.0, 40.0];
    let robertson = |sens, o| run(&Robertson, &Robertson::P, &Robertson::X0, &times, sens, o);
    let bdf = |rtol, atol| SolveOptions {
        method: Method::Bdf,
        rtol,
        atol,
        max_steps: 100_000,
        blowup: 1e6,
    };
    let reference = robertson(Sens::None, bdf(1e-10, 1e-14)).unwrap();
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
    let check = robertson(Sens::None, bdf(1e-8, 1e-13)).unwrap();
    let e = scaled_err(&check.x, &reference.x, 1e-6, 1e-12);
    assert!(e < 1.0, "rtol 1e-8 vs rtol 1e-10: {e}");
    let o = SolveOptions {
        rtol: 1e-6,
        atol: 1e-10,
        ..SolveOptions::default()
    };
    let sol = robertson(Sens::ParamsAndInitial, o).unwrap();
    eprintln!("Robertson auto: {:?}", sol.stats);
    assert!(sol.stats.switched && sol.stats.used_bdf);
    let e = scaled_err(&sol.x, &reference.x, 1e-4, 1e-9);
    assert!(e < 1.0, "auto vs reference: {e}");
    for k in 0..times.len() {
        let mass: f64 = sol.x[k * 3..k * 3 + 3].iter().sum();
        assert!((mass - 1.0).abs() < 1e-6, "mass {mass} at output {k}");
    }
    // Forcing the explicit method reports stiffness instead of grinding through the budget.
    let forced = robertson(
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
fn unequal_output_spacing_works() {
    let times = [0.0, 1e-3, 0.013, 0.05, 0.0505, 0.3, 0.31, 1.0];
    let (p, x0) = (Lorenz::P, Lorenz::X0);
    let reference = tight_tsit5(&Lorenz, &p, &x0, &times);
    let fd = fd_sensitivities(&Lorenz, &p, &x0, &times, 3e-5, DENSE);
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
