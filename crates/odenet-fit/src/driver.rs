//! The fit as a whole (DESIGN.md "Algorithm"): initial guess, rounds of L1-penalised trajectory
//! fits with pruning, debiased refits scored on held-out pieces, the parsimonious choice among
//! them, and a final refit on every piece.

use std::time::Instant;

use odenet_solve::{Method, PieceSolver, Sens, SolveOptions};
use odenet_spec::{InitKind, PruneRule, SolverKind, Spec, Table};
use odenet_tape::OdeRhs;

use crate::model::{CompiledModel, ModelKind};
use crate::optimize::{OptResult, Terms, lbfgs_smooth, levenberg_marquardt, minimize};
use crate::problem::{Evaluator, NoiseEvaluator, Problem, initial_state};
use crate::regression::{integral_least_squares, is_affine};
use crate::rng::Rng;
use crate::{FitError, FitResult, PathEntry, Progress, WeakDirection};

/// A support is acceptable when its held-out loss exceeds the best one's by at most this
/// fraction (a model with a few spurious small terms fits noisy data slightly better than the
/// true one) …
pub const SELECT_MARGIN: f64 = 0.01;
/// … or when its excess is within this many standard errors of the paired per-piece
/// differences.
pub const SELECT_SE: f64 = 2.0;
/// Backward elimination beyond the last round stops once the held-out loss exceeds the best by
/// this factor (nothing sparser can be chosen then).
const ELIMINATION_STOP: f64 = 2.0;
/// Terms are removed together while their joint removal is predicted to raise the training loss
/// by less than this fraction: far below anything the held-out comparison could resolve.
const BATCH_TOL: f64 = 1e-3;
/// With fewer pieces than this nothing is held out (one held-out experiment says little); the
/// supports are then scored on the training pieces with the BIC penalty.
const MIN_HOLDOUT_PIECES: usize = 20;
/// Starts explored when there is no regression guess (on problems of at most
/// MULTI_START_MAX_PIECES pieces), and their spread around the given starting values
/// (normalised units).
const MULTI_STARTS: usize = 6;
const MULTI_START_MAX_PIECES: usize = 200;
const MULTI_START_SPREAD: f64 = 1.0;
/// A further start is abandoned when its dense fit's loss exceeds the best so far by this factor.
const MULTI_START_ABORT: f64 = 2.0;
/// When the first L1 round barely moves the regression guess, the later rounds get 1/this of
/// the iteration budget.
const CLOSE_ROUND_SHARE: usize = 4;
/// The L1 rounds shape the path on at most this many training pieces (evenly spread).
const ROUND_PIECES: usize = 120;
/// The elimination's Gauss–Newton matrices (which only order the candidates for removal) use at
/// most this many training pieces; refits, held-out scoring and the final refit use all.
const EXPLORE_PIECES: usize = 800;

pub fn solve_options(spec: &Spec) -> SolveOptions {
    SolveOptions {
        method: match spec.fit.solver {
            SolverKind::Auto => Method::Auto,
            SolverKind::Bdf => Method::Bdf,
            SolverKind::Tsit5 => Method::Tsit5,
            SolverKind::Tsit45 => Method::Tsit45,
            SolverKind::Esdirk34 => Method::Esdirk34,
            SolverKind::TrBdf2 => Method::TrBdf2,
        },
        rtol: spec.fit.rtol,
        atol: spec.fit.atol,
        // A trial θ that needs more steps than this for one piece is far from any model the
        // data support: failing it fast (a counted penalty) keeps bad trials cheap.
        max_steps: 2_000,
        ..SolveOptions::default()
    }
}

struct Fitter<'p, 'm> {
    prob: &'p Problem<'m>,
    spec: &'p Spec,
    /// Full parameter vector, user units (values of fixed and pruned parameters).
    base: Vec<f64>,
    train: Vec<usize>,
    holdout: Vec<usize>,
    /// Usable full states per experiment row (scaled).
    rows: Vec<Vec<Option<Vec<f64>>>>,
    /// The training pieces the elimination order is computed on (evenly spread, at most
    /// EXPLORE_PIECES).
    explore: Vec<usize>,
    loss_ref: f64,
    failures_seen: usize,
    first_round: bool,
    /// The first L1 round barely moved the regression guess: later rounds get a reduced
    /// budget (CLOSE_ROUND_SHARE of it).
    close: bool,
}

impl<'p, 'm> Fitter<'p, 'm> {
    fn user(&self, active: &[usize], q: &[f64]) -> Vec<f64> {
        let mut p = self.base.clone();
        for (&k, &v) in active.iter().zip(q) {
            p[k] = v * self.prob.scales.pscale[k];
        }
        p
    }

    fn terms(&self, active: &[usize], mu: f64) -> Terms {
        Terms::new(self.prob, active, mu, self.loss_ref)
    }

    fn optimize(
        &mut self,
        active: &[usize],
        q0: Vec<f64>,
        mu: f64,
        pieces: &[usize],
    ) -> (Vec<f64>, f64, bool) {
        let r = self.optimize_result(active, q0, mu, pieces);
        (r.q, r.loss, r.converged)
    }

    /// [`Fitter::optimize`] with the optimiser's whole result (failures and BDF pieces at the
    /// returned point).
    fn optimize_result(
        &mut self,
        active: &[usize],
        q0: Vec<f64>,
        mu: f64,
        pieces: &[usize],
    ) -> OptResult {
        // L1 rounds only shape the path: a bounded number of iterations. Debiased refits
        // (μ = 0) decide the answer: allow more.
        let iters = if mu > 0.0 {
            if self.first_round {
                10 * self.spec.fit.max_iters
            } else if self.close {
                (self.spec.fit.max_iters / CLOSE_ROUND_SHARE).max(1)
            } else {
                self.spec.fit.max_iters
            }
        } else {
            4 * self.spec.fit.max_iters
        };
        let ev = Evaluator::new(
            self.prob,
            active.to_vec(),
            self.base.clone(),
            pieces.to_vec(),
        );
        let terms = self.terms(active, mu);
        let t = Instant::now();
        let mut r = if mu > 0.0 {
            minimize(&ev, &terms, q0, iters as u64)
        } else {
            levenberg_marquardt(&ev, &terms, q0, iters as u64)
        };
        // A first round whose line search gave up early (a kink from failed pieces, or bounds)
        // continues with Levenberg–Marquardt, which does not need a descent line search.
        if self.first_round && r.iters < 5 && r.reason.contains("ine search") {
            let lm = levenberg_marquardt(&ev, &terms, r.q.clone(), iters as u64);
            if lm.loss < r.loss {
                r = lm;
            }
        }
        if std::env::var_os("ODENET_DEBUG").is_some() {
            eprintln!(
                "optimize: {} active, mu {mu:e}, {} pieces: {} iters, {} evals, {:.3} s, loss {:e}, {}",
                active.len(),
                pieces.len(),
                r.iters,
                ev.evals.load(std::sync::atomic::Ordering::Relaxed),
                t.elapsed().as_secs_f64(),
                r.loss,
                r.reason
            );
        }
        self.failures_seen += r.failures;
        r
    }

