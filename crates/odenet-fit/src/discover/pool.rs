//! The pool of refitted candidates at one horizon and the moves that grow it: backward
//! elimination from the richest candidate and swaps of single equations' supports; the path
//! entries reported for it.

use crate::eliminate;
use crate::evaluate::Evaluator;
use crate::fit::Control;
use crate::problem::Problem;
use crate::result::PathEntry;
use crate::support::Support;

use super::scorer::{Candidate, Scorer};
use super::stepwise::{Additions, forward, only_adds, stepwise};

/// The loss ratio to the best candidate so far beyond which a refit is abandoned.
pub(super) const ABANDON_RATIO: f64 = 30.0;

/// Elimination stops once the score exceeds the best by this many units of the per-term
/// penalty (removing a true term costs far more).
pub(super) const ELIMINATION_MARGIN: f64 = 10.0;

/// Sweeps of single-equation swaps.
pub(super) const SWAP_SWEEPS: usize = 2;

/// The refitted candidates of one discovery, their scores and the noise they are scored in.
pub struct Pool {
    pub cands: Vec<Candidate>,
    pub var: Vec<f64>,
    pub scores: Vec<f64>,
}

impl Pool {
    pub(super) fn contains(&self, active: &[usize]) -> bool {
        self.cands.iter().any(|c| c.support.active == active)
    }

    pub(super) fn rescore(&mut self, scorer: &Scorer) {
        self.var = scorer.noise_variance(&self.cands);
        self.scores = self
            .cands
            .iter()
            .map(|c| scorer.score(c, &self.var))
            .collect();
    }

    pub(super) fn add(&mut self, scorer: &Scorer, c: Candidate) -> f64 {
        let s = scorer.score(&c, &self.var);
        self.cands.push(c);
        self.scores.push(s);
        s
    }

    pub fn best(&self) -> Option<usize> {
        best_index(&self.scores)
    }

    /// The candidates scoring at most `limit` that `keep` accepts, best first, as (support,
    /// screening threshold).
    pub(super) fn ranked(&self, limit: f64, keep: impl Fn(usize) -> bool) -> Vec<(Support, f64)> {
        let mut order: Vec<usize> = (0..self.cands.len())
            .filter(|&i| self.scores[i] <= limit && keep(i))
            .collect();
        order.sort_by(|&a, &b| self.scores[a].total_cmp(&self.scores[b]));
        order
            .iter()
            .map(|&i| (self.cands[i].support.clone(), self.cands[i].gamma))
            .collect()
    }

    /// The loss above which a refit is hopeless: ABANDON_RATIO times the best candidate's.
    pub(super) fn abandon_level(&self) -> f64 {
        ABANDON_RATIO
            * self
                .cands
                .iter()
                .filter(|c| c.failures == 0)
                .map(|c| c.loss)
                .fold(f64::INFINITY, f64::min)
    }
}

/// The best candidate by score.
pub(super) fn best_index(scores: &[f64]) -> Option<usize> {
    let b = scores.iter().copied().fold(f64::INFINITY, f64::min);
    b.is_finite()
        .then(|| scores.iter().position(|s| s.total_cmp(&b).is_eq()))
        .flatten()
}

/// The positions (in the support) of each equation's terms, for library models: parameter k
/// belongs to equation k / nf. None for templates (a parameter may enter several equations).
pub(super) fn equation_of(prob: &Problem, k: usize) -> Option<usize> {
    prob.model.is_library().then(|| k / prob.model.nfeatures())
}

/// Refits every screened support and scores them.
pub fn refit_all(scorer: &Scorer, screened: &[(Support, f64)], control: &Control) -> Pool {
    let mut pool = Pool {
        cands: Vec::new(),
        var: Vec::new(),
        scores: Vec::new(),
    };
    let mut best_loss = f64::INFINITY;
    for (s, gamma) in screened {
        if control.cancelled() {
            break;
        }
        let c = scorer.refit(s, *gamma, ABANDON_RATIO * best_loss, control);
        if c.failures == 0 && c.loss.is_finite() {
            best_loss = best_loss.min(c.loss);
        }
        pool.cands.push(c);
    }
    pool.rescore(scorer);
    pool
}

