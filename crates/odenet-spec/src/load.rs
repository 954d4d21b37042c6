//! Reading and validating a spec: a walk over the spanned TOML tree that records every problem
//! with its location before giving up.
//!
//! The walk uses `toml::de::DeTable` rather than serde derive so that *all* problems (unknown
//! keys, wrong types, cross-references between sections) are collected in one pass, each at the
//! span of the key or value it concerns.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::diag::{Source, clip, closest, sort_diagnostics};
use crate::expr::{Expr, Func, IdentSpan, format_number as num, parse_expr_full};
use crate::{
    DataSpec, Diagnostic, FitConfig, InitKind, Initial, LoadOptions, Location, ModelSpec, Origins,
    ParamSpec, PruneRule, Segment, SolverKind, Spec,
};

type Value<'i> = Spanned<DeValue<'i>>;

/// The largest polynomial order accepted: order 12 in 4 states already gives 1820 terms per
/// equation, far beyond what the data of one experiment can identify.
pub const MAX_POLYNOMIAL_ORDER: i64 = 12;

/// The largest library accepted, in coefficients (terms per equation × states). The fit's
/// memory and time grow with the square of this number (Gauss–Newton matrices, sensitivities
/// per label); a fit at the limit was measured (benches/README.md, "Limits") to stay within a
/// few hundred MB.
pub const MAX_LIBRARY_COEFFICIENTS: u64 = 1000;

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
const LIBRARY_KEYS: &[&str] = &["polynomial", "extra"];
const PARAM_KEYS: &[&str] = &["init", "value", "fixed", "min", "max", "sparse"];
const DATA_KEYS: &[&str] = &["file", "time", "columns", "constants", "initial"];
const FIT_KEYS: &[&str] = &[
    "segment",
    "stride",
    "mu",
    "threshold",
    "rounds",
    "solver",
    "rtol",
    "atol",
    "learn_noise",
    "init",
    "holdout",
    "seed",
    "prune",
    "max_iters",
];

/// One key of a table with its span, in source order.
struct Entry<'a, 'i> {
    key: &'a str,
    key_span: Range<usize>,
    value: &'a Value<'i>,
}

/// The entries of a table in the order they appear in the file (the map itself may sort them).
fn entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    let mut out: Vec<Entry<'a, 'i>> = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().as_ref(),
            key_span: k.span(),
            value: v,
        })
        .collect();
    out.sort_by_key(|e| (e.key_span.start, e.key_span.end));
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name as it appears in an expression, with its span in the spec file.
struct Located {
    name: String,
    span: Range<usize>,
}

/// A parsed expression with the spec-file spans of its names.
struct LocatedExpr {
    expr: Expr,
    names: Vec<Located>,
}

struct Checker<'a> {
    src: Source<'a>,
    diags: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    /// Where the parts that later checks against the data may report on were written.
    origins: Origins,
}

