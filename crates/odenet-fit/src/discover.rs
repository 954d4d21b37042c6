//! Discovery for models affine in their parameters (complete libraries, and templates that are
//! linear in their coefficients): candidate supports screened cheaply by the integral-form
//! regression, refitted by integrating them through long pieces of the data, and chosen by an
//! information criterion in the noise the data imply.
//!
//! 1. Candidates: sequentially thresholded regression over a grid of thresholds and several
//!    windows (every distinct support it produces).
//! 2. Horizon: pieces as long as the best candidates track the data within the noise (at least
//!    long enough that the dynamics stand above it), tiling each experiment without overlap.
//! 3. Every candidate refitted on the tiles (Levenberg–Marquardt from its regression values),
//!    then backward elimination (Wald) from the richest one and swaps of single equations'
//!    supports add candidates.
//! 4. Score: BIC = Σ_i RSS_i/σ_i² + k·ln N, with σ_i² the residual variance of the best-fitting
//!    candidate (floored by the integrator's tolerance); the lowest score wins.

use odenet_spec::{InitKind, Segment, Spec, Table};

use crate::degeneracy::{Relation, reduced_free, relations};
use crate::eliminate;
use crate::evaluate::Evaluator;
use crate::fit::Control;
use crate::model::CompiledModel;
use crate::noise_level::{noise_levels, smoothed_tables};
use crate::optimize::{Terms, levenberg_marquardt};
use crate::problem::{Layout, Problem};
use crate::regression::Regression;
use crate::result::{FitError, PathEntry};
use crate::solve_options;
use crate::support::Support;

/// Relative-contribution thresholds of the regression screen (geometric).
const SCREEN_THRESHOLDS: (f64, f64, usize) = (1e-3, 0.5, 14);
/// Thresholding rounds of each screen.
const SCREEN_ROUNDS: usize = 8;
/// A longer horizon is kept while the best models' residual variance grows by at most this
/// factor (beyond it, no candidate tracks the data that long).
const TRACK_GROWTH: f64 = 2.0;
/// The dynamics stand above the noise when the mean squared change over a piece exceeds this
/// many noise variances.
const SIGNAL_OVER_NOISE: f64 = 9.0;
/// Shortest and (before lengthening) longest pieces, in points.
const MIN_LEN: usize = 5;
/// The noise floor in scaled units per unit of the integrator's relative tolerance.
const FLOOR_PER_RTOL: f64 = 10.0;
/// Levenberg–Marquardt iterations of a candidate's refit, its relative tolerance (the score
/// needs the residual sum of squares to a small fraction of one noise variance), and the loss
/// ratio to the best candidate so far beyond which a refit is abandoned.
const REFIT_ITERS: u64 = 60;
const REFIT_REL_TOL: f64 = 1e-5;
const ABANDON_RATIO: f64 = 30.0;
/// Elimination stops once the score exceeds the best by this many units of the per-term
/// penalty (removing a true term costs far more).
const ELIMINATION_MARGIN: f64 = 10.0;
/// Candidates within this many units of the per-term penalty of the best are polished, with
/// the solver's and the optimiser's tolerances multiplied by POLISH_TOL.
const POLISH_MARGIN: f64 = 3.0;
const POLISH_TOL: f64 = 1e-2;
/// A polished candidate is trusted when its score (in the unpolished noise) is at most this
/// much above its unpolished one.
const POLISH_SLACK: f64 = 2.0;
/// Sweeps of single-equation swaps.
const SWAP_SWEEPS: usize = 2;

/// One refitted candidate.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub support: Support,
    /// Residual sum of squares per state (scaled units) on the tiles.
    pub rss: Vec<f64>,
    /// Pieces that failed to integrate.
    pub failures: usize,
    /// Mean squared residual (the evaluator's loss).
    pub loss: f64,
    /// Where it came from, for the path: the screening threshold (NaN for elimination/swaps).
    pub gamma: f64,
}

/// The scoring problem: tiles of the chosen horizon and the noise they are measured in.
pub struct Scorer<'m> {
    pub prob: Problem<'m>,
    /// Values of inactive parameters (user units).
    pub base: Vec<f64>,
    /// Observed values per state over the tiles, and profiled start values per state.
    pub nobs: Vec<f64>,
    pub nstarts: Vec<f64>,
    /// The floor of σ per state (scaled).
    pub floor: f64,
    /// Piece failures met by the refits (penalised trial points included).
    pub failures_seen: std::sync::atomic::AtomicUsize,
    /// Levenberg–Marquardt's relative tolerance for the refits.
    rel_tol: f64,
    /// The parameters candidates are drawn from (the library less eliminated states).
    free: Vec<usize>,
}

impl<'m> Scorer<'m> {
    pub fn new(prob: Problem<'m>, base: Vec<f64>, free: &[usize]) -> Self {
        let n = prob.nstates();
        let mut nobs = vec![0.0; n];
        let mut nstarts = vec![0.0; n];
        for (pi, pc) in prob.pieces.iter().enumerate() {
            let ex = &prob.exps[pc.exp];
            for (j, y) in ex.y[pc.start * n..(pc.start + pc.len) * n]
                .iter()
                .enumerate()
            {
                if y.is_finite() {
                    nobs[j % n] += 1.0;
                }
            }
            for (s, &free) in nstarts
                .iter_mut()
                .zip(&prob.free_start[pi * n..(pi + 1) * n])
            {
                if free {
                    *s += 1.0;
                }
            }
        }
        let floor = FLOOR_PER_RTOL * prob.solve_opts.rtol.max(prob.solve_opts.atol);
        Scorer {
            prob,
            base,
            nobs,
            nstarts,
            floor,
            failures_seen: Default::default(),
            rel_tol: REFIT_REL_TOL,
            free: free.to_vec(),
        }
    }

