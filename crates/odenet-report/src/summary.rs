//! The printed summary of a fit.

use std::fmt::Write;

use odenet_fit::FitResult;

use crate::export::{Precision, fit_equations, value_pm};

/// The discovered equations, loss, active terms and timing, as printed by `odenet fit`.
/// Library coefficients are printed to the digits their standard errors support (the model
/// file keeps every digit); template parameters are listed the same way.
pub fn fit_summary(res: &FitResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: discovered equations", res.name);
    let w = column_width(&res.states);
    let shown = if res.library {
        fit_equations(res, Precision::StandardError)
    } else {
        vec![None; res.states.len()]
    };
    for (k, (st, eq)) in res.states.iter().zip(&res.equations).enumerate() {
        let e = match shown.get(k).and_then(Option::as_ref) {
            Some(rounded) => rounded.to_string(),
            None => eq.clone(),
        };
        let _ = writeln!(s, "  d{}/dt = {e}", cell(st, w));
    }
    for (e, vals) in res.fitted_initial.iter().enumerate() {
        if !vals.is_empty() {
            let v: Vec<String> = vals.iter().map(|(s, x)| format!("{s}(0) = {x}")).collect();
            let _ = writeln!(
                s,
                "experiment {}: fitted initial values {}",
                e + 1,
                v.join(", ")
            );
        }
    }
    if let Some(nz) = &res.noise {
        let sds: Vec<String> = res
            .states
            .iter()
            .zip(&nz.sd)
            .filter(|(_, v)| v.is_finite())
            .map(|(st, v)| format!("{st} {v:.4e}"))
            .collect();
        let _ = writeln!(s, "learned noise (sd): {}", sds.join(", "));
    }
    if !res.library {
        let _ = writeln!(s, "parameters:");
        let pw = column_width(&res.param_names);
        for (k, (n, v)) in res.param_names.iter().zip(&res.params).enumerate() {
            let _ = writeln!(s, "  {} = {}", cell(n, pw), shown_value(res, k, *v));
        }
    } else if res.std_errors.iter().any(|v| !v.is_nan()) {
        let _ = writeln!(s, "coefficients (± standard error):");
        let pw = column_width(&res.param_names);
        for (k, (n, v)) in res.param_names.iter().zip(&res.params).enumerate() {
            if *v != 0.0 {
                let _ = writeln!(s, "  {} = {}", cell(n, pw), shown_value(res, k, *v));
            }
        }
    }
    if let Some(w) = &res.weak_direction {
        let _ = writeln!(s, "{}", weak_direction_text(res, w));
    }
    for r in &res.relations {
        let _ = writeln!(
            s,
            "relation among the states: {r} (the library was reduced by one of its states)"
        );
    }
    if res.noise_sd.iter().any(|v| v.is_finite()) {
        let parts: Vec<String> = res
            .states
            .iter()
            .zip(&res.noise_sd)
            .filter(|(_, v)| v.is_finite())
            .map(|(st, v)| format!("{st} {}", odenet_spec::format_number(round3(*v))))
            .collect();
        let _ = writeln!(s, "noise (residual sd): {}", parts.join(", "));
    }
    let _ = writeln!(
        s,
        "loss {:.6e}, {} active terms, {} pieces of up to {} points ({} held out), R² {:.4}, {:.3} s",
        res.loss,
        res.active_terms,
        res.pieces,
        res.horizon,
        res.holdout_pieces,
        res.reconstruction_r2,
        res.seconds
    );
    if let Some(c) = res.chained {
        let _ = writeln!(
            s,
            "coefficients from the {} pieces chained into whole trajectories: the {} ties cost \
             {:.1} in χ² (a right model pays about {}; at most {:.1} accepted)",
            c.intervals, c.ties, c.excess, c.ties, c.allowed
        );
    }
    if let Some(g) = res.global {
        let _ = writeln!(s, "{}", global_text(g));
    }
    if res.failures_during_fit > 0 || res.failures > 0 {
        let _ = writeln!(
            s,
            "solver failures: {} pieces penalised while fitting, {} with the final model",
            res.failures_during_fit, res.failures
        );
    }
    if !res.path.is_empty() {
        let _ = writeln!(s, "candidates (* = chosen: {}):", res.selection);
        for p in &res.path {
            let held = if p.holdout_loss.is_finite() {
                format!("  held-out {:.6e}", p.holdout_loss)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  {} {:>3} terms  loss {:.6e}{held}  score {:.6e}",
                if p.selected { "*" } else { " " },
                p.active_terms,
                p.train_loss,
                p.score
            );
        }
    }
    if !res.converged {
        let _ = writeln!(
            s,
            "warning: the fit did not converge; the best model so far is reported"
        );
    }
    s
}

/// `v` to three significant digits.
fn round3(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let m = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * m).round() / m
}

/// Names longer than this are cut (with an ellipsis) in the aligned columns of the summary.
pub const NAME_CHARS: usize = 40;

/// The width of a column of names: the longest name, at most [`NAME_CHARS`].
fn column_width(names: &[String]) -> usize {
    names
        .iter()
        .map(|x| x.chars().count().min(NAME_CHARS))
        .max()
        .unwrap_or(1)
}

/// `name` cut to [`NAME_CHARS`] characters (the last one an ellipsis when cut) and padded to
/// `width`. Padding is written out rather than through a format width, which panics beyond
/// 65535.
pub fn cell(name: &str, width: usize) -> String {
    let mut out: String = if name.chars().count() > NAME_CHARS {
        let mut cut: String = name.chars().take(NAME_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        name.to_string()
    };
    let len = out.chars().count();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(len)));
    out
}

/// "value ± se" for an estimated parameter (the value rounded to the standard error),
/// "value (not determined by the data)" when its standard error is infinite, the value at full
/// precision for fixed and pruned ones.
fn shown_value(res: &FitResult, k: usize, v: f64) -> String {
    value_pm(v, res.std_errors.get(k).copied().unwrap_or(f64::NAN))
}

/// The global stage's confidence figure in words.
pub fn global_text(g: odenet_fit::GlobalSearch) -> String {
    format!(
        "global search: {} of {} starts reached the best loss (within one χ² unit)",
        g.at_best, g.starts
    )
}

/// A sentence naming the combination of parameters the data leave free.
pub fn weak_direction_text(res: &FitResult, w: &odenet_fit::WeakDirection) -> String {
    let part = |e: f64| -> String {
        let r = (e * 10.0).round() / 10.0;
        if (r - 1.0).abs() < 1e-9 {
            "c".to_string()
        } else if (r + 1.0).abs() < 1e-9 {
            "1/c".to_string()
        } else {
            format!("c^{r}")
        }
    };
    let items: Vec<String> = w
        .exponents
        .iter()
        .map(|&(k, e)| format!("{} by {}", cell(&res.param_names[k], 0), part(e)))
        .collect();
    format!(
        "warning: the data do not determine a combination of parameters: multiplying {} fits \
         the data as well within the noise for ln c up to ±{:.2} (one standard error)",
        items.join(", "),
        w.log_se
    )
}
