//! `odenet check SPEC`: validate and print what was understood.

use std::fmt::Write;

use odenet_spec::{Initial, ModelSpec, Segment, Spec};
use odenet_symbolic::{SimplifyOptions, Symbols};

use super::{load_spec, load_tables};
use crate::CliError;
use crate::args::CheckArgs;

pub fn run(a: CheckArgs) -> Result<u8, CliError> {
    let spec = load_spec(&a.spec)?;
    let tables = load_tables(&spec)?;
    let text = describe(&spec, &tables)?;
    super::out(&text);
    Ok(0)
}

/// What `check` prints; separate from I/O so that golden tests can call the binary and compare.
pub fn describe(spec: &Spec, tables: &[odenet_spec::Table]) -> Result<String, CliError> {
    let mut s = String::new();
    let _ = writeln!(s, "spec {}", spec.name);
    let _ = writeln!(s, "states:");
    for (st, h) in spec.states.iter().zip(&spec.hidden) {
        let _ = writeln!(s, "  {st}{}", if *h { " (hidden)" } else { "" });
    }
    if !spec.constants.is_empty() {
        let _ = writeln!(s, "constants: {}", spec.constants.join(", "));
    }
    match &spec.model {
        ModelSpec::Library { order, extra } => {
            let n = spec.states.len();
            let mons = odenet_symbolic::library::monomials(n, *order);
            let names: Vec<String> = mons
                .iter()
                .map(|e| odenet_symbolic::library::monomial_name(e, &spec.states))
                .chain(extra.iter().map(|e| e.to_string()))
                .collect();
            let _ = writeln!(
                s,
                "library: complete polynomials of order {order} in {n} states: {} terms per equation, {} coefficients",
                names.len(),
                names.len() * n
            );
            let _ = writeln!(s, "  terms: {}", names.join(", "));
            // The library as one system with a coefficient per term, to report the DAG sizes.
            let mut params = Vec::new();
            let mut eqs = Vec::new();
            let feats: Vec<odenet_spec::Expr> = names
                .iter()
                .map(|nm| odenet_spec::parse_expr(nm).unwrap_or(odenet_spec::Expr::Num(1.0)))
                .collect();
            for i in 0..n {
                let mut sum: Option<odenet_spec::Expr> = None;
                for (j, f) in feats.iter().enumerate() {
                    let pname = format!("c{i}_{j}");
                    params.push(pname.clone());
                    let t = odenet_spec::Expr::Mul(
                        Box::new(odenet_spec::Expr::Var(pname)),
                        Box::new(f.clone()),
                    );
                    sum = Some(match sum {
                        None => t,
                        Some(a) => odenet_spec::Expr::Add(Box::new(a), Box::new(t)),
                    });
                }
                eqs.push(sum.unwrap_or(odenet_spec::Expr::Num(0.0)));
            }
            let syms = Symbols {
                states: spec.states.clone(),
                params,
                consts: spec.constants.clone(),
            };
            if let Ok(simp) = odenet_symbolic::simplify(&eqs, &syms, &SimplifyOptions::default()) {
                let _ = writeln!(
                    s,
                    "dag: {} nodes as written, {} after simplification ({})",
                    simp.dag_size_before, simp.dag_size, simp.stop_reason
                );
            }
        }
        ModelSpec::Template {
            params,
            equations,
            equation_text,
        } => {
            let _ = writeln!(s, "parameters:");
            for p in params {
                let mut line = format!("  {}", p.name);
                if p.fixed {
                    let _ = write!(line, " = {} (fixed)", p.init);
                } else {
                    let _ = write!(line, " init {}", p.init);
                }
                if let Some(m) = p.min {
                    let _ = write!(line, ", min {m}");
                }
                if let Some(m) = p.max {
                    let _ = write!(line, ", max {m}");
                }
                if !p.sparse {
                    line.push_str(", not sparse");
                }
                let _ = writeln!(s, "{line}");
            }
            let syms = Symbols {
                states: spec.states.clone(),
                params: params.iter().map(|p| p.name.clone()).collect(),
                consts: spec.constants.clone(),
            };
            let simp = odenet_symbolic::simplify(equations, &syms, &SimplifyOptions::default())
                .map_err(|e| CliError::input(format!("error: {e}")))?;
            let _ = writeln!(s, "equations:");
            for ((st, text), &r) in spec.states.iter().zip(equation_text).zip(&simp.dag.roots) {
                let _ = writeln!(s, "  d{st}/dt = {text}");
                // The indent is written out: a format width panics beyond 65535, and a name
                // may be longer than that.
                let indent = " ".repeat(st.chars().count().min(60) + 4);
                let _ = writeln!(
                    s,
                    "  {indent}   simplified: {}",
                    simp.dag.to_infix(r, &syms)
                );
            }
            let _ = writeln!(
                s,
                "dag: {} nodes as written, {} after simplification ({})",
                simp.dag_size_before, simp.dag_size, simp.stop_reason
            );
        }
    }
    let f = &spec.fit;
    let seg = match f.segment {
        Segment::Points(m) => m.to_string(),
        Segment::Whole => "whole".into(),
        Segment::Auto => "auto".into(),
    };
    let _ = writeln!(
        s,
        "fit: segment {seg}, stride {}, mu {:e}..{:e}, threshold {:e}..{:e}, rounds {}, solver {:?}, rtol {:e}, atol {:e}, learn_noise {}, init {:?}, holdout {}, seed {}, prune {:?}, max_iters {}",
        f.stride,
        f.mu.0,
        f.mu.1,
        f.threshold.0,
        f.threshold.1,
        f.rounds,
        f.solver,
        f.rtol,
        f.atol,
        f.learn_noise,
        f.init,
        f.holdout,
        f.seed,
        f.prune,
        f.max_iters
    );
    let base = spec
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    for (d, t) in spec.data.iter().zip(tables) {
        let shown = d.file.strip_prefix(&base).unwrap_or(&d.file);
        let missing: usize = t
            .values
            .iter()
            .zip(&spec.hidden)
            .filter(|(_, h)| !**h)
            .map(|(c, _)| c.iter().filter(|v| v.is_nan()).count())
            .sum();
        let _ = write!(
            s,
            "data {}: {} rows, t from {} to {}",
            shown.display(),
            t.times.len(),
            t.times.first().copied().unwrap_or(f64::NAN),
            t.times.last().copied().unwrap_or(f64::NAN)
        );
        if missing > 0 {
            let _ = write!(s, ", {missing} missing values");
        }
        let _ = writeln!(s);
        if !d.constants.is_empty() {
            let cs: Vec<String> = spec
                .constants
                .iter()
                .zip(&d.constants)
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            let _ = writeln!(s, "  constants: {}", cs.join(", "));
        }
        let inits: Vec<String> = spec
            .states
            .iter()
            .zip(&d.initial)
            .filter_map(|(st, i)| match i {
                Initial::Observed => None,
                Initial::Value(v) => Some(format!("{st} = {v}")),
                Initial::Expr(e) => Some(format!("{st} = {e}")),
                Initial::Fit => Some(format!("{st} fitted")),
            })
            .collect();
        if !inits.is_empty() {
            let _ = writeln!(s, "  initial: {}", inits.join(", "));
        }
    }
    Ok(s)
}
