//! diffsol's method family behind `PieceSolver`, the batch solves of the work–precision
//! benchmark, and its reference solution — against published values of the classic stiff test
//! problems, closed forms, and finite differences.

use odenet_solve::test_models::{Hires, LinearDecay, Lorenz, Orego, VanDerPol};
use odenet_solve::{
    Group, Method, Piece, PieceSolver, Sens, SolveOptions, Work, max_error, reference, solve_batch,
};
use odenet_tape::OdeRhs;

mod common;

use common::{DENSE, fd_sensitivities, linspace};

/// Options with a generous step budget and no blow-up bound.
fn opts(method: Method, rtol: f64, atol: f64) -> SolveOptions {
    SolveOptions {
        max_steps: 1_000_000,
        blowup: f64::INFINITY,
        ..common::opts(method, rtol, atol)
    }
}

/// The reference of each stiff test problem reproduces the IVP test set's published end state,
/// and the accuracy it states (the gap to its cross-check) is small and not below its true
/// error by more than a factor of ten.
#[test]
fn the_reference_matches_published_values_of_the_stiff_test_problems() {
    // (name, model, p, x0, end time, published end state, atol)
    type Case<'a> = (
        &'a str,
        &'a dyn OdeRhs,
        Vec<f64>,
        Vec<f64>,
        f64,
        Vec<f64>,
        f64,
    );
    let cases: [Case; 3] = [
        (
            "vdpol",
            &VanDerPol,
            VanDerPol::P.to_vec(),
            VanDerPol::X0.to_vec(),
            VanDerPol::KNOWN.0,
            VanDerPol::KNOWN.1.to_vec(),
            1e-12,
        ),
        (
            "hires",
            &Hires,
            vec![],
            Hires::X0.to_vec(),
            Hires::KNOWN.0,
            Hires::KNOWN.1.to_vec(),
            1e-14,
        ),
        (
            "orego",
            &Orego,
            vec![],
            Orego::X0.to_vec(),
            Orego::KNOWN.0,
            Orego::KNOWN.1.to_vec(),
            1e-12,
        ),
    ];
    for (name, rhs, p, x0, t_end, known, atol) in cases {
        let n = rhs.nstates();
        let pieces = [Piece {
            x0,
            times: linspace(0.0, t_end, 21),
        }];
        let groups = [Group {
            rhs,
            pieces: &pieces,
        }];
        let r = reference(&groups, &p, 1e-12, atol).expect("the reference solves");
        let end = &r.states[0][0][20 * n..];
        let err = end
            .iter()
            .zip(&known)
            .zip(&r.scale)
            .map(|((a, b), s)| (a - b).abs() / s)
            .fold(0.0, f64::max);
        eprintln!(
            "{name}: reference {:?} checked by {:?}: stated accuracy {:.2e}, error vs published {err:.2e}",
            r.method, r.check, r.accuracy
        );
        assert!(r.method != r.check);
        assert!(err < 1e-7, "{name}: {err:e}");
        assert!(r.accuracy < 1e-6, "{name}: {:e}", r.accuracy);
        assert!(
            err < 10.0 * r.accuracy.max(1e-12),
            "{name}: {err:e} vs {:e}",
            r.accuracy
        );
    }
}

/// On a problem with a closed form, the reference is exact to near round-off and states so.
#[test]
fn the_reference_of_a_closed_form_problem_is_exact_to_round_off() {
    let times = linspace(0.0, 3.0, 16);
    let pieces = [
        Piece {
            x0: LinearDecay::X0.to_vec(),
            times: times.clone(),
        },
        Piece {
            x0: vec![0.3, 2.0],
            times: times.clone(),
        },
    ];
    let groups = [Group {
        rhs: &LinearDecay,
        pieces: &pieces,
    }];
    let r = reference(&groups, &LinearDecay::P, 1e-12, 1e-14).unwrap();
    assert_eq!(
        r.method,
        Method::Tsit5,
        "a non-stiff problem uses our explicit method"
    );
    assert_eq!(r.check, Method::Bdf);
    let mut worst: f64 = 0.0;
    for (piece, x) in pieces.iter().zip(&r.states[0]) {
        for (k, &t) in piece.times.iter().enumerate() {
            let (mut want, mut s) = ([0.0; 2], [0.0; 8]);
            LinearDecay::exact(t, &LinearDecay::P, &piece.x0, &mut want, &mut s);
            for i in 0..2 {
                worst = worst.max((x[k * 2 + i] - want[i]).abs() / r.scale[i]);
            }
        }
    }
    eprintln!("closed form: error {worst:.2e}, stated {:.2e}", r.accuracy);
    assert!(worst < 1e-11, "{worst:e}");
    assert!(r.accuracy < 1e-8, "{:e}", r.accuracy);
}

