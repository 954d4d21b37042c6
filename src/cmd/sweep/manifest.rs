//! Reading a sweep manifest (TOML or CSV) and expanding it into tasks: each `[[task]]` or CSV
//! row one fit, each `[[grid]]` every combination of its specs, data and `[fit]` values.

use std::path::{Path, PathBuf};

use super::{MAX_TASKS, Task, bad};
use crate::CliError;

/// The largest manifest read (a manifest of thousands of tasks is well below it).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// `path` relative to `base` unless absolute, without `.` and `..` where the file exists.
fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = base.join(path);
    std::fs::canonicalize(&p).unwrap_or_else(|_| std::path::absolute(&p).unwrap_or(p))
}

/// Reads a manifest: `.csv` files as CSV, anything else as TOML.
pub(super) fn read_manifest(path: &Path) -> Result<(Vec<Task>, toml::Table), CliError> {
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
        let name = name_of(&t).map_err(at)?;
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
        let prefix = name_of(&g).map_err(at)?;
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

/// The optional `name` of a `[[task]]` or `[[grid]]`.
fn name_of(t: &toml::Table) -> Result<Option<String>, String> {
    match t.get("name") {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| "`name` must be a string".to_string()),
    }
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