/// Backward elimination from the richest candidate that integrates: drop the cheapest terms
/// by their Wald statistic, refit, score; until nothing sparse is left or the score is far
/// above the best.
pub fn eliminate_from_richest(scorer: &Scorer, pool: &mut Pool, control: &Control) {
    let Some(start) = (0..pool.cands.len())
        .filter(|&i| pool.scores[i].is_finite())
        .max_by_key(|&i| pool.cands[i].support.len())
    else {
        return;
    };
    let model = scorer.prob.model;
    let mut s = pool.cands[start].support.clone();
    loop {
        if control.cancelled() {
            return;
        }
        let sparse: Vec<bool> = s.active.iter().map(|&k| model.params[k].sparse).collect();
        let ev = Evaluator::new(
            &scorer.prob,
            s.active.clone(),
            scorer.base.clone(),
            scorer.prob.all_pieces(),
        );
        let gn = ev.gauss_newton(&s.q);
        // Terms go together while their joint removal is predicted to cost less than half
        // their price in the criterion: the loss is RSS / labels, so one χ² unit is
        // σ̄² / labels.
        let unit = scorer.mean_variance(&pool.var) / scorer.total_obs().max(1.0);
        let price = 0.5 * scorer.penalty() * unit;
        let Some(step) = eliminate::step_within(&gn.h, &s.q, &sparse, |m| m as f64 * price) else {
            return;
        };
        let mut drop = vec![false; s.len()];
        for &j in &step.drop {
            drop[j] = true;
        }
        s = s.with_values(step.q).without(&drop);
        if pool.contains(&s.active) {
            continue;
        }
        let c = scorer.refit(&s, f64::NAN, pool.abandon_level(), control);
        s = c.support.clone();
        let score = pool.add(scorer, c);
        let best = pool.scores.iter().copied().fold(f64::INFINITY, f64::min);
        tracing::debug!(terms = s.len(), score, best, "eliminate");
        if !score.is_finite() || score > best + ELIMINATION_MARGIN * scorer.penalty() {
            return;
        }
    }
}

/// Swaps of one equation's support: from the best candidate, each equation in turn takes the
/// support it has in any other candidate or in `parts` (equation supports from the screen); a
/// swap that lowers the score is kept.
pub fn swap_equations(scorer: &Scorer, pool: &mut Pool, parts: &[Support], control: &Control) {
    let prob = &scorer.prob;
    if !prob.model.is_library() {
        return;
    }
    let n = prob.nstates();
    let mut additions: Option<Additions> = None;
    for _ in 0..SWAP_SWEEPS {
        let mut improved = false;
        for i in 0..n {
            let Some(b) = pool.best() else { return };
            let best = pool.cands[b].support.clone();
            let best_score = pool.scores[b];
            // Alternatives for equation i: its distinct supports among the candidates and the
            // best-subset screen's parts for it.
            let mut alts: Vec<Support> = Vec::new();
            let screened = parts
                .iter()
                .filter(|p| p.active.first().and_then(|&k| equation_of(prob, k)) == Some(i));
            for part in pool
                .cands
                .iter()
                .map(|c| restrict(prob, &c.support, i))
                .chain(screened.cloned())
            {
                if part.active != restrict(prob, &best, i).active
                    && !alts.iter().any(|a| a.active == part.active)
                {
                    alts.push(part);
                }
            }
            for alt in alts {
                if control.cancelled() {
                    return;
                }
                let trial = combine(prob, &best, i, &alt);
                if pool.contains(&trial.active) {
                    continue;
                }
                // A trial that only adds terms to the best is refitted when the quadratic
                // model at the best (one pass, built when first needed) predicts that it may
                // pay for them.
                if only_adds(&best.active, &trial) {
                    if additions
                        .as_ref()
                        .is_none_or(|a| a.active() != best.active.as_slice())
                    {
                        additions = Additions::at(scorer, pool, &best);
                    }
                    if additions
                        .as_ref()
                        .is_some_and(|a| a.hopeless(&scorer.free, &trial))
                    {
                        tracing::debug!(equation = i, "swap adds terms predicted not to pay");
                        continue;
                    }
                }
                let c = scorer.refit(&trial, f64::NAN, pool.abandon_level(), control);
                let names = tracing::enabled!(tracing::Level::DEBUG).then(|| c.names(prob.model));
                let s = pool.add(scorer, c);
                tracing::debug!(equation = i, score = s, best = best_score, ?names, "swap");
                if s < best_score {
                    improved = true;
                }
            }
        }
        if !improved {
            return;
        }
    }
}

/// The part of support `s` in equation `i`.
pub(super) fn restrict(prob: &Problem, s: &Support, i: usize) -> Support {
    let drop: Vec<bool> = s
        .active
        .iter()
        .map(|&k| equation_of(prob, k) != Some(i))
        .collect();
    s.without(&drop)
}