impl<'a> Checker<'a> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let d = self.src.diag(span, message.into(), help);
        self.diags.push(d);
    }

    fn warn(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let d = self.src.diag(span, message.into(), help).warning();
        self.warnings.push(d);
    }

    /// Where `span` is, for diagnostics that later checks against the data report.
    fn location(&self, span: Range<usize>) -> Location {
        Location::from(self.src.diag(span, String::new(), None))
    }

    fn err_file(&mut self, message: impl Into<String>, help: Option<String>) {
        self.diags
            .push(Diagnostic::whole_file(self.src.path, message, help));
    }

    /// Reports every key not in `allowed`, naming the allowed ones.
    fn check_keys(&mut self, entries: &[Entry<'_, '_>], allowed: &[&str], place: &str) {
        for e in entries {
            if !allowed.contains(&e.key) {
                let mut help = format!("allowed keys in {place} are: {}", allowed.join(", "));
                if let Some(near) = closest(e.key, allowed) {
                    help = format!("did you mean `{near}`? {help}");
                }
                self.err(
                    e.key_span.clone(),
                    format!("unknown key `{}` in {place}", e.key),
                    Some(help),
                );
            }
        }
    }

    fn type_err(&mut self, v: &Value<'_>, what: &str, expected: &str) {
        self.err(
            v.span(),
            format!(
                "{what} must be {expected}, found {}",
                article(v.get_ref().type_str())
            ),
            None,
        );
    }

    fn string<'v>(&mut self, v: &'v Value<'_>, what: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.type_err(v, what, "a string");
                None
            }
        }
    }

    fn table<'v, 'i>(&mut self, v: &'v Value<'i>, what: &str) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.type_err(v, what, "a table");
                None
            }
        }
    }

    fn array<'v, 'i>(&mut self, v: &'v Value<'i>, what: &str) -> Option<&'v DeArray<'i>> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.type_err(v, what, "an array");
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value<'_>, what: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_err(v, what, "true or false");
                None
            }
        }
    }

    /// A finite number (integer or float).
    fn number(&mut self, v: &Value<'_>, what: &str) -> Option<f64> {
        let x = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|i| i as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => {
                self.type_err(v, what, "a number");
                return None;
            }
        };
        match x {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.err(
                    v.span(),
                    format!("{what} must be a finite number"),
                    Some("write an ordinary number such as `0.5` or `1e-3`".into()),
                );
                None
            }
        }
    }

    fn integer(&mut self, v: &Value<'_>, what: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(i) => Some(i),
                Err(_) => {
                    self.err(v.span(), format!("{what} is too large"), None);
                    None
                }
            },
            _ => {
                self.type_err(v, what, "an integer");
                None
            }
        }
    }

    /// An integer of at least `min`.
    fn count(&mut self, v: &Value<'_>, what: &str, min: i64) -> Option<usize> {
        let i = self.integer(v, what)?;
        if i < min {
            self.err(
                v.span(),
                format!("{what} must be at least {min}, found {i}"),
                None,
            );
            return None;
        }
        usize::try_from(i).ok()
    }

    /// Where the text of string value `v` starts in the file, when the string's characters are
    /// written verbatim (no escapes), so that offsets into the value are offsets into the file.
    fn verbatim_start(&self, v: &Value<'_>, value: &str) -> Option<usize> {
        let span = v.span();
        let raw = self.src.text.get(span.clone())?;
        let (open, close) = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            let mut open = 3;
            // A newline right after the opening delimiter is not part of the value.
            if raw[3..].starts_with("\r\n") {
                open += 2;
            } else if raw[3..].starts_with('\n') {
                open += 1;
            }
            (open, 3)
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            (1, 1)
        } else {
            return None;
        };
        let inner = raw.get(open..raw.len().checked_sub(close)?)?;
        (inner == value).then_some(span.start + open)
    }

    /// Parses the expression in string value `v`, reporting a syntax error at its exact column
    /// (or at the string when it contains escapes). Names are located the same way.
    fn expression(&mut self, v: &Value<'_>, text: &str, what: &str) -> Option<LocatedExpr> {
        let base = self.verbatim_start(v, text);
        let locate = |offset: usize, len: usize| match base {
            Some(b) => b + offset..b + offset + len.max(1),
            None => v.span(),
        };
        match parse_expr_full(text) {
            Ok(parsed) => {
                let names = parsed
                    .idents
                    .into_iter()
                    .map(|IdentSpan { name, offset, len }| Located {
                        name,
                        span: locate(offset, len),
                    })
                    .collect();
                let mut finite = true;
                for nf in &parsed.non_finite {
                    let part = text.get(nf.offset..nf.offset + nf.len).unwrap_or(text);
                    self.err(
                        locate(nf.offset, nf.len),
                        format!(
                            "`{}` in {what} is not a finite number ({})",
                            clip(part, 60),
                            nf.reason
                        ),
                        Some(
                            "correct the constant part: every term must have a finite value".into(),
                        ),
                    );
                    finite = false;
                }
                finite.then_some(LocatedExpr {
                    expr: parsed.expr,
                    names,
                })
            }
            Err(e) => {
                let span = locate(e.offset, e.len);
                self.err(span, format!("{} in {what}", e.message), e.help);
                None
            }
        }
    }

    /// Checks that `name` can be used in expressions.
    fn check_name(&mut self, name: &str, span: Range<usize>, what: &str) -> bool {
        if !is_identifier(name) {
            self.err(
                span,
                format!("{what} `{name}` is not a valid name"),
                Some(
                    "names start with a letter or `_` and contain only letters, digits and `_`"
                        .into(),
                ),
            );
            return false;
        }
        if let Some(f) = Func::from_name(name) {
            self.err(
                span,
                format!(
                    "{what} `{name}` has the name of the function `{}`",
                    f.name()
                ),
                Some("choose another name".into()),
            );
            return false;
        }
        true
    }
}

