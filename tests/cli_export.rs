//! `odenet export`: every language snapshot-tested on two model files (a library model, and a
//! template model with a hidden state, a constant, tied and fixed parameters and two
//! experiments); the exported Rust compiled with rustc and run, its right-hand side compared
//! with odenet's at random points; rounding to standard errors; a fitted model end to end;
//! bad input. (The exported Python is executed by the pytest suite of crates/odenet-py.)

mod common;

use std::path::Path;
use std::process::Command;

use common::{odenet, root, scratch};
use odenet_report::ModelFile;
use odenet_report::export::{Precision, System};
use odenet_tape::OdeRhs;

const LIBRARY: &str = "tests/fixtures/lorenz-model.json";
const TEMPLATE: &str = "tests/fixtures/actin-toy-model.json";
const LANGS: [&str; 6] = ["latex", "python", "sympy", "julia", "rust", "c"];

fn stem(model: &str) -> &str {
    Path::new(model)
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a file name")
}

#[test]
fn every_language_matches_its_snapshot() {
    for model in [LIBRARY, TEMPLATE] {
        for lang in LANGS {
            let run = odenet(["export", model, "--to", lang]);
            run.expect(0);
            insta::assert_snapshot!(format!("{}-{lang}", stem(model)), run.stdout);
        }
    }
}

#[test]
fn full_precision_keeps_every_digit_and_rounding_stays_within_the_errors() {
    let rounded = odenet(["export", LIBRARY, "--to", "python"]);
    let full = odenet(["export", LIBRARY, "--to", "python", "--full-precision"]);
    rounded.expect(0);
    full.expect(0);
    assert!(
        full.stdout.contains("-10.012345678901234*x"),
        "{}",
        full.stdout
    );
    // se 0.0213: the second significant digit of the error is the third decimal.
    assert!(rounded.stdout.contains("-10.012*x"), "{}", rounded.stdout);
    assert!(rounded.stdout.contains("0.99988*x*y"), "{}", rounded.stdout);
    // Every rounded coefficient is within a twentieth of its standard error of the full one.
    let m = ModelFile::parse(&std::fs::read_to_string(root().join(LIBRARY)).expect("read"))
        .expect("parse");
    let sys = System::from_model(&m, Precision::StandardError).expect("system");
    for (ts, e) in m.terms.iter().zip(&sys.equations) {
        let text = e.to_string();
        for t in ts {
            let r = odenet_report::export::round_to_se(t.value, t.std_error);
            assert!((r - t.value).abs() <= 0.05 * t.std_error, "{} {r}", t.value);
            assert!(
                text.contains(&odenet_spec::format_number(r.abs())),
                "{text}"
            );
        }
    }
}

/// odenet's own right-hand side of a model file at `x` with constants `c`.
fn odenet_rhs(m: &ModelFile, x: &[f64], c: &[f64]) -> Vec<f64> {
    let (model, p) = m.compile().expect("the model compiles");
    let rhs = model.rhs(c);
    let mut scratch = vec![0.0; rhs.scratch_len()];
    let mut f = vec![0.0; x.len()];
    rhs.rhs(x, &p, &mut scratch, &mut f);
    f
}

/// A deterministic pseudo-random number in [lo, hi).
fn uniform(seed: &mut u64, lo: f64, hi: f64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    lo + (hi - lo) * ((*seed >> 11) as f64 / (1u64 << 53) as f64)
}

#[test]
fn exported_rust_compiles_and_equals_odenet_at_random_points() {
    let dir = scratch("export-rust");
    for (model, consts) in [(LIBRARY, vec![]), (TEMPLATE, vec![7.4])] {
        let m = ModelFile::parse(&std::fs::read_to_string(root().join(model)).expect("read"))
            .expect("parse");
        let run = odenet(["export", model, "--to", "rust", "--full-precision"]);
        run.expect(0);
        let n = m.states.len();
        // Random points with positive values (the template takes P^1.5).
        let mut seed = 7u64;
        let points: Vec<Vec<f64>> = (0..20)
            .map(|_| (0..n).map(|_| uniform(&mut seed, 0.1, 9.0)).collect())
            .collect();
        let mut main = String::from("fn main() {\n    let mut du = [0.0f64; STATES.len()];\n");
        for x in &points {
            main.push_str(&format!(
                "    rhs(0.0, &{x:?}, &PARAMS, &mut du);\n    println!(\"{{:?}}\", du);\n"
            ));
        }
        main.push_str("}\n");
        let src = dir.join(format!("{}.rs", stem(model)));
        std::fs::write(&src, format!("{}\n{main}", run.stdout)).expect("write");
        let exe = dir.join(stem(model));
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = Command::new(rustc)
            .args(["--edition", "2021", "-D", "warnings", "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("cannot run rustc");
        assert!(
            out.status.success(),
            "the exported Rust does not compile:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            run.stdout
        );
        let out = Command::new(&exe).output().expect("cannot run the program");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let rows: Vec<Vec<f64>> = text
            .lines()
            .map(|l| {
                l.trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .map(|v| v.trim().parse().expect("a number"))
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), points.len());
        for (x, got) in points.iter().zip(&rows) {
            let want = odenet_rhs(&m, x, &consts);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1e-300),
                    "{model} at {x:?}: exported {a}, odenet {b}"
                );
            }
        }
    }
}

#[test]
fn a_fitted_model_exports_with_its_experiments() {
    let dir = scratch("export-fit");
    let path = dir.join("m.json");
    let p = path.to_str().expect("UTF-8");
    odenet(["fit", "specs/lv-limit-cycle.toml", "-o", p, "--quiet"]).expect(0);
    let out = dir.join("m.py");
    let run = odenet([
        "export",
        p,
        "--to",
        "python",
        "-o",
        out.to_str().expect("UTF-8"),
    ]);
    run.expect(0);
    assert_eq!(run.stdout, "", "-o writes the file, not stdout");
    let code = std::fs::read_to_string(&out).expect("the export was written");
    // The data start at x1 = 20, x2 = 10 at t = 0 and run to t = 20.
    assert!(code.contains("\"t0\": 0.0, \"t_end\": 20.0"), "{code}");
    assert!(code.contains("def rhs(t, x, p=PARAMS):"), "{code}");
    let latex = odenet(["export", p, "--to", "LaTeX"]);
    latex.expect(0);
    assert!(
        latex
            .stdout
            .contains("\\frac{\\mathrm{d}x_{1}}{\\mathrm{d}t} &="),
        "{}",
        latex.stdout
    );
}

#[test]
fn bad_input_is_a_located_error() {
    odenet(["export", LIBRARY, "--to", "fortran"])
        .input_error(&["\"fortran\"", "latex, python, sympy, julia, rust, c"]);
    odenet(["export", "no/such/model.json", "--to", "c"])
        .input_error(&["no/such/model.json", "odenet fit SPEC -o model.json"]);
    let dir = scratch("export-bad");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        "{\n  \"format\": \"odenet-model/1\",\n  \"states\": [\"x\"\n}\n",
    )
    .expect("write");
    odenet(["export", bad.to_str().expect("UTF-8"), "--to", "c"]).input_error(&[
        "bad.json",
        "not valid JSON",
        "line 4",
    ]);
    let wrong = dir.join("wrong.json");
    std::fs::write(
        &wrong,
        r#"{"format": "odenet-model/1", "states": ["x"], "equations": {"x": "2*"}}"#,
    )
    .expect("write");
    odenet(["export", wrong.to_str().expect("UTF-8"), "--to", "julia"])
        .input_error(&["wrong.json", "equation of x does not parse"]);
}