    /// The same scorer with Levenberg–Marquardt's relative tolerance `rel_tol`.
    pub fn with_rel_tol(mut self, rel_tol: f64) -> Self {
        self.rel_tol = rel_tol;
        self
    }

    pub fn total_obs(&self) -> f64 {
        self.nobs.iter().sum()
    }

    /// Refits `s` on every tile without L1 and measures its residuals; the refit is abandoned
    /// (and the candidate scored as it stands) once its loss stays above `abandon_above`.
    pub fn refit(
        &self,
        s: &Support,
        gamma: f64,
        abandon_above: f64,
        control: &Control,
    ) -> Candidate {
        let ev = Evaluator::new(
            &self.prob,
            s.active.clone(),
            self.base.clone(),
            self.prob.all_pieces(),
        );
        let terms = Terms::new(&self.prob, &s.active, 0.0, 1.0)
            .with_cancel(control.cancel)
            .with_stop(self.rel_tol, abandon_above);
        let t = std::time::Instant::now();
        let r = levenberg_marquardt(&ev, &terms, s.q.clone(), REFIT_ITERS);
        tracing::debug!(
            terms = s.len(),
            pieces = self.prob.pieces.len(),
            iters = r.iters,
            evals = ev.evals.load(std::sync::atomic::Ordering::Relaxed),
            failures = r.failures,
            bdf = r.bdf_pieces,
            loss = r.loss,
            seconds = t.elapsed().as_secs_f64(),
            reason = %r.reason,
            "refit"
        );
        self.failures_seen
            .fetch_add(r.failures_met, std::sync::atomic::Ordering::Relaxed);
        let support = s.with_values(r.q);
        let (rss, failed) = self.rss(&ev, &support.q);
        Candidate {
            support,
            rss,
            failures: r.failures.max(failed),
            loss: r.loss,
            gamma,
        }
    }

    /// The residual sum of squares per state at `q`, and the pieces that failed.
    fn rss(&self, ev: &Evaluator, q: &[f64]) -> (Vec<f64>, usize) {
        let n = self.prob.nstates();
        let mut rss = vec![0.0; n];
        let mut failed = 0;
        for r in ev.residuals(q) {
            let Some(r) = r else {
                failed += 1;
                continue;
            };
            for (j, v) in r.iter().enumerate() {
                if v.is_finite() {
                    rss[j % n] += v * v;
                }
            }
        }
        (rss, failed)
    }

    /// The residual variance per state of candidate `c` (degrees of freedom: observations less
    /// profiled starts and its share of the parameters).
    fn variance(&self, c: &Candidate) -> Vec<f64> {
        let total = self.total_obs().max(1.0);
        let k = c.support.len() as f64;
        (0..self.nobs.len())
            .map(|i| {
                let dof = self.nobs[i] - self.nstarts[i] - k * self.nobs[i] / total;
                if self.nobs[i] == 0.0 {
                    0.0 // never observed: no residuals to weigh
                } else if dof > 0.0 && c.failures == 0 {
                    c.rss[i] / dof
                } else {
                    f64::INFINITY
                }
            })
            .collect()
    }

    /// The noise variance per state the candidates imply: the smallest residual variance of any
    /// candidate that integrates everywhere, floored by the integrator's accuracy.
    pub fn noise_variance(&self, cands: &[Candidate]) -> Vec<f64> {
        let n = self.nobs.len();
        let mut best = vec![f64::INFINITY; n];
        for c in cands {
            // One candidate for every state: the one whose total standardised variance is least.
            let v = self.variance(c);
            if v.iter().all(|x| x.is_finite()) && v.iter().sum::<f64>() < best.iter().sum::<f64>() {
                best = v;
            }
        }
        best.iter()
            .map(|&v| {
                let f = self.floor * self.floor;
                if v.is_finite() { v.max(f) } else { f64::NAN }
            })
            .collect()
    }

    /// Σ_i RSS_i / var_i over the observed states.
    fn chi2(&self, rss: &[f64], var: &[f64]) -> f64 {
        rss.iter()
            .zip(var)
            .zip(&self.nobs)
            .filter(|&(_, &n)| n > 0.0)
            .map(|((r, v), _)| r / v)
            .sum()
    }

    /// BIC of a candidate in the noise `var`: χ² + k ln N (+∞ when a piece fails).
    pub fn score(&self, c: &Candidate, var: &[f64]) -> f64 {
        if c.failures > 0 || !c.loss.is_finite() {
            return f64::INFINITY;
        }
        self.chi2(&c.rss, var) + c.support.len() as f64 * self.penalty()
    }

    /// The noise variance averaged over the observations (scaled units).
    pub fn mean_variance(&self, var: &[f64]) -> f64 {
        let total = self.total_obs();
        if total <= 0.0 {
            return f64::NAN;
        }
        self.nobs.iter().zip(var).map(|(n, v)| n * v).sum::<f64>() / total
    }

    /// The criterion's price of one parameter.
    pub fn penalty(&self) -> f64 {
        self.total_obs().max(2.0).ln()
    }
}

