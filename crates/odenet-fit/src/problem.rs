//! The data side of a fit: experiments scaled to unit size, pieces cut from them, and the loss
//! with its exact gradient evaluated over a set of pieces in parallel.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use odenet_solve::{PieceSolver, Sens, SolveOptions};
use odenet_spec::{Initial, Segment, Spec, Table};
use rayon::prelude::*;

use crate::FitError;
use crate::model::CompiledModel;
use crate::model::ModelKind;
use crate::scaled::{LibraryLayout, LibraryScaledRhs, PieceRhs, ScaledRhs, Scales};

/// Loss charged per label value of a piece that could not be integrated: the squared mismatch
/// of a prediction about three data scales off. Large enough that the line search backs off,
/// finite so that it never poisons the optimiser's state.
pub const FAILED_PIECE_PENALTY: f64 = 10.0;

/// Per-piece slot: squared-error sum, failed flag, BDF flag, steps; then the gradient.
const SLOT_HEAD: usize = 4;

/// One experiment in scaled units.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub consts: Vec<f64>,
    /// Scaled times.
    pub t: Vec<f64>,
    /// Scaled values, row-major rows × n, NaN where missing (hidden states are all NaN).
    pub y: Vec<f64>,
    pub rows: usize,
}

/// A run of consecutive rows of one experiment, integrated from its first row.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    pub exp: usize,
    pub start: usize,
    pub len: usize,
}

/// Everything fixed during a fit.
pub struct Problem<'m> {
    pub model: &'m CompiledModel,
    pub scales: Scales,
    pub exps: Vec<Experiment>,
    pub pieces: Vec<Piece>,
    /// Scaled initial state of every piece, row-major pieces × n.
    pub x0: Vec<f64>,
    pub solve_opts: SolveOptions,
    /// Pieces are whole experiments (hidden states with fixed initial values need it).
    pub whole: bool,
    /// Per piece and state: the piece's initial value is profiled (an unknown fitted with the
    /// piece, its observation a label) rather than taken as exact from noisy data.
    pub free_start: Vec<bool>,
    /// Per piece and state: the start value is observed and counts as a label of the profile
    /// (false for a `"fit"` initial value, a per-experiment unknown with no observation).
    pub start_label: Vec<bool>,
}

impl<'m> Problem<'m> {
    /// Scales the data and cuts the pieces. `pscale` is filled later (it needs the features).
    pub fn new(
        model: &'m CompiledModel,
        spec: &Spec,
        tables: &[Table],
        solve_opts: SolveOptions,
    ) -> Result<Problem<'m>, FitError> {
        let n = model.nstates();
        if tables.is_empty() {
            return Err(FitError::NoData);
        }
        // State scales: the largest magnitude observed (1 for hidden or all-zero states).
        let mut sx = vec![0.0f64; n];
        for tb in tables {
            for (i, col) in tb.values.iter().enumerate() {
                for &v in col {
                    if v.is_finite() {
                        sx[i] = sx[i].max(v.abs());
                    }
                }
            }
        }
        for s in &mut sx {
            if *s <= 0.0 || !s.is_finite() {
                *s = 1.0;
            }
        }
        // Time scale: the time over which the observed states move by about their own scale,
        // estimated from finite differences of the data (only a scale, so noise is harmless).
        let mut rate_sum = 0.0;
        let mut rate_n = 0usize;
        for tb in tables {
            for (i, col) in tb.values.iter().enumerate() {
                for k in 1..tb.times.len() {
                    let (a, b) = (col[k - 1], col[k]);
                    if a.is_finite() && b.is_finite() {
                        let d = (b - a) / (tb.times[k] - tb.times[k - 1]) / sx[i];
                        rate_sum += d * d;
                        rate_n += 1;
                    }
                }
            }
        }
        let rms_rate = if rate_n > 0 {
            (rate_sum / rate_n as f64).sqrt()
        } else {
            0.0
        };
        let span = tables
            .iter()
            .map(|t| {
                t.times.last().copied().unwrap_or(0.0) - t.times.first().copied().unwrap_or(0.0)
            })
            .fold(0.0f64, f64::max);
        let st = if rms_rate.is_finite() && rms_rate > 0.0 {
            1.0 / rms_rate
        } else if span > 0.0 {
            span
        } else {
            1.0
        };

        let mut exps = Vec::with_capacity(tables.len());
        for (e, tb) in tables.iter().enumerate() {
            let rows = tb.times.len();
            let mut y = vec![f64::NAN; rows * n];
            for (i, col) in tb.values.iter().enumerate() {
                for (k, &v) in col.iter().enumerate() {
                    y[k * n + i] = v / sx[i];
                }
            }
            let t0 = tb.times[0];
            exps.push(Experiment {
                consts: spec
                    .data
                    .get(e)
                    .map(|d| d.constants.clone())
                    .unwrap_or_default(),
                t: tb.times.iter().map(|&t| (t - t0) / st).collect(),
                y,
                rows,
            });
        }

