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

use std::fmt;

use crate::diag::clip;

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

/// Parses an infix expression.
pub fn parse_expr(src: &str) -> Result<Expr, ExprError> {
    parse_expr_full(src).map(|p| p.expr)
}

/// Parses an infix expression and also returns every occurrence of a variable name with its
/// byte span (function names are not included), in source order.
pub fn parse_expr_spanned(src: &str) -> Result<(Expr, Vec<IdentSpan>), ExprError> {
    parse_expr_full(src).map(|p| (p.expr, p.idents))
}

/// Parses an infix expression, returning its names and its non-finite constant parts.
pub fn parse_expr_full(src: &str) -> Result<Parsed, ExprError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        idents: Vec::new(),
        non_finite: Vec::new(),
        end: src.len(),
    };
    if p.tokens.is_empty() {
        return Err(ExprError {
            offset: 0,
            len: 1,
            message: "empty expression".into(),
            help: Some("write an expression such as `a*x - b*x*y`".into()),
        });
    }
    let node = p.sum(0)?;
    if let Some(t) = p.tokens.get(p.pos) {
        let help = match t.kind {
            Tok::RParen => Some("remove the unmatched `)`".into()),
            Tok::Num(_) | Tok::Ident(_) | Tok::LParen => {
                Some("write `*` for multiplication, e.g. `2*x`".into())
            }
            _ => None,
        };
        return Err(ExprError {
            offset: t.offset,
            len: t.len,
            message: format!("expected an operator, found {}", t.kind.describe()),
            help,
        });
    }
    Ok(Parsed {
        expr: node.expr,
        idents: p.idents,
        non_finite: p.non_finite,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Num(_) => "a number".into(),
            Tok::Ident(n) => format!("`{n}`"),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Caret => "`^`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
        }
    }
}

struct Token {
    kind: Tok,
    offset: usize,
    len: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        // `**` is a power, as in Python and Fortran.
        if c == b'*' && bytes.get(i + 1) == Some(&b'*') {
            out.push(Token {
                kind: Tok::Caret,
                offset: i,
                len: 2,
            });
            i += 2;
            continue;
        }
        let single = match c {
            b'+' => Some(Tok::Plus),
            b'-' => Some(Tok::Minus),
            b'*' => Some(Tok::Star),
            b'/' => Some(Tok::Slash),
            b'^' => Some(Tok::Caret),
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            _ => None,
        };
        if let Some(kind) = single {
            out.push(Token {
                kind,
                offset: i,
                len: 1,
            });
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == b'.' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                // An exponent needs digits; `2e` or `2ex` is a malformed number, not `2*e`.
                i += 1;
                if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
                    i += 1;
                }
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            // Letters glued to a number (`2x`) are reported as part of the bad number.
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let text = &src[start..i];
            let value: f64 = text.parse().map_err(|_| ExprError {
                offset: start,
                len: i - start,
                message: format!("malformed number `{}`", clip(text, 60)),
                help: Some(
                    "write numbers like `2`, `0.5`, `.5` or `1e-3`, and `*` for multiplication"
                        .into(),
                ),
            })?;
            if !value.is_finite() {
                return Err(ExprError {
                    offset: start,
                    len: i - start,
                    message: format!("number `{}` is too large", clip(text, 60)),
                    help: Some("use a number below 1e308".into()),
                });
            }
            out.push(Token {
                kind: Tok::Num(value),
                offset: start,
                len: i - start,
            });
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                kind: Tok::Ident(src[start..i].to_string()),
                offset: start,
                len: i - start,
            });
        } else {
            // Report the whole (possibly multi-byte) character.
            let ch = src[i..].chars().next().unwrap_or('?');
            let help = match ch {
                '*' | '×' | '·' => "write `*` for multiplication".to_string(),
                ',' => format!(
                    "functions take one argument; the allowed ones are {}",
                    function_list()
                ),
                _ => "expressions may use numbers, names, `+ - * / ^`, parentheses and the functions exp, log, sin, cos, sqrt".to_string(),
            };
            return Err(ExprError {
                offset: i,
                len: ch.len_utf8(),
                message: format!("unexpected character `{ch}`"),
                help: Some(help),
            });
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    idents: Vec<IdentSpan>,
    non_finite: Vec<NonFinite>,
    /// Byte length of the source: where "unexpected end" errors point.
    end: usize,
}

