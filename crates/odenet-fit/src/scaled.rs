//! The model as the optimiser sees it: states and time scaled to unit size, parameters
//! normalised so that a unit change of any parameter moves the scaled right-hand side by about
//! one, and only the active (free, not pruned) parameters exposed.
//!
//! Scaling makes μ and γ mean the same on any data and keeps L-BFGS well conditioned; the
//! reduction to active parameters makes the sensitivity equations as small as the model.

use std::collections::HashMap;

use odenet_tape::{Features, OdeRhs};

use crate::model::{CompiledModel, ModelKind, ModelRhs};

/// Fixed scales of one fit.
#[derive(Clone, Debug)]
pub struct Scales {
    /// Per state: x = sx · x_scaled.
    pub sx: Vec<f64>,
    /// t = st · t_scaled.
    pub st: f64,
    /// Per parameter: p_user = pscale · p_normalised.
    pub pscale: Vec<f64>,
}

impl Scales {
    /// The full parameter vector in user units: the active coordinates at their normalised
    /// values `q` (p = pscale · q), every other parameter taken from `base`.
    pub fn user(&self, base: &[f64], active: &[usize], q: &[f64]) -> Vec<f64> {
        let mut p = base.to_vec();
        for (&k, &v) in active.iter().zip(q) {
            p[k] = v * self.pscale[k];
        }
        p
    }

    /// The normalised values of the `active` coordinates of `p` (user units).
    pub fn normalised(&self, p: &[f64], active: &[usize]) -> Vec<f64> {
        active.iter().map(|&k| p[k] / self.pscale[k]).collect()
    }
}

/// dx_s/dt_s = (st / sx) ⊙ f(sx ⊙ x_s; p_user), with p_user[active[k]] = pscale · q[k] and every
/// other entry taken from `base` (user units).
///
/// A state in `nonneg` (the model is undefined below zero in it: a fractional power, a square
/// root, a logarithm) is read as max(x, 0): the model extended continuously past the edge of its
/// domain, so that a trial trajectory dipping below zero (a noisy start, a poor parameter) stays
/// defined and is judged by the data instead of failing.
pub struct ScaledRhs<'a> {
    pub inner: ModelRhs<'a>,
    pub scales: &'a Scales,
    pub base: &'a [f64],
    pub active: &'a [usize],
    /// Per state: read as max(x, 0) (empty: none).
    pub nonneg: &'a [bool],
}

impl ScaledRhs<'_> {
    fn split<'s>(
        &self,
        scratch: &'s mut [f64],
    ) -> (&'s mut [f64], &'s mut [f64], &'s mut [f64], &'s mut [f64]) {
        let n = self.scales.sx.len();
        let npf = self.base.len();
        let (inner, rest) = scratch.split_at_mut(self.inner.scratch_len());
        let (xu, rest) = rest.split_at_mut(n);
        let (pu, rest) = rest.split_at_mut(npf);
        let (jpf, _) = rest.split_at_mut(n * npf);
        (inner, xu, pu, jpf)
    }

    /// State `j` is read as zero at `x` (a state in `nonneg` below zero).
    fn clamped(&self, x: &[f64], j: usize) -> bool {
        x[j] < 0.0 && self.nonneg.get(j).copied().unwrap_or(false)
    }

    fn user_point(&self, x: &[f64], q: &[f64], xu: &mut [f64], pu: &mut [f64]) {
        for (j, (u, (&xs, &s))) in xu.iter_mut().zip(x.iter().zip(&self.scales.sx)).enumerate() {
            *u = if self.clamped(x, j) { 0.0 } else { xs * s };
        }
        pu.copy_from_slice(self.base);
        for (&k, &v) in self.active.iter().zip(q) {
            pu[k] = v * self.scales.pscale[k];
        }
    }
}

