//! One small inline spec per validation rule, asserting where the problem is reported and what
//! it says; plus valid specs whose parsed structure is checked.

use std::path::{Path, PathBuf};

use odenet_spec::{
    Diagnostic, Expr, InitKind, Initial, ModelSpec, PruneRule, Segment, SolverKind, Spec,
    load_tables, parse_expr,
};
use proptest::prelude::*;

/// A folder holding the spec (never written: specs are validated from text) and its data.
fn fixture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("odenet-spec-rules");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lv.csv"), "t,x,y\n0,1,2\n0.5,1.5,\n1,2,3\n").unwrap();
    std::fs::write(dir.join("actin.csv"), "t,M\n0,1.0\n1,1.5\n2,1.8\n").unwrap();
    dir
}

fn spec_path() -> PathBuf {
    fixture_dir().join("spec.toml")
}

fn parse(text: &str) -> Spec {
    match Spec::from_str(text, &spec_path()) {
        Ok(s) => s,
        Err(d) => panic!("{}", render(&d)),
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match Spec::from_str(text, &spec_path()) {
        Ok(s) => panic!("expected errors, got {s:#?}"),
        Err(d) => d,
    }
}

/// Asserts that exactly one problem is found, at `line`:`column`, with `message` in its text.
#[track_caller]
fn one(text: &str, line: usize, column: usize, message: &str) -> Diagnostic {
    let d = errors(text);
    assert_eq!(d.len(), 1, "{}", render(&d));
    let d = d.into_iter().next().unwrap();
    assert_eq!((d.line, d.column), (line, column), "{d}");
    assert!(d.message.contains(message), "{d}");
    d
}

const LIB: &str = "states = [\"x\", \"y\"]\n[library]\npolynomial = 2\n";
const DATA: &str = "[[data]]\nfile = \"lv.csv\"\n";

#[test]
fn minimal_library_spec() {
    let s = parse(&format!("{LIB}{DATA}"));
    assert_eq!(s.name, "spec");
    assert_eq!(s.states, ["x", "y"]);
    assert_eq!(s.hidden, [false, false]);
    assert_eq!(
        s.model,
        ModelSpec::Library {
            order: 2,
            extra: vec![]
        }
    );
    assert_eq!(s.data.len(), 1);
    let d = &s.data[0];
    assert_eq!(d.file, fixture_dir().join("lv.csv"));
    assert_eq!(d.time, "t");
    assert_eq!(d.columns, [Some("x".into()), Some("y".into())]);
    assert_eq!(d.initial, [Initial::Observed, Initial::Observed]);
    assert_eq!(s.fit, odenet_spec::FitConfig::default());
}

#[test]
fn full_fit_table_and_extras() {
    let s = parse(&format!(
        "name = \"lv\"\n{LIB}extra = [\"sin(x)\", \"x/(1 + x)\"]\n{DATA}\
         [fit]\nsegment = \"whole\"\nstride = 3\nmu = 0.5\nthreshold = [0, 2e-3]\nrounds = 2\n\
         solver = \"tsit5\"\nrtol = 1e-8\natol = 1e-10\nlearn_noise = true\ninit = \"zero\"\n\
         holdout = 0\nseed = 42\nprune = \"absolute\"\nmax_iters = 7\n"
    ));
    assert_eq!(s.name, "lv");
    let ModelSpec::Library { extra, .. } = &s.model else {
        panic!("{:?}", s.model)
    };
    assert_eq!(
        extra.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["sin(x)", "x/(1 + x)"]
    );
    let f = &s.fit;
    assert_eq!(f.segment, Segment::Whole);
    assert_eq!(f.stride, 3);
    assert!((f.mu.0 - 0.5).abs() < 1e-15 && (f.mu.1 - 0.5).abs() < 1e-15);
    assert!(f.threshold.0.abs() < 1e-15 && (f.threshold.1 - 2e-3).abs() < 1e-15);
    assert_eq!(f.rounds, 2);
    assert_eq!(f.solver, SolverKind::Tsit5);
    assert!((f.rtol - 1e-8).abs() < 1e-20 && (f.atol - 1e-10).abs() < 1e-22);
    assert!(f.learn_noise);
    assert_eq!(f.init, InitKind::Zero);
    assert!(f.holdout.abs() < 1e-15);
    assert_eq!(f.seed, 42);
    assert_eq!(f.prune, PruneRule::Absolute);
    assert_eq!(f.max_iters, 7);
}

/// The physical actin template of DESIGN.md: hidden P, tied coefficients across equations.
const ACTIN: &str = r#"
name = "actin-physical"
states = ["P", "M", "m"]
hidden = ["P"]

[params]
a0 = { value = 0.0, fixed = true }
a1 = 0.0
a2 = 0.0
a3 = { init = 0.01, sparse = false }
a4 = 0.0
a5 = 0.0
a6 = 0.0
a7 = 0.0
a8 = 0.0
a9 = { init = 1.0, min = 0.0 }
a10 = 0.0

[equations]
P = "a0 + a1*m + a2*m^2 + a3*m*M + a4*P + a5*M + a6*P^2 + a7*P*M"
M = "a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P"
m = "-(a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P)"

[[data]]
file = "actin.csv"
columns = { M = "M" }
constants = { m_tot = 7.4 }
initial = { m = "m_tot - M", P = 0.0 }

[[data]]
file = "actin.csv"
constants = { m_tot = 5.0 }
initial = { m = "m_tot - M", P = "fit" }
"#;

#[test]
fn actin_physical_template() {
    let s = parse(ACTIN);
    assert_eq!(s.name, "actin-physical");
    assert_eq!(s.hidden, [true, false, false]);
    assert_eq!(s.constants, ["m_tot"]);
    let ModelSpec::Template {
        params,
        equations,
        equation_text,
    } = &s.model
    else {
        panic!("{:?}", s.model)
    };
    // Parameters keep the order in which the spec lists them, not alphabetical order.
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10"
        ]
    );
    assert!(params[0].fixed && params[0].init.abs() < 1e-15);
    assert!(!params[3].sparse && (params[3].init - 0.01).abs() < 1e-15);
    assert_eq!(params[9].min, Some(0.0));
    assert_eq!(params[9].max, None);
    assert!(params[1].sparse && !params[1].fixed);
    // a1 is one parameter shared by all three equations.
    for eq in equations {
        assert!(eq.vars().contains(&"a1"));
    }
    assert_eq!(
        equation_text[2],
        "-(a0 + a1*m + 2*a2*m^2 + a3*m*M + a8*M + a9*m*P + a10*P)"
    );
    assert_eq!(equations[2], parse_expr(&equation_text[2]).unwrap());
    assert!(matches!(&equations[2], Expr::Neg(_)));

    let d0 = &s.data[0];
    assert_eq!(d0.columns, [None, Some("M".into()), Some("m".into())]);
    assert_eq!(d0.constants, [7.4]);
    assert_eq!(d0.initial[0], Initial::Value(0.0));
    assert_eq!(d0.initial[1], Initial::Observed);
    let Initial::Expr(e) = &d0.initial[2] else {
        panic!("{:?}", d0.initial[2])
    };
    let m0 = e
        .eval(&|n| match n {
            "m_tot" => Some(7.4),
            "M" => Some(1.0),
            _ => None,
        })
        .unwrap();
    assert!((m0 - 6.4).abs() < 1e-12);
    assert_eq!(s.data[1].initial[0], Initial::Fit);
    assert_eq!(s.data[1].constants, [5.0]);
}

