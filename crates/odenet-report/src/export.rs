//! `odenet export`: a discovered system as code that a user pastes or imports — Python (numpy
//! right-hand side and a `solve_ivp` helper), SymPy, Julia (DifferentialEquations.jl and
//! ModelingToolkit), Rust, C — or as a LaTeX `align` block; and the rounding of coefficients to
//! the digits their standard errors support, which the printed summary and the report page share.
//!
//! Everything is built from a [`ModelFile`] (so a model read back from disk exports the same as a
//! fresh fit) through one intermediate [`System`]: the equations as expressions whose names are
//! states, parameters and constants, and whose numbers are already rounded.

use std::fmt::Write;

use odenet_spec::{Expr, Func, format_number, parse_expr};

use crate::ModelFile;

/// A target of `odenet export --to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Latex,
    Python,
    Sympy,
    Julia,
    Rust,
    C,
}

impl Lang {
    pub const ALL: [Lang; 6] = [
        Lang::Latex,
        Lang::Python,
        Lang::Sympy,
        Lang::Julia,
        Lang::Rust,
        Lang::C,
    ];

    /// The name used by `--to`.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Latex => "latex",
            Lang::Python => "python",
            Lang::Sympy => "sympy",
            Lang::Julia => "julia",
            Lang::Rust => "rust",
            Lang::C => "c",
        }
    }

    /// The language called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExportError {
    #[error("the model file's {what} does not parse at byte {offset}: {message}")]
    Parse {
        what: String,
        offset: usize,
        message: String,
    },
}

/// The rounding of fitted numbers: to their standard errors, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// Each coefficient to the digits its standard error supports ([`round_to_se`]).
    #[default]
    StandardError,
    /// Every digit (the shortest text that reads back to the same f64).
    Full,
}

/// Rounds `v` to the digits its standard error `se` supports: to the decimal place of the
/// second significant digit of `se`, keeping at least two significant digits of `v`. A NaN
/// `se` (not estimated: a fixed or pruned value) keeps every digit; an infinite one (the data
/// leave the value undetermined) keeps two significant digits.
pub fn round_to_se(v: f64, se: f64) -> f64 {
    if !v.is_finite() || v == 0.0 || se.is_nan() || se == 0.0 {
        return v;
    }
    let v_exp = v.abs().log10().floor() as i32;
    let place = if se.is_infinite() {
        v_exp - 1
    } else {
        ((se.abs().log10().floor() as i32) - 1).min(v_exp - 1)
    };
    round_at(v, place)
}

/// Rounds `v` to a multiple of 10^place, through decimal text so that the result prints as the
/// rounded digits (`27.987`, not `27.987000000000002`).
fn round_at(v: f64, place: i32) -> f64 {
    if place < 0 {
        let digits = (-place).min(20) as usize;
        format!("{v:.digits$}").parse().unwrap_or(v)
    } else {
        let text = format!("{:.0}e{place}", v / 10f64.powi(place));
        text.parse().unwrap_or(v)
    }
}

/// A standard error printed with two significant digits (`0.012`, `1.3e-5`), or a word when
/// it is not a finite number.
pub fn format_se(se: f64) -> String {
    if se.is_nan() {
        return String::new();
    }
    if se.is_infinite() {
        return "not determined".into();
    }
    if se == 0.0 {
        return "0".into();
    }
    let se = se.abs();
    let place = (se.log10().floor() as i32) - 1;
    if !(1e-3..1e5).contains(&se) {
        format!("{se:.1e}")
    } else if place < 0 {
        let digits = (-place) as usize;
        format!("{se:.digits$}")
    } else {
        format_number(round_at(se, place))
    }
}

/// `v` rounded to its standard error, with the trailing zeros the error makes significant
/// (`10.010` for 10.0099 ± 0.020); every digit when there is no error.
pub fn format_to_se(v: f64, se: f64) -> String {
    let r = round_to_se(v, se);
    if se.is_finite() && se > 0.0 && v.is_finite() && v != 0.0 {
        let v_exp = v.abs().log10().floor() as i32;
        let place = ((se.log10().floor() as i32) - 1).min(v_exp - 1);
        if place < 0 {
            let digits = (-place).min(20) as usize;
            return format!("{r:.digits$}");
        }
    }
    format_number(r)
}

/// `value ± se`, the value rounded to the standard error (full precision when there is none).
pub fn value_pm(v: f64, se: f64) -> String {
    let r = format_to_se(v, se);
    if se.is_finite() {
        format!("{r} ± {}", format_se(se))
    } else if se.is_infinite() {
        format!("{r} (not determined by the data)")
    } else {
        r
    }
}

/// One experiment, as exported: constants, time span, the model's state at t0.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportExperiment {
    pub constants: Vec<(String, f64)>,
    pub t0: f64,
    pub t_end: f64,
    pub initial: Vec<f64>,
}

/// A discovered system ready to print in any language.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    pub name: String,
    pub states: Vec<String>,
    pub hidden: Vec<bool>,
    /// The named parameters the equations use (template mode), with their (rounded) values and
    /// standard errors.
    pub params: Vec<(String, f64, f64)>,
    /// The names of the per-experiment constants.
    pub constants: Vec<String>,
    pub experiments: Vec<ExportExperiment>,
    /// One right-hand side per state; names are states, parameters or constants.
    pub equations: Vec<Expr>,
    pub precision: Precision,
}

/// The sum Σ c·term of a library equation, each coefficient rounded to its standard error.
/// `terms` holds (term name, coefficient, standard error).
pub fn library_equation(
    terms: &[(&str, f64, f64)],
    precision: Precision,
) -> Result<Expr, ExportError> {
    let mut sum: Option<Expr> = None;
    for &(name, c, se) in terms {
        let c = match precision {
            Precision::StandardError => round_to_se(c, se),
            Precision::Full => c,
        };
        let monomial = if name.trim() == "1" {
            None
        } else {
            Some(parse_expr(name).map_err(|e| ExportError::Parse {
                what: format!("term `{name}`"),
                offset: e.offset,
                message: e.message,
            })?)
        };
        let term = |c: f64| match &monomial {
            None => Expr::Num(c),
            Some(m) => times(Expr::Num(c), m),
        };
        sum = Some(match sum {
            None => term(c),
            Some(s) if c < 0.0 => Expr::Sub(Box::new(s), Box::new(term(-c))),
            Some(s) => Expr::Add(Box::new(s), Box::new(term(c))),
        });
    }
    Ok(sum.unwrap_or(Expr::Num(0.0)))
}

