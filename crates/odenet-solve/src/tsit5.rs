//! Tsitouras 5(4) with adaptive steps and forward sensitivities integrated by the same stages.
//!
//! The sensitivities S = ∂x/∂(p, x0) obey S' = J_x S + [J_p | 0]. They are advanced with the
//! same Runge–Kutta stages as the states, using the Jacobians evaluated at the stage states, so
//! the result is the exact derivative of the discrete method for the accepted step sequence.
//! That keeps the fit's gradient consistent with its loss. The error estimate and the step
//! control use the states only.
//!
//! Error norm: the root-mean-square norm of Hairer (`sqrt(mean((e_i / sc_i)²))` with
//! `sc_i = atol + rtol · max(|x_i|, |x̂_i|)`).
//!
//! Outputs: the steps are chosen by the error control alone (the last one is shortened to end
//! on the last output time) and every output time inside a step is filled by the method's
//! continuous extension of order 4 (Tsitouras 2011): x(t + θh) = x + h Σ b_j(θ) k_j from the
//! stages the step already computed, and S(t + θh) = S + h Σ b_j(θ) K_j from the sensitivity
//! stages — the exact derivative of the interpolated state, so the gradient stays consistent
//! with the loss. An output costs about a fifth of a step (7 · n · nc multiply-adds). With `land_all` (tests and benches only) the steps
//! are clamped to land on every output time instead, the behaviour before dense output.

use odenet_tape::OdeRhs;

use crate::{SolveFailure, SolveOptions, SolveStats, StepControl};

