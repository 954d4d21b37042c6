//! The sparsity path's pieces: the schedule of μ and γ over the rounds, and scale-free pruning
//! (a term goes when its contribution to its equation over the data is below γ of the
//! equation's size; or the paper's |θ| < γ).

use odenet_solve::{PieceSolver, Sens};
use odenet_spec::PruneRule;
use odenet_tape::OdeRhs;

use crate::problem::Problem;

/// The i-th of n values from a to b, geometrically (linearly when a value is not positive).
pub fn geometric(a: f64, b: f64, i: usize, n: usize) -> f64 {
    if n <= 1 || a <= 0.0 || b <= 0.0 {
        return if n <= 1 {
            b
        } else {
            a + (b - a) * i as f64 / (n - 1) as f64
        };
    }
    a * (b / a).powf(i as f64 / (n - 1) as f64)
}

/// At most `m` of `pieces`, evenly spread.
pub fn spread(pieces: &[usize], m: usize) -> Vec<usize> {
    if pieces.len() <= m {
        return pieces.to_vec();
    }
    (0..m).map(|i| pieces[i * pieces.len() / m]).collect()
}

/// States at which contributions are measured: the usable data rows, or, when hidden states are
/// only known by integration, each experiment's simulated trajectory.
fn sample_states(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    q: &[f64],
) -> Vec<(usize, Vec<f64>)> {
    let n = prob.nstates();
    let mut out = Vec::new();
    if !prob.whole {
        for (e, er) in prob.rows.iter().enumerate() {
            for x in er.iter().flatten() {
                out.push((e, x.clone()));
            }
        }
        return out;
    }
    let mut solver = PieceSolver::new(n, active.len(), prob.solve_opts);
    for (pi, pc) in prob.pieces.iter().enumerate() {
        let ex = &prob.exps[pc.exp];
        let rhs = prob.rhs(pc.exp, base, active);
        let times = &ex.t[pc.start..pc.start + pc.len];
        let mut xs = vec![0.0; pc.len * n];
        let x0 = &prob.x0[pi * n..(pi + 1) * n];
        if solver
            .solve(&rhs, q, x0, times, Sens::None, &mut xs, &mut [])
            .is_ok()
        {
            for k in 0..pc.len {
                out.push((pc.exp, xs[k * n..(k + 1) * n].to_vec()));
            }
        }
    }
    out
}

/// Relative contribution of each active parameter: max over equations of
/// RMS(q_k ∂f_i/∂q_k) / RMS(f_i) over the sample states.
pub fn contributions(prob: &Problem, base: &[f64], active: &[usize], q: &[f64]) -> Vec<f64> {
    let n = prob.nstates();
    let na = active.len();
    let pts = sample_states(prob, base, active, q);
    let mut fsq = vec![0.0; n];
    let mut tsq = vec![0.0; n * na];
    let (mut f, mut jx, mut jq) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * na]);
    let mut scratch = Vec::new();
    for (e, x) in &pts {
        let rhs = prob.rhs(*e, base, active);
        scratch.resize(rhs.scratch_len(), 0.0);
        rhs.rhs_jac(x, q, &mut scratch, &mut f, &mut jx, &mut jq);
        for i in 0..n {
            if f[i].is_finite() {
                fsq[i] += f[i] * f[i];
            }
            for k in 0..na {
                let t = q[k] * jq[i * na + k];
                if t.is_finite() {
                    tsq[i * na + k] += t * t;
                }
            }
        }
    }
    (0..na)
        .map(|k| {
            (0..n)
                .filter(|&i| fsq[i] > 0.0)
                .map(|i| (tsq[i * na + k] / fsq[i]).sqrt())
                .fold(0.0, f64::max)
        })
        .collect()
}

/// Active sparse parameters to prune at threshold γ by `rule`.
pub fn prune_set(
    prob: &Problem,
    base: &[f64],
    active: &[usize],
    q: &[f64],
    gamma: f64,
    rule: PruneRule,
) -> Vec<bool> {
    let c = match rule {
        PruneRule::Relative => contributions(prob, base, active, q),
        PruneRule::Absolute => active
            .iter()
            .zip(q)
            .map(|(&k, &v)| (v * prob.scales.pscale[k]).abs())
            .collect(),
    };
    active
        .iter()
        .zip(&c)
        .map(|(&k, &ck)| prob.model.params[k].sparse && (ck < gamma || !ck.is_finite()))
        .collect()
}