        // Hidden states whose initial value is a number (or fitted) are only known at the start
        // of an experiment, so every piece must start there.
        let whole = matches!(spec.fit.segment, Segment::Whole)
            || spec.data.iter().any(|d| {
                d.initial.iter().enumerate().any(|(i, ini)| {
                    let unobserved = model.hidden[i]
                        || tables
                            .iter()
                            .all(|tb| tb.values[i].iter().all(|v| !v.is_finite()));
                    unobserved && matches!(ini, Initial::Value(_) | Initial::Fit)
                })
            });
        let seg = match spec.fit.segment {
            Segment::Points(m) => m,
            Segment::Whole => usize::MAX,
        };
        let stride = spec.fit.stride.max(1);
        let mut pieces = Vec::new();
        let mut x0 = Vec::new();
        let mut free_start = Vec::new();
        let mut start_label = Vec::new();
        let mut xbuf = vec![0.0; n];
        for (e, ex) in exps.iter().enumerate() {
            let starts: Vec<usize> = if whole {
                vec![0]
            } else {
                (0..ex.rows).step_by(stride).collect()
            };
            for start in starts {
                let len = if whole {
                    ex.rows
                } else {
                    seg.min(ex.rows - start)
                };
                if len < 2 {
                    continue;
                }
                if !whole && len < seg && start != 0 {
                    // A short tail piece adds little and biases towards the end; skip it.
                    continue;
                }
                if !initial_state(model, spec, tables, &sx, e, start, &mut xbuf) {
                    continue;
                }
                // A piece needs at least one label.
                let has_label =
                    (start + 1..start + len).any(|k| (0..n).any(|i| ex.y[k * n + i].is_finite()));
                if !has_label {
                    continue;
                }
                pieces.push(Piece { exp: e, start, len });
                x0.extend_from_slice(&xbuf);
                let data = spec.data.get(e);
                for i in 0..n {
                    let ini = data.and_then(|d| d.initial.get(i));
                    let labelled = !model.hidden[i]
                        && ex.y[start * n + i].is_finite()
                        && matches!(ini, None | Some(Initial::Observed));
                    let fitted = start == 0 && matches!(ini, Some(Initial::Fit));
                    start_label.push(labelled);
                    free_start.push(labelled || fitted);
                }
            }
        }
        if pieces.is_empty() {
            return Err(FitError::NoPieces);
        }
        let npf = model.nparams();
        Ok(Problem {
            model,
            scales: Scales {
                sx,
                st,
                pscale: vec![1.0; npf],
            },
            exps,
            pieces,
            x0,
            solve_opts,
            whole,
            free_start,
            start_label,
        })
    }

    pub fn nstates(&self) -> usize {
        self.model.nstates()
    }

    /// The scaled right-hand side of experiment `e`.
    pub fn rhs<'a>(&'a self, e: usize, base: &'a [f64], active: &'a [usize]) -> ScaledRhs<'a> {
        ScaledRhs {
            inner: self.model.rhs(&self.exps[e].consts),
            scales: &self.scales,
            base,
            active,
        }
    }

    /// Number of observed values of one piece after its start.
    pub fn later_labels(&self, pi: usize) -> usize {
        let n = self.nstates();
        let p = self.pieces[pi];
        let ex = &self.exps[p.exp];
        (p.start + 1..p.start + p.len)
            .map(|k| (0..n).filter(|&i| ex.y[k * n + i].is_finite()).count())
            .sum()
    }

    /// Number of label values of one piece (its profiled start values included).
    pub fn piece_labels(&self, pi: usize) -> usize {
        let n = self.nstates();
        self.later_labels(pi)
            + self.start_label[pi * n..(pi + 1) * n]
                .iter()
                .filter(|&&f| f)
                .count()
    }

    /// Total number of label values over a set of pieces.
    pub fn label_count(&self, pieces: &[usize]) -> usize {
        pieces.iter().map(|&pi| self.piece_labels(pi)).sum()
    }
}

/// The scaled initial state of a piece starting at `start` of experiment `e`, or false when it
/// cannot be formed (a missing observed value with no `initial` rule).
pub(crate) fn initial_state(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
    sx: &[f64],
    e: usize,
    start: usize,
    out: &mut [f64],
) -> bool {
    let n = model.nstates();
    let tb = &tables[e];
    let data = spec.data.get(e);
    let consts = data.map(|d| d.constants.as_slice()).unwrap_or(&[]);
    for i in 0..n {
        let ini = data
            .and_then(|d| d.initial.get(i))
            .cloned()
            .unwrap_or(Initial::Observed);
        let observed = tb.values[i][start];
        let v = match ini {
            Initial::Observed => observed,
            Initial::Value(v) if start == 0 => v,
            Initial::Value(_) => observed,
            Initial::Expr(ex) => {
                let lookup = |name: &str| -> Option<f64> {
                    if let Some(k) = spec.constants.iter().position(|c| c == name) {
                        return consts.get(k).copied();
                    }
                    let j = model.states.iter().position(|s| s == name)?;
                    let v = tb.values[j][start];
                    v.is_finite().then_some(v)
                };
                ex.eval(&lookup).unwrap_or(f64::NAN)
            }
            // Fitted initial values start from the observation, or from one state scale
            // (zero would be a fixed point of many models); the fit moves them.
            Initial::Fit => {
                if observed.is_finite() {
                    observed
                } else {
                    sx[i]
                }
            }
        };
        if !v.is_finite() {
            return false;
        }
        out[i] = v / sx[i];
    }
    true
}

/// The loss and its gradient at one point.
#[derive(Clone, Debug, Default)]
pub struct Eval {
    /// Mean over label values of the squared scaled mismatch (failed pieces charged the penalty).
    pub loss: f64,
    /// ∂loss/∂q over the active parameters (empty when not asked for).
    pub grad: Vec<f64>,
    /// Pieces that could not be integrated.
    pub failures: usize,
    /// Pieces that needed BDF.
    pub bdf_pieces: usize,
    /// Accepted solver steps over all pieces.
    pub steps: usize,
}

/// Gauss–Newton iterations that profile a piece's free initial values for given parameters.
const PROFILE_ITERS: usize = 2;
/// Gauss–Newton iterations (at most) for pieces with a fitted, unobserved initial value.
const PROFILE_ITERS_FITTED: usize = 30;
/// Ridge on a fitted initial value with no observation: only the trajectory informs it, and the
/// ridge keeps an unidentifiable one from running away.
const UNOBSERVED_START_RIDGE: f64 = 1e-9;

/// The diagonal a start coordinate contributes to its piece's normal equations: one for an
/// observed start (its label) and for a fixed one (a unit row keeps the system regular and its
/// step zero), the ridge for a fitted start with no observation.
fn start_diagonal(free: bool, labelled: bool) -> f64 {
    if free && !labelled {
        UNOBSERVED_START_RIDGE
    } else {
        1.0
    }
}

/// Loss, gradient and Gauss–Newton matrix at one point.
#[derive(Clone, Debug)]
pub struct GaussNewton {
    pub loss: f64,
    pub failures: usize,
    pub grad: Vec<f64>,
    /// Row-major na × na.
    pub h: Vec<f64>,
}

struct Workspace {
    /// Solver over the active parameters.
    solver: PieceSolver,
    /// Solver with no parameters, for the initial-value sensitivities of the profiling steps.
    solver0: PieceSolver,
    out_x: Vec<f64>,
    out_s: Vec<f64>,
    x0: Vec<f64>,
    gm: Vec<f64>,
    gv: Vec<f64>,
}

