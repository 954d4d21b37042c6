//! The Jacobian of the multiple-shooting residuals against finite differences.

use std::path::Path;

use odenet_spec::{Spec, Table};

use super::*;
use crate::model::CompiledModel;
use crate::solve_options;

/// A damped oscillator x' = a·y, y' = −b·x − c·y with y hidden and its start fitted, one
/// experiment of 16 observations of x (not a solution: the loss is far from zero).
fn problem_inputs() -> (Spec, Vec<Table>) {
    let mut spec = Spec::from_str(
        r#"states = ["x", "y"]
hidden = ["y"]
[params]
a = 1.0
b = 1.0
c = 0.1
[equations]
x = "a*y"
y = "-b*x - c*y"
[fit]
rtol = 1e-10
atol = 1e-12
"#,
        Path::new("t.toml"),
    )
    .expect("spec");
    spec.data.push(odenet_spec::DataSpec {
        file: "d.csv".into(),
        time: "t".into(),
        columns: vec![Some("x".into()), None],
        constants: vec![],
        initial: vec![odenet_spec::Initial::Observed, odenet_spec::Initial::Fit],
    });
    let times: Vec<f64> = (0..16)
        .map(|k| k as f64 * 0.4 + 0.01 * (k * k) as f64)
        .collect();
    let x: Vec<f64> = times
        .iter()
        .map(|t| 2.0 * (t * 1.1).cos() * (-0.1 * t).exp() + 0.05 * (t * 7.0).sin())
        .collect();
    let values = vec![x, vec![f64::NAN; times.len()]];
    (
        spec,
        vec![Table {
            file: "d.csv".into(),
            times,
            values,
        }],
    )
}

/// The Jacobian of the residuals against central finite differences, at a point with
/// continuity gaps, for every residual and unknown.
#[test]
fn jacobian_matches_finite_differences() {
    let (spec, tables) = problem_inputs();
    let model = CompiledModel::from_spec(&spec).expect("model");
    let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
    assert!(prob.starts_only);
    let sh = Shooting::new(&prob, prob.free.clone(), prob.init.clone(), 4);
    assert_eq!(sh.intervals(), 3);
    // x at interior nodes (observed) and y everywhere (hidden) plus the fitted y start.
    assert_eq!(sh.node_unknowns(), 2 + 2 * 2);
    let q: Vec<f64> = vec![0.9, 1.2, 0.05];
    let mut s = sh.initial_nodes(&q);
    for (k, v) in s.iter_mut().enumerate() {
        *v += 0.1 * ((k as f64) * 1.3).sin();
    }
    let w = 3.0;
    let res = sh.residuals(&q, &s, w, true);
    assert!(res.gap > 0.0 && res.failures == 0);
    let mut z: Vec<f64> = q.iter().chain(&s).copied().collect();
    let na = q.len();
    let nt = z.len();
    let r_at = |z: &[f64]| sh.residuals(&z[..na], &z[na..], w, false).r;
    assert_eq!(res.r.len(), r_at(&z).len());
    for c in 0..nt {
        let h = 1e-6;
        let v = z[c];
        z[c] = v + h;
        let up = r_at(&z);
        z[c] = v - h;
        let dn = r_at(&z);
        z[c] = v;
        for (row, (u, d)) in up.iter().zip(&dn).enumerate() {
            let fd = (u - d) / (2.0 * h);
            let an = res.j[row * nt + c];
            assert!(
                (fd - an).abs() < 1e-5 * (1.0 + an.abs()),
                "row {row}, unknown {c}: finite differences {fd}, exact {an}"
            );
        }
    }
    // The objective is the data loss plus the weighted gap per label.
    let obj = res.data + w * res.gap / sh.labels() as f64;
    assert!((res.objective() - obj).abs() < 1e-12 * obj);
}
