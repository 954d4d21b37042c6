//! The recursive-descent parser: builds the tree by the grammar in the module documentation,
//! bounds its nesting and depth, records the names it meets and folds constant parts to find
//! the ones that are not finite.

use super::lexer::{Tok, Token, tokenize};
use super::{
    Expr, ExprError, Func, IdentSpan, MAX_DEPTH, MAX_TREE_DEPTH, NonFinite, Parsed, function_list,
};
use crate::diag::clip;

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

    /// An error at the current token (or the end of the text).
    fn error_here(&self, message: String, help: &str) -> ExprError {
        let (offset, len) = self.here();
        ExprError {
            offset,
            len,
            message,
            help: Some(help.into()),
        }
    }

    fn check_nesting(&self, nest: usize) -> Result<(), ExprError> {
        if nest > MAX_DEPTH {
            return Err(self.error_here(
                format!("expression is nested more than {MAX_DEPTH} levels deep"),
                "split it into smaller terms",
            ));
        }
        Ok(())
    }

    fn check_tree_depth(&self, depth: usize) -> Result<(), ExprError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.error_here(
                format!(
                    "expression is too long: it chains more than {MAX_TREE_DEPTH} operations (a sum or product of more than {MAX_TREE_DEPTH} terms)"
                ),
                "split it into fewer terms, or use a [library] for many candidate terms",
            ));
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
        self.chain(nest, [Tok::Plus, Tok::Minus], Self::product)
    }

    fn product(&mut self, nest: usize) -> ParseResult {
        self.chain(nest, [Tok::Star, Tok::Slash], Self::unary)
    }

    /// A left-associative chain `operand (op operand)*` over the two operators in `ops`.
    fn chain(
        &mut self,
        nest: usize,
        ops: [Tok; 2],
        operand: fn(&mut Self, usize) -> ParseResult,
    ) -> ParseResult {
        let mut lhs = operand(self, nest)?;
        loop {
            let Some(op) = self.peek().filter(|t| ops.contains(t)).cloned() else {
                return Ok(lhs);
            };
            self.pos += 1;
            let rhs = operand(self, nest)?;
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
