//! `odenet bench SPEC [--solvers …] [--tols 1e-3..1e-9] [--reps N] [--whole] [--model M.json]
//! [--gradient] [--fit] [--csv|--json] [--plot wp.svg]`: a work–precision benchmark of the
//! solvers on a spec's pieces (or whole experiments), and optionally the fits they find.

use std::fmt::Write;
use std::time::Instant;

use odenet_fit::CompiledModel;
use odenet_solve::{
    Group, Method, Piece, Reference, Sens, SolveOptions, SolveStats, Work, max_error, reference,
    solve_batch,
};
use odenet_spec::{Initial, Segment, SolverKind, Spec, Table};
use serde_json::{Value, json};

use super::{load_spec, load_tables, with_threads};
use crate::CliError;
use crate::args::BenchArgs;

/// Step budget of one piece in the benchmark: generous, so that a failure means the method
/// cannot do the problem, not that the budget was tight.
const MAX_STEPS: usize = 1_000_000;

/// Points per piece when the spec leaves `segment` to the fit (`"auto"`): the fit's long-standing
/// default length.
const AUTO_SEGMENT: usize = 10;

/// Median and range of repeated timings, in seconds.
#[derive(Clone, Copy, Debug)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let m = v.len();
        let median = if m % 2 == 1 {
            v[m / 2]
        } else {
            0.5 * (v[m / 2 - 1] + v[m / 2])
        };
        Spread {
            median,
            min: v[0],
            max: v[m - 1],
        }
    }

    /// Half the range relative to the median, in per cent.
    fn pm_percent(&self) -> f64 {
        if self.median > 0.0 {
            50.0 * (self.max - self.min) / self.median
        } else {
            0.0
        }
    }

    fn json_ms(&self) -> Value {
        json!({"median": self.median * 1e3, "min": self.min * 1e3, "max": self.max * 1e3})
    }
}

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

/// One solver's whole fit.
struct FitRow {
    solver: SolverKind,
    seconds: f64,
    outcome: Result<odenet_fit::FitResult, String>,
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

/// `1e-3..1e-9` (every decade between, both ends included) or plain numbers.
fn parse_tols(items: &[String]) -> Result<Vec<f64>, CliError> {
    let bad = |s: &str, why: &str| {
        CliError::input(format!(
            "error: --tols {s:?}: {why}\n  = help: write e.g. --tols 1e-3..1e-10 or --tols 1e-4,1e-8"
        ))
    };
    let num = |s: &str, whole: &str| -> Result<f64, CliError> {
        let v: f64 = s.trim().parse().map_err(|_| bad(whole, "not a number"))?;
        if !(v > 0.0 && v < 1.0) {
            return Err(bad(whole, "a tolerance must lie between 0 and 1"));
        }
        Ok(v)
    };
    let mut tols = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match item.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (num(a, item)?, num(b, item)?);
                let (hi, lo) = (a.max(b), a.min(b));
                let decades = (hi / lo).log10().round() as i32;
                if decades > 20 {
                    return Err(bad(item, "the range spans more than 20 decades"));
                }
                for k in 0..=decades {
                    // Rounded to 12 digits, so that 1e-4..1e-8 gives 1e-7 itself, not
                    // 1.0000000000000001e-7.
                    let t: f64 = format!("{:.12e}", hi / 10f64.powi(k))
                        .parse()
                        .unwrap_or(hi / 10f64.powi(k));
                    tols.push(t);
                }
            }
            None => tols.push(num(item, item)?),
        }
    }
    if tols.is_empty() {
        return Err(bad("", "no tolerance given"));
    }
    tols.sort_by(|a, b| b.total_cmp(a));
    tols.dedup_by(|a, b| ((*a - *b) / *b).abs() < 1e-9);
    Ok(tols)
}

/// Each experiment's values of the model's constants, by name.
fn experiment_constants(spec: &Spec, model: &CompiledModel) -> Result<Vec<Vec<f64>>, CliError> {
    spec.data
        .iter()
        .map(|ds| {
            model
                .constants
                .iter()
                .map(|c| {
                    spec.constants
                        .iter()
                        .position(|s| s == c)
                        .map(|i| ds.constants[i])
                        .ok_or_else(|| {
                            CliError::input(format!(
                                "error: the model uses the constant {c:?}, which the spec's [[data]] do not give"
                            ))
                        })
                })
                .collect()
        })
        .collect()
}

