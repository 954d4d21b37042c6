//! Starting points drawn over the box of parameters: a Latin hypercube (every coordinate's range
//! cut into as many strata as there are starts, each stratum used once), mapped to magnitudes
//! spread log-uniformly over decades, with signs from the bounds where they fix them.

use crate::rng::Rng;

/// Decades below and above one normalised unit a parameter started at zero may start at.
const ZERO_DECADES: (f64, f64) = (-2.0, 1.0);
/// Decades either side of a non-zero starting value.
const VALUE_DECADES: f64 = 1.0;

/// `count` points of a Latin hypercube in [0, 1)^`dim`: in every coordinate, each of the
/// `count` strata [j/count, (j+1)/count) holds exactly one point, at a random place in it.
pub(crate) fn latin_hypercube(count: usize, dim: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut pts = vec![vec![0.0; dim]; count];
    let mut perm: Vec<usize> = (0..count).collect();
    for d in 0..dim {
        for i in (1..count).rev() {
            let j = rng.below(i + 1);
            perm.swap(i, j);
        }
        for (p, &s) in pts.iter_mut().zip(&perm) {
            p[d] = (s as f64 + rng.uniform()) / count as f64;
        }
    }
    pts
}

/// A start (normalised units) from a unit point `u` (two coordinates per parameter: magnitude
/// and sign): a parameter the spec starts at a non-zero value starts within a decade of it, with
/// its sign; one the spec starts at zero starts at a magnitude log-uniform over ZERO_DECADES with
/// either sign. Bounds (`lo`, `hi`, normalised) fix the sign where they exclude the other, and
/// a draw outside them is moved inside (uniformly, when both are finite).
pub(crate) fn start_from(u: &[f64], spec: &[f64], lo: &[f64], hi: &[f64]) -> Vec<f64> {
    spec.iter()
        .enumerate()
        .map(|(k, &v)| {
            let (um, us) = (u[2 * k], u[2 * k + 1]);
            let (mag, mut sign) = if v != 0.0 {
                (
                    v.abs() * 10f64.powf(VALUE_DECADES * (2.0 * um - 1.0)),
                    v.signum(),
                )
            } else {
                let (a, b) = ZERO_DECADES;
                (
                    10f64.powf(a + (b - a) * um),
                    if us < 0.5 { -1.0 } else { 1.0 },
                )
            };
            if lo[k] >= 0.0 {
                sign = 1.0;
            } else if hi[k] <= 0.0 {
                sign = -1.0;
            }
            let x = sign * mag;
            if x >= lo[k] && x <= hi[k] {
                x
            } else if lo[k].is_finite() && hi[k].is_finite() {
                lo[k] + (hi[k] - lo[k]) * um
            } else {
                x.clamp(lo[k], hi[k])
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stratum of every coordinate holds exactly one point.
    #[test]
    fn latin_hypercube_fills_every_stratum_once() {
        let mut rng = Rng::new(3);
        let (count, dim) = (17, 5);
        let pts = latin_hypercube(count, dim, &mut rng);
        for d in 0..dim {
            let mut seen = vec![0; count];
            for p in &pts {
                assert!((0.0..1.0).contains(&p[d]));
                seen[(p[d] * count as f64) as usize] += 1;
            }
            assert!(seen.iter().all(|&c| c == 1), "coordinate {d}: {seen:?}");
        }
    }

    /// Signs follow the bounds, values stay inside them, magnitudes span the decades asked for.
    #[test]
    fn starts_respect_bounds_and_spread_over_decades() {
        let inf = f64::INFINITY;
        let spec = [0.0, 2.0, 0.0, 0.0];
        let lo = [-inf, 0.0, 0.0, -1.0];
        let hi = [inf, inf, inf, 0.5];
        let mut rng = Rng::new(9);
        let pts = latin_hypercube(64, 8, &mut rng);
        let starts: Vec<Vec<f64>> = pts.iter().map(|u| start_from(u, &spec, &lo, &hi)).collect();
        let (mut neg, mut pos) = (0, 0);
        for s in &starts {
            for k in 0..4 {
                assert!(s[k] >= lo[k] && s[k] <= hi[k], "{s:?}");
            }
            assert!(s[1] > 0.2 - 1e-12 && s[1] < 20.0 + 1e-12, "{s:?}");
            if s[0] < 0.0 {
                neg += 1;
            } else {
                pos += 1;
            }
        }
        assert!(neg > 20 && pos > 20, "{neg} negative, {pos} positive");
        let small = starts.iter().filter(|s| s[0].abs() < 0.1).count();
        let large = starts.iter().filter(|s| s[0].abs() > 1.0).count();
        assert!(small > 10 && large > 10, "{small} small, {large} large");
    }
}
