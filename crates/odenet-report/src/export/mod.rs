//! `odenet export`: a discovered system as code that a user pastes or imports — Python (numpy
//! right-hand side and a `solve_ivp` helper), SymPy, Julia (DifferentialEquations.jl and
//! ModelingToolkit), Rust, C — or as a LaTeX `align` block; and the rounding of coefficients to
//! the digits their standard errors support, which the printed summary and the report page share.
//!
//! Everything is built from a [`ModelFile`] (so a model read back from disk exports the same as a
//! fresh fit) through one intermediate [`System`]: the equations as expressions whose names are
//! states, parameters and constants, and whose numbers are already rounded.
//!
//! Here: the target languages, the entry points [`export`] and [`describe`] and the header
//! texts all targets share. `rounding` rounds numbers to their standard errors; `system`
//! builds the [`System`]; `names` makes identifiers of a language; `printer` places the
//! parentheses of every notation and `code` writes an expression in a programming language; `python`, `julia`, `rust` and `c` write one target
//! each; `latex` and `mathml` typeset equations (the page uses the MathML).

mod c;
mod code;
mod julia;
mod latex;
mod mathml;
mod names;
mod printer;
mod python;
mod rounding;
mod rust;
mod system;
#[cfg(test)]
mod tests;

use std::fmt::Write;

use crate::ModelFile;

pub use latex::{latex_expr, latex_name};
pub use mathml::{mathml_equation, mathml_expr, mathml_name};
pub use rounding::{Precision, format_se, format_to_se, round_to_se, value_pm};
pub use system::{ExportExperiment, System, fit_equations, library_equation, without_zero_terms};

/// A target of `odenet export --to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Latex,
    Python,
    Sympy,
    Julia,
    Rust,
    C,
}

impl Lang {
    pub const ALL: [Lang; 6] = [
        Lang::Latex,
        Lang::Python,
        Lang::Sympy,
        Lang::Julia,
        Lang::Rust,
        Lang::C,
    ];

    /// The name used by `--to`.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Latex => "latex",
            Lang::Python => "python",
            Lang::Sympy => "sympy",
            Lang::Julia => "julia",
            Lang::Rust => "rust",
            Lang::C => "c",
        }
    }

    /// The language called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExportError {
    #[error("the model file's {what} does not parse at byte {offset}: {message}")]
    Parse {
        what: String,
        offset: usize,
        message: String,
    },
}

/// A model file as code or LaTeX.
pub fn export(m: &ModelFile, lang: Lang, precision: Precision) -> Result<String, ExportError> {
    let sys = System::from_model(m, precision)?;
    Ok(match lang {
        Lang::Latex => latex::latex(&sys),
        Lang::Python => python::python(&sys),
        Lang::Sympy => python::sympy(&sys),
        Lang::Julia => julia::julia(&sys),
        Lang::Rust => rust::rust(&sys),
        Lang::C => c::c(&sys),
    })
}

/// A printed summary of a model file: the equations with coefficients rounded to their standard
/// errors, then every coefficient (library terms or parameters) as `value ± se`.
pub fn describe(m: &ModelFile) -> Result<String, ExportError> {
    let sys = System::from_model(m, Precision::StandardError)?;
    let mut s = String::new();
    let _ = writeln!(s, "{}: discovered equations", sys.name);
    let w = sys.states.iter().map(|x| x.len()).max().unwrap_or(1);
    for (k, (st, e)) in sys.states.iter().zip(&sys.equations).enumerate() {
        let hidden = if sys.hidden.get(k).copied().unwrap_or(false) {
            "   (hidden)"
        } else {
            ""
        };
        let _ = writeln!(s, "  d{st:<w$}/dt = {e}{hidden}");
    }
    if !m.terms.is_empty() {
        let _ = writeln!(s, "coefficients (± standard error):");
        let rows: Vec<(String, String)> = m
            .states
            .iter()
            .zip(&m.terms)
            .flat_map(|(st, ts)| {
                ts.iter().map(move |t| {
                    (
                        format!("d{st}/dt[{}]", t.name),
                        value_pm(t.value, t.std_error),
                    )
                })
            })
            .collect();
        let nw = rows.iter().map(|r| r.0.len()).max().unwrap_or(1);
        for (name, value) in rows {
            let _ = writeln!(s, "  {name:<nw$} = {value}");
        }
    } else if !m.params.is_empty() {
        let _ = writeln!(s, "parameters:");
        let pw = m.params.iter().map(|(n, _)| n.len()).max().unwrap_or(1);
        for (k, (n, v)) in m.params.iter().enumerate() {
            let se = m.param_std_errors.get(k).copied().unwrap_or(f64::NAN);
            let _ = writeln!(s, "  {n:<pw$} = {}", value_pm(*v, se));
        }
    }
    Ok(s)
}

/// The start of a target's output: the header comment that `head` writes from the system's
/// name (made safe inside a comment) and the note on how its numbers are rounded.
fn begin(sys: &System, head: impl FnOnce(&str, &str) -> String) -> String {
    head(&comment_text(&sys.name), rounding_note(sys))
}

fn rounding_note(sys: &System) -> &'static str {
    match sys.precision {
        Precision::StandardError => {
            "Coefficients are rounded to the digits their standard errors support \
             (`--full-precision` keeps every digit)."
        }
        Precision::Full => "Coefficients at full precision.",
    }
}

/// Text safe inside a comment of any of the languages (no comment terminators, one line).
fn comment_text(s: &str) -> String {
    s.replace("*/", "* /")
        .replace("=#", "= #")
        .replace(['\n', '\r'], " ")
}
