//! Shared helpers of the command-line tests: run the real `odenet` binary from the workspace
//! root and look at its exit status, stdout and stderr.

#![allow(dead_code)] // Each test binary uses its own subset of the helpers.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: every relative path in the tests (and in the binary's messages) is
/// relative to it.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit status and that nothing panicked; returns self for more checks.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert!(
            !self.stderr.contains("panicked"),
            "odenet panicked:\n{}",
            self.stderr
        );
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts a bad-input failure: exit status 2, no panic, a message on stderr that starts
    /// with `error:` and that contains every one of `needles`.
    #[track_caller]
    pub fn input_error(&self, needles: &[&str]) -> &Run {
        self.expect(2);
        assert!(
            self.stderr.starts_with("error:"),
            "stderr does not start with `error:`:\n{}",
            self.stderr
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// Runs `odenet ARGS` in the workspace root.
pub fn odenet<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("cannot start the odenet binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is not UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is not UTF-8"),
    }
}

/// A fresh, empty scratch folder for one test (under cargo's per-target temporary folder).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("odenet-cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a scratch folder");
    dir
}

/// The `.toml` files directly inside `dir` (relative to the root), sorted by name.
pub fn tomls(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| e.expect("cannot read a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| Path::new(dir).join(p.file_name().expect("a file name")))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .toml files in {dir}");
    v
}

/// The file name of `p` without `.toml`.
pub fn stem(p: &Path) -> String {
    p.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// A CSV in the data format: the header and the rows of numbers (an empty cell is NaN).
#[derive(Debug)]
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Csv {
    pub fn read(path: &Path) -> Csv {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Csv::parse(&text)
    }

    pub fn parse(text: &str) -> Csv {
        let mut lines = text.lines();
        let header = lines
            .next()
            .expect("an empty CSV")
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>();
        let rows = lines
            .map(|l| {
                let row: Vec<f64> = l
                    .split(',')
                    .map(|c| {
                        if c.is_empty() {
                            f64::NAN
                        } else {
                            c.parse().unwrap_or_else(|_| panic!("bad cell {c:?}"))
                        }
                    })
                    .collect();
                assert_eq!(row.len(), header.len(), "ragged row {l:?}");
                row
            })
            .collect();
        Csv { header, rows }
    }

    /// The column called `name`.
    pub fn col(&self, name: &str) -> Vec<f64> {
        let j = self
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        self.rows.iter().map(|r| r[j]).collect()
    }
}
