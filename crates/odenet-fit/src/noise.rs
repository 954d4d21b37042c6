//! Learned noise (DESIGN.md step 6, the paper's eq. 4): every observed value y gets a noise
//! parameter e; pieces start at y − e and are compared with y − e. A Gaussian prior λ·Σe² (in the
//! same units as the mismatch) keeps the problem well posed: without it, any trajectory of any
//! model could absorb the data into e.

use odenet_solve::Sens;
use odenet_spec::{InitKind, Table};

use crate::evaluate::{Evaluator, FAILED_PIECE_PENALTY, Pool, labels};
use crate::optimize::{Terms, lbfgs_smooth, levenberg_marquardt};
use crate::problem::Problem;
use crate::regression::initial_guess;
use crate::result::LearnedNoise;

/// Iterations of the joint (θ, e) L-BFGS.
const NOISE_ITERS: u64 = 400;
/// Weight of the prior on e (per observation, against a mismatch weight of one per label) when
/// the noise of whole experiments is learned for a fixed θ.
const NOISE_PRIOR_WHOLE: f64 = 0.01;
/// Levenberg–Marquardt iterations of the dense model fitted before its noise is learned.
const DENSE_LM_ITERS: u64 = 50;

/// The loss of the learned-noise problem over every piece.
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
        let pieces = prob.all_pieces();
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
        let nc = na + n;
        let local = self.maxlen * n;
        let stride = 2 + if grad { na + local } else { 0 };
        let mut slots = vec![0.0; self.pieces.len() * stride];
        let sens = if grad {
            Sens::ParamsAndInitial
        } else {
            Sens::None
        };
        self.pool.for_each_piece(
            prob,
            (na, self.maxlen),
            &self.pieces,
            &mut slots,
            stride,
            |ws, pi, slot| {
                let pc = prob.pieces[pi];
                let ex = &prob.exps[pc.exp];
                let off = self.row_offset[pc.exp];
                let free = &prob.free_start[pi * n..(pi + 1) * n];
                for i in 0..n {
                    ws.x0[i] = prob.x0[pi * n + i];
                    if free[i] {
                        ws.x0[i] -= e[(off + pc.start) * n + i];
                    }
                }
                prob.couple_starts(pi, &prob.x0[pi * n..(pi + 1) * n], &mut ws.x0);
                let rhs = prob.rhs(pc.exp, &self.base, &self.active);
                let times = &ex.t[pc.start..pc.start + pc.len];
                let ox = &mut ws.out_x[..pc.len * n];
                let os = &mut ws.out_s[..if grad { pc.len * n * nc } else { 0 }];
                if ws
                    .solver
                    .solve(&rhs, q, &ws.x0, times, sens, ox, os)
                    .is_err()
                {
                    slot[0] = FAILED_PIECE_PENALTY * prob.piece_labels(pi) as f64;
                    slot[1] = 1.0;
                    return;
                }
                if grad {
                    prob.couple_columns(pi, &mut ws.out_s, (pc.len, nc, na));
                }
                for (k, i, y) in labels(ex, pc, n) {
                    let ek = e[(off + pc.start + k) * n + i];
                    let r = ws.out_x[k * n + i] - (y - ek);
                    slot[0] += r * r;
                    if grad {
                        let s = &ws.out_s[k * n * nc..(k + 1) * n * nc];
                        for c in 0..na {
                            slot[2 + c] += 2.0 * r * s[c * n + i];
                        }
                        // The label's own noise, and the start's through x0 = y − e.
                        slot[2 + na + k * n + i] += 2.0 * r;
                        for j in (0..n).filter(|&j| free[j]) {
                            slot[2 + na + j] -= 2.0 * r * s[(na + j) * n + i];
                        }
                    }
                }
            },
        );
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

/// Learns the noise with the dense candidate model on the raw problem and returns the denoised
/// tables (the raw ones for whole experiments: no piece starts at a noisy observation there, so
/// e = half the residual for any θ and denoising cannot change the equations).
pub fn denoised_tables(raw: &Problem, init: InitKind, tables: &[Table]) -> Vec<Table> {
    if raw.whole {
        return tables.to_vec();
    }
    let mut base = raw.init.clone();
    let q0 = initial_guess(raw, init);
    for &k in &raw.free {
        base[k] = 0.0;
    }
    let ev = Evaluator::new(raw, raw.free.clone(), base.clone(), raw.all_pieces());
    let terms = Terms::new(raw, &raw.free, 0.0, 1.0);
    let q = levenberg_marquardt(&ev, &terms, q0, DENSE_LM_ITERS).q;
    let (_, e) = joint_noise(raw, &raw.free, &base, q, false);
    denoise(raw, tables, &e)
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

/// Learns the noise e of the raw data for the chosen model (parameters `p` in user units, the
/// `active` ones chosen); returns the parameters in user units and the learned noise.
pub fn learn_for_model(
    raw: &Problem,
    tables: &[Table],
    active: &[usize],
    p: &[f64],
) -> Option<(Vec<f64>, LearnedNoise)> {
    let mut base = p.to_vec();
    for &k in active {
        base[k] = 0.0;
    }
    let q0 = raw.scales.normalised(p, active);
    // θ stays as discovered on the denoised data (a joint refit with the prior shrinks e and
    // biases θ); e is learned for it.
    let (q, e) = joint_noise(raw, active, &base, q0, true);
    let pj = raw.scales.user(&base, active, &q);
    if pj.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let n = raw.nstates();
    let mut values = vec![Vec::new(); n];
    let mut off = 0;
    for tb in tables {
        for (i, col) in tb.values.iter().enumerate() {
            for (k, v) in col.iter().enumerate() {
                if v.is_finite() {
                    values[i].push(e[(off + k) * n + i] * raw.scales.sx[i]);
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
    Some((pj, LearnedNoise { sd, values }))
}
