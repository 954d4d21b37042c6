//! Hand-written reference right-hand sides with their known answers, shared by the unit tests,
//! the integration tests and the benchmarks (the habit of diffsol's `test_models`).
//!
//! Every model implements [`OdeRhs`] directly, so the solvers can be tested without the tape.
//! Where a closed form exists (linear decay, the Riccati blow-up), the model carries it; where a
//! conserved quantity or a published value exists (Lotka–Volterra, Robertson, and the stiff
//! test problems Van der Pol, HIRES and OREGO of the IVP test set), the model names it.
//!
//! Compiled only with the `test-models` feature (tests, benches and examples turn it on).

use odenet_tape::OdeRhs;

/// What differs from one hand-written model to the next; [`impl_ode_rhs!`] makes an [`OdeRhs`]
/// of it (no scratch, and `rhs_jac` as f followed by the Jacobians).
trait HandWritten {
    const NSTATES: usize;
    const NPARAMS: usize;
    /// f(x; p) into `f`.
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]);
    /// ∂f/∂x into `jx` and ∂f/∂p into `jp`, in the layouts of [`OdeRhs::rhs_jac`].
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]);
}

/// The [`OdeRhs`] of each [`HandWritten`] model.
macro_rules! impl_ode_rhs {
    ($($model:ty),* $(,)?) => {$(
        impl OdeRhs for $model {
            fn nstates(&self) -> usize {
                <$model as HandWritten>::NSTATES
            }
            fn nparams(&self) -> usize {
                <$model as HandWritten>::NPARAMS
            }
            fn scratch_len(&self) -> usize {
                0
            }
            fn rhs(&self, x: &[f64], p: &[f64], _scratch: &mut [f64], f: &mut [f64]) {
                <$model as HandWritten>::eval_f(x, p, f);
            }
            fn rhs_jac(
                &self,
                x: &[f64],
                p: &[f64],
                _scratch: &mut [f64],
                f: &mut [f64],
                jx: &mut [f64],
                jp: &mut [f64],
            ) {
                <$model as HandWritten>::eval_f(x, p, f);
                <$model as HandWritten>::eval_jacobians(x, p, jx, jp);
            }
        }
    )*};
}

impl_ode_rhs!(
    LinearDecay,
    LotkaVolterra,
    Lorenz,
    QuadraticLibrary3,
    Robertson,
    Riccati,
    VanDerPol,
    Hires,
    Orego,
    FixedDecay,
    SqrtDrain,
);

/// A two-state decay chain A → B → ∅: x' = −a x, y' = a x − b y, with p = [a, b].
///
/// It has a closed-form solution and closed-form sensitivities (for a ≠ b), see
/// [`LinearDecay::exact`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearDecay;

impl LinearDecay {
    pub const P: [f64; 2] = [0.7, 2.3];
    pub const X0: [f64; 2] = [1.5, 0.2];

    /// The exact state at time `t` (from 0) into `x` (length 2), and the exact sensitivities into
    /// `s` (length 8, layout `s[c * 2 + i]` with columns a, b, x0, y0).
    pub fn exact(t: f64, p: &[f64], x0: &[f64], x: &mut [f64], s: &mut [f64]) {
        let (a, b) = (p[0], p[1]);
        let (u0, v0) = (x0[0], x0[1]);
        let ea = (-a * t).exp();
        let eb = (-b * t).exp();
        let d = b - a;
        let diff = ea - eb;
        x[0] = u0 * ea;
        x[1] = v0 * eb + a * u0 * diff / d;
        // Column a.
        s[0] = -t * u0 * ea;
        s[1] = u0 * (diff / d - a * t * ea / d + a * diff / (d * d));
        // Column b.
        s[2] = 0.0;
        s[3] = -t * v0 * eb + a * u0 * (t * eb / d - diff / (d * d));
        // Column x0 (initial x).
        s[4] = ea;
        s[5] = a * diff / d;
        // Column y0 (initial y).
        s[6] = 0.0;
        s[7] = eb;
    }
}

impl HandWritten for LinearDecay {
    const NSTATES: usize = 2;
    const NPARAMS: usize = 2;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        f[0] = -p[0] * x[0];
        f[1] = p[0] * x[0] - p[1] * x[1];
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        jx[0] = -p[0];
        jx[1] = 0.0;
        jx[2] = p[0];
        jx[3] = -p[1];
        jp[0] = -x[0];
        jp[1] = 0.0;
        jp[2] = x[0];
        jp[3] = -x[1];
    }
}

