//! The exploration of the sparsity path from one start: rounds of L1-penalised fits with
//! pruning, then backward elimination; every distinct support met is refitted without L1,
//! scored on held-out pieces (BIC on the training pieces when none are held out), and the
//! parsimonious choice is made among them.

use crate::eliminate;
use crate::fit::Fitter;
use crate::path::{geometric, spread};
use crate::result::{PathEntry, Progress};
use crate::select::{self, Scored, paired_zs};
use crate::support::Support;

/// Backward elimination beyond the last round stops once the held-out loss exceeds the best by
/// this factor (nothing sparser can be chosen then).
const ELIMINATION_STOP: f64 = 2.0;
/// The L1 rounds shape the path on at most this many training pieces (evenly spread).
const ROUND_PIECES: usize = 120;

/// How one exploration starts.
pub(crate) struct Start {
    /// The starting point came from the regression guess.
    pub regressed: bool,
    /// Abandon the start when its first round's loss exceeds this.
    pub abort_above: f64,
    /// The training loss at the starting point, when already known.
    pub start_loss: Option<f64>,
}

/// The path of one start and the choice made on it.
#[derive(Clone)]
pub(crate) struct Exploration {
    pub path: Vec<PathEntry>,
    /// The chosen support, refitted without L1 on the training pieces.
    pub chosen: Support,
    /// The chosen support's score (held-out loss, or the BIC-weighted training loss).
    pub score: f64,
    /// The loss after the first round (the dense fit from this start).
    pub first_loss: f64,
    /// Where the chosen support's refit profiled the pieces' initial values (scaled, pieces × n
    /// like `Problem::x0`; hidden states known only at experiment starts): a fitted initial
    /// value of a hidden state can have several minima for fixed parameters, so the stepwise
    /// search and the final refit start from these rather than from the global stage's.
    pub starts: Option<Vec<f64>>,
}

/// The supports met so far, each refitted and scored once.
struct Candidates {
    path: Vec<PathEntry>,
    supports: Vec<Support>,
    scored: Vec<Scored>,
    /// Per support: where its refit profiled the fitted initial values (hidden states known
    /// only at experiment starts; `Fitter::warm`).
    starts: Vec<Option<Vec<f64>>>,
    /// The pieces supports are scored on, and their label count.
    score_pieces: Vec<usize>,
    labels: usize,
}

impl Candidates {
    fn new(fitter: &Fitter) -> Candidates {
        let score_pieces = if fitter.holdout.is_empty() {
            fitter.train.clone()
        } else {
            fitter.holdout.clone()
        };
        Candidates {
            path: Vec::new(),
            supports: Vec::new(),
            starts: Vec::new(),
            scored: Vec::new(),
            labels: fitter.prob.label_count(&score_pieces).max(1),
            score_pieces,
        }
    }

    fn best_score(&self) -> f64 {
        self.scored
            .iter()
            .map(|c| c.score)
            .fold(f64::INFINITY, f64::min)
    }

    /// The last recorded support and its score, when its active set is `active`.
    fn last_if(&self, active: &[usize]) -> Option<(Support, f64)> {
        let last = self.supports.last()?;
        (last.active == active).then(|| (last.clone(), self.scored[self.scored.len() - 1].score))
    }

