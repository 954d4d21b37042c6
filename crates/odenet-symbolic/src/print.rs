//! Printing a DAG root as readable infix (re-parsable by the spec parser) or LaTeX, and the
//! conveniences built on it: `odenet simplify EXPR` and fitted equations with numbers.
//!
//! Printing normalises the *presentation* only: sums are flattened and their terms sorted
//! (graded by the states' total degree, then in the canonical monomial order of
//! [`crate::library::monomials`], then by text), products are flattened with their numeric
//! factors multiplied into one leading coefficient, and signs are pulled out so that
//! `a + -1*b` prints as `a - b` and `-1*x` as `-x`. Numbers use Rust's shortest round-trip
//! formatting, so printing and re-parsing gives back the same `f64` values.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use odenet_spec::{Expr, Func};

use crate::error::SymbolicError;
use crate::simplify::{Simplified, SimplifyOptions, simplify};
use crate::{Dag, Node, NodeId, Symbols};

/// A presentation tree: what is printed, independent of the output syntax.
#[derive(Clone, Debug)]
enum P {
    Num(f64),
    Name(String),
    /// At least two terms, each with its sign (`true` = subtracted).
    Sum(Vec<(bool, P)>),
    /// At least two factors; a numeric coefficient, if any, comes first.
    Prod(Vec<P>),
    Neg(Box<P>),
    Div(Box<P>, Box<P>),
    Pow(Box<P>, Box<P>),
    Call(Func, Box<P>),
}

/// One term of a sum with its sort key.
struct Term {
    neg: bool,
    p: P,
    /// Exponent of every state in the term's monomial part.
    exps: Vec<u32>,
    /// The printed non-monomial, non-numeric factors.
    rest: String,
}

struct Builder<'a> {
    dag: &'a Dag,
    syms: &'a Symbols,
}

/// Sort key of a factor inside a product: numbers, then constants, parameters and states in
/// declaration order (a power right after its base), then anything else by its text.
type FactorKey = (u8, u32, i32, String);

/// Sort key of a term inside a sum: total degree in the states, the exponents (larger first,
/// as in the canonical monomial order), the other factors' text, the whole term's text.
type SumKey = (usize, Reverse<Vec<u32>>, String, String);

