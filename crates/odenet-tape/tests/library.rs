//! Library mode: the canonical monomial order, the feature values and ∂φ/∂x against direct
//! products and finite differences, extra features from a tape, and `LibraryRhs` (f, ∂f/∂x,
//! ∂f/∂Θ) against finite differences and the known Lorenz coefficients.

mod common;

use common::*;
use odenet_symbolic::{Dag, Node};
use odenet_tape::{Features, LibraryRhs, MAX_FEATURES, OdeRhs, Tape, TapeError, monomials};
use proptest::prelude::*;

fn binomial(n: u64, k: u64) -> u64 {
    (1..=k).fold(1, |c, i| c * (n + 1 - i) / i)
}

/// Extra candidate terms over 3 states: sin(x), y/(1 + y²), exp(−x·z) and a bare z.
fn extra_dag() -> Dag {
    use Node::*;
    let nodes = vec![
        State(0),   // 0 x
        State(1),   // 1 y
        State(2),   // 2 z
        Sin(0),     // 3 sin x
        Num(1.0),   // 4
        PowI(1, 2), // 5 y²
        Add(4, 5),  // 6 1 + y²
        Div(1, 6),  // 7 y/(1 + y²)
        Mul(0, 2),  // 8 xz
        Neg(8),     // 9 −xz
        Exp(9),     // 10 exp(−xz)
    ];
    Dag {
        nodes,
        roots: vec![3, 7, 10, 2],
    }
}

fn extra_reference(x: &[f64]) -> Vec<f64> {
    vec![
        x[0].sin(),
        x[1] / (1.0 + x[1] * x[1]),
        (-x[0] * x[2]).exp(),
        x[2],
    ]
}

/// φ(x) computed directly from the exponents (and the extra terms' closed forms).
fn features_reference(exps: &[Vec<u32>], extra: bool, x: &[f64]) -> Vec<f64> {
    let mut phi: Vec<f64> = exps
        .iter()
        .map(|e| e.iter().zip(x).map(|(&k, &xi)| xi.powi(k as i32)).product())
        .collect();
    if extra {
        phi.extend(extra_reference(x));
    }
    phi
}

#[test]
fn order_two_in_three_states_is_canonical() {
    let f = Features::polynomial(3, 2).unwrap();
    assert_eq!(f.nfeatures(), 10);
    let want: Vec<Vec<u32>> = vec![
        vec![0, 0, 0],
        vec![1, 0, 0],
        vec![0, 1, 0],
        vec![0, 0, 1],
        vec![2, 0, 0],
        vec![1, 1, 0],
        vec![1, 0, 1],
        vec![0, 2, 0],
        vec![0, 1, 1],
        vec![0, 0, 2],
    ];
    assert_eq!(f.exponents(), &want[..]);
    assert_eq!(monomials(3, 2), want);
}

#[test]
fn monomials_are_complete_graded_and_lexicographic() {
    for d in 0..=4usize {
        for p in 0..=5u32 {
            let m = monomials(d, p);
            assert_eq!(
                m.len() as u64,
                binomial(p as u64 + d as u64, d as u64),
                "d = {d}, p = {p}"
            );
            for w in m.windows(2) {
                let (da, db) = (w[0].iter().sum::<u32>(), w[1].iter().sum::<u32>());
                // Graded; within a degree, strictly descending lexicographic order.
                assert!(
                    da < db || (da == db && w[0] > w[1]),
                    "{:?} before {:?}",
                    w[0],
                    w[1]
                );
            }
            assert!(m.iter().all(|e| e.len() == d && e.iter().sum::<u32>() <= p));
        }
    }
}

