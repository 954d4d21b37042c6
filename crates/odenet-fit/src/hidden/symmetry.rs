//! The free scale of a hidden state. A state that no data observe and that starts at zero (or at
//! a fitted value) can often be rescaled, x_h → c·x_h, with some parameters multiplied by powers
//! of c, with (almost) no change of any observed trajectory: the MgCl₂ actin model's P, whose
//! scale moves into a1, a3 (× c) and a9, a10 (× 1/c). Then no value of those parameters is
//! determined, only the combinations the rescaling leaves unchanged (−a10/a9 there), and the
//! fit says so.
//!
//! A rescaling with exponents e is a symmetry when, at every state,
//! f_i(S_c x; c^e ∘ p) = c^{δ_ih} f_i(x; p); its derivative at c = 1 is linear in e:
//! x_h ∂f_i/∂x_h + Σ_k e_k p_k ∂f_i/∂p_k = δ_ih f_i. The candidate exponents are the weak
//! direction of the covariance rounded to integers (the data leave it free) or, when the
//! covariance is singular, the least-squares solution of that condition over states met along
//! the fitted trajectories; the candidate is a rescaling of h when it meets the condition up to
//! a small fraction of the terms' size (exactly, for an exact symmetry; the terms it misses are
//! the ones the data cannot see, for a near one).

use odenet_spec::{Initial, Spec};
use odenet_tape::OdeRhs;

use crate::model::CompiledModel;
use crate::result::{Trajectory, WeakDirection};

/// A rescaling of hidden state `state` that leaves the observed trajectories unchanged within
/// the noise: parameter `k` is multiplied by c^`e` for each `(k, e)` (integer, non-zero).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HiddenScale {
    pub state: usize,
    pub exponents: Vec<(usize, i32)>,
}

/// States along the trajectories: at most this many per experiment.
const POINTS_PER_EXPERIMENT: usize = 12;
/// The weak direction's exponents must be this close to integers to be read as a rescaling.
const ROUND_TOL: f64 = 0.25;
/// The linearised condition must hold to this fraction of its right-hand side's size.
const RESIDUAL_TOL: f64 = 0.2;

/// The linearised condition for hidden state `h` over points of the trajectories: rows (A, b)
/// with A e = b, A over the active parameters.
fn condition(
    model: &CompiledModel,
    consts: &[Vec<f64>],
    trajectories: &[Trajectory],
    p: &[f64],
    active: &[usize],
    h: usize,
) -> (Vec<f64>, Vec<f64>) {
    let n = model.nstates();
    let np = model.nparams();
    let (mut a_rows, mut b_rows) = (Vec::new(), Vec::new());
    for (e, tr) in trajectories.iter().enumerate() {
        let Some(c) = consts.get(e) else { continue };
        let rows = tr.times.len();
        if rows == 0 || tr.states.len() != rows * n {
            continue;
        }
        let step = rows.div_ceil(POINTS_PER_EXPERIMENT).max(1);
        let rhs = model.rhs(c);
        let mut scratch = vec![0.0; rhs.scratch_len()];
        let (mut f, mut jx, mut jp) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * np]);
        for r in (0..rows).step_by(step) {
            let x = &tr.states[r * n..(r + 1) * n];
            if x.iter().any(|v| !v.is_finite()) {
                continue;
            }
            rhs.rhs_jac(x, p, &mut scratch, &mut f, &mut jx, &mut jp);
            for i in 0..n {
                let target = if i == h { f[i] } else { 0.0 } - x[h] * jx[i * n + h];
                a_rows.extend(active.iter().map(|&k| p[k] * jp[i * np + k]));
                b_rows.push(target);
            }
        }
    }
    (a_rows, b_rows)
}

