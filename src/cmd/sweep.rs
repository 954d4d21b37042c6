//! `odenet sweep MANIFEST [-o DIR] [--jobs N] [--threads T] [--emit slurm]` and
//! `odenet sweep-task DIR INDEX`: many independent fits (spec × data × options).
//!
//! A sweep is prepared once: the manifest (TOML or CSV) is expanded into tasks, and each task
//! gets a folder `DIR/tasks/NNNN-name/` holding its own spec (`spec.toml`: the task's spec with
//! its data files and `[fit]` options applied, every path absolute) and, after it ran, its model
//! file (`model.json`), printed summary (`summary.txt`) and outcome (`status.json`). The list of
//! tasks is `DIR/sweep.json`. Every task is run by `odenet sweep-task DIR INDEX`, locally (in
//! parallel, `--jobs`) or as one task of a Slurm job array (`--emit slurm` writes the script);
//! `odenet collect DIR` gathers the results. No home-made scheduler: a cluster's own runs the
//! array.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use super::{load_tables, render};
use crate::CliError;
use crate::args::{SweepArgs, SweepTaskArgs};

/// The largest manifest read (a manifest of thousands of tasks is well below it).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// The most tasks one manifest may expand to (a grid multiplies quickly).
pub const MAX_TASKS: usize = 100_000;
/// Format tag of `sweep.json` and `status.json`.
pub const SWEEP_FORMAT: &str = "odenet-sweep/1";

/// One fit of a sweep.
#[derive(Clone, Debug)]
struct Task {
    name: String,
    /// The spec it starts from (absolute).
    spec: PathBuf,
    /// Data files replacing the spec's (absolute); empty: the spec's own.
    data: Vec<PathBuf>,
    /// `[fit]` keys set on top of the spec's.
    fit: toml::Table,
    /// Where in the manifest it comes from, for messages.
    origin: String,
}

fn bad(manifest: &Path, msg: impl std::fmt::Display) -> CliError {
    CliError::input(format!("error: {}: {msg}", manifest.display()))
}

/// `path` relative to `base` unless absolute, without `.` and `..` where the file exists.
fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = base.join(path);
    std::fs::canonicalize(&p).unwrap_or_else(|_| std::path::absolute(&p).unwrap_or(p))
}

/// Reads a manifest: `.csv` files as CSV, anything else as TOML.
fn read_manifest(path: &Path) -> Result<(Vec<Task>, toml::Table), CliError> {
    let text = odenet_spec::read_text_limited(path, MAX_MANIFEST_BYTES, "sweep manifest")
        .map_err(|m| bad(path, m))?;
    let base = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        Ok((read_csv_manifest(path, &text, &base)?, toml::Table::new()))
    } else {
        read_toml_manifest(path, &text, &base)
    }
}

