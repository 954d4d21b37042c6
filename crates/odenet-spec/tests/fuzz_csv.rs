//! Fuzz target: the CSV data loader and the checks against the data, on structured mutations
//! of the shipped data files.
//!
//! Each input is the start of a shipped CSV (`data/`, `specs/invalid/data/`) with edits: a cell
//! replaced by a hostile one (NaN, inf, 1e400, 1e300, text, quotes, a long cell), a row deleted,
//! duplicated or swapped, a header name changed or duplicated, a field added, a BOM, CRLF line
//! ends, truncation. The spec reading it has an extra library term, a hidden state with an
//! initial value that depends on the data, and one state whose column may be missing. The
//! oracle: no panic; an accepted table has strictly increasing finite times, one value per row
//! and state, finite or missing values; every diagnostic renders.
//!
//! `ODENET_FUZZ_CASES` sets the number of inputs (default 2000); `scripts/fuzz.sh` runs 10⁶.
//! Failing inputs are kept in `tests/fuzz_csv.proptest-regressions`.

use std::path::{Path, PathBuf};

use odenet_spec::{MAX_CSV_MAGNITUDE, Spec, check_tables, read_table};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("ODENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// The first 40 lines of every shipped CSV, with the columns renamed to x, y, z in order.
fn corpus() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in ["../../data", "../../data/actin", "../../specs/invalid/data"] {
            files.extend(
                std::fs::read_dir(dir)
                    .expect("data folder")
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.extension().is_some_and(|e| e == "csv")),
            );
        }
        files.sort();
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).expect("csv text");
                let mut lines: Vec<String> = text.lines().take(40).map(str::to_string).collect();
                if let Some(h) = lines.first_mut() {
                    let names = ["t", "x", "y", "z", "w"];
                    *h = h
                        .split(',')
                        .enumerate()
                        .map(|(i, _)| names.get(i).copied().unwrap_or("v").to_string())
                        .collect::<Vec<_>>()
                        .join(",");
                }
                lines.join("\n")
            })
            .collect()
    })
}

/// The spec the tables are read for: x and y observed, z hidden with an initial value from
/// the data, an extra term that is not finite at x = 0.
fn spec() -> &'static Spec {
    static SPEC: std::sync::OnceLock<Spec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let text = "states = [\"x\", \"y\", \"z\"]\nhidden = [\"z\"]\n[library]\npolynomial = 2\nextra = [\"1/x\", \"log(y)\"]\n[[data]]\nfile = \"../../data/lorenz.csv\"\ninitial = { z = \"x + y\" }\n";
        Spec::from_str(text, Path::new("fuzz.toml")).expect("the fuzz spec is valid")
    })
}

const CELLS: &[&str] = &[
    "",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "1e300",
    "-1e300",
    "1e-320",
    "0",
    "-0",
    "abc",
    "\"1\"",
    "\"1,2\"",
    "1 2",
    "  3  ",
    "0x10",
    "1_000",
    "١",
    "é",
    "\u{feff}1",
    "1e",
    ".",
    "99999999999999999999999",
    "\"",
    "\r",
    "1;2",
];

#[derive(Clone, Debug)]
enum Edit {
    Cell(usize, usize, usize),
    LongCell(usize, usize, usize),
    DeleteRow(usize),
    DuplicateRow(usize),
    SwapRows(usize, usize),
    Header(usize, usize),
    AddField(usize),
    Bom,
    Crlf,
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        5 => (any::<usize>(), any::<usize>(), 0..CELLS.len()).prop_map(|(r, c, v)| Edit::Cell(r, c, v)),
        1 => (any::<usize>(), any::<usize>(), 1usize..3000).prop_map(|(r, c, n)| Edit::LongCell(r, c, n)),
        2 => any::<usize>().prop_map(Edit::DeleteRow),
        1 => any::<usize>().prop_map(Edit::DuplicateRow),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapRows(a, b)),
        2 => (any::<usize>(), 0usize..6).prop_map(|(c, v)| Edit::Header(c, v)),
        1 => any::<usize>().prop_map(Edit::AddField),
        1 => Just(Edit::Bom),
        1 => Just(Edit::Crlf),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let mut bom = false;
    let mut crlf = false;
    let mut cut = None;
    for e in edits {
        let n = rows.len();
        let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
        match *e {
            Edit::Cell(r, c, v) if n > 1 => {
                let r = 1 + at(r, n - 1);
                let c = at(c, rows[r].len());
                if let Some(cell) = rows[r].get_mut(c) {
                    *cell = CELLS[v].to_string();
                }
            }
            Edit::LongCell(r, c, len) if n > 0 => {
                let r = at(r, n);
                let c = at(c, rows[r].len());
                if let Some(cell) = rows[r].get_mut(c) {
                    *cell = "7".repeat(len);
                }
            }
            Edit::DeleteRow(r) if n > 0 => {
                rows.remove(at(r, n));
            }
            Edit::DuplicateRow(r) if n > 0 => {
                let r = at(r, n);
                let row = rows[r].clone();
                rows.insert(r, row);
            }
            Edit::SwapRows(a, b) if n > 0 => rows.swap(at(a, n), at(b, n)),
            Edit::Header(c, v) if n > 0 => {
                let names = ["t", "x", "y", "z", "time", ""];
                let c = at(c, rows[0].len());
                if let Some(h) = rows[0].get_mut(c) {
                    *h = names[v].to_string();
                }
            }
            Edit::AddField(r) if n > 0 => {
                let r = at(r, n);
                rows[r].push("1".into());
            }
            Edit::Bom => bom = true,
            Edit::Crlf => crlf = true,
            Edit::Truncate(i) => cut = Some(i),
            _ => {}
        }
    }
    let sep = if crlf { "\r\n" } else { "\n" };
    let mut text: String = rows
        .iter()
        .map(|r| r.join(","))
        .collect::<Vec<_>>()
        .join(sep);
    if bom {
        text.insert(0, '\u{feff}');
    }
    if let Some(i) = cut {
        let mut i = i % (text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        text.truncate(i);
    }
    text
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let spec = spec();
    let d = &spec.data[0];
    match read_table(spec, d, text.as_bytes()) {
        Ok(t) => {
            prop_assert!(t.rows() >= 2);
            prop_assert!(
                t.times
                    .iter()
                    .all(|x| x.is_finite() && x.abs() <= MAX_CSV_MAGNITUDE)
            );
            prop_assert!(t.times.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(t.values.len(), 3);
            for v in &t.values {
                prop_assert_eq!(v.len(), t.rows());
                prop_assert!(
                    v.iter()
                        .all(|x| x.is_nan() || (x.is_finite() && x.abs() <= MAX_CSV_MAGNITUDE))
                );
            }
            let (errors, warnings) = check_tables(spec, std::slice::from_ref(&t));
            for d in errors.iter().chain(&warnings) {
                let _ = d.to_string();
            }
        }
        Err(diags) => {
            prop_assert!(!diags.is_empty());
            for d in &diags {
                prop_assert!(!d.message.is_empty());
                let _ = d.to_string();
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn csv_loader_survives_mutated_tables(k in any::<usize>(), edits in prop::collection::vec(edit(), 0..6)) {
        let corpus = corpus();
        let text = apply(&corpus[k % corpus.len()], &edits);
        check(&text)?;
    }
}
