//! `odenet fit SPEC [-o model.json] [--report DIR] [--threads N] [--quiet]`

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use odenet_fit::Progress;

use super::{load_spec, load_tables, with_threads};
use crate::CliError;
use crate::args::FitArgs;

pub fn run(a: FitArgs) -> Result<u8, CliError> {
    let spec = load_spec(&a.spec)?;
    let tables = load_tables(&spec)?;
    if tables.is_empty() {
        return Err(CliError::input(format!(
            "error: {} has no [[data]] table to fit\n  = help: add a [[data]] table with `file = \"...\"`",
            a.spec.display()
        )));
    }
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(spec.fit.rounds as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let bar = Mutex::new(bar);
    let progress = |p: Progress| {
        if let Ok(b) = bar.lock() {
            if let Some(b) = b.as_ref() {
                match p {
                    Progress::Stage(s) => b.set_message(s),
                    Progress::Round { round, loss, active, .. } => {
                        b.set_position(round as u64);
                        b.set_message(format!("loss {loss:.4e}, {active} terms"));
                    }
                    Progress::Eliminate { active } => b.set_message(format!("eliminating: {active} terms")),
                }
            }
        }
    };
    let res = with_threads(a.threads, || odenet_fit::fit(&spec, &tables, &progress))?;
    if let Ok(b) = bar.lock() {
        if let Some(b) = b.as_ref() {
            b.finish_and_clear();
        }
    }
    let res = res.map_err(|e| CliError::input(format!("error: {e}")))?;
    print!("{}", odenet_report::summary::fit_summary(&res));
    if let Some(out) = &a.output {
        let text = odenet_report::model_file::to_json(&res, &spec.constants);
        std::fs::write(out, text).map_err(|e| CliError {
            message: format!("error: cannot write the model file {}: {e}", out.display()),
            code: 2,
        })?;
        if !a.quiet {
            eprintln!("model written to {}", out.display());
        }
    }
    if let Some(dir) = &a.report {
        odenet_report_dir(dir, &spec, &tables, &res)?;
    }
    Ok(if res.converged { 0 } else { 1 })
}

fn odenet_report_dir(
    dir: &std::path::Path,
    _spec: &odenet_spec::Spec,
    _tables: &[odenet_spec::Table],
    res: &odenet_fit::FitResult,
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError {
        message: format!("error: cannot create the report folder {}: {e}", dir.display()),
        code: 2,
    })?;
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>{0}</title><h1>{0}</h1><pre>{1}</pre>\n",
        res.name,
        odenet_report::summary::fit_summary(res)
    );
    std::fs::write(dir.join("index.html"), page).map_err(|e| CliError {
        message: format!("error: cannot write the report: {e}"),
        code: 2,
    })
}
