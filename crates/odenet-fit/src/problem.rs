//! The data side of a fit, built complete in one call: experiments scaled to unit size, the
//! usable full states at data rows, parameter scales, and the pieces cut from the experiments.

use odenet_spec::{Initial, Segment, Spec, Table};
use odenet_tape::OdeRhs;

use crate::model::CompiledModel;
use crate::result::FitError;
use crate::scaled::{ScaledRhs, Scales};

/// The regression window (data intervals) when pieces are whole experiments.
const WHOLE_REGRESSION_WINDOW: usize = 4;
/// Solver steps allowed per point of the longest piece (when that exceeds the spec's budget).
const STEPS_PER_POINT: usize = 8;
/// Points per piece with `segment = "auto"` before the data have chosen a length.
pub const AUTO_START_LEN: usize = 10;

/// One experiment in scaled units.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub consts: Vec<f64>,
    /// Scaled times.
    pub t: Vec<f64>,
    /// Scaled values, row-major rows × n, NaN where missing (hidden states are all NaN).
    pub y: Vec<f64>,
    pub rows: usize,
}

/// A run of consecutive rows of one experiment, integrated from its first row.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    pub exp: usize,
    pub start: usize,
    pub len: usize,
}

/// How experiments are cut into pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Pieces of `len` points starting at every `stride`-th row.
    Pieces { len: usize, stride: usize },
    /// Pieces of `len` points that tile each experiment without overlap, the remainder joined
    /// to the last one (which is then up to 2·len − 1 points).
    Tiles { len: usize },
    /// One piece per experiment, from its first row.
    Whole,
}

impl Layout {
    /// The layout a spec asks for.
    pub fn of(spec: &Spec, model: &CompiledModel, unobserved: &[bool]) -> Layout {
        if Self::whole_required(spec, model, unobserved) {
            return Layout::Whole;
        }
        match spec.fit.segment {
            Segment::Points(len) => Layout::Pieces {
                len,
                stride: spec.fit.stride.max(1),
            },
            // Until the data have chosen a length: the short pieces of the paper.
            Segment::Auto => Layout::Pieces {
                len: AUTO_START_LEN,
                stride: spec.fit.stride.max(1),
            },
            Segment::Whole => Layout::Whole,
        }
    }

    /// Hidden states whose initial value is a number (or fitted) are only known at the start of
    /// an experiment, so every piece must start there.
    pub fn whole_required(spec: &Spec, model: &CompiledModel, unobserved: &[bool]) -> bool {
        spec.data.iter().any(|d| {
            d.initial.iter().enumerate().any(|(i, ini)| {
                (model.hidden[i] || unobserved[i])
                    && matches!(ini, Initial::Value(_) | Initial::Fit)
            })
        })
    }

    /// Data intervals per window of the integral-form regression.
    pub fn regression_window(&self) -> usize {
        match *self {
            Layout::Pieces { len, .. } | Layout::Tiles { len } => (len - 1).max(1),
            Layout::Whole => WHOLE_REGRESSION_WINDOW,
        }
    }
}

/// Everything fixed during a fit.
pub struct Problem<'m> {
    pub model: &'m CompiledModel,
    pub scales: Scales,
    pub exps: Vec<Experiment>,
    pub layout: Layout,
    pub pieces: Vec<Piece>,
    /// Scaled initial state of every piece, row-major pieces × n.
    pub x0: Vec<f64>,
    pub solve_opts: odenet_solve::SolveOptions,
    /// Pieces are whole experiments.
    pub whole: bool,
    /// Per piece and state: the piece's initial value is profiled (an unknown fitted with the
    /// piece, its observation a label) rather than taken as exact from noisy data.
    pub free_start: Vec<bool>,
    /// Per piece and state: the start value is observed and counts as a label of the profile
    /// (false for a `"fit"` initial value, a per-experiment unknown with no observation).
    pub start_label: Vec<bool>,
    /// Per piece: the initial values given by an expression of profiled ones (`m = "m_tot -
    /// M"` with M's start profiled), as (h, a, c): start h moves by c times start a's move from
    /// its observation (scaled units; c is ∂expr/∂a, exact for an affine expression). The
    /// expression then holds for the start the fit uses, not for the noisy observation.
    pub start_coupling: Vec<Vec<(usize, usize, f64)>>,
    /// Per experiment and row: the usable full state (scaled), when every observed state is
    /// present there and the unobserved ones follow from the initial rules.
    pub rows: Vec<Vec<Option<Vec<f64>>>>,
    /// Every parameter's starting value from the spec (user units; a fixed one's value).
    pub init: Vec<f64>,
    /// The free (not fixed) parameters.
    pub free: Vec<usize>,
    /// Per state: the model is defined only for non-negative values of it (a piece's start is
    /// kept at or above zero; `CompiledModel::nonnegative_states`).
    pub nonnegative: Vec<bool>,
    /// Some state is known only at experiment starts (an unobserved state whose initial value is
    /// a number or fitted): its values at data rows are not known, so the rows cannot be used
    /// as full states (no regression) and pieces must be whole experiments.
    pub starts_only: bool,
}

