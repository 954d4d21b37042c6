//! Property tests: simplification keeps values, and printing re-parses to the same values.

use odenet_spec::{Expr, Func, parse_expr};
use odenet_symbolic::{Dag, SimplifyOptions, Symbols, simplify};
use proptest::prelude::*;

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

/// Random expressions over x, y, z with small literals, biased toward repeated subterms so
/// that cancellations and factorisations actually happen.
fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        3 => prop::sample::select(vec!["x", "y", "z"]).prop_map(|n| Expr::Var(n.to_string())),
        2 => (-3i32..=3).prop_map(|k| Expr::Num(f64::from(k))),
        1 => prop::sample::select(vec![0.5, 1.5, 0.25]).prop_map(Expr::Num),
    ];
    leaf.prop_recursive(4, 40, 2, |inner| {
        prop_oneof![
            2 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Add(b(x), b(y))),
            2 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Sub(b(x), b(y))),
            3 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Mul(b(x), b(y))),
            1 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Div(b(x), b(y))),
            1 => inner.clone().prop_map(|x| Expr::Neg(b(x))),
            1 => (inner.clone(), -2i32..=4).prop_map(|(x, k)| Expr::Pow(b(x), b(Expr::Num(f64::from(k))))),
            1 => (inner.clone(), prop::sample::select(Func::ALL.to_vec())).prop_map(|(x, f)| Expr::Call(f, b(x))),
            // x - x, x*y - y*x, (x + y)^2 - x^2: identities the rules must find.
            1 => inner.clone().prop_map(|x| Expr::Sub(b(x.clone()), b(x))),
            1 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Add(
                b(Expr::Mul(b(x.clone()), b(y.clone()))),
                b(Expr::Neg(b(Expr::Mul(b(y), b(x))))),
            )),
            1 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Sub(
                b(Expr::Pow(b(Expr::Add(b(x.clone()), b(y))), b(Expr::Num(2.0)))),
                b(Expr::Pow(b(x), b(Expr::Num(2.0)))),
            )),
        ]
    })
}

fn syms() -> Symbols {
    Symbols {
        states: vec!["x".into(), "y".into(), "z".into()],
        ..Symbols::default()
    }
}

/// The root value and the largest intermediate magnitude (the scale of rounding errors).
fn value_and_scale(dag: &Dag, x: &[f64; 3]) -> (f64, f64) {
    let mut values = vec![0.0; dag.len()];
    dag.eval_nodes(x, &[], &[], &mut values).expect("evaluates");
    let scale = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(1.0f64, |m, v| m.max(v.abs()));
    (values[dag.roots[0] as usize], scale)
}

/// Whether `dag` is at the edge of its domain at `x` within rounding: its value is finite at some
/// points within a relative 1e-9 of `x` and not at others (sqrt of a difference that cancels
/// to zero, where the order of the additions decides the sign of the last bit).
fn at_domain_edge(dag: &Dag, x: &[f64; 3]) -> bool {
    let finite = |p: &[f64; 3]| value_and_scale(dag, p).0.is_finite();
    let here = finite(x);
    (0..3).any(|i| {
        [-1e-9, 1e-9].iter().any(|d| {
            let mut p = *x;
            p[i] += d * p[i].abs().max(1.0);
            finite(&p) != here
        })
    })
}

/// `a` and `b` agree to 1e-9 relative to the magnitudes involved in computing them.
fn agree(a: (f64, f64), b: (f64, f64)) -> bool {
    let tol = 1e-9 * a.0.abs().max(b.0.abs()).max(a.1).max(b.1);
    (a.0 - b.0).abs() <= tol
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn simplification_preserves_value(e in expr(), pts in prop::collection::vec(prop::array::uniform3(-2.0f64..2.0), 4)) {
        let syms = syms();
        let before = Dag::from_exprs(std::slice::from_ref(&e), &syms).unwrap();
        let s = simplify(std::slice::from_ref(&e), &syms, &SimplifyOptions::default()).unwrap();
        s.dag.check(&syms).unwrap();
        prop_assert!(s.dag_size <= s.dag_size_before);
        for x in &pts {
            let orig = value_and_scale(&before, x);
            let simp = value_and_scale(&s.dag, x);
            if orig.0.is_finite() && orig.1 < 1e10 {
                // The rules only ever extend the domain: a finite original stays finite.
                prop_assert!(simp.0.is_finite(), "{} became {} at {:?}", before.to_infix(before.roots[0], &syms), simp.0, x);
            }
            if orig.0.is_finite() && simp.0.is_finite() {
                prop_assert!(
                    agree(orig, simp),
                    "{} = {} but simplified {} = {} at {:?}",
                    before.to_infix(before.roots[0], &syms), orig.0,
                    s.dag.to_infix(s.dag.roots[0], &syms), simp.0, x
                );
            }
        }
    }

    #[test]
    fn printing_reparses_to_the_same_values(e in expr(), x in prop::array::uniform3(-2.0f64..2.0)) {
        let syms = syms();
        let before = Dag::from_exprs(std::slice::from_ref(&e), &syms).unwrap();
        let s = simplify(std::slice::from_ref(&e), &syms, &SimplifyOptions::default()).unwrap();
        for dag in [&before, &s.dag] {
            let text = dag.to_infix(dag.roots[0], &syms);
            let reparsed = parse_expr(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err:?}")))?;
            let again = Dag::from_exprs(&[reparsed], &syms).unwrap();
            let (a, c) = (value_and_scale(dag, &x), value_and_scale(&again, &x));
            // Printing drops the parentheses of associative sums, so the re-parsed expression
            // may add in another order: equal to rounding, except at a domain edge.
            let edge = a.0.is_finite() != c.0.is_finite()
                && (at_domain_edge(dag, &x) || at_domain_edge(&again, &x));
            if (a.0.is_finite() || c.0.is_finite()) && !edge {
                prop_assert!(agree(a, c), "{text}: {} vs {}", a.0, c.0);
            }
        }
    }
}
