//! Stepwise search among supports after the sparsity path: from the best support, one
//! Gauss–Newton pass over every free parameter (the absent ones at zero) predicts what removing
//! each present sparse term would cost (its Wald statistic), what adding each absent one would
//! gain (its score statistic) and what swapping one for the other would do; the moves the
//! criterion favours most are refitted (in parallel) and the best is kept when it lowers the
//! criterion, until none does (with the path's parsimony: a sparser support may cost, and a
//! denser one must gain, N·ln(1 + SELECT_MARGIN); `prefer`).
//!
//! The criterion is the BIC in the noise the residuals imply, N·ln σ̂² + k·ln N over the N label
//! values, with σ̂² counted on the residuals' degrees of freedom (`bic`) — on many labels the
//! same order as the path's score L·N^(k/N) when nothing is held out. Greedy
//! elimination from a dense fit of a sloppy model (terms that can stand in for each other, as
//! P², P·M and P do for the decay of the actin filaments) can leave the true support on a side
//! path; swaps bring it back. Where no single move pays, floating moves add a term anyway and
//! remove from there (several stand-ins leave together once the term they stand in for is back).
//! A template with few sparse terms has every support refitted too, and the search goes on from
//! a better one.
//!
//! Refits start the pieces' profiled initial values where the current choice's refit left them
//! (a fitted initial value of a hidden state can have several minima for fixed parameters), and
//! the chosen support's are handed to the final refit.

use rayon::prelude::*;

use crate::evaluate::Evaluator;
use crate::explore::Exploration;
use crate::fit::Fitter;
use crate::optimize::{Terms, levenberg_marquardt};
use crate::result::PathEntry;
use crate::select::SELECT_MARGIN;
use crate::support::Support;

/// Moves refitted per step (the most favoured by their prediction).
const MOVES_PER_STEP: usize = 4;
/// Steps at most.
const MAX_STEPS: usize = 12;
/// Templates with at most this many sparse terms have every support refitted and scored after
/// the stepwise search (at most 2^EXHAUSTIVE_TERMS refits of a small model): terms that stand in
/// for each other can make every single move from a wrong support look worse while a joint one
/// reaches the truth.
const EXHAUSTIVE_TERMS: usize = 6;
/// Levenberg–Marquardt iterations of a move's refit, and its relative tolerance.
const REFIT_ITERS: u64 = 60;
const REFIT_REL_TOL: f64 = 1e-6;
/// Floating moves when no single move pays: this many absent terms (the most favoured by the
/// prediction) are each added anyway, and the search goes on by removals from there.
const PROBES: usize = 3;
/// Removal steps from a probe at most.
const PROBE_STEPS: usize = 4;
/// The predicted gain (χ² units) below which a term is not added as a probe.
const PROBE_MIN_GAIN: f64 = 1.0;

/// One proposed move: the support it leads to and its predicted criterion.
struct Move {
    support: Support,
    predicted: f64,
}

/// The labels a criterion counts: `n` label values, of which `starts` are spent on the
/// profiled initial values (one support or another, the same).
#[derive(Clone, Copy, Debug)]
struct Labels {
    n: f64,
    starts: f64,
}

/// The criterion of a loss `loss` (mean squared scaled mismatch) with `k` parameters:
/// N·ln σ̂² + k·ln N, where σ̂² = N·L/(N − k − s) is the noise variance the residuals imply
/// with their degrees of freedom (the estimate the standard errors use). On few labels the
/// plain N·ln L rewards every term with the one degree of freedom it takes: an added null term
/// then passes the ln N price about one time in eight at N ≈ 22 (SIR with I observed), against
/// one in thirty-seven at N ≈ 130, and the BIC's error rate is its large-sample one only with
/// the variance counted this way.
fn bic(loss: f64, k: usize, n: Labels) -> f64 {
    let dof = n.n - k as f64 - n.starts;
    if loss.is_finite() && loss > 0.0 && dof >= 1.0 {
        n.n * (loss * n.n / dof).ln() + k as f64 * n.n.ln()
    } else {
        f64::INFINITY
    }
}

/// Support (criterion `a.0`, `a.1` terms) is preferred to support `b` by the rule the path's
/// choice follows (the sparsest within [`SELECT_MARGIN`] of the best score L·N^(k/N), whose
/// logarithm is the criterion over N): a sparser support may score up to N·ln(1 + margin)
/// worse, a denser one must score that much better, one of the same size better at all.
fn prefer(a: (f64, usize), b: (f64, usize), n: Labels) -> bool {
    let margin = n.n * SELECT_MARGIN.ln_1p();
    match a.1.cmp(&b.1) {
        std::cmp::Ordering::Less => a.0 <= b.0 + margin,
        std::cmp::Ordering::Greater => a.0 < b.0 - margin,
        std::cmp::Ordering::Equal => a.0 < b.0,
    }
}