impl<'m> Problem<'m> {
    /// Scales the data, finds the usable rows, scales the parameters and cuts the pieces.
    pub fn new(
        model: &'m CompiledModel,
        spec: &Spec,
        tables: &[Table],
        solve_opts: odenet_solve::SolveOptions,
    ) -> Result<Problem<'m>, FitError> {
        Self::with_layout(model, spec, tables, solve_opts, None)
    }

    /// [`Problem::new`] with the pieces cut by `layout` instead of the spec's (a layout that
    /// needs every piece to start at an experiment's start stays whole).
    pub fn with_layout(
        model: &'m CompiledModel,
        spec: &Spec,
        tables: &[Table],
        solve_opts: odenet_solve::SolveOptions,
        layout: Option<Layout>,
    ) -> Result<Problem<'m>, FitError> {
        if tables.is_empty() {
            return Err(FitError::NoData);
        }
        let n = model.nstates();
        // States with no observation anywhere (hidden, or simply not in any file) are known only
        // through their initial rules and the model.
        let unobserved: Vec<bool> = (0..n)
            .map(|i| {
                model.hidden[i]
                    || tables
                        .iter()
                        .all(|tb| tb.values[i].iter().all(|v| !v.is_finite()))
            })
            .collect();
        let sx = state_scales(tables, n);
        let st = time_scale(tables, &sx);
        let exps = scaled_experiments(spec, tables, &sx, st, n);
        let starts_only = Layout::whole_required(spec, model, &unobserved);
        let layout = match layout {
            Some(l) if !starts_only => l,
            _ => Layout::of(spec, model, &unobserved),
        };
        let init: Vec<f64> = model.params.iter().map(|p| p.init).collect();
        let free: Vec<usize> = (0..model.nparams())
            .filter(|&k| !model.params[k].fixed)
            .collect();
        let mut prob = Problem {
            model,
            scales: Scales {
                sx,
                st,
                pscale: vec![1.0; model.nparams()],
            },
            exps,
            layout,
            pieces: Vec::new(),
            x0: Vec::new(),
            solve_opts,
            whole: layout == Layout::Whole,
            free_start: Vec::new(),
            start_label: Vec::new(),
            start_coupling: Vec::new(),
            rows: Vec::new(),
            init,
            free,
            nonnegative: model.nonnegative_states(),
            starts_only,
        };
        prob.rows = usable_rows(&prob, spec, tables, &unobserved);
        prob.scales.pscale = parameter_scales(&prob);
        prob.cut_pieces(spec, tables)?;
        // The step budget is per piece: long pieces land a step on every one of their points.
        let maxlen = prob.pieces.iter().map(|p| p.len).max().unwrap_or(0);
        prob.solve_opts.max_steps = prob.solve_opts.max_steps.max(STEPS_PER_POINT * maxlen);
        Ok(prob)
    }

    /// Cuts the experiments into pieces by `self.layout`.
    fn cut_pieces(&mut self, spec: &Spec, tables: &[Table]) -> Result<(), FitError> {
        let n = self.nstates();
        let mut xbuf = vec![0.0; n];
        for (e, ex) in self.exps.iter().enumerate() {
            let (seg, stride) = match self.layout {
                Layout::Pieces { len, stride } => (len, stride),
                Layout::Tiles { len } => (len, len),
                Layout::Whole => (ex.rows, ex.rows.max(1)),
            };
            for start in (0..ex.rows).step_by(stride) {
                let mut len = seg.min(ex.rows - start);
                if let Layout::Tiles { .. } = self.layout {
                    if start > 0 && ex.rows - start < seg {
                        break; // joined to the previous tile
                    }
                    if ex.rows - start < 2 * seg {
                        len = ex.rows - start;
                    }
                }
                // A short tail piece adds little and biases towards the end; skip it.
                if len < 2 || (len < seg && start != 0) {
                    continue;
                }
                if !initial_state(
                    self.model,
                    spec,
                    tables,
                    &self.scales.sx,
                    e,
                    start,
                    &mut xbuf,
                ) {
                    continue;
                }
                // A piece needs at least one label.
                let has_label =
                    (start + 1..start + len).any(|k| (0..n).any(|i| ex.y[k * n + i].is_finite()));
                if !has_label {
                    continue;
                }
                self.pieces.push(Piece { exp: e, start, len });
                // A noisy reading below zero of a state the model needs non-negative starts at 0.
                for (x, &nn) in xbuf.iter_mut().zip(&self.nonnegative) {
                    if nn && *x < 0.0 {
                        *x = 0.0;
                    }
                }
                self.x0.extend_from_slice(&xbuf);
                let data = spec.data.get(e);
                for i in 0..n {
                    let ini = data.and_then(|d| d.initial.get(i));
                    let labelled = !self.model.hidden[i]
                        && ex.y[start * n + i].is_finite()
                        && matches!(ini, None | Some(Initial::Observed));
                    let fitted = start == 0 && matches!(ini, Some(Initial::Fit));
                    self.start_label.push(labelled);
                    self.free_start.push(labelled || fitted);
                }
                let free = &self.free_start[self.free_start.len() - n..];
                let coupling =
                    initial_coupling(self.model, spec, tables, &self.scales.sx, (e, start), free);
                self.start_coupling.push(coupling);
            }
        }
        if self.pieces.is_empty() {
            return Err(FitError::NoPieces);
        }
        Ok(())
    }

    pub fn nstates(&self) -> usize {
        self.model.nstates()
    }

    /// Every piece's index.
    pub fn all_pieces(&self) -> Vec<usize> {
        (0..self.pieces.len()).collect()
    }

    /// The scaled right-hand side of experiment `e`.
    pub fn rhs<'a>(&'a self, e: usize, base: &'a [f64], active: &'a [usize]) -> ScaledRhs<'a> {
        ScaledRhs {
            inner: self.model.rhs(&self.exps[e].consts),
            scales: &self.scales,
            base,
            active,
            nonneg: &self.nonnegative,
        }
    }

    /// Adds to each profiled start's sensitivity columns those of the starts tied to it
    /// (`start_coupling`): ∂x/∂x0_a + c·∂x/∂x0_h, the sensitivity to a's start with h
    /// following it. `out_s` holds `len` outputs of `nc` columns each, the starts' from
    /// column `first`.
    pub(crate) fn couple_columns(
        &self,
        pi: usize,
        out_s: &mut [f64],
        (len, nc, first): (usize, usize, usize),
    ) {
        let n = self.nstates();
        let coupling = &self.start_coupling[pi];
        if coupling.is_empty() {
            return;
        }
        for s in out_s.chunks_exact_mut(n * nc).take(len) {
            for &(h, a, c) in coupling {
                for i in 0..n {
                    s[(first + a) * n + i] += c * s[(first + h) * n + i];
                }
            }
        }
    }

    /// Moves the starts tied to piece `pi`'s profiled ones by their moves (`from` → `x0`).
    pub(crate) fn couple_starts(&self, pi: usize, from: &[f64], x0: &mut [f64]) {
        follow_ties(&self.start_coupling[pi], &self.nonnegative, from, x0);
    }

    /// Number of observed values of one piece after its start.
    pub fn later_labels(&self, pi: usize) -> usize {
        let n = self.nstates();
        let p = self.pieces[pi];
        let ex = &self.exps[p.exp];
        (p.start + 1..p.start + p.len)
            .map(|k| (0..n).filter(|&i| ex.y[k * n + i].is_finite()).count())
            .sum()
    }

    /// Number of label values of one piece (its profiled start values included).
    pub fn piece_labels(&self, pi: usize) -> usize {
        let n = self.nstates();
        self.later_labels(pi)
            + self.start_label[pi * n..(pi + 1) * n]
                .iter()
                .filter(|&&f| f)
                .count()
    }

    /// Total number of label values over a set of pieces.
    pub fn label_count(&self, pieces: &[usize]) -> usize {
        pieces.iter().map(|&pi| self.piece_labels(pi)).sum()
    }

    /// The index of experiment `e`'s piece that starts at its first row.
    pub fn first_piece(&self, e: usize) -> Option<usize> {
        self.pieces
            .iter()
            .position(|pc| pc.exp == e && pc.start == 0)
    }
}

