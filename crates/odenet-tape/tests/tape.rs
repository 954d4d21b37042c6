//! The generic tape and `TemplateRhs`: values against a recursive reference evaluator, Jacobians
//! against finite differences, a known answer (Lorenz), and typed errors for invalid DAGs.

mod common;

use common::*;
use odenet_symbolic::{Dag, Node};
use odenet_tape::{OdeRhs, Tape, TapeError, TemplateRhs};
use proptest::prelude::*;

fn inputs() -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>)> {
    (
        prop::collection::vec(-1.5f64..1.5, NSTATES),
        prop::collection::vec(-1.5f64..1.5, NPARAMS),
        prop::collection::vec(-1.5f64..1.5, NCONSTS),
    )
}

/// Runs `eval` and `eval_jac` of a freshly compiled tape.
fn run(tape: &Tape, x: &[f64], p: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = tape.noutputs();
    // A scratch buffer full of garbage: the tape must not depend on its previous contents.
    let mut scratch = vec![f64::NAN; tape.scratch_len()];
    let mut out = vec![0.0; n];
    tape.eval(x, p, c, &mut scratch, &mut out);
    let mut out2 = vec![0.0; n];
    let mut jx = vec![f64::NAN; n * tape.nstates()];
    let mut jp = vec![f64::NAN; n * tape.nparams()];
    tape.eval_jac(x, p, c, &mut scratch, &mut out2, &mut jx, &mut jp);
    (out, out2, jx, jp)
}

