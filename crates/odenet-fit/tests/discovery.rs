//! Discovery of known equations from noisy data generated here (the paper's Tables 1–3), with
//! the default `[fit]` settings: exact support and the paper's accuracy.

mod common;

use common::*;

const LV_OVERDAMPED: [&str; 2] = ["1.5*x1 - x1*x2 - x1^2", "-x2 + x1*x2"];
const LV_CYCLE: [&str; 2] = ["x1 - 0.05*x1*x2", "-x2 + 0.03*x1*x2"];

fn lv_cycle_expected() -> Vec<(&'static str, &'static str, f64)> {
    vec![
        ("x1", "x1", 1.0),
        ("x1", "x1*x2", -0.05),
        ("x2", "x2", -1.0),
        ("x2", "x1*x2", 0.03),
    ]
}

#[test]
fn lotka_volterra_overdamped_one_percent_noise() {
    let t = uniform_times(10.0, 0.01);
    let table = generate(&["x1", "x2"], &LV_OVERDAMPED, &[3.0, 2.0], &t, 0.01, 11);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    let err = assert_support(
        &res,
        &[
            ("x1", "x1", 1.5),
            ("x1", "x1*x2", -1.0),
            ("x1", "x1^2", -1.0),
            ("x2", "x2", -1.0),
            ("x2", "x1*x2", 1.0),
        ],
    );
    assert!(err <= 0.06, "max relative error {err}");
}

#[test]
fn lotka_volterra_limit_cycle_one_percent_noise() {
    let t = uniform_times(20.0, 0.01);
    let table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.01, 12);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.06, "max relative error {err}");
    assert!(res.converged);
}

/// The true Lorenz terms (state, term, coefficient).
const LORENZ: [(&str, &str, f64); 7] = [
    ("x", "x", -10.0),
    ("x", "y", 10.0),
    ("y", "x", 28.0),
    ("y", "y", -1.0),
    ("y", "x*z", -1.0),
    ("z", "z", -8.0 / 3.0),
    ("z", "x*y", 1.0),
];

/// Lorenz from (−8, 7, 27) over [0, t_end], 0.01 apart, with 0.5% noise, fitted with a
/// complete quadratic library.
fn lorenz_fit(t_end: f64, seed: u64) -> odenet_fit::FitResult {
    let table = generate(
        &["x", "y", "z"],
        &["10*(y - x)", "x*(28 - z) - y", "x*y - 8/3*z"],
        &[-8.0, 7.0, 27.0],
        &uniform_times(t_end, 0.01),
        0.005,
        seed,
    );
    fit(&library_spec(&["x", "y", "z"], 2, ""), &[table])
}

#[test]
fn lorenz_half_percent_noise() {
    let res = lorenz_fit(10.0, 13);
    let err = assert_support(&res, &LORENZ);
    assert!(err <= 0.01, "max relative error {err}");
}

/// The chosen model's pieces chained into whole trajectories: the coefficients of chaotic data
/// are determined far better than piece by piece, and their error bars still cover the truth.
#[test]
fn lorenz_pieces_chained_into_whole_trajectories() {
    let res = lorenz_fit(20.0, 1);
    let err = assert_support(&res, &LORENZ);
    let c = res
        .chained
        .expect("the data accept the chained trajectories");
    assert!(c.excess <= c.allowed && c.ties > 0, "{c:?}");
    assert!(err <= 0.004, "max relative error {err}");
    for (state, term, v) in LORENZ {
        let name = format!("d{state}/dt[{term}]");
        let k = res
            .param_names
            .iter()
            .position(|p| *p == name)
            .expect("term");
        let (p, se) = (res.params[k], res.std_errors[k]);
        assert!(se.is_finite() && se > 0.0, "{name}: standard error {se}");
        // Honest and informative: within 3.5 standard errors, each well under 1% of the value.
        assert!((p - v).abs() <= 3.5 * se, "{name} = {p} ± {se}, truth {v}");
        assert!(se <= 0.004 * v.abs(), "{name} = {p} ± {se}");
    }
}

