//! The e-graph language of odenet expressions and its constant-folding analysis.

use egg::{Analysis, DidMerge, Id, Language, Symbol, define_language};
use ordered_float::NotNan;

/// A numeric literal in the e-graph. Never NaN, and the analysis never creates infinite ones.
pub type Constant = NotNan<f64>;

define_language! {
    /// Arithmetic, the five functions of the spec language, finite literals and names.
    ///
    /// `pow` takes a general exponent; the DAG builder turns a small integer constant exponent
    /// into `Node::PowI`.
    pub enum Math {
        "+" = Add([Id; 2]),
        "-" = Sub([Id; 2]),
        "*" = Mul([Id; 2]),
        "/" = Div([Id; 2]),
        "neg" = Neg(Id),
        "pow" = Pow([Id; 2]),
        "exp" = Exp(Id),
        "log" = Log(Id),
        "sin" = Sin(Id),
        "cos" = Cos(Id),
        "sqrt" = Sqrt(Id),
        Num(Constant),
        Symbol(Symbol),
    }
}

/// The e-graph type used throughout the crate.
pub type EGraph = egg::EGraph<Math, ConstantFold>;

/// Largest exponent magnitude that is treated as an integer power (`powi`) when folding and
/// when lowering to the DAG; larger integer exponents use the general `powf`.
pub const MAX_POWI: f64 = 64.0;

/// Returns `k` when `v` is an integer of magnitude at most [`MAX_POWI`].
pub fn small_integer(v: f64) -> Option<i32> {
    if v.fract() == 0.0 && v.abs() <= MAX_POWI {
        // The value is an integer of at most 64 in magnitude, so the cast is exact.
        Some(v as i32)
    } else {
        None
    }
}

/// The value of `x^k` as the DAG evaluates it: `powi` for small integer exponents, else `powf`.
pub fn pow_value(x: f64, k: f64) -> f64 {
    match small_integer(k) {
        Some(i) => x.powi(i),
        None => x.powf(k),
    }
}

/// Makes a literal from a finite value; `-0.0` becomes `0.0` so that a zero prints as `0`.
pub fn constant(v: f64) -> Option<Constant> {
    if !v.is_finite() {
        return None;
    }
    let v = if v == 0.0 { 0.0 } else { v };
    NotNan::new(v).ok()
}

/// Folds one operator over constant children. Returns `None` when a child is not constant or
/// when the result would not be finite (`1/0` or `log(-1)` stay unfolded, so that no NaN or
/// infinity ever enters the e-graph as a literal).
pub fn fold(node: &Math, child: impl Fn(Id) -> Option<f64>) -> Option<Constant> {
    let v = match node {
        Math::Num(c) => c.into_inner(),
        Math::Symbol(_) => return None,
        Math::Add([a, b]) => child(*a)? + child(*b)?,
        Math::Sub([a, b]) => child(*a)? - child(*b)?,
        Math::Mul([a, b]) => child(*a)? * child(*b)?,
        Math::Div([a, b]) => child(*a)? / child(*b)?,
        Math::Neg(a) => -child(*a)?,
        Math::Pow([a, b]) => pow_value(child(*a)?, child(*b)?),
        Math::Exp(a) => child(*a)?.exp(),
        Math::Log(a) => child(*a)?.ln(),
        Math::Sin(a) => child(*a)?.sin(),
        Math::Cos(a) => child(*a)?.cos(),
        Math::Sqrt(a) => child(*a)?.sqrt(),
    };
    constant(v)
}

/// Constant folding: an e-class whose value is known carries it, holds the literal, and is
/// pruned to its leaves so that rewrites do not waste effort inside constant subterms.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConstantFold;

impl Analysis<Math> for ConstantFold {
    type Data = Option<Constant>;

    fn make(egraph: &mut EGraph, enode: &Math, _id: Id) -> Self::Data {
        fold(enode, |i| egraph[i].data.map(NotNan::into_inner))
    }

    fn merge(&mut self, to: &mut Self::Data, from: Self::Data) -> DidMerge {
        match (*to, from) {
            (None, Some(b)) => {
                *to = Some(b);
                DidMerge(true, false)
            }
            (None, None) => DidMerge(false, false),
            (Some(_), None) => DidMerge(false, true),
            // Two foldings of the same value can differ in the last bits (floating-point
            // addition is not associative); keep the first instead of failing.
            (Some(a), Some(b)) => DidMerge(false, a != b),
        }
    }

    fn modify(egraph: &mut EGraph, id: Id) {
        if let Some(c) = egraph[id].data {
            let added = egraph.add(Math::Num(c));
            egraph.union(id, added);
            egraph[id].nodes.retain(|n| n.is_leaf());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::RecExpr;

    fn folded(src: &str) -> Option<f64> {
        let expr: RecExpr<Math> = src.parse().expect("test expression parses");
        let mut eg = EGraph::default();
        let id = eg.add_expr(&expr);
        eg.rebuild();
        eg[id].data.map(NotNan::into_inner)
    }

    #[test]
    fn folds_arithmetic() {
        let v = folded("(+ (* 2 3) (/ 4 2))").expect("constant");
        assert!((v - 8.0).abs() < 1e-15);
        let v = folded("(pow 2 -2)").expect("constant");
        assert!((v - 0.25).abs() < 1e-15);
        let v = folded("(sqrt (exp 0))").expect("constant");
        assert!((v - 1.0).abs() < 1e-15);
    }

    #[test]
    fn never_folds_to_non_finite() {
        assert_eq!(folded("(/ 1 0)"), None);
        assert_eq!(folded("(log -1)"), None);
        assert_eq!(folded("(log 0)"), None);
        assert_eq!(folded("(sqrt -4)"), None);
        assert_eq!(folded("(exp 1000)"), None);
    }

    #[test]
    fn symbols_are_not_constant() {
        assert_eq!(folded("(+ x 1)"), None);
    }

    #[test]
    fn negative_zero_becomes_zero() {
        let v = folded("(neg 0)").expect("constant");
        assert!(v.is_sign_positive());
    }
}
