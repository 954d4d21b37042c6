//! Multiple shooting for models whose hidden states are known only at experiment starts.
//!
//! Each experiment is cut into a few intervals at data rows (the nodes). The state at every
//! interior node is an unknown of the fit — the hidden components included, which is what widens
//! the basin: a wrong early trajectory of a hidden state no longer drags every later prediction
//! with it — and each interval's end is tied to the next interval's start by a continuity penalty
//! w·Σ(x_end − s_next)². Levenberg–Marquardt minimises the data mismatch plus the penalty over
//! the parameters and the node states together (a dense normal matrix: the unknowns are the
//! parameters plus a few node states per experiment); the weight w rises over rounds until the
//! trajectory is whole again, and the caller finishes with the single-shooting fit.
//!
//! The experiment's start node keeps the layout's rules: fixed initial values stay fixed,
//! observed ones are unknowns with their observation as a label, `"fit"` ones are unknowns with
//! no label.

use odenet_solve::{PieceSolver, Sens};

use crate::evaluate::FAILED_PIECE_PENALTY;
use crate::linalg::solve_small;
use crate::problem::Problem;

/// Intervals per experiment aim at this many observed rows each (at least).
const ROWS_PER_INTERVAL: usize = 4;
/// At most this many intervals per experiment.
const MAX_INTERVALS: usize = 8;

/// One node: where an interval starts.
#[derive(Clone, Debug)]
struct Node {
    exp: usize,
    row: usize,
    /// Per state: the index of its unknown among the node unknowns, or None when fixed.
    var: Vec<Option<usize>>,
    /// Per state: the value of a fixed component (scaled units).
    fixed: Vec<f64>,
    /// Per state: the node's value is compared with its observation.
    label: Vec<bool>,
}

/// One interval: from node `node` (its row) to row `end`, tied to node `next` when there is one;
/// its residual rows start at `row0` (labels, then the n continuity gaps).
#[derive(Clone, Copy, Debug)]
struct Interval {
    node: usize,
    end: usize,
    next: Option<usize>,
    row0: usize,
}

/// The multiple-shooting least-squares problem of one support.
pub(crate) struct Shooting<'p, 'm> {
    pub prob: &'p Problem<'m>,
    pub active: Vec<usize>,
    /// Full parameter vector in user units (values of inactive parameters).
    pub base: Vec<f64>,
    nodes: Vec<Node>,
    intervals: Vec<Interval>,
    /// Node unknowns.
    nz: usize,
    /// Label values (node labels and interval labels): the loss is a mean over them.
    nlabels: usize,
    /// Residual rows: node labels first, then each interval's.
    nrows: usize,
    maxlen: usize,
}

/// Residuals at one point: every label's mismatch and every continuity gap (weighted), all
/// divided by √N over the N labels, so that Σ r² is the objective; with the Jacobian when asked
/// for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Residuals {
    /// The residual vector (a fixed length for a given problem, failed intervals included).
    pub r: Vec<f64>,
    /// ∂r/∂(q, s), row-major rows × (na + nz); empty unless asked for.
    pub j: Vec<f64>,
    /// Mean squared data mismatch over the labels (failed intervals charged the penalty).
    pub data: f64,
    /// Sum of squared continuity gaps (scaled units), unweighted.
    pub gap: f64,
    /// Intervals that could not be integrated.
    pub failures: usize,
}

impl Residuals {
    /// The objective: Σ r² (the data mismatch plus the weighted continuity penalty, per label).
    pub fn objective(&self) -> f64 {
        self.r.iter().map(|v| v * v).sum()
    }
}

/// Scratch of one interval solve.
struct Scratch {
    solver: PieceSolver,
    out_x: Vec<f64>,
    out_s: Vec<f64>,
    x0: Vec<f64>,
}

