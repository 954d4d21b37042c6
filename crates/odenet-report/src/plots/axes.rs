//! Axis ranges that follow the data (padded, capped against a runaway model, positive for a
//! log axis), tick positions for a log axis, and the numbers written on the axes.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

use super::HUGE;

/// The smallest and largest finite, non-huge value, if any.
pub(super) fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite() && v.abs() < HUGE)
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// An axis range with room around the values: 5% each side, or ±10% of the value (±1 at 0)
/// when the values do not span a range; (0, 1) when there are none.
pub(super) fn pad(ext: Option<(f64, f64)>) -> (f64, f64) {
    let Some((lo, hi)) = ext else {
        return (0.0, 1.0);
    };
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs());
    if span > 1e-12 * scale && span > 0.0 {
        (lo - 0.05 * span, hi + 0.05 * span)
    } else {
        let mid = 0.5 * (lo + hi);
        let h = if mid.abs() < f64::MIN_POSITIVE {
            1.0
        } else {
            0.1 * mid.abs()
        };
        (mid - h, mid + h)
    }
}

/// The axis range for data and a model curve: the data's range, widened to show the model by
/// at most one data span on each side (a trajectory that blows up is cut at the edge); the
/// model's own range when there is no data.
pub(super) fn capped_range(
    data: impl Iterator<Item = f64>,
    model: impl Iterator<Item = f64>,
) -> (f64, f64) {
    let d = extent(data);
    let m = extent(model);
    let ext = match (d, m) {
        (Some((dl, dh)), Some((ml, mh))) => {
            let span = (dh - dl).max(0.1 * dl.abs().max(dh.abs()));
            Some((dl.min(ml.max(dl - span)), dh.max(mh.min(dh + span))))
        }
        (d, None) => d,
        (None, m) => m,
    };
    pad(ext)
}

/// A positive range for a log axis: a quarter of a decade either side, or a decade when the
/// values are all equal; (1e-3, 1) when there are none.
pub(super) fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let ext = values
        .filter(|v| v.is_finite() && *v > 0.0 && *v < HUGE && *v > 1.0 / HUGE)
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        });
    match ext {
        None => (1e-3, 1.0),
        Some((lo, hi)) if hi / lo < 1.5 => (lo / 3.0, hi * 3.0),
        Some((lo, hi)) => (lo / 1.5, hi * 1.5),
    }
}

/// A linear f64 axis whose ticks are given (plotters' `WithKeyPoints` cannot format labels).
pub(super) struct TickedAxis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = (v - self.lo) / (self.hi - self.lo);
        if !r.is_finite() {
            return limit.0;
        }
        limit.0 + ((limit.1 - limit.0) as f64 * r).round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Tick positions (in log10 units) for a log axis over [l0, l1]: every mantissa 1..9 when the
/// axis spans at most two decades, 1, 2 and 5 up to six, powers of ten beyond (every k-th
/// when there are many).
pub(super) fn log_ticks(l0: f64, l1: f64) -> Vec<f64> {
    if !(l0.is_finite() && l1.is_finite() && l1 > l0) {
        return vec![];
    }
    let decades = l1 - l0;
    let mantissas: &[f64] = if decades <= 2.0 {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    } else if decades <= 6.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let every = ((decades / 12.0).ceil() as i64).max(1);
    let (k0, k1) = (l0.floor() as i64, l1.ceil() as i64);
    let mut ticks = Vec::new();
    for k in (k0..=k1).filter(|k| k.rem_euclid(every) == 0) {
        for m in mantissas {
            let t = (*m).log10() + k as f64;
            if t >= l0 && t <= l1 {
                ticks.push(t);
            }
        }
    }
    ticks
}

/// Axis numbers: plain with up to 4 decimals in [1e-3, 1e5), scientific otherwise.
pub(super) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a < 1e-12 {
        "0".to_string()
    } else if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        }
    }
}
