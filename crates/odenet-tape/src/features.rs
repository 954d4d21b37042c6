//! Library mode: the candidate features φ(x) of f = Θ·φ(x) and their derivatives.
//!
//! A complete polynomial library is evaluated without a tape: every monomial of degree ≥ 1 is
//! its parent monomial (one degree lower) times one state, so φ costs one multiplication per
//! feature and ∂φ/∂x one multiply per entry plus one add per feature (the product rule applied
//! to that last factor). Extra candidate terms (sin(x), x/(1+x), …) come from a [`Tape`] with no
//! parameters and are appended after the polynomial features.

use std::collections::HashMap;

use crate::error::TapeError;
use crate::tape::Tape;

/// The largest number of polynomial features [`Features::polynomial`] builds. Past this the fit
/// would be hopeless anyway, and the library would take gigabytes.
pub const MAX_FEATURES: usize = 100_000;

/// The exponent vectors of the complete polynomial library of `order` in `nstates` states, in the
/// canonical order: graded by total degree, and within a degree lexicographic with the earlier
/// states' exponents larger first (1; x, y, z; x², xy, xz, y², yz, z²; …).
///
/// There are C(order + nstates, nstates) of them; callers that take the order from users should
/// bound it first (as [`Features::polynomial`] does).
pub fn monomials(nstates: usize, order: u32) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut prefix = Vec::with_capacity(nstates);
    for degree in 0..=order {
        push_degree(nstates, degree, &mut prefix, &mut out);
    }
    out
}

/// Appends every exponent vector that extends `prefix` to `nstates` entries summing to
/// `prefix`'s sum plus `remaining`, in descending lexicographic order.
fn push_degree(nstates: usize, remaining: u32, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
    let left = nstates - prefix.len();
    match left {
        0 => {
            if remaining == 0 {
                out.push(prefix.clone());
            }
        }
        1 => {
            prefix.push(remaining);
            out.push(prefix.clone());
            prefix.pop();
        }
        _ => {
            for e in (0..=remaining).rev() {
                prefix.push(e);
                push_degree(nstates, remaining - e, prefix, out);
                prefix.pop();
            }
        }
    }
}

/// The number of monomials of degree ≤ `order` in `nstates` states, C(order + n, n), saturating.
fn count_monomials(nstates: usize, order: u32) -> u128 {
    // C(order + n, n) = Π_{i=1..n} (order + i) / i, exact at every step.
    let mut c: u128 = 1;
    for i in 1..=nstates as u128 {
        c = match c.checked_mul(u128::from(order) + i) {
            Some(v) => v / i,
            None => return u128::MAX,
        };
        if c > MAX_FEATURES as u128 {
            return c;
        }
    }
    c
}

/// A feature library φ(x): a complete polynomial library plus optional extra terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    nstates: usize,
    order: u32,
    exponents: Vec<Vec<u32>>,
    /// For polynomial feature j ≥ 1: φ_j = φ_{parent} · x_{state}.
    steps: Vec<(u32, u32)>,
    extra: Option<Tape>,
}

impl Features {
    /// The complete polynomial library of `order` in `nstates` states (C(order + n, n) features,
    /// the constant 1 first), in the canonical order of [`monomials`].
    pub fn polynomial(nstates: usize, order: u32) -> Result<Features, TapeError> {
        let count = count_monomials(nstates, order);
        if count > MAX_FEATURES as u128 {
            return Err(TapeError::TooManyFeatures {
                nstates,
                order,
                count,
                max: MAX_FEATURES,
            });
        }
        let exponents = monomials(nstates, order);
        let index: HashMap<&[u32], usize> = exponents
            .iter()
            .enumerate()
            .map(|(j, e)| (e.as_slice(), j))
            .collect();
        let mut steps = Vec::with_capacity(exponents.len().saturating_sub(1));
        let mut parent = vec![0u32; nstates];
        for e in exponents.iter().skip(1) {
            // Peel off the last state that occurs; its parent has a lower degree, so it comes
            // earlier in the graded order and is computed first.
            let Some(s) = e.iter().rposition(|&k| k > 0) else {
                continue;
            };
            parent.copy_from_slice(e);
            parent[s] -= 1;
            if let Some(&j) = index.get(parent.as_slice()) {
                steps.push((j as u32, s as u32));
            }
        }
        Ok(Features {
            nstates,
            order,
            exponents,
            steps,
            extra: None,
        })
    }

