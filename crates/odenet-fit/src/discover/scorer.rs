//! A candidate support refitted on the tiles of one horizon, and the score that compares
//! candidates: BIC in the noise variance the best-fitting candidate implies.

use crate::evaluate::Evaluator;
use crate::fit::Control;
use crate::optimize::{Terms, levenberg_marquardt};
use crate::problem::Problem;
use crate::support::Support;

/// The noise floor in scaled units per unit of the integrator's relative tolerance.
pub(super) const FLOOR_PER_RTOL: f64 = 10.0;

/// Levenberg–Marquardt iterations of a candidate's refit, and its relative tolerance (the score
/// needs the residual sum of squares to a small fraction of one noise variance).
pub(super) const REFIT_ITERS: u64 = 60;
pub(super) const REFIT_REL_TOL: f64 = 1e-5;

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

impl Candidate {
    /// The names of its active parameters.
    pub fn names<'a>(&self, model: &'a crate::model::CompiledModel) -> Vec<&'a str> {
        self.support
            .active
            .iter()
            .map(|&k| model.params[k].name.as_str())
            .collect()
    }
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
    pub(super) rel_tol: f64,
    /// The parameters candidates are drawn from (the library less eliminated states).
    pub(super) free: Vec<usize>,
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
            .with_stop(self.rel_tol, abandon_above.max(self.abandon_floor()));
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
        // The last evaluation's sums when it made them (at the returned point), else one more.
        let (rss, failed) = if r.rss.len() == self.prob.nstates() {
            (r.rss, r.failures)
        } else {
            self.rss(&ev, &support.q)
        };
        Candidate {
            support,
            rss,
            failures: r.failures.max(failed),
            loss: r.loss,
            gamma,
        }
    }

    /// The residual sum of squares per state at `q`, and the pieces that failed.
    pub(super) fn rss(&self, ev: &Evaluator, q: &[f64]) -> (Vec<f64>, usize) {
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
    pub(super) fn variance(&self, c: &Candidate) -> Vec<f64> {
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
    pub(super) fn chi2(&self, rss: &[f64], var: &[f64]) -> f64 {
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

    /// The lowest loss at which a refit may be abandoned: losses within a few noise floors of
    /// each other are not "far worse" (on clean data the best loss is near round-off, and a
    /// ratio to it would abandon the truth).
    fn abandon_floor(&self) -> f64 {
        super::pool::ABANDON_RATIO * self.floor * self.floor
    }

    /// The criterion's price of one parameter.
    pub fn penalty(&self) -> f64 {
        self.total_obs().max(2.0).ln()
    }
}
