//! The solve stage: integrate one piece of data from its start to its label times and return
//! the states and the forward sensitivities there.
//!
//! Two methods behind one interface: an explicit Runge–Kutta method of our own (Tsitouras 5(4),
//! with the sensitivity equations integrated alongside) for the short, non-stiff pieces that
//! dominate a fit, and diffsol's BDF for stiff problems. `Method::Auto` starts explicit and
//! switches to BDF when stiffness is detected or the explicit step budget is exhausted.
//!
//! Sensitivity layout: for `m` output times, `n` states and `nc` sensitivity columns, the
//! sensitivity of state i at output k with respect to column c is
//! `sens[k * n * nc + c * n + i]`. Columns `0..np` are the parameters p of the right-hand side;
//! with `Sens::ParamsAndInitial` columns `np..np+n` are the initial state x0.

use odenet_tape::OdeRhs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Auto,
    Bdf,
    Tsit5,
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
        SolveOptions { method: Method::Auto, rtol: 1e-6, atol: 1e-9, max_steps: 10_000, blowup: 1e6 }
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
    #[error("the BDF solver failed at t = {t}")]
    BdfFailed { t: f64 },
}

/// What a successful solve did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SolveStats {
    pub steps: usize,
    pub rejected: usize,
    pub rhs_evals: usize,
    /// True when the piece was (finally) integrated with BDF.
    pub used_bdf: bool,
    /// True when `Auto` switched from the explicit method to BDF.
    pub switched: bool,
}
