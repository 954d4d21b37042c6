//! Reasons to doubt a fit's answer, stated in words: too few observations for the candidates, a
//! model that does not reconstruct its own data, a parameter held at its bound, a final refit
//! that did not converge. Also the reconstruction R² and the noise level the residuals imply.

use crate::evaluate::Evaluator;
use crate::optimize::OptResult;
use crate::support::Support;

/// Observed values per coefficient below which the answer is weakly determined.
const VALUES_PER_COEFFICIENT: f64 = 3.0;
/// A chosen model that leaves more than this share of the data's variance unexplained beyond
/// the noise is flagged (R² measured against the R² the noise allows).
const POOR_R2: f64 = 0.9;
/// A parameter within this fraction of its scale (or of its bound) from a bound sits on it.
const ON_BOUND: f64 = 1e-4;

/// What the diagnosis found.
pub(crate) struct Diagnosis {
    pub r2: f64,
    pub noise_sd: Vec<f64>,
    pub horizon: usize,
    pub warnings: Vec<String>,
}

/// Diagnoses the chosen support `s` (fitted values, the final refit `fin`) on the evaluator's
/// pieces; `candidates` is the number of coefficients the choice was made among; `data_noise`
/// the data's own noise level per state (user units, NaN where unknown).
pub(crate) fn diagnose(
    ev: &Evaluator,
    s: &Support,
    fin: &OptResult,
    candidates: usize,
    data_noise: &[f64],
) -> Diagnosis {
    let prob = ev.prob;
    let model = prob.model;
    let n = prob.nstates();
    let mut rss = vec![0.0; n];
    let mut count = vec![0.0; n];
    let mut sum = vec![0.0; n];
    let mut sumsq = vec![0.0; n];
    for (r, &pi) in ev.residuals(&s.q).iter().zip(&ev.pieces) {
        let pc = prob.pieces[pi];
        let ex = &prob.exps[pc.exp];
        for k in 0..pc.len {
            for i in 0..n {
                let y = ex.y[(pc.start + k) * n + i];
                if !y.is_finite() {
                    continue;
                }
                count[i] += 1.0;
                sum[i] += y;
                sumsq[i] += y * y;
                if let Some(r) = r {
                    let v = r[k * n + i];
                    if v.is_finite() {
                        rss[i] += v * v;
                    }
                }
            }
        }
    }
    let observed: Vec<usize> = (0..n).filter(|&i| count[i] > 1.0).collect();
    let r2 = if observed.is_empty() {
        f64::NAN
    } else {
        let ratio: f64 = observed
            .iter()
            .map(|&i| {
                let sstot = sumsq[i] - sum[i] * sum[i] / count[i];
                if sstot > 0.0 { rss[i] / sstot } else { 0.0 }
            })
            .sum::<f64>()
            / observed.len() as f64;
        1.0 - ratio
    };
    // The same with the noise's share of the residuals taken out: a perfect model of noisy data
    // leaves the noise unexplained.
    let r2_beyond_noise = if observed.is_empty() {
        f64::NAN
    } else {
        let ratio: f64 = observed
            .iter()
            .map(|&i| {
                let sstot = sumsq[i] - sum[i] * sum[i] / count[i];
                let sd = data_noise.get(i).copied().unwrap_or(f64::NAN) / prob.scales.sx[i];
                let floor = if sd.is_finite() {
                    sd * sd * count[i]
                } else {
                    0.0
                };
                if sstot > 0.0 {
                    (rss[i] - floor).max(0.0) / sstot
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / observed.len() as f64;
        1.0 - ratio
    };
    let nobs: f64 = count.iter().sum();
    let noise_sd = (0..n)
        .map(|i| {
            let share = if nobs > 0.0 { count[i] / nobs } else { 0.0 };
            let dof = count[i] - prob.pieces.len() as f64 - s.len() as f64 * share;
            if count[i] > 1.0 && dof > 0.0 && fin.failures == 0 {
                (rss[i] / dof).sqrt() * prob.scales.sx[i]
            } else {
                f64::NAN
            }
        })
        .collect();
    let horizon = ev
        .pieces
        .iter()
        .map(|&pi| prob.pieces[pi].len)
        .max()
        .unwrap_or(0);

    let mut warnings = Vec::new();
    if nobs < VALUES_PER_COEFFICIENT * candidates as f64 {
        warnings.push(format!(
            "the data hold {nobs} observed values for {candidates} candidate coefficients (fewer \
             than {VALUES_PER_COEFFICIENT} per coefficient): the choice among them is weakly \
             determined; add data or use fewer candidate terms"
        ));
    } else if nobs < VALUES_PER_COEFFICIENT * s.len() as f64 {
        warnings.push(format!(
            "the data hold {nobs} observed values for the {} coefficients of the chosen model: \
             they are weakly determined",
            s.len()
        ));
    }
    if r2.is_finite() && r2_beyond_noise < POOR_R2 {
        warnings.push(format!(
            "the chosen model reconstructs its own data poorly (R² = {r2:.3} over pieces of \
             {horizon} points, {r2_beyond_noise:.3} once the data's noise is allowed for): the \
             candidate terms may not contain the dynamics"
        ));
    }
    let p = ev.full(&s.q);
    for (&k, &q) in s.active.iter().zip(&s.q) {
        let spec = &model.params[k];
        let scale = prob.scales.pscale[k].abs();
        for (bound, side) in [(spec.min, "lower"), (spec.max, "upper")] {
            let Some(b) = bound else { continue };
            if (p[k] - b).abs() <= ON_BOUND * b.abs().max(scale) && q.is_finite() {
                warnings.push(format!(
                    "parameter {} = {} sits on its {side} bound {b}: the data would move it past \
                     the bound (or the bound is wrong)",
                    spec.name, p[k]
                ));
            }
        }
    }
    if !fin.converged {
        warnings.push(format!("the final refit did not converge: {}", fin.reason));
    }
    Diagnosis {
        r2,
        noise_sd,
        horizon,
        warnings,
    }
}
