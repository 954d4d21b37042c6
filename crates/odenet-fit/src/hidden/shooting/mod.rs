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
//!
//! This module holds the layout (nodes and intervals) of a [`Shooting`] problem; the rest, one
//! file each: `nodes` (the node unknowns: a start for them, conversions to and from full
//! states), `residuals` (the residuals and their Jacobian), `geodesic` (Levenberg–Marquardt with
//! geodesic acceleration).

mod geodesic;
mod nodes;
mod residuals;

use std::ops::RangeInclusive;

use crate::problem::{Experiment, Problem, follow_ties};

pub(crate) use geodesic::{minimize, minimize_from, normal};
pub(crate) use residuals::Residuals;

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
    /// Fixed components that an initial-value expression ties to unknown ones (h, a, c): h is
    /// `fixed[h] + c·(s_a − fixed[a])` (`Problem::start_coupling`).
    coupling: Vec<(usize, usize, f64)>,
}

/// One interval: from node `node` (its row) to row `end`, tied to node `next` when there is one;
/// its `rows` residual rows start at `row0` (labels, then the n continuity gaps).
#[derive(Clone, Copy, Debug)]
struct Interval {
    node: usize,
    end: usize,
    next: Option<usize>,
    row0: usize,
    rows: usize,
}

impl Interval {
    /// The last row whose observations are the interval's labels (from the row after its node):
    /// its end row only for the last interval of an experiment (otherwise that row is the next
    /// node's label).
    fn last_label_row(&self) -> usize {
        if self.next.is_none() {
            self.end
        } else {
            self.end - 1
        }
    }

    /// The interval's residual rows, its node at row `start` of `ex`: its labels, then the n
    /// continuity gaps when it is tied to a next node.
    fn residual_rows(&self, start: usize, ex: &Experiment, n: usize) -> usize {
        observed_values(ex, start + 1..=self.last_label_row(), n)
            + if self.next.is_some() { n } else { 0 }
    }
}