    fn loss(&self, active: &[usize], q: &[f64], pieces: &[usize]) -> f64 {
        if pieces.is_empty() {
            return f64::NAN;
        }
        let ev = Evaluator::new(
            self.prob,
            active.to_vec(),
            self.base.clone(),
            pieces.to_vec(),
        );
        ev.eval(q, false).loss
    }

    /// States at which contributions are measured: the usable data rows, or, when hidden
    /// states are only known by integration, each experiment's simulated trajectory.
    fn sample_states(&self, active: &[usize], q: &[f64]) -> Vec<(usize, Vec<f64>)> {
        let n = self.prob.nstates();
        let mut out = Vec::new();
        if !self.prob.whole {
            for (e, er) in self.rows.iter().enumerate() {
                for x in er.iter().flatten() {
                    out.push((e, x.clone()));
                }
            }
            return out;
        }
        let mut solver = PieceSolver::new(n, active.len(), self.prob.solve_opts);
        for (pi, pc) in self.prob.pieces.iter().enumerate() {
            let ex = &self.prob.exps[pc.exp];
            let rhs = self.prob.rhs(pc.exp, &self.base, active);
            let times = &ex.t[pc.start..pc.start + pc.len];
            let mut xs = vec![0.0; pc.len * n];
            let x0 = &self.prob.x0[pi * n..(pi + 1) * n];
            if solver
                .solve(&rhs, q, x0, times, Sens::None, &mut xs, &mut [])
                .is_ok()
            {
                for k in 0..pc.len {
                    out.push((pc.exp, xs[k * n..(k + 1) * n].to_vec()));
                }
            }
        }
        out
    }

    /// Relative contribution of each active parameter: max over equations of
    /// RMS(q_k ∂f_i/∂q_k) / RMS(f_i) over the sample states.
    fn contributions(&self, active: &[usize], q: &[f64]) -> Vec<f64> {
        let n = self.prob.nstates();
        let na = active.len();
        let pts = self.sample_states(active, q);
        let mut fsq = vec![0.0; n];
        let mut tsq = vec![0.0; n * na];
        let (mut f, mut jx, mut jq) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * na]);
        let mut scratch = Vec::new();
        for (e, x) in &pts {
            let rhs = self.prob.rhs(*e, &self.base, active);
            scratch.resize(rhs.scratch_len(), 0.0);
            rhs.rhs_jac(x, q, &mut scratch, &mut f, &mut jx, &mut jq);
            for i in 0..n {
                if f[i].is_finite() {
                    fsq[i] += f[i] * f[i];
                }
                for k in 0..na {
                    let t = q[k] * jq[i * na + k];
                    if t.is_finite() {
                        tsq[i * na + k] += t * t;
                    }
                }
            }
        }
        (0..na)
            .map(|k| {
                (0..n)
                    .filter(|&i| fsq[i] > 0.0)
                    .map(|i| (tsq[i * na + k] / fsq[i]).sqrt())
                    .fold(0.0, f64::max)
            })
            .collect()
    }

    /// Active sparse parameters to prune at threshold γ.
    fn prune_set(&self, active: &[usize], q: &[f64], gamma: f64) -> Vec<bool> {
        let m = self.prob.model;
        let c = match self.spec.fit.prune {
            PruneRule::Relative => self.contributions(active, q),
            PruneRule::Absolute => active
                .iter()
                .zip(q)
                .map(|(&k, &v)| (v * self.prob.scales.pscale[k]).abs())
                .collect(),
        };
        active
            .iter()
            .zip(&c)
            .map(|(&k, &ck)| m.params[k].sparse && (ck < gamma || !ck.is_finite()))
            .collect()
    }
}

/// At most `m` of `pieces`, evenly spread.
fn spread(pieces: &[usize], m: usize) -> Vec<usize> {
    if pieces.len() <= m {
        return pieces.to_vec();
    }
    (0..m).map(|i| pieces[i * pieces.len() / m]).collect()
}

fn geometric(a: f64, b: f64, i: usize, n: usize) -> f64 {
    if n <= 1 || a <= 0.0 || b <= 0.0 {
        return if n <= 1 {
            b
        } else {
            a + (b - a) * i as f64 / (n - 1) as f64
        };
    }
    a * (b / a).powf(i as f64 / (n - 1) as f64)
}

fn reduce(active: &[usize], q: &[f64], drop: &[bool]) -> (Vec<usize>, Vec<f64>) {
    let mut a = Vec::new();
    let mut v = Vec::new();
    for ((&k, &x), &d) in active.iter().zip(q).zip(drop) {
        if !d {
            a.push(k);
            v.push(x);
        }
    }
    (a, v)
}

/// The problem of a fit: scaled data, pieces, usable rows and parameter scales.
pub(crate) struct Prepared<'m> {
    pub prob: Problem<'m>,
    pub rows: Vec<Vec<Option<Vec<f64>>>>,
    pub base: Vec<f64>,
    pub active: Vec<usize>,
}