#[test]
fn equations_without_params_and_numbers_as_equations() {
    let s = parse("states = [\"x\", \"y\"]\n[equations]\nx = \"-x\"\ny = 0\n");
    let ModelSpec::Template {
        params, equations, ..
    } = &s.model
    else {
        panic!()
    };
    assert!(params.is_empty());
    assert_eq!(equations[1], Expr::Num(0.0));
    assert!(s.data.is_empty());
}

// ---- TOML and keys ----------------------------------------------------------------------------

#[test]
fn malformed_toml_is_located() {
    let d = errors("states = [\"x\"\n[library]\n");
    assert!(d[0].message.starts_with("invalid TOML"), "{}", render(&d));
    assert!(d[0].line >= 1 && d[0].source_line.is_some());
}

#[test]
fn unknown_keys_name_the_allowed_ones() {
    let d = one(
        &format!("{LIB}{DATA}[fit]\nsegmnt = 5\n"),
        7,
        1,
        "unknown key `segmnt` in [fit]",
    );
    let help = d.help.unwrap();
    assert!(
        help.contains("did you mean `segment`?") && help.contains("max_iters"),
        "{help}"
    );
    one(
        &format!("colour = 1\n{LIB}"),
        1,
        1,
        "unknown key `colour` in the spec",
    );
    one(
        &format!("{LIB}order = 3\n"),
        4,
        1,
        "unknown key `order` in [library]",
    );
    one(
        &format!("{LIB}{DATA}sep = \";\"\n"),
        6,
        1,
        "unknown key `sep` in [[data]]",
    );
}