/// Solver workspaces reused across evaluations: each parallel chunk takes one and gives it
/// back, so steady-state evaluations allocate no solvers or buffers.
#[derive(Default)]
struct Pool(Mutex<Vec<Workspace>>);

impl Pool {
    fn take(&self, prob: &Problem, na: usize, maxlen: usize) -> Workspace {
        let n = prob.nstates();
        self.0
            .lock()
            .map(|mut p| p.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Workspace {
                solver: PieceSolver::new(n, na, prob.solve_opts),
                solver0: PieceSolver::new(n, 0, prob.solve_opts),
                out_x: vec![0.0; maxlen * n],
                out_s: vec![0.0; maxlen * n * (na + n)],
                x0: vec![0.0; n],
                gm: vec![0.0; n * n],
                gv: vec![0.0; n],
            })
    }

    fn give(&self, ws: Workspace) {
        if let Ok(mut p) = self.0.lock() {
            p.push(ws);
        }
    }
}

/// Evaluates the loss over a fixed set of pieces for a fixed active set.
pub struct Evaluator<'p, 'm> {
    pub prob: &'p Problem<'m>,
    pub active: Vec<usize>,
    /// Full parameter vector in user units (values of inactive parameters).
    pub base: Vec<f64>,
    pub pieces: Vec<usize>,
    nlabels: usize,
    maxlen: usize,
    /// Library models: the active and inactive terms, for the fast right-hand side.
    layout: Option<LibraryLayout>,
    pool: Pool,
    slots: Mutex<Vec<f64>>,
    pub evals: AtomicUsize,
}

impl<'p, 'm> Evaluator<'p, 'm> {
    pub fn new(
        prob: &'p Problem<'m>,
        active: Vec<usize>,
        base: Vec<f64>,
        pieces: Vec<usize>,
    ) -> Self {
        let nlabels = prob.label_count(&pieces);
        let maxlen = pieces
            .iter()
            .map(|&p| prob.pieces[p].len)
            .max()
            .unwrap_or(0);
        let layout = LibraryLayout::new(prob.model, &prob.scales, &base, &active);
        Evaluator {
            prob,
            active,
            base,
            pieces,
            nlabels,
            maxlen,
            layout,
            pool: Pool::default(),
            slots: Mutex::new(Vec::new()),
            evals: AtomicUsize::new(0),
        }
    }

    fn workspace(&self) -> Workspace {
        self.pool.take(self.prob, self.active.len(), self.maxlen)
    }

    fn give_back(&self, ws: Workspace) {
        self.pool.give(ws);
    }