impl<'p, 'm> Shooting<'p, 'm> {
    /// Cuts every experiment of `prob` (a whole-experiment layout) into intervals of about
    /// ROWS_PER_INTERVAL observed rows, at most `max_intervals` (and MAX_INTERVALS).
    pub fn new(
        prob: &'p Problem<'m>,
        active: Vec<usize>,
        base: Vec<f64>,
        max_intervals: usize,
    ) -> Shooting<'p, 'm> {
        let n = prob.nstates();
        let mut nodes = Vec::new();
        let mut intervals = Vec::new();
        let mut nz = 0;
        let mut nlabels = 0;
        let mut maxlen = 0;
        for (e, ex) in prob.exps.iter().enumerate() {
            let Some(pi) = prob.first_piece(e) else {
                continue;
            };
            let observed_rows: Vec<usize> = (1..ex.rows)
                .filter(|&r| (0..n).any(|i| ex.y[r * n + i].is_finite()))
                .collect();
            if observed_rows.is_empty() {
                continue;
            }
            let k = (observed_rows.len() / ROWS_PER_INTERVAL)
                .clamp(1, max_intervals.clamp(1, MAX_INTERVALS));
            // Node rows: equal numbers of observed rows per interval.
            let mut starts = vec![0];
            for j in 1..k {
                starts.push(observed_rows[j * observed_rows.len() / k - 1]);
            }
            starts.dedup();
            let end = ex.rows - 1;
            let first = nodes.len();
            for (j, &row) in starts.iter().enumerate() {
                let mut var = vec![None; n];
                let mut fixed = vec![0.0; n];
                let mut label = vec![false; n];
                if j == 0 {
                    for i in 0..n {
                        fixed[i] = prob.x0[pi * n + i];
                        if prob.free_start[pi * n + i] {
                            var[i] = Some(nz);
                            nz += 1;
                        }
                        label[i] = prob.start_label[pi * n + i];
                    }
                } else {
                    for i in 0..n {
                        var[i] = Some(nz);
                        nz += 1;
                        label[i] = !prob.model.hidden[i] && ex.y[row * n + i].is_finite();
                    }
                }
                nlabels += label.iter().filter(|&&l| l).count();
                nodes.push(Node {
                    exp: e,
                    row,
                    var,
                    fixed,
                    label,
                });
            }
            for j in 0..starts.len() {
                let last = j + 1 == starts.len();
                let stop = if last { end } else { starts[j + 1] };
                // Interval labels: the rows after the node, its end row only for the last
                // interval (otherwise that row is the next node's label).
                let upto = if last { stop } else { stop - 1 };
                nlabels += (starts[j] + 1..=upto)
                    .map(|r| (0..n).filter(|&i| ex.y[r * n + i].is_finite()).count())
                    .sum::<usize>();
                maxlen = maxlen.max(stop - starts[j] + 1);
                intervals.push(Interval {
                    node: first + j,
                    end: stop,
                    next: (!last).then_some(first + j + 1),
                    row0: 0,
                });
            }
        }
        let mut nrows = nodes
            .iter()
            .map(|nd| nd.label.iter().filter(|&&l| l).count())
            .sum::<usize>();
        for iv in &mut intervals {
            iv.row0 = nrows;
            let nd = &nodes[iv.node];
            let ex = &prob.exps[nd.exp];
            let upto = if iv.next.is_none() {
                iv.end
            } else {
                iv.end - 1
            };
            nrows += (nd.row + 1..=upto)
                .map(|r| (0..n).filter(|&i| ex.y[r * n + i].is_finite()).count())
                .sum::<usize>();
            if iv.next.is_some() {
                nrows += n;
            }
        }
        Shooting {
            prob,
            active,
            base,
            nodes,
            intervals,
            nz,
            nlabels,
            nrows,
            maxlen,
        }
    }

    /// Number of node unknowns.
    #[cfg(test)]
    pub fn node_unknowns(&self) -> usize {
        self.nz
    }

    /// Number of label values.
    #[cfg(test)]
    pub fn labels(&self) -> usize {
        self.nlabels
    }

    /// Number of intervals.
    pub fn intervals(&self) -> usize {
        self.intervals.len()
    }

