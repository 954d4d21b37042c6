//! The forward sensitivities through an accepted step: the sensitivity stages K_i = J_x S_i +
//! [J_p | 0] from the stage Jacobians, summed with the states' Runge–Kutta weights.

use super::Tsit5;
use super::stages::combine;
use super::tableau::A;

impl Tsit5 {
    /// Advance the sensitivities through the accepted step: stage sensitivities from the stored
    /// stage Jacobians, the new S into `self.ss` (stage 7 is the solution, a_7j = b_j).
    pub(super) fn sens_stages(&mut self, h: f64, nc: usize) {
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
    pub(super) fn sens_stage_derivative(&mut self, i: usize, nc: usize) {
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
}
