//! The spec stage: reads a TOML spec and its CSV data into validated, typed values.
//!
//! This crate knows nothing of egg, tapes or solvers. It reads input files (the spec and the
//! data tables it names) and never writes or prints anything; every problem it finds becomes a
//! [`Diagnostic`] that names the file, line and column (or the data row) and says how to fix it.
//! Validation collects *all* problems before returning.

mod data;
mod diag;
pub mod expr;
mod load;

use std::path::{Path, PathBuf};

pub use data::{
    Loaded, MAX_CSV_BYTES, MAX_CSV_MAGNITUDE, check_tables, load_tables, load_tables_checked,
    read_table,
};
pub use diag::{clip, sort_diagnostics};
pub use expr::{
    Expr, ExprError, Func, IdentSpan, MAX_DEPTH, MAX_TREE_DEPTH, NonFinite, Parsed, format_number,
    parse_expr, parse_expr_full, parse_expr_spanned,
};
pub use load::{MAX_LIBRARY_COEFFICIENTS, MAX_POLYNOMIAL_ORDER, library_terms};

/// The largest spec file read, in bytes. Real specs are a few kB; the limit keeps a wrong
/// path (a log file, `/dev/zero`) from being read into memory whole.
pub const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Reads at most `limit` bytes of the file at `path` as UTF-8 text. A longer file (or an
/// endless one such as `/dev/zero`) is an error that states the limit, without reading more
/// than one byte past it.
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the {what}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the {what}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "the {what} is larger than the limit of {}",
            human_bytes(limit)
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("the {what} is not valid UTF-8 text"))
}

/// A byte count for messages: `4 MiB`, `512 MiB`, `3 kB`.
pub fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{} kB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Where something was written in the spec, for diagnostics that checks against the data
/// find after the spec itself was read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub width: usize,
    pub source_line: Option<String>,
}

impl From<Diagnostic> for Location {
    fn from(d: Diagnostic) -> Self {
        Location {
            file: d.file,
            line: d.line,
            column: d.column,
            width: d.width,
            source_line: d.source_line,
        }
    }
}

impl Location {
    /// An error at this place.
    pub fn error(&self, message: impl Into<String>, help: Option<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: message.into(),
            help,
            source_line: self.source_line.clone(),
            width: self.width.max(1),
        }
    }
}

/// The places in the spec that the checks against the data refer to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origins {
    /// The `hidden` list, when there is one.
    pub hidden: Option<Location>,
    /// Each extra library term, in order.
    pub extra: Vec<Location>,
    /// Each template equation, in state order (default where an equation is a bare number).
    pub equations: Vec<Location>,
    /// Each `[[data]]` table, in order.
    pub data: Vec<Location>,
}

/// Options of [`Spec::load_with`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Constants known from outside the spec (`odenet simulate --const F=1`): the equations may
    /// use them without a `[[data]]` table that defines them.
    pub constants: Vec<String>,
}

/// Whether a diagnostic stops the command or only draws attention to something legal but
/// suspicious.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Severity {
    /// The input cannot be used as it is (exit status 2).
    #[default]
    Error,
    /// The input is legal but probably not what was meant; the command goes on.
    Warning,
}

/// One located problem in an input file.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// An error (the command stops) or a warning (it goes on).
    pub severity: Severity,
    /// The file the problem is in (as given or resolved against the spec's folder).
    pub file: PathBuf,
    /// 1-based line (for data files: the line of the CSV row); 0 when the problem is the file as a whole.
    pub line: usize,
    /// 1-based column (for data files: the 1-based field index); 0 when unknown.
    pub column: usize,
    /// Lower-case, specific statement of what is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The offending source line, for a code frame (None for whole-file problems).
    pub source_line: Option<String>,
    /// Width of the underlined region in `source_line` (at least 1).
    pub width: usize,
}

/// A validated spec (see DESIGN.md, "The spec language").
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub name: String,
    /// The spec file itself.
    pub path: PathBuf,
    /// State names, in the order that defines canonical monomial names.
    pub states: Vec<String>,
    /// `hidden[i]` is true when state i has no data column.
    pub hidden: Vec<bool>,
    pub model: ModelSpec,
    /// Names of the per-experiment constants (the union over `[[data]]` tables, sorted by
    /// first appearance). Every table defines every one of them.
    pub constants: Vec<String>,
    pub data: Vec<DataSpec>,
    pub fit: FitConfig,
    /// Legal but suspicious input (a duplicated [[data]] file, …): print them, then go on.
    pub warnings: Vec<Diagnostic>,
    /// Where the parts of the spec were written, for later diagnostics.
    pub origins: Origins,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// `[library] polynomial = p, extra = [...]`: the candidate terms of every equation.
    Library { order: u32, extra: Vec<Expr> },
    /// `[params]` + `[equations]`.
    Template {
        params: Vec<ParamSpec>,
        /// One equation per state, in state order.
        equations: Vec<Expr>,
        /// The equations as written in the spec, in state order.
        equation_text: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    /// Initial value (for a fixed parameter: its value).
    pub init: f64,
    pub fixed: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Subject to the L1 penalty and pruning (default true).
    pub sparse: bool,
}