    fn scratch(&self) -> Scratch {
        let n = self.prob.nstates();
        let nc = self.active.len() + n;
        Scratch {
            solver: PieceSolver::new(n, self.active.len(), self.prob.solve_opts),
            out_x: vec![0.0; self.maxlen * n],
            out_s: vec![0.0; self.maxlen * n * nc],
            x0: vec![0.0; n],
        }
    }

    /// The state of node `j` from the node unknowns `s`.
    fn node_state(&self, j: usize, s: &[f64], out: &mut [f64]) {
        let nd = &self.nodes[j];
        for (i, o) in out.iter_mut().enumerate() {
            *o = nd.var[i].map_or(nd.fixed[i], |k| s[k]);
        }
    }

    /// Node unknowns that start the multiple-shooting fit at parameters `q`: the experiment's
    /// start as the layout has it, every interior node on the trajectory integrated from it
    /// (where that integration fails, the last state it reached), its observed components at
    /// their observations.
    pub fn initial_nodes(&self, q: &[f64]) -> Vec<f64> {
        let prob = self.prob;
        let n = prob.nstates();
        let mut s = vec![0.0; self.nz];
        let mut solver = PieceSolver::new(n, self.active.len(), prob.solve_opts);
        let mut j = 0;
        while j < self.nodes.len() {
            let e = self.nodes[j].exp;
            let ex = &prob.exps[e];
            // This experiment's nodes.
            let last = (j..self.nodes.len())
                .take_while(|&k| self.nodes[k].exp == e)
                .last()
                .unwrap_or(j);
            let nd0 = &self.nodes[j];
            for i in 0..n {
                if let Some(k) = nd0.var[i] {
                    let y = ex.y[nd0.row * n + i];
                    s[k] = if nd0.label[i] && y.is_finite() {
                        y
                    } else {
                        nd0.fixed[i]
                    };
                }
            }
            let mut x = vec![0.0; n];
            self.node_state(j, &s, &mut x);
            let rows: Vec<usize> = (j..=last).map(|k| self.nodes[k].row).collect();
            let times: Vec<f64> = rows.iter().map(|&r| ex.t[r]).collect();
            let mut xs = vec![f64::NAN; times.len() * n];
            if times.len() > 1 {
                let rhs = prob.rhs(e, &self.base, &self.active);
                // On failure the states before it are filled; later ones stay at the last good.
                let _ = solver.solve(&rhs, q, &x, &times, Sens::None, &mut xs, &mut []);
            }
            let mut prev = x.clone();
            for (m, k) in (j + 1..=last).enumerate() {
                let nd = &self.nodes[k];
                let xm = &xs[(m + 1) * n..(m + 2) * n];
                for i in 0..n {
                    let v = if xm[i].is_finite() { xm[i] } else { prev[i] };
                    prev[i] = v;
                    if let Some(v_k) = nd.var[i] {
                        let y = ex.y[nd.row * n + i];
                        s[v_k] = if nd.label[i] && y.is_finite() { y } else { v };
                    }
                }
            }
            j = last + 1;
        }
        s
    }

    /// Node unknowns from full states at the data rows (per experiment, rows × n, scaled; NaN
    /// where unknown): observed components at their observations, the others from `states`
    /// (the layout's start value where `states` has none).
    pub fn nodes_from_states(&self, states: &[Vec<f64>]) -> Vec<f64> {
        let n = self.prob.nstates();
        let mut s = vec![0.0; self.nz];
        for nd in &self.nodes {
            let ex = &self.prob.exps[nd.exp];
            for i in 0..n {
                let Some(k) = nd.var[i] else {
                    continue;
                };
                let y = ex.y[nd.row * n + i];
                let v = states
                    .get(nd.exp)
                    .and_then(|st| st.get(nd.row * n + i))
                    .copied()
                    .unwrap_or(f64::NAN);
                s[k] = if nd.label[i] && y.is_finite() {
                    y
                } else if v.is_finite() {
                    v
                } else {
                    nd.fixed[i]
                };
            }
        }
        s
    }

