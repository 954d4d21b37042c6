//! The intermediate [`System`] every export prints: the equations as expressions over states,
//! parameters and constants with their numbers already rounded, built from a model file (or,
//! for display, from a fit).

use odenet_spec::{Expr, parse_expr};

use super::ExportError;
use super::rounding::{Precision, round_to_se};
use crate::ModelFile;

/// One experiment, as exported: constants, time span, the model's state at t0.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportExperiment {
    pub constants: Vec<(String, f64)>,
    pub t0: f64,
    pub t_end: f64,
    pub initial: Vec<f64>,
}

/// A discovered system ready to print in any language.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    pub name: String,
    pub states: Vec<String>,
    pub hidden: Vec<bool>,
    /// The named parameters the equations use (template mode), with their (rounded) values and
    /// standard errors.
    pub params: Vec<(String, f64, f64)>,
    /// The names of the per-experiment constants.
    pub constants: Vec<String>,
    pub experiments: Vec<ExportExperiment>,
    /// One right-hand side per state; names are states, parameters or constants.
    pub equations: Vec<Expr>,
    pub precision: Precision,
}

/// The sum Σ c·term of a library equation, each coefficient rounded to its standard error.
/// `terms` holds (term name, coefficient, standard error).
pub fn library_equation(
    terms: &[(&str, f64, f64)],
    precision: Precision,
) -> Result<Expr, ExportError> {
    let mut sum: Option<Expr> = None;
    for &(name, c, se) in terms {
        let c = match precision {
            Precision::StandardError => round_to_se(c, se),
            Precision::Full => c,
        };
        let monomial = if name.trim() == "1" {
            None
        } else {
            Some(parse_expr(name).map_err(|e| ExportError::Parse {
                what: format!("term `{name}`"),
                offset: e.offset,
                message: e.message,
            })?)
        };
        let term = |c: f64| match &monomial {
            None => Expr::Num(c),
            Some(m) => times(Expr::Num(c), m),
        };
        sum = Some(match sum {
            None => term(c),
            Some(s) if c < 0.0 => Expr::Sub(Box::new(s), Box::new(term(-c))),
            Some(s) => Expr::Add(Box::new(s), Box::new(term(c))),
        });
    }
    Ok(sum.unwrap_or(Expr::Num(0.0)))
}

/// The equations of a fit as expressions for display: library coefficients rounded as
/// `precision` says, template equations as fitted. `None` where an equation cannot be rebuilt
/// (print `res.equations[i]` then).
pub fn fit_equations(res: &odenet_fit::FitResult, precision: Precision) -> Vec<Option<Expr>> {
    res.states
        .iter()
        .enumerate()
        .map(|(i, st)| match &res.terms {
            Some(terms) => {
                let t: Vec<(&str, f64, f64)> = terms
                    .get(i)?
                    .iter()
                    .map(|(name, v)| {
                        let se = res
                            .term_param(st, name)
                            .and_then(|k| res.std_errors.get(k).copied())
                            .unwrap_or(f64::NAN);
                        (name.as_str(), *v, se)
                    })
                    .collect();
                library_equation(&t, precision).ok()
            }
            None => parse_expr(res.equations.get(i)?).ok(),
        })
        .collect()
}

/// `e` with the names in `zero` set to 0 and the terms they cancel removed (`a5*M + b` → `b`):
/// the discovered model of a template whose pruned parameters are exactly zero.
pub fn without_zero_terms(e: &Expr, zero: &[&str]) -> Expr {
    let is_zero = |x: &Expr| matches!(x, Expr::Num(v) if *v == 0.0);
    let r = |x: &Expr| without_zero_terms(x, zero);
    match e {
        Expr::Var(n) if zero.contains(&n.as_str()) => Expr::Num(0.0),
        Expr::Num(_) | Expr::Var(_) => e.clone(),
        Expr::Neg(a) => {
            let a = r(a);
            if is_zero(&a) {
                Expr::Num(0.0)
            } else {
                Expr::Neg(Box::new(a))
            }
        }
        Expr::Add(a, b) => match (r(a), r(b)) {
            (a, b) if is_zero(&a) => b,
            (a, b) if is_zero(&b) => a,
            (a, b) => Expr::Add(Box::new(a), Box::new(b)),
        },
        Expr::Sub(a, b) => match (r(a), r(b)) {
            (a, b) if is_zero(&b) => a,
            (a, b) if is_zero(&a) => Expr::Neg(Box::new(b)),
            (a, b) => Expr::Sub(Box::new(a), Box::new(b)),
        },
        Expr::Mul(a, b) => match (r(a), r(b)) {
            (a, b) if is_zero(&a) || is_zero(&b) => Expr::Num(0.0),
            (a, b) => Expr::Mul(Box::new(a), Box::new(b)),
        },
        Expr::Div(a, b) => match (r(a), r(b)) {
            (a, _) if is_zero(&a) => Expr::Num(0.0),
            (a, b) => Expr::Div(Box::new(a), Box::new(b)),
        },
        Expr::Pow(a, b) => Expr::Pow(Box::new(r(a)), Box::new(r(b))),
        Expr::Call(f, a) => Expr::Call(*f, Box::new(r(a))),
    }
}

