//! The expression printer every notation shares: the code of each language, LaTeX and MathML
//! differ in their symbols, literals and functions, not in where parentheses go. A notation
//! says how it writes each part ([`Notation`]); [`print`] puts the parts together with the
//! fewest parentheses, by the binding strengths of `Expr`'s own printing.

use odenet_spec::{Expr, Func};

/// How one notation writes the parts of an expression.
pub(super) trait Notation {
    /// The signs of `-a`, `a + b` and `a - b`.
    const NEG: &'static str;
    const PLUS: &'static str;
    const MINUS: &'static str;
    /// The sign of a product `a·b`, and the one written when `b` begins with a digit (so that
    /// two numbers do not run together).
    const TIMES: [&'static str; 2];

    /// An operand in parentheses.
    fn paren(&self, s: &str) -> String;
    fn num(&self, v: f64) -> String;
    fn var(&self, name: &str) -> String;
    fn div(&self, a: &Expr, b: &Expr) -> String;
    fn pow(&self, a: &Expr, b: &Expr) -> String;
    fn call(&self, f: Func, a: &Expr) -> String;
}

/// `e` in notation `n`.
pub(super) fn print<N: Notation>(n: &N, e: &Expr) -> String {
    match e {
        Expr::Num(v) => n.num(*v),
        Expr::Var(name) => n.var(name),
        Expr::Neg(a) => format!("{}{}", N::NEG, operand(n, a, 3)),
        Expr::Add(a, b) => format!("{}{}{}", operand(n, a, 1), N::PLUS, operand(n, b, 2)),
        Expr::Sub(a, b) => format!("{}{}{}", operand(n, a, 1), N::MINUS, operand(n, b, 2)),
        Expr::Mul(a, b) => {
            let digit = starts_with_number(b) && b.prec() >= 3;
            let times = N::TIMES[usize::from(digit)];
            format!("{}{times}{}", operand(n, a, 2), operand(n, b, 3))
        }
        Expr::Div(a, b) => n.div(a, b),
        Expr::Pow(a, b) => n.pow(a, b),
        Expr::Call(f, a) => n.call(*f, a),
    }
}

/// `e` at a place that needs binding strength `min`: in parentheses when it binds looser.
pub(super) fn operand<N: Notation>(n: &N, e: &Expr, min: u8) -> String {
    let s = print(n, e);
    if e.prec() < min { n.paren(&s) } else { s }
}

/// Whether an expression's printed form starts with a digit (so a product before it needs a
/// visible sign in the typeset notations).
fn starts_with_number(e: &Expr) -> bool {
    match e {
        Expr::Num(_) => true,
        Expr::Mul(a, _) | Expr::Div(a, _) | Expr::Pow(a, _) => starts_with_number(a),
        _ => false,
    }
}
