//! Sparser equivalents under conservation laws. A relation among the states (A − B = c) takes
//! one of its states out of the library, and the model found in the reduced library may have a
//! sparser equivalent in the full one: on the data, c·A − A² and −A·B are the same function.
//! Each equation of the best candidate is mapped back: every full-library monomial is expanded
//! in the kept states (the eliminated ones substituted from the relations), and the smallest
//! sets of monomials whose expansions combine to the equation are proposed. The proposals are
//! refitted on the data and scored with the other candidates, so the criterion decides (an
//! equivalent with fewer terms fits as well and pays less penalty).

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};

use crate::degeneracy::Relation;
use crate::fit::Control;
use crate::model::ModelKind;
use crate::regression::{for_each_subset, subset_count};
use crate::support::Support;

use super::pool::Pool;
use super::scorer::Scorer;

/// A proposal must reproduce the equation to this fraction of its size, with each monomial
/// weighted by its typical magnitude on the data (the refit and the criterion then decide).
const PROPOSAL_TOL: f64 = 1e-3;
/// Sparser representations are searched up to this many terms per equation …
const MAX_TERMS: usize = 4;
/// … and this many column subsets per equation.
const MAX_SUBSETS: usize = 60_000;

/// A polynomial in the states: exponent vector → coefficient.
type Poly = BTreeMap<Vec<u32>, f64>;

fn monomial(exponents: Vec<u32>, c: f64) -> Poly {
    Poly::from([(exponents, c)])
}

fn mul(a: &Poly, b: &Poly) -> Poly {
    let mut out = Poly::new();
    for (ea, ca) in a {
        for (eb, cb) in b {
            let e: Vec<u32> = ea.iter().zip(eb).map(|(x, y)| x + y).collect();
            *out.entry(e).or_insert(0.0) += ca * cb;
        }
    }
    out
}

/// Each eliminated state as an affine polynomial in the kept ones (solving the relations for
/// the eliminated states); None when the relations cannot be solved for them.
fn substitution(relations: &[Relation], n: usize) -> Option<Vec<Option<Poly>>> {
    let r = relations.len();
    let elim: Vec<usize> = relations.iter().map(|rel| rel.eliminated).collect();
    let a = DMatrix::from_fn(r, r, |i, s| relations[i].coefficients[elim[s]]);
    let inv = a.try_inverse()?;
    let mut out: Vec<Option<Poly>> = vec![None; n];
    for (s, &e) in elim.iter().enumerate() {
        let mut p = Poly::new();
        for (i, rel) in relations.iter().enumerate() {
            let w = inv[(s, i)];
            *p.entry(vec![0; n]).or_insert(0.0) += w * rel.constant;
            for (k, &c) in rel.coefficients.iter().enumerate() {
                if !elim.contains(&k) {
                    let mut ex = vec![0; n];
                    ex[k] = 1;
                    *p.entry(ex).or_insert(0.0) -= w * c;
                }
            }
        }
        out[e] = Some(p);
    }
    Some(out)
}

/// The expansion of monomial `exponents` in the kept states.
fn expand(exponents: &[u32], subst: &[Option<Poly>]) -> Poly {
    let n = exponents.len();
    let mut p = monomial(vec![0; n], 1.0);
    for (i, &k) in exponents.iter().enumerate() {
        let factor = match &subst[i] {
            Some(s) => s.clone(),
            None => {
                let mut e = vec![0; n];
                e[i] = 1;
                monomial(e, 1.0)
            }
        };
        for _ in 0..k {
            p = mul(&p, &factor);
        }
    }
    p
}

/// The least-squares fit of `target` by the columns `cols` of `m` (rows already weighted):
/// (coefficients, residual norm).
fn least_squares(m: &DMatrix<f64>, cols: &[usize], target: &DVector<f64>) -> (Vec<f64>, f64) {
    let sub = m.select_columns(cols);
    let svd = sub.clone().svd(true, true);
    match svd.solve(target, 1e-12) {
        Ok(x) => {
            let res = (&sub * &x - target).norm();
            (x.iter().copied().collect(), res)
        }
        Err(_) => (Vec::new(), f64::INFINITY),
    }
}

