//! `mpirun -n N odenet fit` (built with `--features mpi`): one fit shared by N processes gives
//! the bit-identical model for N = 1, 2, 3 and for 1 or 2 threads per process, and the same as
//! the fit without mpirun; only rank 0 prints; bad input stops every process with the located
//! message, printed once.
//!
//! Runs with `cargo test --release --features mpi --test cli_mpi` where `mpirun` is on the PATH
//! (Open MPI; `.ci/run` installs it from Debian's packages).

#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, odenet, root, scratch};
use serde_json::Value;

/// `mpirun -n N odenet ARGS` (oversubscribed: more processes than cores is fine here).
/// `odenet fit SPEC -o OUT --threads T EXTRA…` over `n` MPI processes.
fn mpi_fit(n: usize, spec: &str, out: &Path, threads: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "fit",
        spec,
        "-o",
        out.to_str().expect("path"),
        "--threads",
        threads,
    ];
    args.extend_from_slice(extra);
    mpirun(n, &args)
}

fn mpirun(n: usize, args: &[&str]) -> Run {
    let out = Command::new("mpirun")
        .args([
            "--oversubscribe",
            "--allow-run-as-root",
            "-n",
            &n.to_string(),
        ])
        .arg(env!("CARGO_BIN_EXE_odenet"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("cannot start mpirun (install Open MPI: apt-get install openmpi-bin)");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Four experiments of the Lotka–Volterra limit cycle from different starts with 1% noise, cut
/// into pieces of 8 points: 40 pieces over the three processes' shares.
fn problem(dir: &Path) -> PathBuf {
    let mut data = String::new();
    for (k, (x1, x2)) in [(20.0, 10.0), (35.0, 15.0), (15.0, 25.0), (45.0, 30.0)]
        .iter()
        .enumerate()
    {
        let csv = dir.join(format!("exp{k}.csv"));
        odenet([
            "simulate",
            "specs/truth/lv-limit-cycle.toml",
            "--t-end",
            "8",
            "--dt",
            "0.1",
            "--init",
            &format!("x1={x1},x2={x2}"),
            "--noise",
            "0.01",
            "--seed",
            &k.to_string(),
            "-o",
            csv.to_str().expect("path"),
        ])
        .expect(0);
        data.push_str(&format!("\n[[data]]\nfile = \"{}\"\n", csv.display()));
    }
    let spec = dir.join("lv4.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"lv4\"\nstates = [\"x1\", \"x2\"]\n\n[library]\npolynomial = 2\n\n[fit]\nsegment = 8\n{data}"
        ),
    )
    .expect("write the spec");
    spec
}

fn model(path: &Path) -> Value {
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("model file")).expect("JSON");
    m["fit"]
        .as_object_mut()
        .expect("fit")
        .remove("seconds")
        .expect("seconds");
    m
}

#[test]
fn the_fit_is_bit_identical_for_1_2_3_processes() {
    let dir = scratch("mpi");
    let spec = problem(&dir);
    let spec = spec.to_str().expect("path");
    let plain = dir.join("plain.json");
    odenet(["fit", spec, "-o", plain.to_str().expect("path"), "--quiet"]).expect(0);
    let want = model(&plain);
    // The system that made the data (specs/truth/lv-limit-cycle.toml), each coefficient within
    // four standard errors.
    for (st, term, v) in [
        ("x1", "x1", 1.0),
        ("x1", "x1*x2", -0.05),
        ("x2", "x2", -1.0),
        ("x2", "x1*x2", 0.03),
    ] {
        let got = want["terms"][st][term].as_f64().expect("a selected term");
        let se = want["std_errors"][st][term]
            .as_f64()
            .expect("its standard error");
        assert!(
            (got - v).abs() <= 4.0 * se,
            "d{st}/dt[{term}] = {got} ± {se}"
        );
    }
    assert_eq!(want["fit"]["active_terms"], 4, "{want}");
    for (n, threads) in [(1, "2"), (2, "1"), (2, "2"), (3, "1")] {
        let out = dir.join(format!("n{n}-t{threads}.json"));
        let r = mpi_fit(n, spec, &out, threads, &[]);
        r.expect(0);
        // Rank 0 alone prints: one summary, one note of the processes.
        assert_eq!(
            r.stdout.matches("discovered equations").count(),
            1,
            "{}",
            r.stdout
        );
        if n > 1 {
            assert_eq!(
                r.stderr
                    .matches(&format!("fitting on {n} MPI processes"))
                    .count(),
                1,
                "{}",
                r.stderr
            );
        }
        assert_eq!(model(&out), want, "{n} processes, {threads} threads");
    }
}

/// The hidden-state templates (the physical actin model: whole experiments, a multi-start
/// global stage and stepwise refits run several at once on the worker threads): evaluations
/// inside those parallel sections are computed whole by every process, the others shared, and
/// the model is the same bit for bit. (Before, a refit started on a worker thread gathered its
/// chunks while another process gathered another refit's: MPI_ERR_TRUNCATE with 3 processes.)
#[test]
fn hidden_state_templates_are_bit_identical_for_2_and_3_processes() {
    let dir = scratch("mpi-hidden");
    let plain = dir.join("plain.json");
    let spec = "specs/actin-kcl-physical.toml";
    odenet(["fit", spec, "-o", plain.to_str().expect("path"), "--quiet"]).expect(0);
    let want = model(&plain);
    for (n, threads) in [(2, "2"), (3, "1")] {
        let out = dir.join(format!("n{n}-t{threads}.json"));
        let r = mpi_fit(n, spec, &out, threads, &["--quiet"]);
        r.expect(0);
        assert_eq!(model(&out), want, "{n} processes, {threads} threads");
    }
}

#[test]
fn bad_input_stops_every_process_with_one_located_message() {
    let dir = scratch("mpi-bad");
    let spec = dir.join("bad.toml");
    std::fs::write(
        &spec,
        "states = [\"x1\", \"x2\"]\n[library]\npolynomial = 2\n[fit]\nholdout = 3\n[[data]]\nfile = \"missing.csv\"\n",
    )
    .expect("write");
    let r = mpirun(3, &["fit", spec.to_str().expect("path")]);
    r.input_error(&["bad.toml", "holdout", "missing.csv"]);
    // Printed once (by rank 0), not once per process.
    assert_eq!(
        r.stderr.matches("must be at least 0 and below 1").count(),
        1,
        "{}",
        r.stderr
    );
    // Other commands are not shared among processes.
    mpirun(2, &["check", spec.to_str().expect("path")])
        .input_error(&["under mpirun only `odenet fit`"]);
}