    /// The full state at every node from the node unknowns `s`: per experiment, rows × n
    /// (scaled), NaN at rows that are not nodes (the input of [`Shooting::nodes_from_states`]).
    pub fn node_states(&self, s: &[f64]) -> Vec<Vec<f64>> {
        let n = self.prob.nstates();
        let mut out: Vec<Vec<f64>> = self
            .prob
            .exps
            .iter()
            .map(|ex| vec![f64::NAN; ex.rows * n])
            .collect();
        let mut x = vec![0.0; n];
        for (j, nd) in self.nodes.iter().enumerate() {
            self.node_state(j, s, &mut x);
            out[nd.exp][nd.row * n..(nd.row + 1) * n].copy_from_slice(&x);
        }
        out
    }

    /// The residuals at parameters `q` and node unknowns `s` for continuity weight `w`, with
    /// the Jacobian when `jac`.
    pub fn residuals(&self, q: &[f64], s: &[f64], w: f64, jac: bool) -> Residuals {
        let prob = self.prob;
        let n = prob.nstates();
        let na = self.active.len();
        let nc = na + n;
        let nt = na + self.nz;
        let scale = 1.0 / (self.nlabels.max(1) as f64).sqrt();
        let sw = w.sqrt() * scale;
        let mut out = Residuals {
            r: vec![0.0; self.nrows],
            j: if jac {
                vec![0.0; self.nrows * nt]
            } else {
                Vec::new()
            },
            ..Residuals::default()
        };
        let mut sc = self.scratch();
        let mut data = 0.0;
        // Node labels.
        let mut row = 0;
        for nd in &self.nodes {
            let ex = &prob.exps[nd.exp];
            for i in 0..n {
                if !nd.label[i] {
                    continue;
                }
                let k = nd.var[i].expect("a labelled start is an unknown");
                let r = s[k] - ex.y[nd.row * n + i];
                data += r * r;
                out.r[row] = scale * r;
                if jac {
                    out.j[row * nt + na + k] = scale;
                }
                row += 1;
            }
        }
        let mut xnext = vec![0.0; n];
        for iv in &self.intervals {
            let nd = &self.nodes[iv.node];
            let ex = &prob.exps[nd.exp];
            self.node_state(iv.node, s, &mut sc.x0);
            let len = iv.end - nd.row + 1;
            let times = &ex.t[nd.row..=iv.end];
            let rhs = prob.rhs(nd.exp, &self.base, &self.active);
            let sens = if jac {
                Sens::ParamsAndInitial
            } else {
                Sens::None
            };
            let out_x = &mut sc.out_x[..len * n];
            let out_s = &mut sc.out_s[..if jac { len * n * nc } else { 0 }];
            let upto = if iv.next.is_none() {
                iv.end
            } else {
                iv.end - 1
            };
            let solved = sc.solver.solve(&rhs, q, &sc.x0, times, sens, out_x, out_s);
            let mut row = iv.row0;
            if solved.is_err() {
                // Every row of the interval charged the penalty (no Jacobian: a step that
                // fails is rejected, never followed).
                let rows = (nd.row + 1..=upto)
                    .map(|r| (0..n).filter(|&i| ex.y[r * n + i].is_finite()).count())
                    .sum::<usize>()
                    + if iv.next.is_some() { n } else { 0 };
                for v in &mut out.r[row..row + rows] {
                    *v = scale * FAILED_PIECE_PENALTY.sqrt();
                }
                data += FAILED_PIECE_PENALTY * rows as f64;
                out.failures += 1;
                continue;
            }
            for k in 1..len {
                let r_abs = nd.row + k;
                if r_abs > upto {
                    break;
                }
                for i in 0..n {
                    let y = ex.y[r_abs * n + i];
                    if !y.is_finite() {
                        continue;
                    }
                    let r = out_x[k * n + i] - y;
                    data += r * r;
                    out.r[row] = scale * r;
                    if jac {
                        let sk = &out_s[k * n * nc..(k + 1) * n * nc];
                        let jr = &mut out.j[row * nt..(row + 1) * nt];
                        for c in 0..na {
                            jr[c] = scale * sk[c * n + i];
                        }
                        for a in 0..n {
                            if let Some(v) = nd.var[a] {
                                jr[na + v] = scale * sk[(na + a) * n + i];
                            }
                        }
                    }
                    row += 1;
                }
            }
            if let Some(m) = iv.next {
                let k = len - 1;
                self.node_state(m, s, &mut xnext);
                for i in 0..n {
                    let g = out_x[k * n + i] - xnext[i];
                    out.gap += g * g;
                    out.r[row] = sw * g;
                    if jac {
                        let sk = &out_s[k * n * nc..(k + 1) * n * nc];
                        let jr = &mut out.j[row * nt..(row + 1) * nt];
                        for c in 0..na {
                            jr[c] = sw * sk[c * n + i];
                        }
                        for a in 0..n {
                            if let Some(v) = nd.var[a] {
                                jr[na + v] = sw * sk[(na + a) * n + i];
                            }
                        }
                        if let Some(v) = self.nodes[m].var[i] {
                            jr[na + v] -= sw;
                        }
                    }
                    row += 1;
                }
            }
        }
        out.data = data / self.nlabels.max(1) as f64;
        out
    }
}

