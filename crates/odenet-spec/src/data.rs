//! Loading the CSV data tables named by a spec.

use std::path::Path;

use crate::diag::sort_diagnostics;
use crate::{DataSpec, Diagnostic, Spec, Table};

/// After this many problems in one file the rest of it is not read: a wrong file (say, a binary
/// or a different table) would otherwise bury the first, telling problem under thousands.
const MAX_PROBLEMS_PER_FILE: usize = 20;

/// Reads the CSV file of every `[[data]]` table of `spec`, in order.
///
/// The header row names the columns (`t,<columns>`); an empty field is a missing value (NaN).
/// Hidden states get all-NaN rows. Every problem in every file is returned, each naming the
/// file, the line and the field.
pub fn load_tables(spec: &Spec) -> Result<Vec<Table>, Vec<Diagnostic>> {
    let mut tables = Vec::with_capacity(spec.data.len());
    let mut diags = Vec::new();
    for d in &spec.data {
        match load_table(spec, d) {
            Ok(t) => tables.push(t),
            Err(mut e) => diags.append(&mut e),
        }
    }
    if diags.is_empty() {
        Ok(tables)
    } else {
        sort_diagnostics(&mut diags);
        Err(diags)
    }
}

/// How a cell failed to be a number, if it did.
fn parse_cell(cell: &str) -> Result<f64, (String, String)> {
    match cell.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
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

fn load_table(spec: &Spec, d: &DataSpec) -> Result<Table, Vec<Diagnostic>> {
    let file: &Path = &d.file;
    let whole =
        |message: String, help: Option<String>| vec![Diagnostic::whole_file(file, message, help)];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| {
            whole(
                format!("cannot read the data file: {e}"),
                Some("check the `file` path in the spec".into()),
            )
        })?;
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            return Err(whole(
                format!("cannot read the header row: {e}"),
                Some("the first row must name the columns, e.g. `t,x,y`".into()),
            ));
        }
    };
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
    let column_list = header.join(", ");
    let find = |name: &str| header.iter().position(|h| h == name);
    let time_col = find(&d.time);
    if time_col.is_none() {
        diags.push(Diagnostic::at_row(
            file,
            1,
            0,
            format!("the data file has no time column `{}`", d.time),
            Some(format!(
                "its columns are: {column_list}; name the time column with `time = \"...\"` in [[data]]"
            )),
        ));
    }
    // Per state: the index of its column (None for hidden states).
    let mut state_cols: Vec<Option<usize>> = vec![None; spec.states.len()];
    // Zipping with the states (rather than indexing) keeps a hand-built, inconsistent DataSpec
    // from causing a panic.
    for (i, (col, state)) in d.columns.iter().zip(&spec.states).enumerate() {
        let Some(col) = col else { continue };
        // A state the file does not measure but whose initial value the table gives (DESIGN.md's
        // actin example: `initial = { m = "m_tot - M" }` with no `m` column) is unobserved in
        // this experiment, like a hidden state, rather than an error.
        let has_rule = d
            .initial
            .get(i)
            .is_some_and(|ini| !matches!(ini, crate::Initial::Observed));
        match find(col) {
            Some(j) => state_cols[i] = Some(j),
            None if has_rule && col == state => {}
            None => diags.push(Diagnostic::at_row(
                file,
                1,
                0,
                format!("the data file has no column `{col}` for state `{state}`"),
                Some(format!(
                    "its columns are: {column_list}; map the state with `columns = {{ {state} = \"...\" }}`, or list it in `hidden`"
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
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as usize);
                diags.push(Diagnostic::at_row(
                    file,
                    line,
                    0,
                    format!("cannot read line {line}: {e}"),
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
                format!("line {line} has no time in column `{}`", d.time),
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
                        format!("time `{time_cell}` on line {line} {what}"),
                        Some("every row needs a finite time".into()),
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
                            d.time,
                            crate::expr::format_number(t),
                            d.time,
                            crate::expr::format_number(prev)
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
                                        "`{cell}` in column `{}` on line {line} {what}",
                                        header[*j]
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
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Table {
        file: file.to_path_buf(),
        times,
        values,
    })
}
