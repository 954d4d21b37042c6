//! Loading the CSV data tables named by a spec, and the checks that need both the spec and
//! the data (terms that are not finite on the data, empty columns, …).

use std::io::Read;
use std::path::Path;

use crate::diag::{clip, sort_diagnostics};
use crate::expr::format_number;
use crate::{DataSpec, Diagnostic, Expr, Initial, ModelSpec, Spec, Table, human_bytes};

/// After this many problems in one file the rest of it is not read: a wrong file (say, a binary
/// or a different table) would otherwise bury the first, telling problem under thousands.
const MAX_PROBLEMS_PER_FILE: usize = 20;

/// The largest data file read, in bytes: 10⁶ rows of a few states take about 60 MB.
pub const MAX_CSV_BYTES: u64 = 512 << 20;

/// Times and values beyond this magnitude are refused: the fit scales by the data's size and
/// rate, and polynomial terms of such numbers overflow.
pub const MAX_CSV_MAGNITUDE: f64 = 1e100;

/// Longest header text echoed in a message.
const ECHO_CHARS: usize = 200;

/// The tables of a spec with the warnings found while reading and checking them.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub tables: Vec<Table>,
    /// Legal but suspicious input: print them, then go on.
    pub warnings: Vec<Diagnostic>,
}

/// Reads the CSV file of every `[[data]]` table of `spec`, in order, and checks them against
/// the spec (see [`load_tables_checked`]); warnings are dropped.
pub fn load_tables(spec: &Spec) -> Result<Vec<Table>, Vec<Diagnostic>> {
    load_tables_checked(spec).map(|l| l.tables)
}

/// Reads the CSV file of every `[[data]]` table of `spec`, in order, then runs
/// [`check_tables`].
///
/// The header row names the columns (`t,<columns>`); an empty field is a missing value (NaN).
/// Hidden states get all-NaN rows. Every problem in every file is returned, each naming the
/// file, the line and the field.
pub fn load_tables_checked(spec: &Spec) -> Result<Loaded, Vec<Diagnostic>> {
    let mut tables = Vec::with_capacity(spec.data.len());
    let mut diags = Vec::new();
    let mut warnings = Vec::new();
    for d in &spec.data {
        let opened = std::fs::File::open(&d.file).map_err(|e| {
            vec![Diagnostic::whole_file(
                &d.file,
                format!("cannot read the data file: {e}"),
                Some("check the `file` path in the spec".into()),
            )]
        });
        match opened.and_then(|f| read_table_warn(spec, d, f, &mut warnings)) {
            Ok(t) => tables.push(t),
            Err(mut e) => diags.append(&mut e),
        }
    }
    if diags.is_empty() {
        let (errors, mut found) = check_tables(spec, &tables);
        diags = errors;
        warnings.append(&mut found);
    }
    if diags.is_empty() {
        sort_diagnostics(&mut warnings);
        Ok(Loaded { tables, warnings })
    } else {
        sort_diagnostics(&mut diags);
        Err(diags)
    }
}

/// How a cell failed to be a number, if it did.
fn parse_cell(cell: &str) -> Result<f64, (String, String)> {
    match cell.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() <= MAX_CSV_MAGNITUDE => Ok(x),
        Ok(x) if x.is_finite() => Err((
            format!("is beyond ±{}", format_number(MAX_CSV_MAGNITUDE)),
            "rescale the column (e.g. to other units) so that its values stay below 1e100".into(),
        )),
        Ok(_) => Err((
            "is not a finite number".into(),
            "leave the cell empty for a missing value instead of writing NaN or inf".into(),
        )),
        Err(_) => Err((
            "is not a number".into(),
            "write a number such as `0.5` or `1e-3`, or leave the cell empty for a missing value"
                .into(),
        )),
    }
}

/// The header's column names for a message: the first few, each clipped, and the count.
fn column_list(header: &[String]) -> String {
    let mut s = String::new();
    for (k, h) in header.iter().enumerate() {
        if s.chars().count() > ECHO_CHARS {
            s.push_str(&format!(", … ({} columns in all)", header.len()));
            break;
        }
        if k > 0 {
            s.push_str(", ");
        }
        s.push_str(&clip(h, 40));
    }
    s
}

