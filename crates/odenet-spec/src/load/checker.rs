//! The checker: reads TOML values as the types a spec expects and records every problem as a
//! located diagnostic (or warning) instead of stopping at the first; also parses expressions
//! written in string values so that their errors and names point into the spec file.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::diag::{Source, clip, closest};
use crate::expr::{Expr, Func, IdentSpan, parse_expr_full};
use crate::{Diagnostic, Location, Origins};

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// One key of a table with its span, in source order.
pub(super) struct Entry<'a, 'i> {
    pub(super) key: &'a str,
    pub(super) key_span: Range<usize>,
    pub(super) value: &'a Value<'i>,
}

/// The entries of a table in the order they appear in the file (the map itself may sort them).
pub(super) fn entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    let mut out: Vec<Entry<'a, 'i>> = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().as_ref(),
            key_span: k.span(),
            value: v,
        })
        .collect();
    out.sort_by_key(|e| (e.key_span.start, e.key_span.end));
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name as it appears in an expression, with its span in the spec file.
pub(super) struct Located {
    pub(super) name: String,
    pub(super) span: Range<usize>,
}

/// A parsed expression with the spec-file spans of its names.
pub(super) struct LocatedExpr {
    pub(super) expr: Expr,
    pub(super) names: Vec<Located>,
}

pub(super) struct Checker<'a> {
    pub(super) src: Source<'a>,
    pub(super) diags: Vec<Diagnostic>,
    pub(super) warnings: Vec<Diagnostic>,
    /// Where the parts that later checks against the data may report on were written.
    pub(super) origins: Origins,
}

impl<'a> Checker<'a> {
    pub(super) fn err(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let d = self.src.diag(span, message.into(), help);
        self.diags.push(d);
    }

    pub(super) fn warn(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let d = self.src.diag(span, message.into(), help).warning();
        self.warnings.push(d);
    }

    /// Where `span` is, for diagnostics that later checks against the data report.
    pub(super) fn location(&self, span: Range<usize>) -> Location {
        Location::from(self.src.diag(span, String::new(), None))
    }

    pub(super) fn err_file(&mut self, message: impl Into<String>, help: Option<String>) {
        self.diags
            .push(Diagnostic::whole_file(self.src.path, message, help));
    }

    /// Reports every key not in `allowed`, naming the allowed ones.
    pub(super) fn check_keys(&mut self, entries: &[Entry<'_, '_>], allowed: &[&str], place: &str) {
        for e in entries {
            if !allowed.contains(&e.key) {
                let mut help = format!("allowed keys in {place} are: {}", allowed.join(", "));
                if let Some(near) = closest(e.key, allowed) {
                    help = format!("did you mean `{near}`? {help}");
                }
                self.err(
                    e.key_span.clone(),
                    format!("unknown key `{}` in {place}", e.key),
                    Some(help),
                );
            }
        }
    }

    pub(super) fn type_err(&mut self, v: &Value<'_>, what: &str, expected: &str) {
        self.err(
            v.span(),
            format!(
                "{what} must be {expected}, found {}",
                article(v.get_ref().type_str())
            ),
            None,
        );
    }

    /// The part of `v` that `pick` takes, or a type error saying that `what` must be `expected`.
    fn typed<'v, 'i, T>(
        &mut self,
        v: &'v Value<'i>,
        what: &str,
        expected: &str,
        pick: impl FnOnce(&'v DeValue<'i>) -> Option<T>,
    ) -> Option<T> {
        let got = pick(v.get_ref());
        if got.is_none() {
            self.type_err(v, what, expected);
        }
        got
    }

    pub(super) fn string<'v>(&mut self, v: &'v Value<'_>, what: &str) -> Option<&'v str> {
        self.typed(v, what, "a string", |d| match d {
            DeValue::String(s) => Some(s.as_ref()),
            _ => None,
        })
    }

    pub(super) fn table<'v, 'i>(
        &mut self,
        v: &'v Value<'i>,
        what: &str,
    ) -> Option<&'v DeTable<'i>> {
        self.typed(v, what, "a table", |d| match d {
            DeValue::Table(t) => Some(t),
            _ => None,
        })
    }

    pub(super) fn array<'v, 'i>(
        &mut self,
        v: &'v Value<'i>,
        what: &str,
    ) -> Option<&'v DeArray<'i>> {
        self.typed(v, what, "an array", |d| match d {
            DeValue::Array(a) => Some(a),
            _ => None,
        })
    }