/// The generalised Lotka–Volterra system of the paper (eq. 5), p = [C11, C12, C13, C21, C22, C23]:
/// x1' = C11 x1 + C12 x1 x2 + C13 x1², x2' = C21 x2 + C22 x1 x2 + C23 x2².
#[derive(Clone, Copy, Debug, Default)]
pub struct LotkaVolterra;

impl LotkaVolterra {
    /// The paper's limit-cycle case (Table 1): a closed orbit with a conserved quantity.
    pub const LIMIT_CYCLE: [f64; 6] = [1.0, -0.05, 0.0, -1.0, 0.03, 0.0];
    /// The paper's "over-damped" case (Table 1). With these signs the coexistence point (1, 0.5)
    /// is a stable focus (eigenvalues −0.5 ± 0.5i), so trajectories spiral into it. (The
    /// table's "spiral" row, as printed, has a saddle there and blows up from nearby starts,
    /// so it is not offered.)
    pub const OVERDAMPED: [f64; 6] = [1.5, -1.0, -1.0, -1.0, 1.0, 0.0];
    /// The focus of [`LotkaVolterra::OVERDAMPED`].
    pub const OVERDAMPED_EQUILIBRIUM: [f64; 2] = [1.0, 0.5];
    pub const X0: [f64; 2] = [20.0, 10.0];

    /// For C13 = C23 = 0 the quantity H = C22 x1 + C21 ln x1 − C12 x2 − C11 ln x2 is conserved
    /// (separate the variables in dx1/dx2); it is the known answer for long limit-cycle runs.
    pub fn invariant(p: &[f64], x: &[f64]) -> f64 {
        p[4] * x[0] + p[3] * x[0].ln() - p[1] * x[1] - p[0] * x[1].ln()
    }
}

impl HandWritten for LotkaVolterra {
    const NSTATES: usize = 2;
    const NPARAMS: usize = 6;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        let (x1, x2) = (x[0], x[1]);
        f[0] = p[0] * x1 + p[1] * x1 * x2 + p[2] * x1 * x1;
        f[1] = p[3] * x2 + p[4] * x1 * x2 + p[5] * x2 * x2;
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        let (x1, x2) = (x[0], x[1]);
        jx[0] = p[0] + p[1] * x2 + 2.0 * p[2] * x1;
        jx[1] = p[1] * x1;
        jx[2] = p[4] * x2;
        jx[3] = p[3] + p[4] * x1 + 2.0 * p[5] * x2;
        jp.fill(0.0);
        jp[0] = x1;
        jp[1] = x1 * x2;
        jp[2] = x1 * x1;
        jp[6 + 3] = x2;
        jp[6 + 4] = x1 * x2;
        jp[6 + 5] = x2 * x2;
    }
}

/// The Lorenz system with p = [σ, ρ, β]: x' = σ(y − x), y' = x(ρ − z) − y, z' = x y − β z.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lorenz;

impl Lorenz {
    pub const P: [f64; 3] = [10.0, 28.0, 8.0 / 3.0];
    pub const X0: [f64; 3] = [-8.0, 7.0, 27.0];

    /// The two non-trivial equilibria (±√(β(ρ−1)), ±√(β(ρ−1)), ρ−1).
    pub fn equilibrium(p: &[f64], sign: f64) -> [f64; 3] {
        let r = (p[2] * (p[1] - 1.0)).sqrt();
        [sign * r, sign * r, p[1] - 1.0]
    }
}

impl HandWritten for Lorenz {
    const NSTATES: usize = 3;
    const NPARAMS: usize = 3;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        f[0] = p[0] * (x[1] - x[0]);
        f[1] = x[0] * (p[1] - x[2]) - x[1];
        f[2] = x[0] * x[1] - p[2] * x[2];
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        jx.copy_from_slice(&[
            -p[0],
            p[0],
            0.0,
            p[1] - x[2],
            -1.0,
            -x[0],
            x[1],
            x[0],
            -p[2],
        ]);
        jp.copy_from_slice(&[x[1] - x[0], 0.0, 0.0, 0.0, x[0], 0.0, 0.0, 0.0, -x[2]]);
    }
}