/// The rescalings of hidden states that fit the data as well, for parameters `p` (user units)
/// with the active parameters `active` (only they may absorb the scale) and the covariance's
/// weak direction `weak`. A hidden state qualifies when every experiment starts it at zero or
/// fits its initial value (the rescaled start is then a start as good).
pub(crate) fn hidden_scales(
    model: &CompiledModel,
    spec: &Spec,
    consts: &[Vec<f64>],
    trajectories: &[Trajectory],
    p: &[f64],
    active: &[usize],
    weak: Option<&WeakDirection>,
) -> Vec<HiddenScale> {
    let n = model.nstates();
    let na = active.len();
    if model.is_library() || na == 0 {
        return vec![];
    }
    let mut out = Vec::new();
    for h in (0..n).filter(|&h| model.hidden[h]) {
        let starts_free = !spec.data.is_empty()
            && spec.data.iter().all(|d| match d.initial.get(h) {
                Some(Initial::Fit) => true,
                Some(Initial::Value(v)) => *v == 0.0,
                _ => false,
            });
        if !starts_free {
            continue;
        }
        let (a_rows, b_rows) = condition(model, consts, trajectories, p, active, h);
        let m = b_rows.len();
        if m < na {
            continue;
        }
        let a = nalgebra::DMatrix::from_row_slice(m, na, &a_rows);
        let b = nalgebra::DVector::from_vec(b_rows);
        let candidate: Option<Vec<f64>> = match weak {
            Some(w) => {
                let mut e = vec![0.0; na];
                for &(k, x) in &w.exponents {
                    if let Some(j) = active.iter().position(|&a| a == k) {
                        e[j] = x;
                    }
                }
                // The direction's sign is arbitrary: take the one closer to the condition.
                let fit = |e: &[f64]| (&a * nalgebra::DVector::from_column_slice(e) - &b).norm();
                let neg: Vec<f64> = e.iter().map(|v| -v).collect();
                Some(if fit(&neg) < fit(&e) { neg } else { e })
            }
            None => a
                .clone()
                .svd(true, true)
                .solve(&b, 1e-12)
                .ok()
                .map(|v| v.as_slice().to_vec()),
        };
        let Some(e) = candidate else { continue };
        if e.iter().any(|v| (v - v.round()).abs() > ROUND_TOL) {
            continue;
        }
        let exps: Vec<i32> = e.iter().map(|v| v.round() as i32).collect();
        if exps.iter().all(|&v| v == 0) {
            continue;
        }
        let ev = nalgebra::DVector::from_iterator(na, exps.iter().map(|&v| f64::from(v)));
        let residual = (&a * ev - &b).norm();
        let size = b.norm();
        if !(size > 0.0 && residual <= RESIDUAL_TOL * size) {
            continue;
        }
        out.push(HiddenScale {
            state: h,
            exponents: active
                .iter()
                .zip(&exps)
                .filter(|(_, e)| **e != 0)
                .map(|(&k, &e)| (k, e))
                .collect(),
        });
    }
    out
}

/// The warning for a free scale: the rescaling, and the ratios (or products) of parameters it
/// leaves unchanged, with their values — the only things the data determine among them.
pub(crate) fn warning(model: &CompiledModel, p: &[f64], s: &HiddenScale) -> String {
    let name = |k: usize| model.params[k].name.clone();
    let factor = |e: i32| match e {
        1 => "c".to_string(),
        -1 => "1/c".to_string(),
        e => format!("c^{e}"),
    };
    let mut groups: Vec<(i32, Vec<usize>)> = Vec::new();
    for &(k, e) in &s.exponents {
        match groups.iter_mut().find(|g| g.0 == e) {
            Some(g) => g.1.push(k),
            None => groups.push((e, vec![k])),
        }
    }
    let moves: Vec<String> = groups
        .iter()
        .map(|(e, ks)| {
            let names: Vec<String> = ks.iter().map(|&k| name(k)).collect();
            format!("{} by {}", names.join(", "), factor(*e))
        })
        .collect();
    // Invariants: within a group, ratios to its first member; between a group and the next of
    // opposite exponent, their first members' product.
    let mut invariants: Vec<String> = Vec::new();
    for (_, ks) in &groups {
        for &k in &ks[1..] {
            invariants.push(format!(
                "{}/{} = {}",
                name(k),
                name(ks[0]),
                odenet_spec::format_number(sig4(p[k] / p[ks[0]]))
            ));
        }
    }
    for (i, (e, ks)) in groups.iter().enumerate() {
        if let Some((_, other)) = groups[i + 1..].iter().find(|(f, _)| *f == -*e) {
            invariants.push(format!(
                "{}*{} = {}",
                name(ks[0]),
                name(other[0]),
                odenet_spec::format_number(sig4(p[ks[0]] * p[other[0]]))
            ));
        }
    }
    let state = &model.states[s.state];
    format!(
        "the scale of the hidden state {state} is not determined by the data: {state} → c·{state} \
         with {} fits the data as well within the noise, so these parameters' values are not \
         determined (their standard errors say so); only combinations unchanged by it are \
         determined: {}",
        moves.join(", "),
        if invariants.is_empty() {
            "none among the fitted parameters".to_string()
        } else {
            invariants.join(", ")
        }
    )
}

/// `v` to four significant digits.
fn sig4(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let m = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * m).round() / m
}
