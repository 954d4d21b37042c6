//! Linear relations among the states that hold on the data (conservation laws such as
//! S + I + R = 1). Such a relation makes a complete library singular: every monomial that
//! contains one of its states is a combination of monomials without it, so the coefficients are
//! not determined and selection compares fits at round-off. The relation is found from the
//! covariance of the observed states, reported in the user's units, and one of its states is
//! eliminated from the library (every feature containing it is left out), which keeps exactly
//! the functions the full library could express on the data.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::model::{CompiledModel, ModelKind};
use crate::problem::Problem;

/// A direction of the states whose variance over the data is at most this many times the
/// noise variance (the food chain at 5% noise, near its equilibrium: 1.6–6; SIR at 5%: 21 and
/// more).(in that direction) is a relation that holds within the noise.
const WITHIN_NOISE: f64 = 4.0;
/// … and, whatever the noise, a direction with this little variance relative to the states'
/// own is one (clean data, where the noise estimate is the integrator's floor).
const RELATIVE_FLOOR: f64 = 1e-10;
/// Every state of a conservation law varies over the data by at least this many times its
/// noise variance (the food chain at 5% noise, near its equilibrium: 1.6–6; SIR at 5%: 21 and
/// more).
const SIGNAL_OVER_NOISE: f64 = 10.0;
/// A conserved combination is constant plus noise: over each experiment's rows in time order,
/// its lag-1 autocorrelation times the square root of the number of pairs (standard normal for
/// white noise) stays below this. A combination that drifts — a linear system settling along
/// its slow direction, where the data lie near a line but move off it during the transient — is
/// not a law.
const WHITE_Z: f64 = 4.0;
/// Coefficients below this fraction of the largest one are printed as absent.
const SMALL_COEFFICIENT: f64 = 1e-3;

/// One relation Σ_i a_i x_i = c that holds on the data (user units).
#[derive(Clone, Debug, PartialEq)]
pub struct Relation {
    /// Coefficient of each state (the largest in size is 1).
    pub coefficients: Vec<f64>,
    pub constant: f64,
    /// Root-mean-square of Σ a_i x_i − c over the data.
    pub residual: f64,
    /// The state eliminated from the library because of it.
    pub eliminated: usize,
}

impl Relation {
    /// The relation as an equation over the state names, e.g. `S + I + R = 1`.
    pub fn describe(&self, states: &[String]) -> String {
        let big = self.coefficients.iter().fold(0.0f64, |m, a| m.max(a.abs()));
        let mut lhs = String::new();
        for (a, name) in self.coefficients.iter().zip(states) {
            if a.abs() < SMALL_COEFFICIENT * big {
                continue;
            }
            let sign = if *a < 0.0 { "-" } else { "+" };
            if lhs.is_empty() {
                if *a < 0.0 {
                    lhs.push('-');
                }
            } else {
                lhs.push_str(&format!(" {sign} "));
            }
            if (a.abs() - 1.0).abs() > 1e-3 {
                lhs.push_str(&format!("{}*", odenet_spec::format_number(round4(a.abs()))));
            }
            lhs.push_str(name);
        }
        format!(
            "{lhs} = {} (on the data, to {:.1e})",
            odenet_spec::format_number(round4(self.constant)),
            self.residual
        )
    }
}

/// The lag-1 autocorrelation of the combination Σ v_i (x_i − mean_i) over consecutive usable
/// rows of each experiment, times the square root of the number of pairs.
fn lag_one_z(prob: &Problem, v: &[f64], mean: &[f64]) -> f64 {
    let (mut num, mut den, mut pairs) = (0.0, 0.0, 0usize);
    for exp in &prob.rows {
        let mut prev: Option<f64> = None;
        for row in exp {
            let Some(x) = row else {
                prev = None;
                continue;
            };
            let c: f64 = v
                .iter()
                .zip(x)
                .zip(mean)
                .map(|((a, b), m)| a * (b - m))
                .sum();
            den += c * c;
            if let Some(p) = prev {
                num += p * c;
                pairs += 1;
            }
            prev = Some(c);
        }
    }
    if pairs < 2 || den <= 0.0 {
        return 0.0;
    }
    num / den * (pairs as f64).sqrt()
}

/// Block lengths (rows) of the test that a combination does not drift.
const DRIFT_BLOCKS: [usize; 3] = [4, 16, 64];

