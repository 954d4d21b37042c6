//! `--to julia`: an in-place right-hand side for DifferentialEquations.jl, with the same system
//! for ModelingToolkit in a comment.

use std::fmt::Write;

use super::code::{code, lit, lits};
use super::names::{Names, quoted};
use super::{Lang, System, begin};

const JULIA_RESERVED: &[&str] = &[
    "baremodule",
    "begin",
    "break",
    "catch",
    "const",
    "continue",
    "do",
    "else",
    "elseif",
    "end",
    "export",
    "false",
    "finally",
    "for",
    "function",
    "global",
    "if",
    "import",
    "let",
    "local",
    "macro",
    "module",
    "quote",
    "return",
    "struct",
    "true",
    "try",
    "using",
    "while",
    "du",
    "u",
    "p",
    "t",
    "D",
    "exp",
    "log",
    "sin",
    "cos",
    "sqrt",
];

/// A Julia NamedTuple literal: `(a = 1.0, b = 2.0)`, `(a = 1.0,)`, `NamedTuple()`.
fn julia_tuple(items: &[(String, String)]) -> String {
    match items.len() {
        0 => "NamedTuple()".into(),
        1 => format!("({} = {},)", items[0].0, items[0].1),
        _ => format!(
            "({})",
            items
                .iter()
                .map(|(a, b)| format!("{a} = {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(super) fn julia(sys: &System) -> String {
    let names = Names::new(sys, JULIA_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = begin(sys, |name, note| {
        format!(
            "# {name}: the system discovered by odenet (`odenet export --to julia`).\n# {note}\n\n"
        )
    });
    let states: Vec<String> = sys.states.iter().map(|x| quoted(x)).collect();
    let _ = writeln!(s, "# The states, in the order of u and du.");
    let _ = writeln!(s, "const STATES = [{}]", states.join(", "));
    let params: Vec<(String, String)> = sys
        .p_names()
        .iter()
        .zip(sys.p_values())
        .map(|(n, v)| (var(n), lit(v, Lang::Julia)))
        .collect();
    let _ = writeln!(
        s,
        "# The parameters and constants (the first experiment's): the default p."
    );
    let _ = writeln!(s, "const PARAMS = {}", julia_tuple(&params));
    let _ = writeln!(
        s,
        "# Per experiment of the fitted data: its constants, time span and the model's state at t0."
    );
    let _ = writeln!(s, "const EXPERIMENTS = [");
    for e in &sys.experiments {
        let consts: Vec<(String, String)> = e
            .constants
            .iter()
            .map(|(n, v)| (var(n), lit(*v, Lang::Julia)))
            .collect();
        let _ = writeln!(
            s,
            "    (constants = {}, t0 = {}, t_end = {}, u0 = [{}]),",
            julia_tuple(&consts),
            lit(e.t0, Lang::Julia),
            lit(e.t_end, Lang::Julia),
            lits(&e.initial, Lang::Julia)
        );
    }
    let _ = writeln!(s, "]\n");
    let _ = writeln!(
        s,
        "\"\"\"In-place right-hand side du = f(u, p, t) for DifferentialEquations.jl.\"\"\""
    );
    let _ = writeln!(s, "function f!(du, u, p, t)");
    for n in sys.p_names() {
        let _ = writeln!(s, "    {} = p.{}", var(n), var(n));
    }
    let ids: Vec<String> = sys.states.iter().map(|n| var(n)).collect();
    let _ = writeln!(
        s,
        "    {}{} = u",
        ids.join(", "),
        if ids.len() == 1 { "," } else { "" }
    );
    for (k, e) in sys.equations.iter().enumerate() {
        let _ = writeln!(s, "    du[{}] = {}", k + 1, code(e, Lang::Julia, &var));
    }
    let _ = writeln!(s, "    return nothing\nend\n");
    let _ = writeln!(s, "# With DifferentialEquations.jl:");
    let _ = writeln!(s, "#     using DifferentialEquations");
    let _ = writeln!(s, "#     e = EXPERIMENTS[1]");
    let _ = writeln!(
        s,
        "#     prob = ODEProblem(f!, e.u0, (e.t0, e.t_end), merge(PARAMS, e.constants))"
    );
    let _ = writeln!(
        s,
        "#     sol = solve(prob, Tsit5(); reltol = 1e-8, abstol = 1e-10)"
    );
    let _ = writeln!(s, "#\n# The same system for ModelingToolkit:");
    let _ = writeln!(s, "#     using ModelingToolkit");
    let _ = writeln!(
        s,
        "#     using ModelingToolkit: t_nounits as t, D_nounits as D"
    );
    let vars: Vec<String> = ids.iter().map(|v| format!("{v}(t)")).collect();
    let _ = writeln!(s, "#     @variables {}", vars.join(" "));
    if !params.is_empty() {
        let ps: Vec<String> = params.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let _ = writeln!(s, "#     @parameters {}", ps.join(" "));
    }
    let _ = writeln!(s, "#     eqs = [");
    for (st, e) in sys.states.iter().zip(&sys.equations) {
        let _ = writeln!(
            s,
            "#         D({}) ~ {},",
            var(st),
            code(e, Lang::Julia, &var)
        );
    }
    let _ = writeln!(s, "#     ]");
    let _ = writeln!(s, "#     @mtkbuild sys = ODESystem(eqs, t)");
    s
}