/// The equations of a fit as expressions for display: library coefficients rounded as
/// `precision` says, template equations as fitted. `None` where an equation cannot be rebuilt
/// (print `res.equations[i]` then).
pub fn fit_equations(res: &odenet_fit::FitResult, precision: Precision) -> Vec<Option<Expr>> {
    res.states
        .iter()
        .enumerate()
        .map(|(i, st)| match &res.terms {
            Some(terms) => {
                let t: Vec<(&str, f64, f64)> = terms
                    .get(i)?
                    .iter()
                    .map(|(name, v)| {
                        let se = res
                            .term_param(st, name)
                            .and_then(|k| res.std_errors.get(k).copied())
                            .unwrap_or(f64::NAN);
                        (name.as_str(), *v, se)
                    })
                    .collect();
                library_equation(&t, precision).ok()
            }
            None => parse_expr(res.equations.get(i)?).ok(),
        })
        .collect()
}

/// `e` with the names in `zero` set to 0 and the terms they cancel removed (`a5*M + b` → `b`):
/// the discovered model of a template whose pruned parameters are exactly zero.
pub fn without_zero_terms(e: &Expr, zero: &[&str]) -> Expr {
    let is_zero = |x: &Expr| matches!(x, Expr::Num(v) if *v == 0.0);
    let r = |x: &Expr| without_zero_terms(x, zero);
    match e {
        Expr::Var(n) if zero.contains(&n.as_str()) => Expr::Num(0.0),
        Expr::Num(_) | Expr::Var(_) => e.clone(),
        Expr::Neg(a) => {
            let a = r(a);
            if is_zero(&a) {
                Expr::Num(0.0)
            } else {
                Expr::Neg(Box::new(a))
            }
        }
        Expr::Add(a, b) => match (r(a), r(b)) {
            (a, b) if is_zero(&a) => b,
            (a, b) if is_zero(&b) => a,
            (a, b) => Expr::Add(Box::new(a), Box::new(b)),
        },
        Expr::Sub(a, b) => match (r(a), r(b)) {
            (a, b) if is_zero(&b) => a,
            (a, b) if is_zero(&a) => Expr::Neg(Box::new(b)),
            (a, b) => Expr::Sub(Box::new(a), Box::new(b)),
        },
        Expr::Mul(a, b) => match (r(a), r(b)) {
            (a, b) if is_zero(&a) || is_zero(&b) => Expr::Num(0.0),
            (a, b) => Expr::Mul(Box::new(a), Box::new(b)),
        },
        Expr::Div(a, b) => match (r(a), r(b)) {
            (a, _) if is_zero(&a) => Expr::Num(0.0),
            (a, b) => Expr::Div(Box::new(a), Box::new(b)),
        },
        Expr::Pow(a, b) => Expr::Pow(Box::new(r(a)), Box::new(r(b))),
        Expr::Call(f, a) => Expr::Call(*f, Box::new(r(a))),
    }
}

/// `c·m` as a left-associated product (`c*x*z`, not `c*(x*z)`).
fn times(c: Expr, m: &Expr) -> Expr {
    match m {
        Expr::Mul(a, b) => Expr::Mul(Box::new(times(c, a)), b.clone()),
        _ => Expr::Mul(Box::new(c), Box::new(m.clone())),
    }
}

impl System {
    /// The system of a model file: library terms with rounded coefficients; or the template
    /// equations with the parameters as names and their values rounded; or, for a file without
    /// either, its equations as written.
    pub fn from_model(m: &ModelFile, precision: Precision) -> Result<System, ExportError> {
        let parse = |what: String, src: &str| {
            parse_expr(src).map_err(|e| ExportError::Parse {
                what,
                offset: e.offset,
                message: e.message,
            })
        };
        let mut params = Vec::new();
        let equations: Vec<Expr> = if !m.terms.is_empty() {
            m.terms
                .iter()
                .map(|ts| {
                    let t: Vec<(&str, f64, f64)> = ts
                        .iter()
                        .map(|t| (t.name.as_str(), t.value, t.std_error))
                        .collect();
                    library_equation(&t, precision)
                })
                .collect::<Result<_, _>>()?
        } else {
            let sources = m.template.as_ref().unwrap_or(&m.equations);
            // Parameters fitted (or fixed) to exactly zero take their terms with them.
            let zero: Vec<&str> = m
                .params
                .iter()
                .filter(|(_, v)| *v == 0.0)
                .map(|(n, _)| n.as_str())
                .collect();
            let eqs: Vec<Expr> = m
                .states
                .iter()
                .zip(sources)
                .map(|(s, src)| {
                    parse(format!("equation of {s}"), src).map(|e| without_zero_terms(&e, &zero))
                })
                .collect::<Result<_, _>>()?;
            for (k, (name, v)) in m.params.iter().enumerate() {
                if eqs.iter().any(|e| e.vars().contains(&name.as_str())) {
                    let se = m.param_std_errors.get(k).copied().unwrap_or(f64::NAN);
                    let v = match precision {
                        Precision::StandardError => round_to_se(*v, se),
                        Precision::Full => *v,
                    };
                    params.push((name.clone(), v, se));
                }
            }
            eqs
        };
        let experiments = m
            .experiments
            .iter()
            .map(|e| ExportExperiment {
                constants: m
                    .constants
                    .iter()
                    .cloned()
                    .zip(e.constants.iter().copied())
                    .collect(),
                t0: e.t0,
                t_end: e.t_end,
                initial: e.initial.clone(),
            })
            .collect();
        Ok(System {
            name: m.name.clone(),
            states: m.states.clone(),
            hidden: m.states.iter().map(|s| m.hidden.contains(s)).collect(),
            params,
            constants: m.constants.clone(),
            experiments,
            equations,
            precision,
        })
    }

    /// Every name of the parameter vector `p`: parameters, then constants.
    fn p_names(&self) -> Vec<&str> {
        self.params
            .iter()
            .map(|(n, _, _)| n.as_str())
            .chain(self.constants.iter().map(String::as_str))
            .collect()
    }

    /// The values of `p`: parameters, then the first experiment's constants (NaN when unknown).
    fn p_values(&self) -> Vec<f64> {
        let first = self.experiments.first();
        self.params
            .iter()
            .map(|(_, v, _)| *v)
            .chain(self.constants.iter().enumerate().map(|(k, _)| {
                first
                    .and_then(|e| e.constants.get(k))
                    .map_or(f64::NAN, |c| c.1)
            }))
            .collect()
    }
}

