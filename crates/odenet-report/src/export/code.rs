//! Expressions in the programming languages (Python, SymPy, Julia, Rust, C): number literals,
//! powers and function names in each language's syntax, through the shared printer; and the
//! body of a right-hand side over arrays, which Rust and C write alike.

use std::fmt::Write;

use odenet_spec::{Expr, Func};

use super::printer::{Notation, operand, print};
use super::{Lang, System};

/// A number literal of the language.
pub(super) fn lit(v: f64, lang: Lang) -> String {
    if v.is_nan() {
        return match lang {
            Lang::Python | Lang::Sympy => "float(\"nan\")".into(),
            Lang::Julia => "NaN".into(),
            Lang::Rust => "f64::NAN".into(),
            Lang::C | Lang::Latex => "NAN".into(),
        };
    }
    if v.is_infinite() {
        let s = if v > 0.0 { "" } else { "-" };
        return match lang {
            Lang::Python | Lang::Sympy => format!("{s}float(\"inf\")"),
            Lang::Julia => format!("{s}Inf"),
            Lang::Rust => format!("{s}f64::INFINITY"),
            Lang::C | Lang::Latex => format!("{s}INFINITY"),
        };
    }
    // Rust's shortest round-trip text always has a `.` or an exponent: a float literal in
    // every one of these languages.
    format!("{v:?}")
}

/// Number literals of the language, separated by commas.
pub(super) fn lits(values: &[f64], lang: Lang) -> String {
    values
        .iter()
        .map(|v| lit(*v, lang))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An integer exponent that every language may write as an integer.
fn int_exponent(e: &Expr) -> Option<i32> {
    match e {
        Expr::Num(v) if v.fract() == 0.0 && v.abs() < 1e9 => Some(*v as i32),
        Expr::Neg(a) => int_exponent(a).map(|k| -k),
        _ => None,
    }
}

fn func_name(f: Func, lang: Lang) -> &'static str {
    match (lang, f) {
        (Lang::Python, _) => match f {
            Func::Exp => "np.exp",
            Func::Log => "np.log",
            Func::Sin => "np.sin",
            Func::Cos => "np.cos",
            Func::Sqrt => "np.sqrt",
        },
        (Lang::Sympy, _) => match f {
            Func::Exp => "sp.exp",
            Func::Log => "sp.log",
            Func::Sin => "sp.sin",
            Func::Cos => "sp.cos",
            Func::Sqrt => "sp.sqrt",
        },
        (Lang::Rust, Func::Log) => "ln",
        _ => f.name(),
    }
}

/// A programming language as a notation for the shared printer; `var` names the variables.
struct Code<'a> {
    lang: Lang,
    var: &'a dyn Fn(&str) -> String,
}

impl Notation for Code<'_> {
    const NEG: &'static str = "-";
    const PLUS: &'static str = " + ";
    const MINUS: &'static str = " - ";
    const TIMES: [&'static str; 2] = ["*", "*"];

    fn paren(&self, s: &str) -> String {
        format!("({s})")
    }

    fn num(&self, v: f64) -> String {
        lit(v, self.lang)
    }

    fn var(&self, name: &str) -> String {
        (self.var)(name)
    }

    fn div(&self, a: &Expr, b: &Expr) -> String {
        format!("{}/{}", operand(self, a, 2), operand(self, b, 3))
    }

    fn pow(&self, a: &Expr, b: &Expr) -> String {
        let lang = self.lang;
        match lang {
            Lang::Python | Lang::Sympy | Lang::Julia => {
                let op = if lang == Lang::Julia { "^" } else { "**" };
                let exp = match int_exponent(b) {
                    Some(k) if k < 0 => format!("({k})"),
                    Some(k) => k.to_string(),
                    None => operand(self, b, 3),
                };
                // Julia reads `-2^2` as -(2^2) too, so a negative base keeps its parentheses.
                format!("{}{op}{exp}", operand(self, a, 5))
            }
            Lang::Rust => {
                let recv = receiver(a, self.var);
                match int_exponent(b) {
                    Some(k) => format!("{recv}.powi({k})"),
                    None => format!("{recv}.powf({})", print(self, b)),
                }
            }
            Lang::C | Lang::Latex => {
                format!("pow({}, {})", print(self, a), print(self, b))
            }
        }
    }

    fn call(&self, f: Func, a: &Expr) -> String {
        match self.lang {
            Lang::Rust => format!("{}.{}()", receiver(a, self.var), func_name(f, self.lang)),
            _ => format!("{}({})", func_name(f, self.lang), print(self, a)),
        }
    }
}

/// An expression in the syntax of a programming language; `var` names the variables.
pub(super) fn code(e: &Expr, lang: Lang, var: &dyn Fn(&str) -> String) -> String {
    print(&Code { lang, var }, e)
}

/// The receiver of a Rust method call: an atom, a number with its type spelled out.
fn receiver(a: &Expr, var: &dyn Fn(&str) -> String) -> String {
    match a {
        Expr::Num(v) if v.is_finite() => format!("({v:?}_f64)"),
        Expr::Var(n) => var(n),
        Expr::Call(..) => code(a, Lang::Rust, var),
        _ => format!("({})", code(a, Lang::Rust, var)),
    }
}

/// The statements of a right-hand side over arrays (Rust, C) and its closing brace: each name
/// of `p` and each state of `u` bound to a local declared by `decl` (`let`, `const double`),
/// then `du[k] = …;` for each equation.
pub(super) fn array_rhs_body(
    s: &mut String,
    sys: &System,
    lang: Lang,
    decl: &str,
    var: &dyn Fn(&str) -> String,
) {
    for (k, name) in sys.p_names().iter().enumerate() {
        let _ = writeln!(s, "    {decl} {} = p[{k}];", var(name));
    }
    for (k, st) in sys.states.iter().enumerate() {
        let _ = writeln!(s, "    {decl} {} = u[{k}];", var(st));
    }
    for (k, e) in sys.equations.iter().enumerate() {
        let _ = writeln!(s, "    du[{k}] = {};", code(e, lang, var));
    }
    let _ = writeln!(s, "}}");
}
