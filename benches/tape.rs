//! Per-call cost of the right-hand sides the solvers call at every step: f alone, and f with
//! the full Jacobians ∂f/∂x and ∂f/∂θ.
//!
//! (a) the 3-state quadratic library through `LibraryRhs` (10 features, 30 coefficients),
//! (b) the fifth-order 3-state library through `LibraryRhs` (56 features, 168 coefficients),
//! (c) the same quadratic library written as one generic DAG with 30 parameter leaves
//!     (f_i = Σ_j θ_ij·m_j) through `TemplateRhs`, i.e. what template mode costs for it,
//! (d) the fifth-order library as one generic DAG (168 parameter leaves), for scale.
//!
//! Run: `cargo bench --bench tape -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use odenet_symbolic::{Dag, Node};
use odenet_tape::{Features, LibraryRhs, OdeRhs, Tape, TemplateRhs, monomials};

/// A point on the Lorenz attractor, and deterministic non-zero coefficients.
const X: [f64; 3] = [-5.9, -5.5, 24.6];

fn theta(n: usize) -> Vec<f64> {
    (0..n).map(|k| ((k as f64) * 0.37).sin()).collect()
}

/// The complete polynomial library of `order` in 3 states written as one DAG:
/// monomials built as products of lower-degree ones, then f_i = Σ_j θ_ij·m_j with θ as 3·nf
/// parameter leaves (row-major, equation by equation).
fn library_dag(order: u32) -> (Dag, usize) {
    let exps = monomials(3, order);
    let nf = exps.len();
    let mut nodes: Vec<Node> = Vec::new();
    let mut push = |n: Node| -> u32 {
        nodes.push(n);
        (nodes.len() - 1) as u32
    };
    let states: Vec<u32> = (0..3).map(|i| push(Node::State(i))).collect();
    let params: Vec<u32> = (0..3 * nf as u32).map(|k| push(Node::Param(k))).collect();
    // mono[j] is the node of monomial j; the constant monomial has none (θ·1 = θ).
    let mut mono: Vec<Option<u32>> = vec![None; nf];
    for (j, e) in exps.iter().enumerate().skip(1) {
        let s = e.iter().rposition(|&k| k > 0).expect("degree ≥ 1");
        let mut parent = e.clone();
        parent[s] -= 1;
        let pj = exps
            .iter()
            .position(|q| *q == parent)
            .expect("parents precede");
        mono[j] = Some(match mono[pj] {
            None => states[s],
            Some(pn) => push(Node::Mul(pn, states[s])),
        });
    }
    let mut roots = Vec::new();
    for i in 0..3 {
        let mut acc = params[i * nf];
        for (j, m) in mono.iter().enumerate().skip(1) {
            let term = push(Node::Mul(
                params[i * nf + j],
                m.expect("non-constant monomial"),
            ));
            acc = push(Node::Add(acc, term));
        }
        roots.push(acc);
    }
    (Dag { nodes, roots }, 3 * nf)
}

/// Benchmarks `rhs` and `rhs_jac` of one right-hand side under `name`.
fn bench_rhs(c: &mut Criterion, name: &str, rhs: &dyn OdeRhs) {
    let (ns, np) = (rhs.nstates(), rhs.nparams());
    let p = theta(np);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut f = vec![0.0; ns];
    let mut jx = vec![0.0; ns * ns];
    let mut jp = vec![0.0; ns * np];
    c.bench_function(&format!("{name}/f"), |b| {
        b.iter(|| {
            rhs.rhs(black_box(&X), black_box(&p), &mut scratch, &mut f);
            black_box(&f);
        })
    });
    c.bench_function(&format!("{name}/f+jac"), |b| {
        b.iter(|| {
            rhs.rhs_jac(
                black_box(&X),
                black_box(&p),
                &mut scratch,
                &mut f,
                &mut jx,
                &mut jp,
            );
            black_box((&f, &jx, &jp));
        })
    });
}

/// The generic tape and the library evaluate the same model: check f and both Jacobians agree
/// before timing them, so that the comparison is between equal computations.
fn assert_same_model(a: &dyn OdeRhs, b: &dyn OdeRhs) {
    let run = |r: &dyn OdeRhs| {
        let (ns, np) = (r.nstates(), r.nparams());
        let mut scratch = vec![0.0; r.scratch_len()];
        let (mut f, mut jx, mut jp) = (vec![0.0; ns], vec![0.0; ns * ns], vec![0.0; ns * np]);
        r.rhs_jac(&X, &theta(np), &mut scratch, &mut f, &mut jx, &mut jp);
        [f, jx, jp].concat()
    };
    for (u, v) in run(a).iter().zip(run(b)) {
        assert!(
            (u - v).abs() <= 1e-9 * u.abs().max(1.0),
            "tape {u} vs library {v}"
        );
    }
}

/// The feature library alone: φ, and φ with ∂φ/∂x.
fn bench_features(c: &mut Criterion, name: &str, features: &Features) {
    let (ns, nf) = (features.nstates(), features.nfeatures());
    let mut scratch = vec![0.0; features.scratch_len()];
    let mut phi = vec![0.0; nf];
    let mut dphi = vec![0.0; nf * ns];
    c.bench_function(&format!("{name}/phi"), |b| {
        b.iter(|| {
            features.eval(black_box(&X), &mut scratch, &mut phi);
            black_box(&phi);
        })
    });
    c.bench_function(&format!("{name}/phi+dphi"), |b| {
        b.iter(|| {
            features.eval_jac(black_box(&X), &mut scratch, &mut phi, &mut dphi);
            black_box((&phi, &dphi));
        })
    });
}

fn benches(c: &mut Criterion) {
    let quad = Features::polynomial(3, 2).expect("small library");
    bench_rhs(c, "library-order2-30coef", &LibraryRhs::new(&quad));
    let quint = Features::polynomial(3, 5).expect("small library");
    bench_features(c, "features-order2", &quad);
    bench_features(c, "features-order5", &quint);
    bench_rhs(c, "library-order5-168coef", &LibraryRhs::new(&quint));

    for (order, name) in [(2, "tape-order2-30param"), (5, "tape-order5-168param")] {
        let (dag, np) = library_dag(order);
        let tape = Tape::compile(&dag, 3, np, 0).expect("hand-built dag is valid");
        let rhs = TemplateRhs::new(&tape, &[]).expect("square, no constants");
        let features = Features::polynomial(3, order).expect("small library");
        assert_same_model(&rhs, &LibraryRhs::new(&features));
        bench_rhs(c, name, &rhs);
    }
}

criterion_group!(tape, benches);
criterion_main!(tape);