/// One parsed subexpression: the tree, its depth, its byte span and, when it contains no
/// names, its value.
struct Node {
    expr: Expr,
    depth: usize,
    start: usize,
    end: usize,
    value: Option<f64>,
}

type ParseResult = Result<Node, ExprError>;

/// Why a constant operation gave a non-finite value from finite operands.
fn non_finite_reason(op: &str, a: f64, b: f64) -> &'static str {
    match op {
        "/" if b == 0.0 => "division by zero",
        "log" if a == 0.0 => "the log of zero",
        "log" => "the log of a negative number",
        "sqrt" => "the square root of a negative number",
        "^" if a == 0.0 => "zero to a negative power",
        "^" if a < 0.0 && b.fract() != 0.0 => "a negative number to a fractional power",
        _ => "it overflows",
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    /// The byte offset just past the last consumed token.
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.offset + t.len)
    }

    /// The current token's span, or the end of the text.
    fn here(&self) -> (usize, usize) {
        self.tokens
            .get(self.pos.min(self.tokens.len().saturating_sub(1)))
            .map_or((self.end, 1), |t| (t.offset, t.len))
    }

    fn check_nesting(&self, nest: usize) -> Result<(), ExprError> {
        if nest > MAX_DEPTH {
            let (offset, len) = self.here();
            return Err(ExprError {
                offset,
                len,
                message: format!("expression is nested more than {MAX_DEPTH} levels deep"),
                help: Some("split it into smaller terms".into()),
            });
        }
        Ok(())
    }

    fn check_tree_depth(&self, depth: usize) -> Result<(), ExprError> {
        if depth > MAX_TREE_DEPTH {
            let (offset, len) = self.here();
            return Err(ExprError {
                offset,
                len,
                message: format!(
                    "expression is too long: it chains more than {MAX_TREE_DEPTH} operations (a sum or product of more than {MAX_TREE_DEPTH} terms)"
                ),
                help: Some(
                    "split it into fewer terms, or use a [library] for many candidate terms".into(),
                ),
            });
        }
        Ok(())
    }

    /// Combines the value of an operation over constant operands, recording where a finite
    /// computation first becomes non-finite.
    fn fold(
        &mut self,
        op: &'static str,
        start: usize,
        operands: &[Option<f64>],
        v: f64,
    ) -> Option<f64> {
        if operands.iter().any(Option::is_none) {
            return None;
        }
        let finite_in = operands.iter().flatten().all(|x| x.is_finite());
        if finite_in && !v.is_finite() {
            let a = operands.first().copied().flatten().unwrap_or(0.0);
            let b = operands.get(1).copied().flatten().unwrap_or(0.0);
            let end = self.prev_end().max(start + 1);
            self.non_finite.push(NonFinite {
                offset: start,
                len: end - start,
                value: v,
                reason: non_finite_reason(op, a, b),
            });
        }
        Some(v)
    }

    fn binary(&mut self, op: Tok, lhs: Node, rhs: Node) -> Result<Node, ExprError> {
        let depth = lhs.depth.max(rhs.depth) + 1;
        self.check_tree_depth(depth)?;
        let (a, b) = (lhs.value.unwrap_or(0.0), rhs.value.unwrap_or(0.0));
        let (name, v) = match op {
            Tok::Plus => ("+", a + b),
            Tok::Minus => ("-", a - b),
            Tok::Star => ("*", a * b),
            Tok::Slash => ("/", a / b),
            _ => ("^", a.powf(b)),
        };
        let by_literal_zero =
            op == Tok::Slash && rhs.value == Some(0.0) && lhs.value.is_none_or(f64::is_finite);
        let value = if by_literal_zero && lhs.value.is_none() {
            // `x/0` is infinite or undefined whatever `x` is.
            self.non_finite.push(NonFinite {
                offset: lhs.start,
                len: rhs.end - lhs.start,
                value: f64::INFINITY,
                reason: "division by zero",
            });
            None
        } else {
            self.fold(name, lhs.start, &[lhs.value, rhs.value], v)
        };
        let (l, r) = (Box::new(lhs.expr), Box::new(rhs.expr));
        let expr = match op {
            Tok::Plus => Expr::Add(l, r),
            Tok::Minus => Expr::Sub(l, r),
            Tok::Star => Expr::Mul(l, r),
            Tok::Slash => Expr::Div(l, r),
            _ => Expr::Pow(l, r),
        };
        Ok(Node {
            expr,
            depth,
            start: lhs.start,
            end: rhs.end,
            value,
        })
    }

    fn sum(&mut self, nest: usize) -> ParseResult {
        self.check_nesting(nest)?;
        let mut lhs = self.product(nest)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => Tok::Plus,
                Some(Tok::Minus) => Tok::Minus,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.product(nest)?;
            lhs = self.binary(op, lhs, rhs)?;
        }
    }

    fn product(&mut self, nest: usize) -> ParseResult {
        let mut lhs = self.unary(nest)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => Tok::Star,
                Some(Tok::Slash) => Tok::Slash,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.unary(nest)?;
            lhs = self.binary(op, lhs, rhs)?;
        }
    }

    fn unary(&mut self, nest: usize) -> ParseResult {
        self.check_nesting(nest)?;
        let start = self.here().0;
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                let a = self.unary(nest + 1)?;
                Ok(Node {
                    value: a.value.map(|v| -v),
                    expr: Expr::Neg(Box::new(a.expr)),
                    depth: a.depth + 1,
                    start,
                    end: a.end,
                })
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                let a = self.unary(nest + 1)?;
                Ok(Node { start, ..a })
            }
            _ => self.power(nest),
        }
    }

    fn power(&mut self, nest: usize) -> ParseResult {
        let base = self.atom(nest)?;
        if self.peek() == Some(&Tok::Caret) {
            self.pos += 1;
            let exp = self.unary(nest + 1)?;
            return self.binary(Tok::Caret, base, exp);
        }
        Ok(base)
    }

    fn atom(&mut self, nest: usize) -> ParseResult {
        let Some(tok) = self.tokens.get(self.pos) else {
            return Err(ExprError {
                offset: self.end,
                len: 1,
                message: "unexpected end of expression".into(),
                help: Some("complete the expression after the last operator".into()),
            });
        };
        let (offset, len) = (tok.offset, tok.len);
        let leaf = |expr, value| Node {
            expr,
            depth: 1,
            start: offset,
            end: offset + len,
            value,
        };
        match tok.kind.clone() {
            Tok::Num(v) => {
                self.pos += 1;
                Ok(leaf(Expr::Num(v), Some(v)))
            }
            Tok::Ident(name) => {
                self.pos += 1;
                let is_call = self.peek() == Some(&Tok::LParen);
                match (Func::from_name(&name), is_call) {
                    (Some(func), true) => {
                        let open = self.pos;
                        self.pos += 1;
                        let arg = self.sum(nest + 1)?;
                        self.expect_close(open)?;
                        let a = arg.value.unwrap_or(0.0);
                        let value = self.fold(func.name(), offset, &[arg.value], func.apply(a));
                        Ok(Node {
                            expr: Expr::Call(func, Box::new(arg.expr)),
                            depth: arg.depth + 1,
                            start: offset,
                            end: self.prev_end(),
                            value,
                        })
                    }
                    (Some(func), false) => Err(ExprError {
                        offset,
                        len,
                        message: format!("function `{}` needs an argument", func.name()),
                        help: Some(format!("write `{}(x)`", func.name())),
                    }),
                    (None, true) => Err(ExprError {
                        offset,
                        len,
                        message: format!("unknown function `{}`", clip(&name, 60)),
                        help: Some(format!("the allowed functions are {}", function_list())),
                    }),
                    (None, false) => {
                        self.idents.push(IdentSpan {
                            name: name.clone(),
                            offset,
                            len,
                        });
                        Ok(leaf(Expr::Var(name), None))
                    }
                }
            }
            Tok::LParen => {
                let open = self.pos;
                self.pos += 1;
                let inner = self.sum(nest + 1)?;
                self.expect_close(open)?;
                Ok(Node {
                    start: offset,
                    end: self.prev_end(),
                    ..inner
                })
            }
            other => Err(ExprError {
                offset,
                len,
                message: format!(
                    "expected a number, a name or `(`, found {}",
                    other.describe()
                ),
                help: None,
            }),
        }
    }

    fn expect_close(&mut self, open: usize) -> Result<(), ExprError> {
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            return Ok(());
        }
        let opened = &self.tokens[open];
        Err(ExprError {
            offset: opened.offset,
            len: opened.len,
            message: "unclosed `(`".into(),
            help: Some("add the matching `)`".into()),
        })
    }
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

    /// Binding strength for printing: higher binds tighter.
    fn prec(&self) -> u8 {
        match self {
            Expr::Add(..) | Expr::Sub(..) => 1,
            Expr::Mul(..) | Expr::Div(..) => 2,
            Expr::Neg(..) => 3,
            // A negative literal prints with a leading minus, so it binds like a negation.
            Expr::Num(v) if v.is_sign_negative() => 3,
            Expr::Pow(..) => 4,
            Expr::Num(_) | Expr::Var(_) | Expr::Call(..) => 5,
        }
    }
}

