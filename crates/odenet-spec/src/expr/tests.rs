//! Tests of the expression parser, printer and evaluator.

use super::*;
use proptest::prelude::*;

fn p(s: &str) -> Expr {
    parse_expr(s).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
}
fn v(n: &str) -> Box<Expr> {
    Box::new(Expr::Var(n.into()))
}
fn n(x: f64) -> Box<Expr> {
    Box::new(Expr::Num(x))
}

#[test]
fn precedence_of_binary_operators() {
    assert_eq!(
        p("a + b*c"),
        Expr::Add(v("a"), Box::new(Expr::Mul(v("b"), v("c"))))
    );
    assert_eq!(
        p("a*b^c"),
        Expr::Mul(v("a"), Box::new(Expr::Pow(v("b"), v("c"))))
    );
    assert_eq!(
        p("(a + b)*c"),
        Expr::Mul(Box::new(Expr::Add(v("a"), v("b"))), v("c"))
    );
}

#[test]
fn subtraction_and_division_are_left_associative() {
    assert_eq!(
        p("a - b - c"),
        Expr::Sub(Box::new(Expr::Sub(v("a"), v("b"))), v("c"))
    );
    assert_eq!(
        p("a / b / c"),
        Expr::Div(Box::new(Expr::Div(v("a"), v("b"))), v("c"))
    );
}

#[test]
fn power_is_right_associative() {
    assert_eq!(
        p("a^b^c"),
        Expr::Pow(v("a"), Box::new(Expr::Pow(v("b"), v("c"))))
    );
}

#[test]
fn power_binds_tighter_than_unary_minus() {
    assert_eq!(p("-x^2"), Expr::Neg(Box::new(Expr::Pow(v("x"), n(2.0)))));
    assert_eq!(p("x^-2"), Expr::Pow(v("x"), Box::new(Expr::Neg(n(2.0)))));
    assert_eq!(p("+x"), Expr::Var("x".into()));
    assert_eq!(p("--x"), Expr::Neg(Box::new(Expr::Neg(v("x")))));
    assert_eq!(p("-a*b"), Expr::Mul(Box::new(Expr::Neg(v("a"))), v("b")));
}

#[test]
fn numbers_in_every_form() {
    for (s, want) in [
        ("1", 1.0),
        ("2.5", 2.5),
        ("1e-3", 1e-3),
        (".5", 0.5),
        ("3E2", 300.0),
        ("1.5e+2", 150.0),
    ] {
        match p(s) {
            Expr::Num(x) => assert!((x - want).abs() < 1e-12 * want.abs(), "{s}"),
            other => panic!("{s}: {other:?}"),
        }
    }
}

#[test]
fn calls_of_every_function() {
    for func in Func::ALL {
        let src = format!("{}(x + 1)", func.name());
        assert_eq!(
            p(&src),
            Expr::Call(func, Box::new(Expr::Add(v("x"), n(1.0))))
        );
    }
}

