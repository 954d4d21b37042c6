//! The solve stage: integrate one piece of data from its start to its label times and return
//! the states and the forward sensitivities there.
//!
//! Several methods behind one interface: an explicit Runge–Kutta method of our own (Tsitouras
//! 5(4), with the sensitivity equations integrated alongside) for the short, non-stiff pieces
//! that dominate a fit, and diffsol's family — its explicit Tsitouras 5(4), the singly diagonally
//! implicit ESDIRK 3(4) and TR-BDF2, and BDF — for comparison and for stiff problems.
//! `Method::Auto` starts with our explicit method and switches to BDF when stiffness is detected
//! or the explicit step budget is exhausted. [`solve_batch`] and [`reference`] solve many pieces
//! for the work–precision benchmark (`odenet bench`).
//!
//! Sensitivity layout: for `m` output times, `n` states and `nc` sensitivity columns, the
//! sensitivity of state i at output k with respect to column c is
//! `sens[k * n * nc + c * n + i]`. Columns `0..np` are the parameters p of the right-hand side;
//! with `Sens::ParamsAndInitial` columns `np..np+n` are the initial state x0.
//!
//! Use a [`PieceSolver`] per thread (the BDF path holds `RefCell`s and is not `Sync`) and reuse
//! it across pieces; its results do not depend on what it solved before.
//!
//! The explicit method (module `tsit5`):
//! - error norm: Hairer's RMS norm over the states only, `sqrt(mean((e_i / sc_i)²))` with
//!   `sc_i = atol + rtol · max(|x_i|, |x_new_i|)`; the sensitivities are not error-controlled;
//! - step control: PI (β = 0.04, Hairer's DOPRI5) by default, or the elementary controller,
//!   see [`StepControl`];
//! - outputs: steps are chosen by the error control alone (the last ends on the last output
//!   time) and the states and sensitivities at the output times inside a step come from the
//!   method's continuous extension of order 4 (Tsitouras 2011), the sensitivities by the same
//!   weights from their stages, so they stay the exact derivatives of the outputs;
//! - stiffness: Hairer's estimate |hλ| ≈ h‖k7 − k6‖ / ‖x_new − X6‖ above 3.3 on 15 accepted steps
//!   without 6 clean ones in between → [`SolveFailure::Stiff`] (`Auto` switches to BDF instead,
//!   as it does when the step budget runs out);
//! - blow-up (`|x_i| > opts.blowup` after a step) and non-finite states or sensitivities are
//!   typed failures carrying the time; a trial step that overflows is retried smaller first.
//!
//! diffsol's methods (module `family`) run with the same failure checks after every step.

use odenet_tape::OdeRhs;

mod batch;
mod family;
#[cfg(feature = "test-models")]
pub mod test_models;
mod tsit5;

pub use batch::{Group, Piece, Reference, Work, max_error, reference, solve_batch};

/// The integration method of a piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Our Tsitouras 5(4), switching to diffsol's BDF on detected stiffness.
    Auto,
    /// diffsol's variable-order BDF (orders 1–5).
    Bdf,
    /// Our explicit Tsitouras 5(4).
    Tsit5,
    /// diffsol's explicit Tsitouras 5(4).
    Tsit45,
    /// diffsol's ESDIRK 3(4) (singly diagonally implicit, L-stable).
    Esdirk34,
    /// diffsol's TR-BDF2 (an ESDIRK of order 2).
    TrBdf2,
}

impl Method {
    /// Every method, in the order `odenet bench` lists them.
    pub const ALL: [Method; 6] = [
        Method::Tsit5,
        Method::Tsit45,
        Method::Esdirk34,
        Method::TrBdf2,
        Method::Bdf,
        Method::Auto,
    ];

    /// The name used in specs (`solver = "..."`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Bdf => "bdf",
            Method::Tsit5 => "tsit5",
            Method::Tsit45 => "tsit45",
            Method::Esdirk34 => "esdirk34",
            Method::TrBdf2 => "tr_bdf2",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// True for the methods that solve linear systems (and so factorise Jacobians).
    pub fn is_implicit(self) -> bool {
        matches!(self, Method::Bdf | Method::Esdirk34 | Method::TrBdf2)
    }
}

