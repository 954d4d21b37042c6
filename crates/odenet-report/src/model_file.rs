//! The model file, `odenet-model/1` (DESIGN.md "Model file").

use odenet_fit::FitResult;
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

/// A model read back from a model file: enough to simulate it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub name: String,
    pub states: Vec<String>,
    pub hidden: Vec<String>,
    pub constants: Vec<String>,
    pub params: Vec<(String, f64)>,
    /// Per state, in state order.
    pub equations: Vec<String>,
}

/// Serialises a fit result as a model file (values at full precision).
pub fn to_json(res: &FitResult, constants: &[String]) -> String {
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
    let doc = json!({
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
            "path": path,
        },
    });
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
        Ok(ModelFile {
            name,
            states,
            hidden,
            constants,
            params,
            equations,
        })
    }
}