impl OdeRhs for ScaledRhs<'_> {
    fn nstates(&self) -> usize {
        self.scales.sx.len()
    }

    fn nparams(&self) -> usize {
        self.active.len()
    }

    fn scratch_len(&self) -> usize {
        let n = self.scales.sx.len();
        let npf = self.base.len();
        self.inner.scratch_len() + n + npf + n * npf
    }

    fn rhs(&self, x: &[f64], q: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        let (inner, xu, pu, _) = self.split(scratch);
        self.user_point(x, q, xu, pu);
        self.inner.rhs(xu, pu, inner, f);
        for (fi, &s) in f.iter_mut().zip(&self.scales.sx) {
            *fi *= self.scales.st / s;
        }
    }

    fn rhs_jac(
        &self,
        x: &[f64],
        q: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        let n = self.scales.sx.len();
        let npf = self.base.len();
        let na = self.active.len();
        let (inner, xu, pu, jpf) = self.split(scratch);
        self.user_point(x, q, xu, pu);
        self.inner.rhs_jac(xu, pu, inner, f, jx, jpf);
        let sx = &self.scales.sx;
        for i in 0..n {
            let r = self.scales.st / sx[i];
            f[i] *= r;
            for j in 0..n {
                jx[i * n + j] = if self.clamped(x, j) {
                    0.0
                } else {
                    jx[i * n + j] * r * sx[j]
                };
            }
            for (k, &a) in self.active.iter().enumerate() {
                jp[i * na + k] = jpf[i * npf + a] * r * self.scales.pscale[a];
            }
        }
    }
}

/// One term of a library model's scaled right-hand side: f_i += weight · φ_j(sx ⊙ x).
#[derive(Clone, Copy, Debug)]
struct Term {
    /// Equation.
    i: usize,
    /// Feature.
    j: usize,
    /// st/sx_i · pscale_k for an active coordinate k (its weight is gain · q_k), or st/sx_i · p
    /// (the weight itself) for a fixed parameter.
    gain: f64,
}

/// A library model's parameters as the scaled right-hand side uses them, arranged so that every
/// output is one short dot product (no accumulation through memory).
#[derive(Clone, Debug)]
pub struct LibraryLayout {
    /// The active coordinates' terms in order, then the inactive parameters with a non-zero
    /// value.
    terms: Vec<Term>,
    nactive: usize,
    /// Per equation i, `eq_terms[eq_ranges[i].0..eq_ranges[i].1]` are its terms (term, feature).
    eq_terms: Vec<(usize, usize)>,
    eq_ranges: Vec<(usize, usize)>,
    /// Polynomial libraries without extra features: ∂f_i/∂x_m (scaled) = Σ weight_t · c · φ_p
    /// over the entries (t, p, c) of pair (i, m) (row-major), with φ_p the feature one degree
    /// lower and c = exponent · sx_m. So ∂f/∂x needs no ∂φ/∂x. Empty with extra features.
    jx_entries: Vec<(usize, usize, f64)>,
    jx_ranges: Vec<(usize, usize)>,
    polynomial: bool,
}

