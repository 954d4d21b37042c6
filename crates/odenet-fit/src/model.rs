//! A spec's candidate model compiled for fitting and simulation: the tape (template mode) or the
//! feature library (library mode), the parameter table, and printing with fitted numbers.

use odenet_spec::{Expr, ModelSpec, ParamSpec, Spec};
use odenet_symbolic::{Dag, Symbols};
use odenet_tape::{Features, LibraryRhs, OdeRhs, Tape, TemplateRhs};

use crate::result::FitError;

/// How f is evaluated.
#[derive(Debug)]
pub enum ModelKind {
    /// f = Θ·φ(x): parameters are Θ row-major (state × feature).
    Library {
        features: Features,
        /// Canonical names of the features (monomials, then extra terms as written).
        feature_names: Vec<String>,
        /// Exponent vectors of the polynomial features (extra features have none).
        exponents: Vec<Vec<u32>>,
        /// The extra candidate terms, after the polynomial ones.
        extra: Vec<Expr>,
    },
    /// f given by the spec's equations, compiled from the simplified DAG.
    Template { tape: Tape, equations: Vec<Expr> },
}

/// A model ready to evaluate.
#[derive(Debug)]
pub struct CompiledModel {
    pub name: String,
    pub states: Vec<String>,
    pub hidden: Vec<bool>,
    pub constants: Vec<String>,
    pub params: Vec<ParamSpec>,
    pub kind: ModelKind,
}

/// The right-hand side of a compiled model for one experiment (its constants bound).
pub enum ModelRhs<'a> {
    Library(LibraryRhs<'a>),
    Template(TemplateRhs<'a>),
}

impl OdeRhs for ModelRhs<'_> {
    fn nstates(&self) -> usize {
        match self {
            ModelRhs::Library(r) => r.nstates(),
            ModelRhs::Template(r) => r.nstates(),
        }
    }
    fn nparams(&self) -> usize {
        match self {
            ModelRhs::Library(r) => r.nparams(),
            ModelRhs::Template(r) => r.nparams(),
        }
    }
    fn scratch_len(&self) -> usize {
        match self {
            ModelRhs::Library(r) => r.scratch_len(),
            ModelRhs::Template(r) => r.scratch_len(),
        }
    }
    fn rhs(&self, x: &[f64], p: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        match self {
            ModelRhs::Library(r) => r.rhs(x, p, scratch, f),
            ModelRhs::Template(r) => r.rhs(x, p, scratch, f),
        }
    }
    fn rhs_jac(
        &self,
        x: &[f64],
        p: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        match self {
            ModelRhs::Library(r) => r.rhs_jac(x, p, scratch, f, jx, jp),
            ModelRhs::Template(r) => r.rhs_jac(x, p, scratch, f, jx, jp),
        }
    }
}

impl CompiledModel {
    /// Per state, whether the right-hand side is defined only for non-negative values of it: the
    /// state is the base of a power whose exponent is not a whole number (a Hill function
    /// p^n), or the argument of a square root or logarithm. A concentration measured near zero
    /// may read negative through noise; a piece started there could not be integrated at all.
    pub fn nonnegative_states(&self) -> Vec<bool> {
        let mut out = vec![false; self.states.len()];
        let exprs: &[Expr] = match &self.kind {
            ModelKind::Template { equations, .. } => equations,
            ModelKind::Library { extra, .. } => extra,
        };
        for e in exprs {
            mark_nonnegative(e, &self.states, &mut out);
        }
        out
    }

    /// Compiles the candidate model of a validated spec.
    pub fn from_spec(spec: &Spec) -> Result<CompiledModel, FitError> {
        match &spec.model {
            ModelSpec::Library { order, extra } => Self::library(
                &spec.name,
                &spec.states,
                &spec.hidden,
                &spec.constants,
                *order,
                extra,
            ),
            ModelSpec::Template {
                params, equations, ..
            } => Self::template(
                &spec.name,
                &spec.states,
                &spec.hidden,
                &spec.constants,
                params.clone(),
                equations.clone(),
            ),
        }
    }