impl Builder<'_> {
    fn node(&self, id: NodeId) -> Option<Node> {
        self.dag.nodes.get(id as usize).copied()
    }

    fn name(&self, node: &Node) -> P {
        match self.syms.name(node) {
            Some(n) => P::Name(n.to_string()),
            // A leaf outside the symbol lists (a DAG built by hand) still prints as something
            // recognisable rather than panicking.
            None => P::Name(format!("{node:?}").to_lowercase().replace(['(', ')'], "")),
        }
    }

    /// The presentation of a whole expression.
    fn expr(&self, id: NodeId) -> P {
        match self.node(id) {
            Some(Node::Add(..) | Node::Sub(..)) => self.sum(id),
            _ => {
                let t = self.term(id);
                if t.neg { P::Neg(Box::new(t.p)) } else { t.p }
            }
        }
    }

    fn sum(&self, id: NodeId) -> P {
        let mut terms = Vec::new();
        self.sum_terms(id, false, &mut terms);
        let mut keyed: Vec<(SumKey, Term)> = terms
            .into_iter()
            .map(|t| {
                let deg = t.exps.iter().map(|&e| e as usize).sum();
                let text = to_text(&t.p, false);
                ((deg, Reverse(t.exps.clone()), t.rest.clone(), text), t)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        P::Sum(keyed.into_iter().map(|(_, t)| (t.neg, t.p)).collect())
    }

    fn sum_terms(&self, id: NodeId, neg: bool, out: &mut Vec<Term>) {
        match self.node(id) {
            Some(Node::Add(a, b)) => {
                self.sum_terms(a, neg, out);
                self.sum_terms(b, neg, out);
            }
            Some(Node::Sub(a, b)) => {
                self.sum_terms(a, neg, out);
                self.sum_terms(b, !neg, out);
            }
            Some(Node::Neg(a)) => self.sum_terms(a, !neg, out),
            _ => {
                let mut t = self.term(id);
                t.neg ^= neg;
                out.push(t);
            }
        }
    }

    /// A signed non-sum expression (a product, a power, a leaf, ...).
    fn term(&self, id: NodeId) -> Term {
        let mut neg = false;
        let mut coefs: Vec<f64> = Vec::new();
        let mut factors: Vec<(FactorKey, P)> = Vec::new();
        let mut exps = vec![0u32; self.syms.states.len()];
        self.product(id, &mut neg, &mut coefs, &mut factors, &mut exps);
        factors.sort_by(|a, b| a.0.cmp(&b.0));
        let rest: Vec<String> = factors
            .iter()
            .filter(|(k, _)| k.0 != 3 || k.2 <= 0)
            .map(|(_, p)| to_text(p, false))
            .collect();
        // Numeric factors become one coefficient when their product is finite.
        let product: f64 = coefs.iter().product();
        let mut nums: Vec<P> = if product.is_finite() {
            if (product - 1.0).abs() > 0.0 || factors.is_empty() {
                vec![P::Num(product)]
            } else {
                Vec::new()
            }
        } else {
            coefs.into_iter().map(P::Num).collect()
        };
        nums.extend(factors.into_iter().map(|(_, p)| p));
        let p = if nums.len() == 1 {
            nums.pop().unwrap_or(P::Num(1.0))
        } else {
            P::Prod(nums)
        };
        Term {
            neg,
            p,
            exps,
            rest: rest.join("*"),
        }
    }

    fn product(
        &self,
        id: NodeId,
        neg: &mut bool,
        coefs: &mut Vec<f64>,
        factors: &mut Vec<(FactorKey, P)>,
        exps: &mut [u32],
    ) {
        let Some(node) = self.node(id) else {
            factors.push((
                (5, 0, 0, String::new()),
                P::Name(format!("<invalid node {id}>")),
            ));
            return;
        };
        match node {
            Node::Mul(a, b) => {
                self.product(a, neg, coefs, factors, exps);
                self.product(b, neg, coefs, factors, exps);
            }
            Node::Neg(a) => {
                *neg = !*neg;
                self.product(a, neg, coefs, factors, exps);
            }
            Node::Num(v) => {
                if v < 0.0 {
                    *neg = !*neg;
                }
                coefs.push(v.abs());
            }
            Node::Const(i) => factors.push(((1, i, 1, String::new()), self.name(&node))),
            Node::Param(i) => factors.push(((2, i, 1, String::new()), self.name(&node))),
            Node::State(i) => {
                if let Some(e) = exps.get_mut(i as usize) {
                    *e += 1;
                }
                factors.push(((3, i, 1, String::new()), self.name(&node)));
            }
            Node::PowI(a, k) => {
                let base = self.node(a);
                let p = P::Pow(Box::new(self.expr(a)), Box::new(P::Num(f64::from(k))));
                let key = match base {
                    Some(Node::Const(i)) => (1, i, k, String::new()),
                    Some(Node::Param(i)) => (2, i, k, String::new()),
                    Some(Node::State(i)) => {
                        if k > 0
                            && let Some(e) = exps.get_mut(i as usize)
                        {
                            *e += k.unsigned_abs();
                        }
                        (3, i, k, String::new())
                    }
                    _ => (4, 0, 0, to_text(&p, false)),
                };
                factors.push((key, p));
            }
            _ => {
                let p = self.atom(node, id);
                factors.push(((4, 0, 0, to_text(&p, false)), p));
            }
        }
    }

    /// A node that is neither a product, a negation, a number nor a leaf.
    fn atom(&self, node: Node, id: NodeId) -> P {
        let e = |k: NodeId| Box::new(self.expr(k));
        match node {
            Node::Add(..) | Node::Sub(..) => self.sum(id),
            Node::Div(a, b) => P::Div(e(a), e(b)),
            Node::Pow(a, b) => P::Pow(e(a), e(b)),
            Node::Exp(a) => P::Call(Func::Exp, e(a)),
            Node::Log(a) => P::Call(Func::Log, e(a)),
            Node::Sin(a) => P::Call(Func::Sin, e(a)),
            Node::Cos(a) => P::Call(Func::Cos, e(a)),
            Node::Sqrt(a) => P::Call(Func::Sqrt, e(a)),
            // Products, negations, numbers and leaves are handled by `product`; a leaf
            // reaching here still prints by name.
            _ => self.name(&node),
        }
    }
}

/// Binding strength of a presentation node: 1 sum, 2 unary minus (and negative numbers),
/// 3 product and quotient, 5 power, 6 atoms.
fn prec(p: &P, latex: bool) -> u8 {
    match p {
        P::Sum(_) => 1,
        P::Neg(_) => 2,
        P::Num(v) if *v < 0.0 || !v.is_finite() => 2,
        P::Prod(_) => 3,
        P::Div(..) if latex => 6,
        P::Div(..) => 3,
        P::Pow(..) => 5,
        P::Num(_) | P::Name(_) | P::Call(..) => 6,
    }
}

fn to_text(p: &P, latex: bool) -> String {
    let mut s = String::new();
    render(p, latex, &mut s);
    s
}

/// Renders `p`, in parentheses when it binds less tightly than `min`.
fn render_at(p: &P, min: u8, latex: bool, out: &mut String) {
    if prec(p, latex) < min {
        out.push_str(if latex { "\\left(" } else { "(" });
        render(p, latex, out);
        out.push_str(if latex { "\\right)" } else { ")" });
    } else {
        render(p, latex, out);
    }
}

fn render(p: &P, latex: bool, out: &mut String) {
    match p {
        P::Num(v) => out.push_str(&if latex { latex_num(*v) } else { infix_num(*v) }),
        P::Name(n) => out.push_str(&if latex { latex_name(n) } else { n.clone() }),
        P::Sum(terms) => {
            for (i, (neg, t)) in terms.iter().enumerate() {
                match (i, neg) {
                    (0, false) => {}
                    (0, true) => out.push('-'),
                    (_, false) => out.push_str(" + "),
                    (_, true) => out.push_str(" - "),
                }
                render_at(t, 3, latex, out);
            }
        }
        P::Neg(a) => {
            out.push('-');
            render_at(a, 3, latex, out);
        }
        P::Prod(fs) => {
            for (i, f) in fs.iter().enumerate() {
                if i > 0 {
                    out.push_str(if latex { " \\cdot " } else { "*" });
                }
                render_at(f, 3, latex, out);
            }
        }
        P::Div(a, b) => {
            if latex {
                out.push_str("\\frac{");
                render(a, latex, out);
                out.push_str("}{");
                render(b, latex, out);
                out.push('}');
            } else {
                render_at(a, 3, latex, out);
                out.push('/');
                render_at(b, 4, latex, out);
            }
        }
        P::Pow(a, b) => {
            // A power as a base is parenthesised: `^` associates differently across readers.
            let base_min = if latex && matches!(**a, P::Div(..)) {
                7
            } else {
                6
            };
            render_at(a, base_min, latex, out);
            if latex {
                out.push_str("^{");
                render(b, latex, out);
                out.push('}');
            } else {
                out.push('^');
                render_at(b, 6, latex, out);
            }
        }
        P::Call(f, a) => {
            let name = match f {
                Func::Exp => "exp",
                Func::Log => "log",
                Func::Sin => "sin",
                Func::Cos => "cos",
                Func::Sqrt => "sqrt",
            };
            if latex {
                if *f == Func::Sqrt {
                    out.push_str("\\sqrt{");
                    render(a, latex, out);
                    out.push('}');
                } else {
                    let _ = write!(out, "\\{name}\\left(");
                    render(a, latex, out);
                    out.push_str("\\right)");
                }
            } else {
                out.push_str(name);
                out.push('(');
                render(a, latex, out);
                out.push(')');
            }
        }
    }
}

/// Shortest round-trip formatting; scientific notation outside [1e-5, 1e16) so that tiny and
/// huge numbers stay short. Non-finite values (only possible in a DAG built by hand) print as
/// expressions that evaluate to them.
fn infix_num(v: f64) -> String {
    if v.is_nan() {
        "(0/0)".to_string()
    } else if v.is_infinite() {
        if v > 0.0 {
            "(1/0)".to_string()
        } else {
            "(-1/0)".to_string()
        }
    } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{}", if v == 0.0 { 0.0 } else { v })
    } else {
        format!("{v:e}")
    }
}

