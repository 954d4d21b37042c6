//! The loss of a support over a set of pieces: each piece's free initial values profiled, the
//! piece integrated with forward sensitivities, the squared mismatch with its exact gradient and
//! Gauss–Newton matrix, evaluated in parallel with a reduction in a fixed order.
//!
//! This module holds the [`Evaluator`] (its pieces, its share of them among processes, the
//! right-hand side it integrates) and the helpers every evaluation uses; the rest, one file
//! each: `pool` (solver workspaces and the fixed-chunk parallel loops), `loss` (loss and
//! gradient), `profile` (the profiled initial values), `residuals` (per-piece residuals and the
//! amplification of a start's error), `gauss_newton` (the Gauss–Newton matrix).

mod gauss_newton;
mod loss;
mod pool;
mod profile;
mod residuals;

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::ModelKind;
use crate::partition::{Partition, split_balanced};
use crate::problem::{Experiment, Piece, Problem};
use crate::scaled::{LibraryLayout, LibraryScaledRhs, PieceRhs};

pub use gauss_newton::GaussNewton;
pub(crate) use gauss_newton::pass_over_free;
pub use loss::Eval;
pub(crate) use pool::{Pool, Workspace};

/// Loss charged per label value of a piece that could not be integrated: the squared mismatch
/// of a prediction about three data scales off. Large enough that the line search backs off,
/// finite so that it never poisons the optimiser's state.
pub const FAILED_PIECE_PENALTY: f64 = 10.0;

/// Pieces are evaluated in this many fixed chunks (at most), whatever the thread count.
const CHUNKS: usize = 64;
/// Ridge on a fitted initial value with no observation: only the trajectory informs it, and the
/// ridge keeps an unidentifiable one from running away.
const UNOBSERVED_START_RIDGE: f64 = 1e-9;

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

    /// The same evaluator with the profiles of long pieces starting from `starts` (scaled,
    /// pieces × n like `Problem::x0`) instead of the problem's starts: where another fit of a
    /// nearby support profiled them (a fitted initial value can have several minima).
    pub fn with_warm(self, starts: &[f64]) -> Self {
        if let Ok(mut warm) = self.warm.lock()
            && warm.len() == starts.len()
        {
            warm.copy_from_slice(starts);
        }
        self
    }

    /// Copies the profiled starts the next evaluation begins from into `into`, to be put back
    /// by [`Evaluator::restore_warm`] after a trial evaluation the optimiser does not keep: a
    /// fitted initial value can have several minima for fixed parameters, and a rejected trial
    /// must not move the profile of the point kept into another one.
    pub(crate) fn save_warm(&self, into: &mut Vec<f64>) {
        if let Ok(warm) = self.warm.lock() {
            into.clone_from(&warm);
        }
    }

    /// Puts back profiled starts saved by [`Evaluator::save_warm`].
    pub(crate) fn restore_warm(&self, from: &[f64]) {
        if !self.prob.starts_only {
            return;
        }
        if let Ok(mut warm) = self.warm.lock()
            && warm.len() == from.len()
        {
            warm.copy_from_slice(from);
        }
    }

    /// [`Evaluator::eval`] for an optimiser that tries points along a search: the profiled
    /// starts stay those of the lowest-loss point evaluated so far (`guard`: that loss, and a
    /// buffer), so that a trial far worse than the best — a fitted initial value profiled into
    /// another basin — does not carry its profile to the next point.
    pub(crate) fn eval_guarded(&self, q: &[f64], grad: bool, guard: &mut (f64, Vec<f64>)) -> Eval {
        // Only fitted initial values of hidden states have several basins (on the library path
        // the guard cost Lorenz at 5% noise its convergence).
        if !self.prob.starts_only {
            return self.eval(q, grad);
        }
        self.save_warm(&mut guard.1);
        let e = self.eval(q, grad);
        if e.loss.is_finite() && e.loss <= guard.0 {
            guard.0 = e.loss;
        } else {
            self.restore_warm(&guard.1);
        }
        e
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

    /// Runs `f(ws, acc, pi)` over this process's share of the pieces, one accumulator per fixed
    /// chunk of the whole evaluation (all of them for one process), in chunk order.
    fn fold_share<T: Send>(
        &self,
        init: impl Fn() -> T + Sync + Send,
        f: impl Fn(&mut Workspace, &mut T, usize) + Sync + Send,
    ) -> Vec<T> {
        self.pool.fold_chunks_chunked(
            self.prob,
            self.sizes(),
            &self.pieces[self.my_share()],
            chunk_len(self.pieces.len()),
            init,
            f,
        )
    }
}

#[cfg(test)]
mod tests;
