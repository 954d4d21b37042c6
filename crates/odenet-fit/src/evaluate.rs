//! The loss of a support over a set of pieces: each piece's free initial values profiled, the
//! piece integrated with forward sensitivities, the squared mismatch with its exact gradient and
//! Gauss–Newton matrix, evaluated in parallel with a reduction in a fixed order.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use odenet_solve::{PieceSolver, Sens};
use rayon::prelude::*;

use crate::linalg::solve_small;
use crate::model::ModelKind;
use crate::partition::{Partition, split_balanced};
use crate::problem::{Experiment, Piece, Problem};
use crate::scaled::{LibraryLayout, LibraryScaledRhs, PieceRhs};

/// Loss charged per label value of a piece that could not be integrated: the squared mismatch
/// of a prediction about three data scales off. Large enough that the line search backs off,
/// finite so that it never poisons the optimiser's state.
pub const FAILED_PIECE_PENALTY: f64 = 10.0;

/// Per-piece slot: squared-error sum, failed flag, BDF flag, steps; then the gradient.
const SLOT_HEAD: usize = 4;
/// Pieces are evaluated in this many fixed chunks (at most), whatever the thread count.
const CHUNKS: usize = 64;
/// Gauss–Newton iterations that profile a piece's free initial values for given parameters.
const PROFILE_ITERS: usize = 2;
/// Pieces longer than this are profiled to convergence (as fitted initial values are).
const PROFILE_SHORT_LEN: usize = 20;
/// Gauss–Newton iterations (at most) for pieces with a fitted, unobserved initial value.
const PROFILE_ITERS_FITTED: usize = 30;
/// Ridge on a fitted initial value with no observation: only the trajectory informs it, and the
/// ridge keeps an unidentifiable one from running away.
const UNOBSERVED_START_RIDGE: f64 = 1e-9;
/// State magnitudes (scaled units: the data's size is 1) below this count as this in the
/// amplification's elasticities.
const AMPLIFICATION_FLOOR: f64 = 0.1;

/// The diagonal a start coordinate contributes to its piece's normal equations: one for an
/// observed start (its label) and for a fixed one (a unit row keeps the system regular and its
/// step zero), the ridge for a fitted start with no observation.
pub(crate) fn start_diagonal(free: bool, labelled: bool) -> f64 {
    if free && !labelled {
        UNOBSERVED_START_RIDGE
    } else {
        1.0
    }
}

/// Every observed value after the start of piece `pc`, in row-then-state order: (row within
/// the piece, state, observed value).
pub(crate) fn labels(
    ex: &Experiment,
    pc: Piece,
    n: usize,
) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
    (1..pc.len).flat_map(move |k| {
        (0..n).filter_map(move |i| {
            let y = ex.y[(pc.start + k) * n + i];
            y.is_finite().then_some((k, i, y))
        })
    })
}

