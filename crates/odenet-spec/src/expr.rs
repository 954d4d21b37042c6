//! Infix expressions: `+ - * / ^`, unary minus, parentheses, numbers, identifiers and
//! `exp log sin cos sqrt`.

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

/// A syntax error at a byte offset of the parsed text.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    /// Byte offset into the parsed string.
    pub offset: usize,
    /// Length of the offending token (at least 1).
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Parses an infix expression.
pub fn parse_expr(_src: &str) -> Result<Expr, ExprError> {
    todo!("the spec helper implements this")
}