fn strings(v: &toml::Value) -> Option<Vec<String>> {
    match v {
        toml::Value::String(s) => Some(vec![s.clone()]),
        toml::Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// The TOML form:
///
/// ```toml
/// output = "results"          # optional, relative to the manifest
/// threads = 1                 # worker threads per task, optional
/// fit = { rounds = 8 }        # [fit] keys for every task, optional
///
/// [[task]]                    # one fit
/// spec = "lv.toml"
/// data = ["a.csv", "b.csv"]   # optional: replaces the spec's data files
/// fit = { seed = 2 }          # optional
/// name = "lv-a"               # optional
///
/// [[grid]]                    # every combination of spec × data × each list in fit
/// spec = ["lv.toml", "lv-cubic.toml"]
/// data = ["a.csv", "b.csv"]   # each element one task's data (a list for several files)
/// fit = { seed = [1, 2, 3], holdout = 0.2 }
/// ```
fn read_toml_manifest(
    path: &Path,
    text: &str,
    base: &Path,
) -> Result<(Vec<Task>, toml::Table), CliError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e| bad(path, format!("not a valid TOML manifest: {e}")))?;
    let mut tasks = Vec::new();
    let mut defaults = toml::Table::new();
    for (key, v) in &doc {
        match key.as_str() {
            "output" | "threads" | "task" | "grid" => {}
            "fit" => {
                defaults = v
                    .as_table()
                    .cloned()
                    .ok_or_else(|| bad(path, "`fit` must be a table of [fit] keys"))?
            }
            other => {
                return Err(bad(
                    path,
                    format!(
                        "unknown key `{other}`\n  = help: a manifest has `output`, `threads`, `fit`, [[task]] and [[grid]]"
                    ),
                ));
            }
        }
    }
    let tables = |key: &str| -> Result<Vec<toml::Table>, CliError> {
        match doc.get(key) {
            None => Ok(vec![]),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|t| {
                    t.as_table().cloned().ok_or_else(|| {
                        bad(path, format!("each `{key}` must be a table ([[{key}]])"))
                    })
                })
                .collect(),
            Some(_) => Err(bad(path, format!("`{key}` must be written [[{key}]]"))),
        }
    };
    for (k, t) in tables("task")?.into_iter().enumerate() {
        let origin = format!("[[task]] {}", k + 1);
        let at = |m: String| bad(path, format!("{origin}: {m}"));
        check_keys(&t, &["spec", "data", "fit", "name"]).map_err(at)?;
        let spec = t.get("spec").and_then(toml::Value::as_str).ok_or_else(|| {
            at("`spec` (the path of a spec file) is missing or not a string".into())
        })?;
        let data = match t.get("data") {
            None => vec![],
            Some(v) => {
                strings(v).ok_or_else(|| at("`data` must be a path or a list of paths".into()))?
            }
        };
        let fit = match t.get("fit") {
            None => toml::Table::new(),
            Some(v) => v
                .as_table()
                .cloned()
                .ok_or_else(|| at("`fit` must be a table of [fit] keys".into()))?,
        };
        let name = match t.get("name") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| at("`name` must be a string".into()))?
                    .to_string(),
            ),
        };
        tasks.push(new_task(base, spec, &data, fit, name, origin));
    }
    for (k, g) in tables("grid")?.into_iter().enumerate() {
        let origin = format!("[[grid]] {}", k + 1);
        let at = |m: String| bad(path, format!("{origin}: {m}"));
        check_keys(&g, &["spec", "data", "fit", "name"]).map_err(at)?;
        let specs = g
            .get("spec")
            .and_then(strings)
            .ok_or_else(|| at("`spec` must be a path or a list of paths".into()))?;
        let datas: Vec<Vec<String>> = match g.get("data") {
            None => vec![vec![]],
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|d| {
                    strings(d).ok_or_else(|| {
                        at("each `data` entry must be a path or a list of paths".into())
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(v) => {
                vec![strings(v).ok_or_else(|| at("`data` must be a path or a list".into()))?]
            }
        };
        let mut fits = vec![toml::Table::new()];
        if let Some(f) = g.get("fit") {
            let f = f
                .as_table()
                .ok_or_else(|| at("`fit` must be a table of [fit] keys".into()))?;
            for (key, v) in f {
                let values = match v {
                    toml::Value::Array(a) if !a.is_empty() => a.clone(),
                    toml::Value::Array(_) => {
                        return Err(at(format!(
                            "`fit.{key}` is an empty list: nothing to sweep"
                        )));
                    }
                    other => vec![other.clone()],
                };
                fits = fits
                    .iter()
                    .flat_map(|base| {
                        values.iter().map(move |v| {
                            let mut t = base.clone();
                            t.insert(key.clone(), v.clone());
                            t
                        })
                    })
                    .collect();
                if fits.len() > MAX_TASKS {
                    return Err(at(format!("the grid has more than {MAX_TASKS} tasks")));
                }
            }
        }
        let prefix = match g.get("name") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| at("`name` must be a string".into()))?
                    .to_string(),
            ),
        };
        if specs
            .len()
            .saturating_mul(datas.len())
            .saturating_mul(fits.len())
            > MAX_TASKS
        {
            return Err(at(format!("the grid has more than {MAX_TASKS} tasks")));
        }
        for s in &specs {
            for d in &datas {
                for f in &fits {
                    let mut t = new_task(base, s, d, f.clone(), None, origin.clone());
                    if let Some(p) = &prefix {
                        t.name = format!("{p}-{}", t.name);
                    }
                    tasks.push(t);
                }
            }
        }
    }
    for t in &mut tasks {
        for (k, v) in &defaults {
            t.fit.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok((tasks, doc))
}

fn check_keys(t: &toml::Table, allowed: &[&str]) -> Result<(), String> {
    match t.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown key `{k}`; expected one of {}",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

/// The CSV form: a header with `spec` and optionally `name` and `data` (several files separated
/// by `;`); every other column is a `[fit]` key (an empty cell leaves the spec's value).
fn read_csv_manifest(path: &Path, text: &str, base: &Path) -> Result<Vec<Task>, CliError> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| bad(path, format!("cannot read the CSV header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |n: &str| header.iter().position(|h| h == n);
    let spec_col = col("spec").ok_or_else(|| {
        bad(
            path,
            "the CSV manifest has no `spec` column\n  = help: the header names `spec`, optionally `name` and `data`, and [fit] keys",
        )
    })?;
    let mut tasks = Vec::new();
    for (k, rec) in rd.records().enumerate() {
        let line = k + 2;
        let rec = rec.map_err(|e| bad(path, format!("line {line}: {e}")))?;
        let cell = |j: usize| rec.get(j).unwrap_or("");
        let spec = cell(spec_col);
        if spec.is_empty() {
            return Err(bad(path, format!("line {line}: the `spec` cell is empty")));
        }
        let data: Vec<String> = col("data")
            .map(|j| {
                cell(j)
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let name = col("name")
            .map(|j| cell(j).to_string())
            .filter(|s| !s.is_empty());
        let mut fit = toml::Table::new();
        for (j, h) in header.iter().enumerate() {
            if ["spec", "data", "name"].contains(&h.as_str()) || cell(j).is_empty() {
                continue;
            }
            fit.insert(h.clone(), csv_value(cell(j)));
        }
        tasks.push(new_task(
            base,
            spec,
            &data,
            fit,
            name,
            format!("line {line}"),
        ));
        if tasks.len() > MAX_TASKS {
            return Err(bad(path, format!("more than {MAX_TASKS} tasks")));
        }
    }
    Ok(tasks)
}

/// A CSV cell as a TOML value: an integer, a number, a boolean, or else a string.
fn csv_value(s: &str) -> toml::Value {
    if let Ok(i) = s.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(x) = s.parse::<f64>() {
        toml::Value::Float(x)
    } else if let Ok(b) = s.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(s.to_string())
    }
}

fn new_task(
    base: &Path,
    spec: &str,
    data: &[String],
    fit: toml::Table,
    name: Option<String>,
    origin: String,
) -> Task {
    let spec = resolve(base, spec);
    let data: Vec<PathBuf> = data.iter().map(|d| resolve(base, d)).collect();
    let name = name.unwrap_or_else(|| {
        let stem = |p: &Path| {
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let mut n = stem(&spec);
        for d in &data {
            n.push('-');
            n.push_str(&stem(d));
        }
        for (k, v) in &fit {
            let v = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            n.push_str(&format!("-{k}{v}"));
        }
        n
    });
    Task {
        name,
        spec,
        data,
        fit,
        origin,
    }
}

/// A name usable as a folder: letters, digits, `.`, `-` and `_`; others become `_`.
fn folder_name(index: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{index:04}-{clean}")
}

/// The task's spec text: its spec with the data files replaced, every data path absolute and
/// the `[fit]` keys set.
fn derive_spec(t: &Task) -> Result<String, String> {
    let text = odenet_spec::read_text_limited(&t.spec, odenet_spec::MAX_SPEC_BYTES, "spec file")?;
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e| format!("not a valid TOML spec: {e}"))?;
    let dir = t.spec.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut data: Vec<toml::Table> = match doc.get("data") {
        None => vec![],
        Some(toml::Value::Array(a)) => a.iter().filter_map(|d| d.as_table().cloned()).collect(),
        Some(_) => return Err("`data` must be written [[data]]".into()),
    };
    for d in &mut data {
        if let Some(toml::Value::String(f)) = d.get("file") {
            let abs = std::fs::canonicalize(dir.join(f))
                .or_else(|_| std::path::absolute(dir.join(f)))
                .unwrap_or_else(|_| dir.join(f));
            d.insert("file".into(), abs.to_string_lossy().into_owned().into());
        }
    }
    if !t.data.is_empty() {
        data = match data.len() {
            0 => t
                .data
                .iter()
                .map(|f| {
                    let mut d = toml::Table::new();
                    d.insert("file".into(), f.to_string_lossy().into_owned().into());
                    d
                })
                .collect(),
            1 => t
                .data
                .iter()
                .map(|f| {
                    let mut d = data[0].clone();
                    d.insert("file".into(), f.to_string_lossy().into_owned().into());
                    d
                })
                .collect(),
            n if n == t.data.len() => data
                .into_iter()
                .zip(&t.data)
                .map(|(mut d, f)| {
                    d.insert("file".into(), f.to_string_lossy().into_owned().into());
                    d
                })
                .collect(),
            n => {
                return Err(format!(
                    "the spec has {n} [[data]] tables and the task gives {} data files; give one file per table, or use a spec with one [[data]] table",
                    t.data.len()
                ));
            }
        };
    }
    if !data.is_empty() {
        doc.insert(
            "data".into(),
            toml::Value::Array(data.into_iter().map(toml::Value::Table).collect()),
        );
    }
    if !t.fit.is_empty() {
        let fit = doc
            .entry("fit")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let fit = fit
            .as_table_mut()
            .ok_or("`fit` of the spec is not a table")?;
        for (k, v) in &t.fit {
            fit.insert(k.clone(), v.clone());
        }
    }
    let body = toml::to_string(&doc).map_err(|e| format!("cannot write the task's spec: {e}"))?;
    Ok(format!(
        "# Written by `odenet sweep` from {}: the task's data and [fit] options applied.\n{body}",
        t.spec.display()
    ))
}

/// Expands the manifest and writes every task's folder and `sweep.json`; returns the sweep
/// folder (absolute) and the task folders.
fn prepare(a: &SweepArgs) -> Result<(PathBuf, Vec<String>, usize), CliError> {
    let (tasks, doc) = read_manifest(&a.manifest)?;
    if tasks.is_empty() {
        return Err(bad(
            &a.manifest,
            "the manifest lists no task\n  = help: add a [[task]] or [[grid]] (TOML) or a row (CSV)",
        ));
    }
    let base = std::fs::canonicalize(&a.manifest)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let out = match (&a.output, doc.get("output")) {
        (Some(o), _) => o.clone(),
        (None, Some(toml::Value::String(o))) => base.join(o),
        (None, Some(_)) => return Err(bad(&a.manifest, "`output` must be a folder path")),
        (None, None) => {
            let stem = a
                .manifest
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into());
            base.join(format!("{stem}.sweep"))
        }
    };
    let threads = match (a.threads, doc.get("threads")) {
        (Some(t), _) => t,
        (None, Some(toml::Value::Integer(t))) if *t >= 1 => *t as usize,
        (None, Some(_)) => {
            return Err(bad(
                &a.manifest,
                "`threads` must be a whole number of at least 1",
            ));
        }
        (None, None) => 1,
    };
    if threads == 0 {
        return Err(CliError::input("error: --threads must be at least 1"));
    }
    let cannot = |what: &str, p: &Path, e: std::io::Error| CliError {
        message: format!("error: cannot {what} {}: {e}", p.display()),
        code: 2,
    };
    std::fs::create_dir_all(out.join("tasks"))
        .map_err(|e| cannot("create the sweep folder", &out, e))?;
    let out = std::fs::canonicalize(&out).map_err(|e| cannot("open the sweep folder", &out, e))?;
    let mut problems = Vec::new();
    let mut folders = Vec::new();
    let mut index = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, t) in tasks.iter().enumerate() {
        let folder = folder_name(i, &t.name);
        let dir = out.join("tasks").join(&folder);
        let label = format!(
            "{}: {} (task {i}, `{}`)",
            a.manifest.display(),
            t.origin,
            t.name
        );
        if !seen.insert(t.name.clone()) {
            problems.push(format!(
                "error: {label}: another task has the same name\n  = help: give the tasks distinct `name`s"
            ));
        }
        let text = match derive_spec(t) {
            Ok(text) => text,
            Err(m) => {
                problems.push(format!("error: {label}: {}: {m}", t.spec.display()));
                continue;
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| cannot("create the task folder", &dir, e))?;
        let spec_path = dir.join("spec.toml");
        crate::output::write_atomic(&spec_path, text.as_bytes())
            .map_err(|e| cannot("write the task's spec", &spec_path, e))?;
        if let Err(d) = odenet_spec::Spec::from_str(&text, &spec_path) {
            problems.push(format!("error: {label}:\n{}", render(&d)));
        }
        index.push(json!({
            "index": i,
            "name": t.name,
            "folder": folder,
            "spec": t.spec.to_string_lossy(),
            "data": t.data.iter().map(|d| d.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "fit": toml_to_json(&toml::Value::Table(t.fit.clone())),
        }));
        folders.push(folder);
    }
    if !problems.is_empty() {
        let n = problems.len();
        return Err(CliError::input(format!(
            "{}\nerror: {n} task{} of the sweep cannot run; nothing was run",
            problems.join("\n"),
            if n == 1 { "" } else { "s" }
        )));
    }
    let doc = json!({
        "format": SWEEP_FORMAT,
        "manifest": std::fs::canonicalize(&a.manifest).unwrap_or(a.manifest.clone()).to_string_lossy(),
        "threads": threads,
        "tasks": index,
    });
    let path = out.join("sweep.json");
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    crate::output::write_atomic(&path, text.as_bytes())
        .map_err(|e| cannot("write the task list", &path, e))?;
    Ok((out, folders, threads))
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn run(a: SweepArgs) -> Result<u8, CliError> {
    if let Some(e) = &a.emit
        && e != "slurm"
    {
        return Err(CliError::input(format!(
            "error: --emit {e}: unknown scheduler\n  = help: --emit slurm writes a Slurm job-array script"
        )));
    }
    if a.jobs == Some(0) {
        return Err(CliError::input("error: --jobs must be at least 1"));
    }
    let (out, folders, threads) = prepare(&a)?;
    let n = folders.len();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .ok_or_else(|| CliError::input("error: cannot find the odenet executable"))?;
    if a.emit.is_some() {
        let logs = out.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| CliError {
            message: format!("error: cannot create {}: {e}", logs.display()),
            code: 2,
        })?;
        let limit = a.jobs.map(|j| format!("%{j}")).unwrap_or_default();
        let script = format!(
            "#!/usr/bin/env bash\n\
             # odenet sweep of {manifest}: {n} fits as one Slurm job array.\n\
             # Submit:   sbatch {script}\n\
             # Gather:   odenet collect {dir}\n\
             # Each array task runs one fit: `odenet sweep-task DIR INDEX` writes DIR/tasks/*/model.json.\n\
             #SBATCH --job-name=odenet-sweep\n\
             #SBATCH --array=0-{last}{limit}\n\
             #SBATCH --ntasks=1\n\
             #SBATCH --cpus-per-task={threads}\n\
             #SBATCH --output={logs}/%A_%a.log\n\
             set -euo pipefail\n\
             : \"${{SLURM_ARRAY_TASK_ID:?this is a Slurm job-array script: submit it with sbatch}}\"\n\
             odenet=\"${{ODENET:-{exe}}}\"\n\
             exec \"$odenet\" sweep-task {dir_q} \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-{threads}}}\"\n",
            manifest = a.manifest.display(),
            script = out.join("sweep.slurm").display(),
            dir = out.display(),
            last = n - 1,
            logs = logs.display(),
            exe = exe.display(),
            dir_q = sh_quote(&out.to_string_lossy()),
        );
        let path = out.join("sweep.slurm");
        crate::output::write_atomic(&path, script.as_bytes()).map_err(|e| CliError {
            message: format!("error: cannot write {}: {e}", path.display()),
            code: 2,
        })?;
        super::out(&format!(
            "{n} tasks prepared in {}\nSlurm job-array script: {}\nsubmit it with `sbatch {}`, then gather with `odenet collect {}`\n",
            out.display(),
            path.display(),
            path.display(),
            out.display()
        ));
        return Ok(0);
    }
    // Local: `jobs` tasks at a time, each its own process (a failing fit cannot take the others
    // down), with `threads` worker threads each.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs = a.jobs.unwrap_or((cores / threads).max(1)).min(n);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let codes = Mutex::new(vec![None::<i32>; n]);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let dir = out.join("tasks").join(&folders[i]);
                    let t = Instant::now();
                    let log = std::fs::File::create(dir.join("log.txt"));
                    let mut cmd = std::process::Command::new(&exe);
                    cmd.arg("sweep-task")
                        .arg(&out)
                        .arg(i.to_string())
                        .arg("--threads")
                        .arg(threads.to_string())
                        .stdin(std::process::Stdio::null());
                    if let Ok(log) = log
                        && let Ok(log2) = log.try_clone()
                    {
                        cmd.stdout(log).stderr(log2);
                    }
                    let code = cmd.status().ok().and_then(|s| s.code());
                    if let Ok(mut c) = codes.lock() {
                        c[i] = code;
                    }
                    let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if !a.quiet {
                        let what = match code {
                            Some(0) => "ok".to_string(),
                            Some(1) => "not converged".to_string(),
                            Some(c) => format!("failed (exit {c}; see its log.txt)"),
                            None => "killed".to_string(),
                        };
                        eprintln!(
                            "[{k}/{n}] {}: {what} ({:.1} s)",
                            folders[i],
                            t.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let codes = codes.into_inner().unwrap_or_default();
    let ok = codes.iter().filter(|c| **c == Some(0)).count();
    let failed = codes.iter().filter(|c| !matches!(c, Some(0 | 1))).count();
    super::out(&format!(
        "{n} tasks in {:.1} s ({jobs} at a time, {threads} thread{} each): {ok} converged, {} not converged, {failed} failed\nresults in {}; gather them with `odenet collect {}`\n",
        t0.elapsed().as_secs_f64(),
        if threads == 1 { "" } else { "s" },
        n - ok - failed,
        out.display(),
        out.display()
    ));
    Ok(if ok == n { 0 } else { 1 })
}

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
    let spec = super::load_spec(&dir.join("spec.toml"))?;
    let tables = load_tables(&spec)?;
    if tables.is_empty() {
        return Err(CliError::input(
            "error: the task's spec has no [[data]] table",
        ));
    }
    let cancel = crate::output::cancel_on_interrupt();
    let res = super::with_threads(threads, || {
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
    super::out(&summary);
    Ok(if res.cancelled {
        130
    } else if res.converged {
        0
    } else {
        1
    })
}
