//! The model file, `odenet-model/1` (DESIGN.md "Model file").

use odenet_fit::FitResult;
use odenet_spec::{ModelSpec, Spec};
use serde_json::{Map, Value, json};

pub const FORMAT: &str = "odenet-model/1";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelFileError {
    // serde_json's message already ends with "at line L column C".
    #[error("not valid JSON: {message}")]
    Json {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("unsupported model format {found:?}; this odenet reads \"{FORMAT}\"")]
    Format { found: String },
    #[error("the model file lacks `{key}` or it has the wrong type; {help}")]
    Field { key: String, help: String },
}

/// A model read back from a model file: enough to simulate it, print it and export it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub name: String,
    pub states: Vec<String>,
    pub hidden: Vec<String>,
    pub constants: Vec<String>,
    pub params: Vec<(String, f64)>,
    /// Per state, in state order.
    pub equations: Vec<String>,
    /// Per parameter (aligned with `params`): its standard error; NaN when none was estimated
    /// (fixed or pruned), +∞ when the file says the data leave it undetermined (`null`).
    pub param_std_errors: Vec<f64>,
    /// Library mode: per state (in state order), the non-zero terms with their standard errors.
    pub terms: Vec<Vec<Term>>,
    /// Template mode: per state, the equation with its parameters and constants as names (so
    /// that tied parameters stay one name); absent in files written without the spec.
    pub template: Option<Vec<String>>,
    /// Per experiment: its constants and the model's state at its first time.
    pub experiments: Vec<Experiment>,
}

/// One library term of a model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// Canonical monomial name (`"1"`, `"x"`, `"x^2*z"`) or an extra term as written.
    pub name: String,
    pub value: f64,
    /// NaN when none was estimated, +∞ when the data leave it undetermined.
    pub std_error: f64,
}

/// One experiment of the fitted data, as the model file records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// Values of the model's constants (aligned with `ModelFile::constants`).
    pub constants: Vec<f64>,
    /// First and last sample time.
    pub t0: f64,
    pub t_end: f64,
    /// The fitted model's state at `t0` (hidden and fitted initial values included), in state
    /// order; NaN where unknown.
    pub initial: Vec<f64>,
}

/// Serialises a fit result as a model file (values at full precision), without what only the
/// spec knows (the template equations and each experiment's constants): see [`to_json_spec`].
pub fn to_json(res: &FitResult, constants: &[String]) -> String {
    write(res, constants, None)
}

/// Serialises a fit result as a model file, with the template equations (parameters as names)
/// and each experiment's constants and initial state, which `odenet export` carries.
pub fn to_json_spec(res: &FitResult, spec: &Spec) -> String {
    write(res, &spec.constants, Some(spec))
}