/// The paper's Table 2: coarse sampling, where derivative-based regression fails.
#[test]
fn limit_cycle_sampled_every_tenth() {
    let t = uniform_times(20.0, 0.1);
    let table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.01, 14);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.06, "max relative error {err}");
}

#[test]
fn limit_cycle_sampled_every_half() {
    let t = uniform_times(50.0, 0.5);
    let table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.01, 15);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.06, "max relative error {err}");
}

#[test]
fn unequally_spaced_samples() {
    // Gaps drawn between 0.01 and 0.09.
    let mut rng = odenet_fit::rng::Rng::new(99);
    let mut t = vec![0.0];
    while *t.last().unwrap() < 20.0 {
        let last = *t.last().unwrap();
        t.push(last + 0.01 + 0.08 * rng.uniform());
    }
    let table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.01, 16);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.06, "max relative error {err}");
}

#[test]
fn ten_percent_missing_values() {
    let t = uniform_times(20.0, 0.02);
    let mut table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.01, 17);
    let mut rng = odenet_fit::rng::Rng::new(5);
    let mut removed = 0;
    for col in table.values.iter_mut() {
        for v in col.iter_mut() {
            if rng.uniform() < 0.1 {
                *v = f64::NAN;
                removed += 1;
            }
        }
    }
    assert!(removed > 150);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.06, "max relative error {err}");
}

/// Several experiments fitted together share one model.
#[test]
fn global_fit_over_experiments() {
    let t = uniform_times(8.0, 0.02);
    let a = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.01, 21);
    let b = generate(&["x1", "x2"], &LV_CYCLE, &[40.0, 30.0], &t, 0.01, 22);
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[a, b]);
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.06, "max relative error {err}");
}

/// The paper's hardest Lotka–Volterra case: 10% noise with the noise learned as parameters
/// (eq. 4). The paper reports a maximum relative error of 3.1%; the target is 4%.
#[test]
fn limit_cycle_ten_percent_noise_with_learned_noise() {
    let t = uniform_times(20.0, 0.01);
    let table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.10, 6);
    let res = fit(
        &library_spec(&["x1", "x2"], 2, "[fit]\nlearn_noise = true\n"),
        &[table],
    );
    let err = assert_support(&res, &lv_cycle_expected());
    assert!(err <= 0.04, "max relative error {err}");
    // The learned noise has about the true standard deviation (10% of each state's maximum).
    let noise = res.noise.as_ref().expect("learned noise is reported");
    let max_x1 = res.trajectories[0]
        .states
        .chunks(2)
        .map(|r| r[0].abs())
        .fold(0.0, f64::max);
    let ratio = noise.sd[0] / (0.1 * max_x1);
    assert!(
        (0.8..1.1).contains(&ratio),
        "learned sd / true sd = {ratio}"
    );
}