/// The geometric grid of screening thresholds.
fn thresholds() -> Vec<f64> {
    let (a, b, m) = SCREEN_THRESHOLDS;
    (0..m)
        .map(|i| a * (b / a).powf(i as f64 / (m - 1) as f64))
        .collect()
}

/// Every distinct support the thresholded regression produces over the grid of thresholds and
/// windows, densest first, with its regression values and the threshold that gave it.
pub fn screen(reg: &Regression, free: &[usize]) -> Vec<(Support, f64)> {
    let mut out: Vec<(Support, f64)> = Vec::new();
    for (_, d) in &reg.designs {
        for gamma in thresholds() {
            let Some(q) = reg.stlsq(d, gamma, SCREEN_ROUNDS) else {
                continue;
            };
            let keep: Vec<bool> = q
                .iter()
                .zip(&reg.sparse)
                .map(|(&v, &s)| !s || v != 0.0)
                .collect();
            let drop: Vec<bool> = keep.iter().map(|k| !k).collect();
            let s = Support::new(free.to_vec(), q).without(&drop);
            if !out.iter().any(|(c, _)| c.active == s.active) {
                out.push((s, gamma));
            }
        }
    }
    out.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    out
}

/// The shortest piece length (points) over which the data change by more than the noise:
/// the mean squared change over the lag exceeds SIGNAL_OVER_NOISE noise variances (beyond the
/// two the noise itself adds).
pub fn signal_length(prob: &Problem, var: &[f64]) -> usize {
    let n = prob.nstates();
    let maxrows = prob.exps.iter().map(|e| e.rows).max().unwrap_or(0);
    let mut lag = 1;
    while lag < maxrows {
        let mut s = 0.0;
        let mut c = 0.0;
        for ex in &prob.exps {
            for k in 0..ex.rows.saturating_sub(lag) {
                for (i, &v) in var.iter().enumerate() {
                    let (a, b) = (ex.y[k * n + i], ex.y[(k + lag) * n + i]);
                    if a.is_finite() && b.is_finite() && v > 0.0 {
                        s += (b - a) * (b - a) / v - 2.0;
                        c += 1.0;
                    }
                }
            }
        }
        if c > 0.0 && s / c >= SIGNAL_OVER_NOISE {
            return (lag + 1).max(MIN_LEN);
        }
        lag = (lag * 5).div_ceil(4).max(lag + 1);
    }
    maxrows
}

/// The positions (in the support) of each equation's terms, for library models: parameter k
/// belongs to equation k / nf. None for templates (a parameter may enter several equations).
fn equation_of(prob: &Problem, k: usize) -> Option<usize> {
    prob.model.is_library().then(|| k / prob.model.nfeatures())
}

/// The best candidate by score.
fn best_index(scores: &[f64]) -> Option<usize> {
    let b = scores.iter().copied().fold(f64::INFINITY, f64::min);
    b.is_finite()
        .then(|| scores.iter().position(|s| s.total_cmp(&b).is_eq()))
        .flatten()
}

/// The refitted candidates of one discovery, their scores and the noise they are scored in.
pub struct Pool {
    pub cands: Vec<Candidate>,
    pub var: Vec<f64>,
    pub scores: Vec<f64>,
}

impl Pool {
    fn contains(&self, active: &[usize]) -> bool {
        self.cands.iter().any(|c| c.support.active == active)
    }

    fn rescore(&mut self, scorer: &Scorer) {
        self.var = scorer.noise_variance(&self.cands);
        self.scores = self
            .cands
            .iter()
            .map(|c| scorer.score(c, &self.var))
            .collect();
    }

    fn add(&mut self, scorer: &Scorer, c: Candidate) -> f64 {
        let s = scorer.score(&c, &self.var);
        self.cands.push(c);
        self.scores.push(s);
        s
    }

    pub fn best(&self) -> Option<usize> {
        best_index(&self.scores)
    }