/// The complete quadratic library in three states (x, y, z): ten monomials in the order
/// 1, x, y, z, x², xy, xz, y², yz, z², and p row-major 3 × 10 (`p[i * 10 + m]` multiplies
/// monomial m in equation i). This is what a fit with `polynomial = 2` integrates.
#[derive(Clone, Copy, Debug, Default)]
pub struct QuadraticLibrary3;

impl QuadraticLibrary3 {
    pub const NMONO: usize = 10;

    /// The coefficients that make this library the Lorenz system with σ = 10, ρ = 28, β = 8/3.
    pub fn lorenz_coefficients() -> [f64; 30] {
        let mut p = [0.0; 30];
        p[1] = -10.0; // x' : −σ x
        p[2] = 10.0; //       + σ y
        p[10 + 1] = 28.0; // y' : ρ x
        p[10 + 2] = -1.0; //      − y
        p[10 + 6] = -1.0; //      − x z
        p[20 + 5] = 1.0; // z' : x y
        p[20 + 3] = -8.0 / 3.0; // − β z
        p
    }

    fn monomials(x: &[f64]) -> [f64; 10] {
        let (a, b, c) = (x[0], x[1], x[2]);
        [1.0, a, b, c, a * a, a * b, a * c, b * b, b * c, c * c]
    }
}

impl HandWritten for QuadraticLibrary3 {
    const NSTATES: usize = 3;
    const NPARAMS: usize = 30;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        let phi = Self::monomials(x);
        for (fi, row) in f.iter_mut().zip(p.chunks_exact(Self::NMONO)) {
            *fi = row.iter().zip(phi.iter()).map(|(a, b)| a * b).sum();
        }
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        let phi = Self::monomials(x);
        let (a, b, c) = (x[0], x[1], x[2]);
        // ∂φ/∂x, ∂φ/∂y, ∂φ/∂z for the ten monomials.
        let dx = [0.0, 1.0, 0.0, 0.0, 2.0 * a, b, c, 0.0, 0.0, 0.0];
        let dy = [0.0, 0.0, 1.0, 0.0, 0.0, a, 0.0, 2.0 * b, c, 0.0];
        let dz = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, a, 0.0, b, 2.0 * c];
        jp.fill(0.0);
        for i in 0..3 {
            let row = &p[i * Self::NMONO..(i + 1) * Self::NMONO];
            let dot = |d: &[f64; 10]| row.iter().zip(d.iter()).map(|(u, v)| u * v).sum::<f64>();
            jx[i * 3] = dot(&dx);
            jx[i * 3 + 1] = dot(&dy);
            jx[i * 3 + 2] = dot(&dz);
            jp[i * 30 + i * Self::NMONO..i * 30 + (i + 1) * Self::NMONO].copy_from_slice(&phi);
        }
    }
}

/// Robertson's stiff chemical kinetics with p = [k1, k2, k3] = [0.04, 1e4, 3e7]:
/// y1' = −k1 y1 + k2 y2 y3, y2' = k1 y1 − k2 y2 y3 − k3 y2², y3' = k3 y2². Mass is conserved.
#[derive(Clone, Copy, Debug, Default)]
pub struct Robertson;

impl Robertson {
    pub const P: [f64; 3] = [0.04, 1.0e4, 3.0e7];
    pub const X0: [f64; 3] = [1.0, 0.0, 0.0];
    /// The values printed by SUNDIALS' cvRoberts example (also diffsol's test model) at
    /// t = 0.4, 4 and 40. That run used rtol = 1e-4, so they are good to about 1e-3 relative
    /// (y3 at t = 0.4 is off by 5e-4); use them as a sanity bound, not a tight reference.
    pub const KNOWN: [(f64, [f64; 3]); 3] = [
        (0.4, [9.851641e-01, 3.386242e-05, 1.480205e-02]),
        (4.0, [9.055097e-01, 2.240338e-05, 9.446793e-02]),
        (40.0, [7.158017e-01, 9.185037e-06, 2.841892e-01]),
    ];
}

