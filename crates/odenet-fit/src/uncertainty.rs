//! How precisely the data determine the fitted coefficients: the linearised covariance (a
//! sandwich over observations shared by overlapping pieces), the standard errors in user units,
//! and the combination of parameters the data leave free, when there is one.

use crate::evaluate::{Evaluator, labels, start_diagonal};
use crate::linalg::solve_small;
use crate::result::WeakDirection;

/// An experiment's own noise variance is used (where the experiments' differ) only with this
/// many degrees of freedom.
const MIN_EXPERIMENT_DOF: f64 = 5.0;
/// One-sided normal quantile of the test that the experiments' noise variances agree (1%).
const HETEROGENEITY_Z: f64 = 2.326;

/// A relative change this large (in ln units, at one standard error) along a combination of
/// parameters means the data do not determine that combination.
const WEAK_LOG_SE: f64 = 1.0;

/// One piece's part of the covariance: (observation index, profiled Jacobian row J̃) for every
/// label, the residual sum of squares and label count per state, and the number of profiled
/// start values per state.
struct PieceRows {
    idx: Vec<usize>,
    rows: Vec<f64>,
    rss: Vec<f64>,
    labels: Vec<f64>,
    starts: Vec<f64>,
}

/// The linearised covariance of the fitted active parameters (normalised units, row-major
/// na × na), for independent noise on every observed value with one variance per state.
///
/// Pieces overlap (a value is a label of several pieces) and their starts are profiled, so the
/// plain Gauss–Newton inverse treats each label as an independent observation. Instead, with J̃
/// the profiled Jacobian of a piece's residuals (J_θ − J_x0 C⁻¹ Bᵀ, orthogonal to the start
/// directions), the estimate moves with an observation y as dq̂/dy = H⁻¹ Σ_{pieces ∋ y} J̃ᵀ, so
/// Cov(q̂) = H⁻¹ (Σ_y σ²_y g_y g_yᵀ) H⁻¹ with g_y = Σ_{pieces ∋ y} J̃_y and H = Σ J̃ᵀJ̃ — which
/// reduces to σ² H⁻¹ when no value is shared. σ² per state is the residual sum of squares over
/// its labels, less the degrees of freedom taken by the profiled starts and the parameters; per
/// experiment and state where the experiments' noise differs (`noise_variances`).
/// `None` when a piece fails or the information matrix is singular (a non-identifiable
/// direction).
pub fn covariance(ev: &Evaluator, q: &[f64]) -> Option<Vec<f64>> {
    let prob = ev.prob;
    let n = prob.nstates();
    let na = ev.active.len();
    if na == 0 {
        return Some(Vec::new());
    }
    let full = ev.full(q);
    // Each experiment's first observation index, and every observation's experiment.
    let mut offsets = Vec::with_capacity(prob.exps.len());
    let mut exp_of = Vec::new();
    for (e, ex) in prob.exps.iter().enumerate() {
        offsets.push(exp_of.len());
        exp_of.extend(std::iter::repeat_n(e, ex.rows * n));
    }
    let nobs = exp_of.len();
    let parts: Vec<Vec<Option<PieceRows>>> = ev.fold_chunks(Vec::new, |ws, acc, pi| {
        let rows = ev
            .solve_full(ws, pi, q, &full)
            .then(|| piece_rows(ev, ws, pi, offsets[prob.pieces[pi].exp]))
            .flatten();
        acc.push(rows);
    });
    // In piece order: H = Σ J̃ᵀJ̃, g_y = Σ J̃_y, and the residual sums per experiment and state.
    let ne = prob.exps.len();
    let mut h = nalgebra::DMatrix::<f64>::zeros(na, na);
    let mut g = vec![0.0; nobs * na];
    let mut sums = vec![Sums::new(n); ne];
    let mut seen = vec![false; nobs];
    for (part, &pi) in parts.iter().flatten().zip(&ev.pieces) {
        let part = part.as_ref()?;
        for (r, &y) in part.rows.chunks(na).zip(&part.idx) {
            seen[y] = true;
            for a in 0..na {
                g[y * na + a] += r[a];
                for b in 0..na {
                    h[(a, b)] += r[a] * r[b];
                }
            }
        }
        let s = &mut sums[prob.pieces[pi].exp];
        for i in 0..n {
            s.rss[i] += part.rss[i];
            s.labels[i] += part.labels[i];
            s.starts[i] += part.starts[i];
        }
    }
    for (y, _) in seen.iter().enumerate().filter(|(_, s)| **s) {
        sums[exp_of[y]].values[y % n] += 1.0;
    }
    let var = noise_variances(&sums, na);
    let hinv = h.clone().cholesky()?.inverse();
    let mut meat = nalgebra::DMatrix::<f64>::zeros(na, na);
    for y in 0..nobs {
        let gy = &g[y * na..(y + 1) * na];
        if gy.iter().all(|&v| v == 0.0) {
            continue;
        }
        let v = var[exp_of[y]][y % n];
        for a in 0..na {
            for b in 0..na {
                meat[(a, b)] += v * gy[a] * gy[b];
            }
        }
    }
    let cov = &hinv * meat * &hinv;
    let out: Vec<f64> = cov.transpose().iter().copied().collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// Residual sums of one experiment, per state: squared residuals, labels and profiled starts
/// (over every piece: a value shared by overlapping pieces counts once per piece), and the
/// distinct values.
#[derive(Clone)]
struct Sums {
    rss: Vec<f64>,
    labels: Vec<f64>,
    starts: Vec<f64>,
    values: Vec<f64>,
}

impl Sums {
    fn new(n: usize) -> Sums {
        Sums {
            rss: vec![0.0; n],
            labels: vec![0.0; n],
            starts: vec![0.0; n],
            values: vec![0.0; n],
        }
    }
}

/// The noise variance of every experiment's values of every state (exps × n): each state's
/// residual sum of squares over its degrees of freedom (labels less the profiled starts and the
/// state's share of the `na` parameters), pooled over the experiments — unless the experiments'
/// own variances differ beyond their sampling error (the heterogeneity statistic
/// Q = Σ (ln s²_e − m)²/v_e above its χ² distribution's 99% quantile, v_e = 2/dof_e with the
/// degrees of freedom counted over distinct values: overlapping pieces count a value several
/// times, not its noise), when each experiment with MIN_EXPERIMENT_DOF degrees of freedom keeps
/// its own (a plateau three times higher measured with the same relative precision is three
/// times noisier).
fn noise_variances(sums: &[Sums], na: usize) -> Vec<Vec<f64>> {
    let n = sums.first().map_or(0, |s| s.rss.len());
    let total: f64 = sums.iter().flat_map(|s| &s.labels).sum();
    // Degrees of freedom of experiment e's values of state i.
    let dof =
        |s: &Sums, i: usize| s.labels[i] - s.starts[i] - na as f64 * s.labels[i] / total.max(1.0);
    let mut out = vec![vec![f64::NAN; n]; sums.len()];
    for i in 0..n {
        let (rss, d) = sums
            .iter()
            .fold((0.0, 0.0), |(r, d), s| (r + s.rss[i], d + dof(s, i)));
        let pooled = if d > 0.0 { rss / d } else { f64::NAN };
        let own: Vec<Option<(f64, f64)>> = sums
            .iter()
            .map(|s| {
                let d = dof(s, i);
                // The same degrees of freedom over distinct values.
                let distinct = d * s.values[i] / s.labels[i].max(1.0);
                (distinct >= MIN_EXPERIMENT_DOF && s.rss[i] > 0.0).then(|| (s.rss[i] / d, distinct))
            })
            .collect();
        let heterogeneous = {
            let est: Vec<(f64, f64)> = own
                .iter()
                .flatten()
                .map(|&(v, d)| (v.ln(), 2.0 / d))
                .collect();
            let sw: f64 = est.iter().map(|e| 1.0 / e.1).sum();
            let m = est.iter().map(|e| e.0 / e.1).sum::<f64>() / sw;
            let q: f64 = est.iter().map(|e| (e.0 - m).powi(2) / e.1).sum();
            est.len() >= 2 && q > chi2_quantile((est.len() - 1) as f64, HETEROGENEITY_Z)
        };
        for (o, own) in out.iter_mut().zip(&own) {
            o[i] = match own {
                Some((v, _)) if heterogeneous => *v,
                _ => pooled,
            };
        }
    }
    out
}

/// The quantile of the χ² distribution with `k` degrees of freedom at normal quantile `z`
/// (Wilson–Hilferty).
fn chi2_quantile(k: f64, z: f64) -> f64 {
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * a.sqrt()).powi(3)
}

