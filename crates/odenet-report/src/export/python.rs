//! `--to python` (numpy right-hand side and a scipy `solve_ivp` helper) and `--to sympy`
//! (symbolic equations).

use std::fmt::Write;

use super::code::{code, lit, lits};
use super::names::{Names, quoted};
use super::{Lang, System, begin};

pub(super) const PYTHON_RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "np",
    "sp",
    "t",
    "p",
    "rhs",
    "solve",
    "values",
    "equations",
];

pub(super) fn python(sys: &System) -> String {
    let names = Names::new(sys, PYTHON_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = begin(sys, |name, note| {
        let name = name.replace('"', "'");
        format!(
            "\"\"\"{name}: the system discovered by odenet (`odenet export --to python`).\n\n{note}\n\"\"\"\n\n"
        )
    });
    let _ = writeln!(s, "import numpy as np\n");
    let list = |v: &[String]| v.iter().map(|x| quoted(x)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(s, "#: The states, in the order of x in rhs(t, x, p).");
    let _ = writeln!(s, "STATES = [{}]", list(&sys.states));
    let hidden: Vec<String> = sys
        .states
        .iter()
        .zip(&sys.hidden)
        .filter(|(_, h)| **h)
        .map(|(n, _)| n.clone())
        .collect();
    let _ = writeln!(s, "#: States with no data column.");
    let _ = writeln!(s, "HIDDEN = [{}]", list(&hidden));
    let _ = writeln!(
        s,
        "#: The parameters and constants (the first experiment's) by name: rhs's default p."
    );
    if sys.p_names().is_empty() {
        let _ = writeln!(s, "PARAMS = {{}}");
    } else {
        let _ = writeln!(s, "PARAMS = {{");
        for (n, v) in sys.p_names().iter().zip(sys.p_values()) {
            let _ = writeln!(s, "    {}: {},", quoted(n), lit(v, Lang::Python));
        }
        let _ = writeln!(s, "}}");
    }
    let _ = writeln!(
        s,
        "#: Per experiment of the fitted data: its constants, time span and the model's state at t0."
    );
    let _ = writeln!(s, "EXPERIMENTS = [");
    for e in &sys.experiments {
        let consts: Vec<String> = e
            .constants
            .iter()
            .map(|(n, v)| format!("{}: {}", quoted(n), lit(*v, Lang::Python)))
            .collect();
        let _ = writeln!(
            s,
            "    {{\"constants\": {{{}}}, \"t0\": {}, \"t_end\": {}, \"x0\": [{}]}},",
            consts.join(", "),
            lit(e.t0, Lang::Python),
            lit(e.t_end, Lang::Python),
            lits(&e.initial, Lang::Python)
        );
    }
    let _ = writeln!(s, "]\n\n");
    let _ = writeln!(s, "def rhs(t, x, p=PARAMS):");
    let _ = writeln!(
        s,
        "    \"\"\"dx/dt at time t and state x (ordered as STATES); p maps the names of PARAMS to values.\"\"\""
    );
    for n in sys.p_names() {
        let _ = writeln!(s, "    {} = p[{}]", var(n), quoted(n));
    }
    let ids: Vec<String> = sys.states.iter().map(|n| var(n)).collect();
    let _ = writeln!(
        s,
        "    {}{} = x",
        ids.join(", "),
        if ids.len() == 1 { "," } else { "" }
    );
    let _ = writeln!(s, "    return np.array([");
    for (st, e) in sys.states.iter().zip(&sys.equations) {
        let mut body = code(e, Lang::Python, &var);
        // A constant right-hand side still follows the shape of the states.
        if e.vars().iter().all(|v| !sys.states.iter().any(|s| s == v)) {
            body = format!("{body} + 0.0*{}", var(&sys.states[0]));
        }
        let _ = writeln!(s, "        {body},  # d{st}/dt");
    }
    let _ = writeln!(s, "    ])\n\n");
    let _ = writeln!(s, "def solve(t_span, x0, p=PARAMS, **options):");
    let _ = writeln!(
        s,
        "    \"\"\"Integrates the system with scipy's solve_ivp (options are passed on).\"\"\""
    );
    let _ = writeln!(s, "    from scipy.integrate import solve_ivp\n");
    let _ = writeln!(s, "    options.setdefault(\"rtol\", 1e-8)");
    let _ = writeln!(s, "    options.setdefault(\"atol\", 1e-10)");
    let _ = writeln!(
        s,
        "    return solve_ivp(rhs, t_span, x0, args=(p,), **options)\n\n"
    );
    let _ = writeln!(s, "if __name__ == \"__main__\":");
    let _ = writeln!(s, "    for e in EXPERIMENTS:");
    let _ = writeln!(
        s,
        "        sol = solve((e[\"t0\"], e[\"t_end\"]), e[\"x0\"], {{**PARAMS, **e[\"constants\"]}})"
    );
    let _ = writeln!(
        s,
        "        print(\"t =\", sol.t[-1], dict(zip(STATES, sol.y[:, -1])))"
    );
    s
}

pub(super) fn sympy(sys: &System) -> String {
    let names = Names::new(sys, PYTHON_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = begin(sys, |name, note| {
        let name = name.replace('"', "'");
        format!(
            "\"\"\"{name}: the system discovered by odenet, as SymPy equations (`odenet export --to sympy`).\n\n{note}\n\"\"\"\n\n"
        )
    });
    let _ = writeln!(s, "import sympy as sp\n");
    let _ = writeln!(s, "t = sp.Symbol(\"t\")");
    let _ = writeln!(s, "# The states, as functions of t.");
    for n in &sys.states {
        let _ = writeln!(s, "{} = sp.Function({})(t)", var(n), quoted(n));
    }
    let pn = sys.p_names();
    if !pn.is_empty() {
        let _ = writeln!(s, "# Parameters and constants.");
        for n in &pn {
            let _ = writeln!(s, "{} = sp.Symbol({}, real=True)", var(n), quoted(n));
        }
    }
    let _ = writeln!(
        s,
        "\n#: Values of the parameters and constants (the first experiment's), for .subs(values)."
    );
    if pn.is_empty() {
        let _ = writeln!(s, "values = {{}}\n");
    } else {
        let _ = writeln!(s, "values = {{");
        for (n, v) in pn.iter().zip(sys.p_values()) {
            let _ = writeln!(s, "    {}: {},", var(n), lit(v, Lang::Sympy));
        }
        let _ = writeln!(s, "}}\n");
    }
    let _ = writeln!(s, "equations = [");
    for (st, e) in sys.states.iter().zip(&sys.equations) {
        let _ = writeln!(
            s,
            "    sp.Eq(sp.Derivative({}, t), {}),",
            var(st),
            code(e, Lang::Sympy, &var)
        );
    }
    let _ = writeln!(s, "]");
    s
}
