//! The fit as a whole (DESIGN.md "Algorithm"), orchestration only: the initial guess, the
//! exploration of the sparsity path from one or several starts (`explore`), the final debiased
//! refit, learned noise, standard errors and the result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use odenet_spec::{Initial, Spec, Table};

use crate::diagnose::diagnose;
use crate::evaluate::Evaluator;
use crate::model::{CompiledModel, ModelKind};
use crate::noise_level::remove_outliers;
use crate::optimize::{L1Options, OptResult, Terms, levenberg_marquardt, minimize};
use crate::path::{prune_set, spread};
use crate::problem::Problem;
use crate::result::{FitError, FitResult, GlobalSearch, PathEntry, Progress, Trajectory};
use crate::rng::Rng;
use crate::support::Support;
use crate::uncertainty::standard_errors;
use crate::{noise, solve_options};

/// With fewer pieces than this nothing is held out (one held-out experiment says little); the
/// supports are then scored on the training pieces with the BIC penalty.
const MIN_HOLDOUT_PIECES: usize = 20;
/// When the first L1 round barely moves the regression guess, the later rounds get 1/this of
/// the iteration budget.
const CLOSE_ROUND_SHARE: usize = 4;
/// The elimination's Gauss–Newton matrices (which only order the candidates for removal) use at
/// most this many training pieces; refits, held-out scoring and the final refit use all.
const EXPLORE_PIECES: usize = 800;
/// Sequential thresholding rounds of the regression guess.
pub(crate) const REGRESSION_ROUNDS: usize = 6;

/// How a running fit reports and is stopped.
pub struct Control<'a> {
    pub progress: &'a (dyn Fn(Progress) + Sync),
    pub cancel: &'a AtomicBool,
    /// How the L1 rounds run (the default, except in the benchmark of the L1 step).
    pub l1: L1Options<'a>,
}

impl Control<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// The state of one fit shared by its stages: the problem, the split into training and held-out
/// pieces, the values of inactive parameters and the optimiser's budget.
pub(crate) struct Fitter<'p, 'm> {
    pub prob: &'p Problem<'m>,
    pub spec: &'p Spec,
    pub control: &'p Control<'p>,
    /// Full parameter vector, user units: a fixed parameter's value, zero for a pruned one.
    pub base: Vec<f64>,
    pub train: Vec<usize>,
    pub holdout: Vec<usize>,
    /// The training pieces the elimination order is computed on (evenly spread, at most
    /// EXPLORE_PIECES).
    pub explore: Vec<usize>,
    pub loss_ref: f64,
    pub failures_seen: usize,
    /// The first round of a start with no regression guess: let it converge.
    pub first_round: bool,
    /// The first L1 round barely moved the regression guess: later rounds get a reduced
    /// budget (CLOSE_ROUND_SHARE of it).
    pub close: bool,
    /// The global stage's starts and how many reached the best loss (hidden states).
    pub confidence: Option<GlobalSearch>,
    /// Hidden states known only at experiment starts: where the last fit of this exploration
    /// profiled the fitted initial values (pieces × n, scaled), where the next evaluators start
    /// their profiles — one round's minimum is the next round's start, and a fitted initial
    /// value profiled afresh from the problem's start can fall into another basin.
    pub warm: Option<Vec<f64>>,
    /// The price of one parameter when supports are scored on the training labels
    /// (`select::term_price` among the template's sparse candidates; the pieces are fixed when
    /// the fitter is made, so it is computed once).
    pub price: f64,
    /// Routes the stepwise search has refined (hidden states): the path's choice it started
    /// from and what it reached. A later route whose path ends on the same choice is given the
    /// same result instead of the same search again (`hidden::stepwise::refine`).
    pub refined: Vec<(crate::support::Support, f64, crate::explore::Exploration)>,
    /// The stepwise search's refits by their exact inputs (hidden states; a move met again
    /// from the same fit is not refitted).
    pub memo: crate::hidden::stepwise::Memo,
}

