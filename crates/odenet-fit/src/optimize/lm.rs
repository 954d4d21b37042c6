//! Levenberg–Marquardt on the Gauss–Newton matrix from the sensitivities: least-squares refits
//! converge in a handful of iterations where L-BFGS needs hundreds on a correlated library.
//! Bounds are kept by projection.

use super::{OptResult, StopReason, Terms};
use crate::evaluate::{Eval, Evaluator};
use crate::linalg::solve_small;

/// Damped steps tried per iteration before the loss is taken to be at its minimum (λ then
/// spans about eight decades above 1e-3).
const MAX_TRIES: usize = 10;

/// Minimises the (profiled) data loss without L1 from `q0`.
pub fn levenberg_marquardt(
    ev: &Evaluator,
    terms: &Terms,
    mut q: Vec<f64>,
    max_iters: u64,
) -> OptResult {
    let na = q.len();
    terms.project(&mut q);
    if na == 0 || terms.cancelled() {
        let e = ev.eval(&q, false);
        let reason = if na == 0 {
            StopReason::NoFreeParameters
        } else {
            StopReason::Cancelled
        };
        return OptResult::at(q, e, reason);
    }
    let mut lambda = 1e-4;
    let mut gn = ev.gauss_newton(&q);
    // The profiled starts at the point kept; a rejected trial puts them back.
    let mut saved = Vec::new();
    ev.save_warm(&mut saved);
    let mut met = gn.failures;
    let mut loss = gn.loss;
    let start_loss = gn.loss;
    let mut reason = StopReason::MaxIters;
    let mut iters = 0;
    if !loss.is_finite() && terms.abandon_above.is_finite() {
        return abandoned(q, loss, gn.failures, met, start_loss);
    }
    let mut a = vec![0.0; na * na];
    let mut b = vec![0.0; na];
    // The evaluation at the last accepted step is the one at the returned point.
    let mut accepted: Option<Eval> = None;
    while iters < max_iters {
        if terms.cancelled() {
            reason = StopReason::Cancelled;
            break;
        }
        iters += 1;
        let mut improved = false;
        // Inner loop: raise λ until a step lowers the loss.
        let mut first_try = true;
        let mut tries = 0;
        while lambda < 1e10 && tries < MAX_TRIES {
            tries += 1;
            a.copy_from_slice(&gn.h);
            let dmax = (0..na)
                .map(|i| gn.h[i * na + i])
                .fold(0.0, f64::max)
                .max(1e-300);
            for i in 0..na {
                a[i * na + i] += lambda * gn.h[i * na + i].max(1e-12 * dmax);
                b[i] = -gn.grad[i];
            }
            if !solve_small(&mut a, &mut b, na) {
                lambda = (lambda * 10.0).max(1e-3);
                continue;
            }
            // The decrease the Gauss–Newton model predicts for this step: when even the first
            // (least damped) step promises less than the tolerance, the loss is at its minimum
            // to the accuracy asked for (evaluating it would only see the solver's jitter).
            let predicted = -(0..na)
                .map(|i| {
                    let hd: f64 = (0..na).map(|j| gn.h[i * na + j] * b[j]).sum();
                    gn.grad[i] * b[i] + 0.5 * b[i] * hd
                })
                .sum::<f64>();
            if first_try && predicted.is_finite() && predicted < 0.1 * terms.rel_tol * loss {
                reason = StopReason::SmallDecrease(terms.rel_tol);
                improved = true;
                break;
            }
            // Hopeless: even the step the Gauss–Newton model promises leaves the loss above the
            // level where the candidate could compete. Judged on the prediction, not on the
            // start: a start far from its optimum (terms just dropped from a dense fit of clean
            // data) may still descend to the best loss in a step or two.
            if iters == 1 && first_try && loss - predicted.max(0.0) > terms.abandon_above {
                return abandoned(q, loss, gn.failures, met, start_loss);
            }
            first_try = false;
            let mut qt: Vec<f64> = q.iter().zip(&b).map(|(x, d)| x + d).collect();
            terms.project(&mut qt);
            let lt = ev.eval(&qt, false);
            met += lt.failures;
            if lt.loss.is_finite() && lt.loss < loss && lt.failures <= gn.failures {
                let rel = (loss - lt.loss) / loss.max(1e-300);
                q = qt;
                loss = lt.loss;
                accepted = Some(lt);
                lambda = (lambda / 5.0).max(1e-9);
                improved = true;
                if rel < terms.rel_tol {
                    reason = StopReason::SmallDecrease(terms.rel_tol);
                }
                break;
            }
            ev.restore_warm(&saved);
            // A failed step: damp much more (a λ decayed to nothing first jumps to a level
            // where the step is a short gradient step).
            lambda = (lambda * 10.0).max(1e-3);
        }
        if !improved {
            // No step lowers the loss: at a minimum to working precision.
            reason = StopReason::NoFurtherDecrease;
            break;
        }
        if loss > terms.abandon_above {
            reason = StopReason::Abandoned;
            break;
        }
        if reason != StopReason::MaxIters {
            break;
        }
        gn = ev.gauss_newton(&q);
        ev.save_warm(&mut saved);
        met += gn.failures;
        loss = gn.loss;
    }
    let fin = accepted.unwrap_or_else(|| ev.eval(&q, false));
    let converged = match reason {
        StopReason::SmallDecrease(_) => true,
        StopReason::NoFurtherDecrease => loss.is_finite(),
        _ => false,
    };
    let mut r = OptResult::new(q, fin, (iters, converged, reason), start_loss);
    r.failures_met = met;
    r
}