    /// The right-hand side of experiment `e` over the active parameters.
    fn piece_rhs(&self, e: usize) -> PieceRhs<'_> {
        match (&self.layout, &self.prob.model.kind) {
            (Some(layout), ModelKind::Library { features, .. }) => {
                PieceRhs::Library(LibraryScaledRhs {
                    features,
                    sx: &self.prob.scales.sx,
                    layout,
                    bound: None,
                })
            }
            _ => PieceRhs::General(self.prob.rhs(e, &self.base, &self.active)),
        }
    }

    /// The right-hand side of experiment `e` with the parameters bound at `q` (`full` in user
    /// units): no parameters of its own.
    fn bound_rhs<'a>(&'a self, e: usize, q: &'a [f64], full: &'a [f64]) -> PieceRhs<'a> {
        match (&self.layout, &self.prob.model.kind) {
            (Some(layout), ModelKind::Library { features, .. }) => {
                PieceRhs::Library(LibraryScaledRhs {
                    features,
                    sx: &self.prob.scales.sx,
                    layout,
                    bound: Some(q),
                })
            }
            _ => PieceRhs::General(self.prob.rhs(e, full, &[])),
        }
    }

    /// The full parameter vector in user units at the active values `q`.
    fn full(&self, q: &[f64]) -> Vec<f64> {
        let mut full = self.base.clone();
        for (&k, &v) in self.active.iter().zip(q) {
            full[k] = v * self.prob.scales.pscale[k];
        }
        full
    }

    /// Loss (and gradient when `grad`) at the active parameters `q` (normalised units).
    pub fn eval(&self, q: &[f64], grad: bool) -> Eval {
        self.eval_inner(q, grad, None)
    }

    /// The loss at `q` and each piece's squared-error sum (in the order of `self.pieces`).
    pub fn eval_per_piece(&self, q: &[f64]) -> (Eval, Vec<f64>) {
        let mut per = Vec::with_capacity(self.pieces.len());
        let e = self.eval_inner(q, false, Some(&mut per));
        (e, per)
    }

    fn eval_inner(&self, q: &[f64], grad: bool, per_piece: Option<&mut Vec<f64>>) -> Eval {
        self.evals.fetch_add(1, Ordering::Relaxed);
        let na = self.active.len();
        let stride = SLOT_HEAD + if grad { na } else { 0 };
        let np = self.pieces.len();
        let full = self.full(q);
        let mut slots = std::mem::take(&mut *self.slots.lock().expect("slots lock"));
        slots.clear();
        slots.resize(np * stride, 0.0);
        let chunk = np.div_ceil(64).max(1);
        slots
            .par_chunks_mut(chunk * stride)
            .zip(self.pieces.par_chunks(chunk))
            .for_each(|(sl, pcs)| {
                let mut ws = self.workspace();
                for (s, &pi) in sl.chunks_mut(stride).zip(pcs) {
                    self.piece(&mut ws, pi, q, &full, grad, s);
                }
                self.give_back(ws);
            });
        // Deterministic reduction in piece order, whatever the thread count.
        let mut out = Eval {
            grad: if grad { vec![0.0; na] } else { vec![] },
            ..Eval::default()
        };
        let mut total = 0.0;
        for s in slots.chunks(stride) {
            total += s[0];
            if s[1] > 0.0 {
                out.failures += 1;
            }
            if s[2] > 0.0 {
                out.bdf_pieces += 1;
            }
            out.steps += s[3] as usize;
            if grad {
                for (g, v) in out.grad.iter_mut().zip(&s[SLOT_HEAD..]) {
                    *g += v;
                }
            }
        }
        let denom = self.nlabels.max(1) as f64;
        out.loss = total / denom;
        for g in &mut out.grad {
            *g /= denom;
        }
        if let Some(per) = per_piece {
            per.extend(slots.chunks(stride).map(|s| s[0]));
        }
        *self.slots.lock().expect("slots lock") = slots;
        out
    }

    /// The initial state of piece `pi` as the fit sees it at `q` (profiled; scaled units).
    pub fn profiled_start(&self, pi: usize, q: &[f64]) -> Vec<f64> {
        let full = self.full(q);
        let mut ws = self.workspace();
        self.profile(&mut ws, pi, q, &full);
        let x0 = ws.x0.clone();
        self.give_back(ws);
        x0
    }

    /// Profiles the free initial values of piece `pi` into `ws.x0` (Gauss–Newton on the
    /// piece's labels plus its start observations, parameters held at `full`).
    fn profile(&self, ws: &mut Workspace, pi: usize, q: &[f64], full: &[f64]) {
        let prob = self.prob;
        let n = prob.nstates();
        let pc = prob.pieces[pi];
        let ex = &prob.exps[pc.exp];
        ws.x0.copy_from_slice(&prob.x0[pi * n..(pi + 1) * n]);
        let free = &prob.free_start[pi * n..(pi + 1) * n];
        if !free.iter().any(|&f| f) {
            return;
        }
        let rhs0 = self.bound_rhs(pc.exp, q, full);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let y0 = &ex.y[pc.start * n..(pc.start + 1) * n];
        // Observed starts are near their optimum (two steps suffice); a fitted initial value
        // with no observation may start far away: iterate it to convergence.
        let labelled = &prob.start_label[pi * n..(pi + 1) * n];
        let unobserved = free.iter().zip(labelled).any(|(&f, &l)| f && !l);
        let iters = if unobserved {
            PROFILE_ITERS_FITTED
        } else {
            PROFILE_ITERS
        };
        for _ in 0..iters {
            let out_x = &mut ws.out_x[..pc.len * n];
            let out_s = &mut ws.out_s[..pc.len * n * n];
            if ws
                .solver0
                .solve(
                    &rhs0,
                    &[],
                    &ws.x0,
                    times,
                    Sens::ParamsAndInitial,
                    out_x,
                    out_s,
                )
                .is_err()
            {
                ws.x0.copy_from_slice(&prob.x0[pi * n..(pi + 1) * n]);
                return;
            }
            ws.gm.iter_mut().for_each(|v| *v = 0.0);
            ws.gv.iter_mut().for_each(|v| *v = 0.0);
            for i in 0..n {
                ws.gm[i * n + i] = start_diagonal(free[i], labelled[i]);
                if labelled[i] {
                    ws.gv[i] -= ws.x0[i] - y0[i];
                }
            }
            for k in 1..pc.len {
                let s = &out_s[k * n * n..(k + 1) * n * n];
                for i in 0..n {
                    let y = ex.y[(pc.start + k) * n + i];
                    if !y.is_finite() {
                        continue;
                    }
                    let r = out_x[k * n + i] - y;
                    for a in 0..n {
                        if !free[a] {
                            continue;
                        }
                        let sa = s[a * n + i];
                        ws.gv[a] -= r * sa;
                        for b in 0..n {
                            if free[b] {
                                ws.gm[a * n + b] += sa * s[b * n + i];
                            }
                        }
                    }
                }
            }
            if !solve_small(&mut ws.gm, &mut ws.gv, n) {
                return;
            }
            let mut step = 0.0f64;
            for ((x, &d), &f) in ws.x0.iter_mut().zip(&ws.gv).zip(free) {
                if f {
                    *x += d;
                    step = step.max(d.abs());
                }
            }
            if step.partial_cmp(&1e-10) != Some(std::cmp::Ordering::Greater) {
                break;
            }
        }
    }

    /// One piece: slot = [squared-error sum, failed, used bdf, steps, gradient…]. The gradient
    /// is the partial one at the profiled initial values, which is the total derivative of the
    /// profiled loss (the initial values are a minimiser).
    fn piece(
        &self,
        ws: &mut Workspace,
        pi: usize,
        q: &[f64],
        full: &[f64],
        grad: bool,
        slot: &mut [f64],
    ) {
        let prob = self.prob;
        let n = prob.nstates();
        let na = self.active.len();
        let pc = prob.pieces[pi];
        let ex = &prob.exps[pc.exp];
        self.profile(ws, pi, q, full);
        let rhs = self.piece_rhs(pc.exp);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let sens = if grad { Sens::Params } else { Sens::None };
        let out_x = &mut ws.out_x[..pc.len * n];
        let out_s = &mut ws.out_s[..if grad { pc.len * n * na } else { 0 }];
        let res = ws.solver.solve(&rhs, q, &ws.x0, times, sens, out_x, out_s);
        slot.iter_mut().for_each(|v| *v = 0.0);
        match res {
            Ok(stats) => {
                slot[2] = if stats.used_bdf { 1.0 } else { 0.0 };
                slot[3] = stats.steps as f64;
                let labelled = &prob.start_label[pi * n..(pi + 1) * n];
                let y0 = &ex.y[pc.start * n..(pc.start + 1) * n];
                for ((&x, &y), &f) in ws.x0.iter().zip(y0).zip(labelled) {
                    if f {
                        slot[0] += (x - y) * (x - y);
                    }
                }
                for k in 1..pc.len {
                    let row = &ex.y[(pc.start + k) * n..(pc.start + k + 1) * n];
                    for i in 0..n {
                        if !row[i].is_finite() {
                            continue;
                        }
                        let r = out_x[k * n + i] - row[i];
                        slot[0] += r * r;
                        if grad {
                            let s = &out_s[k * n * na..(k + 1) * n * na];
                            for c in 0..na {
                                slot[SLOT_HEAD + c] += 2.0 * r * s[c * n + i];
                            }
                        }
                    }
                }
            }
            Err(_) => {
                slot[0] = FAILED_PIECE_PENALTY * prob.piece_labels(pi) as f64;
                slot[1] = 1.0;
            }
        }
    }

    /// The Gauss–Newton matrix of the profiled loss with respect to the active parameters,
    /// (2/N) Σ_pieces (A − B C⁻¹ Bᵀ) with A = Σ S_θᵀS_θ, B = Σ S_θᵀS_x0, C = Σ S_x0ᵀS_x0 (+ the
    /// start labels) over the piece's labels: the Schur complement eliminates the profiled
    /// initial values. Row-major na × na. Chunks are fixed (not tied to the thread count) and
    /// summed in order, so the result is the same for any number of threads.
    pub fn gauss_newton(&self, q: &[f64]) -> GaussNewton {
        self.evals.fetch_add(1, Ordering::Relaxed);
        let n = self.prob.nstates();
        let na = self.active.len();
        let nc = na + n;
        let full = self.full(q);
        let chunk = self.pieces.len().div_ceil(64).max(1);
        // Each chunk: [loss sum, failures, gradient (na), H (na²)].
        let parts: Vec<Vec<f64>> = self
            .pieces
            .par_chunks(chunk)
            .map(|pcs| {
                let mut acc = vec![0.0; 2 + na + na * na];
                let (head, h) = acc.split_at_mut(2 + na);
                let mut m = vec![0.0; nc * nc];
                // One label's sensitivity row (the fixed initial values' columns zero).
                let mut v = vec![0.0; nc];
                let mut ws = self.workspace();
                for &pi in pcs {
                    let pc = self.prob.pieces[pi];
                    let ex = &self.prob.exps[pc.exp];
                    self.profile(&mut ws, pi, q, &full);
                    let rhs = self.piece_rhs(pc.exp);
                    let times = &ex.t[pc.start..pc.start + pc.len];
                    let out_x = &mut ws.out_x[..pc.len * n];
                    let out_s = &mut ws.out_s[..pc.len * n * nc];
                    if ws
                        .solver
                        .solve(&rhs, q, &ws.x0, times, Sens::ParamsAndInitial, out_x, out_s)
                        .is_err()
                    {
                        head[0] += FAILED_PIECE_PENALTY * self.prob.piece_labels(pi) as f64;
                        head[1] += 1.0;
                        continue;
                    }
                    m.iter_mut().for_each(|v| *v = 0.0);
                    let free = &self.prob.free_start[pi * n..(pi + 1) * n];
                    let labelled = &self.prob.start_label[pi * n..(pi + 1) * n];
                    for i in 0..n {
                        m[(na + i) * nc + na + i] = start_diagonal(free[i], labelled[i]);
                        if labelled[i] {
                            let r = ws.x0[i] - ex.y[pc.start * n + i];
                            head[0] += r * r;
                        }
                    }
                    for k in 1..pc.len {
                        let s = &out_s[k * n * nc..(k + 1) * n * nc];
                        for i in 0..n {
                            let y = ex.y[(pc.start + k) * n + i];
                            if !y.is_finite() {
                                continue;
                            }
                            let r = out_x[k * n + i] - y;
                            head[0] += r * r;
                            for (c, vc) in v.iter_mut().enumerate() {
                                *vc = if c >= na && !free[c - na] {
                                    0.0
                                } else {
                                    s[c * n + i]
                                };
                            }
                            for (g, &vc) in head[2..].iter_mut().zip(&v[..na]) {
                                *g += 2.0 * r * vc;
                            }
                            // The upper triangle; mirrored below.
                            for a in 0..nc {
                                let sa = v[a];
                                if sa == 0.0 {
                                    continue;
                                }
                                for (mab, &sb) in
                                    m[a * nc + a..(a + 1) * nc].iter_mut().zip(&v[a..])
                                {
                                    *mab += sa * sb;
                                }
                            }
                        }
                    }
                    for a in 0..nc {
                        for b in 0..a {
                            m[a * nc + b] = m[b * nc + a];
                        }
                    }
                    schur_add(&m, na, n, h);
                }
                self.give_back(ws);
                acc
            })
            .collect();
        let mut acc = vec![0.0; 2 + na + na * na];
        for part in &parts {
            for (a, b) in acc.iter_mut().zip(part) {
                *a += b;
            }
        }
        let denom = self.nlabels.max(1) as f64;
        GaussNewton {
            loss: acc[0] / denom,
            failures: acc[1] as usize,
            grad: acc[2..2 + na].iter().map(|v| v / denom).collect(),
            h: acc[2 + na..].iter().map(|v| 2.0 * v / denom).collect(),
        }
    }

    /// The linearised covariance of the fitted active parameters (normalised units, row-major
    /// na × na), for independent noise on every observed value with one variance per state.
    ///
    /// Pieces overlap (a value is a label of several pieces) and their starts are profiled, so the
    /// plain Gauss–Newton inverse treats each label as an independent observation. Instead, with J̃ the
    /// profiled Jacobian of a piece's residuals (J_θ − J_x0 C⁻¹ Bᵀ, orthogonal to the start
    /// directions), the estimate moves with an observation y as dq̂/dy = H⁻¹ Σ_{pieces ∋ y} J̃ᵀ, so
    /// Cov(q̂) = H⁻¹ (Σ_y σ²_y g_y g_yᵀ) H⁻¹ with g_y = Σ_{pieces ∋ y} J̃_y and H = Σ J̃ᵀJ̃ — which
    /// reduces to σ² H⁻¹ when no value is shared. σ² per state is the residual sum of squares over
    /// its labels, less the degrees of freedom taken by the profiled starts and the parameters.
    /// `None` when a piece fails or the information matrix is singular (a non-identifiable
    /// direction).
    pub fn covariance(&self, q: &[f64]) -> Option<Vec<f64>> {
        let prob = self.prob;
        let n = prob.nstates();
        let na = self.active.len();
        let nc = na + n;
        if na == 0 {
            return Some(Vec::new());
        }
        let full = self.full(q);
        let mut offsets = Vec::with_capacity(prob.exps.len());
        let mut nobs = 0;
        for ex in &prob.exps {
            offsets.push(nobs);
            nobs += ex.rows * n;
        }
        // Per piece: (observation index, J̃ row) for every label, the residual sum of squares and
        // label count per state, and the number of profiled start values per state.
        struct PieceRows {
            idx: Vec<usize>,
            rows: Vec<f64>,
            rss: Vec<f64>,
            labels: Vec<f64>,
            starts: Vec<f64>,
        }
        let parts: Vec<Option<PieceRows>> = self
            .pieces
            .par_iter()
            .map(|&pi| {
                let pc = prob.pieces[pi];
                let ex = &prob.exps[pc.exp];
                let mut ws = self.workspace();
                self.profile(&mut ws, pi, q, &full);
                let rhs = self.piece_rhs(pc.exp);
                let times = &ex.t[pc.start..pc.start + pc.len];
                let out_x = &mut ws.out_x[..pc.len * n];
                let out_s = &mut ws.out_s[..pc.len * n * nc];
                let solved = ws
                    .solver
                    .solve(&rhs, q, &ws.x0, times, Sens::ParamsAndInitial, out_x, out_s)
                    .is_ok();
                let result = solved.then(|| {
                    let free = &prob.free_start[pi * n..(pi + 1) * n];
                    let labelled = &prob.start_label[pi * n..(pi + 1) * n];
                    let mut out = PieceRows {
                        idx: Vec::new(),
                        rows: Vec::new(),
                        rss: vec![0.0; n],
                        labels: vec![0.0; n],
                        starts: vec![0.0; n],
                    };
                    // C = Σ S_x0ᵀ S_x0 (+ start labels), Bᵀ = Σ S_x0ᵀ S_θ over the free starts.
                    let mut c = vec![0.0; n * n];
                    let mut bt = vec![0.0; n * na];
                    for i in 0..n {
                        c[i * n + i] = start_diagonal(free[i], labelled[i]);
                        if free[i] {
                            out.starts[i] += 1.0;
                        }
                        if labelled[i] {
                            let r = ws.x0[i] - ex.y[pc.start * n + i];
                            out.rss[i] += r * r;
                            out.labels[i] += 1.0;
                        }
                    }
                    for k in 1..pc.len {
                        let s = &out_s[k * n * nc..(k + 1) * n * nc];
                        for i in 0..n {
                            let y = ex.y[(pc.start + k) * n + i];
                            if !y.is_finite() {
                                continue;
                            }
                            let r = out_x[k * n + i] - y;
                            out.rss[i] += r * r;
                            out.labels[i] += 1.0;
                            for a in 0..n {
                                if !free[a] {
                                    continue;
                                }
                                let sa = s[(na + a) * n + i];
                                for b in 0..n {
                                    if free[b] {
                                        c[a * n + b] += sa * s[(na + b) * n + i];
                                    }
                                }
                                for t in 0..na {
                                    bt[a * na + t] += sa * s[t * n + i];
                                }
                            }
                        }
                    }
                    // K = C⁻¹ Bᵀ (n × na), column by column.
                    let mut kmat = vec![0.0; n * na];
                    let mut col = vec![0.0; n];
                    let mut cc = vec![0.0; n * n];
                    for t in 0..na {
                        cc.copy_from_slice(&c);
                        for a in 0..n {
                            col[a] = bt[a * na + t];
                        }
                        if !solve_small(&mut cc, &mut col, n) {
                            return None;
                        }
                        for a in 0..n {
                            kmat[a * na + t] = col[a];
                        }
                    }
                    let base = offsets[pc.exp];
                    for i in 0..n {
                        if labelled[i] {
                            out.idx.push(base + pc.start * n + i);
                            out.rows.extend((0..na).map(|t| -kmat[i * na + t]));
                        }
                    }
                    for k in 1..pc.len {
                        let s = &out_s[k * n * nc..(k + 1) * n * nc];
                        for i in 0..n {
                            if !ex.y[(pc.start + k) * n + i].is_finite() {
                                continue;
                            }
                            out.idx.push(base + (pc.start + k) * n + i);
                            out.rows.extend((0..na).map(|t| {
                                let mut v = s[t * n + i];
                                for a in 0..n {
                                    if free[a] {
                                        v -= s[(na + a) * n + i] * kmat[a * na + t];
                                    }
                                }
                                v
                            }));
                        }
                    }
                    Some(out)
                });
                self.give_back(ws);
                result.flatten()
            })
            .collect();
        // In piece order: H = Σ J̃ᵀJ̃, g_y = Σ J̃_y, and the per-state variances.
        let mut h = nalgebra::DMatrix::<f64>::zeros(na, na);
        let mut g = vec![0.0; nobs * na];
        let mut rss = vec![0.0; n];
        let mut labels = vec![0.0; n];
        let mut starts = vec![0.0; n];
        for part in &parts {
            let part = part.as_ref()?;
            for (r, &y) in part.rows.chunks(na).zip(&part.idx) {
                for a in 0..na {
                    g[y * na + a] += r[a];
                    for b in 0..na {
                        h[(a, b)] += r[a] * r[b];
                    }
                }
            }
            for i in 0..n {
                rss[i] += part.rss[i];
                labels[i] += part.labels[i];
                starts[i] += part.starts[i];
            }
        }
        let total: f64 = labels.iter().sum();
        let var: Vec<f64> = (0..n)
            .map(|i| {
                let dof = labels[i] - starts[i] - na as f64 * labels[i] / total.max(1.0);
                if dof > 0.0 { rss[i] / dof } else { f64::NAN }
            })
            .collect();
        let hinv = h.clone().cholesky()?.inverse();
        let mut meat = nalgebra::DMatrix::<f64>::zeros(na, na);
        for y in 0..nobs {
            let gy = &g[y * na..(y + 1) * na];
            if gy.iter().all(|&v| v == 0.0) {
                continue;
            }
            let v = var[y % n];
            for a in 0..na {
                for b in 0..na {
                    meat[(a, b)] += v * gy[a] * gy[b];
                }
            }
        }
        let cov = &hinv * meat * &hinv;
        let out: Vec<f64> = cov.transpose().iter().copied().collect();
        out.iter().all(|v| v.is_finite()).then_some(out)
    }
}

