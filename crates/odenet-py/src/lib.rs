//! `odenet._native`: the compiled half of the Python package (`python/odenet/__init__.py` is the
//! other). Every function takes and returns plain Python values (strings, lists of floats,
//! dicts); models cross the boundary as the `odenet-model/1` JSON text that the CLI writes, so a
//! model from Python and one from `odenet fit -o` are the same file.
//!
//! Bad input raises `InputError(message, diagnostics)`: the message is the rendered, located
//! diagnostic (as the CLI prints it), `diagnostics` a list of dicts with `file`, `line`,
//! `column`, `message` and `help`. Fits run on a worker thread with the GIL released; the
//! calling thread polls for signals, so Ctrl-C interrupts a fit (see [`run_fit`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use odenet_fit::FitResult;
use odenet_report::ModelFile;
use odenet_report::export::{Lang, Precision};
use odenet_solve::SolveOptions;
use odenet_spec::{DataSpec, Diagnostic, Initial, Spec, Table};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

pyo3::create_exception!(
    odenet,
    InputError,
    PyValueError,
    "Bad input: args are (message, diagnostics)."
);

/// The solver settings of `odenet simulate` (src/cmd/simulate.rs), so that `Model.simulate`
/// gives the same numbers.
fn simulate_options() -> SolveOptions {
    SolveOptions {
        rtol: 1e-10,
        atol: 1e-12,
        max_steps: 10_000_000,
        blowup: 1e12,
        ..SolveOptions::default()
    }
}

/// The rendered diagnostics, as the CLI prints them.
fn render(diags: &[Diagnostic]) -> String {
    let mut s = String::new();
    for d in diags {
        s.push_str(&d.to_string());
        s.push_str("\n\n");
    }
    let n = diags.len();
    s.push_str(&format!(
        "error: {n} problem{} found",
        if n == 1 { "" } else { "s" }
    ));
    s
}

fn input_error(py: Python<'_>, diags: &[Diagnostic]) -> PyErr {
    let list: Vec<Bound<'_, PyDict>> = diags
        .iter()
        .map(|d| {
            let m = PyDict::new(py);
            let _ = m.set_item("file", d.file.display().to_string());
            let _ = m.set_item("line", d.line);
            let _ = m.set_item("column", d.column);
            let _ = m.set_item("message", &d.message);
            let _ = m.set_item("help", d.help.as_deref());
            m
        })
        .collect();
    match PyList::new(py, list) {
        Ok(l) => InputError::new_err((render(diags), l.unbind())),
        Err(e) => e,
    }
}

/// A bad-input error that is not about a place in a file.
fn plain_error(py: Python<'_>, what: &str, message: String, help: Option<String>) -> PyErr {
    input_error(
        py,
        &[Diagnostic::whole_file(Path::new(what), message, help)],
    )
}

// ---------------------------------------------------------------------------------------------
// Fit options: Python values as TOML.

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A Python value as TOML text (bool, int, float, str, or a list or tuple of them).
fn toml_value(v: &Bound<'_, PyAny>) -> Option<String> {
    if v.is_instance_of::<PyBool>() {
        return Some(v.extract::<bool>().ok()?.to_string());
    }
    if v.is_instance_of::<PyInt>() {
        return Some(v.extract::<i64>().ok()?.to_string());
    }
    if v.is_instance_of::<PyFloat>() {
        let x = v.extract::<f64>().ok()?;
        return Some(if x.is_nan() {
            "nan".into()
        } else if x.is_infinite() {
            if x > 0.0 { "inf" } else { "-inf" }.into()
        } else {
            format!("{x:?}")
        });
    }
    if v.is_instance_of::<PyString>() {
        return Some(toml_string(&v.extract::<String>().ok()?));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Option<Vec<String>> = v.try_iter().ok()?.map(|x| toml_value(&x.ok()?)).collect();
        return Some(format!("[{}]", items?.join(", ")));
    }
    // numpy scalars and other numbers: integers through __index__, then floats.
    if let Ok(i) = v.extract::<i64>() {
        return Some(i.to_string());
    }
    v.extract::<f64>().ok().map(|x| format!("{x:?}"))
}