    /// Appends the outputs of `tape` as extra features after the polynomial ones. The tape must
    /// be compiled for the same states, with no parameters and no constants.
    pub fn with_extra(mut self, tape: Tape) -> Result<Features, TapeError> {
        if tape.nstates() != self.nstates {
            return Err(TapeError::ExtraStateMismatch {
                expected: self.nstates,
                found: tape.nstates(),
            });
        }
        if tape.nparams() != 0 {
            return Err(TapeError::ExtraHasParams {
                found: tape.nparams(),
            });
        }
        if tape.nconsts() != 0 {
            return Err(TapeError::ExtraHasConsts {
                found: tape.nconsts(),
            });
        }
        self.extra = Some(tape);
        Ok(self)
    }

    pub fn nstates(&self) -> usize {
        self.nstates
    }

    /// The polynomial order the library was built with.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// The exponent vectors of the polynomial features, in feature order.
    pub fn exponents(&self) -> &[Vec<u32>] {
        &self.exponents
    }

    /// The number of polynomial features (the extra ones follow them).
    pub fn npolynomial(&self) -> usize {
        self.exponents.len()
    }

    /// The number of extra features.
    pub fn nextra(&self) -> usize {
        self.extra.as_ref().map_or(0, Tape::noutputs)
    }

    pub fn nfeatures(&self) -> usize {
        self.npolynomial() + self.nextra()
    }

    pub fn scratch_len(&self) -> usize {
        self.extra.as_ref().map_or(0, Tape::scratch_len)
    }

    /// φ(x) into `phi` (length [`Features::nfeatures`]).
    ///
    /// # Panics
    /// When a buffer length disagrees with the library (a programming error).
    pub fn eval(&self, x: &[f64], scratch: &mut [f64], phi: &mut [f64]) {
        assert_eq!(x.len(), self.nstates, "x must have one entry per state");
        assert_eq!(
            phi.len(),
            self.nfeatures(),
            "phi must have one entry per feature"
        );
        let np = self.npolynomial();
        let (poly, extra) = phi.split_at_mut(np);
        if let Some(first) = poly.first_mut() {
            *first = 1.0;
        }
        for (j, &(parent, s)) in self.steps.iter().enumerate() {
            debug_assert!((parent as usize) < j + 1);
            poly[j + 1] = poly[parent as usize] * x[s as usize];
        }
        if let Some(tape) = &self.extra {
            tape.eval(x, &[], &[], scratch, extra);
        }
    }

    /// φ(x) into `phi` and ∂φ/∂x into `dphi` (row-major nfeatures × nstates:
    /// `dphi[j*nstates + k] = ∂φ_j/∂x_k`).
    ///
    /// # Panics
    /// When a buffer length disagrees with the library (a programming error).
    pub fn eval_jac(&self, x: &[f64], scratch: &mut [f64], phi: &mut [f64], dphi: &mut [f64]) {
        let ns = self.nstates;
        assert_eq!(x.len(), ns, "x must have one entry per state");
        assert_eq!(
            phi.len(),
            self.nfeatures(),
            "phi must have one entry per feature"
        );
        assert_eq!(
            dphi.len(),
            self.nfeatures() * ns,
            "dphi must have nfeatures × nstates entries"
        );
        let np = self.npolynomial();
        let (poly, extra) = phi.split_at_mut(np);
        let (dpoly, dextra) = dphi.split_at_mut(np * ns);
        if let Some(first) = poly.first_mut() {
            *first = 1.0;
            dpoly[..ns].fill(0.0);
        }
        for (j, &(parent, s)) in self.steps.iter().enumerate() {
            let (j, parent, s) = (j + 1, parent as usize, s as usize);
            let xs = x[s];
            poly[j] = poly[parent] * xs;
            // ∂(φ_parent · x_s)/∂x_k = ∂φ_parent/∂x_k · x_s + φ_parent · δ_ks.
            let (done, rest) = dpoly.split_at_mut(j * ns);
            let prow = &done[parent * ns..(parent + 1) * ns];
            let row = &mut rest[..ns];
            for (r, &d) in row.iter_mut().zip(prow) {
                *r = d * xs;
            }
            row[s] += poly[parent];
        }
        if let Some(tape) = &self.extra {
            tape.eval_jac(x, &[], &[], scratch, extra, dextra, &mut []);
        }
    }
}
