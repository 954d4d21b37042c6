//! The integral-form regression screen: candidate supports from thresholded regressions on
//! the data (raw, smoothed, or reconstructed by the best model), the shortest piece over which
//! the dynamics stand above the noise, and the thinning of large data.

use odenet_spec::{Spec, Table};

use crate::evaluate::Evaluator;
use crate::fit::Control;
use crate::model::CompiledModel;
use crate::noise_level::noise_levels;
use crate::problem::Problem;
use crate::regression::{MAX_SUBSET, Regression};
use crate::support::Support;

use super::pool::{Pool, equation_of};
use super::scorer::{FLOOR_PER_RTOL, Scorer};

/// Relative-contribution thresholds of the regression screen (geometric).
pub(super) const SCREEN_THRESHOLDS: (f64, f64, usize) = (1e-3, 0.5, 14);

/// Thresholding rounds of each screen.
pub(super) const SCREEN_ROUNDS: usize = 8;

/// The dynamics stand above the noise when the mean squared change over a piece exceeds this
/// many noise variances.
pub(super) const SIGNAL_OVER_NOISE: f64 = 9.0;

/// Shortest and (before lengthening) longest pieces, in points.
pub(super) const MIN_LEN: usize = 5;

/// Half-widths (points on each side) of the local quadratic smoothers whose data the screen
/// also regresses on, when the data are noisy (noise above this many times the floor).
pub(super) const SMOOTH_HALF_WIDTHS: [usize; 3] = [3, 8, 20];

pub(super) const SMOOTH_ABOVE_FLOOR: f64 = 10.0;

/// Regression windows (data intervals) of the screen.
pub(super) const SCREEN_WINDOWS: [usize; 3] = [1, 4, 16];

/// Rows (over every experiment) the exploration works on at most.
pub(super) const EXPLORE_ROWS: usize = 20_000;

/// The geometric grid of screening thresholds.
pub(super) fn thresholds() -> Vec<f64> {
    let (a, b, m) = SCREEN_THRESHOLDS;
    (0..m)
        .map(|i| a * (b / a).powf(i as f64 / (m - 1) as f64))
        .collect()
}

/// Every distinct support the thresholded regression produces over the grid of thresholds and
/// windows, densest first, with its regression values and the threshold that gave it.
pub fn screen(reg: &Regression, free: &[usize]) -> Vec<(Support, f64)> {
    let mut out: Vec<(Support, f64)> = Vec::new();
    for (_, d) in &reg.designs {
        for gamma in thresholds() {
            let Some(q) = reg.stlsq(d, gamma, SCREEN_ROUNDS) else {
                continue;
            };
            let keep: Vec<bool> = q
                .iter()
                .zip(&reg.sparse)
                .map(|(&v, &s)| !s || v != 0.0)
                .collect();
            let drop: Vec<bool> = keep.iter().map(|k| !k).collect();
            let s = Support::new(free.to_vec(), q).without(&drop);
            if !out.iter().any(|(c, _)| c.active == s.active) {
                out.push((s, gamma));
            }
        }
    }
    out.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    out
}

/// Best-subset supports are searched up to this many terms per equation …
pub(super) const SUBSET_TERMS: usize = 4;
/// … while an equation has at most this many subsets of that size.
pub(super) const MAX_SUBSETS: usize = 100_000;

/// Supports from best-subset regression on every window: per equation and number of terms
/// (1 to SUBSET_TERMS), the subset that explains most of the data's change. Returned as whole
/// candidates (every equation at that number of terms, or all it has) and as the distinct
/// equation parts, which the swaps try in the best candidate. Library models only.
pub fn subset_screen(
    reg: &Regression,
    prob: &Problem,
    free: &[usize],
) -> (Vec<(Support, f64)>, Vec<Support>) {
    let (mut whole, mut parts): (Vec<(Support, f64)>, Vec<Support>) = (Vec::new(), Vec::new());
    if !prob.model.is_library() {
        return (whole, parts);
    }
    let n = prob.nstates();
    let eq_coords: Vec<(Vec<usize>, Vec<usize>)> = (0..n)
        .map(|i| {
            let of_i = |c: &usize| equation_of(prob, free[*c]) == Some(i);
            let all: Vec<usize> = (0..free.len()).filter(of_i).collect();
            let sparse = all.iter().copied().filter(|&c| reg.sparse[c]).collect();
            let forced = all.into_iter().filter(|&c| !reg.sparse[c]).collect();
            (sparse, forced)
        })
        .collect();
    for (_, d) in &reg.designs {
        for size in 1..=SUBSET_TERMS {
            let mut keep = vec![false; free.len()];
            for (pool, forced) in &eq_coords {
                let s = size
                    .min(pool.len())
                    .min(MAX_SUBSET - forced.len().min(MAX_SUBSET));
                let chosen = match d.best_subset(pool, forced, s, MAX_SUBSETS) {
                    Some(c) => c,
                    None if s == 0 => forced.clone(),
                    None => return (whole, parts),
                };
                for c in chosen {
                    keep[c] = true;
                }
            }
            let Some(q) = d.solve(&keep) else { continue };
            let drop: Vec<bool> = keep.iter().map(|k| !k).collect();
            let cand = Support::new(free.to_vec(), q).without(&drop);
            for i in 0..n {
                let part = super::pool::restrict(prob, &cand, i);
                if !parts.iter().any(|p| p.active == part.active) {
                    parts.push(part);
                }
            }
            if !whole.iter().any(|(c, _)| c.active == cand.active) {
                whole.push((cand, f64::NAN));
            }
        }
    }
    (whole, parts)
}