/// h += A − B C⁻¹ Bᵀ for m = [[A, B], [Bᵀ, C]] (sizes na and n).
fn schur_add(m: &[f64], na: usize, n: usize, h: &mut [f64]) {
    let nc = na + n;
    // Solve C X = Bᵀ column by column with a small dense factorisation.
    let mut c = vec![0.0; n * n];
    let mut x = vec![0.0; n];
    for a in 0..na {
        for i in 0..n {
            for j in 0..n {
                c[i * n + j] = m[(na + i) * nc + na + j];
            }
            x[i] = m[(na + i) * nc + a];
        }
        let ok = solve_small(&mut c, &mut x, n);
        for b in 0..na {
            let mut v = m[a * nc + b];
            if ok {
                for i in 0..n {
                    v -= m[b * nc + na + i] * x[i];
                }
            }
            h[a * na + b] += v;
        }
    }
}

/// Solves the small dense system a·x = b in place (b becomes x) by Gaussian elimination with
/// partial pivoting. Returns false for a singular or non-finite system.
pub(crate) fn solve_small(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    for col in 0..n {
        let mut piv = col;
        for r in col + 1..n {
            if a[r * n + col].abs() > a[piv * n + col].abs() {
                piv = r;
            }
        }
        let p = a[piv * n + col];
        if !p.is_finite() || p.abs() <= 1e-300 {
            return false;
        }
        if piv != col {
            for j in 0..n {
                a.swap(col * n + j, piv * n + j);
            }
            b.swap(col, piv);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            if f != 0.0 {
                for j in col..n {
                    a[r * n + j] -= f * a[col * n + j];
                }
                b[r] -= f * b[col];
            }
        }
    }
    for col in (0..n).rev() {
        let mut v = b[col];
        for j in col + 1..n {
            v -= a[col * n + j] * b[j];
        }
        b[col] = v / a[col * n + col];
        if !b[col].is_finite() {
            return false;
        }
    }
    true
}