/// The error of every method falls as its tolerance tightens: on Lorenz pieces for every method,
/// on HIRES for the implicit ones.
#[test]
fn each_method_error_shrinks_as_the_tolerance_tightens() {
    let lorenz: Vec<Piece> = [Lorenz::X0.to_vec(), vec![-3.0, 2.0, 20.0]]
        .into_iter()
        .map(|x0| Piece {
            x0,
            times: linspace(0.0, 1.0, 11),
        })
        .collect();
    let hires = [Piece {
        x0: Hires::X0.to_vec(),
        times: linspace(0.0, Hires::KNOWN.0, 11),
    }];
    type Case<'a> = (&'a str, &'a dyn OdeRhs, Vec<f64>, &'a [Piece], Vec<Method>);
    let cases: [Case; 2] = [
        (
            "lorenz",
            &Lorenz,
            Lorenz::P.to_vec(),
            &lorenz,
            Method::ALL.to_vec(),
        ),
        (
            "hires",
            &Hires,
            vec![],
            &hires,
            vec![Method::Bdf, Method::Esdirk34, Method::TrBdf2, Method::Auto],
        ),
    ];
    for (name, rhs, p, pieces, methods) in cases {
        let groups = [Group { rhs, pieces }];
        let r = reference(&groups, &p, 1e-12, 1e-15).unwrap();
        for method in methods {
            let mut errs = Vec::new();
            for tol in [1e-3, 1e-5, 1e-7, 1e-9] {
                let mut w = Work::new();
                solve_batch(
                    &groups,
                    &p,
                    opts(method, tol, tol * 1e-3),
                    Sens::None,
                    &mut w,
                );
                assert_eq!(
                    w.failures, 0,
                    "{name} {method:?} {tol:e}: {:?}",
                    w.first_failure
                );
                errs.push(max_error(&w, &r).unwrap());
            }
            eprintln!("{name} {method:?}: errors {errs:?}");
            for k in 1..errs.len() {
                assert!(
                    errs[k] < errs[k - 1] || errs[k] < 100.0 * r.accuracy.max(1e-12),
                    "{name} {method:?}: {errs:?}"
                );
            }
            assert!(errs[3] < errs[0] / 100.0, "{name} {method:?}: {errs:?}");
        }
    }
}

/// diffsol's explicit and SDIRK methods give sensitivities that agree with central differences
/// of tight solves, and the same states with and without sensitivities.
#[test]
fn family_sensitivities_match_finite_differences() {
    let (p, x0) = (Lorenz::P, Lorenz::X0);
    let times = linspace(0.0, 0.5, 6);
    let (n, np) = (3, 3);
    let m = times.len();
    let solve = |o: SolveOptions, p: &[f64], x0: &[f64], sens: Sens| {
        let mut s = PieceSolver::new(n, np, o);
        let mut x = vec![0.0; m * n];
        let mut sv = vec![0.0; m * n * s.sens_columns(sens)];
        let st = s
            .solve(&Lorenz, p, x0, &times, sens, &mut x, &mut sv)
            .unwrap();
        (x, sv, st)
    };
    let fd = fd_sensitivities(&Lorenz, &p, &x0, &times, 1e-5, DENSE);
    for method in [
        Method::Tsit45,
        Method::Esdirk34,
        Method::TrBdf2,
        Method::Bdf,
    ] {
        let rtol = 1e-9;
        let (x, s, st) = solve(opts(method, rtol, 1e-11), &p, &x0, Sens::ParamsAndInitial);
        let (x_plain, _, _) = solve(opts(method, rtol, 1e-11), &p, &x0, Sens::None);
        let scale = fd.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
        let e = s
            .iter()
            .zip(&fd)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0, f64::max);
        let dx = x
            .iter()
            .zip(&x_plain)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("{method:?}: sensitivity error {e:.2e}, state change {dx:.1e}, {st:?}");
        assert!(e < 1e-4, "{method:?}: {e:e}");
        assert!(dx < 1e-6, "{method:?}: {dx:e}");
        assert_eq!(st.factorizations > 0, method.is_implicit(), "{method:?}");
        assert!(st.jac_evals > 0 && st.steps > 0);
    }
}

