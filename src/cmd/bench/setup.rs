//! Setting up the benchmark's problem: the tolerances of `--tols`, each experiment's constants,
//! and the pieces cut from the data tables.

use odenet_fit::CompiledModel;
use odenet_solve::Piece;
use odenet_spec::{Initial, Segment, Spec, Table};

use crate::CliError;

/// Points per piece when the spec leaves `segment` to the fit (`"auto"`): the fit's long-standing
/// default length.
const AUTO_SEGMENT: usize = 10;

/// `1e-3..1e-9` (every decade between, both ends included) or plain numbers.
pub(super) fn parse_tols(items: &[String]) -> Result<Vec<f64>, CliError> {
    let bad = |s: &str, why: &str| {
        CliError::input(format!(
            "error: --tols {s:?}: {why}\n  = help: write e.g. --tols 1e-3..1e-10 or --tols 1e-4,1e-8"
        ))
    };
    let num = |s: &str, whole: &str| -> Result<f64, CliError> {
        let v: f64 = s.trim().parse().map_err(|_| bad(whole, "not a number"))?;
        if !(v > 0.0 && v < 1.0) {
            return Err(bad(whole, "a tolerance must lie between 0 and 1"));
        }
        Ok(v)
    };
    let mut tols = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match item.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (num(a, item)?, num(b, item)?);
                let (hi, lo) = (a.max(b), a.min(b));
                let decades = (hi / lo).log10().round() as i32;
                if decades > 20 {
                    return Err(bad(item, "the range spans more than 20 decades"));
                }
                for k in 0..=decades {
                    // Rounded to 12 digits, so that 1e-4..1e-8 gives 1e-7 itself, not
                    // 1.0000000000000001e-7.
                    let t: f64 = format!("{:.12e}", hi / 10f64.powi(k))
                        .parse()
                        .unwrap_or(hi / 10f64.powi(k));
                    tols.push(t);
                }
            }
            None => tols.push(num(item, item)?),
        }
    }
    if tols.is_empty() {
        return Err(bad("", "no tolerance given"));
    }
    tols.sort_by(|a, b| b.total_cmp(a));
    tols.dedup_by(|a, b| ((*a - *b) / *b).abs() < 1e-9);
    Ok(tols)
}

/// Each experiment's values of the model's constants, by name.
pub(super) fn experiment_constants(
    spec: &Spec,
    model: &CompiledModel,
) -> Result<Vec<Vec<f64>>, CliError> {
    spec.data
        .iter()
        .map(|ds| {
            model
                .constants
                .iter()
                .map(|c| {
                    spec.constants
                        .iter()
                        .position(|s| s == c)
                        .map(|i| ds.constants[i])
                        .ok_or_else(|| {
                            CliError::input(format!(
                                "error: the model uses the constant {c:?}, which the spec's [[data]] do not give"
                            ))
                        })
                })
                .collect()
        })
        .collect()
}

/// The pieces of each experiment: `segment` consecutive rows (10 for `"auto"`) every `stride`
/// rows, or the whole experiment, each starting from the observed values at its first row (or, at an experiment's
/// first row, from the `initial` rules). Pieces without a complete start are skipped and
/// counted.
pub(super) fn cut_pieces(spec: &Spec, tables: &[Table], whole: bool) -> (Vec<Vec<Piece>>, usize) {
    let n = spec.states.len();
    let mut skipped = 0;
    let pieces = spec
        .data
        .iter()
        .zip(tables)
        .map(|(ds, tb)| {
            let rows = tb.rows();
            let (m, stride) = match (whole, spec.fit.segment) {
                (false, Segment::Points(m)) => (m.min(rows), spec.fit.stride.max(1)),
                (false, Segment::Auto) => (AUTO_SEGMENT.min(rows), spec.fit.stride.max(1)),
                _ => (rows, rows),
            };
            let mut out = Vec::new();
            if m < 2 {
                return out;
            }
            for start in (0..=rows - m).step_by(stride) {
                let observed = |i: usize| Some(tb.values[i][start]).filter(|v| v.is_finite());
                let x0: Option<Vec<f64>> = (0..n)
                    .map(|i| match (&ds.initial[i], start) {
                        (Initial::Value(v), 0) => Some(*v),
                        (Initial::Expr(e), 0) => e.eval(&|name| {
                            if let Some(k) = spec.constants.iter().position(|c| c == name) {
                                return Some(ds.constants[k]);
                            }
                            spec.state_index(name).and_then(observed)
                        }),
                        _ => observed(i),
                    })
                    .collect();
                match x0 {
                    Some(x0) => out.push(Piece {
                        x0,
                        times: tb.times[start..start + m].to_vec(),
                    }),
                    None => skipped += 1,
                }
            }
            out
        })
        .collect();
    (pieces, skipped)
}