#[test]
fn too_large_libraries_and_bad_extras_are_typed_errors() {
    match Features::polynomial(20, 30) {
        Err(TapeError::TooManyFeatures {
            nstates: 20,
            order: 30,
            count,
            max,
        }) => {
            assert!(count > max as u128 && max == MAX_FEATURES);
        }
        other => panic!("expected TooManyFeatures, got {other:?}"),
    }
    let with_param = Dag {
        nodes: vec![Node::Param(0)],
        roots: vec![0],
    };
    let tape = Tape::compile(&with_param, 3, 1, 0).unwrap();
    assert_eq!(
        Features::polynomial(3, 1)
            .unwrap()
            .with_extra(tape)
            .unwrap_err(),
        TapeError::ExtraHasParams { found: 1 }
    );
    let tape = Tape::compile(&extra_dag(), 3, 0, 1).unwrap();
    assert_eq!(
        Features::polynomial(3, 1)
            .unwrap()
            .with_extra(tape)
            .unwrap_err(),
        TapeError::ExtraHasConsts { found: 1 }
    );
    let tape = Tape::compile(&extra_dag(), 4, 0, 0).unwrap();
    assert_eq!(
        Features::polynomial(3, 1)
            .unwrap()
            .with_extra(tape)
            .unwrap_err(),
        TapeError::ExtraStateMismatch {
            expected: 3,
            found: 4
        }
    );
}

#[test]
fn zero_states_and_order_zero_give_the_constant() {
    for f in [
        Features::polynomial(0, 4).unwrap(),
        Features::polynomial(3, 0).unwrap(),
    ] {
        let ns = f.nstates();
        let x = vec![0.7; ns];
        let mut phi = vec![0.0; 1];
        let mut dphi = vec![f64::NAN; ns];
        f.eval_jac(&x, &mut [], &mut phi, &mut dphi);
        assert!((phi[0] - 1.0).abs() < 1e-15);
        assert!(dphi.iter().all(|d| d.abs() < 1e-15));
    }
}

fn library_case() -> impl Strategy<Value = (usize, u32, bool, Vec<f64>, Vec<f64>)> {
    (1usize..=4, 1u32..=5, any::<bool>()).prop_flat_map(|(ns, order, extra)| {
        // Extra terms are written for 3 states.
        let extra = extra && ns == 3;
        let nf =
            binomial(u64::from(order) + ns as u64, ns as u64) as usize + if extra { 4 } else { 0 };
        (
            Just(ns),
            Just(order),
            Just(extra),
            prop::collection::vec(-1.5f64..1.5, ns),
            prop::collection::vec(-2.0f64..2.0, ns * nf),
        )
    })
}