    pub(super) fn boolean(&mut self, v: &Value<'_>, what: &str) -> Option<bool> {
        self.typed(v, what, "true or false", |d| match d {
            DeValue::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// A finite number (integer or float).
    pub(super) fn number(&mut self, v: &Value<'_>, what: &str) -> Option<f64> {
        let x = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|i| i as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => {
                self.type_err(v, what, "a number");
                return None;
            }
        };
        match x {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.err(
                    v.span(),
                    format!("{what} must be a finite number"),
                    Some("write an ordinary number such as `0.5` or `1e-3`".into()),
                );
                None
            }
        }
    }

    pub(super) fn integer(&mut self, v: &Value<'_>, what: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(i) => Some(i),
                Err(_) => {
                    self.err(v.span(), format!("{what} is too large"), None);
                    None
                }
            },
            _ => {
                self.type_err(v, what, "an integer");
                None
            }
        }
    }

    /// An integer of at least `min`.
    pub(super) fn count(&mut self, v: &Value<'_>, what: &str, min: i64) -> Option<usize> {
        let i = self.integer(v, what)?;
        if i < min {
            self.err(
                v.span(),
                format!("{what} must be at least {min}, found {i}"),
                None,
            );
            return None;
        }
        usize::try_from(i).ok()
    }

    /// Where the text of string value `v` starts in the file, when the string's characters are
    /// written verbatim (no escapes), so that offsets into the value are offsets into the file.
    fn verbatim_start(&self, v: &Value<'_>, value: &str) -> Option<usize> {
        let span = v.span();
        let raw = self.src.text.get(span.clone())?;
        let (open, close) = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            let mut open = 3;
            // A newline right after the opening delimiter is not part of the value.
            if raw[3..].starts_with("\r\n") {
                open += 2;
            } else if raw[3..].starts_with('\n') {
                open += 1;
            }
            (open, 3)
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            (1, 1)
        } else {
            return None;
        };
        let inner = raw.get(open..raw.len().checked_sub(close)?)?;
        (inner == value).then_some(span.start + open)
    }

    /// Parses the expression in string value `v`, reporting a syntax error at its exact column
    /// (or at the string when it contains escapes). Names are located the same way.
    pub(super) fn expression(
        &mut self,
        v: &Value<'_>,
        text: &str,
        what: &str,
    ) -> Option<LocatedExpr> {
        let base = self.verbatim_start(v, text);
        let locate = |offset: usize, len: usize| match base {
            Some(b) => b + offset..b + offset + len.max(1),
            None => v.span(),
        };
        match parse_expr_full(text) {
            Ok(parsed) => {
                let names = parsed
                    .idents
                    .into_iter()
                    .map(|IdentSpan { name, offset, len }| Located {
                        name,
                        span: locate(offset, len),
                    })
                    .collect();
                let mut finite = true;
                for nf in &parsed.non_finite {
                    let part = text.get(nf.offset..nf.offset + nf.len).unwrap_or(text);
                    self.err(
                        locate(nf.offset, nf.len),
                        format!(
                            "`{}` in {what} is not a finite number ({})",
                            clip(part, 60),
                            nf.reason
                        ),
                        Some(
                            "correct the constant part: every term must have a finite value".into(),
                        ),
                    );
                    finite = false;
                }
                finite.then_some(LocatedExpr {
                    expr: parsed.expr,
                    names,
                })
            }
            Err(e) => {
                let span = locate(e.offset, e.len);
                self.err(span, format!("{} in {what}", e.message), e.help);
                None
            }
        }
    }

    /// Checks that `name` can be used in expressions.
    pub(super) fn check_name(&mut self, name: &str, span: Range<usize>, what: &str) -> bool {
        if !is_identifier(name) {
            self.err(
                span,
                format!("{what} `{name}` is not a valid name"),
                Some(
                    "names start with a letter or `_` and contain only letters, digits and `_`"
                        .into(),
                ),
            );
            return false;
        }
        if let Some(f) = Func::from_name(name) {
            self.err(
                span,
                format!(
                    "{what} `{name}` has the name of the function `{}`",
                    f.name()
                ),
                Some("choose another name".into()),
            );
            return false;
        }
        true
    }
}

fn article(type_str: &str) -> String {
    match type_str {
        "integer" | "array" => format!("an {type_str}"),
        other => format!("a {other}"),
    }
}

pub(super) fn find<'e, 'a, 'i>(
    entries: &'e [Entry<'a, 'i>],
    key: &str,
) -> Option<&'e Entry<'a, 'i>> {
    entries.iter().find(|e| e.key == key)
}
