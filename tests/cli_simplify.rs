//! `odenet simplify`: the issue's acceptance examples, LaTeX output, a spec as input, and syntax
//! errors that point at the column.

mod common;

use common::odenet;

/// `odenet simplify EXPR` prints exactly `expected` and a newline.
#[track_caller]
fn simplifies_to(expr: &str, expected: &str) {
    let run = odenet(["simplify", expr]);
    run.expect(0);
    assert_eq!(run.stdout, format!("{expected}\n"), "simplify {expr:?}");
    assert_eq!(run.stderr, "");
}

#[test]
fn acceptance_examples_of_the_issue() {
    // The first one starts with `-`: it must be read as the expression, not as a flag.
    simplifies_to("-(a0 + a1*m) + a0 + 2*a1*m", "a1*m");
    simplifies_to("(x + 1)^2 - x^2 - 2*x", "1");
    simplifies_to("x*y + y*x - 2*x*y + z", "z");
}

#[test]
fn simple_identities() {
    simplifies_to("x - x", "0");
    simplifies_to("-x + 2*x", "x");
    simplifies_to("x*1 + 0", "x");
}

#[test]
fn latex_output() {
    let run = odenet(["simplify", "--latex", "a/b + x^2"]);
    run.expect(0);
    assert_eq!(run.stdout, "\\frac{a}{b} + x^{2}\n");
    // The flag may also follow an expression that starts with `-`.
    let run = odenet(["simplify", "-(a0 + a1*m) + a0 + 2*a1*m", "--latex"]);
    run.expect(0);
    assert_eq!(run.stdout, "a_{1} \\cdot m\n");
}

#[test]
fn a_spec_as_input() {
    let run = odenet(["simplify", "specs/truth/lorenz.toml"]);
    run.expect(0);
    insta::assert_snapshot!("lorenz-truth", run.stdout);
    let run = odenet(["simplify", "--latex", "specs/truth/lorenz.toml"]);
    run.expect(0);
    insta::assert_snapshot!("lorenz-truth-latex", run.stdout);
    // Tied parameters in a template: both equations are simplified together.
    let run = odenet(["simplify", "specs/valid/template-tied.toml"]);
    run.expect(0);
    assert_eq!(
        run.stdout,
        "dx1/dt = x1*(a - b*x2)\ndx2/dt = x2*(-d + b*c*x1)\n"
    );
    // A library spec lists its candidate terms.
    let run = odenet(["simplify", "specs/valid/library-extra.toml"]);
    run.expect(0);
    assert_eq!(
        run.stdout,
        "dx/dt = Σ θ·[1, x, y, sin(x), x/(1 + y^2)]\ndy/dt = Σ θ·[1, x, y, sin(x), x/(1 + y^2)]\n"
    );
}

#[test]
fn a_missing_spec_file_is_named() {
    odenet(["simplify", "specs/no-such-spec.toml"]).input_error(&["specs/no-such-spec.toml"]);
}

#[test]
fn syntax_errors_point_at_the_column() {
    let run = odenet(["simplify", "x +"]);
    run.input_error(&["column 4", "end of expression"]);
    insta::assert_snapshot!("syntax-error-end", run.stderr);

    let run = odenet(["simplify", "a*x - * b"]);
    run.input_error(&["column 7", "`*`"]);
    insta::assert_snapshot!("syntax-error-operator", run.stderr);
    // The caret sits under the offending token: the line after the echoed expression.
    let lines: Vec<&str> = run.stderr.lines().collect();
    let echo = lines
        .iter()
        .position(|l| l.ends_with("a*x - * b"))
        .expect("the expression is echoed");
    let prefix = lines[echo].len() - "a*x - * b".len();
    assert_eq!(
        lines[echo + 1].find('^'),
        Some(prefix + 6),
        "{}",
        run.stderr
    );

    odenet(["simplify", "sin(x"]).input_error(&["column 4", "unclosed `(`"]);
    odenet(["simplify", "tanh(x)"]).input_error(&[]);
    odenet(["simplify", ""]).input_error(&["empty expression"]);
    // Columns count characters, not bytes.
    odenet(["simplify", "θ + é"]).input_error(&["column 1"]);
}
