//! `odenet sweep`, `odenet sweep-task` and `odenet collect`: a sweep of 20 specs run locally
//! (from a CSV manifest) and through the generated Slurm job-array script (from a TOML
//! manifest), its tasks run here one by one with the scheduler's environment variables set;
//! both give the same models, and each model recovers the system that made the data.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{odenet, root, scratch};
use serde_json::Value;

const TASKS: usize = 20;

/// Writes 20 specs (the over-damped Lotka–Volterra library fit, each with its own name and
/// seed) into `dir`; returns their paths.
fn write_specs(dir: &Path) -> Vec<PathBuf> {
    let data = root().join("data/lv-overdamped.csv");
    (0..TASKS)
        .map(|k| {
            let p = dir.join(format!("lv-{k:02}.toml"));
            let text = format!(
                "name = \"lv-{k:02}\"\nstates = [\"x1\", \"x2\"]\n\n[library]\npolynomial = 2\n\n[[data]]\nfile = \"{}\"\n\n[fit]\nseed = {k}\n",
                data.display()
            );
            std::fs::write(&p, text).expect("write a spec");
            p
        })
        .collect()
}

fn read_json(p: &Path) -> Value {
    let text =
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

/// A coefficient: state, term, value, standard error.
type Coef = (String, String, f64, f64);

/// The collected results without the wall-clock times: (name, status, loss, coefficients).
fn results(dir: &Path) -> Vec<(String, String, f64, Vec<Coef>)> {
    let doc = read_json(&dir.join("results.json"));
    doc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            let coefs = t["coefficients"]
                .as_array()
                .expect("coefficients")
                .iter()
                .map(|c| {
                    (
                        c["state"].as_str().unwrap_or_default().to_string(),
                        c["term"].as_str().unwrap_or_default().to_string(),
                        c["value"].as_f64().unwrap_or(f64::NAN),
                        c["std_error"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect();
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["status"].as_str().unwrap_or_default().to_string(),
                t["loss"].as_f64().unwrap_or(f64::NAN),
                coefs,
            )
        })
        .collect()
}

/// Every task's model is the system that made the data: dx1/dt = 1.5 x1 − x1² − x1 x2,
/// dx2/dt = −x2 + x1 x2 (specs/truth/lv-overdamped.toml), each coefficient within four standard
/// errors and nothing else selected.
fn check_recovered(dir: &Path) {
    let truth = [
        ("x1", "x1", 1.5),
        ("x1", "x1^2", -1.0),
        ("x1", "x1*x2", -1.0),
        ("x2", "x2", -1.0),
        ("x2", "x1*x2", 1.0),
    ];
    let rs = results(dir);
    assert_eq!(rs.len(), TASKS);
    for (name, status, _, coefs) in &rs {
        assert_eq!(status, "converged", "{name}");
        assert_eq!(coefs.len(), truth.len(), "{name}: {coefs:?}");
        for (st, term, v) in truth {
            let c = coefs
                .iter()
                .find(|c| c.0 == st && c.1 == term)
                .unwrap_or_else(|| panic!("{name}: d{st}/dt lacks {term}: {coefs:?}"));
            assert!(
                (c.2 - v).abs() <= 4.0 * c.3 && c.3 > 0.0 && c.3 < 0.05,
                "{name}: d{st}/dt[{term}] = {} ± {}, truth {v}",
                c.2,
                c.3
            );
        }
    }
}

#[test]
fn sweep_of_20_specs_locally_and_as_a_slurm_array() {
    let dir = scratch("sweep");
    let specs = write_specs(&dir);

    // Locally, from a CSV manifest (paths relative to it; `seed` is a [fit] column).
    let mut csv = String::from("name,spec,seed\n");
    for (k, p) in specs.iter().enumerate() {
        csv.push_str(&format!(
            "lv-{k:02},{},{k}\n",
            p.file_name().expect("name").to_string_lossy()
        ));
    }
    std::fs::write(dir.join("sweep.csv"), csv).expect("write the manifest");
    let local = dir.join("local");
    let r = odenet([
        "sweep".as_ref(),
        dir.join("sweep.csv").as_os_str(),
        "-o".as_ref(),
        local.as_os_str(),
        "--jobs".as_ref(),
        "2".as_ref(),
        "--quiet".as_ref(),
    ]);
    r.expect(0);
    assert!(r.stdout.contains("20 tasks"), "{}", r.stdout);
    assert!(r.stdout.contains("20 converged"), "{}", r.stdout);
    for k in 0..TASKS {
        let t = local.join("tasks").join(format!("{k:04}-lv-{k:02}"));
        let spec = std::fs::read_to_string(t.join("spec.toml")).expect("the task's spec");
        assert!(spec.contains(&format!("seed = {k}")), "{spec}");
        let m = read_json(&t.join("model.json"));
        assert_eq!(m["format"], "odenet-model/1");
        assert_eq!(read_json(&t.join("status.json"))["exit_code"], 0);
    }
    let c = odenet(["collect".as_ref(), local.as_os_str()]);
    c.expect(0);
    assert!(c.stdout.contains("20 tasks: 20 converged"), "{}", c.stdout);
    check_recovered(&local);
    // The CSV table: a header and one row per task and coefficient (5 each).
    let table = std::fs::read_to_string(local.join("results.csv")).expect("results.csv");
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("task,name,status,exit_code,seconds,loss,active_terms,state,term,value,std_error")
    );
    assert_eq!(lines.count(), TASKS * 5);
    let page = std::fs::read_to_string(local.join("index.html")).expect("index.html");
    assert!(page.contains("20/20"), "every term selected in every task");

    // As a Slurm job array, from a TOML manifest: the script is written, not run.
    let mut toml = String::from("threads = 1\n");
    for (k, p) in specs.iter().enumerate() {
        toml.push_str(&format!(
            "\n[[task]]\nname = \"lv-{k:02}\"\nspec = \"{}\"\nfit = {{ seed = {k} }}\n",
            p.display()
        ));
    }
    std::fs::write(dir.join("sweep.toml"), toml).expect("write the manifest");
    let array = dir.join("array");
    let r = odenet([
        "sweep".as_ref(),
        dir.join("sweep.toml").as_os_str(),
        "-o".as_ref(),
        array.as_os_str(),
        "--emit".as_ref(),
        "slurm".as_ref(),
    ]);
    r.expect(0);
    let script = array.join("sweep.slurm");
    let text = std::fs::read_to_string(&script).expect("the script");
    assert!(text.starts_with("#!/usr/bin/env bash\n"), "{text}");
    assert!(text.contains("\n#SBATCH --array=0-19\n"), "{text}");
    assert!(text.contains("\n#SBATCH --cpus-per-task=1\n"), "{text}");
    // Nothing ran yet.
    assert!(!array.join("tasks/0000-lv-00/model.json").exists());
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("bash");
    assert!(syntax.success(), "bash -n {}", script.display());
    // Outside Slurm the script refuses to run.
    let bare = Command::new("bash")
        .arg(&script)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .expect("bash");
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("sbatch"));
    // Each array task as Slurm would start it (in the submit folder, with its variables).
    for k in 0..TASKS {
        let out = Command::new("bash")
            .arg(&script)
            .current_dir(&dir)
            .env("SLURM_ARRAY_TASK_ID", k.to_string())
            .env("SLURM_ARRAY_JOB_ID", "4242")
            .env("SLURM_JOB_ID", (4300 + k).to_string())
            .env("SLURM_CPUS_PER_TASK", "1")
            .env("SLURMD_NODENAME", "node07")
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "task {k}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let status = read_json(&array.join(format!("tasks/{k:04}-lv-{k:02}/status.json")));
        assert_eq!(status["slurm_job"], "4242");
        assert_eq!(status["host"], "node07");
    }
    let c = odenet(["collect".as_ref(), array.as_os_str()]);
    c.expect(0);
    check_recovered(&array);
    // The same fits, whichever way they ran.
    assert_eq!(results(&array), results(&local));
}

