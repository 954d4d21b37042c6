//! The printed forms: minimal parentheses, signs pulled out, deterministic order, exact
//! numbers, LaTeX.

use odenet_spec::{Expr, parse_expr};
use odenet_symbolic::{Dag, Symbols, simplify_str};

fn syms() -> Symbols {
    Symbols {
        states: vec!["x".into(), "y".into(), "z".into()],
        params: vec!["a10".into(), "k".into()],
        consts: vec!["m_tot".into()],
    }
}

/// Prints an expression as parsed, without simplification.
fn infix(src: &str) -> String {
    let syms = syms();
    let dag = Dag::from_exprs(&[parse_expr(src).unwrap()], &syms).unwrap();
    dag.to_infix(dag.roots[0], &syms)
}

fn latex(src: &str) -> String {
    let syms = syms();
    let dag = Dag::from_exprs(&[parse_expr(src).unwrap()], &syms).unwrap();
    dag.to_latex(dag.roots[0], &syms)
}

#[test]
fn signs_are_pulled_out() {
    assert_eq!(infix("x + -1*y"), "x - y");
    assert_eq!(infix("-1*x"), "-x");
    assert_eq!(infix("x + (-2)*y"), "x - 2*y");
    assert_eq!(infix("-(x + y)"), "-(x + y)");
    assert_eq!(infix("z - -(x + y)"), "x + y + z");
    assert_eq!(infix("-x^2"), "-x^2");
    assert_eq!(infix("(-x)*(-y)"), "x*y");
}

#[test]
fn parentheses_are_minimal() {
    assert_eq!(infix("2*(x + y)"), "2*(x + y)");
    assert_eq!(infix("x/(y*z)"), "x/(y*z)");
    assert_eq!(infix("(x/y)/z"), "x/y/z");
    assert_eq!(infix("x/(y/z)"), "x/(y/z)");
    assert_eq!(infix("(x + 1)/y"), "(1 + x)/y");
    assert_eq!(infix("(x + 1)^2"), "(1 + x)^2");
    assert_eq!(infix("(x^2)^3"), "(x^2)^3");
    assert_eq!(infix("(-2)^x"), "(-2)^x");
    assert_eq!(infix("x^-1"), "x^(-1)");
    assert_eq!(infix("x^(y + 1)"), "x^(1 + y)");
    assert_eq!(infix("exp(-(x*y))"), "exp(-x*y)");
}

#[test]
fn sums_and_products_are_ordered() {
    // Graded by degree in the states, then canonical monomial order; parameters and constants
    // lead their products.
    assert_eq!(infix("z + y*x + 3 + x^2"), "3 + z + x^2 + x*y");
    assert_eq!(infix("x*k + m_tot*y*a10"), "k*x + m_tot*a10*y");
    assert_eq!(infix("z*x*2"), "2*x*z");
}

#[test]
fn numbers_are_exact_and_short() {
    for v in [
        0.1f64,
        1.0 / 3.0,
        2.5e-7,
        1.5e20,
        123456.789,
        7.0,
        6.02214076e23,
        1e-300,
    ] {
        let text = infix(&format!("{v:e}*x"));
        let back = parse_expr(&text).unwrap();
        let Expr::Mul(c, _) = back else {
            panic!("{text}")
        };
        let Expr::Num(c) = *c else { panic!("{text}") };
        assert_eq!(c.to_bits(), v.to_bits(), "{text}");
    }
    assert_eq!(infix("0.1*x"), "0.1*x");
    assert_eq!(infix("x*2.5e-7"), "2.5e-7*x");
    assert_eq!(infix("7"), "7");
}

#[test]
fn latex_forms() {
    assert_eq!(latex("x/y"), "\\frac{x}{y}");
    assert_eq!(latex("x^2"), "x^{2}");
    assert_eq!(latex("2*x"), "2 \\cdot x");
    assert_eq!(latex("exp(x)"), "\\exp\\left(x\\right)");
    assert_eq!(latex("sqrt(x + 1)"), "\\sqrt{1 + x}");
    assert_eq!(latex("a10*m_tot"), "m_{\\mathrm{tot}} \\cdot a_{10}");
    assert_eq!(latex("(x + y)*z"), "z \\cdot \\left(x + y\\right)");
    assert_eq!(latex("2.5e-7*x"), "2.5 \\cdot 10^{-7} \\cdot x");
    assert_eq!(simplify_str("x*x/2", true).unwrap(), "0.5 \\cdot x^{2}");
}

#[test]
fn simplify_str_prints_both_forms() {
    assert_eq!(simplify_str("x*x*x - x^3 + y", false).unwrap(), "y");
    assert_eq!(simplify_str("(a + b)/(a + b)", true).unwrap(), "1");
}
