//! The loss and its gradient: every piece profiled and integrated (with sensitivities to the
//! active parameters when the gradient is asked for), its slot of sums filled, and the slots
//! reduced in a fixed order whatever the thread and process count.

use std::sync::atomic::Ordering;

use odenet_solve::Sens;

use super::{Evaluator, FAILED_PIECE_PENALTY, Workspace, chunk_len, labels};

/// Per-piece slot: squared-error sum, failed flag, BDF flag, steps; then the squared-error sum
/// per state, then the gradient.
const SLOT_HEAD: usize = 4;

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
    /// Per state, the squared scaled mismatch summed over the pieces that integrated (empty
    /// when not computed).
    pub rss: Vec<f64>,
}

impl Evaluator<'_, '_> {
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
        let n = self.prob.nstates();
        let stride = SLOT_HEAD + n + if grad { na } else { 0 };
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
            grad: acc[SLOT_HEAD + n..].iter().map(|g| g / denom).collect(),
            failures: acc[1] as usize,
            bdf_pieces: acc[2] as usize,
            steps: acc[3] as usize,
            rss: acc[SLOT_HEAD..SLOT_HEAD + n].to_vec(),
        };
        if let Some(per) = per_piece {
            per.extend(slots.chunks(stride).map(|s| s[0]));
        }
        *self.slots.lock().expect("slots lock") = slots;
        out
    }

    /// One piece: slot = [squared-error sum, failed, used bdf, steps, per-state squared-error
    /// sums…, gradient…]. The gradient
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
        let sens = if grad { Sens::Params } else { Sens::None };
        match self.solve_piece(ws, pi, q, full, sens) {
            Ok(stats) => {
                slot[2] = if stats.used_bdf { 1.0 } else { 0.0 };
                slot[3] = stats.steps as f64;
                let (head, rest) = slot.split_at_mut(SLOT_HEAD);
                let (by_state, g) = rest.split_at_mut(n);
                self.add_start_mismatch(ws, pi, &mut head[0], Some(by_state));
                for (k, i, y) in labels(ex, pc, n) {
                    let r = ws.out_x[k * n + i] - y;
                    head[0] += r * r;
                    by_state[i] += r * r;
                    if grad {
                        let s = &ws.out_s[k * n * na..(k + 1) * n * na];
                        for (c, gc) in g.iter_mut().enumerate() {
                            *gc += 2.0 * r * s[c * n + i];
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
