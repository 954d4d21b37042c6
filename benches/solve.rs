//! One fit piece solved with forward sensitivities: the 3-state complete quadratic library with
//! the Lorenz coefficients (30 parameters + 3 initial-state columns), t ∈ [0, 0.09] with 10
//! outputs, tol 1e-6 — the case NOTES-deps.md measured for diffsol's own tsit45 (~80 µs) and
//! BDF (~260–400 µs).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use odenet_solve::test_models::{Lorenz, QuadraticLibrary3};
use odenet_solve::{Method, PieceSolver, Sens, SolveOptions};

fn piece(c: &mut Criterion) {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let x0 = Lorenz::X0;
    let times: Vec<f64> = (0..10).map(|k| 0.01 * k as f64).collect();
    let mut group = c.benchmark_group("piece_quadlib3_sens33");
    for (name, method) in [
        ("tsit5", Method::Tsit5),
        ("bdf", Method::Bdf),
        ("auto", Method::Auto),
    ] {
        let opts = SolveOptions {
            method,
            rtol: 1e-6,
            atol: 1e-6,
            ..SolveOptions::default()
        };
        let mut solver = PieceSolver::new(3, 30, opts);
        let mut x = vec![0.0; 10 * 3];
        let mut s = vec![0.0; 10 * 3 * 33];
        let stats = solver
            .solve(
                &QuadraticLibrary3,
                &p,
                &x0,
                &times,
                Sens::ParamsAndInitial,
                &mut x,
                &mut s,
            )
            .expect("the Lorenz piece is well posed");
        eprintln!("{name}: {stats:?}");
        group.bench_function(name, |b| {
            b.iter(|| {
                solver
                    .solve(
                        &QuadraticLibrary3,
                        black_box(&p),
                        black_box(&x0),
                        &times,
                        Sens::ParamsAndInitial,
                        &mut x,
                        &mut s,
                    )
                    .expect("the Lorenz piece is well posed")
            })
        });
    }
    let opts = SolveOptions {
        method: Method::Tsit5,
        rtol: 1e-6,
        atol: 1e-6,
        ..SolveOptions::default()
    };
    let mut solver = PieceSolver::new(3, 30, opts);
    let mut x = vec![0.0; 10 * 3];
    group.bench_function("tsit5_no_sens", |b| {
        b.iter(|| {
            solver
                .solve(
                    &QuadraticLibrary3,
                    black_box(&p),
                    black_box(&x0),
                    &times,
                    Sens::None,
                    &mut x,
                    &mut [],
                )
                .expect("the Lorenz piece is well posed")
        })
    });
    group.finish();
}

criterion_group!(benches, piece);
criterion_main!(benches);