/// The shortest piece length (points) over which the data change by more than the noise:
/// the mean squared change over the lag exceeds SIGNAL_OVER_NOISE noise variances (beyond the
/// two the noise itself adds).
pub fn signal_length(prob: &Problem, var: &[f64]) -> usize {
    let n = prob.nstates();
    let maxrows = prob.exps.iter().map(|e| e.rows).max().unwrap_or(0);
    let mut lag = 1;
    while lag < maxrows {
        let mut s = 0.0;
        let mut c = 0.0;
        for ex in &prob.exps {
            for k in 0..ex.rows.saturating_sub(lag) {
                for (i, &v) in var.iter().enumerate() {
                    let (a, b) = (ex.y[k * n + i], ex.y[(k + lag) * n + i]);
                    if a.is_finite() && b.is_finite() && v > 0.0 {
                        s += (b - a) * (b - a) / v - 2.0;
                        c += 1.0;
                    }
                }
            }
        }
        if c > 0.0 && s / c >= SIGNAL_OVER_NOISE {
            return (lag + 1).max(MIN_LEN);
        }
        lag = (lag * 5).div_ceil(4).max(lag + 1);
    }
    maxrows
}

/// The data's noise variance per state (scaled units), floored by the integrator's accuracy.
pub(super) fn data_variance(tables: &[Table], prob: &Problem, rtol: f64) -> Vec<f64> {
    let floor = FLOOR_PER_RTOL * rtol;
    noise_levels(tables, prob.nstates())
        .iter()
        .zip(&prob.scales.sx)
        .map(|(s, sx)| {
            let v = (s / sx).max(floor);
            if v.is_finite() { v * v } else { floor * floor }
        })
        .collect()
}

/// Every how many rows the exploration keeps: 1 up to EXPLORE_ROWS rows in all.
pub(super) fn thinning(tables: &[Table]) -> usize {
    let rows: usize = tables.iter().map(|t| t.times.len()).sum();
    rows.div_ceil(EXPLORE_ROWS).max(1)
}

/// Every `k`-th row of each table (the first always).
pub(super) fn thin(tables: &[Table], k: usize) -> Vec<Table> {
    tables
        .iter()
        .map(|t| Table {
            file: t.file.clone(),
            times: t.times.iter().step_by(k).copied().collect(),
            values: t
                .values
                .iter()
                .map(|col| col.iter().step_by(k).copied().collect())
                .collect(),
        })
        .collect()
}

/// The data as support `s` reconstructs them on the scorer's pieces (each from its fitted
/// start): the model's value at every observed value (user units), the rest as it was. None
/// when a piece fails.
pub(super) fn reconstructed(scorer: &Scorer, s: &Support, tables: &[Table]) -> Option<Vec<Table>> {
    let prob = &scorer.prob;
    let n = prob.nstates();
    let ev = Evaluator::new(
        prob,
        s.active.clone(),
        scorer.base.clone(),
        prob.all_pieces(),
    );
    let mut out = tables.to_vec();
    for (r, pc) in ev.residuals(&s.q).iter().zip(&prob.pieces) {
        let r = r.as_ref()?;
        let ex = &prob.exps[pc.exp];
        for k in 0..pc.len {
            for i in 0..n {
                let (y, e) = (ex.y[(pc.start + k) * n + i], r[k * n + i]);
                if y.is_finite() && e.is_finite() {
                    out[pc.exp].values[i][pc.start + k] = (y + e) * prob.scales.sx[i];
                }
            }
        }
    }
    Some(out)
}

/// Screens the best candidate's reconstruction of the data (thresholded and best-subset) and
/// adds every new support, refitted and scored, to the pool; returns how many were added and
/// the best-subset equation parts (for the swaps).
pub(super) fn screen_reconstruction(
    scorer: &Scorer,
    pool: &mut Pool,
    (model, spec, tables): (&CompiledModel, &Spec, &[Table]),
    windows: &[usize],
    control: &Control,
) -> (usize, Vec<Support>) {
    let Some(b) = pool.best() else {
        return (0, Vec::new());
    };
    let Some(recon) = reconstructed(scorer, &pool.cands[b].support, tables) else {
        return (0, Vec::new());
    };
    let Ok(rp) = Problem::new(model, spec, &recon, scorer.prob.solve_opts) else {
        return (0, Vec::new());
    };
    let Some(reg) = Regression::new(&rp, &scorer.base, &scorer.free, windows) else {
        return (0, Vec::new());
    };
    // Values move between problems in user units (scales depend on the data).
    let moved = |s: Support| {
        let p = rp.scales.user(&scorer.base, &s.active, &s.q);
        let q = scorer.prob.scales.normalised(&p, &s.active);
        s.with_values(q)
    };
    let (whole, parts) = subset_screen(&reg, &rp, &scorer.free);
    let mut fresh: Vec<(Support, f64)> = Vec::new();
    for (s, gamma) in screen(&reg, &scorer.free).into_iter().chain(whole) {
        if !pool.contains(&s.active) && !fresh.iter().any(|(c, _)| c.active == s.active) {
            fresh.push((moved(s), gamma));
        }
    }
    let parts: Vec<Support> = parts.into_iter().map(moved).collect();
    tracing::info!(
        supports = fresh.len(),
        "screen of the best model's reconstruction"
    );
    let level = pool.abandon_level();
    for (s, gamma) in &fresh {
        if control.cancelled() {
            break;
        }
        let c = scorer.refit(s, *gamma, level, control);
        pool.add(scorer, c);
    }
    pool.rescore(scorer);
    (fresh.len(), parts)
}