/// The pieces of each experiment: `segment` consecutive rows (10 for `"auto"`) every `stride`
/// rows, or the whole experiment, each starting from the observed values at its first row (or, at an experiment's
/// first row, from the `initial` rules). Pieces without a complete start are skipped and
/// counted.
fn cut_pieces(spec: &Spec, tables: &[Table], whole: bool) -> (Vec<Vec<Piece>>, usize) {
    let n = spec.states.len();
    let mut skipped = 0;
    let pieces = spec
        .data
        .iter()
        .zip(tables)
        .map(|(ds, tb)| {
            let rows = tb.rows();
            let (m, stride) = match (whole, spec.fit.segment) {
                (false, Segment::Points(m)) => (m.min(rows), spec.fit.stride.max(1)),
                (false, Segment::Auto) => (AUTO_SEGMENT.min(rows), spec.fit.stride.max(1)),
                _ => (rows, rows),
            };
            let mut out = Vec::new();
            if m < 2 {
                return out;
            }
            for start in (0..=rows - m).step_by(stride) {
                let observed = |i: usize| Some(tb.values[i][start]).filter(|v| v.is_finite());
                let x0: Option<Vec<f64>> = (0..n)
                    .map(|i| match (&ds.initial[i], start) {
                        (Initial::Value(v), 0) => Some(*v),
                        (Initial::Expr(e), 0) => e.eval(&|name| {
                            if let Some(k) = spec.constants.iter().position(|c| c == name) {
                                return Some(ds.constants[k]);
                            }
                            spec.state_index(name).and_then(observed)
                        }),
                        _ => observed(i),
                    })
                    .collect();
                match x0 {
                    Some(x0) => out.push(Piece {
                        x0,
                        times: tb.times[start..start + m].to_vec(),
                    }),
                    None => skipped += 1,
                }
            }
            out
        })
        .collect();
    (pieces, skipped)
}

/// One untimed sweep (which sizes the buffers and gives the counts and the error), then `reps`
/// timed sweeps without and with sensitivities.
fn time_batches(
    groups: &[Group<'_>],
    p: &[f64],
    opts: SolveOptions,
    reps: usize,
    work: &mut Work,
) -> (Spread, Spread, SolveStats) {
    let mut sens_work = Work::new();
    solve_batch(groups, p, opts, Sens::ParamsAndInitial, &mut sens_work);
    let sens_stats = sens_work.stats;
    let timed = |w: &mut Work, sens: Sens| {
        let v = (0..reps)
            .map(|_| {
                let t = Instant::now();
                solve_batch(groups, p, opts, sens, w);
                t.elapsed().as_secs_f64()
            })
            .collect();
        Spread::of(v)
    };
    let sens = timed(&mut sens_work, Sens::ParamsAndInitial);
    let plain = timed(work, Sens::None);
    (plain, sens, sens_stats)
}

fn solver_kind(m: Method) -> SolverKind {
    match m {
        Method::Auto => SolverKind::Auto,
        Method::Bdf => SolverKind::Bdf,
        Method::Tsit5 => SolverKind::Tsit5,
        Method::Tsit45 => SolverKind::Tsit45,
        Method::Esdirk34 => SolverKind::Esdirk34,
        Method::TrBdf2 => SolverKind::TrBdf2,
    }
}

/// Median time of one loss + gradient evaluation of the fit (at its starting point) with this
/// solver and tolerance.
fn time_gradient(
    spec: &Spec,
    tables: &[Table],
    method: Method,
    tol: f64,
    atol_ratio: f64,
    reps: usize,
    threads: Option<usize>,
) -> Result<Spread, String> {
    let mut s = spec.clone();
    s.fit.solver = solver_kind(method);
    s.fit.rtol = tol;
    s.fit.atol = tol * atol_ratio;
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    odenet_fit::with_loss_gradient(&s, tables, threads, |eval| {
        let _ = eval();
        let v = (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(eval());
                t.elapsed().as_secs_f64()
            })
            .collect();
        Spread::of(v)
    })
    .map_err(|e| e.to_string())
}

/// The whole fit once per solver, the spec's own solver first (the one the others are compared
/// with).
fn run_fits(
    spec: &Spec,
    tables: &[Table],
    methods: &[Method],
    threads: Option<usize>,
) -> Result<Vec<FitRow>, CliError> {
    let mut kinds = vec![spec.fit.solver];
    for &m in methods {
        let k = solver_kind(m);
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let mut out = Vec::new();
    for kind in kinds {
        let mut s = spec.clone();
        s.fit.solver = kind;
        let t = Instant::now();
        let r = with_threads(threads, || odenet_fit::fit(&s, tables, &|_| {}))?;
        out.push(FitRow {
            solver: kind,
            seconds: t.elapsed().as_secs_f64(),
            outcome: r.map_err(|e| e.to_string()),
        });
    }
    Ok(out)
}

/// The names of the non-zero parameters of a fit (its support).
fn support(r: &odenet_fit::FitResult) -> Vec<&str> {
    r.param_names
        .iter()
        .zip(&r.params)
        .filter(|(_, v)| **v != 0.0)
        .map(|(n, _)| n.as_str())
        .collect()
}

/// The largest |θ − θ_ref| over the parameters, relative to the largest |θ_ref|.
fn max_coef_diff(r: &odenet_fit::FitResult, base: &odenet_fit::FitResult) -> f64 {
    let scale = base.params.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    let d = r
        .params
        .iter()
        .zip(&base.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0_f64, f64::max);
    if scale > 0.0 { d / scale } else { d }
}

fn fmt_e(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2e}"))
}