    /// Refits support `s` without L1 on the training pieces and scores it, unless its active set
    /// was met before.
    fn record(&mut self, fitter: &mut Fitter, s: &Support, mu: f64, gamma: f64) {
        if self.supports.iter().any(|c| c.active == s.active) {
            return;
        }
        let train = fitter.train.clone();
        let fit = fitter.optimize(s, 0.0, &train);
        let refit = s.with_values(fit.q);
        let (he, per) = fitter
            .evaluator(&refit.active, &self.score_pieces)
            .eval_per_piece(&refit.q);
        // With no held-out pieces, score on the training pieces with a price per term (as a
        // factor on the loss: L·exp(k·c/N), L·N^(k/N) for the BIC's c = ln N), so that extra
        // terms must pay for themselves.
        let score = if fitter.holdout.is_empty() {
            let nl = self.labels as f64;
            he.loss * (refit.len() as f64 * fitter.price / nl).exp()
        } else {
            he.loss
        };
        let model = fitter.prob.model;
        let mut params = fitter.user(&refit);
        for (k, v) in params.iter_mut().enumerate() {
            if !model.params[k].fixed && !refit.active.contains(&k) {
                *v = 0.0;
            }
        }
        self.path.push(PathEntry {
            mu,
            gamma,
            active_terms: refit.len(),
            sparse_terms: refit
                .active
                .iter()
                .filter(|&&k| model.params[k].sparse)
                .count(),
            train_loss: fit.loss,
            holdout_loss: if fitter.holdout.is_empty() {
                f64::NAN
            } else {
                score
            },
            score,
            selected: false,
            params,
        });
        self.scored.push(Scored {
            size: refit.len(),
            score,
            per_piece: if fitter.holdout.is_empty() {
                Vec::new()
            } else {
                per
            },
        });
        self.supports.push(refit);
        self.starts.push(fitter.warm.clone());
    }
}

/// Rounds of L1-penalised fits with μ decreasing and γ increasing, pruning after each and
/// recording every new support. Returns the support after the last round and the first round's
/// loss, or None when the start is abandoned (its dense fit far worse than `abort_above`).
fn l1_rounds(
    fitter: &mut Fitter,
    cands: &mut Candidates,
    mut s: Support,
    start: &Start,
) -> (Option<Support>, f64) {
    let spec = fitter.spec;
    let rounds = spec.fit.rounds.max(1);
    let round_pieces = spread(&fitter.train, ROUND_PIECES);
    let mut first_loss = f64::NAN;
    for r in 0..rounds {
        if fitter.control.cancelled() {
            break;
        }
        let mu = geometric(spec.fit.mu.0, spec.fit.mu.1, r, rounds);
        let gamma = geometric(spec.fit.threshold.0, spec.fit.threshold.1, r, rounds);
        // Without a regression guess the first round starts maybe far from any minimum: let it
        // converge before anything is pruned (a term still near its zero start would go).
        fitter.first_round = r == 0 && !start.regressed;
        let res = fitter.optimize(&s, mu, &round_pieces);
        fitter.first_round = false;
        if r == 0 {
            first_loss = res.loss;
            // The first round, with the full budget, barely moved a regression guess: the
            // guess was at the minimum to within what selection can resolve, and the later
            // rounds (warm-started, μ a little smaller each time) only shrink small terms.
            let moved = (res.start_loss - res.loss) / res.start_loss;
            fitter.close = start.regressed && moved.abs() < select::SELECT_MARGIN;
            tracing::debug!(moved, close = fitter.close, "first round");
            // A start whose dense fit is far worse than another start's is in a poor basin:
            // stop exploring it.
            if res.loss.is_nan() || res.loss > start.abort_above {
                return (None, first_loss);
            }
        }
        let fitted = s.with_values(res.q);
        let drop = fitter.prune_set(&fitted, gamma);
        let pruned = fitted.without(&drop);
        let changed = pruned.len() != s.len();
        s = pruned;
        tracing::debug!(
            round = r + 1,
            mu,
            gamma,
            loss = res.loss,
            active = s.len(),
            "L1 round"
        );
        (fitter.control.progress)(Progress::Round {
            round: r + 1,
            rounds,
            loss: res.loss,
            active: s.len(),
        });
        if changed || r + 1 == rounds {
            cands.record(fitter, &s, mu, gamma);
            if let Some((refit, _)) = cands.last_if(&s.active) {
                s = refit;
            }
        }
    }
    (Some(s), first_loss)
}