/// The `[fit]` table of `base` (TOML text of a spec, if any) with `options` laid over it, as
/// `key = value` lines: the options first, so that a diagnostic about one points at its line.
fn fit_lines(
    py: Python<'_>,
    base: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<String>> {
    let mut lines: Vec<(String, String)> = Vec::new();
    if let Some(opts) = options {
        for (k, v) in opts.iter() {
            let key: String = k.extract()?;
            let value = toml_value(&v).ok_or_else(|| {
                plain_error(
                    py,
                    "fit options",
                    format!(
                        "fit option `{key}`: {} is not a number, a string, a boolean or a list of them",
                        v.repr().map(|r| r.to_string()).unwrap_or_default()
                    ),
                    Some("write e.g. `mu=(1e-3, 1e-5)`, `segment=10` or `solver=\"bdf\"`".into()),
                )
            })?;
            lines.push((key, value));
        }
    }
    if let Some(text) = base
        && let Ok(doc) = text.parse::<toml::Table>()
        && let Some(toml::Value::Table(fit)) = doc.get("fit")
    {
        for (k, v) in fit {
            if !lines.iter().any(|(key, _)| key == k) {
                lines.push((k.clone(), v.to_string()));
            }
        }
    }
    Ok(lines
        .into_iter()
        .map(|(k, v)| {
            let key = if k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                k
            } else {
                toml_string(&k)
            };
            format!("{key} = {v}")
        })
        .collect())
}

/// Validates `[fit]` lines through the spec loader (located errors name "fit options").
fn fit_config(py: Python<'_>, lines: &[String]) -> PyResult<odenet_spec::FitConfig> {
    // A minimal model around the [fit] table, so that the spec loader validates it.
    let text = format!(
        "states = [\"x\"]\n[library]\npolynomial = 1\n[fit]\n{}",
        lines.join("\n")
    );
    Spec::from_str(&text, Path::new("fit options"))
        .map(|s| s.fit)
        .map_err(|d| input_error(py, &d))
}

// ---------------------------------------------------------------------------------------------
// Fits.