fn latex_num(v: f64) -> String {
    let s = infix_num(v);
    match s.split_once('e') {
        Some(("1", exp)) => format!("10^{{{exp}}}"),
        Some((mantissa, exp)) => format!("{mantissa} \\cdot 10^{{{exp}}}"),
        None if v.is_finite() => s,
        None => "\\mathrm{NaN}".to_string(),
    }
}

const GREEK: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma",
    "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
];

/// `a10` → `a_{10}`, `m_tot` → `m_{\mathrm{tot}}`, `kcat` → `\mathrm{kcat}`, `beta` → `\beta`.
fn latex_name(name: &str) -> String {
    let base_of = |b: &str| -> String {
        if GREEK.contains(&b) {
            format!("\\{b}")
        } else if b.chars().count() > 1 {
            format!("\\mathrm{{{}}}", b.replace('_', "\\_"))
        } else {
            b.to_string()
        }
    };
    if let Some((base, sub)) = name.split_once('_')
        && !base.is_empty()
        && !sub.is_empty()
    {
        return format!("{}_{{{}}}", base_of(base), base_of(sub));
    }
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && digits < name.len() {
        let (base, sub) = name.split_at(name.len() - digits);
        return format!("{}_{{{sub}}}", base_of(base));
    }
    base_of(name)
}