/// One `[[data]]` table: an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// Resolved path of the CSV file.
    pub file: PathBuf,
    /// Name of the time column (default "t").
    pub time: String,
    /// Per state: the CSV column holding it, or None for a hidden state.
    pub columns: Vec<Option<String>>,
    /// Values of `Spec::constants` for this experiment, aligned with that list.
    pub constants: Vec<f64>,
    /// Per state: how its initial value is obtained.
    pub initial: Vec<Initial>,
}

/// How a state's initial value (at the start of an experiment or piece) is obtained.
#[derive(Clone, Debug, PartialEq)]
pub enum Initial {
    /// Not given: the observed value at the start (only for observed states).
    Observed,
    Value(f64),
    /// An expression over the constants and the observed states' values at t0.
    Expr(Expr),
    /// A per-experiment parameter fitted with the model.
    Fit,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Segment {
    /// Chosen from the data: pieces long enough that the dynamics stand above the noise, as long
    /// as the model tracks the data (the default).
    Auto,
    Points(usize),
    Whole,
}

/// The `solver` of `[fit]`: our explicit Tsit5 switching to BDF on stiffness (`auto`), or one
/// method throughout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolverKind {
    Auto,
    Bdf,
    /// Our explicit Tsitouras 5(4).
    Tsit5,
    /// diffsol's explicit Tsitouras 5(4).
    Tsit45,
    /// diffsol's ESDIRK 3(4).
    Esdirk34,
    /// diffsol's TR-BDF2.
    TrBdf2,
}

impl SolverKind {
    /// Every solver with its name in specs and on the command line.
    pub const NAMES: [(&'static str, SolverKind); 6] = [
        ("auto", SolverKind::Auto),
        ("bdf", SolverKind::Bdf),
        ("tsit5", SolverKind::Tsit5),
        ("tsit45", SolverKind::Tsit45),
        ("esdirk34", SolverKind::Esdirk34),
        ("tr_bdf2", SolverKind::TrBdf2),
    ];

    pub fn name(self) -> &'static str {
        SolverKind::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("auto", |(n, _)| n)
    }

    pub fn from_name(name: &str) -> Option<SolverKind> {
        SolverKind::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitKind {
    Regression,
    Zero,
    Spec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneRule {
    /// Contribution of the term to its equation over the data, relative to the equation's size.
    Relative,
    /// The paper's |θ| < γ.
    Absolute,
}

/// The `[fit]` table, every key with its default.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    pub segment: Segment,
    pub stride: usize,
    pub mu: (f64, f64),
    pub threshold: (f64, f64),
    pub rounds: usize,
    pub solver: SolverKind,
    pub rtol: f64,
    pub atol: f64,
    pub learn_noise: bool,
    pub init: InitKind,
    pub holdout: f64,
    pub seed: u64,
    pub prune: PruneRule,
    /// L-BFGS iterations per L1 round (debiased refits get four times as many).
    pub max_iters: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            segment: Segment::Auto,
            stride: 1,
            mu: (1e-3, 1e-5),
            threshold: (1e-4, 1e-3),
            rounds: 8,
            solver: SolverKind::Auto,
            rtol: 1e-6,
            atol: 1e-9,
            learn_noise: false,
            init: InitKind::Regression,
            holdout: 0.2,
            seed: 0,
            prune: PruneRule::Relative,
            max_iters: 20,
        }
    }
}

/// One experiment's data, loaded from CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub file: PathBuf,
    /// Strictly increasing sample times.
    pub times: Vec<f64>,
    /// `values[state][row]`; NaN marks a missing value; hidden states are all NaN.
    pub values: Vec<Vec<f64>>,
}

impl Spec {
    /// Reads and validates the spec at `path`. Data paths are resolved against its folder.
    /// Every problem found is returned, sorted by file, line and column.
    pub fn load(path: &Path) -> Result<Spec, Vec<Diagnostic>> {
        Spec::load_with(path, &LoadOptions::default())
    }

    /// [`Spec::load`] with options (constants known from outside the spec).
    pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Spec, Vec<Diagnostic>> {
        match read_text_limited(path, MAX_SPEC_BYTES, "spec file") {
            Ok(text) => load::parse_spec(&text, path, opts),
            Err(message) => Err(vec![Diagnostic::whole_file(
                path,
                message,
                Some("check the path and that the file is a TOML spec".into()),
            )]),
        }
    }

    /// Validates spec text; `path` names it in diagnostics and anchors relative data paths
    /// (whose existence is checked).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, path: &Path) -> Result<Spec, Vec<Diagnostic>> {
        load::parse_spec(text, path, &LoadOptions::default())
    }

    /// Index of the state called `name`.
    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.states.iter().position(|s| s == name)
    }

    /// Names of the states that have data columns, in state order.
    pub fn observed_states(&self) -> impl Iterator<Item = &str> {
        self.states
            .iter()
            .zip(&self.hidden)
            .filter(|&(_, &h)| !h)
            .map(|(s, _)| s.as_str())
    }
}

impl Table {
    /// Number of sample times (data rows).
    pub fn rows(&self) -> usize {
        self.times.len()
    }

    /// First and last sample time; `None` for a table without rows (never produced by
    /// [`load_tables`], which requires at least two).
    pub fn time_range(&self) -> Option<(f64, f64)> {
        Some((*self.times.first()?, *self.times.last()?))
    }

    /// Number of present (non-missing) values of state `state`.
    pub fn observed_count(&self, state: usize) -> usize {
        self.values
            .get(state)
            .map_or(0, |v| v.iter().filter(|x| !x.is_nan()).count())
    }
}