#[test]
fn wrong_types_say_what_was_found() {
    one(
        "states = \"x\"\n[library]\npolynomial = 2\n",
        1,
        10,
        "`states` must be an array, found a string",
    );
    one(
        "states = [\"x\"]\n[library]\npolynomial = 2.5\n",
        3,
        14,
        "`polynomial` must be an integer, found a float",
    );
    one(
        &format!("{LIB}{DATA}[fit]\nlearn_noise = 1\n"),
        7,
        15,
        "`learn_noise` must be true or false",
    );
    one(
        &format!("{LIB}{DATA}[fit]\nrtol = \"small\"\n"),
        7,
        8,
        "`rtol` must be a number, found a string",
    );
}

// ---- states and hidden ------------------------------------------------------------------------

#[test]
fn missing_states_is_a_whole_file_problem() {
    let d = one("[library]\npolynomial = 2\n", 0, 0, "missing `states`");
    assert!(d.source_line.is_none());
    assert!(d.to_string().starts_with("error: missing `states`\n  --> "));
}

#[test]
fn duplicate_state() {
    one(
        "states = [\"x\", \"y\", \"x\"]\n[library]\npolynomial = 1\n",
        1,
        21,
        "state `x` is listed twice",
    );
}

#[test]
fn state_names_must_be_identifiers() {
    one(
        "states = [\"x\", \"2y\"]\n[library]\npolynomial = 1\n",
        1,
        16,
        "state `2y` is not a valid name",
    );
    one(
        "states = [\"exp\"]\n[library]\npolynomial = 1\n",
        1,
        11,
        "has the name of the function `exp`",
    );
}

#[test]
fn hidden_must_name_a_state() {
    let d = one(
        &format!("hidden = [\"z\"]\n{LIB}"),
        1,
        11,
        "hidden state `z` is not one of the states",
    );
    assert!(d.help.unwrap().contains("x, y"));
}

// ---- model sections ---------------------------------------------------------------------------

#[test]
fn library_and_templates_are_exclusive() {
    one(
        &format!("{LIB}[equations]\nx = \"x\"\ny = \"y\"\n"),
        2,
        2,
        "both [library] and [params]/[equations]",
    );
    let d = one("states = [\"x\"]\n", 0, 0, "the spec has no model");
    assert!(d.help.unwrap().contains("polynomial = 2"));
    one(
        "states = [\"x\"]\n[params]\na = 1\n",
        2,
        2,
        "[params] is given without [equations]",
    );
}

#[test]
fn missing_and_extra_equations() {
    let text = "states = [\"x\", \"y\"]\n[equations]\nx = \"-x\"\nz = \"1\"\n";
    let d = errors(text);
    assert_eq!(d.len(), 2, "{}", render(&d));
    assert_eq!((d[0].line, d[0].column), (2, 1));
    assert!(d[0].message.contains("no equation for state `y`"));
    assert_eq!((d[1].line, d[1].column), (4, 1));
    assert!(
        d[1].message
            .contains("equation for `z`, which is not a state")
    );
}

