//! Reading and validating a spec: a walk over the spanned TOML tree that records every problem
//! with its location before giving up.
//!
//! The walk uses `toml::de::DeTable` rather than serde derive so that *all* problems (unknown
//! keys, wrong types, cross-references between sections) are collected in one pass, each at the
//! span of the key or value it concerns.
//!
//! `parse_spec` (here) reads the TOML and runs `validate`, which walks the top-level sections
//! in order: `checker` holds the typed reads of values and the construction of located
//! errors; `states` and `params` read the names of the model; `experiments` reads each
//! `[[data]]` table; `model` reads `[library]` or `[equations]` and checks the names they use;
//! `fit` reads `[fit]`.

mod checker;
mod experiments;
mod fit;
mod model;
mod params;
mod states;

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::diag::{Source, sort_diagnostics};
use crate::{DataSpec, Diagnostic, FitConfig, LoadOptions, Origins, Spec};

use checker::{Checker, entries, find};
use experiments::{DataContext, RawData, parse_data};
use fit::parse_fit;
use model::{Scope, parse_model};
use params::parse_params;
use states::{parse_hidden, parse_states};

pub use model::{MAX_LIBRARY_COEFFICIENTS, MAX_POLYNOMIAL_ORDER, library_terms};

const TOP_KEYS: &[&str] = &[
    "name",
    "states",
    "hidden",
    "library",
    "params",
    "equations",
    "data",
    "fit",
];

pub(crate) fn parse_spec(
    text: &str,
    path: &Path,
    opts: &LoadOptions,
) -> Result<Spec, Vec<Diagnostic>> {
    let mut ck = Checker {
        src: Source::new(text, path),
        diags: Vec::new(),
        warnings: Vec::new(),
        origins: Origins::default(),
    };
    let (root, errors) = DeTable::parse_recoverable(text);
    // Only the first syntax error is reported: the parser's recovery after it mostly produces
    // echoes of the same mistake at later places.
    if let Some(e) = errors.first() {
        let msg = format!("invalid TOML: {}", e.message().trim_end());
        let help = Some(
            "fix the TOML syntax here; an unclosed `[`, `{` or quote on an earlier line can also cause this".to_string(),
        );
        match e.span() {
            Some(span) => ck.err(span, msg, help),
            None => ck.err_file(msg, help),
        }
        return Err(ck.diags);
    }
    let spec = validate(&mut ck, root.get_ref(), path, opts);
    let mut diags = ck.diags;
    match spec {
        Some(mut spec) if diags.is_empty() => {
            sort_diagnostics(&mut ck.warnings);
            spec.warnings = ck.warnings;
            Ok(spec)
        }
        _ => {
            if diags.is_empty() {
                // Validation stopped without saying why; that is a bug here, but the user still
                // deserves an answer rather than a panic.
                diags.push(Diagnostic::whole_file(
                    path,
                    "the spec could not be read",
                    None,
                ));
            }
            sort_diagnostics(&mut diags);
            Err(diags)
        }
    }
}