pub(crate) fn prepare<'m>(
    model: &'m CompiledModel,
    spec: &Spec,
    tables: &[Table],
    opts: SolveOptions,
) -> Result<Prepared<'m>, FitError> {
    let mut prob = Problem::new(model, spec, tables, opts)?;
    let n = model.nstates();
    let npf = model.nparams();
    // States with no observation anywhere (hidden, or simply not in any file) are known only
    // through their initial rules and the model.
    let unobserved: Vec<bool> = (0..n)
        .map(|i| {
            model.hidden[i]
                || tables
                    .iter()
                    .all(|tb| tb.values[i].iter().all(|v| !v.is_finite()))
        })
        .collect();
    // Usable full states at data rows.
    let mut rows = Vec::with_capacity(tables.len());
    let mut xbuf = vec![0.0; n];
    for (e, tb) in tables.iter().enumerate() {
        let mut er = Vec::with_capacity(tb.times.len());
        for r in 0..tb.times.len() {
            let ok = initial_state(model, spec, tables, &prob.scales.sx, e, r, &mut xbuf)
                && (r == 0 || (0..n).all(|i| unobserved[i] || tb.values[i][r].is_finite()));
            er.push(ok.then(|| xbuf.clone()));
        }
        rows.push(er);
    }

    let base: Vec<f64> = model.params.iter().map(|p| p.init).collect();
    let active: Vec<usize> = (0..npf).filter(|&k| !model.params[k].fixed).collect();

    // Parameter scales: a unit normalised change moves the scaled right-hand side by about one
    // (RMS over the usable rows), so μ, γ and the optimiser see comparable coordinates.
    {
        let ones = vec![1.0; npf];
        let mut tmp_scales = prob.scales.clone();
        tmp_scales.pscale = ones;
        let mut sq = vec![0.0; active.len()];
        let mut cnt = 0usize;
        let na = active.len();
        let (mut f, mut jx, mut jq) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * na]);
        let q: Vec<f64> = active.iter().map(|&k| base[k]).collect();
        for (e, er) in rows.iter().enumerate() {
            let rhs = crate::scaled::ScaledRhs {
                inner: model.rhs(&prob.exps[e].consts),
                scales: &tmp_scales,
                base: &base,
                active: &active,
            };
            let mut scratch = vec![0.0; rhs.scratch_len()];
            for x in er.iter().flatten() {
                rhs.rhs_jac(x, &q, &mut scratch, &mut f, &mut jx, &mut jq);
                for k in 0..na {
                    let m = (0..n).map(|i| jq[i * na + k].abs()).fold(0.0, f64::max);
                    if m.is_finite() {
                        sq[k] += m * m;
                    }
                }
                cnt += 1;
            }
        }
        for (j, &k) in active.iter().enumerate() {
            let rms = if cnt > 0 {
                (sq[j] / cnt as f64).sqrt()
            } else {
                0.0
            };
            prob.scales.pscale[k] = if rms.is_finite() && rms > 1e-12 {
                1.0 / rms
            } else if base[k] != 0.0 {
                base[k].abs()
            } else {
                1.0
            };
        }
    }

    Ok(Prepared {
        prob,
        rows,
        base,
        active,
    })
}

