//! The chosen model's coefficients from its pieces chained into whole trajectories.
//!
//! Discovery fits and scores candidates on pieces whose starts are free (profiled), so each
//! piece informs the coefficients only through its own rows. A right model's trajectory is
//! continuous, so once the support is chosen its pieces are tied together by multiple shooting:
//! every piece start becomes a node unknown, each piece's end is tied to the next start by a
//! continuity penalty heavy enough that the gaps end far below the noise.
//! That is the maximum-likelihood fit of whole trajectories, reached without integrating past
//! the horizon the data allow (each interval is one of the chosen pieces, so a chaotic flow is
//! never followed further than the horizon chosen from the data).
//!
//! The chained values are kept only when the data agree with the ties: they remove d free
//! values (n per interior node), for which a right model pays about χ²_d in data misfit (in
//! units of the noise variance). The chained fit is refused when it pays more than d + 3√(2d),
//! when an interval fails, or when the problem is too large for the dense normal matrix.

use nalgebra::DMatrix;

use crate::hidden::shooting::{Shooting, minimize_from, normal};
use crate::optimize::Terms;
use crate::problem::Problem;
use crate::support::Support;

/// Continuity weight (per label, scaled units): it leaves gaps about a thousandth of the noise.
/// One weight from the start: the piecewise fit's starts leave gaps of the order of the noise,
/// which nearly Gauss–Newton steps close at once.
const WEIGHT: f64 = 1e6;
/// Levenberg–Marquardt iterations at most, and the relative decrease that ends them.
const ITERS: usize = 30;
const REL_TOL: f64 = 1e-6;
/// The first damping: the start (the piecewise fit) is near the minimum.
const LAMBDA: f64 = 1e-9;
/// At most this many unknowns (parameters and node states): the normal matrix is dense.
const MAX_UNKNOWNS: usize = 400;
/// Standard deviations of χ²_d allowed above its mean d.
const CHI2_SDS: f64 = 3.0;

