//! `--to latex`: names, numbers and expressions typeset in LaTeX, and the system as an `align`
//! block with its parameters.

use std::fmt::Write;

use odenet_spec::{Expr, Func, format_number};

use super::printer::{Notation, operand, print};
use super::rounding::format_se;
use super::{System, begin};

pub(super) const GREEK: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
];

/// A name split for typesetting: its base and its subscript (`x1` → x, 1; `m_tot` → m, tot).
pub(super) fn split_name(name: &str) -> (&str, &str) {
    if let Some((a, b)) = name.split_once('_')
        && !a.is_empty()
        && !b.is_empty()
    {
        return (a, b);
    }
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && digits < name.len() {
        name.split_at(name.len() - digits)
    } else {
        (name, "")
    }
}

fn latex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '_' | '#' | '$' | '%' | '&' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\\' => out.push_str("\\backslash "),
            '^' => out.push_str("\\hat{}"),
            '~' => out.push_str("\\sim "),
            _ => out.push(c),
        }
    }
    out
}

fn latex_base(b: &str) -> String {
    if GREEK.contains(&b) {
        format!("\\{b}")
    } else if b.chars().count() == 1 {
        latex_escape(b)
    } else {
        format!("\\mathrm{{{}}}", latex_escape(b))
    }
}

/// A name in LaTeX: `x`, `x_{1}`, `m_{\mathrm{tot}}`, `\alpha`, `\mathrm{Mg}`.
pub fn latex_name(name: &str) -> String {
    let (b, sub) = split_name(name);
    if sub.is_empty() {
        latex_base(b)
    } else {
        let sub = if sub.chars().all(|c| c.is_ascii_digit()) || sub.chars().count() == 1 {
            latex_escape(sub)
        } else {
            latex_base(sub)
        };
        format!("{}_{{{sub}}}", latex_base(b))
    }
}

/// A number in LaTeX: `27.99`, `1.5 \times 10^{-7}`.
fn latex_num(v: f64) -> String {
    let t = format_number(v.abs());
    let body = match t.split_once('e') {
        Some((m, e)) => format!("{m} \\times 10^{{{e}}}"),
        None => t,
    };
    if v.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// LaTeX (math mode) as a notation for the shared printer.
struct Latex;

impl Notation for Latex {
    const NEG: &'static str = "-";
    const PLUS: &'static str = " + ";
    const MINUS: &'static str = " - ";
    const TIMES: [&'static str; 2] = [" \\, ", " \\cdot "];

    fn paren(&self, s: &str) -> String {
        format!("\\left({s}\\right)")
    }

    fn num(&self, v: f64) -> String {
        latex_num(v)
    }

    fn var(&self, name: &str) -> String {
        latex_name(name)
    }

    fn div(&self, a: &Expr, b: &Expr) -> String {
        format!("\\frac{{{}}}{{{}}}", latex_expr(a), latex_expr(b))
    }

    fn pow(&self, a: &Expr, b: &Expr) -> String {
        format!("{{{}}}^{{{}}}", operand(self, a, 5), latex_expr(b))
    }

    fn call(&self, f: Func, a: &Expr) -> String {
        match f {
            Func::Sqrt => format!("\\sqrt{{{}}}", latex_expr(a)),
            _ => format!("\\{}\\left({}\\right)", f.name(), latex_expr(a)),
        }
    }
}

/// An expression in LaTeX (math mode).
pub fn latex_expr(e: &Expr) -> String {
    print(&Latex, e)
}

pub(super) fn latex(sys: &System) -> String {
    let mut s = begin(sys, |name, note| {
        format!(
            "% {name}: the system discovered by odenet (`odenet export --to latex`).\n% {note}\n"
        )
    });
    let _ = writeln!(s, "\\begin{{align}}");
    let n = sys.states.len();
    for (k, (st, e)) in sys.states.iter().zip(&sys.equations).enumerate() {
        let end = if k + 1 < n { " \\\\" } else { "" };
        let _ = writeln!(
            s,
            "  \\frac{{\\mathrm{{d}}{}}}{{\\mathrm{{d}}t}} &= {}{end}",
            latex_name(st),
            latex_expr(e)
        );
    }
    let _ = writeln!(s, "\\end{{align}}");
    if !sys.params.is_empty() {
        let _ = writeln!(s, "with\n\\begin{{align*}}");
        let m = sys.params.len();
        for (k, (name, v, se)) in sys.params.iter().enumerate() {
            let end = if k + 1 < m { " \\\\" } else { "" };
            let value = latex_num(*v);
            let pm = if se.is_finite() {
                format!(" \\pm {}", latex_num(format_se(*se).parse().unwrap_or(*se)))
            } else if se.is_infinite() {
                " \\quad \\text{(not determined by the data)}".to_string()
            } else {
                String::new()
            };
            let _ = writeln!(s, "  {} &= {value}{pm}{end}", latex_name(name));
        }
        let _ = writeln!(s, "\\end{{align*}}");
    }
    s
}