pub fn run_fit(
    spec: &Spec,
    tables: &[Table],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<FitResult, FitError> {
    let t_start = Instant::now();
    let model = CompiledModel::from_spec(spec)?;
    // Learned noise: estimate e jointly with the dense model first, then discover the equations
    // on the denoised data y − e, and finally learn e again jointly with the chosen model.
    let denoised;
    let raw_tables = tables;
    let tables: &[Table] = if spec.fit.learn_noise {
        progress(Progress::Stage("learning the noise".into()));
        denoised = learn_noise_dense(&model, spec, raw_tables)?;
        &denoised
    } else {
        raw_tables
    };
    let Prepared {
        prob,
        rows,
        base,
        mut active,
    } = prepare(&model, spec, tables, solve_options(spec))?;
    let n = model.nstates();

    // Held-out pieces.
    let mut order: Vec<usize> = (0..prob.pieces.len()).collect();
    let mut rng = Rng::new(spec.fit.seed);
    for i in (1..order.len()).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    let nhold = if order.len() >= MIN_HOLDOUT_PIECES {
        (spec.fit.holdout * order.len() as f64).round() as usize
    } else {
        0
    };
    let mut holdout: Vec<usize> = order[..nhold].to_vec();
    let mut train: Vec<usize> = order[nhold..].to_vec();
    holdout.sort_unstable();
    train.sort_unstable();
    let all: Vec<usize> = (0..prob.pieces.len()).collect();

    let mut fitter = Fitter {
        prob: &prob,
        spec,
        base,
        train,
        holdout,
        rows,
        explore: Vec::new(),
        loss_ref: 1.0,
        failures_seen: 0,
        first_round: false,
        close: false,
    };
    fitter.explore = spread(&fitter.train, EXPLORE_PIECES);

    // Initial guess.
    let q_spec: Vec<f64> = active
        .iter()
        .map(|&k| fitter.base[k] / prob.scales.pscale[k])
        .collect();
    // From here on `base` holds what an inactive parameter is worth: its value when fixed, and
    // zero once pruned (never its starting value).
    for &k in &active {
        fitter.base[k] = 0.0;
    }
    let mut q: Vec<f64> = match spec.fit.init {
        InitKind::Zero => vec![0.0; active.len()],
        InitKind::Spec => q_spec.clone(),
        InitKind::Regression => q_spec.clone(),
    };
    progress(Progress::Stage("initial guess".into()));
    let mut regressed = false;
    // The training loss at the regression guess (the same function after its zeros are pruned).
    let mut regressed_loss = None;
    if spec.fit.init == InitKind::Regression
        && is_affine(&prob, &fitter.base, &active, &fitter.rows)
    {
        let w = match spec.fit.segment {
            odenet_spec::Segment::Points(m) => (m - 1).max(1),
            odenet_spec::Segment::Whole => 4,
        };
        let mut keep = vec![true; active.len()];
        let mut best: Option<Vec<f64>> = None;
        for _ in 0..6 {
            let Some(qr) =
                integral_least_squares(&prob, &fitter.base, &active, &fitter.rows, w, &keep)
            else {
                break;
            };
            let drop = fitter.prune_set(&active, &qr, spec.fit.threshold.0);
            let changed = drop.iter().zip(&keep).any(|(&d, &k)| d && k);
            best = Some(qr);
            if !changed {
                break;
            }
            for (kp, d) in keep.iter_mut().zip(&drop) {
                if *d {
                    *kp = false;
                }
            }
        }
        if let Some(qr) = best {
            let l_reg = fitter.loss(&active, &qr, &fitter.train);
            let l_spec = fitter.loss(&active, &q_spec, &fitter.train);
            if l_reg.is_finite() && l_spec.partial_cmp(&l_reg) != Some(std::cmp::Ordering::Less) {
                q = qr;
                regressed = true;
                regressed_loss = Some(l_reg);
            }
        }
    }
    // Parameters the regression guess set exactly to zero (its thresholding) start pruned.
    if regressed && model.is_library() {
        let drop: Vec<bool> = active
            .iter()
            .zip(&q)
            .map(|(&k, &v)| model.params[k].sparse && v == 0.0)
            .collect();
        let (a, v) = reduce(&active, &q, &drop);
        active = a;
        q = v;
    }
    // Without a regression guess (hidden states, or a model not affine in its parameters) the
    // starting values may lie in a basin of another model that fits as well: on small problems
    // explore from several starts around them and keep the best-scored choice.
    let nstarts = if !regressed && !active.is_empty() && prob.pieces.len() <= MULTI_START_MAX_PIECES
    {
        MULTI_STARTS
    } else {
        1
    };
    let mut start_rng = Rng::new(spec.fit.seed ^ 0x6d75_6c74);
    let mut best: Option<Exploration> = None;
    let mut best_first = f64::INFINITY;
    for s in 0..nstarts {
        let start: Vec<f64> = if s == 0 {
            q.clone()
        } else {
            q.iter()
                .map(|v| v + MULTI_START_SPREAD * start_rng.normal())
                .collect()
        };
        if nstarts > 1 {
            progress(Progress::Stage(format!("start {} of {nstarts}", s + 1)));
        }
        let abort_above = if s == 0 {
            f64::INFINITY
        } else {
            MULTI_START_ABORT * best_first
        };
        let ex = explore(
            &mut fitter,
            &model,
            spec,
            active.clone(),
            start,
            Start {
                regressed,
                abort_above,
                start_loss: if s == 0 { regressed_loss } else { None },
            },
            progress,
        );
        if ex.first_loss.is_finite() {
            best_first = best_first.min(ex.first_loss);
        }
        let better = match &best {
            None => true,
            Some(b) => {
                ex.score < b.score * (1.0 - 1e-9)
                    || (ex.score <= b.score * (1.0 + 1e-9) && ex.active.len() < b.active.len())
            }
        };
        if better {
            best = Some(ex);
        }
    }
    let Some(Exploration {
        path,
        active,
        q: q0,
        ..
    }) = best
    else {
        return Err(FitError::NoPieces);
    };

    // Final debiased refit on every piece.
    progress(Progress::Stage("final refit".into()));
    let fin = fitter.optimize_result(&active, q0, 0.0, &all);
    let (qf, loss, converged) = (fin.q.clone(), fin.loss, fin.converged);
    let ev = Evaluator::new(&prob, active.clone(), fitter.base.clone(), all.clone());
    let mut p = fitter.user(&active, &qf);
    let mut noise = None;
    if spec.fit.learn_noise {
        if std::env::var_os("ODENET_DEBUG").is_some() {
            eprintln!(
                "before the final noise refit: {:?}",
                model.equation_strings(&p, false)
            );
        }
        progress(Progress::Stage(
            "learning the noise with the chosen model".into(),
        ));
        if let Some((pj, nz)) = learn_noise_final(&model, spec, raw_tables, &active, &p)? {
            p = pj;
            noise = Some(nz);
        }
    }
    let mut p_clean = p.clone();
    for (k, v) in p_clean.iter_mut().enumerate() {
        if !model.params[k].fixed && !active.contains(&k) {
            *v = 0.0;
        }
    }
    let (std_errors, weak_direction) = if spec.fit.learn_noise {
        // On the raw data: the denoised values would understate the noise.
        let raw = prepare(&model, spec, raw_tables, solve_options(spec))?;
        let q: Vec<f64> = active
            .iter()
            .map(|&k| p_clean[k] / raw.prob.scales.pscale[k])
            .collect();
        let pieces = (0..raw.prob.pieces.len()).collect();
        let ev_raw = Evaluator::new(&raw.prob, active.clone(), p_clean.clone(), pieces);
        standard_errors(&ev_raw, &q)
    } else {
        standard_errors(&ev, &qf)
    };
    let equations = model.equation_strings(&p_clean, false);
    let trajectories = experiment_trajectories(&prob, raw_tables, &p_clean, &ev, &qf);
    let fitted_initial: Vec<Vec<(String, f64)>> = (0..raw_tables.len())
        .map(|e| {
            let Some(pi) = prob
                .pieces
                .iter()
                .position(|pc| pc.exp == e && pc.start == 0)
            else {
                return vec![];
            };
            let fit_states: Vec<usize> = (0..n)
                .filter(|&i| {
                    spec.data
                        .get(e)
                        .and_then(|d| d.initial.get(i))
                        .is_some_and(|ini| matches!(ini, odenet_spec::Initial::Fit))
                })
                .collect();
            if fit_states.is_empty() {
                return vec![];
            }
            let x0 = ev.profiled_start(pi, &qf);
            fit_states
                .into_iter()
                .map(|i| (model.states[i].clone(), x0[i] * prob.scales.sx[i]))
                .collect()
        })
        .collect();
    let terms = match &model.kind {
        ModelKind::Library { feature_names, .. } => {
            let nf = feature_names.len();
            Some(
                (0..n)
                    .map(|i| {
                        (0..nf)
                            .filter(|&j| p_clean[i * nf + j] != 0.0)
                            .map(|j| (feature_names[j].clone(), p_clean[i * nf + j]))
                            .collect()
                    })
                    .collect(),
            )
        }
        ModelKind::Template { .. } => None,
    };
    Ok(FitResult {
        name: model.name.clone(),
        states: model.states.clone(),
        hidden: model.hidden.clone(),
        param_names: model.params.iter().map(|p| p.name.clone()).collect(),
        params: p_clean,
        library: model.is_library(),
        terms,
        equations,
        loss,
        active_terms: active.len(),
        free_params: active.len(),
        path,
        seconds: t_start.elapsed().as_secs_f64(),
        converged: converged && fin.failures == 0 && loss.is_finite(),
        failures: fin.failures,
        failures_during_fit: fitter.failures_seen,
        pieces: prob.pieces.len(),
        holdout_pieces: fitter.holdout.len(),
        bdf_pieces: fin.bdf_pieces,
        time_scale: prob.scales.st,
        state_scales: prob.scales.sx.clone(),
        trajectories,
        noise,
        fitted_initial,
        std_errors,
        weak_direction,
    })
}

/// A relative change this large (in ln units, at one standard error) along a combination of
/// parameters means the data do not determine that combination.
const WEAK_LOG_SE: f64 = 1.0;

/// Standard errors (user units) of every parameter at the active values `q` from the
/// linearised covariance over the evaluator's pieces: NaN for a fixed or pruned parameter, +∞ for
/// all of them when the data do not determine some direction of the active ones (a singular
/// information matrix). Also the least determined combination of relative changes, when the
/// data leave it free.
fn standard_errors(ev: &Evaluator, q: &[f64]) -> (Vec<f64>, Option<WeakDirection>) {
    let prob = ev.prob;
    let active = &ev.active;
    let mut se = vec![f64::NAN; prob.model.nparams()];
    let na = active.len();
    let Some(cov) = ev.covariance(q) else {
        for &k in active {
            se[k] = f64::INFINITY;
        }
        return (se, None);
    };
    for (a, &k) in active.iter().enumerate() {
        se[k] = cov[a * na + a].max(0.0).sqrt() * prob.scales.pscale[k].abs();
    }
    // The covariance of ln|p| (relative changes, the same in normalised and user units): its
    // largest eigenvalue is the variance of the least determined combination Π p_k^{v_k}.
    if na < 2 || q.contains(&0.0) {
        return (se, None);
    }
    let rel = nalgebra::DMatrix::from_fn(na, na, |a, b| cov[a * na + b] / (q[a] * q[b]));
    let eig = nalgebra::SymmetricEigen::new(rel);
    let Some((imax, &lmax)) = eig
        .eigenvalues
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))
    else {
        return (se, None);
    };
    let log_se = lmax.max(0.0).sqrt();
    if log_se.is_nan() || log_se <= WEAK_LOG_SE {
        return (se, None);
    }
    let v = eig.eigenvectors.column(imax);
    let big = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    // Exponents scaled so the largest is 1 in size, and positive for the first listed parameter.
    let first = v
        .iter()
        .find(|x| x.abs() >= 0.1 * big)
        .copied()
        .unwrap_or(1.0);
    let sign = if first < 0.0 { -1.0 } else { 1.0 };
    let exponents: Vec<(usize, f64)> = active
        .iter()
        .zip(v.iter())
        .filter(|(_, x)| x.abs() >= 0.1 * big)
        .map(|(&k, x)| (k, sign * x / big))
        .collect();
    (
        se,
        Some(WeakDirection {
            exponents,
            log_se: log_se * big,
        }),
    )
}

