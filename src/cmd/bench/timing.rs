//! Timing: the median and range of repeated runs, the batch sweeps of every piece without and
//! with sensitivities, and one loss + gradient evaluation of the fit.

use std::time::Instant;

use odenet_solve::{Group, Method, Sens, SolveOptions, SolveStats, Work, solve_batch};
use odenet_spec::{Spec, Table};
use serde_json::{Value, json};

use super::fits::solver_kind;

/// Median and range of repeated timings, in seconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spread {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Spread {
    pub(super) fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let m = v.len();
        let median = if m % 2 == 1 {
            v[m / 2]
        } else {
            0.5 * (v[m / 2 - 1] + v[m / 2])
        };
        Spread {
            median,
            min: v[0],
            max: v[m - 1],
        }
    }

    /// Half the range relative to the median, in per cent.
    pub(super) fn pm_percent(&self) -> f64 {
        if self.median > 0.0 {
            50.0 * (self.max - self.min) / self.median
        } else {
            0.0
        }
    }

    pub(super) fn json_ms(&self) -> Value {
        json!({"median": self.median * 1e3, "min": self.min * 1e3, "max": self.max * 1e3})
    }
}

/// One untimed sweep (which sizes the buffers and gives the counts and the error), then `reps`
/// timed sweeps without and with sensitivities.
pub(super) fn time_batches(
    groups: &[Group<'_>],
    p: &[f64],
    opts: SolveOptions,
    reps: usize,
    work: &mut Work,
) -> (Spread, Spread, SolveStats) {
    let mut sens_work = Work::new();
    solve_batch(groups, p, opts, Sens::ParamsAndInitial, &mut sens_work);
    let sens_stats = sens_work.stats;
    let timed = |w: &mut Work, sens: Sens| {
        let v = (0..reps)
            .map(|_| {
                let t = Instant::now();
                solve_batch(groups, p, opts, sens, w);
                t.elapsed().as_secs_f64()
            })
            .collect();
        Spread::of(v)
    };
    let sens = timed(&mut sens_work, Sens::ParamsAndInitial);
    let plain = timed(work, Sens::None);
    (plain, sens, sens_stats)
}

/// Median time of one loss + gradient evaluation of the fit (at its starting point) with this
/// solver and tolerance.
pub(super) fn time_gradient(
    spec: &Spec,
    tables: &[Table],
    method: Method,
    tol: f64,
    atol_ratio: f64,
    reps: usize,
    threads: Option<usize>,
) -> Result<Spread, String> {
    let mut s = spec.clone();
    s.fit.solver = solver_kind(method);
    s.fit.rtol = tol;
    s.fit.atol = tol * atol_ratio;
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    odenet_fit::with_loss_gradient(&s, tables, threads, |eval| {
        let _ = eval();
        let v = (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(eval());
                t.elapsed().as_secs_f64()
            })
            .collect();
        Spread::of(v)
    })
    .map_err(|e| e.to_string())
}
