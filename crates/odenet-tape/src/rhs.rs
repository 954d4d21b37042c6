//! The two right-hand sides the solvers integrate: a template model on a generic tape, and a
//! library model f = Θ·φ(x).

use crate::OdeRhs;
use crate::error::TapeError;
use crate::features::Features;
use crate::tape::Tape;

/// A template model: f(x; p) is the tape's outputs with the experiment's constants bound.
#[derive(Clone, Copy, Debug)]
pub struct TemplateRhs<'a> {
    pub tape: &'a Tape,
    pub consts: &'a [f64],
}

impl<'a> TemplateRhs<'a> {
    /// Binds `consts` to `tape`, checking that there is one value per constant and one output per
    /// state (an ODE right-hand side is square).
    pub fn new(tape: &'a Tape, consts: &'a [f64]) -> Result<TemplateRhs<'a>, TapeError> {
        if consts.len() != tape.nconsts() {
            return Err(TapeError::ConstsLength {
                expected: tape.nconsts(),
                found: consts.len(),
            });
        }
        if tape.noutputs() != tape.nstates() {
            return Err(TapeError::NotSquare {
                noutputs: tape.noutputs(),
                nstates: tape.nstates(),
            });
        }
        Ok(TemplateRhs { tape, consts })
    }
}

impl OdeRhs for TemplateRhs<'_> {
    fn nstates(&self) -> usize {
        self.tape.nstates()
    }

    fn nparams(&self) -> usize {
        self.tape.nparams()
    }

    fn scratch_len(&self) -> usize {
        self.tape.scratch_len()
    }

    fn rhs(&self, x: &[f64], p: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        self.tape.eval(x, p, self.consts, scratch, f);
    }

    fn rhs_jac(
        &self,
        x: &[f64],
        p: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        self.tape.eval_jac(x, p, self.consts, scratch, f, jx, jp);
    }
}

/// A library model f = Θ·φ(x) with p = Θ row-major (nstates × nfeatures):
/// `f_i = Σ_j Θ[i·nf + j]·φ_j`.
#[derive(Clone, Copy, Debug)]
pub struct LibraryRhs<'a> {
    pub features: &'a Features,
}

impl<'a> LibraryRhs<'a> {
    pub fn new(features: &'a Features) -> LibraryRhs<'a> {
        LibraryRhs { features }
    }
}

impl OdeRhs for LibraryRhs<'_> {
    fn nstates(&self) -> usize {
        self.features.nstates()
    }

    fn nparams(&self) -> usize {
        self.features.nstates() * self.features.nfeatures()
    }

    /// φ, ∂φ/∂x and the feature library's own scratch.
    fn scratch_len(&self) -> usize {
        let nf = self.features.nfeatures();
        nf + nf * self.features.nstates() + self.features.scratch_len()
    }

    fn rhs(&self, x: &[f64], p: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        let (ns, nf) = (self.features.nstates(), self.features.nfeatures());
        assert_eq!(p.len(), ns * nf, "p must hold Θ (nstates × nfeatures)");
        assert_eq!(f.len(), ns, "f must have one entry per state");
        assert!(
            scratch.len() >= self.scratch_len(),
            "scratch must hold scratch_len() entries"
        );
        let (phi, rest) = scratch.split_at_mut(nf);
        self.features.eval(x, &mut rest[nf * ns..], phi);
        for (fi, theta) in f.iter_mut().zip(p.chunks_exact(nf)) {
            *fi = dot(theta, phi);
        }
    }

    fn rhs_jac(
        &self,
        x: &[f64],
        p: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        let (ns, nf) = (self.features.nstates(), self.features.nfeatures());
        let npar = ns * nf;
        assert_eq!(p.len(), npar, "p must hold Θ (nstates × nfeatures)");
        assert_eq!(f.len(), ns, "f must have one entry per state");
        assert_eq!(jx.len(), ns * ns, "jx must have nstates × nstates entries");
        assert_eq!(
            jp.len(),
            ns * npar,
            "jp must have nstates × nparams entries"
        );
        assert!(
            scratch.len() >= self.scratch_len(),
            "scratch must hold scratch_len() entries"
        );
        let (phi, rest) = scratch.split_at_mut(nf);
        let (dphi, rest) = rest.split_at_mut(nf * ns);
        self.features.eval_jac(x, rest, phi, dphi);
        jp.fill(0.0);
        for (i, theta) in p.chunks_exact(nf).enumerate() {
            f[i] = dot(theta, phi);
            // ∂f_i/∂x_k = Σ_j Θ_ij ∂φ_j/∂x_k, one column of ∂φ/∂x at a time: independent
            // accumulators, no inner loop over the (short) state dimension.
            for (k, jik) in jx[i * ns..(i + 1) * ns].iter_mut().enumerate() {
                *jik = theta
                    .iter()
                    .zip(dphi[k..].iter().step_by(ns))
                    .map(|(t, d)| t * d)
                    .sum();
            }
            // ∂f_i/∂Θ_kj = δ_ik φ_j: row i holds φ in the block of equation i, zeros elsewhere.
            jp[i * npar + i * nf..i * npar + (i + 1) * nf].copy_from_slice(phi);
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
