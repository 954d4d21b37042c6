//! Simplification time of the symbolic stage (egg rewriting, extraction, DAG building) on the
//! systems the fit sees: the 3-state quadratic library as one system with 30 parameter leaves,
//! the 3-state fifth-order library (168 terms), and the actin physical model of DESIGN.md.
//!
//! Run: `cargo bench --bench symbolic -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use odenet_spec::{Expr, parse_expr};
use odenet_symbolic::{Dag, SimplifyOptions, Symbols, library_system, simplify};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn library(order: u32) -> (Vec<Expr>, Symbols) {
    let states = names(&["x", "y", "z"]);
    let (exprs, params) = library_system(&states, order);
    let syms = Symbols {
        states,
        params,
        consts: Vec::new(),
    };
    (exprs, syms)
}

fn actin() -> (Vec<Expr>, Symbols) {
    let exprs = [
        "a0 + a1*m + a2*m^2 + a3*m*M + a4*P + a5*M + a6*P^2 + a7*P*M",
        "a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P",
        "-(a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P)",
    ]
    .iter()
    .map(|s| parse_expr(s).expect("the actin model parses"))
    .collect();
    let syms = Symbols {
        states: names(&["P", "M", "m"]),
        params: (0..=10).map(|i| format!("a{i}")).collect(),
        consts: Vec::new(),
    };
    (exprs, syms)
}

/// Operations (non-leaf nodes) of a DAG: what a tape would execute.
fn ops(dag: &Dag) -> usize {
    dag.nodes
        .iter()
        .filter(|n| n.children().next().is_some())
        .count()
}

fn bench(c: &mut Criterion) {
    let opts = SimplifyOptions::default();
    let cases = [
        ("quadratic-3-states-30-params", library(2)),
        ("quintic-3-states-168-terms", library(5)),
        ("actin-physical", actin()),
    ];
    let mut group = c.benchmark_group("simplify");
    for (name, (exprs, syms)) in &cases {
        let before = Dag::from_exprs(exprs, syms).expect("names resolve");
        let s = simplify(exprs, syms, &opts).expect("simplifies");
        eprintln!(
            "{name}: tree {} nodes -> hash-consed DAG {} nodes ({} ops) -> simplified DAG {} nodes ({} ops); \
             stop: {}, {} iterations, {} e-nodes{}",
            s.tree_size,
            s.dag_size_before,
            ops(&before),
            s.dag_size,
            ops(&s.dag),
            s.stop_reason,
            s.iterations,
            s.egraph_nodes,
            if s.roots_from_input > 0 {
                format!(
                    " ({} of {} roots kept as written)",
                    s.roots_from_input,
                    s.dag.roots.len()
                )
            } else {
                String::new()
            },
        );
        group.bench_function(format!("egg/{name}"), |b| {
            b.iter(|| simplify(black_box(exprs), syms, &opts).expect("simplifies"))
        });
        group.bench_function(format!("hash-cons-only/{name}"), |b| {
            b.iter(|| Dag::from_exprs(black_box(exprs), syms).expect("names resolve"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
