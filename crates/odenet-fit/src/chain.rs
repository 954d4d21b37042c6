//! The chosen model's coefficients from its pieces chained into whole trajectories.
//!
//! Discovery fits and scores candidates on pieces whose starts are free (profiled), so each
//! piece informs the coefficients only through its own rows. A right model's trajectory is
//! continuous, so once the support is chosen its pieces are tied together by multiple shooting:
//! every piece start becomes a node unknown, each piece's end is tied to the next start by a
//! continuity penalty whose weight rises over rounds until the gaps are far below the noise.
//! That is the maximum-likelihood fit of whole trajectories, reached without integrating past
//! the horizon the data allow (each interval is one of the chosen pieces, so a chaotic flow is
//! never followed further than the horizon chosen from the data).
//!
//! The chained values are kept only when the data agree with the ties: they remove d free
//! values (n per interior node), for which a right model pays about χ²_d in data misfit (in
//! units of the noise variance). The chained fit is refused when it pays more than d + 3√(2d),
//! when an interval fails, or when the problem is too large for the dense normal matrix.

use nalgebra::DMatrix;

use crate::hidden::shooting::{Shooting, minimize};
use crate::optimize::Terms;
use crate::problem::Problem;
use crate::support::Support;

/// Continuity weights of the rounds (per label, scaled units): the last leaves gaps about a
/// thousandth of the noise.
const WEIGHTS: [f64; 1] = [1e6];
/// Levenberg–Marquardt iterations per round, and the relative decrease that ends a round.
const ITERS: usize = 30;
const REL_TOL: f64 = 1e-7;
/// At most this many unknowns (parameters and node states): the normal matrix is dense.
const MAX_UNKNOWNS: usize = 400;
/// Standard deviations of χ²_d allowed above its mean d.
const CHI2_SDS: f64 = 3.0;

/// A chained refit that the data accept.
#[derive(Clone, Debug)]
pub(crate) struct Chained {
    /// The active parameters (normalised units).
    pub q: Vec<f64>,
    /// Their covariance (normalised units, na × na, row-major); None when singular.
    pub cov: Option<Vec<f64>>,
    /// Intervals chained, and the ties between them.
    pub intervals: usize,
    pub ties: usize,
    /// The data misfit the ties cost, in noise-variance units, and the most allowed.
    pub excess: f64,
    pub allowed: f64,
}

