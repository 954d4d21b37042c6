//! Reasons to doubt a fit's answer, stated in words: too few observations for the candidates, a
//! model that does not reconstruct its own data, a parameter held at its bound, a final refit
//! that did not converge, a model whose trajectory over a whole experiment leaves the data,
//! candidate terms whose evidence is unsettled. Also the reconstruction R² and the noise level the
//! residuals imply.

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

/// A trajectory escapes the data when a state goes further than this many spans of its observed
/// values beyond them.
const ESCAPE_SPANS: f64 = 10.0;

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
    // 1 − the mean over the observed states of the unexplained share of each state's variance.
    let r2_of = |unexplained: &dyn Fn(usize) -> f64| {
        if observed.is_empty() {
            return f64::NAN;
        }
        let ratio: f64 = observed
            .iter()
            .map(|&i| {
                let sstot = sumsq[i] - sum[i] * sum[i] / count[i];
                if sstot > 0.0 {
                    unexplained(i) / sstot
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / observed.len() as f64;
        1.0 - ratio
    };
    let r2 = r2_of(&|i| rss[i]);
    // The same with the noise's share of the residuals taken out: a perfect model of noisy data
    // leaves the noise unexplained.
    let r2_beyond_noise = r2_of(&|i| {
        let sd = data_noise.get(i).copied().unwrap_or(f64::NAN) / prob.scales.sx[i];
        let floor = if sd.is_finite() {
            sd * sd * count[i]
        } else {
            0.0
        };
        (rss[i] - floor).max(0.0)
    });
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

/// Terms whose evidence is between these BIC weights are unsettled: the models with and without
/// them differ by less than 2 in BIC (odds below e to 1 either way), "not worth more than a bare
/// mention" on Kass and Raftery's scale of evidence; 1/(1 + e) and e/(1 + e).
const UNSETTLED: (f64, f64) = (
    1.0 / (1.0 + std::f64::consts::E),
    std::f64::consts::E / (1.0 + std::f64::consts::E),
);

/// The evidence per sparse parameter that it belongs in the model, from the supports a path
/// scored by the BIC (nothing held out: an entry's score is L·N^(k/N) over the N training labels,
/// so its BIC is N·ln score): the sum of the BIC weights w ∝ exp(−(BIC − BIC_min)/2) of the
/// distinct supports containing it, each at its lowest score. NaN for the others, and for every
/// parameter when fewer than two supports were scored.
pub(crate) fn path_inclusion(
    model: &crate::model::CompiledModel,
    path: &[crate::result::PathEntry],
    n: f64,
) -> Vec<f64> {
    let sparse: Vec<usize> = (0..model.params.len())
        .filter(|&k| model.params[k].sparse && !model.params[k].fixed)
        .collect();
    let mut supports: Vec<(Vec<usize>, f64)> = Vec::new();
    for e in path {
        if !(e.score.is_finite() && e.score > 0.0) {
            continue;
        }
        let bic = n * e.score.ln();
        let key: Vec<usize> = sparse
            .iter()
            .copied()
            .filter(|&k| e.params.get(k).is_some_and(|v| *v != 0.0))
            .collect();
        match supports.iter_mut().find(|(s, _)| *s == key) {
            Some((_, b)) => *b = b.min(bic),
            None => supports.push((key, bic)),
        }
    }
    if supports.len() < 2 {
        return vec![f64::NAN; model.params.len()];
    }
    let supports: Vec<(&[usize], f64)> = supports.iter().map(|(s, b)| (&s[..], *b)).collect();
    bic_inclusion(model.params.len(), &sparse, &supports)
}

/// The evidence per term `k` of `terms` that it belongs in the model: the sum of the BIC
/// weights w ∝ exp(−(BIC − BIC_min)/2) of the `supports` (active parameters, BIC) containing it
/// (an approximation of its posterior inclusion probability over the supports scored; a support
/// with no finite BIC weighs nothing). NaN for the other parameters of `nparams`, and for every
/// one when no BIC is finite.
pub(crate) fn bic_inclusion(
    nparams: usize,
    terms: &[usize],
    supports: &[(&[usize], f64)],
) -> Vec<f64> {
    let mut out = vec![f64::NAN; nparams];
    let best = supports.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    if !best.is_finite() {
        return out;
    }
    let weights: Vec<f64> = supports
        .iter()
        .map(|&(_, b)| {
            if b.is_finite() {
                (-(b - best) / 2.0).exp()
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    for &k in terms {
        out[k] = supports
            .iter()
            .zip(&weights)
            .filter(|((s, _), _)| s.contains(&k))
            .map(|(_, w)| w)
            .sum::<f64>()
            / total;
    }
    out
}

/// A warning naming the candidate terms whose inclusion the data do not settle (their evidence
/// between the UNSETTLED weights), or None when every term is settled.
pub(crate) fn unsettled_terms(
    model: &crate::model::CompiledModel,
    inclusion: &[f64],
) -> Option<String> {
    let list: Vec<String> = inclusion
        .iter()
        .enumerate()
        .filter(|&(_, &w)| w > UNSETTLED.0 && w < UNSETTLED.1)
        .map(|(k, w)| format!("{} {w:.2}", model.params[k].name))
        .collect();
    (!list.is_empty()).then(|| {
        format!(
            "the data do not settle whether these terms belong (the BIC weight of the candidate \
             models containing each): {}; models that differ in them fit about equally well, so \
             treat them as uncertain (more data or less noise would decide)",
            list.join(", ")
        )
    })
}

/// A warning when the chosen model, simulated from its fitted start over the whole of an
/// experiment (`trajectories`, one per table; `integrable[e]` false where no piece starts at
/// the first row, so that no such simulation exists), stops early or leaves the range of the
/// observed values by more than ESCAPE_SPANS spans: it then fits pieces of `horizon` points but
/// not the experiment (an unstable model; a chaotic one stays within its data's range).
pub(crate) fn escaped_trajectories(
    states: &[String],
    tables: &[odenet_spec::Table],
    trajectories: &[crate::result::Trajectory],
    integrable: &[bool],
    horizon: usize,
) -> Option<String> {
    let mut escaped: Vec<String> = Vec::new();
    for (e, (tb, tr)) in tables.iter().zip(trajectories).enumerate() {
        if !integrable.get(e).copied().unwrap_or(false) {
            continue;
        }
        let what = match &tr.failure {
            Some(f) => Some(format!("its integration stopped ({f})")),
            None => escape_of(states, tb, tr),
        };
        if let Some(w) = what {
            escaped.push(format!("experiment {} ({}): {w}", e + 1, tb.file.display()));
        }
    }
    let first = escaped.first()?;
    let more = match escaped.len() {
        1 => String::new(),
        k => format!(" (and {} more experiments)", k - 1),
    };
    Some(format!(
        "simulated from its fitted start over a whole experiment, the chosen model does not follow \
         the data — {first}{more}: it fits pieces of {horizon} points, but its long-term behaviour \
         is wrong (add candidate terms, or fit with segment = \"whole\")"
    ))
}

/// The first state of trajectory `tr` that leaves the range of its observed values in `tb` by
/// more than ESCAPE_SPANS spans, described; None when every state stays near its data.
fn escape_of(
    states: &[String],
    tb: &odenet_spec::Table,
    tr: &crate::result::Trajectory,
) -> Option<String> {
    let n = states.len();
    for (i, col) in tb.values.iter().enumerate().take(n) {
        let obs = col.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = obs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !lo.is_finite() || !hi.is_finite() {
            continue; // not observed
        }
        let span = (hi - lo).max(hi.abs().max(lo.abs()) * 1e-3);
        let (allowed_lo, allowed_hi) = (lo - ESCAPE_SPANS * span, hi + ESCAPE_SPANS * span);
        let far = tr
            .states
            .iter()
            .skip(i)
            .step_by(n)
            .zip(&tr.times)
            .find(|&(&x, _)| !x.is_finite() || x < allowed_lo || x > allowed_hi);
        if let Some((&x, &t)) = far {
            return Some(format!(
                "{} reaches {x:.4e} at t = {t} against observed values within [{lo:.4e}, {hi:.4e}]",
                states[i]
            ));
        }
    }
    None
}

#[cfg(test)]
mod escape_tests {
    use super::*;
    use crate::result::Trajectory;

    fn table(values: Vec<Vec<f64>>) -> odenet_spec::Table {
        let rows = values[0].len();
        odenet_spec::Table {
            file: "e.csv".into(),
            times: (0..rows).map(|k| k as f64).collect(),
            values,
        }
    }

    fn trajectory(rows: &[[f64; 2]], failure: Option<&str>) -> Trajectory {
        Trajectory {
            times: (0..rows.len()).map(|k| k as f64).collect(),
            states: rows.iter().flatten().copied().collect(),
            failure: failure.map(String::from),
        }
    }

    #[test]
    fn a_trajectory_that_leaves_the_data_is_named_and_one_within_them_is_not() {
        let states = ["x".to_string(), "h".to_string()];
        // h is hidden (never observed): its values do not count.
        let tb = table(vec![vec![0.0, 0.5, 1.0], vec![f64::NAN; 3]]);
        let near = trajectory(&[[0.0, 1e9], [0.6, 1e9], [1.2, 1e9]], None);
        assert_eq!(
            escaped_trajectories(&states, std::slice::from_ref(&tb), &[near], &[true], 3),
            None
        );
        let far = trajectory(&[[0.0, 0.0], [3.0, 0.0], [11.5, 0.0]], None);
        let w = escaped_trajectories(
            &states,
            std::slice::from_ref(&tb),
            std::slice::from_ref(&far),
            &[true],
            3,
        )
        .expect("escape reported");
        assert!(w.contains("x reaches 1.1500e1 at t = 2"), "{w}");
        assert!(w.contains("experiment 1 (e.csv)"), "{w}");
        // No simulation from the first row: nothing to judge.
        assert_eq!(
            escaped_trajectories(&states, std::slice::from_ref(&tb), &[far], &[false], 3),
            None
        );
        let stopped = trajectory(
            &[[0.0, 0.0], [f64::NAN, f64::NAN]],
            Some("step size too small"),
        );
        let w = escaped_trajectories(&states, &[tb], &[stopped], &[true], 3).expect("reported");
        assert!(
            w.contains("its integration stopped (step size too small)"),
            "{w}"
        );
    }
}

#[cfg(test)]
mod inclusion_tests {
    use super::*;

    /// Two supports one BIC unit apart, the term e in one of them only: e's weight is
    /// e^(−1/2)/(1 + e^(−1/2)) whichever support comes first; the non-sparse terms get NaN, and
    /// a refit of a support counts at its lowest score.
    #[test]
    fn path_inclusion_weighs_distinct_supports_by_their_bic() {
        use crate::result::PathEntry;
        let lv = crate::test_support::ExactLotkaVolterra::new("init = 0.9", true);
        let model = &lv.model;
        let n = 100.0_f64;
        let entry = |e: f64, bic: f64| PathEntry {
            mu: 0.0,
            gamma: f64::NAN,
            active_terms: 4 + usize::from(e != 0.0),
            sparse_terms: usize::from(e != 0.0),
            train_loss: f64::NAN,
            holdout_loss: f64::NAN,
            score: (bic / n).exp(),
            selected: false,
            params: vec![1.0, -0.05, -1.0, 0.03, e],
        };
        let want = (-0.5f64).exp() / (1.0 + (-0.5f64).exp());
        let path = [entry(0.0, 10.0), entry(0.01, 11.0), entry(0.0, 25.0)];
        let w = path_inclusion(model, &path, n);
        assert!((w[4] - want).abs() < 1e-9, "{w:?}");
        assert!(w[..4].iter().all(|v| v.is_nan()), "{w:?}");
        assert!(unsettled_terms(model, &w).is_some_and(|m| m.contains("e 0.38")));
        // One support only: no evidence either way.
        assert!(
            path_inclusion(model, &path[..1], n)
                .iter()
                .all(|v| v.is_nan())
        );
    }
}
