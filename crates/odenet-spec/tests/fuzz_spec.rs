//! Fuzz target: the spec loader (and, for specs it accepts, the data loader and the checks
//! against the data), on structured mutations of the shipped specs.
//!
//! Each input is one of the shipped specs (`specs/`, `specs/valid/`, `specs/invalid/`) with
//! line-level edits: a value replaced by a hostile one (extreme numbers, wrong types, long
//! names, expressions with `1/0`, deep nesting, huge libraries), a line deleted, duplicated,
//! swapped or inserted from a pool of spec lines, or a byte changed. The oracle: no panic; every
//! diagnostic points at a line of the file (or the file as a whole) and renders; an accepted
//! spec loads its data without panicking.
//!
//! `ODENET_FUZZ_CASES` sets the number of inputs (default 1000); `scripts/fuzz.sh` runs 10⁶.
//! Failing inputs are kept in `tests/fuzz_spec.proptest-regressions`.

use std::path::{Path, PathBuf};

use odenet_spec::{Spec, load_tables_checked};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("ODENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// The shipped specs: (path relative to this crate, text).
fn corpus() -> &'static [(PathBuf, String)] {
    static CORPUS: std::sync::OnceLock<Vec<(PathBuf, String)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut v = Vec::new();
        for dir in [
            "../../specs",
            "../../specs/valid",
            "../../specs/invalid",
            "../../specs/truth",
        ] {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .expect("specs folder")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).expect("spec text");
                v.push((f, text));
            }
        }
        v
    })
}

/// Hostile values for `key = VALUE` lines.
const VALUES: &[&str] = &[
    "0",
    "-0.0",
    "1e308",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "-inf",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "0x7fffffff",
    "1.5",
    "-3",
    "true",
    "\"\"",
    "\"whole\"",
    "\"auto\"",
    "\"fit\"",
    "\"1/0\"",
    "\"x/0\"",
    "\"log(-1)\"",
    "\"exp(1000)\"",
    "\"x**1000\"",
    "\"sqrt(-x)\"",
    "\"0/0 + x\"",
    "[]",
    "[1, 2, 3]",
    "[\"x\", \"x\"]",
    "[\"x\", \"y\", \"z\", \"w\", \"v\", \"u\", \"t\", \"s\"]",
    "{}",
    "{ init = 1, min = 1, max = 1 }",
    "{ init = 0.5, min = 0, max = 0.1 }",
    "{ value = 1e400, fixed = true }",
    "{ min = 1e308, max = -1e308 }",
    "\"((((((((((((((((((((x))))))))))))))))))))\"",
    "12",
    "13",
    "8",
    "\"/dev/zero\"",
    "\"../data/lorenz.csv\"",
    "\"../../data/lorenz.csv\"",
    "\"data/lv.csv\"",
    "\"é\"",
    "'''x\ny'''",
];

/// Whole lines that may be inserted.
const LINES: &[&str] = &[
    "[fit]",
    "segment = \"whole\"",
    "segment = 2",
    "stride = 1000000",
    "rounds = 0",
    "[library]",
    "polynomial = 12",
    "extra = [\"1/x\", \"x^1000\", \"F*x\"]",
    "[params]",
    "[equations]",
    "[[data]]",
    "file = \"../data/lorenz.csv\"",
    "hidden = [\"x\", \"y\", \"z\"]",
    "states = [\"x\", \"y\", \"z\"]",
    "constants = { F = 1e308 }",
    "initial = { x = \"1/0\" }",
    "columns = { x = \"x\", y = \"x\" }",
    "time = \"x\"",
    "name = 1",
    "[[data]",
    "x = \"",
    "}",
    "a = { init = 1",
    "mu = [1, 2, 3]",
    "threshold = -1",
    "holdout = 1",
    "seed = -1",
];

#[derive(Clone, Debug)]
enum Edit {
    Value(usize, usize),
    LongName(usize, usize),
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, usize),
    Byte(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0..VALUES.len()).prop_map(|(a, b)| Edit::Value(a, b)),
        1 => (any::<usize>(), 1usize..5000).prop_map(|(a, b)| Edit::LongName(a, b)),
        2 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        3 => (any::<usize>(), 0..LINES.len()).prop_map(|(a, b)| Edit::Insert(a, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Byte(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len();
        let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
        match *e {
            Edit::Value(i, v) if n > 0 => {
                let i = at(i, n);
                if let Some((k, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{k}= {}", VALUES[v]);
                }
            }
            Edit::LongName(i, len) if n > 0 => {
                let i = at(i, n);
                let name = "n".repeat(len);
                lines[i] = lines[i].replacen('x', &name, 1);
            }
            Edit::Delete(i) if n > 0 => {
                lines.remove(at(i, n));
            }
            Edit::Duplicate(i) if n > 0 => {
                let i = at(i, n);
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            Edit::Swap(i, j) if n > 0 => lines.swap(at(i, n), at(j, n)),
            Edit::Insert(i, l) => lines.insert(at(i, n + 1), LINES[l].to_string()),
            Edit::Byte(i, b) if n > 0 => {
                let i = at(i, n);
                let mut bytes = lines[i].clone().into_bytes();
                let j = at(i.wrapping_mul(31), bytes.len() + 1);
                bytes.insert(j, b);
                lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn check(path: &Path, text: &str) -> Result<(), TestCaseError> {
    let nlines = text.lines().count() + 1;
    match Spec::from_str(text, path) {
        Err(diags) => {
            prop_assert!(!diags.is_empty());
            for d in &diags {
                prop_assert!(d.line <= nlines, "{d}");
                prop_assert!(!d.message.is_empty());
                let _ = d.to_string();
            }
        }
        Ok(spec) => {
            for w in &spec.warnings {
                let _ = w.to_string();
            }
            match load_tables_checked(&spec) {
                Ok(loaded) => {
                    for t in &loaded.tables {
                        prop_assert_eq!(t.values.len(), spec.states.len());
                        prop_assert!(t.times.windows(2).all(|w| w[0] < w[1]));
                    }
                }
                Err(diags) => {
                    prop_assert!(!diags.is_empty());
                    for d in &diags {
                        let _ = d.to_string();
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn spec_loader_survives_mutated_specs(k in any::<usize>(), edits in prop::collection::vec(edit(), 0..5)) {
        let corpus = corpus();
        let (path, text) = &corpus[k % corpus.len()];
        let text = apply(text, &edits);
        check(path, &text)?;
    }
}
