//! What the data say about their own noise, before any model: each value compared with a
//! local quadratic through its neighbours (left out), giving a robust noise level per state and
//! the isolated values that stand far outside it (outliers).

use odenet_spec::Table;

/// Neighbours on each side of a value in its local fit.
const HALF_WINDOW: usize = 3;
/// A value whose leave-one-out residual exceeds this many robust noise levels is an outlier.
const OUTLIER_Z: f64 = 8.0;
/// … and departs from the quadratic by more than this many times the largest change between
/// consecutive neighbours (a value that only continues a steep trend — a blow-up sampled to its
/// end — is not isolated, however small the noise).
const ISOLATION: f64 = 2.0;
/// At most this fraction of a state's values are flagged (more is not "isolated").
const MAX_OUTLIER_FRACTION: f64 = 0.02;
/// MAD → standard deviation for Gaussian noise.
const MAD_TO_SD: f64 = 1.482_602_218_505_602;

/// A flagged value: experiment, row and state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outlier {
    pub exp: usize,
    pub row: usize,
    pub state: usize,
    pub value: f64,
    /// Its leave-one-out residual in robust noise levels.
    pub z: f64,
}

/// A quadratic least-squares fit through the values `idx` of a series, evaluated at `t0`:
/// (value, prediction variance factor h = e0ᵀ G⁻¹ e0). None when it cannot be formed.
fn local_quadratic(t: &[f64], y: &[f64], idx: &[usize], t0: f64) -> Option<(f64, f64)> {
    // Local coordinates centred on t0 and scaled by the window's span.
    let span = idx
        .iter()
        .map(|&j| (t[j] - t0).abs())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut g = [0.0f64; 9];
    let mut b = [0.0f64; 3];
    for &j in idx {
        let u = (t[j] - t0) / span;
        let phi = [1.0, u, u * u];
        for r in 0..3 {
            b[r] += phi[r] * y[j];
            for c in 0..3 {
                g[r * 3 + c] += phi[r] * phi[c];
            }
        }
    }
    // At u = 0 the value is the first coefficient: solve G a = b and G z = e0.
    let mut sol = b;
    let mut g2 = g;
    if !crate::linalg::solve_small(&mut g2, &mut sol, 3) {
        return None;
    }
    let mut e0 = [1.0, 0.0, 0.0];
    if !crate::linalg::solve_small(&mut g, &mut e0, 3) {
        return None;
    }
    Some((sol[0], e0[0]))
}

/// The leave-one-out residual of value `k` against a quadratic through up to HALF_WINDOW
/// present neighbours on each side, divided by sqrt(1 + h) (h: the fit's prediction variance
/// factor) so that it has the noise's variance. None without enough neighbours.
fn loo_residual(t: &[f64], y: &[f64], k: usize) -> Option<f64> {
    let mut idx = Vec::with_capacity(2 * HALF_WINDOW);
    idx.extend((0..k).rev().filter(|&j| y[j].is_finite()).take(HALF_WINDOW));
    idx.extend(
        (k + 1..y.len())
            .filter(|&j| y[j].is_finite())
            .take(HALF_WINDOW),
    );
    if idx.len() < 5 {
        return None;
    }
    let (fit, h) = local_quadratic(t, y, &idx, t[k])?;
    let r = (y[k] - fit) / (1.0 + h).sqrt();
    r.is_finite().then_some(r)
}

/// Whether value `k` departs from its neighbours' quadratic (residual `r`) by more than
/// ISOLATION times the largest change between consecutive neighbours.
fn isolated(y: &[f64], k: usize, r: f64) -> bool {
    let before = (0..k).rev().filter(|&j| y[j].is_finite()).take(HALF_WINDOW);
    let after = (k + 1..y.len())
        .filter(|&j| y[j].is_finite())
        .take(HALF_WINDOW);
    let mut idx: Vec<usize> = before.chain(after).collect();
    idx.sort_unstable();
    let step = idx
        .windows(2)
        .map(|w| (y[w[1]] - y[w[0]]).abs())
        .fold(0.0f64, f64::max);
    r.abs() > ISOLATION * step
}

