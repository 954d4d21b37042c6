//! Command-line flags (clap derive), one struct per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "odenet",
    version,
    about = "Reveal the hidden dynamics in time-series data as explicit differential equations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Show the fit's diagnostics on stderr (-v: stages and choices, -vv: every step).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fit a spec's candidate model to its data and print the discovered equations.
    Fit(FitArgs),
    /// Integrate a spec (all parameters given) or a fitted model and write CSV.
    Simulate(SimulateArgs),
    /// Print the e-graph-simplified form of an expression or of a spec's equations.
    Simplify(SimplifyArgs),
    /// Validate a spec and print what was understood.
    Check(CheckArgs),
    /// Work–precision benchmark of the solvers (error against time per tolerance), optionally
    /// with the fits each solver finds.
    Bench(BenchArgs),
    /// Print a fitted model as code (Python, SymPy, Julia, Rust, C) or as LaTeX.
    Export(ExportArgs),
    /// Run many fits (spec × data × options from a TOML or CSV manifest), locally or as a
    /// Slurm job array (--emit slurm).
    Sweep(SweepArgs),
    /// Run one task of a prepared sweep (what each job of a Slurm array runs).
    #[command(name = "sweep-task")]
    SweepTask(SweepTaskArgs),
    /// Gather a sweep's results into one table (CSV, JSON) and a summary page.
    Collect(CollectArgs),
}

impl Command {
    /// The subcommand's name, for messages.
    #[allow(dead_code)] // Used only with the `mpi` feature.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Fit(_) => "fit",
            Command::Simulate(_) => "simulate",
            Command::Simplify(_) => "simplify",
            Command::Check(_) => "check",
            Command::Bench(_) => "bench",
            Command::Export(_) => "export",
            Command::Sweep(_) => "sweep",
            Command::SweepTask(_) => "sweep-task",
            Command::Collect(_) => "collect",
        }
    }
}

#[derive(Args, Debug)]
pub struct FitArgs {
    pub spec: PathBuf,
    /// Write the model file (odenet-model/1) here.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Write plots and an index page into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// A spec whose parameters are all given, or a fitted model file (.json).
    pub model: PathBuf,
    #[arg(long = "t-end")]
    pub t_end: Option<f64>,
    /// Output spacing (with --t-end).
    #[arg(long)]
    pub dt: Option<f64>,
    /// Explicit output times instead of --t-end/--dt, e.g. 0,0.5,2,7.
    #[arg(long, value_delimiter = ',')]
    pub times: Option<Vec<f64>>,
    /// Initial values, e.g. x=1,y=2 (every state needs one).
    #[arg(long, value_delimiter = ',')]
    pub init: Vec<String>,
    /// Values of the model's constants, e.g. m_tot=7.4.
    #[arg(long = "const", value_delimiter = ',')]
    pub constants: Vec<String>,
    /// Gaussian noise with sd = EPS * max|x| per state.
    #[arg(long)]
    pub noise: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only these state columns are written (default: every state).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct SimplifyArgs {
    /// An expression, or the path of a spec. May start with `-`, e.g. "-(a0 + a1*m) + a0".
    #[arg(allow_hyphen_values = true)]
    pub input: String,
    /// Print LaTeX.
    #[arg(long)]
    pub latex: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    pub spec: PathBuf,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    pub spec: PathBuf,
    /// Solvers to compare: tsit5 (ours), tsit45 (diffsol's explicit), esdirk34, tr_bdf2, bdf,
    /// auto.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tsit5,tsit45,esdirk34,tr_bdf2,bdf,auto"
    )]
    pub solvers: Vec<String>,
    /// Relative tolerances: a list (1e-4,1e-8) or a range of decades (1e-3..1e-10).
    #[arg(long, value_delimiter = ',', default_value = "1e-3..1e-9")]
    pub tols: Vec<String>,
    /// Timed repetitions of each solve (times are their median and range).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Integrate each experiment whole from its first row (default: as the spec's `segment`;
    /// pieces of 10 points when it is "auto").
    #[arg(long)]
    pub whole: bool,
    /// Take the parameters from a fitted model file (default: the spec's values).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Also time one loss + gradient evaluation of the fit per solver and tolerance.
    #[arg(long)]
    pub gradient: bool,
    /// Relative tolerance of the reference solution.
    #[arg(long = "ref-tol", default_value_t = 1e-12)]
    pub ref_tol: f64,
    /// Also run the whole fit once per solver and compare the models found.
    #[arg(long)]
    pub fit: bool,
    /// Print CSV instead of the table.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Draw the work–precision diagram (error against time per solve) into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A fitted model file (odenet-model/1), as written by `odenet fit -o`.
    pub model: PathBuf,
    /// The language: latex, python, sympy, julia, rust or c.
    #[arg(long)]
    pub to: String,
    /// Write here instead of to standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Print every digit of the coefficients (default: the digits their standard errors support).
    #[arg(long = "full-precision")]
    pub full_precision: bool,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The manifest: TOML ([[task]] and [[grid]] tables) or CSV (columns spec, data, name and
    /// [fit] keys).
    pub manifest: PathBuf,
    /// The sweep folder (default: the manifest's `output`, else MANIFEST-STEM.sweep beside it).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Fits run at once (default: cores / threads); with --emit slurm, the array's limit.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Worker threads per fit (default: the manifest's `threads`, else 1).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write a job-array script for this scheduler instead of running (slurm).
    #[arg(long)]
    pub emit: Option<String>,
    /// No per-task progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SweepTaskArgs {
    /// A sweep folder prepared by `odenet sweep`.
    pub dir: PathBuf,
    /// The task's index (0-based; Slurm's SLURM_ARRAY_TASK_ID).
    pub index: usize,
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// A sweep folder (as written by `odenet sweep`).
    pub dir: PathBuf,
}
