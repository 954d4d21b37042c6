//! Shared helpers: data generated inside the tests from known equations.

#![allow(dead_code)]

use std::path::Path;

use odenet_fit::{CompiledModel, FitResult, rng::Rng};
use odenet_solve::SolveOptions;
use odenet_spec::{Spec, Table, parse_expr};

/// Simulates `equations` (over `states`, all numbers) from `x0` at `times` with a tight
/// tolerance, and adds Gaussian noise with sd = `noise`·max|x| per state (the paper's model).
pub fn generate(
    states: &[&str],
    equations: &[&str],
    x0: &[f64],
    times: &[f64],
    noise: f64,
    seed: u64,
) -> Table {
    let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
    let eqs = equations
        .iter()
        .map(|e| parse_expr(e).expect("truth equation parses"))
        .collect();
    let hidden = vec![false; states.len()];
    let params: Vec<odenet_spec::ParamSpec> = vec![];
    let model = CompiledModel::template("truth", &states, &hidden, &[], params, eqs)
        .expect("truth compiles");
    let opts = SolveOptions {
        rtol: 1e-11,
        atol: 1e-12,
        max_steps: 10_000_000,
        blowup: 1e12,
        ..SolveOptions::default()
    };
    let xs = odenet_fit::simulate(&model, &[], &[], x0, times, opts).expect("truth integrates");
    let n = states.len();
    let mut rng = Rng::new(seed);
    let mut values = vec![vec![0.0; times.len()]; n];
    for i in 0..n {
        let amp = (0..times.len())
            .map(|k| xs[k * n + i].abs())
            .fold(0.0, f64::max);
        for k in 0..times.len() {
            values[i][k] = xs[k * n + i] + noise * amp * rng.normal();
        }
    }
    Table {
        file: "generated.csv".into(),
        times: times.to_vec(),
        values,
    }
}

pub fn uniform_times(t_end: f64, dt: f64) -> Vec<f64> {
    let m = (t_end / dt + 1e-9).floor() as usize;
    (0..=m).map(|k| k as f64 * dt).collect()
}

/// A library spec over `states` with extra TOML (e.g. a `[fit]` table), no data tables.
pub fn library_spec(states: &[&str], order: u32, extra: &str) -> Spec {
    let list = states
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "name = \"test\"\nstates = [{list}]\n\n[library]\npolynomial = {order}\n\n{extra}\n"
    );
    Spec::from_str(&text, Path::new("test.toml")).unwrap_or_else(|d| panic!("spec: {d:?}"))
}

pub fn fit(spec: &Spec, tables: &[Table]) -> FitResult {
    odenet_fit::fit(spec, tables, &|_| {}).expect("fit runs")
}

/// Asserts that the discovered library terms are exactly `expected` (state, term, value) and
/// returns the largest relative error.
pub fn assert_support(res: &FitResult, expected: &[(&str, &str, f64)]) -> f64 {
    let terms = res.terms.as_ref().expect("library result has terms");
    let mut worst = 0.0f64;
    for (i, st) in res.states.iter().enumerate() {
        let mut want: Vec<(&str, f64)> = expected
            .iter()
            .filter(|e| e.0 == st)
            .map(|e| (e.1, e.2))
            .collect();
        want.sort_by(|a, b| a.0.cmp(b.0));
        let mut got: Vec<(&str, f64)> = terms[i].iter().map(|(n, v)| (n.as_str(), *v)).collect();
        got.sort_by(|a, b| a.0.cmp(b.0));
        let wn: Vec<&str> = want.iter().map(|w| w.0).collect();
        let gn: Vec<&str> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            gn, wn,
            "support of d{st}/dt: got {got:?}, equations {:?}",
            res.equations
        );
        for (w, g) in want.iter().zip(&got) {
            worst = worst.max(((g.1 - w.1) / w.1).abs());
        }
    }
    worst
}