/// Time of one loss-and-gradient evaluation over every piece, at the initial parameters.
#[derive(Clone, Debug)]
pub struct GradientTiming {
    pub seconds_per_eval: f64,
    pub pieces: usize,
    pub params: usize,
    pub failures: usize,
    pub bdf_pieces: usize,
    pub steps: usize,
}

pub fn time_gradient(
    spec: &Spec,
    tables: &[Table],
    solver: SolverKind,
    reps: usize,
) -> Result<GradientTiming, FitError> {
    let model = CompiledModel::from_spec(spec)?;
    let mut s2 = spec.clone();
    s2.fit.solver = solver;
    let prep = prepare(&model, &s2, tables, solve_options(&s2))?;
    let q = initial_guess(&prep, &s2);
    let (prob, active) = (&prep.prob, &prep.active);
    let all: Vec<usize> = (0..prob.pieces.len()).collect();
    let ev = Evaluator::new(prob, active.clone(), prep.base.clone(), all);
    let first = ev.eval(&q, true);
    let reps = reps.max(1);
    let t = Instant::now();
    for _ in 0..reps {
        let _ = ev.eval(&q, true);
    }
    Ok(GradientTiming {
        seconds_per_eval: t.elapsed().as_secs_f64() / reps as f64,
        pieces: prob.pieces.len(),
        params: active.len(),
        failures: first.failures,
        bdf_pieces: first.bdf_pieces,
        steps: first.steps,
    })
}

/// Integrates the model with parameters `p` (user units) through every experiment from its first
/// piece's start state.
fn experiment_trajectories(
    prob: &Problem,
    tables: &[Table],
    p: &[f64],
    ev: &Evaluator,
    q: &[f64],
) -> Vec<crate::Trajectory> {
    let n = prob.nstates();
    let opts = SolveOptions {
        max_steps: 1_000_000,
        ..prob.solve_opts
    };
    tables
        .iter()
        .enumerate()
        .map(|(e, tb)| {
            let times = tb.times.clone();
            let mut states = vec![f64::NAN; times.len() * n];
            let first = prob
                .pieces
                .iter()
                .position(|pc| pc.exp == e && pc.start == 0);
            let failure = match first {
                None => Some("no piece starts at the first row".to_string()),
                Some(pi) => {
                    // Start where the fit starts: the profiled initial value of the first piece.
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
            crate::Trajectory {
                times,
                states,
                failure,
            }
        })
        .collect()
}

/// Runs `f` with a closure that evaluates the loss and its exact gradient over every piece at
/// the initial parameters (for benchmarks: the closure is the unit of work a fit repeats).
pub fn with_loss_gradient<R>(
    spec: &Spec,
    tables: &[Table],
    threads: usize,
    f: impl FnOnce(&mut dyn FnMut() -> f64) -> R,
) -> Result<R, FitError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| FitError::Model(format!("cannot start {threads} threads: {e}")))?;
    let model = CompiledModel::from_spec(spec)?;
    let prep = prepare(&model, spec, tables, solve_options(spec))?;
    let q = initial_guess(&prep, spec);
    let all: Vec<usize> = (0..prep.prob.pieces.len()).collect();
    let ev = Evaluator::new(&prep.prob, prep.active.clone(), prep.base.clone(), all);
    let mut run = || {
        let e = pool.install(|| ev.eval(&q, true));
        e.loss + e.grad.iter().sum::<f64>()
    };
    Ok(f(&mut run))
}

/// Iterations of the joint (θ, e) L-BFGS.
const NOISE_ITERS: u64 = 400;