/// Chains the pieces of `prob` (tiles of each experiment) for the support `chosen` (values
/// from the piecewise fit, `base` the full parameter vector in user units), starting each node
/// where the piecewise fit profiled it (`starts`: per piece, the scaled start state).
pub(crate) fn chain(
    prob: &Problem,
    base: &[f64],
    chosen: &Support,
    starts: &[Vec<f64>],
    cancelled: &dyn Fn() -> bool,
) -> Option<Chained> {
    let n = prob.nstates();
    let na = chosen.len();
    if na == 0 || prob.starts_only || prob.whole {
        return None;
    }
    // Node rows: every piece's start, per experiment; the pieces must tile it from row 0.
    let mut node_rows = vec![Vec::new(); prob.exps.len()];
    let mut node_piece = vec![Vec::new(); prob.exps.len()];
    for (pi, pc) in prob.pieces.iter().enumerate() {
        node_rows[pc.exp].push(pc.start);
        node_piece[pc.exp].push(pi);
    }
    for (e, rows) in node_rows.iter().enumerate() {
        let ex = &prob.exps[e];
        let tiled = rows.first() == Some(&0)
            && rows.windows(2).all(|w| w[1] > w[0])
            && prob.pieces.iter().all(|pc| {
                pc.exp != e || {
                    let end = pc.start + pc.len;
                    end == ex.rows || rows.contains(&end)
                }
            });
        if !rows.is_empty() && !tiled {
            return None;
        }
    }
    let exps_chained = node_rows.iter().filter(|r| !r.is_empty()).count();
    let intervals: usize = node_rows.iter().map(Vec::len).sum();
    let ties = n * (intervals - exps_chained);
    if ties == 0 {
        return None;
    }
    let sh = Shooting::at_rows(prob, chosen.active.clone(), base.to_vec(), &node_rows);
    let nt = na + sh.node_unknowns();
    if nt > MAX_UNKNOWNS || sh.intervals() != intervals {
        return None;
    }
    // The piecewise fit's starts at the nodes.
    let mut states: Vec<Vec<f64>> = prob
        .exps
        .iter()
        .map(|ex| vec![f64::NAN; ex.rows * n])
        .collect();
    for (e, pis) in node_piece.iter().enumerate() {
        for &pi in pis {
            let r = prob.pieces[pi].start;
            if let Some(x) = starts.get(pi) {
                states[e][r * n..(r + 1) * n].copy_from_slice(x);
            }
        }
    }
    let s0 = sh.nodes_at(&states);
    let terms = Terms::new(prob, &chosen.active, 0.0, 1.0);
    let bounds = (&terms.lo[..], &terms.hi[..]);
    let before = sh.residuals(&chosen.q, &s0, 0.0, false);
    if before.failures > 0 || !before.data.is_finite() {
        return None;
    }
    let t0 = std::time::Instant::now();
    let (mut q, mut s) = (chosen.q.clone(), s0);
    for &w in &WEIGHTS {
        let res = minimize(
            &sh,
            q,
            s,
            w,
            bounds,
            ITERS,
            REL_TOL,
            f64::INFINITY,
            cancelled,
        );
        tracing::debug!(
            w,
            data = res.data,
            gap = res.gap,
            iters = res.iters,
            failures = res.failures,
            "chaining round"
        );
        if res.failures > 0 || cancelled() {
            return None;
        }
        q = res.q;
        s = res.s;
    }
    let after = sh.residuals(&q, &s, WEIGHTS[WEIGHTS.len() - 1], true);
    if after.failures > 0 || !after.data.is_finite() {
        return None;
    }
    let labels = sh.labels() as f64;
    let dof = labels - (nt - ties) as f64;
    if dof < 1.0 {
        return None;
    }
    let var = labels * before.data / (labels - nt as f64).max(1.0);
    let excess = labels * (after.data - before.data) / var.max(f64::MIN_POSITIVE);
    let d = ties as f64;
    let allowed = d + CHI2_SDS * (2.0 * d).sqrt();
    tracing::info!(
        intervals,
        ties,
        excess,
        allowed,
        gap = after.gap,
        seconds = t0.elapsed().as_secs_f64(),
        "pieces chained into whole trajectories"
    );
    if !(excess <= allowed) {
        return None;
    }
    let cov = covariance(&after, nt, na, n, labels, dof);
    Some(Chained {
        q,
        cov,
        intervals,
        ties,
        excess,
        allowed,
    })
}

/// The covariance of the parameters at the chained fit: H⁻¹ (Σ σ²_i J_rᵀ J_r) H⁻¹ over the
/// label rows r (state i), H the normal matrix with the continuity rows, σ²_i each state's
/// residual variance over `dof` degrees of freedom shared in proportion to its labels.
fn covariance(
    res: &crate::hidden::shooting::Residuals,
    nt: usize,
    na: usize,
    n: usize,
    labels: f64,
    dof: f64,
) -> Option<Vec<f64>> {
    let rows = res.r.len();
    let scale2 = 1.0 / labels;
    let mut rss = vec![0.0; n];
    let mut count = vec![0.0; n];
    for (r, &i) in res.r.iter().zip(&res.state) {
        if i < n {
            rss[i] += r * r / scale2;
            count[i] += 1.0;
        }
    }
    let var: Vec<f64> = (0..n)
        .map(|i| rss[i] / (count[i] * dof / labels).max(1.0))
        .collect();
    let j = DMatrix::from_row_slice(rows, nt, &res.j);
    let h = j.tr_mul(&j);
    let lu = h.lu();
    let mut e = DMatrix::zeros(nt, na);
    for a in 0..na {
        e[(a, a)] = 1.0;
    }
    let a = lu.solve(&e)?;
    let b = &j * &a;
    let mut cov = vec![0.0; na * na];
    for (r, &i) in res.state.iter().enumerate() {
        if i >= n {
            continue;
        }
        let f = var[i] * scale2;
        for p in 0..na {
            let bp = b[(r, p)] * f;
            for q in 0..na {
                cov[p * na + q] += bp * b[(r, q)];
            }
        }
    }
    cov.iter().all(|v| v.is_finite()).then_some(cov)
}