/// The size of the fixed chunks `pieces` are split into.
pub(crate) fn chunk_len(pieces: usize) -> usize {
    pieces.div_ceil(CHUNKS).max(1)
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

/// Loss, gradient and Gauss–Newton matrix at one point.
#[derive(Clone, Debug)]
pub struct GaussNewton {
    pub loss: f64,
    pub failures: usize,
    pub grad: Vec<f64>,
    /// Row-major na × na.
    pub h: Vec<f64>,
}

/// Solver and buffers for one piece at a time.
pub(crate) struct Workspace {
    /// Solver over the active parameters.
    pub solver: PieceSolver,
    /// Solver with no parameters, for the initial-value sensitivities of the profiling steps.
    solver0: PieceSolver,
    pub out_x: Vec<f64>,
    pub out_s: Vec<f64>,
    pub x0: Vec<f64>,
    gm: Vec<f64>,
    gv: Vec<f64>,
}

/// Solver workspaces reused across evaluations: each parallel chunk takes one and gives it
/// back, so steady-state evaluations allocate no solvers or buffers.
#[derive(Default)]
pub(crate) struct Pool(Mutex<Vec<Workspace>>);

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

    /// Runs `f(ws, pi, slot)` for every piece of `pieces`, in parallel over fixed chunks with one
    /// pooled workspace per chunk; `slot` is the piece's `stride` values of `slots` (zeroed).
    pub fn for_each_piece(
        &self,
        prob: &Problem,
        sizes: (usize, usize),
        pieces: &[usize],
        slots: &mut [f64],
        stride: usize,
        f: impl Fn(&mut Workspace, usize, &mut [f64]) + Sync + Send,
    ) {
        let chunk = chunk_len(pieces.len());
        self.for_each_piece_chunked(prob, sizes, pieces, chunk, slots, stride, f);
    }

    /// [`Pool::for_each_piece`] with chunks of `chunk` pieces (a share of a larger evaluation's
    /// chunks, which keeps its chunk length).
    #[allow(clippy::too_many_arguments)]
    fn for_each_piece_chunked(
        &self,
        prob: &Problem,
        (na, maxlen): (usize, usize),
        pieces: &[usize],
        chunk: usize,
        slots: &mut [f64],
        stride: usize,
        f: impl Fn(&mut Workspace, usize, &mut [f64]) + Sync + Send,
    ) {
        slots.iter_mut().for_each(|v| *v = 0.0);
        slots
            .par_chunks_mut(chunk * stride)
            .zip(pieces.par_chunks(chunk))
            .for_each(|(sl, pcs)| {
                let mut ws = self.take(prob, na, maxlen);
                for (s, &pi) in sl.chunks_mut(stride).zip(pcs) {
                    f(&mut ws, pi, s);
                }
                self.give(ws);
            });
    }

    /// Folds every piece of `pieces` into one accumulator per fixed chunk (in parallel, one
    /// pooled workspace per chunk); the accumulators come back in chunk order.
    pub fn fold_chunks<T: Send>(
        &self,
        prob: &Problem,
        sizes: (usize, usize),
        pieces: &[usize],
        init: impl Fn() -> T + Sync + Send,
        f: impl Fn(&mut Workspace, &mut T, usize) + Sync + Send,
    ) -> Vec<T> {
        self.fold_chunks_chunked(prob, sizes, pieces, chunk_len(pieces.len()), init, f)
    }

    /// [`Pool::fold_chunks`] with chunks of `chunk` pieces.
    fn fold_chunks_chunked<T: Send>(
        &self,
        prob: &Problem,
        (na, maxlen): (usize, usize),
        pieces: &[usize],
        chunk: usize,
        init: impl Fn() -> T + Sync + Send,
        f: impl Fn(&mut Workspace, &mut T, usize) + Sync + Send,
    ) -> Vec<T> {
        pieces
            .par_chunks(chunk)
            .map(|pcs| {
                let mut acc = init();
                let mut ws = self.take(prob, na, maxlen);
                for &pi in pcs {
                    f(&mut ws, &mut acc, pi);
                }
                self.give(ws);
                acc
            })
            .collect()
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
    /// Per piece (pieces × n, indexed like `prob.x0`): the start profiled at the last
    /// evaluation, where long pieces start their profile.
    warm: Mutex<Vec<f64>>,
    /// A profile ends when its step is below this (scaled units): the integrator's accuracy.
    profile_tol: f64,
    pub evals: AtomicUsize,
    /// The processes sharing the loss and Gauss–Newton evaluations (see `partition.rs`).
    partition: Arc<dyn Partition>,
    /// Per process: the range of `pieces` (whole chunks) it evaluates.
    shares: Vec<Range<usize>>,
    /// A shared evaluation profiled this process's pieces only: other processes' profiled
    /// starts must be gathered before a pass over every piece.
    warm_stale: std::sync::atomic::AtomicBool,
}

impl<'p, 'm> Evaluator<'p, 'm> {
    pub fn new(
        prob: &'p Problem<'m>,
        active: Vec<usize>,
        base: Vec<f64>,
        pieces: Vec<usize>,
    ) -> Self {
        Self::with_partition(prob, active, base, pieces, crate::partition::current())
    }

    /// [`Evaluator::new`] whose loss and Gauss–Newton evaluations are shared by the processes
    /// of `partition` (each evaluates its share of the chunks; the results are gathered).
    pub fn with_partition(
        prob: &'p Problem<'m>,
        active: Vec<usize>,
        base: Vec<f64>,
        pieces: Vec<usize>,
        partition: Arc<dyn Partition>,
    ) -> Self {
        let chunk = chunk_len(pieces.len());
        let weights: Vec<usize> = pieces.chunks(chunk).map(|c| prob.label_count(c)).collect();
        let shares = split_balanced(&weights, partition.ranks())
            .into_iter()
            .map(|r| (r.start * chunk).min(pieces.len())..(r.end * chunk).min(pieces.len()))
            .collect();
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
            warm: Mutex::new(prob.x0.clone()),
            profile_tol: (0.1 * prob.solve_opts.rtol).max(1e-10),
            evals: AtomicUsize::new(0),
            partition,
            shares,
            warm_stale: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The range of `self.pieces` this process evaluates.
    fn my_share(&self) -> Range<usize> {
        self.shares
            .get(self.partition.rank())
            .cloned()
            .unwrap_or(0..0)
    }

    fn distributed(&self) -> bool {
        self.partition.ranks() > 1
    }

    /// Gathers every process's `width` values per piece of its share into `all` (laid out in
    /// the order of `self.pieces`; this process's values already in place).
    fn gather_per_piece(&self, all: &mut [f64], width: usize) {
        let mine = self.my_share();
        let local = all[mine.start * width..mine.end * width].to_vec();
        let counts: Vec<usize> = self.shares.iter().map(|r| r.len() * width).collect();
        self.partition.all_gather(&local, &counts, all);
    }

    /// Before a pass over every piece on every process (residuals, covariance, profiled
    /// starts): gathers the starts each process profiled for its own pieces at the last shared
    /// evaluations, so that every process starts each piece's profile where a single process
    /// would. Shared evaluations only mark them stale: they exchange no per-piece data.
    fn sync_warm(&self) {
        if !self.warm_stale.swap(false, Ordering::Relaxed) {
            return;
        }
        let n = self.prob.nstates();
        let Ok(warm) = self.warm.lock() else {
            return;
        };
        let mut all = vec![0.0; self.pieces.len() * n];
        let mine = self.my_share();
        for (k, &pi) in self
            .pieces
            .iter()
            .enumerate()
            .take(mine.end)
            .skip(mine.start)
        {
            all[k * n..(k + 1) * n].copy_from_slice(&warm[pi * n..(pi + 1) * n]);
        }
        drop(warm);
        self.gather_per_piece(&mut all, n);
        if let Ok(mut warm) = self.warm.lock() {
            for (k, &pi) in self.pieces.iter().enumerate() {
                warm[pi * n..(pi + 1) * n].copy_from_slice(&all[k * n..(k + 1) * n]);
            }
        }
    }

    fn sizes(&self) -> (usize, usize) {
        (self.active.len(), self.maxlen)
    }

    /// The right-hand side of experiment `e` over the active parameters, or, with `bound` =
    /// (q, the full vector in user units), with the parameters bound there (no parameters of
    /// its own, for the initial-value profiling).
    fn piece_rhs<'a>(&'a self, e: usize, bound: Option<(&'a [f64], &'a [f64])>) -> PieceRhs<'a> {
        match (&self.layout, &self.prob.model.kind) {
            (Some(layout), ModelKind::Library { features, .. }) => {
                PieceRhs::Library(LibraryScaledRhs {
                    features,
                    sx: &self.prob.scales.sx,
                    layout,
                    bound: bound.map(|b| b.0),
                })
            }
            _ => match bound {
                Some((_, full)) => PieceRhs::General(self.prob.rhs(e, full, &[])),
                None => PieceRhs::General(self.prob.rhs(e, &self.base, &self.active)),
            },
        }
    }

    /// The full parameter vector in user units at the active values `q`.
    pub fn full(&self, q: &[f64]) -> Vec<f64> {
        self.prob.scales.user(&self.base, &self.active, q)
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
        let full = self.full(q);
        let mut slots = std::mem::take(&mut *self.slots.lock().expect("slots lock"));
        slots.resize(self.pieces.len() * stride, 0.0);
        slots.iter_mut().for_each(|v| *v = 0.0);
        // This process's share of the fixed chunks (all of them for one process), then every
        // process's per-piece slots gathered in piece order.
        let mine = self.my_share();
        self.pool.for_each_piece_chunked(
            self.prob,
            self.sizes(),
            &self.pieces[mine.clone()],
            chunk_len(self.pieces.len()),
            &mut slots[mine.start * stride..mine.end * stride],
            stride,
            |ws, pi, s| self.piece(ws, pi, q, &full, grad, s),
        );
        // Deterministic reduction, whatever the thread and process count: each fixed chunk's
        // slots summed in piece order (the failed and BDF flags and the steps are counts), then
        // the chunks' sums in chunk order. Processes exchange only their chunks' sums, unless
        // every piece's value is asked for.
        let chunk = chunk_len(self.pieces.len());
        let sums = if !self.distributed() {
            chunk_sums(&slots, chunk * stride, stride)
        } else if per_piece.is_some() {
            self.warm_stale.store(true, Ordering::Relaxed);
            self.gather_per_piece(&mut slots, stride);
            chunk_sums(&slots, chunk * stride, stride)
        } else {
            self.warm_stale.store(true, Ordering::Relaxed);
            let local = chunk_sums(
                &slots[mine.start * stride..mine.end * stride],
                chunk * stride,
                stride,
            );
            let counts: Vec<usize> = self
                .shares
                .iter()
                .map(|r| r.len().div_ceil(chunk) * stride)
                .collect();
            let mut all = vec![0.0; counts.iter().sum()];
            self.partition.all_gather(&local, &counts, &mut all);
            all
        };
        let mut acc = vec![0.0; stride];
        for c in sums.chunks(stride) {
            for (a, v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        let denom = self.nlabels.max(1) as f64;
        let out = Eval {
            loss: acc[0] / denom,
            grad: acc[SLOT_HEAD..].iter().map(|g| g / denom).collect(),
            failures: acc[1] as usize,
            bdf_pieces: acc[2] as usize,
            steps: acc[3] as usize,
        };
        if let Some(per) = per_piece {
            per.extend(slots.chunks(stride).map(|s| s[0]));
        }
        *self.slots.lock().expect("slots lock") = slots;
        out
    }

    /// The initial state of piece `pi` as the fit sees it at `q` (profiled; scaled units).
    pub fn profiled_start(&self, pi: usize, q: &[f64]) -> Vec<f64> {
        self.sync_warm();
        let full = self.full(q);
        let mut ws = self.pool.take(self.prob, self.active.len(), self.maxlen);
        self.profile(&mut ws, pi, q, &full);
        let x0 = ws.x0.clone();
        self.pool.give(ws);
        x0
    }

    /// Profiles the free initial values of piece `pi` into `ws.x0` (Gauss–Newton on the
    /// piece's labels plus its start observations, parameters held at `full`).
    pub(crate) fn profile(&self, ws: &mut Workspace, pi: usize, q: &[f64], full: &[f64]) {
        let prob = self.prob;
        let n = prob.nstates();
        let pc = prob.pieces[pi];
        let ex = &prob.exps[pc.exp];
        ws.x0.copy_from_slice(&prob.x0[pi * n..(pi + 1) * n]);
        let free = &prob.free_start[pi * n..(pi + 1) * n];
        if !free.iter().any(|&f| f) {
            return;
        }
        // Long pieces start from the start profiled at the last evaluation (the optimum moves
        // little between nearby parameters), short ones from the observation.
        let long = pc.len > PROFILE_SHORT_LEN;
        if long && let Ok(warm) = self.warm.lock() {
            let w = &warm[pi * n..(pi + 1) * n];
            if w.iter().all(|v| v.is_finite()) {
                ws.x0.copy_from_slice(w);
            }
        }
        let rhs0 = self.piece_rhs(pc.exp, Some((q, full)));
        let times = &ex.t[pc.start..pc.start + pc.len];
        let y0 = &ex.y[pc.start * n..(pc.start + 1) * n];
        // Observed starts are near their optimum (two steps suffice); a fitted initial value
        // with no observation may start far away: iterate it to convergence.
        let labelled = &prob.start_label[pi * n..(pi + 1) * n];
        let unobserved = free.iter().zip(labelled).any(|(&f, &l)| f && !l);
        // Long pieces too: their end depends strongly on the start.
        let iters = if unobserved || long {
            PROFILE_ITERS_FITTED
        } else {
            PROFILE_ITERS
        };
        for _ in 0..iters {
            let out_x = &mut ws.out_x[..pc.len * n];
            let out_s = &mut ws.out_s[..pc.len * n * n];
            let solved = ws.solver0.solve(
                &rhs0,
                &[],
                &ws.x0,
                times,
                Sens::ParamsAndInitial,
                out_x,
                out_s,
            );
            if solved.is_err() {
                ws.x0.copy_from_slice(&prob.x0[pi * n..(pi + 1) * n]);
                break;
            }
            ws.gm.iter_mut().for_each(|v| *v = 0.0);
            ws.gv.iter_mut().for_each(|v| *v = 0.0);
            for i in 0..n {
                ws.gm[i * n + i] = start_diagonal(free[i], labelled[i]);
                if labelled[i] {
                    ws.gv[i] -= ws.x0[i] - y0[i];
                }
            }
            for (k, i, y) in labels(ex, pc, n) {
                let s = &out_s[k * n * n..(k + 1) * n * n];
                let r = out_x[k * n + i] - y;
                for a in (0..n).filter(|&a| free[a]) {
                    let sa = s[a * n + i];
                    ws.gv[a] -= r * sa;
                    for b in (0..n).filter(|&b| free[b]) {
                        ws.gm[a * n + b] += sa * s[b * n + i];
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
            if step.partial_cmp(&self.profile_tol) != Some(std::cmp::Ordering::Greater) {
                break;
            }
        }
        if long && let Ok(mut warm) = self.warm.lock() {
            warm[pi * n..(pi + 1) * n].copy_from_slice(&ws.x0);
        }
    }

    /// Adds the squared mismatch of piece `pi`'s observed start values at its profiled start
    /// (`ws.x0`) to `acc`, one value at a time.
    fn add_start_mismatch(&self, ws: &Workspace, pi: usize, acc: &mut f64) {
        let n = self.prob.nstates();
        let pc = self.prob.pieces[pi];
        let y0 = &self.prob.exps[pc.exp].y[pc.start * n..(pc.start + 1) * n];
        let labelled = &self.prob.start_label[pi * n..(pi + 1) * n];
        for ((&x, &y), &f) in ws.x0.iter().zip(y0).zip(labelled) {
            if f {
                *acc += (x - y) * (x - y);
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
        let rhs = self.piece_rhs(pc.exp, None);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let sens = if grad { Sens::Params } else { Sens::None };
        let out_x = &mut ws.out_x[..pc.len * n];
        let out_s = &mut ws.out_s[..if grad { pc.len * n * na } else { 0 }];
        match ws.solver.solve(&rhs, q, &ws.x0, times, sens, out_x, out_s) {
            Ok(stats) => {
                slot[2] = if stats.used_bdf { 1.0 } else { 0.0 };
                slot[3] = stats.steps as f64;
                self.add_start_mismatch(ws, pi, &mut slot[0]);
                for (k, i, y) in labels(ex, pc, n) {
                    let r = ws.out_x[k * n + i] - y;
                    slot[0] += r * r;
                    if grad {
                        let s = &ws.out_s[k * n * na..(k + 1) * n * na];
                        for c in 0..na {
                            slot[SLOT_HEAD + c] += 2.0 * r * s[c * n + i];
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

    /// Every piece's residuals at `q` (model − data, scaled, row-major rows × n over the piece,
    /// NaN where nothing is observed; the start row at the profiled start), in the order of
    /// `self.pieces`; None for a piece that fails. Shared among processes like the loss: each
    /// computes its share of the chunks, and every piece's residuals are gathered.
    pub fn residuals(&self, q: &[f64]) -> Vec<Option<Vec<f64>>> {
        let full = self.full(q);
        if !self.distributed() {
            let parts = self.fold_chunks(Vec::new, |ws, acc: &mut Vec<Option<Vec<f64>>>, pi| {
                acc.push(self.piece_residuals(ws, pi, q, &full));
            });
            return parts.into_iter().flatten().collect();
        }
        self.sync_warm();
        let mine = self.my_share();
        let parts = self.pool.fold_chunks_chunked(
            self.prob,
            self.sizes(),
            &self.pieces[mine.clone()],
            chunk_len(self.pieces.len()),
            Vec::new,
            |ws, acc: &mut Vec<Option<Vec<f64>>>, pi| {
                acc.push(self.piece_residuals(ws, pi, q, &full));
            },
        );
        self.warm_stale.store(true, Ordering::Relaxed);
        // One slot per piece: a flag (1 = integrated), then its residuals padded to the longest.
        let width = 1 + self.maxlen * self.prob.nstates();
        let mut all = vec![0.0; self.pieces.len() * width];
        for (k, r) in (mine.start..).zip(parts.into_iter().flatten()) {
            if let Some(r) = r {
                let slot = &mut all[k * width..(k + 1) * width];
                slot[0] = 1.0;
                slot[1..1 + r.len()].copy_from_slice(&r);
            }
        }
        self.gather_per_piece(&mut all, width);
        let n = self.prob.nstates();
        self.pieces
            .iter()
            .zip(all.chunks(width))
            .map(|(&pi, slot)| {
                (slot[0] > 0.5).then(|| slot[1..1 + self.prob.pieces[pi].len * n].to_vec())
            })
            .collect()
    }

    /// Piece `pi`'s residuals at `q` (see [`Evaluator::residuals`]).
    fn piece_residuals(
        &self,
        ws: &mut Workspace,
        pi: usize,
        q: &[f64],
        full: &[f64],
    ) -> Option<Vec<f64>> {
        let n = self.prob.nstates();
        let pc = self.prob.pieces[pi];
        let ex = &self.prob.exps[pc.exp];
        self.profile(ws, pi, q, full);
        let rhs = self.piece_rhs(pc.exp, None);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let out_x = &mut ws.out_x[..pc.len * n];
        let solved = ws
            .solver
            .solve(&rhs, q, &ws.x0, times, Sens::None, out_x, &mut []);
        solved.is_ok().then(|| {
            let mut r = vec![f64::NAN; pc.len * n];
            let y0 = &ex.y[pc.start * n..(pc.start + 1) * n];
            for ((ri, &x), &y) in r.iter_mut().zip(&ws.x0).zip(y0) {
                if y.is_finite() {
                    *ri = x - y;
                }
            }
            for (k, i, y) in labels(ex, pc, n) {
                r[k * n + i] = ws.out_x[k * n + i] - y;
            }
            r
        })
    }

    /// How much the model amplifies a change of a piece's start by its end, relative to how much
    /// the states themselves grow: the median, over pieces, of the root-mean-square row of the
    /// elasticities ∂ln x_i(end)/∂ln x_j(start) (scaled units) at `q`. About 1 for a neutral,
    /// growing or decaying flow (a perturbation grows with the state), growing exponentially
    /// with the length of a chaotic one; a failed piece counts as +∞.
    pub fn amplification(&self, q: &[f64]) -> f64 {
        let n = self.prob.nstates();
        let full = self.full(q);
        let parts = self.fold_chunks(Vec::new, |ws, acc: &mut Vec<f64>, pi| {
            let pc = self.prob.pieces[pi];
            let ex = &self.prob.exps[pc.exp];
            self.profile(ws, pi, q, &full);
            let rhs = self.piece_rhs(pc.exp, Some((q, &full)));
            let times = &ex.t[pc.start..pc.start + pc.len];
            let out_x = &mut ws.out_x[..pc.len * n];
            let out_s = &mut ws.out_s[..pc.len * n * n];
            let a = match ws.solver0.solve(
                &rhs,
                &[],
                &ws.x0,
                times,
                Sens::ParamsAndInitial,
                out_x,
                out_s,
            ) {
                Ok(_) => {
                    // Elasticities ∂ln x_i(end)/∂ln x_j(start): each state's own growth is
                    // taken out (states of very different sizes and rates — an epidemic's
                    // infected against its susceptible — are not an amplification), with
                    // magnitudes floored at AMPLIFICATION_FLOOR of the unit scale (a state
                    // passing through zero).
                    let last = &out_s[(pc.len - 1) * n * n..pc.len * n * n];
                    let end = &out_x[(pc.len - 1) * n..pc.len * n];
                    let mut sum = 0.0;
                    for i in 0..n {
                        let xi = end[i].abs().max(AMPLIFICATION_FLOOR);
                        for j in 0..n {
                            let xj = ws.x0[j].abs().max(AMPLIFICATION_FLOOR);
                            let e = last[j * n + i] * xj / xi;
                            sum += e * e;
                        }
                    }
                    (sum / n as f64).sqrt()
                }
                Err(_) => f64::INFINITY,
            };
            acc.push(a);
        });
        let mut all: Vec<f64> = parts.into_iter().flatten().collect();
        if all.is_empty() {
            return f64::NAN;
        }
        all.sort_by(f64::total_cmp);
        all[all.len() / 2]
    }

    /// Profiles piece `pi` at `q` and integrates it with sensitivities to the active parameters
    /// and the initial values (`ws.out_x`, `ws.out_s` with na + n columns). False on failure.
    pub(crate) fn solve_full(
        &self,
        ws: &mut Workspace,
        pi: usize,
        q: &[f64],
        full: &[f64],
    ) -> bool {
        let n = self.prob.nstates();
        let nc = self.active.len() + n;
        let pc = self.prob.pieces[pi];
        let ex = &self.prob.exps[pc.exp];
        self.profile(ws, pi, q, full);
        let rhs = self.piece_rhs(pc.exp, None);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let out_x = &mut ws.out_x[..pc.len * n];
        let out_s = &mut ws.out_s[..pc.len * n * nc];
        ws.solver
            .solve(&rhs, q, &ws.x0, times, Sens::ParamsAndInitial, out_x, out_s)
            .is_ok()
    }

    /// Runs `f(ws, acc, pi)` over the evaluator's pieces in fixed chunks (see [`Pool`]).
    pub(crate) fn fold_chunks<T: Send>(
        &self,
        init: impl Fn() -> T + Sync + Send,
        f: impl Fn(&mut Workspace, &mut T, usize) + Sync + Send,
    ) -> Vec<T> {
        self.sync_warm();
        self.pool
            .fold_chunks(self.prob, self.sizes(), &self.pieces, init, f)
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
        // Each chunk: [loss sum, failures, gradient (na), H (na²)], and scratch. This process
        // folds its share of the fixed chunks.
        let width = 2 + na + na * na;
        let mine = self.my_share();
        let parts = self.pool.fold_chunks_chunked(
            self.prob,
            self.sizes(),
            &self.pieces[mine.clone()],
            chunk_len(self.pieces.len()),
            || {
                (
                    vec![0.0; 2 + na + na * na],
                    vec![0.0; nc * nc],
                    vec![0.0; nc],
                )
            },
            |ws, (acc, m, v), pi| {
                let (head, h) = acc.split_at_mut(2 + na);
                if !self.solve_full(ws, pi, q, &full) {
                    head[0] += FAILED_PIECE_PENALTY * self.prob.piece_labels(pi) as f64;
                    head[1] += 1.0;
                    return;
                }
                let pc = self.prob.pieces[pi];
                let ex = &self.prob.exps[pc.exp];
                m.iter_mut().for_each(|v| *v = 0.0);
                let free = &self.prob.free_start[pi * n..(pi + 1) * n];
                let labelled = &self.prob.start_label[pi * n..(pi + 1) * n];
                for i in 0..n {
                    m[(na + i) * nc + na + i] = start_diagonal(free[i], labelled[i]);
                }
                self.add_start_mismatch(ws, pi, &mut head[0]);
                for (k, i, y) in labels(ex, pc, n) {
                    let s = &ws.out_s[k * n * nc..(k + 1) * n * nc];
                    let r = ws.out_x[k * n + i] - y;
                    head[0] += r * r;
                    // One label's sensitivity row (the fixed initial values' columns zero).
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
                        for (mab, &sb) in m[a * nc + a..(a + 1) * nc].iter_mut().zip(&v[a..]) {
                            *mab += sa * sb;
                        }
                    }
                }
                for a in 0..nc {
                    for b in 0..a {
                        m[a * nc + b] = m[b * nc + a];
                    }
                }
                schur_add(m, na, n, h);
            },
        );
        // Every chunk's sums (gathered from every process when shared), added in chunk order.
        let gathered;
        let chunks: Vec<&[f64]> = if self.distributed() {
            let chunk = chunk_len(self.pieces.len());
            let counts: Vec<usize> = self
                .shares
                .iter()
                .map(|r| r.len().div_ceil(chunk) * width)
                .collect();
            let local: Vec<f64> = parts
                .iter()
                .flat_map(|(p, _, _)| p.iter().copied())
                .collect();
            let mut all = vec![0.0; counts.iter().sum()];
            self.partition.all_gather(&local, &counts, &mut all);
            self.warm_stale.store(true, Ordering::Relaxed);
            gathered = all;
            gathered.chunks(width).collect()
        } else {
            parts.iter().map(|(p, _, _)| p.as_slice()).collect()
        };
        let mut acc = vec![0.0; width];
        for part in chunks {
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
}

/// The element-wise sums of `slots` (`stride` values per piece) over each run of
/// `chunk_values` values (one fixed chunk), in piece order; one `stride` vector per chunk.
fn chunk_sums(slots: &[f64], chunk_values: usize, stride: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(slots.len().div_ceil(chunk_values.max(1)) * stride);
    for c in slots.chunks(chunk_values.max(1)) {
        let at = out.len();
        out.resize(at + stride, 0.0);
        for s in c.chunks(stride) {
            for (a, v) in out[at..].iter_mut().zip(s) {
                *a += v;
            }
        }
    }
    out
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

#[cfg(test)]
mod tests;