/// Backward elimination: drop the cheapest sparse terms by their Wald statistic, step to the
/// refit predicted by the Gauss–Newton matrix, refit and score; stop when nothing sparse is left
/// or the score is far worse than the best.
fn backward_elimination(fitter: &mut Fitter, cands: &mut Candidates, mut s: Support) {
    let model = fitter.prob.model;
    loop {
        if fitter.control.cancelled() {
            break;
        }
        let sparse: Vec<bool> = s.active.iter().map(|&k| model.params[k].sparse).collect();
        if !sparse.iter().any(|&b| b) {
            break;
        }
        let gn = fitter
            .evaluator(&s.active, &fitter.explore)
            .gauss_newton(&s.q);
        let Some(step) = eliminate::step(&gn.h, gn.loss, &s.q, &sparse) else {
            break;
        };
        let mut drop = vec![false; s.len()];
        for &j in &step.drop {
            drop[j] = true;
        }
        let dropped: Vec<&str> = step
            .drop
            .iter()
            .map(|&j| model.params[s.active[j]].name.as_str())
            .collect();
        s = s.with_values(step.q).without(&drop);
        tracing::debug!(?dropped, left = s.len(), "eliminate");
        cands.record(fitter, &s, 0.0, f64::NAN);
        if let Some((refit, score)) = cands.last_if(&s.active) {
            s = refit;
            if !score.is_finite() || score > cands.best_score() * ELIMINATION_STOP {
                break;
            }
        }
        (fitter.control.progress)(Progress::Eliminate { active: s.len() });
    }
}

/// The choice among explorations from several starts, by the rule each path's own choice
/// follows: the sparsest whose score is within [`select::SELECT_MARGIN`] of the best (the lower
/// score among equally sparse ones); the first when none has a finite score.
pub(crate) fn parsimonious(mut exs: Vec<Exploration>) -> Option<Exploration> {
    let best = exs.iter().map(|e| e.score).fold(f64::INFINITY, f64::min);
    let pick = (0..exs.len())
        .filter(|&i| {
            exs[i].score.is_finite() && exs[i].score <= best * (1.0 + select::SELECT_MARGIN)
        })
        .min_by(|&a, &b| {
            exs[a]
                .chosen
                .len()
                .cmp(&exs[b].chosen.len())
                .then(exs[a].score.total_cmp(&exs[b].score))
        })
        .or((!exs.is_empty()).then_some(0))?;
    Some(exs.swap_remove(pick))
}

/// Explores the path from support `s` and makes the parsimonious choice on it.
pub(crate) fn explore(fitter: &mut Fitter, s: Support, start: Start) -> Exploration {
    fitter.close = false;
    fitter.warm = None;
    let l0 = start
        .start_loss
        .unwrap_or_else(|| fitter.loss(&s, &fitter.train));
    fitter.loss_ref = if l0.is_finite() && l0 > 0.0 { l0 } else { 1.0 };
    tracing::debug!(loss = l0, "exploration starts");
    let mut cands = Candidates::new(fitter);
    let (after_rounds, first_loss) = l1_rounds(fitter, &mut cands, s.clone(), &start);
    let Some(s) = after_rounds else {
        return Exploration {
            path: Vec::new(),
            chosen: s,
            score: f64::INFINITY,
            first_loss,
            starts: None,
        };
    };
    backward_elimination(fitter, &mut cands, s.clone());
    let best = cands.best_score();
    let z = paired_zs(&cands.scored, cands.labels);
    for ((c, zi), sp) in cands.scored.iter().zip(&z).zip(&cands.supports) {
        tracing::info!(
            terms = sp.len(),
            score = c.score,
            excess_percent = 100.0 * (c.score - best) / best,
            paired_z = zi,
            "candidate"
        );
    }
    let choice = select::choose(&cands.scored, cands.labels);
    if let Some(i) = choice {
        tracing::info!(
            terms = cands.supports[i].len(),
            score = cands.scored[i].score,
            "chosen"
        );
    }
    match choice {
        Some(i) => {
            cands.path[i].selected = true;
            Exploration {
                chosen: cands.supports[i].clone(),
                score: cands.scored[i].score,
                starts: cands.starts[i].clone(),
                path: cands.path,
                first_loss,
            }
        }
        None => Exploration {
            path: cands.path,
            chosen: s,
            score: f64::INFINITY,
            first_loss,
            starts: None,
        },
    }
}