/// `c·m` as a left-associated product (`c*x*z`, not `c*(x*z)`).
fn times(c: Expr, m: &Expr) -> Expr {
    match m {
        Expr::Mul(a, b) => Expr::Mul(Box::new(times(c, a)), b.clone()),
        _ => Expr::Mul(Box::new(c), Box::new(m.clone())),
    }
}

impl System {
    /// The system of a model file: library terms with rounded coefficients; or the template
    /// equations with the parameters as names and their values rounded; or, for a file without
    /// either, its equations as written.
    pub fn from_model(m: &ModelFile, precision: Precision) -> Result<System, ExportError> {
        let parse = |what: String, src: &str| {
            parse_expr(src).map_err(|e| ExportError::Parse {
                what,
                offset: e.offset,
                message: e.message,
            })
        };
        let mut params = Vec::new();
        let equations: Vec<Expr> = if !m.terms.is_empty() {
            m.terms
                .iter()
                .map(|ts| {
                    let t: Vec<(&str, f64, f64)> = ts
                        .iter()
                        .map(|t| (t.name.as_str(), t.value, t.std_error))
                        .collect();
                    library_equation(&t, precision)
                })
                .collect::<Result<_, _>>()?
        } else {
            let sources = m.template.as_ref().unwrap_or(&m.equations);
            // Parameters fitted (or fixed) to exactly zero take their terms with them.
            let zero: Vec<&str> = m
                .params
                .iter()
                .filter(|(_, v)| *v == 0.0)
                .map(|(n, _)| n.as_str())
                .collect();
            let eqs: Vec<Expr> = m
                .states
                .iter()
                .zip(sources)
                .map(|(s, src)| {
                    parse(format!("equation of {s}"), src).map(|e| without_zero_terms(&e, &zero))
                })
                .collect::<Result<_, _>>()?;
            for (k, (name, v)) in m.params.iter().enumerate() {
                if eqs.iter().any(|e| e.vars().contains(&name.as_str())) {
                    let se = m.param_std_errors.get(k).copied().unwrap_or(f64::NAN);
                    let v = match precision {
                        Precision::StandardError => round_to_se(*v, se),
                        Precision::Full => *v,
                    };
                    params.push((name.clone(), v, se));
                }
            }
            eqs
        };
        let experiments = m
            .experiments
            .iter()
            .map(|e| ExportExperiment {
                constants: m
                    .constants
                    .iter()
                    .cloned()
                    .zip(e.constants.iter().copied())
                    .collect(),
                t0: e.t0,
                t_end: e.t_end,
                initial: e.initial.clone(),
            })
            .collect();
        Ok(System {
            name: m.name.clone(),
            states: m.states.clone(),
            hidden: m.states.iter().map(|s| m.hidden.contains(s)).collect(),
            params,
            constants: m.constants.clone(),
            experiments,
            equations,
            precision,
        })
    }

    /// Every name of the parameter vector `p`: parameters, then constants.
    pub(super) fn p_names(&self) -> Vec<&str> {
        self.params
            .iter()
            .map(|(n, _, _)| n.as_str())
            .chain(self.constants.iter().map(String::as_str))
            .collect()
    }

    /// The values of `p`: parameters, then the first experiment's constants (NaN when unknown).
    pub(super) fn p_values(&self) -> Vec<f64> {
        let first = self.experiments.first();
        self.params
            .iter()
            .map(|(_, v, _)| *v)
            .chain(self.constants.iter().enumerate().map(|(k, _)| {
                first
                    .and_then(|e| e.constants.get(k))
                    .map_or(f64::NAN, |c| c.1)
            }))
            .collect()
    }
}