    /// The loss above which a refit is hopeless: ABANDON_RATIO times the best candidate's.
    fn abandon_level(&self) -> f64 {
        ABANDON_RATIO
            * self
                .cands
                .iter()
                .filter(|c| c.failures == 0)
                .map(|c| c.loss)
                .fold(f64::INFINITY, f64::min)
    }
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
/// support it has in any other candidate; a swap that lowers the score is kept.
pub fn swap_equations(scorer: &Scorer, pool: &mut Pool, control: &Control) {
    let prob = &scorer.prob;
    if !prob.model.is_library() {
        return;
    }
    let n = prob.nstates();
    for _ in 0..SWAP_SWEEPS {
        let mut improved = false;
        for i in 0..n {
            let Some(b) = pool.best() else { return };
            let best = pool.cands[b].support.clone();
            let best_score = pool.scores[b];
            // Alternatives for equation i: its distinct supports among the candidates.
            let mut alts: Vec<Support> = Vec::new();
            for c in &pool.cands {
                let part = restrict(prob, &c.support, i);
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
                let c = scorer.refit(&trial, f64::NAN, pool.abandon_level(), control);
                let s = pool.add(scorer, c);
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
fn restrict(prob: &Problem, s: &Support, i: usize) -> Support {
    let drop: Vec<bool> = s
        .active
        .iter()
        .map(|&k| equation_of(prob, k) != Some(i))
        .collect();
    s.without(&drop)
}

/// Support `s` with equation `i`'s part replaced by `part`, in parameter order.
fn combine(prob: &Problem, s: &Support, i: usize, part: &Support) -> Support {
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

/// Stepwise search from the best candidate: one Gauss–Newton pass over every free parameter
/// (the inactive ones at zero) predicts what adding each absent term would gain (its score
/// statistic, g²/2 over the Schur complement) and what removing each present one would cost
/// (its Wald statistic); the best move that the criterion's price per term favours is refitted
/// and kept when it lowers the score, until no move does.
pub fn stepwise(scorer: &Scorer, pool: &mut Pool, control: &Control) {
    let Some(b) = pool.best() else { return };
    let (s, score) = (pool.cands[b].support.clone(), pool.scores[b]);
    stepwise_from(scorer, pool, s, score, control);
}

/// Forward selection: the stepwise search from the support with no sparse term (another path
/// than elimination from the densest, which collinear libraries can lead astray).
pub fn forward(scorer: &Scorer, pool: &mut Pool, control: &Control) {
    let model = scorer.prob.model;
    let keep: Vec<usize> = scorer
        .free
        .iter()
        .copied()
        .filter(|&k| !model.params[k].sparse)
        .collect();
    let start = Support::new(keep.clone(), vec![0.0; keep.len()]);
    let (s, score) = match pool
        .cands
        .iter()
        .position(|c| c.support.active == start.active)
    {
        Some(i) => (pool.cands[i].support.clone(), pool.scores[i]),
        None => {
            let c = scorer.refit(&start, f64::NAN, f64::INFINITY, control);
            let s = c.support.clone();
            let sc = pool.add(scorer, c);
            (s, sc)
        }
    };
    stepwise_from(scorer, pool, s, score, control);
}

/// The stepwise search from support `s` (scored `score`).
fn stepwise_from(
    scorer: &Scorer,
    pool: &mut Pool,
    mut s: Support,
    mut score: f64,
    control: &Control,
) {
    let model = scorer.prob.model;
    let free = &scorer.free;
    for _ in 0..2 * free.len() {
        if control.cancelled() {
            return;
        }
        let inside: Vec<usize> = (0..free.len())
            .filter(|&k| s.active.contains(&free[k]))
            .collect();
        let mut q_all = vec![0.0; free.len()];
        for &k in &inside {
            if let Some(j) = s.active.iter().position(|&a| a == free[k]) {
                q_all[k] = s.q[j];
            }
        }
        let ev = Evaluator::new(
            &scorer.prob,
            free.clone(),
            scorer.base.clone(),
            scorer.prob.all_pieces(),
        );
        let gn = ev.gauss_newton(&q_all);
        let price =
            scorer.penalty() * scorer.mean_variance(&pool.var) / scorer.total_obs().max(1.0);
        let Some((add, remove)) =
            best_moves(&gn, &q_all, &inside, |k| model.params[free[k]].sparse)
        else {
            return;
        };
        // The move that the criterion favours most: an addition gains (gain − price), a
        // removal (price − cost).
        let by_add = add.as_ref().map_or(f64::NEG_INFINITY, |p| p.delta - price);
        let by_remove = remove
            .as_ref()
            .map_or(f64::NEG_INFINITY, |p| price - p.delta);
        let chosen = if by_add > 0.0 && by_add >= by_remove {
            add
        } else if by_remove > 0.0 {
            remove
        } else {
            None
        };
        let Some(mv) = chosen else { return };
        // The new support with the values the quadratic model predicts.
        let mut members: Vec<usize> = inside.clone();
        match members.iter().position(|&k| k == mv.k) {
            Some(i) => {
                members.remove(i);
            }
            None => members.push(mv.k),
        }
        members.sort_unstable_by_key(|&k| free[k]);
        let trial = Support::new(
            members.iter().map(|&k| free[k]).collect(),
            members.iter().map(|&k| mv.values[k]).collect(),
        );
        let (next, sc) = match pool
            .cands
            .iter()
            .position(|c| c.support.active == trial.active)
        {
            Some(i) => (pool.cands[i].support.clone(), pool.scores[i]),
            None => {
                let c = scorer.refit(&trial, f64::NAN, pool.abandon_level(), control);
                let next = c.support.clone();
                (next, pool.add(scorer, c))
            }
        };
        tracing::debug!(terms = next.len(), score = sc, from = score, "stepwise");
        if sc >= score {
            return;
        }
        (s, score) = (next, sc);
    }
}

/// A move of the stepwise search: the free parameter it adds or removes, its predicted effect
/// on the loss (a gain for an addition, a cost for a removal), and the values of every free
/// parameter the quadratic model predicts after it (zero outside the new support).
struct Proposal {
    k: usize,
    delta: f64,
    values: Vec<f64>,
}

/// The most promising addition and removal at a Gauss–Newton pass over every free parameter
/// (values `q_all`, zero for the absent ones): the absent parameter whose addition is
/// predicted to lower the loss most, and the present removable one whose removal is predicted
/// to raise it least, each with the values the others take (collinear terms compensate).
fn best_moves(
    gn: &crate::evaluate::GaussNewton,
    q_all: &[f64],
    inside: &[usize],
    removable: impl Fn(usize) -> bool,
) -> Option<(Option<Proposal>, Option<Proposal>)> {
    use nalgebra::{DMatrix, DVector};
    let nf = q_all.len();
    let m = inside.len();
    let h = |a: usize, b: usize| gn.h[a * nf + b];
    let hss = DMatrix::from_fn(m, m, |a, b| h(inside[a], inside[b]));
    let ridge = (0..m).map(|i| hss[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
    let hinv = (hss + DMatrix::identity(m, m) * ridge).try_inverse()?;
    let mut add: Option<Proposal> = None;
    for k in (0..nf).filter(|k| !inside.contains(k)) {
        let hks = DVector::from_fn(m, |a, _| h(k, inside[a]));
        let w = &hinv * &hks;
        let schur = h(k, k) - hks.dot(&w);
        // The present terms' gradient is about zero at a fitted support, so the gain of
        // adding k with the others re-optimised is g_k²/2 over the Schur complement.
        let gain = 0.5 * gn.grad[k] * gn.grad[k] / schur;
        if schur > 0.0 && gain.is_finite() && add.as_ref().is_none_or(|p| gain > p.delta) {
            let step = -gn.grad[k] / schur;
            let mut values = q_all.to_vec();
            values[k] = step;
            for (a, &i) in inside.iter().enumerate() {
                values[i] -= w[a] * step;
            }
            add = Some(Proposal {
                k,
                delta: gain,
                values,
            });
        }
    }
    let mut remove: Option<Proposal> = None;
    for (a, &k) in inside.iter().enumerate() {
        if !removable(k) {
            continue;
        }
        let cost = 0.5 * q_all[k] * q_all[k] / hinv[(a, a)].max(f64::MIN_POSITIVE);
        if cost.is_finite() && remove.as_ref().is_none_or(|p| cost < p.delta) {
            let ratio = q_all[k] / hinv[(a, a)];
            let mut values = q_all.to_vec();
            for (b, &i) in inside.iter().enumerate() {
                values[i] -= hinv[(b, a)] * ratio;
            }
            values[k] = 0.0;
            remove = Some(Proposal {
                k,
                delta: cost,
                values,
            });
        }
    }
    Some((add, remove))
}

/// The data as support `s` reconstructs them on the scorer's pieces (each from its fitted
/// start): the model's value at every observed value (user units), the rest as it was. None
/// when a piece fails.
fn reconstructed(scorer: &Scorer, s: &Support, tables: &[Table]) -> Option<Vec<Table>> {
    let prob = &scorer.prob;
    let n = prob.nstates();
    let ev = Evaluator::new(
        prob,
        s.active.clone(),
        scorer.base.clone(),
        prob.all_pieces(),
    );
    let mut out = tables.to_vec();
    for (r, pc) in ev.residuals(&s.q).iter().zip(&prob.pieces) {
        let r = r.as_ref()?;
        let ex = &prob.exps[pc.exp];
        for k in 0..pc.len {
            for i in 0..n {
                let (y, e) = (ex.y[(pc.start + k) * n + i], r[k * n + i]);
                if y.is_finite() && e.is_finite() {
                    out[pc.exp].values[i][pc.start + k] = (y + e) * prob.scales.sx[i];
                }
            }
        }
    }
    Some(out)
}

/// Screens the best candidate's reconstruction of the data and adds every new support, refitted
/// and scored, to the pool; returns how many were added.
fn screen_reconstruction(
    scorer: &Scorer,
    pool: &mut Pool,
    (model, spec, tables): (&CompiledModel, &Spec, &[Table]),
    windows: &[usize],
    control: &Control,
) -> usize {
    let Some(b) = pool.best() else { return 0 };
    let Some(recon) = reconstructed(scorer, &pool.cands[b].support, tables) else {
        return 0;
    };
    let Ok(rp) = Problem::new(model, spec, &recon, scorer.prob.solve_opts) else {
        return 0;
    };
    let Some(reg) = Regression::new(&rp, &scorer.base, &scorer.free, windows) else {
        return 0;
    };
    let fresh: Vec<(Support, f64)> = screen(&reg, &scorer.free)
        .into_iter()
        .filter(|(s, _)| !pool.contains(&s.active))
        .map(|(s, gamma)| {
            // Values move between problems in user units (scales depend on the data).
            let p = rp.scales.user(&scorer.base, &s.active, &s.q);
            let q = scorer.prob.scales.normalised(&p, &s.active);
            (s.with_values(q), gamma)
        })
        .collect();
    tracing::info!(
        supports = fresh.len(),
        "screen of the best model's reconstruction"
    );
    let level = pool.abandon_level();
    for (s, gamma) in &fresh {
        if control.cancelled() {
            break;
        }
        let c = scorer.refit(s, *gamma, level, control);
        pool.add(scorer, c);
    }
    pool.rescore(scorer);
    fresh.len()
}

/// More candidates at one horizon: backward elimination from the richest candidate, swaps of
/// single equations' supports (at the last horizon) and a stepwise search from the best, then
/// every candidate scored again.
fn explore_level(scorer: &Scorer, pool: &mut Pool, last: bool, control: &Control) {
    eliminate_from_richest(scorer, pool, control);
    if last {
        swap_equations(scorer, pool, control);
    }
    pool.rescore(scorer);
    stepwise(scorer, pool, control);
    forward(scorer, pool, control);
    pool.rescore(scorer);
    let model = scorer.prob.model;
    for (c, s) in pool.cands.iter().zip(&pool.scores) {
        let names: Vec<&str> = c
            .support
            .active
            .iter()
            .map(|&k| model.params[k].name.as_str())
            .collect();
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

/// What discovery chose: the pieces, the support (refitted on them) and the path of every
/// candidate scored.
pub struct Discovered {
    pub layout: Layout,
    /// Coefficients the candidates were drawn from.
    pub candidates: usize,
    /// How the candidates were scored.
    pub selection: String,
    /// Linear relations among the states that hold on the data (each eliminated one state
    /// from the library).
    pub relations: Vec<Relation>,
    /// Piece failures met (and penalised) while refitting candidates.
    pub failures_seen: usize,
    /// The chosen support's active parameters and every parameter's value in user units (the
    /// normalised values of one problem mean nothing in another: scales depend on the data).
    pub chosen: (Vec<usize>, Vec<f64>),
    pub path: Vec<PathEntry>,
}

/// Half-widths (points on each side) of the local quadratic smoothers whose data the screen
/// also regresses on, when the data are noisy (noise above this many times the floor).
const SMOOTH_HALF_WIDTHS: [usize; 3] = [3, 8, 20];
const SMOOTH_ABOVE_FLOOR: f64 = 10.0;
/// Regression windows (data intervals) of the screen.
const SCREEN_WINDOWS: [usize; 3] = [1, 4, 16];
/// Between horizon levels, candidates whose score exceeds the best by more than this many
/// units of the per-term penalty are dropped.
const PRUNE_MARGIN: f64 = 30.0;
/// A horizon is not lengthened to where the best model's flow amplifies a change of a piece's
/// start by more than this factor (beyond the growth of the state itself) by its end.
const MAX_AMPLIFICATION: f64 = 30.0;
/// The next horizon fits distinctly better when its best residual variance is below this
/// fraction of this horizon's.
const BETTER_NEXT: f64 = 0.95;
/// A choice is decisive when the runner-up's score exceeds the best's by this much (a BIC
/// difference of 10: very strong evidence).
const DECISIVE: f64 = 10.0;
/// The horizon grows at most by this factor per level.
const LADDER_STEP: usize = 4;
/// The first horizon is this fraction of the signal length (short pieces: a nearly convex
/// loss for the refits from the regression values).
const FIRST_LEVEL_SHARE: usize = 4;

/// Discovery of an affine model by the integral-form screen, refits that follow the horizon as
/// it lengthens, and the information criterion; None when the model is not affine in its
/// parameters (or the spec asks for no regression), so that the L1 path applies.
pub fn run(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
    control: &Control,
) -> Result<Option<Discovered>, FitError> {
    if spec.fit.init != InitKind::Regression {
        return Ok(None);
    }
    let t0 = std::time::Instant::now();
    let opts = solve_options(spec);
    // Large data are explored on every k-th row (the whole time span, coarser); the chosen
    // support is refitted on all of them.
    let k = match spec.fit.segment {
        Segment::Points(_) => 1,
        _ => thinning(tables),
    };
    let thinned;
    let tables = if k > 1 {
        thinned = thin(tables, k);
        tracing::info!(every = k, "large data: exploring on every k-th row");
        &thinned[..]
    } else {
        tables
    };
    let screen_prob = Problem::new(model, spec, tables, opts)?;
    if screen_prob.starts_only {
        return Ok(None);
    }
    let mut base = screen_prob.init.clone();
    for &k in &screen_prob.free {
        base[k] = 0.0;
    }
    let maxrows = screen_prob.exps.iter().map(|e| e.rows).max().unwrap_or(0);
    let var_data = data_variance(tables, &screen_prob, opts.rtol);
    // Conservation laws make the library singular: eliminate one state of each from it.
    let relations = relations(&screen_prob, &var_data);
    let free = reduced_free(model, &screen_prob.free, &relations);
    for r in &relations {
        tracing::info!(relation = %r.describe(&model.states), "relation among the states");
    }
    let windows: Vec<usize> = SCREEN_WINDOWS
        .iter()
        .copied()
        .filter(|&w| w == 1 || 4 * w < maxrows)
        .collect();
    let Some(reg) = Regression::new(&screen_prob, &base, &free, &windows) else {
        return Ok(None);
    };
    let mut screened = screen(&reg, &free);
    // Under noise the regression on the raw data is noisy too: the screen runs again on the
    // data smoothed by local quadratics of a few widths, for more candidate supports (each
    // judged by its trajectory refit like the others).
    let noisy = var_data
        .iter()
        .any(|&v| v.sqrt() > SMOOTH_ABOVE_FLOOR * FLOOR_PER_RTOL * opts.rtol);
    if noisy {
        for half in SMOOTH_HALF_WIDTHS {
            if 4 * half >= maxrows {
                continue;
            }
            let smooth = smoothed_tables(tables, half);
            let Ok(sp) = Problem::new(model, spec, &smooth, opts) else {
                continue;
            };
            let Some(sreg) = Regression::new(&sp, &base, &free, &windows) else {
                continue;
            };
            for (s, gamma) in screen(&sreg, &free) {
                if screened.iter().any(|(c, _)| c.active == s.active) {
                    continue;
                }
                // Values move between problems in user units (scales depend on the data).
                let p = sp.scales.user(&base, &s.active, &s.q);
                let q = screen_prob.scales.normalised(&p, &s.active);
                screened.push((s.with_values(q), gamma));
            }
        }
        screened.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    }
    // The pieces the user fixed (`segment = N`); `"whole"` climbs the ladder of tiles (a
    // continuation from short pieces) up to whole experiments whatever their fit.
    let fixed_layout = match (spec.fit.segment, screen_prob.layout) {
        (Segment::Points(_), l) => Some(l),
        _ => None,
    };
    let to_whole = screen_prob.layout == Layout::Whole;
    let lmin = signal_length(&screen_prob, &var_data).min(maxrows);
    tracing::info!(
        supports = screened.len(),
        lmin,
        seconds = t0.elapsed().as_secs_f64(),
        "regression screen"
    );
    let layout_of = |len: usize| match fixed_layout {
        Some(l) => l,
        None if to_whole && len >= maxrows => Layout::Whole,
        None => Layout::Tiles { len: len.max(2) },
    };
    let mut len = (lmin / FIRST_LEVEL_SHARE).max(MIN_LEN).min(maxrows);
    let prob = Problem::with_layout(model, spec, tables, opts, Some(layout_of(len)))?;
    let mut scorer = Scorer::new(prob, base.clone(), &free);
    let mut pool = refit_all(&scorer, &screened, control);
    explore_level(&scorer, &mut pool, false, control);
    let mut failures = 0;
    // The horizon lengthens while the best models keep fitting the data at the noise level.
    while fixed_layout.is_none() && len < maxrows && !control.cancelled() {
        let Some(b) = pool.best() else { break };
        let next = (LADDER_STEP * len).min(maxrows);
        let next_prob = Problem::with_layout(model, spec, tables, opts, Some(layout_of(next)))?;
        // A flow that amplifies a change of the start too much over a piece (chaos) makes the
        // refits on it a search among many local minima: the horizon stops short of that.
        // Measured on the best model and, while it amplifies, on its close contenders (within
        // POLISH_MARGIN penalties): a wrong model with a wild flow must not keep the horizon
        // short when a contender with a tame one fits nearly as well.
        let amp_of = |c: usize| {
            let s = &pool.cands[c].support;
            Evaluator::new(
                &next_prob,
                s.active.clone(),
                base.clone(),
                next_prob.all_pieces(),
            )
            .amplification(&s.q)
        };
        let mut amp = amp_of(b);
        let limit = pool.scores[b] + POLISH_MARGIN * scorer.penalty();
        let mut contenders: Vec<usize> = (0..pool.cands.len())
            .filter(|&c| c != b && pool.scores[c] <= limit)
            .collect();
        contenders.sort_by(|&x, &y| pool.scores[x].total_cmp(&pool.scores[y]));
        for c in contenders {
            if amp < MAX_AMPLIFICATION {
                break;
            }
            amp = amp.min(amp_of(c));
        }
        let amplifies = amp.partial_cmp(&MAX_AMPLIFICATION) != Some(std::cmp::Ordering::Less);
        if !to_whole && amplifies {
            tracing::info!(
                len,
                next,
                amplification = amp,
                "horizon kept: the flow amplifies too much"
            );
            break;
        }
        let next_scorer = Scorer::new(next_prob, base.clone(), &free);
        let best = pool.scores[b];
        let mut order: Vec<usize> = (0..pool.cands.len())
            .filter(|&i| pool.scores[i] <= best + PRUNE_MARGIN * scorer.penalty())
            .collect();
        order.sort_by(|&a, &b| pool.scores[a].total_cmp(&pool.scores[b]));
        let keep: Vec<(Support, f64)> = order
            .iter()
            .map(|&i| (pool.cands[i].support.clone(), pool.cands[i].gamma))
            .collect();
        let next_pool = refit_all(&next_scorer, &keep, control);
        let (v0, v1) = (
            scorer.mean_variance(&pool.var),
            next_scorer.mean_variance(&next_pool.var),
        );
        // The best model of this horizon should still fit the data at the next one; when it
        // does not (a chaotic flow loses even a good model's basin as pieces lengthen), the
        // next horizon is taken only if the choice here was not decisive (a wrong model can
        // win on short pieces, where the dynamics barely show).
        let mean_var = |sc: &Scorer, c: &Candidate| sc.mean_variance(&sc.variance(c));
        let best_survives = next_pool
            .cands
            .iter()
            .find(|c| c.support.active == pool.cands[b].support.active)
            .is_some_and(|c| {
                mean_var(&next_scorer, c) <= TRACK_GROWTH * mean_var(&scorer, &pool.cands[b])
            });
        let runner_up = (0..pool.cands.len())
            .filter(|&i| i != b)
            .map(|i| pool.scores[i])
            .fold(f64::INFINITY, f64::min);
        let decisive = runner_up - pool.scores[b] > DECISIVE;
        // A candidate fitting distinctly better on the longer pieces also says the choice here
        // was wrong.
        let better_next = v1 < BETTER_NEXT * v0;
        let tracks = v1 <= TRACK_GROWTH * v0
            && next_pool.best().is_some()
            && (best_survives || !decisive || better_next);
        tracing::info!(
            len,
            next,
            amplification = amp,
            var = v0,
            next_var = v1,
            best_survives,
            decisive,
            seconds = t0.elapsed().as_secs_f64(),
            "horizon"
        );
        if !to_whole && !tracks {
            failures += next_scorer
                .failures_seen
                .load(std::sync::atomic::Ordering::Relaxed);
            break;
        }
        failures += scorer
            .failures_seen
            .load(std::sync::atomic::Ordering::Relaxed);
        (len, scorer, pool) = (next, next_scorer, next_pool);
        explore_level(&scorer, &mut pool, false, control);
    }
    explore_level(&scorer, &mut pool, true, control);
    // Model-based denoising: the best candidate reconstructs the data along its trajectories
    // (which follow the dynamics, not the noise); the screen regresses on that reconstruction
    // for supports the noisy data hid. Each is judged on the real data like the others.
    if noisy && !control.cancelled() {
        let added =
            screen_reconstruction(&scorer, &mut pool, (model, spec, tables), &windows, control);
        if added > 0 {
            explore_level(&scorer, &mut pool, true, control);
        }
    }
    // The close contenders refitted to a tighter tolerance (solver and optimiser) and scored
    // again among themselves: the choice between them rests on a few χ² units.
    let close: Vec<(Support, f64)> = match pool.best() {
        Some(b) => {
            let limit = pool.scores[b] + POLISH_MARGIN * scorer.penalty();
            let mut order: Vec<usize> = (0..pool.cands.len())
                .filter(|&i| pool.scores[i] <= limit)
                .collect();
            order.sort_by(|&a, &b| pool.scores[a].total_cmp(&pool.scores[b]));
            order
                .iter()
                .map(|&i| (pool.cands[i].support.clone(), pool.cands[i].gamma))
                .collect()
        }
        None => Vec::new(),
    };
    let mut chosen = pool.best();
    if close.len() > 1 && !control.cancelled() {
        let tight = odenet_solve::SolveOptions {
            rtol: opts.rtol * POLISH_TOL,
            atol: opts.atol * POLISH_TOL,
            ..opts
        };
        let polish = Scorer::new(
            Problem::with_layout(model, spec, tables, tight, Some(scorer.prob.layout))?,
            base.clone(),
            &free,
        )
        .with_rel_tol(REFIT_REL_TOL * POLISH_TOL);
        let polished = refit_all(&polish, &close, control);
        for (c, s) in polished.cands.iter().zip(&polished.scores) {
            tracing::info!(terms = c.support.len(), score = s, "polished");
        }
        // A polished refit that lands on a worse fit than before (a long chaotic piece, where
        // the tighter solve leads elsewhere) is not trusted; the choice is made among the others.
        let consistent: Vec<(usize, usize)> = polished
            .cands
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let j = pool
                    .cands
                    .iter()
                    .position(|p| p.support.active == c.support.active)?;
                (scorer.score(c, &pool.var) <= pool.scores[j] + POLISH_SLACK).then_some((i, j))
            })
            .collect();
        if let Some(&(i, j)) = consistent
            .iter()
            .min_by(|a, b| polished.scores[a.0].total_cmp(&polished.scores[b.0]))
        {
            pool.cands[j].support = polished.cands[i].support.clone();
            chosen = Some(j);
        }
    }

    for (c, s) in pool.cands.iter().zip(&pool.scores) {
        let names: Vec<&str> = c
            .support
            .active
            .iter()
            .map(|&k| model.params[k].name.as_str())
            .collect();
        tracing::info!(terms = c.support.len(), score = s, rss = ?c.rss, failures = c.failures, ?names, "candidate");
    }
    tracing::info!(len, seconds = t0.elapsed().as_secs_f64(), "discovery done");
    let path = path_entries(&scorer, &pool, chosen);
    let chosen = match chosen {
        Some(i) => pool.cands[i].support.clone(),
        None => screened.last().map(|(s, _)| s.clone()).unwrap_or_default(),
    };
    let chosen = (
        chosen.active.clone(),
        scorer.prob.scales.user(&base, &chosen.active, &chosen.q),
    );
    Ok(Some(Discovered {
        candidates: free.len(),
        selection: format!(
            "the lowest BIC: the residuals over pieces of the chosen horizon, in units of the noise \
             variance they imply, plus ln N = {:.1} per term",
            scorer.penalty()
        ),
        relations,
        failures_seen: failures
            + scorer
                .failures_seen
                .load(std::sync::atomic::Ordering::Relaxed),
        layout: match scorer.prob.layout {
            Layout::Tiles { len } if k > 1 => Layout::Tiles {
                len: (len - 1) * k + 1,
            },
            l => l,
        },
        chosen,
        path,
    }))
}

/// The data's noise variance per state (scaled units), floored by the integrator's accuracy.
fn data_variance(tables: &[Table], prob: &Problem, rtol: f64) -> Vec<f64> {
    let floor = FLOOR_PER_RTOL * rtol;
    noise_levels(tables, prob.nstates())
        .iter()
        .zip(&prob.scales.sx)
        .map(|(s, sx)| {
            let v = (s / sx).max(floor);
            if v.is_finite() { v * v } else { floor * floor }
        })
        .collect()
}

/// Rows (over every experiment) the exploration works on at most.
const EXPLORE_ROWS: usize = 20_000;

/// Every how many rows the exploration keeps: 1 up to EXPLORE_ROWS rows in all.
fn thinning(tables: &[Table]) -> usize {
    let rows: usize = tables.iter().map(|t| t.times.len()).sum();
    rows.div_ceil(EXPLORE_ROWS).max(1)
}

/// Every `k`-th row of each table (the first always).
fn thin(tables: &[Table], k: usize) -> Vec<Table> {
    tables
        .iter()
        .map(|t| Table {
            file: t.file.clone(),
            times: t.times.iter().step_by(k).copied().collect(),
            values: t
                .values
                .iter()
                .map(|col| col.iter().step_by(k).copied().collect())
                .collect(),
        })
        .collect()
}