fn article(type_str: &str) -> String {
    match type_str {
        "integer" | "array" => format!("an {type_str}"),
        other => format!("a {other}"),
    }
}

fn find<'e, 'a, 'i>(entries: &'e [Entry<'a, 'i>], key: &str) -> Option<&'e Entry<'a, 'i>> {
    entries.iter().find(|e| e.key == key)
}

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

/// What one `[[data]]` table said, before constants are aligned across tables.
struct RawData {
    header: Range<usize>,
    file: PathBuf,
    file_span: Range<usize>,
    time: String,
    columns: Vec<Option<String>>,
    constants: Vec<(String, f64)>,
    initial: Vec<Initial>,
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

/// C(n + k, k) without overflow: the number of monomials of degree at most `k` in `n`
/// variables, saturating at `u64::MAX`.
pub fn library_terms(nstates: usize, order: u32) -> u64 {
    let n = nstates as u128;
    let mut c: u128 = 1;
    for i in 1..=u128::from(order) {
        // c * (n + i) / i stays exact: c * (n + i) is divisible by i at every step.
        c = c.saturating_mul(n + i) / i;
        if c > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    u64::try_from(c).unwrap_or(u64::MAX)
}

/// Returns the states and whether the list is complete and sound (when it is not, checks that
/// name states are skipped rather than reported against a wrong list).
fn parse_states(ck: &mut Checker<'_>, top: &[Entry<'_, '_>]) -> (Vec<String>, bool) {
    let mut states: Vec<String> = Vec::new();
    let Some(e) = find(top, "states") else {
        ck.err_file(
            "missing `states`",
            Some(
                "list the state variables at the top of the spec, e.g. `states = [\"x\", \"y\"]`"
                    .into(),
            ),
        );
        return (states, false);
    };
    let Some(arr) = ck.array(e.value, "`states`") else {
        return (states, false);
    };
    let mut ok = true;
    if arr.is_empty() {
        ck.err(
            e.value.span(),
            "`states` is empty",
            Some("list the state variables, e.g. `states = [\"x\", \"y\"]`".into()),
        );
        ok = false;
    }
    for item in arr.iter() {
        let Some(s) = ck.string(item, "each state") else {
            ok = false;
            continue;
        };
        if !ck.check_name(s, item.span(), "state") {
            ok = false;
            continue;
        }
        if states.iter().any(|x| x == s) {
            ck.err(
                item.span(),
                format!("state `{s}` is listed twice"),
                Some("remove one of them".into()),
            );
            continue;
        }
        states.push(s.to_string());
    }
    (states, ok)
}

fn parse_hidden(
    ck: &mut Checker<'_>,
    top: &[Entry<'_, '_>],
    states: &[String],
    states_ok: bool,
) -> Vec<bool> {
    let mut hidden = vec![false; states.len()];
    let Some(e) = find(top, "hidden") else {
        return hidden;
    };
    let Some(arr) = ck.array(e.value, "`hidden`") else {
        return hidden;
    };
    ck.origins.hidden = Some(ck.location(e.value.span()));
    for item in arr.iter() {
        let Some(s) = ck.string(item, "each hidden state") else {
            continue;
        };
        match states.iter().position(|x| x == s) {
            Some(i) if hidden[i] => ck.err(
                item.span(),
                format!("hidden state `{s}` is listed twice"),
                Some("remove one of them".into()),
            ),
            Some(i) => hidden[i] = true,
            None if states_ok => ck.err(
                item.span(),
                format!("hidden state `{s}` is not one of the states"),
                Some(format!(
                    "the states are: {}; add it to `states` or remove it from `hidden`",
                    states.join(", ")
                )),
            ),
            None => {}
        }
    }
    if states_ok && !hidden.is_empty() && hidden.iter().all(|&h| h) {
        ck.err(
            e.value.span(),
            "every state is hidden, so no data can be compared with the model",
            Some(
                "remove at least one observed state from `hidden` and give it a data column".into(),
            ),
        );
    }
    hidden
}

/// Parses `[params]`; every entry yields a parameter (so that its name is known to the
/// equation checks even when its value is malformed) with the span of its key.
fn parse_params(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    states: &[String],
) -> Vec<(ParamSpec, Range<usize>)> {
    let mut out = Vec::new();
    let Some(t) = ck.table(v, "[params]") else {
        return out;
    };
    for e in entries(t) {
        let name = e.key;
        ck.check_name(name, e.key_span.clone(), "parameter");
        if states.iter().any(|s| s == name) {
            ck.err(
                e.key_span.clone(),
                format!("parameter `{name}` has the same name as a state"),
                Some("rename the parameter".into()),
            );
        }
        let what = format!("parameter `{name}`");
        let mut p = ParamSpec {
            name: name.to_string(),
            init: 0.0,
            fixed: false,
            min: None,
            max: None,
            sparse: true,
        };
        match e.value.get_ref() {
            DeValue::Integer(_) | DeValue::Float(_) => {
                if let Some(x) = ck.number(e.value, &what) {
                    p.init = x;
                }
            }
            DeValue::Table(t) => parse_param_table(ck, &mut p, e.value.span(), t),
            _ => ck.type_err(
                e.value,
                &what,
                "a number or a table such as `{ init = 1.0, min = 0.0 }`",
            ),
        }
        out.push((p, e.key_span));
    }
    out
}

fn parse_param_table(ck: &mut Checker<'_>, p: &mut ParamSpec, span: Range<usize>, t: &DeTable<'_>) {
    let name = p.name.clone();
    let fields = entries(t);
    ck.check_keys(&fields, PARAM_KEYS, &format!("parameter `{name}`"));
    let mut init = None;
    let mut value = None;
    let mut fixed = false;
    let mut min = None;
    let mut max = None;
    for f in &fields {
        let what = format!("`{}` of parameter `{name}`", f.key);
        match f.key {
            "init" => init = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "value" => value = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "fixed" => fixed = ck.boolean(f.value, &what).unwrap_or(false),
            "min" => min = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "max" => max = ck.number(f.value, &what).map(|x| (x, f.value.span())),
            "sparse" => p.sparse = ck.boolean(f.value, &what).unwrap_or(true),
            _ => {}
        }
    }
    let has = |key: &str| fields.iter().any(|f| f.key == key);
    if has("init") && has("value") {
        ck.err(
            span.clone(),
            format!("parameter `{name}` has both `init` and `value`"),
            Some("use `init` for the starting value of a fitted parameter, or `value` with `fixed = true`".into()),
        );
    } else if fixed && !has("value") {
        let help = if has("init") {
            format!("rename `init` to `value`: `{name} = {{ value = ..., fixed = true }}`")
        } else {
            format!("give its value: `{name} = {{ value = 0.0, fixed = true }}`")
        };
        ck.err(
            span.clone(),
            format!("fixed parameter `{name}` has no `value`"),
            Some(help),
        );
    } else if !fixed && has("value") {
        ck.err(
            span.clone(),
            format!("parameter `{name}` has a `value` but is not fixed"),
            Some("add `fixed = true`, or write `init = ...` for the starting value of a fitted parameter".into()),
        );
    }
    p.fixed = fixed;
    p.min = min.as_ref().map(|m| m.0);
    p.max = max.as_ref().map(|m| m.0);
    if let (Some((lo, lo_span)), Some((hi, _))) = (&min, &max)
        && lo >= hi
        && lo <= hi
        && !fixed
    {
        // A box of zero width leaves nothing to fit; the transforms that keep a parameter
        // inside its bounds divide by the width.
        ck.err(
            lo_span.start..max.as_ref().map_or(lo_span.end, |m| m.1.end),
            format!(
                "parameter `{name}` has min = max = {}, so it cannot be fitted",
                num(*lo)
            ),
            Some(format!(
                "fix it instead: `{name} = {{ value = {}, fixed = true }}`, or widen the bounds",
                num(*lo)
            )),
        );
        return;
    }
    if let (Some((lo, lo_span)), Some((hi, _))) = (&min, &max)
        && lo > hi
    {
        ck.err(
            lo_span.clone(),
            format!(
                "parameter `{name}` has min = {} greater than max = {}",
                num(*lo),
                num(*hi)
            ),
            Some("swap or correct the bounds".into()),
        );
        return;
    }
    match init.or(value) {
        Some((x, x_span)) => {
            let below = p.min.is_some_and(|lo| x < lo);
            let above = p.max.is_some_and(|hi| x > hi);
            if below || above {
                let lo = p.min.map_or("-inf".to_string(), num);
                let hi = p.max.map_or("inf".to_string(), num);
                ck.err(
                    x_span,
                    format!(
                        "initial value {x} of parameter `{name}` is outside its bounds [{lo}, {hi}]"
                    ),
                    Some("choose a value between min and max".into()),
                );
            }
            p.init = x;
        }
        // Without a starting value, start at zero moved inside the bounds.
        None => {
            p.init = 0f64
                .max(p.min.unwrap_or(0.0))
                .min(p.max.unwrap_or(f64::INFINITY))
        }
    }
}

struct DataContext<'s> {
    states: &'s [String],
    states_ok: bool,
    hidden: &'s [bool],
    params: &'s [&'s str],
    spec_path: &'s Path,
}

