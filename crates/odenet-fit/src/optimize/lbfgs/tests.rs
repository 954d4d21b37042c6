//! Bounds by a change of variables against projection, measured on an exact Lotka–Volterra fit.

use std::sync::atomic::Ordering;

use super::*;
use crate::test_support::{ExactLotkaVolterra, whole_evaluator};

/// Exact Lotka–Volterra data (a = 1, b = −0.05, c = −1, d = 0.03) fitted by the template
/// with `a`'s bound `a_bound`; returns, for projection and for the change of variables, the
/// fitted a, the final loss and the number of loss evaluations (also printed).
fn compare(a_bound: &str) -> [(f64, f64, usize); 2] {
    let lv = ExactLotkaVolterra::new(a_bound, false);
    let prob = lv.problem();
    let q0 = prob.scales.normalised(&prob.init, &prob.free);
    let ka = prob.free.iter().position(|&k| k == 0).expect("a active");
    let pa = prob.scales.pscale[0];
    let runs = [BoundMethod::Projection, BoundMethod::Transform].map(|bounds| {
        let ev = whole_evaluator(&prob);
        let terms = Terms::new(&prob, &prob.free, 0.0, 1.0);
        let r = minimize_with(&ev, &terms, q0.clone(), 300, L1Step::Smoothed, bounds);
        (r.q[ka] * pa, r.loss, ev.evals.load(Ordering::Relaxed))
    });
    let [(ap, lp, np), (at, lt, nt)] = runs;
    eprintln!("projection: a = {ap}, loss {lp:e}, {np} evaluations");
    eprintln!("transform:  a = {at}, loss {lt:e}, {nt} evaluations");
    runs
}

/// An active bound (the truth a = 1 lies outside a ≥ 1.05): both end on the bound with the
/// same loss; the change of variables needs far fewer evaluations (the projection's penalty
/// kink spoils L-BFGS's curvature pairs) and stops within 1e-4 of the bound.
#[test]
fn bounds_active_transform_is_cheaper() {
    let [(ap, lp, np), (at, lt, nt)] = compare("init = 1.3, min = 1.05");
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
    let [(ap, ..), (at, ..)] = compare("init = 0.5, min = 0.0");
    assert!((ap - 1.0).abs() < 1e-4, "projection: a = {ap}");
    assert!((at - 1.0).abs() < 1e-4, "transform: a = {at}");
}

/// A start on the bound (a = 0 with a ≥ 0, truth 1), where dq/du of the change of variables
/// would vanish: the start is taken just inside, and both recover the truth.
#[test]
fn bounds_start_on_the_bound_still_moves() {
    let [(ap, ..), (at, ..)] = compare("init = 0.0, min = 0.0");
    assert!((ap - 1.0).abs() < 1e-4, "projection: a = {ap}");
    assert!((at - 1.0).abs() < 1e-4, "transform: a = {at}");
}

/// A start strictly inside its bound, nearer to it than the lift given to a start on the bound
/// (a = 1 with a ≥ 0.998): the fit starts exactly there (a hand-over from another fit starts on
/// that fit's minimum), and recovers the truth.
#[test]
fn a_start_near_its_bound_is_taken_exactly() {
    let lv = ExactLotkaVolterra::new("init = 1.0, min = 0.998", false);
    let prob = lv.problem();
    let q0 = prob.scales.normalised(&prob.init, &prob.free);
    let ka = prob.free.iter().position(|&k| k == 0).expect("a active");
    let lo = 0.998 / prob.scales.pscale[0];
    assert!(
        q0[ka] - lo < 0.01,
        "the start is within the lift: {}",
        q0[ka] - lo
    );
    let ev = whole_evaluator(&prob);
    let at_start = ev.eval(&q0, false).loss;
    let terms = Terms::new(&prob, &prob.free, 0.0, 1.0);
    let r = minimize_with(
        &ev,
        &terms,
        q0,
        300,
        L1Step::Smoothed,
        BoundMethod::Transform,
    );
    assert!(
        (r.start_loss - at_start).abs() <= 1e-12 * at_start,
        "first evaluation {:e}, loss at the start {at_start:e}",
        r.start_loss
    );
    let a = r.q[ka] * prob.scales.pscale[0];
    assert!((a - 1.0).abs() < 1e-4, "a = {a}");
}