/// Writes `e`, in parentheses when its binding strength is below `min`.
fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.prec() < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// Formats a number the way a user would write it: whole numbers without a trailing `.0`,
/// otherwise the shortest text that reads back to the same f64, switching to exponent notation
/// for very small or large values (`1e-7`), which the parser accepts.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:?}")
    }
}

fn write_num(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    f.write_str(&format_number(v))
}

/// Infix with the fewest parentheses that parse back to the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(v) => write_num(f, *v),
            Expr::Var(n) => f.write_str(n),
            Expr::Neg(a) => {
                f.write_str("-")?;
                write_operand(f, a, 3)
            }
            Expr::Add(a, b) | Expr::Sub(a, b) => {
                write_operand(f, a, 1)?;
                f.write_str(if matches!(self, Expr::Add(..)) {
                    " + "
                } else {
                    " - "
                })?;
                // Both operators are left-associative: a right operand at the same level needs
                // parentheses to keep its grouping.
                write_operand(f, b, 2)
            }
            Expr::Mul(a, b) | Expr::Div(a, b) => {
                write_operand(f, a, 2)?;
                f.write_str(if matches!(self, Expr::Mul(..)) {
                    "*"
                } else {
                    "/"
                })?;
                write_operand(f, b, 3)
            }
            Expr::Pow(a, b) => {
                // The base must be an atom: `(-x)^2` and `(a^b)^c` keep their parentheses.
                write_operand(f, a, 5)?;
                f.write_str("^")?;
                // The exponent is parsed as a unary expression, so `x^-2` and `a^b^c` need none.
                write_operand(f, b, 3)
            }
            Expr::Call(func, a) => write!(f, "{}({a})", func.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Expr {
        parse_expr(s).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
    }
    fn v(n: &str) -> Box<Expr> {
        Box::new(Expr::Var(n.into()))
    }
    fn n(x: f64) -> Box<Expr> {
        Box::new(Expr::Num(x))
    }

    #[test]
    fn precedence_of_binary_operators() {
        assert_eq!(
            p("a + b*c"),
            Expr::Add(v("a"), Box::new(Expr::Mul(v("b"), v("c"))))
        );
        assert_eq!(
            p("a*b^c"),
            Expr::Mul(v("a"), Box::new(Expr::Pow(v("b"), v("c"))))
        );
        assert_eq!(
            p("(a + b)*c"),
            Expr::Mul(Box::new(Expr::Add(v("a"), v("b"))), v("c"))
        );
    }

    #[test]
    fn subtraction_and_division_are_left_associative() {
        assert_eq!(
            p("a - b - c"),
            Expr::Sub(Box::new(Expr::Sub(v("a"), v("b"))), v("c"))
        );
        assert_eq!(
            p("a / b / c"),
            Expr::Div(Box::new(Expr::Div(v("a"), v("b"))), v("c"))
        );
    }

    #[test]
    fn power_is_right_associative() {
        assert_eq!(
            p("a^b^c"),
            Expr::Pow(v("a"), Box::new(Expr::Pow(v("b"), v("c"))))
        );
    }

    #[test]
    fn power_binds_tighter_than_unary_minus() {
        assert_eq!(p("-x^2"), Expr::Neg(Box::new(Expr::Pow(v("x"), n(2.0)))));
        assert_eq!(p("x^-2"), Expr::Pow(v("x"), Box::new(Expr::Neg(n(2.0)))));
        assert_eq!(p("+x"), Expr::Var("x".into()));
        assert_eq!(p("--x"), Expr::Neg(Box::new(Expr::Neg(v("x")))));
        assert_eq!(p("-a*b"), Expr::Mul(Box::new(Expr::Neg(v("a"))), v("b")));
    }

    #[test]
    fn numbers_in_every_form() {
        for (s, want) in [
            ("1", 1.0),
            ("2.5", 2.5),
            ("1e-3", 1e-3),
            (".5", 0.5),
            ("3E2", 300.0),
            ("1.5e+2", 150.0),
        ] {
            match p(s) {
                Expr::Num(x) => assert!((x - want).abs() < 1e-12 * want.abs(), "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn calls_of_every_function() {
        for func in Func::ALL {
            let src = format!("{}(x + 1)", func.name());
            assert_eq!(
                p(&src),
                Expr::Call(func, Box::new(Expr::Add(v("x"), n(1.0))))
            );
        }
    }

    fn err(s: &str) -> ExprError {
        match parse_expr(s) {
            Ok(e) => panic!("{s:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_carry_offsets() {
        let e = err("a + foo(x)");
        assert_eq!((e.offset, e.len), (4, 3));
        assert!(e.message.contains("unknown function `foo`"));
        assert!(e.help.unwrap().contains("exp, log, sin, cos, sqrt"));

        let e = err("a + * b");
        assert_eq!((e.offset, e.len), (4, 1));
        assert!(e.message.contains("found `*`"), "{}", e.message);

        let e = err("a + (b * c");
        assert_eq!((e.offset, e.len), (4, 1));
        assert!(e.message.contains("unclosed"));

        let e = err("a + b)");
        assert_eq!(e.offset, 5);

        let e = err("2x");
        assert_eq!((e.offset, e.len), (0, 2));
        assert!(e.message.contains("malformed number"));

        let e = err("a +");
        assert_eq!(e.offset, 3);
        assert!(e.message.contains("end of expression"));

        let e = err("a $ b");
        assert_eq!((e.offset, e.len), (2, 1));

        let e = err("x ∗ y");
        assert_eq!((e.offset, e.len), (2, 3));

        let e = err("exp + 1");
        assert!(e.message.contains("needs an argument"));

        let e = err("a b");
        assert_eq!(e.offset, 2);
        assert!(e.help.unwrap().contains("`*`"));

        assert!(err("   ").message.contains("empty"));
        assert!(err("1e999").message.contains("too large"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "(".repeat(10_000) + "x" + &")".repeat(10_000);
        assert!(err(&deep).message.contains("nested"));
        let minus = "-".repeat(10_000) + "x";
        assert!(err(&minus).message.contains("nested"));
        // A long flat sum is not nested: it is refused for its length, naming the limit.
        let long = vec!["x"; 10_000].join(" + ");
        let e = err(&long);
        assert!(e.message.contains("too long"), "{e:?}");
        assert!(e.message.contains(&MAX_TREE_DEPTH.to_string()), "{e:?}");
        let product = vec!["x"; 10_000].join("*");
        assert!(err(&product).message.contains("too long"));
        // Sums of hundreds of terms are fine (the issue's 256-term sum was refused as nested).
        for n in [200, 256, 257, MAX_TREE_DEPTH] {
            let ok = vec!["x"; n].join(" + ");
            assert!(parse_expr(&ok).is_ok(), "{n} terms");
        }
        let too_many = vec!["x"; MAX_TREE_DEPTH + 2].join(" + ");
        assert!(parse_expr(&too_many).is_err());
    }

    #[test]
    fn double_star_is_a_power() {
        assert_eq!(p("x**2"), p("x^2"));
        assert_eq!(p("a**b**c"), p("a^b^c"));
        assert_eq!(p("2*x**-1"), p("2*x^-1"));
        assert_eq!(p("x**2").to_string(), "x^2");
        // A third star is a stray multiplication sign.
        assert!(parse_expr("x***2").is_err());
    }

    #[test]
    fn non_finite_constants_are_located() {
        let found = |s: &str| -> Vec<(String, &'static str)> {
            parse_expr_full(s)
                .unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
                .non_finite
                .iter()
                .map(|n| (s[n.offset..n.offset + n.len].to_string(), n.reason))
                .collect()
        };
        assert_eq!(found("x + 1/0"), [("1/0".to_string(), "division by zero")]);
        assert_eq!(
            found("a*(0/0) + b"),
            [("0/0".to_string(), "division by zero")]
        );
        assert_eq!(
            found("2*log(-1)*x"),
            [("log(-1)".to_string(), "the log of a negative number")]
        );
        assert_eq!(
            found("exp(1000) - y"),
            [("exp(1000)".to_string(), "it overflows")]
        );
        assert_eq!(
            found("sqrt(-(4))"),
            [(
                "sqrt(-(4))".to_string(),
                "the square root of a negative number"
            )]
        );
        assert_eq!(
            found("x*0^-1"),
            [("0^-1".to_string(), "zero to a negative power")]
        );
        // Only the first non-finite step is reported, not everything above it.
        assert_eq!(found("(1/0)*2 + 3").len(), 1);
        // Expressions over names are left alone: their value depends on the data.
        assert!(found("sqrt(-x) + x^1000 + 1/x + log(x)").is_empty());
        // ... except a division by a literal zero, which is never finite.
        assert_eq!(found("x/0*y"), [("x/0".to_string(), "division by zero")]);
        assert_eq!(
            found("x/(1 - 1)"),
            [("x/(1 - 1)".to_string(), "division by zero")]
        );
        assert!(found("1e308 + 1").is_empty());
        assert_eq!(found("1e308*10").len(), 1);
    }

    #[test]
    fn identifier_spans_and_vars() {
        let (e, ids) = parse_expr_spanned("k1*x - k2*x*exp(y) + x").unwrap();
        let names: Vec<_> = ids
            .iter()
            .map(|i| (i.name.as_str(), i.offset, i.len))
            .collect();
        assert_eq!(
            names,
            vec![
                ("k1", 0, 2),
                ("x", 3, 1),
                ("k2", 7, 2),
                ("x", 10, 1),
                ("y", 16, 1),
                ("x", 21, 1)
            ]
        );
        assert_eq!(e.vars(), vec!["k1", "x", "k2", "y"]);
    }

    #[test]
    fn eval_matches_hand_computation() {
        let e = p("-x^2 + 2*sqrt(y)/exp(0) - log(y)*sin(x)*cos(x)");
        let lookup = |n: &str| match n {
            "x" => Some(1.5),
            "y" => Some(4.0),
            _ => None,
        };
        let want = -(1.5f64.powi(2)) + 2.0 * 2.0 - 4f64.ln() * 1.5f64.sin() * 1.5f64.cos();
        let got = e.eval(&lookup).unwrap();
        assert!((got - want).abs() < 1e-12);
        assert!(p("z + 1").eval(&lookup).is_none());
    }

    #[test]
    fn display_uses_minimal_parentheses() {
        for (src, shown) in [
            ("a + b*c", "a + b*c"),
            ("(a + b)*c", "(a + b)*c"),
            ("a - (b - c)", "a - (b - c)"),
            ("(a - b) - c", "a - b - c"),
            ("a/(b*c)", "a/(b*c)"),
            ("-x^2", "-x^2"),
            ("(-x)^2", "(-x)^2"),
            ("(a^b)^c", "(a^b)^c"),
            ("a^b^c", "a^b^c"),
            ("x^-2", "x^-2"),
            ("-(a*b)", "-(a*b)"),
            ("exp(-(x + 1))", "exp(-(x + 1))"),
            ("0.001*x + 1e-7", "0.001*x + 1e-7"),
            ("2.50*x", "2.5*x"),
        ] {
            assert_eq!(p(src).to_string(), shown, "{src}");
        }
        // A negative literal (from code, not the parser) still prints re-parsably.
        let e = Expr::Pow(n(-2.0), v("x"));
        assert_eq!(e.to_string(), "(-2)^x");
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            prop_oneof![
                (0u32..1000).prop_map(f64::from),
                (0.0f64..1e6),
                (1e-12f64..1e-3)
            ]
            .prop_map(Expr::Num),
            prop_oneof![Just("x"), Just("y"), Just("k_1"), Just("_a"), Just("e")]
                .prop_map(|s| Expr::Var(s.into())),
        ];
        leaf.prop_recursive(6, 64, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| Expr::Neg(Box::new(a))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::Add(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::Sub(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::Mul(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::Div(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::Pow(Box::new(a), Box::new(b))),
                (0usize..5, inner).prop_map(|(i, a)| Expr::Call(Func::ALL[i], Box::new(a))),
            ]
        })
    }

    proptest! {
        #[test]
        fn display_round_trips(e in arb_expr()) {
            let text = e.to_string();
            let back = parse_expr(&text);
            prop_assert_eq!(back.as_ref(), Ok(&e), "printed as {}", text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
            let _ = parse_expr(&s);
        }

        #[test]
        fn operator_soup_never_panics(s in "[-+*/^()x1.e ]{0,80}") {
            if let Ok((e, ids)) = parse_expr_spanned(&s) {
                // Every reported span covers exactly its name.
                for id in &ids {
                    prop_assert_eq!(&s[id.offset..id.offset + id.len], id.name.as_str());
                }
                let _ = e.to_string();
            }
        }
    }
}
