//! Small templates: every support not scored yet, refitted from the current choice and from
//! the best-fitting support scored so far.

use rayon::prelude::*;

use super::criterion::{Labels, bic};
use super::{Current, EXHAUSTIVE_TERMS, keep, names, path_entry, refit};
use crate::explore::Exploration;
use crate::fit::Fitter;
use crate::support::Support;

/// Every support of a template with at most EXHAUSTIVE_TERMS sparse terms that was not scored
/// yet, refitted (in parallel) from `cur`'s values (a term it lacks starts at zero) and joined
/// to the path; returns the one with the lowest criterion. None for larger templates.
pub(super) fn exhaustive(
    fitter: &mut Fitter,
    ex: &mut Exploration,
    cur: &Current,
    visited: &[Vec<usize>],
    n: Labels,
) -> Option<Current> {
    let model = fitter.prob.model;
    let free = &fitter.prob.free;
    let sparse: Vec<usize> = free
        .iter()
        .copied()
        .filter(|&k| model.params[k].sparse)
        .collect();
    if sparse.is_empty() || sparse.len() > EXHAUSTIVE_TERMS || fitter.control.cancelled() {
        return None;
    }
    // Two starts per support: the current choice's values (a term it lacks at zero) and the
    // best-fitting support scored so far (a dense fit, near the data wherever the choice is not).
    let scales = &fitter.prob.scales;
    let current = fitter.user(&cur.support);
    let dense = ex
        .path
        .iter()
        .filter(|p| p.train_loss.is_finite())
        .min_by(|a, b| a.train_loss.total_cmp(&b.train_loss))
        .map(|p| p.params.clone());
    let supports: Vec<Vec<usize>> = (0..1usize << sparse.len())
        .map(|mask| {
            free.iter()
                .copied()
                .filter(|&k| {
                    sparse
                        .iter()
                        .position(|&s| s == k)
                        .is_none_or(|i| mask & (1 << i) != 0)
                })
                .collect::<Vec<usize>>()
        })
        .filter(|a| !visited.contains(a))
        .collect();
    // (support, profile warm starts): the current values with the current profiled starts, the
    // dense fit's with the problem's own (the global stage's, near the dense fit).
    let mut trials: Vec<(Support, Option<&[f64]>)> = Vec::new();
    for active in &supports {
        let from_current = Support::new(active.clone(), scales.normalised(&current, active));
        trials.push((from_current, cur.starts.as_deref()));
        if let Some(d) = &dense {
            let t = Support::new(active.clone(), scales.normalised(d, active));
            if t.q != trials[trials.len() - 1].0.q {
                trials.push((t, None));
            }
        }
    }
    // No early abandonment: a joint removal starts far from its optimum (the removed terms'
    // share of the fit is lost until the others move), which is why the stepwise search missed
    // it.
    let f: &Fitter = fitter;
    let fits: Vec<(Support, f64, usize, Vec<f64>)> = trials
        .par_iter()
        .map(|(s, warm)| refit(f, s, f64::INFINITY, *warm))
        .collect();
    let mut best: Option<Current> = None;
    for (s, loss, met, starts) in fits {
        fitter.failures_seen += met;
        let b = bic(loss, s.len(), n);
        ex.path.push(path_entry(fitter, &s, loss, n));
        tracing::debug!(
            terms = s.len(),
            loss,
            bic = b,
            support = %names(fitter, &s),
            "exhaustive support"
        );
        let c = Current {
            support: s,
            loss,
            bic: b,
            starts: Some(starts),
        };
        keep(&mut best, c, n);
    }
    best
}