/// The profiled Jacobian rows of piece `pi`, solved with sensitivities into `ws` (observation
/// indices offset by `base`, its experiment's first value). `None` for a singular start block.
fn piece_rows(
    ev: &Evaluator,
    ws: &crate::evaluate::Workspace,
    pi: usize,
    base: usize,
) -> Option<PieceRows> {
    let prob = ev.prob;
    let n = prob.nstates();
    let na = ev.active.len();
    let nc = na + n;
    let pc = prob.pieces[pi];
    let ex = &prob.exps[pc.exp];
    let (out_x, out_s) = (&ws.out_x, &ws.out_s);
    let free = &prob.free_start[pi * n..(pi + 1) * n];
    let labelled = &prob.start_label[pi * n..(pi + 1) * n];
    let mut out = PieceRows {
        idx: Vec::new(),
        rows: Vec::new(),
        rss: vec![0.0; n],
        labels: vec![0.0; n],
        starts: vec![0.0; n],
    };
    // C = Σ S_x0ᵀ S_x0 (+ start labels), Bᵀ = Σ S_x0ᵀ S_θ over the free starts.
    let mut c = vec![0.0; n * n];
    let mut bt = vec![0.0; n * na];
    for i in 0..n {
        c[i * n + i] = start_diagonal(free[i], labelled[i]);
        if free[i] {
            out.starts[i] += 1.0;
        }
        if labelled[i] {
            let r = ws.x0[i] - ex.y[pc.start * n + i];
            out.rss[i] += r * r;
            out.labels[i] += 1.0;
        }
    }
    for (k, i, y) in labels(ex, pc, n) {
        let s = &out_s[k * n * nc..(k + 1) * n * nc];
        let r = out_x[k * n + i] - y;
        out.rss[i] += r * r;
        out.labels[i] += 1.0;
        for a in (0..n).filter(|&a| free[a]) {
            let sa = s[(na + a) * n + i];
            for b in (0..n).filter(|&b| free[b]) {
                c[a * n + b] += sa * s[(na + b) * n + i];
            }
            for t in 0..na {
                bt[a * na + t] += sa * s[t * n + i];
            }
        }
    }
    // K = C⁻¹ Bᵀ (n × na), column by column.
    let mut kmat = vec![0.0; n * na];
    let mut col = vec![0.0; n];
    let mut cc = vec![0.0; n * n];
    for t in 0..na {
        cc.copy_from_slice(&c);
        for a in 0..n {
            col[a] = bt[a * na + t];
        }
        if !solve_small(&mut cc, &mut col, n) {
            return None;
        }
        for a in 0..n {
            kmat[a * na + t] = col[a];
        }
    }
    for i in (0..n).filter(|&i| labelled[i]) {
        out.idx.push(base + pc.start * n + i);
        out.rows.extend((0..na).map(|t| -kmat[i * na + t]));
    }
    for (k, i, _) in labels(ex, pc, n) {
        let s = &out_s[k * n * nc..(k + 1) * n * nc];
        out.idx.push(base + (pc.start + k) * n + i);
        out.rows.extend((0..na).map(|t| {
            let mut v = s[t * n + i];
            for a in (0..n).filter(|&a| free[a]) {
                v -= s[(na + a) * n + i] * kmat[a * na + t];
            }
            v
        }));
    }
    Some(out)
}

