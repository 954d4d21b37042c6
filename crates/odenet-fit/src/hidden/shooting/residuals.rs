//! The residuals of a [`Shooting`] problem at parameters and node unknowns: every label's
//! mismatch and every continuity gap, with their Jacobian (each interval integrated with
//! sensitivities to the parameters and its start).

use odenet_solve::{PieceSolver, Sens};
use rayon::prelude::*;

use super::{Interval, Node, Shooting};
use crate::evaluate::FAILED_PIECE_PENALTY;

/// Residuals at one point: every label's mismatch and every continuity gap (weighted), all
/// divided by √N over the N labels, so that Σ r² is the objective; with the Jacobian when asked
/// for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Residuals {
    /// The residual vector (a fixed length for a given problem, failed intervals included).
    pub r: Vec<f64>,
    /// ∂r/∂(q, s), row-major rows × (na + nz); empty unless asked for.
    pub j: Vec<f64>,
    /// Per residual row with the Jacobian: the state a label row observes, or n for a
    /// continuity gap (and the rows of an interval that failed); empty unless asked for.
    pub state: Vec<usize>,
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

impl Shooting<'_, '_> {
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

    /// The residuals at parameters `q` and node unknowns `s` for continuity weight `w`, with
    /// the Jacobian when `jac`.
    pub fn residuals(&self, q: &[f64], s: &[f64], w: f64, jac: bool) -> Residuals {
        let prob = self.prob;
        let n = prob.nstates();
        let na = self.active.len();
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
            state: if jac { vec![n; self.nrows] } else { Vec::new() },
            ..Residuals::default()
        };
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
                    out.state[row] = i;
                }
                row += 1;
            }
        }
        // Each interval's rows are its own (they follow the node labels, in order).
        let mut parts = Vec::with_capacity(self.intervals.len());
        let (mut r_rest, mut j_rest, mut st_rest) = (
            &mut out.r[row..],
            &mut out.j[if jac { row * nt } else { 0 }..],
            &mut out.state[if jac { row } else { 0 }..],
        );
        for iv in &self.intervals {
            let (r, rr) = std::mem::take(&mut r_rest).split_at_mut(iv.rows);
            r_rest = rr;
            let (j, st) = if jac {
                let (j, jr) = std::mem::take(&mut j_rest).split_at_mut(iv.rows * nt);
                let (st, sr) = std::mem::take(&mut st_rest).split_at_mut(iv.rows);
                j_rest = jr;
                st_rest = sr;
                (j, st)
            } else {
                (&mut [][..], &mut [][..])
            };
            parts.push((iv, r, j, st));
        }
        if self.parallel {
            // Computed in parallel, each interval's sums added in order.
            let sums: Vec<(f64, f64, usize)> = parts
                .into_par_iter()
                .map_init(
                    || (self.scratch(), vec![0.0; n]),
                    |(sc, xnext), (iv, r, j, st)| {
                        let mut sums = (0.0, 0.0, 0);
                        self.interval(iv, (q, s), (scale, sw), (r, j, st), sc, xnext, &mut sums);
                        sums
                    },
                )
                .collect();
            for (d, g, f) in sums {
                data += d;
                out.gap += g;
                out.failures += f;
            }
        } else {
            // One running sum over every row, in order.
            let mut sc = self.scratch();
            let mut xnext = vec![0.0; n];
            let mut sums = (data, 0.0, 0);
            for (iv, r, j, st) in parts {
                self.interval(
                    iv,
                    (q, s),
                    (scale, sw),
                    (r, j, st),
                    &mut sc,
                    &mut xnext,
                    &mut sums,
                );
            }
            (data, out.gap, out.failures) = sums;
        }
        out.data = data / self.nlabels.max(1) as f64;
        out
    }
}

impl Shooting<'_, '_> {
    /// One interval's residual rows (`r`, with their Jacobian rows `j` and state tags `st` when
    /// `j` is not empty), adding its squared data mismatch, squared gaps and failure to `sums`.
    #[allow(clippy::too_many_arguments)]
    fn interval(
        &self,
        iv: &Interval,
        (q, s): (&[f64], &[f64]),
        (scale, sw): (f64, f64),
        (r_out, j_out, st_out): (&mut [f64], &mut [f64], &mut [usize]),
        sc: &mut Scratch,
        xnext: &mut [f64],
        sums: &mut (f64, f64, usize),
    ) {
        let prob = self.prob;
        let n = prob.nstates();
        let na = self.active.len();
        let nc = na + n;
        let nt = na + self.nz;
        let jac = !j_out.is_empty();
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
        let upto = iv.last_label_row();
        let solved = sc.solver.solve(&rhs, q, &sc.x0, times, sens, out_x, out_s);
        if solved.is_err() {
            // Every row of the interval charged the penalty (no Jacobian: a step that fails is
            // rejected, never followed).
            for v in r_out.iter_mut() {
                *v = scale * FAILED_PIECE_PENALTY.sqrt();
            }
            sums.0 += FAILED_PIECE_PENALTY * r_out.len() as f64;
            sums.2 += 1;
            return;
        }
        let mut row = 0;
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
                sums.0 += r * r;
                r_out[row] = scale * r;
                if jac {
                    let sk = &out_s[k * n * nc..(k + 1) * n * nc];
                    let jr = &mut j_out[row * nt..(row + 1) * nt];
                    sensitivity_row(jr, sk, nd, (na, n), i, scale);
                    st_out[row] = i;
                }
                row += 1;
            }
        }
        if let Some(m) = iv.next {
            let k = len - 1;
            self.node_state(m, s, xnext);
            for i in 0..n {
                let g = out_x[k * n + i] - xnext[i];
                sums.1 += g * g;
                r_out[row] = sw * g;
                if jac {
                    let sk = &out_s[k * n * nc..(k + 1) * n * nc];
                    let jr = &mut j_out[row * nt..(row + 1) * nt];
                    sensitivity_row(jr, sk, nd, (na, n), i, sw);
                    if let Some(v) = self.nodes[m].var[i] {
                        jr[na + v] -= sw;
                    }
                }
                row += 1;
            }
        }
    }
}

/// Writes `f` times state `i`'s sensitivities at one row of an interval (`sk`, the row's
/// na + n columns of ∂x/∂(q, x_start)) into the Jacobian row `jr` (na + nz columns): the
/// parameters' columns, and the columns of the unknowns of the interval's start node `nd`.
fn sensitivity_row(
    jr: &mut [f64],
    sk: &[f64],
    nd: &Node,
    (na, n): (usize, usize),
    i: usize,
    f: f64,
) {
    for c in 0..na {
        jr[c] = f * sk[c * n + i];
    }
    for a in 0..n {
        if let Some(v) = nd.var[a] {
            jr[na + v] = f * sk[(na + a) * n + i];
        }
    }
    for &(h, a, c) in &nd.coupling {
        if let Some(v) = nd.var[a] {
            jr[na + v] += f * c * sk[(na + h) * n + i];
        }
    }
}