fn parse_data(
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

/// The names an equation may use.
struct Scope<'s> {
    states: &'s [String],
    states_ok: bool,
    params: &'s [&'s str],
    constants: &'s [String],
}

impl Scope<'_> {
    fn knows(&self, name: &str, with_params: bool) -> bool {
        self.states.iter().any(|s| s == name)
            || (with_params && self.params.contains(&name))
            || self.constants.iter().any(|c| c == name)
    }

    fn candidates(&self, with_params: bool) -> Vec<&str> {
        let mut all: Vec<&str> = self.states.iter().map(String::as_str).collect();
        if with_params {
            all.extend(self.params.iter().copied());
        }
        all.extend(self.constants.iter().map(String::as_str));
        all
    }
}

/// Reports each unknown name of `le` once; returns the names used.
fn check_symbols(
    ck: &mut Checker<'_>,
    le: &LocatedExpr,
    scope: &Scope<'_>,
    with_params: bool,
    what: &str,
) -> Vec<String> {
    let mut used = Vec::new();
    let mut reported: Vec<&str> = Vec::new();
    for n in &le.names {
        if !used.contains(&n.name) {
            used.push(n.name.clone());
        }
        if scope.knows(&n.name, with_params) || reported.contains(&n.name.as_str()) {
            continue;
        }
        // With a broken `states` list, a name may be unknown only because of that problem.
        if !scope.states_ok {
            continue;
        }
        reported.push(&n.name);
        let candidates = scope.candidates(with_params);
        let mut help = if with_params {
            "declare it in [params], or use a state or a constant from [[data]]".to_string()
        } else {
            "extra terms may use the states and the constants from [[data]]".to_string()
        };
        if let Some(near) = closest(&n.name, &candidates) {
            help = format!("did you mean `{near}`? {help}");
        }
        ck.err(
            n.span.clone(),
            format!("unknown symbol `{}` in {what}", n.name),
            Some(help),
        );
    }
    used
}

