//! The node unknowns of a [`Shooting`] problem: a start for them from the parameters (the
//! trajectory integrated through the nodes) or from full states, and the full states they give.

use odenet_solve::{PieceSolver, Sens};

use super::Shooting;

impl Shooting<'_, '_> {
    /// Node unknowns that start the multiple-shooting fit at parameters `q`: the experiment's
    /// start as the layout has it, every interior node on the trajectory integrated from it
    /// (where that integration fails, the last state it reached), its observed components at
    /// their observations.
    pub fn initial_nodes(&self, q: &[f64]) -> Vec<f64> {
        self.initial_nodes_from(q, &self.prob.x0)
    }

    /// [`Shooting::initial_nodes`] with the experiments' unobserved start values taken from
    /// `starts` (pieces × n, scaled, like `Problem::x0`: where a fit profiled them) instead of
    /// the problem's.
    pub fn initial_nodes_from(&self, q: &[f64], starts: &[f64]) -> Vec<f64> {
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
            let pi = prob.first_piece(e);
            for i in 0..n {
                if let Some(k) = nd0.var[i] {
                    let y = ex.y[nd0.row * n + i];
                    let given = pi
                        .and_then(|pi| starts.get(pi * n + i))
                        .copied()
                        .filter(|v| v.is_finite())
                        .unwrap_or(nd0.fixed[i]);
                    s[k] = if nd0.label[i] && y.is_finite() {
                        y
                    } else {
                        given
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
        self.project_nodes(&mut s);
        s
    }

    /// Node unknowns from full states at the data rows (per experiment, rows × n, scaled; NaN
    /// where unknown): observed components at their observations, the others from `states`
    /// (the layout's start value where `states` has none).
    pub fn nodes_from_states(&self, states: &[Vec<f64>]) -> Vec<f64> {
        self.nodes_from(states, true)
    }

    /// Node unknowns from full states at the data rows (as [`Shooting::nodes_from_states`]),
    /// every component from `states` where it has one — where a fit profiled the starts — and
    /// the observation, then the layout's value, where not.
    pub fn nodes_at(&self, states: &[Vec<f64>]) -> Vec<f64> {
        self.nodes_from(states, false)
    }

    fn nodes_from(&self, states: &[Vec<f64>], observed_first: bool) -> Vec<f64> {
        let n = self.prob.nstates();
        let mut s = vec![0.0; self.nz];
        for nd in &self.nodes {
            let ex = &self.prob.exps[nd.exp];
            for i in 0..n {
                let Some(k) = nd.var[i] else {
                    continue;
                };
                let y = ex.y[nd.row * n + i];
                let y = if nd.label[i] { y } else { f64::NAN };
                let v = states
                    .get(nd.exp)
                    .and_then(|st| st.get(nd.row * n + i))
                    .copied()
                    .unwrap_or(f64::NAN);
                let (a, b) = if observed_first { (y, v) } else { (v, y) };
                s[k] = if a.is_finite() {
                    a
                } else if b.is_finite() {
                    b
                } else {
                    nd.fixed[i]
                };
            }
        }
        self.project_nodes(&mut s);
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
}