impl<'p, 'm> Fitter<'p, 'm> {
    pub(crate) fn new(prob: &'p Problem<'m>, spec: &'p Spec, control: &'p Control<'p>) -> Self {
        let (train, holdout) = split_holdout(prob.pieces.len(), spec.fit.holdout, spec.fit.seed);
        let mut base = prob.init.clone();
        for &k in &prob.free {
            base[k] = 0.0;
        }
        let labels = prob.label_count(&train).max(1) as f64;
        let price = crate::select::term_price(labels, sparse_candidates(prob));
        Fitter {
            prob,
            spec,
            control,
            base,
            explore: spread(&train, EXPLORE_PIECES),
            train,
            holdout,
            loss_ref: 1.0,
            failures_seen: 0,
            first_round: false,
            close: false,
            confidence: None,
            warm: None,
            price,
            refined: Vec::new(),
            memo: Default::default(),
        }
    }

    /// The full parameter vector in user units for a support.
    pub fn user(&self, s: &Support) -> Vec<f64> {
        self.prob.scales.user(&self.base, &s.active, &s.q)
    }

    pub fn evaluator(&self, active: &[usize], pieces: &[usize]) -> Evaluator<'p, 'm> {
        let ev = Evaluator::new(
            self.prob,
            active.to_vec(),
            self.base.clone(),
            pieces.to_vec(),
        );
        match &self.warm {
            Some(w) => ev.with_warm(w),
            None => ev,
        }
    }

    /// Minimises the loss of support `s` over `pieces` with L1 weight `mu` (L-BFGS), or without
    /// L1 (Levenberg–Marquardt) when `mu` is zero.
    pub fn optimize(&mut self, s: &Support, mu: f64, pieces: &[usize]) -> OptResult {
        // L1 rounds only shape the path: a bounded number of iterations. Debiased refits
        // (μ = 0) decide the answer: allow more.
        let budget = self.spec.fit.max_iters;
        let iters = if mu <= 0.0 {
            4 * budget
        } else if self.first_round {
            10 * budget
        } else if self.close {
            (budget / CLOSE_ROUND_SHARE).max(1)
        } else {
            budget
        } as u64;
        let ev = self.evaluator(&s.active, pieces);
        let terms = Terms::new(self.prob, &s.active, mu, self.loss_ref)
            .with_cancel(self.control.cancel)
            .with_l1(self.control.l1);
        let t = Instant::now();
        let mut r = if mu > 0.0 {
            minimize(&ev, &terms, s.q.clone(), iters)
        } else {
            levenberg_marquardt(&ev, &terms, s.q.clone(), iters)
        };
        // A first round whose line search gave up early (a kink from failed pieces, or bounds)
        // continues with Levenberg–Marquardt, which does not need a descent line search.
        if self.first_round
            && r.iters < 5
            && matches!(r.reason, crate::optimize::StopReason::LineSearch(_))
        {
            let lm = levenberg_marquardt(&ev, &terms, r.q.clone(), iters);
            if lm.loss < r.loss {
                r = lm;
            }
        }
        tracing::debug!(
            active = s.len(),
            mu,
            pieces = pieces.len(),
            iters = r.iters,
            evals = ev.evals.load(Ordering::Relaxed),
            seconds = t.elapsed().as_secs_f64(),
            loss = r.loss,
            reason = %r.reason,
            "optimize"
        );
        self.failures_seen += r.failures_met;
        if self.prob.starts_only && r.loss.is_finite() && r.failures == 0 {
            let mut w = self.warm.take().unwrap_or_default();
            ev.save_warm(&mut w);
            self.warm = Some(w);
        }
        r
    }

    /// The loss of support `s` over `pieces` (NaN for none).
    pub fn loss(&self, s: &Support, pieces: &[usize]) -> f64 {
        if pieces.is_empty() {
            return f64::NAN;
        }
        self.evaluator(&s.active, pieces).eval(&s.q, false).loss
    }

