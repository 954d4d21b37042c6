//! `--to c`: a parameter array and a right-hand side function over `double` arrays.

use std::fmt::Write;

use super::code::{array_rhs_body, lits};
use super::names::Names;
use super::{Lang, System, begin, comment_text};

const C_RESERVED: &[&str] = &[
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "u", "p", "du", "t", "pow", "exp", "log",
    "sin", "cos", "sqrt", "rhs",
];

pub(super) fn c(sys: &System) -> String {
    let names = Names::new(sys, C_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = begin(sys, |name, note| {
        format!(
            "/* {name}: the system discovered by odenet (`odenet export --to c`).\n * {note} */\n\n"
        )
    });
    let _ = writeln!(s, "#include <math.h>\n");
    let _ = writeln!(
        s,
        "/* States, in the order of u and du: {}. */",
        comment_text(&sys.states.join(", "))
    );
    let pn = sys.p_names();
    let pv = sys.p_values();
    if !pn.is_empty() {
        let _ = writeln!(
            s,
            "/* Parameters and constants, in the order of p (the constants of the first experiment): {}. */",
            comment_text(&pn.join(", "))
        );
        let _ = writeln!(
            s,
            "static const double PARAMS[{}] = {{{}}};",
            pv.len(),
            lits(&pv, Lang::C)
        );
    }
    let _ = writeln!(s, "\n/* The right-hand side du = f(u, p) at time t. */");
    let _ = writeln!(
        s,
        "void rhs(double t, const double *u, const double *p, double *du)\n{{"
    );
    let _ = writeln!(s, "    (void)t;\n    (void)p;");
    array_rhs_body(&mut s, sys, Lang::C, "const double", &var);
    s
}
