//! `odenet simplify (EXPR|SPEC) [--latex]`

use std::path::Path;

use odenet_spec::ModelSpec;
use odenet_symbolic::{SimplifyOptions, Symbols};

use super::load_spec;
use crate::CliError;
use crate::args::SimplifyArgs;

pub fn run(a: SimplifyArgs) -> Result<u8, CliError> {
    let path = Path::new(&a.input);
    let looks_like_file = a.input.ends_with(".toml") || (path.is_file() && !a.input.contains(' '));
    if !looks_like_file {
        // Parse here first so that a syntax error is shown with its column and a caret.
        if let Err(e) = odenet_spec::parse_expr(&a.input) {
            return Err(CliError::input(syntax_error(&a.input, &e)));
        }
        let out = odenet_symbolic::simplify_str(&a.input, a.latex)
            .map_err(|e| CliError::input(format!("error: {e}")))?;
        super::out(&format!("{out}\n"));
        return Ok(0);
    }
    let spec = load_spec(path)?;
    match &spec.model {
        ModelSpec::Template {
            params, equations, ..
        } => {
            let syms = Symbols {
                states: spec.states.clone(),
                params: params.iter().map(|p| p.name.clone()).collect(),
                consts: spec.constants.clone(),
            };
            let s = odenet_symbolic::simplify(equations, &syms, &SimplifyOptions::default())
                .map_err(|e| CliError::input(format!("error: {e}")))?;
            for (st, &r) in spec.states.iter().zip(&s.dag.roots) {
                let e = if a.latex {
                    s.dag.to_latex(r, &syms)
                } else {
                    s.dag.to_infix(r, &syms)
                };
                if a.latex {
                    super::out(&format!("\\frac{{d{st}}}{{dt}} = {e}\n"));
                } else {
                    super::out(&format!("d{st}/dt = {e}\n"));
                }
            }
        }
        ModelSpec::Library { order, extra } => {
            let names = odenet_symbolic::library::monomials(spec.states.len(), *order)
                .iter()
                .map(|e| odenet_symbolic::library::monomial_name(e, &spec.states))
                .chain(extra.iter().map(|e| e.to_string()))
                .collect::<Vec<_>>();
            for st in &spec.states {
                super::out(&format!("d{st}/dt = Σ θ·[{}]\n", names.join(", ")));
            }
        }
    }
    Ok(0)
}

/// Renders a syntax error in a command-line expression with a 1-based column and a caret line.
fn syntax_error(src: &str, e: &odenet_spec::ExprError) -> String {
    let offset = e.offset.min(src.len());
    let col = src.get(..offset).map_or(offset, |p| p.chars().count()) + 1;
    let width = src
        .get(offset..(offset + e.len).min(src.len()))
        .map_or(1, |t| t.chars().count().max(1));
    let mut s = format!(
        "error: cannot parse the expression: {}\n  --> column {col}\n   |\n   | {src}\n   | {}{}",
        e.message,
        " ".repeat(col - 1),
        "^".repeat(width)
    );
    if let Some(h) = &e.help {
        s.push_str(&format!("\n   = help: {h}"));
    }
    s
}
