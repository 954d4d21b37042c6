//! `odenet collect DIR`: gathers the tasks of a sweep into one table.
//!
//! Writes `DIR/results.csv` (one row per task and coefficient: the support with values and
//! standard errors, the loss, the time), `DIR/results.json` (one object per task) and
//! `DIR/index.html` (a summary page: each task's outcome and equations, and how often each
//! term was selected across the tasks with the spread of its value), and prints a short table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::CliError;
use crate::args::CollectArgs;

/// One coefficient of a task's model.
struct Coef {
    /// The state whose equation holds the term (library models), empty for a template's
    /// parameter.
    state: String,
    term: String,
    value: f64,
    std_error: f64,
}

/// One task's outcome.
struct Row {
    index: usize,
    name: String,
    folder: String,
    status: String,
    exit_code: Option<i64>,
    seconds: Option<f64>,
    loss: Option<f64>,
    active_terms: Option<u64>,
    equations: Vec<(String, String)>,
    coefs: Vec<Coef>,
    error: Option<String>,
}

fn read_json(path: &Path) -> Option<Value> {
    let text = odenet_spec::read_text_limited(path, 512 << 20, "file").ok()?;
    serde_json::from_str(&text).ok()
}

fn task_row(dir: &Path, task: &Value) -> Row {
    let folder = task["folder"].as_str().unwrap_or_default().to_string();
    let tdir = dir.join("tasks").join(&folder);
    let status = read_json(&tdir.join("status.json"));
    let mut row = Row {
        index: task["index"].as_u64().unwrap_or(0) as usize,
        name: task["name"].as_str().unwrap_or_default().to_string(),
        folder,
        status: "not run".into(),
        exit_code: None,
        seconds: None,
        loss: None,
        active_terms: None,
        equations: vec![],
        coefs: vec![],
        error: None,
    };
    if let Some(s) = &status {
        row.status = s["status"].as_str().unwrap_or("unknown").to_string();
        row.exit_code = s["exit_code"].as_i64();
        row.seconds = s["seconds"].as_f64();
        row.error = s["error"].as_str().map(str::to_string);
    }
    let model_path = tdir.join("model.json");
    let Some(text) = std::fs::read_to_string(&model_path).ok() else {
        return row;
    };
    let raw: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    row.loss = raw["fit"]["loss"].as_f64();
    row.active_terms = raw["fit"]["active_terms"].as_u64();
    match odenet_report::ModelFile::parse(&text) {
        Ok(m) => {
            row.equations = m
                .states
                .iter()
                .cloned()
                .zip(m.equations.iter().cloned())
                .collect();
            if m.terms.iter().any(|t| !t.is_empty()) {
                for (st, ts) in m.states.iter().zip(&m.terms) {
                    for t in ts {
                        row.coefs.push(Coef {
                            state: st.clone(),
                            term: t.name.clone(),
                            value: t.value,
                            std_error: t.std_error,
                        });
                    }
                }
            } else {
                for ((name, v), se) in m.params.iter().zip(&m.param_std_errors) {
                    row.coefs.push(Coef {
                        state: String::new(),
                        term: name.clone(),
                        value: *v,
                        std_error: *se,
                    });
                }
            }
        }
        Err(e) => {
            row.error = Some(format!("{}: {e}", model_path.display()));
        }
    }
    row
}

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x}"))
        .unwrap_or_default()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn run(a: CollectArgs) -> Result<u8, CliError> {
    let dir = &a.dir;
    let doc = super::sweep::read_index(dir)?;
    let tasks = doc["tasks"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Row> = tasks.iter().map(|t| task_row(dir, t)).collect();

    // CSV: one row per task and coefficient (one row with empty coefficient columns for a task
    // without a model).
    let mut wtr = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| CliError {
        message: format!("error: cannot format the results table: {e}"),
        code: 2,
    };
    wtr.write_record([
        "task",
        "name",
        "status",
        "exit_code",
        "seconds",
        "loss",
        "active_terms",
        "state",
        "term",
        "value",
        "std_error",
    ])
    .map_err(csv_err)?;
    for r in &rows {
        let head = [
            r.index.to_string(),
            r.name.clone(),
            r.status.clone(),
            r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            num(r.seconds),
            num(r.loss),
            r.active_terms.map(|c| c.to_string()).unwrap_or_default(),
        ];
        if r.coefs.is_empty() {
            let mut rec = head.to_vec();
            rec.extend(["", "", "", ""].map(String::from));
            wtr.write_record(&rec).map_err(csv_err)?;
        }
        for c in &r.coefs {
            let mut rec = head.to_vec();
            rec.extend([
                c.state.clone(),
                c.term.clone(),
                num(Some(c.value)),
                num(Some(c.std_error)),
            ]);
            wtr.write_record(&rec).map_err(csv_err)?;
        }
    }
    let csv_bytes = wtr.into_inner().map_err(|e| CliError {
        message: format!("error: cannot format the results table: {e}"),
        code: 2,
    })?;

    let finite = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "task": r.index,
                "name": r.name,
                "folder": r.folder,
                "status": r.status,
                "exit_code": r.exit_code,
                "seconds": r.seconds,
                "loss": r.loss,
                "active_terms": r.active_terms,
                "equations": Value::Object(r.equations.iter().map(|(s, e)| (s.clone(), json!(e))).collect()),
                "coefficients": r.coefs.iter().map(|c| json!({
                    "state": c.state, "term": c.term, "value": finite(c.value), "std_error": finite(c.std_error),
                })).collect::<Vec<_>>(),
                "error": r.error,
            })
        })
        .collect();
    let json_text = serde_json::to_string_pretty(&json!({
        "format": "odenet-sweep-results/1",
        "tasks": json_rows,
    }))
    .unwrap_or_default()
        + "\n";

    let page = page(&rows);
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        crate::output::write_atomic(&p, bytes).map_err(|e| CliError {
            message: format!("error: cannot write {}: {e}", p.display()),
            code: 2,
        })
    };
    write("results.csv", &csv_bytes)?;
    write("results.json", json_text.as_bytes())?;
    write("index.html", page.as_bytes())?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<32} {:<14} {:>10} {:>6} {:>8}",
        "task", "name", "status", "loss", "terms", "seconds"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<5} {:<32} {:<14} {:>10} {:>6} {:>8}",
            r.index,
            r.name,
            r.status,
            r.loss
                .map(|l| format!("{l:.3e}"))
                .unwrap_or_else(|| "-".into()),
            r.active_terms
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            r.seconds
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    let ok = rows.iter().filter(|r| r.status == "converged").count();
    let _ = writeln!(
        out,
        "{} tasks: {ok} converged, {} not run\nwritten: {}, {}, {}",
        rows.len(),
        rows.iter().filter(|r| r.status == "not run").count(),
        dir.join("results.csv").display(),
        dir.join("results.json").display(),
        dir.join("index.html").display()
    );
    super::out(&out);
    Ok(if ok == rows.len() { 0 } else { 1 })
}