/// Refits support `s` on the training pieces without L1 (the pieces' profiles starting from
/// `warm` when given): the support, its loss, the piece failures met, and the profiled initial
/// values at the refit's end (pieces × n, scaled; the problem's own for pieces not trained on).
fn refit(
    fitter: &Fitter,
    s: &Support,
    abandon: f64,
    warm: Option<&[f64]>,
) -> (Support, f64, usize, Vec<f64>) {
    let mut ev = Evaluator::new(
        fitter.prob,
        s.active.clone(),
        fitter.base.clone(),
        fitter.train.clone(),
    );
    if let Some(w) = warm {
        ev = ev.with_warm(w);
    }
    let terms = Terms::new(fitter.prob, &s.active, 0.0, 1.0)
        .with_cancel(fitter.control.cancel)
        .with_stop(REFIT_REL_TOL, abandon);
    let r = levenberg_marquardt(&ev, &terms, s.q.clone(), REFIT_ITERS);
    let loss = if r.failures > 0 {
        f64::INFINITY
    } else {
        r.loss
    };
    let n = fitter.prob.nstates();
    let mut starts = fitter.prob.x0.clone();
    if loss.is_finite() {
        for &pi in &fitter.train {
            starts[pi * n..(pi + 1) * n].copy_from_slice(&ev.profiled_start(pi, &r.q));
        }
    }
    (s.with_values(r.q), loss, r.failures_met, starts)
}

/// Refits support `to` by multiple shooting along the current choice's trajectory
/// (`hidden::shooting_refit`), then on the training pieces from where that left it.
fn along_current(
    fitter: &Fitter,
    cur: &Current,
    to: &Support,
    abandon: f64,
) -> Option<(Support, f64, usize, Vec<f64>)> {
    let starts = cur.starts.as_deref().unwrap_or(&fitter.prob.x0);
    let (q, fitted) = crate::hidden::shooting_refit(fitter, &cur.support, starts, to)?;
    tracing::debug!(terms = to.len(), "refit along the current trajectory");
    Some(refit(fitter, &to.with_values(q), abandon, Some(&fitted)))
}

