//! Timing hooks for `odenet bench` and the criterion benchmarks: the loss-and-gradient
//! evaluation over every piece is the unit of work a fit repeats.

use std::time::Instant;

use odenet_spec::{SolverKind, Spec, Table};

use crate::evaluate::Evaluator;
use crate::model::CompiledModel;
use crate::problem::Problem;
use crate::regression::initial_guess;
use crate::result::FitError;
use crate::solve_options;

/// Time of one loss-and-gradient evaluation over every piece, at the initial parameters (the
/// fastest of the repetitions).
#[derive(Clone, Debug)]
pub struct GradientTiming {
    pub seconds_per_eval: f64,
    /// Time of one Gauss–Newton pass (loss, gradient and matrix, with the initial-value
    /// sensitivities) over every piece.
    pub seconds_per_gauss_newton: f64,
    pub pieces: usize,
    pub params: usize,
    pub failures: usize,
    pub bdf_pieces: usize,
    pub steps: usize,
}

/// Times `reps` loss-and-gradient evaluations and Gauss–Newton passes of the spec's problem
/// with `solver`, keeping the fastest of each.
pub fn time_gradient(
    spec: &Spec,
    tables: &[Table],
    solver: SolverKind,
    reps: usize,
) -> Result<GradientTiming, FitError> {
    let model = CompiledModel::from_spec(spec)?;
    let mut s2 = spec.clone();
    s2.fit.solver = solver;
    let prob = Problem::new(&model, &s2, tables, solve_options(&s2))?;
    let q = initial_guess(&prob, s2.fit.init);
    let ev = Evaluator::new(
        &prob,
        prob.free.clone(),
        prob.init.clone(),
        prob.all_pieces(),
    );
    let first = ev.eval(&q, true);
    let reps = reps.max(1);
    // The fastest of `reps` runs: on a shared machine, slower runs measure the other load.
    let fastest = |f: &dyn Fn()| {
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let seconds_per_eval = fastest(&|| {
        let _ = ev.eval(&q, true);
    });
    let _ = ev.gauss_newton(&q);
    let seconds_per_gauss_newton = fastest(&|| {
        let _ = ev.gauss_newton(&q);
    });
    Ok(GradientTiming {
        seconds_per_eval,
        seconds_per_gauss_newton,
        pieces: prob.pieces.len(),
        params: prob.free.len(),
        failures: first.failures,
        bdf_pieces: first.bdf_pieces,
        steps: first.steps,
    })
}

/// Runs `f` with a closure that evaluates the loss and its exact gradient over every piece at
/// the initial parameters on `threads` worker threads.
pub fn with_loss_gradient<R>(
    spec: &Spec,
    tables: &[Table],
    threads: usize,
    f: impl FnOnce(&mut dyn FnMut() -> f64) -> R,
) -> Result<R, FitError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|source| FitError::Threads { threads, source })?;
    let model = CompiledModel::from_spec(spec)?;
    let prob = Problem::new(&model, spec, tables, solve_options(spec))?;
    let q = initial_guess(&prob, spec.fit.init);
    let ev = Evaluator::new(
        &prob,
        prob.free.clone(),
        prob.init.clone(),
        prob.all_pieces(),
    );
    let mut run = || {
        let e = pool.install(|| ev.eval(&q, true));
        e.loss + e.grad.iter().sum::<f64>()
    };
    Ok(f(&mut run))
}