#[test]
fn expression_syntax_errors_point_inside_the_string() {
    let d = one(
        "states = [\"x\"]\n[params]\na = 1\n[equations]\nx = \"a*x + * 2\"\n",
        5,
        12,
        "expected a number, a name or `(`, found `*` in the equation for `x`",
    );
    assert_eq!(d.width, 1);
    assert_eq!(d.source_line.as_deref(), Some("x = \"a*x + * 2\""));
    one(
        "states = [\"x\"]\n[params]\na = 1\n[equations]\nx = \"a*foo(x)\"\n",
        5,
        8,
        "unknown function `foo`",
    );
    // Literal strings are exact too.
    one(
        "states = [\"x\"]\n[params]\na = 1\n[equations]\nx = 'a*x)'\n",
        5,
        9,
        "expected an operator",
    );
    // With escapes the offsets inside the value no longer match the file: report at the string.
    one(
        "states = [\"x\"]\n[params]\na = 1\n[equations]\nx = \"a*\\u0078)\"\n",
        5,
        5,
        "expected an operator",
    );
}

#[test]
fn multi_line_strings_are_located_exactly() {
    one(
        "states = [\"x\"]\n[params]\na = 1\n[equations]\nx = \"\"\"\na*x +\n  * 2\"\"\"\n",
        7,
        3,
        "found `*` in the equation for `x`",
    );
}

#[test]
fn unreadable_spec_file() {
    let d = Spec::load(Path::new("no/such/spec.toml")).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(
        d[0].message.contains("cannot read the spec file"),
        "{}",
        d[0]
    );
    assert_eq!(d[0].line, 0);
}

#[test]
fn unknown_symbols_in_equations() {
    let d = one(
        "states = [\"x\"]\n[params]\nalpha = 1\n[equations]\nx = \"alpha*x - alpah*x\"\n",
        5,
        16,
        "unknown symbol `alpah` in the equation for `x`",
    );
    assert!(d.help.unwrap().contains("did you mean `alpha`?"));
    assert_eq!(d.width, 5);
}

#[test]
fn unused_parameter() {
    let d = one(
        "states = [\"x\"]\n[params]\na = 1\nb = 2\n[equations]\nx = \"a*x\"\n",
        4,
        1,
        "parameter `b` is not used in any equation",
    );
    assert_eq!(d.help.as_deref(), Some("remove it or use it"));
}

const ONE_PARAM: &str = "states = [\"x\"]\n[equations]\nx = \"a*x\"\n[params]\n";

#[test]
fn parameter_bounds_and_fixed_values() {
    one(
        &format!("{ONE_PARAM}a = {{ min = 2, max = 1 }}\n"),
        5,
        13,
        "min = 2 greater than max = 1",
    );
    one(
        &format!("{ONE_PARAM}a = {{ init = 5, min = 0, max = 1 }}\n"),
        5,
        14,
        "outside its bounds [0, 1]",
    );
    let d = one(
        &format!("{ONE_PARAM}a = {{ fixed = true }}\n"),
        5,
        5,
        "fixed parameter `a` has no `value`",
    );
    assert!(d.help.unwrap().contains("value = 0.0, fixed = true"));
    one(
        &format!("{ONE_PARAM}a = {{ value = 1 }}\n"),
        5,
        5,
        "has a `value` but is not fixed",
    );
    one(
        &format!("{ONE_PARAM}a = {{ init = 1, value = 1, fixed = true }}\n"),
        5,
        5,
        "both `init` and `value`",
    );
    one(
        &format!("{ONE_PARAM}a = \"one\"\n"),
        5,
        5,
        "must be a number or a table",
    );
    one(
        &format!("{ONE_PARAM}a = {{ init = 1, lower = 0 }}\n"),
        5,
        17,
        "unknown key `lower` in parameter `a`",
    );
    // Without an init, the start is zero moved inside the bounds.
    let s = parse(&format!("{ONE_PARAM}a = {{ min = 1, max = 3 }}\n"));
    let ModelSpec::Template { params, .. } = &s.model else {
        panic!()
    };
    assert!((params[0].init - 1.0).abs() < 1e-15);
}

#[test]
fn parameter_named_like_a_state() {
    one(
        "states = [\"x\"]\n[params]\nx = 1\n[equations]\nx = \"x\"\n",
        3,
        1,
        "parameter `x` has the same name as a state",
    );
}

