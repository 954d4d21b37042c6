//! `odenet simulate (SPEC|MODEL.json) --t-end T --dt H [--init x=..] [--noise EPS --seed S] -o out.csv`

use std::fmt::Write;
use std::path::Path;

use odenet_fit::{CompiledModel, rng::Rng};
use odenet_solve::SolveOptions;
use odenet_spec::{Expr, ModelSpec};

use super::load_spec;
use crate::CliError;
use crate::args::SimulateArgs;

/// A model ready to integrate, with where it came from.
pub(super) struct Loaded {
    pub(super) model: CompiledModel,
    pub(super) p: Vec<f64>,
}

pub(super) fn load_model(path: &Path) -> Result<Loaded, CliError> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::input(format!(
                "error: cannot read the model file {}: {e}",
                path.display()
            ))
        })?;
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
    let spec = load_spec(path)?;
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

pub fn run(a: SimulateArgs) -> Result<u8, CliError> {
    let Loaded { model, p } = load_model(&a.model)?;
    let n = model.nstates();
    // Output times.
    let times: Vec<f64> = match (&a.times, a.t_end, a.dt) {
        (Some(ts), _, _) => ts.clone(),
        (None, Some(t_end), Some(dt)) => {
            // Written so that NaN fails too.
            if dt <= 0.0 || !dt.is_finite() || t_end <= 0.0 || !t_end.is_finite() {
                return Err(CliError::input(
                    "error: --t-end and --dt must be positive numbers",
                ));
            }
            let m = (t_end / dt + 1e-9).floor() as usize;
            if m > 50_000_000 {
                return Err(CliError::input(
                    "error: --t-end/--dt asks for more than 50 million rows",
                ));
            }
            (0..=m).map(|k| k as f64 * dt).collect()
        }
        _ => {
            return Err(CliError::input(
                "error: say which times to output\n  = help: give --t-end T --dt H, or --times 0,1,2.5,...",
            ));
        }
    };
    if times.len() < 2
        || times
            .windows(2)
            .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        || times.iter().any(|t| !t.is_finite())
    {
        return Err(CliError::input(
            "error: the output times must be finite and strictly increasing, at least two",
        ));
    }
    let consts_given = assignments(&a.constants, "const")?;
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
    let init = assignments(&a.init, "init")?;
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
    let cols: Vec<usize> = match &a.columns {
        None => (0..n).collect(),
        Some(cs) => cs
            .iter()
            .map(|c| {
                model.states.iter().position(|s| s == c).ok_or_else(|| {
                    CliError::input(format!(
                        "error: --columns {c}: no such state (states: {})",
                        list(&model.states)
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let opts = SolveOptions {
        rtol: 1e-10,
        atol: 1e-12,
        max_steps: 10_000_000,
        blowup: 1e12,
        ..SolveOptions::default()
    };
    let mut xs =
        odenet_fit::simulate(&model, &p, &consts, &x0, &times, opts).map_err(|e| CliError {
            message: format!("error: the model could not be integrated: {e}"),
            code: 1,
        })?;
    if let Some(eps) = a.noise {
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(CliError::input(
                "error: --noise must be a non-negative number",
            ));
        }
        let mut rng = Rng::new(a.seed);
        for i in 0..n {
            let amp = (0..times.len())
                .map(|k| xs[k * n + i].abs())
                .fold(0.0, f64::max);
            for k in 0..times.len() {
                xs[k * n + i] += eps * amp * rng.normal();
            }
        }
    }
    let mut out = String::with_capacity(times.len() * (cols.len() + 1) * 24);
    out.push('t');
    for &c in &cols {
        out.push(',');
        out.push_str(&model.states[c]);
    }
    out.push('\n');
    for (k, t) in times.iter().enumerate() {
        let _ = write!(out, "{t}");
        for &c in &cols {
            let _ = write!(out, ",{}", xs[k * n + c]);
        }
        out.push('\n');
    }
    std::fs::write(&a.output, out).map_err(|e| CliError {
        message: format!("error: cannot write {}: {e}", a.output.display()),
        code: 2,
    })?;
    Ok(0)
}

fn list(v: &[String]) -> String {
    v.join(", ")
}
