//! diffsol's methods — BDF, ESDIRK 3(4), TR-BDF2 and its explicit Tsitouras 5(4) — with forward
//! sensitivities from the same solve.
//!
//! All diffsol instantiation of the workspace lives here: eight solver variants (four methods,
//! each with and without sensitivities, nalgebra backend), because every instantiation costs
//! seconds of compile time (NOTES-deps.md §1).
//!
//! The problem is rebuilt per piece (0.3 µs for `build`, a few µs for the solver) with
//! p = [params…, x0…] when x0 sensitivities are wanted, so ∂x/∂x0 comes out of the same solve.
//! diffsol assembles the Jacobian from n J·v calls and the parameter Jacobian from np unit-vector
//! (∂f/∂p)·v calls at the same state, so the closures share one cache of f, J_x and J_p keyed
//! by the exact bits of the last state: one `rhs_jac` serves all of them.

use std::cell::RefCell;

use diffsol::op::closure_with_sens::ClosureWithSens;
use diffsol::{
    Context, DiffsolError, NalgebraContext, NalgebraLU, NalgebraMat, NalgebraVec, OdeBuilder,
    OdeEquations, OdeSolverMethod, OdeSolverStopReason, Vector, VectorCommon,
};
use odenet_tape::OdeRhs;

use crate::{Method, Piece, SolveFailure, SolveOptions, SolveStats};

type M = NalgebraMat<f64>;
type V = NalgebraVec<f64>;
type LS = NalgebraLU<f64>;

/// The right-hand side's Jacobians at the last state they were asked for.
#[derive(Debug)]
struct JacCache {
    n: usize,
    np: usize,
    valid: bool,
    x: Vec<f64>,
    f: Vec<f64>,
    jx: Vec<f64>,
    jp: Vec<f64>,
    scratch: Vec<f64>,
    rhs_calls: usize,
    jac_calls: usize,
}

impl JacCache {
    fn ensure(&mut self, rhs: &dyn OdeRhs, x: &[f64], p: &[f64]) {
        // Exact bit equality is the right key: the cache must return what a fresh evaluation
        // at this very state would return.
        let same = self.valid
            && self
                .x
                .iter()
                .zip(x)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if same {
            return;
        }
        rhs.rhs_jac(
            x,
            p,
            &mut self.scratch,
            &mut self.f,
            &mut self.jx,
            &mut self.jp,
        );
        self.x.copy_from_slice(x);
        self.valid = true;
        self.jac_calls += 1;
    }
}

/// y = A v for a row-major `rows × cols` matrix A.
fn matvec(a: &[f64], v: &[f64], y: &mut [f64], cols: usize) {
    if cols == 0 {
        // A model without parameters: (∂f/∂p)·v is an empty sum.
        y.fill(0.0);
        return;
    }
    for (yi, row) in y.iter_mut().zip(a.chunks_exact(cols)) {
        *yi = row.iter().zip(v).map(|(p, q)| p * q).sum();
    }
}

/// The diffsol workspace: the Jacobian cache survives across pieces; diffsol's own problem and
/// state are rebuilt per piece (`benches/solve.rs` measures that set-up against a reused
/// solver).
#[derive(Debug)]
pub(crate) struct Family {
    cache: RefCell<JacCache>,
    /// The start state of the current piece, read by the problem's `init` when one problem
    /// serves many pieces ([`Family::solve_many_bdf`]).
    x0: RefCell<Vec<f64>>,
}

impl Family {
    pub(crate) fn new(n: usize, np: usize) -> Self {
        Family {
            x0: RefCell::new(vec![0.0; n]),
            cache: RefCell::new(JacCache {
                n,
                np,
                valid: false,
                x: vec![0.0; n],
                f: vec![0.0; n],
                jx: vec![0.0; n * n],
                jp: vec![0.0; n * np],
                scratch: Vec::new(),
                rhs_calls: 0,
                jac_calls: 0,
            }),
        }
    }

    fn reset_cache(&self, rhs: &dyn OdeRhs) -> (usize, usize) {
        let mut c = self.cache.borrow_mut();
        c.valid = false;
        c.rhs_calls = 0;
        c.jac_calls = 0;
        let len = rhs.scratch_len();
        if c.scratch.len() < len {
            c.scratch.resize(len, 0.0);
        }
        (c.n, c.np)
    }

    /// Adds the right-hand side's evaluations since the last [`Family::reset_cache`] to `stats`.
    fn add_counts(&self, stats: &mut SolveStats) {
        let c = self.cache.borrow();
        stats.rhs_evals += c.rhs_calls;
        stats.jac_evals += c.jac_calls;
    }