impl HandWritten for Robertson {
    const NSTATES: usize = 3;
    const NPARAMS: usize = 3;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        let r1 = p[0] * x[0];
        let r2 = p[1] * x[1] * x[2];
        let r3 = p[2] * x[1] * x[1];
        f[0] = -r1 + r2;
        f[1] = r1 - r2 - r3;
        f[2] = r3;
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        let (y1, y2, y3) = (x[0], x[1], x[2]);
        jx.copy_from_slice(&[
            -p[0],
            p[1] * y3,
            p[1] * y2,
            p[0],
            -p[1] * y3 - 2.0 * p[2] * y2,
            -p[1] * y2,
            0.0,
            2.0 * p[2] * y2,
            0.0,
        ]);
        jp.copy_from_slice(&[-y1, y2 * y3, 0.0, y1, -y2 * y3, -y2 * y2, 0.0, 0.0, y2 * y2]);
    }
}

/// The Riccati equation x' = k x², `p = [k]`, whose solution x0 / (1 − k x0 t) blows up at
/// t = 1 / (k x0): the test case for blow-up detection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Riccati;

impl Riccati {
    pub fn exact(t: f64, k: f64, x0: f64) -> f64 {
        x0 / (1.0 - k * x0 * t)
    }
}

impl HandWritten for Riccati {
    const NSTATES: usize = 1;
    const NPARAMS: usize = 1;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        f[0] = p[0] * x[0] * x[0];
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        jx[0] = 2.0 * p[0] * x[0];
        jp[0] = x[0] * x[0];
    }
}

/// Van der Pol's oscillator x'' − μ(1 − x²)x' + x = 0 as x' = y, y' = μ(1 − x²)y − x, with
/// `p = [μ]`; stiff for large μ (relaxation oscillations with period ≈ (3 − 2 ln 2) μ).
#[derive(Clone, Copy, Debug, Default)]
pub struct VanDerPol;

impl VanDerPol {
    pub const P: [f64; 1] = [1000.0];
    pub const X0: [f64; 2] = [2.0, 0.0];
    /// The state at t = 2000 for μ = 1000 and x0 = (2, 0): the end state of the "vdpol"
    /// problem of the IVP test set (Mazzia & Magherini; ε = 1/μ², t_end = 2 in its time
    /// scale), computed there by RADAU5 in quadruple precision.
    pub const KNOWN: (f64, [f64; 2]) =
        (2000.0, [1.706_167_732_170_469, -0.892_809_701_024_812_5e-3]);
}

impl HandWritten for VanDerPol {
    const NSTATES: usize = 2;
    const NPARAMS: usize = 1;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        f[0] = x[1];
        f[1] = p[0] * (1.0 - x[0] * x[0]) * x[1] - x[0];
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        jx.copy_from_slice(&[
            0.0,
            1.0,
            -2.0 * p[0] * x[0] * x[1] - 1.0,
            p[0] * (1.0 - x[0] * x[0]),
        ]);
        jp.copy_from_slice(&[0.0, (1.0 - x[0] * x[0]) * x[1]]);
    }
}

/// HIRES: Schäfer's 8-state model of plant growth under light (Hairer & Wanner, Solving ODEs II),
/// with its rate constants built in (no parameters).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hires;

impl Hires {
    pub const X0: [f64; 8] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057];
    /// The state at t = 321.8122 from the IVP test set (RADAU5 at rtol = atol = 1.1e-18).
    pub const KNOWN: (f64, [f64; 8]) = (
        321.8122,
        [
            0.737_131_257_332_566_8e-3,
            0.144_248_572_631_618_5e-3,
            0.588_872_974_096_757_5e-4,
            0.117_565_134_328_314_9e-2,
            0.238_635_619_883_133_1e-2,
            0.623_896_825_274_279_6e-2,
            0.284_999_839_518_576_9e-2,
            0.285_000_160_481_423_1e-2,
        ],
    );
}

