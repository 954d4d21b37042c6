//! Levenberg–Marquardt on the Gauss–Newton matrix from the sensitivities: least-squares refits
//! converge in a handful of iterations where L-BFGS needs hundreds on a correlated library.
//! Bounds are kept by projection.

use super::{OptResult, StopReason, Terms};
use crate::evaluate::{Eval, Evaluator};
use crate::linalg::solve_small;

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
        while lambda < 1e10 {
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
                lambda *= 10.0;
                continue;
            }
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
            lambda *= 8.0;
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