/// Support `s` with equation `i`'s part replaced by `part`, in parameter order.
pub(super) fn combine(prob: &Problem, s: &Support, i: usize, part: &Support) -> Support {
    let mut pairs: Vec<(usize, f64)> = s
        .active
        .iter()
        .zip(&s.q)
        .filter(|&(&k, _)| equation_of(prob, k) != Some(i))
        .map(|(&k, &v)| (k, v))
        .chain(part.active.iter().copied().zip(part.q.iter().copied()))
        .collect();
    pairs.sort_by_key(|p| p.0);
    Support::new(
        pairs.iter().map(|p| p.0).collect(),
        pairs.iter().map(|p| p.1).collect(),
    )
}

/// Where a level stands on the horizon ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// The shortest pieces, where every screened candidate is refitted.
    First,
    /// A longer horizon the candidates were carried to.
    Later,
    /// The horizon chosen, explored once more before the choice.
    Final,
    /// The horizon chosen, explored again after more candidates joined (the forward path from
    /// the sparse start is the same as at `Final`).
    Revisit,
}

/// More candidates at one horizon: backward elimination from the richest candidate, swaps of
/// single equations' supports (at the chosen horizon), a stepwise search from the best and
/// forward selection from the support with no sparse term; then every candidate scored again.
/// Forward selection runs on the first level (the shortest pieces: the linearisation at a sparse
/// start is most informative there and a refit cheapest) and at the chosen horizon (where the
/// choice is made), not on the levels between: there a sparse start tracks the data poorly (an
/// oscillation or a chaotic flow is lost within a piece) and its path mostly refits, at a higher
/// price, supports far from the best.
pub(super) fn explore_level(
    scorer: &Scorer,
    pool: &mut Pool,
    (stage, parts): (Stage, &[Support]),
    control: &Control,
) {
    let t = std::time::Instant::now();
    eliminate_from_richest(scorer, pool, control);
    let eliminated = t.elapsed().as_secs_f64();
    if matches!(stage, Stage::Final | Stage::Revisit) {
        swap_equations(scorer, pool, parts, control);
    }
    let swapped = t.elapsed().as_secs_f64();
    pool.rescore(scorer);
    stepwise(scorer, pool, control);
    let stepped = t.elapsed().as_secs_f64();
    if matches!(stage, Stage::First | Stage::Final) {
        forward(scorer, pool, control);
    }
    tracing::debug!(
        ?stage,
        pieces = scorer.prob.pieces.len(),
        eliminated,
        swapped,
        stepped,
        forward = t.elapsed().as_secs_f64(),
        "explored (seconds since the level's start)"
    );
    pool.rescore(scorer);
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let model = scorer.prob.model;
    for (c, s) in pool.cands.iter().zip(&pool.scores) {
        let names = c.names(model);
        tracing::debug!(
            pieces = scorer.prob.pieces.len(),
            terms = c.support.len(),
            score = s,
            ?names,
            "level candidate"
        );
    }
}

/// The path entries of the pool (every candidate, the chosen one marked).
pub fn path_entries(scorer: &Scorer, pool: &Pool, chosen: Option<usize>) -> Vec<PathEntry> {
    let model = scorer.prob.model;
    let mut order: Vec<usize> = (0..pool.cands.len()).collect();
    order.sort_by(|&a, &b| {
        pool.cands[b]
            .support
            .len()
            .cmp(&pool.cands[a].support.len())
            .then(pool.scores[a].total_cmp(&pool.scores[b]))
    });
    order
        .into_iter()
        .map(|i| {
            let c = &pool.cands[i];
            let mut params = scorer
                .prob
                .scales
                .user(&scorer.base, &c.support.active, &c.support.q);
            for (k, v) in params.iter_mut().enumerate() {
                if !model.params[k].fixed && !c.support.active.contains(&k) {
                    *v = 0.0;
                }
            }
            PathEntry {
                mu: 0.0,
                gamma: c.gamma,
                active_terms: c.support.len(),
                sparse_terms: c
                    .support
                    .active
                    .iter()
                    .filter(|&&k| model.params[k].sparse)
                    .count(),
                train_loss: c.loss,
                holdout_loss: f64::NAN,
                score: pool.scores[i],
                selected: Some(i) == chosen,
                params,
            }
        })
        .collect()
}
