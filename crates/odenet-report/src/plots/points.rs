//! What is drawn: the finite points of a data column or a trajectory, thinned when there are
//! too many, and model lines split where they stop being finite and clipped to the axes.

use odenet_fit::Trajectory;
use odenet_spec::Table;

use super::HUGE;

/// More data points than this per series are thinned (every k-th point), to keep the SVG small.
pub(super) const MAX_POINTS: usize = 2500;

/// The observed (time, value) points of state `k`, finite ones only.
pub(super) fn table_column(table: &Table, k: usize) -> Vec<(f64, f64)> {
    let col = table.values.get(k).map(Vec::as_slice).unwrap_or(&[]);
    table
        .times
        .iter()
        .zip(col)
        .map(|(&t, &v)| (t, v))
        .filter(|&(t, v)| finite_pt(t, v))
        .collect()
}

/// Rows of the trajectory with every state present (guards a short `states` vector).
pub(super) fn complete_rows(traj: &Trajectory, n: usize) -> usize {
    traj.states
        .len()
        .checked_div(n)
        .map_or(0, |rows| rows.min(traj.times.len()))
}

/// The trajectory of state `k` as (time, value), non-finite values kept (they split the line).
pub(super) fn trajectory_column(traj: &Trajectory, k: usize, n: usize) -> Vec<(f64, f64)> {
    (0..complete_rows(traj, n))
        .map(|r| (traj.times[r], traj.states[r * n + k]))
        .collect()
}

pub(super) fn finite_pt(a: f64, b: f64) -> bool {
    a.is_finite() && b.is_finite() && a.abs() < HUGE && b.abs() < HUGE
}

pub(super) fn inside(p: (f64, f64), (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> bool {
    p.0 >= x0 && p.0 <= x1 && p.1 >= y0 && p.1 <= y1
}

/// At most [`MAX_POINTS`] points: every k-th one.
pub(super) fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let step = points.len().div_ceil(MAX_POINTS);
    points.iter().step_by(step).copied().collect()
}

/// Splits a polyline where it is not finite and clips every segment to the box (Liang–Barsky),
/// returning the visible runs.
pub(super) fn clip_polyline(
    points: &[(f64, f64)],
    xr: (f64, f64),
    yr: (f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut flush = |cur: &mut Vec<(f64, f64)>| {
        if !cur.is_empty() {
            runs.push(std::mem::take(cur));
        }
    };
    let ok = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    // A one-point path draws nothing, so a lone sample becomes a short dash.
    if let [p] = points {
        if ok(p) && inside(*p, xr, yr) {
            let d = 0.002 * (xr.1 - xr.0);
            return vec![vec![(p.0 - d, p.1), (p.0 + d, p.1)]];
        }
        return vec![];
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !ok(&a) || !ok(&b) {
            flush(&mut cur);
            continue;
        }
        match clip_segment(a, b, xr, yr) {
            Some((p, q)) => {
                let joined = cur
                    .last()
                    .is_some_and(|l| (l.0 - p.0).abs() <= 0.0 && (l.1 - p.1).abs() <= 0.0);
                if !joined {
                    flush(&mut cur);
                    cur.push(p);
                }
                cur.push(q);
            }
            None => flush(&mut cur),
        }
    }
    flush(&mut cur);
    runs
}

fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p.abs() < f64::MIN_POSITIVE {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 || !t0.is_finite() || !t1.is_finite() {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    let (p, q) = (at(t0), at(t1));
    (p.0.is_finite() && p.1.is_finite() && q.0.is_finite() && q.1.is_finite()).then_some((p, q))
}
