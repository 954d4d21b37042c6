//! One task of a prepared sweep (`odenet sweep-task DIR INDEX`): its fit, model file, summary
//! and outcome, and the task list it is found in.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use super::SWEEP_FORMAT;
use crate::CliError;
use crate::args::SweepTaskArgs;
use crate::cmd::{load_spec, load_tables, with_threads};

/// The task list of a prepared sweep.
pub fn read_index(dir: &Path) -> Result<Value, CliError> {
    let path = dir.join("sweep.json");
    let text =
        odenet_spec::read_text_limited(&path, 256 << 20, "sweep task list").map_err(|m| {
            CliError::input(format!(
                "error: {}: {m}\n  = help: prepare the sweep with `odenet sweep MANIFEST -o {}`",
                path.display(),
                dir.display()
            ))
        })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        CliError::input(format!(
            "error: {}: not a sweep task list: {e}",
            path.display()
        ))
    })?;
    if doc["format"] != SWEEP_FORMAT || !doc["tasks"].is_array() {
        return Err(CliError::input(format!(
            "error: {}: not a sweep task list (format {SWEEP_FORMAT})",
            path.display()
        )));
    }
    Ok(doc)
}

/// `odenet sweep-task DIR INDEX`: runs one prepared task and records its outcome in the task's
/// folder (`model.json`, `summary.txt`, `status.json`); the exit status is the fit's.
pub fn run_task(a: SweepTaskArgs) -> Result<u8, CliError> {
    let doc = read_index(&a.dir)?;
    let tasks = doc["tasks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let task = tasks.get(a.index).ok_or_else(|| {
        CliError::input(format!(
            "error: {}: no task {} (the sweep has tasks 0 to {})",
            a.dir.join("sweep.json").display(),
            a.index,
            tasks.len().saturating_sub(1)
        ))
    })?;
    let folder = task["folder"].as_str().unwrap_or_default();
    let dir = a.dir.join("tasks").join(folder);
    let t = Instant::now();
    let outcome = fit_task(
        &dir,
        a.threads.or(doc["threads"].as_u64().map(|t| t as usize)),
    );
    let seconds = t.elapsed().as_secs_f64();
    let (code, error) = match &outcome {
        Ok(c) => (*c, None),
        Err(e) => (e.code, Some(e.message.clone())),
    };
    let status = json!({
        "format": SWEEP_FORMAT,
        "index": a.index,
        "name": task["name"],
        "status": match code { 0 => "converged", 1 => "not converged", 130 => "interrupted", _ => "failed" },
        "exit_code": code,
        "seconds": seconds,
        "error": error,
        "host": std::env::var("SLURMD_NODENAME").or_else(|_| std::env::var("HOSTNAME")).ok(),
        "slurm_job": std::env::var("SLURM_ARRAY_JOB_ID").ok(),
    });
    let path = dir.join("status.json");
    let text = serde_json::to_string_pretty(&status).unwrap_or_default() + "\n";
    crate::output::write_atomic(&path, text.as_bytes()).map_err(|e| CliError {
        message: format!("error: cannot write {}: {e}", path.display()),
        code: 2,
    })?;
    outcome
}

/// Fits the task in `dir`: its spec, model file and summary.
fn fit_task(dir: &Path, threads: Option<usize>) -> Result<u8, CliError> {
    let spec = load_spec(&dir.join("spec.toml"))?;
    let tables = load_tables(&spec)?;
    if tables.is_empty() {
        return Err(CliError::input(
            "error: the task's spec has no [[data]] table",
        ));
    }
    let cancel = crate::output::cancel_on_interrupt();
    let res = with_threads(threads, || {
        odenet_fit::fit_with(&spec, &tables, &|_| {}, &cancel)
    })?
    .map_err(|e| CliError::input(format!("error: {e}")))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        crate::output::write_atomic(&p, text.as_bytes()).map_err(|e| CliError {
            message: format!("error: cannot write {}: {e}", p.display()),
            code: 2,
        })
    };
    write(
        "model.json",
        &odenet_report::model_file::to_json_spec(&res, &spec),
    )?;
    let mut summary = odenet_report::summary::fit_summary(&res);
    for w in &res.warnings {
        summary.push_str(&format!("warning: {w}\n"));
    }
    write("summary.txt", &summary)?;
    crate::cmd::out(&summary);
    Ok(if res.cancelled {
        130
    } else if res.converged {
        0
    } else {
        1
    })
}