fn write(res: &FitResult, constants: &[String], spec: Option<&Spec>) -> String {
    let mut params = Map::new();
    if !res.library {
        for (n, v) in res.param_names.iter().zip(&res.params) {
            params.insert(n.clone(), json!(v));
        }
    }
    let mut equations = Map::new();
    for (s, e) in res.states.iter().zip(&res.equations) {
        equations.insert(s.clone(), json!(e));
    }
    let mut terms = Map::new();
    if let Some(t) = &res.terms {
        for (s, ts) in res.states.iter().zip(t) {
            let mut m = Map::new();
            for (name, v) in ts {
                m.insert(name.clone(), json!(v));
            }
            terms.insert(s.clone(), Value::Object(m));
        }
    }
    let path: Vec<Value> = res
        .path
        .iter()
        .map(|p| {
            json!({
                "mu": p.mu,
                "gamma": p.gamma,
                "active_terms": p.active_terms,
                "train_loss": finite(p.train_loss),
                "holdout_loss": finite(p.holdout_loss),
                "score": finite(p.score),
                "selected": p.selected,
            })
        })
        .collect();
    // Standard errors, keyed like `params` (template mode) or `terms` (library mode); null where
    // the data do not determine the value.
    let mut std_errors = Map::new();
    if let Some(t) = &res.terms {
        for (s, ts) in res.states.iter().zip(t) {
            let mut m = Map::new();
            for (name, _) in ts {
                if let Some(se) = res.term_param(s, name).and_then(|k| res.std_errors.get(k)) {
                    m.insert(name.clone(), finite(*se));
                }
            }
            std_errors.insert(s.clone(), Value::Object(m));
        }
    } else {
        for (n, se) in res.param_names.iter().zip(&res.std_errors) {
            if !se.is_nan() {
                std_errors.insert(n.clone(), finite(*se));
            }
        }
    }
    let mut noise = Map::new();
    if let Some(nz) = &res.noise {
        let mut sd = Map::new();
        let mut values = Map::new();
        for (i, st) in res.states.iter().enumerate() {
            if let Some(v) = nz.sd.get(i) {
                sd.insert(st.clone(), finite(*v));
            }
            if let Some(v) = nz.values.get(i) {
                values.insert(
                    st.clone(),
                    Value::Array(v.iter().map(|x| finite(*x)).collect()),
                );
            }
        }
        noise.insert("sd".into(), Value::Object(sd));
        noise.insert("values".into(), Value::Object(values));
    }
    let hidden: Vec<&String> = res
        .states
        .iter()
        .zip(&res.hidden)
        .filter(|(_, h)| **h)
        .map(|(s, _)| s)
        .collect();
    let template = match spec.map(|s| &s.model) {
        Some(ModelSpec::Template { equations, .. }) => Value::Object(
            res.states
                .iter()
                .zip(equations)
                .map(|(s, e)| (s.clone(), json!(e.to_string())))
                .collect(),
        ),
        _ => Value::Null,
    };
    let n = res.states.len();
    let experiments: Vec<Value> = match spec {
        Some(spec) => spec
            .data
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let traj = res.trajectories.get(k);
                let times = traj.map(|t| t.times.as_slice()).unwrap_or(&[]);
                let first = traj
                    .and_then(|t| t.states.get(..n))
                    .unwrap_or(&[])
                    .to_vec();
                json!({
                    "constants": Value::Object(
                        constants.iter().zip(&d.constants).map(|(c, v)| (c.clone(), finite(*v))).collect()
                    ),
                    "t0": times.first().map_or(Value::Null, |t| finite(*t)),
                    "t_end": times.last().map_or(Value::Null, |t| finite(*t)),
                    "initial": Value::Object(
                        res.states.iter().zip(&first).map(|(s, v)| (s.clone(), finite(*v))).collect()
                    ),
                })
            })
            .collect(),
        None => vec![],
    };
    let mut doc = json!({
        "format": FORMAT,
        "name": res.name,
        "states": res.states,
        "hidden": hidden,
        "constants": constants,
        "params": Value::Object(params),
        "equations": Value::Object(equations),
        "terms": Value::Object(terms),
        "std_errors": Value::Object(std_errors),
        "weak_direction": match &res.weak_direction {
            Some(w) => json!({
                "exponents": Value::Object(
                    w.exponents
                        .iter()
                        .map(|&(k, e)| (res.param_names[k].clone(), json!(e)))
                        .collect()
                ),
                "log_se": finite(w.log_se),
            }),
            None => Value::Null,
        },
        "noise": if res.noise.is_some() { Value::Object(noise) } else { Value::Null },
        "template": template,
        "experiments": experiments,
        "fitted_initial": res
            .fitted_initial
            .iter()
            .map(|v| Value::Object(v.iter().map(|(s, x)| (s.clone(), finite(*x))).collect()))
            .collect::<Vec<_>>(),
        "fit": {
            "loss": finite(res.loss),
            "active_terms": res.active_terms,
            "seconds": res.seconds,
            "converged": res.converged,
            "pieces": res.pieces,
            "holdout_pieces": res.holdout_pieces,
            "failures": res.failures,
            "failures_during_fit": res.failures_during_fit,
            "stop_reason": res.stop_reason,
            "horizon": res.horizon,
            "reconstruction_r2": finite(res.reconstruction_r2),
            "noise_sd": Value::Object(
                res.states
                    .iter()
                    .zip(&res.noise_sd)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(s, v)| (s.clone(), finite(*v)))
                    .collect()
            ),
            "selection": res.selection,
            "path": path,
        },
        "warnings": res.warnings,
        "relations": res.relations,
        // The evidence per candidate term that it belongs (discovery), by parameter name.
        "inclusion": Value::Object(
            res.param_names
                .iter()
                .zip(&res.inclusion)
                .filter(|(_, w)| w.is_finite())
                .map(|(n, w)| (n.clone(), json!(w)))
                .collect()
        ),
        "outliers": res
            .outliers
            .iter()
            .map(|o| json!({
                "experiment": o.exp + 1,
                "row": o.row + 1,
                "state": res.states.get(o.state),
                "value": finite(o.value),
            }))
            .collect::<Vec<_>>(),
    });
    // The global stage's confidence figure, only for fits that had one (older readers ignore it).
    if let (Some(g), Some(fit)) = (
        res.global,
        doc.get_mut("fit").and_then(Value::as_object_mut),
    ) {
        fit.insert("starts".into(), json!(g.starts));
        fit.insert("starts_at_best".into(), json!(g.at_best));
    }
    // Discovery: the coefficients from the pieces chained into whole trajectories, only when the
    // data accepted the ties.
    if let (Some(c), Some(fit)) = (
        res.chained,
        doc.get_mut("fit").and_then(Value::as_object_mut),
    ) {
        fit.insert(
            "chained".into(),
            json!({
                "intervals": c.intervals,
                "ties": c.ties,
                "excess": finite(c.excess),
                "allowed": finite(c.allowed),
            }),
        );
    }
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_string());
    s.push('\n');
    s
}

fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

impl ModelFile {
    /// Reads a model file's text.
    pub fn parse(text: &str) -> Result<ModelFile, ModelFileError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ModelFileError::Json {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        let field = |key: &str, help: &str| ModelFileError::Field {
            key: key.into(),
            help: help.into(),
        };
        let format = v.get("format").and_then(Value::as_str).unwrap_or("");
        if format != FORMAT {
            return Err(ModelFileError::Format {
                found: format.to_string(),
            });
        }
        let strings = |key: &str, required: bool| -> Result<Vec<String>, ModelFileError> {
            match v.get(key) {
                None if !required => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| field(key, "it must be an array of strings")),
                _ => Err(field(key, "it must be an array of strings")),
            }
        };
        let states = strings("states", true)?;
        let hidden = strings("hidden", false)?;
        let constants = strings("constants", false)?;
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("model")
            .to_string();
        let mut params = Vec::new();
        if let Some(p) = v.get("params") {
            let obj = p
                .as_object()
                .ok_or_else(|| field("params", "it must map names to numbers"))?;
            for (k, x) in obj {
                let x = x
                    .as_f64()
                    .ok_or_else(|| field(&format!("params.{k}"), "it must be a number"))?;
                params.push((k.clone(), x));
            }
        }
        let eqs = v
            .get("equations")
            .and_then(Value::as_object)
            .ok_or_else(|| field("equations", "it must map every state to an equation string"))?;
        let mut equations = Vec::with_capacity(states.len());
        for s in &states {
            let e = eqs.get(s).and_then(Value::as_str).ok_or_else(|| {
                field(
                    &format!("equations.{s}"),
                    "every state needs an equation string",
                )
            })?;
            equations.push(e.to_string());
        }
        // Standard errors: a number, `null` (undetermined) or absent (not estimated).
        let se_of = |x: Option<&Value>| -> Result<f64, ModelFileError> {
            match x {
                None => Ok(f64::NAN),
                Some(Value::Null) => Ok(f64::INFINITY),
                Some(v) => v
                    .as_f64()
                    .ok_or_else(|| field("std_errors", "standard errors must be numbers or null")),
            }
        };
        let ses = v.get("std_errors").and_then(Value::as_object);
        let param_std_errors = params
            .iter()
            .map(|(k, _)| se_of(ses.and_then(|m| m.get(k))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut terms = Vec::new();
        if let Some(t) = v
            .get("terms")
            .and_then(Value::as_object)
            .filter(|t| !t.is_empty())
        {
            for s in &states {
                let mut list = Vec::new();
                if let Some(ts) = t.get(s) {
                    let ts = ts.as_object().ok_or_else(|| {
                        field(&format!("terms.{s}"), "it must map term names to numbers")
                    })?;
                    let state_ses = ses.and_then(|m| m.get(s)).and_then(Value::as_object);
                    for (name, x) in ts {
                        let value = x.as_f64().ok_or_else(|| {
                            field(&format!("terms.{s}.{name}"), "it must be a number")
                        })?;
                        let std_error = se_of(state_ses.and_then(|m| m.get(name)))?;
                        list.push(Term {
                            name: name.clone(),
                            value,
                            std_error,
                        });
                    }
                }
                terms.push(list);
            }
        }
        let template = match v.get("template") {
            None | Some(Value::Null) => None,
            Some(Value::Object(t)) => Some(
                states
                    .iter()
                    .map(|s| {
                        t.get(s)
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .ok_or_else(|| {
                                field(
                                    &format!("template.{s}"),
                                    "every state needs an equation string",
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => {
                return Err(field(
                    "template",
                    "it must map every state to an equation string",
                ));
            }
        };
        let num = |x: Option<&Value>| x.and_then(Value::as_f64).unwrap_or(f64::NAN);
        let experiments = match v.get("experiments") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|e| {
                    let e = e
                        .as_object()
                        .ok_or_else(|| field("experiments", "each experiment must be an object"))?;
                    let c = e.get("constants").and_then(Value::as_object);
                    let ini = e.get("initial").and_then(Value::as_object);
                    Ok(Experiment {
                        constants: constants
                            .iter()
                            .map(|k| num(c.and_then(|c| c.get(k))))
                            .collect(),
                        t0: num(e.get("t0")),
                        t_end: num(e.get("t_end")),
                        initial: states
                            .iter()
                            .map(|s| num(ini.and_then(|m| m.get(s))))
                            .collect(),
                    })
                })
                .collect::<Result<Vec<_>, ModelFileError>>()?,
            Some(_) => return Err(field("experiments", "it must be an array of objects")),
        };
        Ok(ModelFile {
            name,
            states,
            hidden,
            constants,
            params,
            equations,
            param_std_errors,
            terms,
            template,
            experiments,
        })
    }
}

/// Why a model file's equations cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CompileError {
    #[error("the equation of {state} does not parse at byte {offset}: {message}")]
    Parse {
        state: String,
        offset: usize,
        message: String,
    },
    #[error("{0}")]
    Model(String),
}

impl ModelFile {
    /// The model ready to integrate, with the values of the parameters its equations use (the
    /// equations of a model file carry their fitted numbers; parameters appear only where the
    /// file was written by hand).
    pub fn compile(&self) -> Result<(odenet_fit::CompiledModel, Vec<f64>), CompileError> {
        let mut eqs = Vec::with_capacity(self.states.len());
        for (s, src) in self.states.iter().zip(&self.equations) {
            let e = odenet_spec::parse_expr(src).map_err(|e| CompileError::Parse {
                state: s.clone(),
                offset: e.offset,
                message: e.message,
            })?;
            eqs.push(e);
        }
        let used: Vec<odenet_spec::ParamSpec> = self
            .params
            .iter()
            .filter(|(n, _)| eqs.iter().any(|e| e.vars().contains(&n.as_str())))
            .map(|(n, v)| odenet_spec::ParamSpec {
                name: n.clone(),
                init: *v,
                fixed: true,
                min: None,
                max: None,
                sparse: false,
            })
            .collect();
        let hidden: Vec<bool> = self
            .states
            .iter()
            .map(|s| self.hidden.contains(s))
            .collect();
        let p = used.iter().map(|q| q.init).collect();
        let model = odenet_fit::CompiledModel::template(
            &self.name,
            &self.states,
            &hidden,
            &self.constants,
            used,
            eqs,
        )
        .map_err(|e| CompileError::Model(e.to_string()))?;
        Ok((model, p))
    }
}
