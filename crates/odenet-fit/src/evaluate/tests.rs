//! The exact gradient and Gauss–Newton matrix against finite differences and each other,
//! thread-count independence, and failed pieces.

use std::path::Path;

use odenet_spec::{Spec, Table};

use super::*;
use crate::model::CompiledModel;
use crate::problem::Problem;
use crate::solve_options;
fn lv_problem_inputs() -> (Spec, Vec<Table>) {
    let spec = Spec::from_str(
        "states = [\"x1\", \"x2\"]\n[library]\npolynomial = 2\n[fit]\nrtol = 1e-10\natol = 1e-12\n",
        Path::new("t.toml"),
    )
    .expect("spec");
    let times: Vec<f64> = (0..60).map(|k| k as f64 * 0.05).collect();
    // Noisy-looking data (not a solution): the loss is far from zero and every term matters.
    let values = vec![
        times
            .iter()
            .map(|t| 20.0 + 10.0 * (t * 1.3).sin() + 0.3 * (t * 17.0).cos())
            .collect(),
        times
            .iter()
            .map(|t| 15.0 + 6.0 * (t * 0.9).cos() + 0.2 * (t * 23.0).sin())
            .collect(),
    ];
    (
        spec,
        vec![Table {
            file: "d.csv".into(),
            times,
            values,
        }],
    )
}

/// Runs `f` with an evaluator over every piece of the Lotka–Volterra test problem and the
/// number of its active parameters.
fn with_lv_evaluator(f: impl FnOnce(&Evaluator, usize)) {
    let (spec, tables) = lv_problem_inputs();
    let model = CompiledModel::from_spec(&spec).expect("model");
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    let ev = Evaluator::new(
        &prob,
        prob.free.clone(),
        prob.init.clone(),
        prob.all_pieces(),
    );
    f(&ev, prob.free.len());
}

fn start(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.3 * ((k as f64) * 0.7).sin()).collect()
}

/// The exact gradient of the profiled loss against central finite differences of the loss.
#[test]
fn gradient_matches_finite_differences() {
    with_lv_evaluator(|ev, na| {
        let q = start(na);
        let e = ev.eval(&q, true);
        assert_eq!(e.failures, 0);
        for k in 0..q.len() {
            let h = 1e-5;
            let mut qp = q.clone();
            let mut qm = q.clone();
            qp[k] += h;
            qm[k] -= h;
            let fd = (ev.eval(&qp, false).loss - ev.eval(&qm, false).loss) / (2.0 * h);
            let scale = fd.abs().max(e.grad[k].abs()).max(1e-3 * e.loss);
            assert!(
                (fd - e.grad[k]).abs() <= 2e-4 * scale,
                "coordinate {k}: exact {} finite differences {fd}",
                e.grad[k]
            );
        }
    });
}

/// The Gauss–Newton pass returns the same loss and gradient as the plain evaluation.
#[test]
fn gauss_newton_pass_agrees_with_eval() {
    with_lv_evaluator(|ev, na| {
        let q = start(na);
        let e = ev.eval(&q, true);
        let gn = ev.gauss_newton(&q);
        assert!((gn.loss - e.loss).abs() <= 1e-12 * e.loss);
        for (a, b) in gn.grad.iter().zip(&e.grad) {
            assert!((a - b).abs() <= 1e-10 * (a.abs() + b.abs() + 1e-12));
        }
        // Symmetric and positive on the diagonal.
        let na = q.len();
        for a in 0..na {
            assert!(gn.h[a * na + a] > 0.0);
            for b in 0..na {
                assert!(
                    (gn.h[a * na + b] - gn.h[b * na + a]).abs()
                        <= 1e-9 * gn.h[a * na + a].abs().max(1e-12)
                );
            }
        }
    });
}

/// Results do not depend on the number of threads.
#[test]
fn identical_for_any_thread_count() {
    with_lv_evaluator(|ev, na| {
        let q = start(na);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let e = ev.eval(&q, true);
                let gn = ev.gauss_newton(&q);
                (
                    e.loss.to_bits(),
                    e.grad.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    gn.h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    });
}

/// A parameter that makes pieces blow up yields a finite, counted penalty, not a crash.
#[test]
fn failed_pieces_are_penalised_and_counted() {
    with_lv_evaluator(|ev, na| {
        // Large positive quadratic self-interaction: finite-time blow-up within a piece.
        let mut q = vec![0.0; na];
        q[3] = 1e4;
        let e = ev.eval(&q, true);
        assert!(e.failures > 0);
        assert!(e.loss.is_finite() && e.loss > 1.0);
        assert!(e.grad.iter().all(|g| g.is_finite()));
    });
}