/// The sparsest full-library equivalents of the best candidate's equations, refitted and added
/// to the pool. Returns how many candidates were added.
pub(super) fn sparser_equivalents(
    scorer: &Scorer,
    pool: &mut Pool,
    relations: &[Relation],
    control: &Control,
) -> usize {
    let prob = &scorer.prob;
    let model = prob.model;
    let ModelKind::Library { exponents, .. } = &model.kind else {
        return 0;
    };
    let n = model.states.len();
    let nf = model.nfeatures();
    let (Some(b), Some(subst)) = (pool.best(), substitution(relations, n)) else {
        return 0;
    };
    // Columns: the polynomial features that are free and sparse in every equation's library.
    let feature_free = |i: usize, j: usize| {
        let k = i * nf + j;
        prob.free.contains(&k) && model.params[k].sparse
    };
    let polys: Vec<Option<Poly>> = (0..nf)
        .map(|j| exponents.get(j).map(|e| expand(e, &subst)))
        .collect();
    // Rows: the monomials of the kept states the expansions reach, weighted by their
    // root-mean-square over the observations.
    let mut rows: Vec<Vec<u32>> = polys
        .iter()
        .flatten()
        .flat_map(|p| p.keys().cloned())
        .collect();
    rows.sort();
    rows.dedup();
    let obs: Vec<&Vec<f64>> = prob.rows.iter().flatten().flatten().collect();
    if obs.is_empty() {
        return 0;
    }
    // The root-mean-square of a monomial over the observations (user units).
    let rms = |e: &[u32]| {
        let ms = obs
            .iter()
            .map(|x| {
                let v: f64 = e
                    .iter()
                    .zip(x.iter().zip(&prob.scales.sx))
                    .map(|(&k, (&xi, &sx))| (xi * sx).powi(k as i32))
                    .product();
                v * v
            })
            .sum::<f64>()
            / obs.len() as f64;
        ms.sqrt().max(f64::MIN_POSITIVE)
    };
    let weight: Vec<f64> = rows.iter().map(|e| rms(e)).collect();
    let row_of = |e: &Vec<u32>| rows.binary_search(e).ok();
    let best = pool.cands[b].support.clone();
    let user = prob.scales.user(&scorer.base, &best.active, &best.q);
    let mut rewritten: Vec<(usize, Vec<usize>, Vec<f64>)> = Vec::new();
    for i in 0..n {
        let cols: Vec<usize> = (0..nf)
            .filter(|&j| polys[j].is_some() && feature_free(i, j))
            .collect();
        let terms: Vec<usize> = best
            .active
            .iter()
            .copied()
            .filter(|&k| k / nf == i)
            .collect();
        // Extra (non-polynomial) terms cannot be rewritten; neither can an equation of one term.
        if terms.len() < 2 || terms.iter().any(|&k| polys[k % nf].is_none()) {
            continue;
        }
        let mut target = DVector::zeros(rows.len());
        for &k in &terms {
            for (e, c) in polys[k % nf].as_ref().expect("polynomial") {
                if let Some(r) = row_of(e) {
                    target[r] += weight[r] * user[k] * c;
                }
            }
        }
        let m = DMatrix::from_fn(rows.len(), cols.len(), |r, c| {
            weight[r]
                * polys[cols[c]]
                    .as_ref()
                    .expect("polynomial")
                    .get(&rows[r])
                    .copied()
                    .unwrap_or(0.0)
        });
        let size = target.norm();
        if size <= 0.0 {
            continue;
        }
        let mut found: Option<(Vec<usize>, Vec<f64>, f64)> = None;
        for s in 1..terms.len().min(MAX_TERMS + 1) {
            if subset_count(cols.len(), s) > MAX_SUBSETS {
                break;
            }
            for_each_subset(cols.len(), s, &mut |idx| {
                let (x, res) = least_squares(&m, idx, &target);
                if res <= PROPOSAL_TOL * size && found.as_ref().is_none_or(|f| res < f.2) {
                    found = Some((idx.iter().map(|&c| i * nf + cols[c]).collect(), x, res));
                }
                !control.cancelled()
            });
            if found.is_some() {
                break;
            }
        }
        if let Some((ks, vs, res)) = found {
            tracing::debug!(
                equation = i,
                terms = ks.len(),
                was = terms.len(),
                residual = res / size,
                "sparser equivalent"
            );
            rewritten.push((i, ks, vs));
        }
    }
    if rewritten.is_empty() {
        return 0;
    }
    // Candidates: every equation rewritten, and (when several are) each one alone.
    let mut variants: Vec<Vec<usize>> = vec![(0..rewritten.len()).collect()];
    if rewritten.len() > 1 {
        variants.extend((0..rewritten.len()).map(|r| vec![r]));
    }
    // A conservation law of the data holds in the model identically, not only on the data's
    // manifold: Σ_i a_i f_i(x) is zero for every x. A rewrite of some equations alone can break
    // that (equal on the data, it drives the conserved quantity off the law from any start off
    // it), so a variant may not violate the laws more than the model it rewrites.
    let defect = |active: &[usize], p: &[f64]| {
        let mut worst = 0.0f64;
        let mut size = 0.0f64;
        for (k, v) in active.iter().map(|&k| (k, p[k])) {
            if let Some(e) = exponents.get(k % nf) {
                size += (v * rms(e)).powi(2);
            }
        }
        for rel in relations {
            let mut d = Poly::new();
            for &k in active {
                if let Some(e) = exponents.get(k % nf) {
                    *d.entry(e.clone()).or_insert(0.0) += rel.coefficients[k / nf] * p[k];
                }
            }
            let norm: f64 = d.iter().map(|(e, c)| (c * rms(e)).powi(2)).sum();
            worst = worst.max(norm);
        }
        (worst / size.max(f64::MIN_POSITIVE)).sqrt()
    };
    let allowed = 2.0 * defect(&best.active, &user) + PROPOSAL_TOL;
    let mut added = 0;
    for v in variants {
        let mut p = user.clone();
        let mut active: Vec<usize> = best.active.clone();
        for &r in &v {
            let (i, ks, vs) = &rewritten[r];
            active.retain(|&k| k / nf != *i);
            for (&k, &x) in ks.iter().zip(vs) {
                active.push(k);
                p[k] = x;
            }
        }
        active.sort_unstable();
        let d = defect(&active, &p);
        tracing::debug!(defect = d, allowed, terms = active.len(), "sparser variant");
        if pool.contains(&active) || d > allowed {
            continue;
        }
        let q = prob.scales.normalised(&p, &active);
        let c = scorer.refit(
            &Support::new(active, q),
            f64::NAN,
            pool.abandon_level(),
            control,
        );
        pool.cands.push(c);
        added += 1;
    }
    pool.rescore(scorer);
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_and_expansion_follow_the_relation() {
        // A − B = 0.3, B eliminated: B = A − 0.3, so A·B = A² − 0.3·A.
        let rel = Relation {
            coefficients: vec![1.0, -1.0],
            constant: 0.3,
            residual: 0.0,
            eliminated: 1,
        };
        let subst = substitution(&[rel], 2).expect("solvable");
        let p = expand(&[1, 1], &subst);
        assert!((p[&vec![2, 0]] - 1.0).abs() < 1e-12);
        assert!((p[&vec![1, 0]] + 0.3).abs() < 1e-12);
        assert!(p.get(&vec![0, 1]).is_none_or(|c| c.abs() < 1e-12));
    }
}