/// Parses `[library]` or `[params]` + `[equations]`; returns the model and the names it uses.
fn parse_model(
    ck: &mut Checker<'_>,
    top: &[Entry<'_, '_>],
    params: Vec<(ParamSpec, Range<usize>)>,
    scope: &Scope<'_>,
) -> Option<(ModelSpec, HashSet<String>)> {
    let lib = find(top, "library");
    let pe = find(top, "params");
    let eqe = find(top, "equations");
    match (lib, pe, eqe) {
        (Some(l), Some(_), _) | (Some(l), _, Some(_)) => {
            ck.err(
                l.key_span.clone(),
                "the spec has both [library] and [params]/[equations]",
                Some("keep [library] for automatic candidate terms, or [params] and [equations] for your own templates, not both".into()),
            );
            None
        }
        (Some(l), None, None) => parse_library(ck, l.value, scope),
        (None, None, None) => {
            ck.err_file(
                "the spec has no model",
                Some("add [library] with `polynomial = 2`, or [params] and [equations]".into()),
            );
            None
        }
        (None, Some(p), None) => {
            ck.err(
                p.key_span.clone(),
                "[params] is given without [equations]",
                Some("add [equations] with one equation per state".into()),
            );
            None
        }
        (None, _, Some(q)) => parse_equations(ck, q.value, params, scope),
    }
}

