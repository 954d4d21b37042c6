//! `odenet simulate (SPEC|MODEL.json) --t-end T --dt H [--init x=..] [--noise EPS --seed S] -o out.csv`

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use odenet_fit::{CompiledModel, rng::Rng};
use odenet_solve::SolveOptions;
use odenet_spec::{Expr, ModelSpec};

use super::{print_warnings, render};
use crate::CliError;
use crate::args::SimulateArgs;

/// A model ready to integrate, with where it came from.
pub(super) struct Loaded {
    pub(super) model: CompiledModel,
    pub(super) p: Vec<f64>,
}

/// The largest model file read (a learned-noise model of a long experiment is a few MB).
pub const MAX_MODEL_BYTES: u64 = 64 << 20;

/// Loads a model file, or a spec whose equations may use the `constants` given on the command
/// line even when no [[data]] table defines them.
pub(super) fn load_model(path: &Path, constants: &[String]) -> Result<Loaded, CliError> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let text = odenet_spec::read_text_limited(path, MAX_MODEL_BYTES, "model file")
            .map_err(|e| CliError::input(format!("error: {}: {e}", path.display())))?;
        let mf = odenet_report::ModelFile::parse(&text)
            .map_err(|e| CliError::input(format!("error: {}: {e}", path.display())))?;
        let mut eqs = Vec::new();
        for (s, src) in mf.states.iter().zip(&mf.equations) {
            let e = odenet_spec::parse_expr(src).map_err(|e| {
                CliError::input(format!(
                    "error: {}: the equation of {s} does not parse at byte {}: {}",
                    path.display(),
                    e.offset,
                    e.message
                ))
            })?;
            eqs.push(e);
        }
        let params: Vec<odenet_spec::ParamSpec> = mf
            .params
            .iter()
            .map(|(n, v)| odenet_spec::ParamSpec {
                name: n.clone(),
                init: *v,
                fixed: true,
                min: None,
                max: None,
                sparse: false,
            })
            .collect();
        // Only parameters the equations use (library models carry none).
        let used: Vec<odenet_spec::ParamSpec> = params
            .into_iter()
            .filter(|p| eqs.iter().any(|e| uses(e, &p.name)))
            .collect();
        let hidden: Vec<bool> = mf.states.iter().map(|s| mf.hidden.contains(s)).collect();
        let p = used.iter().map(|q| q.init).collect();
        let model =
            CompiledModel::template(&mf.name, &mf.states, &hidden, &mf.constants, used, eqs)
                .map_err(|e| CliError::input(format!("error: {}: {e}", path.display())))?;
        return Ok(Loaded { model, p });
    }
    let opts = odenet_spec::LoadOptions {
        constants: constants.to_vec(),
    };
    let spec =
        odenet_spec::Spec::load_with(path, &opts).map_err(|d| CliError::input(render(&d)))?;
    print_warnings(&spec.warnings);
    if let ModelSpec::Library { .. } = spec.model {
        return Err(CliError::input(format!(
            "error: {} is a library spec: its coefficients are unknown until it is fitted\n  = help: run `odenet fit {} -o model.json` and simulate model.json",
            path.display(),
            path.display()
        )));
    }
    let model = CompiledModel::from_spec(&spec)
        .map_err(|e| CliError::input(format!("error: {}: {e}", path.display())))?;
    let p = model.params.iter().map(|q| q.init).collect();
    Ok(Loaded { model, p })
}

fn uses(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Num(_) => false,
        Expr::Var(v) => v == name,
        Expr::Neg(a) | Expr::Call(_, a) => uses(a, name),
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) | Expr::Pow(a, b) => {
            uses(a, name) || uses(b, name)
        }
    }
}

fn assignments(items: &[String], what: &str) -> Result<Vec<(String, f64)>, CliError> {
    items
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                CliError::input(format!(
                    "error: --{what} {s:?} is not NAME=VALUE\n  = help: write e.g. --{what} x=1,y=2"
                ))
            })?;
            let v: f64 = v.trim().parse().map_err(|_| {
                CliError::input(format!(
                    "error: --{what} {s:?}: {:?} is not a number",
                    v.trim()
                ))
            })?;
            if !v.is_finite() {
                return Err(CliError::input(format!(
                    "error: --{what} {s:?}: the value must be finite"
                )));
            }
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

/// The most values (rows × written columns, time included) one simulation may write: about
/// 2.4 GB of CSV. The output is streamed, so memory does not grow with it.
pub const MAX_OUTPUT_VALUES: f64 = 1e8;

/// Rows integrated (and held in memory) at a time.
const CHUNK_ROWS: usize = 4096;

/// The output times: a uniform grid or an explicit list.
enum Times {
    Grid { dt: f64, rows: usize },
    List(Vec<f64>),
}