/// Standard errors (user units) of every parameter at the active values `q` from the
/// linearised covariance over the evaluator's pieces: NaN for a fixed or pruned parameter, +∞
/// for all of them when the data do not determine some direction of the active ones (a singular
/// information matrix). Also the least determined combination of relative changes, when the
/// data leave it free.
pub fn standard_errors(ev: &Evaluator, q: &[f64]) -> (Vec<f64>, Option<WeakDirection>) {
    from_covariance(ev.prob, &ev.active, q, covariance(ev, q).as_deref())
}

/// Standard errors (user units) and the least determined combination from the covariance of
/// the active parameters (normalised units; None when singular: +∞ for every active one).
pub(crate) fn from_covariance(
    prob: &crate::problem::Problem,
    active: &[usize],
    q: &[f64],
    cov: Option<&[f64]>,
) -> (Vec<f64>, Option<WeakDirection>) {
    let mut se = vec![f64::NAN; prob.model.nparams()];
    let na = active.len();
    let Some(cov) = cov else {
        for &k in active {
            se[k] = f64::INFINITY;
        }
        return (se, None);
    };
    for (a, &k) in active.iter().enumerate() {
        se[k] = cov[a * na + a].max(0.0).sqrt() * prob.scales.pscale[k].abs();
    }
    (se, weak_direction(active, q, cov))
}