impl LibraryLayout {
    /// The layout of a library model with `base` (user units) and the `active` coordinates;
    /// None for a template model.
    pub fn new(
        model: &CompiledModel,
        scales: &Scales,
        base: &[f64],
        active: &[usize],
    ) -> Option<LibraryLayout> {
        let ModelKind::Library { features, .. } = &model.kind else {
            return None;
        };
        let n = features.nstates();
        let nf = features.nfeatures();
        let term = |a: usize, gain: f64| -> Term {
            let i = a / nf;
            Term {
                i,
                j: a % nf,
                gain: scales.st / scales.sx[i] * gain,
            }
        };
        let mut is_active = vec![false; base.len()];
        let mut terms = Vec::with_capacity(active.len());
        for &a in active {
            is_active[a] = true;
            terms.push(term(a, scales.pscale[a]));
        }
        for (a, &v) in base.iter().enumerate() {
            if !is_active[a] && v != 0.0 {
                terms.push(term(a, v));
            }
        }
        let mut eq_terms = Vec::with_capacity(terms.len());
        let mut eq_ranges = Vec::with_capacity(n);
        for i in 0..n {
            let start = eq_terms.len();
            eq_terms.extend(
                (0..terms.len())
                    .filter(|&t| terms[t].i == i)
                    .map(|t| (t, terms[t].j)),
            );
            eq_ranges.push((start, eq_terms.len()));
        }
        let polynomial = features.nextra() == 0;
        let mut jx_entries = Vec::new();
        let mut jx_ranges = Vec::with_capacity(n * n);
        if polynomial {
            let exps = features.exponents();
            let index: HashMap<&[u32], usize> = exps
                .iter()
                .enumerate()
                .map(|(j, e)| (e.as_slice(), j))
                .collect();
            let mut lower = Vec::with_capacity(n);
            for &(s0, s1) in &eq_ranges {
                for m in 0..n {
                    let start = jx_entries.len();
                    for &(t, j) in &eq_terms[s0..s1] {
                        let e = &exps[j];
                        if e[m] == 0 {
                            continue;
                        }
                        lower.clear();
                        lower.extend_from_slice(e);
                        lower[m] -= 1;
                        if let Some(&p) = index.get(lower.as_slice()) {
                            jx_entries.push((t, p, f64::from(e[m]) * scales.sx[m]));
                        }
                    }
                    jx_ranges.push((start, jx_entries.len()));
                }
            }
        }
        Some(LibraryLayout {
            terms,
            nactive: active.len(),
            eq_terms,
            eq_ranges,
            jx_entries,
            jx_ranges,
            polynomial,
        })
    }
}

/// The scaled right-hand side of a library model evaluated from its terms only (no full
/// parameter vector, no dense ∂f/∂p of every library coefficient, and for polynomial libraries
/// no ∂φ/∂x): the same function as [`ScaledRhs`], far cheaper per call. With `bound` the active
/// values are fixed and the right-hand side has no parameters (for the initial-value profiling).
pub struct LibraryScaledRhs<'a> {
    pub features: &'a Features,
    pub sx: &'a [f64],
    pub layout: &'a LibraryLayout,
    pub bound: Option<&'a [f64]>,
}

/// Scratch of [`LibraryScaledRhs`]: user-unit state, features, their derivatives (extra
/// features only), term weights, and the features' own scratch.
struct LibScratch<'s> {
    xu: &'s mut [f64],
    phi: &'s mut [f64],
    dphi: &'s mut [f64],
    w: &'s mut [f64],
    fs: &'s mut [f64],
}

impl LibraryScaledRhs<'_> {
    fn split<'s>(&self, scratch: &'s mut [f64]) -> LibScratch<'s> {
        let n = self.sx.len();
        let nf = self.features.nfeatures();
        let (xu, rest) = scratch.split_at_mut(n);
        let (phi, rest) = rest.split_at_mut(nf);
        let (dphi, rest) = rest.split_at_mut(if self.layout.polynomial { 0 } else { nf * n });
        let (w, rest) = rest.split_at_mut(self.layout.terms.len());
        LibScratch {
            xu,
            phi,
            dphi,
            w,
            fs: &mut rest[..self.features.scratch_len()],
        }
    }

    /// The user-unit state and every term's weight.
    fn prepare(&self, x: &[f64], q: &[f64], sc: &mut LibScratch) {
        for ((u, &v), &s) in sc.xu.iter_mut().zip(x).zip(self.sx) {
            *u = v * s;
        }
        let q = self.bound.unwrap_or(q);
        let na = self.layout.nactive;
        for ((w, t), &v) in sc.w[..na].iter_mut().zip(&self.layout.terms).zip(q) {
            *w = t.gain * v;
        }
        for (w, t) in sc.w[na..].iter_mut().zip(&self.layout.terms[na..]) {
            *w = t.gain;
        }
    }

    /// f_i = Σ weight · φ over equation i's terms.
    fn values(&self, sc: &LibScratch, f: &mut [f64]) {
        let l = self.layout;
        for (fi, &(s0, s1)) in f.iter_mut().zip(&l.eq_ranges) {
            let mut acc = 0.0;
            for &(t, j) in &l.eq_terms[s0..s1] {
                acc += sc.w[t] * sc.phi[j];
            }
            *fi = acc;
        }
    }
}