fn features(ns: usize, order: u32, extra: bool) -> Features {
    let f = Features::polynomial(ns, order).unwrap();
    if extra {
        f.with_extra(Tape::compile(&extra_dag(), 3, 0, 0).unwrap())
            .unwrap()
    } else {
        f
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn features_match_direct_products_and_finite_differences(
        (ns, order, extra, x, _theta) in library_case(),
    ) {
        let f = features(ns, order, extra);
        let nf = f.nfeatures();
        let exps = f.exponents().to_vec();
        let want = features_reference(&exps, extra, &x);
        prop_assert_eq!(want.len(), nf);
        let mut scratch = vec![f64::NAN; f.scratch_len()];
        let mut phi = vec![f64::NAN; nf];
        f.eval(&x, &mut scratch, &mut phi);
        let mut phi2 = vec![f64::NAN; nf];
        let mut dphi = vec![f64::NAN; nf * ns];
        f.eval_jac(&x, &mut scratch, &mut phi2, &mut dphi);
        for j in 0..nf {
            prop_assert!(close(phi[j], want[j], 1e-13), "phi[{j}] = {} vs {}", phi[j], want[j]);
            prop_assert!(close(phi2[j], want[j], 1e-13), "eval_jac phi[{j}] = {} vs {}", phi2[j], want[j]);
        }
        let mut fx = |xv: &[f64]| features_reference(&exps, extra, xv);
        check_jacobian("dphi/dx", &mut fx, &x, &dphi, nf)?;
    }

    #[test]
    fn library_rhs_matches_theta_phi_and_finite_differences(
        (ns, order, extra, x, theta) in library_case(),
    ) {
        let f = features(ns, order, extra);
        let nf = f.nfeatures();
        let exps = f.exponents().to_vec();
        let rhs = LibraryRhs::new(&f);
        prop_assert_eq!(rhs.nstates(), ns);
        prop_assert_eq!(rhs.nparams(), ns * nf);
        let model = |xv: &[f64], th: &[f64]| -> Vec<f64> {
            let phi = features_reference(&exps, extra, xv);
            th.chunks(nf).map(|row| row.iter().zip(&phi).map(|(a, b)| a * b).sum()).collect()
        };
        let mut scratch = vec![f64::NAN; rhs.scratch_len()];
        let (mut fv, mut fv2) = (vec![0.0; ns], vec![0.0; ns]);
        let mut jx = vec![f64::NAN; ns * ns];
        let mut jp = vec![f64::NAN; ns * ns * nf];
        rhs.rhs(&x, &theta, &mut scratch, &mut fv);
        rhs.rhs_jac(&x, &theta, &mut scratch, &mut fv2, &mut jx, &mut jp);
        let want = model(&x, &theta);
        // Relative to the size of the terms, not of their sum, which may cancel.
        let phi = features_reference(&exps, extra, &x);
        let mag: Vec<f64> = theta
            .chunks(nf)
            .map(|row| row.iter().zip(&phi).map(|(a, b)| (a * b).abs()).sum())
            .collect();
        for i in 0..ns {
            let tol = 1e-12 * mag[i].max(1e-300);
            prop_assert!((fv[i] - want[i]).abs() <= tol, "f[{i}] = {} vs {}", fv[i], want[i]);
            prop_assert!((fv2[i] - want[i]).abs() <= tol, "rhs_jac f[{i}] = {} vs {}", fv2[i], want[i]);
        }
        let mut fx = |xv: &[f64]| model(xv, &theta);
        check_jacobian("library jx", &mut fx, &x, &jx, ns)?;
        let mut fp = |th: &[f64]| model(&x, th);
        check_jacobian("library jp", &mut fp, &theta, &jp, ns)?;
    }
}

#[test]
fn lorenz_coefficients_in_the_quadratic_library_give_lorenz() {
    let f = Features::polynomial(3, 2).unwrap();
    let rhs = LibraryRhs::new(&f);
    let (s, r, b) = (10.0, 28.0, 8.0 / 3.0);
    // Features: 1, x, y, z, x², xy, xz, y², yz, z².
    let mut theta = vec![0.0; 30];
    theta[1] = -s;
    theta[2] = s;
    theta[10 + 1] = r;
    theta[10 + 2] = -1.0;
    theta[10 + 6] = -1.0;
    theta[20 + 5] = 1.0;
    theta[20 + 3] = -b;
    let (x, y, z) = (1.5, -2.0, 20.0);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut fv = [0.0; 3];
    let mut jx = [0.0; 9];
    let mut jp = [0.0; 90];
    rhs.rhs_jac(&[x, y, z], &theta, &mut scratch, &mut fv, &mut jx, &mut jp);
    let want_f = [s * (y - x), x * (r - z) - y, x * y - b * z];
    let want_jx = [-s, s, 0.0, r - z, -1.0, -x, y, x, -b];
    for (g, w) in fv.iter().zip(&want_f).chain(jx.iter().zip(&want_jx)) {
        assert!((g - w).abs() <= 1e-13 * w.abs().max(1.0), "{g} vs {w}");
    }
    // ∂f_1/∂Θ_{1,xz} = xz and ∂f_1/∂Θ_{0,·} = 0.
    assert!((jp[30 + 10 + 6] - x * z).abs() < 1e-13);
    assert!(jp[30..40].iter().all(|v| v.abs() < 1e-15));
}

/// The symbolic crate names the library's terms from its own generator: both must list the
/// monomials in the same order, or coefficients would be reported under the wrong names.
#[test]
fn monomial_order_agrees_with_the_symbolic_crate() {
    for d in 0..=4 {
        for p in 0..=5 {
            assert_eq!(
                monomials(d, p),
                odenet_symbolic::monomials(d, p),
                "d = {d}, p = {p}"
            );
        }
    }
}
