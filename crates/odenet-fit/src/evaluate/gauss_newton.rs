//! The Gauss–Newton matrix of the profiled loss: each piece integrated with sensitivities to the
//! parameters and its initial values, the initial values eliminated by a Schur complement, the
//! chunks' sums added in a fixed order.

use std::sync::atomic::Ordering;

use odenet_solve::Sens;

use super::{Evaluator, FAILED_PIECE_PENALTY, Workspace, chunk_len, labels, start_diagonal};
use crate::linalg::solve_small;

/// Loss, gradient and Gauss–Newton matrix at one point.
#[derive(Clone, Debug)]
pub struct GaussNewton {
    pub loss: f64,
    pub failures: usize,
    pub grad: Vec<f64>,
    /// Row-major na × na.
    pub h: Vec<f64>,
}

impl Evaluator<'_, '_> {
    /// Profiles piece `pi` at `q` and integrates it with sensitivities to the active parameters
    /// and the initial values (`ws.out_x`, `ws.out_s` with na + n columns). False on failure.
    pub(crate) fn solve_full(
        &self,
        ws: &mut Workspace,
        pi: usize,
        q: &[f64],
        full: &[f64],
    ) -> bool {
        self.solve_piece(ws, pi, q, full, Sens::ParamsAndInitial)
            .is_ok()
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
        let parts = self.fold_share(
            || {
                (
                    vec![0.0; 2 + na + na * na],
                    vec![0.0; nc * nc],
                    vec![0.0; nc],
                    (vec![0.0; n * n], vec![0.0; n]),
                )
            },
            |ws, (acc, m, v, scratch), pi| {
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
                self.add_start_mismatch(ws, pi, &mut head[0], None);
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
                schur_add(m, (na, n), h, scratch);
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
            let local: Vec<f64> = parts.iter().flat_map(|(p, ..)| p.iter().copied()).collect();
            let mut all = vec![0.0; counts.iter().sum()];
            self.partition.all_gather(&local, &counts, &mut all);
            self.warm_stale.store(true, Ordering::Relaxed);
            gathered = all;
            gathered.chunks(width).collect()
        } else {
            parts.iter().map(|(p, ..)| p.as_slice()).collect()
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

/// h += A − B C⁻¹ Bᵀ for m = [[A, B], [Bᵀ, C]] (sizes na and n), with `scratch` (n × n and n
/// values) for the small solves.
fn schur_add(m: &[f64], (na, n): (usize, usize), h: &mut [f64], (c, x): &mut (Vec<f64>, Vec<f64>)) {
    let nc = na + n;
    // Solve C X = Bᵀ column by column with a small dense factorisation.
    for a in 0..na {
        for i in 0..n {
            for j in 0..n {
                c[i * n + j] = m[(na + i) * nc + na + j];
            }
            x[i] = m[(na + i) * nc + a];
        }
        let ok = solve_small(c, x, n);
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

/// One Gauss–Newton pass over `pieces` at support `s`, over every parameter of `free` (those `s`
/// lacks at zero): the indices into `free` that `s` holds, every free parameter's value, and
/// the pass. The stepwise searches predict additions, removals and swaps from it.
pub(crate) fn pass_over_free(
    prob: &crate::problem::Problem,
    free: &[usize],
    base: &[f64],
    pieces: Vec<usize>,
    s: &crate::support::Support,
    warm: Option<&[f64]>,
) -> (Vec<usize>, Vec<f64>, GaussNewton) {
    let pos: Vec<Option<usize>> = free
        .iter()
        .map(|k| s.active.iter().position(|a| a == k))
        .collect();
    let inside: Vec<usize> = (0..free.len()).filter(|&k| pos[k].is_some()).collect();
    let q_all: Vec<f64> = pos.iter().map(|p| p.map_or(0.0, |j| s.q[j])).collect();
    let mut ev = Evaluator::new(prob, free.to_vec(), base.to_vec(), pieces);
    if let Some(w) = warm {
        ev = ev.with_warm(w);
    }
    let gn = ev.gauss_newton(&q_all);
    (inside, q_all, gn)
}
