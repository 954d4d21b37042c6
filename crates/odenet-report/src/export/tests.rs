//! Tests of the rounding, the identifiers and the printers of each language.

use odenet_spec::{Expr, format_number, parse_expr};

use super::code::code;
use super::names::Names;
use super::python::PYTHON_RESERVED;
use super::*;

#[test]
fn rounding_keeps_the_digits_the_standard_error_supports() {
    assert_eq!(format_number(round_to_se(27.98734, 0.0123)), "27.987");
    assert_eq!(format_number(round_to_se(-10.0231, 0.31)), "-10.02");
    assert_eq!(format_number(round_to_se(0.0123456, 0.00015)), "0.01235");
    // An error larger than the value: two significant digits of the value.
    assert_eq!(format_number(round_to_se(3.2345, 40.0)), "3.2");
    assert_eq!(format_number(round_to_se(1234.5, 260.0)), "1230");
    // Undetermined: two significant digits; not estimated: every digit.
    assert_eq!(format_number(round_to_se(0.123456, f64::INFINITY)), "0.12");
    assert_eq!(
        round_to_se(0.123456789, f64::NAN).to_bits(),
        0.123456789f64.to_bits()
    );
    assert_eq!(format_se(0.012345), "0.012");
    assert_eq!(format_se(1.3456e-5), "1.3e-5");
    assert_eq!(value_pm(27.98734, 0.0123), "27.987 ± 0.012");
    assert_eq!(value_pm(10.009876, 0.0199), "10.010 ± 0.020");
}

#[test]
fn rounded_values_stay_within_a_tenth_of_their_standard_error() {
    let mut x = 0.123_f64;
    for k in 0..500 {
        x = (x * 9301.0 + 49297.0) % 233280.0;
        let v = (x / 233280.0 - 0.5) * 10f64.powi(k % 9 - 4);
        let se = (x / 233280.0 + 0.01) * 10f64.powi(k % 7 - 5);
        let r = round_to_se(v, se);
        assert!(
            (r - v).abs() <= 0.051 * se || (r - v).abs() <= 0.051 * v.abs(),
            "{v} ± {se} -> {r}"
        );
    }
}

#[test]
fn zero_parameters_take_their_terms_with_them() {
    let e = parse_expr("-(a0 + a1*m + 2*a2*m^2) + a5*M/(1 + M) - a6").expect("parse");
    let r = without_zero_terms(&e, &["a0", "a2", "a5", "a6"]);
    assert_eq!(r.to_string(), "-(a1*m)");
    let r = without_zero_terms(&e, &["a1"]);
    assert_eq!(r.to_string(), "-(a0 + 2*a2*m^2) + a5*M/(1 + M) - a6");
}

#[test]
fn names_avoid_keywords_and_collisions() {
    let sys = System {
        name: "n".into(),
        states: vec!["lambda".into(), "t".into(), "t_".into()],
        hidden: vec![false; 3],
        params: vec![("p".into(), 1.0, f64::NAN)],
        constants: vec![],
        experiments: vec![],
        equations: vec![Expr::Num(0.0); 3],
        precision: Precision::Full,
    };
    let names = Names::new(&sys, PYTHON_RESERVED);
    assert_eq!(names.get("lambda"), "lambda_");
    assert_eq!(names.get("t"), "t_");
    assert_eq!(names.get("t_"), "t__");
    assert_eq!(names.get("p"), "p_");
}

#[test]
fn powers_print_in_each_language() {
    let e = parse_expr("-x^2 + (x + y)^-1 + 2^x + sqrt(y)*exp(-x)").expect("parse");
    let v = |n: &str| n.to_string();
    assert_eq!(
        code(&e, Lang::Python, &v),
        "-x**2 + (x + y)**(-1) + 2.0**x + np.sqrt(y)*np.exp(-x)"
    );
    assert_eq!(
        code(&e, Lang::Julia, &v),
        "-x^2 + (x + y)^(-1) + 2.0^x + sqrt(y)*exp(-x)"
    );
    assert_eq!(
        code(&e, Lang::Rust, &v),
        "-x.powi(2) + (x + y).powi(-1) + (2.0_f64).powf(x) + y.sqrt()*(-x).exp()"
    );
    assert_eq!(
        code(&e, Lang::C, &v),
        "-pow(x, 2.0) + pow(x + y, -1.0) + pow(2.0, x) + sqrt(y)*exp(-x)"
    );
}

#[test]
fn latex_and_mathml_typeset_names_and_numbers() {
    assert_eq!(latex_name("x1"), "x_{1}");
    assert_eq!(latex_name("m_tot"), "m_{\\mathrm{tot}}");
    assert_eq!(latex_name("alpha"), "\\alpha");
    let e = parse_expr("2.5e-7*x*y - 3*z/(1 + x)").expect("parse");
    assert_eq!(
        latex_expr(&e),
        "2.5 \\times 10^{-7} \\, x \\, y - \\frac{3 \\, z}{1 + x}"
    );
    let m = mathml_equation("x1", &parse_expr("-10*x1 + x1^2").expect("parse"));
    assert!(m.contains("<msub><mi>x</mi><mn>1</mn></msub>"), "{m}");
    assert!(m.contains("<msup>"), "{m}");
    assert!(m.starts_with("<math displaystyle=\"true\">"), "{m}");
}