#[test]
fn library_order_is_bounded() {
    one(
        "states = [\"x\"]\n[library]\npolynomial = 99\n",
        3,
        14,
        "`polynomial` must be between 0 and 12",
    );
    one(
        "states = [\"x\"]\n[library]\nextra = [\"x\"]\n",
        2,
        1,
        "[library] has no `polynomial` order",
    );
    one(
        "states = [\"x\"]\n[library]\npolynomial = 1\nextra = [\"sin(q)\"]\n",
        4,
        15,
        "unknown symbol `q` in an extra term",
    );
}

// ---- data tables -----------------------------------------------------------------------------

#[test]
fn missing_data_file_is_located_at_the_value() {
    let d = one(
        &format!("{LIB}[[data]]\nfile = \"nope.csv\"\n"),
        5,
        8,
        "data file `nope.csv` does not exist",
    );
    assert_eq!(d.width, "\"nope.csv\"".len());
    one(
        &format!("{LIB}[[data]]\ntime = \"t\"\n"),
        4,
        1,
        "this [[data]] table has no `file`",
    );
    one(
        &format!("{LIB}[data]\nfile = \"lv.csv\"\n"),
        4,
        1,
        "`data` must be an array of tables",
    );
}

#[test]
fn columns_rules() {
    one(
        &format!("hidden = [\"y\"]\n{LIB}{DATA}initial = {{ y = 0 }}\ncolumns = {{ y = \"y\" }}\n"),
        8,
        13,
        "hidden state `y` cannot have a data column",
    );
    one(
        &format!("{LIB}{DATA}columns = {{ q = \"x\" }}\n"),
        6,
        13,
        "`columns` names `q`, which is not a state",
    );
}

#[test]
fn initial_value_rules() {
    let d = one(
        &format!("hidden = [\"y\"]\n{LIB}{DATA}"),
        5,
        1,
        "hidden state `y` has no initial value",
    );
    assert!(d.help.unwrap().contains("\"fit\""));
    one(
        &format!("{LIB}{DATA}initial = {{ q = \"fit\" }}\n"),
        6,
        13,
        "initial value given for `q`, which is not a state",
    );
    one(
        &format!("{LIB}{DATA}initial = {{ q = 1.0 }}\n"),
        6,
        13,
        "initial value given for `q`, which is not a state",
    );
    let d = one(
        &format!("{LIB}{DATA}constants = {{ c = 1 }}\ninitial = {{ x = \"c + z\" }}\n"),
        7,
        22,
        "unknown name `z` in the initial value of `x`",
    );
    assert!(
        d.help
            .unwrap()
            .contains("constants (c) and the observed states (x, y)")
    );
    one(
        &format!("hidden = [\"y\"]\n{LIB}{DATA}initial = {{ x = \"2*y\", y = 0 }}\n"),
        7,
        20,
        "`y` is hidden, so it has no observed value",
    );
    one(
        &format!("{LIB}{DATA}initial = {{ x = \"1 +\" }}\n"),
        6,
        21,
        "unexpected end of expression in the initial value of `x`",
    );
}

#[test]
fn constant_rules() {
    one(
        &format!("{LIB}{DATA}constants = {{ x = 1 }}\n"),
        6,
        15,
        "constant `x` has the same name as a state",
    );
    one(
        "states = [\"x\"]\n[params]\nk = 1\n[equations]\nx = \"k*x\"\n[[data]]\nfile = \"lv.csv\"\nconstants = { k = 1 }\n",
        8,
        15,
        "constant `k` has the same name as a parameter",
    );
    let d = one(
        "states = [\"x\"]\n[params]\nk = 1\n[equations]\nx = \"k*(c - x)\"\n\
         [[data]]\nfile = \"lv.csv\"\nconstants = { c = 1 }\n[[data]]\nfile = \"lv.csv\"\n",
        9,
        1,
        "experiment 2 does not define the constant `c`, which the model uses",
    );
    assert!(d.help.unwrap().contains("every [[data]] table"));
    // Constants that only initial values use may differ between experiments.
    let s = parse(&format!(
        "{LIB}{DATA}constants = {{ a = 1 }}\ninitial = {{ x = \"a\" }}\n{DATA}constants = {{ b = 2 }}\n"
    ));
    assert_eq!(s.constants, ["a", "b"]);
    assert!(s.data[0].constants[1].is_nan() && s.data[1].constants[0].is_nan());
}

