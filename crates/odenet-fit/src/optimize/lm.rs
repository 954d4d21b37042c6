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
    let mut met = gn.failures;
    let mut loss = gn.loss;
    let start_loss = gn.loss;
    let mut reason = StopReason::MaxIters;
    let mut iters = 0;
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
