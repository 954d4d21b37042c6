//! The human-readable report: the header, one line per solver and tolerance, the legend, the
//! failures, and the comparison of the whole fits.

use std::fmt::Write;

use odenet_solve::Reference;
use odenet_spec::Spec;

use super::fits::{FitRow, max_coef_diff, support};
use super::timing::Spread;
use super::{Info, Row};

fn fmt_e(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2e}"))
}

const LEGEND: &str = "\
columns:
  error     largest deviation from the reference over every output of every piece that
            succeeded, each state divided by its largest |value| in the reference
  ms/sweep  wall time to integrate every piece once without sensitivities (one thread),
            median of --reps runs, ± half their range
  +sens     the same with forward sensitivities to every parameter and start value
  ms/grad   one loss + gradient evaluation of the fit at its starting point (--gradient)
  rhs       evaluations of f alone; jac: of f with its Jacobians (one call gives both;
            the explicit methods need them only for sensitivities); LU: factorisations
  steps     accepted steps; rej: rejected steps (error test or Newton failures)
  fail      pieces that could not be integrated; bdf: pieces auto switched to BDF
  counts are for the sweep without sensitivities, summed over the pieces that succeeded";

pub(super) fn to_table(
    info: &Info,
    r: &Reference,
    rows: &[Row],
    fits: &[FitRow],
    spec: &Spec,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} {}{}, {} states, {} parameters; atol = {:e} × rtol",
        info.spec,
        info.pieces,
        if info.whole {
            "whole experiment"
        } else {
            "piece"
        },
        if info.pieces == 1 { "" } else { "s" },
        info.states,
        info.params,
        info.atol_ratio
    );
    if info.skipped > 0 {
        let _ = writeln!(
            s,
            "  ({} pieces skipped: no complete start state)",
            info.skipped
        );
    }
    if let Some(note) = &info.note {
        let _ = writeln!(s, "note: {note}");
    }
    let _ = writeln!(
        s,
        "reference: {} at rtol {:e}, checked by {}: they differ by {:.1e}\n",
        r.method.name(),
        r.rtol,
        r.check.name(),
        r.accuracy
    );
    let _ = writeln!(
        s,
        "{:<9} {:>7} {:>9} {:>15} {:>15} {:>15} {:>9} {:>9} {:>7} {:>8} {:>6} {:>5} {:>5}",
        "solver",
        "tol",
        "error",
        "ms/sweep",
        "+sens",
        "ms/grad",
        "rhs",
        "jac",
        "LU",
        "steps",
        "rej",
        "fail",
        "bdf"
    );
    let ms = |sp: &Spread| format!("{:.3} ±{:.0}%", sp.median * 1e3, sp.pm_percent());
    for row in rows {
        let grad = match &row.grad {
            None => "-".to_string(),
            Some(Ok(g)) => ms(g),
            Some(Err(_)) => "failed".to_string(),
        };
        let _ = writeln!(
            s,
            "{:<9} {:>7.0e} {:>9} {:>15} {:>15} {:>15} {:>9} {:>9} {:>7} {:>8} {:>6} {:>5} {:>5}",
            row.solver.name(),
            row.tol,
            fmt_e(row.error),
            ms(&row.solve),
            ms(&row.sens),
            grad,
            row.stats.rhs_evals,
            row.stats.jac_evals,
            row.stats.factorizations,
            row.stats.steps,
            row.stats.rejected,
            row.failures,
            row.switched
        );
    }
    let _ = writeln!(s, "\n{LEGEND}");
    let failures: Vec<_> = rows
        .iter()
        .filter_map(|r| r.first_failure.as_ref().map(|f| (r.solver, r.tol, f)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\nfirst failure per row:");
        for (m, tol, f) in failures {
            let _ = writeln!(s, "  {} at {tol:.0e}: {f}", m.name());
        }
    }
    if let Some(Err(e)) = rows
        .iter()
        .find_map(|r| r.grad.as_ref().filter(|g| g.is_err()))
    {
        let _ = writeln!(s, "\nthe loss + gradient could not be timed: {e}");
    }
    if !fits.is_empty() {
        let _ = writeln!(
            s,
            "\nwhole fits (compared with the spec's solver, {}):",
            spec.fit.solver.name()
        );
        let _ = writeln!(
            s,
            "{:<9} {:>7} {:>12} {:>13} {:>12} {:>10}",
            "solver", "terms", "same support", "loss", "max |Δθ|", "time"
        );
        let base = fits[0].outcome.as_ref().ok();
        for f in fits {
            match &f.outcome {
                Ok(res) => {
                    let (same, diff) = match base {
                        Some(b) => (
                            if support(res) == support(b) {
                                "yes"
                            } else {
                                "NO"
                            },
                            format!("{:.1e}", max_coef_diff(res, b)),
                        ),
                        None => ("-", "-".to_string()),
                    };
                    let _ = writeln!(
                        s,
                        "{:<9} {:>7} {:>12} {:>13.6e} {:>12} {:>8.2} s",
                        f.solver.name(),
                        support(res).len(),
                        same,
                        res.loss,
                        diff,
                        f.seconds
                    );
                }
                Err(e) => {
                    let _ = writeln!(s, "{:<9} failed: {e}", f.solver.name());
                }
            }
        }
        if let Some(b) = base {
            let _ = writeln!(
                s,
                "support of {}: {}",
                spec.fit.solver.name(),
                support(b).join(", ")
            );
        }
        for f in &fits[1..] {
            if let (Ok(res), Some(b)) = (&f.outcome, base)
                && support(res) != support(b)
            {
                let _ = writeln!(
                    s,
                    "support of {}: {}",
                    f.solver.name(),
                    support(res).join(", ")
                );
            }
        }
        for f in fits {
            if let Ok(res) = &f.outcome {
                for w in &res.warnings {
                    let _ = writeln!(s, "warning ({}): {w}", f.solver.name());
                }
            }
        }
        let _ = writeln!(
            s,
            "max |Δθ|: the largest coefficient difference from the spec's solver's fit, relative to its largest coefficient"
        );
    }
    s
}