/// How far the combination Σ v_i x_i drifts within an experiment: for each block length B, the
/// means of consecutive blocks of B usable rows are compared with the experiment's mean in
/// units of their noise (the combination's own variance over B): under a law their squared
/// deviations sum to a χ² with one degree per block less one per experiment, reported as a
/// standard normal deviate ((χ² − df)/√(2 df)); the largest over the block lengths. A lag-1
/// autocorrelation misses a drift that is slow and small beside the noise of single rows (a
/// linear system settling: its data lie near a line within the noise, but the block means
/// move during the transient); block means average the noise away.
fn drift_z(prob: &Problem, v: &[f64]) -> f64 {
    let combos: Vec<Vec<f64>> = prob
        .rows
        .iter()
        .map(|exp| {
            exp.iter()
                .flatten()
                .map(|x| v.iter().zip(x).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect();
    // The combination's variance within experiments (its noise, under a law).
    let (mut ss, mut m) = (0.0, 0usize);
    for c in &combos {
        if c.len() < 2 {
            continue;
        }
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        ss += c.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>();
        m += c.len() - 1;
    }
    if m == 0 || ss <= 0.0 {
        return 0.0;
    }
    let var = ss / m as f64;
    let mut worst = 0.0f64;
    for b in DRIFT_BLOCKS {
        let (mut chi2, mut df) = (0.0, 0isize);
        for c in &combos {
            let nb = c.len() / b;
            if nb < 2 {
                continue;
            }
            let means: Vec<f64> = (0..nb)
                .map(|k| c[k * b..(k + 1) * b].iter().sum::<f64>() / b as f64)
                .collect();
            let mean = means.iter().sum::<f64>() / nb as f64;
            chi2 += means.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() * b as f64 / var;
            df += nb as isize - 1;
        }
        if df >= 3 {
            let df = df as f64;
            worst = worst.max((chi2 - df) / (2.0 * df).sqrt());
        }
    }
    worst
}

fn round4(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let m = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * m).round() / m
}

/// The linear relations among the observed states over the usable rows, with the noise
/// variance `var` per state (scaled units); at most n − 1 of them, each eliminating a different
/// state (the last one it involves that is not eliminated yet).
pub fn relations(prob: &Problem, var: &[f64]) -> Vec<Relation> {
    let n = prob.nstates();
    if n < 2 {
        return Vec::new();
    }
    let xs: Vec<&Vec<f64>> = prob.rows.iter().flatten().flatten().collect();
    if xs.len() <= n + 1 {
        return Vec::new();
    }
    let m = xs.len() as f64;
    let mean: Vec<f64> = (0..n)
        .map(|i| xs.iter().map(|x| x[i]).sum::<f64>() / m)
        .collect();
    let cov = DMatrix::from_fn(n, n, |a, b| {
        xs.iter()
            .map(|x| (x[a] - mean[a]) * (x[b] - mean[b]))
            .sum::<f64>()
            / m
    });
    let cov_diag: Vec<f64> = (0..n).map(|i| cov[(i, i)]).collect();
    let scale = cov_diag.iter().copied().fold(0.0f64, f64::max);
    if scale <= 0.0 {
        return Vec::new();
    }
    // Directions of least variance in units of the noise (the covariance whitened by the
    // noise per state): with unequal noise the plain least-variance direction leans towards
    // the quieter states, and the combination it gives drifts with the dynamics.
    let sd: Vec<f64> = var
        .iter()
        .map(|v| v.sqrt().max(f64::MIN_POSITIVE))
        .collect();
    let whitened = DMatrix::from_fn(n, n, |a, b| cov[(a, b)] / (sd[a] * sd[b]));
    let eig = SymmetricEigen::new(whitened);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let mut out = Vec::new();
    let mut eliminated = vec![false; n];
    for &j in &order {
        // Back in scaled units, of unit length.
        let w = eig.eigenvectors.column(j);
        let v = DVector::from_fn(n, |i, _| w[i] / sd[i]).normalize();
        let lambda = (v.transpose() * &cov * &v)[(0, 0)].max(0.0);
        // The noise variance along v.
        let noise: f64 = (0..n).map(|i| v[i] * v[i] * var[i]).sum();
        if lambda > WITHIN_NOISE * noise && lambda > RELATIVE_FLOOR * scale {
            break;
        }
        // A conservation law: states that each move far more than the noise while the
        // combination does not. (States that barely move — data near an equilibrium — make
        // every combination look constant; that says nothing about the library.)
        let big = v.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        let moving = (0..n)
            .filter(|&i| v[i].abs() > 0.1 * big)
            .all(|i| cov_diag[i] >= SIGNAL_OVER_NOISE * var[i].max(RELATIVE_FLOOR * scale));
        let white = lag_one_z(prob, v.as_slice(), &mean).max(drift_z(prob, v.as_slice()));
        tracing::debug!(
            lambda,
            noise,
            ?cov_diag,
            ?var,
            moving,
            white,
            "conservation-law candidate"
        );
        // (At the floor — clean data — the combination is constant to the integrator's error,
        // which is smooth, not white.)
        let exact = lambda <= RELATIVE_FLOOR * scale;
        if !moving || (white > WHITE_Z && !exact) {
            continue;
        }
        // Eliminate the last state it involves (in the user's order) not eliminated yet.
        let Some(e) = (0..n)
            .rev()
            .find(|&i| !eliminated[i] && v[i].abs() > 0.1 * big)
        else {
            continue;
        };
        eliminated[e] = true;
        // In user units: Σ (v_i / sx_i) x_i = Σ v_i mean_i.
        let sx = &prob.scales.sx;
        let raw: Vec<f64> = (0..n).map(|i| v[i] / sx[i]).collect();
        let norm = raw.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        let sign = if raw.iter().sum::<f64>() < 0.0 {
            -1.0
        } else {
            1.0
        };
        let coefficients: Vec<f64> = raw.iter().map(|a| sign * a / norm).collect();
        let constant = sign * (0..n).map(|i| v[i] * mean[i]).sum::<f64>() / norm;
        out.push(Relation {
            coefficients,
            constant,
            residual: lambda.sqrt() / norm,
            eliminated: e,
        });
        if out.len() + 1 >= n {
            break;
        }
    }
    out
}

/// The free library coefficients that remain when the states of `relations` are eliminated:
/// every coefficient of a feature that contains an eliminated state is left out. Templates keep
/// every parameter.
pub fn reduced_free(model: &CompiledModel, free: &[usize], relations: &[Relation]) -> Vec<usize> {
    let ModelKind::Library { exponents, .. } = &model.kind else {
        return free.to_vec();
    };
    let nf = model.nfeatures();
    free.iter()
        .copied()
        .filter(|&k| {
            let j = k % nf;
            // Extra (non-polynomial) features have no exponents: kept.
            exponents
                .get(j)
                .is_none_or(|e| relations.iter().all(|r| e[r.eliminated] == 0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use odenet_spec::{Spec, Table};

    use super::*;
    use crate::solve_options;

    fn tables_of(values: Vec<Vec<f64>>) -> Vec<Table> {
        let times: Vec<f64> = (0..values[0].len()).map(|k| k as f64 * 0.1).collect();
        vec![Table {
            file: "d.csv".into(),
            times,
            values,
        }]
    }

    /// S + I + R = 1 on SIR-like data is found, reported in user units and R is eliminated
    /// together with every monomial that contains it.
    #[test]
    fn conservation_law_is_found_and_its_state_eliminated() {
        let spec = Spec::from_str(
            "states = [\"S\", \"I\", \"R\"]\n[library]\npolynomial = 2\n",
            Path::new("t.toml"),
        )
        .expect("spec");
        let model = CompiledModel::from_spec(&spec).expect("model");
        let k = 200;
        let s: Vec<f64> = (0..k).map(|j| 1.0 / (1.0 + 0.05 * j as f64)).collect();
        let i: Vec<f64> = (0..k)
            .map(|j| 0.3 * (j as f64 * 0.05).sin().abs() * s[j])
            .collect();
        let r: Vec<f64> = (0..k).map(|j| 1.0 - s[j] - i[j]).collect();
        let tables = tables_of(vec![s, i, r]);
        let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
        let rel = relations(&prob, &[1e-12; 3]);
        assert_eq!(rel.len(), 1, "{rel:?}");
        assert_eq!(rel[0].eliminated, 2);
        let text = rel[0].describe(&model.states);
        assert!(text.starts_with("S + I + R = 1 "), "{text}");
        let free = reduced_free(&model, &(0..30).collect::<Vec<_>>(), &rel);
        // Per equation, the monomials in S and I of degree ≤ 2: 6 of 10.
        assert_eq!(free.len(), 18, "{free:?}");
    }

    /// Independent states (a Lotka–Volterra-like pair) have no relation, even with noise.
    #[test]
    fn independent_states_have_none() {
        let spec = Spec::from_str(
            "states = [\"x\", \"y\"]\n[library]\npolynomial = 2\n",
            Path::new("t.toml"),
        )
        .expect("spec");
        let model = CompiledModel::from_spec(&spec).expect("model");
        let x: Vec<f64> = (0..300).map(|j| 2.0 + (0.1 * j as f64).sin()).collect();
        let y: Vec<f64> = (0..300)
            .map(|j| 1.0 + 0.5 * (0.1 * j as f64).cos())
            .collect();
        let tables = tables_of(vec![x, y]);
        let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
        assert!(relations(&prob, &[1e-4, 1e-4]).is_empty());
    }

    /// x + y constant plus white noise is a law; x + y drifting slowly by as much as the noise
    /// (so that its variance alone is within the noise) is not.
    #[test]
    fn a_drifting_combination_is_not_a_law() {
        let spec = Spec::from_str(
            "states = [\"x\", \"y\"]\n[library]\npolynomial = 1\n",
            Path::new("t.toml"),
        )
        .expect("spec");
        let model = CompiledModel::from_spec(&spec).expect("model");
        let mut rng = crate::rng::Rng::new(5);
        let k = 400;
        let sd = 0.02;
        let x: Vec<f64> = (0..k).map(|j| 2.0 + (0.05 * j as f64).sin()).collect();
        let noise: Vec<f64> = (0..k).map(|_| sd * rng.normal()).collect();
        let y_white: Vec<f64> = (0..k).map(|j| 1.0 - x[j] + noise[j]).collect();
        // A drift of 1.5 noise levels in amplitude, as a slow cosine.
        let y_drift: Vec<f64> = (0..k)
            .map(|j| 1.0 - x[j] + 1.5 * sd * (0.01 * j as f64).cos())
            .collect();
        for (y, law) in [(y_white, true), (y_drift, false)] {
            let tables = tables_of(vec![x.clone(), y]);
            let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
            // The noise variance per state in scaled units.
            let var: Vec<f64> = (0..2)
                .map(|i| (sd / prob.scales.sx[i]).powi(2) / 2.0)
                .collect();
            let rel = relations(&prob, &var);
            assert_eq!(rel.len(), usize::from(law), "law {law}: {rel:?}");
        }
    }

    /// A linear system settling to its equilibrium (x' = −0.5x + 0.2y, y' = 0.1x − 0.3y from
    /// (4, −2), 5% noise): after the fast transient the data are noise about a point, so x and
    /// y lie near a line within the noise and the combination's variance is the noise's. Its
    /// block means still move during the transient: no law. The same x with y = 3 − x plus the
    /// same noise keeps its law.
    #[test]
    fn a_settling_linear_system_is_not_a_law() {
        let spec = Spec::from_str(
            "states = [\"x\", \"y\"]\n[library]\npolynomial = 1\n",
            Path::new("t.toml"),
        )
        .expect("spec");
        let model = CompiledModel::from_spec(&spec).expect("model");
        let mut rng = crate::rng::Rng::new(11);
        let (k, dt, sub) = (501, 0.03, 100);
        let (mut x, mut y) = (Vec::with_capacity(k), Vec::with_capacity(k));
        let (mut a, mut b) = (4.0f64, -2.0f64);
        for _ in 0..k {
            x.push(a);
            y.push(b);
            for _ in 0..sub {
                let h = dt / sub as f64;
                (a, b) = (a + h * (-0.5 * a + 0.2 * b), b + h * (0.1 * a - 0.3 * b));
            }
        }
        let sd = [0.2, 0.1];
        let xn: Vec<f64> = x.iter().map(|v| v + sd[0] * rng.normal()).collect();
        let y_settle: Vec<f64> = y.iter().map(|v| v + sd[1] * rng.normal()).collect();
        let y_law: Vec<f64> = x.iter().map(|v| 3.0 - v + sd[1] * rng.normal()).collect();
        for (y, law) in [(y_settle, false), (y_law, true)] {
            let tables = tables_of(vec![xn.clone(), y]);
            let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
            let var: Vec<f64> = (0..2)
                .map(|i| (sd[i] / prob.scales.sx[i]).powi(2))
                .collect();
            let rel = relations(&prob, &var);
            assert_eq!(rel.len(), usize::from(law), "law {law}: {rel:?}");
        }
    }
}