    pub fn library(
        name: &str,
        states: &[String],
        hidden: &[bool],
        constants: &[String],
        order: u32,
        extra: &[Expr],
    ) -> Result<CompiledModel, FitError> {
        let n = states.len();
        let exponents = odenet_symbolic::library::monomials(n, order);
        let mut feature_names: Vec<String> = exponents
            .iter()
            .map(|e| odenet_symbolic::library::monomial_name(e, states))
            .collect();
        let mut features = Features::polynomial(n, order)?;
        if !extra.is_empty() {
            let syms = Symbols {
                states: states.to_vec(),
                params: vec![],
                consts: vec![],
            };
            let dag = Dag::from_exprs(extra, &syms)?;
            let tape = Tape::compile(&dag, n, 0, 0)?;
            features = features.with_extra(tape)?;
            feature_names.extend(extra.iter().map(|e| e.to_string()));
        }
        let nf = features.nfeatures();
        let mut params = Vec::with_capacity(n * nf);
        for s in states {
            for fname in &feature_names {
                params.push(ParamSpec {
                    name: library_param_name(s, fname),
                    init: 0.0,
                    fixed: false,
                    min: None,
                    max: None,
                    sparse: true,
                });
            }
        }
        let kind = ModelKind::Library {
            features,
            feature_names,
            exponents,
            extra: extra.to_vec(),
        };
        Ok(Self::new(name, (states, hidden, constants), params, kind))
    }

    pub fn template(
        name: &str,
        states: &[String],
        hidden: &[bool],
        constants: &[String],
        params: Vec<ParamSpec>,
        equations: Vec<Expr>,
    ) -> Result<CompiledModel, FitError> {
        let syms = Symbols {
            states: states.to_vec(),
            params: params.iter().map(|p| p.name.clone()).collect(),
            consts: constants.to_vec(),
        };
        let simplified = odenet_symbolic::simplify(
            &equations,
            &syms,
            &odenet_symbolic::SimplifyOptions::default(),
        )?;
        let tape = Tape::compile(&simplified.dag, states.len(), params.len(), constants.len())?;
        let kind = ModelKind::Template { tape, equations };
        Ok(Self::new(name, (states, hidden, constants), params, kind))
    }

    /// A model of the named states (and which are hidden) and constants.
    fn new(
        name: &str,
        (states, hidden, constants): (&[String], &[bool], &[String]),
        params: Vec<ParamSpec>,
        kind: ModelKind,
    ) -> CompiledModel {
        CompiledModel {
            name: name.to_string(),
            states: states.to_vec(),
            hidden: hidden.to_vec(),
            constants: constants.to_vec(),
            params,
            kind,
        }
    }

    pub fn nstates(&self) -> usize {
        self.states.len()
    }

    pub fn nparams(&self) -> usize {
        self.params.len()
    }

    pub fn is_library(&self) -> bool {
        matches!(self.kind, ModelKind::Library { .. })
    }

    /// The right-hand side with one experiment's constants bound.
    pub fn rhs<'a>(&'a self, consts: &'a [f64]) -> ModelRhs<'a> {
        match &self.kind {
            ModelKind::Library { features, .. } => ModelRhs::Library(LibraryRhs { features }),
            ModelKind::Template { tape, .. } => ModelRhs::Template(TemplateRhs { tape, consts }),
        }
    }

    /// The number of features per equation (library mode), else 0.
    pub fn nfeatures(&self) -> usize {
        match &self.kind {
            ModelKind::Library { feature_names, .. } => feature_names.len(),
            ModelKind::Template { .. } => 0,
        }
    }