const LEGEND: &str = "\
columns:
  error     largest deviation from the reference over every output of every piece that
            succeeded, each state divided by its largest |value| in the reference
  ms/sweep  wall time to integrate every piece once without sensitivities (one thread),
            median of --reps runs, ± half their range
  +sens     the same with forward sensitivities to every parameter and start value
  ms/grad   one loss + gradient evaluation of the fit at its starting point (--gradient)
  rhs       evaluations of f alone; jac: of f with its Jacobians (one call gives both;
            the explicit methods need them only for sensitivities); LU: factorisations
  steps     accepted steps; rej: rejected steps (error test or Newton failures)
  fail      pieces that could not be integrated; bdf: pieces auto switched to BDF
  counts are for the sweep without sensitivities, summed over the pieces that succeeded";

fn to_table(info: &Info, r: &Reference, rows: &[Row], fits: &[FitRow], spec: &Spec) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} {}{}, {} states, {} parameters; atol = {:e} × rtol",
        info.spec,
        info.pieces,
        if info.whole {
            "whole experiment"
        } else {
            "piece"
        },
        if info.pieces == 1 { "" } else { "s" },
        info.states,
        info.params,
        info.atol_ratio
    );
    if info.skipped > 0 {
        let _ = writeln!(
            s,
            "  ({} pieces skipped: no complete start state)",
            info.skipped
        );
    }
    if let Some(note) = &info.note {
        let _ = writeln!(s, "note: {note}");
    }
    let _ = writeln!(
        s,
        "reference: {} at rtol {:e}, checked by {}: they differ by {:.1e}\n",
        r.method.name(),
        r.rtol,
        r.check.name(),
        r.accuracy
    );
    let _ = writeln!(
        s,
        "{:<9} {:>7} {:>9} {:>15} {:>15} {:>15} {:>9} {:>9} {:>7} {:>8} {:>6} {:>5} {:>5}",
        "solver",
        "tol",
        "error",
        "ms/sweep",
        "+sens",
        "ms/grad",
        "rhs",
        "jac",
        "LU",
        "steps",
        "rej",
        "fail",
        "bdf"
    );
    let ms = |sp: &Spread| format!("{:.3} ±{:.0}%", sp.median * 1e3, sp.pm_percent());
    for row in rows {
        let grad = match &row.grad {
            None => "-".to_string(),
            Some(Ok(g)) => ms(g),
            Some(Err(_)) => "failed".to_string(),
        };
        let _ = writeln!(
            s,
            "{:<9} {:>7.0e} {:>9} {:>15} {:>15} {:>15} {:>9} {:>9} {:>7} {:>8} {:>6} {:>5} {:>5}",
            row.solver.name(),
            row.tol,
            fmt_e(row.error),
            ms(&row.solve),
            ms(&row.sens),
            grad,
            row.stats.rhs_evals,
            row.stats.jac_evals,
            row.stats.factorizations,
            row.stats.steps,
            row.stats.rejected,
            row.failures,
            row.switched
        );
    }
    let _ = writeln!(s, "\n{LEGEND}");
    let failures: Vec<_> = rows
        .iter()
        .filter_map(|r| r.first_failure.as_ref().map(|f| (r.solver, r.tol, f)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "\nfirst failure per row:");
        for (m, tol, f) in failures {
            let _ = writeln!(s, "  {} at {tol:.0e}: {f}", m.name());
        }
    }
    if let Some(Err(e)) = rows
        .iter()
        .find_map(|r| r.grad.as_ref().filter(|g| g.is_err()))
    {
        let _ = writeln!(s, "\nthe loss + gradient could not be timed: {e}");
    }
    if !fits.is_empty() {
        let _ = writeln!(
            s,
            "\nwhole fits (compared with the spec's solver, {}):",
            spec.fit.solver.name()
        );
        let _ = writeln!(
            s,
            "{:<9} {:>7} {:>12} {:>13} {:>12} {:>10}",
            "solver", "terms", "same support", "loss", "max |Δθ|", "time"
        );
        let base = fits[0].outcome.as_ref().ok();
        for f in fits {
            match &f.outcome {
                Ok(res) => {
                    let (same, diff) = match base {
                        Some(b) => (
                            if support(res) == support(b) {
                                "yes"
                            } else {
                                "NO"
                            },
                            format!("{:.1e}", max_coef_diff(res, b)),
                        ),
                        None => ("-", "-".to_string()),
                    };
                    let _ = writeln!(
                        s,
                        "{:<9} {:>7} {:>12} {:>13.6e} {:>12} {:>8.2} s",
                        f.solver.name(),
                        support(res).len(),
                        same,
                        res.loss,
                        diff,
                        f.seconds
                    );
                }
                Err(e) => {
                    let _ = writeln!(s, "{:<9} failed: {e}", f.solver.name());
                }
            }
        }
        if let Some(b) = base {
            let _ = writeln!(
                s,
                "support of {}: {}",
                spec.fit.solver.name(),
                support(b).join(", ")
            );
        }
        for f in &fits[1..] {
            if let (Ok(res), Some(b)) = (&f.outcome, base)
                && support(res) != support(b)
            {
                let _ = writeln!(
                    s,
                    "support of {}: {}",
                    f.solver.name(),
                    support(res).join(", ")
                );
            }
        }
        for f in fits {
            if let Ok(res) = &f.outcome {
                for w in &res.warnings {
                    let _ = writeln!(s, "warning ({}): {w}", f.solver.name());
                }
            }
        }
        let _ = writeln!(
            s,
            "max |Δθ|: the largest coefficient difference from the spec's solver's fit, relative to its largest coefficient"
        );
    }
    s
}

fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "solver,tol,error,ms_sweep,ms_sweep_min,ms_sweep_max,ms_sens,ms_sens_min,ms_sens_max,ms_grad,rhs_evals,jac_evals,factorizations,steps,rejected,failures,switched_to_bdf,sens_rhs_evals,sens_jac_evals,sens_steps\n",
    );
    for r in rows {
        let grad = match &r.grad {
            Some(Ok(g)) => format!("{}", g.median * 1e3),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{},{:e},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.solver.name(),
            r.tol,
            r.error.map_or(String::new(), |e| format!("{e:e}")),
            r.solve.median * 1e3,
            r.solve.min * 1e3,
            r.solve.max * 1e3,
            r.sens.median * 1e3,
            r.sens.min * 1e3,
            r.sens.max * 1e3,
            grad,
            r.stats.rhs_evals,
            r.stats.jac_evals,
            r.stats.factorizations,
            r.stats.steps,
            r.stats.rejected,
            r.failures,
            r.switched,
            r.sens_stats.rhs_evals,
            r.sens_stats.jac_evals,
            r.sens_stats.steps
        );
    }
    s
}

fn to_json(info: &Info, r: &Reference, rows: &[Row], fits: &[FitRow], spec: &Spec) -> Value {
    let stats = |s: &SolveStats| {
        json!({
            "rhs_evals": s.rhs_evals,
            "jac_evals": s.jac_evals,
            "factorizations": s.factorizations,
            "steps": s.steps,
            "rejected": s.rejected,
        })
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "solver": row.solver.name(),
                "tol": row.tol,
                "atol": row.tol * info.atol_ratio,
                "error": row.error,
                "ms_sweep": row.solve.json_ms(),
                "ms_sweep_sens": row.sens.json_ms(),
                "ms_grad": match &row.grad {
                    Some(Ok(g)) => g.json_ms(),
                    _ => Value::Null,
                },
                "stats": stats(&row.stats),
                "stats_sens": stats(&row.sens_stats),
                "failures": row.failures,
                "switched_to_bdf": row.switched,
                "first_failure": row.first_failure,
            })
        })
        .collect();
    let base = fits.first().and_then(|f| f.outcome.as_ref().ok());
    let fits: Vec<Value> = fits
        .iter()
        .map(|f| match &f.outcome {
            Ok(res) => json!({
                "solver": f.solver.name(),
                "seconds": f.seconds,
                "support": support(res),
                "same_support": base.map(|b| support(res) == support(b)),
                "loss": res.loss,
                "converged": res.converged,
                "warnings": res.warnings,
                "max_coef_diff": base.map(|b| max_coef_diff(res, b)),
                "params": res.param_names.iter().zip(&res.params)
                    .map(|(n, v)| (n.clone(), json!(v)))
                    .collect::<serde_json::Map<String, Value>>(),
            }),
            Err(e) => json!({"solver": f.solver.name(), "seconds": f.seconds, "error": e}),
        })
        .collect();
    json!({
        "spec": info.spec,
        "note": info.note,
        "pieces": info.pieces,
        "whole_experiments": info.whole,
        "skipped_pieces": info.skipped,
        "states": info.states,
        "params": info.params,
        "reps": info.reps,
        "atol_per_rtol": info.atol_ratio,
        "reference": {
            "method": r.method.name(),
            "rtol": r.rtol,
            "check": r.check.name(),
            "difference": r.accuracy,
        },
        "error_definition": "max over outputs of pieces that succeeded of |x - x_ref| / max|x_ref| per state",
        "rows": rows,
        "fit_baseline": spec.fit.solver.name(),
        "fits": fits,
    })
}