fn validate(
    ck: &mut Checker<'_>,
    root: &DeTable<'_>,
    path: &Path,
    opts: &LoadOptions,
) -> Option<Spec> {
    let top = entries(root);
    ck.check_keys(&top, TOP_KEYS, "the spec");

    let name = match find(&top, "name") {
        Some(e) => ck.string(e.value, "`name`").map(str::to_string),
        None => Some(
            path.file_stem()
                .map_or_else(|| "spec".to_string(), |s| s.to_string_lossy().into_owned()),
        ),
    };

    let (states, states_ok) = parse_states(ck, &top);
    let hidden = parse_hidden(ck, &top, &states, states_ok);
    let params_entry = find(&top, "params");
    let params = match params_entry {
        Some(e) => parse_params(ck, e.value, &states),
        None => Vec::new(),
    };
    let param_names_owned: Vec<String> = params.iter().map(|p| p.0.name.clone()).collect();
    let param_names: Vec<&str> = param_names_owned.iter().map(String::as_str).collect();

    let mut raw_data = Vec::new();
    if let Some(e) = find(&top, "data") {
        match e.value.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    if let Some(t) = ck.table(item, "each [[data]] entry") {
                        let ctx = DataContext {
                            states: &states,
                            states_ok,
                            hidden: &hidden,
                            params: &param_names,
                            spec_path: path,
                        };
                        if let Some(d) = parse_data(ck, item.span(), t, &ctx) {
                            raw_data.push(d);
                        }
                    }
                }
            }
            _ => ck.err(
                e.value.span(),
                "`data` must be an array of tables",
                Some("write `[[data]]` (with double brackets) above each experiment".into()),
            ),
        }
    }
    let mut constants: Vec<String> = Vec::new();
    for d in &raw_data {
        for (c, _) in &d.constants {
            if !constants.contains(c) {
                constants.push(c.clone());
            }
        }
    }
    // Constants given from outside (`simulate --const`) need no [[data]] table.
    let outside: Vec<&String> = opts
        .constants
        .iter()
        .filter(|c| !constants.contains(c))
        .collect();
    let outside: Vec<String> = outside.into_iter().cloned().collect();
    constants.extend(outside.iter().cloned());
    duplicate_files(ck, &raw_data);

    let scope = Scope {
        states: &states,
        states_ok,
        params: &param_names,
        constants: &constants,
    };
    let model = parse_model(ck, &top, params, &scope);
    // A constant from outside that the model does not use is not one of its constants.
    if let Some((_, used)) = &model {
        constants.retain(|c| !outside.contains(c) || used.contains(c));
    }

    // Constants that the model uses must be defined by every experiment.
    if let Some((_, used)) = &model {
        for c in &constants {
            if !used.contains(c) || outside.contains(c) {
                continue;
            }
            for (k, d) in raw_data.iter().enumerate() {
                if !d.constants.iter().any(|(n, _)| n == c) {
                    ck.err(
                        d.header.clone(),
                        format!(
                            "experiment {} does not define the constant `{c}`, which the model uses",
                            k + 1
                        ),
                        Some(format!(
                            "give `constants = {{ {c} = ... }}` in every [[data]] table"
                        )),
                    );
                }
            }
        }
    }

    let fit = match find(&top, "fit") {
        Some(e) => parse_fit(ck, e.value),
        None => FitConfig::default(),
    };

    if !ck.diags.is_empty() {
        return None;
    }
    let (model, _) = model?;
    let mut origins = std::mem::take(&mut ck.origins);
    origins.data = raw_data
        .iter()
        .map(|d| ck.location(d.header.clone()))
        .collect();
    let data = raw_data
        .into_iter()
        .map(|d| DataSpec {
            file: d.file,
            time: d.time,
            columns: d.columns,
            constants: constants
                .iter()
                .map(|c| {
                    d.constants
                        .iter()
                        .find(|(n, _)| n == c)
                        .map_or(f64::NAN, |&(_, v)| v)
                })
                .collect(),
            initial: d.initial,
        })
        .collect();
    Some(Spec {
        name: name?,
        path: path.to_path_buf(),
        states,
        hidden,
        model,
        constants,
        data,
        fit,
        warnings: Vec::new(),
        origins,
    })
}

/// Two [[data]] tables that read the same file are legal (the experiment then counts twice)
/// but almost always a copy-paste slip.
fn duplicate_files(ck: &mut Checker<'_>, raw_data: &[RawData]) {
    let key = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let keys: Vec<PathBuf> = raw_data.iter().map(|d| key(&d.file)).collect();
    for (k, d) in raw_data.iter().enumerate() {
        if let Some(first) = keys[..k].iter().position(|p| *p == keys[k]) {
            ck.warn(
                d.file_span.clone(),
                format!(
                    "experiment {} reads the same file as experiment {}",
                    k + 1,
                    first + 1
                ),
                Some(
                    "each [[data]] table should be a different experiment; a repeated one counts twice in the fit"
                        .into(),
                ),
            );
        }
    }
}