impl OdeRhs for LibraryScaledRhs<'_> {
    fn nstates(&self) -> usize {
        self.sx.len()
    }

    fn nparams(&self) -> usize {
        if self.bound.is_some() {
            0
        } else {
            self.layout.nactive
        }
    }

    fn scratch_len(&self) -> usize {
        let n = self.sx.len();
        let nf = self.features.nfeatures();
        let dphi = if self.layout.polynomial { 0 } else { nf * n };
        n + nf + dphi + self.layout.terms.len() + self.features.scratch_len()
    }

    fn rhs(&self, x: &[f64], q: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        let mut sc = self.split(scratch);
        self.prepare(x, q, &mut sc);
        self.features.eval(sc.xu, sc.fs, sc.phi);
        self.values(&sc, f);
    }

    fn rhs_jac(
        &self,
        x: &[f64],
        q: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        let n = self.sx.len();
        let l = self.layout;
        let mut sc = self.split(scratch);
        self.prepare(x, q, &mut sc);
        if l.polynomial {
            self.features.eval(sc.xu, sc.fs, sc.phi);
            for (o, &(e0, e1)) in jx.iter_mut().zip(&l.jx_ranges) {
                let mut acc = 0.0;
                for &(t, p, c) in &l.jx_entries[e0..e1] {
                    acc += sc.w[t] * c * sc.phi[p];
                }
                *o = acc;
            }
        } else {
            self.features.eval_jac(sc.xu, sc.fs, sc.phi, sc.dphi);
            for (i, &(s0, s1)) in l.eq_ranges.iter().enumerate() {
                for m in 0..n {
                    let mut acc = 0.0;
                    for &(t, j) in &l.eq_terms[s0..s1] {
                        acc += sc.w[t] * sc.dphi[j * n + m];
                    }
                    jx[i * n + m] = acc * self.sx[m];
                }
            }
        }
        self.values(&sc, f);
        if self.bound.is_none() {
            let na = l.nactive;
            jp.fill(0.0);
            for (k, t) in l.terms[..na].iter().enumerate() {
                jp[t.i * na + k] = t.gain * sc.phi[t.j];
            }
        }
    }
}

