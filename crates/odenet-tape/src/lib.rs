//! The tape stage: an expression DAG lowered to a flat instruction tape that evaluates
//! f(x; θ, c), ∂f/∂x and ∂f/∂θ into caller-provided buffers, and the right-hand-side trait the
//! solvers integrate.
//!
//! Nothing here allocates after a tape is built.
//!
//! - [`Tape`]: a generic DAG lowered to flat instructions; f and reverse-mode ∂f/∂x, ∂f/∂p.
//! - [`Features`]: the feature library φ(x) of library mode (complete polynomials plus extra
//!   terms from a parameter-free tape) and ∂φ/∂x.
//! - [`TemplateRhs`] and [`LibraryRhs`]: the two [`OdeRhs`] implementations the solvers use.

mod error;
mod features;
mod rhs;
mod tape;

pub use error::TapeError;
pub use features::{Features, MAX_FEATURES, monomials};
pub use rhs::{LibraryRhs, TemplateRhs};
pub use tape::Tape;

/// The right-hand side of an autonomous ODE system dx/dt = f(x; p), as the solvers see it.
///
/// Implementations write into caller buffers and never allocate. `scratch` has at least
/// [`OdeRhs::scratch_len`] entries.
pub trait OdeRhs: Sync {
    fn nstates(&self) -> usize;
    fn nparams(&self) -> usize;
    fn scratch_len(&self) -> usize;
    /// f(x; p) into `f` (length nstates).
    fn rhs(&self, x: &[f64], p: &[f64], scratch: &mut [f64], f: &mut [f64]);
    /// f, ∂f/∂x (row-major nstates × nstates: `jx[i*n + j] = ∂f_i/∂x_j`) and ∂f/∂p (row-major
    /// nstates × nparams: `jp[i*np + k] = ∂f_i/∂p_k`).
    fn rhs_jac(
        &self,
        x: &[f64],
        p: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    );
}