/// A model file as code or LaTeX.
pub fn export(m: &ModelFile, lang: Lang, precision: Precision) -> Result<String, ExportError> {
    let sys = System::from_model(m, precision)?;
    Ok(match lang {
        Lang::Latex => latex(&sys),
        Lang::Python => python(&sys),
        Lang::Sympy => sympy(&sys),
        Lang::Julia => julia(&sys),
        Lang::Rust => rust(&sys),
        Lang::C => c(&sys),
    })
}

/// A printed summary of a model file: the equations with coefficients rounded to their standard
/// errors, then every coefficient (library terms or parameters) as `value ± se`.
pub fn describe(m: &ModelFile) -> Result<String, ExportError> {
    let sys = System::from_model(m, Precision::StandardError)?;
    let mut s = String::new();
    let _ = writeln!(s, "{}: discovered equations", sys.name);
    let w = sys.states.iter().map(|x| x.len()).max().unwrap_or(1);
    for (k, (st, e)) in sys.states.iter().zip(&sys.equations).enumerate() {
        let hidden = if sys.hidden.get(k).copied().unwrap_or(false) {
            "   (hidden)"
        } else {
            ""
        };
        let _ = writeln!(s, "  d{st:<w$}/dt = {e}{hidden}");
    }
    if !m.terms.is_empty() {
        let _ = writeln!(s, "coefficients (± standard error):");
        let rows: Vec<(String, String)> = m
            .states
            .iter()
            .zip(&m.terms)
            .flat_map(|(st, ts)| {
                ts.iter().map(move |t| {
                    (
                        format!("d{st}/dt[{}]", t.name),
                        value_pm(t.value, t.std_error),
                    )
                })
            })
            .collect();
        let nw = rows.iter().map(|r| r.0.len()).max().unwrap_or(1);
        for (name, value) in rows {
            let _ = writeln!(s, "  {name:<nw$} = {value}");
        }
    } else if !m.params.is_empty() {
        let _ = writeln!(s, "parameters:");
        let pw = m.params.iter().map(|(n, _)| n.len()).max().unwrap_or(1);
        for (k, (n, v)) in m.params.iter().enumerate() {
            let se = m.param_std_errors.get(k).copied().unwrap_or(f64::NAN);
            let _ = writeln!(s, "  {n:<pw$} = {}", value_pm(*v, se));
        }
    }
    Ok(s)
}

fn rounding_note(sys: &System) -> &'static str {
    match sys.precision {
        Precision::StandardError => {
            "Coefficients are rounded to the digits their standard errors support \
             (`--full-precision` keeps every digit)."
        }
        Precision::Full => "Coefficients at full precision.",
    }
}

/// Text safe inside a comment of any of the languages (no comment terminators, one line).
fn comment_text(s: &str) -> String {
    s.replace("*/", "* /")
        .replace("=#", "= #")
        .replace(['\n', '\r'], " ")
}

// ---------------------------------------------------------------------------------------------
// Names.

const PYTHON_RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "np",
    "sp",
    "t",
    "p",
    "rhs",
    "solve",
    "values",
    "equations",
];
const JULIA_RESERVED: &[&str] = &[
    "baremodule",
    "begin",
    "break",
    "catch",
    "const",
    "continue",
    "do",
    "else",
    "elseif",
    "end",
    "export",
    "false",
    "finally",
    "for",
    "function",
    "global",
    "if",
    "import",
    "let",
    "local",
    "macro",
    "module",
    "quote",
    "return",
    "struct",
    "true",
    "try",
    "using",
    "while",
    "du",
    "u",
    "p",
    "t",
    "D",
    "exp",
    "log",
    "sin",
    "cos",
    "sqrt",
];
const RUST_RESERVED: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "u", "p", "du", "t",
    "f64",
];
const C_RESERVED: &[&str] = &[
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "u", "p", "du", "t", "pow", "exp", "log",
    "sin", "cos", "sqrt", "rhs",
];

/// Maps the model's names (states, then parameters and constants) to identifiers of a
/// language: other characters become `_`, a leading digit gets a `_`, reserved words and
/// collisions get trailing `_`s.
struct Names {
    pairs: Vec<(String, String)>,
}

impl Names {
    fn new(sys: &System, reserved: &[&str]) -> Names {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let all = sys.states.iter().map(String::as_str).chain(sys.p_names());
        for name in all {
            let mut id: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
                id.insert(0, '_');
            }
            while reserved.contains(&id.as_str()) || pairs.iter().any(|(_, b)| *b == id) {
                id.push('_');
            }
            pairs.push((name.to_string(), id));
        }
        Names { pairs }
    }

    fn get(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(a, _)| a == name)
            .map_or_else(|| name.to_string(), |(_, b)| b.clone())
    }
}

/// A string literal that Python, Julia, Rust and C all read the same way (JSON's escapes).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

// ---------------------------------------------------------------------------------------------
// Expressions as code.

/// Binding strength, as in `Expr`'s Display: higher binds tighter.
fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Add(..) | Expr::Sub(..) => 1,
        Expr::Mul(..) | Expr::Div(..) => 2,
        Expr::Neg(..) => 3,
        Expr::Num(v) if v.is_sign_negative() => 3,
        Expr::Pow(..) => 4,
        Expr::Num(_) | Expr::Var(_) | Expr::Call(..) => 5,
    }
}

/// A number literal of the language.
fn lit(v: f64, lang: Lang) -> String {
    if v.is_nan() {
        return match lang {
            Lang::Python | Lang::Sympy => "float(\"nan\")".into(),
            Lang::Julia => "NaN".into(),
            Lang::Rust => "f64::NAN".into(),
            Lang::C | Lang::Latex => "NAN".into(),
        };
    }
    if v.is_infinite() {
        let s = if v > 0.0 { "" } else { "-" };
        return match lang {
            Lang::Python | Lang::Sympy => format!("{s}float(\"inf\")"),
            Lang::Julia => format!("{s}Inf"),
            Lang::Rust => format!("{s}f64::INFINITY"),
            Lang::C | Lang::Latex => format!("{s}INFINITY"),
        };
    }
    // Rust's shortest round-trip text always has a `.` or an exponent: a float literal in
    // every one of these languages.
    format!("{v:?}")
}

/// An integer exponent that every language may write as an integer.
fn int_exponent(e: &Expr) -> Option<i32> {
    match e {
        Expr::Num(v) if v.fract() == 0.0 && v.abs() < 1e9 => Some(*v as i32),
        Expr::Neg(a) => int_exponent(a).map(|k| -k),
        _ => None,
    }
}