/// The number of observed values in rows `rows` of experiment `ex` (n states).
fn observed_values(ex: &Experiment, rows: RangeInclusive<usize>, n: usize) -> usize {
    rows.map(|r| (0..n).filter(|&i| ex.y[r * n + i].is_finite()).count())
        .sum()
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
    /// Per node unknown: its state must stay at or above zero (`Problem::nonnegative`).
    nonneg: Vec<bool>,
    /// Label values (node labels and interval labels): the loss is a mean over them.
    nlabels: usize,
    /// Residual rows: node labels first, then each interval's.
    nrows: usize,
    maxlen: usize,
    /// Intervals are integrated in parallel (each interval's residual rows are its own).
    parallel: bool,
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
        let node_rows = prob
            .exps
            .iter()
            .map(|ex| {
                let observed_rows: Vec<usize> = (1..ex.rows)
                    .filter(|&r| (0..n).any(|i| ex.y[r * n + i].is_finite()))
                    .collect();
                if observed_rows.is_empty() {
                    return Vec::new();
                }
                let k = (observed_rows.len() / ROWS_PER_INTERVAL)
                    .clamp(1, max_intervals.clamp(1, MAX_INTERVALS));
                // Node rows: equal numbers of observed rows per interval.
                let mut starts = vec![0];
                for j in 1..k {
                    starts.push(observed_rows[j * observed_rows.len() / k - 1]);
                }
                starts.dedup();
                starts
            })
            .collect::<Vec<_>>();
        Shooting::at_rows(prob, active, base, &node_rows)
    }

    /// The problem with nodes at the given rows of every experiment (per experiment, strictly
    /// increasing and starting at row 0; an empty list leaves the experiment out), each
    /// interval running from its node to the next node's row or the experiment's last row.
    /// The first node of an experiment takes the rules of the problem's piece that starts at
    /// row 0 (an experiment without one is left out).
    pub fn at_rows(
        prob: &'p Problem<'m>,
        active: Vec<usize>,
        base: Vec<f64>,
        node_rows: &[Vec<usize>],
    ) -> Shooting<'p, 'm> {
        let n = prob.nstates();
        let mut nodes = Vec::new();
        let mut intervals = Vec::new();
        let mut nz = 0;
        let mut nonneg = Vec::new();
        let mut nlabels = 0;
        let mut maxlen = 0;
        for (e, ex) in prob.exps.iter().enumerate() {
            let Some(pi) = prob.first_piece(e) else {
                continue;
            };
            let starts = match node_rows.get(e) {
                Some(r) if r.first() == Some(&0) && r.last() < Some(&ex.rows.saturating_sub(1)) => {
                    r
                }
                _ => continue,
            };
            let end = ex.rows - 1;
            let first = nodes.len();
            for (j, &row) in starts.iter().enumerate() {
                let mut var = vec![None; n];
                let mut fixed = vec![0.0; n];
                let mut label = vec![false; n];
                let mut coupling = Vec::new();
                if j == 0 {
                    coupling.clone_from(&prob.start_coupling[pi]);
                    for i in 0..n {
                        fixed[i] = prob.x0[pi * n + i];
                        if prob.free_start[pi * n + i] {
                            var[i] = Some(nz);
                            nonneg.push(prob.nonnegative[i]);
                            nz += 1;
                        }
                        label[i] = prob.start_label[pi * n + i];
                    }
                } else {
                    for i in 0..n {
                        var[i] = Some(nz);
                        nonneg.push(prob.nonnegative[i]);
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
                    coupling,
                });
            }
            for j in 0..starts.len() {
                let last = j + 1 == starts.len();
                let stop = if last { end } else { starts[j + 1] };
                let iv = Interval {
                    node: first + j,
                    end: stop,
                    next: (!last).then_some(first + j + 1),
                    row0: 0,
                    rows: 0,
                };
                nlabels += observed_values(ex, starts[j] + 1..=iv.last_label_row(), n);
                maxlen = maxlen.max(stop - starts[j] + 1);
                intervals.push(iv);
            }
        }
        let mut nrows = nodes
            .iter()
            .map(|nd| nd.label.iter().filter(|&&l| l).count())
            .sum::<usize>();
        for iv in &mut intervals {
            let nd = &nodes[iv.node];
            iv.row0 = nrows;
            iv.rows = iv.residual_rows(nd.row, &prob.exps[nd.exp], n);
            nrows += iv.rows;
        }
        Shooting {
            prob,
            active,
            base,
            nodes,
            intervals,
            nz,
            nonneg,
            nlabels,
            nrows,
            maxlen,
            parallel: false,
        }
    }

    /// The same problem with its intervals integrated in parallel (the result does not depend
    /// on the thread count: each interval's sums are added in order).
    pub fn in_parallel(mut self) -> Self {
        self.parallel = true;
        self
    }

    /// Number of node unknowns.
    pub fn node_unknowns(&self) -> usize {
        self.nz
    }

    /// Number of label values.
    pub fn labels(&self) -> usize {
        self.nlabels
    }

    /// Number of intervals.
    pub fn intervals(&self) -> usize {
        self.intervals.len()
    }

    /// Keeps the node unknowns of states the model needs non-negative at or above zero (a
    /// noisy reading below zero, or a step past it, would leave an interval undefined).
    pub fn project_nodes(&self, s: &mut [f64]) {
        for (v, &nn) in s.iter_mut().zip(&self.nonneg) {
            if nn && *v < 0.0 {
                *v = 0.0;
            }
        }
    }

    /// The state of node `j` from the node unknowns `s`.
    fn node_state(&self, j: usize, s: &[f64], out: &mut [f64]) {
        let nd = &self.nodes[j];
        for (i, o) in out.iter_mut().enumerate() {
            *o = nd.var[i].map_or(nd.fixed[i], |k| s[k]);
        }
        follow_ties(&nd.coupling, &self.prob.nonnegative, &nd.fixed, out);
    }
}

#[cfg(test)]
mod tests;