/// State scales: the largest magnitude observed (1 for hidden or all-zero states).
fn state_scales(tables: &[Table], n: usize) -> Vec<f64> {
    let mut sx = vec![0.0f64; n];
    for tb in tables {
        for (i, col) in tb.values.iter().enumerate() {
            for &v in col {
                if v.is_finite() {
                    sx[i] = sx[i].max(v.abs());
                }
            }
        }
    }
    for s in &mut sx {
        if *s <= 0.0 || !s.is_finite() {
            *s = 1.0;
        }
    }
    sx
}

/// Time scale: the time over which the observed states move by about their own scale, estimated
/// from finite differences of the data (only a scale, so noise is harmless).
fn time_scale(tables: &[Table], sx: &[f64]) -> f64 {
    let mut rate_sum = 0.0;
    let mut rate_n = 0usize;
    for tb in tables {
        for (i, col) in tb.values.iter().enumerate() {
            for k in 1..tb.times.len() {
                let (a, b) = (col[k - 1], col[k]);
                if a.is_finite() && b.is_finite() {
                    let d = (b - a) / (tb.times[k] - tb.times[k - 1]) / sx[i];
                    rate_sum += d * d;
                    rate_n += 1;
                }
            }
        }
    }
    let rms_rate = if rate_n > 0 {
        (rate_sum / rate_n as f64).sqrt()
    } else {
        0.0
    };
    let span = tables
        .iter()
        .map(|t| t.times.last().copied().unwrap_or(0.0) - t.times.first().copied().unwrap_or(0.0))
        .fold(0.0f64, f64::max);
    if rms_rate.is_finite() && rms_rate > 0.0 {
        1.0 / rms_rate
    } else if span > 0.0 {
        span
    } else {
        1.0
    }
}