/// The tape's values (by `eval` and `eval_jac`) against the recursive reference evaluator, and
/// its Jacobians against finite differences of the reference where the values are tame.
fn matches_reference(
    dag: &Dag,
    tape: &Tape,
    (x, p, c): (&[f64], &[f64], &[f64]),
) -> Result<(), TestCaseError> {
    let want = reference(dag, x, p, c);
    let (out, out2, jx, jp) = run(tape, x, p, c);
    for i in 0..want.len() {
        prop_assert!(
            close(out[i], want[i], 1e-13),
            "eval output {i}: {} vs reference {}",
            out[i],
            want[i]
        );
        prop_assert!(
            close(out2[i], want[i], 1e-13),
            "eval_jac output {i}: {} vs reference {}",
            out2[i],
            want[i]
        );
    }
    if !tame(&want) {
        return Ok(());
    }
    let n = dag.roots.len();
    let mut fx = |xv: &[f64]| reference(dag, xv, p, c);
    check_jacobian("tape jx", &mut fx, x, &jx, n)?;
    let mut fp = |pv: &[f64]| reference(dag, x, pv, c);
    check_jacobian("tape jp", &mut fp, p, &jp, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Outputs that negate another output (dm/dt = −dM/dt) take that output's Jacobian rows
    /// negated instead of a sweep of their own; a negation of such an output is swept in full.
    #[test]
    fn negated_outputs_match_reference_and_finite_differences(
        (leaves, ops, roots) in recipes(),
        (x, p, c) in inputs(),
    ) {
        let mut dag = build(&leaves, &ops, &roots, None);
        let first = dag.roots[0];
        dag.nodes.push(Node::Neg(first));
        let neg = (dag.nodes.len() - 1) as u32;
        dag.nodes.push(Node::Neg(neg));
        let neg2 = (dag.nodes.len() - 1) as u32;
        dag.roots.insert(0, neg);
        dag.roots.push(neg2);
        let tape = Tape::compile(&dag, NSTATES, NPARAMS, NCONSTS).expect("generated dags are valid");
        matches_reference(&dag, &tape, (&x, &p, &c))?;
    }

    #[test]
    fn random_dags_match_reference_and_finite_differences(
        (leaves, ops, roots) in recipes(),
        (x, p, c) in inputs(),
    ) {
        let dag = build(&leaves, &ops, &roots, None);
        let tape = Tape::compile(&dag, NSTATES, NPARAMS, NCONSTS).expect("generated dags are valid");
        prop_assert_eq!(tape.noutputs(), dag.roots.len());
        matches_reference(&dag, &tape, (&x, &p, &c))?;
    }

    #[test]
    fn template_rhs_matches_reference_and_finite_differences(
        (leaves, ops, roots) in recipes(),
        (x, p, c) in inputs(),
    ) {
        let dag = build(&leaves, &ops, &roots, Some(NSTATES));
        let tape = Tape::compile(&dag, NSTATES, NPARAMS, NCONSTS).expect("generated dags are valid");
        let rhs = TemplateRhs::new(&tape, &c).expect("one constant, one output per state");
        prop_assert_eq!(rhs.nstates(), NSTATES);
        prop_assert_eq!(rhs.nparams(), NPARAMS);
        let mut scratch = vec![0.0; rhs.scratch_len()];
        let (mut f, mut f2) = (vec![0.0; NSTATES], vec![0.0; NSTATES]);
        let mut jx = vec![0.0; NSTATES * NSTATES];
        let mut jp = vec![0.0; NSTATES * NPARAMS];
        rhs.rhs(&x, &p, &mut scratch, &mut f);
        rhs.rhs_jac(&x, &p, &mut scratch, &mut f2, &mut jx, &mut jp);
        let want = reference(&dag, &x, &p, &c);
        for i in 0..NSTATES {
            prop_assert!(close(f[i], want[i], 1e-13));
            prop_assert!(close(f2[i], want[i], 1e-13));
        }
        if !tame(&want) {
            return Ok(());
        }
        let mut fx = |xv: &[f64]| reference(&dag, xv, &p, &c);
        check_jacobian("template jx", &mut fx, &x, &jx, NSTATES)?;
        let mut fp = |pv: &[f64]| reference(&dag, &x, pv, &c);
        check_jacobian("template jp", &mut fp, &p, &jp, NSTATES)?;
    }

    /// Arbitrary node vectors, most of them invalid: compiling returns a typed error or a tape,
    /// and a tape that compiles evaluates without panicking.
    #[test]
    fn arbitrary_node_vectors_never_panic(
        raw in prop::collection::vec((0u8..16, 0u32..12, 0u32..12, -3i32..4, -2.0f64..2.0), 0..20),
        roots in prop::collection::vec(0u32..24, 0..4),
    ) {
        let nodes: Vec<Node> = raw
            .iter()
            .map(|&(kind, a, b, n, v)| match kind {
                0 => Node::Num(v),
                1 => Node::State(a),
                2 => Node::Param(a),
                3 => Node::Const(a),
                4 => Node::Add(a, b),
                5 => Node::Sub(a, b),
                6 => Node::Mul(a, b),
                7 => Node::Div(a, b),
                8 => Node::Neg(a),
                9 => Node::Pow(a, b),
                10 => Node::PowI(a, n),
                11 => Node::Exp(a),
                12 => Node::Log(a),
                13 => Node::Sin(a),
                14 => Node::Cos(a),
                _ => Node::Sqrt(a),
            })
            .collect();
        let dag = Dag { nodes, roots };
        if let Ok(tape) = Tape::compile(&dag, 3, 4, 1) {
            let (out, _, _, _) = run(&tape, &[0.5, -0.0, 2.0], &[0.0, 1.0, -1.0, 3.0], &[0.25]);
            prop_assert_eq!(out.len(), dag.roots.len());
        }
    }
}

/// The Lorenz system as a template with σ, ρ, β as parameters: a known right-hand side and a
/// known analytic Jacobian.
fn lorenz_dag() -> Dag {
    use Node::*;
    let nodes = vec![
        State(0),    // 0 x
        State(1),    // 1 y
        State(2),    // 2 z
        Param(0),    // 3 σ
        Param(1),    // 4 ρ
        Param(2),    // 5 β
        Sub(1, 0),   // 6 y - x
        Mul(3, 6),   // 7 σ(y - x)
        Sub(4, 2),   // 8 ρ - z
        Mul(0, 8),   // 9 x(ρ - z)
        Sub(9, 1),   // 10 x(ρ - z) - y
        Mul(0, 1),   // 11 xy
        Mul(5, 2),   // 12 βz
        Sub(11, 12), // 13 xy - βz
    ];
    Dag {
        nodes,
        roots: vec![7, 10, 13],
    }
}

#[test]
fn lorenz_template_has_the_known_jacobian() {
    let tape = Tape::compile(&lorenz_dag(), 3, 3, 0).unwrap();
    let rhs = TemplateRhs::new(&tape, &[]).unwrap();
    let (x, y, z) = (1.5, -2.0, 20.0);
    let (s, r, b) = (10.0, 28.0, 8.0 / 3.0);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut f = [0.0; 3];
    let mut jx = [0.0; 9];
    let mut jp = [0.0; 9];
    rhs.rhs_jac(
        &[x, y, z],
        &[s, r, b],
        &mut scratch,
        &mut f,
        &mut jx,
        &mut jp,
    );
    let want_f = [s * (y - x), x * (r - z) - y, x * y - b * z];
    let want_jx = [-s, s, 0.0, r - z, -1.0, -x, y, x, -b];
    let want_jp = [y - x, 0.0, 0.0, 0.0, x, 0.0, 0.0, 0.0, -z];
    for (got, want) in [
        (&f[..], &want_f[..]),
        (&jx[..], &want_jx[..]),
        (&jp[..], &want_jp[..]),
    ] {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-14 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
}

#[test]
fn powers_are_specialised_and_exact_at_zero() {
    use Node::*;
    // x^0, x^1, x^2, x^3, x^-2 and 0^b at x = 0 and x = 2.
    let nodes = vec![
        State(0),
        PowI(0, 0),
        PowI(0, 1),
        PowI(0, 2),
        PowI(0, 3),
        Param(0),
        Pow(0, 5),
    ];
    let dag = Dag {
        nodes,
        roots: vec![1, 2, 3, 4, 6],
    };
    let tape = Tape::compile(&dag, 1, 1, 0).unwrap();
    let (out, _, jx, jp) = run(&tape, &[0.0], &[2.0], &[]);
    let want_out = [1.0, 0.0, 0.0, 0.0, 0.0];
    let want_jx = [0.0, 1.0, 0.0, 0.0, 0.0];
    let want_jp = [0.0, 0.0, 0.0, 0.0, 0.0];
    for i in 0..5 {
        assert!((out[i] - want_out[i]).abs() < 1e-15, "out {i} = {}", out[i]);
        assert!((jx[i] - want_jx[i]).abs() < 1e-15, "jx {i} = {}", jx[i]);
        assert!((jp[i] - want_jp[i]).abs() < 1e-15, "jp {i} = {}", jp[i]);
    }
    let (out, _, jx, jp) = run(&tape, &[2.0], &[1.5], &[]);
    let want_out = [1.0, 2.0, 4.0, 8.0, 2f64.powf(1.5)];
    let want_jx = [0.0, 1.0, 4.0, 12.0, 1.5 * 2f64.powf(0.5)];
    let want_jp = [0.0, 0.0, 0.0, 0.0, 2f64.powf(1.5) * 2f64.ln()];
    for i in 0..5 {
        assert!((out[i] - want_out[i]).abs() < 1e-14, "out {i} = {}", out[i]);
        assert!((jx[i] - want_jx[i]).abs() < 1e-14, "jx {i} = {}", jx[i]);
        assert!((jp[i] - want_jp[i]).abs() < 1e-14, "jp {i} = {}", jp[i]);
    }
}

#[test]
fn dead_nodes_are_dropped_and_leaf_roots_work() {
    use Node::*;
    let nodes = vec![
        State(0),
        Param(0),
        Sin(0),    // dead
        Exp(2),    // dead
        Mul(0, 1), // live
        Num(3.0),  // a literal root
        State(0),  // a duplicate leaf
    ];
    let dag = Dag {
        nodes,
        roots: vec![4, 5, 6, 1],
    };
    let tape = Tape::compile(&dag, 1, 1, 0).unwrap();
    assert_eq!(tape.ninstructions(), 1);
    let (out, _, jx, jp) = run(&tape, &[2.0], &[-0.5], &[]);
    assert_eq!(out.len(), 4);
    let want = [
        (-1.0, -0.5, 2.0),
        (3.0, 0.0, 0.0),
        (2.0, 1.0, 0.0),
        (-0.5, 0.0, 1.0),
    ];
    for (i, (v, dx, dp)) in want.into_iter().enumerate() {
        assert!(
            (out[i] - v).abs() < 1e-15 && (jx[i] - dx).abs() < 1e-15 && (jp[i] - dp).abs() < 1e-15
        );
    }
}

#[test]
fn an_empty_system_evaluates_to_nothing() {
    let tape = Tape::compile(&Dag::default(), 2, 1, 0).unwrap();
    let (out, _, jx, jp) = run(&tape, &[1.0, 2.0], &[3.0], &[]);
    assert!(out.is_empty() && jx.is_empty() && jp.is_empty());
}

#[test]
fn invalid_dags_give_typed_errors() {
    use Node::*;
    let dag = |nodes: Vec<Node>, roots: Vec<u32>| Dag { nodes, roots };
    assert_eq!(
        Tape::compile(&dag(vec![State(3)], vec![0]), 3, 0, 0),
        Err(TapeError::StateOutOfRange {
            node: 0,
            index: 3,
            nstates: 3
        })
    );
    assert_eq!(
        Tape::compile(&dag(vec![State(0), Param(4)], vec![0]), 3, 4, 0),
        Err(TapeError::ParamOutOfRange {
            node: 1,
            index: 4,
            nparams: 4
        })
    );
    assert_eq!(
        Tape::compile(&dag(vec![Const(0)], vec![0]), 1, 0, 0),
        Err(TapeError::ConstOutOfRange {
            node: 0,
            index: 0,
            nconsts: 0
        })
    );
    assert_eq!(
        Tape::compile(&dag(vec![State(0), Add(0, 1)], vec![1]), 1, 0, 0),
        Err(TapeError::ChildNotBefore { node: 1, child: 1 })
    );
    assert_eq!(
        Tape::compile(&dag(vec![State(0), Sin(5)], vec![1]), 1, 0, 0),
        Err(TapeError::ChildNotBefore { node: 1, child: 5 })
    );
    assert_eq!(
        Tape::compile(&dag(vec![State(0)], vec![0, 1]), 1, 0, 0),
        Err(TapeError::RootOutOfRange {
            output: 1,
            node: 1,
            nnodes: 1
        })
    );
    let err = Tape::compile(&dag(vec![State(7)], vec![0]), 2, 0, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 0 reads state 7, but the system has only 2 states; declare the state or fix the index"
    );
}

#[test]
fn template_rhs_rejects_wrong_constants_and_non_square_tapes() {
    let tape = Tape::compile(&lorenz_dag(), 3, 3, 0).unwrap();
    assert_eq!(
        TemplateRhs::new(&tape, &[1.0]).unwrap_err(),
        TapeError::ConstsLength {
            expected: 0,
            found: 1
        }
    );
    let mut dag = lorenz_dag();
    dag.roots.pop();
    let tape = Tape::compile(&dag, 3, 3, 0).unwrap();
    assert_eq!(
        TemplateRhs::new(&tape, &[]).unwrap_err(),
        TapeError::NotSquare {
            noutputs: 2,
            nstates: 3
        }
    );
}