/// Runs a fit on a worker thread while this thread, with the GIL released between polls,
/// checks for signals every 50 ms. On Ctrl-C the cancel flag of `fit_with` is set: the fit stops
/// at its next evaluation, and KeyboardInterrupt is raised (the partial model is dropped: an
/// interrupted notebook cell should stop, not carry on with a half-fitted model).
fn run_fit(py: Python<'_>, spec: &Spec, tables: &[Table]) -> PyResult<FitResult> {
    let cancel = AtomicBool::new(false);
    let mut interrupted: Option<PyErr> = None;
    let result = std::thread::scope(|s| {
        let worker = s.spawn(|| odenet_fit::fit_with(spec, tables, &|_| {}, &cancel));
        while !worker.is_finished() {
            py.detach(|| std::thread::sleep(Duration::from_millis(50)));
            if interrupted.is_none()
                && let Err(e) = py.check_signals()
            {
                cancel.store(true, Ordering::Relaxed);
                interrupted = Some(e);
            }
        }
        worker.join()
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    match result {
        Ok(Ok(res)) if res.cancelled => {
            Err(PyKeyboardInterrupt::new_err("the fit was interrupted"))
        }
        Ok(Ok(res)) => Ok(res),
        Ok(Err(e)) => Err(plain_error(py, &spec.name, format!("{e}"), None)),
        Err(_) => Err(PyRuntimeError::new_err(
            "the fit failed unexpectedly (a bug in odenet: please report it)",
        )),
    }
}

/// (model file text, printed summary) of a fit.
fn outcome(res: &FitResult, spec: &Spec) -> (String, String, bool) {
    (
        odenet_report::model_file::to_json_spec(res, spec),
        odenet_report::summary::fit_summary(res),
        res.converged,
    )
}

/// Fits a spec file; `options` override its `[fit]` keys. Returns (model JSON, summary,
/// converged).
#[pyfunction]
#[pyo3(signature = (path, options=None))]
fn fit_spec(
    py: Python<'_>,
    path: PathBuf,
    options: Option<Bound<'_, PyDict>>,
) -> PyResult<(String, String, bool)> {
    let mut spec = Spec::load(&path).map_err(|d| input_error(py, &d))?;
    if let Some(opts) = options.as_ref().filter(|o| !o.is_empty()) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines = fit_lines(py, Some(&text), Some(opts))?;
        spec.fit = fit_config(py, &lines)?;
    }
    let tables = odenet_spec::load_tables(&spec).map_err(|d| input_error(py, &d))?;
    if tables.is_empty() {
        return Err(plain_error(
            py,
            &path.display().to_string(),
            "the spec has no [[data]] table to fit".into(),
            Some("add a [[data]] table with `file = \"...\"`".into()),
        ));
    }
    let res = run_fit(py, &spec, &tables)?;
    Ok(outcome(&res, &spec))
}

/// Checks one experiment's arrays as the CSV loader checks a data file.
fn table_from_arrays(
    py: Python<'_>,
    k: usize,
    times: Vec<f64>,
    values: Vec<Vec<f64>>,
    names: &[String],
) -> PyResult<Table> {
    let file = PathBuf::from(format!("experiment {}", k + 1));
    let mut diags = Vec::new();
    let at = |row: usize, col: usize, message: String, help: &str| {
        Diagnostic::at_row(&file, row, col, message, Some(help.to_string()))
    };
    if times.len() < 2 {
        diags.push(Diagnostic::whole_file(
            &file,
            format!("{} sample time(s): a fit needs at least two", times.len()),
            Some("give t and X with one row per sample time".into()),
        ));
    }
    if values.len() != names.len() {
        diags.push(Diagnostic::whole_file(
            &file,
            format!(
                "X has {} columns but {} state names were given",
                values.len(),
                names.len()
            ),
            Some("X needs one column per name, one row per time".into()),
        ));
    }
    for (i, col) in values.iter().enumerate() {
        if col.len() != times.len() {
            diags.push(Diagnostic::whole_file(
                &file,
                format!("X has {} rows but t has {} times", col.len(), times.len()),
                Some("give X one row per entry of t".into()),
            ));
            break;
        }
        if let Some(r) = col.iter().position(|v| v.is_infinite()) {
            diags.push(at(
                r + 1,
                i + 2,
                format!("X[{r}, {i}] (state `{}`) is infinite", names[i]),
                "use NaN for a missing value",
            ));
        }
    }
    if let Some(r) = times.iter().position(|v| !v.is_finite()) {
        diags.push(at(
            r + 1,
            1,
            format!("t[{r}] is not a finite number"),
            "every sample needs a finite time",
        ));
    } else if let Some(r) = times.windows(2).position(|w| w[1] <= w[0]) {
        diags.push(at(
            r + 2,
            1,
            format!(
                "the times must increase strictly, but t[{}] = {} follows t[{r}] = {}",
                r + 1,
                times[r + 1],
                times[r]
            ),
            "sort the samples by time and merge repeated times",
        ));
    }
    if !diags.is_empty() {
        return Err(input_error(py, &diags));
    }
    Ok(Table {
        file,
        times,
        values,
    })
}

/// Discovers equations from arrays: per experiment, the sample times and the values per state
/// (`values[k][state][row]`, NaN for missing). The spec is built in memory as the text a user
/// would write (`[library] polynomial = library`, `[fit]` from `options`), with one `[[data]]`
/// table per experiment. Returns (model JSON, summary, converged).
#[pyfunction]
#[pyo3(signature = (times, values, names, library, extra=None, options=None, name=None))]
#[allow(clippy::too_many_arguments)]
fn discover(
    py: Python<'_>,
    times: Vec<Vec<f64>>,
    values: Vec<Vec<Vec<f64>>>,
    names: Vec<String>,
    library: i64,
    extra: Option<Vec<String>>,
    options: Option<Bound<'_, PyDict>>,
    name: Option<String>,
) -> PyResult<(String, String, bool)> {
    if times.len() != values.len() || times.is_empty() {
        return Err(plain_error(
            py,
            "discover",
            format!(
                "{} time arrays for {} data arrays",
                times.len(),
                values.len()
            ),
            Some("give t and X as two arrays, or two lists of the same length".into()),
        ));
    }
    let quote = |s: &str| toml_string(s);
    let mut text = format!(
        "name = {}\nstates = [{}]\n\n[library]\npolynomial = {library}\n",
        quote(name.as_deref().unwrap_or("discover")),
        names
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(extra) = extra.filter(|e| !e.is_empty()) {
        text.push_str(&format!(
            "extra = [{}]\n",
            extra
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let lines = fit_lines(py, None, options.as_ref())?;
    if !lines.is_empty() {
        text.push_str("\n[fit]\n");
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    let mut spec =
        Spec::from_str(&text, Path::new("discover()")).map_err(|d| input_error(py, &d))?;
    let mut tables = Vec::with_capacity(times.len());
    for (k, (t, x)) in times.into_iter().zip(values).enumerate() {
        let table = table_from_arrays(py, k, t, x, &spec.states)?;
        spec.data.push(DataSpec {
            file: table.file.clone(),
            time: "t".into(),
            columns: spec.states.iter().map(|s| Some(s.clone())).collect(),
            constants: vec![],
            initial: vec![Initial::Observed; spec.states.len()],
        });
        tables.push(table);
    }
    let res = run_fit(py, &spec, &tables)?;
    Ok(outcome(&res, &spec))
}

fn parse_model(py: Python<'_>, model_json: &str) -> PyResult<ModelFile> {
    ModelFile::parse(model_json).map_err(|e| plain_error(py, "model", e.to_string(), None))
}

/// Integrates a model (its JSON text) from `x0` at `times[0]` through `times`, as
/// `odenet simulate` does; `constants` in the order of the model's constants. Returns the
/// states row-major (times × states).
#[pyfunction]
fn simulate(
    py: Python<'_>,
    model_json: &str,
    times: Vec<f64>,
    x0: Vec<f64>,
    constants: Vec<f64>,
) -> PyResult<Vec<f64>> {
    let m = parse_model(py, model_json)?;
    let (model, p) = m
        .compile()
        .map_err(|e| plain_error(py, "model", e.to_string(), None))?;
    let n = model.nstates();
    if x0.len() != n || x0.iter().any(|v| !v.is_finite()) {
        return Err(plain_error(
            py,
            "simulate",
            format!("x0 has {} values; the model has {n} states", x0.len()),
            Some(format!(
                "give one finite initial value per state ({})",
                m.states.join(", ")
            )),
        ));
    }
    if constants.len() != model.constants.len() || constants.iter().any(|v| !v.is_finite()) {
        return Err(plain_error(
            py,
            "simulate",
            format!(
                "the model uses the constants {:?}; {} finite values were given",
                model.constants,
                constants.len()
            ),
            Some("pass constants={name: value, ...}".into()),
        ));
    }
    if times.len() < 2
        || times.iter().any(|t| !t.is_finite())
        || times.windows(2).any(|w| w[1] <= w[0])
    {
        return Err(plain_error(
            py,
            "simulate",
            "the output times must be finite and strictly increasing, at least two".into(),
            None,
        ));
    }
    py.detach(|| odenet_fit::simulate(&model, &p, &constants, &x0, &times, simulate_options()))
        .map_err(|e| PyRuntimeError::new_err(format!("the model could not be integrated: {e}")))
}

/// odenet's right-hand side dx/dt of a model at the state `x` with `constants`.
#[pyfunction]
fn rhs(py: Python<'_>, model_json: &str, x: Vec<f64>, constants: Vec<f64>) -> PyResult<Vec<f64>> {
    use odenet_tape::OdeRhs;
    let m = parse_model(py, model_json)?;
    let (model, p) = m
        .compile()
        .map_err(|e| plain_error(py, "model", e.to_string(), None))?;
    if x.len() != model.nstates() || constants.len() != model.constants.len() {
        return Err(plain_error(
            py,
            "rhs",
            format!(
                "the model has {} states and {} constants; {} and {} values were given",
                model.nstates(),
                model.constants.len(),
                x.len(),
                constants.len()
            ),
            None,
        ));
    }
    let f = model.rhs(&constants);
    let mut scratch = vec![0.0; f.scratch_len()];
    let mut out = vec![0.0; x.len()];
    f.rhs(&x, &p, &mut scratch, &mut out);
    Ok(out)
}

/// The model as code or LaTeX (`odenet export`).
#[pyfunction]
#[pyo3(signature = (model_json, lang, full_precision=false))]
fn export(py: Python<'_>, model_json: &str, lang: &str, full_precision: bool) -> PyResult<String> {
    let m = parse_model(py, model_json)?;
    let lang = Lang::from_name(lang).ok_or_else(|| {
        plain_error(
            py,
            "export",
            format!("{lang:?} is not a language odenet exports"),
            Some(format!(
                "choose one of {}",
                Lang::ALL.map(Lang::name).join(", ")
            )),
        )
    })?;
    let precision = if full_precision {
        Precision::Full
    } else {
        Precision::StandardError
    };
    odenet_report::export::export(&m, lang, precision)
        .map_err(|e| plain_error(py, "model", e.to_string(), None))
}

/// A printed summary of a model file: the equations with coefficients rounded to their
/// standard errors, and the coefficients with their standard errors.
#[pyfunction]
fn describe(py: Python<'_>, model_json: &str) -> PyResult<String> {
    let m = parse_model(py, model_json)?;
    odenet_report::export::describe(&m).map_err(|e| plain_error(py, "model", e.to_string(), None))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(fit_spec, m)?)?;
    m.add_function(wrap_pyfunction!(discover, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(rhs, m)?)?;
    m.add_function(wrap_pyfunction!(export, m)?)?;
    m.add_function(wrap_pyfunction!(describe, m)?)?;
    Ok(())
}
