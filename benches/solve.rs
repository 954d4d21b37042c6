//! One fit piece solved with forward sensitivities: the 3-state complete quadratic library with
//! the Lorenz coefficients (30 parameters + 3 initial-state columns), t ∈ [0, 0.09] with 10
//! outputs, tol 1e-6 — the case NOTES-deps.md measured for diffsol's own tsit45 (~80 µs) and
//! BDF (~260–400 µs) — by every method; and BDF through 50 such pieces with its diffsol problem
//! and solver built per piece or once for all (`bdf_setup`); and our Tsit5 with dense output
//! against stepping onto every output (`dense_vs_land`): the same library piece with 10, 100 and
//! 1000 outputs 0.01 apart, time per solve and error at the outputs (printed before each
//! measurement) against a landing solve at rtol 1e-12.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use odenet_solve::test_models::{Lorenz, QuadraticLibrary3};
use odenet_solve::{
    Group, Method, Piece, PieceSolver, Sens, SolveOptions, SolveStats, Work, solve_batch,
};

/// The benchmarks' options: `method` at rtol = atol = `tol`.
fn opts(method: Method, tol: f64) -> SolveOptions {
    SolveOptions {
        method,
        rtol: tol,
        atol: tol,
        ..SolveOptions::default()
    }
}

/// One solve of the quadratic library at `p` from `x0` through `times`.
fn solve_library(
    solver: &mut PieceSolver,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    sens: Sens,
    x: &mut [f64],
    s: &mut [f64],
) -> SolveStats {
    solver
        .solve(
            &QuadraticLibrary3,
            black_box(p),
            black_box(x0),
            times,
            sens,
            x,
            s,
        )
        .expect("the Lorenz piece is well posed")
}

fn piece(c: &mut Criterion) {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let x0 = Lorenz::X0;
    let times: Vec<f64> = (0..10).map(|k| 0.01 * k as f64).collect();
    let mut group = c.benchmark_group("piece_quadlib3_sens33");
    let full = Sens::ParamsAndInitial;
    for method in Method::ALL {
        let name = method.name();
        let mut solver = PieceSolver::new(3, 30, opts(method, 1e-6));
        let mut x = vec![0.0; 10 * 3];
        let mut s = vec![0.0; 10 * 3 * 33];
        let stats = solve_library(&mut solver, &p, &x0, &times, full, &mut x, &mut s);
        eprintln!("{name}: {stats:?}");
        group.bench_function(name, |b| {
            b.iter(|| solve_library(&mut solver, &p, &x0, &times, full, &mut x, &mut s))
        });
    }
    let mut solver = PieceSolver::new(3, 30, opts(Method::Tsit5, 1e-6));
    let mut x = vec![0.0; 10 * 3];
    group.bench_function("tsit5_no_sens", |b| {
        b.iter(|| solve_library(&mut solver, &p, &x0, &times, Sens::None, &mut x, &mut []))
    });
    group.finish();
}

/// BDF's per-piece set-up: 50 consecutive Lorenz pieces with sensitivities, the diffsol
/// problem and solver rebuilt for every piece or built once and given a fresh state per piece.
fn bdf_setup(c: &mut Criterion) {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let mut x0 = Lorenz::X0.to_vec();
    let mut pieces = Vec::new();
    let mut traj = PieceSolver::new(3, 3, SolveOptions::default());
    for k in 0..50 {
        let t0 = 0.09 * k as f64;
        let times: Vec<f64> = (0..10).map(|j| t0 + 0.01 * j as f64).collect();
        let mut x = vec![0.0; 30];
        traj.solve(
            &Lorenz,
            &Lorenz::P,
            &x0,
            &times,
            Sens::None,
            &mut x,
            &mut [],
        )
        .expect("the Lorenz trajectory is well posed");
        pieces.push(Piece {
            x0: x0.clone(),
            times,
        });
        x0 = x[27..30].to_vec();
    }
    let groups = [Group {
        rhs: &QuadraticLibrary3,
        pieces: &pieces,
    }];
    let bdf = opts(Method::Bdf, 1e-6);
    let mut group = c.benchmark_group("bdf_setup_50_pieces_sens33");
    for (name, rebuild) in [("rebuild_per_piece", true), ("reuse", false)] {
        let mut w = Work::new();
        w.rebuild_per_piece = rebuild;
        solve_batch(&groups, black_box(&p), bdf, Sens::ParamsAndInitial, &mut w);
        assert_eq!(w.failures, 0);
        group.bench_function(name, |b| {
            b.iter(|| solve_batch(&groups, black_box(&p), bdf, Sens::ParamsAndInitial, &mut w))
        });
    }
    group.finish();
}

/// The largest error over the outputs relative to the largest magnitude of the same state (or
/// the same sensitivity of a state), in the layout `v[k * w + j]` with `w` values per output.
fn rel_err(v: &[f64], want: &[f64], w: usize) -> f64 {
    (0..w)
        .map(|j| {
            let scale = want
                .iter()
                .skip(j)
                .step_by(w)
                .fold(1e-300, |a: f64, b| a.max(b.abs()));
            v.iter()
                .zip(want)
                .skip(j)
                .step_by(w)
                .map(|(a, b)| (a - b).abs() / scale)
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max)
}

/// Dense output against landing on every output: one piece of the quadratic library with the
/// Lorenz coefficients (33 sensitivity columns) with 10, 100 and 1000 outputs at Δt = 0.01
/// (spans 0.09, 0.99, 9.99), at tol 1e-6 to 1e-9.
fn dense_vs_land(c: &mut Criterion) {
    let p = QuadraticLibrary3::lorenz_coefficients();
    let x0 = Lorenz::X0;
    let mut group = c.benchmark_group("dense_vs_land_quadlib3_sens33");
    for m in [10usize, 100, 1000] {
        let times: Vec<f64> = (0..m).map(|k| 0.01 * k as f64).collect();
        let (mut x, mut s) = (vec![0.0; m * 3], vec![0.0; m * 3 * 33]);
        let (mut xr, mut sr) = (x.clone(), s.clone());
        let tight = SolveOptions {
            max_steps: 10_000_000,
            ..opts(Method::Tsit5, 1e-12)
        };
        let mut reference = PieceSolver::new(3, 30, tight).with_landing(true);
        let full = Sens::ParamsAndInitial;
        solve_library(&mut reference, &p, &x0, &times, full, &mut xr, &mut sr);
        for tol in [1e-6, 1e-7, 1e-8, 1e-9] {
            for (mode, land) in [("land", true), ("dense", false)] {
                let o = SolveOptions {
                    max_steps: 1_000_000,
                    ..opts(Method::Tsit5, tol)
                };
                let mut solver = PieceSolver::new(3, 30, o).with_landing(land);
                let mut solve = |x: &mut [f64], s: &mut [f64]| {
                    solve_library(&mut solver, &p, &x0, &times, full, x, s)
                };
                let stats = solve(&mut x, &mut s);
                let name = format!("{m}_outputs_tol{tol:.0e}_{mode}");
                eprintln!(
                    "{name}: {} steps, {} rejected; error: states {:.2e}, sensitivities {:.2e}",
                    stats.steps,
                    stats.rejected,
                    rel_err(&x, &xr, 3),
                    rel_err(&s, &sr, 99)
                );
                group.bench_function(name, |b| b.iter(|| solve(&mut x, &mut s)));
            }
        }
    }
    group.finish();
}

criterion_group!(benches, piece, bdf_setup, dense_vs_land);
criterion_main!(benches);