    /// Integrate through `times` with `method` (one of diffsol's) and `nc` sensitivity columns
    /// (0, np or np + n). Inputs are validated by the caller.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn solve(
        &mut self,
        method: Method,
        rhs: &dyn OdeRhs,
        p: &[f64],
        x0: &[f64],
        times: &[f64],
        nc: usize,
        opts: &SolveOptions,
        out_x: &mut [f64],
        out_s: &mut [f64],
        stats: &mut SolveStats,
    ) -> Result<(), SolveFailure> {
        let (n, np) = self.reset_cache(rhs);
        let t0 = times[0];
        let with_x0 = nc > np;
        write_start(x0, n, np, nc, out_x, out_s);
        if times.len() == 1 {
            return Ok(());
        }

        let cache = &self.cache;
        let mut pvec = p.to_vec();
        if with_x0 {
            pvec.extend_from_slice(x0);
        }
        let problem = builder(cache, rhs, pvec, opts, n, np)
            .init_sens(
                move |p: &[f64], _t: f64, y: &mut [f64]| {
                    if with_x0 {
                        y.copy_from_slice(&p[np..np + n]);
                    } else {
                        y.copy_from_slice(x0);
                    }
                },
                start_sens(n, np, with_x0),
                n,
            )
            .build()
            .map_err(|_| SolveFailure::BdfFailed { t: t0 })?;

        // One arm per solver variant: each is its own instantiation of `drive`.
        macro_rules! run {
            ($make:expr, $nc:expr) => {
                match $make {
                    Ok(mut solver) => drive(&mut solver, times, $nc, n, opts, out_x, out_s, stats),
                    Err(e) => Err(map_error(e, t0, t0)),
                }
            };
        }
        let result = match (method, nc > 0) {
            (Method::Bdf, true) => run!(problem.bdf_sens::<LS>(), nc),
            (Method::Bdf, false) => run!(problem.bdf::<LS>(), 0),
            (Method::Esdirk34, true) => run!(problem.esdirk34_sens::<LS>(), nc),
            (Method::Esdirk34, false) => run!(problem.esdirk34::<LS>(), 0),
            (Method::TrBdf2, true) => run!(problem.tr_bdf2_sens::<LS>(), nc),
            (Method::TrBdf2, false) => run!(problem.tr_bdf2::<LS>(), 0),
            (Method::Tsit45, true) => run!(problem.tsit45_sens(), nc),
            (Method::Tsit45, false) => run!(problem.tsit45(), 0),
            (Method::Tsit5 | Method::Auto, _) => {
                unreachable!("our own methods are not run through diffsol")
            }
        };
        self.add_counts(stats);
        result
    }
}

/// diffsol's builder of a piece's problem: the tolerances, diffsol's parameters `pvec` (p, then
/// x0 when its sensitivities are wanted) and f with its Jacobian–vector products, all served by
/// the cache from one `rhs_jac` per state. The start (`init_sens`) is left to the caller.
#[allow(clippy::type_complexity)] // The closures' types can only be written `impl Fn`.
fn builder<'a>(
    cache: &'a RefCell<JacCache>,
    rhs: &'a dyn OdeRhs,
    pvec: Vec<f64>,
    opts: &SolveOptions,
    n: usize,
    np: usize,
) -> OdeBuilder<
    M,
    ClosureWithSens<
        M,
        impl Fn(&[f64], &[f64], f64, &mut [f64]) + 'a,
        impl Fn(&[f64], &[f64], f64, &[f64], &mut [f64]) + 'a,
        impl Fn(&[f64], &[f64], f64, &[f64], &mut [f64]) + 'a,
    >,
> {
    OdeBuilder::<M>::new()
        .p(pvec)
        .rtol(opts.rtol)
        .atol([opts.atol])
        .rhs_sens_implicit(
            move |x: &[f64], p: &[f64], _t: f64, y: &mut [f64]| {
                let c = &mut *cache.borrow_mut();
                c.rhs_calls += 1;
                rhs.rhs(x, &p[..np], &mut c.scratch, y);
            },
            move |x: &[f64], p: &[f64], _t: f64, v: &[f64], y: &mut [f64]| {
                let c = &mut *cache.borrow_mut();
                c.ensure(rhs, x, &p[..np]);
                matvec(&c.jx, v, y, n);
            },
            move |x: &[f64], p: &[f64], _t: f64, v: &[f64], y: &mut [f64]| {
                // The x0 entries of v (if any) do not force f: x0 enters through init only.
                let c = &mut *cache.borrow_mut();
                c.ensure(rhs, x, &p[..np]);
                matvec(&c.jp, &v[..np], y, np);
            },
        )
}

