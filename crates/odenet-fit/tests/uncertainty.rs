//! The reported standard errors against the spread of the estimates over independent noise
//! realisations (Monte Carlo): overlapping pieces (the default) and whole experiments.

mod common;

use std::path::Path;

use common::{fit, generate, uniform_times};
use odenet_spec::Spec;

const LV_CYCLE: [&str; 2] = ["1.0*x1 - 0.05*x1*x2", "-1.0*x2 + 0.03*x1*x2"];
const TRUTH: [(&str, f64); 4] = [("a", 1.0), ("b", -0.05), ("c", -1.0), ("d", 0.03)];

fn template(fit_table: &str) -> Spec {
    let text = format!(
        r#"
name = "lv"
states = ["x1", "x2"]
[params]
a = {{ init = 0.5, sparse = false }}
b = {{ init = -0.02, sparse = false }}
c = {{ init = -0.5, sparse = false }}
d = {{ init = 0.02, sparse = false }}
[equations]
x1 = "a*x1 + b*x1*x2"
x2 = "c*x2 + d*x1*x2"
{fit_table}
"#
    );
    Spec::from_str(&text, Path::new("lv.toml")).unwrap_or_else(|d| panic!("{d:?}"))
}

/// Fits `reps` noisy copies and returns, per parameter, (empirical sd of the estimates, root mean
/// square of the reported standard errors, fraction of 95% intervals that cover the truth).
fn monte_carlo(spec: &Spec, times: &[f64], noise: f64, reps: u64) -> Vec<(f64, f64, f64)> {
    let mut est = vec![Vec::new(); TRUTH.len()];
    let mut se = vec![Vec::new(); TRUTH.len()];
    for r in 0..reps {
        let table = generate(
            &["x1", "x2"],
            &LV_CYCLE,
            &[20.0, 10.0],
            times,
            noise,
            500 + r,
        );
        let res = fit(spec, &[table]);
        for (j, (name, _)) in TRUTH.iter().enumerate() {
            let k = res.param_names.iter().position(|n| n == name).unwrap();
            est[j].push(res.params[k]);
            se[j].push(res.std_errors[k]);
        }
    }
    spread(&est, &se)
}

/// Per parameter: (empirical sd of the estimates `est`, root mean square of the reported
/// standard errors `se`, fraction of 95% intervals that cover the truth).
fn spread(est: &[Vec<f64>], se: &[Vec<f64>]) -> Vec<(f64, f64, f64)> {
    TRUTH
        .iter()
        .enumerate()
        .map(|(j, (_, truth))| {
            let m = est[j].len() as f64;
            let mean = est[j].iter().sum::<f64>() / m;
            let sd = (est[j].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0)).sqrt();
            let rms = (se[j].iter().map(|v| v * v).sum::<f64>() / m).sqrt();
            let cover = est[j]
                .iter()
                .zip(&se[j])
                .filter(|(v, s)| (*v - truth).abs() <= 1.96 * *s)
                .count() as f64
                / m;
            (sd, rms, cover)
        })
        .collect()
}

fn check(label: &str, stats: &[(f64, f64, f64)]) {
    for ((name, _), (sd, rms, cover)) in TRUTH.iter().zip(stats) {
        eprintln!("{label} {name}: sd {sd:.3e}, reported {rms:.3e}, coverage {cover:.2}");
        let ratio = rms / sd;
        // 30 replicates: the empirical sd itself is uncertain by about 13%.
        assert!(
            (0.7..1.45).contains(&ratio),
            "{label} {name}: reported standard error {rms:.3e} vs Monte Carlo sd {sd:.3e}"
        );
        assert!(*cover >= 0.8, "{label} {name}: coverage {cover}");
    }
}

/// Short overlapping pieces (every value is a label of several pieces, its noise propagated
/// through each of them).
#[test]
fn standard_errors_match_the_spread_with_overlapping_pieces() {
    let stats = monte_carlo(&template(""), &uniform_times(10.0, 0.05), 0.02, 30);
    check("pieces", &stats);
}

/// Whole experiments as single pieces (each value counted once).
#[test]
fn standard_errors_match_the_spread_with_whole_experiments() {
    let spec = template("[fit]\nsegment = \"whole\"\n");
    let stats = monte_carlo(&spec, &uniform_times(10.0, 0.1), 0.02, 30);
    check("whole", &stats);
}

/// Two experiments whose noise differs eightfold (whole experiments): the standard errors use
/// each experiment's own variance and still match the spread.
#[test]
fn standard_errors_match_the_spread_with_unequal_experiments() {
    let spec = template("[fit]\nsegment = \"whole\"\n");
    let times = uniform_times(10.0, 0.1);
    let mut est = vec![Vec::new(); TRUTH.len()];
    let mut se = vec![Vec::new(); TRUTH.len()];
    for r in 0..30 {
        let quiet = generate(
            &["x1", "x2"],
            &LV_CYCLE,
            &[20.0, 10.0],
            &times,
            0.005,
            700 + r,
        );
        let noisy = generate(
            &["x1", "x2"],
            &LV_CYCLE,
            &[30.0, 20.0],
            &times,
            0.04,
            900 + r,
        );
        let res = fit(&spec, &[quiet, noisy]);
        for (j, (name, _)) in TRUTH.iter().enumerate() {
            let k = res.param_names.iter().position(|n| n == name).unwrap();
            est[j].push(res.params[k]);
            se[j].push(res.std_errors[k]);
        }
    }
    check("unequal", &spread(&est, &se));
}
