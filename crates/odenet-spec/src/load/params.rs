//! `[params]`: each parameter's starting value or fixed value, bounds and sparsity, with the
//! checks between them (both `init` and `value`, empty or reversed bounds, a start outside
//! them).

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::checker::{Checker, Value, entries};
use crate::ParamSpec;
use crate::expr::format_number as num;

const PARAM_KEYS: &[&str] = &["init", "value", "fixed", "min", "max", "sparse"];

/// Parses `[params]`; every entry yields a parameter (so that its name is known to the
/// equation checks even when its value is malformed) with the span of its key.
pub(super) fn parse_params(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    states: &[String],
) -> Vec<(ParamSpec, Range<usize>)> {
    let mut out = Vec::new();
    let Some(t) = ck.table(v, "[params]") else {
        return out;
    };
    for e in entries(t) {
        let name = e.key;
        ck.check_name(name, e.key_span.clone(), "parameter");
        if states.iter().any(|s| s == name) {
            ck.err(
                e.key_span.clone(),
                format!("parameter `{name}` has the same name as a state"),
                Some("rename the parameter".into()),
            );
        }
        let what = format!("parameter `{name}`");
        let mut p = ParamSpec {
            name: name.to_string(),
            init: 0.0,
            fixed: false,
            min: None,
            max: None,
            sparse: true,
        };
        match e.value.get_ref() {
            DeValue::Integer(_) | DeValue::Float(_) => {
                if let Some(x) = ck.number(e.value, &what) {
                    p.init = x;
                }
            }
            DeValue::Table(t) => parse_param_table(ck, &mut p, e.value.span(), t),
            _ => ck.type_err(
                e.value,
                &what,
                "a number or a table such as `{ init = 1.0, min = 0.0 }`",
            ),
        }
        out.push((p, e.key_span));
    }
    out
}

fn parse_param_table(ck: &mut Checker<'_>, p: &mut ParamSpec, span: Range<usize>, t: &DeTable<'_>) {
    let name = p.name.clone();
    let fields = entries(t);
    ck.check_keys(&fields, PARAM_KEYS, &format!("parameter `{name}`"));
    let mut init = None;
    let mut value = None;
    let mut fixed = false;
    let mut min = None;
    let mut max = None;
    for f in &fields {
        let what = format!("`{}` of parameter `{name}`", f.key);
        match f.key {
            "init" => init = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "value" => value = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "fixed" => fixed = ck.boolean(f.value, &what).unwrap_or(false),
            "min" => min = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "max" => max = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "sparse" => p.sparse = ck.boolean(f.value, &what).unwrap_or(true),
            _ => {}
        }
    }
    let has = |key: &str| fields.iter().any(|f| f.key == key);
    if has("init") && has("value") {
        ck.err(
            span.clone(),
            format!("parameter `{name}` has both `init` and `value`"),
            Some("use `init` for the starting value of a fitted parameter, or `value` with `fixed = true`".into()),
        );
    } else if fixed && !has("value") {
        let help = if has("init") {
            format!("rename `init` to `value`: `{name} = {{ value = ..., fixed = true }}`")
        } else {
            format!("give its value: `{name} = {{ value = 0.0, fixed = true }}`")
        };
        ck.err(
            span.clone(),
            format!("fixed parameter `{name}` has no `value`"),
            Some(help),
        );
    } else if !fixed && has("value") {
        ck.err(
            span.clone(),
            format!("parameter `{name}` has a `value` but is not fixed"),
            Some("add `fixed = true`, or write `init = ...` for the starting value of a fitted parameter".into()),
        );
    }
    p.fixed = fixed;
    p.min = min.as_ref().map(|m| m.0);
    p.max = max.as_ref().map(|m| m.0);
    if let (Some((lo, lo_span)), Some((hi, _))) = (&min, &max)
        && lo >= hi
        && lo <= hi
        && !fixed
    {
        // A box of zero width leaves nothing to fit; the transforms that keep a parameter
        // inside its bounds divide by the width.
        ck.err(
            lo_span.start..max.as_ref().map_or(lo_span.end, |m| m.1.end),
            format!(
                "parameter `{name}` has min = max = {}, so it cannot be fitted",
                num(*lo)
            ),
            Some(format!(
                "fix it instead: `{name} = {{ value = {}, fixed = true }}`, or widen the bounds",
                num(*lo)
            )),
        );
        return;
    }
    if let (Some((lo, lo_span)), Some((hi, _))) = (&min, &max)
        && lo > hi
    {
        ck.err(
            lo_span.clone(),
            format!(
                "parameter `{name}` has min = {} greater than max = {}",
                num(*lo),
                num(*hi)
            ),
            Some("swap or correct the bounds".into()),
        );
        return;
    }
    match init.or(value) {
        Some((x, x_span)) => {
            let below = p.min.is_some_and(|lo| x < lo);
            let above = p.max.is_some_and(|hi| x > hi);
            if below || above {
                let lo = p.min.map_or("-inf".to_string(), num);
                let hi = p.max.map_or("inf".to_string(), num);
                ck.err(
                    x_span,
                    format!(
                        "initial value {x} of parameter `{name}` is outside its bounds [{lo}, {hi}]"
                    ),
                    Some("choose a value between min and max".into()),
                );
            }
            p.init = x;
        }
        // Without a starting value, start at zero moved inside the bounds.
        None => {
            p.init = 0f64
                .max(p.min.unwrap_or(0.0))
                .min(p.max.unwrap_or(f64::INFINITY))
        }
    }
}