/// What a multiple-shooting fit reached.
#[derive(Clone, Debug)]
pub(crate) struct ShootResult {
    pub q: Vec<f64>,
    pub s: Vec<f64>,
    pub data: f64,
    pub gap: f64,
    pub iters: usize,
    pub failures: usize,
    /// The data loss stayed above the level at which the start was judged hopeless.
    pub abandoned: bool,
}

/// The normal matrix JᵀJ (row-major nt × nt) and Jᵀv of a row-major Jacobian.
fn normal(j: &[f64], v: &[f64], nt: usize, jtj: &mut [f64], jtv: &mut [f64]) {
    jtj.iter_mut().for_each(|x| *x = 0.0);
    jtv.iter_mut().for_each(|x| *x = 0.0);
    for (row, &vr) in j.chunks(nt).zip(v) {
        for a in 0..nt {
            let ja = row[a];
            if ja == 0.0 {
                continue;
            }
            jtv[a] += ja * vr;
            for b in a..nt {
                jtj[a * nt + b] += ja * row[b];
            }
        }
    }
    for a in 0..nt {
        for b in 0..a {
            jtj[a * nt + b] = jtj[b * nt + a];
        }
    }
}

/// Jᵀv alone.
fn jt_times(j: &[f64], v: &[f64], nt: usize, out: &mut [f64]) {
    out.iter_mut().for_each(|x| *x = 0.0);
    for (row, &vr) in j.chunks(nt).zip(v) {
        if vr != 0.0 {
            for (o, &ja) in out.iter_mut().zip(row) {
                *o += ja * vr;
            }
        }
    }
}

/// Finite-difference step (along the velocity) of the geodesic acceleration.
const GEODESIC_H: f64 = 0.1;
/// A step is refused when its acceleration is this large against its velocity (2‖a‖/‖v‖).
const GEODESIC_ALPHA: f64 = 0.75;
/// Damped steps tried per iteration (λ grows fourfold each time: twelve decades).
const MAX_TRIES: usize = 20;