fn scaled_experiments(
    spec: &Spec,
    tables: &[Table],
    sx: &[f64],
    st: f64,
    n: usize,
) -> Vec<Experiment> {
    tables
        .iter()
        .enumerate()
        .map(|(e, tb)| {
            let rows = tb.times.len();
            let mut y = vec![f64::NAN; rows * n];
            for (i, col) in tb.values.iter().enumerate() {
                for (k, &v) in col.iter().enumerate() {
                    y[k * n + i] = v / sx[i];
                }
            }
            let t0 = tb.times[0];
            Experiment {
                consts: spec
                    .data
                    .get(e)
                    .map(|d| d.constants.clone())
                    .unwrap_or_default(),
                t: tb.times.iter().map(|&t| (t - t0) / st).collect(),
                y,
                rows,
            }
        })
        .collect()
}

/// Usable full states at data rows (scaled).
fn usable_rows(
    prob: &Problem,
    spec: &Spec,
    tables: &[Table],
    unobserved: &[bool],
) -> Vec<Vec<Option<Vec<f64>>>> {
    let n = prob.nstates();
    let mut xbuf = vec![0.0; n];
    tables
        .iter()
        .enumerate()
        .map(|(e, tb)| {
            (0..tb.times.len())
                .map(|r| {
                    // A state known only at experiment starts is unknown at later rows (its
                    // `"fit"` rule's placeholder is not a value).
                    let ok =
                        initial_state(prob.model, spec, tables, &prob.scales.sx, e, r, &mut xbuf)
                            && (r == 0
                                || (!prob.starts_only
                                    && (0..n)
                                        .all(|i| unobserved[i] || tb.values[i][r].is_finite())));
                    ok.then(|| xbuf.clone())
                })
                .collect()
        })
        .collect()
}

/// Parameter scales: a unit normalised change moves the scaled right-hand side by about one (RMS
/// over the usable rows), so μ, γ and the optimiser see comparable coordinates.
fn parameter_scales(prob: &Problem) -> Vec<f64> {
    let n = prob.nstates();
    let npf = prob.model.nparams();
    let (base, active) = (&prob.init, &prob.free);
    let na = active.len();
    let unit = Scales {
        pscale: vec![1.0; npf],
        ..prob.scales.clone()
    };
    let mut sq = vec![0.0; na];
    let mut cnt = 0usize;
    let (mut f, mut jx, mut jq) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * na]);
    let q: Vec<f64> = active.iter().map(|&k| base[k]).collect();
    for (e, er) in prob.rows.iter().enumerate() {
        let rhs = ScaledRhs {
            inner: prob.model.rhs(&prob.exps[e].consts),
            scales: &unit,
            base,
            active,
            nonneg: &prob.nonnegative,
        };
        let mut scratch = vec![0.0; rhs.scratch_len()];
        for x in er.iter().flatten() {
            rhs.rhs_jac(x, &q, &mut scratch, &mut f, &mut jx, &mut jq);
            for (k, s) in sq.iter_mut().enumerate() {
                let m = (0..n).map(|i| jq[i * na + k].abs()).fold(0.0, f64::max);
                if m.is_finite() {
                    *s += m * m;
                }
            }
            cnt += 1;
        }
    }
    let mut pscale = vec![1.0; npf];
    for (j, &k) in active.iter().enumerate() {
        let rms = if cnt > 0 {
            (sq[j] / cnt as f64).sqrt()
        } else {
            0.0
        };
        pscale[k] = if rms.is_finite() && rms > 1e-12 {
            1.0 / rms
        } else if base[k] != 0.0 {
            base[k].abs()
        } else {
            1.0
        };
    }
    pscale
}

