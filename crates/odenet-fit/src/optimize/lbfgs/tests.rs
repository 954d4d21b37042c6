//! Bounds by a change of variables against projection, measured on an exact Lotka–Volterra fit.

use std::path::Path;
use std::sync::atomic::Ordering;

use odenet_spec::{Spec, Table};

use super::*;
use crate::model::CompiledModel;
use crate::problem::Problem;
use crate::solve_options;

/// Exact Lotka–Volterra data (a = 1, b = −0.05, c = −1, d = 0.03) fitted by the template
/// with `a`'s bound `a_bound`; returns, for projection and for the change of variables, the
/// fitted a, the final loss and the number of loss evaluations.
fn compare(a_bound: &str) -> [(f64, f64, usize); 2] {
    let text = format!(
        "states = [\"x1\", \"x2\"]\n[params]\na = {{ {a_bound}, sparse = false }}\n\
         b = {{ init = -0.04, sparse = false }}\nc = {{ init = -0.8, max = 0.0, sparse = false }}\n\
         d = {{ init = 0.02, sparse = false }}\n[equations]\nx1 = \"a*x1 + b*x1*x2\"\n\
         x2 = \"c*x2 + d*x1*x2\"\n[fit]\nrtol = 1e-10\natol = 1e-12\n"
    );
    let spec = Spec::from_str(&text, Path::new("t.toml")).expect("spec");
    let model = CompiledModel::from_spec(&spec).expect("model");
    let times: Vec<f64> = (0..200).map(|k| k as f64 * 0.05).collect();
    let truth = [1.0, -0.05, -1.0, 0.03];
    let xs = crate::simulate(
        &model,
        &truth,
        &[],
        &[20.0, 10.0],
        &times,
        solve_options(&spec),
    )
    .expect("truth integrates");
    let table = Table {
        file: "d.csv".into(),
        times: times.clone(),
        values: (0..2)
            .map(|i| (0..times.len()).map(|k| xs[k * 2 + i]).collect())
            .collect(),
    };
    let prob = Problem::new(&model, &spec, &[table], solve_options(&spec)).expect("problem");
    let q0 = prob.scales.normalised(&prob.init, &prob.free);
    let ka = prob.free.iter().position(|&k| k == 0).expect("a active");
    let pa = prob.scales.pscale[0];
    [BoundMethod::Projection, BoundMethod::Transform].map(|bounds| {
        let ev = Evaluator::new(
            &prob,
            prob.free.clone(),
            prob.init.clone(),
            prob.all_pieces(),
        );
        let terms = Terms::new(&prob, &prob.free, 0.0, 1.0);
        let r = minimize_with(&ev, &terms, q0.clone(), 300, L1Step::Smoothed, bounds);
        (r.q[ka] * pa, r.loss, ev.evals.load(Ordering::Relaxed))
    })
}

/// An active bound (the truth a = 1 lies outside a ≥ 1.05): both end on the bound with the
/// same loss; the change of variables needs far fewer evaluations (the projection's penalty
/// kink spoils L-BFGS's curvature pairs) and stops within 1e-4 of the bound.
#[test]
fn bounds_active_transform_is_cheaper() {
    let [(ap, lp, np), (at, lt, nt)] = compare("init = 1.3, min = 1.05");
    eprintln!("projection: a = {ap}, loss {lp:e}, {np} evaluations");
    eprintln!("transform:  a = {at}, loss {lt:e}, {nt} evaluations");
    assert!(ap >= 1.05 && at >= 1.05);
    assert!((ap - 1.05).abs() < 1e-6, "projection: a = {ap}");
    assert!((at - 1.05).abs() < 1e-4, "transform: a = {at}");
    assert!(
        (lt - lp).abs() <= 1e-3 * lp,
        "projection {lp:e}, transform {lt:e}"
    );
    assert!(2 * nt < np, "transform {nt} evaluations, projection {np}");
}

/// An inactive bound (a ≥ 0, c ≤ 0 with the truth inside): both recover the truth.
#[test]
fn bounds_inactive_both_recover_the_truth() {
    let [(ap, lp, np), (at, lt, nt)] = compare("init = 0.5, min = 0.0");
    eprintln!("projection: a = {ap}, loss {lp:e}, {np} evaluations");
    eprintln!("transform:  a = {at}, loss {lt:e}, {nt} evaluations");
    assert!((ap - 1.0).abs() < 1e-4, "projection: a = {ap}");
    assert!((at - 1.0).abs() < 1e-4, "transform: a = {at}");
}

/// A start on the bound (a = 0 with a ≥ 0, truth 1), where dq/du of the change of variables
/// would vanish: the start is taken just inside, and both recover the truth.
#[test]
fn bounds_start_on_the_bound_still_moves() {
    let [(ap, lp, np), (at, lt, nt)] = compare("init = 0.0, min = 0.0");
    eprintln!("projection: a = {ap}, loss {lp:e}, {np} evaluations");
    eprintln!("transform:  a = {at}, loss {lt:e}, {nt} evaluations");
    assert!((ap - 1.0).abs() < 1e-4, "projection: a = {ap}");
    assert!((at - 1.0).abs() < 1e-4, "transform: a = {at}");
}
