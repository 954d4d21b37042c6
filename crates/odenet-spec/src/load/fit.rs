//! `[fit]`: the fitting options, each checked for its type and range.

use toml::de::DeValue;

use super::checker::{Checker, Value, entries};
use crate::expr::format_number as num;
use crate::{FitConfig, InitKind, PruneRule, Segment, SolverKind};

const FIT_KEYS: &[&str] = &[
    "segment",
    "stride",
    "mu",
    "threshold",
    "rounds",
    "solver",
    "rtol",
    "atol",
    "learn_noise",
    "init",
    "holdout",
    "seed",
    "prune",
    "max_iters",
];

/// A non-negative number, or `[start, end]` of non-negative numbers.
fn schedule(ck: &mut Checker<'_>, v: &Value<'_>, what: &str) -> Option<(f64, f64)> {
    let non_negative = |ck: &mut Checker<'_>, item: &Value<'_>| {
        let x = ck.number(item, what)?;
        if x < 0.0 {
            ck.err(
                item.span(),
                format!("{what} must not be negative, found {}", num(x)),
                None,
            );
            return None;
        }
        Some(x)
    };
    match v.get_ref() {
        DeValue::Array(a) if a.len() == 2 => {
            let start = non_negative(ck, &a[0]);
            let end = non_negative(ck, &a[1]);
            Some((start?, end?))
        }
        DeValue::Array(a) => {
            ck.err(
                v.span(),
                format!("{what} must have 2 entries [start, end], found {}", a.len()),
                Some("write `[start, end]`, or one number to keep it constant".into()),
            );
            None
        }
        DeValue::Integer(_) | DeValue::Float(_) => non_negative(ck, v).map(|x| (x, x)),
        _ => {
            ck.type_err(v, what, "a number or an array [start, end]");
            None
        }
    }
}

fn choice<T: Copy>(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    what: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let s = ck.string(v, what)?;
    if let Some((_, t)) = options.iter().find(|(name, _)| *name == s) {
        return Some(*t);
    }
    let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    ck.err(
        v.span(),
        format!("unknown {what} \"{s}\""),
        Some(format!("choose one of {}", names.join(", "))),
    );
    None
}

pub(super) fn parse_fit(ck: &mut Checker<'_>, v: &Value<'_>) -> FitConfig {
    let mut fit = FitConfig::default();
    let Some(t) = ck.table(v, "[fit]") else {
        return fit;
    };
    let fields = entries(t);
    ck.check_keys(&fields, FIT_KEYS, "[fit]");
    for f in &fields {
        let v = f.value;
        let what = format!("`{}`", f.key);
        match f.key {
            "segment" => match v.get_ref() {
                DeValue::String(s) if s == "whole" => fit.segment = Segment::Whole,
                DeValue::String(s) if s == "auto" => fit.segment = Segment::Auto,
                DeValue::String(s) => ck.err(
                    v.span(),
                    format!("`segment` must be a number of points, \"auto\" or \"whole\", found \"{s}\""),
                    Some("write e.g. `segment = 10`, `segment = \"auto\"` (chosen from the data, the default) or `segment = \"whole\"` to integrate each experiment from its start".into()),
                ),
                DeValue::Integer(_) => {
                    if let Some(n) = ck.count(v, &what, 2) {
                        fit.segment = Segment::Points(n);
                    }
                }
                _ => ck.type_err(v, &what, "an integer of at least 2, \"auto\" or \"whole\""),
            },
            "stride" => {
                if let Some(n) = ck.count(v, &what, 1) {
                    fit.stride = n;
                }
            }
            "rounds" => {
                if let Some(n) = ck.count(v, &what, 1) {
                    fit.rounds = n;
                }
            }
            "max_iters" => {
                if let Some(n) = ck.count(v, &what, 1) {
                    fit.max_iters = n;
                }
            }
            "seed" => {
                if let Some(n) = ck.count(v, &what, 0) {
                    fit.seed = n as u64;
                }
            }
            "mu" => {
                if let Some(m) = schedule(ck, v, &what) {
                    fit.mu = m;
                }
            }
            "threshold" => {
                if let Some(m) = schedule(ck, v, &what) {
                    fit.threshold = m;
                }
            }
            "rtol" | "atol" => {
                if let Some(x) = ck.number(v, &what) {
                    if x > 0.0 {
                        if f.key == "rtol" {
                            fit.rtol = x;
                        } else {
                            fit.atol = x;
                        }
                    } else {
                        ck.err(
                            v.span(),
                            format!("{what} must be positive, found {}", num(x)),
                            Some("typical values are 1e-6 (rtol) and 1e-9 (atol)".into()),
                        );
                    }
                }
            }
            "holdout" => {
                if let Some(x) = ck.number(v, &what) {
                    if (0.0..1.0).contains(&x) {
                        fit.holdout = x;
                    } else {
                        ck.err(
                            v.span(),
                            format!("`holdout` must be at least 0 and below 1, found {}", num(x)),
                            Some("it is the fraction of pieces kept out for model selection, e.g. 0.2".into()),
                        );
                    }
                }
            }
            "learn_noise" => {
                if let Some(b) = ck.boolean(v, &what) {
                    fit.learn_noise = b;
                }
            }
            "solver" => {
                if let Some(s) = choice(
                    ck,
                    v,
                    "solver",
                    &SolverKind::NAMES,
                ) {
                    fit.solver = s;
                }
            }
            "init" => {
                if let Some(s) = choice(
                    ck,
                    v,
                    "init",
                    &[
                        ("regression", InitKind::Regression),
                        ("zero", InitKind::Zero),
                        ("spec", InitKind::Spec),
                    ],
                ) {
                    fit.init = s;
                }
            }
            "prune" => {
                if let Some(s) = choice(
                    ck,
                    v,
                    "prune rule",
                    &[("relative", PruneRule::Relative), ("absolute", PruneRule::Absolute)],
                ) {
                    fit.prune = s;
                }
            }
            _ => {}
        }
    }
    fit
}
