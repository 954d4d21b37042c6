//! Fuzz target: the simplifier on random expressions. The simplified form must equal the input
//! at random points where both are finite, and stay finite where the input is finite (the
//! rules may only extend the domain); "finite" for the input means every intermediate value is
//! (an overflow inside it gives a number that is not its value). The generator favours the shapes the rules act on
//! (exp/log pairs, sin² + cos², reciprocals, common factors, powers over powers, cubes).
//!
//! `ODENET_FUZZ_CASES` sets the number of inputs (default 300); `scripts/fuzz.sh` runs 10⁶.
//! Failing inputs are kept in `tests/fuzz_simplify.proptest-regressions`.

use odenet_spec::{Expr, Func};
use odenet_symbolic::{Dag, SimplifyOptions, Symbols, simplify};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("ODENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

fn num(v: f64) -> Expr {
    Expr::Num(v)
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        3 => prop::sample::select(vec!["x", "y", "z"]).prop_map(|n| Expr::Var(n.to_string())),
        2 => (-3i32..=3).prop_map(|k| num(f64::from(k))),
        1 => prop::sample::select(vec![0.5, 1.5, 0.25, 2.5]).prop_map(num),
    ];
    leaf.prop_recursive(4, 32, 2, |inner| {
        prop_oneof![
            2 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Add(b(x), b(y))),
            2 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Sub(b(x), b(y))),
            3 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Mul(b(x), b(y))),
            2 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Div(b(x), b(y))),
            1 => inner.clone().prop_map(|x| Expr::Neg(b(x))),
            2 => (inner.clone(), -3i32..=7).prop_map(|(x, k)| Expr::Pow(b(x), b(num(f64::from(k))))),
            1 => (inner.clone(), prop::sample::select(Func::ALL.to_vec())).prop_map(|(x, f)| Expr::Call(f, b(x))),
            // exp(log(a)), log(exp(a))
            1 => inner.clone().prop_map(|x| Expr::Call(Func::Exp, b(Expr::Call(Func::Log, b(x))))),
            1 => inner.clone().prop_map(|x| Expr::Call(Func::Log, b(Expr::Call(Func::Exp, b(x))))),
            // sin(a)^2 + cos(a)^2
            1 => inner.clone().prop_map(|x| Expr::Add(
                b(Expr::Pow(b(Expr::Call(Func::Sin, b(x.clone()))), b(num(2.0)))),
                b(Expr::Pow(b(Expr::Call(Func::Cos, b(x))), b(num(2.0)))),
            )),
            // 1/(1/a)
            1 => inner.clone().prop_map(|x| Expr::Div(b(num(1.0)), b(Expr::Div(b(num(1.0)), b(x))))),
            // (c*a)/(c*b) and a/(a*b)
            1 => (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, x, y)| Expr::Div(
                b(Expr::Mul(b(c.clone()), b(x))),
                b(Expr::Mul(b(c), b(y))),
            )),
            1 => (inner.clone(), inner.clone()).prop_map(|(x, y)| Expr::Div(b(x.clone()), b(Expr::Mul(b(x), b(y))))),
            // a^j / a^k
            1 => (inner.clone(), -2i32..=5, -2i32..=5).prop_map(|(x, j, k)| Expr::Div(
                b(Expr::Pow(b(x.clone()), b(num(f64::from(j))))),
                b(Expr::Pow(b(x), b(num(f64::from(k))))),
            )),
            // (a + b)^3 - (a + b)*(a + b)^2
            1 => (inner.clone(), inner.clone()).prop_map(|(x, y)| {
                let s = Expr::Add(b(x), b(y));
                Expr::Sub(
                    b(Expr::Pow(b(s.clone()), b(num(3.0)))),
                    b(Expr::Mul(b(s.clone()), b(Expr::Pow(b(s), b(num(2.0)))))),
                )
            }),
        ]
    })
}

fn syms() -> Symbols {
    Symbols {
        states: vec!["x".into(), "y".into(), "z".into()],
        ..Symbols::default()
    }
}

/// The root value, the largest finite intermediate magnitude (the scale of rounding), and
/// whether every intermediate is finite (a value computed through an overflow — log(exp(u)) with
/// exp(u) = ∞ — is not the expression's value; the simplified form may well be right there).
fn value_and_scale(dag: &Dag, x: &[f64; 3]) -> (f64, f64, bool) {
    let mut values = vec![0.0; dag.len()];
    dag.eval_nodes(x, &[], &[], &mut values).expect("evaluates");
    let scale = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let defined = values.iter().all(|v| v.is_finite());
    (values[dag.roots[0] as usize], scale, defined)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn simplified_equals_input_where_both_are_defined(
        e in expr(),
        pts in prop::collection::vec(prop::array::uniform3(-3.0f64..3.0), 4),
    ) {
        let syms = syms();
        let before = Dag::from_exprs(std::slice::from_ref(&e), &syms).unwrap();
        let s = simplify(std::slice::from_ref(&e), &syms, &SimplifyOptions::default()).unwrap();
        s.dag.check(&syms).unwrap();
        for x in &pts {
            let orig = value_and_scale(&before, x);
            let simp = value_and_scale(&s.dag, x);
            let shown = || format!(
                "{} = {} but simplified {} = {} at {:?}",
                before.to_infix(before.roots[0], &syms), orig.0,
                s.dag.to_infix(s.dag.roots[0], &syms), simp.0, x
            );
            if orig.2 && orig.1 < 1e10 {
                prop_assert!(simp.0.is_finite(), "{}", shown());
            }
            if orig.2 && simp.0.is_finite() {
                let tol = 1e-9 * orig.0.abs().max(simp.0.abs()).max(orig.1).max(simp.1);
                prop_assert!((orig.0 - simp.0).abs() <= tol, "{}", shown());
            }
        }
    }
}