/// The series smoothed by a local quadratic through the `2·half + 1` present values nearest
/// each one (itself included; fewer on one side at the ends, more on the other). Missing
/// values stay missing.
pub fn smooth_series(t: &[f64], y: &[f64], half: usize) -> Vec<f64> {
    let present: Vec<usize> = (0..y.len()).filter(|&j| y[j].is_finite()).collect();
    let m = present.len();
    let width = (2 * half + 1).min(m);
    let mut out = vec![f64::NAN; y.len()];
    if width < 3 {
        return y.to_vec();
    }
    for (p, &k) in present.iter().enumerate() {
        let lo = p.saturating_sub(half).min(m - width);
        let idx = &present[lo..lo + width];
        out[k] = local_quadratic(t, y, idx, t[k]).map_or(y[k], |(v, _)| v);
    }
    out
}

/// Every table's observed states smoothed by [`smooth_series`].
pub fn smoothed_tables(tables: &[Table], half: usize) -> Vec<Table> {
    tables
        .iter()
        .map(|tb| Table {
            file: tb.file.clone(),
            times: tb.times.clone(),
            values: tb
                .values
                .iter()
                .map(|col| smooth_series(&tb.times, col, half))
                .collect(),
        })
        .collect()
}

/// The robust noise level of one series (MAD of the leave-one-out residuals), NaN when it
/// cannot be formed.
fn series_level(t: &[f64], y: &[f64]) -> (f64, Vec<Option<f64>>) {
    let res: Vec<Option<f64>> = (0..y.len())
        .map(|k| {
            if y[k].is_finite() {
                loo_residual(t, y, k)
            } else {
                None
            }
        })
        .collect();
    let mut abs: Vec<f64> = res.iter().flatten().map(|r| r.abs()).collect();
    if abs.len() < 5 {
        return (f64::NAN, res);
    }
    abs.sort_by(f64::total_cmp);
    (MAD_TO_SD * abs[abs.len() / 2], res)
}

/// The data's noise level per state (user units): the robust spread of every value against a
/// local quadratic through its neighbours, pooled over experiments. An upper bound where the
/// sampling is so coarse that a quadratic cannot follow the signal. NaN for a state with too few
/// values.
pub fn noise_levels(tables: &[Table], nstates: usize) -> Vec<f64> {
    (0..nstates)
        .map(|i| {
            let mut abs = Vec::new();
            for tb in tables {
                let (_, res) = series_level(&tb.times, &tb.values[i]);
                abs.extend(res.iter().flatten().map(|r| r.abs()));
            }
            if abs.len() < 5 {
                return f64::NAN;
            }
            abs.sort_by(f64::total_cmp);
            MAD_TO_SD * abs[abs.len() / 2]
        })
        .collect()
}

