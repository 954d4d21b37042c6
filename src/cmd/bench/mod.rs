//! `odenet bench SPEC [--solvers …] [--tols 1e-3..1e-9] [--reps N] [--whole] [--model M.json]
//! [--gradient] [--fit] [--csv|--json] [--plot wp.svg]`: a work–precision benchmark of the
//! solvers on a spec's pieces (or whole experiments), and optionally the fits they find.
//!
//! This module validates the flags and runs the benchmark; `setup` cuts the pieces, `timing`
//! times the sweeps and the gradient, `fits` runs and compares the whole fits, and `table`,
//! `csv_json` and `plot` write the results.

mod csv_json;
mod fits;
mod plot;
mod setup;
mod table;
mod timing;

use odenet_fit::CompiledModel;
use odenet_solve::{Group, Method, SolveOptions, SolveStats, Work, max_error, reference};
use odenet_spec::Segment;

use super::{load_spec, load_tables};
use crate::CliError;
use crate::args::BenchArgs;
use csv_json::{to_csv, to_json};
use fits::run_fits;
use plot::plot_svg;
use setup::{cut_pieces, experiment_constants, parse_tols};
use table::to_table;
use timing::{Spread, time_batches, time_gradient};

/// Step budget of one piece in the benchmark: generous, so that a failure means the method
/// cannot do the problem, not that the budget was tight.
const MAX_STEPS: usize = 1_000_000;

/// One solver at one tolerance.
struct Row {
    solver: Method,
    tol: f64,
    error: Option<f64>,
    solve: Spread,
    sens: Spread,
    grad: Option<Result<Spread, String>>,
    stats: SolveStats,
    sens_stats: SolveStats,
    failures: usize,
    switched: usize,
    first_failure: Option<String>,
}

pub fn run(a: BenchArgs) -> Result<u8, CliError> {
    // Flags are validated before any work, so that a bad flag prints no half table.
    if a.threads == Some(0) {
        return Err(CliError::input("error: --threads must be at least 1"));
    }
    if a.reps == 0 {
        return Err(CliError::input(
            "error: --reps must be at least 1\n  = help: times are the median of --reps timed runs",
        ));
    }
    if !(a.ref_tol > 0.0 && a.ref_tol < 1e-6) {
        return Err(CliError::input(format!(
            "error: --ref-tol {} must lie in (0, 1e-6): the reference must be far tighter than the tolerances it judges",
            a.ref_tol
        )));
    }
    let tols = parse_tols(&a.tols)?;
    let mut methods = Vec::new();
    for s in &a.solvers {
        let name = s.trim();
        let m = Method::from_name(name).ok_or_else(|| {
            CliError::input(format!(
                "error: --solvers: unknown solver {name:?}\n  = help: choose among {}",
                Method::ALL.map(|m| m.name()).join(", ")
            ))
        })?;
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    if methods.is_empty() {
        return Err(CliError::input("error: --solvers names no solver"));
    }
    let spec = load_spec(&a.spec)?;
    let tables = load_tables(&spec)?;
    if tables.is_empty() {
        return Err(CliError::input(format!(
            "error: {} has no [[data]] table: the benchmark integrates from its rows\n  = help: add a [[data]] table (a truth spec works at its given parameters)",
            a.spec.display()
        )));
    }
    let (model, p) = match &a.model {
        Some(path) => {
            let l = super::simulate::load_model(path, &[])?;
            (l.model, l.p)
        }
        None => {
            let m = CompiledModel::from_spec(&spec)
                .map_err(|e| CliError::input(format!("error: {}: {e}", a.spec.display())))?;
            let p = m.params.iter().map(|q| q.init).collect();
            (m, p)
        }
    };
    if model.states != spec.states {
        return Err(CliError::input(format!(
            "error: the model's states ({}) differ from the spec's ({})",
            model.states.join(", "),
            spec.states.join(", ")
        )));
    }
    let consts = experiment_constants(&spec, &model)?;
    let whole = a.whole || spec.fit.segment == Segment::Whole;
    let (pieces, skipped) = cut_pieces(&spec, &tables, whole);
    let npieces: usize = pieces.iter().map(Vec::len).sum();
    if npieces == 0 {
        return Err(CliError::input(format!(
            "error: no piece of {} has a complete start state\n  = help: every state needs a value (or an `initial` rule) at a piece's first row",
            a.spec.display()
        )));
    }
    let rhs: Vec<_> = consts.iter().map(|c| model.rhs(c)).collect();
    let groups: Vec<Group> = rhs
        .iter()
        .zip(&pieces)
        .map(|(r, ps)| Group { rhs: r, pieces: ps })
        .collect();
    // The absolute tolerance follows the relative one in the spec's ratio.
    let atol_ratio = spec.fit.atol / spec.fit.rtol;
    let refsol = reference(&groups, &p, a.ref_tol, a.ref_tol * atol_ratio).map_err(|e| CliError {
        message: format!(
            "error: no reference solution: fewer than two methods integrate every piece at rtol {:e}: {e}",
            a.ref_tol
        ),
        code: 1,
    })?;

    let mut rows = Vec::new();
    for &method in &methods {
        for &tol in &tols {
            let opts = SolveOptions {
                method,
                rtol: tol,
                atol: tol * atol_ratio,
                max_steps: MAX_STEPS,
                ..SolveOptions::default()
            };
            let mut work = Work::new();
            let (solve, sens, sens_stats) = time_batches(&groups, &p, opts, a.reps, &mut work);
            let grad = a
                .gradient
                .then(|| time_gradient(&spec, &tables, method, tol, atol_ratio, a.reps, a.threads));
            rows.push(Row {
                solver: method,
                tol,
                error: max_error(&work, &refsol),
                solve,
                sens,
                grad,
                stats: work.stats,
                sens_stats,
                failures: work.failures,
                switched: work.switched,
                first_failure: work.first_failure.map(|f| f.to_string()),
            });
        }
    }
    let fits = if a.fit {
        run_fits(&spec, &tables, &methods, a.threads)?
    } else {
        Vec::new()
    };

    let note = (a.model.is_none() && p.iter().all(|v| *v == 0.0) && !p.is_empty()).then(|| {
        "every parameter is zero (a library spec's starting values): the model is dx/dt = 0; \
         give --model m.json (from `odenet fit`) to benchmark at a fitted model"
            .to_string()
    });
    let info = Info {
        note,
        spec: a.spec.display().to_string(),
        whole,
        pieces: npieces,
        skipped,
        states: model.states.len(),
        params: p.len(),
        atol_ratio,
        reps: a.reps,
    };
    if let Some(path) = &a.plot {
        let svg = plot_svg(&rows, &methods, &info, &refsol);
        std::fs::write(path, svg).map_err(|e| CliError {
            message: format!("error: cannot write {}: {e}", path.display()),
            code: 1,
        })?;
    }
    let out = if a.json {
        serde_json::to_string_pretty(&to_json(&info, &refsol, &rows, &fits, &spec))
            .unwrap_or_default()
            + "\n"
    } else if a.csv {
        to_csv(&rows)
    } else {
        to_table(&info, &refsol, &rows, &fits, &spec)
    };
    super::out(&out);
    Ok(0)
}

struct Info {
    /// A warning printed above the table.
    note: Option<String>,
    spec: String,
    whole: bool,
    pieces: usize,
    skipped: usize,
    states: usize,
    params: usize,
    atol_ratio: f64,
    reps: usize,
}
