//! The hostile inputs of issue 13 that are not golden spec files (those are in
//! `specs/invalid/`, checked by `cli_errors.rs`): each gives exit 0 with a correct result, exit 2
//! with a located message, or a stated warning — never a panic, an abort or a lost model.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Csv, odenet, root, scratch};

/// Writes `files` (name, text) into a fresh scratch folder and returns the folder.
fn case(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("cannot write a test file");
    }
    dir
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The over-damped Lotka–Volterra data shipped with the repository (1001 rows, x1 and x2).
fn lv_data() -> String {
    arg(&root().join("data/lv-overdamped.csv"))
}

/// A quick library spec over the shipped LV data with the given state names (mapped to its
/// columns x1 and x2).
fn lv_library_spec(a: &str, b: &str) -> String {
    format!(
        "states = [\"{a}\", \"{b}\"]\n[library]\npolynomial = 2\n[[data]]\nfile = \"{}\"\ncolumns = {{ {a} = \"x1\", {b} = \"x2\" }}\n[fit]\nsegment = 10\n",
        lv_data()
    )
}

#[test]
fn names_of_any_length_print() {
    // 70 000 characters panicked `check` (a format width beyond 65535).
    let long_a = "a".repeat(70_000);
    let long_b = "b".repeat(70_000);
    let dir = case(
        "long-names",
        &[("s.toml", &lv_library_spec(&long_a, &long_b))],
    );
    let run = odenet(["check", &arg(&dir.join("s.toml"))]);
    run.expect(0);
    assert!(
        run.stdout.contains(&long_a),
        "check shows the names in full"
    );

    // 25 000 characters panicked `fit` after the fit, while printing, and lost the -o file.
    let long_a = "p".repeat(25_000);
    let long_b = "q".repeat(25_000);
    let dir = case(
        "long-names-fit",
        &[("s.toml", &lv_library_spec(&long_a, &long_b))],
    );
    let model = dir.join("m.json");
    let run = odenet([
        "fit",
        &arg(&dir.join("s.toml")),
        "-o",
        &arg(&model),
        "--quiet",
    ]);
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // Tables cut the names to 40 characters with an ellipsis.
    let cut = format!("{}…", "p".repeat(39));
    assert!(
        run.stdout.contains(&cut),
        "{}",
        &run.stdout[..2000.min(run.stdout.len())]
    );
    let text = std::fs::read_to_string(&model).expect("the model file was written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["states"][0].as_str(), Some(long_a.as_str()));
}

#[test]
fn an_endless_spec_file_is_refused_at_its_size_limit() {
    let start = Instant::now();
    odenet(["check", "/dev/zero"]).input_error(&["/dev/zero", "larger than the limit of 4 MiB"]);
    odenet(["fit", "/dev/zero"]).input_error(&["larger than the limit"]);
    // A model file is read with its own limit.
    let dir = scratch("zero-model");
    let link = dir.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("cannot make a symlink");
    odenet([
        "simulate",
        &arg(&link),
        "--t-end",
        "1",
        "--dt",
        "0.1",
        "-o",
        &arg(&dir.join("o.csv")),
    ])
    .input_error(&["larger than the limit of 64 MiB"]);
    // It read 4.2 GB in 20 s before.
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_huge_csv_header_is_not_echoed_whole() {
    let junk = "c".repeat(1_000_000);
    let csv = format!("t,{junk},{junk}2\n0,1,2\n1,2,3\n");
    let spec = "states = [\"x\"]\n[library]\npolynomial = 1\n[[data]]\nfile = \"d.csv\"\n";
    let dir = case("long-header", &[("d.csv", &csv), ("s.toml", spec)]);
    let run = odenet(["check", &arg(&dir.join("s.toml"))]);
    run.input_error(&["no column `x`", "d.csv:1"]);
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes echoed",
        run.stderr.len()
    );
}

#[test]
fn thread_counts_are_capped_with_a_message() {
    let dir = case("threads", &[("s.toml", &lv_library_spec("x1", "x2"))]);
    let start = Instant::now();
    let run = odenet([
        "fit",
        &arg(&dir.join("s.toml")),
        "--quiet",
        "--threads",
        "100000",
    ]);
    run.expect(0);
    assert!(
        run.stderr.contains("--threads 100000 is more than"),
        "{}",
        run.stderr
    );
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_failed_write_keeps_the_previous_model_file() {
    let dir = case("atomic", &[("s.toml", &lv_library_spec("x1", "x2"))]);
    let spec = arg(&dir.join("s.toml"));
    let model = dir.join("m.json");
    odenet(["fit", &spec, "-o", &arg(&model), "--quiet"]).expect(0);
    let before = std::fs::read_to_string(&model).expect("a first model");
    // A file-size limit of one block: the new model file cannot be written.
    let exe = env!("CARGO_BIN_EXE_odenet");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 1 && exec '{exe}' fit '{spec}' -o '{}' --quiet",
            model.display()
        ))
        .output()
        .expect("cannot run sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the model file"), "{stderr}");
    let after = std::fs::read_to_string(&model).expect("the model file is still there");
    assert_eq!(before, after, "the previous model file changed");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // A folder that does not exist is a plain error too.
    odenet([
        "fit",
        &spec,
        "-o",
        &arg(&dir.join("no/such/dir/m.json")),
        "--quiet",
    ])
    .input_error(&["cannot write the model file"]);
}