/// The least determined combination Π p_k^{v_k}: the largest eigenvalue of the covariance of
/// ln|p| (relative changes, the same in normalised and user units), when its standard error
/// exceeds [`WEAK_LOG_SE`].
fn weak_direction(active: &[usize], q: &[f64], cov: &[f64]) -> Option<WeakDirection> {
    let na = active.len();
    if na < 2 || q.contains(&0.0) {
        return None;
    }
    let rel = nalgebra::DMatrix::from_fn(na, na, |a, b| cov[a * na + b] / (q[a] * q[b]));
    let eig = nalgebra::SymmetricEigen::new(rel);
    let (imax, &lmax) = eig
        .eigenvalues
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))?;
    let log_se = lmax.max(0.0).sqrt();
    if log_se.is_nan() || log_se <= WEAK_LOG_SE {
        return None;
    }
    let v = eig.eigenvectors.column(imax);
    let big = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    // Exponents scaled so the largest is 1 in size, and positive for the first listed parameter.
    let first = v
        .iter()
        .find(|x| x.abs() >= 0.1 * big)
        .copied()
        .unwrap_or(1.0);
    let sign = if first < 0.0 { -1.0 } else { 1.0 };
    let exponents: Vec<(usize, f64)> = active
        .iter()
        .zip(v.iter())
        .filter(|(_, x)| x.abs() >= 0.1 * big)
        .map(|(&k, x)| (k, sign * x / big))
        .collect();
    Some(WeakDirection {
        exponents,
        log_se: log_se * big,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(rss: &[f64], labels: f64) -> Vec<Sums> {
        rss.iter()
            .map(|&r| Sums {
                rss: vec![r],
                labels: vec![labels],
                starts: vec![1.0],
                values: vec![labels],
            })
            .collect()
    }

    /// Experiments whose variances agree share the pooled one; variances ninefold apart (sd
    /// threefold) on 20 values each keep their own, each over its own degrees of freedom.
    #[test]
    fn each_experiment_keeps_its_variance_only_where_they_differ() {
        // 20 labels, 1 start, 2 parameters over 60 labels: 19 − 2/3 degrees of freedom each.
        let dof = 19.0 - 2.0 / 3.0;
        let same = noise_variances(&sums(&[1.0 * dof, 1.2 * dof, 0.9 * dof], 20.0), 2);
        let pooled = (1.0 + 1.2 + 0.9) / 3.0;
        assert!(
            same.iter().all(|v| (v[0] - pooled).abs() < 1e-12),
            "{same:?}"
        );
        let apart = noise_variances(&sums(&[1.0 * dof, 9.0 * dof, 1.1 * dof], 20.0), 2);
        for (v, want) in apart.iter().zip([1.0, 9.0, 1.1]) {
            assert!((v[0] - want).abs() < 1e-12, "{apart:?}");
        }
    }

    /// Overlapping pieces count every value ten times: variances 30% apart on 20 distinct values
    /// each are within their sampling error and share the pooled one (counted over the 200 labels
    /// they would not).
    #[test]
    fn overlapping_pieces_do_not_multiply_the_evidence() {
        let mut s = sums(&[0.0; 3], 200.0);
        let dof = 200.0 - 1.0 - 2.0 / 3.0;
        for (x, v) in s.iter_mut().zip([1.0, 1.3, 0.8]) {
            x.rss[0] = v * dof;
            x.values[0] = 20.0;
        }
        let var = noise_variances(&s, 2);
        assert!(
            var.iter().all(|v| (v[0] - var[0][0]).abs() < 1e-12),
            "{var:?}"
        );
        for x in &mut s {
            x.values[0] = 200.0;
        }
        let var = noise_variances(&s, 2);
        assert!((var[1][0] - 1.3).abs() < 1e-12, "{var:?}");
    }

    /// Wilson–Hilferty against tabulated 99% quantiles (6.63 at 1 degree of freedom, 16.81 at 6,
    /// 37.57 at 20).
    #[test]
    fn chi2_quantiles() {
        for (k, want) in [(1.0, 6.63), (6.0, 16.81), (20.0, 37.57)] {
            let got = chi2_quantile(k, HETEROGENEITY_Z);
            assert!((got - want).abs() < 0.02 * want, "{k}: {got}");
        }
    }
}
