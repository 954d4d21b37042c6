//! The profiled initial values: Gauss–Newton on a piece's free initial values with the
//! parameters held, and the mismatch of its observed start values.

use odenet_solve::{Sens, SolveFailure, SolveStats};

use super::{Evaluator, Workspace, labels, start_diagonal};
use crate::linalg::solve_small;

/// Gauss–Newton iterations that profile a piece's free initial values for given parameters.
const PROFILE_ITERS: usize = 2;
/// Pieces longer than this are profiled to convergence (as fitted initial values are).
const PROFILE_SHORT_LEN: usize = 20;
/// Gauss–Newton iterations (at most) for pieces with a fitted, unobserved initial value.
const PROFILE_ITERS_FITTED: usize = 30;

impl Evaluator<'_, '_> {
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
            if ws.solve_from_start(&rhs0, times).is_err() {
                ws.x0.copy_from_slice(&prob.x0[pi * n..(pi + 1) * n]);
                break;
            }
            prob.couple_columns(pi, &mut ws.out_s, (pc.len, n, 0));
            ws.gm.iter_mut().for_each(|v| *v = 0.0);
            ws.gv.iter_mut().for_each(|v| *v = 0.0);
            for i in 0..n {
                ws.gm[i * n + i] = start_diagonal(free[i], labelled[i]);
                if labelled[i] {
                    ws.gv[i] -= ws.x0[i] - y0[i];
                }
            }
            for (k, i, y) in labels(ex, pc, n) {
                let s = &ws.out_s[k * n * n..(k + 1) * n * n];
                let r = ws.out_x[k * n + i] - y;
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
            ws.gm[..n].copy_from_slice(&ws.x0);
            for (((x, &d), &f), &nn) in ws
                .x0
                .iter_mut()
                .zip(&ws.gv)
                .zip(free)
                .zip(&prob.nonnegative)
            {
                if f {
                    let v = if nn { (*x + d).max(0.0) } else { *x + d };
                    step = step.max((v - *x).abs());
                    *x = v;
                }
            }
            // The starts tied to the profiled ones follow them (the matrix's first row holds
            // the previous start: it is rebuilt at the next iteration).
            prob.couple_starts(pi, &ws.gm[..n], &mut ws.x0);
            if step.partial_cmp(&self.profile_tol) != Some(std::cmp::Ordering::Greater) {
                break;
            }
        }
        if long && let Ok(mut warm) = self.warm.lock() {
            warm[pi * n..(pi + 1) * n].copy_from_slice(&ws.x0);
        }
    }

    /// Adds the squared mismatch of piece `pi`'s observed start values at its profiled start
    /// (`ws.x0`) to `acc`, one value at a time (and to each state's sum in `by_state`).
    pub(super) fn add_start_mismatch(
        &self,
        ws: &Workspace,
        pi: usize,
        acc: &mut f64,
        mut by_state: Option<&mut [f64]>,
    ) {
        let n = self.prob.nstates();
        let pc = self.prob.pieces[pi];
        let y0 = &self.prob.exps[pc.exp].y[pc.start * n..(pc.start + 1) * n];
        let labelled = &self.prob.start_label[pi * n..(pi + 1) * n];
        for (i, ((&x, &y), &f)) in ws.x0.iter().zip(y0).zip(labelled).enumerate() {
            if f {
                *acc += (x - y) * (x - y);
                if let Some(b) = by_state.as_deref_mut() {
                    b[i] += (x - y) * (x - y);
                }
            }
        }
    }

    /// Profiles piece `pi` at `q` (`full` in user units) and integrates it from the profiled
    /// start over the active parameters, with the sensitivities `sens` (`ws.out_x`, and
    /// `ws.out_s` with the solver's columns for `sens`).
    pub(super) fn solve_piece(
        &self,
        ws: &mut Workspace,
        pi: usize,
        q: &[f64],
        full: &[f64],
        sens: Sens,
    ) -> Result<SolveStats, SolveFailure> {
        let n = self.prob.nstates();
        let pc = self.prob.pieces[pi];
        let ex = &self.prob.exps[pc.exp];
        self.profile(ws, pi, q, full);
        let rhs = self.piece_rhs(pc.exp, None);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let nc = ws.solver.sens_columns(sens);
        let out_x = &mut ws.out_x[..pc.len * n];
        let out_s = &mut ws.out_s[..pc.len * n * nc];
        let r = ws.solver.solve(&rhs, q, &ws.x0, times, sens, out_x, out_s);
        if r.is_ok() && matches!(sens, Sens::ParamsAndInitial) {
            self.prob
                .couple_columns(pi, &mut ws.out_s, (pc.len, nc, nc - n));
        }
        r
    }
}