impl Times {
    fn len(&self) -> usize {
        match self {
            Times::Grid { rows, .. } => *rows,
            Times::List(v) => v.len(),
        }
    }

    fn at(&self, k: usize) -> f64 {
        match self {
            Times::Grid { dt, .. } => k as f64 * dt,
            Times::List(v) => v[k],
        }
    }
}

/// Reads `--t-end/--dt` or `--times`, checking the size of the output before any work.
fn output_times(a: &SimulateArgs, columns: usize) -> Result<Times, CliError> {
    let times = match (&a.times, a.t_end, a.dt) {
        (Some(ts), _, _) => {
            if ts.len() < 2
                || ts.iter().any(|t| !t.is_finite())
                || ts
                    .windows(2)
                    .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
            {
                return Err(CliError::input(
                    "error: the output times must be finite and strictly increasing, at least two",
                ));
            }
            Times::List(ts.clone())
        }
        (None, Some(t_end), Some(dt)) => {
            // Written so that NaN fails too.
            if !(dt > 0.0 && dt.is_finite() && t_end > 0.0 && t_end.is_finite()) {
                return Err(CliError::input(
                    "error: --t-end and --dt must be positive numbers",
                ));
            }
            let rows = (t_end / dt + 1e-9).floor() + 1.0;
            let values = rows * (columns + 1) as f64;
            if values > MAX_OUTPUT_VALUES {
                return Err(CliError::input(format!(
                    "error: --t-end {t_end} --dt {dt} asks for {rows:.0} rows × {} columns = {values:.3e} values; the limit is {MAX_OUTPUT_VALUES:.0e} values (about 2.4 GB of CSV)\n  = help: use a larger --dt or a smaller --t-end, or write fewer states with --columns",
                    columns + 1
                )));
            }
            // Below the limit, so the count is exact and small.
            let rows = rows as usize;
            if rows < 2 {
                return Err(CliError::input(
                    "error: --t-end must be at least --dt, so that there are two output times",
                ));
            }
            Times::Grid { dt, rows }
        }
        _ => {
            return Err(CliError::input(
                "error: say which times to output\n  = help: give --t-end T --dt H, or --times 0,1,2.5,...",
            ));
        }
    };
    Ok(times)
}

/// `NAME=VALUE` assignments, each name at most once.
fn unique_assignments(items: &[String], what: &str) -> Result<Vec<(String, f64)>, CliError> {
    let parsed = assignments(items, what)?;
    for (k, (name, _)) in parsed.iter().enumerate() {
        if parsed[..k].iter().any(|(n, _)| n == name) {
            return Err(CliError::input(format!(
                "error: --{what} gives {name:?} twice\n  = help: give each name once"
            )));
        }
    }
    Ok(parsed)
}