/// The initial guess of a fit, in normalised units: the integral-form regression when the model is
/// affine in its parameters, else the spec's starting values.
fn initial_guess(prep: &Prepared, spec: &Spec) -> Vec<f64> {
    let prob = &prep.prob;
    let q_spec: Vec<f64> = prep
        .active
        .iter()
        .map(|&k| prep.base[k] / prob.scales.pscale[k])
        .collect();
    if spec.fit.init != InitKind::Regression
        || !is_affine(prob, &prep.base, &prep.active, &prep.rows)
    {
        return q_spec;
    }
    let w = match spec.fit.segment {
        odenet_spec::Segment::Points(m) => (m - 1).max(1),
        odenet_spec::Segment::Whole => 4,
    };
    let keep = vec![true; prep.active.len()];
    integral_least_squares(prob, &prep.base, &prep.active, &prep.rows, w, &keep).unwrap_or(q_spec)
}

/// L-BFGS over (θ, e) on the raw data from `q0` — or over e alone with θ held at `q0` when
/// `fix_q` — returning (q, e) in normalised/scaled units.
fn joint_noise(
    prob: &Problem,
    active: &[usize],
    base: &[f64],
    q0: Vec<f64>,
    fix_q: bool,
) -> (Vec<f64>, Vec<f64>) {
    let mut ne = NoiseEvaluator::new(prob, active.to_vec(), base.to_vec());
    let na = active.len();
    let e0 = fitted_start_noise(prob, active, base, &q0, &ne);
    if fix_q {
        // With θ known, e is estimated from every label a value takes part in: e ≈ Σ r / (labels
        // + λ). Overlapping pieces make a value about `segment` labels, and a unit prior shrinks
        // e by a few per cent while keeping the flow-consistent directions (e following a
        // perturbed trajectory, curvature λ) well conditioned; a value of a whole experiment is
        // one label, where a unit prior would halve e.
        ne.lambda = if prob.whole { NOISE_PRIOR_WHOLE } else { 1.0 };
        let f = |e: &[f64]| {
            let r = ne.eval(&q0, e, true);
            (r.loss, r.ge)
        };
        let (e, _, _, _) = lbfgs_smooth(&f, e0, NOISE_ITERS);
        return (q0, e);
    }
    let mut z0 = q0;
    z0.extend_from_slice(&e0);
    let f = |z: &[f64]| {
        let (q, e) = z.split_at(na);
        let r = ne.eval(q, e, true);
        let mut g = r.gq;
        g.extend_from_slice(&r.ge);
        (r.loss, g)
    };
    let (z, _, _, _) = lbfgs_smooth(&f, z0, NOISE_ITERS);
    let (q, e) = z.split_at(na);
    (q.to_vec(), e.to_vec())
}

/// Weight of the prior on e (per observation, against a mismatch weight of one per label) when
/// the noise of whole experiments is learned for a fixed θ.
const NOISE_PRIOR_WHOLE: f64 = 0.01;

/// The starting noise vector of the learned-noise problem: zero, except that a `"fit"` initial
/// value (an unobserved start, free in the noise problem through x0 − e with no prior) starts at
/// its profiled value for `q0` rather than at the rough guess the pieces were cut with.
fn fitted_start_noise(
    prob: &Problem,
    active: &[usize],
    base: &[f64],
    q0: &[f64],
    ne: &NoiseEvaluator,
) -> Vec<f64> {
    let n = prob.nstates();
    let mut e0 = vec![0.0; ne.noise_len()];
    let fitted = |pi: usize| {
        (0..n).filter(move |&i| prob.free_start[pi * n + i] && !prob.start_label[pi * n + i])
    };
    let pieces: Vec<usize> = (0..prob.pieces.len())
        .filter(|&pi| fitted(pi).next().is_some())
        .collect();
    if pieces.is_empty() {
        return e0;
    }
    let ev = Evaluator::new(prob, active.to_vec(), base.to_vec(), pieces.clone());
    for pi in pieces {
        let x0 = ev.profiled_start(pi, q0);
        let pc = prob.pieces[pi];
        let row = ne.row_offset[pc.exp] + pc.start;
        for i in fitted(pi) {
            if x0[i].is_finite() {
                e0[row * n + i] = prob.x0[pi * n + i] - x0[i];
            }
        }
    }
    e0
}

/// Learns the noise with the dense candidate model and returns the denoised tables.
fn learn_noise_dense(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
) -> Result<Vec<Table>, FitError> {
    let prep = prepare(model, spec, tables, solve_options(spec))?;
    if prep.prob.whole {
        // Whole experiments: no piece starts at a noisy observation (the one start is profiled),
        // so e = half the residual for any θ and denoising cannot change the equations; the
        // noise is learned for the chosen model only.
        return Ok(tables.to_vec());
    }
    let mut base = prep.base.clone();
    let q0 = initial_guess(&prep, spec);
    for &k in &prep.active {
        base[k] = 0.0;
    }
    let all: Vec<usize> = (0..prep.prob.pieces.len()).collect();
    let ev = Evaluator::new(&prep.prob, prep.active.clone(), base.clone(), all);
    let terms = Terms::new(&prep.prob, &prep.active, 0.0, 1.0);
    let q = levenberg_marquardt(&ev, &terms, q0, 50).q;
    let (_, e) = joint_noise(&prep.prob, &prep.active, &base, q, false);
    Ok(denoise(&prep.prob, tables, &e))
}

/// y − e in the user's units.
fn denoise(prob: &Problem, tables: &[Table], e: &[f64]) -> Vec<Table> {
    let n = prob.nstates();
    let mut off = 0;
    tables
        .iter()
        .map(|tb| {
            let mut t = tb.clone();
            for (i, col) in t.values.iter_mut().enumerate() {
                for (k, v) in col.iter_mut().enumerate() {
                    if v.is_finite() {
                        *v -= e[(off + k) * n + i] * prob.scales.sx[i];
                    }
                }
            }
            off += tb.times.len();
            t
        })
        .collect()
}