/// Which sensitivities to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sens {
    None,
    /// ∂x/∂p: `np` columns.
    Params,
    /// ∂x/∂p and ∂x/∂x0: `np + n` columns.
    ParamsAndInitial,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveOptions {
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// Step budget for one piece (explicit steps; BDF gets the same budget).
    pub max_steps: usize,
    /// A state whose magnitude exceeds this bound is a blow-up.
    pub blowup: f64,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            method: Method::Auto,
            rtol: 1e-6,
            atol: 1e-9,
            max_steps: 10_000,
            blowup: 1e6,
        }
    }
}

/// Why a piece could not be integrated. The fit turns these into a named, counted penalty.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum SolveFailure {
    #[error("the solution became non-finite at t = {t}")]
    NonFinite { t: f64 },
    #[error("the step size fell below the minimum at t = {t}")]
    StepSizeTooSmall { t: f64 },
    #[error("the step budget was exhausted at t = {t}")]
    TooManySteps { t: f64 },
    #[error("the solution blew up (|x| > bound) at t = {t}")]
    BlowUp { t: f64 },
    /// A diffsol method (BDF, ESDIRK 3(4), TR-BDF2 or its explicit Tsitouras) failed.
    #[error("the diffsol solver failed at t = {t}")]
    BdfFailed { t: f64 },
    /// Only returned by `Method::Tsit5`; `Method::Auto` switches to BDF instead.
    #[error("the problem became stiff at t = {t}; use the bdf or auto method for it")]
    Stiff { t: f64 },
    #[error(
        "output times must be finite and strictly increasing, but times[{index}] = {value} \
         does not exceed the time before it; sort the times and drop duplicates"
    )]
    InvalidTimes { index: usize, value: f64 },
    #[error("{what} has length {got} but the solver expects {expected}; size it to match")]
    ShapeMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("the solve option {what} = {value} is invalid; {fix}")]
    InvalidOption {
        what: &'static str,
        value: f64,
        fix: &'static str,
    },
}

/// What a successful solve did. Counts add up over the attempts of `Auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SolveStats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected steps: error-test failures, plus Newton convergence failures of the implicit
    /// methods and overflowing trial steps of ours.
    pub rejected: usize,
    /// Evaluations of f alone (an evaluation of f together with its Jacobians counts under
    /// `jac_evals` instead).
    pub rhs_evals: usize,
    /// Evaluations of f with its Jacobians ∂f/∂x and ∂f/∂p (one call serves both).
    pub jac_evals: usize,
    /// LU factorisations of the Newton matrix (implicit methods only).
    pub factorizations: usize,
    /// True when the piece was (finally) integrated with BDF.
    pub used_bdf: bool,
    /// True when `Auto` switched from the explicit method to BDF.
    pub switched: bool,
}

/// How the explicit method chooses its next step from the error estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StepControl {
    /// The elementary controller h_new = h · 0.9 · err^(−1/5).
    Standard,
    /// Gustafsson's PI controller as in Hairer's DOPRI5 (β = 0.04): smoother step sequences
    /// and fewer rejections near the stability boundary.
    #[default]
    Pi,
}

/// A reusable workspace that integrates pieces of one model size. Every buffer of the explicit
/// method is sized once in [`PieceSolver::new`]; a solve then does not allocate (except the first
/// time a right-hand side needs more scratch, and inside diffsol when BDF is used).
///
/// A solve does not depend on the previous one: reusing a solver gives bit-identical results to
/// a fresh one.
#[derive(Debug)]
pub struct PieceSolver {
    n: usize,
    np: usize,
    opts: SolveOptions,
    control: StepControl,
    /// Land a step on every output time instead of interpolating (tests and benches only).
    land: bool,
    explicit: tsit5::Tsit5,
    family: family::Family,
}

impl PieceSolver {
    pub fn new(nstates: usize, nparams: usize, opts: SolveOptions) -> Self {
        PieceSolver {
            n: nstates,
            np: nparams,
            opts,
            control: StepControl::default(),
            land: false,
            explicit: tsit5::Tsit5::new(nstates, nparams),
            family: family::Family::new(nstates, nparams),
        }
    }