/// Isolated values far outside the noise (beyond OUTLIER_Z robust levels of their neighbours),
/// returned with the tables they are removed from (set missing). Candidates are judged from the
/// largest down, each against its neighbours as they are once the larger ones are gone (a wild
/// value also spoils its neighbours' local fits).
pub fn remove_outliers(tables: &[Table], nstates: usize) -> (Vec<Table>, Vec<Outlier>) {
    let mut out = tables.to_vec();
    let mut flagged = Vec::new();
    for (e, tb) in out.iter_mut().enumerate() {
        for i in 0..nstates {
            let (level, res) = series_level(&tb.times, &tb.values[i]);
            if !(level.is_finite() && level > 0.0) {
                continue;
            }
            let present = tb.values[i].iter().filter(|v| v.is_finite()).count();
            let budget = (MAX_OUTLIER_FRACTION * present as f64).floor() as usize;
            let mut order: Vec<(usize, f64)> = res
                .iter()
                .enumerate()
                .filter_map(|(k, r)| r.map(|r| (k, r.abs() / level)))
                .filter(|&(_, z)| z > OUTLIER_Z)
                .collect();
            order.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (k, _) in order {
                if flagged
                    .iter()
                    .filter(|o: &&Outlier| o.exp == e && o.state == i)
                    .count()
                    >= budget
                {
                    break;
                }
                let y = &mut tb.values[i];
                let Some(r) = loo_residual(&tb.times, y, k) else {
                    continue;
                };
                let z = r.abs() / level;
                if z > OUTLIER_Z && isolated(y, k, r) {
                    flagged.push(Outlier {
                        exp: e,
                        row: k,
                        state: i,
                        value: y[k],
                        z,
                    });
                    y[k] = f64::NAN;
                }
            }
        }
    }
    (out, flagged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn table(times: Vec<f64>, values: Vec<f64>) -> Table {
        Table {
            file: "t.csv".into(),
            times,
            values: vec![values],
        }
    }

    /// On a smooth signal with known Gaussian noise (finely and unequally sampled) the level is
    /// within 10% of the truth.
    #[test]
    fn level_of_known_noise() {
        let mut rng = Rng::new(3);
        let mut t = 0.0f64;
        let mut times = Vec::new();
        let mut values = Vec::new();
        for _ in 0..800 {
            times.push(t);
            values.push((0.7 * t).sin() + 0.5 * (0.23 * t).cos() + 0.05 * rng.normal());
            t += 0.01 + 0.02 * rng.uniform();
        }
        let s = noise_levels(&[table(times, values)], 1)[0];
        assert!((s - 0.05).abs() < 0.005, "{s}");
    }

    /// One wild value among 2001 is flagged (and only it); clean neighbours stay.
    #[test]
    fn one_outlier_is_found_alone() {
        let mut rng = Rng::new(5);
        let times: Vec<f64> = (0..2001).map(|k| k as f64 * 0.005).collect();
        let mut values: Vec<f64> = times
            .iter()
            .map(|t| (-0.5 * t).exp() + 0.01 * rng.normal())
            .collect();
        values[1000] = 100.0;
        let (clean, flagged) = remove_outliers(&[table(times, values)], 1);
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        assert_eq!(flagged[0].row, 1000);
        assert!(clean[0].values[0][1000].is_nan());
        assert!(clean[0].values[0][999].is_finite());
    }

    /// Smoothing a noisy smooth signal brings it closer to the truth (root-mean-square error
    /// reduced at least twofold), and a quadratic is reproduced exactly.
    #[test]
    fn smoothing_reduces_the_noise_and_keeps_quadratics() {
        let mut rng = Rng::new(4);
        let t: Vec<f64> = (0..400).map(|k| k as f64 * 0.02).collect();
        let truth: Vec<f64> = t.iter().map(|t| (1.3 * t).sin()).collect();
        let noisy: Vec<f64> = truth.iter().map(|v| v + 0.05 * rng.normal()).collect();
        let rms = |a: &[f64]| {
            (a.iter()
                .zip(&truth)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                / a.len() as f64)
                .sqrt()
        };
        let smooth = smooth_series(&t, &noisy, 7);
        assert!(
            rms(&smooth) < 0.5 * rms(&noisy),
            "{} vs {}",
            rms(&smooth),
            rms(&noisy)
        );
        let quad: Vec<f64> = t.iter().map(|t| 1.0 - 2.0 * t + 0.5 * t * t).collect();
        let back = smooth_series(&t, &quad, 5);
        for (a, b) in back.iter().zip(&quad) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    /// Pure Gaussian noise has no outliers at 8 levels.
    #[test]
    fn gaussian_noise_has_no_outliers() {
        let mut rng = Rng::new(9);
        let times: Vec<f64> = (0..3000).map(|k| k as f64 * 0.01).collect();
        let values: Vec<f64> = times
            .iter()
            .map(|t| t.sin() + 0.05 * rng.normal())
            .collect();
        let (_, flagged) = remove_outliers(&[table(times, values)], 1);
        assert!(flagged.is_empty(), "{flagged:?}");
    }

    /// A clean blow-up sampled to within 1e-12 of its pole (x = 1/(1 - t)) has no outliers:
    /// its last values only continue the trend; a wild value in its middle is still found.
    #[test]
    fn a_steep_trend_is_not_an_outlier() {
        let times: Vec<f64> = (0..60)
            .map(|k| 1.0 - 10f64.powf(-(k as f64) / 5.0))
            .collect();
        let mut values: Vec<f64> = times.iter().map(|t| 1.0 / (1.0 - t)).collect();
        let (_, flagged) = remove_outliers(&[table(times.clone(), values.clone())], 1);
        assert!(flagged.is_empty(), "{flagged:?}");
        values[40] *= 50.0;
        let (_, flagged) = remove_outliers(&[table(times, values)], 1);
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        assert_eq!(flagged[0].row, 40);
    }
}