/// A template with tied, fixed and bounded parameters, a hidden state and a fitted initial value:
/// the predator x2 of the Lotka–Volterra cycle is never observed; its initial value is a
/// per-experiment parameter. The prey's interaction rate is fixed (it sets the scale of the
/// unobserved x2); the rest is recovered from the prey alone.
/// Fits the prey-only Lotka–Volterra data (x2 hidden, x2(0) fitted) and checks a, c, d within
/// `tol` and x2(0) within `tol`; returns the result.
fn hidden_state_case(noise: f64, learn_noise: bool, tol: f64, tag: &str) -> odenet_fit::FitResult {
    let t = uniform_times(15.0, 0.05);
    let table = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, noise, 31);
    let dir = std::env::temp_dir().join(format!("odenet-hidden-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut csv = String::from("t,x1\n");
    for (k, tk) in table.times.iter().enumerate() {
        csv.push_str(&format!("{tk},{}\n", table.values[0][k]));
    }
    std::fs::write(dir.join("prey.csv"), csv).expect("write data");
    let text = format!(
        r#"
states = ["x1", "x2"]
hidden = ["x2"]
[params]
a = {{ init = 0.8, min = 0.0, sparse = false }}
b = {{ value = -0.05, fixed = true }}
c = {{ init = -0.8, max = 0.0, sparse = false }}
d = {{ init = 0.02, sparse = false }}
[equations]
x1 = "a*x1 + b*x1*x2"
x2 = "c*x2 + d*x1*x2"
[fit]
segment = "whole"
learn_noise = {learn_noise}
[[data]]
file = "prey.csv"
initial = {{ x2 = "fit" }}
"#
    );
    let spec = odenet_spec::Spec::from_str(&text, &dir.join("spec.toml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let tables = odenet_spec::load_tables(&spec).unwrap_or_else(|d| panic!("{d:?}"));
    let res = fit(&spec, &tables);
    let get = |name: &str| res.params[res.param_names.iter().position(|n| n == name).unwrap()];
    for (name, truth) in [("a", 1.0), ("c", -1.0), ("d", 0.03)] {
        let v = get(name);
        assert!(
            ((v - truth) / truth).abs() < tol,
            "{tag}: {name} = {v}, truth {truth}"
        );
    }
    let x20 = res.fitted_initial[0]
        .iter()
        .find(|(s, _)| s == "x2")
        .expect("x2(0) reported")
        .1;
    assert!((x20 - 10.0).abs() < 10.0 * tol, "{tag}: x2(0) = {x20}");
    let _ = std::fs::remove_dir_all(&dir);
    res
}

#[test]
fn hidden_state_with_fitted_initial_value() {
    hidden_state_case(0.005, false, 0.05, "plain");
}

/// Learned noise with a hidden state whose initial value is fitted: the equations are those of
/// the plain fit (whole experiments start at a profiled value, never at a noisy observation) and
/// the learned noise has the size of the true one.
#[test]
fn hidden_state_with_learned_noise() {
    let res = hidden_state_case(0.05, true, 0.15, "noise");
    let nz = res.noise.as_ref().expect("learned noise reported");
    // The generator's sd is 5% of max|x1| over the true trajectory.
    let t = uniform_times(15.0, 0.05);
    let clean = generate(&["x1", "x2"], &LV_CYCLE, &[20.0, 10.0], &t, 0.0, 31);
    let truth = 0.05 * clean.values[0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        (nz.sd[0] / truth - 1.0).abs() < 0.2,
        "learned sd {} against {truth}",
        nz.sd[0]
    );
}

/// Pure noise: the fit ends cleanly with a finite loss (whatever it finds), never a panic or hang.
#[test]
fn pure_noise_ends_cleanly() {
    let mut rng = odenet_fit::rng::Rng::new(77);
    let times = uniform_times(10.0, 0.05);
    let values = vec![
        times.iter().map(|_| rng.normal()).collect(),
        times.iter().map(|_| rng.normal()).collect(),
    ];
    let table = odenet_spec::Table {
        file: "noise.csv".into(),
        times,
        values,
    };
    let res = fit(&library_spec(&["x1", "x2"], 2, ""), &[table]);
    assert!(res.loss.is_finite());
    assert!(res.equations.len() == 2);
}

/// Data that explodes (a finite-time blow-up sampled up to 1e12): trial models blow up too;
/// pieces fail, are penalised and counted, and the fit ends cleanly.
#[test]
fn exploding_data_ends_cleanly() {
    // x' = x², x(0) = 1: x = 1/(1 - t), sampled to within 1e-12 of the pole.
    let times: Vec<f64> = (0..60)
        .map(|k| 1.0 - 10f64.powf(-(k as f64) / 5.0))
        .collect();
    let values = vec![times.iter().map(|t| 1.0 / (1.0 - t)).collect()];
    let table = odenet_spec::Table {
        file: "blowup.csv".into(),
        times,
        values,
    };
    let res = odenet_fit::fit(&library_spec(&["x"], 3, ""), &[table], &|_| {}).expect("fit ends");
    assert_eq!(res.equations.len(), 1);
    assert!(res.loss.is_finite());
    // The last values only continue the blow-up: none is set aside as an outlier.
    assert!(res.outliers.is_empty(), "{:?}", res.outliers);
    // The support is x² alone (pieces that blew up while candidates were refitted are
    // charged the penalty; the sparse truth fits without one).
    let kept: Vec<&str> = res
        .param_names
        .iter()
        .zip(&res.params)
        .filter(|(_, v)| v.abs() > 0.0)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(kept, ["dx/dt[x^2]"], "{:?}", res.equations);
}