/// Learns the noise e of the raw data for the chosen model; returns the parameters in user units
/// and the learned noise.
fn learn_noise_final(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
    active: &[usize],
    p: &[f64],
) -> Result<Option<(Vec<f64>, crate::LearnedNoise)>, FitError> {
    let prep = prepare(model, spec, tables, solve_options(spec))?;
    let prob = &prep.prob;
    let mut base = p.to_vec();
    for &k in active {
        base[k] = 0.0;
    }
    let q0: Vec<f64> = active
        .iter()
        .map(|&k| p[k] / prob.scales.pscale[k])
        .collect();
    // θ stays as discovered on the denoised data (a joint refit with the prior shrinks e and
    // biases θ); e is learned for it.
    let (q, e) = joint_noise(prob, active, &base, q0, true);
    let mut pj = base.clone();
    for (&k, &v) in active.iter().zip(&q) {
        pj[k] = v * prob.scales.pscale[k];
    }
    if pj.iter().any(|v| !v.is_finite()) {
        return Ok(None);
    }
    let n = prob.nstates();
    let mut values = vec![Vec::new(); n];
    let mut off = 0;
    for tb in tables {
        for (i, col) in tb.values.iter().enumerate() {
            for (k, v) in col.iter().enumerate() {
                if v.is_finite() {
                    values[i].push(e[(off + k) * n + i] * prob.scales.sx[i]);
                }
            }
        }
        off += tb.times.len();
    }
    let sd = values
        .iter()
        .map(|v| {
            if v.len() < 2 {
                return f64::NAN;
            }
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        })
        .collect();
    Ok(Some((pj, crate::LearnedNoise { sd, values })))
}

/// How one exploration starts.
struct Start {
    /// The starting point came from the regression guess.
    regressed: bool,
    /// Abandon the start when its first round's loss exceeds this.
    abort_above: f64,
    /// The training loss at the starting point, when already known.
    start_loss: Option<f64>,
}

/// The path of one start: rounds, elimination and the parsimonious choice.
struct Exploration {
    path: Vec<PathEntry>,
    active: Vec<usize>,
    q: Vec<f64>,
    /// The chosen support's score (held-out loss, or the BIC-weighted training loss).
    score: f64,
    /// The loss after the first round (the dense fit from this start).
    first_loss: f64,
}