impl HandWritten for Hires {
    const NSTATES: usize = 8;
    const NPARAMS: usize = 0;
    fn eval_f(y: &[f64], _p: &[f64], f: &mut [f64]) {
        let r = 280.0 * y[5] * y[7];
        f[0] = -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007;
        f[1] = 1.71 * y[0] - 8.75 * y[1];
        f[2] = -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4];
        f[3] = 8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3];
        f[4] = -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6];
        f[5] = -r + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6];
        f[6] = r - 1.81 * y[6];
        f[7] = -r + 1.81 * y[6];
    }
    fn eval_jacobians(y: &[f64], _p: &[f64], jx: &mut [f64], _jp: &mut [f64]) {
        jx.fill(0.0);
        let mut set = |i: usize, j: usize, v: f64| jx[i * 8 + j] = v;
        set(0, 0, -1.71);
        set(0, 1, 0.43);
        set(0, 2, 8.32);
        set(1, 0, 1.71);
        set(1, 1, -8.75);
        set(2, 2, -10.03);
        set(2, 3, 0.43);
        set(2, 4, 0.035);
        set(3, 1, 8.32);
        set(3, 2, 1.71);
        set(3, 3, -1.12);
        set(4, 4, -1.745);
        set(4, 5, 0.43);
        set(4, 6, 0.43);
        let (a, b) = (280.0 * y[7], 280.0 * y[5]);
        set(5, 3, 0.69);
        set(5, 4, 1.71);
        set(5, 5, -a - 0.43);
        set(5, 6, 0.69);
        set(5, 7, -b);
        set(6, 5, a);
        set(6, 6, -1.81);
        set(6, 7, b);
        set(7, 5, -a);
        set(7, 6, 1.81);
        set(7, 7, -b);
    }
}

/// OREGO: the Oregonator, Field and Noyes' model of the Belousov–Zhabotinsky reaction (Hairer &
/// Wanner, Solving ODEs II), with its constants built in (no parameters). Its states range over
/// five orders of magnitude.
#[derive(Clone, Copy, Debug, Default)]
pub struct Orego;

impl Orego {
    pub const X0: [f64; 3] = [1.0, 2.0, 3.0];
    /// The state at t = 360 from the IVP test set (RADAU at rtol = 1.1e-18).
    pub const KNOWN: (f64, [f64; 3]) = (
        360.0,
        [
            0.100_081_487_031_852_3e1,
            0.122_817_852_154_991_7e4,
            0.132_055_494_284_670_6e3,
        ],
    );
}

impl HandWritten for Orego {
    const NSTATES: usize = 3;
    const NPARAMS: usize = 0;
    fn eval_f(y: &[f64], _p: &[f64], f: &mut [f64]) {
        f[0] = 77.27 * (y[1] + y[0] * (1.0 - 8.375e-6 * y[0] - y[1]));
        f[1] = (y[2] - (1.0 + y[0]) * y[1]) / 77.27;
        f[2] = 0.161 * (y[0] - y[2]);
    }
    fn eval_jacobians(y: &[f64], _p: &[f64], jx: &mut [f64], _jp: &mut [f64]) {
        jx.copy_from_slice(&[
            77.27 * (1.0 - 2.0 * 8.375e-6 * y[0] - y[1]),
            77.27 * (1.0 - y[0]),
            0.0,
            -y[1] / 77.27,
            -(1.0 + y[0]) / 77.27,
            1.0 / 77.27,
            0.161,
            0.0,
            -0.161,
        ]);
    }
}

/// x' = −0.7 x with no parameters at all: x = x0 exp(−0.7 t), and the sensitivity to x0 is
/// exp(−0.7 t). The case np = 0, where only initial-state columns exist.
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedDecay;

impl HandWritten for FixedDecay {
    const NSTATES: usize = 1;
    const NPARAMS: usize = 0;
    fn eval_f(x: &[f64], _p: &[f64], f: &mut [f64]) {
        f[0] = -0.7 * x[0];
    }
    fn eval_jacobians(_x: &[f64], _p: &[f64], jx: &mut [f64], _jp: &mut [f64]) {
        jx[0] = -0.7;
    }
}

/// x' = −p √x, `p = [k]`: from x0 = 1 with k = 1 the solution (1 − t/2)² reaches x = 0 at t = 2
/// with an infinite slope of f, and √ of the overshoot is NaN — the test case for right-hand
/// sides that produce NaN.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqrtDrain;