/// Integrates through `times` a chunk at a time (each chunk starts from the state where the
/// last one ended) and hands every row to `emit`; memory stays at one chunk.
fn integrate(
    model: &CompiledModel,
    p: &[f64],
    consts: &[f64],
    x0: &[f64],
    times: &Times,
    mut emit: impl FnMut(usize, f64, &[f64]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let n = model.nstates();
    let opts = SolveOptions {
        rtol: 1e-10,
        atol: 1e-12,
        max_steps: 10_000_000,
        blowup: 1e12,
        ..SolveOptions::default()
    };
    let mut x = x0.to_vec();
    let mut ts = Vec::with_capacity(CHUNK_ROWS + 1);
    let mut k = 0;
    emit(0, times.at(0), &x)?;
    while k + 1 < times.len() {
        let end = (k + CHUNK_ROWS).min(times.len() - 1);
        ts.clear();
        ts.extend((k..=end).map(|j| times.at(j)));
        let xs = odenet_fit::simulate(model, p, consts, &x, &ts, opts).map_err(|e| CliError {
            message: format!(
                "error: the model could not be integrated past t = {}: {e}",
                times.at(k)
            ),
            code: 1,
        })?;
        for (j, row) in xs.chunks_exact(n).enumerate().skip(1) {
            emit(k + j, ts[j], row)?;
        }
        x.copy_from_slice(&xs[xs.len() - n..]);
        k = end;
    }
    Ok(())
}

pub fn run(a: SimulateArgs) -> Result<u8, CliError> {
    // Flags first, so that a bad flag costs no work.
    let consts_given = unique_assignments(&a.constants, "const")?;
    let init = unique_assignments(&a.init, "init")?;
    if let Some(eps) = a.noise
        && !(eps >= 0.0 && eps.is_finite())
    {
        return Err(CliError::input(
            "error: --noise must be a non-negative number",
        ));
    }
    let names: Vec<String> = consts_given.iter().map(|(k, _)| k.clone()).collect();
    let Loaded { model, p } = load_model(&a.model, &names)?;
    let n = model.nstates();
    let cols: Vec<usize> = match &a.columns {
        None => (0..n).collect(),
        Some(cs) => {
            let mut cols = Vec::with_capacity(cs.len());
            for c in cs {
                let i = model.states.iter().position(|s| s == c).ok_or_else(|| {
                    CliError::input(format!(
                        "error: --columns {c}: no such state (states: {})",
                        list(&model.states)
                    ))
                })?;
                if cols.contains(&i) {
                    return Err(CliError::input(format!(
                        "error: --columns names {c:?} twice"
                    )));
                }
                cols.push(i);
            }
            cols
        }
    };
    let times = output_times(&a, cols.len())?;
    let mut consts = vec![f64::NAN; model.constants.len()];
    for (k, v) in &consts_given {
        match model.constants.iter().position(|c| c == k) {
            Some(i) => consts[i] = *v,
            None => {
                return Err(CliError::input(format!(
                    "error: --const {k}: the model has no constant {k:?} (its constants: {})",
                    list(&model.constants)
                )));
            }
        }
    }
    if let Some(i) = consts.iter().position(|v| v.is_nan()) {
        return Err(CliError::input(format!(
            "error: the model uses the constant {:?}; give it with --const {}=VALUE",
            model.constants[i], model.constants[i]
        )));
    }
    let mut x0 = vec![f64::NAN; n];
    for (k, v) in &init {
        match model.states.iter().position(|s| s == k) {
            Some(i) => x0[i] = *v,
            None => {
                return Err(CliError::input(format!(
                    "error: --init {k}: the model has no state {k:?} (its states: {})",
                    list(&model.states)
                )));
            }
        }
    }
    let missing: Vec<&String> = model
        .states
        .iter()
        .zip(&x0)
        .filter(|(_, v)| v.is_nan())
        .map(|(s, _)| s)
        .collect();
    if !missing.is_empty() {
        return Err(CliError::input(format!(
            "error: no initial value for {}\n  = help: give every state one, e.g. --init {}",
            list(&missing.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            model
                .states
                .iter()
                .map(|s| format!("{s}=1"))
                .collect::<Vec<_>>()
                .join(",")
        )));
    }

    // With noise, a first pass finds each state's largest magnitude (the noise scale).
    let mut sd = vec![0.0; n];
    if let Some(eps) = a.noise.filter(|&e| e > 0.0) {
        let mut amp = vec![0.0f64; n];
        integrate(&model, &p, &consts, &x0, &times, |_, _, x| {
            for (m, v) in amp.iter_mut().zip(x) {
                *m = m.max(v.abs());
            }
            Ok(())
        })?;
        for i in 0..n {
            sd[i] = eps * amp[i];
            // Noisy values reach several standard deviations beyond the largest value.
            if !(amp[i] + 40.0 * sd[i]).is_finite() {
                return Err(CliError::input(format!(
                    "error: --noise {eps} gives state {} a noise standard deviation of {:e} (× its largest magnitude {:e}), and the noisy values overflow\n  = help: --noise is relative to the largest magnitude: use a value such as 0.01",
                    model.states[i], sd[i], amp[i]
                )));
            }
        }
    }

    let cannot = |e: std::io::Error| CliError {
        message: format!(
            "error: cannot write {}: {e}\n  = help: any previous file there is left as it was",
            a.output.display()
        ),
        code: 2,
    };
    let mut out = crate::output::AtomicFile::create(&a.output).map_err(cannot)?;
    let mut header = String::from("t");
    for &c in &cols {
        header.push(',');
        header.push_str(&model.states[c]);
    }
    header.push('\n');
    out.write_all(header.as_bytes()).map_err(cannot)?;
    // The noise of state i at row k is normal draw number i·rows + k of one stream (states one
    // after the other, as when the whole output was held in memory): one generator per state,
    // advanced to the start of its block, keeps shipped data reproducible from their seeds.
    let mut streams: Vec<Rng> = Vec::new();
    if sd.iter().any(|&v| v > 0.0) {
        let mut rng = Rng::new(a.seed);
        for _ in 0..n {
            streams.push(rng.clone());
            for _ in 0..times.len() {
                rng.normal();
            }
        }
    }
    let mut line = String::with_capacity(32 * (cols.len() + 1));
    let mut noisy = vec![0.0; n];
    integrate(&model, &p, &consts, &x0, &times, |_, t, x| {
        // Every state draws its noise (written or not), so that --columns does not change
        // the values of the states it keeps.
        for i in 0..n {
            noisy[i] = match streams.get_mut(i) {
                Some(r) => x[i] + sd[i] * r.normal(),
                None => x[i],
            };
        }
        line.clear();
        let _ = write!(line, "{t}");
        for &c in &cols {
            let _ = write!(line, ",{}", noisy[c]);
        }
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(cannot)
    })?;
    out.commit().map_err(cannot)?;
    Ok(0)
}

fn list(v: &[String]) -> String {
    v.join(", ")
}