/// The scaled right-hand side an evaluator integrates: the library fast path or the general one.
pub enum PieceRhs<'a> {
    Library(LibraryScaledRhs<'a>),
    General(ScaledRhs<'a>),
}

impl OdeRhs for PieceRhs<'_> {
    fn nstates(&self) -> usize {
        match self {
            PieceRhs::Library(r) => r.nstates(),
            PieceRhs::General(r) => r.nstates(),
        }
    }
    fn nparams(&self) -> usize {
        match self {
            PieceRhs::Library(r) => r.nparams(),
            PieceRhs::General(r) => r.nparams(),
        }
    }
    fn scratch_len(&self) -> usize {
        match self {
            PieceRhs::Library(r) => r.scratch_len(),
            PieceRhs::General(r) => r.scratch_len(),
        }
    }
    fn rhs(&self, x: &[f64], q: &[f64], scratch: &mut [f64], f: &mut [f64]) {
        match self {
            PieceRhs::Library(r) => r.rhs(x, q, scratch, f),
            PieceRhs::General(r) => r.rhs(x, q, scratch, f),
        }
    }
    fn rhs_jac(
        &self,
        x: &[f64],
        q: &[f64],
        scratch: &mut [f64],
        f: &mut [f64],
        jx: &mut [f64],
        jp: &mut [f64],
    ) {
        match self {
            PieceRhs::Library(r) => r.rhs_jac(x, q, scratch, f, jx, jp),
            PieceRhs::General(r) => r.rhs_jac(x, q, scratch, f, jx, jp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library fast path evaluates the same function and derivatives as the general one,
    /// with and without extra features, with active, pruned and fixed non-zero parameters, and
    /// with the parameters bound.
    #[test]
    fn library_fast_path_matches_general() {
        let states: Vec<String> = ["x1", "x2", "x3"].iter().map(|s| s.to_string()).collect();
        let hidden = vec![false; 3];
        for extra in [
            vec![],
            vec![odenet_spec::parse_expr("x1/(1+x2^2)").expect("expr")],
        ] {
            let model =
                CompiledModel::library("t", &states, &hidden, &[], 2, &extra).expect("model");
            let npf = model.nparams();
            let scales = Scales {
                sx: vec![2.0, 0.5, 3.0],
                st: 0.7,
                pscale: (0..npf).map(|k| 0.5 + 0.1 * k as f64).collect(),
            };
            // Every third parameter inactive; of those, every other one has a value.
            let active: Vec<usize> = (0..npf).filter(|k| k % 3 != 0).collect();
            let base: Vec<f64> = (0..npf)
                .map(|k| {
                    if k % 6 == 0 {
                        0.3 - 0.05 * k as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let q: Vec<f64> = (0..active.len()).map(|k| (k as f64 * 0.9).sin()).collect();
            let x = [0.4, -0.7, 1.1];
            let n = 3;
            let na = active.len();
            let general = ScaledRhs {
                inner: model.rhs(&[]),
                scales: &scales,
                base: &base,
                active: &active,
                nonneg: &[],
            };
            let layout = LibraryLayout::new(&model, &scales, &base, &active).expect("library");
            let ModelKind::Library { features, .. } = &model.kind else {
                unreachable!()
            };
            let fast = LibraryScaledRhs {
                features,
                sx: &scales.sx,
                layout: &layout,
                bound: None,
            };
            let close = |a: &[f64], b: &[f64]| {
                for (u, v) in a.iter().zip(b) {
                    assert!((u - v).abs() <= 1e-12 * (1.0 + u.abs()), "{a:?} vs {b:?}");
                }
            };
            let run = |r: &dyn OdeRhs, q: &[f64], np: usize| {
                let mut scratch = vec![0.0; r.scratch_len()];
                let (mut f, mut jx, mut jp) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * np]);
                r.rhs_jac(&x, q, &mut scratch, &mut f, &mut jx, &mut jp);
                let mut f2 = vec![0.0; n];
                r.rhs(&x, q, &mut scratch, &mut f2);
                (f, jx, jp, f2)
            };
            let (f, jx, jp, f2) = run(&general, &q, na);
            let (g, gx, gp, g2) = run(&fast, &q, na);
            assert!(f.iter().all(|v| v.abs() > 1e-3) && jx.iter().any(|v| v.abs() > 1e-3));
            close(&f, &g);
            close(&jx, &gx);
            close(&jp, &gp);
            close(&f2, &g2);
            // Bound: the parameters are the evaluator's full vector.
            let mut full = base.clone();
            for (&k, &v) in active.iter().zip(&q) {
                full[k] = v * scales.pscale[k];
            }
            let general0 = ScaledRhs {
                inner: model.rhs(&[]),
                scales: &scales,
                base: &full,
                active: &[],
                nonneg: &[],
            };
            let fast0 = LibraryScaledRhs {
                bound: Some(&q),
                ..fast
            };
            assert_eq!(fast0.nparams(), 0);
            let (f, jx, _, f2) = run(&general0, &[], 0);
            let (g, gx, _, g2) = run(&fast0, &[], 0);
            close(&f, &g);
            close(&jx, &gx);
            close(&f2, &g2);
        }
    }
}
