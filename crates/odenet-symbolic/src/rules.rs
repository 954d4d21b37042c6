//! The one table of named rewrite rules.
//!
//! Every rule keeps the value of an expression wherever that expression is finite (see the crate
//! docs for the convention). Rules that could otherwise change a finite value carry guards:
//! division by a constant becomes multiplication by its inverse only when the inverse is a finite
//! number, and `x/x → 1` (or `x·x⁻¹ → 1`) is applied unless `x` is *known* to be zero. For an
//! `x` that vanishes somewhere, `x/x` is undefined there and `1` is its continuous extension: the
//! simplified expression is defined on a larger set and agrees everywhere else. The same holds for
//! `0·x → 0` and `x^0 → 1`. No rule removes a singularity that the original does not have, and
//! no rule narrows the domain (there is deliberately no `(x^a)^b → x^(a·b)` and no
//! `sqrt(x)^2 → x`, which would change values for negative `x`).

use std::sync::OnceLock;

use egg::{Id, Subst, Var, rewrite as rw};

use crate::language::{ConstantFold, EGraph, Math};

/// A rewrite rule over the odenet language.
pub type Rewrite = egg::Rewrite<Math, ConstantFold>;

fn var(name: &str) -> Var {
    // The names passed here are literals of this file that all start with `?`.
    name.parse()
        .unwrap_or_else(|_| unreachable!("pattern variable {name} is malformed"))
}

/// The class of `?v` holds a known constant.
fn is_const(v: &str) -> impl Fn(&mut EGraph, Id, &Subst) -> bool + Send + Sync + 'static {
    let v = var(v);
    move |eg, _, subst| eg[subst[v]].data.is_some()
}

/// The class of `?v` holds a non-zero constant whose inverse is a finite number.
fn is_invertible_const(
    v: &str,
) -> impl Fn(&mut EGraph, Id, &Subst) -> bool + Send + Sync + 'static {
    let v = var(v);
    move |eg, _, subst| {
        eg[subst[v]]
            .data
            .is_some_and(|c| c.into_inner() != 0.0 && (1.0 / c.into_inner()).is_finite())
    }
}

/// The class of `?v` is not known to be the constant zero.
fn not_known_zero(v: &str) -> impl Fn(&mut EGraph, Id, &Subst) -> bool + Send + Sync + 'static {
    let v = var(v);
    move |eg, _, subst| eg[subst[v]].data.is_none_or(|c| c.into_inner() != 0.0)
}

/// The class of `?v` holds an integer constant from 3 to [`MAX_EXPAND`]: powers worth expanding
/// into a product so that they can cancel against expanded forms.
fn is_expandable_power(
    v: &str,
) -> impl Fn(&mut EGraph, Id, &Subst) -> bool + Send + Sync + 'static {
    let v = var(v);
    move |eg, _, subst| {
        eg[subst[v]].data.is_some_and(|c| {
            let k = c.into_inner();
            k.fract() == 0.0 && (3.0..=MAX_EXPAND).contains(&k)
        })
    }
}

/// Highest integer power that `pow-expand` writes as a product.
pub const MAX_EXPAND: f64 = 6.0;

