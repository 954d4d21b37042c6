//! Simplification of whole systems: the issue's acceptance cases, the actin physical model's
//! sharing, DAG invariants, errors and the runner's limits.

use std::time::Duration;

use odenet_spec::{Expr, parse_expr};
use odenet_symbolic::{
    Dag, Node, SimplifyOptions, SymbolicError, Symbols, library_features, library_system, simplify,
    simplify_str, substitute_params,
};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn parse_all(src: &[&str]) -> Vec<Expr> {
    src.iter()
        .map(|s| parse_expr(s).expect("test expression parses"))
        .collect()
}

/// Value of every root of `dag` at a point.
fn values(dag: &Dag, x: &[f64], p: &[f64], c: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; dag.roots.len()];
    dag.eval(x, p, c, &mut out).expect("evaluates");
    out
}

#[test]
fn acceptance_cancels_a_negated_sum() {
    assert_eq!(
        simplify_str("-(a0 + a1*m) + a0 + 2*a1*m", false).unwrap(),
        "a1*m"
    );
}

#[test]
fn acceptance_expands_a_square() {
    assert_eq!(simplify_str("(x + 1)^2 - x^2 - 2*x", false).unwrap(), "1");
}

#[test]
fn acceptance_commutes_products() {
    assert_eq!(simplify_str("x*y + y*x - 2*x*y + z", false).unwrap(), "z");
}

#[test]
fn small_identities() {
    let cases = [
        ("x - x", "0"),
        ("x/x", "1"),
        ("0*exp(x)", "0"),
        ("x^1 + 0", "x"),
        ("x*x*x", "x^3"),
        ("-(-x)", "x"),
        ("a - -b", "a + b"),
        ("-1*x", "-x"),
        ("x + -1*y", "x - y"),
        ("2*(3*x) + (4*y)/2", "6*x + 2*y"),
        ("(6*x)/4", "1.5*x"),
        ("x^2*x^3", "x^5"),
        ("(x*y)/x", "y"),
        ("1/0 + x - x", "1/0"),
    ];
    for (src, want) in cases {
        assert_eq!(simplify_str(src, false).unwrap(), want, "simplifying {src}");
    }
}

/// Issue 13's identities, each through the whole simplifier (the rules' own one-line tests are
/// in `rules.rs`; the random-point property in `properties.rs` and the fuzz campaign check
/// that none of them changes a value).
#[test]
fn issue_13_identities() {
    for (src, want) in [
        // Domains: exp(log(x)) = x for x > 0, log(exp(x)) = x for -745 < x < 709; elsewhere the
        // original is not finite and the simplified form extends it.
        ("exp(log(x))", "x"),
        ("log(exp(x))", "x"),
        ("sin(x)^2 + cos(x)^2", "1"),
        ("sin(x*y)^2 + cos(x*y)^2 + z", "1 + z"),
        ("1/(1/x)", "x"),
        ("x/(x*y)", "1/y"),
        ("x^2/x^3", "1/x"),
        ("2*x/(2*y)", "x/y"),
        ("x**2 - x^2", "0"),
        ("(x + y)^3 - (x + y)*(x + y)^2", "0"),
        ("(x + 1)^3 - (x + 1)*(x^2 + 2*x + 1)", "0"),
        ("x^4 - x^2*x^2", "0"),
        ("x^5/x^3 - x^2", "0"),
    ] {
        assert_eq!(simplify_str(src, false).unwrap(), want, "simplifying {src}");
    }
}

#[test]
fn unsafe_folds_are_left_alone() {
    // log(-1) and 1/0 are not numbers: they stay as written instead of becoming NaN or inf.
    assert_eq!(simplify_str("log(-1)", false).unwrap(), "log(-1)");
    assert_eq!(simplify_str("sqrt(-4) + 1", false).unwrap(), "1 + sqrt(-4)");
}

/// The actin physical model of DESIGN.md.
fn actin() -> (Vec<Expr>, Symbols) {
    let syms = Symbols {
        states: names(&["P", "M", "m"]),
        params: (0..=10).map(|i| format!("a{i}")).collect(),
        consts: Vec::new(),
    };
    let exprs = parse_all(&[
        "a0 + a1*m + a2*m^2 + a3*m*M + a4*P + a5*M + a6*P^2 + a7*P*M",
        "a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P",
        "-(a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P)",
    ]);
    (exprs, syms)
}

