//! Preparing a sweep: every task's folder with its derived spec (data files and `[fit]` options
//! applied, paths absolute), and the task list `sweep.json`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::manifest::read_manifest;
use super::{SWEEP_FORMAT, Task, bad};
use crate::CliError;
use crate::args::SweepArgs;
use crate::cmd::render;

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
pub(super) fn prepare(a: &SweepArgs) -> Result<(PathBuf, Vec<String>, usize), CliError> {
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