#[test]
fn method_names_round_trip() {
    for m in Method::ALL {
        assert_eq!(Method::from_name(m.name()), Some(m));
    }
    assert_eq!(Method::from_name("rk4"), None);
}

/// BDF through many pieces with one diffsol problem and solver gives bit-identical states,
/// step and evaluation counts and failures to building both for every piece.
#[test]
fn bdf_reusing_its_problem_across_pieces_is_bit_identical_to_rebuilding() {
    let lorenz: Vec<Piece> = (0..12)
        .map(|k| Piece {
            x0: vec![1.0 + k as f64, -2.0 + 0.5 * k as f64, 20.0 + k as f64],
            times: linspace(0.1 * k as f64, 0.1 * k as f64 + 0.09, 10),
        })
        .chain([
            // A single output, a non-finite start and a blow-up-size start among them.
            Piece {
                x0: vec![1.0, 1.0, 1.0],
                times: vec![0.5],
            },
            Piece {
                x0: vec![f64::NAN, 1.0, 1.0],
                times: vec![0.0, 0.1],
            },
            Piece {
                x0: vec![1e9, 1.0, 1.0],
                times: vec![0.0, 0.1],
            },
        ])
        .collect();
    let hires = [Piece {
        x0: Hires::X0.to_vec(),
        times: linspace(0.0, Hires::KNOWN.0, 11),
    }];
    let cases: [(&dyn OdeRhs, Vec<f64>, &[Piece]); 2] = [
        (&Lorenz, Lorenz::P.to_vec(), &lorenz),
        (&Hires, vec![], &hires),
    ];
    for (rhs, p, pieces) in cases {
        let groups = [Group { rhs, pieces }];
        for sens in [Sens::None, Sens::Params, Sens::ParamsAndInitial] {
            let o = opts(Method::Bdf, 1e-7, 1e-9);
            let mut reused = Work::new();
            solve_batch(&groups, &p, o, sens, &mut reused);
            // Twice, so that the second sweep reuses a solver that has already run.
            solve_batch(&groups, &p, o, sens, &mut reused);
            let mut rebuilt = Work::new();
            rebuilt.rebuild_per_piece = true;
            solve_batch(&groups, &p, o, sens, &mut rebuilt);
            assert_eq!(reused.ok, rebuilt.ok, "{sens:?}");
            // A fresh solver records one more LU set-up at construction than a new state
            // given to a reused one; every other count agrees.
            let (mut a, b) = (reused.stats, rebuilt.stats);
            assert!(
                a.factorizations <= b.factorizations,
                "{sens:?}: {a:?} vs {b:?}"
            );
            a.factorizations = b.factorizations;
            assert_eq!(a, b, "{sens:?}");
            assert_eq!(reused.first_failure, rebuilt.first_failure, "{sens:?}");
            for (k, ok) in reused.ok[0].iter().enumerate() {
                if *ok {
                    let (a, b) = (&reused.states[0][k], &rebuilt.states[0][k]);
                    assert!(
                        a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits()),
                        "{sens:?} piece {k}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }
}