fn parse_library(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    scope: &Scope<'_>,
) -> Option<(ModelSpec, HashSet<String>)> {
    let t = ck.table(v, "[library]")?;
    let fields = entries(t);
    ck.check_keys(&fields, LIBRARY_KEYS, "[library]");
    let mut order = None;
    let mut order_span = None;
    let mut extra = Vec::new();
    let mut used = HashSet::new();
    let mut ok = true;
    for f in &fields {
        match f.key {
            "polynomial" => {
                let Some(p) = ck.integer(f.value, "`polynomial`") else {
                    ok = false;
                    continue;
                };
                if !(0..=MAX_POLYNOMIAL_ORDER).contains(&p) {
                    ck.err(
                        f.value.span(),
                        format!(
                            "`polynomial` must be between 0 and {MAX_POLYNOMIAL_ORDER}, found {p}"
                        ),
                        Some("orders 2 or 3 suit most systems".into()),
                    );
                    ok = false;
                    continue;
                }
                order = u32::try_from(p).ok();
                order_span = Some(f.value.span());
            }
            "extra" => {
                let Some(arr) = ck.array(f.value, "`extra`") else {
                    ok = false;
                    continue;
                };
                for item in arr.iter() {
                    let Some(s) = ck.string(item, "each extra term") else {
                        ok = false;
                        continue;
                    };
                    let Some(le) = ck.expression(item, s, "an extra term") else {
                        ok = false;
                        continue;
                    };
                    // Library coefficients are fitted across experiments, so a term may not
                    // depend on a per-experiment constant.
                    let mut uses_constant = false;
                    for n in &le.names {
                        if scope.constants.contains(&n.name) && !scope.states.contains(&n.name) {
                            ck.err(
                                n.span.clone(),
                                format!("extra term uses the constant `{}`", n.name),
                                Some("library terms may use only the states; write the model with [params] and [equations] to use constants".into()),
                            );
                            uses_constant = true;
                            break;
                        }
                    }
                    if uses_constant {
                        ok = false;
                        continue;
                    }
                    let states_only = Scope {
                        constants: &[],
                        ..*scope
                    };
                    used.extend(check_symbols(ck, &le, &states_only, false, "an extra term"));
                    let loc = ck.location(item.span());
                    ck.origins.extra.push(loc);
                    extra.push(le.expr);
                }
            }
            _ => {}
        }
    }
    if order.is_none() && ok && !fields.iter().any(|f| f.key == "polynomial") {
        ck.err(
            v.span(),
            "[library] has no `polynomial` order",
            Some("add `polynomial = 2` (0 gives only the constant term)".into()),
        );
    }
    let order = order?;
    let n = scope.states.len();
    let per_equation = library_terms(n, order).saturating_add(extra.len() as u64);
    let coefficients = per_equation.saturating_mul(n as u64);
    if scope.states_ok && coefficients > MAX_LIBRARY_COEFFICIENTS {
        ck.err(
            order_span.unwrap_or_else(|| v.span()),
            format!(
                "the library has {per_equation} terms per equation × {n} states = {coefficients} coefficients; the limit is {MAX_LIBRARY_COEFFICIENTS}"
            ),
            Some(format!(
                "lower `polynomial` (order {order} in {n} states is far more than the data can identify), or write templates with [params] and [equations]"
            )),
        );
        return None;
    }
    Some((ModelSpec::Library { order, extra }, used))
}

