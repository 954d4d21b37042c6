//! `--to rust`: constants for the states and parameters and a right-hand side function over
//! slices.

use std::fmt::Write;

use super::code::{array_rhs_body, lits};
use super::names::{Names, quoted};
use super::{Lang, System, begin};

const RUST_RESERVED: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "u", "p", "du", "t",
    "f64",
];

pub(super) fn rust(sys: &System) -> String {
    let names = Names::new(sys, RUST_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = begin(sys, |name, note| {
        format!(
            "//! {name}: the system discovered by odenet (`odenet export --to rust`).\n//! {note}\n\n"
        )
    });
    let n = sys.states.len();
    let states: Vec<String> = sys.states.iter().map(|x| quoted(x)).collect();
    let _ = writeln!(s, "/// The states, in the order of `u` and `du`.");
    let _ = writeln!(
        s,
        "pub const STATES: [&str; {n}] = [{}];",
        states.join(", ")
    );
    let pn = sys.p_names();
    let pv = sys.p_values();
    let _ = writeln!(
        s,
        "/// The names of the parameters and constants, in the order of `p`."
    );
    let _ = writeln!(
        s,
        "pub const PARAM_NAMES: [&str; {}] = [{}];",
        pn.len(),
        pn.iter().map(|x| quoted(x)).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(
        s,
        "/// Their values (the constants of the first experiment): the default `p`."
    );
    let _ = writeln!(
        s,
        "pub const PARAMS: [f64; {}] = [{}];\n",
        pv.len(),
        lits(&pv, Lang::Rust)
    );
    let _ = writeln!(s, "/// The right-hand side `du = f(u, p)` at time `t`.");
    let _ = writeln!(s, "#[allow(unused_variables, non_snake_case, clippy::all)]");
    let _ = writeln!(
        s,
        "pub fn rhs(t: f64, u: &[f64], p: &[f64], du: &mut [f64]) {{"
    );
    array_rhs_body(&mut s, sys, Lang::Rust, "let", &var);
    s
}
