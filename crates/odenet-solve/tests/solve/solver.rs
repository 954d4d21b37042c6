//! The `PieceSolver` as an object: reuse is bit-identical to a fresh solver, a single output
//! time is the start itself, and a solver can move to another thread.

use odenet_solve::test_models::{Lorenz, QuadraticLibrary3};
use odenet_solve::{Method, PieceSolver, Sens, SolveOptions};

use crate::common::{linspace, opts, run, same_bits};

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