impl HandWritten for SqrtDrain {
    const NSTATES: usize = 1;
    const NPARAMS: usize = 1;
    fn eval_f(x: &[f64], p: &[f64], f: &mut [f64]) {
        f[0] = -p[0] * x[0].sqrt();
    }
    fn eval_jacobians(x: &[f64], p: &[f64], jx: &mut [f64], jp: &mut [f64]) {
        jx[0] = -0.5 * p[0] / x[0].sqrt();
        jp[0] = -x[0].sqrt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hand-written Jacobian agrees with central differences of its right-hand side.
    #[test]
    fn jacobians_match_finite_differences() {
        let lib = QuadraticLibrary3::lorenz_coefficients();
        let lib_dense: Vec<f64> = (0..30)
            .map(|k| lib[k] + 0.1 * (k as f64 - 15.0) / 15.0)
            .collect();
        let cases: [(&dyn OdeRhs, &[f64], &[f64]); 12] = [
            (&LinearDecay, &LinearDecay::P, &LinearDecay::X0),
            (&LotkaVolterra, &LotkaVolterra::OVERDAMPED, &[1.3, 0.7]),
            (&Lorenz, &Lorenz::P, &Lorenz::X0),
            (&QuadraticLibrary3, &lib, &Lorenz::X0),
            (&QuadraticLibrary3, &lib_dense, &[0.3, -1.2, 2.1]),
            (&Robertson, &Robertson::P, &[0.9, 3e-5, 0.1]),
            (&Riccati, &[1.3], &[0.7]),
            (&VanDerPol, &VanDerPol::P, &[1.5, -0.7]),
            (&Hires, &[], &[0.5, 0.1, 0.02, 0.3, 0.01, 0.2, 0.004, 0.005]),
            (&Orego, &[], &[2.0, 700.0, 50.0]),
            (&FixedDecay, &[], &[3.0]),
            (&SqrtDrain, &[1.3], &[0.7]),
        ];
        for (rhs, p, x) in cases {
            let (n, np) = (rhs.nstates(), rhs.nparams());
            let mut scratch = vec![0.0; rhs.scratch_len()];
            let (mut f, mut jx, mut jp) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n * np]);
            rhs.rhs_jac(x, p, &mut scratch, &mut f, &mut jx, &mut jp);
            let mut g = vec![0.0; n];
            rhs.rhs(x, p, &mut scratch, &mut g);
            assert_eq!(f, g);
            let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
            let scale = f.iter().fold(1.0_f64, |a, v| a.max(v.abs()));
            for j in 0..n + np {
                let (mut xp, mut xm, mut pp, mut pm) =
                    (x.to_vec(), x.to_vec(), p.to_vec(), p.to_vec());
                let base = if j < n { x[j] } else { p[j - n] };
                let h = 1e-6 * base.abs().max(1e-3);
                if j < n {
                    xp[j] += h;
                    xm[j] -= h;
                } else {
                    pp[j - n] += h;
                    pm[j - n] -= h;
                }
                rhs.rhs(&xp, &pp, &mut scratch, &mut fp);
                rhs.rhs(&xm, &pm, &mut scratch, &mut fm);
                for i in 0..n {
                    let fd = (fp[i] - fm[i]) / (2.0 * h);
                    let an = if j < n {
                        jx[i * n + j]
                    } else {
                        jp[i * np + j - n]
                    };
                    let tol = 1e-6 * scale / base.abs().max(1e-3);
                    assert!(
                        (fd - an).abs() < tol,
                        "column {j}, row {i}: fd {fd} vs {an}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_library_with_lorenz_coefficients_is_lorenz() {
        let lib = QuadraticLibrary3::lorenz_coefficients();
        let mut s = [];
        for x in [[1.0, 2.0, 3.0], [-8.0, 7.0, 27.0], [0.1, -0.2, 0.3]] {
            let (mut a, mut b) = ([0.0; 3], [0.0; 3]);
            QuadraticLibrary3.rhs(&x, &lib, &mut s, &mut a);
            Lorenz.rhs(&x, &Lorenz::P, &mut s, &mut b);
            for i in 0..3 {
                assert!((a[i] - b[i]).abs() < 1e-12 * (1.0 + b[i].abs()));
            }
        }
    }

    #[test]
    fn lorenz_equilibria_are_fixed_points() {
        let mut s = [];
        for sign in [1.0, -1.0] {
            let e = Lorenz::equilibrium(&Lorenz::P, sign);
            let mut f = [0.0; 3];
            Lorenz.rhs(&e, &Lorenz::P, &mut s, &mut f);
            assert!(f.iter().all(|v| v.abs() < 1e-12), "{f:?}");
        }
    }
}