/// Reads one data table from `reader` (the CSV text of `d.file`, which names it in
/// diagnostics). At most [`MAX_CSV_BYTES`] are read.
pub fn read_table(spec: &Spec, d: &DataSpec, reader: impl Read) -> Result<Table, Vec<Diagnostic>> {
    read_table_warn(spec, d, reader, &mut Vec::new())
}

fn read_table_warn(
    spec: &Spec,
    d: &DataSpec,
    reader: impl Read,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Table, Vec<Diagnostic>> {
    let file: &Path = &d.file;
    let whole =
        |message: String, help: Option<String>| vec![Diagnostic::whole_file(file, message, help)];
    let limited = reader.take(MAX_CSV_BYTES + 1);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(limited);
    let too_large = || {
        whole(
            format!(
                "the data file is larger than the limit of {}",
                human_bytes(MAX_CSV_BYTES)
            ),
            Some("thin the data (every k-th row) or split it into several [[data]] tables".into()),
        )
    };
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            if reader.position().byte() > MAX_CSV_BYTES {
                return Err(too_large());
            }
            return Err(whole(
                format!("cannot read the header row: {}", clip(&e.to_string(), 200)),
                Some("the first row must name the columns, e.g. `t,x,y`".into()),
            ));
        }
    };
    if reader.position().byte() > MAX_CSV_BYTES {
        return Err(too_large());
    }
    if header.iter().all(String::is_empty) {
        return Err(whole(
            "the data file is empty".into(),
            Some(
                "the first row must name the columns, e.g. `t,x,y`, followed by one row per time"
                    .into(),
            ),
        ));
    }

    let mut diags = Vec::new();
    let column_list = column_list(&header);
    let find = |name: &str| header.iter().position(|h| h == name);
    // A column the spec reads must be named once: with two, which one is meant is a guess.
    let duplicated = |name: &str, diags: &mut Vec<Diagnostic>| {
        let at: Vec<usize> = (0..header.len()).filter(|&j| header[j] == name).collect();
        if at.len() > 1 {
            let fields: Vec<String> = at.iter().map(|j| (j + 1).to_string()).collect();
            diags.push(Diagnostic::at_row(
                file,
                1,
                at[1] + 1,
                format!(
                    "the header names column `{}` {} times (fields {})",
                    clip(name, 40),
                    at.len(),
                    fields.join(", ")
                ),
                Some("rename or remove the repeated columns so that each name is used once".into()),
            ));
        }
    };
    let time_col = find(&d.time);
    match time_col {
        None => diags.push(Diagnostic::at_row(
            file,
            1,
            0,
            format!("the data file has no time column `{}`", clip(&d.time, 40)),
            Some(format!(
                "its columns are: {column_list}; name the time column with `time = \"...\"` in [[data]]"
            )),
        )),
        Some(_) => duplicated(&d.time, &mut diags),
    }
    // Per state: the index of its column (None for hidden states).
    let mut state_cols: Vec<Option<usize>> = vec![None; spec.states.len()];
    // Zipping with the states (rather than indexing) keeps a hand-built, inconsistent DataSpec
    // from causing a panic.
    for (i, (col, state)) in d.columns.iter().zip(&spec.states).enumerate() {
        let Some(col) = col else { continue };
        // A state the file does not measure but whose initial value the table gives (DESIGN.md's
        // actin example: `initial = { m = "m_tot - M" }` with no `m` column) is unobserved in
        // this experiment, like a hidden state, rather than an error; it is said in a warning,
        // since a misspelt column name looks the same.
        let has_rule = d
            .initial
            .get(i)
            .is_some_and(|ini| !matches!(ini, crate::Initial::Observed));
        match find(col) {
            Some(j) => {
                state_cols[i] = Some(j);
                if col != &d.time {
                    duplicated(col, &mut diags);
                }
            }
            None if has_rule && col == state => warnings.push(
                Diagnostic::at_row(
                    file,
                    1,
                    0,
                    format!(
                        "the data file has no column `{}`, so state `{}` is unobserved in this experiment (its initial value is given)",
                        clip(col, 40),
                        clip(state, 40)
                    ),
                    Some(format!(
                        "its columns are: {column_list}; if the state was measured, map it with `columns = {{ {} = \"...\" }}`",
                        clip(state, 40)
                    )),
                )
                .warning(),
            ),
            None => diags.push(Diagnostic::at_row(
                file,
                1,
                0,
                format!(
                    "the data file has no column `{}` for state `{}`",
                    clip(col, 40),
                    clip(state, 40)
                ),
                Some(format!(
                    "its columns are: {column_list}; map the state with `columns = {{ {} = \"...\" }}`, or list it in `hidden`",
                    clip(state, 40)
                )),
            )),
        }
    }
    let Some(time_col) = time_col else {
        return Err(diags);
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    if state_cols.iter().all(Option::is_none) {
        return Err(vec![Diagnostic::at_row(
            file,
            1,
            0,
            "the data file has a column for none of the states, so it holds nothing to fit",
            Some(format!(
                "its columns are: {column_list}; map the states with `columns = {{ state = \"column\" }}` in [[data]]"
            )),
        )]);
    }

    let mut times = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); spec.states.len()];
    // The last valid time and its line, for the ordering check.
    let mut last: Option<(f64, usize)> = None;
    let mut record = csv::StringRecord::new();
    loop {
        if diags.len() >= MAX_PROBLEMS_PER_FILE {
            diags.push(Diagnostic::whole_file(
                file,
                format!("stopped reading after {MAX_PROBLEMS_PER_FILE} problems in this data file"),
                Some("fix the problems shown, or check that `file` names the right table".into()),
            ));
            break;
        }
        let line = reader.position().line() as usize;
        let read = reader.read_record(&mut record);
        if reader.position().byte() > MAX_CSV_BYTES {
            return Err(too_large());
        }
        match read {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as usize);
                diags.push(Diagnostic::at_row(
                    file,
                    line,
                    0,
                    format!("cannot read line {line}: {}", clip(&e.to_string(), 200)),
                    Some("the data file must be UTF-8 CSV text".into()),
                ));
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line() as usize);
        if record.len() != header.len() {
            diags.push(Diagnostic::at_row(
                file,
                line,
                0,
                format!(
                    "line {line} has {} fields but the header has {}",
                    record.len(),
                    header.len()
                ),
                Some(
                    "every row needs one field per column; leave a field empty for a missing value"
                        .into(),
                ),
            ));
            continue;
        }
        let time_cell = record.get(time_col).unwrap_or("");
        let t = if time_cell.is_empty() {
            diags.push(Diagnostic::at_row(
                file,
                line,
                time_col + 1,
                format!("line {line} has no time in column `{}`", clip(&d.time, 40)),
                Some("every row needs a time: fill it in or remove the row".into()),
            ));
            f64::NAN
        } else {
            match parse_cell(time_cell) {
                Ok(t) => t,
                Err((what, _)) => {
                    diags.push(Diagnostic::at_row(
                        file,
                        line,
                        time_col + 1,
                        format!("time `{}` on line {line} {what}", clip(time_cell, 40)),
                        Some("every row needs a finite time below 1e100 in magnitude".into()),
                    ));
                    f64::NAN
                }
            }
        };
        if !t.is_nan() {
            if let Some((prev, prev_line)) = last
                && t <= prev
            {
                let how = if t < prev { "decreases" } else { "repeats" };
                diags.push(Diagnostic::at_row(
                        file,
                        line,
                        time_col + 1,
                        format!(
                            "time {how}: line {line} has {} = {}, line {prev_line} has {} = {}",
                            clip(&d.time, 40),
                            format_number(t),
                            clip(&d.time, 40),
                            format_number(prev)
                        ),
                        Some("times must increase strictly: sort the rows by time and merge or remove duplicate times".into()),
                    ));
            }
            last = Some((t, line));
        }
        times.push(t);
        for (i, col) in state_cols.iter().enumerate() {
            let x = match col {
                None => f64::NAN,
                Some(j) => {
                    let cell = record.get(*j).unwrap_or("");
                    if cell.is_empty() {
                        f64::NAN
                    } else {
                        match parse_cell(cell) {
                            Ok(x) => x,
                            Err((what, help)) => {
                                diags.push(Diagnostic::at_row(
                                    file,
                                    line,
                                    j + 1,
                                    format!(
                                        "`{}` in column `{}` on line {line} {what}",
                                        clip(cell, 40),
                                        clip(&header[*j], 40)
                                    ),
                                    Some(help),
                                ));
                                f64::NAN
                            }
                        }
                    }
                }
            };
            values[i].push(x);
        }
    }
    if diags.is_empty() && times.len() < 2 {
        diags.push(Diagnostic::whole_file(
            file,
            format!(
                "the data file has {} data row{}, but at least 2 are needed",
                times.len(),
                if times.len() == 1 { "" } else { "s" }
            ),
            Some("a time series needs at least two sample times".into()),
        ));
    }
    if diags.is_empty() {
        for (i, col) in state_cols.iter().enumerate() {
            if let Some(j) = col
                && values[i].iter().all(|x| x.is_nan())
            {
                diags.push(Diagnostic::at_row(
                    file,
                    1,
                    j + 1,
                    format!(
                        "column `{}` (state `{}`) has no values",
                        clip(&header[*j], 40),
                        clip(&spec.states[i], 40)
                    ),
                    Some(
                        "fill in the measurements, or list the state in `hidden` if it was not measured"
                            .into(),
                    ),
                ));
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Table {
        file: file.to_path_buf(),
        times,
        values,
    })
}

/// Checks that need both the spec and its data: every extra library term is finite on the
/// data; no template equation is non-finite at every data row whatever its parameters; each
/// experiment's initial values are finite. Returns (errors, warnings).
pub fn check_tables(spec: &Spec, tables: &[Table]) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let index = |name: &str| spec.states.iter().position(|s| s == name);
    let const_index = |name: &str| spec.constants.iter().position(|c| c == name);
    match &spec.model {
        ModelSpec::Library { extra, .. } => {
            for (k, term) in extra.iter().enumerate() {
                let loc = spec.origins.extra.get(k).cloned().unwrap_or_default();
                if let Some(bad) = first_non_finite(spec, tables, term, &|_| None) {
                    errors.push(loc.error(
                        format!("extra term `{}` is not finite on the data: {bad}", clip(&term.to_string(), 60)),
                        Some("the fit multiplies each term by the data; choose terms that are finite wherever the states are measured".into()),
                    ));
                }
            }
        }
        ModelSpec::Template {
            params, equations, ..
        } => {
            for (i, eq) in equations.iter().enumerate() {
                let loc = spec.origins.equations.get(i).cloned().unwrap_or_default();
                let uses_hidden = eq
                    .vars()
                    .iter()
                    .any(|v| index(v).is_some_and(|j| spec.hidden[j]));
                if uses_hidden || !eq.vars().iter().any(|v| index(v).is_some()) {
                    // Hidden states have no data to evaluate at; an equation without states
                    // is a number whose finiteness the parser already checked.
                    continue;
                }
                let param = |name: &str, fill: Option<f64>| {
                    params.iter().find(|p| p.name == name).map(|p| match fill {
                        Some(v) if !p.fixed => v,
                        _ => p.init,
                    })
                };
                let at_init = first_non_finite(spec, tables, eq, &|n| param(n, None));
                let Some(bad) = at_init else { continue };
                // Non-finite at every row whatever the parameters: the equation cannot be fitted.
                let always = [None, Some(1.0), Some(0.37), Some(-1.3)]
                    .iter()
                    .all(|fill| all_non_finite(spec, tables, eq, &|n| param(n, *fill)));
                let state = clip(&spec.states[i], 40);
                if always {
                    errors.push(loc.error(
                        format!("the equation for `{state}` is not finite at any data row, whatever its parameters (e.g. {bad})"),
                        Some("check the signs and the domain of log, sqrt, / and ^ against the data".into()),
                    ));
                } else {
                    warnings.push(
                        loc.error(
                            format!("the equation for `{state}` is not finite with the initial parameter values: {bad}"),
                            Some("pieces through such rows fail and are penalised; check the domain of log, sqrt, / and ^, or the initial values".into()),
                        )
                        .warning(),
                    );
                }
            }
        }
    }
    // Initial values given by expressions must be finite at each experiment's start.
    for (k, (d, t)) in spec.data.iter().zip(tables).enumerate() {
        let loc = spec.origins.data.get(k).cloned().unwrap_or_default();
        for (i, ini) in d.initial.iter().enumerate() {
            let Initial::Expr(e) = ini else { continue };
            let lookup = |n: &str| match const_index(n) {
                Some(c) => d.constants.get(c).copied(),
                // A state missing at the start gives no value: the fit then starts the
                // experiment elsewhere, so nothing is claimed here.
                None => index(n)
                    .and_then(|j| t.values.get(j)?.first().copied())
                    .filter(|v| !v.is_nan()),
            };
            let v = e.eval(&lookup);
            if v.is_some_and(|v| !v.is_finite()) {
                errors.push(loc.error(
                    format!(
                        "the initial value of `{}` (`{}`) is not finite at the start of {}",
                        clip(&spec.states[i], 40),
                        clip(&e.to_string(), 60),
                        file_name(&t.file)
                    ),
                    Some("check the expression and the first row of the data".into()),
                ));
            }
        }
    }
    (errors, warnings)
}