// ---- fit -------------------------------------------------------------------------------------

#[test]
fn fit_value_ranges() {
    let fit = |body: &str| format!("{LIB}{DATA}[fit]\n{body}\n");
    one(&fit("segment = 1"), 7, 11, "`segment` must be at least 2");
    one(
        &fit("segment = \"all\""),
        7,
        11,
        "must be a number of points, \"auto\" or \"whole\"",
    );
    one(&fit("stride = 0"), 7, 10, "`stride` must be at least 1");
    one(&fit("rounds = 0"), 7, 10, "`rounds` must be at least 1");
    one(
        &fit("max_iters = -3"),
        7,
        13,
        "`max_iters` must be at least 1",
    );
    one(&fit("mu = [1, 2, 3]"), 7, 6, "must have 2 entries");
    one(
        &fit("threshold = [1e-3, -1]"),
        7,
        20,
        "`threshold` must not be negative",
    );
    one(&fit("rtol = 0"), 7, 8, "`rtol` must be positive");
    one(&fit("atol = -1e-9"), 7, 8, "`atol` must be positive");
    one(
        &fit("holdout = 1.0"),
        7,
        11,
        "`holdout` must be at least 0 and below 1",
    );
    let d = one(&fit("solver = \"rk4\""), 7, 10, "unknown solver \"rk4\"");
    assert!(d.help.unwrap().contains("\"bdf\""));
    one(&fit("init = \"random\""), 7, 8, "unknown init \"random\"");
    one(
        &fit("prune = \"soft\""),
        7,
        9,
        "unknown prune rule \"soft\"",
    );
    one(&fit("seed = -1"), 7, 8, "`seed` must be at least 0");
    one(&fit("rtol = nan"), 7, 8, "`rtol` must be a finite number");
}

#[test]
fn all_problems_are_reported_in_file_order() {
    let text =
        "states = [\"x\", \"x\"]\n[library]\npolynomial = -1\n[fit]\nrounds = 0\nbogus = 1\n";
    let d = errors(text);
    let places: Vec<(usize, usize)> = d.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(
        places,
        [(1, 16), (3, 14), (5, 10), (6, 1)],
        "{}",
        render(&d)
    );
}

// ---- CSV tables ------------------------------------------------------------------------------

/// Writes `csv` next to a one-table spec and loads both.
fn tables(name: &str, csv: &str, extra: &str) -> Result<Vec<odenet_spec::Table>, Vec<Diagnostic>> {
    let dir = fixture_dir();
    std::fs::write(dir.join(name), csv).unwrap();
    let spec = parse(&format!("{LIB}[[data]]\nfile = \"{name}\"\n{extra}"));
    load_tables(&spec)
}

#[track_caller]
fn table_err(
    name: &str,
    csv: &str,
    extra: &str,
    line: usize,
    column: usize,
    message: &str,
) -> Diagnostic {
    let d = tables(name, csv, extra).expect_err("expected a data error");
    assert_eq!(d.len(), 1, "{}", render(&d));
    let d = d.into_iter().next().unwrap();
    assert_eq!((d.line, d.column), (line, column), "{d}");
    assert!(d.message.contains(message), "{d}");
    assert!(d.file.ends_with(name));
    d
}

#[test]
fn csv_loads_with_missing_values() {
    let t = tables(
        "ok.csv",
        "t,y,x,other\n0,2,1,a\n0.5,,1.5,b\n1, 3 ,2,c\n",
        "",
    )
    .unwrap();
    let t = &t[0];
    assert_eq!(t.rows(), 3);
    assert_eq!(t.time_range(), Some((0.0, 1.0)));
    assert_eq!(t.values[0], [1.0, 1.5, 2.0]);
    assert!(t.values[1][1].is_nan());
    assert!((t.values[1][2] - 3.0).abs() < 1e-15);
    assert_eq!(t.observed_count(1), 2);
}

