//! Bad input never panics: it exits with status 2 and a message that names the file and the
//! line/column (or row), or the flag at fault.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use common::{odenet, scratch, stem, tomls};

/// Invalid specs whose problem has no single line: a missing key, or a data file as a whole.
const WHOLE_FILE: &[&str] = &["missing-states", "no-model", "csv-too-few-rows"];

/// `odenet check SPEC` on an invalid spec: exit 2, the file (the spec or its data file) with a
/// line number, and the rendered diagnostics as in the snapshot.
fn check_invalid(spec: &Path) {
    let run = odenet([std::ffi::OsStr::new("check"), spec.as_os_str()]);
    run.input_error(&["problem"]);
    assert_eq!(run.stdout, "", "check printed to stdout");
    let name = stem(spec);
    let located = run.stderr.lines().any(|l| {
        let Some(loc) = l.trim_start().strip_prefix("--> ") else {
            return false;
        };
        let in_file =
            loc.starts_with(&spec.display().to_string()) || loc.starts_with("specs/invalid/data/");
        in_file
            && (WHOLE_FILE.contains(&name.as_str())
                || loc
                    .split(':')
                    .nth(1)
                    .is_some_and(|n| n.parse::<u32>().is_ok()))
    });
    assert!(located, "{name}: no `--> FILE:LINE` in\n{}", run.stderr);
    insta::assert_snapshot!(format!("invalid-{name}"), run.stderr);
}

#[test]
fn every_invalid_spec_is_rejected_by_check_with_its_location() {
    let specs = tomls("specs/invalid");
    let failed: Vec<String> = specs
        .iter()
        .filter(|s| catch_unwind(AssertUnwindSafe(|| check_invalid(s))).is_err())
        .map(|s| s.display().to_string())
        .collect();
    assert!(failed.is_empty(), "failed for: {}", failed.join(", "));
}

#[test]
fn every_invalid_spec_is_rejected_by_fit_with_the_same_message() {
    for spec in tomls("specs/invalid") {
        let check = odenet([std::ffi::OsStr::new("check"), spec.as_os_str()]);
        let fit = odenet([
            std::ffi::OsStr::new("fit"),
            spec.as_os_str(),
            std::ffi::OsStr::new("--quiet"),
        ]);
        fit.input_error(&[]);
        assert_eq!(fit.stdout, "", "{}: fit printed to stdout", spec.display());
        assert_eq!(
            fit.stderr,
            check.stderr,
            "{}: fit and check disagree",
            spec.display()
        );
    }
}

#[test]
fn a_missing_spec_file_is_named() {
    let missing = "specs/no-such-spec.toml";
    for cmd in ["check", "fit", "bench", "simplify"] {
        odenet([cmd, missing]).input_error(&[missing]);
    }
    odenet([
        "simulate",
        missing,
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1",
        "-o",
        "/dev/null",
    ])
    .input_error(&[missing]);
}

#[test]
fn bad_thread_counts_and_solvers() {
    odenet([
        "fit",
        "specs/lv-limit-cycle.toml",
        "--threads",
        "0",
        "--quiet",
    ])
    .input_error(&["--threads"]);
    let run = odenet(["bench", "specs/lv-limit-cycle.toml", "--threads", "0"]);
    run.input_error(&["--threads"]);
    assert_eq!(
        run.stdout, "",
        "nothing is printed before the flags are checked"
    );
    let run = odenet([
        "bench",
        "specs/lv-limit-cycle.toml",
        "--solvers",
        "tsit5,rk4",
    ]);
    run.input_error(&[
        "--solvers",
        "\"rk4\"",
        "tsit5, tsit45, esdirk34, tr_bdf2, bdf, auto",
    ]);
    assert_eq!(run.stdout, "");
    odenet(["fit", "specs/lv-limit-cycle.toml", "--threads", "many"]).input_error(&["--threads"]);
}

#[test]
fn unknown_commands_and_flags() {
    odenet(["frobnicate"]).input_error(&["frobnicate"]);
    odenet(["check"]).input_error(&["SPEC"]);
    odenet(["check", "specs/lorenz.toml", "--frobnicate"]).input_error(&["--frobnicate"]);
    // Help is not an error.
    odenet(["--help"]).expect(0);
}

/// `odenet simulate` with the oscillator fixture and `args`, output into a scratch folder.
fn simulate(args: &[&str]) -> common::Run {
    let out: PathBuf = scratch("errors-simulate").join("out.csv");
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out.to_str().expect("UTF-8")]);
    odenet(all)
}