#[test]
fn actin_shares_the_negated_equation_and_ties_parameters() {
    let (exprs, syms) = actin();
    let s = simplify(&exprs, &syms, &SimplifyOptions::default()).unwrap();
    s.dag.check(&syms).unwrap();
    let [_, root_m_big, root_m_small] = s.dag.roots[..] else {
        panic!("three roots expected");
    };
    assert_eq!(
        s.dag.nodes[root_m_small as usize],
        Node::Neg(root_m_big),
        "dm/dt must be Neg(dM/dt)"
    );
    // Every parameter is exactly one leaf, however many equations use it.
    for j in 0..syms.params.len() as u32 {
        let count = s.dag.nodes.iter().filter(|n| **n == Node::Param(j)).count();
        assert_eq!(count, 1, "parameter a{j} appears as {count} leaves");
    }
    assert!(
        s.dag_size <= s.dag_size_before,
        "{} > {}",
        s.dag_size,
        s.dag_size_before
    );
    assert!(s.dag_size_before < s.tree_size);
    assert!(!s.stop_reason.is_empty());
    assert!(s.iterations >= 1 && s.egraph_nodes > 0);

    // Same values as the unsimplified system at a few points.
    let before = Dag::from_exprs(&exprs, &syms).unwrap();
    for k in 0..5 {
        let t = f64::from(k);
        let x = [0.3 + 0.1 * t, 1.7 - 0.2 * t, 0.9 + 0.05 * t];
        let p: Vec<f64> = (0..11).map(|j| (f64::from(j) * 0.37 + t).sin()).collect();
        let (a, b) = (values(&before, &x, &p, &[]), values(&s.dag, &x, &p, &[]));
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-12 * u.abs().max(1.0), "{u} vs {v}");
        }
    }
}

#[test]
fn from_exprs_hash_conses_identical_subtrees() {
    let syms = Symbols {
        states: names(&["x", "y"]),
        ..Symbols::default()
    };
    let exprs = parse_all(&["x*y + sin(x*y)", "sin(x*y) - 3", "x^2"]);
    let dag = Dag::from_exprs(&exprs, &syms).unwrap();
    dag.check(&syms).unwrap();
    // x, y, x*y, sin, +, 3, -, x^2: eight distinct nodes.
    assert_eq!(dag.len(), 8, "{:?}", dag.nodes);
    assert!(dag.nodes.contains(&Node::PowI(0, 2)));
    let mut out = [0.0; 3];
    dag.eval(&[2.0, 0.5], &[], &[], &mut out).unwrap();
    let want = [1.0 + 1f64.sin(), 1f64.sin() - 3.0, 4.0];
    for (o, w) in out.iter().zip(want) {
        assert!((o - w).abs() < 1e-15);
    }
}

#[test]
fn dag_invariants_hold_for_libraries() {
    let states = names(&["x", "y", "z"]);
    for order in 1..=4 {
        let (features, _) = library_features(&states, order, &[]);
        let syms = Symbols {
            states: states.clone(),
            ..Symbols::default()
        };
        let s = simplify(&features, &syms, &SimplifyOptions::default()).unwrap();
        assert_eq!(s.dag.roots.len(), features.len());
        for (i, node) in s.dag.nodes.iter().enumerate() {
            for c in node.children() {
                assert!((c as usize) < i, "node {i} ({node:?}) has child {c}");
            }
        }
        assert!(s.dag.roots.iter().all(|&r| (r as usize) < s.dag.len()));
        s.dag.check(&syms).unwrap();
    }
}