/// Learned noise (DESIGN.md step 6, the paper's eq. 4): every observed value y gets a noise
/// parameter e; pieces start at y − e and are compared with y − e. A Gaussian prior λ·Σe² (in
/// the same units as the mismatch) keeps the problem well posed: without it, any trajectory of
/// any model could absorb the data into e.
pub struct NoiseEvaluator<'p, 'm> {
    pub prob: &'p Problem<'m>,
    pub active: Vec<usize>,
    pub base: Vec<f64>,
    pub pieces: Vec<usize>,
    /// Global index of each experiment's first row in the noise vector (rows × n).
    pub row_offset: Vec<usize>,
    pub nrows: usize,
    /// Weight of the prior: the mean number of times a value is a label, so that prior and
    /// mismatch weigh each observation alike.
    pub lambda: f64,
    nlabels: usize,
    maxlen: usize,
    pool: Pool,
}

/// Loss and gradient of the learned-noise problem.
pub struct NoiseEval {
    pub loss: f64,
    pub gq: Vec<f64>,
    pub ge: Vec<f64>,
}

impl<'p, 'm> NoiseEvaluator<'p, 'm> {
    pub fn new(prob: &'p Problem<'m>, active: Vec<usize>, base: Vec<f64>) -> Self {
        let mut row_offset = Vec::with_capacity(prob.exps.len());
        let mut nrows = 0;
        for ex in &prob.exps {
            row_offset.push(nrows);
            nrows += ex.rows;
        }
        let pieces: Vec<usize> = (0..prob.pieces.len()).collect();
        let nlabels: usize = pieces.iter().map(|&pi| prob.later_labels(pi)).sum();
        let observed: usize = prob
            .exps
            .iter()
            .map(|ex| ex.y.iter().filter(|v| v.is_finite()).count())
            .sum();
        let lambda = (nlabels as f64 / observed.max(1) as f64).max(1.0);
        let maxlen = prob.pieces.iter().map(|p| p.len).max().unwrap_or(0);
        NoiseEvaluator {
            prob,
            active,
            base,
            pieces,
            row_offset,
            nrows,
            lambda,
            nlabels,
            maxlen,
            pool: Pool::default(),
        }
    }