/// The work–precision diagram: error (log) against the median time per sweep (log), one line
/// per solver through its tolerances, each point labelled with its tolerance's exponent.
fn plot_svg(rows: &[Row], methods: &[Method], info: &Info, r: &Reference) -> String {
    const W: f64 = 760.0;
    const H: f64 = 520.0;
    const L: f64 = 80.0;
    const R: f64 = 170.0;
    const T: f64 = 50.0;
    const B: f64 = 60.0;
    const COLORS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    ];
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|row| {
            let e = row.error?;
            (e > 0.0 && row.solve.median > 0.0).then_some((row.solve.median * 1e3, e))
        })
        .collect();
    let decade = |v: f64, up: bool| {
        if up {
            v.log10().ceil()
        } else {
            v.log10().floor()
        }
    };
    let (mut x0, mut x1, mut y0, mut y1) = (0.0, 1.0, -10.0, 0.0);
    if !pts.is_empty() {
        x0 = decade(pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min), false);
        x1 = decade(pts.iter().map(|p| p.0).fold(0.0, f64::max), true);
        y0 = decade(pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min), false);
        y1 = decade(pts.iter().map(|p| p.1).fold(0.0, f64::max), true);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let px = |ms: f64| L + (ms.log10() - x0) / (x1 - x0) * (W - L - R);
    let py = |e: f64| T + (y1 - e.log10()) / (y1 - y0) * (H - T - B);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let title = format!(
        "Work–precision: {} ({} {}{})",
        xml(&info.spec),
        info.pieces,
        if info.whole { "experiment" } else { "piece" },
        if info.pieces == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{title}</text>"#,
        (L + W - R) / 2.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="38" text-anchor="middle" fill="#555">reference: {} at rtol {:e}, checked by {} (they differ by {:.1e})</text>"##,
        (L + W - R) / 2.0,
        r.method.name(),
        r.rtol,
        r.check.name(),
        r.accuracy
    );
    // Grid and decade ticks.
    for k in (x0 as i32)..=(x1 as i32) {
        let x = px(10f64.powi(k));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">1e{k}</text>"##,
            H - B,
            H - B + 16.0
        );
    }
    for k in (y0 as i32)..=(y1 as i32) {
        let y = py(10f64.powi(k));
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">1e{k}</text>"##,
            W - R,
            L - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        W - L - R,
        H - T - B
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">time per sweep (ms, median of {}; one thread, no sensitivities)</text>"#,
        (L + W - R) / 2.0,
        H - 18.0,
        info.reps
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">error (relative to each state's size)</text>"#,
        (T + H - B) / 2.0
    );
    for (i, &m) in methods.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<(f64, f64, f64)> = rows
            .iter()
            .filter(|row| row.solver == m)
            .filter_map(|row| {
                let e = row.error?;
                (e > 0.0 && row.solve.median > 0.0 && row.failures == 0).then_some((
                    px(row.solve.median * 1e3),
                    py(e),
                    row.tol,
                ))
            })
            .collect();
        if line.len() > 1 {
            let d: Vec<String> = line
                .iter()
                .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                d.join(" ")
            );
        }
        for (x, y, tol) in &line {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"><title>{} tol {tol:e}</title></circle><text x="{:.1}" y="{:.1}" font-size="9" fill="{color}">{}</text>"#,
                m.name(),
                x + 5.0,
                y - 4.0,
                tol.log10().round()
            );
        }
        let ly = T + 10.0 + 20.0 * i as f64;
        let label = if line.is_empty() {
            format!("{} (failed)", m.name())
        } else {
            m.name().to_string()
        };
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            W - R + 12.0,
            W - R + 36.0,
            W - R + 42.0,
            ly + 4.0,
            label
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="10" fill="#555">labels: log10 tol</text>"##,
        W - R + 12.0,
        T + 10.0 + 20.0 * methods.len() as f64 + 6.0
    );
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
