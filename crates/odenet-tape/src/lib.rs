//! The tape stage: an expression DAG lowered to a flat instruction tape that evaluates
//! f(x; θ, c), ∂f/∂x and ∂f/∂θ into caller-provided buffers, and the right-hand-side trait the
//! solvers integrate.
//!
//! Nothing here allocates after a tape is built.

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