/// Stage coefficients (row i holds a_ij for j < i; row 6 is the solution weights b, since
/// Tsit5 is first-same-as-last). Values from Tsitouras (2011) as tabulated by OrdinaryDiffEq.
const A: [[f64; 6]; 7] = [
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
const BTILDE: [f64; 7] = [
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
fn dense_weights(th: f64) -> [f64; 7] {
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

/// |h λ| above which a step is taken to be limited by stability rather than accuracy. Tsit5's
/// stability region reaches about 3.5 on the negative real axis; like Hairer's DOPRI5 (3.25 for a
/// boundary of 3.3) we flag a little inside it.
const STIFF_HLAMBDA: f64 = 3.3;
/// Number of stability-limited steps (without 6 clean steps in between) that declare stiffness.
const STIFF_COUNT: usize = 15;
const NONSTIFF_RESET: usize = 6;

const SAFETY: f64 = 0.9;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 10.0;
/// Step shrink factor after a trial step produced non-finite values.
const NONFINITE_SHRINK: f64 = 0.25;

/// The explicit solver's workspace: every buffer is sized once, in [`Tsit5::new`].
#[derive(Clone, Debug)]
pub(crate) struct Tsit5 {
    n: usize,
    np: usize,
    x: Vec<f64>,
    xnew: Vec<f64>,
    xs: Vec<f64>,
    x6: Vec<f64>,
    /// Stage derivatives, 7 × n.
    k: Vec<f64>,
    /// Stage Jacobians, 7 × (n × n) and 7 × (n × np), row-major each.
    jx: Vec<f64>,
    jp: Vec<f64>,
    /// Sensitivities stored state-major (`s[i * nc + c]`, row i of the n × nc matrix S), so
    /// that J_x·S is n² contiguous axpys of length nc and J_p's rows add in place; they are
    /// transposed to the public column-block layout only when written out.
    s: Vec<f64>,
    ss: Vec<f64>,
    ks: Vec<f64>,
    scratch: Vec<f64>,
}

impl Tsit5 {
    pub(crate) fn new(n: usize, np: usize) -> Self {
        let ncmax = np + n;
        Tsit5 {
            n,
            np,
            x: vec![0.0; n],
            xnew: vec![0.0; n],
            xs: vec![0.0; n],
            x6: vec![0.0; n],
            k: vec![0.0; 7 * n],
            jx: vec![0.0; 7 * n * n],
            jp: vec![0.0; 7 * n * np],
            s: vec![0.0; n * ncmax],
            ss: vec![0.0; n * ncmax],
            ks: vec![0.0; 7 * n * ncmax],
            scratch: Vec::new(),
        }
    }

    /// Make sure the right-hand side's scratch fits (allocates only the first time a larger
    /// right-hand side is seen).
    pub(crate) fn reserve_scratch(&mut self, len: usize) {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0.0);
        }
    }

    /// Integrate through `times` (times[0] is the start, x0 the state there) with `nc`
    /// sensitivity columns (0, np, or np + n), writing outputs as the crate doc describes.
    /// Inputs are validated by the caller.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn solve(
        &mut self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        x0: &[f64],
        times: &[f64],
        nc: usize,
        opts: &SolveOptions,
        control: StepControl,
        land_all: bool,
        out_x: &mut [f64],
        out_s: &mut [f64],
        stats: &mut SolveStats,
    ) -> Result<(), SolveFailure> {
        let n = self.n;
        let np = self.np;
        let ns = n * nc;
        let sens = nc > 0;
        let m = times.len();
        let t0 = times[0];
        let span = times[m - 1] - t0;

        self.x.copy_from_slice(x0);
        self.s[..ns].fill(0.0);
        if nc > np {
            for i in 0..n {
                self.s[i * nc + np + i] = 1.0;
            }
        }
        write_output(0, &self.x, &self.s[..ns], nc, out_x, out_s, t0)?;
        if m == 1 {
            return Ok(());
        }

        // Stage 1 at the start; afterwards it comes from the previous step's last stage (FSAL).
        self.eval_stage(rhs, p, 0, sens);
        count_stages(stats, sens, 1);
        if !all_finite(&self.k[..n]) {
            return Err(SolveFailure::NonFinite { t: t0 });
        }
        if sens {
            self.sens_stage_derivative(0, nc);
        }

        let hmin_scale = 16.0 * f64::EPSILON;
        let mut h = self.initial_step(rhs, p, opts, span, stats);
        if !(h.is_finite() && h > 0.0) {
            // The heuristic can only fail on extreme scales; a tiny first step is always safe
            // because the controller grows it by up to 10x per step.
            h = span * 1e-6;
        }
        let (beta, expo1) = match control {
            StepControl::Standard => (0.0, 0.2),
            StepControl::Pi => (0.04, 0.2 - 0.75 * 0.04),
        };
        let mut facold: f64 = 1e-4;
        let mut last_rejected = false;
        let mut last_nonfinite = false;
        let mut stiff_hits = 0usize;
        let mut nonstiff_run = 0usize;
        let mut t = 0.0_f64;
        let mut next = 1usize;

        loop {
            if stats.steps + stats.rejected >= opts.max_steps {
                return Err(SolveFailure::TooManySteps { t: t0 + t });
            }
            // The step ends on `target` when it would (nearly) reach it: the last output time,
            // or with `land_all` the next one.
            let target = if land_all { times[next] - t0 } else { span };
            let remaining = target - t;
            let h_natural = h;
            let landing = 1.01 * h >= remaining;
            if landing {
                h = remaining;
            }
            let hmin = hmin_scale * t.abs().max(span);

            self.stages(rhs, p, h, sens);
            count_stages(stats, sens, 6);
            let err = self.error_norm(h, opts);

            if !err.is_finite() {
                // A trial step that overflows is retried smaller; only when that no longer
                // helps is it a non-finite solution.
                stats.rejected += 1;
                last_rejected = true;
                last_nonfinite = true;
                h *= NONFINITE_SHRINK;
                if h < hmin {
                    return Err(SolveFailure::NonFinite { t: t0 + t });
                }
                continue;
            }
            let fac11 = err.powf(expo1);
            if err <= 1.0 {
                let fac = (fac11 / facold.powf(beta) / SAFETY).clamp(1.0 / FAC_MAX, 1.0 / FAC_MIN);
                facold = err.max(1e-4);
                let mut hnew = h / fac;

                if sens {
                    self.sens_stages(h, nc);
                }
                let t_new = if landing { target } else { t + h };
                // Every output in (t, t_new]: the step's end exactly, the others by the
                // continuous extension (before the stages are overwritten).
                while next < m {
                    let tk = times[next] - t0;
                    if tk >= t_new {
                        if tk > t_new {
                            break;
                        }
                        write_output(next, &self.xnew, &self.ss[..ns], nc, out_x, out_s, t0 + tk)?;
                    } else {
                        let (ox, os) = (
                            &mut out_x[next * n..(next + 1) * n],
                            &mut out_s[next * ns..(next + 1) * ns],
                        );
                        if !self.interpolate((tk - t) / h, h, nc, ox, os) {
                            return Err(SolveFailure::NonFinite { t: t0 + tk });
                        }
                    }
                    next += 1;
                }
                let hlamb = self.stiffness_estimate(h);
                std::mem::swap(&mut self.x, &mut self.xnew);
                self.k.copy_within(6 * n..7 * n, 0);
                if sens {
                    std::mem::swap(&mut self.s, &mut self.ss);
                    self.ks.copy_within(6 * ns..7 * ns, 0);
                    self.jx.copy_within(6 * n * n..7 * n * n, 0);
                    self.jp.copy_within(6 * n * np..7 * n * np, 0);
                }
                t = t_new;
                stats.steps += 1;
                last_nonfinite = false;

                if self.x.iter().any(|v| v.abs() > opts.blowup) {
                    return Err(SolveFailure::BlowUp { t: t0 + t });
                }
                if next == m {
                    return Ok(());
                }
                if hlamb > STIFF_HLAMBDA {
                    nonstiff_run = 0;
                    stiff_hits += 1;
                    if stiff_hits >= STIFF_COUNT {
                        return Err(SolveFailure::Stiff { t: t0 + t });
                    }
                } else {
                    nonstiff_run += 1;
                    if nonstiff_run >= NONSTIFF_RESET {
                        stiff_hits = 0;
                    }
                }
                if landing {
                    // A step shortened to land on an output says nothing about the step the
                    // solution allows, so do not let it shrink the next one.
                    hnew = hnew.max(h_natural);
                }
                if last_rejected {
                    hnew = hnew.min(h);
                }
                last_rejected = false;
                h = hnew;
            } else {
                stats.rejected += 1;
                last_rejected = true;
                h /= (fac11 / SAFETY).min(1.0 / FAC_MIN);
                if h < hmin {
                    return Err(if last_nonfinite {
                        SolveFailure::NonFinite { t: t0 + t }
                    } else {
                        SolveFailure::StepSizeTooSmall { t: t0 + t }
                    });
                }
            }
        }
    }

    /// The state and the sensitivities at t + θh inside the step just accepted (its stages in
    /// `k` and `ks`, its start in `x` and `s`), written straight to one output's rows `ox` and
    /// `os` (the sensitivities transposed to the public column blocks on the way). Returns
    /// false when a value is not finite.
    fn interpolate(&self, theta: f64, h: f64, nc: usize, ox: &mut [f64], os: &mut [f64]) -> bool {
        let n = self.n;
        let ns = n * nc;
        let w = dense_weights(theta).map(|b| h * b);
        // Σ v·0 is NaN exactly when some v is not finite (one branch-free pass).
        let mut nan = 0.0;
        for (i, o) in ox.iter_mut().enumerate() {
            let k = |j: usize| self.k[j * n + i];
            let lo = w[0] * k(0) + w[1] * k(1) + w[2] * k(2) + w[3] * k(3);
            let hi = w[4] * k(4) + w[5] * k(5) + w[6] * k(6);
            *o = self.x[i] + (lo + hi);
            nan += *o * 0.0;
        }
        if nc > 0 {
            let ks = |j: usize| &self.ks[j * ns..(j + 1) * ns];
            let (k0, k1, k2, k3) = (ks(0), ks(1), ks(2), ks(3));
            let (k4, k5, k6) = (ks(4), ks(5), ks(6));
            for (i, srow) in self.s[..ns].chunks_exact(nc).enumerate() {
                for (c, &base) in srow.iter().enumerate() {
                    let q = i * nc + c;
                    let lo = w[0] * k0[q] + w[1] * k1[q] + w[2] * k2[q] + w[3] * k3[q];
                    let hi = w[4] * k4[q] + w[5] * k5[q] + w[6] * k6[q];
                    let v = base + (lo + hi);
                    os[c * n + i] = v;
                    nan += v * 0.0;
                }
            }
        }
        !nan.is_nan()
    }

    /// Evaluate stage `i` at the state in `self.xs` (or `self.x` for stage 0, `self.xnew` for
    /// stage 6), with the Jacobians when sensitivities are wanted.
    fn eval_stage(&mut self, rhs: &dyn OdeRhs, p: &[f64], i: usize, sens: bool) {
        let n = self.n;
        let np = self.np;
        let at = match i {
            0 => &self.x,
            6 => &self.xnew,
            _ => &self.xs,
        };
        let k = &mut self.k[i * n..(i + 1) * n];
        if sens {
            rhs.rhs_jac(
                at,
                p,
                &mut self.scratch,
                k,
                &mut self.jx[i * n * n..(i + 1) * n * n],
                &mut self.jp[i * n * np..(i + 1) * n * np],
            );
        } else {
            rhs.rhs(at, p, &mut self.scratch, k);
        }
    }

    /// Stages 2..7 of one trial step of size h; leaves the candidate state in `xnew`.
    fn stages(&mut self, rhs: &dyn OdeRhs, p: &[f64], h: f64, sens: bool) {
        let n = self.n;
        for i in 1..7 {
            let dst = if i == 6 { &mut self.xnew } else { &mut self.xs };
            combine(dst, &self.x, h, &A[i][..i], &self.k, n);
            if i == 5 {
                self.x6.copy_from_slice(&self.xs);
            }
            self.eval_stage(rhs, p, i, sens);
        }
    }

    /// The RMS error norm of the embedded estimate; NaN or infinite when any value is not
    /// finite.
    fn error_norm(&self, h: f64, opts: &SolveOptions) -> f64 {
        let n = self.n;
        let mut sum = 0.0;
        for i in 0..n {
            let mut e = 0.0;
            for (j, b) in BTILDE.iter().enumerate() {
                e += b * self.k[j * n + i];
            }
            e *= h;
            let sc = opts.atol + opts.rtol * self.x[i].abs().max(self.xnew[i].abs());
            let r = e / sc;
            sum += r * r;
        }
        if !all_finite(&self.xnew) || !all_finite(&self.k[6 * n..]) {
            return f64::NAN;
        }
        (sum / n as f64).sqrt()
    }

    /// Hairer's estimate of |h λ| from the last two stages, both at t + h.
    fn stiffness_estimate(&self, h: f64) -> f64 {
        let n = self.n;
        let mut num = 0.0;
        let mut den = 0.0;
        for i in 0..n {
            let dk = self.k[6 * n + i] - self.k[5 * n + i];
            let dx = self.xnew[i] - self.x6[i];
            num += dk * dk;
            den += dx * dx;
        }
        if den > 0.0 {
            h.abs() * (num / den).sqrt()
        } else {
            0.0
        }
    }

    /// Advance the sensitivities through the accepted step: stage sensitivities from the stored
    /// stage Jacobians, the new S into `self.ss` (stage 7 is the solution, a_7j = b_j).
    fn sens_stages(&mut self, h: f64, nc: usize) {
        let ns = self.n * nc;
        for i in 1..7 {
            combine(
                &mut self.ss[..ns],
                &self.s[..ns],
                h,
                &A[i][..i],
                &self.ks,
                ns,
            );
            self.sens_stage_derivative(i, nc);
        }
    }

    /// K_i = J_x(X_i) S_i + [J_p(X_i) | 0], reading S_i from `self.ss` (or `self.s` for stage 0).
    /// Row r of K is row r of J_p (zero in the x0 columns) plus Σ_j J_x[r, j] · row j of S.
    fn sens_stage_derivative(&mut self, i: usize, nc: usize) {
        let n = self.n;
        let np = self.np;
        let ns = n * nc;
        let sstage = if i == 0 {
            &self.s[..ns]
        } else {
            &self.ss[..ns]
        };
        let jx = &self.jx[i * n * n..(i + 1) * n * n];
        let jp = &self.jp[i * n * np..(i + 1) * n * np];
        let out = &mut self.ks[i * ns..(i + 1) * ns];
        for (r, (orow, jxrow)) in out.chunks_exact_mut(nc).zip(jx.chunks_exact(n)).enumerate() {
            orow[..np].copy_from_slice(&jp[r * np..(r + 1) * np]);
            orow[np..].fill(0.0);
            // Up to four rows of S per pass, so the output row is loaded and stored once per
            // four terms (one pass in all for the 3-state systems that dominate).
            let mut j = 0;
            while j < n {
                let take = (n - j).min(4);
                let row = |q: usize| &sstage[(j + q) * nc..(j + q + 1) * nc];
                let a = &jxrow[j..j + take];
                match *a {
                    [a0, a1, a2, a3] => {
                        let (s0, s1, s2, s3) = (row(0), row(1), row(2), row(3));
                        for c in 0..nc {
                            orow[c] += a0 * s0[c] + a1 * s1[c] + a2 * s2[c] + a3 * s3[c];
                        }
                    }
                    [a0, a1, a2] => {
                        let (s0, s1, s2) = (row(0), row(1), row(2));
                        for c in 0..nc {
                            orow[c] += a0 * s0[c] + a1 * s1[c] + a2 * s2[c];
                        }
                    }
                    [a0, a1] => {
                        let (s0, s1) = (row(0), row(1));
                        for c in 0..nc {
                            orow[c] += a0 * s0[c] + a1 * s1[c];
                        }
                    }
                    _ => {
                        let (a0, s0) = (a[0], row(0));
                        for c in 0..nc {
                            orow[c] += a0 * s0[c];
                        }
                    }
                }
                j += take;
            }
        }
    }

    /// Hairer's starting step (Hairer, Nørsett & Wanner, Solving ODE I, II.4), for order 5,
    /// clamped to the piece's span.
    fn initial_step(
        &mut self,
        rhs: &dyn OdeRhs,
        p: &[f64],
        opts: &SolveOptions,
        span: f64,
        stats: &mut SolveStats,
    ) -> f64 {
        let n = self.n;
        let sc = |v: f64| opts.atol + opts.rtol * v.abs();
        let rms = |it: &mut dyn Iterator<Item = f64>| -> f64 {
            let s: f64 = it.map(|v| v * v).sum();
            (s / n as f64).sqrt()
        };
        let x = &self.x;
        let f0 = &self.k[..n];
        let d0 = rms(&mut x.iter().map(|&v| v / sc(v)));
        let d1 = rms(&mut f0.iter().zip(x.iter()).map(|(&f, &v)| f / sc(v)));
        let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        h0 = h0.min(span);
        for i in 0..n {
            self.xs[i] = self.x[i] + h0 * self.k[i];
        }
        // xnew serves as a temporary for f(x0 + h0 f0).
        rhs.rhs(&self.xs, p, &mut self.scratch, &mut self.xnew);
        stats.rhs_evals += 1;
        let d2 = rms(&mut (0..n).map(|i| (self.xnew[i] - self.k[i]) / sc(self.x[i]))) / h0;
        let dmax = d1.max(d2);
        let h1 = if !dmax.is_finite() {
            h0
        } else if dmax <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / dmax).powf(1.0 / 5.0)
        };
        (100.0 * h0).min(h1).min(span)
    }
}