/// The summary page: how often each term was selected (with the mean and spread of its value
/// over the tasks that selected it), then every task's outcome and equations.
fn page(rows: &[Row]) -> String {
    let mut terms: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for r in rows {
        for c in &r.coefs {
            if c.value != 0.0 {
                terms
                    .entry((c.state.clone(), c.term.clone()))
                    .or_default()
                    .push(c.value);
            }
        }
    }
    let with_model = rows.iter().filter(|r| !r.coefs.is_empty()).count();
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>odenet sweep</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}td.n{text-align:right;font-family:monospace}code{white-space:pre}</style></head><body>\n",
    );
    let _ = writeln!(
        h,
        "<h1>odenet sweep: {} tasks</h1>\n<h2>Terms across the {with_model} tasks with a model</h2>\n<table><tr><th>equation</th><th>term</th><th>selected in</th><th>mean</th><th>sd</th></tr>",
        rows.len()
    );
    for ((st, term), vals) in &terms {
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let sd = if vals.len() > 1 {
            (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            f64::NAN
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=n>{}/{with_model}</td><td class=n>{mean:.6}</td><td class=n>{}</td></tr>",
            if st.is_empty() {
                "—".into()
            } else {
                format!("d{}/dt", esc(st))
            },
            esc(term),
            vals.len(),
            if sd.is_finite() {
                format!("{sd:.3e}")
            } else {
                "—".into()
            }
        );
    }
    h.push_str("</table>\n<h2>Tasks</h2>\n<table><tr><th>task</th><th>name</th><th>status</th><th>loss</th><th>terms</th><th>seconds</th><th>equations</th></tr>\n");
    for r in rows {
        let eqs: Vec<String> = r
            .equations
            .iter()
            .map(|(s, e)| format!("d{}/dt = {}", esc(s), esc(e)))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td class=n>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td><code>{}</code></td></tr>",
            r.index,
            esc(&r.name),
            esc(&r.status),
            r.loss.map(|l| format!("{l:.3e}")).unwrap_or_default(),
            r.active_terms.map(|c| c.to_string()).unwrap_or_default(),
            r.seconds.map(|s| format!("{s:.2}")).unwrap_or_default(),
            if eqs.is_empty() {
                esc(r.error.as_deref().unwrap_or(""))
            } else {
                eqs.join("\n")
            }
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