/// Levenberg–Marquardt with geodesic acceleration (Transtrum and Sethna) on the objective at
/// continuity weight `w` from (`q`, `s`), the parameters kept inside [`lo`, `hi`] by projection.
/// The acceleration — a second-order correction along the step from one extra residual
/// evaluation — lets steps follow the curved valleys of sloppy models (a near-symmetry such as
/// the scale of an unobserved state) instead of crawling across them. Stops after `max_iters`
/// iterations, when a step lowers the objective by less than `rel_tol` of it, when no step
/// lowers it, when the data loss stays above `abandon`, or on `cancelled`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn minimize(
    sh: &Shooting,
    q: Vec<f64>,
    s: Vec<f64>,
    w: f64,
    (lo, hi): (&[f64], &[f64]),
    max_iters: usize,
    rel_tol: f64,
    abandon: f64,
    cancelled: &dyn Fn() -> bool,
) -> ShootResult {
    let na = q.len();
    let nt = na + s.len();
    let mut z: Vec<f64> = q.into_iter().chain(s).collect();
    let project = |z: &mut [f64]| {
        for (k, v) in z[..na].iter_mut().enumerate() {
            *v = v.clamp(lo[k], hi[k]);
        }
    };
    project(&mut z);
    let res_at = |z: &[f64], jac: bool| sh.residuals(&z[..na], &z[na..], w, jac);
    let mut cur = res_at(&z, true);
    let mut obj = cur.objective();
    let mut lambda = 1e-3;
    let mut iters = 0;
    let mut abandoned = false;
    let (mut jtj, mut jtr) = (vec![0.0; nt * nt], vec![0.0; nt]);
    let (mut a, mut v, mut acc) = (vec![0.0; nt * nt], vec![0.0; nt], vec![0.0; nt]);
    let mut jv = vec![0.0; cur.r.len()];
    let mut rvv = vec![0.0; cur.r.len()];
    let mut zt = vec![0.0; nt];
    while iters < max_iters && !cancelled() {
        iters += 1;
        normal(&cur.j, &cur.r, nt, &mut jtj, &mut jtr);
        let dmax = (0..nt)
            .map(|i| jtj[i * nt + i])
            .fold(0.0, f64::max)
            .max(1e-300);
        let damp = |jtj: &[f64], a: &mut [f64], lambda: f64| {
            a.copy_from_slice(jtj);
            for i in 0..nt {
                a[i * nt + i] += lambda * jtj[i * nt + i].max(1e-9 * dmax);
            }
        };
        let mut improved = false;
        let mut small = false;
        for _ in 0..MAX_TRIES {
            damp(&jtj, &mut a, lambda);
            v.iter_mut().zip(&jtr).for_each(|(x, g)| *x = -g);
            if !solve_small(&mut a, &mut v, nt) {
                lambda *= 10.0;
                continue;
            }
            // The second directional derivative of the residuals along v, by finite
            // differences: r_vv ≈ (2/h)·((r(z + h·v) − r(z))/h − J·v).
            for (zz, (x, d)) in zt.iter_mut().zip(z.iter().zip(&v)) {
                *zz = x + GEODESIC_H * d;
            }
            let rh = res_at(&zt, false);
            let mut use_acc = rh.failures <= cur.failures;
            if use_acc {
                for (row, o) in cur.j.chunks(nt).zip(jv.iter_mut()) {
                    *o = row.iter().zip(&v).map(|(a, b)| a * b).sum();
                }
                for k in 0..rvv.len() {
                    rvv[k] = 2.0 / GEODESIC_H * ((rh.r[k] - cur.r[k]) / GEODESIC_H - jv[k]);
                }
                jt_times(&cur.j, &rvv, nt, &mut acc);
                damp(&jtj, &mut a, lambda);
                acc.iter_mut().for_each(|x| *x = -*x);
                use_acc = solve_small(&mut a, &mut acc, nt);
            }
            let dnorm = |x: &[f64]| {
                (0..nt)
                    .map(|i| x[i] * x[i] * jtj[i * nt + i].max(1e-9 * dmax))
                    .sum::<f64>()
                    .sqrt()
            };
            if use_acc && 2.0 * dnorm(&acc) > GEODESIC_ALPHA * dnorm(&v) {
                // The step bends too much for its length: shorten it.
                lambda = (lambda * 4.0).max(1e-3);
                continue;
            }
            for k in 0..nt {
                zt[k] = z[k] + v[k] + if use_acc { 0.5 * acc[k] } else { 0.0 };
            }
            project(&mut zt);
            let rt = res_at(&zt, false);
            let ot = rt.objective();
            if ot.is_finite() && ot < obj && rt.failures <= cur.failures {
                small = (obj - ot) < rel_tol * obj;
                z.copy_from_slice(&zt);
                lambda = (lambda / 3.0).max(1e-9);
                improved = true;
                break;
            }
            lambda = (lambda * 4.0).max(1e-3);
        }
        if !improved || small {
            if improved {
                cur = res_at(&z, false);
            }
            break;
        }
        cur = res_at(&z, true);
        obj = cur.objective();
        if cur.data > abandon {
            abandoned = true;
            break;
        }
    }
    let q = z[..na].to_vec();
    let s = z[na..].to_vec();
    ShootResult {
        q,
        s,
        data: cur.data,
        gap: cur.gap,
        iters,
        failures: cur.failures,
        abandoned,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use odenet_spec::{Spec, Table};

    use super::*;
    use crate::model::CompiledModel;
    use crate::solve_options;

    /// A damped oscillator x' = a·y, y' = −b·x − c·y with y hidden and its start fitted, one
    /// experiment of 16 observations of x (not a solution: the loss is far from zero).
    fn problem_inputs() -> (Spec, Vec<Table>) {
        let mut spec = Spec::from_str(
            r#"states = ["x", "y"]
hidden = ["y"]
[params]
a = 1.0
b = 1.0
c = 0.1
[equations]
x = "a*y"
y = "-b*x - c*y"
[fit]
rtol = 1e-10
atol = 1e-12
"#,
            Path::new("t.toml"),
        )
        .expect("spec");
        spec.data.push(odenet_spec::DataSpec {
            file: "d.csv".into(),
            time: "t".into(),
            columns: vec![Some("x".into()), None],
            constants: vec![],
            initial: vec![odenet_spec::Initial::Observed, odenet_spec::Initial::Fit],
        });
        let times: Vec<f64> = (0..16)
            .map(|k| k as f64 * 0.4 + 0.01 * (k * k) as f64)
            .collect();
        let x: Vec<f64> = times
            .iter()
            .map(|t| 2.0 * (t * 1.1).cos() * (-0.1 * t).exp() + 0.05 * (t * 7.0).sin())
            .collect();
        let values = vec![x, vec![f64::NAN; times.len()]];
        (
            spec,
            vec![Table {
                file: "d.csv".into(),
                times,
                values,
            }],
        )
    }

    /// The Jacobian of the residuals against central finite differences, at a point with
    /// continuity gaps, for every residual and unknown.
    #[test]
    fn jacobian_matches_finite_differences() {
        let (spec, tables) = problem_inputs();
        let model = CompiledModel::from_spec(&spec).expect("model");
        let prob = Problem::new(&model, &spec, &tables, solve_options(&spec)).expect("problem");
        assert!(prob.starts_only);
        let sh = Shooting::new(&prob, prob.free.clone(), prob.init.clone(), 4);
        assert_eq!(sh.intervals(), 3);
        // x at interior nodes (observed) and y everywhere (hidden) plus the fitted y start.
        assert_eq!(sh.node_unknowns(), 2 + 2 * 2);
        let q: Vec<f64> = vec![0.9, 1.2, 0.05];
        let mut s = sh.initial_nodes(&q);
        for (k, v) in s.iter_mut().enumerate() {
            *v += 0.1 * ((k as f64) * 1.3).sin();
        }
        let w = 3.0;
        let res = sh.residuals(&q, &s, w, true);
        assert!(res.gap > 0.0 && res.failures == 0);
        let mut z: Vec<f64> = q.iter().chain(&s).copied().collect();
        let na = q.len();
        let nt = z.len();
        let r_at = |z: &[f64]| sh.residuals(&z[..na], &z[na..], w, false).r;
        assert_eq!(res.r.len(), r_at(&z).len());
        for c in 0..nt {
            let h = 1e-6;
            let v = z[c];
            z[c] = v + h;
            let up = r_at(&z);
            z[c] = v - h;
            let dn = r_at(&z);
            z[c] = v;
            for (row, (u, d)) in up.iter().zip(&dn).enumerate() {
                let fd = (u - d) / (2.0 * h);
                let an = res.j[row * nt + c];
                assert!(
                    (fd - an).abs() < 1e-5 * (1.0 + an.abs()),
                    "row {row}, unknown {c}: finite differences {fd}, exact {an}"
                );
            }
        }
        // The objective is the data loss plus the weighted gap per label.
        let obj = res.data + w * res.gap / sh.labels() as f64;
        assert!((res.objective() - obj).abs() < 1e-12 * obj);
    }
}
