//! `odenet simulate`: accuracy against closed forms, the CSV layout, output times and columns,
//! and deterministic noise of the right size.

mod common;

use std::path::Path;

use common::{Csv, odenet, scratch};

/// Runs `odenet simulate ARGS -o DIR/NAME`, expects success and reads the CSV.
fn simulate(dir: &Path, name: &str, args: &[&str]) -> Csv {
    let out = dir.join(name);
    let mut all: Vec<&str> = vec!["simulate"];
    all.extend_from_slice(args);
    all.push("-o");
    all.push(out.to_str().expect("a UTF-8 path"));
    let run = odenet(&all);
    run.expect(0);
    assert_eq!(run.stdout, "", "simulate printed to stdout");
    Csv::read(&out)
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn linear_decay_matches_its_closed_form() {
    let dir = scratch("decay");
    let csv = simulate(
        &dir,
        "decay.csv",
        &[
            "specs/valid/decay.toml",
            "--t-end",
            "5",
            "--dt",
            "0.1",
            "--init",
            "x=2",
        ],
    );
    assert_eq!(csv.header, ["t", "x"]);
    assert_eq!(csv.rows.len(), 51, "t = 0, 0.1, ..., 5");
    let t = csv.col("t");
    for (k, tk) in t.iter().enumerate() {
        assert!((tk - k as f64 * 0.1).abs() < 1e-12, "row {k}: t = {tk}");
    }
    let exact: Vec<f64> = t.iter().map(|t| 2.0 * (-0.7 * t).exp()).collect();
    let err = max_abs_diff(&csv.col("x"), &exact);
    assert!(err <= 1e-7, "max error {err:e}");
    assert!(
        (csv.rows[0][1] - 2.0).abs() < 1e-15,
        "the first row is the initial value"
    );
}

#[test]
fn harmonic_oscillator_matches_its_closed_form() {
    let dir = scratch("oscillator");
    let csv = simulate(
        &dir,
        "osc.csv",
        &[
            "specs/valid/oscillator.toml",
            "--t-end",
            "20",
            "--dt",
            "0.05",
            "--init",
            "x=1,v=0",
        ],
    );
    assert_eq!(csv.header, ["t", "x", "v"]);
    assert_eq!(csv.rows.len(), 401);
    let t = csv.col("t");
    let x: Vec<f64> = t.iter().map(|t| (2.0 * t).cos()).collect();
    let v: Vec<f64> = t.iter().map(|t| -2.0 * (2.0 * t).sin()).collect();
    let (ex, ev) = (
        max_abs_diff(&csv.col("x"), &x),
        max_abs_diff(&csv.col("v"), &v),
    );
    assert!(
        ex <= 1e-7 && ev <= 1e-7,
        "max errors x {ex:e}, v {ev:e} over 6 periods"
    );
}

#[test]
fn t_end_that_is_not_a_multiple_of_dt_stops_before_it() {
    let dir = scratch("t-end");
    let csv = simulate(
        &dir,
        "a.csv",
        &[
            "specs/valid/decay.toml",
            "--t-end",
            "1.05",
            "--dt",
            "0.1",
            "--init",
            "x=1",
        ],
    );
    assert_eq!(csv.rows.len(), 11);
    let csv = simulate(
        &dir,
        "b.csv",
        &[
            "specs/valid/decay.toml",
            "--t-end",
            "1",
            "--dt",
            "0.1",
            "--init",
            "x=1",
        ],
    );
    assert_eq!(
        csv.rows.len(),
        11,
        "t_end itself is included when it is a multiple of dt"
    );
}

#[test]
fn explicit_output_times() {
    let dir = scratch("times");
    let csv = simulate(
        &dir,
        "t.csv",
        &[
            "specs/valid/oscillator.toml",
            "--times",
            "0,0.5,2,7",
            "--init",
            "x=1,v=0",
        ],
    );
    assert_eq!(csv.col("t"), [0.0, 0.5, 2.0, 7.0]);
    for (row, t) in csv.rows.iter().zip([0.0_f64, 0.5, 2.0, 7.0]) {
        assert!((row[1] - (2.0 * t).cos()).abs() <= 1e-7, "x at t = {t}");
        assert!(
            (row[2] + 2.0 * (2.0 * t).sin()).abs() <= 1e-7,
            "v at t = {t}"
        );
    }
    // Times need not start at zero: the initial value belongs to the first time given.
    let csv = simulate(
        &dir,
        "u.csv",
        &[
            "specs/valid/decay.toml",
            "--times",
            "1,2,4",
            "--init",
            "x=3",
        ],
    );
    assert_eq!(csv.col("t"), [1.0, 2.0, 4.0]);
    let exact = [3.0, 3.0 * (-0.7_f64).exp(), 3.0 * (-2.1_f64).exp()];
    assert!(
        max_abs_diff(&csv.col("x"), &exact) <= 1e-7,
        "{:?}",
        csv.col("x")
    );
}

#[test]
fn columns_selects_and_orders_the_states() {
    let dir = scratch("columns");
    let args = [
        "specs/valid/oscillator.toml",
        "--t-end",
        "2",
        "--dt",
        "0.25",
        "--init",
        "x=1,v=0",
    ];
    let full = simulate(&dir, "full.csv", &args);
    let only_v = simulate(&dir, "v.csv", &[&args[..], &["--columns", "v"]].concat());
    assert_eq!(only_v.header, ["t", "v"]);
    assert_eq!(only_v.col("v"), full.col("v"));
    assert_eq!(only_v.col("t"), full.col("t"));
    let swapped = simulate(&dir, "vx.csv", &[&args[..], &["--columns", "v,x"]].concat());
    assert_eq!(swapped.header, ["t", "v", "x"]);
    assert_eq!(swapped.col("x"), full.col("x"));
}

#[test]
fn the_output_is_data_that_check_accepts() {
    // A simulated file is in the data format: a spec can point at it.
    let dir = scratch("roundtrip");
    simulate(
        &dir,
        "osc.csv",
        &[
            "specs/valid/oscillator.toml",
            "--t-end",
            "3",
            "--dt",
            "0.1",
            "--init",
            "x=1,v=0",
        ],
    );
    let spec = dir.join("osc.toml");
    std::fs::write(
        &spec,
        "states = [\"x\", \"v\"]\n\n[library]\npolynomial = 1\n\n[[data]]\nfile = \"osc.csv\"\n",
    )
    .expect("cannot write a spec");
    let run = odenet([std::ffi::OsStr::new("check"), spec.as_os_str()]);
    run.expect(0);
    assert!(
        run.stdout
            .contains("data osc.csv: 31 rows, t from 0 to 3\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn noise_is_deterministic_per_seed_and_of_the_requested_size() {
    let dir = scratch("noise");
    let base = [
        "specs/valid/oscillator.toml",
        "--t-end",
        "200",
        "--dt",
        "0.02",
        "--init",
        "x=1,v=0",
    ];
    let noisy = |name: &str, seed: &str| {
        simulate(
            &dir,
            name,
            &[&base[..], &["--noise", "0.05", "--seed", seed]].concat(),
        );
        std::fs::read(dir.join(name)).expect("cannot read the output")
    };
    let a = noisy("a.csv", "7");
    let b = noisy("b.csv", "7");
    let c = noisy("c.csv", "8");
    assert!(a == b, "the same seed gave different files");
    assert!(a != c, "different seeds gave the same file");

    // sd = EPS * max|x| per state: max|x| = 1 and max|v| = 2 on this orbit.
    let clean = simulate(&dir, "clean.csv", &base);
    let noisy = Csv::parse(std::str::from_utf8(&a).expect("UTF-8"));
    assert_eq!(
        noisy.col("t"),
        clean.col("t"),
        "noise is added to the states only"
    );
    for (state, sd_expected) in [("x", 0.05), ("v", 0.10)] {
        let r: Vec<f64> = noisy
            .col(state)
            .iter()
            .zip(clean.col(state))
            .map(|(n, c)| n - c)
            .collect();
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        let sd = (r.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!(
            (sd / sd_expected - 1.0).abs() < 0.05,
            "{state}: sd {sd}, expected {sd_expected}"
        );
        assert!(mean.abs() < 0.05 * sd_expected, "{state}: mean {mean}");
    }

    // Zero noise changes nothing.
    simulate(
        &dir,
        "zero.csv",
        &[&base[..], &["--noise", "0", "--seed", "3"]].concat(),
    );
    assert!(
        std::fs::read(dir.join("zero.csv")).expect("read")
            == std::fs::read(dir.join("clean.csv")).expect("read"),
        "--noise 0 changed the output"
    );
}

#[test]
fn a_spec_with_constants_takes_them_from_const() {
    // The actin fixture declares the constant m_tot (in its [[data]] tables), so simulate asks
    // for its value; with the parameters at their starting values the model integrates.
    let dir = scratch("actin");
    let args = [
        "specs/valid/actin-physical.toml",
        "--t-end",
        "1",
        "--dt",
        "0.5",
        "--init",
        "P=0,M=1,m=6.4",
    ];
    let out = dir.join("missing.csv");
    let out = out.to_str().expect("UTF-8");
    odenet([&["simulate"][..], &args[..], &["-o", out]].concat())
        .input_error(&["m_tot", "--const m_tot=VALUE"]);
    let csv = simulate(
        &dir,
        "actin.csv",
        &[&args[..], &["--const", "m_tot=7.4"]].concat(),
    );
    assert_eq!(csv.header, ["t", "P", "M", "m"]);
    assert_eq!(csv.rows.len(), 3);
    let m = csv.col("M");
    assert!(m[2] > m[0], "dM/dt = a3*m*M > 0 with a3 = 0.01: {m:?}");
    // dM/dt = -dm/dt: the total M + m is conserved.
    for row in &csv.rows {
        assert!((row[2] + row[3] - 7.4).abs() < 1e-8, "{row:?}");
    }
}