fn func_name(f: Func, lang: Lang) -> &'static str {
    match (lang, f) {
        (Lang::Python, _) => match f {
            Func::Exp => "np.exp",
            Func::Log => "np.log",
            Func::Sin => "np.sin",
            Func::Cos => "np.cos",
            Func::Sqrt => "np.sqrt",
        },
        (Lang::Sympy, _) => match f {
            Func::Exp => "sp.exp",
            Func::Log => "sp.log",
            Func::Sin => "sp.sin",
            Func::Cos => "sp.cos",
            Func::Sqrt => "sp.sqrt",
        },
        (Lang::Rust, Func::Log) => "ln",
        _ => f.name(),
    }
}

/// An expression in the syntax of a programming language; `var` names the variables.
fn code(e: &Expr, lang: Lang, var: &dyn Fn(&str) -> String) -> String {
    let sub = |x: &Expr, min: u8| -> String {
        let s = code(x, lang, var);
        if prec(x) < min { format!("({s})") } else { s }
    };
    match e {
        Expr::Num(v) => lit(*v, lang),
        Expr::Var(n) => var(n),
        Expr::Neg(a) => format!("-{}", sub(a, 3)),
        Expr::Add(a, b) => format!("{} + {}", sub(a, 1), sub(b, 2)),
        Expr::Sub(a, b) => format!("{} - {}", sub(a, 1), sub(b, 2)),
        Expr::Mul(a, b) => format!("{}*{}", sub(a, 2), sub(b, 3)),
        Expr::Div(a, b) => format!("{}/{}", sub(a, 2), sub(b, 3)),
        Expr::Pow(a, b) => match lang {
            Lang::Python | Lang::Sympy | Lang::Julia => {
                let op = if lang == Lang::Julia { "^" } else { "**" };
                let exp = match int_exponent(b) {
                    Some(k) if k < 0 => format!("({k})"),
                    Some(k) => k.to_string(),
                    None => sub(b, 3),
                };
                // Julia reads `-2^2` as -(2^2) too, so a negative base keeps its parentheses.
                format!("{}{op}{exp}", sub(a, 5))
            }
            Lang::Rust => {
                let recv = receiver(a, var);
                match int_exponent(b) {
                    Some(k) => format!("{recv}.powi({k})"),
                    None => format!("{recv}.powf({})", code(b, lang, var)),
                }
            }
            Lang::C | Lang::Latex => {
                format!("pow({}, {})", code(a, lang, var), code(b, lang, var))
            }
        },
        Expr::Call(f, a) => match lang {
            Lang::Rust => format!("{}.{}()", receiver(a, var), func_name(*f, lang)),
            _ => format!("{}({})", func_name(*f, lang), code(a, lang, var)),
        },
    }
}

/// The receiver of a Rust method call: an atom, a number with its type spelled out.
fn receiver(a: &Expr, var: &dyn Fn(&str) -> String) -> String {
    match a {
        Expr::Num(v) if v.is_finite() => format!("({v:?}_f64)"),
        Expr::Var(n) => var(n),
        Expr::Call(..) => code(a, Lang::Rust, var),
        _ => format!("({})", code(a, Lang::Rust, var)),
    }
}

// ---------------------------------------------------------------------------------------------
// Python (numpy + scipy).