impl Dag {
    fn present(&self, root: NodeId, syms: &Symbols) -> P {
        // A malformed DAG (its fields are public) could make the printer recurse forever.
        if let Err(e) = self.check(syms) {
            return P::Name(format!("<invalid DAG: {e}>"));
        }
        if (root as usize) < self.nodes.len() {
            Builder { dag: self, syms }.expr(root)
        } else {
            P::Name(format!("<invalid node {root}>"))
        }
    }

    /// The expression at `root` as readable infix with minimal parentheses, re-parsable by
    /// `odenet_spec::parse_expr`. A root outside the DAG prints as `<invalid node N>`.
    pub fn to_infix(&self, root: NodeId, syms: &Symbols) -> String {
        to_text(&self.present(root, syms), false)
    }

    /// The expression at `root` as LaTeX (`\frac`, `^{}`, `\cdot`, `\exp`, `\sqrt{}`).
    pub fn to_latex(&self, root: NodeId, syms: &Symbols) -> String {
        to_text(&self.present(root, syms), true)
    }
}

impl Simplified {
    /// Every root of the simplified system as infix, in root order.
    pub fn to_infix(&self, syms: &Symbols) -> Vec<String> {
        self.dag
            .roots
            .iter()
            .map(|&r| self.dag.to_infix(r, syms))
            .collect()
    }
}

/// Collects the names an expression uses, sorted.
fn names(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Num(_) => {}
        Expr::Var(n) => {
            out.insert(n.clone());
        }
        Expr::Neg(a) | Expr::Call(_, a) => names(a, out),
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) | Expr::Pow(a, b) => {
            names(a, out);
            names(b, out);
        }
    }
}

/// Simplifies one expression given as text (`odenet simplify EXPR`): every name is a free
/// symbol (taken as a state, in alphabetical order); prints infix, or LaTeX with `latex`.
pub fn simplify_str(src: &str, latex: bool) -> Result<String, SymbolicError> {
    let expr = odenet_spec::parse_expr(src)?;
    let mut set = BTreeSet::new();
    names(&expr, &mut set);
    let syms = Symbols {
        states: set.into_iter().collect(),
        ..Symbols::default()
    };
    let s = simplify(
        std::slice::from_ref(&expr),
        &syms,
        &SimplifyOptions::default(),
    )?;
    let root = s.dag.roots.first().copied().unwrap_or_default();
    Ok(if latex {
        s.dag.to_latex(root, &syms)
    } else {
        s.dag.to_infix(root, &syms)
    })
}

/// Replaces every name that has a value by that number (names without a value stay). Simplify
/// the result to print fitted equations with their numbers: zero terms drop out, so
/// `a1*m + a2*m^2` with a1 = 0.5, a2 = 0 prints as `0.5*m`.
pub fn substitute_params<'a>(
    exprs: &[Expr],
    values: impl IntoIterator<Item = (&'a str, f64)>,
) -> Vec<Expr> {
    let map: HashMap<&str, f64> = values.into_iter().collect();
    fn go(e: &Expr, map: &HashMap<&str, f64>) -> Expr {
        let b = |x: &Expr| Box::new(go(x, map));
        match e {
            Expr::Num(v) => Expr::Num(*v),
            Expr::Var(n) => map
                .get(n.as_str())
                .map_or_else(|| Expr::Var(n.clone()), |&v| Expr::Num(v)),
            Expr::Neg(a) => Expr::Neg(b(a)),
            Expr::Add(x, y) => Expr::Add(b(x), b(y)),
            Expr::Sub(x, y) => Expr::Sub(b(x), b(y)),
            Expr::Mul(x, y) => Expr::Mul(b(x), b(y)),
            Expr::Div(x, y) => Expr::Div(b(x), b(y)),
            Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
            Expr::Call(f, a) => Expr::Call(*f, b(a)),
        }
    }
    exprs.iter().map(|e| go(e, &map)).collect()
}

/// Prints an expression tree as infix in the same style as [`Dag::to_infix`] (used for the
/// names of extra library terms). Every name is printed as written.
pub fn expr_to_infix(e: &Expr) -> String {
    let mut set = BTreeSet::new();
    names(e, &mut set);
    let syms = Symbols {
        states: set.into_iter().collect(),
        ..Symbols::default()
    };
    match Dag::from_exprs(std::slice::from_ref(e), &syms) {
        Ok(dag) => dag.to_infix(dag.roots.first().copied().unwrap_or_default(), &syms),
        // Only a non-finite literal can fail here; say so in the name rather than hide it.
        Err(err) => format!("<{err}>"),
    }
}
