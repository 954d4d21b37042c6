//! The model: `[library]` (polynomial order and extra terms, with its size limit) or
//! `[params]` + `[equations]` (one template per state), and the check that every name an
//! expression uses is known.

use std::collections::HashSet;
use std::ops::Range;

use toml::de::DeValue;

use super::checker::{Checker, Entry, LocatedExpr, Value, entries, find};
use crate::diag::closest;
use crate::expr::Expr;
use crate::{Location, ModelSpec, ParamSpec};

/// The largest polynomial order accepted: order 12 in 4 states already gives 1820 terms per
/// equation, far beyond what the data of one experiment can identify.
pub const MAX_POLYNOMIAL_ORDER: i64 = 12;

/// The largest library accepted, in coefficients (terms per equation × states). The fit's
/// memory and time grow with the square of this number (Gauss–Newton matrices, sensitivities
/// per label); a fit at the limit was measured (benches/README.md, "Limits") to stay within a
/// few hundred MB.
pub const MAX_LIBRARY_COEFFICIENTS: u64 = 1000;

const LIBRARY_KEYS: &[&str] = &["polynomial", "extra"];

/// C(n + k, k) without overflow: the number of monomials of degree at most `k` in `n`
/// variables, saturating at `u64::MAX`.
pub fn library_terms(nstates: usize, order: u32) -> u64 {
    let n = nstates as u128;
    let mut c: u128 = 1;
    for i in 1..=u128::from(order) {
        // c * (n + i) / i stays exact: c * (n + i) is divisible by i at every step.
        c = c.saturating_mul(n + i) / i;
        if c > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    u64::try_from(c).unwrap_or(u64::MAX)
}

/// The names an equation may use.
pub(super) struct Scope<'s> {
    pub(super) states: &'s [String],
    pub(super) states_ok: bool,
    pub(super) params: &'s [&'s str],
    pub(super) constants: &'s [String],
}

impl Scope<'_> {
    fn knows(&self, name: &str, with_params: bool) -> bool {
        self.states.iter().any(|s| s == name)
            || (with_params && self.params.contains(&name))
            || self.constants.iter().any(|c| c == name)
    }

    fn candidates(&self, with_params: bool) -> Vec<&str> {
        let mut all: Vec<&str> = self.states.iter().map(String::as_str).collect();
        if with_params {
            all.extend(self.params.iter().copied());
        }
        all.extend(self.constants.iter().map(String::as_str));
        all
    }
}

/// Reports each unknown name of `le` once; returns the names used.
fn check_symbols(
    ck: &mut Checker<'_>,
    le: &LocatedExpr,
    scope: &Scope<'_>,
    with_params: bool,
    what: &str,
) -> Vec<String> {
    let mut used = Vec::new();
    let mut reported: Vec<&str> = Vec::new();
    for n in &le.names {
        if !used.contains(&n.name) {
            used.push(n.name.clone());
        }
        if scope.knows(&n.name, with_params) || reported.contains(&n.name.as_str()) {
            continue;
        }
        // With a broken `states` list, a name may be unknown only because of that problem.
        if !scope.states_ok {
            continue;
        }
        reported.push(&n.name);
        let candidates = scope.candidates(with_params);
        let mut help = if with_params {
            "declare it in [params], or use a state or a constant from [[data]]".to_string()
        } else {
            "extra terms may use the states and the constants from [[data]]".to_string()
        };
        if let Some(near) = closest(&n.name, &candidates) {
            help = format!("did you mean `{near}`? {help}");
        }
        ck.err(
            n.span.clone(),
            format!("unknown symbol `{}` in {what}", n.name),
            Some(help),
        );
    }
    used
}

/// Parses `[library]` or `[params]` + `[equations]`; returns the model and the names it uses.
pub(super) fn parse_model(
    ck: &mut Checker<'_>,
    top: &[Entry<'_, '_>],
    params: Vec<(ParamSpec, Range<usize>)>,
    scope: &Scope<'_>,
) -> Option<(ModelSpec, HashSet<String>)> {
    let lib = find(top, "library");
    let pe = find(top, "params");
    let eqe = find(top, "equations");
    match (lib, pe, eqe) {
        (Some(l), Some(_), _) | (Some(l), _, Some(_)) => {
            ck.err(
                l.key_span.clone(),
                "the spec has both [library] and [params]/[equations]",
                Some("keep [library] for automatic candidate terms, or [params] and [equations] for your own templates, not both".into()),
            );
            None
        }
        (Some(l), None, None) => parse_library(ck, l.value, scope),
        (None, None, None) => {
            ck.err_file(
                "the spec has no model",
                Some("add [library] with `polynomial = 2`, or [params] and [equations]".into()),
            );
            None
        }
        (None, Some(p), None) => {
            ck.err(
                p.key_span.clone(),
                "[params] is given without [equations]",
                Some("add [equations] with one equation per state".into()),
            );
            None
        }
        (None, _, Some(q)) => parse_equations(ck, q.value, params, scope),
    }
}