#[test]
fn collect_reports_tasks_that_did_not_run() {
    let dir = scratch("sweep-partial");
    let specs = write_specs(&dir);
    let toml = format!(
        "[[grid]]\nspec = \"{}\"\nfit = {{ seed = [1, 2] }}\n",
        specs[0].display()
    );
    std::fs::write(dir.join("m.toml"), toml).expect("write");
    let out = dir.join("out");
    odenet([
        "sweep".as_ref(),
        dir.join("m.toml").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--emit".as_ref(),
        "slurm".as_ref(),
    ])
    .expect(0);
    odenet(["sweep-task".as_ref(), out.as_os_str(), "1".as_ref()]).expect(0);
    let c = odenet(["collect".as_ref(), out.as_os_str()]);
    c.expect(1);
    assert!(
        c.stdout.contains("2 tasks: 1 converged, 1 not run"),
        "{}",
        c.stdout
    );
    let rs = results(&out);
    assert_eq!(rs[0].1, "not run");
    assert_eq!(rs[1].1, "converged");
    assert_eq!(rs[1].0, "lv-00-seed2");
    // A task index past the end is a located input error.
    odenet(["sweep-task".as_ref(), out.as_os_str(), "2".as_ref()])
        .input_error(&["no task 2", "tasks 0 to 1"]);
}

#[test]
fn bad_manifests_are_located_input_errors() {
    let dir = scratch("sweep-bad");
    let specs = write_specs(&dir);
    let run = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        odenet([
            "sweep".as_ref(),
            p.as_os_str(),
            "-o".as_ref(),
            dir.join("out").as_os_str(),
        ])
    };
    run("a.toml", "[[task]]\nspec = \"x.toml\"\nsped = 3\n").input_error(&[
        "a.toml",
        "[[task]] 1",
        "unknown key `sped`",
    ]);
    run("b.toml", "[[task]]\nspec = \"missing.toml\"\n").input_error(&[
        "b.toml",
        "[[task]] 1",
        "missing.toml",
        "nothing was run",
    ]);
    // A [fit] option the spec rejects: the spec's own located diagnostic, naming the task.
    run(
        "c.toml",
        &format!(
            "[[grid]]\nspec = \"{}\"\nfit = {{ holdout = [0.2, 7.0] }}\n",
            specs[0].display()
        ),
    )
    .input_error(&[
        "c.toml",
        "[[grid]] 1",
        "task 1",
        "holdout",
        "1 task of the sweep",
    ]);
    run("d.csv", "name,data\nx,y.csv\n").input_error(&["d.csv", "no `spec` column"]);
    run("e.toml", "").input_error(&["e.toml", "lists no task"]);
    run("f.toml", "[[task]\n").input_error(&["f.toml", "not a valid TOML manifest"]);
    let p = dir.join("a.toml");
    odenet([
        "sweep".as_ref(),
        p.as_os_str(),
        "--emit".as_ref(),
        "pbs".as_ref(),
    ])
    .input_error(&["--emit pbs", "slurm"]);
    odenet(["collect".as_ref(), dir.join("nowhere").as_os_str()])
        .input_error(&["sweep.json", "odenet sweep"]);
}