    pub fn with_step_control(mut self, control: StepControl) -> Self {
        self.control = control;
        self
    }

    /// The explicit method's behaviour before dense output: every step clamped to land on the
    /// next output time (at least one step per output), so the outputs involve no
    /// interpolation. Kept as a reference for the tests and the benchmark of dense output
    /// (`test-models` feature); it is never faster.
    #[cfg(feature = "test-models")]
    pub fn with_landing(mut self, land: bool) -> Self {
        self.land = land;
        self
    }

    pub fn options(&self) -> &SolveOptions {
        &self.opts
    }

    pub fn set_options(&mut self, opts: SolveOptions) {
        self.opts = opts;
    }

    pub fn nstates(&self) -> usize {
        self.n
    }

    pub fn nparams(&self) -> usize {
        self.np
    }

    /// The number of sensitivity columns `nc` for a choice of [`Sens`].
    pub fn sens_columns(&self, sens: Sens) -> usize {
        match sens {
            Sens::None => 0,
            Sens::Params => self.np,
            Sens::ParamsAndInitial => self.np + self.n,
        }
    }

    /// Integrate dx/dt = f(x; p) from `x0` at `times[0]` through the strictly increasing
    /// `times`, writing the states to `out_x` (`out_x[k * n + i]`, length `times.len() * n`) and
    /// the sensitivities to `out_s` (layout in the crate doc, length `times.len() * n * nc`;
    /// empty for [`Sens::None`]). Output 0 is x0 itself with S = [0 | I].
    ///
    /// On failure the outputs before the failure time are filled and the rest is unspecified.
    #[allow(clippy::too_many_arguments)]
    pub fn solve(
        &mut self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        x0: &[f64],
        times: &[f64],
        sens: Sens,
        out_x: &mut [f64],
        out_s: &mut [f64],
    ) -> Result<SolveStats, SolveFailure> {
        let nc = self.sens_columns(sens);
        self.validate(rhs, p, x0, times, nc, out_x, out_s)?;
        check_start(p, x0, times[0], &self.opts)?;
        self.explicit.reserve_scratch(rhs.scratch_len());
        let opts = self.opts;
        let mut stats = SolveStats::default();
        // Our explicit method first (Tsit5, Auto); then the diffsol method asked for, or BDF
        // when Auto gives up on the explicit one.
        let diffsol_method = match opts.method {
            Method::Tsit5 | Method::Auto => {
                let explicit = self.explicit.solve(
                    rhs,
                    p,
                    x0,
                    times,
                    nc,
                    &opts,
                    self.control,
                    self.land,
                    out_x,
                    out_s,
                    &mut stats,
                );
                match explicit {
                    Ok(()) => None,
                    Err(SolveFailure::Stiff { .. } | SolveFailure::TooManySteps { .. })
                        if opts.method == Method::Auto =>
                    {
                        // The piece is redone from its start: the explicit outputs written so
                        // far are overwritten, and the counts include both attempts.
                        stats.used_bdf = true;
                        stats.switched = true;
                        Some(Method::Bdf)
                    }
                    Err(e) => return Err(e),
                }
            }
            Method::Bdf | Method::Tsit45 | Method::Esdirk34 | Method::TrBdf2 => {
                stats.used_bdf = opts.method == Method::Bdf;
                Some(opts.method)
            }
        };
        if let Some(method) = diffsol_method {
            self.family.solve(
                method, rhs, p, x0, times, nc, &opts, out_x, out_s, &mut stats,
            )?;
        }
        Ok(stats)
    }

    #[allow(clippy::too_many_arguments)]
    fn validate(
        &self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        x0: &[f64],
        times: &[f64],
        nc: usize,
        out_x: &[f64],
        out_s: &[f64],
    ) -> Result<(), SolveFailure> {
        validate_parts(
            self.n,
            self.np,
            &self.opts,
            rhs,
            p,
            x0,
            times,
            nc,
            out_x.len(),
            out_s.len(),
        )
    }