fn parse_equations(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    params: Vec<(ParamSpec, Range<usize>)>,
    scope: &Scope<'_>,
) -> Option<(ModelSpec, HashSet<String>)> {
    let t = ck.table(v, "[equations]")?;
    let n = scope.states.len();
    let mut equations: Vec<Option<(Expr, String)>> = vec![None; n];
    let mut given = vec![false; n];
    let mut eq_origins: Vec<Option<Location>> = vec![None; n];
    let mut all_parsed = true;
    let mut used = HashSet::new();
    for e in entries(t) {
        let Some(i) = scope.states.iter().position(|s| s == e.key) else {
            if scope.states_ok {
                ck.err(
                    e.key_span.clone(),
                    format!("equation for `{}`, which is not a state", e.key),
                    Some(format!("the states are: {}", scope.states.join(", "))),
                );
            }
            continue;
        };
        given[i] = true;
        let what = format!("the equation for `{}`", e.key);
        match e.value.get_ref() {
            DeValue::String(s) => match ck.expression(e.value, s, &what) {
                Some(le) => {
                    eq_origins[i] = Some(ck.location(e.value.span()));
                    used.extend(check_symbols(ck, &le, scope, true, &what));
                    equations[i] = Some((le.expr, s.to_string()));
                }
                None => all_parsed = false,
            },
            DeValue::Integer(_) | DeValue::Float(_) => match ck.number(e.value, &what) {
                Some(x) => {
                    let text = ck.src.text.get(e.value.span()).unwrap_or("0").to_string();
                    equations[i] = Some((Expr::Num(x), text));
                }
                None => all_parsed = false,
            },
            _ => {
                ck.type_err(e.value, &what, "a string such as \"a*x - b*x*y\"");
                all_parsed = false;
            }
        }
    }
    for (i, s) in scope.states.iter().enumerate() {
        if !given[i] {
            ck.err(
                v.span(),
                format!("no equation for state `{s}`"),
                Some(format!("add `{s} = \"...\"` to [equations]")),
            );
        }
    }
    // An unused parameter is only certain once every equation has been read.
    if all_parsed {
        for (p, span) in &params {
            if !used.contains(&p.name) {
                ck.err(
                    span.clone(),
                    format!("parameter `{}` is not used in any equation", p.name),
                    Some("remove it or use it".into()),
                );
            }
        }
    }
    ck.origins.equations = eq_origins
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let mut exprs = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    for eq in equations {
        let (e, t) = eq?;
        exprs.push(e);
        texts.push(t);
    }
    Some((
        ModelSpec::Template {
            params: params.into_iter().map(|(p, _)| p).collect(),
            equations: exprs,
            equation_text: texts,
        },
        used,
    ))
}

/// A non-negative number, or `[start, end]` of non-negative numbers.
fn schedule(ck: &mut Checker<'_>, v: &Value<'_>, what: &str) -> Option<(f64, f64)> {
    let non_negative = |ck: &mut Checker<'_>, item: &Value<'_>| {
        let x = ck.number(item, what)?;
        if x < 0.0 {
            ck.err(
                item.span(),
                format!("{what} must not be negative, found {}", num(x)),
                None,
            );
            return None;
        }
        Some(x)
    };
    match v.get_ref() {
        DeValue::Array(a) if a.len() == 2 => {
            let start = non_negative(ck, &a[0]);
            let end = non_negative(ck, &a[1]);
            Some((start?, end?))
        }
        DeValue::Array(a) => {
            ck.err(
                v.span(),
                format!("{what} must have 2 entries [start, end], found {}", a.len()),
                Some("write `[start, end]`, or one number to keep it constant".into()),
            );
            None
        }
        DeValue::Integer(_) | DeValue::Float(_) => non_negative(ck, v).map(|x| (x, x)),
        _ => {
            ck.type_err(v, what, "a number or an array [start, end]");
            None
        }
    }
}