fn explore(
    fitter: &mut Fitter,
    model: &CompiledModel,
    spec: &Spec,
    mut active: Vec<usize>,
    mut q: Vec<f64>,
    start: Start,
    progress: &(dyn Fn(Progress) + Sync),
) -> Exploration {
    let Start {
        regressed,
        abort_above,
        start_loss,
    } = start;
    let mut first_loss = f64::NAN;
    fitter.close = false;
    let l0 = start_loss.unwrap_or_else(|| fitter.loss(&active, &q, &fitter.train));
    fitter.loss_ref = if l0.is_finite() && l0 > 0.0 { l0 } else { 1.0 };

    let best_hold =
        |c: &[(Vec<usize>, Vec<f64>, f64)]| c.iter().map(|x| x.2).fold(f64::INFINITY, f64::min);
    let mut path: Vec<PathEntry> = Vec::new();
    let mut candidates: Vec<(Vec<usize>, Vec<f64>, f64)> = Vec::new();
    let rounds = spec.fit.rounds.max(1);
    let score_pieces = if fitter.holdout.is_empty() {
        fitter.train.clone()
    } else {
        fitter.holdout.clone()
    };
    let fitter_labels = fitter.prob.label_count(&score_pieces).max(1);
    let fitter_holdout_empty = fitter.holdout.is_empty();

    let mut per_piece: Vec<Vec<f64>> = Vec::new();
    let mut record = |fitter: &mut Fitter,
                      active: &[usize],
                      q: &[f64],
                      mu: f64,
                      gamma: f64,
                      path: &mut Vec<PathEntry>,
                      candidates: &mut Vec<(Vec<usize>, Vec<f64>, f64)>| {
        if candidates.iter().any(|(a, _, _)| a.as_slice() == active) {
            return;
        }
        let train = fitter.train.clone();
        let (qd, train_loss, _) = fitter.optimize(active, q.to_vec(), 0.0, &train);
        let ev = Evaluator::new(
            fitter.prob,
            active.to_vec(),
            fitter.base.clone(),
            score_pieces.clone(),
        );
        let (he, per) = ev.eval_per_piece(&qd);
        // With no held-out pieces, score on the training pieces with the BIC penalty
        // (as a factor on the loss: L·N^(k/N)), so that extra terms must pay for themselves.
        let hold = if fitter.holdout.is_empty() {
            let nl = fitter_labels as f64;
            he.loss * nl.powf(active.len() as f64 / nl)
        } else {
            he.loss
        };
        per_piece.push(per);
        let nsparse = active
            .iter()
            .filter(|&&k| fitter.prob.model.params[k].sparse)
            .count();
        let mut params = fitter.user(active, &qd);
        for (k, v) in params.iter_mut().enumerate() {
            if !fitter.prob.model.params[k].fixed && !active.contains(&k) {
                *v = 0.0;
            }
        }
        path.push(PathEntry {
            mu,
            gamma,
            active_terms: active.len(),
            sparse_terms: nsparse,
            train_loss,
            holdout_loss: hold,
            selected: false,
            params,
        });
        candidates.push((active.to_vec(), qd, hold));
    };

    let round_pieces = spread(&fitter.train, ROUND_PIECES);
    for r in 0..rounds {
        let mu = geometric(spec.fit.mu.0, spec.fit.mu.1, r, rounds);
        let gamma = geometric(spec.fit.threshold.0, spec.fit.threshold.1, r, rounds);
        // Without a regression guess the first round starts maybe far from any minimum: let it
        // converge before anything is pruned (a term still near its zero start would go).
        fitter.first_round = r == 0 && !regressed;
        let res = fitter.optimize_result(&active, q.clone(), mu, &round_pieces);
        let (qn, loss) = (res.q, res.loss);
        fitter.first_round = false;
        if r == 0 {
            first_loss = loss;
            // The first round, with the full budget, barely moved a regression guess: the
            // guess was at the minimum to within what selection can resolve, and the later
            // rounds (warm-started, μ a little smaller each time) only shrink small terms.
            let moved = (res.start_loss - loss) / res.start_loss;
            fitter.close = regressed && moved.abs() < SELECT_MARGIN;
            if std::env::var_os("ODENET_DEBUG").is_some() {
                eprintln!(
                    "first round moved the loss by {moved:e}, close {}",
                    fitter.close
                );
            }
            // A start whose dense fit is far worse than another start's is in a poor basin:
            // stop exploring it.
            if loss.is_nan() || loss > abort_above {
                return Exploration {
                    path: Vec::new(),
                    active,
                    q: qn,
                    score: f64::INFINITY,
                    first_loss,
                };
            }
        }
        q = qn;
        let drop = fitter.prune_set(&active, &q, gamma);
        let (a, v) = reduce(&active, &q, &drop);
        let changed = a.len() != active.len();
        active = a;
        q = v;
        progress(Progress::Round {
            round: r + 1,
            rounds,
            loss,
            active: active.len(),
        });
        if changed || r + 1 == rounds {
            record(fitter, &active, &q, mu, gamma, &mut path, &mut candidates);
            if let Some((ca, qd, _)) = candidates.last()
                && ca.as_slice() == active.as_slice()
            {
                q = qd.clone();
            }
        }
    }

    // Backward elimination: drop, one at a time, the sparse term whose removal costs the least
    // (the Wald statistic q_k² / [H⁻¹]_kk with the Gauss–Newton H, which accounts for correlated
    // terms that cancel), step to the refit predicted by H, polish, and score on held-out pieces.
    loop {
        let sparse_idx: Vec<usize> = (0..active.len())
            .filter(|&j| model.params[active[j]].sparse)
            .collect();
        if sparse_idx.is_empty() {
            break;
        }
        let train = fitter.explore.clone();
        let ev = Evaluator::new(fitter.prob, active.clone(), fitter.base.clone(), train);
        let gn = ev.gauss_newton(&q);
        let na = active.len();
        let hm = nalgebra::DMatrix::from_row_slice(na, na, &gn.h);
        let ridge = (0..na).map(|i| hm[(i, i)]).fold(0.0, f64::max) * 1e-12 + f64::MIN_POSITIVE;
        let hinv = (hm + nalgebra::DMatrix::identity(na, na) * ridge).try_inverse();
        let Some(hinv) = hinv else { break };
        let mut order: Vec<(usize, f64)> = sparse_idx
            .iter()
            .map(|&j| (j, 0.5 * q[j] * q[j] / hinv[(j, j)].max(f64::MIN_POSITIVE)))
            .collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
        // Remove together every term whose joint removal is predicted to raise the loss by
        // less than BATCH_TOL of it (they are all noise); always at least the cheapest one.
        let mut set: Vec<usize> = vec![order[0].0];
        let joint = |set: &[usize]| -> Option<(f64, nalgebra::DVector<f64>)> {
            let m = set.len();
            let hs = nalgebra::DMatrix::from_fn(m, m, |a, b| hinv[(set[a], set[b])]);
            let qs = nalgebra::DVector::from_fn(m, |a, _| q[set[a]]);
            let w = hs.lu().solve(&qs)?;
            Some((0.5 * qs.dot(&w), w))
        };
        for &(j, _) in order.iter().skip(1) {
            let mut trial = set.clone();
            trial.push(j);
            match joint(&trial) {
                Some((inc, _)) if inc.is_finite() && inc <= BATCH_TOL * gn.loss => set = trial,
                _ => break,
            }
        }
        // Second-order refit of the others with q_S forced to zero.
        let mut qn = q.clone();
        if let Some((_, w)) = joint(&set) {
            for (i, v) in qn.iter_mut().enumerate() {
                *v -= set
                    .iter()
                    .enumerate()
                    .map(|(a, &k)| hinv[(i, k)] * w[a])
                    .sum::<f64>();
            }
        }
        if qn.iter().any(|v| !v.is_finite()) {
            qn = q.clone();
        }
        let mut drop = vec![false; na];
        for &k in &set {
            drop[k] = true;
        }
        let dropped: Vec<&str> = set
            .iter()
            .map(|&k| model.params[active[k]].name.as_str())
            .collect();
        let (a, v) = reduce(&active, &qn, &drop);
        active = a;
        q = v;
        if std::env::var_os("ODENET_DEBUG").is_some() {
            eprintln!("eliminate: dropped {dropped:?}, {} left", active.len());
        }
        record(
            fitter,
            &active,
            &q,
            0.0,
            f64::NAN,
            &mut path,
            &mut candidates,
        );
        if let Some((ca, qd, hold)) = candidates.last()
            && ca.as_slice() == active.as_slice()
        {
            q = qd.clone();
            let best = best_hold(&candidates);
            if !hold.is_finite() || *hold > best * ELIMINATION_STOP {
                break;
            }
        }
        progress(Progress::Eliminate {
            active: active.len(),
        });
    }

    // Parsimony: the sparsest support whose held-out loss is not worse than the best one's by
    // more than the margin, or by more than twice the standard error of the paired per-piece
    // differences (a difference the held-out pieces cannot resolve).
    let best = best_hold(&candidates);
    let ibest = candidates.iter().position(|c| c.2.total_cmp(&best).is_eq());
    // The excess of candidate i over the best in standard errors of the paired per-piece
    // differences (NaN when they cannot be formed).
    let paired_z = |i: usize| -> f64 {
        let Some(ib) = ibest else { return f64::NAN };
        if fitter_holdout_empty {
            return f64::NAN;
        }
        let (a, b) = (&per_piece[i], &per_piece[ib]);
        let m = a.len();
        if m < 5 || b.len() != m {
            return f64::NAN;
        }
        let nl = fitter_labels as f64;
        let d: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) / nl * m as f64)
            .collect();
        let mean = d.iter().sum::<f64>() / m as f64;
        let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1) as f64;
        let se = (var / m as f64).sqrt();
        if se > 0.0 {
            mean / se
        } else if mean > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let acceptable = |i: usize| -> bool {
        let c = &candidates[i];
        if !c.2.is_finite() {
            return false;
        }
        let excess = c.2 - best;
        if excess <= SELECT_MARGIN * best {
            return true;
        }
        paired_z(i) <= SELECT_SE
    };
    if std::env::var_os("ODENET_DEBUG").is_some() {
        for (i, c) in candidates.iter().enumerate() {
            let z = paired_z(i);
            eprintln!(
                "candidate {} terms: held-out {:.6e}, excess {:.3}%, paired z {z:.2}",
                c.0.len(),
                c.2,
                100.0 * (c.2 - best) / best
            );
        }
    }
    let chosen = (0..candidates.len())
        .filter(|&i| acceptable(i))
        .min_by(|&a, &b| {
            candidates[a]
                .0
                .len()
                .cmp(&candidates[b].0.len())
                .then(candidates[a].2.total_cmp(&candidates[b].2))
        });
    match chosen {
        Some(i) => {
            path[i].selected = true;
            Exploration {
                path,
                active: candidates[i].0.clone(),
                q: candidates[i].1.clone(),
                score: candidates[i].2,
                first_loss,
            }
        }
        None => Exploration {
            path,
            active,
            q,
            score: f64::INFINITY,
            first_loss,
        },
    }
}
