//! Infix expressions: `+ - * / ^`, unary minus, parentheses, numbers, identifiers and
//! `exp log sin cos sqrt`.
//!
//! The grammar, from loosest to tightest binding:
//!
//! ```text
//! sum     := product (("+" | "-") product)*        left-associative
//! product := unary (("*" | "/") unary)*            left-associative
//! unary   := ("-" | "+") unary | power
//! power   := atom ("^" unary)?                     right-associative: a^b^c = a^(b^c)
//! atom    := number | name | func "(" sum ")" | "(" sum ")"
//! ```
//!
//! Because `power` sits below `unary`, `-x^2` means `-(x^2)`, and the exponent may carry its own
//! sign (`x^-2`).

use std::fmt;

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

/// Nesting deeper than this is rejected: it guards the recursive parser, `Display`, `eval` and
/// `Drop` against stack overflow on hostile input, and no real model comes near it.
pub const MAX_DEPTH: usize = 256;

/// Parses an infix expression.
pub fn parse_expr(src: &str) -> Result<Expr, ExprError> {
    parse_expr_spanned(src).map(|(e, _)| e)
}

/// Parses an infix expression and also returns every occurrence of a variable name with its
/// byte span (function names are not included), in source order.
pub fn parse_expr_spanned(src: &str) -> Result<(Expr, Vec<IdentSpan>), ExprError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        idents: Vec::new(),
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
    let (e, _) = p.sum(0)?;
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
    Ok((e, p.idents))
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
                message: format!("malformed number `{text}`"),
                help: Some(
                    "write numbers like `2`, `0.5`, `.5` or `1e-3`, and `*` for multiplication"
                        .into(),
                ),
            })?;
            if !value.is_finite() {
                return Err(ExprError {
                    offset: start,
                    len: i - start,
                    message: format!("number `{text}` is too large"),
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
    /// Byte length of the source: where "unexpected end" errors point.
    end: usize,
}

/// Every parse function returns the expression and the depth of its tree.
type Parsed = Result<(Expr, usize), ExprError>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn check_depth(&self, depth: usize) -> Result<(), ExprError> {
        if depth > MAX_DEPTH {
            let (offset, len) = self
                .tokens
                .get(self.pos.min(self.tokens.len().saturating_sub(1)))
                .map_or((self.end, 1), |t| (t.offset, t.len));
            return Err(ExprError {
                offset,
                len,
                message: format!("expression is nested more than {MAX_DEPTH} levels deep"),
                help: Some("split it into smaller terms".into()),
            });
        }
        Ok(())
    }

    fn sum(&mut self, nest: usize) -> Parsed {
        self.check_depth(nest)?;
        let (mut lhs, mut depth) = self.product(nest)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => Tok::Plus,
                Some(Tok::Minus) => Tok::Minus,
                _ => return Ok((lhs, depth)),
            };
            self.pos += 1;
            let (rhs, d) = self.product(nest)?;
            depth = depth.max(d) + 1;
            self.check_depth(depth)?;
            lhs = if op == Tok::Plus {
                Expr::Add(Box::new(lhs), Box::new(rhs))
            } else {
                Expr::Sub(Box::new(lhs), Box::new(rhs))
            };
        }
    }

    fn product(&mut self, nest: usize) -> Parsed {
        let (mut lhs, mut depth) = self.unary(nest)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => Tok::Star,
                Some(Tok::Slash) => Tok::Slash,
                _ => return Ok((lhs, depth)),
            };
            self.pos += 1;
            let (rhs, d) = self.unary(nest)?;
            depth = depth.max(d) + 1;
            self.check_depth(depth)?;
            lhs = if op == Tok::Star {
                Expr::Mul(Box::new(lhs), Box::new(rhs))
            } else {
                Expr::Div(Box::new(lhs), Box::new(rhs))
            };
        }
    }

    fn unary(&mut self, nest: usize) -> Parsed {
        self.check_depth(nest)?;
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                let (e, d) = self.unary(nest + 1)?;
                Ok((Expr::Neg(Box::new(e)), d + 1))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.unary(nest + 1)
            }
            _ => self.power(nest),
        }
    }

    fn power(&mut self, nest: usize) -> Parsed {
        let (base, d) = self.atom(nest)?;
        if self.peek() == Some(&Tok::Caret) {
            self.pos += 1;
            let (exp, de) = self.unary(nest + 1)?;
            let depth = d.max(de) + 1;
            self.check_depth(depth)?;
            return Ok((Expr::Pow(Box::new(base), Box::new(exp)), depth));
        }
        Ok((base, d))
    }

    fn atom(&mut self, nest: usize) -> Parsed {
        let Some(tok) = self.tokens.get(self.pos) else {
            return Err(ExprError {
                offset: self.end,
                len: 1,
                message: "unexpected end of expression".into(),
                help: Some("complete the expression after the last operator".into()),
            });
        };
        let (offset, len) = (tok.offset, tok.len);
        match tok.kind.clone() {
            Tok::Num(v) => {
                self.pos += 1;
                Ok((Expr::Num(v), 1))
            }
            Tok::Ident(name) => {
                self.pos += 1;
                let is_call = self.peek() == Some(&Tok::LParen);
                match (Func::from_name(&name), is_call) {
                    (Some(func), true) => {
                        let open = self.pos;
                        self.pos += 1;
                        let (arg, d) = self.sum(nest + 1)?;
                        self.expect_close(open)?;
                        Ok((Expr::Call(func, Box::new(arg)), d + 1))
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
                        message: format!("unknown function `{name}`"),
                        help: Some(format!("the allowed functions are {}", function_list())),
                    }),
                    (None, false) => {
                        self.idents.push(IdentSpan {
                            name: name.clone(),
                            offset,
                            len,
                        });
                        Ok((Expr::Var(name), 1))
                    }
                }
            }
            Tok::LParen => {
                let open = self.pos;
                self.pos += 1;
                let (e, d) = self.sum(nest + 1)?;
                self.expect_close(open)?;
                Ok((e, d))
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
        let long = vec!["x"; 10_000].join(" + ");
        assert!(err(&long).message.contains("nested"));
        let minus = "-".repeat(10_000) + "x";
        assert!(err(&minus).message.contains("nested"));
        // A long but reasonable sum is fine.
        let ok = vec!["x"; 200].join(" + ");
        assert!(parse_expr(&ok).is_ok());
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