fn python(sys: &System) -> String {
    let names = Names::new(sys, PYTHON_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\"\"\"{}: the system discovered by odenet (`odenet export --to python`).\n\n{}\n\"\"\"\n",
        comment_text(&sys.name).replace('"', "'"),
        rounding_note(sys)
    );
    let _ = writeln!(s, "import numpy as np\n");
    let list = |v: &[String]| v.iter().map(|x| quoted(x)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(s, "#: The states, in the order of x in rhs(t, x, p).");
    let _ = writeln!(s, "STATES = [{}]", list(&sys.states));
    let hidden: Vec<String> = sys
        .states
        .iter()
        .zip(&sys.hidden)
        .filter(|(_, h)| **h)
        .map(|(n, _)| n.clone())
        .collect();
    let _ = writeln!(s, "#: States with no data column.");
    let _ = writeln!(s, "HIDDEN = [{}]", list(&hidden));
    let _ = writeln!(
        s,
        "#: The parameters and constants (the first experiment's) by name: rhs's default p."
    );
    if sys.p_names().is_empty() {
        let _ = writeln!(s, "PARAMS = {{}}");
    } else {
        let _ = writeln!(s, "PARAMS = {{");
        for (n, v) in sys.p_names().iter().zip(sys.p_values()) {
            let _ = writeln!(s, "    {}: {},", quoted(n), lit(v, Lang::Python));
        }
        let _ = writeln!(s, "}}");
    }
    let _ = writeln!(
        s,
        "#: Per experiment of the fitted data: its constants, time span and the model's state at t0."
    );
    let _ = writeln!(s, "EXPERIMENTS = [");
    for e in &sys.experiments {
        let consts: Vec<String> = e
            .constants
            .iter()
            .map(|(n, v)| format!("{}: {}", quoted(n), lit(*v, Lang::Python)))
            .collect();
        let x0: Vec<String> = e.initial.iter().map(|v| lit(*v, Lang::Python)).collect();
        let _ = writeln!(
            s,
            "    {{\"constants\": {{{}}}, \"t0\": {}, \"t_end\": {}, \"x0\": [{}]}},",
            consts.join(", "),
            lit(e.t0, Lang::Python),
            lit(e.t_end, Lang::Python),
            x0.join(", ")
        );
    }
    let _ = writeln!(s, "]\n\n");
    let _ = writeln!(s, "def rhs(t, x, p=PARAMS):");
    let _ = writeln!(
        s,
        "    \"\"\"dx/dt at time t and state x (ordered as STATES); p maps the names of PARAMS to values.\"\"\""
    );
    for n in sys.p_names() {
        let _ = writeln!(s, "    {} = p[{}]", var(n), quoted(n));
    }
    let ids: Vec<String> = sys.states.iter().map(|n| var(n)).collect();
    let _ = writeln!(
        s,
        "    {}{} = x",
        ids.join(", "),
        if ids.len() == 1 { "," } else { "" }
    );
    let _ = writeln!(s, "    return np.array([");
    for (st, e) in sys.states.iter().zip(&sys.equations) {
        let mut body = code(e, Lang::Python, &var);
        // A constant right-hand side still follows the shape of the states.
        if e.vars().iter().all(|v| !sys.states.iter().any(|s| s == v)) {
            body = format!("{body} + 0.0*{}", var(&sys.states[0]));
        }
        let _ = writeln!(s, "        {body},  # d{st}/dt");
    }
    let _ = writeln!(s, "    ])\n\n");
    let _ = writeln!(s, "def solve(t_span, x0, p=PARAMS, **options):");
    let _ = writeln!(
        s,
        "    \"\"\"Integrates the system with scipy's solve_ivp (options are passed on).\"\"\""
    );
    let _ = writeln!(s, "    from scipy.integrate import solve_ivp\n");
    let _ = writeln!(s, "    options.setdefault(\"rtol\", 1e-8)");
    let _ = writeln!(s, "    options.setdefault(\"atol\", 1e-10)");
    let _ = writeln!(
        s,
        "    return solve_ivp(rhs, t_span, x0, args=(p,), **options)\n\n"
    );
    let _ = writeln!(s, "if __name__ == \"__main__\":");
    let _ = writeln!(s, "    for e in EXPERIMENTS:");
    let _ = writeln!(
        s,
        "        sol = solve((e[\"t0\"], e[\"t_end\"]), e[\"x0\"], {{**PARAMS, **e[\"constants\"]}})"
    );
    let _ = writeln!(
        s,
        "        print(\"t =\", sol.t[-1], dict(zip(STATES, sol.y[:, -1])))"
    );
    s
}

// ---------------------------------------------------------------------------------------------
// SymPy.

fn sympy(sys: &System) -> String {
    let names = Names::new(sys, PYTHON_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\"\"\"{}: the system discovered by odenet, as SymPy equations (`odenet export --to sympy`).\n\n{}\n\"\"\"\n",
        comment_text(&sys.name).replace('"', "'"),
        rounding_note(sys)
    );
    let _ = writeln!(s, "import sympy as sp\n");
    let _ = writeln!(s, "t = sp.Symbol(\"t\")");
    let _ = writeln!(s, "# The states, as functions of t.");
    for n in &sys.states {
        let _ = writeln!(s, "{} = sp.Function({})(t)", var(n), quoted(n));
    }
    let pn = sys.p_names();
    if !pn.is_empty() {
        let _ = writeln!(s, "# Parameters and constants.");
        for n in &pn {
            let _ = writeln!(s, "{} = sp.Symbol({}, real=True)", var(n), quoted(n));
        }
    }
    let _ = writeln!(
        s,
        "\n#: Values of the parameters and constants (the first experiment's), for .subs(values)."
    );
    if pn.is_empty() {
        let _ = writeln!(s, "values = {{}}\n");
    } else {
        let _ = writeln!(s, "values = {{");
        for (n, v) in pn.iter().zip(sys.p_values()) {
            let _ = writeln!(s, "    {}: {},", var(n), lit(v, Lang::Sympy));
        }
        let _ = writeln!(s, "}}\n");
    }
    let _ = writeln!(s, "equations = [");
    for (st, e) in sys.states.iter().zip(&sys.equations) {
        let _ = writeln!(
            s,
            "    sp.Eq(sp.Derivative({}, t), {}),",
            var(st),
            code(e, Lang::Sympy, &var)
        );
    }
    let _ = writeln!(s, "]");
    s
}

// ---------------------------------------------------------------------------------------------
// Julia.

/// A Julia NamedTuple literal: `(a = 1.0, b = 2.0)`, `(a = 1.0,)`, `NamedTuple()`.
fn julia_tuple(items: &[(String, String)]) -> String {
    match items.len() {
        0 => "NamedTuple()".into(),
        1 => format!("({} = {},)", items[0].0, items[0].1),
        _ => format!(
            "({})",
            items
                .iter()
                .map(|(a, b)| format!("{a} = {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn julia(sys: &System) -> String {
    let names = Names::new(sys, JULIA_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {}: the system discovered by odenet (`odenet export --to julia`).\n# {}\n",
        comment_text(&sys.name),
        rounding_note(sys)
    );
    let states: Vec<String> = sys.states.iter().map(|x| quoted(x)).collect();
    let _ = writeln!(s, "# The states, in the order of u and du.");
    let _ = writeln!(s, "const STATES = [{}]", states.join(", "));
    let params: Vec<(String, String)> = sys
        .p_names()
        .iter()
        .zip(sys.p_values())
        .map(|(n, v)| (var(n), lit(v, Lang::Julia)))
        .collect();
    let _ = writeln!(
        s,
        "# The parameters and constants (the first experiment's): the default p."
    );
    let _ = writeln!(s, "const PARAMS = {}", julia_tuple(&params));
    let _ = writeln!(
        s,
        "# Per experiment of the fitted data: its constants, time span and the model's state at t0."
    );
    let _ = writeln!(s, "const EXPERIMENTS = [");
    for e in &sys.experiments {
        let consts: Vec<(String, String)> = e
            .constants
            .iter()
            .map(|(n, v)| (var(n), lit(*v, Lang::Julia)))
            .collect();
        let u0: Vec<String> = e.initial.iter().map(|v| lit(*v, Lang::Julia)).collect();
        let _ = writeln!(
            s,
            "    (constants = {}, t0 = {}, t_end = {}, u0 = [{}]),",
            julia_tuple(&consts),
            lit(e.t0, Lang::Julia),
            lit(e.t_end, Lang::Julia),
            u0.join(", ")
        );
    }
    let _ = writeln!(s, "]\n");
    let _ = writeln!(
        s,
        "\"\"\"In-place right-hand side du = f(u, p, t) for DifferentialEquations.jl.\"\"\""
    );
    let _ = writeln!(s, "function f!(du, u, p, t)");
    for n in sys.p_names() {
        let _ = writeln!(s, "    {} = p.{}", var(n), var(n));
    }
    let ids: Vec<String> = sys.states.iter().map(|n| var(n)).collect();
    let _ = writeln!(
        s,
        "    {}{} = u",
        ids.join(", "),
        if ids.len() == 1 { "," } else { "" }
    );
    for (k, e) in sys.equations.iter().enumerate() {
        let _ = writeln!(s, "    du[{}] = {}", k + 1, code(e, Lang::Julia, &var));
    }
    let _ = writeln!(s, "    return nothing\nend\n");
    let _ = writeln!(s, "# With DifferentialEquations.jl:");
    let _ = writeln!(s, "#     using DifferentialEquations");
    let _ = writeln!(s, "#     e = EXPERIMENTS[1]");
    let _ = writeln!(
        s,
        "#     prob = ODEProblem(f!, e.u0, (e.t0, e.t_end), merge(PARAMS, e.constants))"
    );
    let _ = writeln!(
        s,
        "#     sol = solve(prob, Tsit5(); reltol = 1e-8, abstol = 1e-10)"
    );
    let _ = writeln!(s, "#\n# The same system for ModelingToolkit:");
    let _ = writeln!(s, "#     using ModelingToolkit");
    let _ = writeln!(
        s,
        "#     using ModelingToolkit: t_nounits as t, D_nounits as D"
    );
    let vars: Vec<String> = ids.iter().map(|v| format!("{v}(t)")).collect();
    let _ = writeln!(s, "#     @variables {}", vars.join(" "));
    if !params.is_empty() {
        let ps: Vec<String> = params.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let _ = writeln!(s, "#     @parameters {}", ps.join(" "));
    }
    let _ = writeln!(s, "#     eqs = [");
    for (st, e) in sys.states.iter().zip(&sys.equations) {
        let _ = writeln!(
            s,
            "#         D({}) ~ {},",
            var(st),
            code(e, Lang::Julia, &var)
        );
    }
    let _ = writeln!(s, "#     ]");
    let _ = writeln!(s, "#     @mtkbuild sys = ODESystem(eqs, t)");
    s
}

// ---------------------------------------------------------------------------------------------
// Rust.

fn rust(sys: &System) -> String {
    let names = Names::new(sys, RUST_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! {}: the system discovered by odenet (`odenet export --to rust`).\n//! {}\n",
        comment_text(&sys.name),
        rounding_note(sys)
    );
    let n = sys.states.len();
    let states: Vec<String> = sys.states.iter().map(|x| quoted(x)).collect();
    let _ = writeln!(s, "/// The states, in the order of `u` and `du`.");
    let _ = writeln!(
        s,
        "pub const STATES: [&str; {n}] = [{}];",
        states.join(", ")
    );
    let pn = sys.p_names();
    let pv = sys.p_values();
    let _ = writeln!(
        s,
        "/// The names of the parameters and constants, in the order of `p`."
    );
    let _ = writeln!(
        s,
        "pub const PARAM_NAMES: [&str; {}] = [{}];",
        pn.len(),
        pn.iter().map(|x| quoted(x)).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(
        s,
        "/// Their values (the constants of the first experiment): the default `p`."
    );
    let _ = writeln!(
        s,
        "pub const PARAMS: [f64; {}] = [{}];\n",
        pv.len(),
        pv.iter()
            .map(|v| lit(*v, Lang::Rust))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "/// The right-hand side `du = f(u, p)` at time `t`.");
    let _ = writeln!(s, "#[allow(unused_variables, non_snake_case, clippy::all)]");
    let _ = writeln!(
        s,
        "pub fn rhs(t: f64, u: &[f64], p: &[f64], du: &mut [f64]) {{"
    );
    for (k, name) in pn.iter().enumerate() {
        let _ = writeln!(s, "    let {} = p[{k}];", var(name));
    }
    for (k, st) in sys.states.iter().enumerate() {
        let _ = writeln!(s, "    let {} = u[{k}];", var(st));
    }
    for (k, e) in sys.equations.iter().enumerate() {
        let _ = writeln!(s, "    du[{k}] = {};", code(e, Lang::Rust, &var));
    }
    let _ = writeln!(s, "}}");
    s
}

// ---------------------------------------------------------------------------------------------
// C.

fn c(sys: &System) -> String {
    let names = Names::new(sys, C_RESERVED);
    let var = |n: &str| names.get(n);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/* {}: the system discovered by odenet (`odenet export --to c`).\n * {} */\n",
        comment_text(&sys.name),
        rounding_note(sys)
    );
    let _ = writeln!(s, "#include <math.h>\n");
    let _ = writeln!(
        s,
        "/* States, in the order of u and du: {}. */",
        comment_text(&sys.states.join(", "))
    );
    let pn = sys.p_names();
    let pv = sys.p_values();
    if !pn.is_empty() {
        let _ = writeln!(
            s,
            "/* Parameters and constants, in the order of p (the constants of the first experiment): {}. */",
            comment_text(&pn.join(", "))
        );
        let _ = writeln!(
            s,
            "static const double PARAMS[{}] = {{{}}};",
            pv.len(),
            pv.iter()
                .map(|v| lit(*v, Lang::C))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(s, "\n/* The right-hand side du = f(u, p) at time t. */");
    let _ = writeln!(
        s,
        "void rhs(double t, const double *u, const double *p, double *du)\n{{"
    );
    let _ = writeln!(s, "    (void)t;\n    (void)p;");
    for (k, name) in pn.iter().enumerate() {
        let _ = writeln!(s, "    const double {} = p[{k}];", var(name));
    }
    for (k, st) in sys.states.iter().enumerate() {
        let _ = writeln!(s, "    const double {} = u[{k}];", var(st));
    }
    for (k, e) in sys.equations.iter().enumerate() {
        let _ = writeln!(s, "    du[{k}] = {};", code(e, Lang::C, &var));
    }
    let _ = writeln!(s, "}}");
    s
}

// ---------------------------------------------------------------------------------------------
// LaTeX.

const GREEK: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
];

/// A name split for typesetting: its base and its subscript (`x1` → x, 1; `m_tot` → m, tot).
fn split_name(name: &str) -> (&str, &str) {
    if let Some((a, b)) = name.split_once('_')
        && !a.is_empty()
        && !b.is_empty()
    {
        return (a, b);
    }
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && digits < name.len() {
        name.split_at(name.len() - digits)
    } else {
        (name, "")
    }
}

fn latex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '_' | '#' | '$' | '%' | '&' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\\' => out.push_str("\\backslash "),
            '^' => out.push_str("\\hat{}"),
            '~' => out.push_str("\\sim "),
            _ => out.push(c),
        }
    }
    out
}

fn latex_base(b: &str) -> String {
    if GREEK.contains(&b) {
        format!("\\{b}")
    } else if b.chars().count() == 1 {
        latex_escape(b)
    } else {
        format!("\\mathrm{{{}}}", latex_escape(b))
    }
}

/// A name in LaTeX: `x`, `x_{1}`, `m_{\mathrm{tot}}`, `\alpha`, `\mathrm{Mg}`.
pub fn latex_name(name: &str) -> String {
    let (b, sub) = split_name(name);
    if sub.is_empty() {
        latex_base(b)
    } else {
        let sub = if sub.chars().all(|c| c.is_ascii_digit()) || sub.chars().count() == 1 {
            latex_escape(sub)
        } else {
            latex_base(sub)
        };
        format!("{}_{{{sub}}}", latex_base(b))
    }
}

/// A number in LaTeX: `27.99`, `1.5 \times 10^{-7}`.
fn latex_num(v: f64) -> String {
    let t = format_number(v.abs());
    let body = match t.split_once('e') {
        Some((m, e)) => format!("{m} \\times 10^{{{e}}}"),
        None => t,
    };
    if v.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Whether an expression's LaTeX starts with a digit (so a product before it needs a `\cdot`).
fn starts_with_number(e: &Expr) -> bool {
    match e {
        Expr::Num(_) => true,
        Expr::Mul(a, _) | Expr::Div(a, _) | Expr::Pow(a, _) => starts_with_number(a),
        _ => false,
    }
}

/// An expression in LaTeX (math mode).
pub fn latex_expr(e: &Expr) -> String {
    let sub = |x: &Expr, min: u8| -> String {
        let s = latex_expr(x);
        if prec(x) < min {
            format!("\\left({s}\\right)")
        } else {
            s
        }
    };
    match e {
        Expr::Num(v) => latex_num(*v),
        Expr::Var(n) => latex_name(n),
        Expr::Neg(a) => format!("-{}", sub(a, 3)),
        Expr::Add(a, b) => format!("{} + {}", sub(a, 1), sub(b, 2)),
        Expr::Sub(a, b) => format!("{} - {}", sub(a, 1), sub(b, 2)),
        Expr::Mul(a, b) => {
            let sep = if starts_with_number(b) && prec(b) >= 3 {
                " \\cdot "
            } else {
                " \\, "
            };
            format!("{}{sep}{}", sub(a, 2), sub(b, 3))
        }
        Expr::Div(a, b) => format!("\\frac{{{}}}{{{}}}", latex_expr(a), latex_expr(b)),
        Expr::Pow(a, b) => format!("{{{}}}^{{{}}}", sub(a, 5), latex_expr(b)),
        Expr::Call(Func::Sqrt, a) => format!("\\sqrt{{{}}}", latex_expr(a)),
        Expr::Call(f, a) => format!("\\{}\\left({}\\right)", f.name(), latex_expr(a)),
    }
}

fn latex(sys: &System) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "% {}: the system discovered by odenet (`odenet export --to latex`).\n% {}",
        comment_text(&sys.name),
        rounding_note(sys)
    );
    let _ = writeln!(s, "\\begin{{align}}");
    let n = sys.states.len();
    for (k, (st, e)) in sys.states.iter().zip(&sys.equations).enumerate() {
        let end = if k + 1 < n { " \\\\" } else { "" };
        let _ = writeln!(
            s,
            "  \\frac{{\\mathrm{{d}}{}}}{{\\mathrm{{d}}t}} &= {}{end}",
            latex_name(st),
            latex_expr(e)
        );
    }
    let _ = writeln!(s, "\\end{{align}}");
    if !sys.params.is_empty() {
        let _ = writeln!(s, "with\n\\begin{{align*}}");
        let m = sys.params.len();
        for (k, (name, v, se)) in sys.params.iter().enumerate() {
            let end = if k + 1 < m { " \\\\" } else { "" };
            let value = latex_num(*v);
            let pm = if se.is_finite() {
                format!(" \\pm {}", latex_num(format_se(*se).parse().unwrap_or(*se)))
            } else if se.is_infinite() {
                " \\quad \\text{(not determined by the data)}".to_string()
            } else {
                String::new()
            };
            let _ = writeln!(s, "  {} &= {value}{pm}{end}", latex_name(name));
        }
        let _ = writeln!(s, "\\end{{align*}}");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// MathML (for the report page).

fn mathml_escape(s: &str) -> String {
    crate::page::esc(s)
}

fn mathml_base(b: &str) -> String {
    if GREEK.contains(&b) {
        // The Greek letters in the order of GREEK.
        const GLYPHS: &[&str] = &[
            "α", "β", "γ", "δ", "ε", "ζ", "η", "θ", "ι", "κ", "λ", "μ", "ν", "ξ", "π", "ρ", "σ",
            "τ", "υ", "φ", "χ", "ψ", "ω", "Γ", "Δ", "Θ", "Λ", "Ξ", "Π", "Σ", "Φ", "Ψ", "Ω",
        ];
        let k = GREEK.iter().position(|g| *g == b).unwrap_or(0);
        format!("<mi>{}</mi>", GLYPHS.get(k).copied().unwrap_or("?"))
    } else {
        format!("<mi>{}</mi>", mathml_escape(b))
    }
}

/// A name in MathML: `<mi>x</mi>`, `<msub><mi>x</mi><mn>1</mn></msub>`.
pub fn mathml_name(name: &str) -> String {
    let (b, sub) = split_name(name);
    if sub.is_empty() {
        mathml_base(b)
    } else if sub.chars().all(|c| c.is_ascii_digit()) {
        format!("<msub>{}<mn>{sub}</mn></msub>", mathml_base(b))
    } else {
        format!("<msub>{}{}</msub>", mathml_base(b), mathml_base(sub))
    }
}

fn mathml_num(v: f64) -> String {
    let t = format_number(v.abs());
    let body = match t.split_once('e') {
        Some((m, e)) => format!(
            "<mn>{m}</mn><mo>&#xD7;</mo><msup><mn>10</mn><mn>{}</mn></msup>",
            e.replace('-', "&#x2212;")
        ),
        None => format!("<mn>{t}</mn>"),
    };
    match (v.is_sign_negative(), body.strip_prefix("<mn>")) {
        // A negative number is one token: its minus sign is not spaced like an operator.
        (true, Some(rest)) => format!("<mn>&#x2212;{rest}"),
        (true, None) => format!("<mo>&#x2212;</mo>{body}"),
        (false, _) => body,
    }
}

fn mathml_paren(s: &str) -> String {
    format!("<mrow><mo>(</mo>{s}<mo>)</mo></mrow>")
}

/// An expression as MathML content (without the `<math>` element).
pub fn mathml_expr(e: &Expr) -> String {
    let sub = |x: &Expr, min: u8| -> String {
        let s = mathml_expr(x);
        if prec(x) < min { mathml_paren(&s) } else { s }
    };
    match e {
        Expr::Num(v) => mathml_num(*v),
        Expr::Var(n) => mathml_name(n),
        Expr::Neg(a) => format!("<mo>&#x2212;</mo>{}", sub(a, 3)),
        Expr::Add(a, b) => format!("{}<mo>+</mo>{}", sub(a, 1), sub(b, 2)),
        Expr::Sub(a, b) => format!("{}<mo>&#x2212;</mo>{}", sub(a, 1), sub(b, 2)),
        Expr::Mul(a, b) => {
            let op = if starts_with_number(b) && prec(b) >= 3 {
                "&#xB7;"
            } else {
                "&#x2062;"
            };
            format!("{}<mo>{op}</mo>{}", sub(a, 2), sub(b, 3))
        }
        Expr::Div(a, b) => format!(
            "<mfrac><mrow>{}</mrow><mrow>{}</mrow></mfrac>",
            mathml_expr(a),
            mathml_expr(b)
        ),
        Expr::Pow(a, b) => format!(
            "<msup><mrow>{}</mrow><mrow>{}</mrow></msup>",
            sub(a, 5),
            mathml_expr(b)
        ),
        Expr::Call(Func::Sqrt, a) => format!("<msqrt>{}</msqrt>", mathml_expr(a)),
        Expr::Call(f, a) => format!(
            "<mi>{}</mi><mo>&#x2061;</mo>{}",
            f.name(),
            mathml_paren(&mathml_expr(a))
        ),
    }
}

/// `d state/dt = e` as a `<math>` element in display style (inline, so that a table column
/// aligns the equations on the left).
pub fn mathml_equation(state: &str, e: &Expr) -> String {
    format!(
        "<math displaystyle=\"true\"><mrow><mfrac><mrow><mi>d</mi>{}</mrow><mrow><mi>d</mi><mi>t</mi></mrow></mfrac><mo>=</mo>{}</mrow></math>",
        mathml_name(state),
        mathml_expr(e)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_the_digits_the_standard_error_supports() {
        assert_eq!(format_number(round_to_se(27.98734, 0.0123)), "27.987");
        assert_eq!(format_number(round_to_se(-10.0231, 0.31)), "-10.02");
        assert_eq!(format_number(round_to_se(0.0123456, 0.00015)), "0.01235");
        // An error larger than the value: two significant digits of the value.
        assert_eq!(format_number(round_to_se(3.2345, 40.0)), "3.2");
        assert_eq!(format_number(round_to_se(1234.5, 260.0)), "1230");
        // Undetermined: two significant digits; not estimated: every digit.
        assert_eq!(format_number(round_to_se(0.123456, f64::INFINITY)), "0.12");
        assert_eq!(
            round_to_se(0.123456789, f64::NAN).to_bits(),
            0.123456789f64.to_bits()
        );
        assert_eq!(format_se(0.012345), "0.012");
        assert_eq!(format_se(1.3456e-5), "1.3e-5");
        assert_eq!(value_pm(27.98734, 0.0123), "27.987 ± 0.012");
        assert_eq!(value_pm(10.009876, 0.0199), "10.010 ± 0.020");
    }

    #[test]
    fn rounded_values_stay_within_a_tenth_of_their_standard_error() {
        let mut x = 0.123_f64;
        for k in 0..500 {
            x = (x * 9301.0 + 49297.0) % 233280.0;
            let v = (x / 233280.0 - 0.5) * 10f64.powi(k % 9 - 4);
            let se = (x / 233280.0 + 0.01) * 10f64.powi(k % 7 - 5);
            let r = round_to_se(v, se);
            assert!(
                (r - v).abs() <= 0.051 * se || (r - v).abs() <= 0.051 * v.abs(),
                "{v} ± {se} -> {r}"
            );
        }
    }

    #[test]
    fn zero_parameters_take_their_terms_with_them() {
        let e = parse_expr("-(a0 + a1*m + 2*a2*m^2) + a5*M/(1 + M) - a6").expect("parse");
        let r = without_zero_terms(&e, &["a0", "a2", "a5", "a6"]);
        assert_eq!(r.to_string(), "-(a1*m)");
        let r = without_zero_terms(&e, &["a1"]);
        assert_eq!(r.to_string(), "-(a0 + 2*a2*m^2) + a5*M/(1 + M) - a6");
    }

    #[test]
    fn names_avoid_keywords_and_collisions() {
        let sys = System {
            name: "n".into(),
            states: vec!["lambda".into(), "t".into(), "t_".into()],
            hidden: vec![false; 3],
            params: vec![("p".into(), 1.0, f64::NAN)],
            constants: vec![],
            experiments: vec![],
            equations: vec![Expr::Num(0.0); 3],
            precision: Precision::Full,
        };
        let names = Names::new(&sys, PYTHON_RESERVED);
        assert_eq!(names.get("lambda"), "lambda_");
        assert_eq!(names.get("t"), "t_");
        assert_eq!(names.get("t_"), "t__");
        assert_eq!(names.get("p"), "p_");
    }

    #[test]
    fn powers_print_in_each_language() {
        let e = parse_expr("-x^2 + (x + y)^-1 + 2^x + sqrt(y)*exp(-x)").expect("parse");
        let v = |n: &str| n.to_string();
        assert_eq!(
            code(&e, Lang::Python, &v),
            "-x**2 + (x + y)**(-1) + 2.0**x + np.sqrt(y)*np.exp(-x)"
        );
        assert_eq!(
            code(&e, Lang::Julia, &v),
            "-x^2 + (x + y)^(-1) + 2.0^x + sqrt(y)*exp(-x)"
        );
        assert_eq!(
            code(&e, Lang::Rust, &v),
            "-x.powi(2) + (x + y).powi(-1) + (2.0_f64).powf(x) + y.sqrt()*(-x).exp()"
        );
        assert_eq!(
            code(&e, Lang::C, &v),
            "-pow(x, 2.0) + pow(x + y, -1.0) + pow(2.0, x) + sqrt(y)*exp(-x)"
        );
    }

    #[test]
    fn latex_and_mathml_typeset_names_and_numbers() {
        assert_eq!(latex_name("x1"), "x_{1}");
        assert_eq!(latex_name("m_tot"), "m_{\\mathrm{tot}}");
        assert_eq!(latex_name("alpha"), "\\alpha");
        let e = parse_expr("2.5e-7*x*y - 3*z/(1 + x)").expect("parse");
        assert_eq!(
            latex_expr(&e),
            "2.5 \\times 10^{-7} \\, x \\, y - \\frac{3 \\, z}{1 + x}"
        );
        let m = mathml_equation("x1", &parse_expr("-10*x1 + x1^2").expect("parse"));
        assert!(m.contains("<msub><mi>x</mi><mn>1</mn></msub>"), "{m}");
        assert!(m.contains("<msup>"), "{m}");
        assert!(m.starts_with("<math displaystyle=\"true\">"), "{m}");
    }
}