/// The file name of a data file, for messages (the diagnostic's location gives the path).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The values a term sees at row `r` of table `t`: its observed states (None when one it uses
/// is missing there) and the experiment's constants.
fn row_lookup<'a>(
    spec: &'a Spec,
    d: Option<&'a DataSpec>,
    t: &'a Table,
    r: usize,
    other: &'a dyn Fn(&str) -> Option<f64>,
) -> impl Fn(&str) -> Option<f64> + 'a {
    move |name: &str| {
        if let Some(j) = spec.states.iter().position(|s| s == name) {
            let v = *t.values.get(j)?.get(r)?;
            return (!v.is_nan()).then_some(v);
        }
        if let Some(c) = spec.constants.iter().position(|c| c == name) {
            return d.and_then(|d| d.constants.get(c).copied());
        }
        other(name)
    }
}

/// The first data row where `e` is not finite, described as "line N of FILE (x = 1.5, y = 2)";
/// rows where a state it uses is missing are skipped.
fn first_non_finite(
    spec: &Spec,
    tables: &[Table],
    e: &Expr,
    other: &dyn Fn(&str) -> Option<f64>,
) -> Option<String> {
    for (k, t) in tables.iter().enumerate() {
        let d = spec.data.get(k);
        for r in 0..t.rows() {
            let lookup = row_lookup(spec, d, t, r, other);
            if let Some(v) = e.eval(&lookup)
                && !v.is_finite()
            {
                let vals: Vec<String> = e
                    .vars()
                    .iter()
                    .filter(|v| spec.states.iter().any(|s| s == *v))
                    .take(4)
                    .filter_map(|v| {
                        Some(format!("{} = {}", clip(v, 20), format_number(lookup(v)?)))
                    })
                    .collect();
                return Some(format!(
                    "it is {} at data row {} of {} ({})",
                    format_number(v),
                    r + 1,
                    file_name(&t.file),
                    vals.join(", ")
                ));
            }
        }
    }
    None
}

/// True when `e` is non-finite at every data row where it can be evaluated (and there is one).
fn all_non_finite(
    spec: &Spec,
    tables: &[Table],
    e: &Expr,
    other: &dyn Fn(&str) -> Option<f64>,
) -> bool {
    let mut evaluated = false;
    for (k, t) in tables.iter().enumerate() {
        let d = spec.data.get(k);
        for r in 0..t.rows() {
            let lookup = row_lookup(spec, d, t, r, other);
            if let Some(v) = e.eval(&lookup) {
                if v.is_finite() {
                    return false;
                }
                evaluated = true;
            }
        }
    }
    evaluated
}