fn err(s: &str) -> ExprError {
    match parse_expr(s) {
        Ok(e) => panic!("{s:?} parsed as {e:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_carry_offsets() {
    let e = err("a + foo(x)");
    assert_eq!((e.offset, e.len), (4, 3));
    assert!(e.message.contains("unknown function `foo`"));
    assert!(e.help.unwrap().contains("exp, log, sin, cos, sqrt"));

    let e = err("a + * b");
    assert_eq!((e.offset, e.len), (4, 1));
    assert!(e.message.contains("found `*`"), "{}", e.message);

    let e = err("a + (b * c");
    assert_eq!((e.offset, e.len), (4, 1));
    assert!(e.message.contains("unclosed"));

    let e = err("a + b)");
    assert_eq!(e.offset, 5);

    let e = err("2x");
    assert_eq!((e.offset, e.len), (0, 2));
    assert!(e.message.contains("malformed number"));

    let e = err("a +");
    assert_eq!(e.offset, 3);
    assert!(e.message.contains("end of expression"));

    let e = err("a $ b");
    assert_eq!((e.offset, e.len), (2, 1));

    let e = err("x ∗ y");
    assert_eq!((e.offset, e.len), (2, 3));

    let e = err("exp + 1");
    assert!(e.message.contains("needs an argument"));

    let e = err("a b");
    assert_eq!(e.offset, 2);
    assert!(e.help.unwrap().contains("`*`"));

    assert!(err("   ").message.contains("empty"));
    assert!(err("1e999").message.contains("too large"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "(".repeat(10_000) + "x" + &")".repeat(10_000);
    assert!(err(&deep).message.contains("nested"));
    let minus = "-".repeat(10_000) + "x";
    assert!(err(&minus).message.contains("nested"));
    // A long flat sum is not nested: it is refused for its length, naming the limit.
    let long = vec!["x"; 10_000].join(" + ");
    let e = err(&long);
    assert!(e.message.contains("too long"), "{e:?}");
    assert!(e.message.contains(&MAX_TREE_DEPTH.to_string()), "{e:?}");
    let product = vec!["x"; 10_000].join("*");
    assert!(err(&product).message.contains("too long"));
    // Sums of hundreds of terms are fine (the 256-term sum was refused as nested).
    for n in [200, 256, 257, MAX_TREE_DEPTH] {
        let ok = vec!["x"; n].join(" + ");
        assert!(parse_expr(&ok).is_ok(), "{n} terms");
    }
    let too_many = vec!["x"; MAX_TREE_DEPTH + 2].join(" + ");
    assert!(parse_expr(&too_many).is_err());
}

#[test]
fn double_star_is_a_power() {
    assert_eq!(p("x**2"), p("x^2"));
    assert_eq!(p("a**b**c"), p("a^b^c"));
    assert_eq!(p("2*x**-1"), p("2*x^-1"));
    assert_eq!(p("x**2").to_string(), "x^2");
    // A third star is a stray multiplication sign.
    assert!(parse_expr("x***2").is_err());
}

#[test]
fn non_finite_constants_are_located() {
    let found = |s: &str| -> Vec<(String, &'static str)> {
        parse_expr_full(s)
            .unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
            .non_finite
            .iter()
            .map(|n| (s[n.offset..n.offset + n.len].to_string(), n.reason))
            .collect()
    };
    assert_eq!(found("x + 1/0"), [("1/0".to_string(), "division by zero")]);
    assert_eq!(
        found("a*(0/0) + b"),
        [("0/0".to_string(), "division by zero")]
    );
    assert_eq!(
        found("2*log(-1)*x"),
        [("log(-1)".to_string(), "the log of a negative number")]
    );
    assert_eq!(
        found("exp(1000) - y"),
        [("exp(1000)".to_string(), "it overflows")]
    );
    assert_eq!(
        found("sqrt(-(4))"),
        [(
            "sqrt(-(4))".to_string(),
            "the square root of a negative number"
        )]
    );
    assert_eq!(
        found("x*0^-1"),
        [("0^-1".to_string(), "zero to a negative power")]
    );
    // Only the first non-finite step is reported, not everything above it.
    assert_eq!(found("(1/0)*2 + 3").len(), 1);
    // Expressions over names are left alone: their value depends on the data.
    assert!(found("sqrt(-x) + x^1000 + 1/x + log(x)").is_empty());
    // ... except a division by a literal zero, which is never finite.
    assert_eq!(found("x/0*y"), [("x/0".to_string(), "division by zero")]);
    assert_eq!(
        found("x/(1 - 1)"),
        [("x/(1 - 1)".to_string(), "division by zero")]
    );
    assert!(found("1e308 + 1").is_empty());
    assert_eq!(found("1e308*10").len(), 1);
}

#[test]
fn identifier_spans_and_vars() {
    let (e, ids) = parse_expr_spanned("k1*x - k2*x*exp(y) + x").unwrap();
    let names: Vec<_> = ids
        .iter()
        .map(|i| (i.name.as_str(), i.offset, i.len))
        .collect();
    assert_eq!(
        names,
        vec![
            ("k1", 0, 2),
            ("x", 3, 1),
            ("k2", 7, 2),
            ("x", 10, 1),
            ("y", 16, 1),
            ("x", 21, 1)
        ]
    );
    assert_eq!(e.vars(), vec!["k1", "x", "k2", "y"]);
}

#[test]
fn eval_matches_hand_computation() {
    let e = p("-x^2 + 2*sqrt(y)/exp(0) - log(y)*sin(x)*cos(x)");
    let lookup = |n: &str| match n {
        "x" => Some(1.5),
        "y" => Some(4.0),
        _ => None,
    };
    let want = -(1.5f64.powi(2)) + 2.0 * 2.0 - 4f64.ln() * 1.5f64.sin() * 1.5f64.cos();
    let got = e.eval(&lookup).unwrap();
    assert!((got - want).abs() < 1e-12);
    assert!(p("z + 1").eval(&lookup).is_none());
}

#[test]
fn display_uses_minimal_parentheses() {
    for (src, shown) in [
        ("a + b*c", "a + b*c"),
        ("(a + b)*c", "(a + b)*c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("a/(b*c)", "a/(b*c)"),
        ("-x^2", "-x^2"),
        ("(-x)^2", "(-x)^2"),
        ("(a^b)^c", "(a^b)^c"),
        ("a^b^c", "a^b^c"),
        ("x^-2", "x^-2"),
        ("-(a*b)", "-(a*b)"),
        ("exp(-(x + 1))", "exp(-(x + 1))"),
        ("0.001*x + 1e-7", "0.001*x + 1e-7"),
        ("2.50*x", "2.5*x"),
    ] {
        assert_eq!(p(src).to_string(), shown, "{src}");
    }
    // A negative literal (from code, not the parser) still prints re-parsably.
    let e = Expr::Pow(n(-2.0), v("x"));
    assert_eq!(e.to_string(), "(-2)^x");
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        prop_oneof![
            (0u32..1000).prop_map(f64::from),
            (0.0f64..1e6),
            (1e-12f64..1e-3)
        ]
        .prop_map(Expr::Num),
        prop_oneof![Just("x"), Just("y"), Just("k_1"), Just("_a"), Just("e")]
            .prop_map(|s| Expr::Var(s.into())),
    ];
    leaf.prop_recursive(6, 64, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Expr::Neg(Box::new(a))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Add(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Sub(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Mul(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Div(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Pow(Box::new(a), Box::new(b))),
            (0usize..5, inner).prop_map(|(i, a)| Expr::Call(Func::ALL[i], Box::new(a))),
        ]
    })
}

proptest! {
    #[test]
    fn display_round_trips(e in arb_expr()) {
        let text = e.to_string();
        let back = parse_expr(&text);
        prop_assert_eq!(back.as_ref(), Ok(&e), "printed as {}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        let _ = parse_expr(&s);
    }

    #[test]
    fn operator_soup_never_panics(s in "[-+*/^()x1.e ]{0,80}") {
        if let Ok((e, ids)) = parse_expr_spanned(&s) {
            // Every reported span covers exactly its name.
            for id in &ids {
                prop_assert_eq!(&s[id.offset..id.offset + id.len], id.name.as_str());
            }
            let _ = e.to_string();
        }
    }
}