#[test]
fn csv_hidden_states_and_renamed_columns() {
    std::fs::write(fixture_dir().join("ren.csv"), "time,X\n0,1\n1,2\n").unwrap();
    let spec = parse(&format!(
        "hidden = [\"y\"]\n{LIB}[[data]]\nfile = \"ren.csv\"\ntime = \"time\"\ncolumns = {{ x = \"X\" }}\ninitial = {{ y = \"fit\" }}\n"
    ));
    let t = load_tables(&spec).unwrap();
    assert_eq!(t[0].values[0], [1.0, 2.0]);
    assert!(t[0].values[1].iter().all(|v| v.is_nan()));
    assert_eq!(t[0].observed_count(1), 0);
}

#[test]
fn csv_errors_name_line_and_column() {
    table_err(
        "bad1.csv",
        "t,x,y\n0,1,2\n1,abc,3\n",
        "",
        3,
        2,
        "`abc` in column `x` on line 3 is not a number",
    );
    let d = table_err(
        "bad2.csv",
        "t,x,y\n0,1,2\n1,NaN,3\n",
        "",
        3,
        2,
        "is not a finite number",
    );
    assert!(d.help.unwrap().contains("leave the cell empty"));
    table_err(
        "bad3.csv",
        "t,x,y\n0,1,2\n1,inf,3\n",
        "",
        3,
        2,
        "`inf` in column `x` on line 3 is not a finite number",
    );
    let d = table_err(
        "bad4.csv",
        "time,x,y\n0,1,2\n1,2,3\n",
        "",
        1,
        0,
        "no time column `t`",
    );
    assert!(d.help.unwrap().contains("time, x, y"));
    let d = table_err(
        "bad5.csv",
        "t,x\n0,1\n1,2\n",
        "",
        1,
        0,
        "no column `y` for state `y`",
    );
    assert!(d.help.unwrap().contains("its columns are: t, x"));
    table_err(
        "bad6.csv",
        "t,x,y\n0,1,2\n1,1,2\n1,2,3\n",
        "",
        4,
        1,
        "time repeats: line 4 has t = 1, line 3 has t = 1",
    );
    table_err(
        "bad7.csv",
        "t,x,y\n0,1,2\n2,1,2\n1,2,3\n",
        "",
        4,
        1,
        "time decreases: line 4 has t = 1, line 3 has t = 2",
    );
    table_err(
        "bad8.csv",
        "t,x,y\n0,1,2\n,1,2\n",
        "",
        3,
        1,
        "line 3 has no time",
    );
    table_err(
        "bad9.csv",
        "t,x,y\n0,1,2\n",
        "",
        0,
        0,
        "1 data row, but at least 2 are needed",
    );
    table_err(
        "bad10.csv",
        "t,x,y\n0,1,2\n1,2\n",
        "",
        3,
        0,
        "line 3 has 2 fields but the header has 3",
    );
    table_err("bad11.csv", "", "", 0, 0, "the data file is empty");
}

#[test]
fn csv_problem_flood_is_capped() {
    let mut csv = "t,x,y\n".to_string();
    for i in 0..100 {
        csv.push_str(&format!("{i},bad,1\n"));
    }
    let d = tables("flood.csv", &csv, "").unwrap_err();
    assert_eq!(d.len(), 21);
    assert!(d[0].message.contains("stopped reading after 20 problems"));
}

// ---- robustness ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = Spec::from_str(&s, Path::new("fuzz.toml"));
    }

    #[test]
    fn spec_shaped_noise_never_panics(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("states = [\"x\", \"y\"]".to_string()),
                Just("hidden = [\"y\"]".to_string()),
                Just("[library]".to_string()),
                Just("[params]".to_string()),
                Just("[equations]".to_string()),
                Just("[[data]]".to_string()),
                Just("[fit]".to_string()),
                "[a-z]{1,6} = \"[-+*/^()a-z0-9 .]{0,12}\"",
                "[a-z]{1,6} = -?[0-9]{1,3}(\\.[0-9])?",
                "[a-z]{1,6} = \\{ [a-z]{1,5} = [0-9] \\}",
            ],
            0..12,
        )
    ) {
        let text = lines.join("\n");
        if let Err(diags) = Spec::from_str(&text, Path::new("fuzz.toml")) {
            prop_assert!(!diags.is_empty());
            for d in diags {
                let _ = d.to_string();
            }
        }
    }
}
