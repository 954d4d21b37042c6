//! The machine-readable reports: CSV (`--csv`, one line per solver and tolerance) and JSON
//! (`--json`, everything the table shows).

use std::fmt::Write;

use odenet_solve::{Reference, SolveStats};
use odenet_spec::Spec;
use serde_json::{Value, json};

use super::fits::{FitRow, max_coef_diff, support};
use super::{Info, Row};

pub(super) fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "solver,tol,error,ms_sweep,ms_sweep_min,ms_sweep_max,ms_sens,ms_sens_min,ms_sens_max,ms_grad,rhs_evals,jac_evals,factorizations,steps,rejected,failures,switched_to_bdf,sens_rhs_evals,sens_jac_evals,sens_steps\n",
    );
    for r in rows {
        let grad = match &r.grad {
            Some(Ok(g)) => format!("{}", g.median * 1e3),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{},{:e},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.solver.name(),
            r.tol,
            r.error.map_or(String::new(), |e| format!("{e:e}")),
            r.solve.median * 1e3,
            r.solve.min * 1e3,
            r.solve.max * 1e3,
            r.sens.median * 1e3,
            r.sens.min * 1e3,
            r.sens.max * 1e3,
            grad,
            r.stats.rhs_evals,
            r.stats.jac_evals,
            r.stats.factorizations,
            r.stats.steps,
            r.stats.rejected,
            r.failures,
            r.switched,
            r.sens_stats.rhs_evals,
            r.sens_stats.jac_evals,
            r.sens_stats.steps
        );
    }
    s
}

pub(super) fn to_json(
    info: &Info,
    r: &Reference,
    rows: &[Row],
    fits: &[FitRow],
    spec: &Spec,
) -> Value {
    let stats = |s: &SolveStats| {
        json!({
            "rhs_evals": s.rhs_evals,
            "jac_evals": s.jac_evals,
            "factorizations": s.factorizations,
            "steps": s.steps,
            "rejected": s.rejected,
        })
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "solver": row.solver.name(),
                "tol": row.tol,
                "atol": row.tol * info.atol_ratio,
                "error": row.error,
                "ms_sweep": row.solve.json_ms(),
                "ms_sweep_sens": row.sens.json_ms(),
                "ms_grad": match &row.grad {
                    Some(Ok(g)) => g.json_ms(),
                    _ => Value::Null,
                },
                "stats": stats(&row.stats),
                "stats_sens": stats(&row.sens_stats),
                "failures": row.failures,
                "switched_to_bdf": row.switched,
                "first_failure": row.first_failure,
            })
        })
        .collect();
    let base = fits.first().and_then(|f| f.outcome.as_ref().ok());
    let fits: Vec<Value> = fits
        .iter()
        .map(|f| match &f.outcome {
            Ok(res) => json!({
                "solver": f.solver.name(),
                "seconds": f.seconds,
                "support": support(res),
                "same_support": base.map(|b| support(res) == support(b)),
                "loss": res.loss,
                "converged": res.converged,
                "warnings": res.warnings,
                "max_coef_diff": base.map(|b| max_coef_diff(res, b)),
                "params": res.param_names.iter().zip(&res.params)
                    .map(|(n, v)| (n.clone(), json!(v)))
                    .collect::<serde_json::Map<String, Value>>(),
            }),
            Err(e) => json!({"solver": f.solver.name(), "seconds": f.seconds, "error": e}),
        })
        .collect();
    json!({
        "spec": info.spec,
        "note": info.note,
        "pieces": info.pieces,
        "whole_experiments": info.whole,
        "skipped_pieces": info.skipped,
        "states": info.states,
        "params": info.params,
        "reps": info.reps,
        "atol_per_rtol": info.atol_ratio,
        "reference": {
            "method": r.method.name(),
            "rtol": r.rtol,
            "check": r.check.name(),
            "difference": r.accuracy,
        },
        "error_definition": "max over outputs of pieces that succeeded of |x - x_ref| / max|x_ref| per state",
        "rows": rows,
        "fit_baseline": spec.fit.solver.name(),
        "fits": fits,
    })
}
