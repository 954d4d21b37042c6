//! The Butcher tableau of Tsitouras 5(4): the stage coefficients, the error weights and the
//! weights of the continuous extension of order 4, with the tests of their order conditions.

/// Stage coefficients (row i holds a_ij for j < i; row 6 is the solution weights b, since
/// Tsit5 is first-same-as-last). Values from Tsitouras (2011) as tabulated by OrdinaryDiffEq.
pub(super) const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [0.161, 0.0, 0.0, 0.0, 0.0, 0.0],
    [
        -0.008_480_655_492_356_989,
        0.335_480_655_492_357,
        0.0,
        0.0,
        0.0,
        0.0,
    ],
    [
        2.897_153_057_105_493,
        -6.359_448_489_975_075,
        4.362_295_432_869_581_5,
        0.0,
        0.0,
        0.0,
    ],
    [
        5.325_864_828_439_257,
        -11.748_883_564_062_828,
        7.495_539_342_889_836_5,
        -0.092_495_066_361_755_25,
        0.0,
        0.0,
    ],
    [
        5.861_455_442_946_42,
        -12.920_969_317_847_11,
        8.159_367_898_576_159,
        -0.071_584_973_281_401,
        -0.028_269_050_394_068_383,
        0.0,
    ],
    [
        0.096_460_766_818_065_23,
        0.01,
        0.479_889_650_414_499_6,
        1.379_008_574_103_742,
        -3.290_069_515_436_081,
        2.324_710_524_099_774,
    ],
];

/// Error weights b − b̂ (the local error estimate is h · Σ btilde_j k_j).
pub(super) const BTILDE: [f64; 7] = [
    -0.001_780_011_052_225_777,
    -0.000_816_434_459_656_746_9,
    0.007_880_878_010_261_995,
    -0.144_711_007_173_262_9,
    0.582_357_165_452_555_2,
    -0.458_082_105_929_186_97,
    1.0 / 66.0,
];

/// The continuous extension of order 4: weights b_j(θ) such that x(t + θh) ≈ x + h Σ_j
/// b_j(θ) k_j for θ in [0, 1], with b_j(1) the solution weights (row 6 of `A`, and 0 for the
/// FSAL stage). The polynomials are Tsitouras's (2011), in his factored form; the unit tests
/// check b_j(1) and the order-4 conditions at several θ.
pub(super) fn dense_weights(th: f64) -> [f64; 7] {
    let t2 = th * th;
    [
        -1.053_088_497_729_021_6
            * th
            * (th - 1.329_989_018_975_141)
            * (t2 - 1.436_402_854_171_635_1 * th + 0.713_981_691_707_420_9),
        0.1017 * t2 * (t2 - 2.196_656_833_824_975_4 * th + 1.294_985_250_737_463),
        2.490_627_285_651_253 * t2 * (t2 - 2.385_356_454_720_616_6 * th + 1.578_034_682_080_925),
        -16.548_102_889_244_902
            * t2
            * (th - 1.217_129_272_955_332_4)
            * (th - 0.616_204_060_378_000_9),
        47.379_521_962_819_28
            * t2
            * (th - 1.203_071_208_372_362_6)
            * (th - 0.658_047_292_653_547_4),
        -34.870_657_861_496_61 * t2 * (th - 1.2) * (th - 2.0 / 3.0),
        2.5 * t2 * (th - 1.0) * (th - 0.6),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stage times (the rows of A sum to them; the solver never needs them because the system
    /// is autonomous).
    const C: [f64; 7] = [0.0, 0.161, 0.327, 0.9, 0.980_025_540_904_509_7, 1.0, 1.0];

    /// The tableau satisfies the row-sum and the order-5 quadrature conditions, and the error
    /// weights annihilate constants (they are a difference of two consistent methods).
    #[test]
    fn tableau_is_consistent() {
        for i in 1..7 {
            let row: f64 = A[i][..i].iter().sum();
            assert!((row - C[i]).abs() < 1e-14, "row {i}: {row} vs {}", C[i]);
        }
        for q in 0..5 {
            let s: f64 = (0..6).map(|j| A[6][j] * C[j].powi(q)).sum();
            let want = 1.0 / (q as f64 + 1.0);
            assert!((s - want).abs() < 1e-13, "b·c^{q} = {s}, want {want}");
        }
        let bt: f64 = BTILDE.iter().sum();
        assert!(bt.abs() < 1e-14);
    }

    /// The continuous extension is of order 4 at every θ: its weights satisfy the eight order
    /// conditions of the trees up to order 4 with θ^q/γ on the right (built here from `A` and
    /// the stage times), vanish at θ = 0 and are the solution weights at θ = 1.
    #[test]
    fn continuous_extension_is_of_order_four() {
        // a(v)_i = Σ_j a_ij v_j over the 7 stages (row 6 of A is stage 7's row).
        let av = |v: &[f64; 7]| -> [f64; 7] {
            let mut out = [0.0; 7];
            for i in 1..7 {
                out[i] = (0..i).map(|j| A[i][j] * v[j]).sum();
            }
            out
        };
        let c = C;
        let c2 = c.map(|v| v * v);
        let c3 = c.map(|v| v * v * v);
        let ac = av(&c);
        let cac: [f64; 7] = std::array::from_fn(|i| c[i] * ac[i]);
        let ac2 = av(&c2);
        let aac = av(&ac);
        let one = [1.0; 7];
        // (stage vector, order q, symmetry-free denominator γ): Σ b_i(θ) v_i = θ^q / γ.
        let trees: [(&[f64; 7], i32, f64); 8] = [
            (&one, 1, 1.0),
            (&c, 2, 2.0),
            (&c2, 3, 3.0),
            (&ac, 3, 6.0),
            (&c3, 4, 4.0),
            (&cac, 4, 8.0),
            (&ac2, 4, 12.0),
            (&aac, 4, 24.0),
        ];
        for theta in [0.0, 0.1, 0.25, 0.5, 0.77, 1.0] {
            let b = dense_weights(theta);
            for (v, q, gamma) in trees {
                let lhs: f64 = b.iter().zip(v).map(|(bi, vi)| bi * vi).sum();
                let want = theta.powi(q) / gamma;
                assert!(
                    (lhs - want).abs() < 1e-13,
                    "θ = {theta}, order {q}, γ = {gamma}: {lhs} vs {want}"
                );
            }
        }
        assert!(dense_weights(0.0).iter().all(|b| b.abs() < 1e-15));
        let b1 = dense_weights(1.0);
        for j in 0..6 {
            assert!((b1[j] - A[6][j]).abs() < 1e-14, "b_{j}(1) = {}", b1[j]);
        }
        assert!(b1[6].abs() < 1e-15);
    }
}