#[test]
fn names_resolve_or_fail_with_a_typed_error() {
    let syms = Symbols {
        states: names(&["x"]),
        params: names(&["k"]),
        consts: names(&["x"]),
    };
    let e = parse_all(&["k*y"]);
    assert_eq!(
        simplify(&e, &syms, &SimplifyOptions::default()).unwrap_err(),
        SymbolicError::UnknownName { name: "y".into() }
    );
    let e = parse_all(&["k*x"]);
    let err = Dag::from_exprs(&e, &syms).unwrap_err();
    assert!(
        matches!(err, SymbolicError::AmbiguousName { ref name, .. } if name == "x"),
        "{err}"
    );
    assert!(err.to_string().contains("rename"));
    let bad = [Expr::Num(f64::NAN)];
    assert!(matches!(
        Dag::from_exprs(&bad, &syms),
        Err(SymbolicError::NonFiniteNumber { .. })
    ));
}

#[test]
fn parse_errors_are_typed() {
    let err = simplify_str("x + * y", false).unwrap_err();
    assert!(
        matches!(err, SymbolicError::Parse { offset: 4, .. }),
        "{err:?}"
    );
}

#[test]
fn eval_checks_its_buffers() {
    let syms = Symbols {
        states: names(&["x", "y"]),
        ..Symbols::default()
    };
    let dag = Dag::from_exprs(&parse_all(&["x + y"]), &syms).unwrap();
    let mut out = [0.0];
    assert!(matches!(
        dag.eval(&[1.0], &[], &[], &mut out),
        Err(SymbolicError::LengthMismatch { what: "state", .. })
    ));
    assert!(matches!(
        dag.eval(&[1.0, 2.0], &[], &[], &mut [0.0; 2]),
        Err(SymbolicError::LengthMismatch { what: "output", .. })
    ));
    // A malformed DAG (child after parent) is an error, not a panic.
    let broken = Dag {
        nodes: vec![Node::Neg(1), Node::Num(1.0)],
        roots: vec![0],
    };
    assert!(broken.check(&syms).is_err());
    assert!(broken.eval(&[], &[], &[], &mut out).is_err());
    assert!(broken.to_infix(0, &syms).starts_with("<invalid DAG"));
}