/// The result of a refit given up before its first step.
fn abandoned(q: Vec<f64>, loss: f64, failures: usize, met: usize, start_loss: f64) -> OptResult {
    let fin = Eval {
        loss,
        failures,
        ..Eval::default()
    };
    let mut r = OptResult::new(q, fin, (0, false, StopReason::Abandoned), start_loss);
    r.failures_met = met;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ExactLotkaVolterra, whole_evaluator};

    /// The parameters in the optimiser's (scaled) units, from user values.
    fn scaled(prob: &crate::problem::Problem, user: &[f64]) -> Vec<f64> {
        user.iter()
            .zip(&prob.scales.pscale)
            .map(|(v, s)| v / s)
            .collect()
    }

    /// A start far above the abandon level whose Gauss–Newton step reaches the optimum is
    /// refitted, not abandoned (clean data: terms just dropped from a dense fit start orders of
    /// magnitude above the best loss, and descend to it in a step or two).
    #[test]
    fn a_start_that_one_step_repairs_is_not_abandoned() {
        let lv = ExactLotkaVolterra::new("init = 0.9", false);
        let prob = lv.problem();
        let ev = whole_evaluator(&prob);
        let q0 = scaled(&prob, &[1.01, -0.0505, -0.99, 0.0297]);
        let start = ev.eval(&q0, false).loss;
        let level = 1e-3 * start;
        let terms = Terms::new(&prob, &prob.free, 0.0, 1.0).with_stop(1e-10, level);
        let r = levenberg_marquardt(&ev, &terms, q0, 50);
        assert_ne!(r.reason, StopReason::Abandoned, "{r:?}");
        assert!(r.loss < level, "loss {} against the level {level}", r.loss);
        let truth = scaled(&prob, &[1.0, -0.05, -1.0, 0.03]);
        for (q, t) in r.q.iter().zip(&truth) {
            assert!(
                (q - t).abs() < 1e-6 * t.abs(),
                "{:?} against {truth:?}",
                r.q
            );
        }
    }

    /// A support that cannot fit (the interaction term of x2's equation held at zero) is
    /// abandoned before any evaluation beyond its start when even the predicted step is hopeless.
    #[test]
    fn a_hopeless_support_is_abandoned_at_once() {
        let lv = ExactLotkaVolterra::new("init = 0.9", false);
        let prob = lv.problem();
        let mut base = prob.init.clone();
        base[3] = 0.0;
        let active = vec![0, 1, 2];
        let ev = Evaluator::new(&prob, active.clone(), base, prob.all_pieces());
        let q0 = scaled(&prob, &[1.0, -0.05, -1.0]);
        let best = {
            let t = Terms::new(&prob, &active, 0.0, 1.0);
            levenberg_marquardt(&ev, &t, q0.clone(), 100).loss
        };
        let terms = Terms::new(&prob, &active, 0.0, 1.0).with_stop(1e-10, 0.1 * best);
        let evals = ev.evals.load(std::sync::atomic::Ordering::Relaxed);
        let r = levenberg_marquardt(&ev, &terms, q0, 50);
        assert_eq!(r.reason, StopReason::Abandoned, "{r:?}");
        assert_eq!(r.iters, 0);
        // One Gauss–Newton evaluation at the start, no trial step.
        assert_eq!(
            ev.evals.load(std::sync::atomic::Ordering::Relaxed),
            evals + 1
        );
    }
}