/// Builds the rule table (see [`rules`] for the shared, built-once copy).
#[rustfmt::skip]
fn build_rules() -> Vec<Rewrite> { vec![
    rw!("add-comm";        "(+ ?a ?b)"                   => "(+ ?b ?a)"),
    rw!("mul-comm";        "(* ?a ?b)"                   => "(* ?b ?a)"),
    rw!("add-assoc-left";  "(+ ?a (+ ?b ?c))"            => "(+ (+ ?a ?b) ?c)"),
    rw!("add-assoc-right"; "(+ (+ ?a ?b) ?c)"            => "(+ ?a (+ ?b ?c))"),
    rw!("mul-assoc-left";  "(* ?a (* ?b ?c))"            => "(* (* ?a ?b) ?c)"),
    rw!("mul-assoc-right"; "(* (* ?a ?b) ?c)"            => "(* ?a (* ?b ?c))"),
    rw!("distribute";      "(* ?a (+ ?b ?c))"            => "(+ (* ?a ?b) (* ?a ?c))"),
    rw!("factor";          "(+ (* ?a ?b) (* ?a ?c))"     => "(* ?a (+ ?b ?c))"),
    rw!("factor-one";      "(+ ?a (* ?a ?b))"            => "(* ?a (+ 1 ?b))"),
    rw!("add-self";        "(+ ?a ?a)"                   => "(* 2 ?a)"),
    rw!("sub-to-add-neg";  "(- ?a ?b)"                   => "(+ ?a (neg ?b))"),
    rw!("add-neg-to-sub";  "(+ ?a (neg ?b))"             => "(- ?a ?b)"),
    rw!("neg-to-mul";      "(neg ?a)"                    => "(* -1 ?a)"),
    rw!("mul-to-neg";      "(* -1 ?a)"                   => "(neg ?a)"),
    rw!("neg-neg";         "(neg (neg ?a))"              => "?a"),
    rw!("neg-mul-in";      "(* (neg ?a) ?b)"             => "(neg (* ?a ?b))"),
    rw!("neg-mul-out";     "(neg (* ?a ?b))"             => "(* (neg ?a) ?b)"),
    rw!("neg-add-in";      "(neg (+ ?a ?b))"             => "(+ (neg ?a) (neg ?b))"),
    rw!("neg-add-out";     "(+ (neg ?a) (neg ?b))"       => "(neg (+ ?a ?b))"),
    rw!("add-zero";        "(+ ?a 0)"                    => "?a"),
    rw!("mul-one";         "(* ?a 1)"                    => "?a"),
    rw!("mul-zero";        "(* ?a 0)"                    => "0"),
    rw!("sub-self";        "(- ?a ?a)"                   => "0"),
    rw!("pow-zero";        "(pow ?a 0)"                  => "1"),
    rw!("pow-one";         "(pow ?a 1)"                  => "?a"),
    rw!("square";          "(* ?a ?a)"                   => "(pow ?a 2)"),
    rw!("unsquare";        "(pow ?a 2)"                  => "(* ?a ?a)"),
    rw!("pow-merge";       "(* (pow ?a ?b) (pow ?a ?c))" => "(pow ?a (+ ?b ?c))" if is_const("?b") if is_const("?c")),
    rw!("pow-merge-one";   "(* (pow ?a ?b) ?a)"          => "(pow ?a (+ ?b 1))" if is_const("?b")),
    rw!("div-const";       "(/ ?a ?c)"                   => "(* ?a (/ 1 ?c))" if is_invertible_const("?c")),
    rw!("div-to-pow";      "(/ ?a ?b)"                   => "(* ?a (pow ?b -1))" if not_known_zero("?b")),
    rw!("pow-to-div";      "(* ?a (pow ?b -1))"          => "(/ ?a ?b)"),
    rw!("div-self";        "(/ ?a ?a)"                   => "1" if not_known_zero("?a")),
    // exp(log(x)) = x for x > 0 (and at x = 0, where exp(-inf) = 0); log(x) is not a number for
    // x < 0, so the rule only extends the domain.
    rw!("exp-log";         "(exp (log ?a))"              => "?a"),
    // log(exp(x)) = x wherever exp(x) is a positive finite number (-745 < x < 709); outside,
    // the original is not finite.
    rw!("log-exp";         "(log (exp ?a))"              => "?a"),
    rw!("sin2-cos2";       "(+ (pow (sin ?a) 2) (pow (cos ?a) 2))" => "1"),
    // 1/(1/x) = x also at x = 0 (1/inf = 0).
    rw!("inv-inv";         "(/ 1 (/ 1 ?a))"              => "?a"),
    rw!("pow-neg-one";     "(pow ?a -1)"                 => "(/ 1 ?a)"),
    // Common factors cancel unless known to be zero (where the original is 0/0).
    rw!("cancel-factor";   "(/ (* ?c ?a) (* ?c ?b))"     => "(/ ?a ?b)" if not_known_zero("?c")),
    rw!("cancel-into";     "(/ ?a (* ?a ?b))"            => "(/ 1 ?b)" if not_known_zero("?a")),
    rw!("pow-div";         "(/ (pow ?a ?b) (pow ?a ?c))" => "(pow ?a (- ?b ?c))" if is_const("?b") if is_const("?c")),
    rw!("pow-div-one";     "(/ (pow ?a ?b) ?a)"          => "(pow ?a (- ?b 1))" if is_const("?b")),
    rw!("pow-expand";      "(pow ?a ?k)"                 => "(* ?a (pow ?a (- ?k 1)))" if is_expandable_power("?k")),
    rw!("expand-square";   "(pow (+ ?a ?b) 2)"           => "(+ (pow ?a 2) (+ (* 2 (* ?a ?b)) (pow ?b 2)))"),
]}