#[test]
fn all_three_limits_are_honoured_and_reported() {
    let (exprs, syms) = actin();
    let opts = SimplifyOptions {
        iter_limit: 1,
        ..SimplifyOptions::default()
    };
    let s = simplify(&exprs, &syms, &opts).unwrap();
    assert_eq!(s.stop_reason, "iteration limit (1)");
    assert_eq!(s.iterations, 1);

    let states = names(&["x", "y", "z"]);
    let (features, params) = library_system(&states, 3);
    let syms = Symbols {
        states,
        params,
        ..Symbols::default()
    };
    let opts = SimplifyOptions {
        node_limit: 500,
        ..SimplifyOptions::default()
    };
    let s = simplify(&features, &syms, &opts).unwrap();
    assert!(s.stop_reason.starts_with("node limit"), "{}", s.stop_reason);

    let opts = SimplifyOptions {
        time_limit: Duration::ZERO,
        ..SimplifyOptions::default()
    };
    let s = simplify(&features, &syms, &opts).unwrap();
    assert!(s.stop_reason.starts_with("time limit"), "{}", s.stop_reason);

    let x = names(&["x"]);
    let s = simplify(
        &parse_all(&["x + 0"]),
        &Symbols {
            states: x,
            ..Symbols::default()
        },
        &SimplifyOptions {
            iter_limit: 100,
            ..SimplifyOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.stop_reason, "saturated");
}

#[test]
fn fitted_equations_print_with_numbers_and_without_zero_terms() {
    let syms = Symbols {
        states: names(&["m"]),
        ..Symbols::default()
    };
    let exprs = parse_all(&["a1*m + a2*m^2"]);
    let fitted = substitute_params(&exprs, [("a1", 0.5), ("a2", 0.0)]);
    let s = simplify(&fitted, &syms, &SimplifyOptions::default()).unwrap();
    assert_eq!(s.to_infix(&syms), ["0.5*m"]);

    let lorenz = parse_all(&["s*(y - x)", "x*(r - z) - y", "x*y - b*z"]);
    let syms = Symbols {
        states: names(&["x", "y", "z"]),
        ..Symbols::default()
    };
    let fitted = substitute_params(&lorenz, [("s", 10.0), ("r", 28.0), ("b", 8.0 / 3.0)]);
    let s = simplify(&fitted, &syms, &SimplifyOptions::default()).unwrap();
    let printed = s.to_infix(&syms);
    // Whatever the factorisation, the printed equations evaluate to the original values.
    for (text, orig) in printed.iter().zip(&fitted) {
        let reparsed = parse_expr(text).expect("printed equations re-parse");
        let d1 = Dag::from_exprs(std::slice::from_ref(&reparsed), &syms).unwrap();
        let d0 = Dag::from_exprs(std::slice::from_ref(orig), &syms).unwrap();
        let x = [1.3, -0.7, 2.1];
        let (a, b) = (values(&d0, &x, &[], &[])[0], values(&d1, &x, &[], &[])[0]);
        assert!(
            (a - b).abs() < 1e-12 * a.abs().max(1.0),
            "{text}: {a} vs {b}"
        );
    }
    assert_eq!(printed[2], "-2.6666666666666665*z + x*y");
}

#[test]
fn a_simplified_equation_is_still_shared_by_its_negation() {
    // The cancelling pair forces the extracted (simplified) form to be chosen; the negated
    // equation must still be one `Neg` on top of it.
    let syms = Symbols {
        states: names(&["P", "M", "m"]),
        params: (0..=10).map(|i| format!("a{i}")).collect(),
        consts: Vec::new(),
    };
    let exprs = parse_all(&[
        "a4*P",
        "a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M - a8*M",
        "-(a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M - a8*M)",
    ]);
    let s = simplify(&exprs, &syms, &SimplifyOptions::default()).unwrap();
    assert!(
        s.dag_size < s.dag_size_before,
        "{} vs {}: {:?} {}",
        s.dag_size,
        s.dag_size_before,
        s.to_infix(&syms),
        s.stop_reason
    );
    assert!(
        !s.to_infix(&syms)[1].contains("a8"),
        "{:?}",
        s.to_infix(&syms)
    );
    assert_eq!(
        s.dag.nodes[s.dag.roots[2] as usize],
        Node::Neg(s.dag.roots[1])
    );
}

/// The deepest expressions the parser accepts (`MAX_TREE_DEPTH` chained terms, under
/// `MAX_DEPTH` levels of nesting) go through every recursive walk — parsing, printing,
/// evaluation, the DAG, simplification, printing the DAG, dropping — on a 1 MiB stack, an
/// eighth of the main thread's: no spec can drive them past the stack.
#[test]
fn deepest_accepted_expressions_fit_a_small_stack() {
    let chain = vec!["x"; odenet_spec::MAX_TREE_DEPTH - 8].join(" + ");
    let nested = format!(
        "{}x{}",
        "-(".repeat(odenet_spec::MAX_DEPTH / 2 - 1),
        ")".repeat(odenet_spec::MAX_DEPTH / 2 - 1)
    );
    let both = format!(
        "{}{}{}",
        "sin(".repeat(odenet_spec::MAX_DEPTH / 2 - 1),
        vec!["y"; odenet_spec::MAX_TREE_DEPTH / 2].join("*"),
        ")".repeat(odenet_spec::MAX_DEPTH / 2 - 1)
    );
    let worker = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let syms = Symbols {
                states: names(&["x", "y"]),
                ..Symbols::default()
            };
            for src in [chain, nested, both] {
                let e = odenet_spec::parse_expr(&src).expect("accepted");
                let printed = e.to_string();
                assert_eq!(odenet_spec::parse_expr(&printed).as_ref(), Ok(&e));
                let v = e.eval(&|_| Some(0.5)).expect("evaluates");
                let dag = Dag::from_exprs(std::slice::from_ref(&e), &syms).expect("dag");
                let s = simplify(std::slice::from_ref(&e), &syms, &SimplifyOptions::default())
                    .expect("simplifies");
                let _ = s.dag.to_infix(s.dag.roots[0], &syms);
                let _ = dag.to_infix(dag.roots[0], &syms);
                let got = values(&s.dag, &[0.5, 0.5], &[], &[])[0];
                assert!((got - v).abs() <= 1e-9 * v.abs().max(1.0), "{got} vs {v}");
            }
        })
        .expect("thread starts");
    worker.join().expect("no stack overflow");
}