    /// The equations with the parameter values `p` (user units) substituted, as expressions.
    /// Zero library terms are left out.
    pub fn equations_with(&self, p: &[f64]) -> Vec<Expr> {
        match &self.kind {
            ModelKind::Library {
                feature_names,
                exponents,
                extra,
                ..
            } => {
                let nf = feature_names.len();
                (0..self.nstates())
                    .map(|i| {
                        let mut sum: Option<Expr> = None;
                        for j in 0..nf {
                            let c = p[i * nf + j];
                            if c == 0.0 {
                                continue;
                            }
                            let term = match exponents.get(j) {
                                Some(e) => monomial_expr(e, &self.states),
                                None => Some(extra[j - exponents.len()].clone()),
                            };
                            let t = match term {
                                None => Expr::Num(c),
                                Some(m) => Expr::Mul(Box::new(Expr::Num(c)), Box::new(m)),
                            };
                            sum = Some(match sum {
                                None => t,
                                Some(s) => Expr::Add(Box::new(s), Box::new(t)),
                            });
                        }
                        sum.unwrap_or(Expr::Num(0.0))
                    })
                    .collect()
            }
            ModelKind::Template { equations, .. } => {
                let names: Vec<&str> = self.params.iter().map(|q| q.name.as_str()).collect();
                equations.iter().map(|e| substitute(e, &names, p)).collect()
            }
        }
    }

    /// The equations with `p` substituted, simplified through egg and printed in infix (or LaTeX).
    pub fn equation_strings(&self, p: &[f64], latex: bool) -> Vec<String> {
        let exprs = self.equations_with(p);
        let syms = Symbols {
            states: self.states.clone(),
            params: vec![],
            consts: self.constants.clone(),
        };
        let opts = odenet_symbolic::SimplifyOptions::default();
        match odenet_symbolic::simplify(&exprs, &syms, &opts) {
            Ok(s) => s
                .dag
                .roots
                .iter()
                .map(|&r| {
                    if latex {
                        s.dag.to_latex(r, &syms)
                    } else {
                        s.dag.to_infix(r, &syms)
                    }
                })
                .collect(),
            Err(_) => exprs.iter().map(|e| e.to_string()).collect(),
        }
    }
}

fn monomial_expr(exps: &[u32], states: &[String]) -> Option<Expr> {
    let mut out: Option<Expr> = None;
    for (i, &e) in exps.iter().enumerate() {
        if e == 0 {
            continue;
        }
        let v = Expr::Var(states[i].clone());
        let f = if e == 1 {
            v
        } else {
            Expr::Pow(Box::new(v), Box::new(Expr::Num(e as f64)))
        };
        out = Some(match out {
            None => f,
            Some(o) => Expr::Mul(Box::new(o), Box::new(f)),
        });
    }
    out
}

/// Replaces every parameter name by its value.
pub fn substitute(e: &Expr, names: &[&str], values: &[f64]) -> Expr {
    let s = |x: &Expr| Box::new(substitute(x, names, values));
    match e {
        Expr::Num(v) => Expr::Num(*v),
        Expr::Var(v) => match names.iter().position(|n| n == v) {
            Some(k) => Expr::Num(values[k]),
            None => Expr::Var(v.clone()),
        },
        Expr::Neg(a) => Expr::Neg(s(a)),
        Expr::Add(a, b) => Expr::Add(s(a), s(b)),
        Expr::Sub(a, b) => Expr::Sub(s(a), s(b)),
        Expr::Mul(a, b) => Expr::Mul(s(a), s(b)),
        Expr::Div(a, b) => Expr::Div(s(a), s(b)),
        Expr::Pow(a, b) => Expr::Pow(s(a), s(b)),
        Expr::Call(f, a) => Expr::Call(*f, s(a)),
    }
}

/// The name of a library coefficient: term `term` of state `state`'s equation, `d<state>/dt[<term>]`.
pub fn library_param_name(state: &str, term: &str) -> String {
    format!("d{state}/dt[{term}]")
}

