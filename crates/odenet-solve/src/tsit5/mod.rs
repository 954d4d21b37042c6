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
//!
//! This module holds the workspace and the step loop (step-size control, stiffness detection,
//! the walk through the output times); `tableau` the method's coefficients, `stages` one trial
//! step of the states, `sensitivities` the sensitivity stages of an accepted step, and `output`
//! the writing of the outputs (copied at a step's end, interpolated inside a step).

use odenet_tape::OdeRhs;

use crate::{SolveFailure, SolveOptions, SolveStats, StepControl};

mod output;
mod sensitivities;
mod stages;
mod tableau;

use output::write_output;

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