#[test]
fn bad_simulate_flags() {
    let osc = "specs/valid/oscillator.toml";
    simulate(&[osc, "--init", "x=1,v=0"]).input_error(&["--t-end", "--times"]);
    simulate(&[osc, "--t-end", "1", "--init", "x=1,v=0"]).input_error(&["--dt"]);
    simulate(&[osc, "--t-end", "1", "--dt", "0.1", "--init", "x=1"])
        .input_error(&["no initial value for v", "--init x=1,v=1"]);
    simulate(&[osc, "--t-end", "1", "--dt", "0.1"]).input_error(&["no initial value for x, v"]);
    simulate(&[osc, "--t-end", "1", "--dt", "0.1", "--init", "x=abc,v=0"])
        .input_error(&["--init", "\"abc\" is not a number"]);
    simulate(&[osc, "--t-end", "1", "--dt", "0.1", "--init", "x=inf,v=0"]).input_error(&["finite"]);
    simulate(&[osc, "--t-end", "1", "--dt", "0.1", "--init", "x1"]).input_error(&["NAME=VALUE"]);
    simulate(&[osc, "--t-end", "1", "--dt", "0.1", "--init", "x=1,v=0,q=2"])
        .input_error(&["no state \"q\"", "x, v"]);
    simulate(&[
        osc,
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1,v=0",
        "--columns",
        "q",
    ])
    .input_error(&["--columns q"]);
    simulate(&[
        osc, "--t-end", "1", "--dt", "0.1", "--init", "x=1,v=0", "--const", "k=1",
    ])
    .input_error(&["--const k"]);
    simulate(&[osc, "--t-end", "1", "--dt=0", "--init", "x=1,v=0"]).input_error(&["--dt"]);
    simulate(&[osc, "--t-end=-1", "--dt", "0.1", "--init", "x=1,v=0"]).input_error(&["--t-end"]);
    simulate(&[osc, "--times", "0,2,1", "--init", "x=1,v=0"]).input_error(&["increasing"]);
    simulate(&[osc, "--times", "0", "--init", "x=1,v=0"]).input_error(&["at least two"]);
    simulate(&[
        osc,
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1,v=0",
        "--noise=-0.1",
    ])
    .input_error(&["--noise"]);
    simulate(&[
        osc, "--t-end", "1", "--dt", "0.1", "--init", "x=1,v=0", "--seed", "-3",
    ])
    .input_error(&["-3"]);
    // A library spec has no coefficients to simulate with.
    simulate(&[
        "specs/lorenz.toml",
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1,y=1,z=1",
    ])
    .input_error(&["specs/lorenz.toml", "library spec", "odenet fit"]);
    // An invalid spec is reported as by `check`.
    simulate(&[
        "specs/invalid/unknown-symbol.toml",
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1,y=1",
    ])
    .input_error(&["specs/invalid/unknown-symbol.toml:9:12", "bb"]);
    // An output file that cannot be written.
    let run = odenet([
        "simulate",
        osc,
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1,v=0",
        "-o",
        "/nonexistent/dir/o.csv",
    ]);
    run.input_error(&["/nonexistent/dir/o.csv"]);
}

#[test]
fn bad_model_files() {
    let dir = scratch("bad-models");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "not-json.json",
            "this is not JSON\n",
            &["not valid JSON", "line 1"],
        ),
        (
            "truncated.json",
            "{\"format\": \"odenet-model/1\", \"states\": [\"x\"",
            &["not valid JSON", "line 1"],
        ),
        (
            "other-format.json",
            "{\"format\": \"other/2\"}",
            &["unsupported model format \"other/2\"", "odenet-model/1"],
        ),
        ("array.json", "[1, 2]", &["odenet-model/1"]),
        (
            "no-states.json",
            "{\"format\": \"odenet-model/1\"}",
            &["`states`"],
        ),
        (
            "no-equation.json",
            "{\"format\": \"odenet-model/1\", \"name\": \"m\", \"states\": [\"x\"], \"equations\": {\"y\": \"x\"}}",
            &["equations.x"],
        ),
        (
            "bad-equation.json",
            "{\"format\": \"odenet-model/1\", \"name\": \"m\", \"states\": [\"x\"], \"hidden\": [], \"constants\": [], \
             \"params\": {}, \"equations\": {\"x\": \"-0.5*x +\"}, \"terms\": {}, \"fit\": {}}",
            &["equation of x", "end of expression"],
        ),
        ("empty.json", "", &["not valid JSON"]),
    ];
    for (name, text, needles) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("cannot write a model file");
        let p = path.to_str().expect("UTF-8");
        let out = dir.join("out.csv");
        let run = odenet([
            "simulate",
            p,
            "--t-end",
            "1",
            "--dt",
            "0.1",
            "--init",
            "x=1",
            "-o",
            out.to_str().expect("UTF-8"),
        ]);
        let mut all = vec![p];
        all.extend_from_slice(needles);
        run.input_error(&all);
    }
    let missing = dir.join("missing.json");
    odenet([
        "simulate",
        missing.to_str().expect("UTF-8"),
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "--init",
        "x=1",
        "-o",
        "/dev/null",
    ])
    .input_error(&["missing.json"]);
}

#[test]
fn simplify_syntax_error() {
    let run = odenet(["simplify", "x +"]);
    run.input_error(&["column 4"]);
    assert_eq!(run.stdout, "");
}