/// The start's sensitivity product ∂x(t0)/∂(p, x0) · v: the x0 entries of v when x0 is among
/// diffsol's parameters (`with_x0`), else zero.
fn start_sens(n: usize, np: usize, with_x0: bool) -> impl Fn(&[f64], f64, &[f64], &mut [f64]) {
    move |_p: &[f64], _t: f64, v: &[f64], y: &mut [f64]| {
        if with_x0 {
            y.copy_from_slice(&v[np..np + n]);
        } else {
            y.fill(0.0);
        }
    }
}

/// Writes output 0 of a piece: the start state itself and S(t0) = [0 | I].
fn write_start(x0: &[f64], n: usize, np: usize, nc: usize, out_x: &mut [f64], out_s: &mut [f64]) {
    out_x[..n].copy_from_slice(x0);
    let ns = n * nc;
    out_s[..ns].fill(0.0);
    if nc > np {
        for i in 0..n {
            out_s[(np + i) * n + i] = 1.0;
        }
    }
}

impl Family {
    /// BDF through many pieces of one right-hand side and parameter vector with one diffsol
    /// problem and one solver: each piece only sets its start state (which the problem's `init`
    /// reads from `self.x0`) and gives the solver a fresh state. `states[k]` receives piece k's
    /// outputs, `sens` is scratch for the sensitivities (at least the largest piece's), and
    /// `results` one entry per piece. `check` validates a piece first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn solve_many_bdf(
        &mut self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        nc: usize,
        opts: &SolveOptions,
        pieces: &[Piece],
        states: &mut [Vec<f64>],
        sens: &mut [f64],
        check: &dyn Fn(&Piece) -> Result<(), SolveFailure>,
        results: &mut Vec<Result<SolveStats, SolveFailure>>,
    ) {
        results.clear();
        let (n, np) = self.reset_cache(rhs);
        let with_x0 = nc > np;
        let cache = &self.cache;
        let x0cell = &self.x0;
        let mut pvec = p.to_vec();
        if with_x0 {
            // Placeholders: only their sensitivity columns are used; the start comes from x0cell.
            pvec.extend(std::iter::repeat_n(0.0, n));
        }
        let built = builder(cache, rhs, pvec, opts, n, np)
            .init_sens(
                move |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(&x0cell.borrow()),
                start_sens(n, np, with_x0),
                n,
            )
            .build();
        let Ok(problem) = built else {
            for pc in pieces {
                results.push(Err(SolveFailure::BdfFailed { t: pc.times[0] }));
            }
            return;
        };
        // The piece loop, for the solver with or without sensitivities.
        macro_rules! each_piece {
            ($solver:expr, $state:expr, $nc:expr) => {{
                let mut solver = $solver;
                for (k, pc) in pieces.iter().enumerate() {
                    if let Err(e) = check(pc) {
                        results.push(Err(e));
                        continue;
                    }
                    let m = pc.times.len();
                    let t0 = pc.times[0];
                    let out_x = &mut states[k][..m * n];
                    let out_s = &mut sens[..m * n * $nc];
                    write_start(&pc.x0, n, np, $nc, out_x, out_s);
                    let mut stats = SolveStats {
                        used_bdf: true,
                        ..SolveStats::default()
                    };
                    if m == 1 {
                        results.push(Ok(stats));
                        continue;
                    }
                    x0cell.borrow_mut().copy_from_slice(&pc.x0);
                    self.reset_cache(rhs);
                    let r = match solver.as_mut() {
                        Err(e) => Err(map_error(e.clone(), t0, t0)),
                        Ok(solver) => match $state {
                            Err(e) => Err(map_error(e, t0, t0)),
                            Ok(state) => {
                                solver.set_state(state);
                                // Without this the new state's history is never initialised
                                // and the solve returns zeros (NOTES-deps.md §2).
                                let _ = solver.state_mut();
                                drive(solver, &pc.times, $nc, n, opts, out_x, out_s, &mut stats)
                            }
                        },
                    };
                    self.add_counts(&mut stats);
                    results.push(r.map(|()| stats));
                }
            }};
        }
        if nc > 0 {
            each_piece!(problem.bdf_sens::<LS>(), problem.bdf_state_sens::<LS>(), nc);
        } else {
            each_piece!(problem.bdf::<LS>(), problem.bdf_state::<LS>(), 0);
        }
    }
}

