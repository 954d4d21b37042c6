//! The whole fits of `--fit`: one per solver, and how their results compare (support and
//! coefficients) with the fit of the spec's own solver.

use std::time::Instant;

use odenet_solve::Method;
use odenet_spec::{SolverKind, Spec, Table};

use super::super::with_threads;
use crate::CliError;

/// One solver's whole fit.
pub(super) struct FitRow {
    pub(super) solver: SolverKind,
    pub(super) seconds: f64,
    pub(super) outcome: Result<odenet_fit::FitResult, String>,
}

pub(super) fn solver_kind(m: Method) -> SolverKind {
    match m {
        Method::Auto => SolverKind::Auto,
        Method::Bdf => SolverKind::Bdf,
        Method::Tsit5 => SolverKind::Tsit5,
        Method::Tsit45 => SolverKind::Tsit45,
        Method::Esdirk34 => SolverKind::Esdirk34,
        Method::TrBdf2 => SolverKind::TrBdf2,
    }
}

/// The whole fit once per solver, the spec's own solver first (the one the others are compared
/// with).
pub(super) fn run_fits(
    spec: &Spec,
    tables: &[Table],
    methods: &[Method],
    threads: Option<usize>,
) -> Result<Vec<FitRow>, CliError> {
    let mut kinds = vec![spec.fit.solver];
    for &m in methods {
        let k = solver_kind(m);
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let mut out = Vec::new();
    for kind in kinds {
        let mut s = spec.clone();
        s.fit.solver = kind;
        let t = Instant::now();
        let r = with_threads(threads, || odenet_fit::fit(&s, tables, &|_| {}))?;
        out.push(FitRow {
            solver: kind,
            seconds: t.elapsed().as_secs_f64(),
            outcome: r.map_err(|e| e.to_string()),
        });
    }
    Ok(out)
}

/// The names of the non-zero parameters of a fit (its support).
pub(super) fn support(r: &odenet_fit::FitResult) -> Vec<&str> {
    r.param_names
        .iter()
        .zip(&r.params)
        .filter(|(_, v)| **v != 0.0)
        .map(|(n, _)| n.as_str())
        .collect()
}

/// The largest |θ − θ_ref| over the parameters, relative to the largest |θ_ref|.
pub(super) fn max_coef_diff(r: &odenet_fit::FitResult, base: &odenet_fit::FitResult) -> f64 {
    let scale = base.params.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    let d = r
        .params
        .iter()
        .zip(&base.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0_f64, f64::max);
    if scale > 0.0 { d / scale } else { d }
}
