//! `[[data]]`: one experiment's data file, time and state columns, constants and initial
//! values, read into a `RawData` before the constants are aligned across experiments.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::checker::{Checker, entries};
use crate::Initial;

const DATA_KEYS: &[&str] = &["file", "time", "columns", "constants", "initial"];

/// What one `[[data]]` table said, before constants are aligned across tables.
pub(super) struct RawData {
    pub(super) header: Range<usize>,
    pub(super) file: PathBuf,
    pub(super) file_span: Range<usize>,
    pub(super) time: String,
    pub(super) columns: Vec<Option<String>>,
    pub(super) constants: Vec<(String, f64)>,
    pub(super) initial: Vec<Initial>,
}

pub(super) struct DataContext<'s> {
    pub(super) states: &'s [String],
    pub(super) states_ok: bool,
    pub(super) hidden: &'s [bool],
    pub(super) params: &'s [&'s str],
    pub(super) spec_path: &'s Path,
}

pub(super) fn parse_data(
    ck: &mut Checker<'_>,
    header: Range<usize>,
    t: &DeTable<'_>,
    cx: &DataContext<'_>,
) -> Option<RawData> {
    let fields = entries(t);
    ck.check_keys(&fields, DATA_KEYS, "[[data]]");
    let states = cx.states;
    let mut file = None;
    let mut time = "t".to_string();
    let mut columns: Vec<Option<String>> = states
        .iter()
        .zip(cx.hidden)
        .map(|(s, &h)| (!h).then(|| s.clone()))
        .collect();
    let mut constants: Vec<(String, f64)> = Vec::new();
    let mut initial_entry = None;
    for f in &fields {
        match f.key {
            "file" => {
                if let Some(s) = ck.string(f.value, "`file`") {
                    let dir = cx.spec_path.parent().unwrap_or(Path::new(""));
                    let resolved = dir.join(s);
                    if !resolved.is_file() {
                        let message = if resolved.exists() {
                            format!("data file `{s}` is not a file")
                        } else {
                            format!("data file `{s}` does not exist")
                        };
                        ck.err(
                            f.value.span(),
                            message,
                            Some("paths are relative to the folder of the spec file".into()),
                        );
                    }
                    file = Some((resolved, f.value.span()));
                }
            }
            "time" => {
                if let Some(s) = ck.string(f.value, "`time`") {
                    time = s.to_string();
                }
            }
            "columns" => {
                let Some(ct) = ck.table(f.value, "`columns`") else {
                    continue;
                };
                for c in entries(ct) {
                    let Some(col) = ck.string(c.value, &format!("the column of `{}`", c.key))
                    else {
                        continue;
                    };
                    match states.iter().position(|s| s == c.key) {
                        Some(i) if cx.hidden[i] => ck.err(
                            c.key_span.clone(),
                            format!("hidden state `{}` cannot have a data column", c.key),
                            Some(
                                "remove it from `hidden`, or remove its entry from `columns`"
                                    .into(),
                            ),
                        ),
                        Some(i) => columns[i] = Some(col.to_string()),
                        None if cx.states_ok => ck.err(
                            c.key_span.clone(),
                            format!("`columns` names `{}`, which is not a state", c.key),
                            Some(format!("the states are: {}", states.join(", "))),
                        ),
                        None => {}
                    }
                }
            }
            "constants" => {
                let Some(ct) = ck.table(f.value, "`constants`") else {
                    continue;
                };
                for c in entries(ct) {
                    let name = c.key;
                    if !ck.check_name(name, c.key_span.clone(), "constant") {
                        continue;
                    }
                    if states.iter().any(|s| s == name) {
                        ck.err(
                            c.key_span.clone(),
                            format!("constant `{name}` has the same name as a state"),
                            Some("rename the constant".into()),
                        );
                    } else if cx.params.contains(&name) {
                        ck.err(
                            c.key_span.clone(),
                            format!("constant `{name}` has the same name as a parameter"),
                            Some("rename the constant or the parameter".into()),
                        );
                    }
                    if let Some(x) = ck.number(c.value, &format!("constant `{name}`")) {
                        constants.push((name.to_string(), x));
                    }
                }
            }
            "initial" => initial_entry = Some(f),
            _ => {}
        }
    }

    let mut initial = vec![Initial::Observed; states.len()];
    let mut given = vec![false; states.len()];
    if let Some(f) = initial_entry
        && let Some(it) = ck.table(f.value, "`initial`")
    {
        for c in entries(it) {
            let Some(i) = states.iter().position(|s| s == c.key) else {
                if cx.states_ok {
                    ck.err(
                        c.key_span.clone(),
                        format!("initial value given for `{}`, which is not a state", c.key),
                        Some(format!("the states are: {}", states.join(", "))),
                    );
                }
                continue;
            };
            given[i] = true;
            let what = format!("the initial value of `{}`", c.key);
            match c.value.get_ref() {
                DeValue::Integer(_) | DeValue::Float(_) => {
                    if let Some(x) = ck.number(c.value, &what) {
                        initial[i] = Initial::Value(x);
                    }
                }
                DeValue::String(s) if s.trim() == "fit" => initial[i] = Initial::Fit,
                DeValue::String(s) => {
                    let Some(le) = ck.expression(c.value, s, &what) else {
                        continue;
                    };
                    let mut ok = true;
                    for n in &le.names {
                        let is_const = constants.iter().any(|(c, _)| *c == n.name);
                        let observed = states
                            .iter()
                            .position(|s| *s == n.name)
                            .is_some_and(|j| !cx.hidden[j]);
                        if !is_const && !observed {
                            ok = false;
                            let consts: Vec<&str> =
                                constants.iter().map(|(c, _)| c.as_str()).collect();
                            let obs: Vec<&str> = states
                                .iter()
                                .zip(cx.hidden)
                                .filter(|&(_, &h)| !h)
                                .map(|(s, _)| s.as_str())
                                .collect();
                            let why = if cx
                                .hidden
                                .iter()
                                .zip(states)
                                .any(|(&h, s)| h && *s == n.name)
                            {
                                format!("`{}` is hidden, so it has no observed value", n.name)
                            } else {
                                format!("unknown name `{}` in {what}", n.name)
                            };
                            let mut allowed = Vec::new();
                            if !consts.is_empty() {
                                allowed.push(format!(
                                    "this experiment's constants ({})",
                                    consts.join(", ")
                                ));
                            }
                            if !obs.is_empty() {
                                allowed.push(format!("the observed states ({})", obs.join(", ")));
                            }
                            let help = if allowed.is_empty() {
                                "no names are available here: give a number or \"fit\"".to_string()
                            } else {
                                format!("initial values may use {}", allowed.join(" and "))
                            };
                            ck.err(n.span.clone(), why, Some(help));
                        }
                    }
                    if ok {
                        initial[i] = Initial::Expr(le.expr);
                    }
                }
                _ => ck.type_err(c.value, &what, "a number, an expression string or \"fit\""),
            }
        }
    }
    for (i, s) in states.iter().enumerate() {
        if cx.hidden[i] && !given[i] {
            ck.err(
                header.clone(),
                format!("hidden state `{s}` has no initial value in this [[data]] table"),
                Some(format!(
                    "give a number, an expression over constants, or \"fit\": `initial = {{ {s} = \"fit\" }}`"
                )),
            );
        }
    }

    let Some(file) = file else {
        if !fields.iter().any(|f| f.key == "file") {
            ck.err(
                header,
                "this [[data]] table has no `file`",
                Some("add `file = \"data.csv\"` (a CSV path relative to the spec)".into()),
            );
        }
        return None;
    };
    Some(RawData {
        header,
        file: file.0,
        file_span: file.1,
        time,
        columns,
        constants,
        initial,
    })
}
