//! The lexer: splits an expression's text into numbers, names, operators and parentheses,
//! each with its byte span, and reports malformed numbers and stray characters.

use super::{ExprError, function_list};
use crate::diag::clip;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
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
    pub(super) fn describe(&self) -> String {
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

pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) offset: usize,
    pub(super) len: usize,
}

pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
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
