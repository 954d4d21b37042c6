//! Every solver on the same pieces, side by side in one run: our Tsitouras 5(4) against
//! diffsol's explicit Tsitouras 5(4), its ESDIRK 3(4), TR-BDF2 and BDF, and `auto`.
//!
//! The pieces are those of a fit: 200 pieces of 10 outputs (Δt = 0.01) cut from a Lorenz
//! trajectory, integrated through the complete quadratic library with the Lorenz coefficients
//! (30 parameters), with forward sensitivities to the 30 parameters and the 3 start values.
//! Each solver's error is measured against a reference (our Tsit5 at rtol 1e-12, checked by
//! BDF), and its time per piece is the median of `--reps` sweeps (with the range).
//!
//! ```text
//! cargo run --release --example compare_solvers [-- --reps 21]
//! ```

use std::time::Instant;

use odenet_solve::test_models::{Lorenz, QuadraticLibrary3};
use odenet_solve::{
    Group, Method, Piece, PieceSolver, Sens, SolveOptions, Work, max_error, reference, solve_batch,
};

const PIECES: usize = 200;
const OUTPUTS: usize = 10;
const DT: f64 = 0.01;

fn main() -> std::process::ExitCode {
    let mut reps = 21usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--reps", Some(n)) if n > 0 => reps = n,
            _ => {
                eprintln!("usage: compare_solvers [--reps N]   (N >= 1)");
                return std::process::ExitCode::from(2);
            }
        }
    }

    // The piece starts: a Lorenz trajectory sampled every 10 Δt (tight solve, no sensitivities).
    let p = QuadraticLibrary3::lorenz_coefficients();
    let mut traj = PieceSolver::new(
        3,
        3,
        SolveOptions {
            method: Method::Tsit5,
            rtol: 1e-12,
            atol: 1e-12,
            max_steps: 10_000_000,
            ..SolveOptions::default()
        },
    );
    let starts: Vec<f64> = (0..PIECES).map(|k| (k * OUTPUTS) as f64 * DT).collect();
    let mut xs = vec![0.0; PIECES * 3];
    if let Err(e) = traj.solve(
        &Lorenz,
        &Lorenz::P,
        &Lorenz::X0,
        &starts,
        Sens::None,
        &mut xs,
        &mut [],
    ) {
        eprintln!("error: the Lorenz trajectory failed: {e}");
        return std::process::ExitCode::from(1);
    }
    let pieces: Vec<Piece> = (0..PIECES)
        .map(|k| Piece {
            x0: xs[k * 3..k * 3 + 3].to_vec(),
            times: (0..OUTPUTS).map(|j| starts[k] + j as f64 * DT).collect(),
        })
        .collect();
    let groups = [Group {
        rhs: &QuadraticLibrary3,
        pieces: &pieces,
    }];
    let r = match reference(&groups, &p, 1e-12, 1e-12) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: no reference: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!(
        "{PIECES} Lorenz pieces × {OUTPUTS} outputs, quadratic library (30 θ) + 3 start values = 33 \
         sensitivity columns; reference {} at rtol 1e-12 checked by {} (differ by {:.1e}); {reps} reps\n",
        r.method.name(),
        r.check.name(),
        r.accuracy
    );
    println!(
        "{:<9} {:>6} {:>9} {:>20} {:>20} {:>8} {:>8} {:>7} {:>6}",
        "solver",
        "tol",
        "error",
        "µs/piece (+sens)",
        "µs/piece (no sens)",
        "steps",
        "jac",
        "LU",
        "fail"
    );
    let mut ours = [0.0; 2];
    let mut theirs = [0.0; 2];
    for (ti, tol) in [1e-6, 1e-8].into_iter().enumerate() {
        for method in Method::ALL {
            let opts = SolveOptions {
                method,
                rtol: tol,
                atol: tol,
                ..SolveOptions::default()
            };
            let mut w = Work::new();
            let time = |w: &mut Work, sens: Sens| {
                solve_batch(&groups, &p, opts, sens, w);
                let mut v: Vec<f64> = (0..reps)
                    .map(|_| {
                        let t = Instant::now();
                        solve_batch(&groups, &p, opts, sens, w);
                        t.elapsed().as_secs_f64() * 1e6 / PIECES as f64
                    })
                    .collect();
                v.sort_by(f64::total_cmp);
                (v[v.len() / 2], v[0], v[v.len() - 1])
            };
            let (plain, _, _) = time(&mut w, Sens::None);
            let (med, lo, hi) = time(&mut w, Sens::ParamsAndInitial);
            let err = max_error(&w, &r).map_or("-".to_string(), |e| format!("{e:.2e}"));
            println!(
                "{:<9} {:>6.0e} {:>9} {:>9.1} [{:>5.1}–{:>5.1}] {:>20.1} {:>8} {:>8} {:>7} {:>6}",
                method.name(),
                tol,
                err,
                med,
                lo,
                hi,
                plain,
                w.stats.steps,
                w.stats.jac_evals,
                w.stats.factorizations,
                w.failures
            );
            match method {
                Method::Tsit5 => ours[ti] = med,
                Method::Tsit45 => theirs[ti] = med,
                _ => {}
            }
        }
        println!();
    }
    for (ti, tol) in [1e-6, 1e-8].into_iter().enumerate() {
        println!(
            "tol {tol:.0e}: diffsol's tsit45 takes {:.1}× the time of our tsit5 per piece with sensitivities",
            theirs[ti] / ours[ti]
        );
    }
    std::process::ExitCode::SUCCESS
}