    /// Length of the noise vector (rows × n, scaled units; entries of missing values unused).
    pub fn noise_len(&self) -> usize {
        self.nrows * self.prob.nstates()
    }

    pub fn eval(&self, q: &[f64], e: &[f64], grad: bool) -> NoiseEval {
        let prob = self.prob;
        let n = prob.nstates();
        let na = self.active.len();
        let local = self.maxlen * n;
        let stride = 2 + if grad { na + local } else { 0 };
        let np = self.pieces.len();
        let mut slots = vec![0.0; np * stride];
        let chunk = np.div_ceil(64).max(1);
        slots
            .par_chunks_mut(chunk * stride)
            .zip(self.pieces.par_chunks(chunk))
            .for_each(|(sl, pcs)| {
                let mut ws = self.pool.take(prob, na, self.maxlen);
                let Workspace {
                    solver,
                    out_x,
                    out_s,
                    x0,
                    ..
                } = &mut ws;
                for (slot, &pi) in sl.chunks_mut(stride).zip(pcs) {
                    let pc = prob.pieces[pi];
                    let ex = &prob.exps[pc.exp];
                    let off = self.row_offset[pc.exp];
                    let free = &prob.free_start[pi * n..(pi + 1) * n];
                    for i in 0..n {
                        x0[i] = prob.x0[pi * n + i];
                        if free[i] {
                            x0[i] -= e[(off + pc.start) * n + i];
                        }
                    }
                    let rhs = prob.rhs(pc.exp, &self.base, &self.active);
                    let times = &ex.t[pc.start..pc.start + pc.len];
                    let sens = if grad {
                        Sens::ParamsAndInitial
                    } else {
                        Sens::None
                    };
                    let nc = na + n;
                    let ox = &mut out_x[..pc.len * n];
                    let os = &mut out_s[..if grad { pc.len * n * nc } else { 0 }];
                    match solver.solve(&rhs, q, x0, times, sens, ox, os) {
                        Err(_) => {
                            slot[0] = FAILED_PIECE_PENALTY * prob.piece_labels(pi) as f64;
                            slot[1] = 1.0;
                        }
                        Ok(_) => {
                            for k in 1..pc.len {
                                for i in 0..n {
                                    let y = ex.y[(pc.start + k) * n + i];
                                    if !y.is_finite() {
                                        continue;
                                    }
                                    let ek = e[(off + pc.start + k) * n + i];
                                    let r = ox[k * n + i] - (y - ek);
                                    slot[0] += r * r;
                                    if grad {
                                        let s = &os[k * n * nc..(k + 1) * n * nc];
                                        for c in 0..na {
                                            slot[2 + c] += 2.0 * r * s[c * n + i];
                                        }
                                        // The label's own noise, and the start's through x0 = y − e.
                                        slot[2 + na + k * n + i] += 2.0 * r;
                                        for j in 0..n {
                                            if free[j] {
                                                slot[2 + na + j] -= 2.0 * r * s[(na + j) * n + i];
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                self.pool.give(ws);
            });
        let mut loss = 0.0;
        let mut gq = vec![0.0; if grad { na } else { 0 }];
        let mut ge = vec![0.0; if grad { e.len() } else { 0 }];
        for (s, &pi) in slots.chunks(stride).zip(&self.pieces) {
            loss += s[0];
            if grad {
                for (g, v) in gq.iter_mut().zip(&s[2..2 + na]) {
                    *g += v;
                }
                let pc = prob.pieces[pi];
                let base_row = (self.row_offset[pc.exp] + pc.start) * n;
                for (j, v) in s[2 + na..2 + na + pc.len * n].iter().enumerate() {
                    ge[base_row + j] += v;
                }
            }
        }
        // The prior on every observed value's noise.
        for (ex, &off) in prob.exps.iter().zip(&self.row_offset) {
            for (j, y) in ex.y.iter().enumerate() {
                if y.is_finite() {
                    let v = e[off * n + j];
                    loss += self.lambda * v * v;
                    if grad {
                        ge[off * n + j] += 2.0 * self.lambda * v;
                    }
                }
            }
        }
        let denom = self.nlabels.max(1) as f64;
        NoiseEval {
            loss: loss / denom,
            gq: gq.into_iter().map(|v| v / denom).collect(),
            ge: ge.into_iter().map(|v| v / denom).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::driver::{prepare, solve_options};
    use crate::model::CompiledModel;

    fn lv_problem_inputs() -> (Spec, Vec<Table>) {
        let spec = Spec::from_str(
            "states = [\"x1\", \"x2\"]\n[library]\npolynomial = 2\n[fit]\nrtol = 1e-10\natol = 1e-12\n",
            Path::new("t.toml"),
        )
        .expect("spec");
        let times: Vec<f64> = (0..60).map(|k| k as f64 * 0.05).collect();
        // Noisy-looking data (not a solution): the loss is far from zero and every term matters.
        let values = vec![
            times
                .iter()
                .map(|t| 20.0 + 10.0 * (t * 1.3).sin() + 0.3 * (t * 17.0).cos())
                .collect(),
            times
                .iter()
                .map(|t| 15.0 + 6.0 * (t * 0.9).cos() + 0.2 * (t * 23.0).sin())
                .collect(),
        ];
        (
            spec,
            vec![Table {
                file: "d.csv".into(),
                times,
                values,
            }],
        )
    }

    /// Runs `f` with an evaluator over every piece of the Lotka–Volterra test problem and the
    /// number of its active parameters.
    fn with_lv_evaluator(f: impl FnOnce(&Evaluator, usize)) {
        let (spec, tables) = lv_problem_inputs();
        let model = CompiledModel::from_spec(&spec).expect("model");
        let prep = prepare(&model, &spec, &tables, solve_options(&spec)).expect("prepare");
        let pieces: Vec<usize> = (0..prep.prob.pieces.len()).collect();
        let ev = Evaluator::new(&prep.prob, prep.active.clone(), prep.base.clone(), pieces);
        f(&ev, prep.active.len());
    }

    fn start(n: usize) -> Vec<f64> {
        (0..n).map(|k| 0.3 * ((k as f64) * 0.7).sin()).collect()
    }

    /// The exact gradient of the profiled loss against central finite differences of the loss.
    #[test]
    fn gradient_matches_finite_differences() {
        with_lv_evaluator(|ev, na| {
            let q = start(na);
            let e = ev.eval(&q, true);
            assert_eq!(e.failures, 0);
            for k in 0..q.len() {
                let h = 1e-5;
                let mut qp = q.clone();
                let mut qm = q.clone();
                qp[k] += h;
                qm[k] -= h;
                let fd = (ev.eval(&qp, false).loss - ev.eval(&qm, false).loss) / (2.0 * h);
                let scale = fd.abs().max(e.grad[k].abs()).max(1e-3 * e.loss);
                assert!(
                    (fd - e.grad[k]).abs() <= 2e-4 * scale,
                    "coordinate {k}: exact {} finite differences {fd}",
                    e.grad[k]
                );
            }
        });
    }

    /// The Gauss–Newton pass returns the same loss and gradient as the plain evaluation.
    #[test]
    fn gauss_newton_pass_agrees_with_eval() {
        with_lv_evaluator(|ev, na| {
            let q = start(na);
            let e = ev.eval(&q, true);
            let gn = ev.gauss_newton(&q);
            assert!((gn.loss - e.loss).abs() <= 1e-12 * e.loss);
            for (a, b) in gn.grad.iter().zip(&e.grad) {
                assert!((a - b).abs() <= 1e-10 * (a.abs() + b.abs() + 1e-12));
            }
            // Symmetric and positive on the diagonal.
            let na = q.len();
            for a in 0..na {
                assert!(gn.h[a * na + a] > 0.0);
                for b in 0..na {
                    assert!(
                        (gn.h[a * na + b] - gn.h[b * na + a]).abs()
                            <= 1e-9 * gn.h[a * na + a].abs().max(1e-12)
                    );
                }
            }
        });
    }

    /// Results do not depend on the number of threads.
    #[test]
    fn identical_for_any_thread_count() {
        with_lv_evaluator(|ev, na| {
            let q = start(na);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool");
                pool.install(|| {
                    let e = ev.eval(&q, true);
                    let gn = ev.gauss_newton(&q);
                    (
                        e.loss.to_bits(),
                        e.grad.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        gn.h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    )
                })
            };
            let one = run(1);
            assert_eq!(one, run(2));
            assert_eq!(one, run(3));
        });
    }

    /// A parameter that makes pieces blow up yields a finite, counted penalty, not a crash.
    #[test]
    fn failed_pieces_are_penalised_and_counted() {
        with_lv_evaluator(|ev, na| {
            // Large positive quadratic self-interaction: finite-time blow-up within a piece.
            let mut q = vec![0.0; na];
            q[3] = 1e4;
            let e = ev.eval(&q, true);
            assert!(e.failures > 0);
            assert!(e.loss.is_finite() && e.loss > 1.0);
            assert!(e.grad.iter().all(|g| g.is_finite()));
        });
    }
}