    /// BDF through many pieces of one right-hand side and parameter vector, reusing one diffsol
    /// problem and solver (no per-piece set-up); see [`solve_batch`]. Each piece is checked as
    /// [`PieceSolver::solve`] checks it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn solve_many_bdf(
        &mut self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        sens: Sens,
        pieces: &[batch::Piece],
        states: &mut [Vec<f64>],
        sens_scratch: &mut [f64],
        results: &mut Vec<Result<SolveStats, SolveFailure>>,
    ) {
        let nc = self.sens_columns(sens);
        let (n, np, opts) = (self.n, self.np, self.opts);
        let check = |pc: &batch::Piece| {
            let m = pc.times.len();
            validate_parts(
                n,
                np,
                &opts,
                rhs,
                p,
                &pc.x0,
                &pc.times,
                nc,
                m * n,
                m * n * nc,
            )?;
            check_start(p, &pc.x0, pc.times[0], &opts)
        };
        let shape_ok = rhs.nstates() == n && rhs.nparams() == np && p.len() == np;
        if !shape_ok {
            results.clear();
            for pc in pieces {
                results.push(check(pc).map(|()| SolveStats::default()));
            }
            return;
        }
        self.family.solve_many_bdf(
            rhs,
            p,
            nc,
            &opts,
            pieces,
            states,
            sens_scratch,
            &check,
            results,
        );
    }
}

/// The start of a piece at time `t0`: the parameters and the start state are finite, and the
/// start is inside the blow-up bound.
fn check_start(p: &[f64], x0: &[f64], t0: f64, opts: &SolveOptions) -> Result<(), SolveFailure> {
    if p.iter().chain(x0).any(|v| !v.is_finite()) {
        return Err(SolveFailure::NonFinite { t: t0 });
    }
    if x0.iter().any(|v| v.abs() > opts.blowup) {
        return Err(SolveFailure::BlowUp { t: t0 });
    }
    Ok(())
}

/// The checks of [`PieceSolver::solve`]'s inputs, from the solver's sizes and options.
#[allow(clippy::too_many_arguments)]
fn validate_parts(
    n: usize,
    np: usize,
    opts: &SolveOptions,
    rhs: &dyn OdeRhs,
    p: &[f64],
    x0: &[f64],
    times: &[f64],
    nc: usize,
    out_x_len: usize,
    out_s_len: usize,
) -> Result<(), SolveFailure> {
    let shape = |what, expected, got| {
        if expected == got {
            Ok(())
        } else {
            Err(SolveFailure::ShapeMismatch {
                what,
                expected,
                got,
            })
        }
    };
    shape("the right-hand side's state count", n, rhs.nstates())?;
    shape("the right-hand side's parameter count", np, rhs.nparams())?;
    shape("p", np, p.len())?;
    shape("x0", n, x0.len())?;
    if times.is_empty() {
        return Err(SolveFailure::ShapeMismatch {
            what: "times (it needs at least the start time)",
            expected: 1,
            got: 0,
        });
    }
    for (index, &value) in times.iter().enumerate() {
        if !value.is_finite() || (index > 0 && value <= times[index - 1]) {
            return Err(SolveFailure::InvalidTimes { index, value });
        }
    }
    let m = times.len();
    shape("out_x", m * n, out_x_len)?;
    shape("out_s", m * n * nc, out_s_len)?;
    let o = opts;
    if !(o.rtol.is_finite() && o.rtol >= 0.0) {
        return Err(SolveFailure::InvalidOption {
            what: "rtol",
            value: o.rtol,
            fix: "use a finite value >= 0 such as 1e-6",
        });
    }
    if !(o.atol.is_finite() && o.atol > 0.0) {
        return Err(SolveFailure::InvalidOption {
            what: "atol",
            value: o.atol,
            fix: "use a finite value > 0 such as 1e-9",
        });
    }
    if o.max_steps == 0 {
        return Err(SolveFailure::InvalidOption {
            what: "max_steps",
            value: 0.0,
            fix: "allow at least one step",
        });
    }
    if o.blowup.is_nan() || o.blowup <= 0.0 {
        return Err(SolveFailure::InvalidOption {
            what: "blowup",
            value: o.blowup,
            fix: "use a positive bound (infinity disables the check)",
        });
    }
    Ok(())
}