/// Marks the states `e` needs non-negative (see `CompiledModel::nonnegative_states`).
fn mark_nonnegative(e: &Expr, states: &[String], out: &mut [bool]) {
    let mut mark = |base: &Expr| {
        if let Expr::Var(name) = base
            && let Some(i) = states.iter().position(|s| s == name)
        {
            out[i] = true;
        }
    };
    match e {
        Expr::Pow(base, exp) => {
            if !matches!(**exp, Expr::Num(k) if k.fract() == 0.0) {
                mark(base);
            }
            mark_nonnegative(base, states, out);
            mark_nonnegative(exp, states, out);
        }
        Expr::Call(f, arg) => {
            if matches!(f, odenet_spec::Func::Sqrt | odenet_spec::Func::Log) {
                mark(arg);
            }
            mark_nonnegative(arg, states, out);
        }
        Expr::Neg(a) => mark_nonnegative(a, states, out),
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
            mark_nonnegative(a, states, out);
            mark_nonnegative(b, states, out);
        }
        Expr::Num(_) | Expr::Var(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use odenet_spec::{Spec, Table};

    use super::*;
    use crate::problem::Problem;
    use crate::solve_options;

    fn spec(text: &str) -> Spec {
        Spec::from_str(text, Path::new("t.toml")).expect("spec")
    }

    /// Bases of fractional or parameter powers and arguments of sqrt and log need non-negative
    /// values; whole powers, exp and plain products do not.
    #[test]
    fn states_under_fractional_powers_sqrt_and_log_are_nonnegative() {
        let s = spec(
            "states = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]\n[params]\nn = 2.0\nk = 1.0\n\
             [equations]\na = \"k/(1 + b^n)\"\nb = \"sqrt(c) - a^2\"\nc = \"log(d) + exp(e)\"\n\
             d = \"a*b^3\"\ne = \"f^0.5\"\nf = \"-f\"\n",
        );
        let m = CompiledModel::from_spec(&s).expect("model");
        assert_eq!(
            m.nonnegative_states(),
            vec![false, true, true, true, false, true]
        );
    }

    /// A noisy start below zero of such a state starts the piece at zero; other states keep
    /// their reading.
    #[test]
    fn a_negative_reading_of_a_nonnegative_state_starts_at_zero() {
        let s = spec(
            "states = [\"m\", \"p\"]\n[params]\nn = 2.0\na = 1.0\n[equations]\n\
             m = \"a/(1 + p^n) - m\"\np = \"m - p\"\n",
        );
        let m = CompiledModel::from_spec(&s).expect("model");
        let times: Vec<f64> = (0..10).map(|k| k as f64 * 0.1).collect();
        let table = Table {
            file: "d.csv".into(),
            times: times.clone(),
            values: vec![
                times.iter().map(|t| -0.1 + t).collect(),
                times.iter().map(|t| -0.05 + t).collect(),
            ],
        };
        let prob = Problem::new(&m, &s, &[table], solve_options(&s)).expect("problem");
        assert_eq!(prob.nonnegative, vec![false, true]);
        assert!(prob.x0[0] < 0.0, "m keeps its reading: {:?}", prob.x0);
        assert!(
            prob.x0[1] == 0.0 && prob.x0[1].is_sign_positive(),
            "{:?}",
            prob.x0
        );
    }

    /// A trajectory through zero of a state under a fractional power is integrated with the
    /// state read as max(x, 0): x' = −1 from 0.5 crosses zero at t = 0.5, and y' = x^1.5 adds
    /// ∫₀^0.5 (0.5 − t)^1.5 dt = 0.5^2.5 / 2.5 and nothing after (without the rule, the
    /// integration fails at the crossing).
    #[test]
    fn a_state_under_a_fractional_power_is_read_as_zero_below_zero() {
        let s = spec(
            "states = [\"x\", \"y\"]\n[params]\nk = 1.0\n[equations]\n\
             x = \"-k\"\ny = \"x^1.5\"\n",
        );
        let m = CompiledModel::from_spec(&s).expect("model");
        assert_eq!(m.nonnegative_states(), vec![true, false]);
        let opts = odenet_solve::SolveOptions {
            rtol: 1e-10,
            atol: 1e-12,
            ..odenet_solve::SolveOptions::default()
        };
        let times = [0.0, 0.25, 0.5, 1.0];
        let xs = crate::simulate(&m, &[1.0], &[], &[0.5, 0.0], &times, opts).expect("integrates");
        let want = 0.5f64.powf(2.5) / 2.5;
        assert!((xs[3 * 2] + 0.5).abs() < 1e-8, "x(1) = {}", xs[6]);
        assert!((xs[2 * 2 + 1] - want).abs() < 1e-6, "y(0.5) = {}", xs[5]);
        assert!((xs[3 * 2 + 1] - want).abs() < 1e-6, "y(1) = {}", xs[7]);
    }
}
