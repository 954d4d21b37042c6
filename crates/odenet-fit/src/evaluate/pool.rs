//! Solver workspaces reused across evaluations, and the loops that run over pieces in fixed
//! chunks in parallel, one pooled workspace per chunk.

use std::sync::Mutex;

use odenet_solve::{PieceSolver, Sens, SolveFailure, SolveStats};
use rayon::prelude::*;

use super::chunk_len;
use crate::problem::Problem;
use crate::scaled::PieceRhs;

/// Solver and buffers for one piece at a time.
pub(crate) struct Workspace {
    /// Solver over the active parameters.
    pub solver: PieceSolver,
    /// Solver with no parameters, for the initial-value sensitivities of the profiling steps.
    solver0: PieceSolver,
    pub out_x: Vec<f64>,
    pub out_s: Vec<f64>,
    pub x0: Vec<f64>,
    pub(super) gm: Vec<f64>,
    pub(super) gv: Vec<f64>,
}

impl Workspace {
    /// Integrates from `x0` through `times` with `rhs`, whose parameters are bound (the solver
    /// with none), with the sensitivities to the initial values (`out_x`, and `out_s` with n
    /// columns): the integration a start's profiling steps need.
    pub(super) fn solve_from_start(
        &mut self,
        rhs: &PieceRhs,
        times: &[f64],
    ) -> Result<SolveStats, SolveFailure> {
        let n = self.x0.len();
        let len = times.len();
        let out_x = &mut self.out_x[..len * n];
        let out_s = &mut self.out_s[..len * n * n];
        self.solver0.solve(
            rhs,
            &[],
            &self.x0,
            times,
            Sens::ParamsAndInitial,
            out_x,
            out_s,
        )
    }
}

/// Solver workspaces reused across evaluations: each parallel chunk takes one and gives it
/// back, so steady-state evaluations allocate no solvers or buffers.
#[derive(Default)]
pub(crate) struct Pool(Mutex<Vec<Workspace>>);

impl Pool {
    pub(super) fn take(&self, prob: &Problem, na: usize, maxlen: usize) -> Workspace {
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

    pub(super) fn give(&self, ws: Workspace) {
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
    pub(super) fn for_each_piece_chunked(
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
    pub(super) fn fold_chunks_chunked<T: Send>(
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