    /// Active sparse parameters to prune at threshold γ.
    pub fn prune_set(&self, s: &Support, gamma: f64) -> Vec<bool> {
        prune_set(
            self.prob,
            &self.base,
            &s.active,
            &s.q,
            gamma,
            self.spec.fit.prune,
        )
    }
}

/// The number of sparse free parameters (the candidate terms of a template).
pub(crate) fn sparse_candidates(prob: &Problem) -> usize {
    prob.free
        .iter()
        .filter(|&&k| prob.model.params[k].sparse)
        .count()
}

/// Training and held-out pieces: a seeded shuffle, `frac` of them held out when there are at
/// least MIN_HOLDOUT_PIECES; both sorted.
fn split_holdout(npieces: usize, frac: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..npieces).collect();
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    let nhold = if order.len() >= MIN_HOLDOUT_PIECES {
        (frac * order.len() as f64).round() as usize
    } else {
        0
    };
    let mut holdout = order[..nhold].to_vec();
    let mut train = order[nhold..].to_vec();
    holdout.sort_unstable();
    train.sort_unstable();
    (train, holdout)
}

/// Fits the spec's model to its data tables.
pub(crate) fn run(spec: &Spec, tables: &[Table], control: &Control) -> Result<FitResult, FitError> {
    let t_start = Instant::now();
    let _span = tracing::info_span!("fit", spec = %spec.name).entered();
    let model = CompiledModel::from_spec(spec)?;
    let opts = solve_options(spec);
    // Isolated values far outside the noise are set aside (listed in the result).
    let (cleaned, outliers) = remove_outliers(tables, model.nstates());
    if !outliers.is_empty() {
        tracing::info!(count = outliers.len(), "outliers set aside");
    }
    let tables = &cleaned[..];
    let raw = Problem::new(&model, spec, tables, opts)?;
    (control.progress)(Progress::Stage("initial guess".into()));
    let discovered = if control.l1.force_path {
        None
    } else {
        crate::discover::run(&model, spec, tables, control)?
    };
    let chosen = match discovered {
        // Discovery scores candidates on long pieces in the noise the data imply: it needs no
        // denoising first (denoising by a dense model would pull the data towards it); with
        // `learn_noise` the noise is learned for the chosen model.
        Some(d) => {
            let prob = Problem::with_layout(&model, spec, tables, opts, Some(d.layout))?;
            let outcome = Outcome {
                chosen: Support::new(
                    d.chosen.0.clone(),
                    prob.scales.normalised(&d.chosen.1, &d.chosen.0),
                ),
                path: d.path,
                holdout: 0,
                failures_seen: d.failures_seen,
                candidates: d.candidates,
                selection: d.selection,
                global: None,
                chain: true,
            };
            let mut res = finish(spec, (&raw, &prob), tables, outcome, control);
            res.relations = d
                .relations
                .iter()
                .map(|r| r.describe(&model.states))
                .collect();
            if let Some(w) = crate::diagnose::unsettled_terms(&model, &d.inclusion) {
                res.warnings.push(w);
            }
            res.inclusion = d.inclusion;
            res
        }
        None => {
            // Learned noise on the L1 path: estimate e jointly with the dense model first, then
            // discover the equations on the denoised data y − e.
            let denoised;
            let fit_tables = if spec.fit.learn_noise {
                (control.progress)(Progress::Stage("learning the noise".into()));
                denoised = noise::denoised_tables(&raw, spec.fit.init, tables);
                &denoised
            } else {
                tables
            };
            let mut prob = Problem::new(&model, spec, fit_tables, opts)?;
            let global = crate::routes::global_stage(&Fitter::new(&prob, spec, control));
            if let Some(st) = global.as_ref().and_then(|g| g.start_states.as_ref()) {
                crate::hidden::seed_fitted_starts(&mut prob, st);
            }
            let mut fitter = Fitter::new(&prob, spec, control);
            let Some(ex) = crate::routes::explore_starts(&mut fitter, global) else {
                return Err(FitError::NoPieces);
            };
            let selection = if fitter.holdout.is_empty() {
                "the sparsest support whose training loss, with a penalty per term (the BIC's, or \
                 more where a null term among the candidates would pass it often), is within 1% \
                 of the best"
            } else {
                "the sparsest support whose held-out loss is within 1% of the best, or within two \
                 standard errors of the paired per-piece differences"
            };
            // Scored by the BIC when nothing is held out: the evidence per term over the path.
            let bic_labels = fitter
                .holdout
                .is_empty()
                .then(|| prob.label_count(&fitter.train) as f64);
            let outcome = Outcome {
                chosen: ex.chosen,
                path: ex.path,
                holdout: fitter.holdout.len(),
                failures_seen: fitter.failures_seen,
                candidates: prob.free.len(),
                selection: selection.to_string(),
                global: fitter.confidence,
                chain: false,
            };
            // The final refit profiles the fitted initial values from where the chosen support
            // was refitted (hidden states known only at experiment starts).
            if let Some(starts) = &ex.starts {
                crate::hidden::seed_piece_starts(&mut prob, starts);
            }
            let mut res = finish(spec, (&raw, &prob), tables, outcome, control);
            if let Some(n) = bic_labels {
                let inclusion = crate::diagnose::path_inclusion(&model, &res.path, n);
                if let Some(w) = crate::diagnose::unsettled_terms(&model, &inclusion) {
                    res.warnings.push(w);
                }
                res.inclusion = inclusion;
            }
            res
        }
    };
    let mut res = chosen;
    if !outliers.is_empty() {
        res.warnings.push(format!(
            "{} value(s) far outside the noise were left out of the fit as outliers: {}",
            outliers.len(),
            outliers
                .iter()
                .take(10)
                .map(|o| format!(
                    "{} = {} at t = {} (experiment {})",
                    model.states[o.state],
                    o.value,
                    tables[o.exp].times[o.row],
                    o.exp + 1
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    res.outliers = outliers;
    res.seconds = t_start.elapsed().as_secs_f64();
    Ok(res)
}

/// What a path's exploration chose.
struct Outcome {
    chosen: Support,
    path: Vec<PathEntry>,
    holdout: usize,
    failures_seen: usize,
    /// Coefficients the choice was made among.
    candidates: usize,
    /// How the path was scored.
    selection: String,
    /// The global stage's starts (hidden states known only at experiment starts).
    global: Option<GlobalSearch>,
    /// The final coefficients may come from the pieces chained into whole trajectories
    /// (`chain`; discovered library models).
    chain: bool,
}

/// The final refit of the chosen support on every piece of `prob`, learned noise (on the raw
/// problem), standard errors, trajectories and the result.
fn finish(
    spec: &Spec,
    (raw, prob): (&Problem, &Problem),
    tables: &[Table],
    outcome: Outcome,
    control: &Control,
) -> FitResult {
    let model = prob.model;
    let mut fitter = Fitter::new(prob, spec, control);
    (control.progress)(Progress::Stage("final refit".into()));
    let all = prob.all_pieces();
    tracing::debug!(
        loss = fitter.loss(&outcome.chosen, &all),
        "final refit starts"
    );
    let mut fin = fitter.optimize(&outcome.chosen, 0.0, &all);
    tracing::info!(
        terms = outcome.chosen.len(),
        loss = fin.loss,
        converged = fin.converged,
        reason = %fin.reason,
        "final refit on every piece"
    );
    let mut chosen = outcome.chosen.with_values(fin.q.clone());
    let chained = if outcome.chain && !spec.fit.learn_noise && fin.failures == 0 {
        chained_values(&fitter, &chosen, &all, control)
    } else {
        None
    };
    if let Some(c) = &chained {
        chosen = chosen.with_values(c.q.clone());
        fin.loss = fitter.loss(&chosen, &all);
        fin.q.clone_from(&c.q);
    }
    let mut p = fitter.user(&chosen);
    let mut noise = None;
    if spec.fit.learn_noise && !control.cancelled() {
        tracing::debug!(equations = ?model.equation_strings(&p, false), "before the final noise refit");
        (control.progress)(Progress::Stage(
            "learning the noise with the chosen model".into(),
        ));
        if let Some((pj, nz)) = noise::learn_for_model(raw, tables, &chosen.active, &p) {
            p = pj;
            noise = Some(nz);
        }
    }
    for (k, v) in p.iter_mut().enumerate() {
        if !model.params[k].fixed && !chosen.active.contains(&k) {
            *v = 0.0;
        }
    }
    let ev = fitter.evaluator(&chosen.active, &all);
    let (std_errors, weak_direction) = if control.cancelled() {
        (vec![f64::NAN; model.nparams()], None)
    } else if spec.fit.learn_noise {
        // On the raw data: the denoised values would understate the noise.
        let q = raw.scales.normalised(&p, &chosen.active);
        let ev_raw = Evaluator::new(raw, chosen.active.clone(), p.clone(), raw.all_pieces());
        standard_errors(&ev_raw, &q)
    } else if let Some(cov) = chained.as_ref().and_then(|c| c.cov.as_deref()) {
        crate::uncertainty::from_covariance(prob, &chosen.active, &chosen.q, Some(cov))
    } else {
        standard_errors(&ev, &chosen.q)
    };
    let cancelled = control.cancelled();
    let data_noise = crate::noise_level::noise_levels(tables, model.nstates());
    let diagnosis = diagnose(&ev, &chosen, &fin, outcome.candidates, &data_noise);
    let mut warnings = Vec::new();
    if cancelled {
        warnings
            .push("the fit was stopped before it finished: this is the best model so far".into());
    }
    warnings.extend(diagnosis.warnings);
    let trajectories = experiment_trajectories(&ev, tables, &p, &chosen.q);
    if !cancelled {
        let integrable: Vec<bool> = (0..tables.len())
            .map(|e| prob.first_piece(e).is_some())
            .collect();
        warnings.extend(crate::diagnose::escaped_trajectories(
            &model.states,
            tables,
            &trajectories,
            &integrable,
            diagnosis.horizon,
        ));
        // A hidden state whose scale the data leave free: say which, and what is determined.
        let consts: Vec<Vec<f64>> = prob.exps.iter().map(|e| e.consts.clone()).collect();
        for s in crate::hidden::symmetry::hidden_scales(
            model,
            spec,
            &consts,
            &trajectories,
            &p,
            &chosen.active,
            weak_direction.as_ref(),
        ) {
            warnings.push(crate::hidden::symmetry::warning(model, &p, &s));
        }
    }
    FitResult {
        name: model.name.clone(),
        states: model.states.clone(),
        hidden: model.hidden.clone(),
        param_names: model.params.iter().map(|p| p.name.clone()).collect(),
        library: model.is_library(),
        terms: library_terms(model, &p),
        equations: model.equation_strings(&p, false),
        loss: fin.loss,
        active_terms: chosen.len(),
        free_params: chosen.len(),
        path: outcome.path,
        converged: fin.converged && fin.failures == 0 && fin.loss.is_finite() && !cancelled,
        stop_reason: fin.reason.to_string(),
        cancelled,
        failures: fin.failures,
        failures_during_fit: outcome.failures_seen + fitter.failures_seen,
        pieces: prob.pieces.len(),
        holdout_pieces: outcome.holdout,
        bdf_pieces: fin.bdf_pieces,
        time_scale: prob.scales.st,
        state_scales: prob.scales.sx.clone(),
        trajectories,
        noise,
        fitted_initial: fitted_initial(&ev, spec, tables.len(), &chosen.q),
        std_errors,
        weak_direction,
        warnings,
        outliers: Vec::new(),
        relations: Vec::new(),
        inclusion: Vec::new(),
        selection: outcome.selection,
        horizon: diagnosis.horizon,
        noise_sd: diagnosis.noise_sd,
        reconstruction_r2: diagnosis.r2,
        global: outcome.global,
        chained: chained.as_ref().map(|c| crate::result::Chaining {
            intervals: c.intervals,
            ties: c.ties,
            excess: c.excess,
            allowed: c.allowed,
        }),
        params: p,
        seconds: 0.0,
    }
}

/// The chosen support's values from its pieces chained into whole trajectories (`chain`), when
/// the data accept the ties; each node starts where the piecewise fit `chosen` profiled it.
fn chained_values(
    fitter: &Fitter,
    chosen: &Support,
    all: &[usize],
    control: &Control,
) -> Option<crate::chain::Chained> {
    if control.cancelled() {
        return None;
    }
    let t0 = std::time::Instant::now();
    let ev = fitter.evaluator(&chosen.active, all);
    let starts: Vec<Vec<f64>> = all
        .iter()
        .map(|&pi| ev.profiled_start(pi, &chosen.q))
        .collect();
    let cancelled = || control.cancelled();
    let c = crate::chain::chain(fitter.prob, &fitter.base, chosen, &starts, &cancelled)?;
    tracing::info!(
        accepted = c.accepted,
        intervals = c.intervals,
        ties = c.ties,
        excess = c.excess,
        allowed = c.allowed,
        seconds = t0.elapsed().as_secs_f64(),
        "chained refit"
    );
    c.accepted.then_some(c)
}

/// Library mode: per state, the non-zero terms (canonical name, coefficient in user units).
fn library_terms(model: &CompiledModel, p: &[f64]) -> Option<Vec<Vec<(String, f64)>>> {
    let ModelKind::Library { feature_names, .. } = &model.kind else {
        return None;
    };
    let nf = feature_names.len();
    Some(
        (0..model.nstates())
            .map(|i| {
                (0..nf)
                    .filter(|&j| p[i * nf + j] != 0.0)
                    .map(|j| (feature_names[j].clone(), p[i * nf + j]))
                    .collect()
            })
            .collect(),
    )
}

/// Per experiment, the fitted values (user units) of the states whose initial value is `"fit"`:
/// the profiled start of the experiment's first piece.
fn fitted_initial(ev: &Evaluator, spec: &Spec, nexp: usize, q: &[f64]) -> Vec<Vec<(String, f64)>> {
    let prob = ev.prob;
    (0..nexp)
        .map(|e| {
            let Some(pi) = prob.first_piece(e) else {
                return vec![];
            };
            let fit_states: Vec<usize> = (0..prob.nstates())
                .filter(|&i| {
                    spec.data
                        .get(e)
                        .and_then(|d| d.initial.get(i))
                        .is_some_and(|ini| matches!(ini, Initial::Fit))
                })
                .collect();
            if fit_states.is_empty() {
                return vec![];
            }
            let x0 = ev.profiled_start(pi, q);
            fit_states
                .into_iter()
                .map(|i| (prob.model.states[i].clone(), x0[i] * prob.scales.sx[i]))
                .collect()
        })
        .collect()
}

/// Integrates the model with parameters `p` (user units) through every experiment from its first
/// piece's profiled start state.
fn experiment_trajectories(
    ev: &Evaluator,
    tables: &[Table],
    p: &[f64],
    q: &[f64],
) -> Vec<Trajectory> {
    let prob = ev.prob;
    let n = prob.nstates();
    let opts = odenet_solve::SolveOptions {
        max_steps: 1_000_000,
        ..prob.solve_opts
    };
    tables
        .iter()
        .enumerate()
        .map(|(e, tb)| {
            let times = tb.times.clone();
            let mut states = vec![f64::NAN; times.len() * n];
            let failure = match prob.first_piece(e) {
                None => Some("no piece starts at the first row".to_string()),
                Some(pi) => {
                    let xs0 = ev.profiled_start(pi, q);
                    let x0: Vec<f64> = (0..n).map(|i| xs0[i] * prob.scales.sx[i]).collect();
                    match crate::simulate(prob.model, p, &prob.exps[e].consts, &x0, &times, opts) {
                        Ok(xs) => {
                            states = xs;
                            None
                        }
                        Err(f) => Some(f.to_string()),
                    }
                }
            };
            Trajectory {
                times,
                states,
                failure,
            }
        })
        .collect()
}
