//! The regression's shortcuts against direct evaluation.

use std::path::Path;

use odenet_spec::{Spec, Table};

use super::*;
use crate::model::CompiledModel;
use crate::path::contributions;
use crate::solve_options;

/// Clean logistic-like data x' = x − 0.1 x² fitted by a cubic library.
fn logistic() -> (Spec, Vec<Table>, CompiledModel) {
    let spec = Spec::from_str(
        "states = [\"x\"]\n[library]\npolynomial = 3\n",
        Path::new("t.toml"),
    )
    .expect("spec");
    let model = CompiledModel::from_spec(&spec).expect("model");
    let times: Vec<f64> = (0..200).map(|k| 0.05 * k as f64).collect();
    let values = vec![
        times
            .iter()
            .map(|t| 10.0 / (1.0 + 9.0 * (-t).exp()))
            .collect(),
    ];
    let tables = vec![Table {
        file: "d.csv".into(),
        times,
        values,
    }];
    (spec, tables, model)
}

/// The moments' contributions equal the ones computed by evaluating the model at every row.
#[test]
fn moments_match_direct_contributions() {
    let (spec, tables, model) = logistic();
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    let reg = Regression::new(&prob, &prob.init, &prob.free, &[1]).expect("regression");
    let q = [0.3, -0.7, 0.2, 0.05];
    let a = reg.moments.contributions(&q);
    let b = contributions(&prob, &prob.init, &prob.free, &q);
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() <= 1e-10 * x.abs().max(1e-12),
            "{a:?} vs {b:?}"
        );
    }
}

/// On clean data the thresholded regression keeps exactly the two true terms with coefficients
/// within the trapezoid rule's error.
#[test]
fn stlsq_finds_the_logistic_terms() {
    let (spec, tables, model) = logistic();
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    let reg = Regression::new(&prob, &prob.init, &prob.free, &[1]).expect("regression");
    let q = reg.stlsq(&reg.designs[0].1, 1e-2, 6).expect("solution");
    let p = prob.scales.user(&prob.init, &prob.free, &q);
    // Features: 1, x, x^2, x^3.
    assert!(p[0] == 0.0 && p[3] == 0.0, "{p:?}");
    assert!((p[1] - 1.0).abs() < 5e-3, "{p:?}");
    assert!((p[2] + 0.1).abs() < 5e-4, "{p:?}");
}
