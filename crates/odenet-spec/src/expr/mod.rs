//! Infix expressions: `+ - * / ^`, unary minus, parentheses, numbers, identifiers and
//! `exp log sin cos sqrt`.
//!
//! The grammar, from loosest to tightest binding:
//!
//! ```text
//! sum     := product (("+" | "-") product)*        left-associative
//! product := unary (("*" | "/") unary)*            left-associative
//! unary   := ("-" | "+") unary | power
//! power   := atom (("^" | "**") unary)?            right-associative: a^b^c = a^(b^c)
//! atom    := number | name | func "(" sum ")" | "(" sum ")"
//! ```
//!
//! Because `power` sits below `unary`, `-x^2` means `-(x^2)`, and the exponent may carry its own
//! sign (`x^-2`).
//!
//! This module holds the expression tree and its evaluation; `lexer` turns text into tokens,
//! `parser` builds the tree and locates errors and non-finite constants, `print` writes
//! a tree back as text.

mod lexer;
mod parser;
mod print;
#[cfg(test)]
mod tests;

pub use parser::{parse_expr, parse_expr_full, parse_expr_spanned};
pub use print::format_number;

/// A parsed expression. Names are kept as written; resolving them to states, parameters or
/// constants is the caller's job.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Exp,
    Log,
    Sin,
    Cos,
    Sqrt,
}

impl Func {
    /// Every function, in the order the documentation lists them.
    pub const ALL: [Func; 5] = [Func::Exp, Func::Log, Func::Sin, Func::Cos, Func::Sqrt];

    /// The name used in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Sqrt => "sqrt",
        }
    }

    /// The function with this name, if there is one.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Applies the function (`log` is the natural logarithm).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Sqrt => x.sqrt(),
        }
    }
}

/// The allowed function names as a comma-separated list, for messages.
fn function_list() -> String {
    Func::ALL.map(Func::name).join(", ")
}

/// A syntax error at a byte offset of the parsed text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message} (at byte {offset})")]
pub struct ExprError {
    /// Byte offset into the parsed string.
    pub offset: usize,
    /// Length of the offending token (at least 1).
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

/// One occurrence of a name in the parsed text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentSpan {
    pub name: String,
    /// Byte offset into the parsed string.
    pub offset: usize,
    /// Byte length of the name.
    pub len: usize,
}

/// Nesting deeper than this (parentheses, signs, function calls, exponents) is rejected: no real
/// model comes near it.
pub const MAX_DEPTH: usize = 256;

/// The expression tree may be at most this deep. A left-associative chain `a + b + c + …`
/// is one level deeper per term, so this is also the longest sum or product accepted. It
/// guards every recursive walk over expressions (the parser, `Display`, `eval`, `Drop`, the
/// symbolic and tape stages) against stack overflow on hostile input: the test
/// `deepest_accepted_expressions_fit_a_small_stack` runs the deepest accepted expressions
/// through them on a 1 MiB thread.
pub const MAX_TREE_DEPTH: usize = 1024;

/// A constant subexpression whose value is not a finite number (`1/0`, `log(-1)`, `exp(1000)`),
/// found while parsing.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFinite {
    /// Byte offset of the subexpression in the parsed string.
    pub offset: usize,
    /// Byte length of the subexpression.
    pub len: usize,
    /// Its value (NaN or ±∞).
    pub value: f64,
    /// Why: "division by zero", "log of a negative number", …
    pub reason: &'static str,
}

/// Everything the parser learns about a text.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub expr: Expr,
    /// Every occurrence of a variable name, in source order.
    pub idents: Vec<IdentSpan>,
    /// The smallest constant subexpressions whose value is not finite, in source order.
    pub non_finite: Vec<NonFinite>,
}

impl Expr {
    /// Distinct variable names in order of first appearance.
    pub fn vars(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        self.visit_vars(&mut |name| {
            if !out.contains(&name) {
                out.push(name);
            }
        });
        out
    }

    fn visit_vars<'a>(&'a self, f: &mut dyn FnMut(&'a str)) {
        match self {
            Expr::Num(_) => {}
            Expr::Var(n) => f(n),
            Expr::Neg(a) | Expr::Call(_, a) => a.visit_vars(f),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b) => {
                a.visit_vars(f);
                b.visit_vars(f);
            }
        }
    }

    /// Evaluates the expression; `None` when `lookup` does not know a name. Arithmetic follows
    /// IEEE rules, so `log(-1)` gives NaN: callers check finiteness where it matters.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        Some(match self {
            Expr::Num(v) => *v,
            Expr::Var(n) => lookup(n)?,
            Expr::Neg(a) => -a.eval(lookup)?,
            Expr::Add(a, b) => a.eval(lookup)? + b.eval(lookup)?,
            Expr::Sub(a, b) => a.eval(lookup)? - b.eval(lookup)?,
            Expr::Mul(a, b) => a.eval(lookup)? * b.eval(lookup)?,
            Expr::Div(a, b) => a.eval(lookup)? / b.eval(lookup)?,
            Expr::Pow(a, b) => a.eval(lookup)?.powf(b.eval(lookup)?),
            Expr::Call(func, a) => func.apply(a.eval(lookup)?),
        })
    }
}