#[test]
fn a_closed_stdout_does_not_lose_the_model() {
    let dir = case("closed-stdout", &[("s.toml", &lv_library_spec("x1", "x2"))]);
    let model = dir.join("m.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args([
            "fit",
            &arg(&dir.join("s.toml")),
            "-o",
            &arg(&model),
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start odenet");
    // Close the reading end at once, as `odenet fit … | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("odenet ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(model.is_file(), "the model file was not written");
}

#[test]
fn ctrl_c_writes_the_best_model_found_so_far() {
    // A quartic library on the Lorenz data takes many seconds: long enough to interrupt.
    let spec = format!(
        "states = [\"x\", \"y\", \"z\"]\n[library]\npolynomial = 4\n[[data]]\nfile = \"{}\"\n[fit]\nsegment = 10\n",
        arg(&root().join("data/lorenz.csv"))
    );
    let dir = case("ctrl-c", &[("s.toml", &spec)]);
    let model = dir.join("m.json");
    let child = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args([
            "fit",
            &arg(&dir.join("s.toml")),
            "-o",
            &arg(&model),
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start odenet");
    std::thread::sleep(Duration::from_millis(2500));
    let interrupted = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("cannot run kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("odenet ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        interrupted.elapsed() < Duration::from_secs(30),
        "it took {:?} to stop",
        interrupted.elapsed()
    );
    let text = std::fs::read_to_string(&model).expect("the best model was written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["states"].as_array().map(Vec::len), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dx/dt"));
}

/// A truth spec whose equations use a constant, with no [[data]] table at all.
const DECAY_WITH_CONSTANT: &str = "states = [\"x\"]\n[params]\nk = { value = 0.5, fixed = true }\n[equations]\nx = \"-k*x + F\"\n";

#[test]
fn simulate_a_spec_whose_constant_comes_from_the_command_line() {
    let dir = case("const-no-data", &[("truth.toml", DECAY_WITH_CONSTANT)]);
    let out = dir.join("o.csv");
    let sim = |c: &str| {
        odenet([
            "simulate",
            &arg(&dir.join("truth.toml")),
            "--t-end",
            "4",
            "--dt",
            "1",
            "--init",
            "x=0",
            "--const",
            c,
            "-o",
            &arg(&out),
        ])
    };
    sim("F=1").expect(0);
    // x' = -k x + F from 0: x = (F/k)(1 - e^{-kt}).
    let csv = Csv::read(&out);
    for (t, x) in csv.col("t").iter().zip(csv.col("x")) {
        let want = 2.0 * (1.0 - (-0.5 * t).exp());
        assert!((x - want).abs() < 1e-7, "t = {t}: {x} vs {want}");
    }
    // A constant the model does not use is still refused.
    sim("F=1,G=1").input_error(&["--const G", "no constant"]);
    // Without --const, the unknown name is located in the spec.
    odenet(["check", &arg(&dir.join("truth.toml"))])
        .input_error(&["unknown symbol `F`", "truth.toml:5"]);
}

#[test]
fn simulate_refuses_outputs_beyond_its_limit_before_any_work() {
    // 30 states to 47.6 M rows aborted allocating 11.4 GB.
    let states: Vec<String> = (0..30).map(|i| format!("s{i}")).collect();
    let mut spec = format!(
        "states = [{}]\n[params]\nk = {{ value = 0.1, fixed = true }}\n[equations]\n",
        states
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for s in &states {
        spec.push_str(&format!("{s} = \"-k*{s}\"\n"));
    }
    let init: Vec<String> = states.iter().map(|s| format!("{s}=1")).collect();
    let dir = case("sim-limit", &[("s.toml", &spec)]);
    let start = Instant::now();
    let run = odenet([
        "simulate",
        &arg(&dir.join("s.toml")),
        "--t-end",
        "476000",
        "--dt",
        "0.01",
        "--init",
        &init.join(","),
        "-o",
        &arg(&dir.join("o.csv")),
    ]);
    run.input_error(&["47600001 rows", "the limit is 1e8 values"]);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!dir.join("o.csv").exists());
    // A t-end/dt ratio beyond any integer is refused too, not wrapped around.
    odenet([
        "simulate",
        &arg(&dir.join("s.toml")),
        "--t-end",
        "1e300",
        "--dt",
        "1e-300",
        "--init",
        &init.join(","),
        "-o",
        &arg(&dir.join("o.csv")),
    ])
    .input_error(&["the limit is 1e8 values"]);
}

#[test]
fn simulate_streams_long_outputs_with_the_values_of_one_integration() {
    let truth = arg(&root().join("specs/truth/lv-overdamped.toml"));
    let dir = scratch("sim-stream");
    let long = dir.join("long.csv");
    let short = dir.join("short.csv");
    // 20 001 rows: five chunks of integration.
    odenet([
        "simulate",
        &truth,
        "--t-end",
        "20",
        "--dt",
        "0.001",
        "--init",
        "x1=3,x2=2",
        "-o",
        &arg(&long),
    ])
    .expect(0);
    odenet([
        "simulate",
        &truth,
        "--times",
        "0,5,10,20",
        "--init",
        "x1=3,x2=2",
        "-o",
        &arg(&short),
    ])
    .expect(0);
    let long = Csv::read(&long);
    let short = Csv::read(&short);
    assert_eq!(long.rows.len(), 20_001);
    for row in &short.rows {
        let k = (row[0] * 1000.0).round() as usize;
        let other = &long.rows[k];
        for j in 1..3 {
            assert!(
                (row[j] - other[j]).abs() <= 1e-7 * row[j].abs().max(1e-3),
                "t = {}: {} vs {}",
                row[0],
                row[j],
                other[j]
            );
        }
    }
}

#[test]
fn simulate_flags_given_twice_or_overflowing_are_refused() {
    let truth = arg(&root().join("specs/truth/lv-overdamped.toml"));
    let dir = scratch("sim-flags");
    let out = arg(&dir.join("o.csv"));
    let sim = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            truth.as_str(),
            "--t-end",
            "1",
            "--dt",
            "0.1",
            "-o",
            &out,
        ];
        args.extend_from_slice(extra);
        odenet(args)
    };
    sim(&["--init", "x1=1,x1=2,x2=1"]).input_error(&["--init gives \"x1\" twice"]);
    // --noise 1e308 wrote -inf.
    sim(&["--init", "x1=1,x2=1", "--noise", "1e308"]).input_error(&["--noise", "overflow"]);
    sim(&["--init", "x1=1,x2=1", "--noise", "0.01"]).expect(0);
    let csv = Csv::read(&dir.join("o.csv"));
    assert!(csv.rows.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn suspicious_but_legal_data_is_named_in_a_warning() {
    let data = lv_data();
    // The same file in two [[data]] tables.
    let dup = format!(
        "states = [\"x1\", \"x2\"]\n[library]\npolynomial = 1\n[[data]]\nfile = \"{data}\"\n[[data]]\nfile = \"{data}\"\n"
    );
    // A state without a column, unobserved because its initial value is given.
    let unobserved = format!(
        "states = [\"x1\", \"w\"]\n[library]\npolynomial = 1\n[[data]]\nfile = \"{data}\"\ninitial = {{ w = 1.0 }}\n"
    );
    let dir = case(
        "warnings",
        &[("dup.toml", &dup), ("unobserved.toml", &unobserved)],
    );
    let run = odenet(["check", &arg(&dir.join("dup.toml"))]);
    run.expect(0);
    assert!(
        run.stderr
            .contains("warning: experiment 2 reads the same file as experiment 1")
            && run.stderr.contains("dup.toml:7:8"),
        "{}",
        run.stderr
    );
    let run = odenet(["check", &arg(&dir.join("unobserved.toml"))]);
    run.expect(0);
    assert!(
        run.stderr
            .contains("warning: the data file has no column `w`, so state `w` is unobserved")
            && run.stderr.contains("lv-overdamped.csv:1"),
        "{}",
        run.stderr
    );
}

#[test]
fn double_star_is_a_power() {
    let run = odenet(["simplify", "x**2*x"]);
    run.expect(0);
    assert_eq!(run.stdout.trim(), "x^3");
}