/// Moves each start h that `coupling` ((h, a, c), as in `Problem::start_coupling`) ties to
/// start a by c times a's move from `from` to `x0`, kept at or above zero where `nonnegative`
/// says so.
pub(crate) fn follow_ties(
    coupling: &[(usize, usize, f64)],
    nonnegative: &[bool],
    from: &[f64],
    x0: &mut [f64],
) {
    for &(h, a, c) in coupling {
        let v = x0[h] + c * (x0[a] - from[a]);
        x0[h] = if nonnegative[h] { v.max(0.0) } else { v };
    }
}

/// The initial values of experiment `e`'s piece starting at row `start` that an expression
/// ties to profiled ones (`free`): (h, a, ∂x0_h/∂x0_a) in scaled units, the derivative by
/// central differences at the observations (exact for an affine expression such as a
/// conservation law).
fn initial_coupling(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
    sx: &[f64],
    (e, start): (usize, usize),
    free: &[bool],
) -> Vec<(usize, usize, f64)> {
    let n = model.nstates();
    let tb = &tables[e];
    let Some(data) = spec.data.get(e) else {
        return Vec::new();
    };
    let consts = data.constants.as_slice();
    let mut out = Vec::new();
    for h in 0..n {
        let Some(Initial::Expr(ex)) = data.initial.get(h) else {
            continue;
        };
        if free[h] {
            continue;
        }
        for a in (0..n).filter(|&a| a != h && free[a]) {
            let ya = tb.values[a][start];
            if !ya.is_finite() {
                continue;
            }
            let d = 1e-6 * ya.abs().max(sx[a]);
            let at = |va: f64| expr_at(ex, (model, spec, consts), tb, start, Some((a, va)));
            let slope = (at(ya + d) - at(ya - d)) / (2.0 * d);
            if slope.is_finite() && slope != 0.0 {
                out.push((h, a, slope * sx[a] / sx[h]));
            }
        }
    }
    out
}

/// An initial-value expression at row `start` of table `tb` (user units): constants from
/// `consts`, states from the row — state `with.0` replaced by `with.1` when given. NaN where a
/// value it needs is missing.
fn expr_at(
    ex: &odenet_spec::Expr,
    (model, spec, consts): (&CompiledModel, &Spec, &[f64]),
    tb: &Table,
    start: usize,
    with: Option<(usize, f64)>,
) -> f64 {
    let lookup = |name: &str| -> Option<f64> {
        if let Some(k) = spec.constants.iter().position(|c| c == name) {
            return consts.get(k).copied();
        }
        let j = model.states.iter().position(|s| s == name)?;
        let v = match with {
            Some((a, v)) if a == j => v,
            _ => tb.values[j][start],
        };
        v.is_finite().then_some(v)
    };
    ex.eval(&lookup).unwrap_or(f64::NAN)
}

/// The scaled initial state of a piece starting at `start` of experiment `e`, or false when it
/// cannot be formed (a missing observed value with no `initial` rule).
pub(crate) fn initial_state(
    model: &CompiledModel,
    spec: &Spec,
    tables: &[Table],
    sx: &[f64],
    e: usize,
    start: usize,
    out: &mut [f64],
) -> bool {
    let n = model.nstates();
    let tb = &tables[e];
    let data = spec.data.get(e);
    let consts = data.map(|d| d.constants.as_slice()).unwrap_or(&[]);
    for i in 0..n {
        let ini = data
            .and_then(|d| d.initial.get(i))
            .cloned()
            .unwrap_or(Initial::Observed);
        let observed = tb.values[i][start];
        let v = match ini {
            Initial::Observed => observed,
            Initial::Value(v) if start == 0 => v,
            Initial::Value(_) => observed,
            Initial::Expr(ex) => expr_at(&ex, (model, spec, consts), tb, start, None),
            // Fitted initial values start from the observation, or from one state scale
            // (zero would be a fixed point of many models); the fit moves them.
            Initial::Fit => {
                if observed.is_finite() {
                    observed
                } else {
                    sx[i]
                }
            }
        };
        if !v.is_finite() {
            return false;
        }
        out[i] = v / sx[i];
    }
    true
}
