//! Per-piece outputs beyond the loss: every piece's residuals (gathered from every process when
//! shared), and how much the model amplifies an error of a piece's start by its end.

use std::sync::atomic::Ordering;

use odenet_solve::Sens;

use super::{Evaluator, Workspace, labels};

/// State magnitudes (scaled units: the data's size is 1) below this count as this in the
/// amplification's elasticities.
const AMPLIFICATION_FLOOR: f64 = 0.1;

impl Evaluator<'_, '_> {
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
        let parts = self.fold_share(Vec::new, |ws, acc: &mut Vec<Option<Vec<f64>>>, pi| {
            acc.push(self.piece_residuals(ws, pi, q, &full));
        });
        let mine = self.my_share();
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
        let solved = self.solve_piece(ws, pi, q, full, Sens::None);
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
            let a = match ws.solve_from_start(&rhs, times) {
                Ok(_) => {
                    // Elasticities ∂ln x_i(end)/∂ln x_j(start): each state's own growth is
                    // taken out (states of very different sizes and rates — an epidemic's
                    // infected against its susceptible — are not an amplification), with
                    // magnitudes floored at AMPLIFICATION_FLOOR of the unit scale (a state
                    // passing through zero).
                    let last = &ws.out_s[(pc.len - 1) * n * n..pc.len * n * n];
                    let end = &ws.out_x[(pc.len - 1) * n..pc.len * n];
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
}