/// out = base + h Σ_j a_j k_j over the first `len` entries, with k_j = `k[j*len..(j+1)*len]`.
/// One fused pass per stage (the number of terms is fixed per stage), which keeps the stage
/// sums of the 3 × 33 sensitivity matrices in registers instead of re-reading `out`.
fn combine(out: &mut [f64], base: &[f64], h: f64, a: &[f64], k: &[f64], len: usize) {
    let out = &mut out[..len];
    let base = &base[..len];
    let kj = |j: usize| &k[j * len..(j + 1) * len];
    match *a {
        [a0] => {
            let (c0, k0) = (h * a0, kj(0));
            for i in 0..len {
                out[i] = base[i] + c0 * k0[i];
            }
        }
        [a0, a1] => {
            let (c0, c1) = (h * a0, h * a1);
            let (k0, k1) = (kj(0), kj(1));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i]);
            }
        }
        [a0, a1, a2] => {
            let (c0, c1, c2) = (h * a0, h * a1, h * a2);
            let (k0, k1, k2) = (kj(0), kj(1), kj(2));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i] + c2 * k2[i]);
            }
        }
        [a0, a1, a2, a3] => {
            let (c0, c1, c2, c3) = (h * a0, h * a1, h * a2, h * a3);
            let (k0, k1, k2, k3) = (kj(0), kj(1), kj(2), kj(3));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i] + c2 * k2[i] + c3 * k3[i]);
            }
        }
        [a0, a1, a2, a3, a4] => {
            let (c0, c1, c2, c3, c4) = (h * a0, h * a1, h * a2, h * a3, h * a4);
            let (k0, k1, k2, k3, k4) = (kj(0), kj(1), kj(2), kj(3), kj(4));
            for i in 0..len {
                out[i] = base[i] + (c0 * k0[i] + c1 * k1[i] + c2 * k2[i] + c3 * k3[i] + c4 * k4[i]);
            }
        }
        _ => {
            out.copy_from_slice(base);
            for (j, &aj) in a.iter().enumerate() {
                let c = h * aj;
                for (o, kv) in out.iter_mut().zip(kj(j)) {
                    *o += c * kv;
                }
            }
        }
    }
}

/// Stage evaluations are of f alone without sensitivities, of f with its Jacobians with them.
fn count_stages(stats: &mut SolveStats, sens: bool, k: usize) {
    if sens {
        stats.jac_evals += k;
    } else {
        stats.rhs_evals += k;
    }
}

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Copy the state and the sensitivities (transposed from state-major to the public column
/// blocks) at output k; a non-finite value is a failure at time t.
fn write_output(
    k: usize,
    x: &[f64],
    s: &[f64],
    nc: usize,
    out_x: &mut [f64],
    out_s: &mut [f64],
    t: f64,
) -> Result<(), SolveFailure> {
    if !all_finite(x) || !all_finite(s) {
        return Err(SolveFailure::NonFinite { t });
    }
    let n = x.len();
    out_x[k * n..(k + 1) * n].copy_from_slice(x);
    let ns = n * nc;
    let dst = &mut out_s[k * ns..(k + 1) * ns];
    for (i, row) in s.chunks_exact(nc.max(1)).enumerate().take(n) {
        for (c, &v) in row.iter().enumerate() {
            dst[c * n + i] = v;
        }
    }
    Ok(())
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