/// A chained refit, and whether the data accept its ties.
#[derive(Clone, Debug)]
pub(crate) struct Chained {
    /// The misfit the ties cost is within what a right model pays: use these values.
    pub accepted: bool,
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
/// where the piecewise fit profiled it (`starts`: per piece, the scaled start state). None
/// when the pieces cannot be chained (they do not tile the experiments, there are too many
/// unknowns, or an interval fails); the result says whether the data accept the ties.
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
            tracing::debug!(
                experiment = e,
                "pieces not chained: they do not tile the experiment"
            );
            return None;
        }
    }
    let exps_chained = node_rows.iter().filter(|r| !r.is_empty()).count();
    let intervals: usize = node_rows.iter().map(Vec::len).sum();
    let ties = n * (intervals - exps_chained);
    if ties == 0 {
        return None;
    }
    let sh =
        Shooting::at_rows(prob, chosen.active.clone(), base.to_vec(), &node_rows).in_parallel();
    let nt = na + sh.node_unknowns();
    if nt > MAX_UNKNOWNS || sh.intervals() != intervals {
        tracing::debug!(unknowns = nt, "pieces not chained: too many unknowns");
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
    let res = minimize_from(
        &sh,
        (chosen.q.clone(), s0),
        (WEIGHT, LAMBDA, false),
        bounds,
        (ITERS, REL_TOL, f64::INFINITY),
        cancelled,
    );
    tracing::debug!(
        data = res.data,
        gap = res.gap,
        iters = res.iters,
        failures = res.failures,
        "chained fit"
    );
    if res.failures > 0 || cancelled() {
        tracing::debug!(
            failures = res.failures,
            "pieces not chained: an interval failed"
        );
        return None;
    }
    let (q, s) = (res.q, res.s);
    let after = sh.residuals(&q, &s, WEIGHT, true);
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
    tracing::debug!(
        gap = after.gap,
        seconds = t0.elapsed().as_secs_f64(),
        "pieces chained into whole trajectories"
    );
    let accepted = excess <= allowed;
    let cov = if accepted {
        covariance(&after, nt, na, n, labels, dof)
    } else {
        None
    };
    tracing::debug!(seconds = t0.elapsed().as_secs_f64(), "chained covariance");
    Some(Chained {
        accepted,
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
    let (mut h, mut jtr) = (vec![0.0; nt * nt], vec![0.0; nt]);
    normal(&res.j, &res.r, nt, &mut h, &mut jtr);
    // A = H⁻¹ restricted to the parameters' columns; each label row's b = J_r·A.
    let e = DMatrix::from_fn(nt, na, |r, c| if r == c { 1.0 } else { 0.0 });
    let a = DMatrix::from_row_slice(nt, nt, &h).lu().solve(&e)?;
    let mut cov = vec![0.0; na * na];
    let mut b = vec![0.0; na];
    for (jr, &i) in res.j.chunks(nt).zip(&res.state) {
        if i >= n {
            continue;
        }
        for (p, bp) in b.iter_mut().enumerate() {
            *bp = jr.iter().enumerate().map(|(c, v)| v * a[(c, p)]).sum();
        }
        let f = var[i] * scale2;
        for p in 0..na {
            for q in 0..na {
                cov[p * na + q] += f * b[p] * b[q];
            }
        }
    }
    cov.iter().all(|v| v.is_finite()).then_some(cov)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::fit::{Control, Fitter};
    use crate::optimize::L1Options;
    use crate::problem::Layout;
    use crate::rng::Rng;
    use crate::test_support::ExactLotkaVolterra;
    use crate::uncertainty::standard_errors;

    /// The template's data with 1% noise, cut into tiles of 20 rows.
    fn noisy_tiles(lv: &ExactLotkaVolterra) -> (Vec<odenet_spec::Table>, usize) {
        let mut table = lv.table.clone();
        let mut rng = Rng::new(7);
        for col in &mut table.values {
            let amp = col.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for v in col.iter_mut() {
                *v += 0.01 * amp * rng.normal();
            }
        }
        (vec![table], 20)
    }

    /// Fits `active` piecewise (the other parameters at `base`'s values) and chains the pieces.
    fn piecewise_then_chain(
        lv: &ExactLotkaVolterra,
        tables: &[odenet_spec::Table],
        len: usize,
        active: Vec<usize>,
        fixed: &[(usize, f64)],
    ) -> (Vec<f64>, Vec<f64>, Option<Chained>) {
        let prob = Problem::with_layout(
            &lv.model,
            &lv.spec,
            tables,
            crate::solve_options(&lv.spec),
            Some(Layout::Tiles { len }),
        )
        .expect("problem");
        let cancel = AtomicBool::new(false);
        let control = Control {
            progress: &|_| {},
            cancel: &cancel,
            l1: L1Options::default(),
        };
        let mut fitter = Fitter::new(&prob, &lv.spec, &control);
        for &(k, v) in fixed {
            fitter.base[k] = v;
        }
        let all = prob.all_pieces();
        let q0 = prob.scales.normalised(&prob.init, &active);
        let start = Support::new(active.clone(), q0);
        let fin = fitter.optimize(&start, 0.0, &all);
        let chosen = start.with_values(fin.q.clone());
        let ev = fitter.evaluator(&active, &all);
        let (se, _) = standard_errors(&ev, &chosen.q);
        let starts: Vec<Vec<f64>> = all
            .iter()
            .map(|&pi| ev.profiled_start(pi, &chosen.q))
            .collect();
        let user = fitter.user(&chosen);
        let c = chain(&prob, &fitter.base, &chosen, &starts, &|| false);
        (user, se, c)
    }

    #[test]
    fn chaining_a_right_model_narrows_its_error_bars_honestly() {
        let lv = ExactLotkaVolterra::new("init = 0.8", false);
        let (tables, len) = noisy_tiles(&lv);
        let truth = [1.0, -0.05, -1.0, 0.03];
        let (_, se_pieces, c) = piecewise_then_chain(&lv, &tables, len, vec![0, 1, 2, 3], &[]);
        let c = c.expect("the pieces chain");
        assert!(c.accepted, "{c:?}");
        assert_eq!(c.intervals, 10);
        assert_eq!(c.ties, 18);
        assert!(c.excess <= c.allowed);
        let prob = Problem::with_layout(
            &lv.model,
            &lv.spec,
            &tables,
            crate::solve_options(&lv.spec),
            Some(Layout::Tiles { len }),
        )
        .expect("problem");
        let active = [0, 1, 2, 3];
        let user = prob.scales.user(&prob.init, &active, &c.q);
        let (se, _) = crate::uncertainty::from_covariance(&prob, &active, &c.q, c.cov.as_deref());
        for k in 0..4 {
            let z = (user[k] - truth[k]) / se[k];
            assert!(
                z.abs() < 3.5,
                "parameter {k}: {} ± {} (truth {})",
                user[k],
                se[k],
                truth[k]
            );
            assert!(
                se[k] < 0.8 * se_pieces[k],
                "parameter {k}: {} against {} on pieces",
                se[k],
                se_pieces[k]
            );
        }
    }

    #[test]
    fn chaining_a_wrong_model_is_refused() {
        let lv = ExactLotkaVolterra::new("init = 0.8", false);
        let (tables, len) = noisy_tiles(&lv);
        // d held 20% below its truth: each piece's free start hides part of the error, the
        // whole trajectory cannot.
        let (_, _, c) = piecewise_then_chain(&lv, &tables, len, vec![0, 1, 2], &[(3, 0.024)]);
        let c = c.expect("the pieces chain");
        assert!(!c.accepted && c.excess > c.allowed, "{c:?}");
    }
}