/// The rule table, built once per process.
pub fn rules() -> &'static [Rewrite] {
    static RULES: OnceLock<Vec<Rewrite>> = OnceLock::new();
    RULES.get_or_init(build_rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::pow_value;
    use egg::{RecExpr, Runner};
    use std::time::Duration;

    /// One line per rule: (rule, input, what the rule alone must prove it equal to).
    #[rustfmt::skip]
    const EXAMPLES: &[(&str, &str, &str)] = &[
        ("add-comm",        "(+ x y)",                 "(+ y x)"),
        ("mul-comm",        "(* x y)",                 "(* y x)"),
        ("add-assoc-left",  "(+ x (+ y z))",           "(+ (+ x y) z)"),
        ("add-assoc-right", "(+ (+ x y) z)",           "(+ x (+ y z))"),
        ("mul-assoc-left",  "(* x (* y z))",           "(* (* x y) z)"),
        ("mul-assoc-right", "(* (* x y) z)",           "(* x (* y z))"),
        ("distribute",      "(* x (+ y z))",           "(+ (* x y) (* x z))"),
        ("factor",          "(+ (* x y) (* x z))",     "(* x (+ y z))"),
        ("factor-one",      "(+ x (* x y))",           "(* x (+ 1 y))"),
        ("add-self",        "(+ x x)",                 "(* 2 x)"),
        ("sub-to-add-neg",  "(- x y)",                 "(+ x (neg y))"),
        ("add-neg-to-sub",  "(+ x (neg y))",           "(- x y)"),
        ("neg-to-mul",      "(neg x)",                 "(* -1 x)"),
        ("mul-to-neg",      "(* -1 x)",                "(neg x)"),
        ("neg-neg",         "(neg (neg x))",           "x"),
        ("neg-mul-in",      "(* (neg x) y)",           "(neg (* x y))"),
        ("neg-mul-out",     "(neg (* x y))",           "(* (neg x) y)"),
        ("neg-add-in",      "(neg (+ x y))",           "(+ (neg x) (neg y))"),
        ("neg-add-out",     "(+ (neg x) (neg y))",     "(neg (+ x y))"),
        ("add-zero",        "(+ x 0)",                 "x"),
        ("mul-one",         "(* x 1)",                 "x"),
        ("mul-zero",        "(* x 0)",                 "0"),
        ("sub-self",        "(- (sin x) (sin x))",     "0"),
        ("pow-zero",        "(pow x 0)",               "1"),
        ("pow-one",         "(pow x 1)",               "x"),
        ("square",          "(* x x)",                 "(pow x 2)"),
        ("unsquare",        "(pow x 2)",               "(* x x)"),
        ("pow-merge",       "(* (pow x 2) (pow x 3))", "(pow x 5)"),
        ("pow-merge-one",   "(* (pow x 2) x)",         "(pow x 3)"),
        ("div-const",       "(/ x 4)",                 "(* x 0.25)"),
        ("div-to-pow",      "(/ x y)",                 "(* x (pow y -1))"),
        ("pow-to-div",      "(* x (pow y -1))",        "(/ x y)"),
        ("div-self",        "(/ (+ x 1) (+ x 1))",     "1"),
        ("exp-log",         "(exp (log (+ x 3)))",     "(+ x 3)"),
        ("log-exp",         "(log (exp x))",           "x"),
        ("sin2-cos2",       "(+ (pow (sin (* x y)) 2) (pow (cos (* x y)) 2))", "1"),
        ("inv-inv",         "(/ 1 (/ 1 x))",           "x"),
        ("pow-neg-one",     "(pow x -1)",              "(/ 1 x)"),
        ("cancel-factor",   "(/ (* 2 x) (* 2 y))",     "(/ x y)"),
        ("cancel-into",     "(/ x (* x y))",           "(/ 1 y)"),
        ("pow-div",         "(/ (pow x 2) (pow x 3))", "(pow x -1)"),
        ("pow-div-one",     "(/ (pow x 3) x)",         "(pow x 2)"),
        ("pow-expand",      "(pow (+ x y) 3)",         "(* (+ x y) (pow (+ x y) 2))"),
        ("expand-square",   "(pow (+ x y) 2)",         "(+ (pow x 2) (+ (* 2 (* x y)) (pow y 2)))"),
    ];

    /// Guards that must stop a rule: (rule, input, what it must NOT be proven equal to).
    #[rustfmt::skip]
    const BLOCKED: &[(&str, &str, &str)] = &[
        ("div-const",  "(/ x 0)",   "(* x (/ 1 0))"),
        ("div-const",  "(/ x y)",   "(* x (/ 1 y))"),
        ("div-to-pow", "(/ x 0)",   "(* x (pow 0 -1))"),
        ("div-self",   "(/ 0 0)",   "1"),
        ("pow-merge",  "(* (pow x y) (pow x z))", "(pow x (+ y z))"),
        ("cancel-factor", "(/ (* 0 x) (* 0 y))", "(/ x y)"),
        ("cancel-into",   "(/ 0 (* 0 y))",       "(/ 1 y)"),
        ("pow-div",    "(/ (pow x y) (pow x z))", "(pow x (- y z))"),
        ("pow-expand", "(pow x 7)",  "(* x (pow x 6))"),
        ("pow-expand", "(pow x 2.5)", "(* x (pow x 1.5))"),
    ];

    fn only(name: &str) -> Vec<Rewrite> {
        rules()
            .iter()
            .filter(|r| r.name.as_str() == name)
            .cloned()
            .collect()
    }

    fn equal_under(rules: &[Rewrite], a: &str, b: &str) -> bool {
        let a: RecExpr<Math> = a.parse().expect("example parses");
        let b: RecExpr<Math> = b.parse().expect("example parses");
        let runner = Runner::<Math, ConstantFold>::default()
            .with_iter_limit(3)
            .with_node_limit(10_000)
            .with_time_limit(Duration::from_secs(5))
            .with_expr(&a)
            .with_expr(&b)
            .run(rules);
        runner.egraph.find(runner.roots[0]) == runner.egraph.find(runner.roots[1])
    }

    /// An independent evaluator of s-expressions, to check that each example keeps its value.
    fn eval(expr: &RecExpr<Math>, x: f64, y: f64, z: f64) -> f64 {
        let mut v: Vec<f64> = Vec::with_capacity(expr.len());
        for node in expr.iter() {
            let c = |i: &Id| v[usize::from(*i)];
            let r = match node {
                Math::Num(n) => n.into_inner(),
                Math::Symbol(s) => match s.as_str() {
                    "x" => x,
                    "y" => y,
                    _ => z,
                },
                Math::Add([a, b]) => c(a) + c(b),
                Math::Sub([a, b]) => c(a) - c(b),
                Math::Mul([a, b]) => c(a) * c(b),
                Math::Div([a, b]) => c(a) / c(b),
                Math::Neg(a) => -c(a),
                Math::Pow([a, b]) => pow_value(c(a), c(b)),
                Math::Exp(a) => c(a).exp(),
                Math::Log(a) => c(a).ln(),
                Math::Sin(a) => c(a).sin(),
                Math::Cos(a) => c(a).cos(),
                Math::Sqrt(a) => c(a).sqrt(),
            };
            v.push(r);
        }
        v[v.len() - 1]
    }

    #[test]
    fn every_rule_has_an_example_and_proves_it() {
        for rule in rules() {
            let name = rule.name.as_str();
            let Some(&(_, input, expected)) = EXAMPLES.iter().find(|e| e.0 == name) else {
                panic!("rule {name} has no example line");
            };
            assert!(
                equal_under(&only(name), input, expected),
                "rule {name}: {input} != {expected}"
            );
        }
        assert_eq!(
            EXAMPLES.len(),
            rules().len(),
            "an example names a rule that does not exist"
        );
    }

    #[test]
    fn every_example_keeps_its_value() {
        for &(name, input, expected) in EXAMPLES {
            let a: RecExpr<Math> = input.parse().expect("example parses");
            let b: RecExpr<Math> = expected.parse().expect("example parses");
            for &(x, y, z) in &[(0.7, 1.3, -0.4), (-2.5, 0.2, 3.0), (1e-3, -7.0, 0.5)] {
                let (va, vb) = (eval(&a, x, y, z), eval(&b, x, y, z));
                assert!(
                    (va - vb).abs() <= 1e-12 * va.abs().max(1.0),
                    "rule {name} at ({x}, {y}, {z}): {va} vs {vb}"
                );
            }
        }
    }

    #[test]
    fn guards_block_unsafe_rewrites() {
        for &(name, input, forbidden) in BLOCKED {
            assert!(
                !equal_under(&only(name), input, forbidden),
                "rule {name} fired on {input}"
            );
        }
    }

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<&str> = rules().iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules().len());
    }
}
