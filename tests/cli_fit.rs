//! `odenet fit` end to end on the shipped Lotka–Volterra limit-cycle data: the model file, the
//! printed equations, determinism across thread counts, and simulating the fitted model.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{Csv, Run, odenet, scratch};
use serde_json::Value;

const SPEC: &str = "specs/lv-limit-cycle.toml";

/// One fit per thread setting (None = all cores), shared by the tests of this file.
struct Fitted {
    run: Run,
    path: PathBuf,
    model: Value,
}

fn fit(threads: Option<&str>) -> Fitted {
    let dir = scratch(&format!("fit-threads-{}", threads.unwrap_or("all")));
    let path = dir.join("m.json");
    let mut args = vec!["fit", SPEC, "-o", path.to_str().expect("UTF-8"), "--quiet"];
    if let Some(n) = threads {
        args.extend_from_slice(&["--threads", n]);
    }
    let run = odenet(&args);
    run.expect(0);
    let text = std::fs::read_to_string(&path).expect("fit wrote no model file");
    let model: Value = serde_json::from_str(&text).expect("the model file is not JSON");
    Fitted { run, path, model }
}

fn default_fit() -> &'static Fitted {
    static F: OnceLock<Fitted> = OnceLock::new();
    F.get_or_init(|| fit(None))
}

#[test]
fn fit_discovers_the_limit_cycle() {
    let f = default_fit();
    let m = &f.model;
    assert_eq!(m["format"], "odenet-model/1");
    assert_eq!(m["name"], "lv-limit-cycle");
    assert_eq!(m["states"], serde_json::json!(["x1", "x2"]));
    let terms = m["terms"].as_object().expect("`terms` is an object");
    assert_eq!(terms.len(), 2, "{terms:?}");
    let expected = [
        ("x1", [("x1", 1.0), ("x1*x2", -0.05)]),
        ("x2", [("x2", -1.0), ("x1*x2", 0.03)]),
    ];
    for (state, want) in expected {
        let got = terms[state]
            .as_object()
            .unwrap_or_else(|| panic!("no terms for {state}"));
        let mut names: Vec<&str> = got.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want_names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
        want_names.sort_unstable();
        assert_eq!(names, want_names, "support of d{state}/dt");
        for (name, value) in want {
            let v = got[name].as_f64().expect("a number");
            assert!(
                (v / value - 1.0).abs() <= 0.06,
                "d{state}/dt: {name} = {v}, expected {value} ± 6%"
            );
            // Each kept term has a standard error, small against its value and consistent
            // with the truth.
            let se = m["std_errors"][state][name]
                .as_f64()
                .unwrap_or_else(|| panic!("no standard error for d{state}/dt {name}"));
            assert!(se > 0.0 && se < 0.05 * value.abs(), "{name}: se {se}");
            assert!((v - value).abs() < 4.0 * se, "{name} = {v} ± {se}");
        }
    }
    assert_eq!(m["fit"]["active_terms"], 4);
    assert!(
        m["fit"]["loss"]
            .as_f64()
            .is_some_and(|l| l.is_finite() && l > 0.0)
    );
    assert_eq!(m["fit"]["converged"], true);
}

#[test]
fn fit_prints_the_equations_of_the_model_file() {
    let f = default_fit();
    let out = &f.run.stdout;
    // Printed with each coefficient rounded to the digits its standard error supports, as
    // `odenet export` rounds the model file's terms.
    let text = std::fs::read_to_string(&f.path).expect("the model file");
    let mf = odenet_report::ModelFile::parse(&text).expect("a model file");
    let sys = odenet_report::export::System::from_model(
        &mf,
        odenet_report::export::Precision::StandardError,
    )
    .expect("the model file's terms");
    for (state, eq) in mf.states.iter().zip(&sys.equations) {
        assert!(
            out.contains(&format!("d{state}/dt = {eq}\n")),
            "d{state}/dt = {eq} not in\n{out}"
        );
    }
    assert!(out.contains("4 active terms"), "{out}");
    assert!(out.contains("loss "), "{out}");
    // --quiet: no progress and no "model written" note.
    assert_eq!(f.run.stderr, "");
}

/// Everything but the wall-clock time.
fn without_seconds(mut m: Value) -> Value {
    m["fit"]
        .as_object_mut()
        .expect("`fit` is an object")
        .remove("seconds");
    m
}

#[test]
fn fit_is_deterministic_across_thread_counts() {
    let all = without_seconds(default_fit().model.clone());
    let one = fit(Some("1"));
    let two = fit(Some("2"));
    assert_eq!(
        without_seconds(one.model.clone()),
        without_seconds(two.model.clone()),
        "--threads 1 vs 2"
    );
    assert_eq!(without_seconds(one.model), all, "--threads 1 vs all cores");
    // The printed equations agree too (the line with the time differs).
    let eqs = |r: &Run| {
        r.stdout
            .lines()
            .filter(|l| l.contains("/dt = "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(eqs(&one.run), eqs(&two.run));
}

#[test]
fn the_fitted_model_tracks_the_data() {
    let f = default_fit();
    let dir = scratch("fit-simulate");
    let out = dir.join("sim.csv");
    // The data were made from x1 = 20, x2 = 10 at t = 0 with dt = 0.01 up to t = 20.
    let run = odenet([
        "simulate",
        f.path.to_str().expect("UTF-8"),
        "--t-end",
        "20",
        "--dt",
        "0.01",
        "--init",
        "x1=20,x2=10",
        "-o",
        out.to_str().expect("UTF-8"),
    ]);
    run.expect(0);
    let sim = Csv::read(&out);
    let data = Csv::read(&common::root().join("data/lv-limit-cycle.csv"));
    assert_eq!(sim.header, data.header);
    assert_eq!(sim.rows.len(), data.rows.len());
    for (a, b) in sim.col("t").iter().zip(data.col("t")) {
        assert!((a - b).abs() < 1e-9, "times differ: {a} vs {b}");
    }
    for state in ["x1", "x2"] {
        let (s, d) = (sim.col(state), data.col(state));
        let rms =
            (s.iter().zip(&d).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        let scale = d.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        // The data carry 1% noise (sd = 0.01 * max); the fitted trajectory stays within twice that.
        assert!(
            rms / scale < 0.02,
            "{state}: RMS error {rms} against a scale of {scale}"
        );
    }
}
