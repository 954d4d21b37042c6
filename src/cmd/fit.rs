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
    check_tables(&a, &tables)?;
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(spec.fit.rounds as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let bar = Mutex::new(bar);
    let progress = |p: Progress| {
        if let Ok(b) = bar.lock()
            && let Some(b) = b.as_ref()
        {
            match p {
                Progress::Stage(s) => b.set_message(s),
                Progress::Round {
                    round,
                    loss,
                    active,
                    ..
                } => {
                    b.set_position(round as u64);
                    b.set_message(format!("loss {loss:.4e}, {active} terms"));
                }
                Progress::Eliminate { active } => {
                    b.set_message(format!("eliminating: {active} terms"))
                }
            }
        }
    };
    // Ctrl-C stops the fit at its next evaluation with the best model so far; a second press
    // ends the process at once.
    let cancel = crate::output::cancel_on_interrupt();
    let res = with_threads(a.threads, || {
        odenet_fit::fit_with(&spec, &tables, &progress, &cancel)
    })?;
    if let Ok(b) = bar.lock()
        && let Some(b) = b.as_ref()
    {
        b.finish_and_clear();
    }
    let res = res.map_err(|e| CliError::input(format!("error: {e}")))?;
    finish(&a, &spec, &tables, &res)
}

/// A spec with no data table cannot be fitted.
pub fn check_tables(a: &FitArgs, tables: &[odenet_spec::Table]) -> Result<(), CliError> {
    if tables.is_empty() {
        return Err(CliError::input(format!(
            "error: {} has no [[data]] table to fit\n  = help: add a [[data]] table with `file = \"...\"`",
            a.spec.display()
        )));
    }
    Ok(())
}

/// Writes the model file, prints the summary and writes the report of a finished fit; the exit
/// status.
pub fn finish(
    a: &FitArgs,
    spec: &odenet_spec::Spec,
    tables: &[odenet_spec::Table],
    res: &odenet_fit::FitResult,
) -> Result<u8, CliError> {
    // The model file is written before anything is printed, so that a failure while printing
    // (a closed pipe) cannot lose it.
    if let Some(out) = &a.output {
        let text = odenet_report::model_file::to_json_spec(res, spec);
        crate::output::write_atomic(out, text.as_bytes()).map_err(|e| CliError {
            message: format!(
                "error: cannot write the model file {}: {e}\n  = help: any previous file there is left as it was",
                out.display()
            ),
            code: 2,
        })?;
    }
    super::out(&odenet_report::summary::fit_summary(res));
    for w in &res.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(out) = &a.output
        && !a.quiet
    {
        eprintln!("model written to {}", out.display());
    }
    if res.cancelled {
        eprintln!(
            "interrupted: the fit was stopped before it finished; the best model found so far is {}",
            if a.output.is_some() {
                "printed and written"
            } else {
                "printed"
            }
        );
        return Ok(130);
    }
    if let Some(dir) = &a.report {
        odenet_report_dir(dir, spec, tables, res)?;
        if !a.quiet {
            eprintln!("report written to {}", dir.join("index.html").display());
        }
    }
    Ok(if res.converged { 0 } else { 1 })
}

/// Writes the report folder: one SVG per plot and `index.html` showing them. The report crate
/// renders; only this function touches files.
fn odenet_report_dir(
    dir: &std::path::Path,
    spec: &odenet_spec::Spec,
    tables: &[odenet_spec::Table],
    res: &odenet_fit::FitResult,
) -> Result<(), CliError> {
    use odenet_report::page::PlotRef;
    use odenet_report::plots;

    let cannot = |what: &str, path: &std::path::Path, e: std::io::Error| CliError {
        message: format!("error: cannot {what} {}: {e}", path.display()),
        code: 2,
    };
    std::fs::create_dir_all(dir).map_err(|e| cannot("create the report folder", dir, e))?;
    let no_trajectory = odenet_fit::Trajectory {
        times: vec![],
        states: vec![],
        failure: None,
    };
    let mut files: Vec<(PlotRef, String)> = Vec::new();
    for (k, table) in tables.iter().enumerate() {
        let traj = res.trajectories.get(k).unwrap_or(&no_trajectory);
        let n = k + 1;
        let file = table
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let svg = plots::data_vs_fit(table, traj, &res.states, &res.hidden);
        files.push((
            PlotRef::new(
                format!("fit-{n}.svg"),
                format!("Experiment {n} ({file}): data and fitted trajectory"),
            ),
            svg,
        ));
        if let Some(svg) = plots::phase_portrait(table, traj, &res.states, &res.hidden) {
            files.push((
                PlotRef::new(
                    format!("phase-{n}.svg"),
                    format!("Experiment {n} ({file}): phase portrait"),
                ),
                svg,
            ));
        }
    }
    if !res.path.is_empty() {
        let svg = plots::sparsity_path(&res.path);
        files.push((
            PlotRef::new(
                "path.svg",
                "Sparsity path: training and held-out loss against active terms",
            ),
            svg,
        ));
    }
    if res.path.iter().any(|p| !p.params.is_empty()) {
        files.push((
            PlotRef::new(
                "coefficients.svg",
                "Coefficient paths: every term's refitted value along the sparsity path",
            ),
            plots::coefficient_path(&res.path, &res.param_names),
        ));
    }
    if let Some(nz) = &res.noise {
        for (i, st) in res.states.iter().enumerate() {
            let Some(values) = nz.values.get(i).filter(|v| !v.is_empty()) else {
                continue;
            };
            files.push((
                PlotRef::new(format!("noise-{st}.svg"), format!("Learned noise of {st}")),
                plots::noise_histogram(values, &format!("learned noise e({st})")),
            ));
        }
    }
    for (plot, svg) in &files {
        let path = dir.join(&plot.file);
        crate::output::write_atomic(&path, svg.as_bytes())
            .map_err(|e| cannot("write the plot", &path, e))?;
    }
    let refs: Vec<PlotRef> = files.into_iter().map(|(p, _)| p).collect();
    // The export section: the Python and Julia code of the model file that `-o` writes.
    let mut exports = Vec::new();
    let model_text = odenet_report::model_file::to_json_spec(res, spec);
    if let Ok(model) = odenet_report::ModelFile::parse(&model_text) {
        use odenet_report::export::{Lang, Precision, export};
        for (title, lang) in [("Python", Lang::Python), ("Julia", Lang::Julia)] {
            if let Ok(code) = export(&model, lang, Precision::StandardError) {
                exports.push(odenet_report::page::CodeBlock {
                    title: title.to_string(),
                    code,
                });
            }
        }
    }
    let template = match &spec.model {
        odenet_spec::ModelSpec::Template { equations, .. } => equations.as_slice(),
        odenet_spec::ModelSpec::Library { .. } => &[],
    };
    let page = odenet_report::page::index_with(
        res,
        &refs,
        &odenet_report::summary::fit_summary(res),
        &exports,
        template,
    );
    let index = dir.join("index.html");
    crate::output::write_atomic(&index, page.as_bytes())
        .map_err(|e| cannot("write the report page", &index, e))
}