fn parse_library(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    scope: &Scope<'_>,
) -> Option<(ModelSpec, HashSet<String>)> {
    let t = ck.table(v, "[library]")?;
    let fields = entries(t);
    ck.check_keys(&fields, LIBRARY_KEYS, "[library]");
    let mut order = None;
    let mut order_span = None;
    let mut extra = Vec::new();
    let mut used = HashSet::new();
    let mut ok = true;
    for f in &fields {
        match f.key {
            "polynomial" => {
                let Some(p) = ck.integer(f.value, "`polynomial`") else {
                    ok = false;
                    continue;
                };
                if !(0..=MAX_POLYNOMIAL_ORDER).contains(&p) {
                    ck.err(
                        f.value.span(),
                        format!(
                            "`polynomial` must be between 0 and {MAX_POLYNOMIAL_ORDER}, found {p}"
                        ),
                        Some("orders 2 or 3 suit most systems".into()),
                    );
                    ok = false;
                    continue;
                }
                order = u32::try_from(p).ok();
                order_span = Some(f.value.span());
            }
            "extra" => {
                let Some(arr) = ck.array(f.value, "`extra`") else {
                    ok = false;
                    continue;
                };
                for item in arr.iter() {
                    let Some(s) = ck.string(item, "each extra term") else {
                        ok = false;
                        continue;
                    };
                    let Some(le) = ck.expression(item, s, "an extra term") else {
                        ok = false;
                        continue;
                    };
                    // Library coefficients are fitted across experiments, so a term may not
                    // depend on a per-experiment constant.
                    let mut uses_constant = false;
                    for n in &le.names {
                        if scope.constants.contains(&n.name) && !scope.states.contains(&n.name) {
                            ck.err(
                                n.span.clone(),
                                format!("extra term uses the constant `{}`", n.name),
                                Some("library terms may use only the states; write the model with [params] and [equations] to use constants".into()),
                            );
                            uses_constant = true;
                            break;
                        }
                    }
                    if uses_constant {
                        ok = false;
                        continue;
                    }
                    let states_only = Scope {
                        constants: &[],
                        ..*scope
                    };
                    used.extend(check_symbols(ck, &le, &states_only, false, "an extra term"));
                    let loc = ck.location(item.span());
                    ck.origins.extra.push(loc);
                    extra.push(le.expr);
                }
            }
            _ => {}
        }
    }
    if order.is_none() && ok && !fields.iter().any(|f| f.key == "polynomial") {
        ck.err(
            v.span(),
            "[library] has no `polynomial` order",
            Some("add `polynomial = 2` (0 gives only the constant term)".into()),
        );
    }
    let order = order?;
    let n = scope.states.len();
    let per_equation = library_terms(n, order).saturating_add(extra.len() as u64);
    let coefficients = per_equation.saturating_mul(n as u64);
    if scope.states_ok && coefficients > MAX_LIBRARY_COEFFICIENTS {
        ck.err(
            order_span.unwrap_or_else(|| v.span()),
            format!(
                "the library has {per_equation} terms per equation × {n} states = {coefficients} coefficients; the limit is {MAX_LIBRARY_COEFFICIENTS}"
            ),
            Some(format!(
                "lower `polynomial` (order {order} in {n} states is far more than the data can identify), or write templates with [params] and [equations]"
            )),
        );
        return None;
    }
    Some((ModelSpec::Library { order, extra }, used))
}

fn parse_equations(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    params: Vec<(ParamSpec, Range<usize>)>,
    scope: &Scope<'_>,
) -> Option<(ModelSpec, HashSet<String>)> {
    let t = ck.table(v, "[equations]")?;
    let n = scope.states.len();
    let mut equations: Vec<Option<(Expr, String)>> = vec![None; n];
    let mut given = vec![false; n];
    let mut eq_origins: Vec<Option<Location>> = vec![None; n];
    let mut all_parsed = true;
    let mut used = HashSet::new();
    for e in entries(t) {
        let Some(i) = scope.states.iter().position(|s| s == e.key) else {
            if scope.states_ok {
                ck.err(
                    e.key_span.clone(),
                    format!("equation for `{}`, which is not a state", e.key),
                    Some(format!("the states are: {}", scope.states.join(", "))),
                );
            }
            continue;
        };
        given[i] = true;
        let what = format!("the equation for `{}`", e.key);
        match e.value.get_ref() {
            DeValue::String(s) => match ck.expression(e.value, s, &what) {
                Some(le) => {
                    eq_origins[i] = Some(ck.location(e.value.span()));
                    used.extend(check_symbols(ck, &le, scope, true, &what));
                    equations[i] = Some((le.expr, s.to_string()));
                }
                None => all_parsed = false,
            },
            DeValue::Integer(_) | DeValue::Float(_) => match ck.number(e.value, &what) {
                Some(x) => {
                    let text = ck.src.text.get(e.value.span()).unwrap_or("0").to_string();
                    equations[i] = Some((Expr::Num(x), text));
                }
                None => all_parsed = false,
            },
            _ => {
                ck.type_err(e.value, &what, "a string such as \"a*x - b*x*y\"");
                all_parsed = false;
            }
        }
    }
    for (i, s) in scope.states.iter().enumerate() {
        if !given[i] {
            ck.err(
                v.span(),
                format!("no equation for state `{s}`"),
                Some(format!("add `{s} = \"...\"` to [equations]")),
            );
        }
    }
    // An unused parameter is only certain once every equation has been read.
    if all_parsed {
        for (p, span) in &params {
            if !used.contains(&p.name) {
                ck.err(
                    span.clone(),
                    format!("parameter `{}` is not used in any equation", p.name),
                    Some("remove it or use it".into()),
                );
            }
        }
    }
    ck.origins.equations = eq_origins
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let mut exprs = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    for eq in equations {
        let (e, t) = eq?;
        exprs.push(e);
        texts.push(t);
    }
    Some((
        ModelSpec::Template {
            params: params.into_iter().map(|(p, _)| p).collect(),
            equations: exprs,
            equation_text: texts,
        },
        used,
    ))
}
