//! MathML for the report page: names, numbers and expressions, and `d x/dt = f` as one
//! `<math>` element.

use odenet_spec::{Expr, Func, format_number};

use super::latex::{GREEK, split_name};
use super::printer::{Notation, operand, print};

fn mathml_escape(s: &str) -> String {
    crate::page::esc(s)
}

fn mathml_base(b: &str) -> String {
    if GREEK.contains(&b) {
        // The Greek letters in the order of GREEK.
        const GLYPHS: &[&str] = &[
            "α", "β", "γ", "δ", "ε", "ζ", "η", "θ", "ι", "κ", "λ", "μ", "ν", "ξ", "π", "ρ", "σ",
            "τ", "υ", "φ", "χ", "ψ", "ω", "Γ", "Δ", "Θ", "Λ", "Ξ", "Π", "Σ", "Φ", "Ψ", "Ω",
        ];
        let k = GREEK.iter().position(|g| *g == b).unwrap_or(0);
        format!("<mi>{}</mi>", GLYPHS.get(k).copied().unwrap_or("?"))
    } else {
        format!("<mi>{}</mi>", mathml_escape(b))
    }
}

/// A name in MathML: `<mi>x</mi>`, `<msub><mi>x</mi><mn>1</mn></msub>`.
pub fn mathml_name(name: &str) -> String {
    let (b, sub) = split_name(name);
    if sub.is_empty() {
        mathml_base(b)
    } else if sub.chars().all(|c| c.is_ascii_digit()) {
        format!("<msub>{}<mn>{sub}</mn></msub>", mathml_base(b))
    } else {
        format!("<msub>{}{}</msub>", mathml_base(b), mathml_base(sub))
    }
}

fn mathml_num(v: f64) -> String {
    let t = format_number(v.abs());
    let body = match t.split_once('e') {
        Some((m, e)) => format!(
            "<mn>{m}</mn><mo>&#xD7;</mo><msup><mn>10</mn><mn>{}</mn></msup>",
            e.replace('-', "&#x2212;")
        ),
        None => format!("<mn>{t}</mn>"),
    };
    match (v.is_sign_negative(), body.strip_prefix("<mn>")) {
        // A negative number is one token: its minus sign is not spaced like an operator.
        (true, Some(rest)) => format!("<mn>&#x2212;{rest}"),
        (true, None) => format!("<mo>&#x2212;</mo>{body}"),
        (false, _) => body,
    }
}

fn mathml_paren(s: &str) -> String {
    format!("<mrow><mo>(</mo>{s}<mo>)</mo></mrow>")
}

/// MathML content as a notation for the shared printer.
struct MathMl;

impl Notation for MathMl {
    const NEG: &'static str = "<mo>&#x2212;</mo>";
    const PLUS: &'static str = "<mo>+</mo>";
    const MINUS: &'static str = "<mo>&#x2212;</mo>";
    const TIMES: [&'static str; 2] = ["<mo>&#x2062;</mo>", "<mo>&#xB7;</mo>"];

    fn paren(&self, s: &str) -> String {
        mathml_paren(s)
    }

    fn num(&self, v: f64) -> String {
        mathml_num(v)
    }

    fn var(&self, name: &str) -> String {
        mathml_name(name)
    }

    fn div(&self, a: &Expr, b: &Expr) -> String {
        format!(
            "<mfrac><mrow>{}</mrow><mrow>{}</mrow></mfrac>",
            mathml_expr(a),
            mathml_expr(b)
        )
    }

    fn pow(&self, a: &Expr, b: &Expr) -> String {
        format!(
            "<msup><mrow>{}</mrow><mrow>{}</mrow></msup>",
            operand(self, a, 5),
            mathml_expr(b)
        )
    }

    fn call(&self, f: Func, a: &Expr) -> String {
        match f {
            Func::Sqrt => format!("<msqrt>{}</msqrt>", mathml_expr(a)),
            _ => format!(
                "<mi>{}</mi><mo>&#x2061;</mo>{}",
                f.name(),
                mathml_paren(&mathml_expr(a))
            ),
        }
    }
}

/// An expression as MathML content (without the `<math>` element).
pub fn mathml_expr(e: &Expr) -> String {
    print(&MathMl, e)
}

/// `d state/dt = e` as a `<math>` element in display style (inline, so that a table column
/// aligns the equations on the left).
pub fn mathml_equation(state: &str, e: &Expr) -> String {
    format!(
        "<math displaystyle=\"true\"><mrow><mfrac><mrow><mi>d</mi>{}</mrow><mrow><mi>d</mi><mi>t</mi></mrow></mfrac><mo>=</mo>{}</mrow></math>",
        mathml_name(state),
        mathml_expr(e)
    )
}