/// Step the solver to the last output time, interpolating the outputs it passes, and watch
/// the step budget, blow-up and non-finite states after every step.
#[allow(clippy::too_many_arguments)]
fn drive<'a, Eqn, S>(
    solver: &mut S,
    times: &[f64],
    nc: usize,
    n: usize,
    opts: &SolveOptions,
    out_x: &mut [f64],
    out_s: &mut [f64],
    stats: &mut SolveStats,
) -> Result<(), SolveFailure>
where
    Eqn: OdeEquations<T = f64, V = V, M = M, C = NalgebraContext> + 'a,
    S: OdeSolverMethod<'a, Eqn>,
{
    // A reused solver keeps counting across pieces: count from here.
    let before = solver.get_statistics().clone();
    let t0 = times[0];
    let m = times.len();
    let tau_end = times[m - 1] - t0;
    let ctx = NalgebraContext::default();
    let mut ybuf = V::zeros(n, ctx);
    let mut sbuf = if nc > 0 {
        let sctx = ctx
            .clone_with_nbatch(nc)
            .map_err(|_| SolveFailure::BdfFailed { t: t0 })?;
        Some(V::zeros(n, sctx))
    } else {
        None
    };
    solver
        .set_stop_time(tau_end)
        .map_err(|e| map_error(e, t0, t0))?;
    let ns = n * nc;
    let mut next = 1usize;
    let mut steps = 0usize;
    let outcome = loop {
        if steps >= opts.max_steps {
            break Err(SolveFailure::TooManySteps {
                t: t0 + solver.state().t,
            });
        }
        let t_before = solver.state().t;
        let reason = match solver.step() {
            Ok(r) => r,
            Err(e) => break Err(map_error(e, t0, t0 + t_before)),
        };
        steps += 1;
        let state = solver.state();
        let t = state.t;
        let y = state.y.inner().as_slice();
        if y.iter().any(|v| !v.is_finite()) {
            break Err(SolveFailure::NonFinite { t: t0 + t });
        }
        if y.iter().any(|v| v.abs() > opts.blowup) {
            break Err(SolveFailure::BlowUp { t: t0 + t });
        }
        let stopped = matches!(reason, OdeSolverStopReason::TstopReached);
        let mut failed = None;
        while next < m && (times[next] - t0 <= t || stopped) {
            // The stop step lands on the last time only up to round-off, so never ask for a
            // time past the current one.
            let tq = (times[next] - t0).min(t);
            if let Err(e) = solver.interpolate_inplace(tq, &mut ybuf) {
                failed = Some(map_error(e, t0, t0 + t));
                break;
            }
            let yv = ybuf.inner().as_slice();
            out_x[next * n..(next + 1) * n].copy_from_slice(yv);
            if let Some(sb) = sbuf.as_mut() {
                if let Err(e) = solver.interpolate_sens_inplace(tq, sb) {
                    failed = Some(map_error(e, t0, t0 + t));
                    break;
                }
                out_s[next * ns..(next + 1) * ns].copy_from_slice(sb.inner().as_slice());
            }
            let written_x = &out_x[next * n..(next + 1) * n];
            let written_s = &out_s[next * ns..(next + 1) * ns];
            if written_x.iter().chain(written_s).any(|v| !v.is_finite()) {
                failed = Some(SolveFailure::NonFinite { t: times[next] });
                break;
            }
            next += 1;
        }
        if let Some(f) = failed {
            break Err(f);
        }
        if next == m {
            break Ok(());
        }
        if stopped {
            break Err(SolveFailure::BdfFailed { t: t0 + t });
        }
    };
    let st = solver.get_statistics();
    stats.steps += st.number_of_steps - before.number_of_steps;
    stats.rejected += (st.number_of_error_test_failures - before.number_of_error_test_failures)
        + (st.number_of_nonlinear_solver_fails - before.number_of_nonlinear_solver_fails);
    stats.factorizations +=
        st.number_of_linear_solver_setups - before.number_of_linear_solver_setups;
    outcome
}

fn map_error(e: DiffsolError, t0: f64, t: f64) -> SolveFailure {
    match e {
        DiffsolError::OdeSolverError(diffsol::error::OdeSolverError::StepSizeTooSmall { time }) => {
            SolveFailure::StepSizeTooSmall { t: t0 + time }
        }
        _ => SolveFailure::BdfFailed { t },
    }
}