/// The moves from support `s` (loss `loss`) ordered by their predicted criterion, best first.
fn moves(fitter: &Fitter, s: &Support, loss: f64, n: Labels) -> Vec<Move> {
    use nalgebra::{DMatrix, DVector};
    let prob = fitter.prob;
    let free = &prob.free;
    let nf = free.len();
    let pos: Vec<Option<usize>> = free
        .iter()
        .map(|k| s.active.iter().position(|a| a == k))
        .collect();
    let q_all: Vec<f64> = pos.iter().map(|p| p.map_or(0.0, |j| s.q[j])).collect();
    let ev = Evaluator::new(
        prob,
        free.clone(),
        fitter.base.clone(),
        fitter.train.clone(),
    );
    let gn = ev.gauss_newton(&q_all);
    if gn.failures > 0 {
        return Vec::new();
    }
    let inside: Vec<usize> = (0..nf).filter(|&k| pos[k].is_some()).collect();
    let m = inside.len();
    let h = |a: usize, b: usize| gn.h[a * nf + b];
    let hss = DMatrix::from_fn(m, m, |a, b| h(inside[a], inside[b]));
    let ridge = (0..m).map(|i| hss[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let Some(hinv) = (hss + DMatrix::identity(m, m) * ridge).try_inverse() else {
        return Vec::new();
    };
    // Gain of adding each absent sparse term (others re-optimised): g²/2 over the Schur
    // complement; cost of removing each present sparse one: its Wald statistic.
    let mut gains: Vec<(usize, f64)> = Vec::new();
    for k in (0..nf).filter(|&k| pos[k].is_none() && prob.model.params[free[k]].sparse) {
        let hks = DVector::from_fn(m, |a, _| h(k, inside[a]));
        let schur = h(k, k) - hks.dot(&(&hinv * &hks));
        let gain = 0.5 * gn.grad[k] * gn.grad[k] / schur;
        if schur > 0.0 && gain.is_finite() {
            gains.push((k, gain.min(loss)));
        }
    }
    let mut costs: Vec<(usize, f64)> = Vec::new();
    for (a, &k) in inside.iter().enumerate() {
        if prob.model.params[free[k]].sparse {
            let cost = 0.5 * q_all[k] * q_all[k] / hinv[(a, a)].max(f64::MIN_POSITIVE);
            if cost.is_finite() {
                costs.push((k, cost));
            }
        }
    }
    let k0 = s.len();
    let predicted =
        |dl: f64, dk: isize| bic((loss + dl).max(1e-300), (k0 as isize + dk) as usize, n);
    let with = |add: Option<usize>, remove: Option<usize>| -> Support {
        let mut t = s.clone();
        if let Some(r) = remove {
            let j = t
                .active
                .iter()
                .position(|&a| a == free[r])
                .expect("present");
            t.active.remove(j);
            t.q.remove(j);
        }
        if let Some(k) = add {
            let at = t.active.partition_point(|&a| a < free[k]);
            t.active.insert(at, free[k]);
            t.q.insert(at, 0.0);
        }
        t
    };
    let mut out: Vec<Move> = Vec::new();
    for &(k, g) in &gains {
        out.push(Move {
            support: with(Some(k), None),
            predicted: predicted(-g, 1),
        });
    }
    for &(r, c) in &costs {
        out.push(Move {
            support: with(None, Some(r)),
            predicted: predicted(c, -1),
        });
        for &(k, g) in &gains {
            out.push(Move {
                support: with(Some(k), Some(r)),
                predicted: predicted(c - g, 0),
            });
        }
    }
    out.sort_by(|a, b| a.predicted.total_cmp(&b.predicted));
    out
}

/// The moves refitted in one step, from `candidates` (best predicted first), in two batches:
/// the first `per_step`, and with `every_removal` every other removal of a term of `cur`
/// (refitted only when no move of the first batch is preferred to `cur`).
fn trials<'a>(
    candidates: &'a [Move],
    cur: &Support,
    per_step: usize,
    every_removal: bool,
) -> [Vec<&'a Move>; 2] {
    let removal = |m: &Move| {
        m.support.len() < cur.len() && m.support.active.iter().all(|k| cur.active.contains(k))
    };
    let first = candidates.iter().take(per_step).collect();
    let rest = candidates
        .iter()
        .skip(per_step)
        .filter(|m| every_removal && removal(m))
        .collect();
    [first, rest]
}

/// The stepwise search's current support: its refitted values, loss, criterion, and where its
/// refit profiled the pieces' initial values (None: the problem's own).
struct Current {
    support: Support,
    loss: f64,
    bic: f64,
    starts: Option<Vec<f64>>,
}

/// Stepwise moves from `cur` while one lowers the criterion; every support refitted joins the
/// path and `visited` (which moves skip).
fn steps(
    fitter: &mut Fitter,
    ex: &mut Exploration,
    cur: &mut Current,
    visited: &mut Vec<Vec<usize>>,
    (n, removals_only, max_steps): (Labels, bool, usize),
) {
    for step in 0..max_steps {
        if fitter.control.cancelled() {
            break;
        }
        // Small templates, and small supports of any template, try every other removal when none
        // of the moves the prediction favours most pays: the prediction, a local quadratic, can
        // rank the removal that matters last (an oscillation's period moves the loss far from
        // it; along a scaling symmetry of a hidden state, as actin MgCl₂'s P → c·P, the Wald
        // cost of every term the symmetry scales looks small, and the removal of the one
        // spurious term it barely scales ranked fifth of four).
        let present = cur
            .support
            .active
            .iter()
            .filter(|&&k| fitter.prob.model.params[k].sparse)
            .count();
        let small_template = sparse_terms(fitter) <= EXHAUSTIVE_TERMS;
        let per_step = if small_template {
            MOVES_PER_STEP.max(present)
        } else {
            MOVES_PER_STEP
        };
        let every_removal = small_template || present <= EXHAUSTIVE_TERMS;
        let candidates: Vec<Move> = moves(fitter, &cur.support, cur.loss, n)
            .into_iter()
            .filter(|m| m.predicted.is_finite() && !visited.contains(&m.support.active))
            .filter(|m| !removals_only || m.support.len() < cur.support.len())
            .collect();
        let batches = trials(&candidates, &cur.support, per_step, every_removal);
        if batches[0].is_empty() {
            break;
        }
        let abandon = 4.0 * cur.loss;
        let mut best: Option<Current> = None;
        for batch in &batches {
            if best.is_some() || batch.is_empty() {
                break;
            }
            let f: &Fitter = fitter;
            let c: &Current = cur;
            let fits: Vec<(Support, f64, usize, Vec<f64>)> = batch
                .par_iter()
                .map(|m| {
                    let fit = refit(f, &m.support, abandon, c.starts.as_deref());
                    // A move that removes a term whose refit over whole experiments does not
                    // lower the criterion: with hidden states the refit can lose the trajectory
                    // (a shifted phase ends in a flat or wrong minimum), so it is refitted again
                    // along the current one. A move that only adds a term starts at the current
                    // fit and needs no such help.
                    let removes = c
                        .support
                        .active
                        .iter()
                        .any(|k| !m.support.active.contains(k));
                    if f.prob.starts_only
                        && removes
                        && bic(fit.1, fit.0.len(), n) >= c.bic
                        && let Some(again) = along_current(f, c, &m.support, abandon)
                        && again.1 < fit.1
                    {
                        return (again.0, again.1, fit.2 + again.2, again.3);
                    }
                    fit
                })
                .collect();
            for (s, loss, met, starts) in fits {
                fitter.failures_seen += met;
                visited.push(s.active.clone());
                let b = bic(loss, s.len(), n);
                ex.path.push(path_entry(fitter, &s, loss, n));
                tracing::debug!(
                    step,
                    terms = s.len(),
                    loss,
                    bic = b,
                    from = cur.bic,
                    support = %names(fitter, &s),
                    "stepwise move"
                );
                if prefer((b, s.len()), (cur.bic, cur.support.len()), n)
                    && best
                        .as_ref()
                        .is_none_or(|x| prefer((b, s.len()), (x.bic, x.support.len()), n))
                {
                    best = Some(Current {
                        support: s,
                        loss,
                        bic: b,
                        starts: Some(starts),
                    });
                }
            }
        }
        let Some(b) = best else {
            break;
        };
        *cur = b;
    }
}

/// Improves the exploration's choice by stepwise moves (when nothing is held out: the path's
/// score is then the criterion's order). Every support refitted joins the path.
pub(crate) fn refine(fitter: &mut Fitter, mut ex: Exploration) -> Exploration {
    if !fitter.holdout.is_empty() || !ex.score.is_finite() {
        return ex;
    }
    let n = labels(fitter);
    // Supports the path scored are not moved to again, but with hidden states known only at
    // experiment starts: there the path's refit of a support (from the values its elimination
    // left) can end far above that support's optimum, which a move's refit along the current
    // trajectory reaches.
    let mut visited: Vec<Vec<usize>> = if fitter.prob.starts_only {
        vec![ex.chosen.active.clone()]
    } else {
        ex.path
            .iter()
            .map(|p| {
                fitter
                    .prob
                    .free
                    .iter()
                    .copied()
                    .filter(|&k| p.params[k] != 0.0)
                    .collect()
            })
            .collect()
    };
    // The choice evaluated where its refit profiled the fitted initial values.
    fitter.warm = ex.starts.clone();
    let cur_loss = fitter.loss(&ex.chosen, &fitter.train);
    // With hidden states, where the choice's fit profiles the fitted initial values: the start
    // of the trajectory a move is refitted along.
    let starts = fitter.prob.starts_only.then(|| {
        let ev = fitter.evaluator(&ex.chosen.active, &fitter.train);
        let n = fitter.prob.nstates();
        let mut st = fitter.prob.x0.clone();
        for &pi in &fitter.train {
            st[pi * n..(pi + 1) * n].copy_from_slice(&ev.profiled_start(pi, &ex.chosen.q));
        }
        st
    });
    let mut cur = Current {
        bic: bic(cur_loss, ex.chosen.len(), n),
        support: ex.chosen.clone(),
        loss: cur_loss,
        starts,
    };
    steps(
        fitter,
        &mut ex,
        &mut cur,
        &mut visited,
        (n, false, MAX_STEPS),
    );
    if let Some(better) = float(fitter, &mut ex, &cur, &visited, n) {
        cur = better;
        let mut again = vec![cur.support.active.clone()];
        steps(fitter, &mut ex, &mut cur, &mut again, (n, false, MAX_STEPS));
    }
    // Small templates: every support, then the stepwise search again from a better one (its
    // moves refitted from its values and profiled starts).
    if let Some(best) = exhaustive(fitter, &mut ex, &cur, &visited, n)
        && prefer(
            (best.bic, best.support.len()),
            (cur.bic, cur.support.len()),
            n,
        )
    {
        cur = best;
        let mut again = vec![cur.support.active.clone()];
        steps(fitter, &mut ex, &mut cur, &mut again, (n, false, MAX_STEPS));
    }
    let Current {
        support: cur,
        loss: cur_loss,
        bic: cur_bic,
        starts: cur_starts,
    } = cur;
    if cur.active != ex.chosen.active {
        tracing::info!(
            terms = cur.len(),
            loss = cur_loss,
            bic = cur_bic,
            support = %names(fitter, &cur),
            "stepwise choice"
        );
        for p in &mut ex.path {
            p.selected = false;
        }
        // The entry of this support's refit (one support may have been refitted from several
        // starts).
        if let Some(p) = ex
            .path
            .iter_mut()
            .filter(|p| {
                fitter
                    .prob
                    .free
                    .iter()
                    .all(|&k| (p.params[k] != 0.0) == cur.active.contains(&k))
            })
            .min_by(|a, b| {
                (a.train_loss - cur_loss)
                    .abs()
                    .total_cmp(&(b.train_loss - cur_loss).abs())
            })
        {
            p.selected = true;
        }
        ex.score = cur_loss * n.n.powf(cur.len() as f64 / n.n);
        ex.chosen = cur;
        ex.starts = cur_starts;
    }
    ex
}

/// Floating moves from the stepwise search's end `cur`, where no single move lowers the
/// criterion: terms that stand in for each other (a constant and two couplings doing the work of
/// one decay rate) make every single removal cost more than its penalty while the missing term
/// is absent, and adding that term alone gains less than its penalty. The PROBES absent terms
/// the prediction favours are each added (refitted from `cur`), and removals go on from there
/// while they lower the criterion; the best end preferred to `cur` is returned. (Gating the
/// removals on their predicted criterion lost actin KCl r1's floating move: the quadratic
/// prediction is poor across hidden-state supports.)
fn float(
    fitter: &mut Fitter,
    ex: &mut Exploration,
    cur: &Current,
    visited: &[Vec<usize>],
    n: Labels,
) -> Option<Current> {
    if fitter.control.cancelled() {
        return None;
    }
    // A term whose addition is predicted to change the fit by less than one χ² unit cannot
    // free the terms standing in for it.
    let changes_fit = cur.bic + n.n.ln() - PROBE_MIN_GAIN;
    let adds: Vec<Support> = moves(fitter, &cur.support, cur.loss, n)
        .into_iter()
        .filter(|m| {
            m.predicted < changes_fit
                && m.support.len() == cur.support.len() + 1
                && cur
                    .support
                    .active
                    .iter()
                    .all(|k| m.support.active.contains(k))
        })
        .take(PROBES)
        .map(|m| m.support)
        .collect();
    let f: &Fitter = fitter;
    let fits: Vec<(Support, f64, usize, Vec<f64>)> = adds
        .par_iter()
        .map(|s| refit(f, s, 4.0 * cur.loss, cur.starts.as_deref()))
        .collect();
    let mut best: Option<Current> = None;
    for (s, loss, met, starts) in fits {
        fitter.failures_seen += met;
        if !loss.is_finite() {
            continue;
        }
        ex.path.push(path_entry(fitter, &s, loss, n));
        let mut probe = Current {
            bic: bic(loss, s.len(), n),
            support: s,
            loss,
            starts: Some(starts),
        };
        tracing::debug!(
            terms = probe.support.len(),
            loss,
            bic = probe.bic,
            from = cur.bic,
            support = %names(fitter, &probe.support),
            "floating probe"
        );
        let mut seen: Vec<Vec<usize>> = visited.to_vec();
        seen.push(cur.support.active.clone());
        seen.push(probe.support.active.clone());
        steps(fitter, ex, &mut probe, &mut seen, (n, true, PROBE_STEPS));
        if prefer(
            (probe.bic, probe.support.len()),
            (cur.bic, cur.support.len()),
            n,
        ) && best.as_ref().is_none_or(|x| {
            prefer(
                (probe.bic, probe.support.len()),
                (x.bic, x.support.len()),
                n,
            )
        }) {
            best = Some(probe);
        }
    }
    if let Some(b) = &best {
        tracing::info!(
            terms = b.support.len(),
            loss = b.loss,
            bic = b.bic,
            support = %names(fitter, &b.support),
            "floating move"
        );
    }
    best
}

/// The path entry of support `s` refitted to `loss` over `n` labels.
fn path_entry(fitter: &Fitter, s: &Support, loss: f64, n: Labels) -> PathEntry {
    let n = n.n;
    let model = fitter.prob.model;
    let mut params = fitter.user(s);
    for (k, v) in params.iter_mut().enumerate() {
        if !model.params[k].fixed && !s.active.contains(&k) {
            *v = 0.0;
        }
    }
    PathEntry {
        mu: 0.0,
        gamma: f64::NAN,
        active_terms: s.len(),
        sparse_terms: s.active.iter().filter(|&&k| model.params[k].sparse).count(),
        train_loss: loss,
        holdout_loss: f64::NAN,
        score: loss * n.powf(s.len() as f64 / n),
        selected: false,
        params,
    }
}

/// The training labels and the profiled initial values among them.
fn labels(fitter: &Fitter) -> Labels {
    let prob = fitter.prob;
    let ns = prob.nstates();
    let starts = fitter
        .train
        .iter()
        .map(|&pi| {
            prob.free_start[pi * ns..(pi + 1) * ns]
                .iter()
                .filter(|&&f| f)
                .count()
        })
        .sum::<usize>();
    Labels {
        n: prob.label_count(&fitter.train).max(1) as f64,
        starts: starts as f64,
    }
}

/// The names of support `s`'s parameters, for diagnostics.
fn names(fitter: &Fitter, s: &Support) -> String {
    let params = &fitter.prob.model.params;
    s.active
        .iter()
        .map(|&k| params[k].name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The number of sparse free parameters of the template.
fn sparse_terms(fitter: &Fitter) -> usize {
    let model = fitter.prob.model;
    fitter
        .prob
        .free
        .iter()
        .filter(|&&k| model.params[k].sparse)
        .count()
}

/// Every support of a template with at most EXHAUSTIVE_TERMS sparse terms that was not scored
/// yet, refitted (in parallel) from `cur`'s values (a term it lacks starts at zero) and joined
/// to the path; returns the one with the lowest criterion. None for larger templates.
fn exhaustive(
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
        if best
            .as_ref()
            .is_none_or(|x| prefer((b, s.len()), (x.bic, x.support.len()), n))
        {
            best = Some(Current {
                support: s,
                loss,
                bic: b,
                starts: Some(starts),
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(active: &[usize], predicted: f64) -> Move {
        Move {
            support: Support::new(active.to_vec(), vec![0.0; active.len()]),
            predicted,
        }
    }

    /// A term that lowers the residual sum of squares by only the share one degree of freedom
    /// takes (what a null term does on average) leaves σ̂² where it was and pays the full price
    /// ln N; with the plain N·ln L it would have gained N·ln(dof/(dof − 1)) ≈ 1.2 at N = 22.
    #[test]
    fn a_term_that_takes_only_its_degree_of_freedom_pays_ln_n() {
        let n = Labels {
            n: 22.0,
            starts: 2.0,
        };
        let (k, l0) = (3usize, 4.0e-3);
        let dof = n.n - k as f64 - n.starts;
        let l1 = l0 * (dof - 1.0) / dof;
        let price = bic(l1, k + 1, n) - bic(l0, k, n);
        assert!((price - n.n.ln()).abs() < 1e-9, "{price}");
        let plain = n.n * (l1 / l0).ln() + n.n.ln();
        assert!(plain < n.n.ln() - 1.0, "{plain}");
        // No degrees of freedom left: no criterion.
        assert!(bic(l0, 20, n).is_infinite());
    }

    /// A removal the prediction ranks below the moves refitted per step is in the second batch
    /// when every removal is asked for, and only then; additions and swaps below the cut are
    /// in neither.
    #[test]
    fn every_removal_is_tried_however_it_ranks() {
        let cur = Support::new(vec![1, 3, 7, 9], vec![0.0; 4]);
        let candidates = vec![
            mv(&[1, 3, 7, 9, 10], -5.0),
            mv(&[3, 7, 9], -4.0),
            mv(&[1, 3, 9, 10], -3.0),
            mv(&[1, 3, 7], -2.0),
            mv(&[1, 3, 7, 9, 2], -1.0),
        ];
        let picked = |every| -> [Vec<Vec<usize>>; 2] {
            trials(&candidates, &cur, 2, every).map(|b| {
                b.iter()
                    .map(|m| m.support.active.clone())
                    .collect::<Vec<_>>()
            })
        };
        let first = vec![vec![1, 3, 7, 9, 10], vec![3, 7, 9]];
        assert_eq!(picked(false), [first.clone(), vec![]]);
        assert_eq!(picked(true), [first, vec![vec![1, 3, 7]]]);
    }
}