fn choice<T: Copy>(
    ck: &mut Checker<'_>,
    v: &Value<'_>,
    what: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let s = ck.string(v, what)?;
    if let Some((_, t)) = options.iter().find(|(name, _)| *name == s) {
        return Some(*t);
    }
    let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    ck.err(
        v.span(),
        format!("unknown {what} \"{s}\""),
        Some(format!("choose one of {}", names.join(", "))),
    );
    None
}

fn parse_fit(ck: &mut Checker<'_>, v: &Value<'_>) -> FitConfig {
    let mut fit = FitConfig::default();
    let Some(t) = ck.table(v, "[fit]") else {
        return fit;
    };
    let fields = entries(t);
    ck.check_keys(&fields, FIT_KEYS, "[fit]");
    for f in &fields {
        let v = f.value;
        let what = format!("`{}`", f.key);
        match f.key {
            "segment" => match v.get_ref() {
                DeValue::String(s) if s == "whole" => fit.segment = Segment::Whole,
                DeValue::String(s) if s == "auto" => fit.segment = Segment::Auto,
                DeValue::String(s) => ck.err(
                    v.span(),
                    format!("`segment` must be a number of points, \"auto\" or \"whole\", found \"{s}\""),
                    Some("write e.g. `segment = 10`, `segment = \"auto\"` (chosen from the data, the default) or `segment = \"whole\"` to integrate each experiment from its start".into()),
                ),
                DeValue::Integer(_) => {
                    if let Some(n) = ck.count(v, &what, 2) {
                        fit.segment = Segment::Points(n);
                    }
                }
                _ => ck.type_err(v, &what, "an integer of at least 2, \"auto\" or \"whole\""),
            },
            "stride" => {
                if let Some(n) = ck.count(v, &what, 1) {
                    fit.stride = n;
                }
            }
            "rounds" => {
                if let Some(n) = ck.count(v, &what, 1) {
                    fit.rounds = n;
                }
            }
            "max_iters" => {
                if let Some(n) = ck.count(v, &what, 1) {
                    fit.max_iters = n;
                }
            }
            "seed" => {
                if let Some(n) = ck.count(v, &what, 0) {
                    fit.seed = n as u64;
                }
            }
            "mu" => {
                if let Some(m) = schedule(ck, v, &what) {
                    fit.mu = m;
                }
            }
            "threshold" => {
                if let Some(m) = schedule(ck, v, &what) {
                    fit.threshold = m;
                }
            }
            "rtol" | "atol" => {
                if let Some(x) = ck.number(v, &what) {
                    if x > 0.0 {
                        if f.key == "rtol" {
                            fit.rtol = x;
                        } else {
                            fit.atol = x;
                        }
                    } else {
                        ck.err(
                            v.span(),
                            format!("{what} must be positive, found {}", num(x)),
                            Some("typical values are 1e-6 (rtol) and 1e-9 (atol)".into()),
                        );
                    }
                }
            }
            "holdout" => {
                if let Some(x) = ck.number(v, &what) {
                    if (0.0..1.0).contains(&x) {
                        fit.holdout = x;
                    } else {
                        ck.err(
                            v.span(),
                            format!("`holdout` must be at least 0 and below 1, found {}", num(x)),
                            Some("it is the fraction of pieces kept out for model selection, e.g. 0.2".into()),
                        );
                    }
                }
            }
            "learn_noise" => {
                if let Some(b) = ck.boolean(v, &what) {
                    fit.learn_noise = b;
                }
            }
            "solver" => {
                if let Some(s) = choice(
                    ck,
                    v,
                    "solver",
                    &SolverKind::NAMES,
                ) {
                    fit.solver = s;
                }
            }
            "init" => {
                if let Some(s) = choice(
                    ck,
                    v,
                    "init",
                    &[
                        ("regression", InitKind::Regression),
                        ("zero", InitKind::Zero),
                        ("spec", InitKind::Spec),
                    ],
                ) {
                    fit.init = s;
                }
            }
            "prune" => {
                if let Some(s) = choice(
                    ck,
                    v,
                    "prune rule",
                    &[("relative", PruneRule::Relative), ("absolute", PruneRule::Absolute)],
                ) {
                    fit.prune = s;
                }
            }
            _ => {}
        }
    }
    fit
}
